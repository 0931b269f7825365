/*
 * test_query_find.c - `trace-query find`: exact result sets, time order, paging, windows,
 * the jsonl form and the table form (also streamed past its window, and at 80 columns: one
 * line per row, STATUS kept), the --status and --error-text filters, against stores built
 * from the shared sample data.
 *
 * Expected sets are computed here from the input files parsed with jansson.
 * Ownership: each test frees what it allocates; stores are removed at teardown.
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
#include <time.h>

#include "at_test.h"
#include "query_fixture.h"
#include "testutil.h"

static const char *str_at(json_t *o, const char *a, const char *b)
{
    json_t *v = json_object_get(o, a);
    if (v && b) v = json_object_get(v, b);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Event ids of the input events for which `match` holds, as a set (object id -> true). */
typedef int (*match_fn)(json_t *ev, const void *arg);
static json_t *expected_ids(json_t *events, match_fn match, const void *arg)
{
    json_t *set = json_object();
    size_t i;
    json_t *ev;
    json_array_foreach(events, i, ev)
    {
        if (match(ev, arg)) json_object_set_new(set, str_at(ev, "event_id", NULL), json_true());
    }
    return set;
}

static int match_workflow(json_t *ev, const void *arg)
{
    return strcmp(str_at(ev, "workflow", NULL), arg) == 0;
}

static int match_all(json_t *ev, const void *arg)
{
    (void)ev;
    (void)arg;
    return 1;
}

static int match_tool(json_t *ev, const void *arg)
{
    const char *t = str_at(ev, "tool_call", "name");
    return t && strcmp(t, arg) == 0;
}

typedef struct window {
    json_int_t since, until;
} window;

static int match_window(json_t *ev, const void *arg)
{
    const window *w = arg;
    json_int_t t = json_integer_value(json_object_get(ev, "time_unix_nano"));
    return t >= w->since && t < w->until;
}

/* Checks that jsonl `out` holds exactly the events of `want` (each once), in time order,
 * each with its `stored` stamps. Consumes `out`'s text. */
static void check_jsonl_set(char *out, json_t *want, const char *ctx)
{
    size_t n = 0;
    char **lines = qf_lines(out, &n);
    if (n != json_object_size(want))
        fprintf(stderr, "%s: want %zu events, got %zu\n", ctx, json_object_size(want), n);
    assert_int_equal(n, json_object_size(want));
    json_t *seen = json_object();
    json_int_t prev = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_loads(lines[i], 0, NULL);
        assert_non_null(o);
        const char *id = str_at(o, "event_id", NULL);
        assert_non_null(id);
        assert_non_null(json_object_get(want, id));
        assert_null(json_object_get(seen, id));
        json_object_set_new(seen, id, json_true());
        json_int_t t = json_integer_value(json_object_get(o, "time_unix_nano"));
        assert_true(t >= prev);
        prev = t;
        assert_non_null(json_object_get(json_object_get(o, "stored"), "log_index"));
        json_decref(o);
    }
    json_decref(seen);
    free(lines);
}

AT_TEST(test_find_by_workflow_returns_exactly_that_workflow_in_time_order)
{
    (void)state;
    const char *wfs[] = {"swe-agent-marshmallow", "swe-agent-ctf-crypto", "swe-agent-test-repo"};
    for (int k = 0; k < 3; k++) {
        char *out = NULL;
        int rc = qf_query(&out, NULL, "--store", qf.swe_store, "find", "--workflow", wfs[k],
                          "--format", "jsonl", NULL);
        assert_int_equal(rc, 0);
        json_t *want = expected_ids(qf.swe, match_workflow, wfs[k]);
        assert_true(json_object_size(want) > 0);
        check_jsonl_set(out, want, wfs[k]);
        json_decref(want);
        free(out);
    }
}

AT_TEST(test_find_without_filters_returns_every_event)
{
    (void)state;
    char *out = NULL;
    int rc = qf_query(&out, NULL, "--store", qf.tau_store, "find", NULL);
    assert_int_equal(rc, 0); /* not a terminal: jsonl, no limit */
    json_t *want = expected_ids(qf.tau, match_all, NULL);
    check_jsonl_set(out, want, "tau all");
    json_decref(want);
    free(out);
}

