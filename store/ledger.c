/*
 * ledger.c - the store's Merkle log: its tables, its node layout, the append hook that
 * extends it in every ts_append transaction, and reading roots, leaves and proofs (the
 * ts_log_* half of tracestore.h but the audits). Built on the tree math of merkle.c.
 * The audits of verify --store (ts_log_check_nodes, ts_log_inclusion_proofs,
 * ts_log_recompute) are ledger_check.c's; the origin and the checkpoints,
 * ledger_checkpoints.c's; what they share, ledger_txn.h.
 *
 * Owns three LMDB tables (docs/ledger.md):
 *   log_nodes        BE64(last leaf covered) || level (1 byte) -> 32-byte hash of a complete
 *                    subtree of 2^level leaves, level >= the log's minimum level (the
 *                    leaf hashes are the store's, kept in its blocks). Keys grow in the
 *                    order nodes complete, so every put appends.
 *   log_checkpoints  BE64(sequence) -> signed checkpoint note, oldest first.
 *   log_info         "origin" -> the log's origin; "nodes_size" -> BE64 leaves covered by
 *                    log_nodes; "nodes_min_level" -> 1 byte, the lowest level log_nodes keeps
 *                    (absent: 1, logs written before it was recorded).
 *
 * A node below the minimum level L is computed from its leaves: ledger_node_get reads the 2^L
 * leaves of the aligned block around it with one range read (ledger_leaves_read, the one place
 * that asks the store for leaf hashes), hashes what is asked of the block's lower levels
 * once and answers from that memo while the same block is asked for (a proof's L lowest
 * siblings).
 *
 * Invariants: inside every committed transaction nodes_size == the log size and log_nodes
 * holds exactly the complete subtrees of level >= L of the first nodes_size leaves: the
 * append hook runs in ts_append's transaction, so a crash loses both or neither. L never
 * changes once a node is stored. Every kept checkpoint's root is the log's root at its size
 * (checked on ts_checkpoint_add), hence successive checkpoints are consistent by
 * construction; verify --store re-checks it from the events.
 *
 * Threading: one thread per ts_store, as the rest of the store.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "ledger_txn.h"

/* Reads the node layout from log_info into *min_level (1 when not recorded). */
static int layout_read(ts_store *s, MDB_txn *txn, unsigned *min_level)
{
    *min_level = 1;
    MDB_dbi info;
    int rc = ts_internal_dbi(s, txn, T_INFO, 0, 0, &info);
    if (rc == TS_ENOTFOUND) return 0; /* a log older than log_info: every node is stored */
    if (rc) return rc;
    MDB_val k = {strlen(K_MIN_LEVEL), K_MIN_LEVEL}, v;
    rc = mdb_get(txn, info, &k, &v);
    if (rc == MDB_NOTFOUND) return 0;
    if (rc) return ts_fail_mdb(s, rc, "reading log_info");
    unsigned lvl = v.mv_size == 1 ? *(const uint8_t *)v.mv_data : 0;
    if (lvl < 1 || lvl > TS_NODE_LEVEL_MAX)
        return ts_fail(s, TS_ECORRUPT,
                       "store %s: log_info: nodes_min_level is not one byte of 1..%u: a node "
                       "layout this build does not know (a newer build's, or damage)",
                       s->dir, TS_NODE_LEVEL_MAX);
    *min_level = lvl;
    return 0;
}

/* Prepares l for reading the tree inside txn: log_nodes, the layout and the log size. */
int ledger_open(ledger_txn *l, ts_store *s, MDB_txn *txn)
{
    l->s = s;
    l->txn = txn;
    l->nodes = 0;
    l->min_level = 1;
    l->leaves = 0;
    l->leaf_cur = NULL;
    l->failed_rc = 0;
    l->blk.index = UINT64_MAX;
    l->blk.count = 0;
    int rc = ts_internal_dbi(s, txn, T_NODES, 0, 0, &l->nodes);
    if (!rc) rc = layout_read(s, txn, &l->min_level);
    if (!rc) rc = ts_internal_log_size(s, txn, &l->leaves);
    return rc;
}

