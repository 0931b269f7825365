/*
 * test_query_stats.c - `trace-query stats` figures equal an independent computation.
 *
 * For every shared data file and every --by dimension, the jsonl scorecard of a store built
 * from the file is compared, key by key and exactly, with figures computed from the same file
 * parsed with jansson (stats_expect.c: no code shared with query/stats_calc.c or
 * stats_fields.c); so is a store of tau.jsonl plus incident_link events (their own row: no
 * trace, DRI or coverage of a workflow changes, stats --incident counts the incident's traces).
 * Also checks the key order the docs promise, that filters narrow the groups, --sort, --top.
 * The table is tested in test_query_stats_table.c.
 * Ownership: each test frees what it allocates; the stores are removed at teardown.
 * Threading: single-threaded.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "at_test.h"
#include "query_fixture.h"
#include "stats_expect.h"
#include "testutil.h"

static const char *const dims[] = {"workflow", "dri", "model", "service", "tool", "source"};
#define NDIMS 6

AT_TEST(test_stats_match_independent_figures_for_every_file_and_dimension)
{
    (void)state;
    for (int f = 0; f < NFILES; f++)
        for (int d = 0; d < NDIMS; d++)
            check_store_dim(stores[f], inputs[f], files[f], dims[d]);
}

AT_TEST(test_stats_link_events_form_their_own_row)
{
    (void)state;
    for (int d = 0; d < NDIMS; d++)
        check_store_dim(link_store, link_inputs, "tau + links", dims[d]);
    /* The workflow keeps its 200 traces at 100% outcome coverage; the linker is no DRI. */
    char *out = stats_out(link_store, "--format", "jsonl", NULL);
    size_t nl = 0;
    char **lines = qf_lines(out, &nl);
    assert_int_equal(nl, 2);
    json_t *wf = json_loads(lines[0], 0, NULL), *links = json_loads(lines[1], 0, NULL);
    check_int(wf, "traces", 200, "tau-airline with links");
    check_rate(wf, "outcome_coverage", 1, 1, "tau-airline with links");
    assert_true(json_is_null(json_object_get(links, "group")));
    check_int(links, "events", 2, "links row");
    check_int(links, "traces", 3, "links row"); /* the traces the two links name */
    json_decref(wf);
    json_decref(links);
    free(lines);
    free(out);
    out = stats_out(link_store, "--by", "dri", "--format", "table", NULL);
    assert_null(strstr(out, "oncall@example.com"));
    assert_non_null(strstr(out, "\n(incident links) "));
    free(out);
    /* stats --incident: the incident's traces, not the link event's own trace. */
    out = stats_out(link_store, "--incident", "INC-9", "--format", "jsonl", NULL);
    lines = qf_lines(out, &nl);
    assert_int_equal(nl, 2);
    wf = json_loads(lines[0], 0, NULL);
    check_int(wf, "traces", 2, "tau-airline --incident INC-9");
    json_decref(wf);
    free(lines);
    free(out);
}

AT_TEST(test_stats_workflow_filter_keeps_only_that_workflow)
{
    (void)state;
    char *out = stats_out(stores[2], "--workflow", "tau2-retail", "--format", "jsonl", NULL);
    size_t nl = 0;
    char **lines = qf_lines(out, &nl);
    assert_int_equal(nl, 1);
    json_t *o = json_loads(lines[0], 0, NULL);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "group")), "tau2-retail");
    expected x = compute(inputs[2], "workflow");
    for (size_t k = 0; k < x.n; k++)
        if (strcmp(x.g[k].key, "tau2-retail") == 0) check_group(o, &x.g[k], "tau2 --workflow");
    free_expected(&x);
    json_decref(o);
    free(lines);
    free(out);
}

AT_TEST(test_stats_kind_filter_counts_only_that_kind)
{
    (void)state;
    char *out = stats_out(stores[1], "--kind", "outcome", "--outcome", "rejected", "--format",
                          "jsonl", NULL);
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

/* --sort FIELD orders the groups (numbers largest first, nulls last), --top N keeps N. */
AT_TEST(test_stats_sort_and_top_order_and_cut_the_groups)
{
    (void)state;
    expected x = compute(inputs[2], "tool");
    /* The independent order: errors descending, then name (the keyless group last). */
    for (size_t i = 1; i < x.n; i++)
        for (size_t j = i; j > 0; j--) {
            expect *a = &x.g[j - 1], *b = &x.g[j];
            int swap =
                a->errored < b->errored ||
                (a->errored == b->errored && (!a->key || (b->key && strcmp(a->key, b->key) > 0)));
            if (!swap) break;
            expect t = *a;
            *a = *b;
            *b = t;
        }
    char *out = stats_out(stores[2], "--by", "tool", "--sort", "tool_calls_error", "--top", "5",
                          "--format", "jsonl", NULL);
    size_t nl = 0;
    char **lines = qf_lines(out, &nl);
    assert_int_equal(nl, 5);
    for (size_t i = 0; i < nl; i++) {
        json_t *o = json_loads(lines[i], 0, NULL);
        assert_string_equal(str_at(o, "group", NULL), x.g[i].key);
        json_decref(o);
    }
    free(lines);
    free(out);
    free_expected(&x);
    /* Ascending on a figure some groups lack: those come last; a header name is accepted. */
    out = stats_out(stores[2], "--by", "model", "--sort", "LLM_P95:asc", "--format", "jsonl", NULL);
    lines = qf_lines(out, &nl);
    double prev = -1;
    int seen_null = 0;
    for (size_t i = 0; i < nl; i++) {
        json_t *o = json_loads(lines[i], 0, NULL);
        json_t *v = json_object_get(o, "llm_call_p95_ms");
        if (json_is_null(v)) {
            seen_null = 1;
        } else {
            assert_false(seen_null);
            assert_true(json_number_value(v) >= prev);
            prev = json_number_value(v);
        }
        json_decref(o);
    }
    assert_true(seen_null && prev > 0);
    free(lines);
    free(out);
    /* The group name, descending. */
    out = stats_out(stores[2], "--sort", "group:desc", "--format", "jsonl", NULL);
    lines = qf_lines(out, &nl);
    assert_int_equal(nl, 4);
    assert_non_null(strstr(lines[0], "\"tau2-telecom\""));
    assert_non_null(strstr(lines[3], "\"tau2-airline\""));
    free(lines);
    free(out);
}

AT_TEST_GROUP(stats_stores_setup, stats_stores_teardown);
