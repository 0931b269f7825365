/*
 * test_query_stats.c - `trace-query stats` figures equal an independent computation.
 *
 * For every shared data file and every --by dimension, the jsonl scorecard of a store built
 * from the file is compared, key by key and exactly, with figures computed here from the
 * same file parsed with jansson (no code shared with query/stats_calc.c). Also checks the
 * key order the docs promise, that filters narrow the groups, and the table output.
 * Ownership: each test frees what it allocates; the stores are removed at teardown.
 * Threading: single-threaded.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query_fixture.h"
#include "testutil.h"

static const char *const files[] = {"data/swe-agent.jsonl", "data/tau.jsonl", "data/tau2.jsonl"};
#define NFILES 3
static char *stores[NFILES];
static json_t *inputs[NFILES];

static const char *const dims[] = {"workflow", "dri", "model", "service", "tool", "source"};
#define NDIMS 6

static const char *const kinds[] = {"prompt",  "retrieval", "tool_call",     "diff",
                                    "outcome", "approval",  "incident_link", "note"};
static const char *const decisions[] = {"accepted", "edited", "rejected", "escalated"};

static const char *const keys_in_order[] = {"group",
                                            "events",
                                            "traces",
                                            "by_kind",
                                            "outcomes",
                                            "acceptance_rate",
                                            "edit_rate",
                                            "rejection_rate",
                                            "escalation_rate",
                                            "input_tokens",
                                            "output_tokens",
                                            "cached_tokens",
                                            "cost_usd",
                                            "cache_hit_rate",
                                            "p50_duration_ms",
                                            "p95_duration_ms",
                                            "tool_calls_blocked",
                                            "tool_calls_error",
                                            "redactions",
                                            "dri_coverage",
                                            "outcome_coverage"};
#define NKEYS (sizeof keys_in_order / sizeof keys_in_order[0])

/* ---- the independent computation ------------------------------------------------------ */

typedef struct expect {
    const char *key; /* NULL: the group of events without the dimension */
    long long events, by_kind[8], outcomes[4];
    long long in, out, cached, cost_micros, blocked, errored, redactions;
    long long *durs;
    size_t ndurs;
    json_t *traces; /* trace_id -> true */
    long long ntraces, outcome_traces, dri_traces;
} expect;

