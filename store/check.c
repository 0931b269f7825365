/*
 * check.c - ts_check: the store agrees with itself.
 *
 * Owns: the verification walk. Pass 1 reads every unit in log order and
 * checks its header and SHA-256, that it decompresses, that its blocks cover
 * the log without gap or overlap, that each event decodes, that its
 * stored.log_index is its place, that its block holds SHA-256(0x00 || bytes)
 * as its leaf hash, that event_ids maps its event_id back to it, and that
 * every index entry that should exist for it exists (counting them). Pass 2 walks every index and
 * checks each entry names a stored event with the same time, and that each
 * index holds exactly as many entries as pass 1 expected: with every expected
 * entry present, equal counts mean no stray entries either. The traces
 * table (trace id -> number, the key of by_trace) must give distinct numbers.
 *
 * Invariants: read-only; one read snapshot for the whole check, so a writer
 * appending meanwhile does not confuse it.
 *
 * Threading: one thread per ts_store.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

#define CHECK_MAX_REPORTS 100

typedef struct chk {
    ts_store *s;
    MDB_txn *txn;
    ts_report_fn report;
    void *ctx;
    uint64_t problems;
    uint64_t *times; /* time of each log index, UINT64_MAX when missing */
    uint64_t nlog;
    uint64_t expect[TS_DBI_COUNT];
    ts_block blk;
    uint64_t *bmin; /* per first log index of a block: its earliest time; else UINT64_MAX */
    uint8_t ev_trace[16];
    int ev_has_trace; /* the trace of the event check_event last saw */
} chk;

__attribute__((format(printf, 2, 3))) static void problem(chk *c, const char *fmt, ...)
{
    c->problems++;
    if (!c->report || c->problems > CHECK_MAX_REPORTS) return;
    char msg[768];
    int n = snprintf(msg, sizeof msg, "store %s: ", c->s->dir);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
    va_end(ap);
    c->report(c->ctx, msg);
}

static int has_entry(chk *c, int dbi, const void *key, size_t klen, const uint8_t e[16])
{
    MDB_cursor *cur;
    if (mdb_cursor_open(c->txn, c->s->dbi[dbi], &cur)) return 0;
    MDB_val k = {klen, (void *)key}, v = {16, (void *)e};
    int rc = mdb_cursor_get(cur, &k, &v, MDB_GET_BOTH);
    mdb_cursor_close(cur);
    return rc == 0;
}

static void expect_entry(chk *c, int dbi, const char *what, const void *key, size_t klen,
                         const uint8_t e[16], uint64_t li)
{
    if (klen == 0 || klen > 511) return; /* not indexed by design */
    c->expect[dbi]++;
    if (!has_entry(c, dbi, key, klen, e))
        problem(c, "log index %llu: missing from %s", (unsigned long long)li, what);
}

/* Incidents the event belongs to: its own and those its trace is linked to. */
static void expect_incidents(chk *c, const tp_event *ev, const uint8_t e[16], uint64_t li)
{
    if (ev->incident)
        expect_entry(c, TS_DBI_BY_INCIDENT, "by_incident", ev->incident, strlen(ev->incident), e,
                     li);
    if (!ev->has_trace_id || ev->trace_id.len != 16) return;
    MDB_cursor *cur;
    if (mdb_cursor_open(c->txn, c->s->dbi[TS_DBI_TRACE_INCIDENTS], &cur)) return;
    MDB_val k = {16, ev->trace_id.data}, v;
    int rc = mdb_cursor_get(cur, &k, &v, MDB_SET);
    while (rc == 0) {
        if (!(ev->incident && strlen(ev->incident) == v.mv_size &&
              memcmp(ev->incident, v.mv_data, v.mv_size) == 0))
            expect_entry(c, TS_DBI_BY_INCIDENT, "by_incident (linked trace)", v.mv_data, v.mv_size,
                         e, li);
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_DUP);
    }
    mdb_cursor_close(cur);
}

