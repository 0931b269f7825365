/*
 * test_otlp_clients.c - agents instrumented with OpenTelemetry clients that nobody here wrote,
 * installed from npm (tests/otlp/js), send to a real trace-collector --otlp-http on a free
 * loopback port; what trace-query find --format jsonl then returns is asserted: kinds, model,
 * tokens (cached <= input, usage counted once), cost, tool names and status, workflow, DRI,
 * service; how /metrics counts the spans (by dialect, not AI work, none rejected); and that no
 * prompt or reply text of the scripts (their SECRET- markers) is anywhere in the store's
 * files, the collector's log, or the output of find and show. The clients: the OpenTelemetry
 * JS SDK with the protobuf and, separately, the JSON exporter sending hand-made GenAI spans;
 * the real `openai` client against a local mock of the chat completions API, instrumented by
 * OpenInference and by OpenLLMetry; the Vercel AI SDK's generateText with its mock model and
 * telemetry on. Skipped only when node is not installed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "at_test.h"
#include "otlp_env.h"
#include "testutil.h"

/* What one agent's events must add up to. */
typedef struct expect {
    const char *script;
    const char *args[8];
    const char *workflow, *dri, *service, *model; /* model: a prefix of model.name */
    size_t prompts;                               /* prompt events */
    long long usage[4];                           /* input, output, cached, cost micros */
    const char *tools[3];                         /* each tool_call name, exactly once */
    const char *dialect;                          /* how the collector recognises the spans */
    long long dialect_spans, not_ai;              /* its /metrics counts after the run */
} expect;

static const expect genai_proto = {
    "genai.mjs",
    {"--format", "proto"},
    "weather-report",
    "alice@example.com",
    "weather-agent",
    "gpt-4o-mini",
    2,
    {270, 43, 164, 930},
    {"get_weather", "get_forecast"},
    "genai",
    5,
    1,
};

/* A fresh environment with its collector running; NULL without node (the test skips). */
static int setup(void **state)
{
    otlp_env *e = oe_new("otlp-clients");
    if (e) oe_collector_start(e, NULL);
    *state = e;
    return 0;
}

static otlp_env *env_or_skip(void **state)
{
    if (!*state) skip();
    return *state;
}

static int teardown(void **state)
{
    otlp_env *e = *state;
    oe_free(&e);
    return 0;
}

/* Runs the agent, stops the collector, returns the stored events. */
static json_t *run_agent(otlp_env *e, const expect *x)
{
    char *out = NULL, *err = NULL;
    int rc = oe_node(e, x->script, x->args, &out, &err);
    if (rc != 0)
        fail_msg("node %s exited %d:\n%s%s", x->script, rc, out ? out : "", err ? err : "");
    assert_non_null(strstr(out, "\"exports_failed\":0"));
    TU_FREE(out, err);
    /* The collector recognised the instrumentation and skipped what is not AI work. */
    char sample[128];
    snprintf(sample, sizeof sample, "agenttrail_otlp_spans_total{dialect=\"%s\"}", x->dialect);
    assert_int_equal(oe_metric(e, sample), x->dialect_spans);
    assert_int_equal(oe_metric(e, "agenttrail_otlp_spans_total{dialect=\"none\"}"), x->not_ai);
    assert_int_equal(oe_metric(e, "agenttrail_otlp_span_results_total{result=\"not_ai\"}"),
                     x->not_ai);
    assert_int_equal(oe_metric(e, "agenttrail_otlp_span_results_total{result=\"rejected\"}"), 0);
    oe_collector_stop(e);
    return oe_find(e);
}

/* No SECRET- marker of the scripts in the store, the log, find's or show's output. */
static void assert_no_prompt_text(otlp_env *e, const json_t *events)
{
    assert_int_equal(oe_grep_store(e, "SECRET-"), 0);
    char *dump = json_dumps(events, 0);
    if (strstr(dump, "SECRET-")) fail_msg("find prints prompt text: %s", dump);
    free(dump);
    size_t i;
    const json_t *ev;
    json_array_foreach(events, i, ev)
    {
        char *out = NULL;
        assert_int_equal(oe_query(e, &out, "show", oe_str(ev, "trace_id"), NULL), 0);
        if (strstr(out, "SECRET-")) fail_msg("show prints prompt text:\n%s", out);
        free(out);
    }
}

static void assert_expected(otlp_env *e, const json_t *events, const expect *x)
{
    size_t i;
    const json_t *ev;
    assert_true(json_array_size(events) > 0);
    json_array_foreach(events, i, ev)
    {
        assert_string_equal(oe_str(ev, "workflow"), x->workflow);
        assert_string_equal(oe_str(ev, "dri"), x->dri);
        assert_string_equal(oe_str(ev, "service"), x->service);
        const char *kind = oe_str(ev, "kind");
        assert_non_null(kind);
        if (strcmp(kind, "prompt") != 0) continue;
        const char *model = oe_str(ev, "model.name"), *hmac = oe_str(ev, "prompt.hmac_sha256");
        if (!model || strncmp(model, x->model, strlen(x->model)) != 0)
            fail_msg("prompt %s: model.name %s, want %s...", oe_str(ev, "event_id"),
                     model ? model : "(none)", x->model);
        if (!hmac || strlen(hmac) != 64)
            fail_msg("prompt %s: no prompt.hmac_sha256", oe_str(ev, "event_id"));
    }
    assert_int_equal(oe_count_kind(events, "prompt", NULL), x->prompts);
    long long u[4];
    oe_usage_totals(events, u);
    static const char *const what[4] = {"input tokens", "output tokens", "cached tokens",
                                        "cost micros"};
    for (int k = 0; k < 4; k++)
        if (u[k] != x->usage[k])
            fail_msg("%s: %s add up to %lld, want %lld (counted once)", x->script, what[k], u[k],
                     x->usage[k]);
    size_t tools = 0;
    for (int t = 0; t < 3 && x->tools[t]; t++, tools++) {
        size_t n = 0;
        const json_t *tool = oe_tool(events, x->tools[t], &n);
        if (n != 1)
            fail_msg("%s: %zu tool_call events named %s, want 1", x->script, n, x->tools[t]);
        const char *args = oe_str(tool, "tool_call.arguments");
        assert_non_null(args);
        assert_non_null(strstr(args, "Paris"));
    }
    assert_int_equal(oe_count_kind(events, "tool_call", NULL), tools);
    assert_no_prompt_text(e, events);
}

