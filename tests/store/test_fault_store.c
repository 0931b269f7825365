/*
 * test_fault_store.c - libtracestore under faults: open (creating), append three groups of
 * events and commit each, close; with the N-th allocation, or the N-th LMDB write call
 * (mdb_put, mdb_del, mdb_txn_commit), failing for every sampled N.
 *
 * Proves, for each N: the failure is a TS_E* code (no crash, no UBSan report, no leak); the
 * store reopened without faults passes ts_check; every group acknowledged (ts_append 0) is
 * there whole and nothing else is (no group stored in part, none stored and reported failed);
 * and the store still takes a new group.
 *
 * Owns: a temp directory per run. Threading: single-threaded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "at_test.h"
#include "fault_sweep.h"
#include "store_fixture.h"
#include "testutil.h"
#include "tracestore.h"

enum { GROUPS = 3, PER_GROUP = 8 };

typedef struct store_ctx {
    char *dir;
    tp_event *ev[GROUPS][PER_GROUP];
    int acked[GROUPS];
    int open_rc;
} store_ctx;

static void make_events(store_ctx *c, uint64_t base)
{
    for (int g = 0; g < GROUPS; g++)
        for (int i = 0; i < PER_GROUP; i++) {
            uint64_t n = base + (uint64_t)(g * PER_GROUP + i);
            c->ev[g][i] = fx_event(n, n / 4 + 1, "faults", NULL, 1700000000000000000ull + n);
        }
}

static void free_events(store_ctx *c)
{
    for (int g = 0; g < GROUPS; g++)
        fx_free(c->ev[g], PER_GROUP);
}

static void setup_run(void *arg)
{
    store_ctx *c = arg;
    c->dir = tu_tempdir("fault-store");
    make_events(c, 1);
    memset(c->acked, 0, sizeof c->acked);
}

static void teardown_run(void *arg)
{
    store_ctx *c = arg;
    free_events(c);
    tu_rmtree_free(c->dir);
    c->dir = NULL;
}

static int run_store(void *arg)
{
    store_ctx *c = arg;
    char *path = tu_path(c->dir, "store");
    ts_store *s = NULL;
    at_error ebuf = {0};
    c->open_rc = ts_open(path, TS_OPEN_CREATE, NULL, &s, &ebuf);
    free(path);
    if (c->open_rc != 0) {
        assert_null(s);
        return c->open_rc;
    }
    int first = 0;
    for (int g = 0; g < GROUPS; g++) {
        ts_result res[PER_GROUP];
        int rc = ts_append(s, c->ev[g], PER_GROUP, res);
        c->acked[g] = rc == 0;
        if (rc != 0 && first == 0) first = rc;
    }
    ts_close(&s);
    return first;
}

static int present(ts_store *s, tp_event *const *ev, size_t n)
{
    int k = 0;
    for (size_t i = 0; i < n; i++) {
        tp_event *got = NULL;
        if (ts_get(s, ev[i]->event_id.data, &got) == 0) k++;
        tp_event_destroy(&got);
    }
    return k;
}

static void check_store(void *arg, int rc, unsigned long n)
{
    store_ctx *c = arg;
    if (rc != 0 && (rc > -100 || rc <= -200))
        fail_msg("N=%lu: failed with %d, not a TS_E* code (%s)", n, rc, ts_strerror(rc));
    char *path = tu_path(c->dir, "store");
    ts_store *s = NULL;
    at_error ebuf = {0};
    int orc = ts_open(path, TS_OPEN_CREATE, NULL, &s, &ebuf);
    if (orc != 0) fail_msg("N=%lu: the store does not reopen: %d %s", n, orc, ebuf.what);
    int problems = 0;
    if (ts_check(s, fx_report, &problems) != 0 || problems)
        fail_msg("N=%lu: ts_check found %d problems", n, problems);
    uint64_t want = 0;
    for (int g = 0; g < GROUPS; g++) {
        int k = present(s, c->ev[g], PER_GROUP);
        if (k != (c->acked[g] ? PER_GROUP : 0))
            fail_msg("N=%lu: group %d (%s) has %d of %d events", n, g,
                     c->acked[g] ? "acknowledged" : "failed", k, PER_GROUP);
        want += c->acked[g] ? PER_GROUP : 0;
    }
    ts_stats st;
    assert_int_equal(ts_stat(s, &st), 0);
    if (st.events != want)
        fail_msg("N=%lu: %llu events stored, %llu acknowledged", n, (unsigned long long)st.events,
                 (unsigned long long)want);
    /* Still usable: a new group goes in. */
    tp_event *more[PER_GROUP];
    for (int i = 0; i < PER_GROUP; i++)
        more[i] = fx_event(1000 + (uint64_t)i, 500, "faults", NULL, 1800000000000000000ull + i);
    fx_append_all(s, more, PER_GROUP);
    fx_free(more, PER_GROUP);
    ts_close(&s);
    free(path);
}

static store_ctx g_ctx;
static const ft_op store_op = FT_OP(150, setup_run, run_store, check_store, teardown_run, &g_ctx);

AT_TEST(test_every_store_allocation_fails_cleanly_and_leaves_whole_groups)
{
    (void)state;
    ft_sweep_as(&store_op, AT_FAULT_ALLOC, "store open/append/close, allocations");
}

AT_TEST(test_every_lmdb_write_fails_cleanly_and_leaves_whole_groups)
{
    (void)state;
    ft_sweep_as(&store_op, AT_FAULT_LMDB, "store open/append/close, LMDB writes");
}