static void check_event(chk *c, uint64_t li, const uint8_t *bytes, size_t len,
                        const uint8_t leaf[32])
{
    ts_store *s = c->s;
    uint8_t want[32];
    if (ts_sha256(s, 0x00, bytes, len, want) == 0 && memcmp(leaf, want, 32) != 0)
        problem(c, "log index %llu: leaf hash does not match the stored bytes",
                (unsigned long long)li);
    tp_event *ev = agenttrail__v1__trace_event__unpack(NULL, len, bytes);
    if (!ev) {
        problem(c, "log index %llu: stored bytes do not decode", (unsigned long long)li);
        return;
    }
    if (!ev->stored || !ev->stored->has_log_index || ev->stored->log_index != li)
        problem(c, "log index %llu: stored.log_index disagrees with its place in the log",
                (unsigned long long)li);
    uint64_t ts = ev->has_time_unix_nano ? ev->time_unix_nano : 0;
    c->times[li] = ts;
    uint8_t e[16], hour[4];
    ts_put_be64(e, ts);
    ts_put_be64(e + 8, li);
    uint64_t h = ts / 3600000000000ull;
    ts_put_be32(hour, h > UINT32_MAX ? UINT32_MAX : (uint32_t)h);
    if (ev->has_event_id && ev->event_id.len == 16) {
        uint64_t got = 0;
        MDB_cursor *ic = NULL;
        c->expect[TS_DBI_IDS]++;
        if (mdb_cursor_open(c->txn, s->dbi[TS_DBI_IDS], &ic) != 0 ||
            (ts_id_lookup(ic, ev->event_id.data, &got) != 0 || got != li))
            problem(c, "log index %llu: event_ids does not map its event_id to it",
                    (unsigned long long)li);
        if (ic) mdb_cursor_close(ic);
    } else {
        problem(c, "log index %llu: no 16-byte event_id", (unsigned long long)li);
    }
    expect_entry(c, TS_DBI_BY_TIME, "by_time", hour, 4, e, li);
    if (ev->workflow)
        expect_entry(c, TS_DBI_BY_WORKFLOW, "by_workflow", ev->workflow, strlen(ev->workflow), e,
                     li);
    if (ev->dri) expect_entry(c, TS_DBI_BY_DRI, "by_dri", ev->dri, strlen(ev->dri), e, li);
    /* by_trace names blocks (pass_events): remember this event's trace. */
    c->ev_has_trace = ev->has_trace_id && ev->trace_id.len == 16;
    if (c->ev_has_trace) memcpy(c->ev_trace, ev->trace_id.data, 16);
    expect_incidents(c, ev, e, li);
    agenttrail__v1__trace_event__free_unpacked(ev, NULL);
}

/* Checks the events of the block at `li` (decoded in c->blk), that they share
 * one trace, and that by_trace names the block under it with its earliest time. */
static void check_block(chk *c, uint64_t li)
{
    uint8_t trace[16];
    int has = 0, mixed = 0;
    uint64_t tmin = UINT64_MAX;
    for (uint32_t i = 0; i < c->blk.count; i++) {
        const uint8_t *b;
        size_t len;
        ts_block_event(&c->blk, li + i, &b, &len);
        c->times[li + i] = UINT64_MAX;
        c->ev_has_trace = 0;
        check_event(c, li + i, b, len, c->blk.leaves[i]);
        if (c->times[li + i] != UINT64_MAX && c->times[li + i] < tmin) tmin = c->times[li + i];
        if (i == 0) {
            has = c->ev_has_trace;
            memcpy(trace, c->ev_trace, 16);
        } else if (has != c->ev_has_trace || (has && memcmp(trace, c->ev_trace, 16) != 0)) {
            mixed = 1;
        }
    }
    if (mixed)
        problem(c, "events: the block at log index %llu holds events of different traces",
                (unsigned long long)li);
    c->bmin[li] = tmin;
    if (!has || tmin == UINT64_MAX) return;
    uint8_t num[8], e[16];
    if (ts_trace_key(c->s, c->txn, trace, num) != 0) {
        c->expect[TS_DBI_BY_TRACE]++;
        problem(c, "log index %llu: its trace id has no number in traces", (unsigned long long)li);
        return;
    }
    ts_put_be64(e, tmin);
    ts_put_be64(e + 8, li);
    expect_entry(c, TS_DBI_BY_TRACE, "by_trace", num, 8, e, li);
}

