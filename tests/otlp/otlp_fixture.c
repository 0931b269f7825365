/*
 * otlp_fixture.c - the requests and the assertions the tests of libtraceotlp share
 * (otlp_fixture.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "otlp_fixture.h"
#include "testutil.h"

const uint8_t fx_key[TP_HMAC_KEY_LEN] = {
    0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42,
    0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42};

typedef Opentelemetry__Proto__Common__V1__KeyValue kv_t;
typedef Opentelemetry__Proto__Common__V1__AnyValue any_t;
typedef Opentelemetry__Proto__Trace__V1__Span span_t;

static size_t count_attrs(const tattr *a)
{
    size_t n = 0;
    while (a && a[n].key)
        n++;
    return n;
}

static kv_t **pb_attrs(const tattr *a, size_t *n)
{
    *n = count_attrs(a);
    kv_t **kvs = calloc(*n + 1, sizeof *kvs);
    assert_non_null(kvs);
    for (size_t i = 0; i < *n; i++) {
        kv_t *kv = calloc(1, sizeof *kv);
        any_t *v = calloc(1, sizeof *v);
        assert_true(kv && v);
        opentelemetry__proto__common__v1__key_value__init(kv);
        opentelemetry__proto__common__v1__any_value__init(v);
        kv->key = (char *)a[i].key;
        kv->value = v;
        switch (a[i].type) {
        case 's':
            v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
            v->string_value = (char *)a[i].s;
            break;
        case 'i':
            v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
            v->int_value = a[i].i;
            break;
        case 'd':
            v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE;
            v->double_value = a[i].d;
            break;
        default:
            v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE;
            v->bool_value = a[i].i != 0;
        }
        kvs[i] = kv;
    }
    return kvs;
}

static void free_attrs(kv_t **kvs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(kvs[i]->value);
        free(kvs[i]);
    }
    free(kvs);
}

static ProtobufCBinaryData hex_bytes(const char *hex)
{
    ProtobufCBinaryData b = {0, NULL};
    if (!hex) return b;
    b.len = strlen(hex) / 2;
    b.data = malloc(b.len + 1);
    assert_non_null(b.data);
    assert_int_equal(at_hex_decode(hex, b.len * 2, b.data, b.len), 0);
    return b;
}

uint8_t *fx_pb_request(const tattr *res, const tspan *spans, size_t n, size_t *len)
{
    Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest req =
        OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_REQUEST__INIT;
    Opentelemetry__Proto__Trace__V1__ResourceSpans rs =
        OPENTELEMETRY__PROTO__TRACE__V1__RESOURCE_SPANS__INIT;
    Opentelemetry__Proto__Resource__V1__Resource resource =
        OPENTELEMETRY__PROTO__RESOURCE__V1__RESOURCE__INIT;
    Opentelemetry__Proto__Trace__V1__ScopeSpans ss =
        OPENTELEMETRY__PROTO__TRACE__V1__SCOPE_SPANS__INIT;
    Opentelemetry__Proto__Common__V1__InstrumentationScope scope =
        OPENTELEMETRY__PROTO__COMMON__V1__INSTRUMENTATION_SCOPE__INIT;
    scope.name = "fixture-scope";
    Opentelemetry__Proto__Trace__V1__ResourceSpans *rsp = &rs;
    Opentelemetry__Proto__Trace__V1__ScopeSpans *ssp = &ss;
    req.n_resource_spans = 1;
    req.resource_spans = &rsp;
    rs.resource = &resource;
    resource.attributes = pb_attrs(res, &resource.n_attributes);
    rs.n_scope_spans = 1;
    rs.scope_spans = &ssp;
    ss.scope = &scope;
    span_t *sp = calloc(n + 1, sizeof *sp);
    span_t **spp = calloc(n + 1, sizeof *spp);
    Opentelemetry__Proto__Trace__V1__Status *st = calloc(n + 1, sizeof *st);
    assert_true(sp && spp && st);
    for (size_t i = 0; i < n; i++) {
        opentelemetry__proto__trace__v1__span__init(&sp[i]);
        opentelemetry__proto__trace__v1__status__init(&st[i]);
        sp[i].trace_id = hex_bytes(spans[i].trace);
        sp[i].span_id = hex_bytes(spans[i].span);
        sp[i].parent_span_id = hex_bytes(spans[i].parent);
        sp[i].name = (char *)spans[i].name;
        sp[i].kind = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_INTERNAL;
        sp[i].start_time_unix_nano = spans[i].start;
        sp[i].end_time_unix_nano = spans[i].end;
        sp[i].attributes = pb_attrs(spans[i].attrs, &sp[i].n_attributes);
        if (spans[i].status) {
            st[i].code = (Opentelemetry__Proto__Trace__V1__Status__StatusCode)spans[i].status;
            if (spans[i].status_msg) st[i].message = (char *)spans[i].status_msg;
            sp[i].status = &st[i];
        }
        spp[i] = &sp[i];
    }
    ss.n_spans = n;
    ss.spans = spp;
    *len =
        opentelemetry__proto__collector__trace__v1__export_trace_service_request__get_packed_size(
            &req);
    uint8_t *buf = malloc(*len + 1);
    assert_non_null(buf);
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__pack(&req, buf);
    for (size_t i = 0; i < n; i++) {
        free(sp[i].trace_id.data);
        free(sp[i].span_id.data);
        free(sp[i].parent_span_id.data);
        free_attrs(sp[i].attributes, sp[i].n_attributes);
    }
    free_attrs(resource.attributes, resource.n_attributes);
    TU_FREE(sp, spp, st);
    return buf;
}

static void json_esc(at_buf *b, const char *s)
{
    at_buf_putc(b, '"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') at_buf_putc(b, '\\');
        if ((unsigned char)*s < 0x20)
            at_buf_printf(b, "\\u%04x", (unsigned char)*s);
        else
            at_buf_putc(b, *s);
    }
    at_buf_putc(b, '"');
}

static void json_attrs(at_buf *b, const tattr *a)
{
    at_buf_puts(b, "\"attributes\":[");
    for (size_t i = 0; a && a[i].key; i++) {
        at_buf_puts(b, i ? ",{\"key\":" : "{\"key\":");
        json_esc(b, a[i].key);
        at_buf_puts(b, ",\"value\":{");
        switch (a[i].type) {
        case 's':
            at_buf_puts(b, "\"stringValue\":");
            json_esc(b, a[i].s);
            break;
        case 'i': /* int64 as a string, as the OTLP/JSON exporters write it */
            at_buf_printf(b, "\"intValue\":\"%lld\"", (long long)a[i].i);
            break;
        case 'd':
            at_buf_printf(b, "\"doubleValue\":%.17g", a[i].d);
            break;
        default:
            at_buf_printf(b, "\"boolValue\":%s", a[i].i ? "true" : "false");
        }
        at_buf_puts(b, "}}");
    }
    at_buf_putc(b, ']');
}

