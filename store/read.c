/*
 * read.c - the read path: stored bytes by log index (with the per-store
 * cache) and events by id. The queries over the indexes (ts_query, ts_iter) are
 * read_query.c's.
 *
 * Layer: read (docs/store-format.md "Layering"): calls the core and the codec.
 * Owns: the cache of decoded blocks (stored bytes never change once
 * committed, so entries never go stale).
 *
 * Invariants: every public call here begins and ends its own read snapshot.
 *
 * Threading: one thread per ts_store.
 */
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

/* ---- stored bytes ----------------------------------------------------- */

void ts_cache_clear(ts_store *s)
{
    for (size_t i = 0; i < TS_CACHE_SLOTS; i++)
        ts_block_free(&s->cache[i]);
}

/* Decodes the block holding `li` into the next cache slot. */
static int cache_load(ts_store *s, MDB_txn *txn, MDB_cursor *c, uint64_t li, ts_block **out)
{
    uint64_t first = 0;
    MDB_val v;
    int rc = ts_block_find(c, li, &first, &v);
    if (rc == MDB_NOTFOUND)
        return ts_fail(s, TS_ENOTFOUND, "store %s: no event at log index %llu", s->dir,
                       (unsigned long long)li);
    if (rc) return ts_fail_mdb(s, rc, "reading an event");
    ts_block *b = &s->cache[s->cache_next];
    s->cache_next = (s->cache_next + 1) % TS_CACHE_SLOTS;
    rc = ts_block_decode(s, txn, first, v.mv_data, v.mv_size, 0, b);
    if (rc) {
        char tmp[sizeof s->err];
        snprintf(tmp, sizeof tmp, "%s", s->err);
        return ts_fail(s, rc, "store %s: log index %llu: %s", s->dir, (unsigned long long)li, tmp);
    }
    *out = b;
    return 0;
}

int ts_read_stored_cur(ts_store *s, MDB_txn *txn, MDB_cursor *c, uint64_t li, const uint8_t **buf,
                       size_t *len)
{
    for (size_t i = 0; i < TS_CACHE_SLOTS; i++)
        if (ts_block_event(&s->cache[i], li, buf, len) == 0) return 0;
    ts_block *b;
    int rc = cache_load(s, txn, c, li, &b);
    if (rc) return rc;
    if (ts_block_event(b, li, buf, len) != 0)
        return ts_fail(s, TS_ENOTFOUND, "store %s: no event at log index %llu", s->dir,
                       (unsigned long long)li);
    return 0;
}

int ts_read_stored(ts_store *s, MDB_txn *txn, uint64_t li, const uint8_t **buf, size_t *len)
{
    for (size_t i = 0; i < TS_CACHE_SLOTS; i++)
        if (ts_block_event(&s->cache[i], li, buf, len) == 0) return 0;
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, s->dbi[TS_DBI_EVENTS], &c);
    if (rc) return ts_fail_mdb(s, rc, "opening the events cursor");
    rc = ts_read_stored_cur(s, txn, c, li, buf, len);
    mdb_cursor_close(c);
    return rc;
}

int ts_event_decode(ts_store *s, const uint8_t *buf, size_t len, tp_event **ev)
{
    *ev = agenttrail__v1__trace_event__unpack(NULL, len, buf);
    if (!*ev)
        return ts_fail(s, TS_ECORRUPT, "store %s: stored bytes do not decode as an event", s->dir);
    return 0;
}

int ts_internal_read_stored(ts_store *s, MDB_txn *txn, uint64_t li, uint8_t **buf, size_t *len)
{
    *buf = NULL;
    *len = 0;
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, s->dbi[TS_DBI_EVENTS], &c);
    if (rc) return ts_fail_mdb(s, rc, "opening the events cursor");
    uint64_t first = 0;
    MDB_val v;
    rc = ts_block_find(c, li, &first, &v);
    ts_block b = {.first = UINT64_MAX};
    const uint8_t *p = NULL;
    size_t n = 0;
    if (rc == MDB_NOTFOUND)
        rc = ts_fail(s, TS_ENOTFOUND, "store %s: no event at log index %llu", s->dir,
                     (unsigned long long)li);
    else if (rc)
        rc = ts_fail_mdb(s, rc, "reading an event");
    else /* verified: the caller hashes what it gets */
        rc = ts_block_decode(s, txn, first, v.mv_data, v.mv_size, 1, &b);
    mdb_cursor_close(c);
    if (!rc && ts_block_event(&b, li, &p, &n) != 0)
        rc = ts_fail(s, TS_ENOTFOUND, "store %s: no event at log index %llu", s->dir,
                     (unsigned long long)li);
    if (!rc && !(*buf = malloc(n ? n : 1)))
        rc = ts_fail(s, TS_ENOMEM, "store %s: out of memory", s->dir);
    if (!rc) {
        memcpy(*buf, p, n);
        *len = n;
    }
    ts_block_free(&b);
    return rc;
}

int ts_internal_leaf_get(ts_store *s, MDB_txn *txn, uint64_t li, uint8_t out[32])
{
    MDB_cursor *c = NULL;
    int rc = ts_internal_leaves_read(s, txn, &c, li, 1, (uint8_t(*)[32])out);
    if (c) mdb_cursor_close(c);
    return rc;
}

