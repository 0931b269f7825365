/*
 * test_query_errors.c - every error path of trace-query gives the documented exit code
 * (2 usage, 3 store or I/O) and a message that says what to do; --help works everywhere.
 *
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

/* Runs trace-query; checks the exit code and that stderr contains `needle`. */
static void expect_error(int code, const char *needle, ...)
{
    char *out = NULL, *err = NULL;
    va_list ap;
    va_start(ap, needle);
    int rc = tu_run_va("trace-query", NULL, &out, NULL, &err, ap);
    va_end(ap);
    if (rc != code || !strstr(err, needle))
        fprintf(stderr, "trace-query: want exit %d and \"%s\", got exit %d and: %s\n", code, needle,
                rc, err);
    assert_int_equal(rc, code);
    assert_non_null(strstr(err, needle));
    assert_string_equal(out, "");
    TU_FREE(out, err);
}

AT_TEST(test_missing_store_says_how_to_make_one)
{
    (void)state;
    char *dir = tu_tempdir("nostore");
    char missing[4200], msg[9000];
    snprintf(missing, sizeof missing, "%s/none", dir);
    snprintf(msg, sizeof msg, "no store at %s: start trace-collector --store %s or pass --store",
             missing, missing);
    expect_error(3, msg, "--store", missing, "find", NULL);
    expect_error(3, msg, "--store", missing, "stats", NULL);
    expect_error(3, msg, "--store", missing, "show", "012e39dda9b29f048a68039110163fb8", NULL);
    /* A directory that is not a store is no store either. */
    char msg2[9000];
    snprintf(msg2, sizeof msg2, "no store at %s: start trace-collector --store %s or pass --store",
             dir, dir);
    expect_error(3, msg2, "--store", dir, "stats", NULL);
    /* The store also comes from AGENTTRAIL_STORE. */
    setenv("AGENTTRAIL_STORE", missing, 1);
    expect_error(3, msg, "find", NULL);
    unsetenv("AGENTTRAIL_STORE");
    tu_rmtree_free(dir);
}

AT_TEST(test_store_from_environment_is_used)
{
    (void)state;
    setenv("AGENTTRAIL_STORE", qf.swe_store, 1);
    char *out = NULL;
    int rc = qf_query(&out, NULL, "find", "--workflow", "swe-agent-test-repo", NULL);
    unsetenv("AGENTTRAIL_STORE");
    assert_int_equal(rc, 0);
    size_t n = 0;
    char **lines = qf_lines(out, &n);
    assert_int_equal(n, 14);
    free(lines);
    free(out);
}

AT_TEST(test_usage_errors_exit_2_and_name_the_problem)
{
    (void)state;
    expect_error(2, "unknown command 'fnd'", "--store", qf.swe_store, "fnd", NULL);
    expect_error(2, "no command given", "--store", qf.swe_store, NULL);
    expect_error(2, "unknown global option '--stor'", "--stor", qf.swe_store, "find", NULL);
    expect_error(2, "--store is a global option: it goes before the command", "show",
                 "012e39dda9b29f048a68039110163fb8", "--store", qf.swe_store, NULL);
    expect_error(2, "--store needs a directory", "--store", NULL);
    expect_error(2, "unknown option '--workflw'", "--store", qf.swe_store, "find", "--workflw", "x",
                 NULL);
    expect_error(2, "unknown option '-w'", "--store", qf.swe_store, "find", "-w", "x", NULL);
    expect_error(2, "--workflow needs a value", "--store", qf.swe_store, "find", "--workflow",
                 NULL);
    expect_error(2, "--since 'yesterday'", "--store", qf.swe_store, "find", "--since", "yesterday",
                 NULL);
    expect_error(2, "--until '2024-13-01T00:00:00Z'", "--store", qf.swe_store, "stats", "--until",
                 "2024-13-01T00:00:00Z", NULL);
    expect_error(2, "--since '5x'", "--store", qf.swe_store, "find", "--since", "5x", NULL);
    expect_error(2, "--since must be before --until", "--store", qf.swe_store, "find", "--since",
                 "1h", "--until", "2h", NULL);
    expect_error(2, "--kind 'tool'", "--store", qf.swe_store, "find", "--kind", "tool", NULL);
    expect_error(2, "--outcome 'ok'", "--store", qf.swe_store, "find", "--outcome", "ok", NULL);
    expect_error(2, "--trace 'abc'", "--store", qf.swe_store, "find", "--trace", "abc", NULL);
    expect_error(2, "--limit '0'", "--store", qf.swe_store, "find", "--limit", "0", NULL);
    expect_error(2, "--limit '-5'", "--store", qf.swe_store, "find", "--limit", "-5", NULL);
    expect_error(2, "--format 'csv'", "--store", qf.swe_store, "find", "--format", "csv", NULL);
    expect_error(2, "unexpected argument 'extra'", "--store", qf.swe_store, "find", "extra", NULL);
    expect_error(2, "--after 'nonsense'", "--store", qf.swe_store, "find", "--after", "nonsense",
                 NULL);
    expect_error(2, "not a trace id", "--store", qf.swe_store, "show", "not-hex", NULL);
    expect_error(2, "--explain takes no value", "--store", qf.swe_store, "find", "--explain=yes",
                 NULL);
}

