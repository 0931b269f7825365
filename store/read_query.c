/*
 * read_query.c - queries over the indexes: ts_query and the ts_iter it returns.
 *
 * Owns: ts_iter. Layer: read (docs/store-format.md "Layering"), beside read.c, whose
 * stored-bytes path it reads events through.
 *
 * Invariants: every public call here begins and ends its own read snapshot;
 * an iterator keeps only its position (time, log index) between calls and
 * re-seeks from it, so a writer is never held back by a slow reader. A trace
 * query is the exception: it keeps the trace's sorted (time, log index)
 * pairs read at its first batch, so events of the trace appended after that
 * are not in its results (a new query sees them). Results
 * come in (time, log index) order because every index entry is
 * time BE8 + log index BE8 under DUPSORT.
 *
 * Threading: one thread per ts_store (and its iterators).
 */
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

/* ---- queries ---------------------------------------------------------- */

#define ITER_BATCH 64

struct ts_iter {
    ts_store *s;
    ts_filter f;
    char *strs[8]; /* owned copies of the filter's strings */
    uint8_t trace[16];
    int dbi;           /* TS_DBI_BY_* */
    uint8_t key[1024]; /* the index key (by_time: 4-byte hour, set per seek) */
    size_t keylen;
    uint64_t next_ts, next_li; /* the next entry to read is >= this */
    uint64_t last_ts, last_li; /* the last entry returned (cursor) */
    int returned;
    int exhausted;   /* no index entry left */
    int need_decode; /* filters the index does not answer */
    uint64_t ents[ITER_BATCH][2];
    size_t n, i;
    /* A trace query: by_trace names the trace's blocks; their events' (time, log
     * index), sorted, read once at the first fill. */
    uint64_t (*tents)[2];
    size_t ntents, tpos;
    int tready;
    tp_event *cur; /* decoded event of the last match, when decoding was needed */
    /* Matches read ahead in one snapshot and copied out, handed over one per
     * call with no transaction open: 8 at first, doubling to ITER_BATCH. */
    struct ahead {
        uint64_t ts, li;
        uint8_t *buf;
        size_t len, cap;
        tp_event *ev; /* when decoding was needed to filter */
    } ahead[ITER_BATCH];
    size_t an, ai, awant;
};

static const char *index_name(int dbi)
{
    switch (dbi) {
    case TS_DBI_BY_TRACE:
        return "trace";
    case TS_DBI_BY_INCIDENT:
        return "incident";
    case TS_DBI_BY_WORKFLOW:
        return "workflow";
    case TS_DBI_BY_DRI:
        return "dri";
    default:
        return "time";
    }
}

const char *ts_iter_index_name(const ts_iter *it)
{
    return it ? index_name(it->dbi) : "none";
}

static uint32_t hour_of(uint64_t ts)
{
    uint64_t h = ts / 3600000000000ull;
    return h > UINT32_MAX ? UINT32_MAX : (uint32_t)h;
}

static void entry_encode(uint8_t e[16], uint64_t ts, uint64_t li)
{
    ts_put_be64(e, ts);
    ts_put_be64(e + 8, li);
}

static int parse_cursor(const ts_cursor *c, uint64_t *ts, uint64_t *li)
{
    uint8_t b[16];
    if (strnlen(c->text, TS_CURSOR_LEN) != 32) return TS_EINVAL;
    for (size_t i = 0; i < 32; i++) {
        char ch = c->text[i];
        unsigned d = ch >= '0' && ch <= '9'   ? (unsigned)(ch - '0')
                     : ch >= 'a' && ch <= 'f' ? (unsigned)(ch - 'a' + 10)
                                              : 16u;
        if (d == 16) return TS_EINVAL;
        if (i % 2 == 0)
            b[i / 2] = (uint8_t)(d << 4);
        else
            b[i / 2] |= (uint8_t)d;
    }
    *ts = ts_get_be64(b);
    *li = ts_get_be64(b + 8);
    return 0;
}

