/*
 * test_otlp_decode.c - the edges of libtraceotlp: malformed bodies in both formats give
 * OTLP_EDECODE saying where; the OTLP/JSON mapping's variants (snake_case names, enum names,
 * numbers as strings or numbers, uppercase hex, bytesValue, unknown fields); too many spans;
 * the owners file's rules (FILE:LINE errors, last match wins, workflow before service); the
 * response in both formats.
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
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "otlp_fixture.h"
#include "testutil.h"

static int map_raw(const char *body, size_t len, otlp_format fmt, size_t max_spans, otlp_result *r,
                   at_error *err)
{
    tp_limits lim = tp_limits_default();
    otlp_map_opts o = {.hmac_key = fx_key, .limits = &lim, .max_spans = max_spans};
    return otlp_map_request((const uint8_t *)body, len, fmt, &o, r, err);
}

#define SPAN_OK "\"traceId\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"spanId\":\"00f067aa0ba902b7\""
#define WRAP(spans) "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[" spans "]}]}]}"

typedef struct bad_json {
    const char *body;
    const char *where;
    const char *what; /* a part of it */
} bad_json;

static const bad_json bad_jsons[] = {
    {"{\"resourceSpans\":[", "line 1 column 18", "not JSON"},
    {"[]", "-", "expected an object"},
    {"{\"resourceSpans\":{}}", "resourceSpans", "expected an array"},
    {WRAP("{" SPAN_OK
          "},{\"traceId\":\"4bf92f3577b34da6a3ce929d0e0e47\",\"spanId\":\"00f067aa0ba902b7\"}"),
     "resourceSpans[0].scopeSpans[0].spans[1].traceId", "15 bytes, want 16"},
    {WRAP("{\"traceId\":\"zz\",\"spanId\":\"00f067aa0ba902b7\"}"),
     "resourceSpans[0].scopeSpans[0].spans[0].traceId", "not hex"},
    {WRAP("{\"traceId\":\"00000000000000000000000000000000\",\"spanId\":\"00f067aa0ba902b7\"}"),
     "resourceSpans[0].scopeSpans[0].spans[0].traceId", "all zero"},
    {WRAP("{\"traceId\":\"4bf92f3577b34da6a3ce929d0e0e4736\"}"),
     "resourceSpans[0].scopeSpans[0].spans[0].spanId", "0 bytes, want 8"},
    {WRAP("{" SPAN_OK ",\"startTimeUnixNano\":\"12x\"}"),
     "resourceSpans[0].scopeSpans[0].spans[0].startTimeUnixNano", "digits"},
    {WRAP("{" SPAN_OK ",\"kind\":\"SPAN_KIND_NOPE\"}"),
     "resourceSpans[0].scopeSpans[0].spans[0].kind", "enum"},
    {WRAP("{" SPAN_OK ",\"attributes\":[{\"key\":\"a\",\"value\":{\"intValue\":true}}]}"),
     "resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.intValue", "integer"},
    {WRAP("{" SPAN_OK ",\"attributes\":[{\"key\":\"a\",\"value\":{\"bytesValue\":\"@@@@\"}}]}"),
     "resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.bytesValue", "base64"},
    {WRAP("{" SPAN_OK ",\"status\":{\"code\":\"STATUS_CODE_MAYBE\"}}"),
     "resourceSpans[0].scopeSpans[0].spans[0].status.code", "enum"},
};

AT_TEST(test_malformed_json_says_where)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_jsons / sizeof *bad_jsons; i++) {
        otlp_result r = {0};
        at_error err = {{0}};
        int rc = map_raw(bad_jsons[i].body, strlen(bad_jsons[i].body), OTLP_JSON, 0, &r, &err);
        if (rc != OTLP_EDECODE || strcmp(err.where, bad_jsons[i].where) != 0 ||
            !strstr(err.what, bad_jsons[i].what))
            fail_msg("case %zu: rc %d, \"%s: %s\"; want \"%s: ...%s...\"", i, rc, err.where,
                     err.what, bad_jsons[i].where, bad_jsons[i].what);
        assert_int_equal(r.n_events, 0);
        assert_null(r.events);
    }
}

