/*
 * test_signer.c - the collector's checkpoint signer (collector/signer.c) on real stores: the
 * key created 0600 on first start and reused after, checkpoints at most every interval after
 * commits and when idle, a crash between commit and signing healed by the next open with a
 * checkpoint consistent with the last, keygen never overwriting, the public key export.
 *
 * Owns: temp stores. Single-threaded.
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

#include "at_test.h"
#include "checkpoint.h"
#include "ledger_fixture.h"
#include "signer.h"
#include "store_fixture.h"
#include "testutil.h"

static uint64_t count_checkpoints(ts_store *s)
{
    uint64_t n = 0;
    assert_int_equal(ts_checkpoint_count(s, &n), 0);
    return n;
}

static void latest(ts_store *s, const cp_key *k, cp_checkpoint *c)
{
    char *note = NULL;
    at_error err = {0};
    size_t len;
    assert_int_equal(ts_checkpoint_get(s, UINT64_MAX, &note, &len), 0);
    if (cp_note_verify(note, len, k, c, &err)) fail_msg("%s", err.what);
    free(note);
}

AT_TEST(test_signer_creates_a_private_key_on_first_start_and_reuses_it)
{
    (void)state;
    char *dir;
    ts_store *s = fx_new_store("signer-key", &dir);
    signer *g = NULL;
    int created = 0;
    at_error err = {0};
    assert_int_equal(signer_open(s, dir, NULL, &g, &created, &err), 0);
    assert_int_equal(created, 1);
    char *kp = lf_path(dir, SIGNER_KEY_FILE);
    struct stat st;
    assert_int_equal(stat(kp, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* An empty log has nothing to sign yet. */
    assert_int_equal(count_checkpoints(s), 0);
    signer_destroy(&g);
    assert_null(g);
    signer_destroy(&g);
    char *before = tu_read_file(kp, NULL);
    assert_int_equal(signer_open(s, dir, NULL, &g, &created, &err), 0);
    assert_int_equal(created, 0);
    char *after = tu_read_file(kp, NULL);
    assert_string_equal(before, after);
    signer_destroy(&g);
    /* A key readable by others is refused, saying how to fix it. */
    assert_int_equal(chmod(kp, 0640), 0);
    assert_int_equal(signer_open(s, dir, NULL, &g, &created, &err), -1);
    assert_non_null(strstr(err.what, "chmod 600"));
    TU_FREE(before, after, kp);
    fx_done(&s, dir);
}

/* A signer of the store s in dir that signs at most every interval_ms; fails the test
 * if it cannot be opened. */
static signer *signer_every(ts_store *s, const char *dir, uint64_t interval_ms)
{
    signer_options o = {NULL, interval_ms};
    signer *g = NULL;
    at_error err = {0};
    assert_int_equal(signer_open(s, dir, &o, &g, NULL, &err), 0);
    return g;
}

AT_TEST(test_signer_signs_at_most_every_interval_after_commits)
{
    (void)state;
    char *dir;
    ts_store *s = fx_new_store("signer-interval", &dir);
    at_error err = {0};
    signer *g = signer_every(s, dir, 1000);
    cp_key *k = NULL;
    char *kp = lf_path(dir, SIGNER_KEY_FILE);
    assert_int_equal(cp_key_load_private(kp, &k, &err), 0);

    uint64_t t = 5000;
    lf_append(s, 0, 10, 10);
    assert_int_equal(signer_after_commit(g, t, &err), 1); /* first one: at once */
    lf_append(s, 10, 10, 10);
    assert_int_equal(signer_after_commit(g, t + 100, &err), 0); /* too soon */
    lf_append(s, 20, 10, 10);
    assert_int_equal(signer_after_commit(g, t + 400, &err), 0);
    assert_int_equal(signer_due_in_ms(g, t + 400), 600);
    assert_int_equal(signer_tick(g, t + 999, &err), 0);
    assert_int_equal(count_checkpoints(s), 1);
    assert_int_equal(signer_tick(g, t + 1000, &err), 1); /* idle: the pending one */
    assert_int_equal(signer_due_in_ms(g, t + 1000), -1);
    cp_checkpoint c;
    latest(s, k, &c);
    assert_int_equal(c.size, 30);
    assert_true(c.time_unix_nano > 0);
    /* Nothing new: nothing signed. */
    assert_int_equal(signer_tick(g, t + 5000, &err), 0);
    assert_int_equal(signer_sign_now(g, &err), 0);
    lf_append(s, 30, 5, 5);
    assert_int_equal(signer_sign_now(g, &err), 1);
    assert_int_equal(count_checkpoints(s), 3);
    assert_int_equal(signer_count(g), 3);
    signer_destroy(&g);
    cp_key_destroy(&k);
    free(kp);
    fx_done(&s, dir);
}

