/*
 * test_otlp_map.c - what libtraceotlp makes of each dialect's spans, field by field: the OTel
 * GenAI conventions, OpenInference, OpenLLMetry, the Vercel AI SDK and agenttrail.* alone.
 * Every request is built from one table in both formats (otlp_fixture.c) and both must give
 * the same events. Also: ids stable across two calls and time-ordered, usage of the AI SDK's
 * outer span not counted again, requested tool calls become tool_call events unless a tool
 * span carries them out, the DRI from the owners file or a rejection naming workflow and
 * service, no content in clear in any event's bytes, attributes over the limit counted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "at_test.h"
#include "otlp_fixture.h"
#include "testutil.h"

#define T1 "4bf92f3577b34da6a3ce929d0e0e4736"
#define T0 1732531200000000000ull /* 2024-11-25T10:40:00Z */
#define MS 1000000ull

enum {
    PROMPT = AGENTTRAIL__V1__KIND__PROMPT,
    TOOL = AGENTTRAIL__V1__KIND__TOOL_CALL,
    RETRIEVAL = AGENTTRAIL__V1__KIND__RETRIEVAL,
    NOTE = AGENTTRAIL__V1__KIND__NOTE,
    OUTCOME = AGENTTRAIL__V1__KIND__OUTCOME,
    APPROVAL = AGENTTRAIL__V1__KIND__APPROVAL,
};

static const char *hex(const ProtobufCBinaryData *b, char *out)
{
    at_hex_encode(b->data, b->len, out);
    return out;
}

static uint64_t total_input(const otlp_result *r)
{
    uint64_t n = 0;
    for (size_t i = 0; i < r->n_events; i++)
        if (r->events[i]->usage) n += r->events[i]->usage->input_tokens;
    return n;
}

/* ---- OTel GenAI ------------------------------------------------------------------------- */

#define GENAI_INPUT                                                                                \
    "[{\"role\":\"user\",\"parts\":[{\"type\":\"text\",\"content\":\"SECRET-PROMPT-G1\"}]}]"
#define GENAI_SYS "You are SECRET-SYSTEM-G2"
#define GENAI_OUTPUT                                                                               \
    "[{\"role\":\"assistant\",\"parts\":[{\"type\":\"text\",\"content\":\"SECRET-ANSWER-G3\"},"    \
    "{\"type\":\"tool_call\",\"id\":\"call_1\",\"name\":\"get_weather\",\"arguments\":{\"city\":"  \
    "\"Paris\"}},{\"type\":\"tool_call\",\"id\":\"call_2\",\"name\":\"get_time\",\"arguments\":"   \
    "{\"tz\":\"CET\"}}]}]"

static const tattr genai_res[] = {
    TS("service.name", "travel-agent"),        TS("deployment.environment.name", "prod"),
    TS("agenttrail.dri", "maria@example.com"), TS("agenttrail.workflow", "trip-planner"),
    TS("telemetry.sdk.name", "opentelemetry"), TEND};
static const tattr genai_agent[] = {
    TS("gen_ai.operation.name", "invoke_agent"), TS("gen_ai.agent.name", "planner"),
    TI("gen_ai.usage.input_tokens", 100), TI("gen_ai.usage.output_tokens", 20), TEND};
static const tattr genai_chat[] = {TS("gen_ai.operation.name", "chat"),
                                   TS("gen_ai.provider.name", "openai"),
                                   TS("gen_ai.request.model", "gpt-4o"),
                                   TS("gen_ai.response.model", "gpt-4o-2024-08-06"),
                                   TI("gen_ai.usage.input_tokens", 100),
                                   TI("gen_ai.usage.output_tokens", 20),
                                   TI("gen_ai.usage.cache_read.input_tokens", 30),
                                   TD("gen_ai.usage.cost.amount", 0.0042),
                                   TS("gen_ai.usage.cost.currency", "USD"),
                                   TS("gen_ai.input.messages", GENAI_INPUT),
                                   TS("gen_ai.system_instructions", GENAI_SYS),
                                   TS("gen_ai.output.messages", GENAI_OUTPUT),
                                   TS("gen_ai.conversation.id", "conv-7"),
                                   TD("gen_ai.request.temperature", 0.5),
                                   TEND};
static const tattr genai_tool[] = {TS("gen_ai.operation.name", "execute_tool"),
                                   TS("gen_ai.tool.name", "get_weather"),
                                   TS("gen_ai.tool.call.id", "call_1"),
                                   TS("gen_ai.tool.call.arguments", "{\"city\":\"Paris\"}"),
                                   TS("gen_ai.tool.call.result", "SECRET-RESULT-G4"),
                                   TEND};
