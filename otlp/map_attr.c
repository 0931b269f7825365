/*
 * map_attr.c - one span's attributes as the mapper reads them: look-ups by key (marking what
 * is mapped, so that only the rest is kept in the event's `attributes`), values as text or
 * JSON, and the table of content keys: attributes that carry prompts, completions, messages or
 * documents' text, which are hashed into the prompt HMAC or dropped, never kept in clear.
 *
 * Threading: reentrant; the table is constant.
 */
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_alloc.h" /* proto/'s, on purpose: otlp/CMakeLists.txt says why */
#include "otlp_internal.h"

/* Content keys. A pattern ending in '.' is a prefix ("llm.input_messages." covers
 * llm.input_messages.0.message.content); any other is exact. `prompt` marks the input content
 * whose text goes into the prompt HMAC; the others (outputs, documents, tool results) are
 * dropped, their useful parts (tool calls requested, document ids) having been mapped first. */
static const struct content_key {
    const char *pattern;
    bool prompt;
} content_keys[] = {
    /* OTel GenAI */
    {"gen_ai.system_instructions", true},
    {"gen_ai.input.messages", true},
    {"gen_ai.prompt", true},
    {"gen_ai.output.messages", false},
    {"gen_ai.completion", false},
    {"gen_ai.tool.call.arguments", false},
    {"gen_ai.tool.call.result", false},
    {"gen_ai.tool.definitions", false},
    {"gen_ai.retrieval.documents", false},
    {"gen_ai.retrieval.query.text", true},
    /* OpenLLMetry */
    {"gen_ai.prompt.", true},
    {"gen_ai.completion.", false},
    {"traceloop.entity.input", true},
    {"traceloop.entity.output", false},
    /* OpenInference */
    {"input.value", true},
    {"output.value", false},
    {"llm.input_messages.", true},
    {"llm.prompts.", true},
    {"llm.output_messages.", false},
    {"llm.choices.", false},
    {"llm.prompt_template.template", true},
    {"llm.prompt_template.variables", true},
    {"retrieval.documents.", false},
    {"reranker.input_documents.", false},
    {"reranker.output_documents.", false},
    {"reranker.query", true},
    {"embedding.embeddings.", false},
    /* Vercel AI SDK */
    {"ai.prompt", true},
    {"ai.prompt.messages", true},
    {"ai.response.text", false},
    {"ai.response.object", false},
    {"ai.response.reasoning", false},
    {"ai.response.toolCalls", false},
    {"ai.toolCall.args", false},
    {"ai.toolCall.input", false},
    {"ai.toolCall.result", false},
    {"ai.toolCall.output", false},
    {"ai.value", true},
    {"ai.values", true},
    {"ai.embedding", false},
    {"ai.embeddings", false},
    /* the same lists not flattened, as some exporters send them */
    {"llm.input_messages", true},
    {"llm.prompts", true},
    {"llm.output_messages", false},
    {"llm.choices", false},
    {"retrieval.documents", false},
    {"embedding.embeddings", false},
    /* other instrumentations seen beside these (Logfire / Pydantic AI, Langfuse, MLflow) */
    {"all_messages_events", true},
    {"pydantic_ai.all_messages", true},
    {"final_result", false},
    {"request_data", true},   /* Logfire's instrument_openai / _anthropic: the request body */
    {"response_data", false}, /* and the response */
    {"events", false},        /* older Pydantic AI: the message events as one JSON attribute */
    {"langfuse.observation.input", true},
    {"langfuse.observation.output", false},
    {"langfuse.trace.input", true},
    {"langfuse.trace.output", false},
    {"mlflow.spanInputs", true},
    {"mlflow.spanOutputs", false},
    {NULL, false},
};

/* Attributes under a content key's name that are not content (the AI SDK's tool definitions
 * and tool choice sit under ai.prompt.). */
static const char *const not_content_keys[] = {"ai.prompt.tools", "ai.prompt.toolChoice", NULL};

/* An exact pattern also covers its flattened forms (`gen_ai.input.messages.0.parts.0.content`,
 * `gen_ai.input.messages[1]`), as exporters flatten lists and maps; an exact match wins over
 * such a form (ai.prompt.messages is itself in the table). */
