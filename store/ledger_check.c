/*
 * ledger_check.c - the ledger's audits, what trace-query verify --store runs: every stored
 * node against the tree recomputed from the leaves (ts_log_check_nodes), inclusion proofs
 * for many events at once over a memo of upper nodes (ts_log_inclusion_proofs), and the
 * roots recomputed from the stored events themselves (ts_log_recompute).
 *
 * Owns nothing beyond a call: reads through ledger_txn.h, never writes.
 * Threading: as the ts_store (one thread).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger_txn.h"

typedef struct node_walk {
    ledger_txn *l;
    MDB_cursor *cur;
    int first; /* the next get is MDB_FIRST */
    ts_report_fn report;
    void *ctx;
} node_walk;

static int walk_mismatch(node_walk *w, const char *msg)
{
    if (w->report) w->report(w->ctx, msg);
    ts_fail(w->l->s, TS_ECORRUPT, "store %s: %s", w->l->s->dir, msg);
    return -1;
}

/* The message for an entry of log_nodes the recomputed tree does not have. */
static int extra_entry(node_walk *w, const MDB_val *k)
{
    char msg[256];
    if (k->mv_size == 9)
        snprintf(msg, sizeof msg,
                 "log_nodes: an entry (level %u, last leaf %llu) that the tree of %llu leaves, "
                 "storing levels >= %u, does not have",
                 ((const uint8_t *)k->mv_data)[8], (unsigned long long)ts_get_be64(k->mv_data),
                 (unsigned long long)w->l->leaves, w->l->min_level);
    else
        snprintf(msg, sizeof msg, "log_nodes: an entry with a key of %zu bytes", k->mv_size);
    return walk_mismatch(w, msg);
}

/* Each emitted node of a stored level must be the next entry of log_nodes: both are in
 * completion order, which is key order (last leaf, then level). */
static int compare_next(void *ctx, unsigned level, uint64_t index,
                        const uint8_t hash[MERKLE_HASH_LEN])
{
    node_walk *w = ctx;
    if (level < w->l->min_level) return 0;
    MDB_val k, v;
    int rc = mdb_cursor_get(w->cur, &k, &v, w->first ? MDB_FIRST : MDB_NEXT);
    w->first = 0;
    uint8_t want[9];
    ledger_node_key(want, level, index);
    int cmp = rc ? 1 : k.mv_size != 9 ? -1 : memcmp(k.mv_data, want, 9);
    if (cmp < 0) return extra_entry(w, &k);
    if (cmp > 0 || v.mv_size != MERKLE_HASH_LEN || memcmp(v.mv_data, hash, 32) != 0) {
        char msg[256];
        snprintf(msg, sizeof msg,
                 "log_nodes: node (level %u, index %llu) %s the one recomputed from the leaves",
                 level, (unsigned long long)index, cmp ? "is missing, unlike" : "differs from");
        return walk_mismatch(w, msg);
    }
    return 0;
}

/* After the walk: log_nodes holds nothing more (a node beyond the log is damage too). */
static int check_no_more(node_walk *w)
{
    MDB_val k, v;
    int rc = mdb_cursor_get(w->cur, &k, &v, w->first ? MDB_FIRST : MDB_NEXT);
    if (rc == MDB_NOTFOUND) return 0;
    if (rc) return ts_fail_mdb(w->l->s, rc, "reading log_nodes");
    extra_entry(w, &k);
    return TS_ECORRUPT;
}

int ts_log_check_nodes(ts_store *s, ts_report_fn report, void *ctx)
{
    if (!s) return TS_EINVAL;
    ledger_txn l;
    int rc = ledger_read_begin(s, &l);
    if (rc) {
        if (report && rc == TS_ECORRUPT) report(ctx, ts_last_error(s));
        return rc;
    }
    uint64_t size = l.leaves;
    node_walk w = {&l, NULL, 1, report, ctx};
    rc = ts_fail_mdb(s, mdb_cursor_open(l.txn, l.nodes, &w.cur), "log_nodes");
    merkle_frontier f;
    memset(&f, 0, sizeof f);
    uint8_t chunk[LEAF_CHUNK][MERKLE_HASH_LEN];
    for (uint64_t i = 0; !rc && i < size;) {
        size_t n = size - i < LEAF_CHUNK ? (size_t)(size - i) : LEAF_CHUNK;
        rc = ledger_leaves_read(&l, i, n, chunk);
        if (rc) {
            if (report) report(ctx, ts_last_error(s));
            break;
        }
        for (size_t j = 0; !rc && j < n; j++)
            if (merkle_frontier_append(s->sha, &f, chunk[j], compare_next, &w)) rc = TS_ECORRUPT;
        i += n;
    }
    if (!rc) rc = check_no_more(&w);
    if (w.cur) mdb_cursor_close(w.cur);
    ledger_read_end(&l);
    return rc;
}

