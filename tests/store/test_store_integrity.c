/*
 * test_store_integrity.c - the map grows from a tiny size; a configured
 * maximum stops a group whole; ts_check finds a corrupted unit, a missing
 * index entry and a stray one.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "at_test.h"
#include "store_fixture.h"
#include "store_internal.h"
#include "testutil.h"

#define T0 1717200000000000000ull

static void append_range(ts_store *s, uint64_t from, uint64_t n)
{
    tp_event **ev = calloc(n, sizeof *ev);
    for (uint64_t i = 0; i < n; i++)
        ev[i] = fx_event(from + i, (from + i) / 10, "wf", NULL, T0 + (from + i) * 1000);
    fx_append_all(s, ev, n);
    fx_free(ev, n);
    free(ev);
}

AT_TEST(test_store_map_grows_from_a_tiny_map)
{
    (void)state;
    char *dir = tu_tempdir("store-map");
    ts_options opt = {.map_size_initial = 64 * 1024};
    ts_store *s = fx_open(dir, TS_OPEN_CREATE, &opt);
    ts_stats st;
    assert_int_equal(ts_stat(s, &st), 0);
    size_t first = st.map_size;
    for (uint64_t g = 0; g < 10; g++)
        append_range(s, g * 400, 400); /* one group of 400 needs more than the first map */
    assert_int_equal(ts_stat(s, &st), 0);
    assert_int_equal(st.events, 4000);
    assert_true(st.map_size > first * 8);
    assert_int_equal(ts_check(s, fx_report, NULL), 0);
    ts_close(&s);
    s = fx_open(dir, TS_OPEN_RDONLY, NULL); /* a reader maps what the writer grew */
    assert_int_equal(ts_check(s, fx_report, NULL), 0);
    fx_done(&s, dir);
}

AT_TEST(test_store_map_limit_stops_the_whole_group)
{
    (void)state;
    char *dir = tu_tempdir("store-map");
    ts_options opt = {.map_size_initial = 256 * 1024, .map_size_max = 512 * 1024};
    ts_store *s = fx_open(dir, TS_OPEN_CREATE, &opt);
    append_range(s, 0, 100);
    enum { BIG = 5000 };
    tp_event **ev = calloc(BIG, sizeof *ev);
    ts_result *r = calloc(BIG, sizeof *r);
    for (uint64_t i = 0; i < BIG; i++)
        ev[i] = fx_event(1000 + i, i, "wf", NULL, T0 + i);
    assert_int_equal(ts_append(s, ev, BIG, r), TS_EFULL);
    assert_non_null(strstr(ts_last_error(s), "map_size_max"));
    fx_expect_events(s, 100); /* nothing of the failed group */
    assert_int_equal(ts_check(s, fx_report, NULL), 0);
    append_range(s, 100, 10); /* the store still works */
    fx_free(ev, BIG);
    free(ev);
    free(r);
    fx_done(&s, dir);
}

/* Copies the unit (block) holding log_index (its header names it uniquely: it
 * holds the SHA-256 of the payload). */
static void unit_copy(ts_store *s, uint64_t li, uint8_t *out, size_t cap, size_t *len)
{
    MDB_env *env = ts_internal_env(s);
    MDB_txn *txn;
    MDB_dbi events;
    MDB_cursor *c;
    assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal(ts_internal_dbi(s, txn, "events", 0, 0, &events), 0);
    assert_int_equal(mdb_cursor_open(txn, events, &c), 0);
    uint64_t first = 0;
    MDB_val v;
    assert_int_equal(ts_block_find(c, li, &first, &v), 0);
    assert_true(first <= li);
    mdb_cursor_close(c);
    assert_true(v.mv_size <= cap);
    memcpy(out, v.mv_data, v.mv_size);
    *len = v.mv_size;
    mdb_txn_abort(txn);
}

