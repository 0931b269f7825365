/*
 * test_ledger_layout.c - the node layouts of log_nodes (store/ledger.c): a log that stores
 * only the subtrees of level >= its minimum level gives, at every size 0..300, the roots,
 * inclusion and consistency proofs of the literal RFC 9162 reference (merkle_ref.c, the one
 * test_merkle uses); so does a log written in the layout of older stores (every node, no
 * layout recorded), before and after it is reopened and extended; every minimum level
 * 1..TS_NODE_LEVEL_MAX works; ts_log_check_nodes catches a flipped, a missing and an extra
 * stored node; the layout is chosen once and a damaged layout record is refused; the
 * catch-up at open of a log a writer without the ledger left behind grows a full map.
 *
 * Owns: temp store directories; the damage is done with LMDB on the store's own
 * environment (ts_internal_env). Single-threaded.
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
#include "ledger.h"
#include "merkle_ref.h"
#include "store_fixture.h"
#include "store_internal.h"
#include "testutil.h"

#define T0 1732531200000000000ull
#define N 300

/* Appends events [first, first + n) in groups of `group`. */
static void append_range(ts_store *s, uint64_t first, uint64_t n, size_t group)
{
    tp_event **ev = calloc(group, sizeof *ev);
    assert_non_null(ev);
    for (uint64_t i = first; i < first + n;) {
        size_t g = first + n - i < group ? (size_t)(first + n - i) : group;
        for (size_t j = 0; j < g; j++, i++)
            ev[j] = fx_event(i, i / 7, i % 2 ? "wf-a" : "wf-b", NULL, T0 + i * 1000);
        fx_append_all(s, ev, g);
        fx_free(ev, g);
    }
    free(ev);
}

/* The reference over the store's first n leaf hashes. */
static void reference_of(ts_store *s, uint64_t n)
{
    uint8_t(*leaves)[32] = malloc((n ? n : 1) * sizeof *leaves);
    assert_non_null(leaves);
    for (uint64_t i = 0; i < n; i++)
        assert_int_equal(ts_log_leaf(s, i, leaves[i]), 0);
    ref_init((const uint8_t(*)[32])leaves, (size_t)n);
    free(leaves);
}

static void assert_hash_equal(const uint8_t *a, const uint8_t *b, const char *what, uint64_t x,
                              uint64_t y)
{
    if (memcmp(a, b, 32) != 0)
        fail_msg("%s (%llu, %llu): hash differs from the reference", what, (unsigned long long)x,
                 (unsigned long long)y);
}

/* Every root of sizes 0..n equals the reference's. */
static void check_roots(ts_store *s, uint64_t n)
{
    for (uint64_t m = 0; m <= n; m++) {
        uint8_t got[32], want[32];
        assert_int_equal(ts_log_root(s, m, got), 0);
        ref_mth(0, (size_t)m, want);
        assert_hash_equal(got, want, "root", m, 0);
    }
}

/* Every inclusion proof of every leaf at every size 1..n (one call each, and in batches
 * given in reverse order), and every consistency proof between sizes 0..n, equal the
 * reference's and verify. */
