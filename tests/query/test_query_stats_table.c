/*
 * test_query_stats_table.c - the table of `trace-query stats`, for people at 80 columns.
 *
 * On stores built from the shared data (and tau.jsonl plus incident_link events): the
 * default columns give one line per group within 80 columns for every file and --by;
 * --columns picks columns; a cost is "unknown" or a lower bound ("+") when LLM calls are
 * unpriced; durations below 1 ms keep their precision (checked cell by cell against the
 * independent computation of stats_expect.c and the format docs/trace-query.md gives);
 * --columns all prints blocks on a narrow terminal; bad options are usage errors that say
 * what to use.
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

/* The whitespace-separated words of a table line, in place (group names hold no space). */
static size_t words(char *line, char **w, size_t max)
{
    size_t n = 0;
    for (char *t = strtok(line, " "); t && n < max; t = strtok(NULL, " "))
        w[n++] = t;
    return n;
}

/* A duration as docs/trace-query.md says the table prints it (below one minute). */
static void want_duration(long long ns, char *buf, size_t len)
{
    if (ns < 1000) {
        snprintf(buf, len, "%lldns", ns);
        return;
    }
    if (ns >= 1000000000LL) {
        long long ms = ns / 1000000;
        snprintf(buf, len, "%lld.%02llds", ms / 1000, ms % 1000 / 10);
        return;
    }
    long long div = ns < 1000000 ? 1000 : 1000000;
    const char *unit = ns < 1000000 ? "us" : "ms";
    long long hundredths = ns * 100 / div;
    if (hundredths >= 10000)
        snprintf(buf, len, "%lld%s", hundredths / 100, unit);
    else if (hundredths >= 1000)
        snprintf(buf, len, "%lld.%lld%s", hundredths / 100, hundredths / 10 % 10, unit);
    else
        snprintf(buf, len, "%lld.%02lld%s", hundredths / 100, hundredths % 100, unit);
}

/* At 80 columns the default table has one line per group (and the links row) for every file
 * and dimension, none wider than 80. */
AT_TEST(test_stats_default_table_is_one_line_per_group_within_80_columns)
{
    (void)state;
    setenv("COLUMNS", "80", 1);
    for (int f = 0; f <= NFILES; f++) {
        const char *store = f < NFILES ? stores[f] : link_store;
        json_t *events = f < NFILES ? inputs[f] : link_inputs;
        for (int d = 0; d < NDIMS; d++) {
            char *out = stats_out(store, "--by", dims[d], "--format", "table", NULL);
            expected x = compute(events, dims[d]);
            size_t nl = 0;
            char **lines = qf_lines(out, &nl);
            if (nl != x.n + 1)
                fprintf(stderr, "%s --by %s:\n%s\n", files[f % NFILES], dims[d], out);
            assert_int_equal(nl, x.n + 1);
            assert_true(strncmp(lines[0], "GROUP ", 6) == 0);
            for (size_t k = 0; k < nl; k++) {
                if (qf_columns(lines[k]) > 80) fprintf(stderr, "too wide: %s\n", lines[k]);
                assert_true(qf_columns(lines[k]) <= 80);
            }
            free(lines);
            free_expected(&x);
            free(out);
        }
    }
    unsetenv("COLUMNS");
}

AT_TEST(test_stats_table_shows_each_group_with_rates_as_percent)
{
    (void)state;
    char *out = stats_out(stores[2], "--format", "table", NULL);
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
    /* Columns line up: every line has its TRACES column ending at the same place, and so
     * does the last column (right-aligned numbers). */
    const char *tr = strstr(lines[0], "TRACES");
    size_t end = (size_t)(tr - lines[0]) + strlen("TRACES");
    for (size_t k = 1; k < nl; k++) {
        assert_true(strlen(lines[k]) > end);
        assert_true(lines[k][end - 1] >= '0' && lines[k][end - 1] <= '9');
        assert_true(lines[k][end] == ' ');
        assert_int_equal(strlen(lines[k]), strlen(lines[0]));
    }
    free(lines);
    free(out);
}