static const char *str_at(json_t *o, const char *a, const char *b)
{
    json_t *v = json_object_get(o, a);
    if (v && b) v = json_object_get(v, b);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static long long int_at(json_t *o, const char *a, const char *b)
{
    json_t *v = json_object_get(o, a);
    if (v && b) v = json_object_get(v, b);
    return json_is_integer(v) ? json_integer_value(v) : 0;
}

static const char *dim_key(json_t *ev, const char *dim)
{
    if (strcmp(dim, "workflow") == 0) return str_at(ev, "workflow", NULL);
    if (strcmp(dim, "dri") == 0) return str_at(ev, "dri", NULL);
    if (strcmp(dim, "model") == 0) return str_at(ev, "model", "name");
    if (strcmp(dim, "service") == 0) return str_at(ev, "service", NULL);
    if (strcmp(dim, "tool") == 0) return str_at(ev, "tool_call", "name");
    return "anonymous"; /* source: what the store stamps on events appended without one */
}

static int index_of(const char *const *list, size_t n, const char *s)
{
    for (size_t i = 0; s && i < n; i++)
        if (strcmp(list[i], s) == 0) return (int)i;
    return -1;
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

/* Expected groups for one file and dimension; *n groups. */
static expect *compute(json_t *events, const char *dim, size_t *n)
{
    expect *g = calloc(4096, sizeof *g);
    assert_non_null(g);
    size_t ng = 0;
    json_t *trace_outcome = json_object(); /* trace -> 1 outcome, 2 outcome with dri */
    size_t i;
    json_t *ev;
    json_array_foreach(events, i, ev)
    {
        const char *key = dim_key(ev, dim);
        size_t k;
        for (k = 0; k < ng; k++)
            if ((!key && !g[k].key) || (key && g[k].key && strcmp(key, g[k].key) == 0)) break;
        if (k == ng) {
            assert_true(ng < 4096);
            g[ng].key = key;
            g[ng].traces = json_object();
            ng++;
        }
        expect *e = &g[k];
        e->events++;
        const char *kind = str_at(ev, "kind", NULL);
        int ki = index_of(kinds, 8, kind);
        assert_true(ki >= 0);
        e->by_kind[ki]++;
        const char *tid = str_at(ev, "trace_id", NULL);
        assert_non_null(tid);
        json_object_set_new(e->traces, tid, json_true());
        if (strcmp(kind, "outcome") == 0) {
            int d = index_of(decisions, 4, str_at(ev, "outcome", "decision"));
            assert_true(d >= 0);
            e->outcomes[d]++;
            const char *dri = str_at(ev, "dri", NULL);
            long long prev = int_at(trace_outcome, tid, NULL);
            long long now = dri && *dri ? 2 : 1;
            if (now > prev) json_object_set_new(trace_outcome, tid, json_integer(now));
        }
        e->in += int_at(ev, "usage", "input_tokens");
        e->out += int_at(ev, "usage", "output_tokens");
        e->cached += int_at(ev, "usage", "cached_tokens");
        e->cost_micros += int_at(ev, "usage", "cost_usd_micros");
        const char *status = str_at(ev, "tool_call", "status");
        if (status && strcmp(status, "blocked") == 0) e->blocked++;
        if (status && strcmp(status, "error") == 0) e->errored++;
        e->redactions += int_at(ev, "redactions", NULL);
        json_t *dur = json_object_get(ev, "duration_nano");
        if (dur && (strcmp(kind, "prompt") == 0 || strcmp(kind, "tool_call") == 0)) {
            e->durs = realloc(e->durs, (e->ndurs + 1) * sizeof *e->durs);
            assert_non_null(e->durs);
            e->durs[e->ndurs++] = json_integer_value(dur);
        }
    }
    for (size_t k = 0; k < ng; k++) {
        const char *tid;
        json_t *v;
        json_object_foreach(g[k].traces, tid, v)
        {
            (void)v;
            g[k].ntraces++;
            long long o = int_at(trace_outcome, tid, NULL);
            if (o >= 1) g[k].outcome_traces++;
            if (o == 2) g[k].dri_traces++;
        }
        if (g[k].ndurs > 1) qsort(g[k].durs, g[k].ndurs, sizeof *g[k].durs, cmp_ll);
    }
    json_decref(trace_outcome);
    *n = ng;
    return g;
}

static void free_expect(expect *g, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        json_decref(g[k].traces);
        free(g[k].durs);
    }
    free(g);
}

/* ---- comparing ------------------------------------------------------------------------- */

static void check_int(json_t *o, const char *key, long long want, const char *ctx)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) != want) {
        fprintf(stderr, "%s: %s: want %lld, got %s\n", ctx, key, want,
                v ? json_dumps(v, JSON_ENCODE_ANY) : "(missing)");
        fail();
    }
}

/* A fraction num/den, or null when den == 0; compared exactly as doubles. */
static void check_rate(json_t *o, const char *key, long long num, long long den, const char *ctx)
{
    json_t *v = json_object_get(o, key);
    if (den == 0) {
        if (!json_is_null(v)) {
            fprintf(stderr, "%s: %s: want null\n", ctx, key);
            fail();
        }
        return;
    }
    double want = (double)num / (double)den;
    if (!json_is_number(v) || json_number_value(v) != want) {
        fprintf(stderr, "%s: %s: want %.17g, got %.17g\n", ctx, key, want,
                v ? json_number_value(v) : -1.0);
        fail();
    }
}

static void check_ms(json_t *o, const char *key, const expect *e, int p, const char *ctx)
{
    json_t *v = json_object_get(o, key);
    if (e->ndurs == 0) {
        assert_true(json_is_null(v));
        return;
    }
    size_t rank = (size_t)ceil((double)p / 100.0 * (double)e->ndurs);
    if (rank < 1) rank = 1;
    double want = (double)e->durs[rank - 1] / 1e6;
    if (!json_is_number(v) || json_number_value(v) != want) {
        fprintf(stderr, "%s: %s: want %.17g ms, got %.17g\n", ctx, key, want,
                v ? json_number_value(v) : -1.0);
        fail();
    }
}