static const tattr genai_retr[] = {
    TS("gen_ai.operation.name", "retrieval"), TS("gen_ai.data_source.id", "kb-main"),
    TS("gen_ai.retrieval.documents",
       "[{\"id\":\"doc-1\",\"score\":0.9,\"content\":\"SECRET-DOC-G5\"},{\"id\":\"doc-2\"}]"),
    TEND};
static const tattr http_attrs[] = {TS("http.request.method", "GET"), TS("url.full", "http://x/y"),
                                   TEND};
static const tspan genai_spans[] = {
    {T1, "1000000000000001", NULL, "invoke_agent planner", T0, T0 + 900 * MS, 0, NULL, genai_agent},
    {T1, "1000000000000002", "1000000000000001", "chat gpt-4o", T0 + 10 * MS, T0 + 510 * MS, 0,
     NULL, genai_chat},
    {T1, "1000000000000003", "1000000000000001", "execute_tool get_weather", T0 + 520 * MS,
     T0 + 530 * MS, 2, "timeout after 10s", genai_tool},
    {T1, "1000000000000004", "1000000000000001", "retrieval kb", T0 + 1 * MS, T0 + 5 * MS, 0, NULL,
     genai_retr},
    {T1, "1000000000000005", "1000000000000001", "GET", T0 + 2 * MS, T0 + 3 * MS, 0, NULL,
     http_attrs},
};

AT_TEST(test_genai_spans_map_field_by_field)
{
    (void)state;
    otlp_result r = {0};
    char h[80];
    fx_map_both(genai_res, genai_spans, 5, NULL, &r);
    assert_int_equal(r.n_not_ai, 1);
    assert_int_equal(r.n_rejected, 0);
    assert_int_equal(r.by_dialect[OTLP_DIALECT_GENAI], 4);
    assert_int_equal(r.by_dialect[OTLP_DIALECT_NONE], 1);
    /* agent note, prompt, tool span, retrieval, and get_time (requested, no tool span) */
    assert_int_equal(r.n_events, 5);

    const tp_event *p = fx_event(&r, PROMPT, 0);
    assert_non_null(p);
    assert_string_equal(hex(&p->trace_id, h), T1);
    assert_string_equal(hex(&p->span_id, h), "1000000000000002");
    assert_string_equal(hex(&p->parent_span_id, h), "1000000000000001");
    assert_int_equal(p->time_unix_nano, T0 + 10 * MS);
    assert_int_equal(p->duration_nano, 500 * MS);
    assert_string_equal(p->workflow, "trip-planner");
    assert_string_equal(p->dri, "maria@example.com");
    assert_string_equal(p->service, "travel-agent");
    assert_string_equal(p->environment, "prod");
    assert_string_equal(p->model->provider, "openai");
    assert_string_equal(p->model->name, "gpt-4o-2024-08-06");
    assert_int_equal(p->usage->input_tokens, 100);
    assert_int_equal(p->usage->output_tokens, 20);
    assert_int_equal(p->usage->cached_tokens, 30);
    assert_int_equal(p->usage->cost_usd_micros, 4200);
    char want[65];
    fx_hmac_hex(GENAI_INPUT "\n" GENAI_SYS, want);
    assert_true(p->prompt && p->prompt->has_hmac_sha256);
    assert_string_equal(hex(&p->prompt->hmac_sha256, h), want);
    assert_null(p->prompt->text);
    assert_string_equal(fx_attr(p, "gen_ai.conversation.id"), "conv-7");
    assert_string_equal(fx_attr(p, "gen_ai.request.temperature"), "0.5");
    assert_string_equal(fx_attr(p, "otel.span.name"), "chat gpt-4o");
    assert_string_equal(fx_attr(p, "otel.scope.name"), "fixture-scope");
    assert_null(fx_attr(p, "gen_ai.input.messages"));

    const tp_event *t = fx_event(&r, TOOL, 1); /* after the chat's requested one */
    assert_string_equal(t->tool_call->name, "get_weather");
    assert_string_equal(t->tool_call->arguments, "{\"city\":\"Paris\"}");
    assert_int_equal(t->tool_call->status, AGENTTRAIL__V1__TOOL_STATUS__TOOL_ERROR);
    assert_string_equal(t->tool_call->error, "timeout after 10s");
    assert_int_equal(t->duration_nano, 10 * MS);
    /* call_1 has its tool span; call_2 only its request in the chat's output */
    assert_int_equal(fx_count(&r, TOOL), 2);
    const tp_event *req = fx_event(&r, TOOL, 0);
    assert_string_equal(req->tool_call->name, "get_time");
    assert_string_equal(req->tool_call->arguments, "{\"tz\":\"CET\"}");
    assert_string_equal(fx_attr(req, "gen_ai.tool.call.id"), "call_2");
    assert_string_equal(fx_attr(req, "agenttrail.requested_by"), "llm_output");
    assert_string_equal(hex(&req->span_id, h), "1000000000000002");
    assert_string_equal(req->model->name, "gpt-4o-2024-08-06");
    assert_null(req->usage);

    const tp_event *rt = fx_event(&r, RETRIEVAL, 0);
    assert_int_equal(rt->n_context_ids, 2);
    assert_string_equal(rt->context_ids[0], "doc-1");
    assert_string_equal(rt->context_ids[1], "doc-2");

    const tp_event *n = fx_event(&r, NOTE, 0);
    assert_string_equal(n->note, "invoke_agent: invoke_agent planner");
    assert_string_equal(n->actor, "planner");
    assert_null(n->usage); /* the agent's usage repeats its chat's */
    assert_string_equal(fx_attr(n, "gen_ai.usage.input_tokens"), "100");
    assert_int_equal(total_input(&r), 100);

    static const char *const secrets[] = {"SECRET-PROMPT-G1", "SECRET-SYSTEM-G2",
                                          "SECRET-ANSWER-G3", "SECRET-RESULT-G4", "SECRET-DOC-G5"};
    for (size_t i = 0; i < sizeof secrets / sizeof *secrets; i++)
        fx_assert_absent(&r, secrets[i]);
    otlp_result_clear(&r);
}