static void check_proofs(ts_store *s, uint64_t n)
{
    static uint8_t batch[N][TS_PROOF_MAX][TS_HASH_LEN];
    static size_t lens[N];
    static uint64_t idx[N];
    assert_true(n <= N);
    for (uint64_t m = 1; m <= n; m++) {
        uint8_t root[32];
        ref_mth(0, (size_t)m, root);
        for (uint64_t i = 0; i < m; i++)
            idx[i] = m - 1 - i;
        assert_int_equal(ts_log_inclusion_proofs(s, m, (size_t)m, idx, batch, lens), 0);
        for (uint64_t i = 0; i < m; i++) {
            uint8_t proof[TS_PROOF_MAX][32], leaf[32];
            size_t len = 99;
            assert_int_equal(ts_log_inclusion_proof(s, i, m, proof, &len), 0);
            ref_proof want = {.n = 0};
            ref_path(&want, (size_t)i, 0, (size_t)m);
            assert_int_equal(len, want.n);
            assert_int_equal(lens[m - 1 - i], want.n);
            for (size_t j = 0; j < len; j++) {
                assert_hash_equal(proof[j], want.h[j], "inclusion proof", i, m);
                assert_hash_equal(batch[m - 1 - i][j], want.h[j], "batched proof", i, m);
            }
            ref_mth((size_t)i, 1, leaf);
            assert_int_equal(
                ts_log_verify_inclusion(leaf, i, m, (const uint8_t(*)[32])proof, len, root), 0);
        }
        for (uint64_t old = 0; old <= m; old++) {
            uint8_t proof[TS_PROOF_MAX][32], old_root[32];
            size_t len = 99;
            assert_int_equal(ts_log_consistency_proof(s, old, m, proof, &len), 0);
            ref_proof want = {.n = 0};
            if (old > 0 && old < m) ref_subproof(&want, (size_t)old, 0, (size_t)m, 1);
            assert_int_equal(len, want.n);
            for (size_t j = 0; j < len; j++)
                assert_hash_equal(proof[j], want.h[j], "consistency proof", old, m);
            ref_mth(0, (size_t)old, old_root);
            assert_int_equal(
                ts_log_verify_consistency(old, m, old_root, root, (const uint8_t(*)[32])proof, len),
                0);
        }
    }
}

/* Entries of log_nodes. */
static uint64_t nodes_count(ts_store *s)
{
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_stat st;
    assert_int_equal(ts_read_begin(s, &txn), 0);
    assert_int_equal(ts_internal_dbi(s, txn, "log_nodes", 0, 0, &dbi), 0);
    assert_int_equal(mdb_stat(txn, dbi, &st), 0);
    ts_read_end(s);
    return st.ms_entries;
}

/* The complete subtrees of level >= min_level in a tree of n leaves. */
static uint64_t nodes_expected(uint64_t n, unsigned min_level)
{
    uint64_t c = 0;
    for (unsigned j = min_level; j < 64; j++)
        c += n >> j;
    return c;
}

/* The layout recorded in log_info: its level, or 0 when the key is absent. */
static unsigned layout_recorded(ts_store *s)
{
    MDB_txn *txn;
    MDB_dbi dbi;
    assert_int_equal(ts_read_begin(s, &txn), 0);
    assert_int_equal(ts_internal_dbi(s, txn, "log_info", 0, 0, &dbi), 0);
    MDB_val k = {15, "nodes_min_level"}, v;
    int rc = mdb_get(txn, dbi, &k, &v);
    unsigned lvl = 0;
    if (rc == 0) {
        assert_int_equal(v.mv_size, 1);
        lvl = *(const uint8_t *)v.mv_data;
    } else {
        assert_int_equal(rc, MDB_NOTFOUND);
    }
    ts_read_end(s);
    return lvl;
}

/* A write transaction on the store's own environment, for damage and old layouts. */
static MDB_txn *raw_begin(ts_store *s, const char *table, MDB_dbi *dbi)
{
    MDB_txn *txn;
    assert_int_equal(mdb_txn_begin(ts_internal_env(s), NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, table, 0, dbi), 0);
    return txn;
}

static void node_key(uint8_t key[9], unsigned level, uint64_t index)
{
    uint64_t last = ((index + 1) << level) - 1;
    for (int i = 0; i < 8; i++)
        key[i] = (uint8_t)(last >> (56 - 8 * i));
    key[8] = (uint8_t)level;
}

/* The first message a report function was given. */
typedef struct first_report {
    int count;
    char msg[512];
} first_report;

static void keep_first(void *ctx, const char *msg)
{
    first_report *r = ctx;
    if (r->count++ == 0) snprintf(r->msg, sizeof r->msg, "%s", msg);
}

