/*
 * test_fault_spool.c - the shim's disk spool under faults: open, four appends each made
 * durable by spool_sync, close; then open, take every segment for replay, walk it and remove
 * it; with the N-th allocation or the N-th write/fsync/rename failing for every N.
 *
 * Proves, for each N: the failure is reported (-1, or a lost count), with no crash and no
 * leak; a clean reopen replays every record reported durable, each whole and once, no damage
 * and nothing that was never appended; a replay that failed loses nothing (the records are
 * all still there for the next one), and one that succeeded leaves the spool empty.
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
#include "spool.h"
#include "testutil.h"

enum { GROUPS = 4, PER_GROUP = 5, REC_LEN = 300 };

typedef struct spool_ctx {
    char *dir;
    uint8_t rec[GROUPS][PER_GROUP][REC_LEN];
    int durable[GROUPS];
    int seen[GROUPS][PER_GROUP];
} spool_ctx;

static void fill_records(spool_ctx *c)
{
    for (int g = 0; g < GROUPS; g++)
        for (int i = 0; i < PER_GROUP; i++)
            for (int b = 0; b < REC_LEN; b++)
                c->rec[g][i][b] = (uint8_t)(g * 31 + i * 7 + b);
}

static int append_groups(spool_ctx *c, spool *sp)
{
    int first = 0;
    for (int g = 0; g < GROUPS; g++) {
        const uint8_t *bufs[PER_GROUP];
        size_t lens[PER_GROUP];
        for (int i = 0; i < PER_GROUP; i++)
            bufs[i] = c->rec[g][i], lens[i] = REC_LEN;
        long lost = 0;
        int rc = spool_append(sp, bufs, lens, PER_GROUP);
        long synced = rc == 0 ? spool_sync(sp, &lost) : -1;
        c->durable[g] = rc == 0 && synced >= 0;
        if (!c->durable[g] && first == 0) first = -1;
    }
    return first;
}

static void setup_run(void *arg)
{
    spool_ctx *c = arg;
    c->dir = tu_tempdir("fault-spool");
    fill_records(c);
    memset(c->durable, 0, sizeof c->durable);
    memset(c->seen, 0, sizeof c->seen);
}

static void teardown_run(void *arg)
{
    spool_ctx *c = arg;
    tu_rmtree_free(c->dir);
}

/* Opens the run's spool (c->dir/spool): spool_open's code. */
static int open_spool(spool_ctx *c, spool **sp)
{
    char id[33];
    at_error err = {0};
    int locked = 0;
    char *dir = tu_path(c->dir, "spool");
    int rc = spool_open(dir, sp, id, &locked, &err);
    free(dir);
    return rc;
}

static int run_append(void *arg)
{
    spool_ctx *c = arg;
    spool *sp = NULL;
    int rc = open_spool(c, &sp);
    if (rc != 0) return rc;
    rc = append_groups(c, sp);
    spool_close(&sp);
    return rc;
}

/* Marks each record of data in c->seen; fails on damage or a record never appended. */
static void walk(spool_ctx *c, const uint8_t *data, size_t len, unsigned long n)
{
    spool_cursor cur;
    spool_cursor_init(&cur, data, len);
    const uint8_t *rec;
    size_t rl;
    spool_damage d;
    int r;
    while ((r = spool_cursor_next(&cur, &rec, &rl, NULL, &d)) != 0) {
        if (r < 0) fail_msg("N=%lu: damaged spool at byte %zu: %s", n, d.off, d.why);
        int found = 0;
        for (int g = 0; g < GROUPS && !found; g++)
            for (int i = 0; i < PER_GROUP && !found; i++)
                if (rl == REC_LEN && memcmp(rec, c->rec[g][i], REC_LEN) == 0) {
                    if (c->seen[g][i]++) fail_msg("N=%lu: record %d.%d replayed twice", n, g, i);
                    found = 1;
                }
        if (!found) fail_msg("N=%lu: a record that was never appended (%zu bytes)", n, rl);
    }
}

/* Replays the whole spool clean; removes the segments when `remove` (else leaves them). */
static void replay_clean(spool_ctx *c, int remove, unsigned long n)
{
    spool *sp = NULL;
    char id[33];
    at_error err = {0};
    int locked = 0;
    char *dir = tu_path(c->dir, "spool");
    if (spool_open(dir, &sp, id, &locked, &err) != 0)
        fail_msg("N=%lu: the spool does not reopen: %s", n, err.what);
    free(dir);
    memset(c->seen, 0, sizeof c->seen);
    uint64_t seg, last = UINT64_MAX;
    uint8_t *data;
    size_t len;
    int inherited;
    while (spool_replay_take(sp, &seg, &data, &len, &inherited) == 1) {
        if (seg != last) walk(c, data, len, n);
        free(data);
        if (seg == last) break; /* not removed: taken again */
        last = seg;
        if (remove) assert_int_equal(spool_remove(sp, seg), 0);
    }
    spool_close(&sp);
}

static void check_append(void *arg, int rc, unsigned long n)
{
    spool_ctx *c = arg;
    (void)rc;
    replay_clean(c, 1, n);
    for (int g = 0; g < GROUPS; g++)
        for (int i = 0; i < PER_GROUP; i++)
            if (c->durable[g] && !c->seen[g][i])
                fail_msg("N=%lu: record %d.%d was reported durable but is not replayed", n, g, i);
}

static spool_ctx g_ctx;

AT_TEST(test_every_spool_append_fault_keeps_what_was_reported_durable)
{
    (void)state;
    static const ft_op op = FT_OP(200, setup_run, run_append, check_append, teardown_run, &g_ctx);
    ft_sweep_as(&op, AT_FAULT_ALLOC, "spool append, allocations");
    ft_sweep_as(&op, AT_FAULT_IO, "spool append, writes");
}

/* ---- replay ------------------------------------------------------------------------------- */

static void setup_replay(void *arg)
{
    spool_ctx *c = arg;
    setup_run(c);
    assert_int_equal(run_append(c), 0);
}

static int run_replay(void *arg)
{
    spool_ctx *c = arg;
    spool *sp = NULL;
    int rc = open_spool(c, &sp);
    if (rc != 0) return rc;
    uint64_t seg;
    uint8_t *data;
    size_t len;
    int inherited, took;
    while (rc == 0 && (took = spool_replay_take(sp, &seg, &data, &len, &inherited)) == 1) {
        free(data);
        rc = spool_remove(sp, seg);
    }
    if (rc == 0 && took < 0) rc = -1;
    spool_close(&sp);
    return rc;
}

static void check_replay(void *arg, int rc, unsigned long n)
{
    spool_ctx *c = arg;
    replay_clean(c, 0, n);
    int seen = 0;
    for (int g = 0; g < GROUPS; g++)
        for (int i = 0; i < PER_GROUP; i++)
            seen += c->seen[g][i];
    if (rc == 0 && seen != 0) fail_msg("N=%lu: a replay reported done left %d records", n, seen);
    if (rc != 0 && seen != 0 && seen != GROUPS * PER_GROUP)
        fail_msg("N=%lu: a failed replay lost records: %d of %d left", n, seen, GROUPS * PER_GROUP);
}

AT_TEST(test_every_spool_replay_fault_loses_nothing)
{
    (void)state;
    static const ft_op op =
        FT_OP(200, setup_replay, run_replay, check_replay, teardown_run, &g_ctx);
    ft_sweep_as(&op, AT_FAULT_ALLOC, "spool replay, allocations");
    ft_sweep_as(&op, AT_FAULT_IO, "spool replay, writes");
}