/* buf becomes TAG, varint len, the old buf (tmp is scratch of the same capacity). */
static void wrap(uint8_t tag, uint8_t **buf, uint8_t **tmp, size_t *len)
{
    size_t h = 0, l = *len;
    (*tmp)[h++] = tag;
    do {
        (*tmp)[h++] = (uint8_t)((l & 0x7f) | (l > 0x7f ? 0x80 : 0));
        l >>= 7;
    } while (l);
    memcpy(*tmp + h, *buf, *len);
    *len += h;
    uint8_t *sw = *buf;
    *buf = *tmp;
    *tmp = sw;
}

/* A JSON request of one span whose attribute value is `depth` array values deep. */
static void nested_json(at_buf *b, int depth)
{
    at_buf_puts(b, "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{" SPAN_OK
                   ",\"attributes\":[{\"key\":\"a\",\"value\":");
    for (int i = 0; i < depth; i++)
        at_buf_puts(b, "{\"arrayValue\":{\"values\":[");
    at_buf_puts(b, "{\"intValue\":1}");
    for (int i = 0; i < depth; i++)
        at_buf_puts(b, "]}}");
    at_buf_puts(b, "}]}]}]}]}");
}

AT_TEST(test_deep_nesting_is_refused_in_both_formats)
{
    (void)state;
    at_buf b = {0};
    nested_json(&b, 5000);
    otlp_result r = {0};
    at_error err = {{0}};
    assert_int_equal(map_raw(b.data, b.len, OTLP_JSON, 0, &r, &err), OTLP_EDECODE);
    at_buf_free(&b);
    /* 20 levels: valid JSON for jansson, over the decoder's own bound */
    nested_json(&b, 20);
    assert_int_equal(map_raw(b.data, b.len, OTLP_JSON, 0, &r, &err), OTLP_EDECODE);
    assert_string_equal(err.what, "nested too deeply");
    assert_non_null(strstr(err.where, "spans[0].attributes[0].value.arrayValue.values[0]"));
    at_buf_free(&b);
    /* protobuf: AnyValue{array_value=5: ArrayValue{values=1: AnyValue{...}}} 50000 deep, as
     * a KeyValue's value in a span's attributes; built inside out. */
    size_t cap = 50000 * 2 * 4 + 64, len = 0;
    uint8_t *buf = malloc(cap), *tmp = malloc(cap);
    assert_true(buf && tmp);
    for (size_t i = 0; i < 50000; i++) {
        wrap(0x0a, &buf, &tmp, &len); /* ArrayValue.values */
        wrap(0x2a, &buf, &tmp, &len); /* AnyValue.array_value */
    }
    static const uint8_t outer[] = {0x12, 0x4a, 0x12, 0x12,
                                    0x0a}; /* KeyValue.value, Span.attributes,
                       ScopeSpans.spans, ResourceSpans.scope_spans, request */
    for (size_t i = 0; i < sizeof outer; i++)
        wrap(outer[i], &buf, &tmp, &len);
    assert_int_equal(map_raw((const char *)buf, len, OTLP_PROTOBUF, 0, &r, &err), OTLP_EDECODE);
    assert_string_equal(err.what, "nested too deeply");
    assert_non_null(
        strstr(err.where, "resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value"));
    TU_FREE(buf, tmp);
}

AT_TEST(test_malformed_protobuf_says_where)
{
    (void)state;
    static const tattr attrs[] = {TS("gen_ai.operation.name", "chat"), TEND};
    tspan s = {
        "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", NULL, "x", 1, 2, 0, NULL, attrs};
    size_t len;
    uint8_t *pb = fx_pb_request(NULL, &s, 1, &len);
    otlp_result r = {0};
    at_error err = {{0}};
    for (size_t cut = 1; cut < len; cut++) { /* every truncation is refused or maps cleanly */
        int rc = map_raw((const char *)pb, cut, OTLP_PROTOBUF, 0, &r, &err);
        assert_true(rc == OTLP_EDECODE || rc == 0);
        if (rc == OTLP_EDECODE) assert_true(err.where[0] && err.what[0]);
        otlp_result_clear(&r);
    }
    assert_int_equal(map_raw((const char *)pb, len - 1, OTLP_PROTOBUF, 0, &r, &err), OTLP_EDECODE);
    assert_string_equal(err.where, "-");
    assert_string_equal(err.what, "field 1: length past the end");
    assert_int_equal(map_raw("\xff\xff", 2, OTLP_PROTOBUF, 0, &r, &err), OTLP_EDECODE);
    /* a span id of 7 bytes */
    tspan s7 = s;
    s7.span = "00f067aa0ba902";
    free(pb);
    pb = fx_pb_request(NULL, &s7, 1, &len);
    assert_int_equal(map_raw((const char *)pb, len, OTLP_PROTOBUF, 0, &r, &err), OTLP_EDECODE);
    assert_string_equal(err.where, "resourceSpans[0].scopeSpans[0].spans[0].spanId");
    assert_string_equal(err.what, "7 bytes, want 8");
    free(pb);
    /* an empty body is an empty request */
    assert_int_equal(map_raw("", 0, OTLP_PROTOBUF, 0, &r, &err), 0);
    assert_int_equal(r.n_spans, 0);
    otlp_result_clear(&r);
}

