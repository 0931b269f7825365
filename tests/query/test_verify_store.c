/*
 * test_verify_store.c - `trace-query verify --store DIR`: the real program on a real store
 * with signed checkpoints, and each damage to the store caught and named: a flipped byte in
 * a block of stored events, a deleted block, a changed leaf hash, changed Merkle nodes, a
 * truncated log, forged checkpoints (another key, a wrong root).
 *
 * The damage is done with LMDB directly on a copy of the store, as an intruder with the
 * files would. Owns: temp stores. Single-threaded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <lmdb.h>
#include <openssl/sha.h>

#include "at_test.h"
#include "ledger_fixture.h"
#include "store_fixture.h"
#include "testutil.h"

static char *dir, *pristine, *pub;
static cp_key *key, *other_key;
static int copies;

static int setup(void **state)
{
    (void)state;
    dir = lf_tempdir_paths("verify-store", &pristine, "pristine", &pub, "pub.pem", NULL);
    key = lf_make_store(pristine, 0, 250, 100, pub);
    return cp_key_generate(&other_key);
}

static int teardown(void **state)
{
    (void)state;
    cp_key_destroy(&key);
    cp_key_destroy(&other_key);
    tu_rmtree_free(dir);
    free(pristine);
    free(pub);
    return 0;
}

/* A fresh copy of the pristine store; malloc'd path. */
static char *copy_store(void)
{
    char name[32];
    snprintf(name, sizeof name, "copy-%d", copies++);
    char *p = lf_path(dir, name);
    lf_copy_tree(pristine, p);
    return p;
}

static int run_verify(const char *store, const char *keyfile, char **out, char **err)
{
    char *tq = tu_bin("trace-query");
    char *argv[] = {
        tq, "verify", "--store", (char *)store, keyfile ? "--key" : NULL, (char *)keyfile, NULL};
    int rc = tu_run(argv, NULL, out, NULL, err);
    free(tq);
    return rc;
}

static void expect_failure(const char *store, const char *needle, const char *needle2)
{
    char *err = NULL;
    int rc = run_verify(store, pub, NULL, &err);
    if (rc != 4 || !strstr(err, needle) || (needle2 && !strstr(err, needle2)))
        fail_msg("verify --store exit %d, wanted 4 naming \"%s\" %s; stderr: %s", rc, needle,
                 needle2 ? needle2 : "", err ? err : "");
    free(err);
}

/* Replaces the value at an 8-byte key with a copy where byte `at` is flipped. */
static void flip_value(lf_raw *r, MDB_dbi d, uint64_t key8, size_t at)
{
    uint8_t k[8];
    lf_be64(k, key8);
    MDB_val kv = {8, k}, v;
    assert_int_equal(mdb_get(r->txn, d, &kv, &v), 0);
    uint8_t *copy = malloc(v.mv_size);
    memcpy(copy, v.mv_data, v.mv_size);
    copy[at < v.mv_size ? at : v.mv_size - 1] ^= 0x20;
    MDB_val nv = {v.mv_size, copy};
    assert_int_equal(mdb_put(r->txn, d, &kv, &nv, 0), 0);
    free(copy);
}

AT_TEST(test_verify_store_accepts_an_untouched_store)
{
    (void)state;
    char *out = NULL;
    assert_int_equal(run_verify(pristine, pub, &out, NULL), 0);
    assert_non_null(strstr(out, "250 events, 3 checkpoints (signatures checked)"));
    free(out);
    /* Without --key, the public half of the store's own key file is used, which anyone who
     * can write the store can replace: every check passes, but the exit is 5, not 0. */
    char *err = NULL;
    assert_int_equal(run_verify(pristine, NULL, &out, &err), 5);
    assert_non_null(strstr(out, "signatures checked only against DIR/checkpoint.key"));
    assert_non_null(strstr(err, "NOT TRUSTED"));
    free(out);
    free(err);
    /* Accepting that key has to be said. */
    char *tq = tu_bin("trace-query");
    char *argv[] = {tq, "verify", "--store", pristine, "--trust-store-key", NULL};
    assert_int_equal(tu_run(argv, NULL, &out, NULL, NULL), 0);
    assert_non_null(strstr(out, "signatures checked only against DIR/checkpoint.key"));
    free(out);
    free(tq);
}

AT_TEST(test_verify_store_names_a_flipped_byte_in_a_block)
{
    (void)state;
    char *s = copy_store();
    lf_raw r;
    lf_raw_open(&r, s);
    /* The fixture's traces are 10 events each: the block of log indexes 50..59. */
    flip_value(&r, lf_raw_dbi(&r, "events"), 50, 60);
    lf_raw_close(&r);
    /* Depending on the codec the damage shows as an unreadable block or as other bytes. */
    expect_failure(s, "log index 5", NULL);
    free(s);
}

AT_TEST(test_verify_store_names_a_deleted_block)
{
    (void)state;
    char *s = copy_store();
    lf_raw r;
    lf_raw_open(&r, s);
    uint8_t k[8];
    lf_be64(k, 120); /* the block of log indexes 120..129 */
    MDB_val kv = {8, k};
    assert_int_equal(mdb_del(r.txn, lf_raw_dbi(&r, "events"), &kv, NULL), 0);
    lf_raw_close(&r);
    expect_failure(s, "log index 120", NULL);
    free(s);
}

