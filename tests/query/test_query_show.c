/*
 * test_query_show.c - `trace-query show`: the tree of a known trace (golden file), the foot
 * with outcome and DRI, the jsonl form, and its errors.
 *
 * The golden file tests/query/golden/show_swe_agent_012e39dd.txt is the table of trace
 * 012e39dda9b29f048a68039110163fb8 of swe-agent.jsonl (one prompt, five tool calls under it,
 * one diff); a change of the format changes the golden file in the same commit.
 * Ownership: each test frees what it allocates. Threading: single-threaded.
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
#include "testutil.h"

#define SWE_TRACE "012e39dda9b29f048a68039110163fb8"
#define TAU_TRACE "53e957ff0d75f79d850126ec767949e6"

/* What `show TRACE --format FORMAT` prints on store, which must succeed. */
static char *show_ok(const char *store, const char *trace, const char *format)
{
    char *out = NULL;
    assert_int_equal(
        qf_query(&out, NULL, "--store", store, "show", trace, "--format", format, NULL), 0);
    return out;
}

AT_TEST(test_show_prints_the_span_tree_of_a_known_trace)
{
    (void)state;
    char *out = show_ok(qf.swe_store, SWE_TRACE, "table");
    char *golden = tu_read_file("tests/query/golden/show_swe_agent_012e39dd.txt", NULL);
    assert_non_null(golden);
    if (strcmp(out, golden) != 0) fprintf(stderr, "got:\n%s\nwant:\n%s\n", out, golden);
    assert_string_equal(out, golden);
    free(golden);

    /* The same facts, independently of the golden file: the prompt is the root, the five
     * tool calls and the diff are its children (indented by two), in time order. */
    assert_non_null(strstr(out, "trace " SWE_TRACE ": 7 events"));
    assert_non_null(strstr(out, "DRI: arjun.mehta@example.com"));
    assert_non_null(strstr(out, "outcome: none recorded"));
    size_t n = 0;
    char **lines = qf_lines(out, &n); /* splits `out` in place */
    assert_true(n > 8);
    assert_true(strncmp(lines[1], "prompt ", 7) == 0);
    const char *tools[] = {"find_file", "open", "edit", "python3", "submit"};
    for (int i = 0; i < 5; i++) {
        assert_true(strncmp(lines[2 + i], "  tool_call ", 12) == 0);
        assert_non_null(strstr(lines[2 + i], tools[i]));
        assert_non_null(strchr(lines[2 + i], '#')); /* each ran for a while: a bar */
    }
    assert_true(strncmp(lines[7], "  diff ", 7) == 0);
    assert_non_null(strstr(lines[7], "tests/missing_colon.py"));
    assert_non_null(strstr(lines[1], "7141/243"));
    assert_non_null(strstr(lines[1], "$0.019520"));
    free(lines);
    free(out);
}

AT_TEST(test_show_foot_gives_the_outcome_and_its_dri)
{
    (void)state;
    char *out = show_ok(qf.tau_store, TAU_TRACE, "table");
    assert_non_null(strstr(out, "trace " TAU_TRACE ": 24 events"));
    assert_non_null(strstr(out, "outcome: rejected by evaluator at "));
    assert_non_null(strstr(out, "(DRI tom.becker@example.com)"));
    assert_non_null(strstr(out, "workflow: tau-airline"));
    /* tau's model calls carry no price: the cost is unknown, not $0. */
    assert_non_null(strstr(out, "; cost unknown (15 model calls without a price);"));
    free(out);
}

AT_TEST(test_show_jsonl_gives_the_trace_events_in_time_order)
{
    (void)state;
    char *out = show_ok(qf.tau_store, TAU_TRACE, "jsonl");
    size_t n = 0;
    char **lines = qf_lines(out, &n);
    assert_int_equal(n, 24);
    json_int_t prev = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_loads(lines[i], 0, NULL);
        assert_non_null(o);
        assert_string_equal(json_string_value(json_object_get(o, "trace_id")), TAU_TRACE);
        json_int_t t = json_integer_value(json_object_get(o, "time_unix_nano"));
        assert_true(t >= prev);
        prev = t;
        json_decref(o);
    }
    free(lines);
    free(out);
}

