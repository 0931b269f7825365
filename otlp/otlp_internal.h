/*
 * otlp_internal.h - what the files of libtraceotlp share: the decoded request (the protoc-c
 * structs of the OTLP schema subset, whoever decoded it), the decoders, the view of one span's
 * attributes that the mapper reads, and the dialect hooks.
 *
 * Memory: a decoded request is freed with otlp_request_free whatever built it: the protobuf
 * decoder unpacks with protobuf-c's default allocator, the JSON decoder mallocs every string,
 * array and message the same way, so protobuf_c_message_free_unpacked frees both.
 *
 * Threading: nothing here keeps state; every function is reentrant.
 */
#ifndef AGENTTRAIL_OTLP_INTERNAL_H
#define AGENTTRAIL_OTLP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "traceotlp.h"

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest otlp_request;
typedef Opentelemetry__Proto__Trace__V1__ResourceSpans otlp_rspans;
typedef Opentelemetry__Proto__Trace__V1__ScopeSpans otlp_sspans;
typedef Opentelemetry__Proto__Trace__V1__Span otlp_span;
typedef Opentelemetry__Proto__Common__V1__KeyValue otlp_kv;
typedef Opentelemetry__Proto__Common__V1__AnyValue otlp_any;

/* Deepest nesting of AnyValue (arrays and kvlists in each other) a request may have; deeper is
 * OTLP_EDECODE (protobuf-c recurses once per level). */
#define OTLP_MAX_DEPTH 24

/* ---- decoding (decode_pb.c, decode_json.c) ------------------------------------------------ */

/* Decode a body into a request. OTLP_EDECODE with err->where the path of the bad field in
 * OTLP/JSON names ("resourceSpans[0].scopeSpans[1].spans[3].traceId"), OTLP_ENOMEM. */
int otlp_decode_pb(const uint8_t *body, size_t len, otlp_request **out, at_error *err);
int otlp_decode_json(const uint8_t *body, size_t len, otlp_request **out, at_error *err);
/* The checks both formats share, after decoding: ids of the right sizes and not zero, at most
 * max_spans spans (OTLP_ETOOBIG). */
int otlp_request_check(const otlp_request *r, size_t max_spans, size_t *n_spans, at_error *err);
void otlp_request_free(otlp_request **r);
/* What otlp_request_values counts, per format. */
size_t otlp_pb_fields(const uint8_t *body, size_t len);
size_t otlp_json_values(const uint8_t *body, size_t len);

/* ---- one span as the mapper sees it (map_attr.c) ------------------------------------------ */

typedef struct otlp_view {
    const otlp_span *span;
    const otlp_kv *const *attrs; /* the span's attributes */
    size_t n_attrs;
    bool *used;                /* per attribute: mapped (or content), so not kept in `attributes` */
    const otlp_kv *const *res; /* the resource's attributes */
    size_t n_res;
    const char *scope_name; /* "" when none */
} otlp_view;

/* The attribute `key` of the span, or NULL; marks it used. */
const otlp_any *otlp_attr(otlp_view *v, const char *key);
/* The same, as text: a string value itself, other scalars formatted; NULL when absent or not a
 * scalar. Marks it used. */
const char *otlp_attr_str(otlp_view *v, const char *key, char *tmp, size_t tmplen);
/* The first of keys[] (NULL-terminated) that the span has as a string, or NULL. */
const char *otlp_attr_first(otlp_view *v, const char *const *keys);
/* An integer attribute (int, or a decimal string, or a whole double) >= 0: true and *out. */
bool otlp_attr_u64(otlp_view *v, const char *key, uint64_t *out);
/* A number (int, double, or a decimal string). */
bool otlp_attr_double(otlp_view *v, const char *key, double *out);
/* A string resource attribute, or NULL. */
const char *otlp_res_str(const otlp_view *v, const char *key);
/* True when a span attribute key starts with prefix. */
bool otlp_attr_has_prefix(const otlp_view *v, const char *prefix);
/* Any value as text into b: strings as they are, numbers and bools formatted, arrays and
 * kvlists as compact JSON, bytes as base64; b is left NUL-terminated. */