AT_TEST(test_event_ids_are_stable_and_time_ordered)
{
    (void)state;
    otlp_result a = {0}, b = {0};
    size_t len;
    uint8_t *pb = fx_pb_request(genai_res, genai_spans, 5, &len);
    fx_map(pb, len, OTLP_PROTOBUF, NULL, &a);
    fx_map(pb, len, OTLP_PROTOBUF, NULL, &b);
    assert_int_equal(a.n_events, b.n_events);
    for (size_t i = 0; i < a.n_events; i++) {
        assert_int_equal(a.events[i]->event_id.len, 16);
        assert_memory_equal(a.events[i]->event_id.data, b.events[i]->event_id.data, 16);
        uint64_t ms = 0;
        for (int k = 0; k < 6; k++)
            ms = ms << 8 | a.events[i]->event_id.data[k];
        assert_int_equal(ms, a.events[i]->time_unix_nano / MS);
        for (size_t j = 0; j < i; j++) /* distinct, derived events included */
            assert_memory_not_equal(a.events[i]->event_id.data, a.events[j]->event_id.data, 16);
    }
    otlp_result_clear(&a);
    otlp_result_clear(&b);
    free(pb);
}

/* ---- OpenInference ---------------------------------------------------------------------- */

static const tattr oi_res[] = {TS("service.name", "flight-bot"),
                               TS("deployment.environment", "staging"), TEND};
static const tattr oi_chain[] = {TS("openinference.span.kind", "CHAIN"),
                                 TS("agenttrail.workflow", "booking"),
                                 TS("input.value", "SECRET-OI-CHAIN-IN"), TEND};
static const tattr oi_llm[] = {
    TS("openinference.span.kind", "LLM"),
    TS("llm.model_name", "gpt-4o-mini"),
    TS("llm.provider", "openai"),
    TS("llm.system", "openai"),
    TI("llm.token_count.prompt", 50),
    TI("llm.token_count.completion", 7),
    TI("llm.token_count.total", 57),
    TI("llm.token_count.prompt_details.cache_read", 10),
    TD("llm.cost.total", 0.25),
    TS("llm.input_messages.0.message.role", "user"),
    TS("llm.input_messages.0.message.content", "SECRET-OI-PROMPT"),
    TS("input.value", "{\"messages\":[\"SECRET-OI-INPUT\"]}"),
    TS("output.value", "SECRET-OI-OUTPUT"),
    TS("llm.output_messages.0.message.role", "assistant"),
    TS("llm.output_messages.0.message.tool_calls.0.tool_call.id", "call_9"),
    TS("llm.output_messages.0.message.tool_calls.0.tool_call.function.name", "search_flights"),
    TS("llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments",
       "{\"from\":\"OSL\"}"),
    TS("session.id", "sess-1"),
    TS("user.id", "u-42"),
    TEND};
