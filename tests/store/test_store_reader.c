/*
 * test_store_reader.c - a reader process iterates while a writer process
 * appends (and grows the map from a small start): every pass sees a prefix
 * of the log in time order, the reader never holds a read transaction
 * between ts_iter_next calls, and the final pass sees everything.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "at_test.h"
#include "store_fixture.h"
#include "store_internal.h"
#include "testutil.h"

#define T0 1717200000000000000ull
enum { GROUPS = 150, PER = 40 };

static void writer(const char *dir)
{
    ts_options opt = {.map_size_initial = 128 * 1024};
    ts_store *s = NULL;
    at_error err = {0};
    if (ts_open(dir, 0, &opt, &s, &err) != 0) _exit(3);
    for (uint64_t g = 0; g < GROUPS; g++) {
        tp_event *ev[PER];
        ts_result r[PER];
        for (uint64_t i = 0; i < PER; i++) {
            uint64_t n = g * PER + i;
            ev[i] = fx_event(n, n / 8, "wf", NULL, T0 + n * 1000);
        }
        if (ts_append(s, ev, PER, r) != 0) _exit(4);
        for (int i = 0; i < PER; i++)
            tp_event_destroy(&ev[i]);
    }
    ts_close(&s);
    _exit(0);
}

/* Reader slots of this process that hold a snapshot (txnid not "-"). */
static int busy_slots;
static int count_busy(const char *msg, void *ctx)
{
    (void)ctx;
    int pid;
    char thr[64], txn[64];
    if (sscanf(msg, "%d %63s %63s", &pid, thr, txn) == 3 && pid == (int)getpid() &&
        strcmp(txn, "-") != 0)
        busy_slots++;
    return 0;
}

AT_TEST(test_store_reader_iterates_while_a_writer_appends)
{
    (void)state;
    char *dir = tu_tempdir("store-reader");
    ts_options small = {.map_size_initial = 128 * 1024};
    ts_store *s = fx_open(dir, TS_OPEN_CREATE, &small);
    ts_close(&s);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) writer(dir);
    s = fx_open(dir, TS_OPEN_RDONLY, NULL);
    uint64_t prev = 0;
    int passes = 0, done = 0, status = 0;
    while (!done) {
        done = waitpid(pid, &status, WNOHANG) == pid; /* one more pass after it ends */
        ts_iter *it = NULL;
        assert_int_equal(ts_query(s, NULL, NULL, &it), 0);
        tp_event *ev;
        uint64_t n = 0;
        int rc;
        while ((rc = ts_iter_next(it, &ev)) == 0) {
            /* Generated in time order = log order: a pass is a prefix. */
            assert_int_equal(ev->stored->log_index, n);
            assert_int_equal(ev->time_unix_nano, T0 + n * 1000);
            tp_event_destroy(&ev);
            n++;
            if (n % 97 == 0) {
                busy_slots = 0;
                mdb_reader_list(ts_internal_env(s), count_busy, NULL);
                assert_int_equal(busy_slots, 0);
            }
        }
        if (rc != TS_EEND) fprintf(stderr, "reader: %s\n", ts_last_error(s));
        assert_int_equal(rc, TS_EEND);
        ts_iter_destroy(&it);
        assert_true(n >= prev);
        prev = n;
        passes++;
    }
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(prev, GROUPS * PER);
    assert_true(passes >= 2);
    ts_stats st;
    assert_int_equal(ts_stat(s, &st), 0);
    fprintf(stderr, "reader: %d passes; map followed to %llu bytes\n", passes,
            (unsigned long long)st.map_size);
    assert_true(st.map_size > 128 * 1024);
    assert_int_equal(ts_check(s, fx_report, NULL), 0);
    fx_done(&s, dir);
}