/* A node accessor with a direct-mapped memo in front: the upper nodes are shared by
 * most proofs of a batch (the lower ones come from the block memo of ledger_node_get). */
#define MEMO_SLOTS 16384
typedef struct memo_slot {
    uint64_t index;
    uint8_t level; /* 0xff: empty */
    uint8_t hash[MERKLE_HASH_LEN];
} memo_slot;

typedef struct memo_src {
    ledger_txn *l;
    memo_slot *slots;
} memo_src;

static int memo_get(void *ctx, unsigned level, uint64_t index, uint8_t out[MERKLE_HASH_LEN])
{
    memo_src *m = ctx;
    if (level < 2 || level < m->l->min_level) return ledger_node_get(m->l, level, index, out);
    memo_slot *sl = &m->slots[(index * 64 + level) % MEMO_SLOTS];
    if (sl->level == level && sl->index == index) {
        memcpy(out, sl->hash, MERKLE_HASH_LEN);
        return 0;
    }
    int rc = ledger_node_get(m->l, level, index, out);
    if (!rc) {
        sl->level = (uint8_t)level;
        sl->index = index;
        memcpy(sl->hash, out, MERKLE_HASH_LEN);
    }
    return rc;
}

/* Sorts positions by the index they hold (a heap sort: no allocation, no recursion). */
static void sift(size_t *o, size_t root, size_t n, const uint64_t *key)
{
    for (;;) {
        size_t c = 2 * root + 1;
        if (c >= n) return;
        if (c + 1 < n && key[o[c + 1]] > key[o[c]]) c++;
        if (key[o[root]] >= key[o[c]]) return;
        size_t t = o[root];
        o[root] = o[c];
        o[c] = t;
        root = c;
    }
}

static void sort_by_index(size_t *o, size_t n, const uint64_t *key)
{
    for (size_t i = n / 2; i-- > 0;)
        sift(o, i, n, key);
    for (size_t end = n; end > 1; end--) {
        size_t t = o[0];
        o[0] = o[end - 1];
        o[end - 1] = t;
        sift(o, 0, end - 1, key);
    }
}

int ts_log_inclusion_proofs(ts_store *s, uint64_t size, size_t n, const uint64_t *indexes,
                            uint8_t (*proofs)[TS_PROOF_MAX][TS_HASH_LEN], size_t *lens)
{
    if (!s || (n && (!indexes || !proofs || !lens))) return TS_EINVAL;
    memo_slot *slots = malloc(MEMO_SLOTS * sizeof *slots);
    if (!slots) return ts_fail(s, TS_ENOMEM, "store %s: out of memory", s->dir);
    for (size_t i = 0; i < MEMO_SLOTS; i++)
        slots[i].level = 0xff;
    ledger_txn l;
    int rc = ledger_read_begin(s, &l);
    if (rc) {
        free(slots);
        return rc;
    }
    rc = ledger_check_size(&l, size);
    /* In index order: neighbours share their upper nodes (memo hits) and their lower nodes
     * sit on the same pages. */
    size_t *order = malloc((n ? n : 1) * sizeof *order);
    if (!order) rc = ts_fail(s, TS_ENOMEM, "store %s: out of memory", s->dir);
    for (size_t i = 0; !rc && i < n; i++)
        order[i] = i;
    if (!rc) sort_by_index(order, n, indexes);
    memo_src m = {&l, slots};
    for (size_t k = 0; !rc && k < n; k++) {
        size_t i = order[k];
        rc = ledger_from_merkle(&l, merkle_inclusion_proof(s->sha, memo_get, &m, indexes[i], size,
                                                           proofs[i], TS_PROOF_MAX, &lens[i]));
    }
    free(order);
    ledger_read_end(&l);
    free(slots);
    return rc;
}