static const tattr oi_retr[] = {TS("openinference.span.kind", "RETRIEVER"),
                                TS("retrieval.documents.0.document.id", "kb-17"),
                                TS("retrieval.documents.0.document.content", "SECRET-OI-DOC"),
                                TS("retrieval.documents.1.document.id", "kb-18"), TEND};
static const tspan oi_spans[] = {
    {T1, "2000000000000001", NULL, "booking-chain", T0, T0 + 100 * MS, 0, NULL, oi_chain},
    {T1, "2000000000000002", "2000000000000001", "ChatCompletion", T0 + MS, T0 + 50 * MS, 0, NULL,
     oi_llm},
    {T1, "2000000000000003", "2000000000000001", "retrieve", T0 + 60 * MS, T0 + 61 * MS, 0, NULL,
     oi_retr},
};

AT_TEST(test_openinference_spans_with_owners_file)
{
    (void)state;
    char *dir;
    otlp_owners *ow = fx_owners("# flight team\nservice:flight-* ops@example.com\n\n"
                                "workflow:book* ana@example.com\n",
                                &dir);
    otlp_result r = {0};
    fx_map_both(oi_res, oi_spans, 3, ow, &r);
    assert_int_equal(r.by_dialect[OTLP_DIALECT_OPENINFERENCE], 3);
    assert_int_equal(r.n_rejected, 0);
    assert_int_equal(r.n_events, 4); /* chain note, prompt, requested tool call, retrieval */
    const tp_event *p = fx_event(&r, PROMPT, 0);
    assert_string_equal(p->workflow, "booking"); /* from the chain, its parent */
    assert_string_equal(p->dri, "ana@example.com");
    assert_string_equal(p->environment, "staging");
    assert_string_equal(p->model->name, "gpt-4o-mini");
    assert_string_equal(p->model->provider, "openai");
    assert_int_equal(p->usage->input_tokens, 50);
    assert_int_equal(p->usage->output_tokens, 7);
    assert_int_equal(p->usage->cached_tokens, 10);
    assert_int_equal(p->usage->cost_usd_micros, 250000);
    assert_string_equal(fx_attr(p, "session.id"), "sess-1");
    assert_string_equal(fx_attr(p, "user.id"), "u-42");
    assert_null(fx_attr(p, "llm.token_count.total"));
    assert_null(fx_attr(p, "llm.input_messages.0.message.role"));
    char want[65], h[80];
    fx_hmac_hex("user\nSECRET-OI-PROMPT\n{\"messages\":[\"SECRET-OI-INPUT\"]}", want);
    assert_string_equal(hex(&p->prompt->hmac_sha256, h), want);
    const tp_event *t = fx_event(&r, TOOL, 0);
    assert_string_equal(t->tool_call->name, "search_flights");
    assert_string_equal(t->tool_call->arguments, "{\"from\":\"OSL\"}");
    assert_string_equal(fx_attr(t, "gen_ai.tool.call.id"), "call_9");
    const tp_event *rt = fx_event(&r, RETRIEVAL, 0);
    assert_int_equal(rt->n_context_ids, 2);
    assert_string_equal(rt->context_ids[1], "kb-18");
    assert_string_equal(fx_event(&r, NOTE, 0)->note, "CHAIN: booking-chain");
    assert_string_equal(fx_event(&r, NOTE, 0)->dri, "ana@example.com");
    static const char *const secrets[] = {"SECRET-OI-CHAIN-IN", "SECRET-OI-PROMPT",
                                          "SECRET-OI-INPUT", "SECRET-OI-OUTPUT", "SECRET-OI-DOC"};
    for (size_t i = 0; i < 5; i++)
        fx_assert_absent(&r, secrets[i]);
    otlp_result_clear(&r);
    otlp_owners_destroy(&ow);
    assert_null(ow);
    tu_rmtree_free(dir);
}

/* ---- OpenLLMetry ------------------------------------------------------------------------ */

static const tattr ll_res[] = {TS("service.name", "support-bot"), TEND};
static const tattr ll_wf[] = {TS("traceloop.span.kind", "workflow"),
                              TS("traceloop.entity.name", "answer"),
                              TS("traceloop.workflow.name", "support-reply"),
                              TS("traceloop.entity.input", "SECRET-LL-WF-IN"), TEND};