/* --columns picks the columns (GROUP first) in the order given. */
AT_TEST(test_stats_columns_choose_the_table_columns)
{
    (void)state;
    char *out =
        stats_out(stores[2], "--columns", "cost_usd,traces,UNPRICED", "--format", "table", NULL);
    size_t nl = 0;
    char **lines = qf_lines(out, &nl);
    char *w[8];
    assert_int_equal(words(lines[0], w, 8), 4);
    assert_string_equal(w[0], "GROUP");
    assert_string_equal(w[1], "COST");
    assert_string_equal(w[2], "TRACES");
    assert_string_equal(w[3], "UNPRICED");
    free(lines);
    free(out);
}

/* Checks one table row: its two cells against the independent row; counts what it saw. */
typedef void (*row_check)(const expect *e, char *const cells[2], size_t counts[2]);

/* tau2's `stats --by DIM --columns COLS` (two columns) as a table: every row checked. */
static void check_tau2_table(const char *dim, const char *cols, row_check check, size_t counts[2])
{
    char *out = stats_out(stores[2], "--by", dim, "--columns", cols, "--format", "table", NULL);
    assert_null(strstr(out, " 0ms"));
    expected x = compute(inputs[2], dim);
    size_t nl = 0;
    char **lines = qf_lines(out, &nl);
    assert_int_equal(nl, x.n + 1);
    for (size_t k = 1; k < nl; k++) {
        char *w[4];
        assert_int_equal(words(lines[k], w, 4), 3);
        const expect *e = expected_named(&x, w[0]);
        if (!e) fprintf(stderr, "--by %s: unexpected row %s\n", dim, w[0]);
        assert_non_null(e);
        check(e, w + 1, counts);
    }
    free(lines);
    free(out);
    free_expected(&x);
}

/* COST and UNPRICED: "unknown" with no priced call, a lower bound "+" with some unpriced. */
static void check_cost_cells(const expect *e, char *const c[2], size_t counts[2])
{
    assert_int_equal(strtoll(c[1], NULL, 10), e->unpriced);
    size_t cl = strlen(c[0]);
    if (e->unpriced && !e->priced) {
        assert_string_equal(c[0], "unknown");
        counts[0]++;
    } else if (e->unpriced) {
        assert_true(c[0][0] == '$' && c[0][cl - 1] == '+');
        counts[1]++;
    } else {
        assert_true(c[0][0] == '$' && c[0][cl - 1] != '+');
    }
}

/* TOOL_P50 and TOOL_P95 as the docs give their format. */
static void check_duration_cells(const expect *e, char *const c[2], size_t counts[2])
{
    for (int p = 0; p < 2; p++) {
        char want[32] = "-";
        if (e->d[TOOL].n) want_duration(percentile(&e->d[TOOL], p ? 95 : 50), want, sizeof want);
        if (strcmp(c[p], want) != 0)
            fprintf(stderr, "%s p%d: want %s, got %s\n", e->key, p ? 95 : 50, want, c[p]);
        assert_string_equal(c[p], want);
        if (strstr(want, "us") || strstr(want, "ns")) counts[0]++;
    }
}

/* A cost is "unknown" when no LLM call of the group is priced, a lower bound ("+") when some
 * are not; tau.jsonl has no usage at all, so its cost is unknown, never $0. */
AT_TEST(test_stats_unpriced_calls_make_the_cost_unknown_or_a_lower_bound)
{
    (void)state;
    size_t counts[2] = {0, 0}; /* unknown, lower bound */
    check_tau2_table("model", "cost_usd,unpriced_calls", check_cost_cells, counts);
    assert_true(counts[0] > 0 && counts[1] > 0);
    char *out = stats_out(stores[1], "--format", "table", NULL);
    assert_non_null(strstr(out, "unknown"));
    assert_null(strstr(out, "$0"));
    free(out);
}

/* Tool calls take microseconds: their percentiles print below 1 ms, never "0ms". */
AT_TEST(test_stats_durations_below_a_millisecond_keep_their_precision)
{
    (void)state;
    size_t counts[2] = {0, 0}; /* cells below 1 ms */
    check_tau2_table("tool", "tool_call_p50_ms,tool_call_p95_ms", check_duration_cells, counts);
    assert_true(counts[0] > 10);
}

