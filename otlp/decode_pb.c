/*
 * decode_pb.c - the protobuf body of an OTLP/HTTP request into an ExportTraceServiceRequest,
 * and the checks both formats share once decoded (ids, span count).
 *
 * Before protobuf-c unpacks, a scan over the wire bytes, guided by the generated descriptors,
 * checks every tag, length and nesting level: protobuf-c recurses once per nested message and
 * says nothing of where bytes go wrong, so the scan bounds the depth (OTLP_MAX_DEPTH) and names
 * the first bad field in OTLP/JSON terms ("resourceSpans[0].scopeSpans[0].spans[2]: field 7:
 * truncated"). Unknown fields are skipped, as OTLP asks. The scan also counts the fields, and
 * more than OTLP_MAX_FIELDS is OTLP_ETOOBIG before anything is allocated: unpacked, a 2-byte
 * empty attribute costs protobuf-c ~45 times its size, so the body's size alone bounds nothing.
 *
 * Threading: reentrant; no state.
 */
#include <protobuf-c/protobuf-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otlp_internal.h"

/* The lowerCamelCase of a snake_case field name ("scope_spans" -> "scopeSpans"). */
static void camel(const char *name, char *out, size_t outlen)
{
    size_t o = 0;
    for (int up = 0; *name && o + 1 < outlen; name++) {
        if (*name == '_') {
            up = 1;
            continue;
        }
        out[o++] = up && *name >= 'a' && *name <= 'z' ? (char)(*name - 32) : *name;
        up = 0;
    }
    out[o] = 0;
}

static int varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*p >= end) return -1;
        uint8_t c = *(*p)++;
        x |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return -1;
}

static int scan_fail(at_error *err, const char *path, const char *what, uint32_t field)
{
    char f[64];
    snprintf(f, sizeof f, "field %u: ", field);
    at_error_set(err, path[0] ? path : "-", "%s%s", field ? f : "", what);
    return OTLP_EDECODE;
}

/* Scans one message of type d in [p, end); path names it; *fields counts every field seen,
 * a message field 1 + its struct's size / 64 (OTLP_MAX_FIELDS). */
static int scan(const ProtobufCMessageDescriptor *d, const uint8_t *p, const uint8_t *end,
                int depth, char *path, size_t pathcap, size_t *fields, at_error *err)
{
    unsigned seen[32] = {0};
    if (depth > OTLP_MAX_DEPTH) return scan_fail(err, path, "nested too deeply", 0);
    while (p < end) {
        uint64_t tag, len = 0, v;
        if (varint(&p, end, &tag)) return scan_fail(err, path, "bad tag", 0);
        uint32_t num = (uint32_t)(tag >> 3);
        (*fields)++; /* each costs protobuf-c a struct, a string, a slot or an unknown */
        if (num == 0 || tag >> 3 > 0x1fffffff) return scan_fail(err, path, "bad field number", 0);
        switch (tag & 7) {
        case 0:
            if (varint(&p, end, &v)) return scan_fail(err, path, "bad varint", num);
            continue;
        case 1:
            if (end - p < 8) return scan_fail(err, path, "truncated", num);
            p += 8;
            continue;
        case 5:
            if (end - p < 4) return scan_fail(err, path, "truncated", num);
            p += 4;
            continue;
        case 2:
            if (varint(&p, end, &len) || len > (uint64_t)(end - p))
                return scan_fail(err, path, "length past the end", num);
            break;
        default:
            return scan_fail(err, path, "unsupported wire type", num);
        }
        const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(d, num);
        if (f && f->type == PROTOBUF_C_TYPE_MESSAGE) {
            /* a message costs its struct: an empty span (2 bytes) is a ~220-byte Span */
            *fields +=
                f->descriptor
                    ? ((const ProtobufCMessageDescriptor *)f->descriptor)->sizeof_message / 64
                    : 0;
            size_t plen = strlen(path);
            char name[64];
            camel(f->name, name, sizeof name);
            if (f->label == PROTOBUF_C_LABEL_REPEATED)
                snprintf(path + plen, pathcap - plen, "%s%s[%u]", plen ? "." : "", name,
                         num < 32 ? seen[num]++ : 0);
            else
                snprintf(path + plen, pathcap - plen, "%s%s", plen ? "." : "", name);
            int rc = scan(f->descriptor, p, p + len, depth + 1, path, pathcap, fields, err);
            path[plen] = 0;
            if (rc) return rc;
        }
        p += len;
    }
    return 0;
}