static const tattr ll_chat[] = {TS("llm.request.type", "chat"),
                                TS("gen_ai.system", "openai"),
                                TS("gen_ai.request.model", "gpt-4o-mini"),
                                TS("gen_ai.response.model", "gpt-4o-mini-2024-07-18"),
                                TI("gen_ai.usage.prompt_tokens", 80),
                                TI("gen_ai.usage.completion_tokens", 9),
                                TI("llm.usage.total_tokens", 89),
                                TS("gen_ai.prompt.0.role", "user"),
                                TS("gen_ai.prompt.0.content", "SECRET-LL-PROMPT"),
                                TS("gen_ai.completion.0.role", "assistant"),
                                TS("gen_ai.completion.0.tool_calls.0.id", "call_a"),
                                TS("gen_ai.completion.0.tool_calls.0.name", "lookup_order"),
                                TS("gen_ai.completion.0.tool_calls.0.arguments", "{\"id\":5}"),
                                TS("traceloop.workflow.name", "support-reply"),
                                TS("traceloop.association.properties.customer", "acme"),
                                TEND};
static const tattr ll_tool[] = {TS("traceloop.span.kind", "tool"),
                                TS("traceloop.entity.name", "lookup_order"),
                                TS("traceloop.entity.input", "{\"args\":[5]}"),
                                TS("traceloop.entity.output", "SECRET-LL-TOOL-OUT"),
                                TS("traceloop.workflow.name", "support-reply"),
                                TEND};
static const tspan ll_spans[] = {
    {T1, "3000000000000001", NULL, "answer.workflow", T0, T0 + 100 * MS, 0, NULL, ll_wf},
    {T1, "3000000000000002", "3000000000000001", "openai.chat", T0 + MS, T0 + 40 * MS, 0, NULL,
     ll_chat},
    {T1, "3000000000000003", "3000000000000001", "lookup_order.tool", T0 + 41 * MS, T0 + 45 * MS, 0,
     NULL, ll_tool},
};

AT_TEST(test_openllmetry_spans_without_dri_are_rejected)
{
    (void)state;
    otlp_result r = {0};
    fx_map_both(ll_res, ll_spans, 3, NULL, &r);
    assert_int_equal(r.by_dialect[OTLP_DIALECT_OPENLLMETRY], 3);
    assert_int_equal(r.n_events, 0);
    assert_int_equal(r.n_rejected, 3);
    assert_int_equal(r.n_rejections, 3);
    assert_string_equal(r.rejections[1].span_id, "3000000000000002");
    assert_string_equal(r.rejections[1].reason,
                        "dri: no agenttrail.dri attribute and no line of the owners file matches "
                        "workflow \"support-reply\" or service \"support-bot\"");
    otlp_result_clear(&r);
}

AT_TEST(test_openllmetry_spans_map_field_by_field)
{
    (void)state;
    char *dir;
    otlp_owners *ow = fx_owners("service:support-* lee@example.com\n", &dir);
    otlp_result r = {0};
    fx_map_both(ll_res, ll_spans, 3, ow, &r);
    assert_int_equal(r.n_rejected, 0);
    /* workflow note, prompt, tool span; lookup_order's request has no call id on the tool span,
     * so it is recorded as requested too */
    assert_int_equal(r.n_events, 4);
    const tp_event *p = fx_event(&r, PROMPT, 0);
    assert_string_equal(p->workflow, "support-reply");
    assert_string_equal(p->dri, "lee@example.com");
    assert_string_equal(p->model->provider, "openai");
    assert_string_equal(p->model->name, "gpt-4o-mini-2024-07-18");
    assert_int_equal(p->usage->input_tokens, 80);
    assert_int_equal(p->usage->output_tokens, 9);
    assert_false(p->usage->has_cached_tokens);
    assert_string_equal(fx_attr(p, "traceloop.association.properties.customer"), "acme");
    char want[65], h[80];
    fx_hmac_hex("user\nSECRET-LL-PROMPT", want);
    assert_string_equal(hex(&p->prompt->hmac_sha256, h), want);
    const tp_event *t = fx_event(&r, TOOL, 1);
    assert_string_equal(t->tool_call->name, "lookup_order");
    assert_string_equal(t->tool_call->arguments, "{\"args\":[5]}");
    assert_int_equal(t->tool_call->status, AGENTTRAIL__V1__TOOL_STATUS__TOOL_OK);
    const tp_event *rq = fx_event(&r, TOOL, 0);
    assert_string_equal(rq->tool_call->name, "lookup_order");
    assert_string_equal(rq->tool_call->arguments, "{\"id\":5}");
    assert_string_equal(fx_event(&r, NOTE, 0)->note, "workflow: answer.workflow");
    fx_assert_absent(&r, "SECRET-LL-WF-IN");
    fx_assert_absent(&r, "SECRET-LL-PROMPT");
    fx_assert_absent(&r, "SECRET-LL-TOOL-OUT");
    otlp_result_clear(&r);
    otlp_owners_destroy(&ow);
    tu_rmtree_free(dir);
}

