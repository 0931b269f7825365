/*
 * map_dialect.c - which instrumentation a span comes from and what it is (provider call, tool,
 * retrieval, agent or workflow around them), and the tool calls a model requested in an LLM
 * span's output, read in each dialect's own attributes. The field-by-field mapping shared by
 * all dialects is in map.c; docs/otlp.md has both.
 *
 * Recognition order (first that matches): OpenInference (openinference.span.kind), the Vercel
 * AI SDK (ai.operationId, or a span name "ai.*"), OpenLLMetry (traceloop.span.kind,
 * llm.request.type, gen_ai.prompt.N / gen_ai.completion.N, or a "traceloop" scope), the OTel
 * GenAI conventions (gen_ai.operation.name, or gen_ai.system / gen_ai.provider.name with a
 * model), agenttrail.kind;
 * else the span is not AI work.
 *
 * Threading: reentrant; tables are constant.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otlp_internal.h"

typedef struct role_word {
    const char *word;
    otlp_role role;
} role_word;

static const role_word oi_kinds[] = {
    {"LLM", OTLP_ROLE_LLM},           {"EMBEDDING", OTLP_ROLE_LLM},
    {"TOOL", OTLP_ROLE_TOOL},         {"RETRIEVER", OTLP_ROLE_RETRIEVAL},
    {"CHAIN", OTLP_ROLE_WRAPPER},     {"AGENT", OTLP_ROLE_WRAPPER},
    {"RERANKER", OTLP_ROLE_WRAPPER},  {"GUARDRAIL", OTLP_ROLE_WRAPPER},
    {"EVALUATOR", OTLP_ROLE_WRAPPER}, {"PROMPT", OTLP_ROLE_WRAPPER},
    {NULL, OTLP_ROLE_WRAPPER},
};

static const role_word genai_ops[] = {
    {"chat", OTLP_ROLE_LLM},
    {"text_completion", OTLP_ROLE_LLM},
    {"generate_content", OTLP_ROLE_LLM},
    {"embeddings", OTLP_ROLE_LLM},
    {"execute_tool", OTLP_ROLE_TOOL},
    {"retrieval", OTLP_ROLE_RETRIEVAL},
    {"invoke_agent", OTLP_ROLE_WRAPPER},
    {"create_agent", OTLP_ROLE_WRAPPER},
    {"invoke_workflow", OTLP_ROLE_WRAPPER},
    {NULL, OTLP_ROLE_WRAPPER},
};

static const role_word traceloop_kinds[] = {
    {"tool", OTLP_ROLE_TOOL},     {"workflow", OTLP_ROLE_WRAPPER}, {"task", OTLP_ROLE_WRAPPER},
    {"agent", OTLP_ROLE_WRAPPER}, {NULL, OTLP_ROLE_WRAPPER},
};

static otlp_role lookup(const role_word *t, const char *w, bool nocase)
{
    for (; t->word; t++)
        if (nocase ? strcasecmp(t->word, w) == 0 : strcmp(t->word, w) == 0) return t->role;
    return t->role;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static bool aisdk_class(otlp_view *v, otlp_class *c)
{
    const char *op = otlp_attr_first(v, (const char *const[]){"ai.operationId", NULL});
    if (!op && strncmp(v->span->name, "ai.", 3) == 0) op = v->span->name;
    if (!op || strncmp(op, "ai.", 3) != 0) return false;
    otlp_attr(v, "operation.name"); /* "ai.generateText fn": the same, said again */
    c->dialect = OTLP_DIALECT_AISDK;
    c->label = op;
    if (ends_with(op, ".doGenerate") || ends_with(op, ".doStream") || ends_with(op, ".doEmbed"))
        c->role = OTLP_ROLE_LLM;
    else if (strcmp(op, "ai.toolCall") == 0)
        c->role = OTLP_ROLE_TOOL;
    else
        c->role = OTLP_ROLE_WRAPPER;
    return true;
}

