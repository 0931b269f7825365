/*
 * find_traces.c - `trace-query find --traces`: one row per trace, like a trace search's
 * result list (trace, workflow, DRI, start, duration, events, errors, outcome, cost).
 *
 * Responsibility: reads the events find selects (same filters, find.h) and lists each trace
 * once, at its first selected event, summarised over all its events (a second query by the
 * trace index). Paging is by trace: --limit N shows N traces; the cursor is the position
 * before the first selected event of the next trace, and a trace is listed only on the page
 * that holds its first selected event (checked with a third query, the filters and the
 * trace id), so each trace appears on exactly one page.
 * Owns: the set of traces met on the page, the per-trace readers and iterators.
 * Threading: single-threaded.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "describe.h"
#include "find.h"
#include "ids.h"
#include "table.h"

#define TRACES_TABLE_WINDOW 256

enum { T_TRACE, T_START, T_DUR, T_EVENTS, T_ERRORS, T_OUTCOME, T_WORKFLOW, T_DRI, T_COST, TCOLS };
static const char *const traces_headers[TCOLS] = {"TRACE",   "START",    "DUR", "EVENTS", "ERRORS",
                                                  "OUTCOME", "WORKFLOW", "DRI", "COST"};
static const int traces_flags[TCOLS] = {
    [T_TRACE] = QCOL_KEEP,
    [T_DUR] = QCOL_RIGHT | QCOL_OPTIONAL,
    [T_EVENTS] = QCOL_RIGHT | QCOL_OPTIONAL,
    [T_ERRORS] = QCOL_RIGHT,
    [T_WORKFLOW] = QCOL_FLEX,
    [T_DRI] = QCOL_FLEX | QCOL_OPTIONAL,
    [T_COST] = QCOL_RIGHT | QCOL_OPTIONAL,
};
/* Left out in this order when a row would not fit: ERRORS and OUTCOME never are. */
static const int traces_drop_order[] = {T_COST, T_EVENTS, T_DUR, T_DRI};
static const size_t traces_min_widths[TCOLS] = {
    [T_TRACE] = QID_SHORT_MIN, [T_START] = 23, [T_DUR] = 6, [T_EVENTS] = 6, [T_ERRORS] = 6,
    [T_OUTCOME] = 9,           [T_COST] = 9,
};
/* START trimmed to "2024-05-01 20:46": minutes. */
static const qtable_spec traces_spec = QTABLE_SPEC_STREAMED(traces, TCOLS, T_START, 16);

/* What a row says about one trace, over all its events. */
typedef struct trace_sum {
    uint8_t id[16];
    uint64_t start, end, events, errors, blocked, cost, priced, unpriced;
    uint64_t outcome_time;
    int outcome; /* decision of the latest outcome event; 0: none */
    char *workflow, *dri, *outcome_dri;
} trace_sum;

static void sum_clear(trace_sum *t)
{
    free(t->workflow);
    free(t->dri);
    free(t->outcome_dri);
    memset(t, 0, sizeof *t);
}

/* Keeps a copy of `s` in *slot unless it holds one already. */
static void keep_first(char **slot, const char *s)
{
    if (!*slot && s) *slot = strdup(s);
}

static void sum_add(trace_sum *t, const tp_event *ev)
{
    uint64_t at = ev->time_unix_nano, end = at + (ev->has_duration_nano ? ev->duration_nano : 0);
    if (t->events == 0 || at < t->start) t->start = at;
    if (end > t->end) t->end = end;
    t->events++;
    int kind = ev->has_kind ? (int)ev->kind : 0;
    /* A link event names the incident's traces, not this trace's work: its workflow and
     * DRI (who linked) do not describe the trace. */
    if (kind != AGENTTRAIL__V1__KIND__INCIDENT_LINK) {
        keep_first(&t->workflow, ev->workflow);
        keep_first(&t->dri, ev->dri);
    }
    if (ev->tool_call && ev->tool_call->has_status) {
        t->errors += ev->tool_call->status == AGENTTRAIL__V1__TOOL_STATUS__TOOL_ERROR;
        t->blocked += ev->tool_call->status == AGENTTRAIL__V1__TOOL_STATUS__TOOL_BLOCKED;
    }
    if (ev->usage && ev->usage->has_cost_usd_micros) {
        t->cost += ev->usage->cost_usd_micros;
        t->priced++;
    } else if (qdesc_unpriced(ev)) {
        t->unpriced++;
    }
    if (kind == AGENTTRAIL__V1__KIND__OUTCOME && ev->outcome && ev->outcome->has_decision &&
        (!t->outcome || at >= t->outcome_time)) {
        t->outcome = (int)ev->outcome->decision;
        t->outcome_time = at;
        free(t->outcome_dri);
        t->outcome_dri = ev->dri ? strdup(ev->dri) : NULL;
    }
}

