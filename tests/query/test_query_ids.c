/*
 * test_query_ids.c - short trace ids: tables show each trace id by its shortest prefix that
 * no other stored trace shares (8 digits at least), and every command that takes a trace id
 * (show, find --trace, stats --trace, link --trace) takes such a prefix; an ambiguous one is
 * a usage error that lists the candidates, an unknown one a store error.
 *
 * The store is written here: four traces, two of them sharing their first 10 digits.
 * Ownership: each test frees what it allocates; the store is removed at teardown.
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
#include "testutil.h"

#define TRACE_A "abcdef0123400000000000000000000a" /* shares 10 digits with B: 11 shown */
#define TRACE_B "abcdef0123500000000000000000000b"
#define TRACE_C "abcdef99000000000000000000000001" /* shares 6 with A and B: 8 shown */
#define TRACE_D "12345678900000000000000000000001"

static char *dir, *store;

static void write_events(const char *path)
{
    const char *traces[] = {TRACE_A, TRACE_B, TRACE_C, TRACE_D};
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int t = 0; t < 4; t++)
        for (int e = 0; e < 2; e++)
            fprintf(f,
                    "{\"event_id\":\"%02d%02d0000000000000000000000000000\",\"trace_id\":\"%s\","
                    "\"span_id\":\"%02d%02d000000000000\",\"time_unix_nano\":%d000000000,"
                    "\"kind\":\"tool_call\",\"workflow\":\"wf-ids\",\"dri\":\"d@example.com\","
                    "\"tool_call\":{\"name\":\"bash\",\"status\":\"%s\"}}\n",
                    t + 1, e + 1, traces[t], t + 1, e + 1, 1717236000 + t * 10 + e,
                    t == 0 ? "error" : "ok");
    fclose(f);
}

/* The TRACE cell of every row of a table (first column or after TIME). */
static void assert_trace_cells(char *out, size_t col, const char *const *want, size_t n_want)
{
    size_t n = 0;
    char **lines = qf_lines(out, &n);
    assert_int_equal(n, 1 + n_want);
    for (size_t i = 0; i < n_want; i++) {
        const char *cell = lines[1 + i] + col;
        size_t len = strcspn(cell, " ");
        if (len != strlen(want[i]) || strncmp(cell, want[i], len) != 0)
            fail_msg("row %zu: TRACE is '%.*s', want '%s'", i, (int)len, cell, want[i]);
    }
    free(lines);
}

AT_TEST(test_tables_show_the_shortest_unique_prefix)
{
    (void)state;
    char *out = NULL;
    int rc = qf_query(&out, NULL, "--store", store, "find", "--format", "table", NULL);
    assert_int_equal(rc, 0);
    const char *events[] = {"abcdef01234", "abcdef01234", "abcdef01235", "abcdef01235",
                            "abcdef99",    "abcdef99",    "12345678",    "12345678"};
    size_t col = (size_t)(strstr(out, "TRACE") - out);
    assert_trace_cells(out, col, events, 8);
    free(out);
    rc = qf_query(&out, NULL, "--store", store, "find", "--traces", "--format", "table", NULL);
    assert_int_equal(rc, 0);
    const char *traces[] = {"abcdef01234", "abcdef01235", "abcdef99", "12345678"};
    assert_trace_cells(out, 0, traces, 4);
    free(out);
    /* jsonl keeps full ids. */
    rc = qf_query(&out, NULL, "--store", store, "find", "--traces", "--format", "jsonl", NULL);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "\"trace_id\":\"" TRACE_A "\""));
    free(out);
}

AT_TEST(test_a_unique_prefix_is_taken_where_a_trace_id_is)
{
    (void)state;
    char *out = NULL;
    int rc = qf_query(&out, NULL, "--store", store, "show", "abcdef01234", NULL);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "trace " TRACE_A ": 2 events"));
    free(out);
    rc = qf_query(&out, NULL, "--store", store, "find", "--trace", "abcdef99", "--format", "jsonl",
                  NULL);
    assert_int_equal(rc, 0);
    size_t n = 0;
    char **lines = qf_lines(out, &n);
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++)
        assert_non_null(strstr(lines[i], "\"trace_id\":\"" TRACE_C "\""));
    free(lines);
    free(out);
    rc = qf_query(&out, NULL, "--store", store, "stats", "--trace", "1234", "--format", "jsonl",
                  NULL);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "\"events\":2,"));
    free(out);
}

