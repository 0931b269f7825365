/*
 * test_pipeline_delivery.c - end-to-end delivery through real processes:
 * trace-collector on a temp store, test-pipeline-driver services linking
 * libtraceshim, ipc:// sockets in a temp dir. Each test ends with a set
 * check of the store: every accepted event stored once, none lost.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "at_test.h"
#include "pipeline_util.h"
#include "testutil.h"

typedef struct env {
    char *dir;
    char store[512], ep[600], log[512], spool[512], out[512];
    char *driver;
} env;

static int setup(void **state)
{
    env *e = calloc(1, sizeof *e);
    e->dir = tu_tempdir("pipeline");
    snprintf(e->store, sizeof e->store, "%s/store", e->dir);
    snprintf(e->ep, sizeof e->ep, "ipc://%s/collector.sock", e->dir);
    snprintf(e->log, sizeof e->log, "%s/collector.log", e->dir);
    snprintf(e->spool, sizeof e->spool, "%s/spool", e->dir);
    snprintf(e->out, sizeof e->out, "%s/driver.out", e->dir);
    e->driver = tu_bin("test-pipeline-driver");
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    env *e = *state;
    tu_rmtree_free(e->dir);
    free(e->driver);
    free(e);
    return 0;
}

/* Starts a driver: tag, count, spool dir suffix, extra args. */
static pid_t driver_start(env *e, int tag, const char *count, const char *spool_suffix,
                          const char *out, const char *const *extra)
{
    char tagbuf[16], spool[600];
    snprintf(tagbuf, sizeof tagbuf, "%d", tag);
    snprintf(spool, sizeof spool, "%s%s", e->spool, spool_suffix);
    char *argv[40];
    int n = 0;
    argv[n++] = e->driver;
    argv[n++] = "--endpoint";
    argv[n++] = e->ep;
    argv[n++] = "--spool-dir";
    argv[n++] = spool;
    argv[n++] = "--tag";
    argv[n++] = tagbuf;
    argv[n++] = "--count";
    argv[n++] = (char *)count;
    argv[n++] = "--ack-timeout-ms";
    argv[n++] = "300";
    for (int i = 0; extra && extra[i]; i++)
        argv[n++] = (char *)extra[i];
    argv[n] = NULL;
    return pu_spawn(argv, out, NULL);
}

static void assert_store_holds_exactly(env *e, uint32_t ntags, uint64_t count)
{
    uint64_t lost = 99, dup = 99, total = 0;
    assert_int_equal(pu_set_check(e->store, ntags, count, &lost, &dup, &total), 0);
    if (lost || dup || total != ntags * count)
        fprintf(stderr, "set check: lost=%llu duplicated=%llu total=%llu expected=%llu\n",
                (unsigned long long)lost, (unsigned long long)dup, (unsigned long long)total,
                (unsigned long long)(ntags * count));
    assert_int_equal(lost, 0);
    assert_int_equal(dup, 0);
    assert_int_equal(total, ntags * count);
}

/* Stops the collector c (it must exit 0), then assert_store_holds_exactly. */
static void stop_and_expect_exactly(env *e, pid_t c, uint32_t ntags, uint64_t count)
{
    assert_int_equal(pu_kill_wait(c, SIGTERM), 0);
    assert_store_holds_exactly(e, ntags, count);
}

/* Waits for the driver d to exit 0; what it wrote to e->out (free it). */
static char *driver_output(env *e, pid_t d)
{
    assert_int_equal(pu_wait(d), 0);
    char *o = tu_read_file(e->out, NULL);
    assert_non_null(o);
    return o;
}

AT_TEST_F(test_two_services_deliver_every_event_exactly_once, setup, teardown)
{
    env *e = *state;
    pid_t c = pu_collector_start(e->store, e->ep, e->log, NULL);
    char out2[600];
    snprintf(out2, sizeof out2, "%s.2", e->out);
    pid_t d1 = driver_start(e, 1, "3000", "1", e->out, NULL);
    pid_t d2 = driver_start(e, 2, "3000", "2", out2, NULL);
    assert_int_equal(pu_wait(d1), 0);
    char *o = driver_output(e, d2);
    assert_int_equal(pu_field(o, "acked"), 3000);
    assert_int_equal(pu_field(o, "rejected"), 0);
    free(o);
    /* SIGTERM: a clean stop, exit 0, with its summary line. */
    assert_int_equal(pu_kill_wait(c, SIGTERM), 0);
    assert_true(pu_wait_for_text(e->log, "stopping:", 0));
    assert_store_holds_exactly(e, 2, 3000);
}

