/*
 * traceotlp.h - libtraceotlp: OpenTelemetry (OTLP) trace requests in, AgentTrail events out.
 *
 * Responsibility: decoding an OTLP ExportTraceServiceRequest (protobuf, or the OTLP/JSON
 * mapping), mapping its GenAI spans to TraceEvents (docs/otlp.md, field by field, per
 * dialect: OTel GenAI conventions, OpenInference, OpenLLMetry, Vercel AI SDK), the
 * ownership file that names the DRI where no span says it (--owners), and encoding the
 * ExportTraceServiceResponse. It does no I/O besides reading the owners file, and keeps no
 * state between calls: the collector's HTTP server (collector/http.c) calls it on its own
 * threads and hands the events to the same validate / mask / group-commit path as the
 * ZeroMQ batches.
 *
 * Thread safety: every function is safe to call from many threads at once on different
 * arguments; an otlp_owners is read-only once loaded and may be shared.
 *
 * Errors: the OTLP_E* block below (-700 ... -799), with detail in an at_error
 * (atcommon.h). otlp_strerror names each code.
 */
#ifndef AGENTTRAIL_TRACEOTLP_H
#define AGENTTRAIL_TRACEOTLP_H

#include <stddef.h>
#include <stdint.h>

#include "atcommon.h"
#include "traceproto.h"

enum {
    OTLP_OK = 0,
    OTLP_EINVAL = -701,  /* bad argument */
    OTLP_ENOMEM = -702,  /* out of memory */
    OTLP_EDECODE = -703, /* the body is not an ExportTraceServiceRequest (answer 400) */
    OTLP_ETOOBIG = -704, /* over a limit of the request as a whole (answer 413) */
    OTLP_EOWNERS = -705, /* the owners file is unreadable or malformed (FILE:LINE in err) */
    OTLP_ECRYPTO = -706, /* OpenSSL failed while hashing content */
};

const char *otlp_strerror(int code);

/* What one request may hold before it is decoded, so that decoding costs a bounded multiple
 * of these counts whatever the body's size or compression (docs/http.md): the fields of
 * every message on the protobuf wire (known or not, each tag counts; a message field counts
 * 1 more per 64 bytes of its struct: a span 4), and the values of the JSON text (each ':',
 * ',' and '[' outside strings, and 4 for each '{', an object being costlier). More:
 * OTLP_ETOOBIG naming the count. An exporter at the OpenTelemetry SDK's limits (512 spans a
 * batch, 128 attributes, events and links a span) stays below both. */
#define OTLP_MAX_FIELDS ((size_t)1 << 20)
#define OTLP_MAX_JSON_VALUES ((size_t)1 << 21)
/* What one field or value costs once decoded, at most (measured with the hostile bodies of
 * tests/collector/test_http_budget.c: up to ~88 bytes a protobuf field, ~89 a JSON value): a
 * server that budgets memory across requests reserves otlp_request_values() times this
 * before mapping. Both limits times this, plus a 16 MiB body, stay under 256 MiB. */
#define OTLP_VALUE_COST 112

/* The body's encoding, from Content-Type: application/x-protobuf or application/json. */
typedef enum { OTLP_PROTOBUF = 0, OTLP_JSON = 1 } otlp_format;

/* The fields (protobuf) or values (JSON) of a body, as the limits above count them, without
 * decoding it: a cheap pass over the bytes (a malformed body counts what precedes the fault;
 * otlp_map_request names it). */
size_t otlp_request_values(const uint8_t *body, size_t len, otlp_format fmt);

/* Which instrumentation a span came from (how it was recognised), for metrics. */
typedef enum {
    OTLP_DIALECT_GENAI = 0,     /* OTel GenAI semantic conventions (gen_ai.operation.name) */
    OTLP_DIALECT_OPENINFERENCE, /* openinference.span.kind */
    OTLP_DIALECT_OPENLLMETRY,   /* traceloop.span.kind / gen_ai.prompt.N */
    OTLP_DIALECT_AISDK,         /* Vercel AI SDK: ai.* span names and attributes */
    OTLP_DIALECT_AGENTTRAIL,    /* only agenttrail.* attributes (agenttrail.kind) */
    OTLP_DIALECT_NONE,          /* not AI work (plain HTTP, database, ...): not stored */
    OTLP_DIALECT_COUNT
} otlp_dialect;