AT_TEST(test_verify_store_names_a_changed_leaf_or_node)
{
    (void)state;
    char *s = copy_store();
    lf_raw r;
    lf_raw_open(&r, s);
    /* The leaf hash of log index 200 kept in its block (offset 39), and the block's SHA-256
     * recomputed as an intruder would: the stored bytes no longer hash to that leaf. */
    MDB_dbi evd = lf_raw_dbi(&r, "events");
    uint8_t bk[8];
    lf_be64(bk, 200);
    MDB_val bkv = {8, bk}, bv;
    assert_int_equal(mdb_get(r.txn, evd, &bkv, &bv), 0);
    uint8_t *unit = malloc(bv.mv_size);
    memcpy(unit, bv.mv_data, bv.mv_size);
    unit[39 + 3] ^= 0x20;
    SHA256(unit + 38, bv.mv_size - 38, unit + 6);
    MDB_val nbv = {bv.mv_size, unit};
    assert_int_equal(mdb_put(r.txn, evd, &bkv, &nbv, 0), 0);
    free(unit);
    lf_raw_close(&r);
    expect_failure(s, "log index 200", "leaf hash");
    free(s);

    /* The first stored subtree hash (the lowest stored level, leaves from 0, whatever the
     * node layout): not on the path of any root the checkpoints use, found by recomputing
     * every node. */
    s = copy_store();
    lf_raw_open(&r, s);
    MDB_dbi nodes = lf_raw_dbi(&r, "log_nodes");
    MDB_cursor *cur;
    assert_int_equal(mdb_cursor_open(r.txn, nodes, &cur), 0);
    MDB_val kv, v;
    assert_int_equal(mdb_cursor_get(cur, &kv, &v, MDB_FIRST), 0);
    uint8_t k[9], h[32];
    assert_int_equal(kv.mv_size, 9);
    memcpy(k, kv.mv_data, 9);
    memcpy(h, v.mv_data, 32);
    mdb_cursor_close(cur);
    h[0] ^= 1;
    kv.mv_data = k;
    MDB_val nv = {32, h};
    assert_int_equal(mdb_put(r.txn, nodes, &kv, &nv, 0), 0);
    lf_raw_close(&r);
    expect_failure(s, "log_nodes", NULL);
    free(s);
}

AT_TEST(test_verify_store_names_a_truncated_log)
{
    (void)state;
    char *s = copy_store();
    lf_raw r;
    lf_raw_open(&r, s);
    MDB_dbi ev = lf_raw_dbi(&r, "events"), meta = lf_raw_dbi(&r, "meta");
    for (uint64_t i = 180; i < 250; i++) { /* the blocks from log index 180 on */
        uint8_t k[8];
        lf_be64(k, i);
        MDB_val kv = {8, k};
        mdb_del(r.txn, ev, &kv, NULL);
    }
    uint8_t b[8];
    lf_be64(b, 180);
    MDB_val mk = {8, "log_size"}, mv = {8, b};
    assert_int_equal(mdb_put(r.txn, meta, &mk, &mv, 0), 0);
    lf_raw_close(&r);
    expect_failure(s, "checkpoint 1", "truncated");
    free(s);
}

static void put_checkpoint(const char *s, uint64_t seq, const char *note)
{
    lf_raw r;
    lf_raw_open(&r, s);
    uint8_t k[8];
    lf_be64(k, seq);
    MDB_val kv = {8, k}, v = {strlen(note), (void *)note};
    assert_int_equal(mdb_put(r.txn, lf_raw_dbi(&r, "log_checkpoints"), &kv, &v, 0), 0);
    lf_raw_close(&r);
}

AT_TEST(test_verify_store_names_a_forged_checkpoint)
{
    (void)state;
    ts_store *st = fx_open(pristine, TS_OPEN_RDONLY, NULL);
    char origin[256];
    uint8_t root[32];
    assert_int_equal(ts_log_origin(st, origin, sizeof origin), 0);
    assert_int_equal(ts_log_root(st, 250, root), 0);
    ts_close(&st);

    /* Signed by another key. */
    char *s = copy_store();
    char *note = lf_note(other_key, origin, 250, root, LF_T0);
    put_checkpoint(s, 3, note);
    free(note);
    expect_failure(s, "checkpoint 3", "signature");
    free(s);

    /* Signed by the right key, with a root the events do not give. */
    s = copy_store();
    root[31] ^= 1;
    note = lf_note(key, origin, 250, root, LF_T0);
    put_checkpoint(s, 3, note);
    free(note);
    expect_failure(s, "checkpoint 3 (tree size 250)", "root differs");
    free(s);

    /* An earlier checkpoint rewritten to a smaller tree than the one before it. */
    s = copy_store();
    root[31] ^= 1;
    st = fx_open(pristine, TS_OPEN_RDONLY, NULL);
    assert_int_equal(ts_log_root(st, 50, root), 0);
    ts_close(&st);
    note = lf_note(key, origin, 50, root, LF_T0);
    put_checkpoint(s, 2, note);
    free(note);
    expect_failure(s, "checkpoint 2", "order");
    free(s);
}

AT_TEST_GROUP(setup, teardown);