/* Releases what ledger_open and the reads opened (before the transaction ends). */
void ledger_close(ledger_txn *l)
{
    if (l->leaf_cur) mdb_cursor_close(l->leaf_cur);
    l->leaf_cur = NULL;
}

/* The leaf hashes [first, first + n) into out, through one cursor on the store's blocks
 * (each block keeps its events' leaf hashes uncompressed). 0 or a TS_E* code. */
int ledger_leaves_read(ledger_txn *l, uint64_t first, size_t n, uint8_t (*out)[MERKLE_HASH_LEN])
{
    if (n == 0) return 0;
    int rc = ts_internal_leaves_read(l->s, l->txn, &l->leaf_cur, first, n, out);
    return rc == TS_ENOTFOUND ? TS_ECORRUPT : rc;
}

static size_t block_off(unsigned min_level, unsigned level)
{
    return ((size_t)2 << min_level) - (((size_t)2 << min_level) >> level);
}

/* Reads block `block` of the leaves into l->blk; its nodes are computed when asked for. */
static int block_load(ledger_txn *l, uint64_t block)
{
    unsigned L = l->min_level;
    uint64_t first = block << L, count = UINT64_C(1) << L;
    l->blk.index = UINT64_MAX;
    if (first >= l->leaves)
        return ts_fail(l->s, TS_ECORRUPT, "store %s: leaf %llu missing", l->s->dir,
                       (unsigned long long)first);
    if (count > l->leaves - first) count = l->leaves - first;
    int rc = ledger_leaves_read(l, first, (size_t)count, l->blk.h);
    if (rc) return rc;
    memset(l->blk.done + ((size_t)1 << L), 0, (size_t)1 << L);
    l->blk.index = block;
    l->blk.count = count;
    return 0;
}

/* The hash of node (level, in) of the loaded block (complete: (in + 1) << level <= count),
 * computing what is missing below it: a proof's L lowest siblings cost 2^L - L - 1 hashes. */
static const uint8_t *block_node(at_sha256_ctx *h, low_block *b, unsigned min_level, unsigned level,
                                 uint64_t in)
{
    size_t slot = block_off(min_level, level) + (size_t)in;
    if (level > 0 && !b->done[slot]) {
        const uint8_t *left = block_node(h, b, min_level, level - 1, 2 * in);
        const uint8_t *right = left ? block_node(h, b, min_level, level - 1, 2 * in + 1) : NULL;
        if (!right || merkle_node_hash(h, left, right, b->h[slot])) return NULL;
        b->done[slot] = 1;
    }
    return b->h[slot];
}

/* A node below the minimum level, from the memo of its block. */
static int low_node_get(ledger_txn *l, unsigned level, uint64_t index, uint8_t out[MERKLE_HASH_LEN])
{
    unsigned up = l->min_level - level;
    uint64_t block = index >> up, in = index - (block << up);
    int rc = l->blk.index == block ? 0 : block_load(l, block);
    if (!rc && (in + 1) << level > l->blk.count)
        rc = ts_fail(l->s, TS_ECORRUPT,
                     "store %s: node (level %u, index %llu) is beyond the log's %llu leaves",
                     l->s->dir, level, (unsigned long long)index, (unsigned long long)l->leaves);
    if (rc) {
        l->failed_rc = rc;
        return rc;
    }
    const uint8_t *node = block_node(l->s->sha, &l->blk, l->min_level, level, in);
    if (!node)
        return l->failed_rc = ts_fail(l->s, TS_ENOMEM, "store %s: SHA-256 failed", l->s->dir);
    memcpy(out, node, MERKLE_HASH_LEN);
    return 0;
}

void ledger_node_key(uint8_t key[9], unsigned level, uint64_t index)
{
    ts_put_be64(key, ((index + 1) << level) - 1);
    key[8] = (uint8_t)level;
}

