/*
 * test_shim_spool.c - the shim's spool file format on a real directory:
 * records survive a reopen, a torn last record ends the segment cleanly,
 * a spool directory is locked by one client, the shim id is stable.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "spool.h"
#include "testutil.h"

static void append_records(spool *sp, int n)
{
    for (int i = 0; i < n; i++) {
        char rec[64];
        int len = snprintf(rec, sizeof rec, "record number %d", i);
        const uint8_t *b = (const uint8_t *)rec;
        size_t l = (size_t)len;
        assert_int_equal(spool_append(sp, &b, &l, 1), 0);
    }
}

static void test_spool_records_survive_reopen_and_keep_the_shim_id(void **state)
{
    (void)state;
    char *dir = tu_tempdir("spool");
    char id1[33], id2[33], err[256];
    int locked = 0;
    spool *sp = NULL;
    assert_int_equal(spool_open(dir, &sp, id1, &locked, err, sizeof err), 0);
    append_records(sp, 10);
    assert_int_equal(spool_sync(sp), 10); /* ten records became durable */
    assert_true(spool_has_data(sp));
    spool_close(&sp);
    assert_null(sp);
    assert_int_equal(spool_open(dir, &sp, id2, &locked, err, sizeof err), 0);
    assert_string_equal(id1, id2);
    uint64_t seg;
    uint8_t *data;
    size_t len, off = 0, rl;
    const uint8_t *rec;
    assert_int_equal(spool_replay_take(sp, &seg, &data, &len), 1);
    int n = 0;
    while (spool_record_next(data, len, &off, &rec, &rl) == 1) {
        char want[64];
        snprintf(want, sizeof want, "record number %d", n++);
        assert_int_equal(rl, strlen(want));
        assert_memory_equal(rec, want, rl);
    }
    assert_int_equal(n, 10);
    free(data);
    assert_int_equal(spool_remove(sp, seg), 0);
    assert_false(spool_has_data(sp));
    spool_close(&sp);
    tu_rmtree(dir);
    free(dir);
}

static void test_torn_last_record_ends_the_segment(void **state)
{
    (void)state;
    char *dir = tu_tempdir("spool");
    char id[33], err[256], path[600];
    int locked = 0;
    spool *sp = NULL;
    assert_int_equal(spool_open(dir, &sp, id, &locked, err, sizeof err), 0);
    append_records(sp, 5);
    spool_sync(sp);
    spool_close(&sp);
    snprintf(path, sizeof path, "%s/seg-%016d.spool", dir, 1);
    size_t flen = 0;
    char *whole = tu_read_file(path, &flen);
    assert_non_null(whole);
    assert_int_equal(tu_write_file(path, whole, flen - 3), 0); /* crash mid-record */
    free(whole);
    assert_int_equal(spool_open(dir, &sp, id, &locked, err, sizeof err), 0);
    uint64_t seg;
    uint8_t *data;
    size_t len, off = 0, rl;
    const uint8_t *rec;
    assert_int_equal(spool_replay_take(sp, &seg, &data, &len), 1);
    int n = 0, r;
    while ((r = spool_record_next(data, len, &off, &rec, &rl)) == 1)
        n++;
    assert_int_equal(n, 4);
    assert_int_equal(r, -1);
    /* A flipped byte fails the CRC. */
    off = 0;
    data[10] ^= 0x40;
    assert_int_equal(spool_record_next(data, len, &off, &rec, &rl), -1);
    free(data);
    spool_close(&sp);
    tu_rmtree(dir);
    free(dir);
}

static void test_spool_directory_is_locked_by_one_client(void **state)
{
    (void)state;
    char *dir = tu_tempdir("spool");
    char id[33], err[256];
    int locked = 0;
    spool *a = NULL, *b = NULL;
    assert_int_equal(spool_open(dir, &a, id, &locked, err, sizeof err), 0);
    assert_int_equal(spool_open(dir, &b, id, &locked, err, sizeof err), -1);
    assert_int_equal(locked, 1);
    assert_non_null(strstr(err, "in use"));
    spool_close(&a);
    assert_int_equal(spool_open(dir, &b, id, &locked, err, sizeof err), 0);
    spool_close(&b);
    tu_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spool_records_survive_reopen_and_keep_the_shim_id),
        cmocka_unit_test(test_torn_last_record_ends_the_segment),
        cmocka_unit_test(test_spool_directory_is_locked_by_one_client),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