AT_TEST(test_json_variants_of_the_mapping)
{
    (void)state;
    static const char body[] =
        "{\"resource_spans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":"
        "{\"stringValue\":\"svc\"}},{\"key\":\"agenttrail.dri\",\"value\":{\"string_value\":"
        "\"d@x\"}}]},\"scope_spans\":[{\"spans\":[{\"trace_id\":"
        "\"4BF92F3577B34DA6A3CE929D0E0E4736\","
        "\"span_id\":\"00F067AA0BA902B7\",\"parent_span_id\":\"\",\"name\":\"chat\",\"kind\":"
        "\"SPAN_KIND_CLIENT\",\"start_time_unix_nano\":1732531200000000000,\"endTimeUnixNano\":"
        "\"1732531200500000000\",\"droppedAttributesCount\":0,\"links\":[],\"attributes\":["
        "{\"key\":\"gen_ai.operation.name\",\"value\":{\"stringValue\":\"chat\"}},"
        "{\"key\":\"gen_ai.request.model\",\"value\":{\"stringValue\":\"m\"}},"
        "{\"key\":\"gen_ai.usage.input_tokens\",\"value\":{\"intValue\":7}},"
        "{\"key\":\"blob\",\"value\":{\"bytesValue\":\"aGVsbG8=\"}},"
        "{\"key\":\"tags\",\"value\":{\"arrayValue\":{\"values\":[{\"stringValue\":\"a\"},"
        "{\"intValue\":\"2\"},{\"boolValue\":true}]}}},"
        "{\"key\":\"meta\",\"value\":{\"kvlistValue\":{\"values\":[{\"key\":\"k\",\"value\":"
        "{\"doubleValue\":1.5}}]}}},{\"key\":\"nothing\",\"value\":null},"
        "{\"key\":\"llm.prompts\",\"value\":{\"arrayValue\":{\"values\":[{\"stringValue\":"
        "\"SECRET-UNFLATTENED\"}]}}}],"
        "\"status\":{\"code\":\"STATUS_CODE_ERROR\",\"message\":\"boom\"},\"future\":[1,2]}]}]}],"
        "\"alsoUnknown\":true}";
    otlp_result r = {0};
    fx_map((const uint8_t *)body, strlen(body), OTLP_JSON, NULL, &r);
    assert_int_equal(r.n_events, 1);
    const tp_event *e = r.events[0];
    assert_int_equal(e->time_unix_nano, 1732531200000000000ull);
    assert_int_equal(e->duration_nano, 500000000ull);
    assert_false(e->has_parent_span_id);
    assert_int_equal(e->usage->input_tokens, 7);
    assert_string_equal(fx_attr(e, "blob"), "aGVsbG8=");
    assert_string_equal(fx_attr(e, "tags"), "[\"a\",2,true]");
    assert_string_equal(fx_attr(e, "meta"), "{\"k\":1.5}");
    assert_string_equal(fx_attr(e, "otel.status_code"), "ERROR");
    assert_string_equal(fx_attr(e, "otel.status_message"), "boom");
    assert_null(fx_attr(e, "nothing"));
    fx_assert_absent(&r, "SECRET-UNFLATTENED"); /* an unflattened list of prompts: hashed */
    char want[65], h[65];
    fx_hmac_hex("[\"SECRET-UNFLATTENED\"]", want);
    at_hex_encode(e->prompt->hmac_sha256.data, 32, h);
    assert_string_equal(h, want);
    otlp_result_clear(&r);
}

