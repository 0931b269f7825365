/*
 * decode_json.c - the OTLP/JSON body of a request into the same ExportTraceServiceRequest
 * structs the protobuf decoder gives, so that one mapper serves both.
 *
 * The OTLP/JSON mapping: field names in lowerCamelCase (the proto names in snake_case are
 * accepted too), trace and span ids as hex (either case), enums as integers or their names,
 * 64-bit integers as strings or numbers, bytesValue as base64, unknown fields ignored, null
 * as absent. Every error names the field ("resourceSpans[0].scopeSpans[0].spans[2].traceId:
 * not hex").
 *
 * Memory: every string, array and message is malloc'd and the strings of absent fields stay
 * protobuf_c_empty_string, so otlp_request_free (protobuf_c_message_free_unpacked with the
 * default allocator) frees what this builds, whole or half built.
 *
 * Before jansson parses, the values are counted (OTLP_MAX_JSON_VALUES; more: OTLP_ETOOBIG).
 *
 * Threading: reentrant; jansson is used through its thread-safe parse.
 */
#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_alloc.h" /* proto/'s, on purpose: otlp/CMakeLists.txt says why */
#include "otlp_internal.h"

typedef Opentelemetry__Proto__Common__V1__ArrayValue otlp_array;
typedef Opentelemetry__Proto__Common__V1__KeyValueList otlp_kvlist;
typedef Opentelemetry__Proto__Common__V1__InstrumentationScope otlp_scope;
typedef Opentelemetry__Proto__Resource__V1__Resource otlp_resource;
typedef Opentelemetry__Proto__Trace__V1__Span__Event otlp_sevent;

/* Where the decoder is: a path it extends and cuts back. */
typedef struct jctx {
    char path[256];
    at_error *err;
} jctx;

static size_t path_push(jctx *c, const char *name, long idx)
{
    size_t len = strlen(c->path);
    if (!*name) return len;
    if (idx >= 0)
        snprintf(c->path + len, sizeof c->path - len, "%s%s[%ld]", len ? "." : "", name, idx);
    else
        snprintf(c->path + len, sizeof c->path - len, "%s%s", len ? "." : "", name);
    return len;
}

static int fail(jctx *c, const char *name, const char *what)
{
    size_t len = path_push(c, name, -1);
    at_error_set(c->err, c->path[0] ? c->path : "-", "%s", what);
    c->path[len] = 0;
    return OTLP_EDECODE;
}

static int nomem(jctx *c)
{
    at_error_set(c->err, "-", "out of memory");
    return OTLP_ENOMEM;
}

/* The member `camel` or, failing it, `snake`; NULL when absent or null. */
static json_t *member(json_t *o, const char *camel, const char *snake)
{
    json_t *v = json_object_get(o, camel);
    if (!v && snake) v = json_object_get(o, snake);
    return json_is_null(v) ? NULL : v;
}

static int get_string(jctx *c, json_t *o, const char *camel, const char *snake, char **out)
{
    json_t *v = member(o, camel, snake);
    if (!v) return 0;
    if (!json_is_string(v)) return fail(c, camel, "expected a string");
    char *s = strndup(json_string_value(v), json_string_length(v));
    if (!s) return nomem(c);
    *out = s;
    return 0;
}

/* An unsigned 64-bit integer: a JSON number or a string of decimal digits. */
static int get_u64(jctx *c, json_t *o, const char *camel, const char *snake, uint64_t *out)
{
    json_t *v = member(o, camel, snake);
    if (!v) return 0;
    if (json_is_integer(v)) {
        if (json_integer_value(v) < 0) return fail(c, camel, "negative");
        *out = (uint64_t)json_integer_value(v);
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end = NULL;
        if (!*s || *s < '0' || *s > '9') return fail(c, camel, "expected decimal digits");
        errno = 0;
        unsigned long long x = strtoull(s, &end, 10);
        if (errno || *end) return fail(c, camel, "expected decimal digits (at most 2^64-1)");
        *out = x;
        return 0;
    }
    return fail(c, camel, "expected an integer or a string of digits");
}

static int get_i64(jctx *c, json_t *v, const char *name, int64_t *out)
{
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end = NULL;
        errno = 0;
        long long x = strtoll(s, &end, 10);
        if (!*s || errno || *end) return fail(c, name, "expected a 64-bit integer");
        *out = x;
        return 0;
    }
    return fail(c, name, "expected an integer or a string of digits");
}

