/*
 * test_bundle.c - compliance bundles end to end: the real trace-query export and verify on a
 * real store with signed checkpoints; determinism; the auditor's openssl and sha256sum
 * commands of VERIFY.txt; and every tampering of the list caught and named: a flipped byte
 * in any file, a deleted event, two events swapped, an event from another store, a manifest
 * re-signed with another key, a checkpoint with a smaller tree, a prior checkpoint the log
 * does not extend.
 *
 * Tampering that keeps the file hashes right must re-seal the manifest; the tests do that
 * with the genuine key (the strongest tamperer short of forging checkpoints), so that the
 * deeper checks are the ones that catch it.
 *
 * Owns: two temp stores and bundles, built once for the group. Single-threaded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "at_test.h"
#include "bundle_fixture.h"
#include "ledger_fixture.h"
#include "store_fixture.h"
#include "testutil.h"

static char *dir, *store, *other_store, *pub, *bundle_path, *other_bundle, *scratch;
static cp_key *key, *other_key;

static int run(char **argv, char **out, char **err)
{
    return tu_run(argv, NULL, out, NULL, err);
}

static int export_to(const char *st, const char *path, const char *wf)
{
    char *tq = tu_bin("trace-query"), *err = NULL;
    char *argv[] = {tq,         "--store", (char *)st,   "export", "--workflow",
                    (char *)wf, "-o",      (char *)path, "--who",  "auditor@example.com",
                    NULL};
    int rc = run(argv, NULL, &err);
    if (rc != 0) fprintf(stderr, "export failed (%d): %s\n", rc, err ? err : "");
    free(err);
    free(tq);
    return rc;
}

/* Runs trace-query verify; returns its exit code, stderr in *err (caller frees). */
static int verify(const char *path, const char *keyfile, const char *prior, char **err)
{
    char *tq = tu_bin("trace-query");
    char *argv[8] = {tq, "verify", (char *)path};
    int n = 3;
    if (keyfile) {
        argv[n++] = "--key";
        argv[n++] = (char *)keyfile;
    }
    if (prior) {
        argv[n++] = "--prior";
        argv[n++] = (char *)prior;
    }
    argv[n] = NULL;
    int rc = run(argv, NULL, err);
    free(tq);
    return rc;
}

static void expect_failure(const char *path, const char *keyfile, const char *prior,
                           const char *needle, const char *needle2)
{
    char *err = NULL;
    int rc = verify(path, keyfile, prior, &err);
    if (rc != 4 || !strstr(err, needle) || (needle2 && !strstr(err, needle2)))
        fail_msg("verify exit %d, wanted 4 naming \"%s\"%s%s; stderr: %s", rc, needle,
                 needle2 ? " and " : "", needle2 ? needle2 : "", err ? err : "");
    free(err);
}

static int setup(void **state)
{
    (void)state;
    dir = lf_tempdir_paths("bundle", &store, "store", &other_store, "other-store", &pub, "pub.pem",
                           &bundle_path, "wf1.tar", &other_bundle, "other.tar", &scratch,
                           "tampered.tar", NULL);
    key = lf_make_store(store, 0, 300, 100, pub);
    other_key = lf_make_store(other_store, 3000000, 120, 120, NULL);
    if (export_to(store, bundle_path, "wf-1") != 0) return -1;
    if (export_to(other_store, other_bundle, "wf-1") != 0) return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cp_key_destroy(&key);
    cp_key_destroy(&other_key);
    tu_rmtree_free(dir);
    TU_FREE(store, other_store, pub, bundle_path, other_bundle, scratch);
    return 0;
}

/* Re-seals a bundle's manifest (query and who as exported) with `k`. */
static void reseal(bundle *b, const cp_key *k)
{
    bf_reseal(b, k, "{\"workflow\":\"wf-1\"}", "auditor@example.com");
}

/* ---- the happy path ------------------------------------------------------------------ */

