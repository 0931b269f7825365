/*
 * store_fixture.c - events and stores for the store tests (see store_fixture.h).
 */
#include "store_fixture.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static void fill(uint64_t n, uint64_t salt, uint8_t *out, size_t len)
{
    for (size_t i = 0; i < len; i += 8) {
        uint64_t v = mix(n * 31 + salt + i);
        for (size_t j = 0; j < 8 && i + j < len; j++)
            out[i + j] = (uint8_t)(v >> (8 * j));
    }
    out[0] |= 1;
}

void fx_trace_id(uint64_t n, uint8_t out[16])
{
    fill(n, 7, out, 16);
}

void fx_event_id(uint64_t n, uint8_t out[16])
{
    fill(n, 3, out, 16);
}

static char *xstrdup(const char *s)
{
    char *p = strdup(s);
    assert_non_null(p);
    return p;
}

static void set_bytes(ProtobufCBinaryData *b, protobuf_c_boolean *has, const uint8_t *src, size_t n)
{
    b->data = malloc(n);
    assert_non_null(b->data);
    memcpy(b->data, src, n);
    b->len = n;
    *has = 1;
}

tp_event *fx_event(uint64_t n, uint64_t trace, const char *workflow, const char *dri, uint64_t ts)
{
    static const char *const tools[] = {"get_user_details", "search_flights", "update_booking",
                                        "send_email", "read_file"};
    static const char *const services[] = {"airline-agent", "kb-search", "code-review-agent"};
    tp_event *ev = tp_event_new();
    assert_non_null(ev);
    uint8_t id[16], tr[16], span[8];
    fx_event_id(n, id);
    fx_trace_id(trace, tr);
    fill(n, 11, span, 8);
    set_bytes(&ev->event_id, &ev->has_event_id, id, 16);
    set_bytes(&ev->trace_id, &ev->has_trace_id, tr, 16);
    set_bytes(&ev->span_id, &ev->has_span_id, span, 8);
    ev->has_time_unix_nano = 1;
    ev->time_unix_nano = ts;
    ev->has_duration_nano = 1;
    ev->duration_nano = mix(n) % 5000000000ull;
    ev->has_kind = 1;
    ev->kind = AGENTTRAIL__V1__KIND__TOOL_CALL;
    ev->workflow = xstrdup(workflow);
    char buf[256];
    if (dri)
        ev->dri = xstrdup(dri);
    else {
        snprintf(buf, sizeof buf, "dri%u@example.com", (unsigned)(mix(n) % 7));
        ev->dri = xstrdup(buf);
    }
    ev->service = xstrdup(services[n % 3]);
    ev->environment = xstrdup("prod");
    snprintf(buf, sizeof buf, "%s-agent@1.%u", workflow, (unsigned)(n % 4));
    ev->actor = xstrdup(buf);
    ev->tool_call = malloc(sizeof *ev->tool_call);
    assert_non_null(ev->tool_call);
    agenttrail__v1__tool_call__init(ev->tool_call);
    ev->tool_call->name = xstrdup(tools[mix(n + 1) % 5]);
    snprintf(buf, sizeof buf, "{\"user_id\":\"user_%llu\",\"limit\":%u}",
             (unsigned long long)(mix(n + 2) % 100000), (unsigned)(n % 50));
    ev->tool_call->arguments = xstrdup(buf);
    ev->tool_call->has_status = 1;
    ev->tool_call->status = AGENTTRAIL__V1__TOOL_STATUS__TOOL_OK;
    return ev;
}

ts_store *fx_open(const char *dir, unsigned flags, const ts_options *opt)
{
    ts_store *s = NULL;
    at_error err = {0};
    int rc = ts_open(dir, flags, opt, &s, &err);
    if (rc) fprintf(stderr, "ts_open %s: %d %s\n", dir, rc, err.what);
    assert_int_equal(rc, 0);
    assert_non_null(s);
    return s;
}

ts_store *fx_new_store(const char *tag, char **dir)
{
    *dir = tu_tempdir(tag);
    return fx_open(*dir, TS_OPEN_CREATE, NULL);
}

void fx_done(ts_store **s, char *dir)
{
    ts_close(s);
    tu_rmtree_free(dir);
}

void fx_expect_events(ts_store *s, uint64_t n)
{
    ts_stats st;
    assert_int_equal(ts_stat(s, &st), 0);
    assert_int_equal(st.events, n);
}

void fx_append_all(ts_store *s, tp_event **ev, size_t n)
{
    ts_result *r = calloc(n ? n : 1, sizeof *r);
    assert_non_null(r);
    int rc = ts_append(s, ev, n, r);
    if (rc) fprintf(stderr, "ts_append: %s\n", ts_last_error(s));
    assert_int_equal(rc, 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(r[i].status, TS_RESULT_STORED);
    free(r);
}

void fx_free(tp_event **ev, size_t n)
{
    for (size_t i = 0; i < n; i++)
        tp_event_destroy(&ev[i]);
}

size_t fx_query_all(ts_store *s, const ts_filter *f, size_t page, uint64_t **out)
{
    size_t n = 0, cap = 64;
    uint64_t *li = malloc(cap * sizeof *li);
    assert_non_null(li);
    ts_cursor cur;
    int have_cursor = 0;
    uint64_t last_ts = 0;
    for (;;) {
        ts_iter *it = NULL;
        assert_int_equal(ts_query(s, f, have_cursor ? &cur : NULL, &it), 0);
        size_t got = 0;
        tp_event *ev = NULL;
        int rc = 0;
        while ((page == 0 || got < page) && (rc = ts_iter_next(it, &ev)) == 0) {
            assert_non_null(ev->stored);
            assert_true(ev->time_unix_nano >= last_ts);
            last_ts = ev->time_unix_nano;
            if (n == cap) {
                cap *= 2;
                li = realloc(li, cap * sizeof *li);
                assert_non_null(li);
            }
            li[n++] = ev->stored->log_index;
            got++;
            tp_event_destroy(&ev);
        }
        if (page && got == page) {
            ts_iter_cursor(it, &cur);
            have_cursor = 1;
            ts_iter_destroy(&it);
            continue;
        }
        assert_int_equal(rc, TS_EEND);
        ts_iter_destroy(&it);
        break;
    }
    *out = li;
    return n;
}

void fx_report(void *ctx, const char *msg)
{
    fprintf(stderr, "check: %s\n", msg);
    if (ctx) (*(int *)ctx)++;
}