AT_TEST_F(test_events_spool_while_collector_down_then_arrive, setup, teardown)
{
    env *e = *state;
    pid_t d = driver_start(e, 1, "2000", "", e->out, NULL);
    pu_sleep_ms(800); /* the shim finds nobody and spools */
    pid_t c = pu_collector_start(e->store, e->ep, e->log, NULL);
    char *o = driver_output(e, d);
    assert_true(pu_field(o, "spooled") > 0);
    assert_int_equal(pu_field(o, "acked"), 2000);
    free(o);
    stop_and_expect_exactly(e, c, 1, 2000);
}

AT_TEST_F(test_service_killed_after_flush_loses_nothing, setup, teardown)
{
    env *e = *state;
    pid_t c = pu_collector_start(e->store, e->ep, e->log, NULL);
    const char *hold[] = {"--hold", NULL};
    pid_t d = driver_start(e, 1, "2000", "", e->out, hold);
    assert_true(pu_wait_for_text(e->out, "flushed", 20000));
    assert_int_equal(pu_kill_wait(d, SIGKILL), 128 + SIGKILL);
    stop_and_expect_exactly(e, c, 1, 2000);
}

AT_TEST_F(test_flush_timeout_spools_and_the_next_process_delivers, setup, teardown)
{
    env *e = *state;
    /* Collector down: flush gives up after 300 ms with everything in the spool. */
    const char *hold[] = {"--hold", "--flush-ms", "300", NULL};
    pid_t d = driver_start(e, 1, "2000", "", e->out, hold);
    assert_true(pu_wait_for_text(e->out, "flushed", 20000));
    assert_int_equal(pu_kill_wait(d, SIGKILL), 128 + SIGKILL);
    char *o = tu_read_file(e->out, NULL);
    assert_int_equal(pu_field(o, "spooled"), 2000);
    assert_int_not_equal(pu_field(o, "flush"), 0);
    free(o);
    pid_t c = pu_collector_start(e->store, e->ep, e->log, NULL);
    char out2[600];
    snprintf(out2, sizeof out2, "%s.2", e->out);
    d = driver_start(e, 1, "0", "", out2, NULL); /* same spool: replays it */
    assert_int_equal(pu_wait(d), 0);
    o = tu_read_file(out2, NULL);
    assert_int_equal(pu_field(o, "replayed"), 2000);
    free(o);
    stop_and_expect_exactly(e, c, 1, 2000);
}

AT_TEST_F(test_spool_of_service_killed_before_flush_replays_on_restart, setup, teardown)
{
    env *e = *state;
    const char *wait[] = {"--wait-spooled", NULL};
    pid_t d = driver_start(e, 1, "2000", "", e->out, wait);
    assert_true(pu_wait_for_text(e->out, "spooled", 20000));
    assert_int_equal(pu_kill_wait(d, SIGKILL), 128 + SIGKILL); /* inside flush */
    pid_t c = pu_collector_start(e->store, e->ep, e->log, NULL);
    char out2[600];
    snprintf(out2, sizeof out2, "%s.2", e->out);
    d = driver_start(e, 1, "0", "", out2, NULL);
    assert_int_equal(pu_wait(d), 0);
    stop_and_expect_exactly(e, c, 1, 2000);
}

AT_TEST_F(test_emit_stays_fast_and_spools_while_collector_stopped, setup, teardown)
{
    env *e = *state;
    pid_t c = pu_collector_start(e->store, e->ep, e->log, NULL);
    kill(c, SIGSTOP);
    const char *args[] = {"--wait-spooled", "--queue", "4096", NULL};
    pid_t d = driver_start(e, 1, "20000", "", e->out, args);
    assert_true(pu_wait_for_text(e->out, "spooled", 30000));
    kill(c, SIGCONT);
    char *o = driver_output(e, d);
    long long p99 = pu_field(o, "emit_p99_ns"), max = pu_field(o, "emit_max_ns");
    fprintf(stderr, "emit while the collector is stopped: p99 %lld ns, max %lld ns\n", p99, max);
    /* Bounded: 99 % of calls far below the 300 ms ack timeout a network wait would
     * cost; the slowest call only bounded loosely (the scheduler of a loaded machine). */
    assert_true(p99 >= 0 && p99 < 5000000);
    assert_true(max < 1000000000);
    assert_true(pu_field(o, "spooled") > 0);
    assert_int_equal(pu_field(o, "dropped"), 0);
    free(o);
    stop_and_expect_exactly(e, c, 1, 20000);
}