AT_TEST(test_find_by_tool_and_kind_returns_exact_tool_calls)
{
    (void)state;
    char *out = NULL;
    int rc = qf_query(&out, NULL, "--store", qf.tau_store, "find", "--kind", "tool_call", "--tool",
                      "book_reservation", "--format", "jsonl", NULL);
    assert_int_equal(rc, 0);
    json_t *want = expected_ids(qf.tau, match_tool, "book_reservation");
    assert_true(json_object_size(want) > 0);
    check_jsonl_set(out, want, "tau --tool book_reservation");
    json_decref(want);
    free(out);
}

/* Pages through `args` with --limit `page` and --after, collecting every line. */
static char *page_through(const char *store, const char *limit, const char *filter_opt,
                          const char *filter_val, int *pages)
{
    size_t cap = 1 << 20, len = 0;
    char *all = malloc(cap);
    assert_non_null(all);
    all[0] = 0;
    char cursor[128] = "";
    *pages = 0;
    for (;;) {
        char *out = NULL, *err = NULL;
        int rc;
        const char *fo = filter_opt ? filter_opt : "--format";
        const char *fv = filter_opt ? filter_val : "jsonl";
        if (cursor[0])
            rc = qf_query(&out, &err, "--store", store, "find", fo, fv, "--limit", limit,
                          "--format", "jsonl", "--after", cursor, NULL);
        else
            rc = qf_query(&out, &err, "--store", store, "find", fo, fv, "--limit", limit,
                          "--format", "jsonl", NULL);
        assert_int_equal(rc, 0);
        (*pages)++;
        size_t n = strlen(out);
        while (len + n + 1 > cap) {
            cap *= 2;
            all = realloc(all, cap);
            assert_non_null(all);
        }
        memcpy(all + len, out, n + 1);
        len += n;
        int more = qf_next_cursor(err, cursor, sizeof cursor);
        free(out);
        free(err);
        if (!more) break;
        assert_true(*pages < 10000);
    }
    return all;
}

AT_TEST(test_find_pages_return_every_event_once)
{
    (void)state;
    int pages = 0;
    char *all = page_through(qf.tau_store, "500", NULL, NULL, &pages);
    assert_int_equal(pages, (3818 + 499) / 500); /* the last page says no more */
    json_t *want = expected_ids(qf.tau, match_all, NULL);
    check_jsonl_set(all, want, "tau paged by 500");
    json_decref(want);
    free(all);

    /* Through the workflow index too, with a page size that does not divide the count. */
    all = page_through(qf.swe_store, "7", "--workflow", "swe-agent-marshmallow", &pages);
    want = expected_ids(qf.swe, match_workflow, "swe-agent-marshmallow");
    assert_int_equal(pages, (int)((json_object_size(want) + 6) / 7));
    check_jsonl_set(all, want, "marshmallow paged by 7");
    json_decref(want);
    free(all);
}

AT_TEST(test_find_time_window_is_half_open_in_rfc3339)
{
    (void)state;
    /* The window between the times of tau's 101st and 901st events, in RFC 3339. */
    json_int_t a =
        json_integer_value(json_object_get(json_array_get(qf.tau, 100), "time_unix_nano"));
    json_int_t b =
        json_integer_value(json_object_get(json_array_get(qf.tau, 900), "time_unix_nano"));
    window w = {a < b ? a : b, a < b ? b : a};
    assert_true(w.since < w.until);
    char since[64], until[64];
    time_t s1 = (time_t)(w.since / 1000000000), s2 = (time_t)(w.until / 1000000000);
    struct tm t1, t2;
    gmtime_r(&s1, &t1);
    gmtime_r(&s2, &t2);
    snprintf(since, sizeof since, "%04d-%02d-%02dT%02d:%02d:%02d.%09lldZ", t1.tm_year + 1900,
             t1.tm_mon + 1, t1.tm_mday, t1.tm_hour, t1.tm_min, t1.tm_sec,
             (long long)(w.since % 1000000000));
    snprintf(until, sizeof until, "%04d-%02d-%02dT%02d:%02d:%02d.%09lldZ", t2.tm_year + 1900,
             t2.tm_mon + 1, t2.tm_mday, t2.tm_hour, t2.tm_min, t2.tm_sec,
             (long long)(w.until % 1000000000));
    char *out = NULL;
    int rc = qf_query(&out, NULL, "--store", qf.tau_store, "find", "--since", since, "--until",
                      until, "--format", "jsonl", NULL);
    assert_int_equal(rc, 0);
    json_t *want = expected_ids(qf.tau, match_window, &w);
    assert_true(json_object_size(want) > 0);
    check_jsonl_set(out, want, "tau window");
    json_decref(want);
    free(out);
}