AT_TEST(test_signer_heals_a_crash_between_commit_and_signing)
{
    (void)state;
    char *dir;
    ts_store *s = fx_new_store("signer-crash", &dir);
    at_error err = {0};
    signer *g = signer_every(s, dir, 60000);
    lf_append(s, 0, 40, 40);
    assert_int_equal(signer_after_commit(g, 1, &err), 1);
    lf_append(s, 40, 25, 25);
    assert_int_equal(signer_after_commit(g, 2, &err), 0);
    /* The process dies here: commit durable, checkpoint never signed. */
    signer_destroy(&g);
    ts_close(&s);

    s = fx_open(dir, 0, NULL);
    g = signer_every(s, dir, 60000);
    assert_int_equal(count_checkpoints(s), 2);
    cp_key *k = NULL;
    char *kp = lf_path(dir, SIGNER_KEY_FILE);
    assert_int_equal(cp_key_load_private(kp, &k, &err), 0);
    char *n0, *n1;
    size_t l0, l1;
    cp_checkpoint c0, c1;
    assert_int_equal(ts_checkpoint_get(s, 0, &n0, &l0), 0);
    assert_int_equal(ts_checkpoint_get(s, 1, &n1, &l1), 0);
    assert_int_equal(cp_note_verify(n0, l0, k, &c0, &err), 0);
    assert_int_equal(cp_note_verify(n1, l1, k, &c1, &err), 0);
    assert_int_equal(c0.size, 40);
    assert_int_equal(c1.size, 65);
    uint8_t proof[TS_PROOF_MAX][32];
    size_t n;
    assert_int_equal(ts_log_consistency_proof(s, 40, 65, proof, &n), 0);
    assert_int_equal(
        ts_log_verify_consistency(40, 65, c0.root, c1.root, (const uint8_t(*)[32])proof, n), 0);
    TU_FREE(n0, n1, kp);
    cp_key_destroy(&k);
    signer_destroy(&g);
    fx_done(&s, dir);
}

AT_TEST(test_signer_keygen_never_overwrites_and_exports_the_public_key)
{
    (void)state;
    char *dir = tu_tempdir("signer-keygen");
    char *kp = lf_path(dir, "new.key"), *pubp = lf_path(dir, "pub.pem");
    at_error err = {0};
    FILE *f = fopen(pubp, "w");
    assert_non_null(f);
    assert_int_equal(signer_keygen(kp, f, &err), 0);
    fclose(f);
    assert_int_equal(signer_keygen(kp, NULL, &err), -1);
    assert_non_null(strstr(err.what, "never overwritten"));
    cp_key *priv = NULL, *pubk = NULL;
    assert_int_equal(cp_key_load_private(kp, &priv, &err), 0);
    assert_int_equal(cp_key_load_public(pubp, &pubk, &err), 0);
    uint8_t a[32], b[32];
    cp_key_public_raw(priv, a);
    cp_key_public_raw(pubk, b);
    assert_memory_equal(a, b, 32);
    f = fopen(pubp, "w");
    assert_int_equal(signer_print_public_key(kp, NULL, f, &err), 0);
    fclose(f);
    cp_key_destroy(&pubk);
    assert_int_equal(cp_key_load_public(pubp, &pubk, &err), 0);
    cp_key_public_raw(pubk, b);
    assert_memory_equal(a, b, 32);
    cp_key_destroy(&priv);
    cp_key_destroy(&pubk);
    free(kp);
    free(pubp);
    tu_rmtree_free(dir);
}