static const struct content_key *content_match(const char *key)
{
    for (const char *const *nc = not_content_keys; *nc; nc++)
        if (strcmp(key, *nc) == 0) return NULL;
    const struct content_key *under = NULL;
    for (const struct content_key *k = content_keys; k->pattern; k++) {
        size_t n = strlen(k->pattern);
        if (k->pattern[n - 1] == '.' ? strncmp(key, k->pattern, n) == 0
                                     : strcmp(key, k->pattern) == 0)
            return k;
        if (!under && strncmp(key, k->pattern, n) == 0 && (key[n] == '.' || key[n] == '['))
            under = k;
    }
    return under;
}

bool otlp_key_is_content(const char *key)
{
    return content_match(key) != NULL;
}

bool otlp_key_is_prompt_input(const char *key)
{
    const struct content_key *k = content_match(key);
    return k && k->prompt;
}

int otlp_json_load(const char *s, size_t len, size_t flags, json_t **out)
{
    tp_json_watch();
    json_t *j = json_loadb(s ? s : "", s ? len : 0, flags, NULL);
    if (tp_json_failed()) {
        json_decref(j);
        *out = NULL;
        return OTLP_ENOMEM;
    }
    *out = j;
    return 0;
}

bool otlp_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        unsigned c = *p++;
        if (c < 0x80) continue;
        int n = c >= 0xf0 && c <= 0xf4 ? 3 : c >= 0xe0 ? 2 : c >= 0xc2 && c < 0xe0 ? 1 : -1;
        if (n < 0 || c > 0xf4 || end - p < n) return false;
        unsigned cp = c & (0x3f >> n);
        for (int i = 0; i < n; i++) {
            if ((p[i] & 0xc0) != 0x80) return false;
            cp = cp << 6 | (p[i] & 0x3f);
        }
        if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (n == 3 && (cp < 0x10000 || cp > 0x10ffff)))
            return false;
        p += n;
    }
    return true;
}

static const otlp_any *find(const otlp_kv *const *kv, size_t n, const char *key, size_t *idx)
{
    for (size_t i = 0; i < n; i++)
        if (kv[i]->key && strcmp(kv[i]->key, key) == 0 && kv[i]->value) {
            if (idx) *idx = i;
            return kv[i]->value;
        }
    return NULL;
}

const otlp_any *otlp_attr(otlp_view *v, const char *key)
{
    size_t i;
    const otlp_any *a = find(v->attrs, v->n_attrs, key, &i);
    if (a) v->used[i] = true;
    return a;
}

static const char *scalar_text(const otlp_any *a, char *tmp, size_t tmplen)
{
    switch (a->value_case) {
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE:
        return a->string_value;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE:
        snprintf(tmp, tmplen, "%" PRId64, a->int_value);
        return tmp;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE:
        return a->bool_value ? "true" : "false";
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE:
        if (isfinite(a->double_value))
            snprintf(tmp, tmplen, "%.17g", a->double_value);
        else
            snprintf(tmp, tmplen, "%s", isnan(a->double_value) ? "NaN" : "Infinity");
        return tmp;
    default:
        return NULL;
    }
}

const char *otlp_attr_str(otlp_view *v, const char *key, char *tmp, size_t tmplen)
{
    const otlp_any *a = otlp_attr(v, key);
    return a ? scalar_text(a, tmp, tmplen) : NULL;
}

const char *otlp_attr_first(otlp_view *v, const char *const *keys)
{
    for (; *keys; keys++) {
        const otlp_any *a = otlp_attr(v, *keys);
        if (a && a->value_case == OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE &&
            a->string_value[0])
            return a->string_value;
    }
    return NULL;
}

bool otlp_attr_double(otlp_view *v, const char *key, double *out)
{
    const otlp_any *a = otlp_attr(v, key);
    if (!a) return false;
    switch (a->value_case) {
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE:
        *out = (double)a->int_value;
        return true;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE:
        *out = a->double_value;
        return isfinite(*out);
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE: {
        char *end = NULL;
        *out = strtod(a->string_value, &end);
        return a->string_value[0] && !*end && isfinite(*out);
    }
    default:
        return false;
    }
}

