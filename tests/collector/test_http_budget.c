/*
 * test_http_budget.c - the collector's memory under hostile OTLP requests (curl against the
 * real trace-collector): a protobuf body of millions of empty attributes and a JSON body of
 * millions of values get 413 naming the count, before they are decoded, without the
 * collector's peak RSS growing by a multiple of them; bodies in flight over
 * --otlp-max-inflight-bytes (the bodies and what decoding them costs) get 429 with
 * Retry-After and give their budget back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "at_test.h"
#include "http_fixture.h"
#include "pipeline_util.h"
#include "testutil.h"
#include "traceotlp.h"

static const char *const JSON[] = {"Content-Type: application/json", NULL};
static const char *const PROTO[] = {"Content-Type: application/x-protobuf", NULL};
static const char *TRACE = "5b8efff798038103d269b633813fc60c";

static size_t put_len(unsigned char *p, uint64_t v)
{
    size_t n = 0;
    do {
        p[n++] = (unsigned char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    return n;
}

/* One span with `n` empty attributes (field 9, "4a 00" each), in its scope and resource. */
static unsigned char *empty_attributes(size_t n, size_t *len)
{
    size_t span = 2 + 16 + 2 + 8 + 2 * n;
    unsigned char *b = malloc(span + 64), *p = b;
    assert_non_null(b);
    size_t scope = 1 + put_len((unsigned char[10]){0}, span) + span;
    size_t res = 1 + put_len((unsigned char[10]){0}, scope) + scope;
    *p++ = 0x0a; /* resource_spans */
    p += put_len(p, res);
    *p++ = 0x12; /* scope_spans */
    p += put_len(p, scope);
    *p++ = 0x12; /* spans */
    p += put_len(p, span);
    *p++ = 0x0a; /* trace_id */
    *p++ = 16;
    memset(p, 0x11, 16);
    p += 16;
    *p++ = 0x12; /* span_id */
    *p++ = 8;
    memset(p, 0x22, 8);
    p += 8;
    for (size_t i = 0; i < n; i++) {
        *p++ = 0x4a;
        *p++ = 0;
    }
    *len = (size_t)(p - b);
    return b;
}

AT_TEST(test_millions_of_empty_attributes_get_413_before_decoding)
{
    (void)state;
    hf_env *e = hf_start("http-fields", NULL);
    long before = hf_peak_rss_kb(e->pid);
    size_t len = 0;
    unsigned char *pb = empty_attributes(7500000, &len); /* ~15 MB */
    char *file = hf_write_body(e, "attrs.pb", pb, len);
    hf_reply r;
    hf_request(e, &r, "POST", "/v1/traces", PROTO, file);
    assert_int_equal(r.code, 413);
    assert_non_null(strstr(r.body, "7500007 protobuf fields in one request, at most 1048576"));
    hf_reply_free(&r);
    long after = hf_peak_rss_kb(e->pid);
    fprintf(stderr, "7.5M empty attributes (%zu bytes): peak RSS %ld -> %ld KiB\n", len, before,
            after);
    /* the body itself (held once, read by the scan), never its decoded form (~45x) */
    assert_true(before > 0 && after - before < 40 * 1024);
    /* just under the limit: decoded and stored */
    free(pb);
    free(file);
    pb = empty_attributes(OTLP_MAX_FIELDS - 16, &len);
    file = hf_write_body(e, "attrs-ok.pb", pb, len);
    hf_request(e, &r, "POST", "/v1/traces", PROTO, file);
    assert_int_equal(r.code, 200);
    hf_reply_free(&r);
    long under = hf_peak_rss_kb(e->pid);
    fprintf(stderr, "%zu empty attributes (%zu bytes): peak RSS -> %ld KiB\n", OTLP_MAX_FIELDS - 16,
            len, under);
    hf_assert_stores(e, TRACE, 0);
    TU_FREE(pb, file);
    hf_stop(&e);
}

AT_TEST(test_millions_of_json_values_get_413_before_parsing)
{
    (void)state;
    hf_env *e = hf_start("http-values", NULL);
    long before = hf_peak_rss_kb(e->pid);
    const char *head = "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"attributes\":[";
    size_t n = 3000000, len = strlen(head) + 2 * n + 16;
    char *body = malloc(len), *p = body;
    assert_non_null(body);
    p += sprintf(p, "%s", head);
    for (size_t i = 0; i < n; i++) {
        *p++ = i ? ',' : '0';
        *p++ = i ? '0' : ' ';
    }
    p += sprintf(p, "]}]}]}");
    char *file = hf_write_body(e, "values.json", body, (size_t)(p - body));
    hf_reply r;
    hf_request(e, &r, "POST", "/v1/traces", JSON, file);
    assert_int_equal(r.code, 413);
    assert_non_null(strstr(r.body, "JSON values in one request, at most 2097152"));
    hf_reply_free(&r);
    long after = hf_peak_rss_kb(e->pid);
    fprintf(stderr, "3M JSON values (%zu bytes): peak RSS %ld -> %ld KiB\n", (size_t)(p - body),
            before, after);
    assert_true(before > 0 && after - before < 24 * 1024);
    hf_assert_stores(e, TRACE, 0);
    TU_FREE(body, file);
    hf_stop(&e);
}

AT_TEST(test_bodies_over_max_inflight_bytes_get_429_and_give_the_budget_back)
{
    (void)state;
    const char *args[] = {"--otlp-max-inflight-bytes", "1M", NULL};
    hf_env *e = hf_start("http-budget", args);
    size_t len = 0;
    unsigned char *pb = empty_attributes(600000, &len); /* 1.2 MB: over the budget alone */
    char *file = hf_write_body(e, "big.pb", pb, len);
    hf_reply r;
    for (int i = 0; i < 3; i++) {
        hf_request(e, &r, "POST", "/v1/traces", PROTO, file);
        assert_int_equal(r.code, 429);
        char *ra = hf_header(&r, "Retry-After");
        assert_non_null(ra);
        assert_string_equal(ra, "1");
        assert_non_null(strstr(r.body, "--otlp-max-inflight-bytes"));
        free(ra);
        hf_reply_free(&r);
    }
    /* what the refused bodies reserved was given back: a small one still fits, many times */
    for (int i = 0; i < 5; i++)
        hf_assert_stores(e, TRACE, 10 * i);
    TU_FREE(pb, file);
    hf_stop(&e);
    /* A body that fits, but not what decoding it costs (OTLP_VALUE_COST a field): 429 too. */
    const char *args8[] = {"--otlp-max-inflight-bytes", "8M", NULL};
    e = hf_start("http-budget-decode", args8);
    pb = empty_attributes(200000, &len); /* 400 KB, ~21 MB decoded */
    file = hf_write_body(e, "mid.pb", pb, len);
    hf_request(e, &r, "POST", "/v1/traces", PROTO, file);
    assert_int_equal(r.code, 429);
    assert_non_null(strstr(r.body, "--otlp-max-inflight-bytes"));
    hf_reply_free(&r);
    hf_assert_stores(e, TRACE, 100);
    TU_FREE(pb, file);
    hf_stop(&e);
}
