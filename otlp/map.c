/*
 * map.c - one OTLP request to events: decoding in either format, the index of the request's
 * spans (parents, tool call ids), the event id rule, rejections, and the result's life.
 * What one span becomes is map_span.c's job.
 *
 * Event ids (docs/otlp.md): 6 bytes of the span's start in Unix milliseconds, big-endian (the
 * layout of tp_id_event, so the store's time-ordered id path holds), then the first 10 bytes
 * of SHA-256(trace_id || span_id || BE32 sub-index). The sub-index tells apart the events of
 * one span (0: the span's own event). A retried request maps to the same ids.
 *
 * Threading: reentrant; no state between calls.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otlp_internal.h"

static int cmp_span(const void *a, const void *b)
{
    const otlp_span *x = *(const otlp_span *const *)a, *y = *(const otlp_span *const *)b;
    int r = memcmp(x->trace_id.data, y->trace_id.data, 16);
    return r ? r : memcmp(x->span_id.data, y->span_id.data, 8);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

const otlp_span *otlp_find_parent(const otlp_map_ctx *c, const otlp_span *s)
{
    if (s->parent_span_id.len != 8 || !c->n_index) return NULL;
    otlp_span key = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__INIT;
    key.trace_id = s->trace_id;
    key.span_id = s->parent_span_id;
    const otlp_span *kp = &key;
    const otlp_span **hit = bsearch(&kp, c->index, c->n_index, sizeof *c->index, cmp_span);
    return hit ? *hit : NULL;
}

bool otlp_has_tool_span(const otlp_map_ctx *c, const char *call_id)
{
    return call_id && c->n_tool_ids &&
           bsearch(&call_id, c->tool_ids, c->n_tool_ids, sizeof *c->tool_ids, cmp_str) != NULL;
}

int otlp_event_id(const otlp_span *s, uint32_t sub, uint8_t out[16])
{
    uint64_t ms = s->start_time_unix_nano / 1000000u;
    uint8_t be[4] = {(uint8_t)(sub >> 24), (uint8_t)(sub >> 16), (uint8_t)(sub >> 8), (uint8_t)sub};
    const void *parts[3] = {s->trace_id.data, s->span_id.data, be};
    const size_t lens[3] = {16, 8, 4};
    uint8_t h[AT_SHA256_LEN];
    if (at_sha256_parts(parts, lens, 3, h)) return OTLP_ECRYPTO;
    for (int i = 0; i < 6; i++)
        out[i] = (uint8_t)(ms >> (8 * (5 - i)));
    memcpy(out + 6, h, 10);
    return 0;
}

void otlp_reject(otlp_map_ctx *c, const otlp_span *s, const char *fmt, ...)
{
    otlp_result *r = c->out;
    r->n_rejected++;
    if (r->n_rejections >= OTLP_MAX_REJECTIONS) return;
    otlp_rejection *j = &r->rejections[r->n_rejections++];
    if (s->span_id.len == 8)
        at_hex_encode(s->span_id.data, 8, j->span_id);
    else
        j->span_id[0] = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(j->reason, sizeof j->reason, fmt, ap);
    va_end(ap);
}

void otlp_result_clear(otlp_result *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->n_events; i++)
        tp_event_destroy(&r->events[i]);
    free(r->events);
    free(r->rejections);
    memset(r, 0, sizeof *r);
}

/* The index of every span and the call ids of tool spans. */
static int build_index(otlp_map_ctx *c, const otlp_request *req, size_t n)
{
    c->index = n ? malloc(n * sizeof *c->index) : NULL;
    c->tool_ids = n ? malloc(n * sizeof *c->tool_ids) : NULL;
    if (n && (!c->index || !c->tool_ids)) return OTLP_ENOMEM;
    static const char *const id_keys[] = {"gen_ai.tool.call.id", "ai.toolCall.id", "tool_call.id",
                                          "tool.call_id", NULL};
    for (size_t ri = 0; ri < req->n_resource_spans; ri++)
        for (size_t si = 0; si < req->resource_spans[ri]->n_scope_spans; si++) {
            const otlp_sspans *ss = req->resource_spans[ri]->scope_spans[si];
            for (size_t pi = 0; pi < ss->n_spans; pi++) {
                const otlp_span *s = ss->spans[pi];
                c->index[c->n_index++] = s;
                bool found = false; /* one call id per span */
                for (size_t a = 0; a < s->n_attributes && !found; a++) {
                    const otlp_kv *kv = s->attributes[a];
                    for (const char *const *k = id_keys; *k && !found; k++)
                        if (kv->value && strcmp(kv->key, *k) == 0 &&
                            kv->value->value_case ==
                                OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE) {
                            c->tool_ids[c->n_tool_ids++] = kv->value->string_value;
                            found = true;
                        }
                }
            }
        }
    if (c->n_index) qsort(c->index, c->n_index, sizeof *c->index, cmp_span);
    if (c->n_tool_ids) qsort(c->tool_ids, c->n_tool_ids, sizeof *c->tool_ids, cmp_str);
    return 0;
}

static int map_all(otlp_map_ctx *c, const otlp_request *req)
{
    for (size_t ri = 0; ri < req->n_resource_spans; ri++) {
        const otlp_rspans *rs = req->resource_spans[ri];
        for (size_t si = 0; si < rs->n_scope_spans; si++)
            for (size_t pi = 0; pi < rs->scope_spans[si]->n_spans; pi++) {
                int rc = otlp_map_span(c, rs, rs->scope_spans[si], rs->scope_spans[si]->spans[pi]);
                if (rc) return rc;
            }
    }
    return 0;
}

size_t otlp_request_values(const uint8_t *body, size_t len, otlp_format fmt)
{
    if (!body) return 0;
    return fmt == OTLP_JSON ? otlp_json_values(body, len) : otlp_pb_fields(body, len);
}

int otlp_map_request(const uint8_t *body, size_t len, otlp_format fmt, const otlp_map_opts *o,
                     otlp_result *out, at_error *err)
{
    if (!out) return OTLP_EINVAL;
    memset(out, 0, sizeof *out);
    if ((!body && len) || !o || !o->limits || !o->hmac_key ||
        (fmt != OTLP_PROTOBUF && fmt != OTLP_JSON))
        return at_errf(err, OTLP_EINVAL, "otlp_map_request: bad argument");
    otlp_request *req = NULL;
    static const uint8_t empty[1];
    int rc = fmt == OTLP_JSON ? otlp_decode_json(body ? body : empty, len, &req, err)
                              : otlp_decode_pb(body ? body : empty, len, &req, err);
    if (rc) return rc;
    size_t n = 0;
    rc = otlp_request_check(req, o->max_spans, &n, err);
    otlp_map_ctx c = {.o = o, .out = out};
    if (!rc) rc = build_index(&c, req, n);
    if (!rc) {
        out->n_spans = n;
        out->rejections = calloc(OTLP_MAX_REJECTIONS, sizeof *out->rejections);
        if (!out->rejections) rc = OTLP_ENOMEM;
    }
    if (!rc) rc = map_all(&c, req);
    free(c.index);
    free(c.tool_ids);
    otlp_request_free(&req);
    if (rc) {
        otlp_result_clear(out);
        if (rc == OTLP_ENOMEM) at_error_set(err, "-", "out of memory");
        if (rc == OTLP_ECRYPTO) at_error_set(err, "-", "OpenSSL failed while hashing");
    }
    return rc;
}