AT_TEST(test_find_relative_since_counts_back_from_now)
{
    (void)state;
    /* The sample data is from 2024: nothing in the last hour, everything in 1000 weeks. */
    char *out = NULL;
    int rc = qf_query(&out, NULL, "--store", qf.swe_store, "find", "--since", "1h", "--format",
                      "jsonl", NULL);
    assert_int_equal(rc, 0);
    assert_string_equal(out, "");
    free(out);
    rc = qf_query(&out, NULL, "--store", qf.swe_store, "find", "--since", "1000w", "--format",
                  "jsonl", NULL);
    assert_int_equal(rc, 0);
    json_t *want = expected_ids(qf.swe, match_all, NULL);
    check_jsonl_set(out, want, "swe since 1000w");
    json_decref(want);
    free(out);
}

AT_TEST(test_find_jsonl_round_trips_the_input_event)
{
    (void)state;
    /* A tool call carries no prompt text, so its stored JSON is the input line plus the
     * `stored` stamps at the end: canonical output of canonical input. */
    char *path = tu_shared("data/swe-agent.jsonl");
    char *text = tu_read_file(path, NULL);
    assert_non_null(text);
    size_t n = 0;
    char **in = qf_lines(text, &n);
    int checked = 0;
    for (size_t i = 0; i < n && checked < 5; i++) {
        if (!strstr(in[i], "\"kind\":\"tool_call\"")) continue;
        json_t *o = json_loads(in[i], 0, NULL);
        char tid[33];
        snprintf(tid, sizeof tid, "%s", str_at(o, "trace_id", NULL));
        const char *eid = str_at(o, "event_id", NULL);
        char *out = NULL;
        int rc = qf_query(&out, NULL, "--store", qf.swe_store, "find", "--trace", tid, "--kind",
                          "tool_call", "--format", "jsonl", NULL);
        assert_int_equal(rc, 0);
        size_t m = 0;
        char **lines = qf_lines(out, &m);
        int found = 0;
        for (size_t k = 0; k < m; k++) {
            if (!strstr(lines[k], eid)) continue;
            char *st = strstr(lines[k], ",\"stored\":{");
            assert_non_null(st);
            *st = 0;
            /* The output without `stored` is the input without its closing brace. */
            assert_int_equal(strlen(lines[k]), strlen(in[i]) - 1);
            assert_memory_equal(lines[k], in[i], strlen(lines[k]));
            found = 1;
        }
        assert_true(found);
        free(lines);
        free(out);
        json_decref(o);
        checked++;
    }
    assert_int_equal(checked, 5);
    TU_FREE(in, text, path);
}

AT_TEST(test_find_jsonl_feeds_back_into_trace_shim_dry_run)
{
    (void)state;
    /* EVENTS.md: find --format jsonl, fed back through trace-shim --dry-run, prints identical
     * lines apart from `stored`. */
    char *out = NULL;
    int rc = qf_query(&out, NULL, "--store", qf.swe_store, "find", "--format", "jsonl", NULL);
    assert_int_equal(rc, 0);
    char *dir = tu_tempdir("qshim");
    char path[4200];
    snprintf(path, sizeof path, "%s/found.jsonl", dir);
    assert_int_equal(tu_write_file(path, out, strlen(out)), 0);
    char *shim = tu_bin("trace-shim");
    char *argv[] = {shim, "--dry-run", path, NULL};
    char *again = NULL, *err = NULL;
    rc = tu_run(argv, NULL, &again, NULL, &err);
    if (rc != 0) fprintf(stderr, "trace-shim --dry-run: %s\n", err);
    assert_int_equal(rc, 0);
    size_t n = 0, m = 0;
    char **found = qf_lines(out, &n);
    char **shimmed = qf_lines(again, &m);
    assert_int_equal(n, 266);
    assert_int_equal(m, n);
    for (size_t i = 0; i < n; i++) {
        char *st = strstr(found[i], ",\"stored\":{");
        assert_non_null(st);
        st[0] = '}';
        st[1] = 0;
        assert_string_equal(shimmed[i], found[i]);
    }
    TU_FREE(found, shimmed, again, err, shim, out);
    tu_rmtree_free(dir);
}