/* An enum: its number, or one of names[] (index = value). */
static int get_enum(jctx *c, json_t *o, const char *camel, const char *const *names, int n,
                    int *out)
{
    json_t *v = member(o, camel, NULL);
    if (!v) return 0;
    if (json_is_integer(v)) {
        *out = (int)json_integer_value(v);
        return 0;
    }
    if (json_is_string(v))
        for (int i = 0; i < n; i++)
            if (strcmp(json_string_value(v), names[i]) == 0) {
                *out = i;
                return 0;
            }
    return fail(c, camel, "expected an enum number or name");
}

static int get_hex(jctx *c, json_t *o, const char *camel, const char *snake,
                   ProtobufCBinaryData *out)
{
    json_t *v = member(o, camel, snake);
    if (!v) return 0;
    if (!json_is_string(v)) return fail(c, camel, "expected a hex string");
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    if (len == 0) return 0;
    if (len % 2) return fail(c, camel, "odd number of hex digits");
    uint8_t *d = malloc(len / 2);
    if (!d) return nomem(c);
    for (size_t i = 0; i < len / 2; i++) {
        int hi = at_hex_digit((unsigned char)s[2 * i], true);
        int lo = at_hex_digit((unsigned char)s[2 * i + 1], true);
        if (hi < 0 || lo < 0) {
            free(d);
            return fail(c, camel, "not hex");
        }
        d[i] = (uint8_t)(hi << 4 | lo);
    }
    out->data = d;
    out->len = len / 2;
    return 0;
}

static int get_base64(jctx *c, json_t *v, const char *name, ProtobufCBinaryData *out)
{
    if (!json_is_string(v)) return fail(c, name, "expected a base64 string");
    size_t len = json_string_length(v);
    const char *s = json_string_value(v);
    while (len && s[len - 1] == '=')
        len--;
    if (len % 4 == 1 || len > INT32_MAX / 2) return fail(c, name, "not base64");
    char *padded = malloc(len + 4);
    uint8_t *d = malloc(len / 4 * 3 + 3);
    if (!padded || !d) {
        free(padded);
        free(d);
        return nomem(c);
    }
    memcpy(padded, s, len);
    size_t plen = len;
    while (plen % 4)
        padded[plen++] = '=';
    for (size_t i = 0; i < len; i++) /* base64url too */
        padded[i] = padded[i] == '-' ? '+' : padded[i] == '_' ? '/' : padded[i];
    int n = plen ? EVP_DecodeBlock(d, (const unsigned char *)padded, (int)plen) : 0;
    free(padded);
    if (n < 0) {
        free(d);
        return fail(c, name, "not base64");
    }
    out->data = d;
    out->len = (size_t)n - (plen - len);
    return 0;
}

/* An array member: NULL (absent) or the array; anything else is an error. */
static int get_array(jctx *c, json_t *o, const char *camel, const char *snake, json_t **out)
{
    json_t *v = member(o, camel, snake);
    *out = NULL;
    if (!v) return 0;
    if (!json_is_array(v)) return fail(c, camel, "expected an array");
    *out = v;
    return 0;
}

/* Allocates the pointer array of a repeated field of n entries. */
static int alloc_rep(jctx *c, void ***arr, size_t n)
{
    if (n == 0) return 0;
    *arr = calloc(n, sizeof(void *));
    return *arr ? 0 : nomem(c);
}

static int any_value(jctx *c, json_t *v, otlp_any **out, int depth);

static int key_values(jctx *c, json_t *o, const char *camel, const char *snake, size_t *n,
                      otlp_kv ***out, int depth)
{
    json_t *a;
    int rc = get_array(c, o, camel, snake, &a);
    if (rc || !a) return rc;
    if ((rc = alloc_rep(c, (void ***)out, json_array_size(a)))) return rc;
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *e = json_array_get(a, i);
        size_t mark = path_push(c, camel, (long)i);
        if (!json_is_object(e)) return fail(c, "", "expected an object");
        otlp_kv *kv = malloc(sizeof *kv);
        if (!kv) return nomem(c);
        opentelemetry__proto__common__v1__key_value__init(kv);
        (*out)[(*n)++] = kv;
        if ((rc = get_string(c, e, "key", NULL, &kv->key))) return rc;
        json_t *val = member(e, "value", NULL);
        if (val) {
            size_t m2 = path_push(c, "value", -1);
            if ((rc = any_value(c, val, &kv->value, depth + 1))) return rc;
            c->path[m2] = 0;
        }
        c->path[mark] = 0;
    }
    return 0;
}

