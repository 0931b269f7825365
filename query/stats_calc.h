/*
 * stats_calc.h - the figures of `trace-query stats`, computed in one pass over events.
 *
 * Responsibility: groups events by a dimension (workflow, dri, model, service, tool, source)
 * and accumulates per group: events, distinct traces, counts per kind and per outcome
 * decision, tokens, cost, durations of prompt and tool_call events, blocked and errored tool
 * calls, redactions, and the trace-level coverage figures. The exact definitions are in
 * docs/trace-query.md ("stats: definitions").
 * Owns: the groups, their keys (copied) and the per-trace bookkeeping.
 * Invariants: after qstats_finish the groups are sorted by key (bytewise, the group of
 * events without the dimension last) and each group's durations are sorted ascending.
 * Threading: a qstats is used by one thread.
 */
#ifndef AGENTTRAIL_QUERY_STATS_CALC_H
#define AGENTTRAIL_QUERY_STATS_CALC_H

#include <stddef.h>
#include <stdint.h>

#include "traceproto.h"

/* The grouping dimensions. */
enum { QBY_WORKFLOW = 0, QBY_DRI, QBY_MODEL, QBY_SERVICE, QBY_TOOL, QBY_SOURCE, QBY_COUNT };

/* The name of a dimension ("workflow", ...) and the reverse (-1 when unknown). */
const char *qstats_by_name(int by);
int qstats_by_parse(const char *name);

#define QSTATS_KINDS 9     /* index = AGENTTRAIL__V1__KIND__*, 0 unused */
#define QSTATS_DECISIONS 5 /* index = AGENTTRAIL__V1__DECISION__*, 0 unused */

typedef struct qstats_group {
    char *key; /* NULL: events that lack the dimension (e.g. no tool for --by tool) */
    uint64_t events;
    uint64_t traces;         /* distinct traces with at least one event in the group */
    uint64_t outcome_traces; /* of those, traces that have an outcome event (any group) */
    uint64_t dri_traces;     /* of those, traces with an outcome event whose dri is set */
    uint64_t by_kind[QSTATS_KINDS];
    uint64_t outcomes[QSTATS_DECISIONS];
    uint64_t input_tokens, output_tokens, cached_tokens, cost_usd_micros;
    uint64_t tool_calls_blocked, tool_calls_error, redactions;
    uint64_t *durations; /* duration_nano of prompt and tool_call events that have one */
    size_t ndurations, cap_durations;
} qstats_group;

typedef struct qstats qstats;

/* A new accumulator grouping by `by` (QBY_*). NULL when out of memory. */
qstats *qstats_new(int by);

/* Accounts one event. 0, or -1 when out of memory. */
int qstats_add(qstats *st, const tp_event *ev);

/* Completes the trace-level figures and sorts. Call once, after the last qstats_add.
 * 0, or -1 when out of memory. */
int qstats_finish(qstats *st);

/* The groups (valid until qstats_destroy). */
size_t qstats_ngroups(const qstats *st);
const qstats_group *qstats_group_at(const qstats *st, size_t i);

/* Nearest-rank percentile (p in 1..100) of a group's sorted durations, in ns:
 * the value at rank ceil(p/100 * N) (1-based). Returns 0 and *out, or -1 when N == 0. */
int qstats_percentile(const qstats_group *g, unsigned p, uint64_t *out);

/* Frees; accepts NULL and *st == NULL; sets *st to NULL. */
void qstats_destroy(qstats **st);

#endif
