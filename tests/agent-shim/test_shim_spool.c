/*
 * test_shim_spool.c - the shim's spool file format on a real directory:
 * records survive a reopen; a torn last record, a flipped byte, a length of
 * 0xFFFFFFFF are reported as damage (offset, events) and the cursor resyncs
 * to the next record; version 1 segments are still read; an unknown version
 * is refused; a record over the limit is refused before anything is
 * written; a spool directory is locked by one client, the shim id is stable.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "at_test.h"
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

/* The spool in `dir`, opened (asserted to succeed). */
static spool *open_spool(const char *dir)
{
    char id[33];
    at_error err;
    int locked = 0;
    spool *sp = NULL;
    assert_int_equal(spool_open(dir, &sp, id, &locked, &err), 0);
    return sp;
}

AT_TEST(test_spool_records_survive_reopen_and_keep_the_shim_id)
{
    (void)state;
    char *dir = tu_tempdir("spool");
    char id1[33], id2[33];
    at_error err;
    int locked = 0;
    spool *sp = NULL;
    assert_int_equal(spool_open(dir, &sp, id1, &locked, &err), 0);
    append_records(sp, 10);
    assert_int_equal(spool_sync(sp, NULL), 10); /* ten records became durable */
    assert_true(spool_has_data(sp));
    spool_close(&sp);
    assert_null(sp);
    assert_int_equal(spool_open(dir, &sp, id2, &locked, &err), 0);
    assert_string_equal(id1, id2);
    uint64_t seg;
    uint8_t *data;
    size_t len, rl;
    const uint8_t *rec;
    int inherited = 0;
    assert_int_equal(spool_replay_take(sp, &seg, &data, &len, &inherited), 1);
    assert_int_equal(inherited, 1); /* written before this open */
    spool_cursor c;
    spool_damage d;
    spool_cursor_init(&c, data, len);
    int n = 0;
    while (spool_cursor_next(&c, &rec, &rl, NULL, &d) == 1) {
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
    tu_rmtree_free(dir);
}

/* Writes n records, closes, returns the segment's bytes (malloc'd). */
static uint8_t *segment_of(const char *dir, int n, size_t *flen, char *path, size_t plen)
{
    spool *sp = open_spool(dir);
    append_records(sp, n);
    assert_int_equal(spool_sync(sp, NULL), n);
    spool_close(&sp);
    snprintf(path, plen, "%s/seg-%016d.spool", dir, 1);
    uint8_t *whole = (uint8_t *)tu_read_file(path, flen);
    assert_non_null(whole);
    return whole;
}

/* Offset of record k (0-based) in a version-2 segment written by append_records. */
static size_t record_offset(int k)
{
    size_t off = SPOOL_SEGMENT_HEADER;
    for (int i = 0; i < k; i++) {
        char rec[64];
        off += 16 + (size_t)snprintf(rec, sizeof rec, "record number %d", i);
    }
    return off;
}

/* Walks a segment: the record numbers read into got[], damages into dmg[]. */
static int walk(const uint8_t *data, size_t len, int *got, spool_damage *dmg, int *ndmg)
{
    spool_cursor c;
    spool_cursor_init(&c, data, len);
    const uint8_t *rec;
    size_t rl;
    spool_damage d;
    int n = 0, k;
    *ndmg = 0;
    while ((k = spool_cursor_next(&c, &rec, &rl, NULL, &d)) != 0) {
        if (k < 0) {
            dmg[(*ndmg)++] = d;
            continue;
        }
        char buf[64];
        memcpy(buf, rec, rl);
        buf[rl] = 0;
        got[n++] = (int)strtol(buf + strlen("record number "), NULL, 10);
    }
    return n;
}

/* A segment of n records read whole into memory, and what walking it found. */
typedef struct seg {
    char *dir;
    uint8_t *whole;
    size_t flen;
    int got[16], nd;
    spool_damage dmg[4];
} seg;

static void seg_make(seg *g, int n)
{
    char path[600];
    g->dir = tu_tempdir("spool");
    g->whole = segment_of(g->dir, n, &g->flen, path, sizeof path);
}

static int seg_walk(seg *g, size_t len)
{
    return walk(g->whole, len, g->got, g->dmg, &g->nd);
}

/* The walk found exactly one damage, at off, losing events (-1: unknown). */
static void expect_one_damage(const seg *g, size_t off, long events)
{
    assert_int_equal(g->nd, 1);
    assert_int_equal(g->dmg[0].off, off);
    assert_int_equal(g->dmg[0].events, events);
}

static void seg_free(seg *g)
{
    free(g->whole);
    tu_rmtree_free(g->dir);
}

AT_TEST(test_torn_last_record_is_reported_and_the_rest_read)
{
    (void)state;
    seg g;
    seg_make(&g, 5);
    assert_int_equal(seg_walk(&g, g.flen - 3), 4); /* crash mid-record */
    expect_one_damage(&g, record_offset(4), 1);
    seg_free(&g);
}

AT_TEST(test_flipped_byte_loses_one_record_and_resyncs)
{
    (void)state;
    seg g;
    seg_make(&g, 10);
    /* In the payload of record 3: its header is good, one event lost. */
    g.whole[record_offset(3) + 20] ^= 0x40;
    assert_int_equal(seg_walk(&g, g.flen), 9);
    expect_one_damage(&g, record_offset(3), 1);
    assert_int_equal(g.got[3], 4);
    g.whole[record_offset(3) + 20] ^= 0x40;
    /* In the header of record 6: unknown count, resync at record 7. */
    g.whole[record_offset(6) + 5] ^= 0x01;
    assert_int_equal(seg_walk(&g, g.flen), 9);
    expect_one_damage(&g, record_offset(6), -1);
    assert_int_equal(g.dmg[0].bytes, record_offset(7) - record_offset(6));
    assert_int_equal(g.got[6], 7);
    seg_free(&g);
}

AT_TEST(test_length_ffffffff_in_the_first_record_skips_only_it)
{
    (void)state;
    seg g;
    seg_make(&g, 10);
    memset(g.whole + SPOOL_SEGMENT_HEADER + 4, 0xFF, 4);
    assert_int_equal(seg_walk(&g, g.flen), 9);
    assert_int_equal(g.nd, 1);
    assert_int_equal(g.dmg[0].off, SPOOL_SEGMENT_HEADER);
    assert_int_equal(g.got[0], 1);
    seg_free(&g);
}

AT_TEST(test_version_1_segments_are_read_and_other_versions_refused)
{
    (void)state;
    /* Version 1: u32 length, u32 CRC, payload; no file header. */
    uint8_t v1[64];
    size_t n = 0;
    for (int i = 0; i < 2; i++) {
        const char *p = i ? "second" : "first";
        uint32_t len = (uint32_t)strlen(p), crc = spool_crc32((const uint8_t *)p, len);
        memcpy(v1 + n, &len, 4);
        memcpy(v1 + n + 4, &crc, 4);
        memcpy(v1 + n + 8, p, len);
        n += 8 + len;
    }
    spool_cursor c;
    spool_damage d;
    const uint8_t *rec;
    size_t rl;
    spool_cursor_init(&c, v1, n);
    assert_int_equal(spool_cursor_next(&c, &rec, &rl, NULL, &d), 1);
    assert_memory_equal(rec, "first", 5);
    assert_int_equal(spool_cursor_next(&c, &rec, &rl, NULL, &d), 1);
    assert_memory_equal(rec, "second", 6);
    assert_int_equal(spool_cursor_next(&c, &rec, &rl, NULL, &d), 0);
    assert_int_equal(c.version, 1);
    /* A file header of version 3: one damage over the whole segment. */
    const uint8_t v3[16] = {'A', 'T', 'S', 'P', 'O', 'O', 'L', 3};
    spool_cursor_init(&c, v3, sizeof v3);
    assert_int_equal(spool_cursor_next(&c, &rec, &rl, NULL, &d), -1);
    assert_int_equal(d.bytes, sizeof v3);
    assert_non_null(strstr(d.why, "version"));
    assert_int_equal(spool_cursor_next(&c, &rec, &rl, NULL, &d), 0);
    assert_int_equal(c.version, -1);
}

AT_TEST(test_record_over_the_limit_is_refused_before_writing)
{
    (void)state;
    char *dir = tu_tempdir("spool");
    spool *sp = open_spool(dir);
    append_records(sp, 1);
    const uint8_t *bufs[2] = {(const uint8_t *)"x", (const uint8_t *)"y"};
    size_t lens[2] = {1, (size_t)SPOOL_RECORD_MAX + 1};
    assert_int_equal(spool_append(sp, bufs, lens, 2), -1);
    assert_int_equal(errno, EMSGSIZE);
    assert_int_equal(spool_sync(sp, NULL), 1); /* only the first append */
    spool_close(&sp);
    tu_rmtree_free(dir);
}

AT_TEST(test_spool_directory_is_locked_by_one_client)
{
    (void)state;
    char *dir = tu_tempdir("spool");
    char id[33];
    at_error err;
    int locked = 0;
    spool *a = NULL, *b = NULL;
    assert_int_equal(spool_open(dir, &a, id, &locked, &err), 0);
    assert_int_equal(spool_open(dir, &b, id, &locked, &err), -1);
    assert_int_equal(locked, 1);
    assert_non_null(strstr(err.what, "in use"));
    spool_close(&a);
    assert_int_equal(spool_open(dir, &b, id, &locked, &err), 0);
    spool_close(&b);
    tu_rmtree_free(dir);
}