AT_TEST(test_stats_columns_all_on_a_narrow_terminal_prints_one_block_per_group)
{
    (void)state;
    setenv("COLUMNS", "80", 1);
    char *out = stats_out(stores[1], "--columns", "all", "--format", "table", NULL);
    unsetenv("COLUMNS");
    assert_non_null(strstr(out, "workflow tau-airline\n"));
    assert_non_null(strstr(out, "  outcomes 200: accepted "));
    assert_non_null(strstr(out, "; cost unknown, unpriced LLM calls 2454\n"));
    size_t nl = 0;
    char **lines = qf_lines(out, &nl);
    for (size_t k = 0; k < nl; k++)
        assert_true(strlen(lines[k]) <= 80);
    free(lines);
    free(out);
}

/* Every column the error message names (the field table) is listed in stats --help. */
static void check_help_lists_every_column(const char *err)
{
    char *help = stats_out(stores[0], "--help", NULL);
    const char *list = strstr(err, "columns are: ");
    assert_non_null(list);
    char *names = strdup(list + strlen("columns are: "));
    assert_non_null(names);
    size_t n = 0;
    for (char *t = strtok(names, ", \n"); t; t = strtok(NULL, ", \n")) {
        if (strcmp(t, "or") == 0 || strcmp(t, "all") == 0 || strcmp(t, "group") == 0) continue;
        char word[64];
        snprintf(word, sizeof word, " %s", t);
        if (!strstr(help, word)) fprintf(stderr, "stats --help does not list %s\n", t);
        assert_non_null(strstr(help, word));
        n++;
    }
    assert_true(n >= 20);
    free(names);
    free(help);
}

/* --status and --error-text (shared with find) narrow the scorecard to those tool calls: with
 * --status error every tool row's calls are all errors, and their count is the input's. */
AT_TEST(test_stats_takes_the_tool_call_filters_of_find)
{
    (void)state;
    for (int f = 0; f < NFILES; f++) {
        size_t want = 0;
        json_t *ev;
        size_t i;
        json_array_foreach(inputs[f], i, ev)
        {
            json_t *tc = json_object_get(ev, "tool_call");
            const char *st = json_string_value(json_object_get(tc, "status"));
            want += st && strcmp(st, "error") == 0;
        }
        char *out =
            stats_out(stores[f], "--by", "tool", "--status", "error", "--format", "jsonl", NULL);
        size_t got = 0;
        for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
            json_t *o = json_loads(line, 0, NULL);
            assert_non_null(o);
            json_int_t calls =
                json_integer_value(json_object_get(json_object_get(o, "by_kind"), "tool_call"));
            json_int_t errs = json_integer_value(json_object_get(o, "tool_calls_error"));
            if (calls != errs) fail_msg("%s: %s", files[f], line);
            got += (size_t)errs;
            json_decref(o);
        }
        if (got != want)
            fail_msg("%s: %zu errored tool calls, the input has %zu", files[f], got, want);
        free(out);
    }
}

AT_TEST(test_stats_rejects_bad_options_with_what_to_use)
{
    (void)state;
    static const struct {
        const char *opt, *val, *msg;
    } cases[] = {
        {"--by", "colour", "--by 'colour'"},
        {"--sort", "colour", "--sort 'colour': unknown field; fields are: group, events"},
        {"--sort", "traces:up", "the direction is :asc or :desc"},
        {"--top", "0", "--top '0': expected a positive number"},
        {"--top", "3x", "--top '3x'"},
        {"--columns", "traces,,colour", "unknown column ''"},
        {"--columns", "traces,colour", "unknown column 'colour'; columns are: group"},
        {"--columns", "by_kind", "unknown column 'by_kind'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *err = NULL;
        int rc =
            qf_query(NULL, &err, "--store", stores[0], "stats", cases[i].opt, cases[i].val, NULL);
        if (rc != 2 || !strstr(err, cases[i].msg))
            fprintf(stderr, "%s %s: exit %d: %s", cases[i].opt, cases[i].val, rc, err);
        assert_int_equal(rc, 2);
        assert_non_null(strstr(err, cases[i].msg));
        if (strstr(err, "columns are: ")) check_help_lists_every_column(err);
        free(err);
    }
}

AT_TEST_GROUP(stats_stores_setup, stats_stores_teardown);