static void check_nodes_fails_with(ts_store *s, const char *want)
{
    first_report r = {0, ""};
    assert_int_equal(ts_log_check_nodes(s, keep_first, &r), TS_ECORRUPT);
    assert_int_equal(r.count, 1);
    if (!strstr(r.msg, want)) fail_msg("report \"%s\" does not name \"%s\"", r.msg, want);
}

/* The N-event log of *s has the reference roots, proofs and nodes; closed and
 * opened read-only, the reader sees the same roots and nodes. Closes *s. */
static void check_log_then_reread(ts_store **s, const char *dir)
{
    check_roots(*s, N);
    check_proofs(*s, N);
    assert_int_equal(ts_log_check_nodes(*s, NULL, NULL), 0);
    ts_close(s);
    *s = fx_open(dir, TS_OPEN_RDONLY, NULL);
    check_roots(*s, N);
    assert_int_equal(ts_log_check_nodes(*s, NULL, NULL), 0);
    ts_close(s);
}

AT_TEST(test_ledger_sparse_layout_matches_the_reference_at_every_size_0_to_300)
{
    (void)state;
    char *dir;
    ts_store *s = fx_new_store("ledger-sparse", &dir);
    assert_int_equal(layout_recorded(s), TS_NODE_MIN_LEVEL);
    /* Groups of 1, 2, 3 ... 24 leaves (300 in all): extend starts inside blocks of every
     * phase, and the root after each group is the reference's. */
    uint64_t size = 0;
    for (size_t g = 1; size < N; g++) {
        append_range(s, size, g, g);
        size += g;
        reference_of(s, size);
        uint8_t got[32], want[32];
        assert_int_equal(ts_log_root(s, size, got), 0);
        ref_mth(0, (size_t)size, want);
        assert_hash_equal(got, want, "root after a group", size, g);
        assert_int_equal(nodes_count(s), nodes_expected(size, TS_NODE_MIN_LEVEL));
    }
    assert_int_equal(size, N);
    check_log_then_reread(&s, dir);
    ref_free();
    tu_rmtree_free(dir);
}