static void check_group(json_t *o, const expect *e, const char *ctx)
{
    /* Exactly the documented keys, in the documented order. */
    assert_int_equal(json_object_size(o), NKEYS);
    size_t k = 0;
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        (void)v;
        assert_string_equal(key, keys_in_order[k]);
        k++;
    }
    check_int(o, "events", e->events, ctx);
    check_int(o, "traces", e->ntraces, ctx);
    json_t *bk = json_object_get(o, "by_kind");
    assert_int_equal(json_object_size(bk), 8);
    for (int i = 0; i < 8; i++)
        check_int(bk, kinds[i], e->by_kind[i], ctx);
    json_t *oc = json_object_get(o, "outcomes");
    assert_int_equal(json_object_size(oc), 4);
    long long no = 0;
    for (int i = 0; i < 4; i++) {
        check_int(oc, decisions[i], e->outcomes[i], ctx);
        no += e->outcomes[i];
    }
    check_rate(o, "acceptance_rate", e->outcomes[0], no, ctx);
    check_rate(o, "edit_rate", e->outcomes[1], no, ctx);
    check_rate(o, "rejection_rate", e->outcomes[2], no, ctx);
    check_rate(o, "escalation_rate", e->outcomes[3], no, ctx);
    check_int(o, "input_tokens", e->in, ctx);
    check_int(o, "output_tokens", e->out, ctx);
    check_int(o, "cached_tokens", e->cached, ctx);
    json_t *cost = json_object_get(o, "cost_usd");
    assert_true(json_is_number(cost));
    assert_true(json_number_value(cost) == (double)e->cost_micros / 1e6);
    check_rate(o, "cache_hit_rate", e->cached, e->in, ctx);
    check_ms(o, "p50_duration_ms", e, 50, ctx);
    check_ms(o, "p95_duration_ms", e, 95, ctx);
    check_int(o, "tool_calls_blocked", e->blocked, ctx);
    check_int(o, "tool_calls_error", e->errored, ctx);
    check_int(o, "redactions", e->redactions, ctx);
    check_rate(o, "dri_coverage", e->dri_traces, e->ntraces, ctx);
    check_rate(o, "outcome_coverage", e->outcome_traces, e->ntraces, ctx);
}

static void check_file_dim(int f, const char *dim)
{
    char *out = NULL, *err = NULL;
    int rc =
        qf_query(&out, &err, "--store", stores[f], "stats", "--by", dim, "--format", "jsonl", NULL);
    if (rc != 0) fprintf(stderr, "stats --by %s on %s: exit %d: %s\n", dim, files[f], rc, err);
    assert_int_equal(rc, 0);
    size_t ng = 0, nl = 0;
    expect *g = compute(inputs[f], dim, &ng);
    char **lines = qf_lines(out, &nl);
    assert_int_equal(nl, ng);
    long long total = 0;
    for (size_t i = 0; i < nl; i++) {
        json_error_t jerr;
        json_t *o = json_loads(lines[i], 0, &jerr);
        assert_non_null(o);
        json_t *gk = json_object_get(o, "group");
        const expect *e = NULL;
        for (size_t k = 0; k < ng && !e; k++) {
            if (json_is_null(gk) && !g[k].key) e = &g[k];
            if (json_is_string(gk) && g[k].key && strcmp(g[k].key, json_string_value(gk)) == 0)
                e = &g[k];
        }
        if (!e) fprintf(stderr, "%s --by %s: unexpected group %s\n", files[f], dim, lines[i]);
        assert_non_null(e);
        char ctx[256];
        snprintf(ctx, sizeof ctx, "%s --by %s group %s", files[f], dim, e->key ? e->key : "null");
        check_group(o, e, ctx);
        total += e->events;
        json_decref(o);
    }
    assert_int_equal(total, (long long)json_array_size(inputs[f]));
    free(lines);
    free_expect(g, ng);
    free(out);
    free(err);
}

/* ---- tests ----------------------------------------------------------------------------- */

static void test_stats_match_independent_figures_for_every_file_and_dimension(void **state)
{
    (void)state;
    for (int f = 0; f < NFILES; f++)
        for (int d = 0; d < NDIMS; d++)
            check_file_dim(f, dims[d]);
}

static void test_stats_workflow_filter_keeps_only_that_workflow(void **state)
{
    (void)state;
    char *out = NULL;
    int rc = qf_query(&out, NULL, "--store", stores[2], "stats", "--workflow", "tau2-retail",
                      "--format", "jsonl", NULL);
    assert_int_equal(rc, 0);
    size_t nl = 0;
    char **lines = qf_lines(out, &nl);
    assert_int_equal(nl, 1);
    json_t *o = json_loads(lines[0], 0, NULL);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "group")), "tau2-retail");
    size_t ng = 0;
    expect *g = compute(inputs[2], "workflow", &ng);
    for (size_t k = 0; k < ng; k++)
        if (strcmp(g[k].key, "tau2-retail") == 0) check_group(o, &g[k], "tau2 --workflow");
    free_expect(g, ng);
    json_decref(o);
    free(lines);
    free(out);
}