void ts_iter_cursor(const ts_iter *it, ts_cursor *out)
{
    static const char hex[] = "0123456789abcdef";
    uint8_t b[16];
    memset(out, 0, sizeof *out);
    if (!it) return;
    entry_encode(b, it->last_ts, it->last_li);
    for (int i = 0; i < 16; i++) {
        out->text[2 * i] = hex[b[i] >> 4];
        out->text[2 * i + 1] = hex[b[i] & 15];
    }
}

int ts_trace_key(ts_store *s, MDB_txn *txn, const uint8_t trace[16], uint8_t out[8])
{
    MDB_val k = {16, (void *)trace}, v;
    int rc = mdb_get(txn, s->dbi[TS_DBI_TRACES], &k, &v);
    if (rc) return rc;
    if (v.mv_size != 8) return MDB_NOTFOUND; /* not a number: ts_check reports it */
    memcpy(out, v.mv_data, 8);
    return 0;
}

/* The number of entries under `key` in an index (0 when absent). */
static size_t key_count(ts_store *s, MDB_txn *txn, int dbi, const void *key, size_t len)
{
    uint8_t num[8];
    if (dbi == TS_DBI_BY_TRACE) { /* by_trace is keyed by the trace's number */
        if (len != 16 || ts_trace_key(s, txn, key, num)) return 0;
        key = num;
        len = 8;
    }
    MDB_cursor *c;
    if (mdb_cursor_open(txn, s->dbi[dbi], &c)) return 0;
    MDB_val k = {len, (void *)key}, v;
    size_t n = 0;
    if (mdb_cursor_get(c, &k, &v, MDB_SET) == 0) mdb_cursor_count(c, &n);
    mdb_cursor_close(c);
    return (size_t)n;
}

static int dup_str(ts_iter *it, int slot, const char **p)
{
    if (!*p) return 0;
    it->strs[slot] = strdup(*p);
    if (!it->strs[slot]) return TS_ENOMEM;
    *p = it->strs[slot];
    return 0;
}

/* Picks the index with the fewest entries for the query's key. */
static void choose_index(ts_iter *it, MDB_txn *txn)
{
    ts_store *s = it->s;
    const ts_filter *f = &it->f;
    struct candidate {
        int dbi;
        const void *key;
        size_t len;
    } cand[4];
    int nc = 0;
    if (f->trace_id) cand[nc++] = (struct candidate){TS_DBI_BY_TRACE, it->trace, 16};
    if (f->incident)
        cand[nc++] = (struct candidate){TS_DBI_BY_INCIDENT, f->incident, strlen(f->incident)};
    if (f->workflow)
        cand[nc++] = (struct candidate){TS_DBI_BY_WORKFLOW, f->workflow, strlen(f->workflow)};
    if (f->dri) cand[nc++] = (struct candidate){TS_DBI_BY_DRI, f->dri, strlen(f->dri)};
    it->dbi = TS_DBI_BY_TIME;
    size_t best = SIZE_MAX;
    for (int i = 0; i < nc; i++) {
        /* One key: no choice to make, and the scan itself finds a missing key. */
        size_t n = nc == 1 ? 1
                   : cand[i].len <= sizeof it->key
                       ? key_count(s, txn, cand[i].dbi, cand[i].key, cand[i].len)
                       : 0;
        if (n < best) {
            best = n;
            it->dbi = cand[i].dbi;
            memcpy(it->key, cand[i].key, cand[i].len);
            it->keylen = cand[i].len;
        }
    }
    if (nc && best == 0) it->exhausted = 1; /* a given key with no entry: nothing matches */
    /* Filters the chosen index does not answer need the event decoded. */
    it->need_decode = f->service || f->model || f->tool || f->source || f->kind || f->outcome ||
                      (f->workflow && it->dbi != TS_DBI_BY_WORKFLOW) ||
                      (f->dri && it->dbi != TS_DBI_BY_DRI) ||
                      (f->trace_id && it->dbi != TS_DBI_BY_TRACE);
}