AT_TEST(test_find_uses_the_index_of_the_most_selective_filter)
{
    (void)state;
    struct {
        const char *opt, *val, *index;
    } cases[] = {
        {"--trace", "012e39dda9b29f048a68039110163fb8", "trace"},
        {"--workflow", "swe-agent-test-repo", "workflow"},
        {"--dri", "arjun.mehta@example.com", "dri"},
        {"--incident", "INC-1", "incident"},
        {"--kind", "diff", "time"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *err = NULL;
        int rc = qf_query(NULL, &err, "--store", qf.swe_store, "find", cases[i].opt, cases[i].val,
                          "--explain", "--format", "jsonl", NULL);
        assert_int_equal(rc, 0);
        char want[64];
        snprintf(want, sizeof want, "index: %s\n", cases[i].index);
        if (!strstr(err, want)) fprintf(stderr, "%s: want %s got %s\n", cases[i].opt, want, err);
        assert_non_null(strstr(err, want));
        free(err);
    }
}

AT_TEST(test_find_table_aligns_columns_and_fits_the_width)
{
    (void)state;
    setenv("COLUMNS", "120", 1);
    char *out = NULL;
    int rc = qf_query(&out, NULL, "--store", qf.swe_store, "find", "--workflow",
                      "swe-agent-test-repo", "--format", "table", NULL);
    unsetenv("COLUMNS");
    assert_int_equal(rc, 0);
    size_t n = 0;
    char **lines = qf_lines(out, &n);
    assert_int_equal(n, 1 + 14); /* header + the 14 events of the workflow */
    assert_true(strncmp(lines[0], "TIME", 4) == 0);
    const char *kind = strstr(lines[0], "KIND");
    const char *trace = strstr(lines[0], "TRACE");
    assert_non_null(kind);
    assert_non_null(trace);
    size_t kcol = (size_t)(kind - lines[0]), tcol = (size_t)(trace - lines[0]);
    for (size_t i = 0; i < n; i++) {
        assert_true(strlen(lines[i]) <= 120);
        if (i == 0) continue;
        /* Every row has a short trace id (8 hex at least) and a kind name where the headers
         * say. */
        assert_true(strspn(lines[i] + tcol, "0123456789abcdef") >= 8);
        assert_true(lines[i][tcol + strspn(lines[i] + tcol, "0123456789abcdef")] == ' ');
        assert_true(strncmp(lines[i] + kcol, "prompt", 6) == 0 ||
                    strncmp(lines[i] + kcol, "tool_call", 9) == 0 ||
                    strncmp(lines[i] + kcol, "diff", 4) == 0);
    }
    free(lines);
    free(out);
}

AT_TEST(test_find_table_ends_with_the_next_page_cursor)
{
    (void)state;
    char *out = NULL;
    int rc = qf_query(&out, NULL, "--store", qf.swe_store, "find", "--limit", "10", "--format",
                      "table", NULL);
    assert_int_equal(rc, 0);
    size_t n = 0;
    char **lines = qf_lines(out, &n);
    assert_int_equal(n, 1 + 10 + 1);
    const char *after = strstr(lines[11], "--after ");
    assert_non_null(after);
    char cursor[128];
    snprintf(cursor, sizeof cursor, "%s", after + 8);
    free(lines);
    free(out);
    /* The cursor resumes at the 11th event: the next 10 jsonl events start there. */
    rc = qf_query(&out, NULL, "--store", qf.swe_store, "find", "--limit", "256", "--after", cursor,
                  "--format", "jsonl", NULL);
    assert_int_equal(rc, 0);
    lines = qf_lines(out, &n);
    assert_int_equal(n, 266 - 10);
    free(lines);
    free(out);
}

/* A table longer than its window (256 rows) streams with the layout of its first rows: every
 * event is there once, in order, each row's trace id and kind where the header says, and
 * every line fits the width. */
AT_TEST(test_find_table_streams_every_row_across_the_window)
{
    (void)state;
    char *js = NULL;
    assert_int_equal(
        qf_query(&js, NULL, "--store", qf.tau_store, "find", "--format", "jsonl", NULL), 0);
    size_t n = 0;
    char **jl = qf_lines(js, &n);
    assert_true(n > 1000);
    for (int narrow = 0; narrow < 2; narrow++) {
        if (narrow) setenv("COLUMNS", "100", 1);
        char *out = NULL;
        int rc = qf_query(&out, NULL, "--store", qf.tau_store, "find", "--format", "table", NULL);
        unsetenv("COLUMNS");
        assert_int_equal(rc, 0);
        size_t m = 0;
        char **lines = qf_lines(out, &m);
        assert_int_equal(m, 1 + n);
        size_t tcol = (size_t)(strstr(lines[0], "TRACE") - lines[0]);
        size_t kcol = (size_t)(strstr(lines[0], "KIND") - lines[0]);
        for (size_t i = 0; i < n; i++) {
            json_t *o = json_loads(jl[i], 0, NULL);
            assert_non_null(o);
            const char *row = lines[1 + i];
            if (narrow) assert_true(qf_columns(row) <= 100);
            size_t idlen = strspn(row + tcol, "0123456789abcdef");
            assert_true(idlen >= 8 && row[tcol + idlen] == ' ');
            assert_memory_equal(row + tcol, str_at(o, "trace_id", NULL), idlen);
            const char *kind = str_at(o, "kind", NULL);
            assert_memory_equal(row + kcol, kind, strlen(kind));
            assert_true(row[kcol + strlen(kind)] == ' ');
            json_decref(o);
        }
        free(lines);
        free(out);
    }
    free(jl);
    free(js);
}

static int match_status_error(json_t *ev, const void *arg)
{
    (void)arg;
    const char *st = str_at(ev, "tool_call", "status");
    return st && strcmp(st, "error") == 0;
}

static int match_error_text(json_t *ev, const void *arg)
{
    const char *e = str_at(ev, "tool_call", "error");
    return e && strstr(e, arg) != NULL;
}

/* --status and --error-text select tool calls by their status and by text in their error,
 * exactly (computed from the input with jansson), through the time index and a workflow
 * index alike; they contradict another --kind. */
AT_TEST(test_find_filters_tool_calls_by_status_and_error_text)
{
    (void)state;
    char *out = NULL, *err = NULL;
    int rc = qf_query(&out, NULL, "--store", qf.tau_store, "find", "--status", "error", "--format",
                      "jsonl", NULL);
    assert_int_equal(rc, 0);
    json_t *want = expected_ids(qf.tau, match_status_error, NULL);
    assert_true(json_object_size(want) > 5);
    check_jsonl_set(out, want, "tau --status error");
    json_decref(want);
    free(out);

    rc = qf_query(&out, NULL, "--store", qf.tau_store, "find", "--workflow", "tau-airline",
                  "--error-text", "payment", "--format", "jsonl", NULL);
    assert_int_equal(rc, 0);
    want = expected_ids(qf.tau, match_error_text, "payment");
    assert_true(json_object_size(want) > 0);
    check_jsonl_set(out, want, "tau --error-text payment");
    json_decref(want);
    free(out);

    rc = qf_query(&out, NULL, "--store", qf.tau_store, "find", "--status", "blocked",
                  "--error-text", "no such text in any error", "--format", "jsonl", NULL);
    assert_int_equal(rc, 0);
    assert_string_equal(out, "");
    free(out);

    rc = qf_query(NULL, &err, "--store", qf.tau_store, "find", "--status", "error", "--kind",
                  "prompt", NULL);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(err, "--kind prompt would match nothing"));
    free(err);
    rc = qf_query(NULL, &err, "--store", qf.tau_store, "find", "--status", "failed", NULL);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(err, "expected ok, error or blocked"));
    free(err);
}