void otlp_any_text(const otlp_any *a, at_buf *b);
/* Any value as JSON text (strings quoted). */
void otlp_any_json(const otlp_any *a, at_buf *b);

/* Whether `key` names message content (prompts, completions, messages, documents' text): its
 * value is hashed or dropped, never kept (map_attr.c holds the table). */
bool otlp_key_is_content(const char *key);
/* Whether `key` is input content that goes into the prompt HMAC (a subset of the above). */
bool otlp_key_is_prompt_input(const char *key);

bool otlp_utf8_valid(const char *s, size_t len);

/* Parses s[0..len) as JSON (jansson flags): 0 and *out (NULL when it is not JSON), or
 * OTLP_ENOMEM when jansson ran out of memory, which it does not always say (proto/json_alloc.h):
 * every parse of libtraceotlp goes through here or watches the same way. */
struct json_t;
int otlp_json_load(const char *s, size_t len, size_t flags, struct json_t **out);

/* ---- dialects (map_dialect.c) -------------------------------------------------------------- */

/* What a span is, once its dialect has looked at it. */
typedef enum {
    OTLP_ROLE_NONE = 0, /* not AI work */
    OTLP_ROLE_LLM,      /* a provider call: prompt event, counts usage */
    OTLP_ROLE_WRAPPER,  /* agent, workflow, chain, AI SDK's outer call: note, usage not counted */
    OTLP_ROLE_TOOL,     /* a tool execution: tool_call event */
    OTLP_ROLE_RETRIEVAL,
    OTLP_ROLE_AGENTTRAIL, /* agenttrail.kind says */
} otlp_role;

typedef struct otlp_class {
    int dialect; /* otlp_dialect */
    otlp_role role;
    const char *label; /* the operation, for notes: "invoke_agent", "ai.generateText", "CHAIN" */
} otlp_class;

/* Recognises the span's dialect and role. */
otlp_class otlp_classify(otlp_view *v);

/* One tool call a model asked for in an LLM span's output. */
typedef struct otlp_req_tool {
    char *id; /* may be NULL */
    char *name;
    char *arguments; /* JSON text or NULL */
} otlp_req_tool;

/* The tool calls requested in the span's output, by every dialect's attribute (OpenInference's
 * llm.output_messages.N.message.tool_calls.M, OpenLLMetry's gen_ai.completion.N.tool_calls.M,
 * AI SDK's ai.response.toolCalls, OTel's gen_ai.output.messages). *out malloc'd; free with
 * otlp_req_tools_free. OTLP_ENOMEM or 0. */
int otlp_requested_tools(otlp_view *v, otlp_req_tool **out, size_t *n);
void otlp_req_tools_free(otlp_req_tool *t, size_t n);

/* ---- the mapping (map.c, map_span.c) ------------------------------------------------------ */

/* What the mapping of one request shares between its spans. */
typedef struct otlp_map_ctx {
    const otlp_map_opts *o;
    const otlp_span **index; /* every span, sorted by (trace_id, span_id) */
    size_t n_index;
    const char **tool_ids; /* call ids of the request's tool spans, sorted */
    size_t n_tool_ids;
    otlp_result *out;
    size_t events_cap;
} otlp_map_ctx;

/* The span of the request with s's trace id and parent span id, or NULL. */
const otlp_span *otlp_find_parent(const otlp_map_ctx *c, const otlp_span *s);
/* Whether a tool span of the request has this call id. */
bool otlp_has_tool_span(const otlp_map_ctx *c, const char *call_id);
/* The event id of the sub-th event of span s: BE48 start milliseconds, then the first 10
 * bytes of SHA-256(trace_id || span_id || BE32 sub). 0 or OTLP_ECRYPTO. */
int otlp_event_id(const otlp_span *s, uint32_t sub, uint8_t out[16]);
/* Records a rejected span (reason printf-style) in c->out. */
void otlp_reject(otlp_map_ctx *c, const otlp_span *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Maps one span: its events appended to c->out (all or none), or a rejection, or counted as not
 * AI work. 0, or OTLP_ENOMEM / OTLP_ECRYPTO (the request fails). */
int otlp_map_span(otlp_map_ctx *c, const otlp_rspans *rs, const otlp_sspans *ss,
                  const otlp_span *s);

#endif