AT_TEST(test_bundle_exported_from_a_store_verifies_with_the_pinned_key)
{
    (void)state;
    char *err = NULL, *out = NULL;
    char *tq = tu_bin("trace-query");
    char *argv[] = {tq, "verify", bundle_path, "--key", pub, NULL};
    assert_int_equal(run(argv, &out, &err), 0);
    assert_non_null(strstr(out, "verified: 100 events"));
    assert_non_null(strstr(out, "tree size 300"));
    free(out);
    free(err);
    /* Without a pinned key every check runs against the bundle's own key, but the verdict
     * is not "verified": exit 4, with the key's fingerprint to compare. */
    char *argv2[] = {tq, "verify", bundle_path, NULL};
    assert_int_equal(run(argv2, &out, &err), 4);
    assert_non_null(
        strstr(out, "every check passed against the bundle's own pub.pem, key SHA256:"));
    assert_non_null(strstr(err, "FAILED: signing key not pinned"));
    TU_FREE(out, err, tq);

    bundle b;
    bf_load(bundle_path, &b);
    const bundle_file *m = bundle_get(&b, BUNDLE_MANIFEST);
    assert_non_null(m);
    assert_non_null(strstr((const char *)m->data, "\"exported_by\": \"auditor@example.com\""));
    assert_non_null(strstr((const char *)m->data, "\"workflow\": \"wf-1\""));
    assert_non_null(strstr((const char *)m->data, "\"when\": \"2024-11-25T11:40:03"));
    assert_non_null(strstr((const char *)m->data, "\"consistency_proofs\": 2"));
    bundle_clear(&b);
}

AT_TEST(test_bundle_export_is_byte_identical_for_the_same_state_and_query)
{
    (void)state;
    char *again = lf_path(dir, "again.tar");
    assert_int_equal(export_to(store, again, "wf-1"), 0);
    size_t a_len, b_len;
    char *a = tu_read_file(bundle_path, &a_len), *b = tu_read_file(again, &b_len);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(a_len, b_len);
    assert_memory_equal(a, b, a_len);
    TU_FREE(a, b, again);
}

AT_TEST(test_bundle_checks_with_openssl_and_sha256sum_as_verify_txt_says)
{
    (void)state;
    char *x = lf_path(dir, "extracted");
    char cmd[4096];
    snprintf(
        cmd, sizeof cmd,
        "set -e; mkdir -p '%s' && tar -xf '%s' -C '%s' && cd '%s' && "
        "grep -q 'openssl pkeyutl -verify -pubin -inkey pub.pem -rawin -in manifest.json "
        "-sigfile manifest.sig' VERIFY.txt && "
        "openssl pkeyutl -verify -pubin -inkey pub.pem -rawin -in manifest.json -sigfile "
        "manifest.sig && sha256sum -c SHA256SUMS && "
        "h=$(sha256sum SHA256SUMS | cut -d' ' -f1) && grep -q \"\\\"SHA256SUMS\\\": \\\"$h\\\"\" "
        "manifest.json && echo AUDIT-OK",
        x, bundle_path, x, x);
    char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    char *out = NULL, *err = NULL;
    int rc = run(argv, &out, &err);
    if (rc != 0) fail_msg("auditor commands failed (%d): %s %s", rc, out, err);
    assert_non_null(strstr(out, "Signature Verified Successfully"));
    assert_non_null(strstr(out, "events.bin: OK"));
    assert_non_null(strstr(out, "AUDIT-OK"));
    free(out);
    free(err);
    /* And the same commands fail on a changed file or manifest. */
    snprintf(cmd, sizeof cmd, "cd '%s' && printf x >> events.jsonl && sha256sum -c SHA256SUMS", x);
    assert_int_not_equal(run(argv, NULL, NULL), 0);
    snprintf(cmd, sizeof cmd,
             "cd '%s' && sed -i 's/auditor/intruder/' manifest.json && openssl pkeyutl -verify "
             "-pubin -inkey pub.pem -rawin -in manifest.json -sigfile manifest.sig",
             x);
    assert_int_not_equal(run(argv, NULL, NULL), 0);
    free(x);
}

/* ---- tampering ------------------------------------------------------------------------- */

AT_TEST(test_bundle_flipped_byte_in_any_file_is_named)
{
    (void)state;
    bundle orig;
    bf_load(bundle_path, &orig);
    for (size_t i = 0; i < orig.n; i++) {
        const char *name = orig.files[i].name;
        size_t len = orig.files[i].len;
        size_t where[3] = {0, len / 2, len - 1};
        for (int w = 0; w < 3; w++) {
            bundle b;
            bf_load(bundle_path, &b);
            bundle_file *f = (bundle_file *)bundle_get(&b, name);
            f->data[where[w]] ^= 0x04;
            bf_save(&b, scratch);
            const char *check =
                strcmp(name, BUNDLE_MANIFEST) == 0 || strcmp(name, BUNDLE_SIGNATURE) == 0
                    ? "manifest signature"
                    : "file hash";
            expect_failure(scratch, pub, NULL, check, strcmp(check, "file hash") ? NULL : name);
        }
    }
    bundle_clear(&orig);
}