AT_TEST(test_too_many_spans)
{
    (void)state;
    static const char body[] = WRAP("{" SPAN_OK "},{" SPAN_OK "},{" SPAN_OK "}");
    otlp_result r = {0};
    at_error err = {{0}};
    assert_int_equal(map_raw(body, strlen(body), OTLP_JSON, 2, &r, &err), OTLP_ETOOBIG);
    assert_non_null(strstr(err.what, "3 spans"));
    assert_int_equal(map_raw(body, strlen(body), OTLP_JSON, 3, &r, &err), 0);
    assert_int_equal(r.n_not_ai, 3);
    otlp_result_clear(&r);
}

/* The counts of otlp_request_values, and OTLP_ETOOBIG past the limits before decoding. */
AT_TEST(test_too_many_values_before_decoding)
{
    (void)state;
    /* JSON: 4 a '{' (WRAP: 3 + the span's), ':' 5 (4 + traceId, spanId), ',' 1, '[' 3;
     * the ones inside strings do not count */
    static const char one[] = WRAP("{" SPAN_OK ",\"name\":\"a:b,{[\\\"\"}");
    assert_int_equal(otlp_request_values((const uint8_t *)one, strlen(one), OTLP_JSON),
                     4 * 4 + 6 + 2 + 3);
    /* protobuf: resource_spans, scope_spans, spans (a span counts 1 + its struct / 64),
     * trace_id, span_id and an empty attribute */
    static const uint8_t pb[] = {0x0a, 0x22, 0x12, 0x20, 0x12, 0x1e, 0x0a, 0x10, 1,  2,  3,    4,
                                 5,    6,    7,    8,    9,    10,   11,   12,   13, 14, 15,   16,
                                 0x12, 0x08, 1,    2,    3,    4,    5,    6,    7,  8,  0x4a, 0};
    size_t span_units = 1 + opentelemetry__proto__trace__v1__span__descriptor.sizeof_message / 64;
    assert_int_equal(otlp_request_values(pb, sizeof pb, OTLP_PROTOBUF), 2 + span_units + 3);
    otlp_result r = {0};
    at_error err = {{0}};
    assert_int_equal(map_raw((const char *)pb, sizeof pb, OTLP_PROTOBUF, 0, &r, &err), 0);
    otlp_result_clear(&r);
    /* over: a protobuf span of OTLP_MAX_FIELDS empty attributes, a JSON array of as many
     * values; both refused naming the count */
    size_t n = OTLP_MAX_FIELDS, len = 2 * n + 64;
    uint8_t *big = malloc(len);
    assert_non_null(big);
    size_t o = 0, span = 2 * n, inner = span + 1 + 3, outer = inner + 1 + 3;
    big[o++] = 0x0a; /* resource_spans, scope_spans, spans: lengths as 3-byte varints */
    for (size_t v = outer, k = 0; k < 3; k++, v >>= 7)
        big[o++] = (uint8_t)((v & 0x7f) | (k < 2 ? 0x80 : 0));
    big[o++] = 0x12;
    for (size_t v = inner, k = 0; k < 3; k++, v >>= 7)
        big[o++] = (uint8_t)((v & 0x7f) | (k < 2 ? 0x80 : 0));
    big[o++] = 0x12;
    for (size_t v = span, k = 0; k < 3; k++, v >>= 7)
        big[o++] = (uint8_t)((v & 0x7f) | (k < 2 ? 0x80 : 0));
    for (size_t i = 0; i < n; i++) {
        big[o++] = 0x4a;
        big[o++] = 0;
    }
    assert_int_equal(map_raw((const char *)big, o, OTLP_PROTOBUF, 0, &r, &err), OTLP_ETOOBIG);
    assert_non_null(strstr(err.what, "protobuf fields in one request, at most 1048576"));
    free(big);
    n = OTLP_MAX_JSON_VALUES;
    char *j = malloc(2 * n + 64), *p = j;
    assert_non_null(j);
    p += sprintf(p, "{\"resourceSpans\":[");
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, i ? ",0" : "0");
    p += sprintf(p, "]}"); /* n - 1 commas, a { (4), a : and a [: n + 5 */
    assert_int_equal(map_raw(j, (size_t)(p - j), OTLP_JSON, 0, &r, &err), OTLP_ETOOBIG);
    assert_non_null(strstr(err.what, "2097157 JSON values in one request, at most 2097152"));
    free(j);
}