char *fx_json_request(const tattr *res, const tspan *spans, size_t n)
{
    at_buf b = {0};
    at_buf_puts(&b, "{\"resourceSpans\":[{\"resource\":{");
    json_attrs(&b, res);
    at_buf_puts(&b, "},\"scopeSpans\":[{\"scope\":{\"name\":\"fixture-scope\"},\"spans\":[");
    for (size_t i = 0; i < n; i++) {
        const tspan *s = &spans[i];
        at_buf_printf(&b, "%s{\"traceId\":\"%s\",\"spanId\":\"%s\",", i ? "," : "", s->trace,
                      s->span);
        if (s->parent) at_buf_printf(&b, "\"parentSpanId\":\"%s\",", s->parent);
        at_buf_puts(&b, "\"name\":");
        json_esc(&b, s->name);
        at_buf_printf(&b, ",\"kind\":1,\"startTimeUnixNano\":\"%llu\",\"endTimeUnixNano\":%llu,",
                      (unsigned long long)s->start, (unsigned long long)s->end);
        json_attrs(&b, s->attrs);
        if (s->status) {
            at_buf_printf(&b, ",\"status\":{\"code\":%d", s->status);
            if (s->status_msg) {
                at_buf_puts(&b, ",\"message\":");
                json_esc(&b, s->status_msg);
            }
            at_buf_putc(&b, '}');
        }
        at_buf_puts(&b, ",\"unknownField\":{\"x\":1}}");
    }
    at_buf_puts(&b, "]}]}]}");
    char *s = at_buf_take(&b, NULL);
    assert_non_null(s);
    return s;
}