/* events.bin as records. */
typedef struct rec {
    uint8_t *p;
    size_t len;
} rec;

static size_t split_records(const bundle_file *f, rec *out, size_t max)
{
    size_t n = 0, off = 0;
    while (off < f->len && n < max) {
        const uint8_t *p = f->data + off;
        size_t len = 12 + ((size_t)p[8] << 24 | (size_t)p[9] << 16 | (size_t)p[10] << 8 | p[11]);
        out[n].p = (uint8_t *)p;
        out[n].len = len;
        off += len;
        n++;
    }
    return n;
}

static size_t split_lines(const bundle_file *f, rec *out, size_t max)
{
    size_t n = 0, off = 0;
    while (off < f->len && n < max) {
        uint8_t *nl = memchr(f->data + off, '\n', f->len - off);
        out[n].p = f->data + off;
        out[n].len = (size_t)(nl - (f->data + off)) + 1;
        off += out[n].len;
        n++;
    }
    return n;
}

/* Rebuilds a file from pieces in a given order, skipping index `drop` (-1: none). */
static void rebuild(bundle *b, const char *name, rec *r, size_t n, const size_t *order, long drop)
{
    at_buf bb = {0};
    for (size_t i = 0; i < n; i++)
        if ((long)order[i] != drop) at_buf_put(&bb, r[order[i]].p, r[order[i]].len);
    assert_int_equal(bundle_put_buf(b, name, &bb), 0);
}

/* Applies the same reordering/deletion to events.bin, events.jsonl and proofs.jsonl. */
static void reorder_events(bundle *b, const size_t *order, size_t n, long drop)
{
    static rec r1[1000], r2[1000], r3[1000];
    bundle_file *bin = (bundle_file *)bundle_get(b, BUNDLE_EVENTS_BIN);
    bundle_file *js = (bundle_file *)bundle_get(b, BUNDLE_EVENTS_JSON);
    bundle_file *pr = (bundle_file *)bundle_get(b, BUNDLE_PROOFS);
    /* Copy the sources: rebuild replaces the files. */
    bundle src;
    bundle_init(&src);
    bundle_put_copy(&src, "b", bin->data, bin->len);
    bundle_put_copy(&src, "j", js->data, js->len);
    bundle_put_copy(&src, "p", pr->data, pr->len);
    assert_int_equal(split_records(bundle_get(&src, "b"), r1, 1000), n);
    assert_int_equal(split_lines(bundle_get(&src, "j"), r2, 1000), n);
    assert_int_equal(split_lines(bundle_get(&src, "p"), r3, 1000), n);
    rebuild(b, BUNDLE_EVENTS_BIN, r1, n, order, drop);
    rebuild(b, BUNDLE_EVENTS_JSON, r2, n, order, drop);
    rebuild(b, BUNDLE_PROOFS, r3, n, order, drop);
    bundle_clear(&src);
}

AT_TEST(test_bundle_deleted_event_is_named)
{
    (void)state;
    size_t order[100];
    for (size_t i = 0; i < 100; i++)
        order[i] = i;
    bundle b;
    /* Deleted from every file, manifest untouched: the hashes no longer match. */
    bf_load(bundle_path, &b);
    reorder_events(&b, order, 100, 37);
    bf_save(&b, scratch);
    expect_failure(scratch, pub, NULL, "file hash", BUNDLE_EVENTS_BIN);
    /* Deleted from the stored bytes only, manifest re-sealed: the proofs no longer line up. */
    bf_load(bundle_path, &b);
    static rec r[1000];
    bundle_file *bin = (bundle_file *)bundle_get(&b, BUNDLE_EVENTS_BIN);
    bundle copy;
    bundle_init(&copy);
    bundle_put_copy(&copy, "b", bin->data, bin->len);
    assert_int_equal(split_records(bundle_get(&copy, "b"), r, 1000), 100);
    rebuild(&b, BUNDLE_EVENTS_BIN, r, 100, order, 37);
    bundle_clear(&copy);
    reseal(&b, key);
    bf_save(&b, scratch);
    expect_failure(scratch, pub, NULL, "event 37", "proof order");
}

