/*
 * append.c - ts_append: one group of events, one durable write transaction.
 *
 * Owns: the write path. The group is first ordered by trace (traces in order
 * of first appearance, arrival order within one); an event whose id is
 * already stored is compared with its first copy (DUPLICATE when equal but
 * for `stored`, CONFLICT otherwise) and not stored; for each event not already
 * stored (ids lookup, which also sees the earlier events of the same group)
 * it stamps `stored` with the next log index, packs the stored bytes into the
 * trace's block with its leaf hash, writes the id (event_ids) and the
 * index entries (by_workflow, by_dri, by_trace, by_time,
 * by_incident; by_trace under the trace's number from traces, given to a
 * trace id the first time it is seen); INCIDENT_LINK events record trace -> incident links
 * (trace_incidents) and index the linked traces' stored events under the
 * incident; events of linked traces arriving later are indexed at append.
 * A block (events, keyed by its first log index) is compressed and written
 * when its trace's events of the group end or it is full. Then the ledger
 * hook, then the commit.
 *
 * Invariants: all or nothing per group: any failure aborts the transaction;
 * MDB_MAP_FULL grows the map (nothing open) and retries the whole group.
 * log_size in meta equals the next log index; log indexes are consecutive.
 *
 * Threading: one thread per ts_store.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store_internal.h"

/* An LMDB failure inside the transaction: kept raw so that MDB_MAP_FULL can
 * be told apart; translated by the caller. */
typedef struct wctx {
    ts_store *s;
    MDB_txn *txn;
    MDB_cursor *cur[TS_DBI_COUNT];
    int links;        /* trace_incidents has entries */
    uint64_t ntraces; /* entries of traces: the next trace number */
    /* The last block read back to compare a resent event with its first copy
     * (a resent batch reads each block once); this transaction's only. */
    MDB_cursor *dup_cur;
    ts_block dup;
} wctx;

static uint32_t hour_of(uint64_t ts)
{
    uint64_t h = ts / 3600000000000ull;
    return h > UINT32_MAX ? UINT32_MAX : (uint32_t)h;
}

/* Adds an index entry; appends at the end of the key's duplicates when it is
 * the newest (full pages), inserts in place otherwise. `nodup`: an entry
 * already there is not an error. */
/* Every index key the contract allows fits LMDB's key limit (traceproto.h). */
_Static_assert(TP_WORKFLOW_MAX <= 511 && TP_DRI_MAX <= 511 && TP_INCIDENT_MAX <= 511,
               "index keys must fit LMDB's 511-byte key limit");

static int index_put(wctx *w, int dbi, const void *key, size_t klen, const uint8_t entry[16])
{
    /* LMDB's key limit; validated events never reach it (the limits above). */
    if (klen == 0 || klen > 511) return 0;
    MDB_val k = {klen, (void *)key}, v = {TS_ENTRY_LEN, (void *)entry};
    int rc = mdb_cursor_put(w->cur[dbi], &k, &v, MDB_APPENDDUP);
    if (rc == MDB_KEYEXIST) {
        k.mv_size = klen;
        k.mv_data = (void *)key;
        v.mv_size = TS_ENTRY_LEN;
        v.mv_data = (void *)entry;
        rc = mdb_cursor_put(w->cur[dbi], &k, &v, MDB_NODUPDATA);
        if (rc == MDB_KEYEXIST) rc = 0;
    }
    return rc;
}

static int has_bytes(const ProtobufCBinaryData *b, int has, size_t n)
{
    return has && b->len == n && b->data;
}

/* Indexes every stored event of `trace` under `incident`: by_trace names the
 * trace's blocks, whose events are read back from this transaction. */