void fx_map(const uint8_t *body, size_t len, otlp_format fmt, const otlp_owners *owners,
            otlp_result *r)
{
    tp_limits lim = tp_limits_default();
    otlp_map_opts o = {.owners = owners, .hmac_key = fx_key, .limits = &lim, .max_spans = 10000};
    at_error err = {{0}};
    int rc = otlp_map_request(body, len, fmt, &o, r, &err);
    if (rc) fail_msg("otlp_map_request: %s: %s: %s", otlp_strerror(rc), err.where, err.what);
    for (size_t i = 0; i < r->n_rejections; i++) /* said, for the failing test's reader */
        fprintf(stderr, "  (span %s rejected: %s)\n", r->rejections[i].span_id,
                r->rejections[i].reason);
}

static char *packed_hex(const tp_event *ev)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(tp_event_pack(ev, &buf, &len), 0);
    char *hex = malloc(2 * len + 1);
    assert_non_null(hex);
    at_hex_encode(buf, len, hex);
    free(buf);
    return hex;
}

void fx_map_both(const tattr *res, const tspan *spans, size_t n, const otlp_owners *owners,
                 otlp_result *r)
{
    size_t len = 0;
    uint8_t *pb = fx_pb_request(res, spans, n, &len);
    char *json = fx_json_request(res, spans, n);
    otlp_result rj = {0};
    fx_map(pb, len, OTLP_PROTOBUF, owners, r);
    fx_map((const uint8_t *)json, strlen(json), OTLP_JSON, owners, &rj);
    assert_int_equal(r->n_spans, n);
    assert_int_equal(rj.n_spans, n);
    assert_int_equal(r->n_events, rj.n_events);
    assert_int_equal(r->n_not_ai, rj.n_not_ai);
    assert_int_equal(r->n_rejected, rj.n_rejected);
    for (size_t i = 0; i < r->n_events; i++) {
        char *a = packed_hex(r->events[i]), *b = packed_hex(rj.events[i]);
        assert_string_equal(a, b);
        TU_FREE(a, b);
    }
    for (size_t i = 0; i < r->n_rejections; i++)
        assert_string_equal(r->rejections[i].reason, rj.rejections[i].reason);
    otlp_result_clear(&rj);
    TU_FREE(pb, json);
}

const tp_event *fx_event(const otlp_result *r, int kind, size_t i)
{
    for (size_t k = 0; k < r->n_events; k++)
        if ((int)r->events[k]->kind == kind && i-- == 0) return r->events[k];
    return NULL;
}

size_t fx_count(const otlp_result *r, int kind)
{
    size_t n = 0;
    for (size_t k = 0; k < r->n_events; k++)
        n += (int)r->events[k]->kind == kind;
    return n;
}

const char *fx_attr(const tp_event *ev, const char *key)
{
    for (size_t i = 0; ev && i < ev->n_attributes; i++)
        if (strcmp(ev->attributes[i]->key, key) == 0) return ev->attributes[i]->value;
    return NULL;
}

void fx_assert_absent(const otlp_result *r, const char *needle)
{
    for (size_t i = 0; i < r->n_events; i++) {
        uint8_t *buf = NULL;
        size_t len = 0;
        assert_int_equal(tp_event_pack(r->events[i], &buf, &len), 0);
        if (memmem(buf, len, needle, strlen(needle)))
            fail_msg("event %zu holds \"%s\" in its packed bytes", i, needle);
        free(buf);
        char *json = tp_event_to_json(r->events[i], NULL);
        assert_non_null(json);
        if (strstr(json, needle))
            fail_msg("event %zu holds \"%s\" in its JSON: %s", i, needle, json);
        free(json);
    }
}

void fx_hmac_hex(const char *text, char out[65])
{
    uint8_t h[32];
    assert_int_equal(tp_hmac_sha256(fx_key, sizeof fx_key, (const uint8_t *)text, strlen(text), h),
                     0);
    at_hex_encode(h, 32, out);
}

otlp_owners *fx_owners(const char *text, char **dir)
{
    *dir = tu_tempdir("otlp-owners");
    char *path = tu_path(*dir, "OWNERS");
    assert_int_equal(tu_write_file(path, text, strlen(text)), 0);
    otlp_owners *o = NULL;
    at_error err = {{0}};
    int rc = otlp_owners_load(path, &o, &err);
    if (rc) fail_msg("owners: %s: %s", err.where, err.what);
    free(path);
    return o;
}