/* "genai", "openinference", "openllmetry", "aisdk", "agenttrail", "none". */
const char *otlp_dialect_name(int dialect);

/* ---- the ownership file (--owners) ------------------------------------- */

/* Lines "PATTERN OWNER" as CODEOWNERS has them: '#' comments and blank lines ignored;
 * PATTERN is "workflow:GLOB" or "service:GLOB" (fnmatch(3) globs, no flags); OWNER is the
 * DRI (one human, as EVENTS.md's dri). The last matching line wins, as in CODEOWNERS;
 * workflow patterns are tried before service patterns. */
typedef struct otlp_owners otlp_owners;

/* Reads and checks the whole file. Returns 0 and *out, or OTLP_EOWNERS with err->where
 * "FILE:LINE" and what is wrong, or OTLP_ENOMEM. */
int otlp_owners_load(const char *path, otlp_owners **out, at_error *err);

/* The DRI for a workflow and service (either may be NULL), or NULL when no line matches. */
const char *otlp_owners_find(const otlp_owners *o, const char *workflow, const char *service);

/* Accepts NULL and *o == NULL; sets *o to NULL. */
void otlp_owners_destroy(otlp_owners **o);

/* ---- mapping a request -------------------------------------------------- */

typedef struct otlp_map_opts {
    const otlp_owners *owners; /* may be NULL: then only agenttrail.dri names a DRI */
    const uint8_t *hmac_key;   /* TP_HMAC_KEY_LEN bytes: prompt and message content is
                                  reduced to its HMAC under it, never kept in clear */
    const tp_limits *limits;   /* the collector's limits (size of fields, attributes) */
    size_t max_spans;          /* most spans in one request; more: OTLP_ETOOBIG (0: no
                                  limit) */
    const char *workflow;      /* may be NULL: the workflow of spans that name none (no
                                  agenttrail.workflow nor a dialect's workflow name); when
                                  NULL, such spans take the resource's service.name */
} otlp_map_opts;

/* One span that could not be stored, and why ("dri: no agenttrail.dri attribute and no
 * line of the owners file matches workflow \"x\" or service \"y\""). */
typedef struct otlp_rejection {
    char span_id[33]; /* hex, "" when the span had none */
    char reason[512];
} otlp_rejection;

typedef struct otlp_result {
    tp_event **events; /* owned; unmasked (the collector masks them), content already HMACed */
    size_t n_events;
    size_t n_spans;                        /* spans in the request */
    size_t n_not_ai;                       /* not AI work: counted, not stored, not rejected */
    size_t n_rejected;                     /* spans that cannot be stored */
    size_t by_dialect[OTLP_DIALECT_COUNT]; /* spans recognised per dialect */
    otlp_rejection *rejections;            /* the first ones, at most OTLP_MAX_REJECTIONS */
    size_t n_rejections;
} otlp_result;

#define OTLP_MAX_REJECTIONS 64

/* Decodes `body` as `fmt` and maps every span. A span becomes zero or more events (an LLM
 * span whose output requests tool calls also gives a tool_call event per call that has no
 * tool span of its own). Event ids are derived from trace id + span id (+ a sub-index for
 * derived events), time-ordered (the span's start milliseconds first), so a retried
 * request maps to the same ids and the store deduplicates it.
 * Returns 0 (the request decoded; rejected spans are in *out, never an error), or
 * OTLP_EDECODE / OTLP_ETOOBIG with err saying where ("resourceSpans[0].scopeSpans[1]
 * .spans[3].traceId: 15 bytes, want 16"), or OTLP_ENOMEM / OTLP_ECRYPTO. On error *out is
 * empty. */
int otlp_map_request(const uint8_t *body, size_t len, otlp_format fmt, const otlp_map_opts *o,
                     otlp_result *out, at_error *err);

/* Frees the events and rejections; accepts a zeroed or cleared result. */
void otlp_result_clear(otlp_result *r);

/* An ExportTraceServiceResponse in `fmt`: partial_success with rejected_spans and
 * error_message when either is non-zero / non-empty, else an empty message. Returns 0 and
 * *out (malloc'd) / *len, or OTLP_ENOMEM. */
int otlp_response_encode(otlp_format fmt, int64_t rejected_spans, const char *error_message,
                         uint8_t **out, size_t *len);

#endif
