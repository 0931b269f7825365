/*
 * stats_calc.h - the figures of `trace-query stats`, computed in one pass over events.
 *
 * Responsibility: groups events by a dimension (workflow, dri, model, service, tool, source)
 * and accumulates per group: events, distinct traces, counts per kind and per outcome
 * decision, tokens, cost and unpriced LLM calls, durations of prompt (LLM call) and tool_call
 * events kept apart, blocked and errored tool calls, redactions, events with a DRI, and the
 * trace-level outcome coverage. incident_link events are not the work of any group: they are
 * accounted in a row of their own (qstats_links), whose traces are the traces the links name,
 * so a link never adds a trace, a DRI or a service to a group. The exact definitions are in
 * docs/trace-query.md ("stats: definitions").
 * Owns: the groups, the links row, their keys (copied) and the per-trace bookkeeping.
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

/* The kinds of call whose durations are kept (never mixed: LLM calls take seconds, tool
 * calls often microseconds). */
enum { QDUR_LLM = 0 /* prompt events */, QDUR_TOOL /* tool_call events */, QDUR_KINDS };

typedef struct qstats_durations {
    uint64_t *ns; /* duration_nano of the events of that kind that have one */
    size_t n, cap;
} qstats_durations;

typedef struct qstats_group {
    char *key;    /* NULL: events that lack the dimension (e.g. no tool for --by tool) */
    int is_links; /* the row of incident_link events (qstats_links), key NULL */
    uint64_t events;
    uint64_t traces;         /* distinct traces with at least one event in the group; for the
                                links row, distinct traces named by the links */
    uint64_t outcome_traces; /* of those, traces that have an outcome event (any group) */
    uint64_t dri_events;     /* events whose dri is set */
    uint64_t by_kind[QSTATS_KINDS];
    uint64_t outcomes[QSTATS_DECISIONS];
    uint64_t outcome_events; /* the sum of outcomes[] (set by qstats_finish) */
    uint64_t input_tokens, output_tokens, cached_tokens, cost_usd_micros;
    uint64_t priced_events;  /* events with a usage.cost_usd_micros (0 included) */
    uint64_t unpriced_calls; /* prompt events without one: their cost is unknown */
    uint64_t tool_calls_blocked, tool_calls_error, redactions;
    qstats_durations dur[QDUR_KINDS];
} qstats_group;

typedef struct qstats qstats;

/* A new accumulator grouping by `by` (QBY_*). NULL when out of memory. */
qstats *qstats_new(int by);

/* Accounts one event. 0, or -1 when out of memory. */
int qstats_add(qstats *st, const tp_event *ev);

/* Completes the trace-level figures and sorts. Call once, after the last qstats_add.
 * 0, or -1 when out of memory. */
int qstats_finish(qstats *st);

/* The groups (valid until qstats_destroy), without the links row. */
size_t qstats_ngroups(const qstats *st);
const qstats_group *qstats_group_at(const qstats *st, size_t i);

/* The row of the incident_link events, or NULL when no link event was added (valid until
 * qstats_destroy). */
const qstats_group *qstats_links(const qstats *st);

/* Nearest-rank percentile (p in 1..100) of a group's sorted durations of one kind (QDUR_*),
 * in ns: the value at rank ceil(p/100 * N) (1-based). Returns 0 and *out, or -1 when N == 0. */
int qstats_percentile(const qstats_group *g, int dur_kind, unsigned p, uint64_t *out);

/* Frees; accepts NULL and *st == NULL; sets *st to NULL. */
void qstats_destroy(qstats **st);

#endif