int ts_log_recompute(ts_store *s, size_t nsizes, const uint64_t *sizes,
                     uint8_t (*roots)[TS_HASH_LEN], uint8_t full_root[TS_HASH_LEN],
                     uint64_t *full_size, ts_report_fn report, void *ctx,
                     void (*progress)(void *pctx, uint64_t done, uint64_t total), void *pctx)
{
    if (!s || (nsizes && (!sizes || !roots))) return TS_EINVAL;
    MDB_txn *txn;
    int rc = ts_read_begin(s, &txn);
    if (rc) return rc;
    uint64_t size = 0;
    MDB_cursor *ev = NULL;
    ts_block blk = {.first = UINT64_MAX};
    const uint8_t *buf = NULL;
    size_t len = 0;
    rc = ts_internal_log_size(s, txn, &size);
    if (!rc) rc = ts_fail_mdb(s, mdb_cursor_open(txn, s->dbi[TS_DBI_EVENTS], &ev), "events");
    merkle_frontier f;
    memset(&f, 0, sizeof f);
    size_t next = 0;
    char msg[768];
    msg[0] = 0;
    MDB_val ek, evv;
    int er = rc ? MDB_NOTFOUND : mdb_cursor_get(ev, &ek, &evv, MDB_FIRST);
    for (uint64_t i = 0; !rc && i <= size; i++) {
        while (!rc && next < nsizes && sizes[next] == i)
            if (merkle_frontier_root(s->sha, &f, roots[next++]))
                rc = ts_fail(s, TS_ENOMEM, "store %s: SHA-256 failed", s->dir);
        if (rc || i == size) break;
        uint8_t leaf[MERKLE_HASH_LEN];
        int have = ts_block_event(&blk, i, &buf, &len) == 0;
        if (!have && blk.first != UINT64_MAX) /* the next block */
            er = mdb_cursor_get(ev, &ek, &evv, MDB_NEXT);
        if (!have && (er || ek.mv_size != 8 || ts_get_be64(ek.mv_data) != i)) {
            snprintf(msg, sizeof msg, "log index %llu: stored event missing",
                     (unsigned long long)i);
        } else if (!have && ts_block_decode(s, txn, i, evv.mv_data, evv.mv_size, 0, &blk)) {
            snprintf(msg, sizeof msg, "log index %llu: stored event unreadable: %s",
                     (unsigned long long)i, ts_last_error(s));
        } else {
            if (!have) ts_block_event(&blk, i, &buf, &len);
            if (merkle_leaf_hash(s->sha, buf, len, leaf))
                snprintf(msg, sizeof msg, "log index %llu: SHA-256 failed", (unsigned long long)i);
            else if (memcmp(blk.leaves[i - blk.first], leaf, 32) != 0)
                snprintf(msg, sizeof msg,
                         "log index %llu: leaf hash: the stored leaf differs from SHA-256(0x00 "
                         "|| stored bytes)",
                         (unsigned long long)i);
        }
        if (msg[0]) {
            rc = ts_fail(s, TS_ECORRUPT, "store %s: %s", s->dir, msg);
            if (report) report(ctx, msg);
            break;
        }
        if (merkle_frontier_append(s->sha, &f, leaf, NULL, NULL)) {
            rc = ts_fail(s, TS_ENOMEM, "store %s: SHA-256 failed", s->dir);
            break;
        }
        /* The events table may skip ahead (a deleted block): the check above says so. */
        if (progress && ((i + 1) & 65535) == 0) progress(pctx, i + 1, size);
    }
    if (!rc && next < nsizes) {
        rc = ts_fail(s, TS_EINVAL, "store %s: a size beyond the log of %llu", s->dir,
                     (unsigned long long)size);
        if (report) report(ctx, ts_last_error(s));
    }
    if (!rc && full_root && merkle_frontier_root(s->sha, &f, full_root))
        rc = ts_fail(s, TS_ENOMEM, "store %s: SHA-256 failed", s->dir);
    if (!rc && full_size) *full_size = size;
    if (!rc && progress) progress(pctx, size, size);
    ts_block_free(&blk);
    if (ev) mdb_cursor_close(ev);
    ts_read_end(s);
    return rc;
}
