/*
 * test_trace_shim_send.c - the trace-shim command in send mode, as users run
 * it: against a real trace-collector on ipc:// in a temp dir. Exit status
 * 0/1/3, the summary line, the same rejection messages as --dry-run, the
 * spool carried to the next run, and --follow.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "at_test.h"
#include "pipeline_util.h"
#include "testutil.h"

typedef pu_shim_env env;

static int setup(void **state)
{
    *state = pu_shim_env_new("shimsend");
    return 0;
}

static int teardown(void **state)
{
    pu_shim_env *e = *state;
    pu_shim_env_free(&e);
    return 0;
}

static const char *line_fmt =
    "{\"event_id\":\"%032x\",\"kind\":\"note\",\"workflow\":\"shim-send\","
    "\"dri\":\"dri@example.com\",\"note\":\"line %d\"}\n";

/* n valid lines, numbered from first; line `bad` (1-based, 0: none) lacks dri. */
static void write_lines(const char *path, int first, int n, int bad, const char *mode)
{
    FILE *f = fopen(path, mode);
    assert_non_null(f);
    for (int i = 0; i < n; i++) {
        if (i + 1 == bad)
            fprintf(f, "{\"kind\":\"note\",\"workflow\":\"shim-send\",\"note\":\"no dri\"}\n");
        else
            fprintf(f, line_fmt, first + i + 1, first + i);
    }
    fclose(f);
}

static int run_shim(env *e, const char *input, const char *timeout, char **err)
{
    return pu_shim_run(e, input, timeout, err);
}

static uint64_t stored(env *e)
{
    return pu_store_total(e->store);
}

/* Runs trace-shim on input: it exits want_rc and its stderr holds says (and also, if
 * not NULL, says_too). */
static void expect_shim_says(env *e, const char *input, const char *timeout, int want_rc,
                             const char *says, const char *says_too)
{
    char *err = NULL;
    assert_int_equal(run_shim(e, input, timeout, &err), want_rc);
    assert_non_null(strstr(err, says));
    if (says_too) assert_non_null(strstr(err, says_too));
    free(err);
}

/* Stops the collector c (it must exit 0) and checks the store holds n events. */
static void stop_and_expect_stored(env *e, pid_t c, uint64_t n)
{
    assert_int_equal(pu_kill_wait(c, SIGTERM), 0);
    assert_int_equal(stored(e), n);
}

AT_TEST_F(test_send_acks_every_line_and_exits_0, setup, teardown)
{
    env *e = *state;
    pid_t c = pu_collector_start(e->store, e->ep, e->log, NULL);
    write_lines(e->input, 0, 500, 0, "w");
    expect_shim_says(e, e->input, "30", 0, "sent 500, acked 500, rejected 0, spooled ", NULL);
    stop_and_expect_stored(e, c, 500);
}

AT_TEST_F(test_send_names_bad_lines_as_dry_run_does_and_exits_1, setup, teardown)
{
    env *e = *state;
    pid_t c = pu_collector_start(e->store, e->ep, e->log, NULL);
    write_lines(e->input, 0, 20, 7, "w");
    char *err = NULL, *dry_err = NULL;
    assert_int_equal(run_shim(e, e->input, "30", &err), 1);
    char *argv[] = {e->shim, "--dry-run", e->input, NULL};
    assert_int_equal(tu_run(argv, NULL, NULL, NULL, &dry_err), 1);
    /* The rejection line of --dry-run, word for word, in the send output. */
    char *nl = strchr(dry_err, '\n');
    assert_non_null(nl);
    *nl = 0;
    assert_non_null(strstr(dry_err, ":7: "));
    assert_non_null(strstr(err, dry_err));
    assert_non_null(strstr(err, "acked 19, rejected 1"));
    free(err);
    free(dry_err);
    stop_and_expect_stored(e, c, 19);
}

AT_TEST_F(test_send_without_collector_exits_3_and_next_run_delivers, setup, teardown)
{
    env *e = *state;
    write_lines(e->input, 0, 300, 0, "w");
    expect_shim_says(e, e->input, "1", 3, "spooled 300", "waits in");
    pid_t c = pu_collector_start(e->store, e->ep, e->log, NULL);
    expect_shim_says(e, "/dev/null", "30", 0, "acked 300", NULL); /* the spool goes first */
    stop_and_expect_stored(e, c, 300);
}

AT_TEST_F(test_follow_ships_lines_appended_to_a_growing_file, setup, teardown)
{
    env *e = *state;
    pid_t c = pu_collector_start(e->store, e->ep, e->log, NULL);
    write_lines(e->input, 0, 10, 0, "w");
    char *argv[] = {e->shim,  "--endpoint", e->ep,    "--spool-dir",
                    e->spool, "--follow",   e->input, NULL};
    pid_t s = pu_spawn(argv, NULL, e->err);
    for (int round = 1; round <= 3; round++) {
        pu_sleep_ms(300);
        write_lines(e->input, round * 10, 10, 0, "a");
    }
    /* Wait until all 40 are stored, then stop the follower. */
    for (int i = 0; i < 400 && stored(e) < 40; i++)
        pu_sleep_ms(50);
    assert_int_equal(pu_kill_wait(s, SIGTERM), 0);
    assert_true(pu_wait_for_text(e->err, "sent 40, acked 40", 0));
    stop_and_expect_stored(e, c, 40);
}

/* On a terminal a big file shows how far the sending is, one line redrawn in place; a
 * message (a rejected line) erases it first and starts on a clean line; into a pipe
 * nothing of it is written. */
AT_TEST_F(test_send_shows_progress_only_on_a_terminal, setup, teardown)
{
    env *e = *state;
    if (access("/usr/bin/script", X_OK) != 0) skip(); /* util-linux: the pty runner */
    pid_t c = pu_collector_start(e->store, e->ep, e->log, NULL);
    write_lines(e->input, 0, 3000, 2900, "w");
    char *err = NULL;
    assert_int_equal(run_shim(e, e->input, "30", &err), 1);
    assert_null(strchr(err, '\r'));
    assert_null(strstr(err, "sent 256 events"));
    free(err);
    write_lines(e->input, 5000, 3000, 2900, "w");
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s --endpoint %s --spool-dir %s --timeout 30 %s", e->shim, e->ep,
             e->spool, e->input);
    char *argv[] = {"/usr/bin/script", "-qec", cmd, "/dev/null", NULL};
    char *tty = NULL;
    assert_int_equal(tu_run(argv, NULL, &tty, NULL, NULL), 1); /* one line rejected */
    assert_non_null(strstr(tty, "\rtrace-shim: sent 256 events"));
    const char *bad = strstr(tty, ":2900: dri:");
    if (!bad) fail_msg("no rejection message: %s", tty);
    const char *start = bad;
    while (start > tty && start[-1] != '\r' && start[-1] != '\n')
        start--;
    if (strncmp(start, e->input, strlen(e->input)) != 0)
        fail_msg("the rejection is glued to the progress line: %.*s", (int)(bad - start) + 20,
                 start);
    const char *summary = strstr(tty, "trace-shim: sent 2999, acked 2999");
    if (!summary) fail_msg("no summary line: %s", tty);
    assert_true(summary[-1] == '\r' || summary[-1] == '\n');
    free(tty);
    stop_and_expect_stored(e, c, 5998);
}