AT_TEST(test_ledger_old_layout_store_gives_the_same_proofs)
{
    (void)state;
    char *dir;
    ts_store *s = fx_new_store("ledger-old", &dir);
    /* A log as stores before the layout was recorded keep it: every node of level >= 1
     * and no nodes_min_level in log_info. */
    assert_int_equal(ts_ledger_set_layout(s, 1), 0);
    MDB_dbi info;
    MDB_txn *txn = raw_begin(s, "log_info", &info);
    MDB_val k = {15, "nodes_min_level"};
    assert_int_equal(mdb_del(txn, info, &k, NULL), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    append_range(s, 0, 150, 7);
    assert_int_equal(layout_recorded(s), 0);
    assert_int_equal(nodes_count(s), nodes_expected(150, 1));
    ts_close(&s);

    /* Reopened read-write, it keeps its layout and is extended in it. */
    s = fx_open(dir, 0, NULL);
    assert_int_equal(layout_recorded(s), 0);
    assert_int_equal(ts_ledger_set_layout(s, TS_NODE_MIN_LEVEL), TS_EINVAL);
    append_range(s, 150, N - 150, 13);
    assert_int_equal(nodes_count(s), nodes_expected(N, 1));
    reference_of(s, N);
    check_log_then_reread(&s, dir);
    ref_free();
    tu_rmtree_free(dir);
}

AT_TEST(test_ledger_every_minimum_level_gives_the_reference_tree)
{
    (void)state;
    for (unsigned lvl = 1; lvl <= TS_NODE_LEVEL_MAX; lvl++) {
        char *dir = tu_tempdir("ledger-level");
        ts_store *s = fx_open(dir, TS_OPEN_CREATE, NULL);
        assert_int_equal(ts_ledger_set_layout(s, lvl), 0);
        append_range(s, 0, N, 37);
        assert_int_equal(layout_recorded(s), lvl);
        assert_int_equal(nodes_count(s), nodes_expected(N, lvl));
        reference_of(s, N);
        check_roots(s, N);
        /* Every proof at two sizes: a complete tree and the whole log. */
        uint64_t sizes[2] = {256, N};
        for (int z = 0; z < 2; z++) {
            uint8_t root[32];
            ref_mth(0, (size_t)sizes[z], root);
            for (uint64_t i = 0; i < sizes[z]; i++) {
                uint8_t proof[TS_PROOF_MAX][32];
                size_t len;
                assert_int_equal(ts_log_inclusion_proof(s, i, sizes[z], proof, &len), 0);
                ref_proof want = {.n = 0};
                ref_path(&want, (size_t)i, 0, (size_t)sizes[z]);
                assert_int_equal(len, want.n);
                for (size_t j = 0; j < len; j++)
                    assert_hash_equal(proof[j], want.h[j], "inclusion proof", i, lvl);
            }
        }
        assert_int_equal(ts_log_check_nodes(s, NULL, NULL), 0);
        ts_close(&s);
        tu_rmtree_free(dir);
    }
    ref_free();
}

AT_TEST(test_ledger_check_nodes_catches_a_flipped_missing_or_extra_node)
{
    (void)state;
    char *dir;
    ts_store *s = fx_new_store("ledger-damage", &dir);
    append_range(s, 0, N, 50);
    first_report r = {0, ""};
    assert_int_equal(ts_log_check_nodes(s, keep_first, &r), 0);
    assert_int_equal(r.count, 0);
    uint8_t root[32], leaf[32];
    assert_int_equal(ts_log_root(s, N, root), 0);
    assert_int_equal(ts_log_leaf(s, 0, leaf), 0);

    /* The stored node one level above the lowest, over leaves 2^(L+1) .. 2^(L+2)-1: on the
     * path of leaf 0 in the tree of 300 leaves. */
    unsigned lvl = TS_NODE_MIN_LEVEL + 1;
    uint8_t key[9], saved[32], h[32];
    node_key(key, lvl, 1);
    MDB_dbi nodes;
    MDB_txn *txn = raw_begin(s, "log_nodes", &nodes);
    MDB_val kv = {9, key}, v;
    assert_int_equal(mdb_get(txn, nodes, &kv, &v), 0);
    memcpy(saved, v.mv_data, 32);
    memcpy(h, saved, 32);
    h[17] ^= 0x04;
    MDB_val nv = {32, h};
    assert_int_equal(mdb_put(txn, nodes, &kv, &nv, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    char want[96];
    snprintf(want, sizeof want, "log_nodes: node (level %u, index 1) differs", lvl);
    check_nodes_fails_with(s, want);
    /* Proofs through it no longer lead to the true root. */
    uint8_t proof[TS_PROOF_MAX][32];
    size_t len;
    assert_int_equal(ts_log_inclusion_proof(s, 0, N, proof, &len), 0);
    assert_int_not_equal(
        ts_log_verify_inclusion(leaf, 0, N, (const uint8_t(*)[32])proof, len, root), 0);

    /* Deleted. */
    txn = raw_begin(s, "log_nodes", &nodes);
    assert_int_equal(mdb_del(txn, nodes, &kv, NULL), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    snprintf(want, sizeof want, "log_nodes: node (level %u, index 1) is missing", lvl);
    check_nodes_fails_with(s, want);
    assert_int_equal(ts_log_inclusion_proof(s, 0, N, proof, &len), TS_ECORRUPT);
    assert_non_null(strstr(ts_last_error(s), "missing"));

    /* Restored, then a node of a level the layout computes (level 1, leaves 0..1): the
     * extra entry is damage too. */
    txn = raw_begin(s, "log_nodes", &nodes);
    nv.mv_data = saved;
    assert_int_equal(mdb_put(txn, nodes, &kv, &nv, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    assert_int_equal(ts_log_check_nodes(s, NULL, NULL), 0);
    uint8_t got[32];
    assert_int_equal(ts_log_root(s, N, got), 0);
    assert_memory_equal(got, root, 32);
    txn = raw_begin(s, "log_nodes", &nodes);
    node_key(key, 1, 0);
    assert_int_equal(mdb_put(txn, nodes, &kv, &nv, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    check_nodes_fails_with(s, "log_nodes: an entry (level 1, last leaf 1)");

    fx_done(&s, dir);
}

AT_TEST(test_ledger_layout_is_chosen_once_and_a_damaged_record_is_refused)
{
    (void)state;
    char *dir;
    ts_store *s = fx_new_store("ledger-layout", &dir);
    assert_int_equal(ts_ledger_set_layout(s, 0), TS_EINVAL);
    assert_int_equal(ts_ledger_set_layout(s, TS_NODE_LEVEL_MAX + 1), TS_EINVAL);
    assert_int_equal(ts_ledger_set_layout(s, 3), 0);
    assert_int_equal(ts_ledger_set_layout(s, 2), 0); /* still empty: may change */
    append_range(s, 0, 40, 40);
    assert_int_equal(ts_ledger_set_layout(s, 4), TS_EINVAL);
    assert_non_null(strstr(ts_last_error(s), "before the first append"));
    assert_int_equal(layout_recorded(s), 2);
    assert_int_equal(nodes_count(s), nodes_expected(40, 2));

    /* A layout byte out of range, or not one byte: readers refuse rather than guess. */
    static const uint8_t bad[][2] = {{0, 0}, {TS_NODE_LEVEL_MAX + 1, 0}, {2, 2}};
    static const size_t badlen[] = {1, 1, 2};
    for (int i = 0; i < 3; i++) {
        MDB_dbi info;
        MDB_txn *txn = raw_begin(s, "log_info", &info);
        MDB_val k = {15, "nodes_min_level"}, v = {badlen[i], (void *)bad[i]};
        assert_int_equal(mdb_put(txn, info, &k, &v, 0), 0);
        assert_int_equal(mdb_txn_commit(txn), 0);
        uint8_t root[32];
        assert_int_equal(ts_log_root(s, 40, root), TS_ECORRUPT);
        assert_non_null(strstr(ts_last_error(s), "nodes_min_level"));
        check_nodes_fails_with(s, "nodes_min_level");
    }
    fx_done(&s, dir);
}

AT_TEST(test_ledger_catch_up_at_open_grows_a_full_map)
{
    (void)state;
    char *dir = tu_tempdir("ledger-grow");
    ts_options opt = {.map_size_initial = 1u << 20};
    ts_store *s = fx_open(dir, TS_OPEN_CREATE, &opt);
    /* A writer without the ledger fills the map until what the catch-up of every node of
     * level >= 1 will write (~50 bytes a leaf) no longer fits in what is left of it, free
     * pages included (hence thousands of leaves: LMDB reuses the pages earlier
     * transactions freed). */
    assert_int_equal(ts_ledger_set_layout(s, 1), 0);
    ts_internal_set_append_hook(s, NULL, NULL);
    uint64_t n = 0;
    for (;;) {
        append_range(s, n, 200, 200);
        n += 200;
        MDB_envinfo info;
        MDB_stat st;
        assert_int_equal(mdb_env_info(ts_internal_env(s), &info), 0);
        assert_int_equal(mdb_env_stat(ts_internal_env(s), &st), 0);
        uint64_t left = info.me_mapsize - (uint64_t)(info.me_last_pgno + 1) * st.ms_psize;
        if (n >= 8000 && left < n * 16) break;
        assert_true(n < 200000);
    }
    ts_close(&s);
    s = fx_open(dir, 0, &opt);
    assert_int_equal(nodes_count(s), nodes_expected(n, 1));
    reference_of(s, n);
    uint8_t got[32], want[32];
    assert_int_equal(ts_log_root(s, n, got), 0);
    ref_mth(0, (size_t)n, want);
    assert_memory_equal(got, want, 32);
    assert_int_equal(ts_log_check_nodes(s, NULL, NULL), 0);
    ts_close(&s);
    ref_free();
    tu_rmtree_free(dir);
}