AT_TEST_F(test_second_collector_on_the_same_store_is_refused, setup, teardown)
{
    env *e = *state;
    pid_t a = pu_collector_start(e->store, e->ep, e->log, NULL);
    char ep2[700], log2[600];
    snprintf(ep2, sizeof ep2, "%s.2", e->ep);
    snprintf(log2, sizeof log2, "%s.2", e->log);
    pid_t b = pu_collector_start(e->store, ep2, log2, NULL);
    assert_int_equal(pu_wait(b), 3);
    assert_true(pu_wait_for_text(log2, "held by another collector", 0));
    assert_int_equal(pu_kill_wait(a, SIGTERM), 0);
}

AT_TEST_F(test_full_store_makes_shims_spool_and_all_arrive_once_space_returns, setup, teardown)
{
    env *e = *state;
    const char *small[] = {"--map-size-max", "2M", NULL};
    pid_t c = pu_collector_start(e->store, e->ep, e->log, small);
    /* ~6 MB of poorly compressible notes into a 2 MiB map: RETRY, then spool. */
    const char *args[] = {"--note-bytes", "2000", "--flush-ms", "120000", NULL};
    pid_t d = driver_start(e, 1, "3000", "", e->out, args);
    assert_true(pu_wait_for_text(e->log, "full", 60000));
    pu_sleep_ms(1500); /* more RETRY answers: batches go to the spool */
    /* It answered RETRY, it did not crash: a clean stop. */
    assert_int_equal(pu_kill_wait(c, SIGTERM), 0);
    /* Space returns (no limit): the shim, still flushing, delivers everything. */
    c = pu_collector_start(e->store, e->ep, e->log, NULL);
    char *o = driver_output(e, d);
    assert_true(pu_field(o, "spooled") > 0);
    assert_int_equal(pu_field(o, "dropped"), 0);
    free(o);
    stop_and_expect_exactly(e, c, 1, 3000);
}

AT_TEST_F(test_large_events_are_split_into_batches_under_the_size_limit, setup, teardown)
{
    env *e = *state;
    /* Collector and shim both limit a framed batch to 1 MiB. 60 events of ~65 KB (3.9 MB)
     * with up to 60 events per batch: one batch by count would be over the limit and
     * REJECTED by the collector, so the shim must cut batches by size, not only by count.
     * (Small data: the same rule at 16 MiB costs minutes under ASan.) */
    const char *cargs[] = {"--max-batch-bytes", "1M", NULL};
    pid_t c = pu_collector_start(e->store, e->ep, e->log, cargs);
    const char *args[] = {"--note-bytes", "65000",      "--batch", "60", "--batch-max-bytes",
                          "1048576",      "--flush-ms", "60000",   NULL};
    pid_t d = driver_start(e, 1, "60", "", e->out, args);
    char *o = driver_output(e, d);
    assert_int_equal(pu_field(o, "acked"), 60);
    assert_int_equal(pu_field(o, "rejected"), 0);
    free(o);
    assert_false(pu_wait_for_text(e->log, "batch rejected", 0));
    stop_and_expect_exactly(e, c, 1, 60);
}

AT_TEST_F(test_spooled_large_events_replay_in_batches_under_the_size_limit, setup, teardown)
{
    env *e = *state;
    /* Collector down: 60 events of ~65 KB (3.9 MB) go to the spool. Then a collector with a
     * 1 MiB batch limit starts and the next process replays the spool: replayed batches
     * must be cut by size as well, or the collector refuses them on every replay. */
    const char *first[] = {"--note-bytes", "65000",      "--batch", "60", "--batch-max-bytes",
                           "1048576",      "--flush-ms", "300",     NULL};
    pid_t d = driver_start(e, 1, "60", "", e->out, first);
    assert_int_equal(pu_wait(d), 3); /* flush timed out: all of it spooled */
    char *o = tu_read_file(e->out, NULL);
    assert_int_equal(pu_field(o, "spooled"), 60);
    free(o);
    const char *cargs[] = {"--max-batch-bytes", "1M", NULL};
    pid_t c = pu_collector_start(e->store, e->ep, e->log, cargs);
    char out2[600];
    snprintf(out2, sizeof out2, "%s.2", e->out);
    const char *second[] = {"--batch", "60", "--batch-max-bytes", "1048576", "--flush-ms",
                            "60000",   NULL};
    d = driver_start(e, 1, "0", "", out2, second); /* same spool: replays it */
    assert_int_equal(pu_wait(d), 0);
    o = tu_read_file(out2, NULL);
    assert_int_equal(pu_field(o, "replayed"), 60);
    free(o);
    assert_false(pu_wait_for_text(e->log, "batch rejected", 0));
    stop_and_expect_exactly(e, c, 1, 60);
}