int ts_query(ts_store *s, const ts_filter *f, const ts_cursor *after, ts_iter **out)
{
    if (!s || !out) return TS_EINVAL;
    *out = NULL;
    ts_filter none;
    memset(&none, 0, sizeof none);
    if (!f) f = &none;
    if (f->until && f->since >= f->until)
        return ts_fail(s, TS_EINVAL, "query: since must be before until");
    ts_iter *it = calloc(1, sizeof *it);
    if (!it) return ts_fail(s, TS_ENOMEM, "query: out of memory");
    it->s = s;
    it->f = *f;
    int rc = 0;
    const char **strs[] = {&it->f.workflow, &it->f.dri,  &it->f.incident, &it->f.service,
                           &it->f.model,    &it->f.tool, &it->f.source};
    for (int i = 0; i < 7 && !rc; i++)
        rc = dup_str(it, i, strs[i]);
    if (f->trace_id) {
        memcpy(it->trace, f->trace_id, 16);
        it->f.trace_id = it->trace;
    }
    it->next_ts = f->since;
    it->next_li = 0;
    it->awant = 8;
    if (!rc && after) {
        uint64_t ts, li;
        if (parse_cursor(after, &ts, &li) != 0)
            rc = ts_fail(s, TS_EINVAL, "query: bad cursor");
        else if (ts > it->next_ts || (ts == it->next_ts && li >= it->next_li)) {
            it->next_ts = li == UINT64_MAX ? ts + 1 : ts;
            it->next_li = li == UINT64_MAX ? 0 : li + 1;
            it->last_ts = ts;
            it->last_li = li;
        }
    }
    if (rc) {
        ts_iter_destroy(&it);
        return rc == TS_ENOMEM ? ts_fail(s, rc, "query: out of memory") : rc;
    }
    /* Counting entries to compare keys needs a snapshot; one key or none does not. */
    int keys = !!f->trace_id + !!f->incident + !!f->workflow + !!f->dri;
    MDB_txn *txn = NULL;
    if (keys > 1 && (rc = ts_read_begin(s, &txn))) {
        ts_iter_destroy(&it);
        return rc;
    }
    choose_index(it, txn);
    if (txn) ts_read_end(s);
    *out = it;
    return 0;
}

static int ent_cmp(const void *a, const void *b)
{
    const uint64_t *x = a, *y = b;
    if (x[0] != y[0]) return x[0] < y[0] ? -1 : 1;
    return x[1] < y[1] ? -1 : x[1] > y[1];
}

/* Reads every event of the trace (it->key) into it->tents, sorted by (time,
 * log index): by_trace holds one entry per block, every event of a block
 * belongs to the trace, and the times come from the stored bytes. */
static int trace_collect(ts_iter *it, MDB_txn *txn)
{
    ts_store *s = it->s;
    uint8_t num[8];
    int rc = it->keylen == 16 ? ts_trace_key(s, txn, it->key, num) : MDB_NOTFOUND;
    if (rc == MDB_NOTFOUND) return 0;
    if (rc) return ts_fail_mdb(s, rc, "reading traces");
    MDB_cursor *c = NULL, *ec = NULL;
    rc = mdb_cursor_open(txn, s->dbi[TS_DBI_BY_TRACE], &c);
    if (!rc) rc = mdb_cursor_open(txn, s->dbi[TS_DBI_EVENTS], &ec);
    if (rc) {
        if (c) mdb_cursor_close(c);
        return ts_fail_mdb(s, rc, "opening a cursor");
    }
    size_t cap = 0;
    MDB_val k = {8, num}, v;
    rc = mdb_cursor_get(c, &k, &v, MDB_SET);
    while (rc == 0) {
        if (v.mv_size != 16) {
            rc = ts_fail(s, TS_ECORRUPT, "store %s: index trace: entry of %zu bytes", s->dir,
                         v.mv_size);
            break;
        }
        uint64_t first = ts_get_be64((const uint8_t *)v.mv_data + 8);
        const uint8_t *p;
        size_t n;
        rc = ts_read_stored_cur(s, txn, ec, first, &p, &n); /* decodes the block into the cache */
        ts_block *b = NULL;
        for (size_t i = 0; !rc && i < TS_CACHE_SLOTS && !b; i++)
            if (s->cache[i].first == first) b = &s->cache[i];
        if (!rc && !b)
            rc = ts_fail(s, TS_ECORRUPT, "store %s: by_trace names log index %llu, not a block",
                         s->dir, (unsigned long long)first);
        for (uint32_t i = 0; !rc && i < b->count; i++) {
            if (at_grow((void **)&it->tents, &cap, it->ntents + 1, sizeof *it->tents, 64)) {
                rc = ts_fail(s, TS_ENOMEM, "query: out of memory");
                break;
            }
            ts_block_event(b, first + i, &p, &n);
            it->tents[it->ntents][0] = ts_stored_time(p, n);
            it->tents[it->ntents][1] = first + i;
            it->ntents++;
        }
        if (!rc) rc = mdb_cursor_get(c, &k, &v, MDB_NEXT_DUP);
    }
    mdb_cursor_close(ec);
    mdb_cursor_close(c);
    if (rc == TS_ENOTFOUND)
        return ts_fail(s, TS_ECORRUPT, "store %s: by_trace names a block that is not stored",
                       s->dir);
    if (rc && rc != MDB_NOTFOUND)
        return rc <= TS_EINVAL && rc >= TS_EEND ? rc : ts_fail_mdb(s, rc, "reading by_trace");
    qsort(it->tents, it->ntents, sizeof *it->tents, ent_cmp);
    return 0;
}

