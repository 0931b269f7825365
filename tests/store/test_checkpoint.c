/*
 * test_checkpoint.c - checkpoints in signed notes (store/checkpoint.c): the exact C2SP text,
 * Ed25519 signing checked independently with the openssl command line, strict parsing of
 * untrusted notes, base64, and key files (0600, never overwritten, refused when readable by
 * others).
 *
 * Owns: a temp directory per test run. Single-threaded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <openssl/sha.h>

#include "at_test.h"
#include "checkpoint.h"
#include "testutil.h"

static char *dir;

static int setup(void **state)
{
    (void)state;
    dir = tu_tempdir("ckpt");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tu_rmtree_free(dir);
    return 0;
}

static cp_checkpoint sample(uint64_t size)
{
    cp_checkpoint c;
    memset(&c, 0, sizeof c);
    snprintf(c.origin, sizeof c.origin, "agenttrail.test/store-1");
    c.size = size;
    for (int i = 0; i < 32; i++)
        c.root[i] = (uint8_t)(i * 7 + size);
    return c;
}

AT_TEST(test_checkpoint_sign_then_verify_round_trips)
{
    (void)state;
    cp_key *k = NULL;
    assert_int_equal(cp_key_generate(&k), 0);
    for (uint64_t size = 0; size < 5000; size += 1237) {
        cp_checkpoint c = sample(size), got;
        char *note = NULL;
        size_t len = 0;
        at_error err = {0};
        assert_int_equal(cp_checkpoint_sign(&c, k, &note, &len), 0);
        assert_int_equal(strlen(note), len);
        assert_int_equal(cp_note_verify(note, len, k, &got, &err), 0);
        assert_string_equal(got.origin, c.origin);
        assert_int_equal(got.size, c.size);
        assert_memory_equal(got.root, c.root, 32);
        assert_int_equal(got.time_unix_nano, 0);
        free(note);
        /* With the signing time as the first extension line. */
        c.time_unix_nano = 1732531200123456789ull + size;
        assert_int_equal(cp_checkpoint_sign(&c, k, &note, &len), 0);
        assert_non_null(strstr(note, "\ntime_unix_nano 17325312001234"));
        assert_int_equal(cp_note_verify(note, len, k, &got, &err), 0);
        assert_int_equal(got.time_unix_nano, c.time_unix_nano);
        free(note);
    }
    cp_key_destroy(&k);
    assert_null(k);
    cp_key_destroy(&k); /* idempotent */
    cp_key_destroy(NULL);
}

AT_TEST(test_checkpoint_text_follows_c2sp_layout)
{
    (void)state;
    cp_key *k = NULL;
    assert_int_equal(cp_key_generate(&k), 0);
    cp_checkpoint c = sample(42);
    char *note;
    size_t len;
    assert_int_equal(cp_checkpoint_sign(&c, k, &note, &len), 0);

    char root64[64], body[512];
    cp_base64_encode(c.root, 32, root64);
    int blen = snprintf(body, sizeof body, "agenttrail.test/store-1\n42\n%s\n", root64);
    assert_memory_equal(note, body, (size_t)blen);
    assert_int_equal(note[blen], '\n');
    const char *line = note + blen + 1;
    assert_memory_equal(line, "\xe2\x80\x94 agenttrail.test/store-1 ", 28);
    assert_int_equal(note[len - 1], '\n');

    /* The signature blob: key id = SHA-256(name || "\n" || 0x01 || key)[:4], then 64 bytes. */
    uint8_t blob[200];
    size_t bloblen;
    const char *b64 = line + 28;
    assert_int_equal(
        cp_base64_decode(b64, (size_t)(note + len - 1 - b64), blob, sizeof blob, &bloblen), 0);
    assert_int_equal(bloblen, 68);
    uint8_t pub[32], idin[64], md[32];
    cp_key_public_raw(k, pub);
    size_t nl = strlen(c.origin);
    memcpy(idin, c.origin, nl);
    idin[nl] = '\n';
    idin[nl + 1] = 0x01;
    memcpy(idin + nl + 2, pub, 32);
    SHA256(idin, nl + 34, md);
    assert_memory_equal(blob, md, 4);

    /* The verifier key line names the same id. */
    char vkey[256], want[64];
    assert_int_equal(cp_key_vkey(k, c.origin, vkey, sizeof vkey), 0);
    snprintf(want, sizeof want, "agenttrail.test/store-1+%02x%02x%02x%02x+", md[0], md[1], md[2],
             md[3]);
    assert_memory_equal(vkey, want, strlen(want));

    /* An independent verifier: openssl's command line over the body bytes. */
    char *pem;
    size_t pemlen;
    assert_int_equal(cp_key_public_pem(k, &pem, &pemlen), 0);
    char *pubp = tu_path(dir, "pub.pem"), *bodyp = tu_path(dir, "body"),
         *sigp = tu_path(dir, "sig");
    assert_int_equal(tu_write_file(pubp, pem, pemlen), 0);
    assert_int_equal(tu_write_file(bodyp, body, (size_t)blen), 0);
    assert_int_equal(tu_write_file(sigp, blob + 4, 64), 0);
    char *argv[] = {"/usr/bin/openssl", "pkeyutl", "-verify", "-pubin",   "-inkey", pubp,
                    "-rawin",           "-in",     bodyp,     "-sigfile", sigp,     NULL};
    char *out = NULL;
    assert_int_equal(tu_run(argv, NULL, &out, NULL, NULL), 0);
    assert_non_null(strstr(out, "Signature Verified Successfully"));
    free(out);
    blob[10] ^= 1;
    assert_int_equal(tu_write_file(sigp, blob + 4, 64), 0);
    assert_int_not_equal(tu_run(argv, NULL, NULL, NULL, NULL), 0);
    TU_FREE(pubp, bodyp, sigp, pem, note);
    cp_key_destroy(&k);
}