/* Reads every event of trace `id` into *t; a QEXIT code. */
static int summarise(qfind *q, const uint8_t id[16], trace_sum *t)
{
    ts_filter f = {0};
    f.trace_id = id;
    memcpy(t->id, id, 16);
    ts_iter *it = NULL;
    qreader *rd = qreader_new();
    int r = rd ? ts_query(q->s, &f, NULL, &it) : TS_ENOMEM;
    const tp_event *ev = NULL;
    while (r == 0 && (r = qreader_next(rd, it, &ev)) == 0)
        sum_add(t, ev);
    ts_iter_destroy(&it);
    qreader_destroy(&rd);
    if (r == TS_EEND) return 0;
    qerr(q->ctx, "find", "reading trace events from %s failed: %s (%s)", q->ctx->store_dir,
         ts_strerror(r), ts_last_error(q->s));
    return QEXIT_STORE;
}

/* Whether the event at `log_index` is the first event of trace `id` that the find selects,
 * in *first; a QEXIT code. */
static int is_first_selected(qfind *q, const uint8_t id[16], uint64_t log_index, int *first)
{
    ts_filter f = q->a->filter;
    f.trace_id = id;
    ts_iter *it = NULL;
    qreader *rd = qreader_new();
    int r = rd ? ts_query(q->s, &f, NULL, &it) : TS_ENOMEM;
    if (rd) qreader_set_match(rd, &q->a->match);
    const tp_event *ev = NULL;
    while (r == 0 && (r = qreader_next(rd, it, &ev)) == 0 && !qfind_selects(q, ev))
        ;
    *first = r == 0 && ev->stored && ev->stored->log_index == log_index;
    ts_iter_destroy(&it);
    qreader_destroy(&rd);
    if (r == 0 || r == TS_EEND) return 0;
    qerr(q->ctx, "find", "reading trace events from %s failed: %s (%s)", q->ctx->store_dir,
         ts_strerror(r), ts_last_error(q->s));
    return QEXIT_STORE;
}

static int add_trace_row(qtable *tb, qid_short *ids, ts_store *s, const trace_sum *t)
{
    char trace[33], start[40], dur[32], events[24], errors[48] = "", cost[40];
    qid_short_trace(ids, s, t->id, trace);
    qdesc_time(t->start, start, sizeof start);
    qdesc_duration(t->end - t->start, dur, sizeof dur);
    snprintf(events, sizeof events, "%" PRIu64, t->events);
    if (t->errors || t->blocked) snprintf(errors, sizeof errors, "%" PRIu64, t->errors);
    if (t->blocked)
        snprintf(errors + strlen(errors), sizeof errors - strlen(errors), "+%" PRIu64 "b",
                 t->blocked);
    qdesc_cost_sum(t->cost, t->priced, t->unpriced, 1, cost, sizeof cost);
    const char *outcome = t->outcome ? tp_decision_name(t->outcome) : "-";
    const char *cells[TCOLS] = {
        [T_TRACE] = trace,
        [T_START] = start,
        [T_DUR] = dur,
        [T_EVENTS] = events,
        [T_ERRORS] = errors,
        [T_OUTCOME] = outcome,
        [T_WORKFLOW] = t->workflow,
        [T_DRI] = t->outcome_dri ? t->outcome_dri : t->dri,
        [T_COST] = cost,
    };
    return qtable_add(tb, cells);
}

/* One trace as a JSON line (keys in this order; see docs/trace-query.md). */
static int write_trace_json(const qctx *ctx, const trace_sum *t)
{
    char hex[33];
    at_hex_encode(t->id, 16, hex);
    const char *dri = t->outcome_dri ? t->outcome_dri : t->dri;
    json_t *o = json_object();
    json_object_set_new(o, "trace_id", json_string(hex));
    json_object_set_new(o, "workflow", t->workflow ? json_string(t->workflow) : json_null());
    json_object_set_new(o, "dri", dri ? json_string(dri) : json_null());
    json_object_set_new(o, "start_unix_nano", json_integer((json_int_t)t->start));
    json_object_set_new(o, "duration_nano", json_integer((json_int_t)(t->end - t->start)));
    json_object_set_new(o, "events", json_integer((json_int_t)t->events));
    json_object_set_new(o, "tool_errors", json_integer((json_int_t)t->errors));
    json_object_set_new(o, "tool_blocked", json_integer((json_int_t)t->blocked));
    json_object_set_new(o, "outcome",
                        t->outcome ? json_string(tp_decision_name(t->outcome)) : json_null());
    json_object_set_new(o, "cost_usd_micros",
                        t->priced ? json_integer((json_int_t)t->cost) : json_null());
    json_object_set_new(o, "unpriced_calls", json_integer((json_int_t)t->unpriced));
    char *js = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!js) {
        qerr(ctx, "find", "out of memory (or a stored string that is not UTF-8)");
        return QEXIT_STORE;
    }
    fprintf(ctx->out, "%s\n", js);
    free(js);
    return 0;
}