int ledger_node_get(void *ctx, unsigned level, uint64_t index, uint8_t out[MERKLE_HASH_LEN])
{
    ledger_txn *l = ctx;
    if (level < l->min_level) return low_node_get(l, level, index, out);
    uint8_t key[9];
    ledger_node_key(key, level, index);
    MDB_val k = {9, key}, v;
    int rc = mdb_get(l->txn, l->nodes, &k, &v);
    if (rc == 0 && v.mv_size != MERKLE_HASH_LEN) rc = MDB_CORRUPTED;
    if (rc) {
        l->failed_rc = rc == MDB_NOTFOUND || rc == MDB_CORRUPTED
                           ? ts_fail(l->s, TS_ECORRUPT,
                                     "store %s: log_nodes: node (level %u, index %llu) missing or "
                                     "damaged",
                                     l->s->dir, level, (unsigned long long)index)
                           : ts_fail_mdb(l->s, rc, "reading log_nodes");
        return rc;
    }
    memcpy(out, v.mv_data, MERKLE_HASH_LEN);
    return 0;
}

/* A merkle.c result as a store code (MERKLE_ESOURCE: the accessor's own). */
int ledger_from_merkle(ledger_txn *l, int mrc)
{
    if (mrc == 0) return 0;
    if (mrc == MERKLE_ESOURCE) return l->failed_rc ? l->failed_rc : TS_ECORRUPT;
    if (mrc == MERKLE_EINVAL) return ts_fail(l->s, TS_EINVAL, "store %s: log range", l->s->dir);
    return ts_fail(l->s, TS_ECORRUPT, "store %s: proof does not verify", l->s->dir);
}

static int info_get_u64(MDB_txn *txn, MDB_dbi info, const char *key, uint64_t *out)
{
    MDB_val k = {strlen(key), (void *)key}, v;
    int rc = mdb_get(txn, info, &k, &v);
    if (rc) return rc;
    if (v.mv_size != 8) return MDB_CORRUPTED;
    *out = ts_get_be64(v.mv_data);
    return 0;
}

static int info_put_u64(MDB_txn *txn, MDB_dbi info, const char *key, uint64_t val)
{
    uint8_t b[8];
    ts_put_be64(b, val);
    MDB_val k = {strlen(key), (void *)key}, v = {8, b};
    return mdb_put(txn, info, &k, &v, 0);
}

static int info_put_level(MDB_txn *txn, MDB_dbi info, unsigned min_level)
{
    uint8_t b = (uint8_t)min_level;
    MDB_val k = {strlen(K_MIN_LEVEL), K_MIN_LEVEL}, v = {1, &b};
    return mdb_put(txn, info, &k, &v, 0);
}

/* Appends the nodes of the stored levels through a cursor at the end of log_nodes. */
typedef struct node_appender {
    ledger_txn *l;
    MDB_cursor *cur;
} node_appender;

static int node_append(void *ctx, unsigned level, uint64_t index,
                       const uint8_t hash[MERKLE_HASH_LEN])
{
    node_appender *a = ctx;
    if (level < a->l->min_level) return 0; /* computed from the leaves when needed */
    uint8_t key[9];
    ledger_node_key(key, level, index);
    MDB_val k = {9, key}, v = {MERKLE_HASH_LEN, (void *)hash};
    int rc = mdb_cursor_put(a->cur, &k, &v, MDB_APPEND);
    if (rc) a->l->failed_rc = rc; /* raw: MDB_MAP_FULL must reach ts_append's retry */
    return rc;
}

/* Extends log_nodes from `from` leaves to `to` leaves inside a write txn (l opened on it).
 * Returns 0 or a raw LMDB / TS_E* code. */
