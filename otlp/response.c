/*
 * response.c - the ExportTraceServiceResponse in either format, and the library's names: its
 * error codes and its dialects.
 *
 * Threading: reentrant.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "otlp_internal.h"

const char *otlp_strerror(int code)
{
    switch (code) {
    case OTLP_OK:
        return "success";
    case OTLP_EINVAL:
        return "bad argument";
    case OTLP_ENOMEM:
        return "out of memory";
    case OTLP_EDECODE:
        return "not an OTLP ExportTraceServiceRequest";
    case OTLP_ETOOBIG:
        return "request over a limit";
    case OTLP_EOWNERS:
        return "owners file unreadable or malformed";
    case OTLP_ECRYPTO:
        return "OpenSSL failed while hashing content";
    default:
        return "unknown error";
    }
}

const char *otlp_dialect_name(int dialect)
{
    static const char *const names[OTLP_DIALECT_COUNT] = {"genai", "openinference", "openllmetry",
                                                          "aisdk", "agenttrail",    "none"};
    return dialect >= 0 && dialect < OTLP_DIALECT_COUNT ? names[dialect] : "unknown";
}

static int encode_json(int64_t rejected, const char *msg, uint8_t **out, size_t *len)
{
    at_buf b = {0};
    if (rejected || (msg && *msg)) {
        /* rejectedSpans is an int64: a string in OTLP/JSON. */
        at_buf_printf(&b, "{\"partialSuccess\":{\"rejectedSpans\":\"%" PRId64 "\"", rejected);
        if (msg && *msg) {
            json_t *s = json_string(msg);
            char *q = s ? json_dumps(s, JSON_ENCODE_ANY) : NULL;
            json_decref(s);
            if (!q) {
                at_buf_free(&b);
                return OTLP_ENOMEM;
            }
            at_buf_printf(&b, ",\"errorMessage\":%s", q);
            free(q);
        }
        at_buf_puts(&b, "}}");
    } else {
        at_buf_puts(&b, "{}");
    }
    char *s = at_buf_take(&b, len);
    if (!s) return OTLP_ENOMEM;
    *out = (uint8_t *)s;
    return 0;
}

int otlp_response_encode(otlp_format fmt, int64_t rejected_spans, const char *error_message,
                         uint8_t **out, size_t *len)
{
    if (!out || !len) return OTLP_EINVAL;
    *out = NULL;
    *len = 0;
    if (error_message && !otlp_utf8_valid(error_message, strlen(error_message)))
        error_message = "(error message not valid UTF-8)";
    if (fmt == OTLP_JSON) return encode_json(rejected_spans, error_message, out, len);
    Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse r =
        OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_RESPONSE__INIT;
    Opentelemetry__Proto__Collector__Trace__V1__ExportTracePartialSuccess ps =
        OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_PARTIAL_SUCCESS__INIT;
    if (rejected_spans || (error_message && *error_message)) {
        ps.rejected_spans = rejected_spans;
        if (error_message) ps.error_message = (char *)error_message;
        r.partial_success = &ps;
    }
    size_t n =
        opentelemetry__proto__collector__trace__v1__export_trace_service_response__get_packed_size(
            &r);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) return OTLP_ENOMEM;
    opentelemetry__proto__collector__trace__v1__export_trace_service_response__pack(&r, buf);
    *out = buf;
    *len = n;
    return 0;
}