AT_TEST(test_bundle_two_swapped_events_are_named)
{
    (void)state;
    size_t order[100];
    for (size_t i = 0; i < 100; i++)
        order[i] = i;
    order[10] = 11;
    order[11] = 10;
    bundle b;
    bf_load(bundle_path, &b);
    reorder_events(&b, order, 100, -1);
    bf_save(&b, scratch);
    expect_failure(scratch, pub, NULL, "file hash", NULL);
    bf_load(bundle_path, &b);
    reorder_events(&b, order, 100, -1);
    reseal(&b, key);
    bf_save(&b, scratch);
    expect_failure(scratch, pub, NULL, "event 11", "log order");
}

AT_TEST(test_bundle_event_from_another_store_is_named)
{
    (void)state;
    /* Event 5 of the other store's bundle (same workflow, same log index) put in place of
     * event 5, with its own JSON line; the manifest re-sealed. */
    bundle b, o;
    bf_load(bundle_path, &b);
    bf_load(other_bundle, &o);
    static rec rb[1000], ro[1000], jb[1000], jo[1000];
    bundle src;
    bundle_init(&src);
    bundle_put_copy(&src, "b", bundle_get(&b, BUNDLE_EVENTS_BIN)->data,
                    bundle_get(&b, BUNDLE_EVENTS_BIN)->len);
    bundle_put_copy(&src, "j", bundle_get(&b, BUNDLE_EVENTS_JSON)->data,
                    bundle_get(&b, BUNDLE_EVENTS_JSON)->len);
    size_t nb = split_records(bundle_get(&src, "b"), rb, 1000);
    size_t no = split_records(bundle_get(&o, BUNDLE_EVENTS_BIN), ro, 1000);
    split_lines(bundle_get(&src, "j"), jb, 1000);
    split_lines(bundle_get(&o, BUNDLE_EVENTS_JSON), jo, 1000);
    assert_true(no > 5);
    assert_memory_equal(rb[5].p, ro[5].p, 8); /* same log index */
    assert_memory_not_equal(rb[5].p + 12, ro[5].p + 12, 16);
    rb[5] = ro[5];
    jb[5] = jo[5];
    size_t order[1000];
    for (size_t i = 0; i < nb; i++)
        order[i] = i;
    rebuild(&b, BUNDLE_EVENTS_BIN, rb, nb, order, -1);
    rebuild(&b, BUNDLE_EVENTS_JSON, jb, nb, order, -1);
    bundle_clear(&src);
    reseal(&b, key);
    bundle_clear(&o);
    bf_save(&b, scratch);
    expect_failure(scratch, pub, NULL, "event 5", "leaf hash");
}

AT_TEST(test_bundle_manifest_resigned_with_another_key_is_named)
{
    (void)state;
    bundle b;
    /* Only the signature replaced. */
    bf_load(bundle_path, &b);
    const bundle_file *m = bundle_get(&b, BUNDLE_MANIFEST);
    uint8_t *sig = malloc(64);
    assert_int_equal(cp_key_sign(other_key, m->data, m->len, sig), 0);
    assert_int_equal(bundle_put(&b, BUNDLE_SIGNATURE, sig, 64), 0);
    bf_save(&b, scratch);
    expect_failure(scratch, pub, NULL, "manifest signature", NULL);
    /* Everything re-sealed with the other key, its pub.pem included: with the pinned key the
     * manifest fails; trusting the bundle's key, the checkpoint (signed by the collector) does. */
    bf_load(bundle_path, &b);
    reseal(&b, other_key);
    bf_save(&b, scratch);
    expect_failure(scratch, pub, NULL, "manifest signature", NULL);
    expect_failure(scratch, NULL, NULL, "checkpoint signature", NULL);
}

/* The whole bundle made anew by someone else: another collector's store, its own key, its
 * own pub.pem; every hash, proof and signature inside holds. Only a pinned key tells. */