/* The GenAI spans of genai.mjs: two chats, two tools (one failing), an invoke_agent around
 * them, a plain HTTP span that is not stored. */
static void assert_genai_spans(otlp_env *e, const json_t *events)
{
    assert_expected(e, events, &genai_proto);
    size_t n = 0;
    const json_t *ok = oe_tool(events, "get_weather", &n),
                 *bad = oe_tool(events, "get_forecast", &n);
    assert_string_equal(oe_str(ok, "tool_call.status"), "ok");
    assert_string_equal(oe_str(bad, "tool_call.status"), "error");
    assert_non_null(strstr(oe_str(bad, "tool_call.error"), "forecast service unavailable"));
    size_t i;
    const json_t *ev;
    json_array_foreach(events, i, ev)
    {
        assert_string_equal(oe_str(ev, "environment"), "test");
        const json_t *attrs = json_object_get(ev, "attributes");
        assert_null(json_object_get(attrs, "url.full"));
        assert_null(json_object_get(attrs, "http.request.method"));
    }
    /* 2 chats + 2 tools, and at most one event for invoke_agent; nothing for GET /status. */
    assert_in_range(json_array_size(events), 4, 5);
}

AT_TEST_F(test_otel_sdk_proto_exporter_genai_spans_stored, setup, teardown)
{
    otlp_env *e = env_or_skip(state);
    json_t *events = run_agent(e, &genai_proto);
    assert_genai_spans(e, events);
    json_decref(events);
}

AT_TEST_F(test_otel_sdk_json_exporter_genai_spans_stored, setup, teardown)
{
    otlp_env *e = env_or_skip(state);
    expect x = genai_proto;
    x.args[1] = "json";
    json_t *events = run_agent(e, &x);
    assert_genai_spans(e, events);
    json_decref(events);
}

static const expect openinference = {
    "openai_openinference.mjs",
    {"--workflow", "weather-report"},
    "weather-report",
    "bob@example.com",
    "openai-agent",
    "gpt-4o-mini",
    2,
    {270, 43, 164, 0},
    {"get_weather"},
    "openinference",
    2,
    1,
};

/* The "done when": the openai client under OpenInference ends up as correct events
 * in trace-query show. */
AT_TEST_F(test_openai_openinference_stored_and_shown, setup, teardown)
{
    otlp_env *e = env_or_skip(state);
    json_t *events = run_agent(e, &openinference);
    assert_expected(e, events, &openinference);
    const json_t *p = NULL;
    oe_count_kind(events, "prompt", &p);
    assert_string_equal(oe_str(p, "model.provider"), "openai");
    const char *trace = oe_str(p, "trace_id");
    size_t i;
    const json_t *ev;
    json_array_foreach(events, i, ev) assert_string_equal(oe_str(ev, "trace_id"), trace);
    char *out = NULL;
    assert_int_equal(oe_query(e, &out, "show", trace, NULL), 0);
    fprintf(stderr, "trace-query show %s:\n%s", trace, out);
    static const char *const shown[] = {"get_weather",    "gpt-4o-mini", "bob@example.com",
                                        "weather-report", "prompt",      "tool_call"};
    for (size_t k = 0; k < sizeof shown / sizeof shown[0]; k++)
        if (!strstr(out, shown[k])) fail_msg("show does not print %s:\n%s", shown[k], out);
    free(out);
    out = NULL;
    assert_int_equal(oe_query(e, &out, "show", trace, "--format", "jsonl", NULL), 0);
    size_t lines = 0;
    for (const char *c = out; (c = strchr(c, '\n')) != NULL; c++)
        lines++;
    assert_int_equal(lines, json_array_size(events));
    free(out);
    json_decref(events);
}

AT_TEST_F(test_openai_openllmetry_stored, setup, teardown)
{
    otlp_env *e = env_or_skip(state);
    static const expect x = {
        "openai_traceloop.mjs",
        {"--workflow", "weather-report"},
        "weather-report",
        "dave@example.com",
        "openllmetry-agent",
        "gpt-4o-mini",
        2,
        {270, 43, 0, 0},
        {"get_weather"},
        "openllmetry", /* by its scope: this version writes only gen_ai.* attributes */
        2,
        1,
    };
    json_t *events = run_agent(e, &x);
    assert_expected(e, events, &x);
    json_decref(events);
}

/* ai.generateText repeats the usage of its two doGenerate steps: counted once, 270 in. */
AT_TEST_F(test_aisdk_generate_text_stored, setup, teardown)
{
    otlp_env *e = env_or_skip(state);
    static const expect x = {
        "aisdk.mjs",
        {NULL},
        "aisdk-weather",
        "carol@example.com",
        "aisdk-agent",
        "mock-model-1",
        2,
        {270, 43, 164, 0},
        {"get_weather"},
        "aisdk",
        4,
        0,
    };
    json_t *events = run_agent(e, &x);
    assert_expected(e, events, &x);
    json_decref(events);
}