AT_TEST(test_help_on_every_command_shows_usage_options_and_examples)
{
    (void)state;
    const char *cmds[] = {"find", "show", "stats", "link"};
    for (int i = 0; i < 4; i++) {
        char *out = NULL;
        int rc = qf_query(&out, NULL, cmds[i], "--help", NULL);
        assert_int_equal(rc, 0);
        assert_non_null(strstr(out, "usage: trace-query"));
        assert_non_null(strstr(out, "examples:"));
        assert_non_null(strstr(out, "options:"));
        assert_non_null(strstr(out, i == 3 ? "--incident ID" : "--format FMT"));
        free(out);
        /* `trace-query help CMD` is the same text. */
        char *out2 = NULL;
        rc = qf_query(&out2, NULL, "help", cmds[i], NULL);
        assert_int_equal(rc, 0);
        qf_query(&out, NULL, cmds[i], "--help", NULL);
        assert_string_equal(out, out2);
        free(out);
        free(out2);
    }
    char *out = NULL;
    assert_int_equal(qf_query(&out, NULL, "--help", NULL), 0);
    assert_non_null(strstr(out, "commands:"));
    assert_non_null(strstr(out, "  find "));
    assert_non_null(
        strstr(out, "exit codes: 0 success, 1 nothing matched to act on (export), 2 usage error,"));
    free(out);
    assert_int_equal(qf_query(&out, NULL, "--version", NULL), 0);
    assert_true(strncmp(out, "trace-query ", 12) == 0);
    free(out);
}

/* A command whose output cannot be written (stdout on /dev/full) exits 3 and says so. */
static void expect_full_output(const char *const *args, const char *needle)
{
    char script[9000], *bin = tu_bin("trace-query");
    int n = snprintf(script, sizeof script, "exec '%s' --store '%s'", bin, qf.swe_store);
    for (size_t i = 0; args[i]; i++)
        n += snprintf(script + n, sizeof script - (size_t)n, " '%s'", args[i]);
    snprintf(script + n, sizeof script - (size_t)n, " > /dev/full");
    char *argv[] = {"/bin/sh", "-c", script, NULL}, *err = NULL;
    int rc = tu_run(argv, NULL, NULL, NULL, &err);
    if (rc != 3 || !strstr(err, needle))
        fprintf(stderr, "%s: want exit 3 and \"%s\", got exit %d and: %s\n", args[0], needle, rc,
                err);
    assert_int_equal(rc, 3);
    assert_non_null(strstr(err, needle));
    free(err);
    free(bin);
}

AT_TEST(test_output_that_cannot_be_written_exits_3_and_says_so)
{
    (void)state;
    const char *find[] = {"find", "--format", "jsonl", NULL};
    expect_full_output(find,
                       "trace-query find: cannot write the results (output closed or disk full)");
    const char *show[] = {"show", "012e39dda9b29f048a68039110163fb8", NULL};
    expect_full_output(show,
                       "trace-query show: cannot write the output (output closed or disk full)");
    const char *stats[] = {"stats", "--format", "jsonl", NULL};
    expect_full_output(stats,
                       "trace-query stats: cannot write the output (output closed or disk full)");
}

AT_TEST_GROUP(qf_setup_swe, qf_teardown);