/* The traces met on this page: an open-addressing set of 16-byte ids (ids are random, so
 * their first bytes are the hash). */
typedef struct trace_set {
    uint8_t (*ids)[16];
    unsigned char *used;
    size_t n, cap;
} trace_set;

static size_t slot_of(const trace_set *set, const uint8_t id[16])
{
    uint64_t h;
    memcpy(&h, id, 8);
    size_t i = (size_t)(h * 0x9E3779B97F4A7C15ull) & (set->cap - 1);
    while (set->used[i] && memcmp(set->ids[i], id, 16) != 0)
        i = (i + 1) & (set->cap - 1);
    return i;
}

/* Adds `id`: 1 when it is new, 0 when met before, -1 out of memory. */
static int set_add(trace_set *set, const uint8_t id[16])
{
    if ((set->n + 1) * 2 > set->cap) {
        trace_set big = {0};
        big.cap = set->cap ? set->cap * 2 : 1024;
        big.ids = malloc(big.cap * sizeof *big.ids);
        big.used = calloc(big.cap, 1);
        if (!big.ids || !big.used) {
            free(big.ids);
            free(big.used);
            return -1;
        }
        for (size_t i = 0; i < set->cap; i++)
            if (set->used[i]) {
                size_t k = slot_of(&big, set->ids[i]);
                memcpy(big.ids[k], set->ids[i], 16);
                big.used[k] = 1;
            }
        big.n = set->n;
        free(set->ids);
        free(set->used);
        *set = big;
    }
    size_t k = slot_of(set, id);
    if (set->used[k]) return 0;
    memcpy(set->ids[k], id, 16);
    set->used[k] = 1;
    set->n++;
    return 1;
}

/* One trace met at the event at `log_index`: listed when that is its first selected event.
 * *listed says whether it was; a QEXIT code. */
static int list_trace(qfind *q, qtable *tb, qid_short *ids, const uint8_t id[16],
                      uint64_t log_index, int *listed)
{
    int rc = is_first_selected(q, id, log_index, listed);
    if (rc != 0 || !*listed) return rc;
    trace_sum t = {{0}};
    rc = summarise(q, id, &t);
    if (rc == 0 && tb && add_trace_row(tb, ids, q->s, &t) != 0) {
        qerr(q->ctx, "find", "out of memory");
        rc = QEXIT_STORE;
    } else if (rc == 0 && !tb) {
        rc = write_trace_json(q->ctx, &t);
    }
    sum_clear(&t);
    return rc;
}

int qfind_traces(qfind *q)
{
    const qctx *ctx = q->ctx;
    uint64_t limit = q->limit;
    qtable *tb = NULL;
    if (q->fmt == QFMT_TABLE) {
        if (!(tb = qtable_new_spec(&traces_spec))) {
            qerr(ctx, "find", "out of memory");
            return QEXIT_STORE;
        }
        qtable_stream(tb, ctx->out, ctx->term_width, TRACES_TABLE_WINDOW);
    }
    trace_set seen = {0};
    qid_short ids = {{0}, 0};
    ts_cursor before = {{0}}; /* after the last event read: where the next page starts */
    uint64_t n = 0;
    int rc = 0, more = 0;
    while (rc == 0) {
        const tp_event *ev = NULL;
        int r = qfind_next(q, &ev);
        if (r != 0) {
            rc = r == TS_EEND ? 0 : r;
            break;
        }
        uint8_t id[16];
        int fresh = 0;
        if (ev->has_trace_id && ev->trace_id.len == 16 && ev->stored) {
            memcpy(id, ev->trace_id.data, 16);
            fresh = set_add(&seen, id);
        }
        if (fresh < 0) {
            qerr(ctx, "find", "out of memory");
            rc = QEXIT_STORE;
        } else if (fresh && limit && n == limit) {
            int first = 0;
            rc = is_first_selected(q, id, ev->stored->log_index, &first);
            if (rc == 0 && first) {
                more = 1; /* the next page starts with this trace */
                break;
            }
        } else if (fresh) {
            int listed = 0;
            rc = list_trace(q, tb, &ids, id, ev->stored->log_index, &listed);
            n += (uint64_t)listed;
        }
        ts_iter_cursor(q->it, &before);
    }
    if (rc == 0 && tb) {
        if (n > 0) qtable_end(tb);
        if (more)
            fprintf(ctx->out, "-- %" PRIu64 " traces shown; next page: --after %s\n", n,
                    before.text);
        else if (n == 0)
            fprintf(ctx->out, "-- no traces match\n");
    } else if (rc == 0 && more) {
        fprintf(ctx->err, "next: %s\n", before.text);
    }
    free(seen.ids);
    free(seen.used);
    qtable_destroy(&tb);
    return rc;
}