AT_TEST(test_checkpoint_verify_rejects_tampering_and_other_keys)
{
    (void)state;
    cp_key *k = NULL, *other = NULL;
    assert_int_equal(cp_key_generate(&k), 0);
    assert_int_equal(cp_key_generate(&other), 0);
    cp_checkpoint c = sample(1000), got;
    char *note;
    size_t len;
    at_error err = {0};
    assert_int_equal(cp_checkpoint_sign(&c, k, &note, &len), 0);
    assert_int_equal(cp_note_verify(note, len, other, &got, &err), CP_EVERIFY);
    assert_non_null(strstr(err.what, "no signature by the given key"));

    /* Every byte of the body changed to another valid character breaks the signature or
     * the format. */
    char body[512];
    size_t blen = cp_checkpoint_body(&c, body, sizeof body);
    for (size_t i = 0; i < blen; i++) {
        if (note[i] == '\n') continue;
        char saved = note[i];
        note[i] = saved == '1' ? '2' : '1';
        int rc = cp_note_verify(note, len, k, &got, &err);
        assert_true(rc == CP_EVERIFY || rc == CP_EFORMAT);
        note[i] = saved;
    }
    /* The signature itself. */
    note[len - 5] = note[len - 5] == 'A' ? 'B' : 'A';
    assert_int_not_equal(cp_note_verify(note, len, k, &got, &err), 0);
    free(note);

    /* A note signed by another key but claiming our name is not ours. */
    assert_int_equal(cp_checkpoint_sign(&c, other, &note, &len), 0);
    assert_int_equal(cp_note_verify(note, len, k, &got, &err), CP_EVERIFY);
    free(note);
    cp_key_destroy(&k);
    cp_key_destroy(&other);
}