static int extend(ledger_txn *l, MDB_dbi info, uint64_t from, uint64_t to)
{
    l->leaves = to;
    merkle_frontier f;
    if (merkle_frontier_load(&f, ledger_node_get, l, from))
        return l->failed_rc ? l->failed_rc : TS_ECORRUPT;
    node_appender a = {l, NULL};
    int rc = mdb_cursor_open(l->txn, l->nodes, &a.cur);
    uint8_t chunk[LEAF_CHUNK][MERKLE_HASH_LEN];
    for (uint64_t i = from; !rc && i < to;) {
        size_t n = to - i < LEAF_CHUNK ? (size_t)(to - i) : LEAF_CHUNK;
        rc = ledger_leaves_read(l, i, n, chunk);
        for (size_t j = 0; !rc && j < n; j++)
            if (merkle_frontier_append(l->s->sha, &f, chunk[j], node_append, &a))
                rc = l->failed_rc ? l->failed_rc : TS_ECORRUPT;
        i += n;
    }
    if (a.cur) mdb_cursor_close(a.cur);
    ledger_close(l);
    return rc ? rc : info_put_u64(l->txn, info, "nodes_size", to);
}

static int append_hook(void *ctx, ts_store *s, MDB_txn *txn, uint64_t first, uint64_t n)
{
    (void)ctx;
    if (n == 0) return 0;
    ledger_txn l;
    MDB_dbi info;
    int rc = ledger_open(&l, s, txn);
    if (!rc) rc = mdb_dbi_open(txn, T_INFO, 0, &info);
    if (rc) return rc;
    return extend(&l, info, first, first + n);
}

static void make_origin(char *out, size_t outlen)
{
    char host[128] = "localhost";
    if (gethostname(host, sizeof host - 1) != 0) snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = 0;
    for (char *p = host; *p; p++)
        if (*p <= 0x20 || *p >= 0x7f || *p == '+' || *p == '/') *p = '-';
    uint8_t id[8];
    char hex[17];
    if (tp_id_random(id, sizeof id) != 0) memset(id, 0x5a, sizeof id);
    at_hex_encode(id, sizeof id, hex);
    snprintf(out, outlen, "agenttrail/%s/%s", host[0] ? host : "localhost", hex);
}

/* Records TS_NODE_MIN_LEVEL for a log that has no layout and no node yet: a new log, or
 * one a writer without the ledger filled. A log with nodes but no layout keeps level 1. */
static int layout_choose(MDB_txn *txn, MDB_dbi nodes, MDB_dbi info)
{
    MDB_val k = {strlen(K_MIN_LEVEL), K_MIN_LEVEL}, v;
    int rc = mdb_get(txn, info, &k, &v);
    if (rc != MDB_NOTFOUND) return rc;
    MDB_stat st;
    rc = mdb_stat(txn, nodes, &st);
    if (rc || st.ms_entries > 0) return rc;
    return info_put_level(txn, info, TS_NODE_MIN_LEVEL);
}

/* One attempt of ts_ledger_attach: 0, a TS_E* code, or a raw LMDB code (MDB_MAP_FULL: the
 * caller grows the map and tries again; *need says how much the catch-up writes). */
static int attach_once(ts_store *s, size_t *need)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc) return rc;
    ledger_txn l;
    MDB_dbi nodes, info, cps;
    rc = mdb_dbi_open(txn, T_NODES, MDB_CREATE, &nodes);
    if (!rc) rc = mdb_dbi_open(txn, T_CHECKPOINTS, MDB_CREATE, &cps);
    if (!rc) rc = mdb_dbi_open(txn, T_INFO, MDB_CREATE, &info);
    MDB_val k = {6, "origin"}, v;
    if (!rc && (rc = mdb_get(txn, info, &k, &v)) == MDB_NOTFOUND) {
        char origin[CP_ORIGIN_MAX];
        make_origin(origin, sizeof origin);
        v.mv_size = strlen(origin);
        v.mv_data = origin;
        rc = mdb_put(txn, info, &k, &v, 0);
    }
    if (!rc) rc = layout_choose(txn, nodes, info);
    if (!rc) rc = ledger_open(&l, s, txn);
    uint64_t covered = 0;
    if (!rc && (rc = info_get_u64(txn, info, "nodes_size", &covered)) == MDB_NOTFOUND) rc = 0;
    if (!rc && covered < l.leaves) {
        *need = (size_t)((l.leaves - covered) >> (l.min_level - 1)) * 64 + (1u << 20);
        rc = extend(&l, info, covered, l.leaves);
    }
    if (rc) {
        mdb_txn_abort(txn);
        return rc;
    }
    return mdb_txn_commit(txn);
}