/* protobuf-c's allocator, noting a failure: its unpack returns NULL both for bad bytes and for
 * memory, and only the first may be answered 400 (the exporter drops what it is told is bad;
 * out of memory must be "retry later"). Blocks come from malloc, so otlp_request_free frees
 * them with the default allocator. */
static void *pb_alloc(void *data, size_t size)
{
    void *p = malloc(size);
    if (!p) *(bool *)data = true;
    return p;
}

static void pb_free(void *data, void *p)
{
    (void)data;
    free(p);
}

/* The fields of a protobuf body (otlp_decode_json.c counts JSON values). */
size_t otlp_pb_fields(const uint8_t *body, size_t len)
{
    char path[256] = "";
    size_t fields = 0;
    at_error err = {0};
    scan(&opentelemetry__proto__collector__trace__v1__export_trace_service_request__descriptor,
         body, body + len, 0, path, sizeof path, &fields, &err);
    return fields;
}

int otlp_decode_pb(const uint8_t *body, size_t len, otlp_request **out, at_error *err)
{
    char path[256] = "";
    size_t fields = 0;
    *out = NULL;
    int rc =
        scan(&opentelemetry__proto__collector__trace__v1__export_trace_service_request__descriptor,
             body, body + len, 0, path, sizeof path, &fields, err);
    if (rc) return rc;
    if (fields > OTLP_MAX_FIELDS) {
        at_error_set(err, "-", "%zu protobuf fields in one request, at most %zu", fields,
                     OTLP_MAX_FIELDS);
        return OTLP_ETOOBIG;
    }
    bool failed = false;
    ProtobufCAllocator alloc = {pb_alloc, pb_free, &failed};
    otlp_request *r =
        opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(&alloc,
                                                                                         len, body);
    if (failed) {
        otlp_request_free(&r); /* malloc'd blocks: the default allocator frees them */
        at_error_set(err, "-", "out of memory");
        return OTLP_ENOMEM;
    }
    if (!r) {
        /* The scan passed, so the bytes are well formed: a value of the wrong type for its
         * field (a varint where a message should be, ...). */
        at_error_set(err, "-", "not an ExportTraceServiceRequest (a field has the wrong type)");
        return OTLP_EDECODE;
    }
    *out = r;
    return 0;
}

void otlp_request_free(otlp_request **r)
{
    if (!r || !*r) return;
    protobuf_c_message_free_unpacked(&(*r)->base, NULL);
    *r = NULL;
}

static bool all_zero(const ProtobufCBinaryData *b)
{
    for (size_t i = 0; i < b->len; i++)
        if (b->data[i]) return false;
    return true;
}

static int check_id(const ProtobufCBinaryData *b, size_t want, bool optional, size_t ri, size_t si,
                    size_t pi, const char *name, at_error *err)
{
    const char *what = NULL;
    char tmp[64];
    if (b->len == 0 && optional) return 0;
    if (b->len != want) {
        snprintf(tmp, sizeof tmp, "%zu bytes, want %zu", b->len, want);
        what = tmp;
    } else if (all_zero(b)) {
        what = "all zero (an invalid id)";
    }
    if (!what) return 0;
    char where[160];
    snprintf(where, sizeof where, "resourceSpans[%zu].scopeSpans[%zu].spans[%zu].%s", ri, si, pi,
             name);
    at_error_set(err, where, "%s", what);
    return OTLP_EDECODE;
}

int otlp_request_check(const otlp_request *r, size_t max_spans, size_t *n_spans, at_error *err)
{
    size_t n = 0;
    for (size_t ri = 0; ri < r->n_resource_spans; ri++) {
        const otlp_rspans *rs = r->resource_spans[ri];
        for (size_t si = 0; si < rs->n_scope_spans; si++) {
            const otlp_sspans *ss = rs->scope_spans[si];
            for (size_t pi = 0; pi < ss->n_spans; pi++) {
                const otlp_span *s = ss->spans[pi];
                int rc = check_id(&s->trace_id, 16, false, ri, si, pi, "traceId", err);
                if (!rc) rc = check_id(&s->span_id, 8, false, ri, si, pi, "spanId", err);
                if (!rc)
                    rc = check_id(&s->parent_span_id, 8, true, ri, si, pi, "parentSpanId", err);
                if (rc) return rc;
            }
            n += ss->n_spans;
        }
    }
    *n_spans = n;
    if (max_spans && n > max_spans) {
        at_error_set(err, "-", "%zu spans in one request, at most %zu", n, max_spans);
        return OTLP_ETOOBIG;
    }
    return 0;
}