/* The next batch of a trace query, from (next_ts, next_li) on. */
static int trace_fill(ts_iter *it, MDB_txn *txn)
{
    if (!it->tready) {
        int rc = trace_collect(it, txn);
        if (rc) return rc;
        it->tready = 1;
    }
    while (it->tpos < it->ntents &&
           ent_cmp(it->tents[it->tpos], (uint64_t[2]){it->next_ts, it->next_li}) < 0)
        it->tpos++;
    while (it->tpos < it->ntents && it->n < ITER_BATCH) {
        if (it->f.until && it->tents[it->tpos][0] >= it->f.until) {
            it->tpos = it->ntents;
            break;
        }
        it->ents[it->n][0] = it->tents[it->tpos][0];
        it->ents[it->n][1] = it->tents[it->tpos][1];
        it->n++;
        it->tpos++;
    }
    if (it->tpos >= it->ntents) it->exhausted = 1;
    if (it->n) {
        uint64_t ts = it->ents[it->n - 1][0], li = it->ents[it->n - 1][1];
        it->next_ts = li == UINT64_MAX ? ts + 1 : ts;
        it->next_li = li == UINT64_MAX ? 0 : li + 1;
    }
    return 0;
}

/* Reads the next batch of index entries from (next_ts, next_li) on. */
static int iter_fill(ts_iter *it, MDB_txn *txn)
{
    ts_store *s = it->s;
    it->n = it->i = 0;
    if (it->exhausted) return 0;
    if (it->dbi == TS_DBI_BY_TRACE) return trace_fill(it, txn);
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, s->dbi[it->dbi], &c);
    if (rc) return ts_fail_mdb(s, rc, "opening an index cursor");
    uint8_t e[16];
    entry_encode(e, it->next_ts, it->next_li);
    MDB_val k, v = {16, e};
    int by_time = it->dbi == TS_DBI_BY_TIME;
    if (by_time) {
        ts_put_be32(it->key, hour_of(it->next_ts));
        it->keylen = 4;
    }
    k.mv_size = it->keylen;
    k.mv_data = it->key;
    uint8_t num[8];
    if (it->dbi == TS_DBI_BY_TRACE) { /* it->key is the trace id; by_trace wants its number */
        rc = it->keylen == 16 ? ts_trace_key(s, txn, it->key, num) : MDB_NOTFOUND;
        if (rc == MDB_NOTFOUND) goto done;
        if (rc) {
            mdb_cursor_close(c);
            return ts_fail_mdb(s, rc, "reading traces");
        }
        k.mv_size = 8;
        k.mv_data = num;
    }
    rc = mdb_cursor_get(c, &k, &v, MDB_GET_BOTH_RANGE);
    if (rc == MDB_NOTFOUND && by_time) {
        uint32_t h = hour_of(it->next_ts);
        uint8_t nk[4];
        if (h == UINT32_MAX) goto done;
        ts_put_be32(nk, h + 1);
        k.mv_size = 4;
        k.mv_data = nk;
        rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    }
    while (rc == 0 && it->n < ITER_BATCH) {
        if (v.mv_size != 16) {
            rc = ts_fail(s, TS_ECORRUPT, "store %s: index %s: entry of %zu bytes", s->dir,
                         index_name(it->dbi), v.mv_size);
            break;
        }
        uint64_t ts = ts_get_be64(v.mv_data), li = ts_get_be64((uint8_t *)v.mv_data + 8);
        if (it->f.until && ts >= it->f.until) goto done;
        it->ents[it->n][0] = ts;
        it->ents[it->n][1] = li;
        it->n++;
        rc = mdb_cursor_get(c, &k, &v, by_time ? MDB_NEXT : MDB_NEXT_DUP);
    }
    if (rc == MDB_NOTFOUND) goto done;
    if (rc < 0 || rc > 0) {
        mdb_cursor_close(c);
        return rc == TS_ECORRUPT ? rc : ts_fail_mdb(s, rc, "reading an index");
    }
    mdb_cursor_close(c);
    goto advance;