static int any_value(jctx *c, json_t *v, otlp_any **out, int depth)
{
    if (depth > OTLP_MAX_DEPTH / 2) return fail(c, "", "nested too deeply");
    if (!json_is_object(v)) return fail(c, "", "expected an AnyValue object");
    otlp_any *a = malloc(sizeof *a);
    if (!a) return nomem(c);
    opentelemetry__proto__common__v1__any_value__init(a);
    *out = a;
    json_t *x;
    int rc = 0;
    if ((x = member(v, "stringValue", "string_value"))) {
        if (!json_is_string(x)) return fail(c, "stringValue", "expected a string");
        a->string_value = strndup(json_string_value(x), json_string_length(x));
        if (!a->string_value) return nomem(c);
        a->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    } else if ((x = member(v, "boolValue", "bool_value"))) {
        if (!json_is_boolean(x)) return fail(c, "boolValue", "expected true or false");
        a->bool_value = json_is_true(x);
        a->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE;
    } else if ((x = member(v, "intValue", "int_value"))) {
        rc = get_i64(c, x, "intValue", &a->int_value);
        a->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
    } else if ((x = member(v, "doubleValue", "double_value"))) {
        if (!json_is_number(x)) return fail(c, "doubleValue", "expected a number");
        a->double_value = json_number_value(x);
        a->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE;
    } else if ((x = member(v, "bytesValue", "bytes_value"))) {
        a->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BYTES_VALUE;
        rc = get_base64(c, x, "bytesValue", &a->bytes_value);
    } else if ((x = member(v, "arrayValue", "array_value"))) {
        if (!json_is_object(x)) return fail(c, "arrayValue", "expected an object");
        otlp_array *arr = malloc(sizeof *arr);
        if (!arr) return nomem(c);
        opentelemetry__proto__common__v1__array_value__init(arr);
        a->array_value = arr;
        a->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE;
        size_t mark = path_push(c, "arrayValue", -1);
        json_t *vals;
        if ((rc = get_array(c, x, "values", NULL, &vals)) || !vals) return rc;
        if ((rc = alloc_rep(c, (void ***)&arr->values, json_array_size(vals)))) return rc;
        for (size_t i = 0; i < json_array_size(vals) && !rc; i++) {
            size_t m2 = path_push(c, "values", (long)i);
            rc = any_value(c, json_array_get(vals, i), &arr->values[i], depth + 1);
            if (arr->values[i]) arr->n_values = i + 1;
            if (!rc) c->path[m2] = 0;
        }
        if (!rc) c->path[mark] = 0;
    } else if ((x = member(v, "kvlistValue", "kvlist_value"))) {
        if (!json_is_object(x)) return fail(c, "kvlistValue", "expected an object");
        otlp_kvlist *l = malloc(sizeof *l);
        if (!l) return nomem(c);
        opentelemetry__proto__common__v1__key_value_list__init(l);
        a->kvlist_value = l;
        a->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_KVLIST_VALUE;
        size_t mark = path_push(c, "kvlistValue", -1);
        rc = key_values(c, x, "values", NULL, &l->n_values, &l->values, depth + 1);
        if (!rc) c->path[mark] = 0;
    }
    return rc;
}

static const char *const span_kinds[] = {"SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL",
                                         "SPAN_KIND_SERVER",      "SPAN_KIND_CLIENT",
                                         "SPAN_KIND_PRODUCER",    "SPAN_KIND_CONSUMER"};
static const char *const status_codes[] = {"STATUS_CODE_UNSET", "STATUS_CODE_OK",
                                           "STATUS_CODE_ERROR"};

static int span_status(jctx *c, json_t *o, otlp_span *s)
{
    json_t *st = member(o, "status", NULL);
    if (!st) return 0;
    if (!json_is_object(st)) return fail(c, "status", "expected an object");
    s->status = malloc(sizeof *s->status);
    if (!s->status) return nomem(c);
    opentelemetry__proto__trace__v1__status__init(s->status);
    size_t mark = path_push(c, "status", -1);
    int code = 0;
    int rc = get_string(c, st, "message", NULL, &s->status->message);
    if (!rc) rc = get_enum(c, st, "code", status_codes, 3, &code);
    s->status->code = (Opentelemetry__Proto__Trace__V1__Status__StatusCode)code;
    if (!rc) c->path[mark] = 0;
    return rc;
}