AT_TEST(test_checkpoint_parser_rejects_malformed_notes)
{
    (void)state;
    static const char *root = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    /* 68 bytes: key id and an Ed25519-sized signature. */
    static const char *sig = "\xe2\x80\x94 o/x "
                             "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
                             "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
    struct {
        const char *what, *fmt;
    } bad[] = {
        {"empty", ""},
        {"no trailing newline", "o/x\n5\n%s\n\n%s-"},
        {"no blank line", "o/x\n5\n%s\n%s"},
        {"no signature", "o/x\n5\n%s\n\n"},
        {"empty origin", "\n5\n%s\n\n%s"},
        {"origin with space", "o x\n5\n%s\n\n%s"},
        {"size not decimal", "o/x\n5a\n%s\n\n%s"},
        {"size leading zero", "o/x\n05\n%s\n\n%s"},
        {"size negative", "o/x\n-5\n%s\n\n%s"},
        {"size overflow", "o/x\n99999999999999999999\n%s\n\n%s"},
        {"size missing", "o/x\n\n%s\n\n%s"},
        {"root short", "o/x\n5\nAAAA\n\n%s%s"},
        {"root missing", "o/x\n5\n\n%s%s"},
        {"empty extension line", "o/x\n5\n%s\n\next\n\n%s"},
        {"control char in extension", "o/x\n5\n%s\nex\tt\n\n%s"},
        {"zero time", "o/x\n5\n%s\ntime_unix_nano 0\n\n%s"},
        {"bad time", "o/x\n5\n%s\ntime_unix_nano 12x\n\n%s"},
        {"signature without dash", "o/x\n5\n%s\n\n- o/x AAAAAAAA\n%s"},
        {"signature too short", "o/x\n5\n%s\n\n\xe2\x80\x94 o/x AAAA\n%s"},
        {"signature without name", "o/x\n5\n%s\n\n\xe2\x80\x94  AAAAAAAA\n%s"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char note[1024];
        int n = snprintf(note, sizeof note, bad[i].fmt, root, sig);
        assert_true(n >= 0);
        cp_checkpoint c;
        cp_signature sigs[4];
        size_t ns;
        at_error err = {0};
        int rc = cp_note_parse(note, (size_t)n, &c, sigs, 4, &ns, &err);
        if (rc != CP_EFORMAT) fail_msg("%s: accepted (%d)", bad[i].what, rc);
        assert_true(err.what[0] != 0);
    }
    /* The well-formed note of the same shape parses, with an extension line. */
    char note[1024];
    int n = snprintf(note, sizeof note, "o/x\n5\n%s\next line\n\n%s", root, sig);
    cp_checkpoint c;
    cp_signature sigs[4];
    size_t ns;
    assert_int_equal(cp_note_parse(note, (size_t)n, &c, sigs, 4, &ns, NULL), 0);
    assert_int_equal(ns, 1);
    assert_int_equal(c.size, 5);
    assert_string_equal(sigs[0].name, "o/x");
    assert_int_equal(sigs[0].sig_len, 64);
}

AT_TEST(test_base64_is_strict_and_round_trips)
{
    (void)state;
    uint8_t in[40], out[40];
    char enc[64];
    for (size_t n = 0; n <= sizeof in; n++) {
        for (size_t i = 0; i < n; i++)
            in[i] = (uint8_t)(i * 37 + n);
        size_t elen = cp_base64_encode(in, n, enc), olen;
        assert_int_equal(elen, (n + 2) / 3 * 4);
        assert_int_equal(cp_base64_decode(enc, elen, out, sizeof out, &olen), 0);
        assert_int_equal(olen, n);
        assert_memory_equal(in, out, n);
    }
    size_t olen;
    assert_int_equal(cp_base64_decode("Zm9vYg==", 8, out, sizeof out, &olen), 0);
    assert_memory_equal(out, "foob", 4);
    const char *bad[] = {"Zm9vYg=", "Zm9vYh==", "Zm9v!g==", "Zg=a", "=Zm9", "Zm==Zm9v", "Z==="};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (cp_base64_decode(bad[i], strlen(bad[i]), out, sizeof out, &olen) == 0)
            fail_msg("accepted bad base64 %s", bad[i]);
    assert_int_equal(cp_base64_decode("Zm9vYmFy", 8, out, 5, &olen), CP_EFORMAT);
}

AT_TEST(test_key_file_is_created_0600_and_never_overwritten)
{
    (void)state;
    cp_key *k = NULL, *again = NULL, *k2 = NULL;
    char *path = tu_path(dir, "signing.key");
    at_error err = {0};
    assert_int_equal(cp_key_generate(&k), 0);
    assert_int_equal(cp_key_save_private(k, path, &err), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    assert_int_equal(cp_key_generate(&k2), 0);
    assert_int_equal(cp_key_save_private(k2, path, &err), CP_EEXIST);
    assert_non_null(strstr(err.what, "never overwritten"));

    assert_int_equal(cp_key_load_private(path, &again, &err), 0);
    uint8_t a[32], b[32];
    cp_key_public_raw(k, a);
    cp_key_public_raw(again, b);
    assert_memory_equal(a, b, 32);
    assert_true(cp_key_has_private(again));
    cp_key_destroy(&again);

    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(cp_key_load_private(path, &again, &err), CP_EKEY);
    assert_non_null(strstr(err.what, "chmod 600"));
    assert_null(again);
    char *missing = tu_path(dir, "missing.key");
    assert_int_equal(cp_key_load_private(missing, &again, &err), CP_EIO);
    assert_non_null(strstr(err.what, "missing.key"));
    free(missing);
    free(path);
    cp_key_destroy(&k);
    cp_key_destroy(&k2);
}

AT_TEST(test_public_key_loads_from_pem_and_verifier_line)
{
    (void)state;
    cp_key *k = NULL, *p = NULL;
    assert_int_equal(cp_key_generate(&k), 0);
    char *pem;
    size_t pemlen;
    assert_int_equal(cp_key_public_pem(k, &pem, &pemlen), 0);
    assert_non_null(strstr(pem, "-----BEGIN PUBLIC KEY-----"));
    char *path = tu_path(dir, "pub.pem");
    at_error err = {0};
    assert_int_equal(tu_write_file(path, pem, pemlen), 0);
    assert_int_equal(cp_key_load_public(path, &p, &err), 0);
    assert_false(cp_key_has_private(p));
    uint8_t sig[64];
    assert_int_equal(cp_key_sign(p, "x", 1, sig), CP_EKEY);
    assert_int_equal(cp_key_sign(k, "x", 1, sig), 0);
    assert_int_equal(cp_key_verify(p, "x", 1, sig, 64), 0);
    assert_int_equal(cp_key_verify(p, "y", 1, sig, 64), CP_EVERIFY);
    cp_key_destroy(&p);

    char vkey[256];
    assert_int_equal(cp_key_vkey(k, "agenttrail.test/a", vkey, sizeof vkey), 0);
    assert_int_equal(cp_key_parse_public(vkey, strlen(vkey), &p), 0);
    assert_int_equal(cp_key_verify(p, "x", 1, sig, 64), 0);
    cp_key_destroy(&p);
    /* A verifier line whose id does not match its key is refused. */
    char *plus = strchr(vkey, '+');
    plus[1] = plus[1] == '0' ? '1' : '0';
    assert_int_equal(cp_key_parse_public(vkey, strlen(vkey), &p), CP_EKEY);
    assert_int_equal(cp_key_parse_public("garbage", 7, &p), CP_EKEY);
    free(path);
    free(pem);
    cp_key_destroy(&k);
}

AT_TEST_GROUP(setup, teardown);
