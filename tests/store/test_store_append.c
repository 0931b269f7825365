/*
 * test_store_append.c - groups, results, log indexes, stamps, dedup, stored
 * bytes and leaf hashes, dictionaries.
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

/* One ts_append result: its status and the log index it names. */
static void expect_result(const ts_result *r, int status, uint64_t log_index)
{
    assert_int_equal(r->status, status);
    assert_int_equal(r->log_index, log_index);
}

AT_TEST(test_store_append_gives_consecutive_log_indexes)
{
    (void)state;
    char *dir;
    ts_store *s = fx_new_store("store-append", &dir);
    uint64_t next = 0;
    for (int g = 0; g < 5; g++) {
        tp_event *ev[7];
        ts_result r[7];
        for (int i = 0; i < 7; i++)
            ev[i] = fx_event((uint64_t)(g * 7 + i), (uint64_t)g, "wf-a", NULL,
                             T0 + (uint64_t)(g * 7 + i) * 1000);
        assert_int_equal(ts_append(s, ev, 7, r), 0);
        for (int i = 0; i < 7; i++) {
            assert_int_equal(r[i].status, TS_RESULT_STORED);
            assert_int_equal(r[i].log_index, next);
            assert_int_equal(ev[i]->stored->log_index, next);
            assert_string_equal(ev[i]->stored->source, "anonymous");
            assert_true(ev[i]->stored->has_received_unix_nano);
            next++;
        }
        fx_free(ev, 7);
    }
    ts_stats st;
    assert_int_equal(ts_stat(s, &st), 0);
    assert_int_equal(st.events, 35);
    assert_int_equal(st.traces, 5);
    ts_close(&s);
    /* The log continues where it stopped after a reopen. */
    s = fx_open(dir, 0, NULL);
    tp_event *ev = fx_event(1000, 9, "wf-a", NULL, T0);
    ts_result r;
    assert_int_equal(ts_append(s, &ev, 1, &r), 0);
    assert_int_equal(r.log_index, 35);
    tp_event_destroy(&ev);
    assert_int_equal(ts_check(s, fx_report, NULL), 0);
    fx_done(&s, dir);
}

AT_TEST(test_store_keeps_collector_stamps)
{
    (void)state;
    char *dir;
    ts_store *s = fx_new_store("store-append", &dir);
    tp_event *ev = fx_event(1, 1, "wf", NULL, T0);
    ev->stored = malloc(sizeof *ev->stored);
    agenttrail__v1__stored__init(ev->stored);
    ev->stored->has_received_unix_nano = 1;
    ev->stored->received_unix_nano = 42;
    ev->stored->source = strdup("shim-key-7");
    ev->stored->has_log_index = 1;
    ev->stored->log_index = 999; /* a client's forgery: replaced */
    ts_result r;
    assert_int_equal(ts_append(s, &ev, 1, &r), 0);
    tp_event *got = NULL;
    assert_int_equal(ts_get(s, ev->event_id.data, &got), 0);
    assert_int_equal(got->stored->log_index, 0);
    assert_int_equal(got->stored->received_unix_nano, 42);
    assert_string_equal(got->stored->source, "shim-key-7");
    tp_event_destroy(&got);
    tp_event_destroy(&ev);
    fx_done(&s, dir);
}

AT_TEST(test_store_dedups_within_a_group)
{
    (void)state;
    char *dir;
    ts_store *s = fx_new_store("store-append", &dir);
    tp_event *ev[4] = {fx_event(1, 1, "wf", NULL, T0), fx_event(2, 1, "wf", NULL, T0 + 1),
                       fx_event(1, 1, "wf", NULL, T0), fx_event(3, 1, "wf", NULL, T0 + 2)};
    ts_result r[4];
    assert_int_equal(ts_append(s, ev, 4, r), 0);
    assert_int_equal(r[0].status, TS_RESULT_STORED);
    assert_int_equal(r[1].status, TS_RESULT_STORED);
    expect_result(&r[2], TS_RESULT_DUPLICATE, r[0].log_index);
    expect_result(&r[3], TS_RESULT_STORED, 2);
    fx_expect_events(s, 3);
    assert_int_equal(ts_check(s, fx_report, NULL), 0);
    fx_free(ev, 4);
    fx_done(&s, dir);
}

