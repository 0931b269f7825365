/*
 * test_store_crash.c - a writer process SIGKILLed at random moments, again
 * and again: after each kill the store opens, passes ts_check, holds every
 * event of every group whose ts_append had returned, and no part of any
 * group it does not hold whole.
 *
 * The child appends groups g = start, start+1, ... (group g holds events
 * g * 1000 + i, and repeats one event of group g-1, a duplicate) and writes
 * g on a pipe after each ts_append returns. The parent kills it after a
 * random delay (sometimes while it opens the store or trains a dictionary).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "at_test.h"
#include "store_fixture.h"
#include "store_internal.h"
#include "testutil.h"

#define T0 1717200000000000000ull
#define KILLS 60

static size_t group_size(uint64_t g)
{
    return 5 + (size_t)((g * 2654435761u) % 40);
}

static tp_event **make_group(uint64_t g, size_t *n)
{
    size_t k = group_size(g);
    tp_event **ev = calloc(k + 1, sizeof *ev);
    for (size_t i = 0; i < k; i++) {
        uint64_t id = g * 1000 + i;
        ev[i] = fx_event(id, g / 3, (g % 2) ? "wf-odd" : "wf-even", NULL, T0 + id * 1000);
    }
    size_t total = k;
    if (g > 0)
        ev[total++] = fx_event((g - 1) * 1000, (g - 1) / 3, ((g - 1) % 2) ? "wf-odd" : "wf-even",
                               NULL, T0 + (g - 1) * 1000 * 1000);
    *n = total;
    return ev;
}

static void child_write(const char *dir, uint64_t start, int fd)
{
    ts_store *s = NULL;
    at_error err = {0};
    for (int tries = 0; ts_open(dir, 0, NULL, &s, &err) != 0; tries++) {
        if (tries > 200) _exit(3);
        usleep(1000);
    }
    /* Dictionaries trained early, so that kills also land around training. */
    s->train_first = 300;
    s->train_second = 1500;
    if (s->next_train_at == 1000)
        s->next_train_at = 300;
    else if (s->next_train_at == 20000)
        s->next_train_at = s->log_size < 1500 ? 1500 : UINT64_MAX;
    uint64_t opened = UINT64_MAX; /* tells the parent the store is open */
    if (write(fd, &opened, sizeof opened) != (ssize_t)sizeof opened) _exit(5);
    for (uint64_t g = start;; g++) {
        size_t n;
        tp_event **ev = make_group(g, &n);
        ts_result r[64];
        if (ts_append(s, ev, n, r) != 0) _exit(4);
        if (write(fd, &g, sizeof g) != (ssize_t)sizeof g) _exit(5);
        for (size_t i = 0; i < n; i++)
            tp_event_destroy(&ev[i]);
        free(ev);
    }
}

/* 1 when every event of group g is stored, 0 when none is; fails otherwise. */
static int group_present(ts_store *s, uint64_t g)
{
    size_t k = group_size(g), found = 0;
    for (size_t i = 0; i < k; i++) {
        uint8_t id[16];
        fx_event_id(g * 1000 + i, id);
        tp_event *ev = NULL;
        int rc = ts_get(s, id, &ev);
        if (rc == 0) {
            found++;
            assert_int_equal(ev->time_unix_nano, T0 + (g * 1000 + i) * 1000);
            tp_event_destroy(&ev);
        } else {
            assert_int_equal(rc, TS_ENOTFOUND);
        }
    }
    if (found != 0 && found != k)
        fail_msg("group %llu is partial: %zu of %zu events", (unsigned long long)g, found, k);
    return found == k;
}

AT_TEST(test_store_survives_sigkill_of_the_writer)
{
    (void)state;
    char *dir;
    ts_store *s = fx_new_store("store-crash", &dir);
    ts_close(&s);
    srand((unsigned)time(NULL));
    uint64_t start = 0, reported_total = 0;
    for (int round = 0; round < KILLS; round++) {
        int p[2];
        assert_int_equal(pipe(p), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(p[0]);
            child_write(dir, start, p[1]);
        }
        close(p[1]);
        /* Most kills land while groups are being appended (after the child says the
         * store is open); every tenth lands at once, while it opens or recovers. */
        uint64_t g, last = UINT64_MAX;
        if (round % 10 != 0) {
            assert_int_equal(read(p[0], &g, sizeof g), (ssize_t)sizeof g);
            assert_true(g == UINT64_MAX);
            usleep((useconds_t)(rand() % 80000));
        } else {
            usleep((useconds_t)(rand() % 3000));
        }
        kill(pid, SIGKILL);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status)); /* it did not fail on its own */
        ssize_t r;
        while ((r = read(p[0], &g, sizeof g)) == (ssize_t)sizeof g) {
            if (g == UINT64_MAX) continue; /* the "open" marker of an early round */
            assert_int_equal(g, last == UINT64_MAX ? start : last + 1);
            last = g;
            reported_total++;
        }
        close(p[0]);

        s = fx_open(dir, 0, NULL);
        assert_int_equal(ts_check(s, fx_report, NULL), 0);
        uint64_t next = start;
        if (last != UINT64_MAX) {
            for (uint64_t q = start; q <= last; q++)
                assert_true(group_present(s, q)); /* every returned group, whole */
            next = last + 1;
        }
        /* The group in flight at the kill: whole or absent; nothing after it. */
        if (group_present(s, next)) next++;
        assert_false(group_present(s, next));
        assert_false(group_present(s, next + 1));
        ts_close(&s);
        start = next;
    }
    ts_stats st;
    s = fx_open(dir, TS_OPEN_RDONLY, NULL);
    assert_int_equal(ts_stat(s, &st), 0);
    ts_close(&s);
    fprintf(stderr,
            "crash test: %d kills, %llu groups reported, %llu groups stored, %llu events, %u "
            "dictionaries\n",
            KILLS, (unsigned long long)reported_total, (unsigned long long)start,
            (unsigned long long)st.events, st.dictionaries);
    assert_true(reported_total > 0);
    tu_rmtree_free(dir);
}