static int pass_events(chk *c)
{
    ts_store *s = c->s;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(c->txn, s->dbi[TS_DBI_EVENTS], &cur);
    if (rc) return ts_fail_mdb(s, rc, "events");
    MDB_val k, v;
    uint64_t expect_li = 0;
    rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    while (rc == 0) {
        if (k.mv_size != 8) {
            problem(c, "events: a key of %zu bytes", k.mv_size);
        } else {
            uint64_t li = ts_get_be64(k.mv_data);
            if (li != expect_li)
                problem(c,
                        "events: a block at log index %llu follows log index %llu (gap or "
                        "disorder)",
                        (unsigned long long)li, (unsigned long long)expect_li);
            expect_li = li + 1;
            if (li >= c->nlog) {
                problem(c, "events: log index %llu beyond log_size %llu", (unsigned long long)li,
                        (unsigned long long)c->nlog);
            } else if (ts_block_decode(s, c->txn, li, v.mv_data, v.mv_size, 1, &c->blk) != 0) {
                problem(c, "log index %llu: %s", (unsigned long long)li, s->err);
            } else if (c->blk.count > c->nlog - li) {
                problem(c,
                        "events: the block at log index %llu holds %u events, beyond "
                        "log_size %llu",
                        (unsigned long long)li, c->blk.count, (unsigned long long)c->nlog);
            } else {
                check_block(c, li);
                expect_li = li + c->blk.count;
            }
        }
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    if (rc != MDB_NOTFOUND) return ts_fail_mdb(s, rc, "walking events");
    if (expect_li != c->nlog)
        problem(c, "meta log_size is %llu but the log holds %llu events",
                (unsigned long long)c->nlog, (unsigned long long)expect_li);
    return 0;
}

static const char *dbi_name(int dbi)
{
    static const char *const n[TS_DBI_COUNT] = {
        [TS_DBI_IDS] = "event_ids",     [TS_DBI_BY_WORKFLOW] = "by_workflow",
        [TS_DBI_BY_DRI] = "by_dri",     [TS_DBI_BY_INCIDENT] = "by_incident",
        [TS_DBI_BY_TRACE] = "by_trace", [TS_DBI_BY_TIME] = "by_time"};
    return n[dbi] ? n[dbi] : "?";
}

/* Every entry of an index names a stored event with the same time. */
static int pass_index(chk *c, int dbi)
{
    ts_store *s = c->s;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(c->txn, s->dbi[dbi], &cur);
    if (rc) return ts_fail_mdb(s, rc, dbi_name(dbi));
    MDB_val k, v;
    uint64_t n = 0;
    rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    while (rc == 0) {
        n++;
        if (v.mv_size != 16) {
            problem(c, "%s: an entry of %zu bytes", dbi_name(dbi), v.mv_size);
        } else {
            uint64_t ts = ts_get_be64(v.mv_data), li = ts_get_be64((uint8_t *)v.mv_data + 8);
            /* by_trace names blocks by their earliest time; the others name events. */
            const uint64_t *t = dbi == TS_DBI_BY_TRACE ? c->bmin : c->times;
            if (li >= c->nlog || t[li] == UINT64_MAX)
                problem(c, "%s: an entry names log index %llu, which is not %s", dbi_name(dbi),
                        (unsigned long long)li,
                        dbi == TS_DBI_BY_TRACE ? "the first of a stored block" : "stored");
            else if (t[li] != ts)
                problem(c, "%s: the entry for log index %llu has the wrong time", dbi_name(dbi),
                        (unsigned long long)li);
        }
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    if (rc != MDB_NOTFOUND) return ts_fail_mdb(s, rc, dbi_name(dbi));
    if (n != c->expect[dbi])
        problem(c, "%s holds %llu entries where the events call for %llu", dbi_name(dbi),
                (unsigned long long)n, (unsigned long long)c->expect[dbi]);
    return 0;
}

/* traces gives each trace id its own number, 0 .. entries - 1: two ids
 * sharing a number would mix their by_trace entries unseen by pass 2. */
static int pass_traces(chk *c)
{
    ts_store *s = c->s;
    MDB_stat st;
    int rc = mdb_stat(c->txn, s->dbi[TS_DBI_TRACES], &st);
    if (rc) return ts_fail_mdb(s, rc, "traces");
    uint64_t n = st.ms_entries;
    uint8_t *seen = calloc(n / 8 + 1, 1);
    if (!seen) return ts_fail(s, TS_ENOMEM, "store %s: out of memory for the check", s->dir);
    MDB_cursor *cur;
    if ((rc = mdb_cursor_open(c->txn, s->dbi[TS_DBI_TRACES], &cur))) {
        free(seen);
        return ts_fail_mdb(s, rc, "traces");
    }
    MDB_val k, v;
    rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    while (rc == 0) {
        uint64_t num = v.mv_size == 8 ? ts_get_be64(v.mv_data) : UINT64_MAX;
        if (k.mv_size != 16 || num >= n)
            problem(c, "traces: an entry that is not a 16-byte trace id with a number below %llu",
                    (unsigned long long)n);
        else if (seen[num / 8] & (1u << (num % 8)))
            problem(c, "traces: trace number %llu is given to two trace ids",
                    (unsigned long long)num);
        else
            seen[num / 8] |= (uint8_t)(1u << (num % 8));
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    free(seen);
    return rc == MDB_NOTFOUND ? 0 : ts_fail_mdb(s, rc, "traces");
}

static int count_entries(chk *c, int dbi, uint64_t *n)
{
    MDB_stat st;
    int rc = mdb_stat(c->txn, c->s->dbi[dbi], &st);
    if (rc) return ts_fail_mdb(c->s, rc, dbi_name(dbi));
    *n = st.ms_entries;
    return 0;
}

int ts_check(ts_store *s, ts_report_fn report, void *ctx)
{
    if (!s) return TS_EINVAL;
    chk c;
    memset(&c, 0, sizeof c);
    c.s = s;
    c.report = report;
    c.ctx = ctx;
    c.blk.first = UINT64_MAX;
    int rc = ts_read_begin(s, &c.txn);
    if (rc) return rc;
    rc = ts_internal_log_size(s, c.txn, &c.nlog);
    if (!rc) {
        size_t n = (c.nlog ? c.nlog : 1) * sizeof *c.times;
        c.times = malloc(n);
        c.bmin = malloc(n);
        if (!c.times || !c.bmin) {
            rc = ts_fail(s, TS_ENOMEM, "store %s: out of memory for the check", s->dir);
        } else {
            memset(c.times, 0xff, n);
            memset(c.bmin, 0xff, n);
        }
    }
    if (!rc) rc = pass_events(&c);
    if (!rc) rc = pass_traces(&c);
    static const int idx[] = {TS_DBI_BY_WORKFLOW, TS_DBI_BY_DRI, TS_DBI_BY_INCIDENT,
                              TS_DBI_BY_TRACE, TS_DBI_BY_TIME};
    for (size_t i = 0; !rc && i < sizeof idx / sizeof idx[0]; i++)
        rc = pass_index(&c, idx[i]);
    uint64_t n = 0;
    if (!rc && !(rc = count_entries(&c, TS_DBI_IDS, &n)) && n != c.expect[TS_DBI_IDS])
        problem(&c, "event_ids holds %llu entries for %llu stored events", (unsigned long long)n,
                (unsigned long long)c.expect[TS_DBI_IDS]);
    ts_read_end(s);
    free(c.times);
    free(c.bmin);
    ts_block_free(&c.blk);
    if (rc) return rc;
    if (c.problems)
        return ts_fail(s, TS_ECORRUPT, "store %s: the check found %llu problem(s)", s->dir,
                       (unsigned long long)c.problems);
    return 0;
}