static void test_stats_kind_filter_counts_only_that_kind(void **state)
{
    (void)state;
    char *out = NULL;
    int rc = qf_query(&out, NULL, "--store", stores[1], "stats", "--kind", "outcome", "--outcome",
                      "rejected", "--format", "jsonl", NULL);
    assert_int_equal(rc, 0);
    json_t *o = json_loads(out, 0, NULL);
    assert_non_null(o);
    long long rejected = 0;
    size_t i;
    json_t *ev;
    json_array_foreach(inputs[1], i, ev)
    {
        const char *d = str_at(ev, "outcome", "decision");
        if (d && strcmp(d, "rejected") == 0) rejected++;
    }
    assert_true(rejected > 0);
    check_int(o, "events", rejected, "tau --kind outcome --outcome rejected");
    check_rate(o, "rejection_rate", 1, 1, "tau rejected only");
    json_decref(o);
    free(out);
}

static void test_stats_table_shows_each_group_with_rates_as_percent(void **state)
{
    (void)state;
    char *out = NULL;
    int rc = qf_query(&out, NULL, "--store", stores[2], "stats", "--format", "table", NULL);
    assert_int_equal(rc, 0);
    size_t nl = 0;
    char **lines = qf_lines(out, &nl);
    assert_int_equal(nl, 1 + 4); /* header + the four tau2 workflows */
    assert_non_null(strstr(lines[0], "GROUP"));
    assert_non_null(strstr(lines[0], "ACCEPT"));
    const char *wf[] = {"tau2-airline", "tau2-medical-triage", "tau2-retail", "tau2-telecom"};
    for (int k = 0; k < 4; k++) {
        assert_true(strncmp(lines[1 + k], wf[k], strlen(wf[k])) == 0);
        assert_non_null(strchr(lines[1 + k], '%'));
    }
    /* Columns line up: every line has its EVENTS column ending at the same place. */
    const char *ev = strstr(lines[0], "EVENTS");
    size_t end = (size_t)(ev - lines[0]) + strlen("EVENTS");
    for (size_t k = 1; k < nl; k++) {
        assert_true(strlen(lines[k]) > end);
        assert_true(lines[k][end - 1] >= '0' && lines[k][end - 1] <= '9');
        assert_true(lines[k][end] == ' ');
    }
    free(lines);
    free(out);
}

static void test_stats_narrow_terminal_prints_one_block_per_group(void **state)
{
    (void)state;
    setenv("COLUMNS", "80", 1);
    char *out = NULL;
    int rc = qf_query(&out, NULL, "--store", stores[1], "stats", "--format", "table", NULL);
    unsetenv("COLUMNS");
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "workflow tau-airline\n"));
    assert_non_null(strstr(out, "  outcomes 200: accepted "));
    size_t nl = 0;
    char **lines = qf_lines(out, &nl);
    for (size_t k = 0; k < nl; k++)
        assert_true(strlen(lines[k]) <= 80);
    free(lines);
    free(out);
}

static void test_stats_rejects_unknown_dimension(void **state)
{
    (void)state;
    char *err = NULL;
    int rc = qf_query(NULL, &err, "--store", stores[0], "stats", "--by", "colour", NULL);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(err, "--by 'colour'"));
    free(err);
}

static int setup(void **state)
{
    (void)state;
    unsetenv("COLUMNS"); /* tables are not cut unless a test asks for a width */
    for (int f = 0; f < NFILES; f++) {
        stores[f] = qf_build_store(files[f]);
        inputs[f] = qf_load_events(files[f]);
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (int f = 0; f < NFILES; f++) {
        tu_rmtree(stores[f]);
        free(stores[f]);
        json_decref(inputs[f]);
    }
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stats_match_independent_figures_for_every_file_and_dimension),
        cmocka_unit_test(test_stats_workflow_filter_keeps_only_that_workflow),
        cmocka_unit_test(test_stats_kind_filter_counts_only_that_kind),
        cmocka_unit_test(test_stats_table_shows_each_group_with_rates_as_percent),
        cmocka_unit_test(test_stats_narrow_terminal_prints_one_block_per_group),
        cmocka_unit_test(test_stats_rejects_unknown_dimension),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