int ts_ledger_attach(ts_store *s)
{
    size_t need = 1u << 20;
    int rc, tries = 0;
    /* A long catch-up (a writer without the ledger) may not fit in the map as it is. */
    while ((rc = attach_once(s, &need)) == MDB_MAP_FULL && tries++ < 16)
        if ((rc = ts_map_grow(s, need)) != 0) return rc;
    if (rc)
        return rc <= TS_EINVAL && rc > -200 ? rc
                                            : ts_fail_mdb(s, rc, "ledger: preparing log_nodes");
    ts_internal_set_append_hook(s, append_hook, NULL);
    return 0;
}

int ts_ledger_set_layout(ts_store *s, unsigned min_level)
{
    if (!s || min_level < 1 || min_level > TS_NODE_LEVEL_MAX)
        return s ? ts_fail(s, TS_EINVAL, "ledger: node level %u is not in 1..%u", min_level,
                           TS_NODE_LEVEL_MAX)
                 : TS_EINVAL;
    if (s->flags & TS_OPEN_RDONLY)
        return ts_fail(s, TS_EREADONLY, "store %s: opened read-only", s->dir);
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc) return ts_fail_mdb(s, rc, "ledger: beginning a write transaction");
    MDB_dbi nodes, info;
    MDB_stat st;
    uint64_t size = 0;
    rc = ts_internal_dbi(s, txn, T_NODES, 0, 0, &nodes);
    if (!rc) rc = ts_internal_dbi(s, txn, T_INFO, 0, 0, &info);
    if (!rc) rc = ts_internal_log_size(s, txn, &size);
    if (!rc) rc = ts_fail_mdb(s, mdb_stat(txn, nodes, &st), "log_nodes");
    if (!rc && (size > 0 || st.ms_entries > 0))
        rc = ts_fail(s, TS_EINVAL,
                     "store %s: the log has %llu entries: its node layout is fixed; choose it "
                     "before the first append",
                     s->dir, (unsigned long long)size);
    if (!rc) rc = ts_fail_mdb(s, info_put_level(txn, info, min_level), "writing log_info");
    return ts_write_end(s, txn, rc, "ledger: committing the node layout");
}

/* ---- reading ---------------------------------------------------------- */

/* Begins a read with the tree ready to read (ledger_close, then ts_read_end, after). */
int ledger_read_begin(ts_store *s, ledger_txn *l)
{
    MDB_txn *txn;
    int rc = ts_read_begin(s, &txn);
    if (rc) return rc;
    rc = ledger_open(l, s, txn);
    if (rc) ts_read_end(s);
    return rc;
}

void ledger_read_end(ledger_txn *l)
{
    ledger_close(l);
    ts_read_end(l->s);
}

int ts_log_size(ts_store *s, uint64_t *size)
{
    if (!s || !size) return TS_EINVAL;
    MDB_txn *txn;
    int rc = ts_read_begin(s, &txn);
    if (rc) return rc;
    rc = ts_internal_log_size(s, txn, size);
    ts_read_end(s);
    return rc;
}

int ledger_check_size(ledger_txn *l, uint64_t size)
{
    if (size > l->leaves)
        return ts_fail(l->s, TS_EINVAL, "store %s: the log has %llu entries, not %llu", l->s->dir,
                       (unsigned long long)l->leaves, (unsigned long long)size);
    return 0;
}