otlp_class otlp_classify(otlp_view *v)
{
    otlp_class c = {OTLP_DIALECT_NONE, OTLP_ROLE_NONE, ""};
    const char *w;
    if ((w = otlp_attr_first(v, (const char *const[]){"openinference.span.kind", NULL}))) {
        c.dialect = OTLP_DIALECT_OPENINFERENCE;
        c.role = lookup(oi_kinds, w, true);
        c.label = w;
        return c;
    }
    if (aisdk_class(v, &c)) return c;
    if ((w = otlp_attr_first(v, (const char *const[]){"traceloop.span.kind", NULL}))) {
        c.dialect = OTLP_DIALECT_OPENLLMETRY;
        c.role = lookup(traceloop_kinds, w, false);
        c.label = w;
        return c;
    }
    if ((w = otlp_attr_first(v, (const char *const[]){"llm.request.type", NULL})) ||
        otlp_attr_has_prefix(v, "gen_ai.prompt.") ||
        otlp_attr_has_prefix(v, "gen_ai.completion.")) {
        c.dialect = OTLP_DIALECT_OPENLLMETRY;
        c.role = w && strcmp(w, "rerank") == 0 ? OTLP_ROLE_WRAPPER : OTLP_ROLE_LLM;
        c.label = w ? w : "llm";
        return c;
    }
    if ((w = otlp_attr_first(v, (const char *const[]){"gen_ai.operation.name", NULL}))) {
        /* OpenLLMetry's instrumentations now write the GenAI conventions themselves: their
         * scope ("@traceloop/instrumentation-openai") still tells where the span came from. */
        c.dialect =
            strstr(v->scope_name, "traceloop") ? OTLP_DIALECT_OPENLLMETRY : OTLP_DIALECT_GENAI;
        c.role = lookup(genai_ops, w, false);
        c.label = w;
        return c;
    }
    if (otlp_attr(v, "gen_ai.system") || otlp_attr(v, "gen_ai.provider.name")) {
        c.dialect = OTLP_DIALECT_GENAI;
        c.role = otlp_attr(v, "gen_ai.request.model") || otlp_attr(v, "gen_ai.response.model")
                     ? OTLP_ROLE_LLM
                     : OTLP_ROLE_WRAPPER;
        c.label = "genai";
        return c;
    }
    if ((w = otlp_attr_first(v, (const char *const[]){"agenttrail.kind", NULL})) ||
        (w = otlp_res_str(v, "agenttrail.kind"))) {
        c.dialect = OTLP_DIALECT_AGENTTRAIL;
        c.role = OTLP_ROLE_AGENTTRAIL;
        c.label = w;
    }
    return c;
}

/* ---- tool calls requested in an LLM span's output ---------------------------------------- */

typedef struct tools {
    otlp_req_tool *t;
    size_t n, cap;
} tools;

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static int add_tool(tools *ts, const char *id, const char *name, const char *args)
{
    if (!name || !*name) return 0;
    if (at_grow((void **)&ts->t, &ts->cap, ts->n + 1, sizeof *ts->t, 4)) return OTLP_ENOMEM;
    otlp_req_tool *t = &ts->t[ts->n];
    t->id = dup_or_null(id && *id ? id : NULL);
    t->name = strdup(name);
    t->arguments = dup_or_null(args && *args ? args : NULL);
    if (!t->name || (id && *id && !t->id) || (args && *args && !t->arguments)) {
        free(t->id);
        free(t->name);
        free(t->arguments);
        return OTLP_ENOMEM;
    }
    ts->n++;
    return 0;
}

/* Flattened tool calls: every attribute "PREFIX<n>INFIX<m>.NAME_SUFFIX" gives one call, its
 * arguments and id beside it with ARGS_SUFFIX and ID_SUFFIX. */
static int flattened(otlp_view *v, const char *prefix, const char *infix, const char *name_sfx,
                     const char *args_sfx, const char *id_sfx, tools *ts)
{
    size_t plen = strlen(prefix);
    for (size_t i = 0; i < v->n_attrs; i++) {
        const char *k = v->attrs[i]->key;
        if (!k || strncmp(k, prefix, plen) != 0 || !strstr(k + plen, infix) ||
            !ends_with(k, name_sfx))
            continue;
        size_t base = strlen(k) - strlen(name_sfx);
        char key[512], tmp[64];
        if (base + 64 > sizeof key) continue;
        char ntmp[64];
        const char *name = otlp_attr_str(v, k, ntmp, sizeof ntmp);
        snprintf(key, sizeof key, "%.*s%s", (int)base, k, args_sfx);
        const char *args = otlp_attr_str(v, key, tmp, sizeof tmp);
        snprintf(key, sizeof key, "%.*s%s", (int)base, k, id_sfx);
        char idtmp[64];
        const char *id = otlp_attr_str(v, key, idtmp, sizeof idtmp);
        if (add_tool(ts, id, name, args)) return OTLP_ENOMEM;
    }
    return 0;
}