done:
    it->exhausted = 1;
    mdb_cursor_close(c);
advance:
    if (it->n) {
        uint64_t ts = it->ents[it->n - 1][0], li = it->ents[it->n - 1][1];
        it->next_ts = li == UINT64_MAX ? ts + 1 : ts;
        it->next_li = li == UINT64_MAX ? 0 : li + 1;
    }
    return 0;
}

static int str_eq(const char *want, const char *have)
{
    return !want || (have && strcmp(want, have) == 0);
}

static int event_matches(const ts_iter *it, const tp_event *ev)
{
    const ts_filter *f = &it->f;
    if (!str_eq(f->workflow, ev->workflow) || !str_eq(f->dri, ev->dri) ||
        !str_eq(f->service, ev->service))
        return 0;
    if (f->model && !(ev->model && str_eq(f->model, ev->model->name))) return 0;
    if (f->tool && !(ev->tool_call && str_eq(f->tool, ev->tool_call->name))) return 0;
    if (f->source && !(ev->stored && str_eq(f->source, ev->stored->source))) return 0;
    if (f->kind && (!ev->has_kind || (int)ev->kind != f->kind)) return 0;
    if (f->outcome &&
        !(ev->outcome && ev->outcome->has_decision && (int)ev->outcome->decision == f->outcome))
        return 0;
    if (f->trace_id && !(ev->has_trace_id && ev->trace_id.len == 16 &&
                         memcmp(ev->trace_id.data, f->trace_id, 16) == 0))
        return 0;
    return 1;
}

/* Incident membership for an entry found through another index. */
static int in_incident(ts_iter *it, MDB_txn *txn, uint64_t ts, uint64_t li)
{
    uint8_t e[16];
    entry_encode(e, ts, li);
    MDB_cursor *c;
    if (mdb_cursor_open(txn, it->s->dbi[TS_DBI_BY_INCIDENT], &c)) return 0;
    MDB_val k = {strlen(it->f.incident), (void *)it->f.incident}, v = {16, e};
    int rc = mdb_cursor_get(c, &k, &v, MDB_GET_BOTH);
    mdb_cursor_close(c);
    return rc == 0;
}

/* Copies the stored bytes of `li` into a read-ahead slot (through the
 * store's block cache: matches close in the log share blocks). */
static int ahead_load(ts_iter *it, MDB_txn *txn, MDB_cursor *ec, uint64_t li, struct ahead *a)
{
    ts_store *s = it->s;
    const uint8_t *p;
    size_t n;
    int rc = ts_read_stored_cur(s, txn, ec, li, &p, &n);
    if (rc == TS_ENOTFOUND)
        return ts_fail(s, TS_ECORRUPT, "store %s: an index names log index %llu, not stored",
                       s->dir, (unsigned long long)li);
    if (rc) return rc;
    if (at_grow((void **)&a->buf, &a->cap, n, 1, 1024))
        return ts_fail(s, TS_ENOMEM, "query: out of memory");
    memcpy(a->buf, p, n);
    a->len = n;
    return 0;
}