int ts_internal_leaves_read(ts_store *s, MDB_txn *txn, MDB_cursor **cur, uint64_t first, size_t n,
                            uint8_t (*out)[32])
{
    int rc = 0;
    if (!*cur && (rc = mdb_cursor_open(txn, s->dbi[TS_DBI_EVENTS], cur)))
        return ts_fail_mdb(s, rc, "opening the events cursor");
    size_t done = 0;
    uint64_t bfirst = 0;
    MDB_val k, v;
    while (done < n) {
        uint64_t li = first + done;
        if (done == 0) {
            rc = ts_block_find(*cur, li, &bfirst, &v);
        } else {
            rc = mdb_cursor_get(*cur, &k, &v, MDB_NEXT);
            if (!rc) bfirst = k.mv_size == 8 ? ts_get_be64(k.mv_data) : UINT64_MAX;
            if (!rc && bfirst != li) rc = MDB_NOTFOUND; /* a block missing */
        }
        if (rc == MDB_NOTFOUND)
            return ts_fail(s, TS_ENOTFOUND, "store %s: no leaf hash for log index %llu", s->dir,
                           (unsigned long long)li);
        if (rc) return ts_fail_mdb(s, rc, "reading leaf hashes");
        const uint8_t *u = v.mv_data;
        for (; done < n; done++) {
            int r = ts_unit_leaf(u, v.mv_size, bfirst, first + done, out[done]);
            if (r == TS_ENOTFOUND && done > 0 && first + done > bfirst) break; /* next block */
            if (r == TS_ENOTFOUND)
                return ts_fail(s, TS_ENOTFOUND, "store %s: no leaf hash for log index %llu", s->dir,
                               (unsigned long long)(first + done));
            if (r)
                return ts_fail(s, TS_ECORRUPT, "store %s: the block at log index %llu is damaged",
                               s->dir, (unsigned long long)bfirst);
        }
    }
    return 0;
}

int ts_get_stored_bytes(ts_store *s, uint64_t log_index, uint8_t **buf, size_t *len)
{
    if (!s || !buf || !len) return TS_EINVAL;
    *buf = NULL;
    MDB_txn *txn;
    int rc = ts_read_begin(s, &txn);
    if (rc) return rc;
    const uint8_t *b;
    size_t n;
    rc = ts_read_stored(s, txn, log_index, &b, &n);
    if (!rc) {
        *buf = malloc(n ? n : 1);
        if (!*buf)
            rc = ts_fail(s, TS_ENOMEM, "store %s: out of memory", s->dir);
        else {
            memcpy(*buf, b, n);
            *len = n;
        }
    }
    ts_read_end(s);
    return rc;
}

uint64_t ts_stored_time(const uint8_t *buf, size_t len)
{
    enum { FIELD_TIME = 5 }; /* TraceEvent.time_unix_nano, a varint (proto/trace.proto) */
    const uint8_t *p = buf, *end = buf + len;
    uint64_t tag, v;
    while (p < end && ts_varint_get(&p, end, &tag) == 0) {
        unsigned type = (unsigned)(tag & 7);
        if (tag >> 3 == FIELD_TIME && type == 0) return ts_varint_get(&p, end, &v) == 0 ? v : 0;
        if (type == 0) {
            if (ts_varint_get(&p, end, &v)) return 0;
        } else if (type == 1 || type == 5) {
            size_t n = type == 1 ? 8 : 4;
            if ((size_t)(end - p) < n) return 0;
            p += n;
        } else if (type == 2) {
            if (ts_varint_get(&p, end, &v) || v > (uint64_t)(end - p)) return 0;
            p += v;
        } else {
            return 0;
        }
    }
    return 0;
}

void ts_id_entry(const uint8_t id[16], uint64_t li, uint8_t e[TS_ID_ENTRY])
{
    memcpy(e, id + TS_ID_BUCKET, 16 - TS_ID_BUCKET);
    for (int i = 0; i < 6; i++)
        e[16 - TS_ID_BUCKET + i] = (uint8_t)(li >> (40 - 8 * i)); /* BE48 */
}

int ts_id_lookup(MDB_cursor *c, const uint8_t id[16], uint64_t *li)
{
    uint8_t e[TS_ID_ENTRY];
    ts_id_entry(id, 0, e);
    MDB_val k = {TS_ID_BUCKET, (void *)id}, v = {TS_ID_ENTRY, e};
    int rc = mdb_cursor_get(c, &k, &v, MDB_GET_BOTH_RANGE);
    if (rc) return rc;
    if (v.mv_size != TS_ID_ENTRY || memcmp(v.mv_data, id + TS_ID_BUCKET, 16 - TS_ID_BUCKET) != 0)
        return MDB_NOTFOUND;
    const uint8_t *p = (const uint8_t *)v.mv_data + 16 - TS_ID_BUCKET;
    uint64_t x = 0;
    for (int i = 0; i < 6; i++)
        x = x << 8 | p[i];
    *li = x;
    return 0;
}

static int lookup_id(ts_store *s, MDB_txn *txn, const uint8_t id[16], uint64_t *li)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, s->dbi[TS_DBI_IDS], &c);
    if (rc) return ts_fail_mdb(s, rc, "opening event_ids");
    rc = ts_id_lookup(c, id, li);
    mdb_cursor_close(c);
    if (rc == MDB_NOTFOUND) return ts_fail(s, TS_ENOTFOUND, "store %s: no such event", s->dir);
    return ts_fail_mdb(s, rc, "looking up an event id");
}

int ts_get(ts_store *s, const uint8_t event_id[16], tp_event **ev)
{
    if (!s || !event_id || !ev) return TS_EINVAL;
    *ev = NULL;
    MDB_txn *txn;
    int rc = ts_read_begin(s, &txn);
    if (rc) return rc;
    uint64_t li = 0;
    const uint8_t *b;
    size_t n;
    rc = lookup_id(s, txn, event_id, &li);
    if (!rc) rc = ts_read_stored(s, txn, li, &b, &n);
    if (!rc) rc = ts_event_decode(s, b, n, ev);
    ts_read_end(s);
    return rc;
}