/* A JSON value as the arguments text: a string as it is, anything else dumped. */
static char *json_args(json_t *a)
{
    if (!a || json_is_null(a)) return NULL;
    if (json_is_string(a)) return strdup(json_string_value(a));
    return json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY);
}

static int json_tool(tools *ts, json_t *o, const char *id_key, const char *name_key,
                     const char *args_key, const char *args_key2)
{
    json_t *name = json_object_get(o, name_key);
    if (!json_is_string(name)) return 0;
    json_t *id = json_object_get(o, id_key);
    json_t *a = json_object_get(o, args_key);
    if (!a && args_key2) a = json_object_get(o, args_key2);
    char *args = json_args(a);
    int rc = add_tool(ts, json_is_string(id) ? json_string_value(id) : NULL,
                      json_string_value(name), args);
    free(args);
    return rc;
}

/* The attribute's value parsed as JSON: 0 and *out (NULL when absent or not JSON), or
 * OTLP_ENOMEM. */
static int attr_json(otlp_view *v, const char *key, json_t **out)
{
    *out = NULL;
    const otlp_any *a = otlp_attr(v, key);
    if (!a) return 0;
    at_buf b = {0};
    otlp_any_text(a, &b);
    int rc = b.failed ? OTLP_ENOMEM : otlp_json_load(b.data, b.len, 0, out);
    at_buf_free(&b);
    return rc;
}

/* AI SDK: ai.response.toolCalls, a JSON array of {toolCallId, toolName, args | input}. */
static int aisdk_tools(otlp_view *v, tools *ts)
{
    json_t *j;
    int rc = attr_json(v, "ai.response.toolCalls", &j);
    for (size_t i = 0; json_is_array(j) && i < json_array_size(j) && !rc; i++)
        rc = json_tool(ts, json_array_get(j, i), "toolCallId", "toolName", "args", "input");
    json_decref(j);
    return rc;
}

/* OTel GenAI: gen_ai.output.messages, [{role, parts: [{type: "tool_call", id, name,
 * arguments}]}]. */
static int genai_tools(otlp_view *v, tools *ts)
{
    json_t *j;
    int rc = attr_json(v, "gen_ai.output.messages", &j);
    for (size_t i = 0; json_is_array(j) && i < json_array_size(j) && !rc; i++) {
        json_t *parts = json_object_get(json_array_get(j, i), "parts");
        for (size_t p = 0; json_is_array(parts) && p < json_array_size(parts) && !rc; p++) {
            json_t *part = json_array_get(parts, p);
            json_t *type = json_object_get(part, "type");
            if (json_is_string(type) && strcmp(json_string_value(type), "tool_call") == 0)
                rc = json_tool(ts, part, "id", "name", "arguments", NULL);
        }
    }
    json_decref(j);
    return rc;
}

int otlp_requested_tools(otlp_view *v, otlp_req_tool **out, size_t *n)
{
    tools ts = {0};
    int rc =
        flattened(v, "llm.output_messages.", ".message.tool_calls.", ".tool_call.function.name",
                  ".tool_call.function.arguments", ".tool_call.id", &ts);
    if (!rc)
        rc = flattened(v, "gen_ai.completion.", ".tool_calls.", ".name", ".arguments", ".id", &ts);
    if (!rc) rc = aisdk_tools(v, &ts);
    if (!rc) rc = genai_tools(v, &ts);
    if (rc) {
        otlp_req_tools_free(ts.t, ts.n);
        return OTLP_ENOMEM;
    }
    *out = ts.t;
    *n = ts.n;
    return 0;
}

void otlp_req_tools_free(otlp_req_tool *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(t[i].id);
        free(t[i].name);
        free(t[i].arguments);
    }
    free(t);
}