/* Reads up to it->awant matches ahead in one read snapshot. */
static int iter_read_ahead(ts_iter *it, int want_event)
{
    ts_store *s = it->s;
    it->an = it->ai = 0;
    MDB_txn *txn;
    MDB_cursor *ec;
    int rc = ts_read_begin(s, &txn);
    if (rc) return rc;
    if ((rc = mdb_cursor_open(txn, s->dbi[TS_DBI_EVENTS], &ec))) {
        ts_read_end(s);
        return ts_fail_mdb(s, rc, "opening the events cursor");
    }
    while (it->an < it->awant) {
        if (it->i == it->n) {
            if (it->exhausted) break;
            if ((rc = iter_fill(it, txn))) break;
            if (it->n == 0) break;
        }
        uint64_t ts = it->ents[it->i][0], li = it->ents[it->i][1];
        it->i++;
        if (it->f.incident && it->dbi != TS_DBI_BY_INCIDENT && !in_incident(it, txn, ts, li))
            continue;
        struct ahead *a = &it->ahead[it->an];
        if ((rc = ahead_load(it, txn, ec, li, a))) break;
        if (it->need_decode || want_event) {
            tp_event *ev;
            if ((rc = ts_event_decode(s, a->buf, a->len, &ev))) break;
            if (!event_matches(it, ev)) {
                agenttrail__v1__trace_event__free_unpacked(ev, NULL);
                continue;
            }
            a->ev = ev;
        }
        a->ts = ts;
        a->li = li;
        it->an++;
    }
    mdb_cursor_close(ec);
    ts_read_end(s);
    if (it->awant < ITER_BATCH) it->awant *= 2;
    return rc;
}

/* Advances to the next match; its stored bytes in *buf (borrowed from the
 * iterator until its next call), its decoded event in it->cur when asked. */
static int iter_advance(ts_iter *it, const uint8_t **buf, size_t *len, int want_event)
{
    if (it->cur) agenttrail__v1__trace_event__free_unpacked(it->cur, NULL);
    it->cur = NULL;
    if (it->ai == it->an) {
        int rc = iter_read_ahead(it, want_event);
        if (rc) {
            for (size_t i = 0; i < it->an; i++)
                if (it->ahead[i].ev)
                    agenttrail__v1__trace_event__free_unpacked(it->ahead[i].ev, NULL);
            for (size_t i = 0; i < it->an; i++)
                it->ahead[i].ev = NULL;
            it->an = it->ai = 0;
            return rc;
        }
        if (it->an == 0) return TS_EEND;
    }
    struct ahead *a = &it->ahead[it->ai++];
    *buf = a->buf;
    *len = a->len;
    if (want_event && !a->ev) {
        int rc = ts_event_decode(it->s, a->buf, a->len, &a->ev);
        if (rc) return rc;
    }
    it->cur = a->ev;
    a->ev = NULL;
    it->last_ts = a->ts;
    it->last_li = a->li;
    it->returned++;
    return 0;
}

int ts_iter_next(ts_iter *it, tp_event **ev)
{
    if (!it || !ev) return TS_EINVAL;
    *ev = NULL;
    const uint8_t *b;
    size_t n;
    int rc = iter_advance(it, &b, &n, 1);
    if (rc) return rc;
    *ev = it->cur;
    it->cur = NULL;
    return 0;
}

int ts_iter_next_stored(ts_iter *it, const uint8_t **buf, size_t *len)
{
    if (!it || !buf || !len) return TS_EINVAL;
    return iter_advance(it, buf, len, 0);
}

void ts_iter_destroy(ts_iter **itp)
{
    if (!itp || !*itp) return;
    ts_iter *it = *itp;
    if (it->cur) agenttrail__v1__trace_event__free_unpacked(it->cur, NULL);
    for (size_t i = 0; i < sizeof it->strs / sizeof it->strs[0]; i++)
        free(it->strs[i]);
    free(it->tents);
    for (size_t i = 0; i < ITER_BATCH; i++) {
        free(it->ahead[i].buf);
        if (it->ahead[i].ev) agenttrail__v1__trace_event__free_unpacked(it->ahead[i].ev, NULL);
    }
    free(it);
    *itp = NULL;
}