/* ---- Vercel AI SDK ---------------------------------------------------------------------- */

static const tattr ai_res[] = {TS("service.name", "notes-app"),
                               TS("agenttrail.dri", "kim@example.com"), TEND};
static const tattr ai_outer[] = {TS("ai.operationId", "ai.generateText"),
                                 TS("operation.name", "ai.generateText summarize"),
                                 TS("ai.model.id", "mock-model-id"),
                                 TS("ai.model.provider", "mock-provider"),
                                 TS("ai.telemetry.functionId", "summarize"),
                                 TS("ai.telemetry.metadata.ticket", "T-1"),
                                 TS("ai.prompt", "{\"prompt\":\"SECRET-AI-PROMPT\"}"),
                                 TI("ai.usage.inputTokens", 12),
                                 TI("ai.usage.outputTokens", 4),
                                 TS("ai.response.text", "SECRET-AI-TEXT"),
                                 TEND};
static const tattr ai_inner[] = {
    TS("ai.operationId", "ai.generateText.doGenerate"),
    TS("ai.model.id", "mock-model-id"),
    TS("ai.model.provider", "mock-provider"),
    TS("ai.telemetry.functionId", "summarize"),
    TS("ai.prompt.messages", "[{\"role\":\"user\",\"content\":\"SECRET-AI-MESSAGES\"}]"),
    TI("ai.usage.inputTokens", 12),
    TI("ai.usage.outputTokens", 4),
    TI("ai.usage.cachedInputTokens", 2),
    TS("gen_ai.system", "mock-provider"),
    TS("gen_ai.request.model", "mock-model-id"),
    TI("gen_ai.usage.input_tokens", 12),
    TS("ai.response.toolCalls",
       "[{\"toolCallType\":\"function\",\"toolCallId\":\"c1\","
       "\"toolName\":\"weather\",\"args\":\"{\\\"city\\\":\\\"Oslo\\\"}\"}]"),
    TEND};
static const tattr ai_tool[] = {TS("ai.operationId", "ai.toolCall"),
                                TS("ai.toolCall.name", "weather"),
                                TS("ai.toolCall.id", "c1"),
                                TS("ai.toolCall.args", "{\"city\":\"Oslo\"}"),
                                TS("ai.toolCall.result", "SECRET-AI-RESULT"),
                                TEND};
static const tspan ai_spans[] = {
    {T1, "4000000000000002", "4000000000000001", "ai.generateText.doGenerate", T0 + MS,
     T0 + 20 * MS, 0, NULL, ai_inner},
    {T1, "4000000000000003", "4000000000000001", "ai.toolCall", T0 + 21 * MS, T0 + 22 * MS, 0, NULL,
     ai_tool},
    {T1, "4000000000000001", NULL, "ai.generateText", T0, T0 + 30 * MS, 0, NULL, ai_outer},
};

AT_TEST(test_aisdk_usage_counted_once)
{
    (void)state;
    otlp_result r = {0};
    fx_map_both(ai_res, ai_spans, 3, NULL, &r);
    assert_int_equal(r.by_dialect[OTLP_DIALECT_AISDK], 3);
    assert_int_equal(r.n_events, 3); /* prompt, tool span (c1 carried out), outer note */
    const tp_event *p = fx_event(&r, PROMPT, 0);
    assert_string_equal(p->workflow, "summarize");
    assert_string_equal(p->dri, "kim@example.com");
    assert_string_equal(p->model->provider, "mock-provider");
    assert_string_equal(p->model->name, "mock-model-id");
    assert_int_equal(p->usage->input_tokens, 12);
    assert_int_equal(p->usage->output_tokens, 4);
    assert_int_equal(p->usage->cached_tokens, 2);
    assert_int_equal(total_input(&r), 12);
    const tp_event *n = fx_event(&r, NOTE, 0);
    assert_string_equal(n->note, "ai.generateText");
    assert_null(n->usage);
    assert_string_equal(fx_attr(n, "ai.usage.inputTokens"), "12");
    assert_string_equal(fx_attr(n, "ai.telemetry.metadata.ticket"), "T-1");
    const tp_event *t = fx_event(&r, TOOL, 0);
    assert_string_equal(t->tool_call->name, "weather");
    assert_string_equal(t->tool_call->arguments, "{\"city\":\"Oslo\"}");
    assert_int_equal(fx_count(&r, TOOL), 1);
    fx_assert_absent(&r, "SECRET-AI-PROMPT");
    fx_assert_absent(&r, "SECRET-AI-TEXT");
    fx_assert_absent(&r, "SECRET-AI-MESSAGES");
    fx_assert_absent(&r, "SECRET-AI-RESULT");
    otlp_result_clear(&r);

    /* The outer span alone (its children went in an earlier request): still not counted. */
    fx_map_both(ai_res, ai_spans + 2, 1, NULL, &r);
    assert_int_equal(r.n_events, 1);
    assert_null(r.events[0]->usage);
    otlp_result_clear(&r);
    /* The provider call alone, without its tool span: the tool call is recorded as requested. */
    fx_map_both(ai_res, ai_spans, 1, NULL, &r);
    assert_int_equal(fx_count(&r, TOOL), 1);
    assert_string_equal(fx_event(&r, TOOL, 0)->tool_call->name, "weather");
    assert_string_equal(fx_event(&r, TOOL, 0)->tool_call->arguments, "{\"city\":\"Oslo\"}");
    otlp_result_clear(&r);
}