AT_TEST(test_store_dedups_across_groups)
{
    (void)state;
    char *dir;
    ts_store *s = fx_new_store("store-append", &dir);
    tp_event *a[3] = {fx_event(1, 1, "wf", NULL, T0), fx_event(2, 1, "wf", NULL, T0 + 1),
                      fx_event(3, 1, "wf", NULL, T0 + 2)};
    fx_append_all(s, a, 3);
    ts_close(&s);
    s = fx_open(dir, 0, NULL); /* also across a reopen */
    tp_event *b[3] = {fx_event(3, 1, "wf", NULL, T0 + 2), fx_event(4, 1, "wf", NULL, T0 + 3),
                      fx_event(1, 1, "wf", NULL, T0)};
    ts_result r[3];
    assert_int_equal(ts_append(s, b, 3, r), 0);
    expect_result(&r[0], TS_RESULT_DUPLICATE, 2);
    expect_result(&r[1], TS_RESULT_STORED, 3);
    expect_result(&r[2], TS_RESULT_DUPLICATE, 0);
    /* A group of only duplicates changes nothing. */
    assert_int_equal(ts_append(s, a, 3, r), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(r[i].status, TS_RESULT_DUPLICATE);
    fx_expect_events(s, 4);
    assert_int_equal(ts_check(s, fx_report, NULL), 0);
    fx_free(a, 3);
    fx_free(b, 3);
    fx_done(&s, dir);
}

/* Same id, same bytes (a resend, whatever its `stored` stamps) is a
 * DUPLICATE; same id, other bytes is a CONFLICT, within a group (first copy in
 * the block being built, or in a block written earlier in the transaction)
 * and across groups and a reopen; neither is stored. */
AT_TEST(test_store_tells_a_resend_from_another_event_under_the_same_id)
{
    (void)state;
    char *dir;
    ts_store *s = fx_new_store("store-append", &dir);
    tp_event *ev[5] = {fx_event(1, 1, "wf", NULL, T0), fx_event(2, 1, "wf", NULL, T0 + 1),
                       fx_event(1, 1, "wf-other", NULL, T0), fx_event(1, 2, "wf", NULL, T0),
                       fx_event(1, 1, "wf", NULL, T0)};
    ev[4]->stored = malloc(sizeof *ev[4]->stored);
    agenttrail__v1__stored__init(ev[4]->stored);
    ev[4]->stored->has_received_unix_nano = 1;
    ev[4]->stored->received_unix_nano = 42;
    ev[4]->stored->source = strdup("another-shim");
    ts_result r[5];
    assert_int_equal(ts_append(s, ev, 5, r), 0);
    assert_int_equal(r[0].status, TS_RESULT_STORED);
    assert_int_equal(r[1].status, TS_RESULT_STORED);
    expect_result(&r[2], TS_RESULT_CONFLICT, r[0].log_index); /* first copy in the open block */
    expect_result(&r[3], TS_RESULT_CONFLICT, r[0].log_index); /* another trace: a written block */
    assert_int_equal(r[4].status, TS_RESULT_DUPLICATE);       /* other stamps, same event */
    fx_free(ev, 5);
    ts_close(&s);
    s = fx_open(dir, 0, NULL);
    tp_event *b[3] = {fx_event(1, 1, "wf", NULL, T0), fx_event(1, 1, "wf", NULL, T0 + 5),
                      fx_event(2, 1, "wf", "someone-else@example.com", T0 + 1)};
    assert_int_equal(ts_append(s, b, 3, r), 0);
    assert_int_equal(r[0].status, TS_RESULT_DUPLICATE);
    expect_result(&r[1], TS_RESULT_CONFLICT, 0);
    expect_result(&r[2], TS_RESULT_CONFLICT, 1);
    fx_expect_events(s, 2);
    tp_event *got = NULL;
    assert_int_equal(ts_get(s, b[0]->event_id.data, &got), 0);
    assert_string_equal(got->workflow, "wf"); /* the first copy stays */
    assert_int_equal(got->time_unix_nano, T0);
    tp_event_destroy(&got);
    assert_int_equal(ts_check(s, fx_report, NULL), 0);
    fx_free(b, 3);
    fx_done(&s, dir);
}

/* The longest workflow, dri and incident the contract accepts (traceproto.h)
 * are keys the indexes hold: each finds its event, and an event validated
 * with a longer one never reaches the store. */
AT_TEST(test_store_indexes_the_longest_keys_the_contract_allows)
{
    (void)state;
    char *dir;
    ts_store *s = fx_new_store("store-append", &dir);
    char wf[TP_WORKFLOW_MAX + 2], dri[TP_DRI_MAX + 2], inc[TP_INCIDENT_MAX + 2];
    memset(wf, 'w', TP_WORKFLOW_MAX);
    wf[TP_WORKFLOW_MAX] = 0;
    memset(dri, 'd', TP_DRI_MAX);
    dri[TP_DRI_MAX] = 0;
    memset(inc, 'i', TP_INCIDENT_MAX);
    inc[TP_INCIDENT_MAX] = 0;
    tp_event *ev = fx_event(1, 1, wf, dri, T0);
    ev->incident = strdup(inc);
    at_error err;
    assert_int_equal(tp_event_validate(ev, NULL, &err), TP_OK);
    fx_append_all(s, &ev, 1);
    ts_filter f[3] = {{.workflow = wf}, {.dri = dri}, {.incident = inc}};
    for (int k = 0; k < 3; k++) {
        uint64_t *got = NULL;
        assert_int_equal(fx_query_all(s, &f[k], 0, &got), 1);
        free(got);
    }
    inc[TP_INCIDENT_MAX] = 'i'; /* one byte more: refused before any store sees it */
    inc[TP_INCIDENT_MAX + 1] = 0;
    free(ev->incident);
    ev->incident = strdup(inc);
    assert_int_equal(tp_event_validate(ev, NULL, &err), TP_ETOOBIG);
    assert_string_equal(err.where, "incident");
    tp_event_destroy(&ev);
    fx_done(&s, dir);
}

AT_TEST(test_store_rejects_events_without_id)
{
    (void)state;
    char *dir;
    ts_store *s = fx_new_store("store-append", &dir);
    tp_event *ev[2] = {fx_event(1, 1, "wf", NULL, T0), fx_event(2, 1, "wf", NULL, T0)};
    ev[1]->event_id.len = 8;
    ts_result r[2];
    assert_int_equal(ts_append(s, ev, 2, r), TS_EINVAL);
    assert_non_null(strstr(ts_last_error(s), "event 1"));
    fx_expect_events(s, 0); /* nothing of the group */
    ev[1]->event_id.len = 16;
    fx_free(ev, 2);
    fx_done(&s, dir);
}

/* The stored bytes are the event's protobuf with its stamps, bit for bit,
 * and log_leaves holds SHA-256(0x00 || them). Across a dictionary being
 * trained, old and new events read back. */
AT_TEST(test_store_stored_bytes_match_leaf_hashes_across_dictionaries)
{
    (void)state;
    char *dir;
    ts_store *s = fx_new_store("store-append", &dir);
    enum { N = 3000, G = 500 };
    uint8_t *packed[N];
    size_t plen[N];
    for (int g = 0; g < N / G; g++) {
        tp_event *ev[G];
        for (int i = 0; i < G; i++) {
            uint64_t n = (uint64_t)(g * G + i);
            ev[i] = fx_event(n, n / 20, (n % 3) ? "wf-a" : "wf-b", NULL, T0 + n * 1000000);
        }
        fx_append_all(s, ev, G);
        for (int i = 0; i < G; i++)
            assert_int_equal(tp_event_pack(ev[i], &packed[g * G + i], &plen[g * G + i]), 0);
        fx_free(ev, G);
    }
    ts_stats st;
    assert_int_equal(ts_stat(s, &st), 0);
    assert_true(st.dictionaries >= 1);
    MDB_txn *txn;
    assert_int_equal(mdb_txn_begin(ts_internal_env(s), NULL, MDB_RDONLY, &txn), 0);
    for (uint64_t li = 0; li < N; li += 37) {
        uint8_t *b = NULL;
        size_t n = 0;
        assert_int_equal(ts_get_stored_bytes(s, li, &b, &n), 0);
        assert_int_equal(n, plen[li]);
        assert_memory_equal(b, packed[li], n);
        uint8_t leaf[32], want[32];
        uint8_t *pre = malloc(n + 1);
        pre[0] = 0;
        memcpy(pre + 1, b, n);
        SHA256(pre, n + 1, want);
        free(pre);
        assert_int_equal(ts_internal_leaf_get(s, txn, li, leaf), 0);
        assert_memory_equal(leaf, want, 32);
        uint8_t *b2 = NULL;
        size_t n2 = 0;
        assert_int_equal(ts_internal_read_stored(s, txn, li, &b2, &n2), 0);
        assert_int_equal(n2, n);
        assert_memory_equal(b2, b, n);
        free(b2);
        free(b);
    }
    /* Events are stored in blocks, one per trace and group (20 events here),
     * and compression pays once a dictionary exists: blocks after training are
     * on average well under half the raw size of their events. */
    MDB_dbi events;
    MDB_cursor *c;
    assert_int_equal(ts_internal_dbi(s, txn, "events", 0, 0, &events), 0);
    assert_int_equal(mdb_cursor_open(txn, events, &c), 0);
    MDB_val k, v;
    size_t raw = 0, unit = 0;
    int dict_units = 0;
    for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        const uint8_t *u = v.mv_data;
        uint64_t li = ts_get_be64(k.mv_data);
        assert_int_equal(u[0], TS_UNIT_VERSION);
        assert_int_equal(li % 20, 0); /* a block starts with its trace */
        if (ts_get_be32(u + 2) == 0) continue;
        dict_units++;
        for (uint64_t i = li; i < li + 20; i++)
            raw += plen[i];
        unit += v.mv_size - TS_UNIT_HEADER;
    }
    mdb_cursor_close(c);
    assert_true(dict_units >= (N - 1500) / 20);
    assert_true(unit * 2 < raw);
    mdb_txn_abort(txn);
    uint8_t *b = NULL;
    size_t n = 0;
    assert_int_equal(ts_get_stored_bytes(s, N, &b, &n), TS_ENOTFOUND);
    assert_int_equal(ts_check(s, fx_report, NULL), 0);
    for (int i = 0; i < N; i++)
        free(packed[i]);
    fx_done(&s, dir);
}