AT_TEST(test_show_unknown_trace_is_a_store_error)
{
    (void)state;
    char *err = NULL;
    int rc = qf_query(NULL, &err, "--store", qf.swe_store, "show",
                      "00000000000000000000000000000001", NULL);
    assert_int_equal(rc, 3);
    assert_non_null(strstr(err, "no trace 00000000000000000000000000000001"));
    free(err);
}

AT_TEST(test_show_malformed_id_is_a_usage_error)
{
    (void)state;
    const char *bad[] = {"xyz", "012E39DDA9B29F048A68039110163FB8", "012",
                         "012e39dda9b29f048a68039110163fb8a", ""};
    for (int i = 0; i < 5; i++) {
        char *err = NULL;
        int rc = qf_query(NULL, &err, "--store", qf.swe_store, "show", bad[i], NULL);
        assert_int_equal(rc, 2);
        assert_non_null(strstr(err, "32 lowercase hex digits"));
        free(err);
    }
    char *err = NULL;
    int rc = qf_query(NULL, &err, "--store", qf.swe_store, "show", NULL);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(err, "give its id"));
    free(err);
}

/* Into a pipe (not a terminal) show prints its table, not jsonl: `show ID | less` reads. */
AT_TEST(test_show_keeps_its_table_when_piped)
{
    (void)state;
    char *piped = NULL, *table = NULL;
    assert_int_equal(qf_query(&piped, NULL, "--store", qf.swe_store, "show", SWE_TRACE, NULL), 0);
    assert_int_equal(qf_query(&table, NULL, "--store", qf.swe_store, "show", SWE_TRACE, "--format",
                              "table", NULL),
                     0);
    assert_string_equal(piped, table);
    assert_true(strncmp(piped, "SPAN", 4) == 0);
    free(piped);
    free(table);
}

/* At 80 columns each event is one line and its STATUS is there: the failed tool call of the
 * tau trace says "error", the outcome "rejected". A prefix of the id shows the same. */
AT_TEST(test_show_at_80_columns_keeps_status_on_one_line_per_event)
{
    (void)state;
    setenv("COLUMNS", "80", 1);
    char *out = NULL, *by_prefix = NULL;
    int rc = qf_query(&out, NULL, "--store", qf.tau_store, "show", TAU_TRACE, NULL);
    int rc2 = qf_query(&by_prefix, NULL, "--store", qf.tau_store, "show", "53e957ff", NULL);
    unsetenv("COLUMNS");
    assert_int_equal(rc, 0);
    assert_int_equal(rc2, 0);
    assert_string_equal(out, by_prefix);
    size_t n = 0;
    char **lines = qf_lines(out, &n);
    assert_true(n > 25);
    const char *st = strstr(lines[0], "STATUS");
    assert_non_null(st);
    size_t scol = (size_t)(st - lines[0]);
    int errors = 0, rejected = 0;
    for (size_t i = 0; i < n; i++) {
        if (qf_columns(lines[i]) > 80 && i <= 24)
            fail_msg("line %zu is wider than 80: %s", i, lines[i]);
        if (i == 0 || i > 24) continue; /* the header; the foot after the 24 events */
        errors += strncmp(lines[i] + scol, "error ", 6) == 0;
        rejected += strncmp(lines[i] + scol, "rejected", 8) == 0;
    }
    assert_true(lines[25][0] == 0); /* 24 events, one line each, then the foot */
    assert_int_equal(errors, 1);
    assert_int_equal(rejected, 1);
    TU_FREE(lines, out, by_prefix);
}

AT_TEST_GROUP(qf_setup_all, qf_teardown);
