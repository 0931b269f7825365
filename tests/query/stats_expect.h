/*
 * stats_expect.h - the figures of `trace-query stats` computed independently, for the stats
 * tests: from events parsed with jansson (query_fixture.h), with no code shared with
 * query/stats_calc.c or query/stats_fields.c, following docs/trace-query.md ("stats:
 * definitions"); and the checks of trace-query's jsonl rows against them.
 *
 * Ownership: compute() returns rows owned by the caller (free_expected); strings returned
 * point into the jansson events. Threading: single-threaded tests.
 */
#ifndef AGENTTRAIL_TESTS_QUERY_STATS_EXPECT_H
#define AGENTTRAIL_TESTS_QUERY_STATS_EXPECT_H

#include <jansson.h>
#include <stddef.h>

/* The stores the stats tests read, built by stats_stores_setup (a cmocka group setup) from
 * the shared data files and removed by stats_stores_teardown: stores[i] from files[i] (whose
 * events, parsed with jansson, are inputs[i]), and link_store from tau.jsonl plus two
 * incident_link events (INC-9 names two tau traces, INC-10 one of them and a third; their DRI
 * oncall@example.com is no DRI of any workflow), with its events in link_inputs. */
#define NFILES 3
extern const char *const files[NFILES];
extern char *stores[NFILES];
extern json_t *inputs[NFILES];
extern char *link_store;
extern json_t *link_inputs;
int stats_stores_setup(void **state);
int stats_stores_teardown(void **state);

enum { LLM = 0, TOOL = 1 };

typedef struct durs {
    long long *v; /* sorted ascending by compute() */
    size_t n;
} durs;

typedef struct expect {
    const char *key; /* NULL: the group of events without the dimension (or the links row) */
    int links;       /* the row of incident_link events */
    long long events, by_kind[8], outcomes[4];
    long long in, out, cached, cost_micros, priced, unpriced, blocked, errored, redactions;
    long long dri_events;
    durs d[2];      /* LLM (prompt) and TOOL (tool_call) durations */
    json_t *traces; /* trace_id -> true */
    long long ntraces, outcome_traces;
} expect;

/* The expected rows of a list of events and a dimension: groups, then the links row if any. */
typedef struct expected {
    expect *g;
    size_t n;
} expected;

/* The string (or 0 for an integer) at o.a, or o.a.b when b is not NULL; NULL/0 when absent. */
const char *str_at(json_t *o, const char *a, const char *b);
long long int_at(json_t *o, const char *a, const char *b);

/* Expected rows for `events` grouped by `dim` (workflow, dri, model, service, tool, source).
 * incident_link events form the links row: its traces are the traces the links name. */
expected compute(json_t *events, const char *dim);
void free_expected(expected *x);

/* The nearest-rank percentile of sorted durations: the value at rank ceil(p/100 * N). */
long long percentile(const durs *d, int p);

/* The row of `x` whose group is `name` ("(none)": the keyless group), NULL when none. */
const expect *expected_named(const expected *x, const char *name);

/* Fails the test unless o.key is the integer `want` / the fraction num/den (null if den 0). */
void check_int(json_t *o, const char *key, long long want, const char *ctx);
void check_rate(json_t *o, const char *key, long long num, long long den, const char *ctx);

/* Fails unless the jsonl row `o` has exactly the documented keys in order and e's figures. */
void check_group(json_t *o, const expect *e, const char *ctx);

/* stats --by dim of `store` equals compute(events, dim), every row, the links row last. */
void check_store_dim(const char *store, json_t *events, const char *name, const char *dim);

/* Runs `trace-query --store STORE stats ARGS...` (NULL-terminated) and fails unless it exits
 * 0; returns its stdout (free it). */
char *stats_out(const char *store, ...);

#endif
