/*
 * test_query_find_traces.c - `trace-query find --traces`: one row per trace whose events
 * match, each summarised over all of its events (events, tool errors, outcome, start,
 * duration, DRI), every trace on exactly one page, and the table at 80 columns.
 *
 * Expected figures are computed here from the input file parsed with jansson.
 * Ownership: each test frees what it allocates; the store is removed at teardown.
 * Threading: single-threaded.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "at_test.h"
#include "query_fixture.h"
#include "testutil.h"

static const char *str_at(json_t *o, const char *a, const char *b)
{
    json_t *v = json_object_get(o, a);
    if (v && b) v = json_object_get(v, b);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Per trace id: {events, tool_errors, start, end, outcome, has_error} from the input. */
static json_t *expected_traces(void)
{
    json_t *by = json_object();
    size_t i;
    json_t *ev;
    json_array_foreach(qf.tau, i, ev)
    {
        const char *tid = str_at(ev, "trace_id", NULL);
        json_t *t = json_object_get(by, tid);
        json_int_t at = json_integer_value(json_object_get(ev, "time_unix_nano"));
        json_int_t end = at + json_integer_value(json_object_get(ev, "duration_nano"));
        if (!t) {
            t = json_pack("{sI sI sI sI sn}", "events", (json_int_t)0, "tool_errors", (json_int_t)0,
                          "start", at, "end", end, "outcome");
            json_object_set_new(by, tid, t);
        }
        json_object_set_new(t, "events",
                            json_integer(json_integer_value(json_object_get(t, "events")) + 1));
        const char *st = str_at(ev, "tool_call", "status");
        if (st && strcmp(st, "error") == 0)
            json_object_set_new(
                t, "tool_errors",
                json_integer(json_integer_value(json_object_get(t, "tool_errors")) + 1));
        if (at < json_integer_value(json_object_get(t, "start")))
            json_object_set_new(t, "start", json_integer(at));
        if (end > json_integer_value(json_object_get(t, "end")))
            json_object_set_new(t, "end", json_integer(end));
        const char *d = str_at(ev, "outcome", "decision");
        if (d) json_object_set_new(t, "outcome", json_string(d));
    }
    return by;
}

/* Checks each jsonl line of `out` against the expected figures; each trace once. Returns
 * the number of lines and adds the ids to `seen`. */
static size_t check_lines(char *out, json_t *want, json_t *seen)
{
    size_t n = 0;
    char **lines = qf_lines(out, &n);
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_loads(lines[i], 0, NULL);
        assert_non_null(o);
        const char *tid = str_at(o, "trace_id", NULL);
        json_t *w = json_object_get(want, tid);
        if (!w) fail_msg("trace %s is not expected: %s", tid, lines[i]);
        if (json_object_get(seen, tid)) fail_msg("trace %s listed twice", tid);
        json_object_set_new(seen, tid, json_true());
        const char *keys[] = {"events", "tool_errors"};
        for (int k = 0; k < 2; k++)
            assert_int_equal(json_integer_value(json_object_get(o, keys[k])),
                             json_integer_value(json_object_get(w, keys[k])));
        json_int_t start = json_integer_value(json_object_get(w, "start"));
        assert_int_equal(json_integer_value(json_object_get(o, "start_unix_nano")), start);
        assert_int_equal(json_integer_value(json_object_get(o, "duration_nano")),
                         json_integer_value(json_object_get(w, "end")) - start);
        json_t *oc = json_object_get(w, "outcome");
        if (json_is_string(oc))
            assert_string_equal(str_at(o, "outcome", NULL), json_string_value(oc));
        else
            assert_true(json_is_null(json_object_get(o, "outcome")));
        assert_non_null(str_at(o, "workflow", NULL));
        assert_non_null(str_at(o, "dri", NULL));
        json_decref(o);
    }
    free(lines);
    return n;
}

AT_TEST(test_find_traces_lists_each_trace_once_with_its_figures)
{
    (void)state;
    json_t *want = expected_traces();
    char *out = NULL;
    int rc = qf_query(&out, NULL, "--store", qf.tau_store, "find", "--traces", "--format", "jsonl",
                      NULL);
    assert_int_equal(rc, 0);
    json_t *seen = json_object();
    assert_int_equal(check_lines(out, want, seen), json_object_size(want));
    json_decref(seen);
    json_decref(want);
    free(out);
}

/* With a filter, the traces that have a matching event, still summarised over all their
 * events; paged by 7, every such trace on exactly one page. */
AT_TEST(test_find_traces_pages_by_trace_with_a_filter)
{
    (void)state;
    json_t *want = expected_traces(), *with_errors = json_object();
    const char *tid;
    json_t *t;
    json_object_foreach(want, tid, t)
    {
        if (json_integer_value(json_object_get(t, "tool_errors")) > 0)
            json_object_set(with_errors, tid, t);
    }
    assert_true(json_object_size(with_errors) > 7);
    json_t *seen = json_object();
    char cursor[128] = "";
    int pages = 0;
    for (;;) {
        char *out = NULL, *err = NULL;
        int rc =
            cursor[0]
                ? qf_query(&out, &err, "--store", qf.tau_store, "find", "--traces", "--status",
                           "error", "--limit", "7", "--after", cursor, "--format", "jsonl", NULL)
                : qf_query(&out, &err, "--store", qf.tau_store, "find", "--traces", "--status",
                           "error", "--limit", "7", "--format", "jsonl", NULL);
        assert_int_equal(rc, 0);
        pages++;
        size_t n = check_lines(out, with_errors, seen);
        int more = qf_next_cursor(err, cursor, sizeof cursor);
        if (more) assert_int_equal(n, 7);
        free(out);
        free(err);
        if (!more) break;
        assert_true(pages < 1000);
    }
    assert_int_equal(json_object_size(seen), json_object_size(with_errors));
    assert_int_equal(pages, (int)(json_object_size(with_errors) + 6) / 7);
    json_decref(seen);
    json_decref(with_errors);
    json_decref(want);
}

/* At 80 columns: one line per trace, the outcome and the errors always there. */
AT_TEST(test_find_traces_table_fits_80_columns)
{
    (void)state;
    setenv("COLUMNS", "80", 1);
    char *out = NULL;
    int rc = qf_query(&out, NULL, "--store", qf.tau_store, "find", "--traces", "--format", "table",
                      "--limit", "30", NULL);
    unsetenv("COLUMNS");
    assert_int_equal(rc, 0);
    size_t n = 0;
    char **lines = qf_lines(out, &n);
    assert_int_equal(n, 1 + 30 + 1); /* header, 30 traces, the next-page line */
    assert_true(strncmp(lines[0], "TRACE", 5) == 0);
    assert_non_null(strstr(lines[0], "OUTCOME"));
    assert_non_null(strstr(lines[0], "ERRORS"));
    assert_non_null(strstr(lines[0], "WORKFLOW"));
    for (size_t i = 0; i < n; i++)
        if (qf_columns(lines[i]) > 80) fail_msg("line %zu is wider than 80: %s", i, lines[i]);
    assert_non_null(strstr(lines[31], "30 traces shown; next page: --after "));
    free(lines);
    free(out);
}

AT_TEST_GROUP(qf_setup_tau, qf_teardown);