static int index_trace_under(wctx *w, const uint8_t trace[16], const char *incident)
{
    uint8_t num[8];
    int rc = ts_trace_key(w->s, w->txn, trace, num);
    if (rc == MDB_NOTFOUND) return 0; /* no event of the trace stored yet */
    if (rc) return rc;
    MDB_cursor *c = NULL, *ec = NULL;
    rc = mdb_cursor_open(w->txn, w->s->dbi[TS_DBI_BY_TRACE], &c);
    if (!rc) rc = mdb_cursor_open(w->txn, w->s->dbi[TS_DBI_EVENTS], &ec);
    ts_block b = {.first = UINT64_MAX};
    MDB_val k = {8, num}, v;
    if (!rc) rc = mdb_cursor_get(c, &k, &v, MDB_SET);
    while (rc == 0) {
        uint64_t first = ts_get_be64((const uint8_t *)v.mv_data + 8);
        uint8_t key[8];
        ts_put_be64(key, first);
        MDB_val bk = {8, key}, bv;
        rc = mdb_cursor_get(ec, &bk, &bv, MDB_SET_KEY);
        if (rc == MDB_NOTFOUND)
            rc = ts_fail(w->s, TS_ECORRUPT, "store %s: by_trace names a block at %llu, not stored",
                         w->s->dir, (unsigned long long)first);
        if (!rc) rc = ts_block_decode(w->s, w->txn, first, bv.mv_data, bv.mv_size, 0, &b);
        for (uint32_t i = 0; !rc && i < b.count; i++) {
            const uint8_t *p;
            size_t n;
            uint8_t e[16];
            ts_block_event(&b, first + i, &p, &n);
            ts_put_be64(e, ts_stored_time(p, n));
            ts_put_be64(e + 8, first + i);
            rc = index_put(w, TS_DBI_BY_INCIDENT, incident, strlen(incident), e);
        }
        if (!rc) rc = mdb_cursor_get(c, &k, &v, MDB_NEXT_DUP);
    }
    ts_block_free(&b);
    if (ec) mdb_cursor_close(ec);
    if (c) mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static int record_links(wctx *w, const tp_event *ev)
{
    const Agenttrail__V1__Link *l = ev->link;
    if (ev->kind != AGENTTRAIL__V1__KIND__INCIDENT_LINK || !ev->incident || !l) return 0;
    size_t ilen = strlen(ev->incident);
    if (ilen == 0 || ilen > 511) return 0;
    for (size_t i = 0; i < l->n_trace_ids; i++) {
        if (l->trace_ids[i].len != 16) continue;
        MDB_val k = {16, l->trace_ids[i].data}, v = {ilen, ev->incident};
        int rc = mdb_put(w->txn, w->s->dbi[TS_DBI_TRACE_INCIDENTS], &k, &v, MDB_NODUPDATA);
        if (rc == MDB_KEYEXIST) continue; /* linked before: already indexed */
        if (rc) return rc;
        w->links = 1;
        if ((rc = index_trace_under(w, l->trace_ids[i].data, ev->incident))) return rc;
    }
    return 0;
}

/* Indexes an event under each incident its trace is linked to. */
static int index_linked(wctx *w, const uint8_t trace[16], const uint8_t entry[16])
{
    if (!w->links) return 0;
    MDB_cursor *c;
    int rc = mdb_cursor_open(w->txn, w->s->dbi[TS_DBI_TRACE_INCIDENTS], &c);
    if (rc) return rc;
    MDB_val k = {16, (void *)trace}, v;
    rc = mdb_cursor_get(c, &k, &v, MDB_SET);
    while (rc == 0) {
        char inc[512];
        size_t n = v.mv_size < sizeof inc ? v.mv_size : sizeof inc - 1;
        memcpy(inc, v.mv_data, n);
        rc = index_put(w, TS_DBI_BY_INCIDENT, inc, n, entry);
        if (!rc) rc = mdb_cursor_get(c, &k, &v, MDB_NEXT_DUP);
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* The trace number of `trace`, given the next number when the trace is new
 * (one B-tree descent either way: the put fails on an existing key and hands
 * back its number). */
static int trace_number(wctx *w, const uint8_t trace[16], uint8_t num[8])
{
    ts_put_be64(num, w->ntraces);
    MDB_val k = {16, (void *)trace}, v = {8, num};
    int rc = mdb_cursor_put(w->cur[TS_DBI_TRACES], &k, &v, MDB_NOOVERWRITE);
    if (rc == 0) {
        w->ntraces++;
        return 0;
    }
    if (rc == MDB_KEYEXIST && v.mv_size == 8) {
        memcpy(num, v.mv_data, 8);
        return 0;
    }
    if (rc == MDB_KEYEXIST)
        return ts_fail(w->s, TS_ECORRUPT,
                       "store %s: traces: a trace number of %zu bytes (run ts_check)", w->s->dir,
                       v.mv_size);
    return rc;
}

static int write_indexes(wctx *w, const tp_event *ev, uint64_t li)
{
    uint64_t ts = ev->has_time_unix_nano ? ev->time_unix_nano : 0;
    uint8_t e[16], hour[4];
    ts_put_be64(e, ts);
    ts_put_be64(e + 8, li);
    ts_put_be32(hour, hour_of(ts));
    int rc = index_put(w, TS_DBI_BY_TIME, hour, 4, e);
    if (!rc && ev->workflow)
        rc = index_put(w, TS_DBI_BY_WORKFLOW, ev->workflow, strlen(ev->workflow), e);
    if (!rc && ev->dri) rc = index_put(w, TS_DBI_BY_DRI, ev->dri, strlen(ev->dri), e);
    if (!rc && ev->incident)
        rc = index_put(w, TS_DBI_BY_INCIDENT, ev->incident, strlen(ev->incident), e);
    if (!rc && has_bytes(&ev->trace_id, ev->has_trace_id, 16))
        rc = index_linked(w, ev->trace_id.data, e); /* by_trace is written per block */
    if (!rc) rc = record_links(w, ev);
    return rc;
}

static uint64_t now_unix_nano(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/* Sets the `stored` stamps: log index always; time received and source only
 * when the collector did not. */
static int stamp(ts_store *s, tp_event *ev, uint64_t li)
{
    if (!ev->stored) {
        ev->stored = malloc(sizeof *ev->stored);
        if (!ev->stored) return ts_fail(s, TS_ENOMEM, "store %s: out of memory", s->dir);
        agenttrail__v1__stored__init(ev->stored);
    }
    Agenttrail__V1__Stored *st = ev->stored;
    st->has_log_index = 1;
    st->log_index = li;
    if (!st->has_received_unix_nano) {
        st->has_received_unix_nano = 1;
        st->received_unix_nano = now_unix_nano();
    }
    if (!st->source) {
        st->source = strdup("anonymous");
        if (!st->source) return ts_fail(s, TS_ENOMEM, "store %s: out of memory", s->dir);
    }
    return 0;
}

/* Packs the stored bytes of `ev` at the end of the block being built. */
static int pack(ts_store *s, const tp_event *ev, size_t *len)
{
    size_t n = agenttrail__v1__trace_event__get_packed_size(ev);
    if (at_grow((void **)&s->blk_buf, &s->blk_cap, s->blk_len + n, 1, 16384))
        return ts_fail(s, TS_ENOMEM, "store %s: out of memory", s->dir);
    *len = agenttrail__v1__trace_event__pack(ev, s->blk_buf + s->blk_len);
    return 0;
}

/* Adds one new event at `li` to the block being built: stamps and packs it,
 * and hashes its leaf (its index entries are written later, in time order). Returns 0, a TS_E* code
 * (negative, < -99) or an LMDB code. */
static int add_event(wctx *w, tp_event *ev, uint64_t li, size_t nb)
{
    ts_store *s = w->s;
    size_t rawlen = 0;
    int rc = stamp(s, ev, li);
    if (!rc) rc = pack(s, ev, &rawlen);
    if (!rc && rawlen > s->limits.event_max)
        rc = ts_fail(s, TS_EINVAL, "store %s: an event of %zu bytes exceeds the limit of %zu",
                     s->dir, rawlen, s->limits.event_max);
    if (rc) return rc;
    const uint8_t *raw = s->blk_buf + s->blk_len;
    s->blk_lens[nb] = (uint32_t)rawlen;
    s->blk_len += rawlen;
    return ts_sha256(s, 0x00, raw, rawlen, s->blk_leaves[nb]);
}

/* Compresses the block being built (nb events from log index `first`, all of
 * trace `trace` (NULL: none), the earliest at `tmin`), stores it under its
 * first log index and names it in by_trace. */
static int flush_block(wctx *w, uint64_t first, size_t nb, const uint8_t *trace, uint64_t tmin)
{
    ts_store *s = w->s;
    const uint8_t *unit;
    size_t ulen = 0;
    int rc = ts_block_encode(s, s->blk_buf, s->blk_lens, (const uint8_t(*)[32])s->blk_leaves, nb,
                             &unit, &ulen);
    if (rc) return rc;
    uint8_t key[8];
    ts_put_be64(key, first);
    MDB_val k = {8, key}, v = {ulen, (void *)unit};
    s->blk_len = 0;
    rc = mdb_cursor_put(w->cur[TS_DBI_EVENTS], &k, &v, MDB_APPEND);
    if (rc || !trace) return rc;
    uint8_t num[8], e[16];
    ts_put_be64(e, tmin);
    ts_put_be64(e + 8, first);
    rc = trace_number(w, trace, num);
    return rc ? rc : index_put(w, TS_DBI_BY_TRACE, num, 8, e);
}

/* Claims the event id for `li` in event_ids: 0 when new, MDB_KEYEXIST with
 * the first copy's log index in *first when already stored (earlier in this
 * group included), or an LMDB error. */
static int claim_id(wctx *w, const tp_event *ev, uint64_t li, uint64_t *first)
{
    const uint8_t *id = ev->event_id.data;
    int rc = ts_id_lookup(w->cur[TS_DBI_IDS], id, first);
    if (rc == 0) return MDB_KEYEXIST;
    if (rc != MDB_NOTFOUND) return rc;
    if (li >> 48)
        return ts_fail(w->s, TS_EFULL, "store %s: the log is full (2^48 events)", w->s->dir);
    uint8_t e[TS_ID_ENTRY];
    ts_id_entry(id, li, e);
    MDB_val k = {TS_ID_BUCKET, (void *)id}, v = {TS_ID_ENTRY, e};
    return mdb_cursor_put(w->cur[TS_DBI_IDS], &k, &v, MDB_NODUPDATA);
}

/* The packed bytes of `ev` without its `stored` stamps (malloc'd): what a
 * resend of the same event has in common with its stored copy. */
static int pack_unstamped(ts_store *s, tp_event *ev, uint8_t **buf, size_t *len)
{
    Agenttrail__V1__Stored *st = ev->stored;
    ev->stored = NULL;
    int rc = tp_event_pack(ev, buf, len);
    ev->stored = st;
    return rc ? ts_fail(s, TS_ENOMEM, "store %s: out of memory", s->dir) : 0;
}

/* Whether `ev` has the content of the event stored at `first` (a retry) or
 * other content under the same id (*same = 0). The first copy is either in
 * the block being built (log indexes from `bfirst`) or in a block written
 * before, read through this transaction into w->dup and never through the
 * read cache (the transaction may still abort). Runs only for ids already
 * stored: new events cost nothing more. */
static int same_content(wctx *w, tp_event *ev, uint64_t first, uint64_t bfirst, int *same)
{
    ts_store *s = w->s;
    const uint8_t *p;
    size_t n = 0;
    int rc = 0;
    if (first >= bfirst) {
        size_t off = 0;
        for (uint64_t k = bfirst; k < first; k++)
            off += s->blk_lens[k - bfirst];
        p = s->blk_buf + off;
        n = s->blk_lens[first - bfirst];
    } else if (ts_block_event(&w->dup, first, &p, &n) != 0) {
        uint64_t bf = 0;
        MDB_val v;
        if (!w->dup_cur && (rc = mdb_cursor_open(w->txn, s->dbi[TS_DBI_EVENTS], &w->dup_cur)))
            return rc;
        rc = ts_block_find(w->dup_cur, first, &bf, &v);
        if (!rc) rc = ts_block_decode(s, w->txn, bf, v.mv_data, v.mv_size, 0, &w->dup);
        if (rc == MDB_NOTFOUND || (!rc && ts_block_event(&w->dup, first, &p, &n) != 0))
            rc = ts_fail(s, TS_ECORRUPT,
                         "store %s: event_ids names log index %llu, which no block holds (run "
                         "ts_check)",
                         s->dir, (unsigned long long)first);
        if (rc) return rc;
    }
    tp_event *old = NULL;
    uint8_t *a = NULL, *b = NULL;
    size_t alen = 0, blen = 0;
    rc = ts_event_decode(s, p, n, &old);
    if (!rc) rc = pack_unstamped(s, old, &a, &alen);
    if (!rc) rc = pack_unstamped(s, ev, &b, &blen);
    if (!rc) *same = alen == blen && memcmp(a, b, alen) == 0;
    tp_event_destroy(&old);
    free(a);
    free(b);
    return rc;
}

static const uint8_t *trace_of(const tp_event *ev)
{
    return has_bytes(&ev->trace_id, ev->has_trace_id, 16) ? ev->trace_id.data : NULL;
}

static uint64_t trace_hash(const uint8_t *t)
{
    uint64_t h = 0;
    if (t) memcpy(&h, t, 8); /* trace ids are random */
    return h * 0x9e3779b97f4a7c15ull;
}

/* Orders the group by trace: order[] lists the event positions, the events
 * of each trace together (traces in order of first appearance, events in
 * arrival order), and cl[i] is the cluster of event i. 0 or TS_ENOMEM. */
static int cluster(ts_store *s, tp_event *const *events, size_t n, size_t *order, size_t *cl)
{
    size_t cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    size_t *slot = malloc(cap * sizeof *slot); /* event position + 1 of a cluster's first */
    size_t *count = calloc(n + 1, sizeof *count);
    if (!slot || !count) {
        free(slot);
        free(count);
        return ts_fail(s, TS_ENOMEM, "store %s: out of memory", s->dir);
    }
    memset(slot, 0, cap * sizeof *slot);
    size_t nclusters = 0;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *t = trace_of(events[i]);
        size_t h = (size_t)(trace_hash(t) >> 20) & (cap - 1);
        for (;; h = (h + 1) & (cap - 1)) {
            if (!slot[h]) {
                slot[h] = i + 1;
                cl[i] = nclusters++;
                break;
            }
            const uint8_t *u = trace_of(events[slot[h] - 1]);
            if ((!t && !u) || (t && u && memcmp(t, u, 16) == 0)) {
                cl[i] = cl[slot[h] - 1];
                break;
            }
        }
        count[cl[i]]++;
    }
    /* Counting sort by cluster: stable, so arrival order holds within one. */
    size_t at = 0;
    for (size_t c = 0; c < nclusters; c++) {
        size_t k = count[c];
        count[c] = at;
        at += k;
    }
    for (size_t i = 0; i < n; i++)
        order[count[cl[i]]++] = i;
    free(slot);
    free(count);
    return 0;
}

static int open_cursors(wctx *w)
{
    for (int i = 0; i < TS_DBI_COUNT; i++) {
        int rc = mdb_cursor_open(w->txn, w->s->dbi[i], &w->cur[i]);
        if (rc) return rc;
    }
    MDB_stat st;
    int rc = mdb_stat(w->txn, w->s->dbi[TS_DBI_TRACE_INCIDENTS], &st);
    w->links = rc == 0 && st.ms_entries > 0;
    if (rc) return rc;
    rc = mdb_stat(w->txn, w->s->dbi[TS_DBI_TRACES], &st);
    w->ntraces = st.ms_entries;
    return rc;
}

static void close_cursors(wctx *w)
{
    for (int i = 0; i < TS_DBI_COUNT; i++)
        if (w->cur[i]) mdb_cursor_close(w->cur[i]);
    memset(w->cur, 0, sizeof w->cur);
    if (w->dup_cur) mdb_cursor_close(w->dup_cur);
    w->dup_cur = NULL;
    ts_block_free(&w->dup);
}

/* An event stored by this group, for writing the index entries in time order. */
typedef struct stored_ref {
    uint64_t ts, li;
    size_t i;
} stored_ref;

static int ref_cmp(const void *a, const void *b)
{
    const stored_ref *x = a, *y = b;
    if (x->ts != y->ts) return x->ts < y->ts ? -1 : 1;
    return x->li < y->li ? -1 : x->li > y->li;
}

/* One attempt at the whole group. Returns 0, a TS_E* code, or an LMDB code
 * (MDB_MAP_FULL: the caller grows the map and tries again). The new events
 * of one trace are stored together in blocks, so log indexes follow the
 * order of `order`, not the order of `events`. */
static int append_once(ts_store *s, tp_event *const *events, size_t n, const size_t *order,
                       const size_t *cl, stored_ref *refs, ts_result *results, uint64_t *new_size)
{
    wctx w;
    memset(&w, 0, sizeof w);
    w.s = s;
    w.dup.first = UINT64_MAX;
    int rc = mdb_txn_begin(s->env, NULL, 0, &w.txn);
    if (rc) return rc;
    uint64_t li = s->log_size;
    rc = open_cursors(&w);
    s->blk_len = 0;
    size_t nb = 0, nref = 0;
    uint64_t bfirst = li, tmin = UINT64_MAX;
    for (size_t k = 0; k < n && !rc; k++) {
        size_t i = order[k];
        uint64_t first = 0;
        int d = claim_id(&w, events[i], li, &first), same = 0;
        if (d == MDB_KEYEXIST) {
            if ((rc = same_content(&w, events[i], first, bfirst, &same))) break;
            results[i].status = same ? TS_RESULT_DUPLICATE : TS_RESULT_CONFLICT;
            results[i].log_index = first;
        } else if (d) {
            rc = d;
            break;
        } else {
            if ((rc = add_event(&w, events[i], li, nb))) break;
            uint64_t ts = events[i]->has_time_unix_nano ? events[i]->time_unix_nano : 0;
            refs[nref++] = (stored_ref){ts, li, i};
            if (ts < tmin) tmin = ts;
            results[i].status = TS_RESULT_STORED;
            results[i].log_index = li++;
            nb++;
        }
        /* The block ends with its trace, or when full. */
        int last = k + 1 == n || cl[order[k + 1]] != cl[i];
        if (nb && (last || nb == TS_BLOCK_MAX_EVENTS || s->blk_len >= TS_BLOCK_MAX_RAW)) {
            rc = flush_block(&w, bfirst, nb, trace_of(events[i]), tmin);
            nb = 0;
            bfirst = li;
            tmin = UINT64_MAX;
        }
    }
    /* Index entries in time order: each key's newest entries append at the end
     * of its duplicates (full pages, fewer pages touched) as they did before
     * the group was ordered by trace. */
    qsort(refs, nref, sizeof *refs, ref_cmp);
    for (size_t k = 0; k < nref && !rc; k++)
        rc = write_indexes(&w, events[refs[k].i], refs[k].li);
    close_cursors(&w);
    if (!rc && li != s->log_size) {
        uint8_t b[8];
        ts_put_be64(b, li);
        MDB_val k = {8, "log_size"}, v = {8, b};
        rc = mdb_put(w.txn, s->dbi[TS_DBI_META], &k, &v, 0);
    }
    if (!rc && s->hook) rc = s->hook(s->hook_ctx, s, w.txn, s->log_size, li - s->log_size);
    if (rc) {
        mdb_txn_abort(w.txn);
        return rc;
    }
    rc = mdb_txn_commit(w.txn); /* durable: no MDB_NOSYNC, no MDB_WRITEMAP */
    if (!rc) *new_size = li;
    return rc;
}

static int check_group(ts_store *s, tp_event *const *events, size_t n, const ts_result *results)
{
    if (!events && n) return ts_fail(s, TS_EINVAL, "ts_append: no events");
    if (!results && n) return ts_fail(s, TS_EINVAL, "ts_append: no results array");
    for (size_t i = 0; i < n; i++) {
        const tp_event *ev = events[i];
        if (!ev || !has_bytes(&ev->event_id, ev->has_event_id, 16))
            return ts_fail(s, TS_EINVAL, "ts_append: event %zu: event_id: required, 16 bytes", i);
    }
    return 0;
}

static int append_group(ts_store *s, tp_event *const *events, size_t n, const size_t *order,
                        const size_t *cl, stored_ref *refs, ts_result *results)
{
    int rc;
    for (int attempt = 0; attempt < 64; attempt++) {
        uint64_t new_size = s->log_size;
        rc = append_once(s, events, n, order, cl, refs, results, &new_size);
        if (rc == 0) {
            s->log_size = new_size;
            return 0;
        }
        if (rc == MDB_MAP_FULL) {
            int g = ts_map_grow(s, 64 * 1024 + n * 4096);
            if (g) return g;
            continue;
        }
        if (rc <= TS_EINVAL && rc >= TS_EEND) return rc; /* already a TS_E* code with a message */
        return ts_fail_mdb(s, rc, "appending a group");
    }
    return ts_fail(s, TS_EFULL, "store %s: the map could not grow enough for this group", s->dir);
}

int ts_append(ts_store *s, tp_event *const *events, size_t n, ts_result *results)
{
    if (!s) return TS_EINVAL;
    if (s->flags & TS_OPEN_RDONLY)
        return ts_fail(s, TS_EREADONLY, "store %s: opened read-only; appends need the writer",
                       s->dir);
    int rc = check_group(s, events, n, results);
    if (rc || n == 0) return rc;
    ts_read_drop(s); /* no snapshot pinned by this process while writing or growing */
    if ((rc = ts_dict_maybe_train(s))) return rc;
    ts_read_drop(s);
    size_t *order = malloc(2 * n * sizeof *order);
    stored_ref *refs = malloc(n * sizeof *refs);
    size_t *cl = order ? order + n : NULL;
    if (!order || !refs)
        rc = ts_fail(s, TS_ENOMEM, "store %s: out of memory", s->dir);
    else
        rc = cluster(s, events, n, order, cl);
    if (!rc) rc = append_group(s, events, n, order, cl, refs, results);
    free(order);
    free(refs);
    return rc;
}