/* At 80 columns every row of find is one line that shows the trace (short id), the kind and
 * the status: a failed tool call says "error", an outcome its decision. */
AT_TEST(test_find_table_at_80_columns_is_one_line_per_row_with_status)
{
    (void)state;
    const char *stores[] = {qf.swe_store, qf.tau_store};
    json_t *data[] = {qf.swe, qf.tau};
    for (int k = 0; k < 2; k++) {
        setenv("COLUMNS", "80", 1);
        char *out = NULL;
        int rc = qf_query(&out, NULL, "--store", stores[k], "find", "--format", "table", NULL);
        unsetenv("COLUMNS");
        assert_int_equal(rc, 0);
        size_t n = 0;
        char **lines = qf_lines(out, &n);
        assert_int_equal(n, 1 + json_array_size(data[k])); /* one line per event */
        const char *st = strstr(lines[0], "STATUS");
        assert_non_null(st);
        size_t scol = (size_t)(st - lines[0]);
        for (size_t i = 0; i < n; i++) {
            if (qf_columns(lines[i]) > 80) fail_msg("line %zu is wider than 80: %s", i, lines[i]);
            if (i == 0) continue;
            json_t *ev = json_array_get(data[k], i - 1);
            const char *want = str_at(ev, "tool_call", "status");
            if (!want) want = str_at(ev, "outcome", "decision");
            if (want && strncmp(lines[i] + scol, want, strlen(want)) != 0)
                fail_msg("row %zu: STATUS should say %s: %s", i, want, lines[i]);
        }
        free(lines);
        free(out);
    }
}

AT_TEST_GROUP(qf_setup_all, qf_teardown);