static char *write_keyring(const char *name, const cp_key *const *keys, size_t n)
{
    char *path = lf_path(dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("# the collectors this auditor trusts\n\n", f);
    for (size_t i = 0; i < n; i++) {
        char *pem = NULL;
        size_t len = 0;
        assert_int_equal(cp_key_public_pem(keys[i], &pem, &len), 0);
        fwrite(pem, 1, len, f);
        free(pem);
    }
    fclose(f);
    return path;
}

static int verify_with(const char *path, const char *opt, const char *val, char **out, char **err)
{
    char *tq = tu_bin("trace-query");
    char *argv[] = {tq, "verify", (char *)path, (char *)opt, (char *)val, NULL};
    int rc = run(argv, out, err);
    free(tq);
    return rc;
}

AT_TEST(test_bundle_forged_with_a_new_key_fails_unless_that_key_is_trusted)
{
    (void)state;
    char *out = NULL, *err = NULL, fp[CP_FINGERPRINT_LEN];
    cp_key_fingerprint(other_key, fp);
    /* No pin: every check passes against the forger's pub.pem, and it still fails. */
    assert_int_equal(verify_with(other_bundle, NULL, NULL, &out, &err), 4);
    assert_non_null(strstr(out, fp));
    assert_non_null(strstr(err, "not pinned"));
    free(out);
    free(err);
    /* The operator's key: the forgery is named. */
    expect_failure(other_bundle, pub, NULL, "manifest signature", NULL);
    /* Trusting the bundle's key is the user's choice, with its own exit status. */
    assert_int_equal(verify_with(other_bundle, "--trust-bundle-key", NULL, &out, &err), 5);
    assert_non_null(strstr(err, "NOT TRUSTED"));
    assert_non_null(strstr(err, fp));
    free(out);
    free(err);
    /* A keyring of the operator's key only: refused, naming the key and the keyring. */
    const cp_key *ring1[] = {key};
    char *kr1 = write_keyring("ring1.pem", ring1, 1);
    assert_int_equal(verify_with(other_bundle, "--keyring", kr1, &out, &err), 4);
    assert_non_null(strstr(err, "is not one of the 1 key(s) of the keyring"));
    assert_non_null(strstr(err, fp));
    free(out);
    free(err);
    /* The genuine bundle is verified by the same keyring; a keyring holding both keys
     * verifies both, each naming its own key. */
    assert_int_equal(verify_with(bundle_path, "--keyring", kr1, &out, &err), 0);
    assert_non_null(strstr(out, "(in the keyring)"));
    free(out);
    free(err);
    const cp_key *ring2[] = {key, other_key};
    char *kr2 = write_keyring("ring2.pem", ring2, 2);
    assert_int_equal(verify_with(other_bundle, "--keyring", kr2, &out, &err), 0);
    assert_non_null(strstr(out, fp));
    free(out);
    free(err);
    /* A damaged keyring names its line. */
    FILE *f = fopen(kr2, "a");
    fputs("not-a-key\n", f);
    fclose(f);
    assert_int_equal(verify_with(bundle_path, "--keyring", kr2, &out, &err), 3);
    assert_non_null(strstr(err, "ring2.pem:"));
    assert_non_null(strstr(err, "not an Ed25519 public key"));
    TU_FREE(out, err, kr1, kr2);
}

AT_TEST(test_bundle_checkpoint_with_a_smaller_tree_is_named)
{
    (void)state;
    ts_store *s = fx_open(store, TS_OPEN_RDONLY, NULL);
    char *older = NULL;
    size_t len = 0;
    assert_int_equal(ts_checkpoint_get(s, 1, &older, &len), 0); /* tree size 200 */
    ts_close(&s);
    bundle b;
    bf_load(bundle_path, &b);
    assert_int_equal(bundle_put_copy(&b, BUNDLE_CHECKPOINT, older, len), 0);
    bf_save(&b, scratch);
    expect_failure(scratch, pub, NULL, "file hash", BUNDLE_CHECKPOINT);
    bf_load(bundle_path, &b);
    bundle_put_copy(&b, BUNDLE_CHECKPOINT, older, len);
    reseal(&b, key);
    bf_save(&b, scratch);
    /* The genuine older checkpoint verifies, but the proofs lead to the larger tree. */
    expect_failure(scratch, pub, NULL, "event 0", "inclusion proof");
    free(older);
}

AT_TEST(test_bundle_prior_checkpoint_consistency_is_checked)
{
    (void)state;
    ts_store *s = fx_open(store, TS_OPEN_RDONLY, NULL);
    char *older = NULL, *prior = lf_path(dir, "prior.txt");
    size_t len = 0;
    assert_int_equal(ts_checkpoint_get(s, 0, &older, &len), 0); /* tree size 100 */
    char origin[256];
    assert_int_equal(ts_log_origin(s, origin, sizeof origin), 0);
    uint8_t root[32];
    assert_int_equal(ts_log_root(s, 150, root), 0);
    ts_close(&s);
    assert_int_equal(tu_write_file(prior, older, len), 0);
    char *out = NULL;
    char *tq = tu_bin("trace-query");
    char *argv[] = {tq, "verify", bundle_path, "--key", pub, "--prior", prior, NULL};
    assert_int_equal(run(argv, &out, NULL), 0);
    assert_non_null(strstr(out, "consistent with the prior checkpoint"));
    free(out);
    free(tq);
    /* A prior checkpoint of a forked log: same size, another root, validly signed. */
    root[0] ^= 0xff;
    char *forked = lf_note(key, origin, 100, root, LF_T0);
    assert_int_equal(tu_write_file(prior, forked, strlen(forked)), 0);
    expect_failure(bundle_path, pub, prior, "consistency", "forked");
    free(forked);
    /* A prior with a larger tree than the bundle's: rollback. */
    char *larger = lf_note(key, origin, 400, root, LF_T0);
    assert_int_equal(tu_write_file(prior, larger, strlen(larger)), 0);
    expect_failure(bundle_path, pub, prior, "consistency", "rolled back");
    free(larger);
    /* A size the bundle has no proof for. */
    root[0] ^= 0xff;
    char *odd = lf_note(key, origin, 150, root, LF_T0);
    assert_int_equal(tu_write_file(prior, odd, strlen(odd)), 0);
    expect_failure(bundle_path, pub, prior, "consistency proof missing", NULL);
    /* Exported again with that checkpoint as --prior, the bundle carries its proof. */
    char *with_prior = lf_path(dir, "with-prior.tar"), *err = NULL;
    tq = tu_bin("trace-query");
    char *exp[] = {tq,   "--store",  store,     "export", "--workflow", "wf-1",
                   "-o", with_prior, "--prior", prior,    NULL};
    assert_int_equal(run(exp, NULL, &err), 0);
    free(err);
    char *argv3[] = {tq, "verify", with_prior, "--key", pub, "--prior", prior, NULL};
    assert_int_equal(run(argv3, &out, NULL), 0);
    assert_non_null(strstr(out, "consistent with the prior checkpoint"));
    TU_FREE(out, tq, with_prior, odd);
    /* A prior signed by someone else. */
    char *foreign = lf_note(other_key, origin, 100, root, LF_T0);
    assert_int_equal(tu_write_file(prior, foreign, strlen(foreign)), 0);
    expect_failure(bundle_path, pub, prior, "prior signature", NULL);
    TU_FREE(foreign, older, prior);
}

AT_TEST(test_bundle_that_is_not_an_archive_fails_verification)
{
    (void)state;
    assert_int_equal(tu_write_file(scratch, "not a tar archive at all", 24), 0);
    expect_failure(scratch, pub, NULL, "FAILED", NULL);
    bundle b;
    bf_load(bundle_path, &b);
    bundle_put_copy(&b, "extra.txt", "hello", 5);
    bf_save(&b, scratch);
    expect_failure(scratch, pub, NULL, "unexpected file", "extra.txt");
    char *err = NULL, *missing = lf_path(dir, "missing.tar");
    assert_int_equal(verify(missing, pub, NULL, &err), 3);
    free(err);
    free(missing);
}

/* BUNDLE_ codes are their own block of the registry (atcommon.h), so that a bare code says
 * it is about a bundle; a buffer whose growth failed is refused, not stored short. */
AT_TEST(test_bundle_codes_are_in_their_block_and_a_failed_buffer_is_refused)
{
    (void)state;
    const int codes[] = {BUNDLE_EFORMAT, BUNDLE_EIO, BUNDLE_ENOMEM, BUNDLE_EVERIFY, BUNDLE_ECRYPTO};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        assert_true(codes[i] <= -600 && codes[i] >= -699);
    bundle b;
    bundle_init(&b);
    at_buf ok = {0}, bad = {0};
    at_buf_puts(&ok, "one line\n");
    assert_int_equal(bundle_put_buf(&b, BUNDLE_PROOFS, &ok), 0);
    assert_null(ok.data);
    const bundle_file *f = bundle_get(&b, BUNDLE_PROOFS);
    assert_non_null(f);
    assert_int_equal(f->len, 9);
    assert_int_equal(f->data[9], 0); /* NUL beyond the length, as a file read from a tar */
    at_buf_puts(&bad, "partial");
    bad.failed = true;
    assert_int_equal(bundle_put_buf(&b, BUNDLE_CONSISTENCY, &bad), BUNDLE_ENOMEM);
    assert_null(bad.data);
    assert_null(bundle_get(&b, BUNDLE_CONSISTENCY));
    bundle_clear(&b);
}

AT_TEST_GROUP(setup, teardown);