/* Events unlike the fixture's: arguments of pseudo-random letters. */
static tp_event *drifted_event(uint64_t n)
{
    tp_event *ev = fx_event(n, n / 20, "wf-new", NULL, T0 + n);
    char buf[301];
    uint64_t x = n * 0x9e3779b97f4a7c15ull + 1;
    for (int i = 0; i < 300; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf[i] = (char)('a' + x % 26);
    }
    buf[300] = 0;
    free(ev->tool_call->arguments);
    ev->tool_call->arguments = strdup(buf);
    return ev;
}

AT_TEST(test_store_retrains_when_the_data_drifts)
{
    (void)state;
    char *dir;
    ts_store *s = fx_new_store("store-append", &dir);
    s->train_first = 200;
    s->train_second = 400;
    s->next_train_at = 200;
    s->drift_window = 64 * 1024;
    enum { G = 100 };
    tp_event *ev[G];
    for (uint64_t g = 0; g < 12; g++) {
        for (uint64_t i = 0; i < G; i++)
            ev[i] = fx_event(g * G + i, g, "wf-a", NULL, T0 + g * G + i);
        fx_append_all(s, ev, G);
        fx_free(ev, G);
    }
    ts_stats st;
    assert_int_equal(ts_stat(s, &st), 0);
    assert_int_equal(st.dictionaries, 2); /* at 200 and 400; steady data after that */
    for (uint64_t g = 12; g < 24; g++) {
        for (uint64_t i = 0; i < G; i++)
            ev[i] = drifted_event(g * G + i);
        fx_append_all(s, ev, G);
        fx_free(ev, G);
    }
    assert_int_equal(ts_stat(s, &st), 0);
    assert_true(st.dictionaries >= 3); /* the drift was noticed and a new one trained */
    assert_int_equal(ts_check(s, fx_report, NULL), 0);
    ts_close(&s);
    /* A reader decodes units of every dictionary. */
    s = fx_open(dir, TS_OPEN_RDONLY, NULL);
    assert_int_equal(ts_check(s, fx_report, NULL), 0);
    fx_done(&s, dir);
}