/* Decodes the array member `camel` (or `snake`) of o, whose elements must be objects: each
 * turned by `one` into a new message appended to *arr, counted in *n (one sets *msg as soon as
 * the message is allocated, so that a failure inside it is still freed with the request). The
 * error path names camel[i]. */
static int repeated(jctx *c, json_t *o, const char *camel, const char *snake, void ***arr,
                    size_t *n, int (*one)(jctx *c, json_t *e, void **msg))
{
    json_t *a;
    int rc = get_array(c, o, camel, snake, &a);
    if (rc || !a) return rc;
    if ((rc = alloc_rep(c, arr, json_array_size(a)))) return rc;
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *e = json_array_get(a, i);
        size_t mark = path_push(c, camel, (long)i);
        if (!json_is_object(e)) return fail(c, "", "expected an object");
        void *m = NULL;
        rc = one(c, e, &m);
        if (m) (*arr)[(*n)++] = m;
        if (rc) return rc;
        c->path[mark] = 0;
    }
    return 0;
}

/* A `one` of repeated(): allocates a `type`, initialises it with `init`, hands it to *msg, then
 * decodes it with `decode`. */
#define NEW_THEN_DECODE(name, type, init, decode)                                                  \
    static int name(jctx *c, json_t *e, void **msg)                                                \
    {                                                                                              \
        type *m = malloc(sizeof *m);                                                               \
        if (!m) return nomem(c);                                                                   \
        init(m);                                                                                   \
        *msg = m;                                                                                  \
        return decode(c, e, m);                                                                    \
    }

static int span_event_fields(jctx *c, json_t *e, otlp_sevent *ev)
{
    int rc;
    if ((rc = get_u64(c, e, "timeUnixNano", "time_unix_nano", &ev->time_unix_nano)) ||
        (rc = get_string(c, e, "name", NULL, &ev->name)) ||
        (rc = key_values(c, e, "attributes", NULL, &ev->n_attributes, &ev->attributes, 0)))
        return rc;
    return 0;
}

NEW_THEN_DECODE(span_event, otlp_sevent, opentelemetry__proto__trace__v1__span__event__init,
                span_event_fields)

static int span(jctx *c, json_t *o, otlp_span *s)
{
    int kind = 0, rc;
    uint64_t flags = 0;
    if ((rc = get_hex(c, o, "traceId", "trace_id", &s->trace_id)) ||
        (rc = get_hex(c, o, "spanId", "span_id", &s->span_id)) ||
        (rc = get_hex(c, o, "parentSpanId", "parent_span_id", &s->parent_span_id)) ||
        (rc = get_string(c, o, "traceState", "trace_state", &s->trace_state)) ||
        (rc = get_string(c, o, "name", NULL, &s->name)) ||
        (rc = get_enum(c, o, "kind", span_kinds, 6, &kind)) ||
        (rc = get_u64(c, o, "flags", NULL, &flags)) ||
        (rc = get_u64(c, o, "startTimeUnixNano", "start_time_unix_nano",
                      &s->start_time_unix_nano)) ||
        (rc = get_u64(c, o, "endTimeUnixNano", "end_time_unix_nano", &s->end_time_unix_nano)) ||
        (rc = key_values(c, o, "attributes", NULL, &s->n_attributes, &s->attributes, 0)) ||
        (rc = repeated(c, o, "events", NULL, (void ***)&s->events, &s->n_events, span_event)) ||
        (rc = span_status(c, o, s)))
        return rc;
    s->kind = (Opentelemetry__Proto__Trace__V1__Span__SpanKind)kind;
    s->flags = (uint32_t)flags;
    return 0;
}

NEW_THEN_DECODE(span_new, otlp_span, opentelemetry__proto__trace__v1__span__init, span)

/* The optional object member `key` of o, turned by `one` into a new message in *msg; the error
 * path names key. */
static int optional(jctx *c, json_t *o, const char *key, void **msg,
                    int (*one)(jctx *c, json_t *e, void **msg))
{
    json_t *v = member(o, key, NULL);
    if (!v) return 0;
    if (!json_is_object(v)) return fail(c, key, "expected an object");
    size_t mark = path_push(c, key, -1);
    int rc = one(c, v, msg);
    if (!rc) c->path[mark] = 0;
    return rc;
}

