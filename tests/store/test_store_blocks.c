/*
 * test_store_blocks.c - the events of one trace within one group are stored
 * together in a block: log indexes follow the blocks, duplicates across
 * traces of one group are found, blocks split at their size limit, every
 * event reads back through ids, by log index and by query, and damaged
 * blocks are refused.
 *
 * Owns: temp stores. Single-threaded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/sha.h>

#include "at_test.h"
#include "store_fixture.h"
#include "store_internal.h"
#include "testutil.h"

#define T0 1717200000000000000ull

/* The first log index of every unit in events, in key order. */
static size_t block_keys(ts_store *s, uint64_t *keys, size_t cap)
{
    MDB_txn *txn;
    MDB_dbi events;
    MDB_cursor *c;
    assert_int_equal(mdb_txn_begin(ts_internal_env(s), NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal(ts_internal_dbi(s, txn, "events", 0, 0, &events), 0);
    assert_int_equal(mdb_cursor_open(txn, events, &c), 0);
    MDB_val k, v;
    size_t n = 0;
    for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        assert_true(n < cap);
        keys[n++] = ts_get_be64(k.mv_data);
    }
    mdb_cursor_close(c);
    mdb_txn_abort(txn);
    return n;
}

/* Checks the store, then frees the events, closes and removes the store. */
static void check_and_remove(ts_store *s, char *dir, tp_event **ev, size_t n)
{
    assert_int_equal(ts_check(s, fx_report, NULL), 0);
    fx_free(ev, n);
    fx_done(&s, dir);
}

AT_TEST(test_store_groups_a_traces_events_into_one_block)
{
    (void)state;
    char *dir;
    ts_store *s = fx_new_store("store-blocks", &dir);
    /* 30 events of traces 7, 8, 9 interleaved, then a resend of event 4
     * (trace 8) at the end of the group. */
    enum { N = 31 };
    tp_event *ev[N];
    ts_result r[N];
    for (uint64_t i = 0; i < 30; i++)
        ev[i] = fx_event(i, 7 + i % 3, "wf-blocks", NULL, T0 + i * 1000);
    ev[30] = fx_event(4, 8, "wf-blocks", NULL, T0 + 4 * 1000);
    assert_int_equal(ts_append(s, ev, N, r), 0);
    /* Trace 7 (first seen) takes log indexes 0..9, trace 8 10..19, trace 9 20..29,
     * each in arrival order. */
    for (uint64_t i = 0; i < 30; i++) {
        assert_int_equal(r[i].status, TS_RESULT_STORED);
        assert_int_equal(r[i].log_index, (i % 3) * 10 + i / 3);
        assert_int_equal(ev[i]->stored->log_index, r[i].log_index);
    }
    assert_int_equal(r[30].status, TS_RESULT_DUPLICATE);
    assert_int_equal(r[30].log_index, r[4].log_index);
    uint64_t keys[8];
    assert_int_equal(block_keys(s, keys, 8), 3);
    assert_int_equal(keys[0], 0);
    assert_int_equal(keys[1], 10);
    assert_int_equal(keys[2], 20);
    /* Every event reads back by id and by log index, bit for bit. */
    for (uint64_t i = 0; i < 30; i++) {
        uint8_t id[16], *b = NULL, *want = NULL;
        size_t n = 0, wn = 0;
        fx_event_id(i, id);
        tp_event *got = NULL;
        assert_int_equal(ts_get(s, id, &got), 0);
        assert_int_equal(got->stored->log_index, r[i].log_index);
        assert_int_equal(got->time_unix_nano, T0 + i * 1000);
        tp_event_destroy(&got);
        assert_int_equal(ts_get_stored_bytes(s, r[i].log_index, &b, &n), 0);
        assert_int_equal(tp_event_pack(ev[i], &want, &wn), 0);
        assert_int_equal(n, wn);
        assert_memory_equal(b, want, n);
        free(b);
        free(want);
    }
    uint8_t *b = NULL;
    size_t n = 0;
    assert_int_equal(ts_get_stored_bytes(s, 30, &b, &n), TS_ENOTFOUND);
    /* A query still answers in time order, across the blocks. */
    ts_filter f;
    memset(&f, 0, sizeof f);
    f.workflow = "wf-blocks";
    uint64_t *lis = NULL;
    assert_int_equal(fx_query_all(s, &f, 7, &lis), 30);
    for (uint64_t i = 0; i < 30; i++)
        assert_int_equal(lis[i], (i % 3) * 10 + i / 3);
    free(lis);
    check_and_remove(s, dir, ev, N);
}

AT_TEST(test_store_splits_a_long_trace_into_blocks_of_the_limit)
{
    (void)state;
    char *dir;
    ts_store *s = fx_new_store("store-blocks", &dir);
    enum { N = 2 * TS_BLOCK_MAX_EVENTS + 22 };
    tp_event *ev[N];
    for (uint64_t i = 0; i < N; i++)
        ev[i] = fx_event(i, 1, "wf", NULL, T0 + i);
    fx_append_all(s, ev, N);
    uint64_t keys[8];
    assert_int_equal(block_keys(s, keys, 8), 3);
    assert_int_equal(keys[1], TS_BLOCK_MAX_EVENTS);
    assert_int_equal(keys[2], 2 * TS_BLOCK_MAX_EVENTS);
    ts_filter f;
    memset(&f, 0, sizeof f);
    uint8_t tr[16];
    fx_trace_id(1, tr);
    f.trace_id = tr;
    uint64_t *lis = NULL;
    assert_int_equal(fx_query_all(s, &f, 0, &lis), N);
    free(lis);
    check_and_remove(s, dir, ev, N);
}

/* by_trace names blocks; a trace query still returns the trace's events in
 * time order across groups (a late group holding earlier events included),
 * page by page, within since/until, and a link indexes every one of them. */
AT_TEST(test_store_trace_query_orders_events_across_blocks)
{
    (void)state;
    char *dir;
    ts_store *s = fx_new_store("store-blocks", &dir);
    /* Three groups, each with 4 events of trace 9 and 4 of trace 10; the third
     * group's events of trace 9 are older than the second's. */
    static const uint64_t when[3] = {100, 300, 200};
    tp_event *all[24];
    for (uint64_t g = 0; g < 3; g++) {
        tp_event *ev[8];
        for (uint64_t i = 0; i < 8; i++) {
            uint64_t n = g * 8 + i;
            ev[i] = fx_event(n, 9 + i % 2, "wf", NULL, T0 + (when[g] + i) * 1000);
            all[n] = ev[i];
        }
        fx_append_all(s, ev, 8);
    }
    ts_filter f;
    memset(&f, 0, sizeof f);
    uint8_t tr[16];
    fx_trace_id(9, tr);
    f.trace_id = tr;
    uint64_t *lis = NULL;
    assert_int_equal(fx_query_all(s, &f, 2, &lis), 12); /* fx_query_all checks time order */
    /* Times 100.., 200.., 300..: the first group's, the third's, then the second's. */
    static const uint64_t want[12] = {0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11};
    for (int i = 0; i < 12; i++)
        assert_int_equal(lis[i], want[i]);
    free(lis);
    f.since = T0 + 200 * 1000;
    f.until = T0 + 300 * 1000;
    assert_int_equal(fx_query_all(s, &f, 0, &lis), 4);
    assert_int_equal(lis[0], 16);
    free(lis);
    /* An incident link indexes every event of the trace's blocks. */
    tp_event *link = fx_event(100, 11, "wf", NULL, T0 + 400 * 1000);
    link->kind = AGENTTRAIL__V1__KIND__INCIDENT_LINK;
    link->incident = strdup("INC-BLOCKS");
    link->link = malloc(sizeof *link->link);
    agenttrail__v1__link__init(link->link);
    link->link->n_trace_ids = 1;
    link->link->trace_ids = calloc(1, sizeof *link->link->trace_ids);
    link->link->trace_ids[0].len = 16;
    link->link->trace_ids[0].data = malloc(16);
    memcpy(link->link->trace_ids[0].data, tr, 16);
    fx_append_all(s, &link, 1);
    memset(&f, 0, sizeof f);
    f.incident = "INC-BLOCKS";
    assert_int_equal(fx_query_all(s, &f, 5, &lis), 13); /* the trace's 12 and the link */
    free(lis);
    fx_free(&link, 1);
    check_and_remove(s, dir, all, 24);
}

/* A raw (uncompressed) block decodes to its events; lengths that do not add
 * up, an unknown version and a wrong SHA-256 are refused. */
AT_TEST(test_store_decodes_blocks_and_refuses_bad_ones)
{
    (void)state;
    char *dir;
    ts_store *s = fx_new_store("store-blocks", &dir);
    tp_event *ev = fx_event(1, 1, "wf", NULL, T0);
    uint8_t *packed = NULL;
    size_t plen = 0;
    assert_int_equal(tp_event_pack(ev, &packed, &plen), 0);
    uint8_t unit[4096];
    assert_true(TS_UNIT_LEAVES + 64 + plen + 16 < sizeof unit);
    memset(unit, 0, TS_UNIT_LEAVES + 64);
    unit[0] = TS_UNIT_VERSION;
    unit[1] = TS_CODEC_RAW;
    /* Count 2, two leaf hashes, lengths plen and 5, but only plen + 4 bytes follow. */
    unit[TS_UNIT_HEADER] = 2;
    memset(unit + TS_UNIT_LEAVES, 0xaa, 32);
    memset(unit + TS_UNIT_LEAVES + 32, 0xbb, 32);
    size_t at = TS_UNIT_LEAVES + 64;
    unit[at++] = (uint8_t)((plen & 0x7f) | 0x80);
    unit[at++] = (uint8_t)(plen >> 7);
    unit[at++] = 5;
    memcpy(unit + at, packed, plen);
    at += plen;
    memcpy(unit + at, "abcd", 4);
    at += 4;
    SHA256(unit + TS_UNIT_HEADER, at - TS_UNIT_HEADER, unit + 6);
    MDB_txn *txn;
    assert_int_equal(mdb_txn_begin(ts_internal_env(s), NULL, MDB_RDONLY, &txn), 0);
    ts_block b = {.first = UINT64_MAX};
    assert_int_equal(ts_block_decode(s, txn, 0, unit, at, 1, &b), TS_ECORRUPT);
    assert_non_null(strstr(ts_last_error(s), "lengths"));
    unit[at++] = 'e'; /* now they add up */
    SHA256(unit + TS_UNIT_HEADER, at - TS_UNIT_HEADER, unit + 6);
    assert_int_equal(ts_block_decode(s, txn, 100, unit, at, 1, &b), 0);
    assert_int_equal(b.count, 2);
    const uint8_t *p;
    size_t n;
    assert_int_equal(ts_block_event(&b, 100, &p, &n), 0);
    assert_int_equal(n, plen);
    assert_memory_equal(p, packed, plen);
    assert_int_equal(ts_block_event(&b, 101, &p, &n), 0);
    assert_int_equal(n, 5);
    assert_memory_equal(p, "abcde", 5);
    assert_int_equal(ts_block_event(&b, 102, &p, &n), TS_ENOTFOUND);
    uint8_t leaf[32], want[32];
    memset(want, 0xbb, 32);
    assert_int_equal(ts_unit_leaf(unit, at, 100, 101, leaf), 0); /* without decompressing */
    assert_memory_equal(leaf, want, 32);
    assert_memory_equal(b.leaves[1], want, 32);
    assert_int_equal(ts_unit_leaf(unit, at, 100, 102, leaf), TS_ENOTFOUND);
    assert_int_equal(ts_unit_leaf(unit, TS_UNIT_LEAVES + 40, 100, 100, leaf), TS_ECORRUPT);
    assert_int_equal(ts_block_event(&b, 99, &p, &n), TS_ENOTFOUND);
    unit[7] ^= 1; /* the SHA-256 no longer matches */
    assert_int_equal(ts_block_decode(s, txn, 100, unit, at, 1, &b), TS_ECORRUPT);
    assert_non_null(strstr(ts_last_error(s), "SHA-256"));
    assert_int_equal(ts_block_decode(s, txn, 100, unit, at, 0, &b), 0); /* unverified read */
    unit[0] = 1; /* schema 2's one-event unit: not this build's */
    assert_int_equal(ts_block_decode(s, txn, 100, unit, at, 0, &b), TS_ECORRUPT);
    assert_non_null(strstr(ts_last_error(s), "version 1"));
    mdb_txn_abort(txn);
    ts_block_free(&b);
    free(packed);
    tp_event_destroy(&ev);
    fx_done(&s, dir);
}

/* Dictionary training (dict.c, the codec layer) decodes its samples from the units itself:
 * it must not read through the read layer's block cache, which sits above it. */
AT_TEST(test_store_trains_its_dictionary_without_the_read_cache)
{
    (void)state;
    char *dir;
    ts_store *s = fx_new_store("store-train", &dir);
    enum { N = 1200, GROUP = 100 };
    tp_event **ev = calloc(N, sizeof *ev);
    assert_non_null(ev);
    for (uint64_t i = 0; i < N; i++)
        ev[i] = fx_event(i, i / 8, "wf-train", NULL, T0 + i * 1000);
    for (size_t i = 0; i < N; i += GROUP)
        fx_append_all(s, ev + i, GROUP);
    assert_int_not_equal(s->dict_current, 0); /* trained at 1000 events */
    for (size_t i = 0; i < TS_CACHE_SLOTS; i++)
        assert_true(s->cache[i].first == UINT64_MAX);
    check_and_remove(s, dir, ev, N);
    free(ev);
}