/* ---- agenttrail.* ------------------------------------------------------------------------ */

static const tattr at_res[] = {TS("service.name", "review-ui"),
                               TS("agenttrail.workflow", "pr-review"),
                               TS("agenttrail.dri", "sam@example.com"), TEND};
static const tattr at_outcome[] = {TS("agenttrail.kind", "outcome"),
                                   TS("agenttrail.outcome.decision", "edited"),
                                   TS("agenttrail.outcome.by", "sam@example.com"),
                                   TI("agenttrail.outcome.edit_distance", 14),
                                   TS("agenttrail.incident", "INC-7"),
                                   TEND};
static const tattr at_llm[] = {TS("gen_ai.operation.name", "chat"),
                               TS("gen_ai.request.model", "m1"),
                               TS("agenttrail.approval.checkpoint", "release"),
                               TS("agenttrail.approval.approver", "lead@example.com"),
                               TS("agenttrail.approval.decision", "approved"),
                               TEND};
static const tspan at_spans[] = {
    {T1, "5000000000000001", NULL, "review decided", T0, T0 + MS, 0, NULL, at_outcome},
    {T1, "5000000000000002", NULL, "chat", T0, T0 + MS, 0, NULL, at_llm},
};

AT_TEST(test_agenttrail_attributes_give_outcome_and_approval)
{
    (void)state;
    otlp_result r = {0};
    fx_map_both(at_res, at_spans, 2, NULL, &r);
    assert_int_equal(r.by_dialect[OTLP_DIALECT_AGENTTRAIL], 1);
    assert_int_equal(r.n_rejected, 0);
    const tp_event *o = fx_event(&r, OUTCOME, 0);
    assert_non_null(o);
    assert_int_equal(o->outcome->decision, AGENTTRAIL__V1__DECISION__EDITED);
    assert_string_equal(o->outcome->by, "sam@example.com");
    assert_int_equal(o->outcome->edit_distance, 14);
    assert_string_equal(o->incident, "INC-7");
    assert_string_equal(o->workflow, "pr-review");
    const tp_event *a = fx_event(&r, APPROVAL, 0);
    assert_non_null(a);
    assert_string_equal(a->approval->checkpoint, "release");
    assert_string_equal(a->approval->approver, "lead@example.com");
    assert_int_equal(a->approval->decision, AGENTTRAIL__V1__APPROVAL_DECISION__APPROVED);
    assert_non_null(fx_event(&r, PROMPT, 0));
    assert_int_equal(r.n_events, 3);
    otlp_result_clear(&r);
}

/* ---- limits and rejections --------------------------------------------------------------- */

AT_TEST(test_attributes_over_the_limit_are_counted)
{
    (void)state;
    static char keys[100][16];
    tattr attrs[102];
    attrs[0] = (tattr)TS("gen_ai.operation.name", "chat");
    attrs[1] = (tattr)TS("gen_ai.request.model", "m");
    for (int i = 0; i < 99; i++) {
        snprintf(keys[i], sizeof keys[i], "extra.%02d", i);
        attrs[2 + i] = (tattr)TS(keys[i], "v");
    }
    attrs[101] = (tattr)TEND;
    tspan s = {T1, "6000000000000001", NULL, "chat", T0, T0 + MS, 0, NULL, attrs};
    otlp_result r = {0};
    fx_map_both(at_res, &s, 1, NULL, &r);
    assert_int_equal(r.n_events, 1);
    const tp_event *e = r.events[0];
    assert_int_equal(e->n_attributes, 64);
    /* 63 kept: otel.span.name, otel.scope.name and 61 extras; 38 extras dropped */
    assert_string_equal(fx_attr(e, "extra.60"), "v");
    assert_null(fx_attr(e, "extra.61"));
    assert_string_equal(fx_attr(e, "agenttrail.attributes_dropped"), "38");
    otlp_result_clear(&r);
}