AT_TEST(test_owners_file)
{
    (void)state;
    char *dir;
    otlp_owners *o = fx_owners("# owners\n\nservice:*        all@x\nservice:pay-*  pay@x\n"
                               "workflow:refund-* refunds@x   \n",
                               &dir);
    assert_string_equal(otlp_owners_find(o, "refund-eu", "pay-api"), "refunds@x");
    assert_string_equal(otlp_owners_find(o, "other", "pay-api"), "pay@x");
    assert_string_equal(otlp_owners_find(o, NULL, "web"), "all@x");
    otlp_owners_destroy(&o);
    otlp_owners_destroy(&o);
    tu_rmtree_free(dir);
    o = fx_owners("workflow:a x@y\n", &dir);
    assert_null(otlp_owners_find(o, "b", NULL));
    assert_null(otlp_owners_find(NULL, "a", NULL));
    otlp_owners_destroy(&o);
    static const struct {
        const char *text;
        unsigned line;
        const char *what;
    } bad[] = {
        {"service:a x\nnope x\n", 2, "workflow: or service:"},
        {"# c\nworkflow:a\n", 2, "expected"},
        {"workflow:a b c\n", 1, "expected"},
        {"\n\n\nservice: x\n", 4, "empty pattern"},
        {"workflow: x\n", 1, "empty pattern"},
        {"service:x \xff\xfe\n", 1, "UTF-8"},
    };
    char *path = tu_path(dir, "BAD");
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(tu_write_file(path, bad[i].text, strlen(bad[i].text)), 0);
        at_error err = {{0}};
        assert_int_equal(otlp_owners_load(path, &o, &err), OTLP_EOWNERS);
        assert_null(o);
        char where[300];
        snprintf(where, sizeof where, "%s:%u", path, bad[i].line);
        assert_string_equal(err.where, where);
        if (!strstr(err.what, bad[i].what)) fail_msg("case %zu: %s", i, err.what);
    }
    at_error err = {{0}};
    char *missing = tu_path(dir, "MISSING");
    assert_int_equal(otlp_owners_load(missing, &o, &err), OTLP_EOWNERS);
    assert_string_equal(err.where, missing);
    TU_FREE(path, missing);
    tu_rmtree_free(dir);
}

AT_TEST(test_response_in_both_formats)
{
    (void)state;
    uint8_t *out;
    size_t len;
    assert_int_equal(otlp_response_encode(OTLP_JSON, 0, NULL, &out, &len), 0);
    assert_string_equal((char *)out, "{}");
    free(out);
    assert_int_equal(otlp_response_encode(OTLP_JSON, 3, "dri: \"x\" missing", &out, &len), 0);
    assert_string_equal((char *)out,
                        "{\"partialSuccess\":{\"rejectedSpans\":\"3\",\"errorMessage\":"
                        "\"dri: \\\"x\\\" missing\"}}");
    free(out);
    assert_int_equal(otlp_response_encode(OTLP_PROTOBUF, 0, "", &out, &len), 0);
    assert_int_equal(len, 0);
    free(out);
    assert_int_equal(otlp_response_encode(OTLP_PROTOBUF, 2, "why", &out, &len), 0);
    Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse *resp =
        opentelemetry__proto__collector__trace__v1__export_trace_service_response__unpack(NULL, len,
                                                                                          out);
    assert_non_null(resp);
    assert_non_null(resp->partial_success);
    assert_int_equal(resp->partial_success->rejected_spans, 2);
    assert_string_equal(resp->partial_success->error_message, "why");
    opentelemetry__proto__collector__trace__v1__export_trace_service_response__free_unpacked(resp,
                                                                                             NULL);
    free(out);
    assert_string_equal(otlp_dialect_name(OTLP_DIALECT_AISDK), "aisdk");
    assert_string_equal(otlp_strerror(OTLP_EDECODE), "not an OTLP ExportTraceServiceRequest");
}