static int hook_calls;
static uint64_t hook_first, hook_n;
static int hook_fail;
static int count_hook(void *ctx, ts_store *s, MDB_txn *txn, uint64_t first, uint64_t n)
{
    (void)ctx;
    hook_calls++;
    hook_first = first;
    hook_n = n;
    /* The hook sees the group's events inside the transaction. */
    for (uint64_t li = first; li < first + n; li++) {
        uint8_t leaf[32];
        assert_int_equal(ts_internal_leaf_get(s, txn, li, leaf), 0);
    }
    MDB_dbi extra;
    assert_int_equal(ts_internal_dbi(s, txn, "hook_extra", 0, 1, &extra), 0);
    return hook_fail ? TS_ECORRUPT : 0;
}

AT_TEST(test_store_append_hook_runs_inside_the_transaction)
{
    (void)state;
    char *dir;
    ts_store *s = fx_new_store("store-append", &dir);
    ts_internal_set_append_hook(s, count_hook, NULL);
    tp_event *ev[3] = {fx_event(1, 1, "wf", NULL, T0), fx_event(2, 1, "wf", NULL, T0 + 1),
                       fx_event(3, 1, "wf", NULL, T0 + 2)};
    ts_result r[3];
    assert_int_equal(ts_append(s, ev, 2, r), 0);
    assert_int_equal(hook_calls, 1);
    assert_int_equal(hook_first, 0);
    assert_int_equal(hook_n, 2);
    hook_fail = 1; /* a failing hook aborts the whole group */
    assert_int_equal(ts_append(s, ev + 2, 1, r), TS_ECORRUPT);
    hook_fail = 0;
    fx_expect_events(s, 2);
    assert_int_equal(ts_append(s, ev + 2, 1, r), 0);
    assert_int_equal(r[0].log_index, 2);
    assert_int_equal(hook_first, 2);
    fx_free(ev, 3);
    fx_done(&s, dir);
}