AT_TEST(test_invalid_event_rejects_the_span_with_the_validate_message)
{
    (void)state;
    static const tattr no_model[] = {TS("gen_ai.operation.name", "chat"), TEND};
    static const tattr bad_cached[] = {TS("gen_ai.operation.name", "chat"),
                                       TS("gen_ai.request.model", "m"),
                                       TS("agenttrail.workflow", " spaced "), TEND};
    tspan s[] = {{T1, "7000000000000001", NULL, "chat", T0, T0 + MS, 0, NULL, no_model},
                 {T1, "7000000000000002", NULL, "chat", T0, T0 + MS, 0, NULL, bad_cached}};
    otlp_result r = {0};
    fx_map_both(at_res, s, 2, NULL, &r);
    assert_int_equal(r.n_events, 0);
    assert_int_equal(r.n_rejected, 2);
    assert_string_equal(r.rejections[0].span_id, "7000000000000001");
    assert_non_null(strstr(r.rejections[0].reason, "model"));
    assert_non_null(strstr(r.rejections[1].reason, "workflow"));
    otlp_result_clear(&r);
}

/* Content attributes sent flattened (one attribute per list element or field, as some
 * exporters do with lists and maps) are content as well, in every dialect. */
AT_TEST(test_flattened_content_keys_never_reach_an_event)
{
    (void)state;
    static const tattr g[] = {TS("gen_ai.operation.name", "chat"), TS("gen_ai.request.model", "m1"),
                              TS("gen_ai.input.messages.0.parts.0.content", "SECRET-FLAT-1"),
                              TS("gen_ai.output.messages.0.parts.0.content", "SECRET-FLAT-2"),
                              TS("gen_ai.system_instructions.0.content", "SECRET-FLAT-3"),
                              TS("gen_ai.input.messages[1]", "SECRET-FLAT-4"),
                              /* Logfire's instrument_openai: the request and response bodies */
                              TS("request_data", "{\"messages\":[\"SECRET-FLAT-11\"]}"),
                              TS("response_data", "{\"message\":\"SECRET-FLAT-12\"}"),
                              /* older Pydantic AI: the message events as one JSON attribute */
                              TS("events", "[{\"content\":\"SECRET-FLAT-13\"}]"), TEND};
    static const tattr a[] = {TS("ai.operationId", "ai.generateText.doGenerate"),
                              TS("ai.model.id", "m2"),
                              TS("ai.model.provider", "p"),
                              TS("ai.prompt.messages.0.content", "SECRET-FLAT-5"),
                              TS("ai.response.text.0", "SECRET-FLAT-6"),
                              TEND};
    static const tattr o[] = {TS("openinference.span.kind", "LLM"), TS("llm.model_name", "m3"),
                              TS("input.value.text", "SECRET-FLAT-7"),
                              TS("output.value.text", "SECRET-FLAT-8"), TEND};
    static const tattr w[] = {TS("gen_ai.operation.name", "invoke_agent"),
                              TS("gen_ai.input.messages.0", "SECRET-FLAT-9"),
                              TS("gen_ai.tool.call.result.0", "SECRET-FLAT-10"), TEND};
    tspan s[] = {
        {T1, "8000000000000001", NULL, "chat", T0, T0 + MS, 0, NULL, g},
        {T1, "8000000000000002", NULL, "ai.generateText.doGenerate", T0, T0 + MS, 0, NULL, a},
        {T1, "8000000000000003", NULL, "llm", T0, T0 + MS, 0, NULL, o},
        {T1, "8000000000000004", NULL, "invoke_agent", T0, T0 + MS, 0, NULL, w}};
    otlp_result r = {0};
    fx_map_both(at_res, s, 4, NULL, &r);
    assert_int_equal(r.n_rejected, 0);
    assert_int_equal(r.n_events, 4);
    char needle[32];
    for (int i = 1; i <= 13; i++) {
        snprintf(needle, sizeof needle, "SECRET-FLAT-%d", i);
        fx_assert_absent(&r, needle);
    }
    const tp_event *p = fx_event(&r, PROMPT, 0);
    assert_true(p && p->prompt && p->prompt->has_hmac_sha256);
    otlp_result_clear(&r);
}