int ts_log_root(ts_store *s, uint64_t size, uint8_t root[TS_HASH_LEN])
{
    if (!s || !root) return TS_EINVAL;
    ledger_txn l;
    int rc = ledger_read_begin(s, &l);
    if (rc) return rc;
    rc = ledger_check_size(&l, size);
    if (!rc) rc = ledger_from_merkle(&l, merkle_root(s->sha, ledger_node_get, &l, size, root));
    ledger_read_end(&l);
    return rc;
}

int ts_log_leaf(ts_store *s, uint64_t log_index, uint8_t leaf[TS_HASH_LEN])
{
    if (!s || !leaf) return TS_EINVAL;
    MDB_txn *txn;
    int rc = ts_read_begin(s, &txn);
    if (rc) return rc;
    rc = ts_internal_leaf_get(s, txn, log_index, leaf);
    ts_read_end(s);
    return rc;
}

/* An inclusion proof of leaf `from` (consistency 0) or a consistency proof from tree size
 * `from`, in the tree of `size` entries: one read snapshot, the size checked against the log. */
static int log_proof(ts_store *s, int consistency, uint64_t from, uint64_t size,
                     uint8_t proof[][TS_HASH_LEN], size_t *n)
{
    if (!s || !proof || !n) return TS_EINVAL;
    *n = 0;
    ledger_txn l;
    int rc = ledger_read_begin(s, &l);
    if (rc) return rc;
    rc = ledger_check_size(&l, size);
    if (!rc && consistency)
        rc = ledger_from_merkle(&l, merkle_consistency_proof(s->sha, ledger_node_get, &l, from,
                                                             size, proof, TS_PROOF_MAX, n));
    else if (!rc)
        rc = ledger_from_merkle(&l, merkle_inclusion_proof(s->sha, ledger_node_get, &l, from, size,
                                                           proof, TS_PROOF_MAX, n));
    ledger_read_end(&l);
    return rc;
}

int ts_log_inclusion_proof(ts_store *s, uint64_t log_index, uint64_t size,
                           uint8_t proof[][TS_HASH_LEN], size_t *n)
{
    return log_proof(s, 0, log_index, size, proof, n);
}

int ts_log_consistency_proof(ts_store *s, uint64_t old_size, uint64_t new_size,
                             uint8_t proof[][TS_HASH_LEN], size_t *n)
{
    return log_proof(s, 1, old_size, new_size, proof, n);
}

int ts_log_verify_inclusion(const uint8_t leaf[TS_HASH_LEN], uint64_t log_index, uint64_t size,
                            const uint8_t proof[][TS_HASH_LEN], size_t n,
                            const uint8_t root[TS_HASH_LEN])
{
    at_sha256_ctx *h = at_sha256_new();
    int rc = !h ? TS_ENOMEM : merkle_verify_inclusion(h, leaf, log_index, size, proof, n, root);
    at_sha256_free(&h);
    return rc == MERKLE_ECRYPTO || rc == TS_ENOMEM ? TS_ENOMEM : rc ? TS_ECORRUPT : 0;
}

int ts_log_verify_consistency(uint64_t old_size, uint64_t new_size,
                              const uint8_t old_root[TS_HASH_LEN],
                              const uint8_t new_root[TS_HASH_LEN],
                              const uint8_t proof[][TS_HASH_LEN], size_t n)
{
    at_sha256_ctx *h = at_sha256_new();
    int rc = !h ? TS_ENOMEM
                : merkle_verify_consistency(h, old_size, new_size, old_root, new_root, proof, n);
    at_sha256_free(&h);
    return rc == MERKLE_ECRYPTO || rc == TS_ENOMEM ? TS_ENOMEM : rc ? TS_ECORRUPT : 0;
}

int ts_log_leaf_hash(const void *bytes, size_t len, uint8_t leaf[TS_HASH_LEN])
{
    static const uint8_t prefix = 0x00;
    const void *parts[] = {&prefix, bytes};
    const size_t lens[] = {1, len};
    return at_sha256_parts(parts, lens, 2, leaf) ? TS_ENOMEM : 0;
}