AT_TEST(test_an_ambiguous_prefix_lists_the_candidates)
{
    (void)state;
    char *err = NULL;
    int rc = qf_query(NULL, &err, "--store", store, "show", "abcdef", NULL);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(err, "abcdef is the start of 3 trace ids; give more digits"));
    assert_non_null(strstr(err, "  " TRACE_A "  2024-06-01 10:00:00.000 UTC  wf-ids"));
    assert_non_null(strstr(err, "  " TRACE_B "  "));
    assert_non_null(strstr(err, "  " TRACE_C "  "));
    free(err);
    rc = qf_query(NULL, &err, "--store", store, "find", "--trace", "abcdef0123", NULL);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(err, "abcdef0123 is the start of 2 trace ids"));
    assert_null(strstr(err, TRACE_C));
    free(err);
    /* link resolves its --trace before it sends anything (no collector is running). */
    rc = qf_query(NULL, &err, "--store", store, "link", "--incident", "INC-1", "--reason", "r",
                  "--trace", "abcdef", "--collector", "ipc:///nonexistent/socket", NULL);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(err, "abcdef is the start of 3 trace ids"));
    free(err);
}

AT_TEST(test_an_unknown_or_too_short_prefix_is_refused)
{
    (void)state;
    char *err = NULL;
    int rc = qf_query(NULL, &err, "--store", store, "show", "ffff0000", NULL);
    assert_int_equal(rc, 3);
    assert_non_null(strstr(err, "begins with ffff0000"));
    free(err);
    rc = qf_query(NULL, &err, "--store", store, "find", "--trace", "abc", NULL);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(err, "a unique prefix of at least 4"));
    free(err);
}

/* A streamed table (more than 256 rows) fixes its TRACE width from its first rows (8); a
 * later trace that needs 13 digits is shown whole, and its row keeps the width and the
 * WORKFLOW column where the header has it. */
AT_TEST(test_a_streamed_table_never_cuts_a_later_longer_id)
{
    (void)state;
    char path[4200];
    snprintf(path, sizeof path, "%s/stream.jsonl", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    const char *late[] = {"e0e0e0e0e0e0a0000000000000000001", "e0e0e0e0e0e0b0000000000000000002"};
    for (int i = 0; i < 302; i++)
        fprintf(f,
                "{\"event_id\":\"%032x\",\"trace_id\":\"%s\",\"span_id\":\"%016x\","
                "\"time_unix_nano\":%d000000000,\"kind\":\"tool_call\",\"workflow\":"
                "\"wf-stream\",\"dri\":\"d@example.com\",\"tool_call\":{\"name\":\"bash\","
                "\"status\":\"ok\"}}\n",
                i + 1, i < 300 ? "77777777000000000000000000000001" : late[i - 300], i + 1,
                1717236000 + i);
    fclose(f);
    char *st = qf_build_store_path(path);
    setenv("COLUMNS", "100", 1);
    char *out = NULL;
    int rc = qf_query(&out, NULL, "--store", st, "find", "--format", "table", NULL);
    unsetenv("COLUMNS");
    assert_int_equal(rc, 0);
    size_t n = 0;
    char **lines = qf_lines(out, &n);
    assert_int_equal(n, 1 + 302);
    size_t tcol = (size_t)(strstr(lines[0], "TRACE") - lines[0]);
    size_t wcol = (size_t)(strstr(lines[0], "WORKFLOW") - lines[0]);
    assert_true(strncmp(lines[1] + tcol, "77777777 ", 9) == 0);
    for (int k = 0; k < 2; k++) {
        const char *row = lines[301 + k];
        if (strncmp(row + tcol, late[k], 13) != 0 || row[tcol + 13] != ' ')
            fail_msg("row of %s: %s", late[k], row);
        assert_true(strncmp(row + wcol, "wf-stream", 9) == 0);
        assert_true(qf_columns(row) <= 100);
    }
    free(lines);
    free(out);
    tu_rmtree_free(st);
}

static int setup(void **state)
{
    (void)state;
    unsetenv("COLUMNS");
    dir = tu_tempdir("qids");
    char path[4200];
    snprintf(path, sizeof path, "%s/events.jsonl", dir);
    write_events(path);
    store = qf_build_store_path(path);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tu_rmtree_free(store);
    tu_rmtree_free(dir);
    return 0;
}

AT_TEST_GROUP(setup, teardown);