bool otlp_attr_u64(otlp_view *v, const char *key, uint64_t *out)
{
    double d;
    const otlp_any *a = otlp_attr(v, key);
    if (a && a->value_case == OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE) {
        if (a->int_value < 0) return false;
        *out = (uint64_t)a->int_value;
        return true;
    }
    if (!otlp_attr_double(v, key, &d) || d < 0 || d > 9.2e18 || d != floor(d)) return false;
    *out = (uint64_t)d;
    return true;
}

const char *otlp_res_str(const otlp_view *v, const char *key)
{
    const otlp_any *a = find(v->res, v->n_res, key, NULL);
    if (!a || a->value_case != OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE ||
        !a->string_value[0])
        return NULL;
    return a->string_value;
}

bool otlp_attr_has_prefix(const otlp_view *v, const char *prefix)
{
    size_t n = strlen(prefix);
    for (size_t i = 0; i < v->n_attrs; i++)
        if (v->attrs[i]->key && strncmp(v->attrs[i]->key, prefix, n) == 0) return true;
    return false;
}

static void json_str(at_buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    at_buf_putc(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            at_buf_putc(b, '\\');
            at_buf_putc(b, (char)*p);
        } else if (*p < 0x20) {
            char e[7] = {'\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15], 0};
            at_buf_puts(b, e);
        } else {
            at_buf_putc(b, (char)*p);
        }
    }
    at_buf_putc(b, '"');
}

static void base64(const ProtobufCBinaryData *d, at_buf *b)
{
    if (d->len > SIZE_MAX / 2 || at_buf_reserve(b, d->len / 3 * 4 + 8)) return;
    int n = EVP_EncodeBlock((unsigned char *)b->data + b->len, d->data, (int)d->len);
    if (n > 0) b->len += (size_t)n;
    b->data[b->len] = 0;
}

static void any_json(const otlp_any *a, at_buf *b, bool top_text)
{
    char tmp[64];
    switch (a ? a->value_case : 0) {
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE:
        if (top_text)
            at_buf_puts(b, a->string_value);
        else
            json_str(b, a->string_value);
        return;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BYTES_VALUE:
        if (!top_text) at_buf_putc(b, '"');
        base64(&a->bytes_value, b);
        if (!top_text) at_buf_putc(b, '"');
        return;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE:
        if (!isfinite(a->double_value)) {
            at_buf_puts(b, top_text ? scalar_text(a, tmp, sizeof tmp) : "null");
            return;
        }
        at_buf_puts(b, scalar_text(a, tmp, sizeof tmp));
        return;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE:
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE:
        at_buf_puts(b, scalar_text(a, tmp, sizeof tmp));
        return;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE:
        at_buf_putc(b, '[');
        for (size_t i = 0; i < a->array_value->n_values; i++) {
            if (i) at_buf_putc(b, ',');
            any_json(a->array_value->values[i], b, false);
        }
        at_buf_putc(b, ']');
        return;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_KVLIST_VALUE:
        at_buf_putc(b, '{');
        for (size_t i = 0; i < a->kvlist_value->n_values; i++) {
            if (i) at_buf_putc(b, ',');
            json_str(b, a->kvlist_value->values[i]->key);
            at_buf_putc(b, ':');
            any_json(a->kvlist_value->values[i]->value, b, false);
        }
        at_buf_putc(b, '}');
        return;
    default:
        at_buf_puts(b, "null");
    }
}

/* Leaves b NUL-terminated (data is never NULL unless failed). */
static void terminate(at_buf *b)
{
    if (at_buf_reserve(b, 1) == 0) b->data[b->len] = 0;
}

void otlp_any_text(const otlp_any *a, at_buf *b)
{
    any_json(a, b, true);
    terminate(b);
}

void otlp_any_json(const otlp_any *a, at_buf *b)
{
    any_json(a, b, false);
    terminate(b);
}