AT_TEST(test_store_check_detects_a_corrupted_unit)
{
    (void)state;
    char *dir;
    ts_store *s = fx_new_store("store-check", &dir);
    append_range(s, 0, 200);
    assert_int_equal(ts_check(s, fx_report, NULL), 0);
    uint8_t unit[4096];
    size_t len;
    unit_copy(s, 123, unit, sizeof unit, &len);
    ts_close(&s);
    char path[4200];
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    size_t flen;
    char *file = tu_read_file(path, &flen);
    assert_non_null(file);
    const char *at = memmem(file, flen, unit, len);
    assert_non_null(at);
    off_t off = at - file + (off_t)len - 3; /* inside the compressed payload */
    free(file);
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    uint8_t b = (uint8_t)(unit[len - 3] ^ 0x5a);
    assert_int_equal(pwrite(fd, &b, 1, off), 1);
    close(fd);
    s = fx_open(dir, TS_OPEN_RDONLY, NULL);
    int problems = 0;
    assert_int_equal(ts_check(s, fx_report, &problems), TS_ECORRUPT);
    assert_true(problems >= 1);
    assert_non_null(strstr(ts_last_error(s), "problem"));
    fx_done(&s, dir);
}

AT_TEST(test_store_check_detects_missing_and_stray_index_entries)
{
    (void)state;
    char *dir;
    ts_store *s = fx_new_store("store-check", &dir);
    append_range(s, 0, 50);
    MDB_env *env = ts_internal_env(s);
    MDB_txn *txn;
    MDB_dbi by_dri, by_trace;
    /* Remove one block's by_trace entry (by_trace names a trace's blocks, each by its
     * earliest time and first log index). */
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(ts_internal_dbi(s, txn, "by_trace", MDB_DUPSORT | MDB_DUPFIXED, 0, &by_trace),
                     0);
    uint8_t tr[16], e[16], num[8];
    fx_trace_id(1, tr);                                 /* events 10..19: one block */
    assert_int_equal(ts_trace_key(s, txn, tr, num), 0); /* by_trace is keyed by trace number */
    ts_put_be64(e, T0 + 10 * 1000);
    ts_put_be64(e + 8, 10);
    MDB_val k = {8, num}, v = {16, e};
    assert_int_equal(mdb_del(txn, by_trace, &k, &v), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    int problems = 0;
    assert_int_equal(ts_check(s, fx_report, &problems), TS_ECORRUPT);
    assert_int_equal(problems, 2); /* missing entry, and the count */
    /* Put it back, then add an entry naming an event that is not there. */
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    k.mv_size = 8;
    k.mv_data = num;
    v.mv_size = 16;
    v.mv_data = e;
    assert_int_equal(mdb_put(txn, by_trace, &k, &v, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    assert_int_equal(ts_check(s, fx_report, NULL), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(ts_internal_dbi(s, txn, "by_dri", MDB_DUPSORT | MDB_DUPFIXED, 0, &by_dri), 0);
    ts_put_be64(e + 8, 777);
    MDB_val dk = {16, "nobody@example.com"}, dv = {16, e};
    dk.mv_size = strlen("nobody@example.com");
    assert_int_equal(mdb_put(txn, by_dri, &dk, &dv, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    problems = 0;
    assert_int_equal(ts_check(s, fx_report, &problems), TS_ECORRUPT);
    assert_int_equal(problems, 2); /* names an absent event, and the count */
    fx_done(&s, dir);
}

AT_TEST(test_store_check_detects_a_trace_number_given_twice)
{
    (void)state;
    char *dir;
    ts_store *s = fx_new_store("store-check", &dir);
    append_range(s, 0, 50);
    ts_stats st;
    assert_int_equal(ts_stat(s, &st), 0);
    assert_int_equal(st.traces, 5); /* events 0..49, ten per trace */
    MDB_env *env = ts_internal_env(s);
    MDB_txn *txn;
    MDB_dbi traces;
    uint8_t tr[16], num[8];
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(ts_internal_dbi(s, txn, "traces", 0, 0, &traces), 0);
    fx_trace_id(1, tr);
    assert_int_equal(ts_trace_key(s, txn, tr, num), 0);
    fx_trace_id(2, tr);
    MDB_val k = {16, tr}, v = {8, num}; /* trace 2 now claims trace 1's number */
    assert_int_equal(mdb_put(txn, traces, &k, &v, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    int problems = 0;
    assert_int_equal(ts_check(s, fx_report, &problems), TS_ECORRUPT);
    assert_true(problems >= 1);
    fx_done(&s, dir);
}
