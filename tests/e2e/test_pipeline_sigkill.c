/*
 * test_pipeline_sigkill.c - the collector is SIGKILLed at random moments
 * while several services stream; it is restarted each time. Once the
 * services flushed, a Jepsen-style set check over the store: every event
 * they accepted is stored, none lost, none twice. Real processes, real
 * sockets (ipc:// and tcp:// on 127.0.0.1), a real LMDB store.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "at_test.h"
#include "pipeline_util.h"
#include "testutil.h"

static int driver_running(pid_t pid, int *status)
{
    int st;
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid) {
        *status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        return 0;
    }
    return 1;
}

/* Streams `ndrivers` x `count` events at `rate` each while killing the
 * collector at least `kills` times; returns the kills done. */
static int stream_through_kills(const char *endpoint, int ndrivers, const char *count,
                                const char *rate, int kills, const char *const *collector_args)
{
    char *dir = tu_tempdir("sigkill");
    char store[512], log[512];
    snprintf(store, sizeof store, "%s/store", dir);
    snprintf(log, sizeof log, "%s/collector.log", dir);
    char *driver = tu_bin("test-pipeline-driver");
    pid_t c = pu_collector_start(store, endpoint, log, collector_args);
    pid_t d[8];
    int status[8], done[8] = {0};
    char out[8][600];
    for (int i = 0; i < ndrivers; i++) {
        char tag[16], spool[600];
        snprintf(tag, sizeof tag, "%d", i + 1);
        snprintf(spool, sizeof spool, "%s/spool%d", dir, i);
        snprintf(out[i], sizeof out[i], "%s/driver%d.out", dir, i);
        char *argv[] = {
            driver, "--endpoint", (char *)endpoint, "--spool-dir", spool,        "--tag",
            tag,    "--count",    (char *)count,    "--rate",      (char *)rate, "--ack-timeout-ms",
            "250",  "--flush-ms", "60000",          NULL};
        d[i] = pu_spawn(argv, out[i], NULL);
    }
    srand(12345);
    int k = 0, running = ndrivers;
    while (running > 0) {
        pu_sleep_ms(60 + rand() % 240);
        if (k < kills) {
            assert_int_equal(pu_kill_wait(c, SIGKILL), 128 + SIGKILL);
            k++;
            if (rand() % 3 == 0) pu_sleep_ms(rand() % 400); /* down for a while */
            c = pu_collector_start(store, endpoint, log, collector_args);
        }
        running = 0;
        for (int i = 0; i < ndrivers; i++) {
            if (!done[i] && !driver_running(d[i], &status[i])) done[i] = 1;
            running += !done[i];
        }
    }
    assert_int_equal(pu_kill_wait(c, SIGTERM), 0);
    uint64_t expect = 0;
    for (int i = 0; i < ndrivers; i++) {
        char *o = tu_read_file(out[i], NULL);
        fprintf(stderr, "driver %d: exit %d: %s", i + 1, status[i], o ? o : "(no output)\n");
        assert_int_equal(status[i], 0);
        expect += (uint64_t)pu_field(o, "emitted");
        free(o);
    }
    uint64_t lost = 99, dup = 99, total = 0;
    char *endp = NULL;
    uint64_t n = strtoull(count, &endp, 10);
    assert_int_equal(pu_set_check(store, (uint32_t)ndrivers, n, &lost, &dup, &total), 0);
    fprintf(stderr, "%d kills: %llu events stored, lost %llu, duplicated %llu\n", k,
            (unsigned long long)total, (unsigned long long)lost, (unsigned long long)dup);
    assert_int_equal(expect, (uint64_t)ndrivers * n);
    assert_int_equal(lost, 0);
    assert_int_equal(dup, 0);
    assert_int_equal(total, (uint64_t)ndrivers * n);
    free(driver);
    tu_rmtree_free(dir);
    return k;
}

AT_TEST(test_collector_sigkilled_while_three_services_stream_loses_nothing)
{
    (void)state;
    char *dir = tu_tempdir("sigkill-ep");
    char ep[600];
    snprintf(ep, sizeof ep, "ipc://%s/c.sock", dir);
    int k = stream_through_kills(ep, 3, "9000", "1500", 14, NULL);
    assert_true(k >= 14);
    tu_rmtree_free(dir);
}

AT_TEST(test_collector_sigkilled_over_tcp_with_large_groups_loses_nothing)
{
    (void)state;
    char ep[64];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", pu_free_port());
    const char *args[] = {"--group-ms", "20", NULL};
    int k = stream_through_kills(ep, 2, "8000", "2000", 8, args);
    assert_true(k >= 8);
}