static int scope_fields(jctx *c, json_t *o, otlp_scope *sc)
{
    int rc;
    if ((rc = get_string(c, o, "name", NULL, &sc->name)) ||
        (rc = get_string(c, o, "version", NULL, &sc->version)) ||
        (rc = key_values(c, o, "attributes", NULL, &sc->n_attributes, &sc->attributes, 0)))
        return rc;
    return 0;
}

NEW_THEN_DECODE(scope_new, otlp_scope,
                opentelemetry__proto__common__v1__instrumentation_scope__init, scope_fields)

static int scope_spans(jctx *c, json_t *o, otlp_sspans *ss)
{
    int rc;
    if ((rc = optional(c, o, "scope", (void **)&ss->scope, scope_new)) ||
        (rc = get_string(c, o, "schemaUrl", "schema_url", &ss->schema_url)))
        return rc;
    return repeated(c, o, "spans", NULL, (void ***)&ss->spans, &ss->n_spans, span_new);
}

NEW_THEN_DECODE(scope_spans_new, otlp_sspans, opentelemetry__proto__trace__v1__scope_spans__init,
                scope_spans)

static int resource_fields(jctx *c, json_t *o, otlp_resource *r)
{
    return key_values(c, o, "attributes", NULL, &r->n_attributes, &r->attributes, 0);
}

NEW_THEN_DECODE(resource_new, otlp_resource, opentelemetry__proto__resource__v1__resource__init,
                resource_fields)

static int resource_spans(jctx *c, json_t *o, otlp_rspans *rs)
{
    int rc;
    if ((rc = optional(c, o, "resource", (void **)&rs->resource, resource_new)) ||
        (rc = get_string(c, o, "schemaUrl", "schema_url", &rs->schema_url)))
        return rc;
    return repeated(c, o, "scopeSpans", "scope_spans", (void ***)&rs->scope_spans,
                    &rs->n_scope_spans, scope_spans_new);
}

NEW_THEN_DECODE(resource_spans_new, otlp_rspans,
                opentelemetry__proto__trace__v1__resource_spans__init, resource_spans)

/* The values of a JSON text, counted before jansson builds its tree (which costs tens of
 * bytes a value, "[0,0,...]" two bytes): each ':', ',' and '[' outside strings, and 4 for
 * each '{'. */
size_t otlp_json_values(const uint8_t *p, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] == '"') {
            for (i++; i < len && p[i] != '"'; i++)
                if (p[i] == '\\') i++;
        } else if (p[i] == ':' || p[i] == ',' || p[i] == '[') {
            n++;
        } else if (p[i] == '{') {
            n += 4; /* jansson's object and its hash table: ~300 bytes for "{}" */
        }
    }
    return n;
}

int otlp_decode_json(const uint8_t *body, size_t len, otlp_request **out, at_error *err)
{
    jctx c = {.path = "", .err = err};
    json_error_t je;
    *out = NULL;
    size_t values = otlp_json_values(body, len);
    if (values > OTLP_MAX_JSON_VALUES) {
        at_error_set(err, "-", "%zu JSON values in one request, at most %zu", values,
                     OTLP_MAX_JSON_VALUES);
        return OTLP_ETOOBIG;
    }
    tp_json_watch(); /* jansson does not say every allocation that failed */
    json_t *root = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &je);
    if (tp_json_failed()) {
        json_decref(root);
        return nomem(&c);
    }
    if (!root) {
        char where[64];
        snprintf(where, sizeof where, "line %d column %d", je.line, je.column);
        at_error_set(err, where, "not JSON: %s", je.text);
        return OTLP_EDECODE;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        at_error_set(err, "-", "expected an object (an ExportTraceServiceRequest)");
        return OTLP_EDECODE;
    }
    otlp_request *r = malloc(sizeof *r);
    if (!r) {
        json_decref(root);
        return nomem(&c);
    }
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__init(r);
    int rc = repeated(&c, root, "resourceSpans", "resource_spans", (void ***)&r->resource_spans,
                      &r->n_resource_spans, resource_spans_new);
    json_decref(root);
    if (rc) {
        otlp_request_free(&r);
        return rc;
    }
    *out = r;
    return 0;
}
