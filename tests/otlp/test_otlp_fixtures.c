/*
 * test_otlp_fixtures.c - what the real instrumentations send, mapped: the requests captured from
 * the OpenTelemetry JS SDK (GenAI spans, OTLP/JSON and protobuf), the openai client under
 * OpenInference and under OpenLLMetry, and the Vercel AI SDK (tests/otlp/fixtures/, README.md
 * there says how they were made). Each is checked for the kinds, models, tokens, cost and tool
 * names it must give, the usage total not doubled, no "SECRET-" marker (every prompt and
 * reply text carries one) in any event, and every event passing the collector's masker.
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

enum {
    PROMPT = AGENTTRAIL__V1__KIND__PROMPT,
    TOOL = AGENTTRAIL__V1__KIND__TOOL_CALL,
    NOTE = AGENTTRAIL__V1__KIND__NOTE,
};

typedef struct want_prompt {
    const char *provider, *model;
    uint64_t in, out, cached, cost_micros; /* cached, cost 0: absent */
} want_prompt;

typedef struct want_tool {
    const char *name, *arguments;
    int status; /* 0: absent (requested in an LLM span's output) */
    const char *error;
} want_tool;

typedef struct fixture {
    const char *file;
    otlp_format fmt;
    int dialect;
    size_t spans, not_ai, notes;
    const char *workflow, *dri, *service, *environment;
    want_prompt prompts[3];
    want_tool tools[3];
} fixture;

#define OK AGENTTRAIL__V1__TOOL_STATUS__TOOL_OK
#define ERR AGENTTRAIL__V1__TOOL_STATUS__TOOL_ERROR

/* The GenAI fixture's expectations, the same in both of its encodings. */
#define GENAI_WEATHER(file, fmt)                                                                   \
    {                                                                                              \
        file, fmt, OTLP_DIALECT_GENAI, 6, 1, 1, "weather-report", "alice@example.com",             \
            "weather-agent", "test",                                                               \
            {{"openai", "gpt-4o-mini-2024-07-18", 120, 18, 64, 420},                               \
             {"openai", "gpt-4o-mini-2024-07-18", 150, 25, 100, 510}},                             \
            {{"get_weather", "{\"city\":\"Paris\"}", OK, NULL},                                    \
             {"get_forecast", "{\"city\":\"Paris\",\"days\":3}", ERR,                              \
              "forecast service unavailable"}},                                                    \
    }

static const fixture fixtures[] = {
    GENAI_WEATHER("genai.json", OTLP_JSON),
    GENAI_WEATHER("genai.pb", OTLP_PROTOBUF),
    {"openinference.json",
     OTLP_JSON,
     OTLP_DIALECT_OPENINFERENCE,
     3,
     1,
     0,
     "openai-agent",
     "owner@example.com",
     "openai-agent",
     NULL,
     {{"openai", "gpt-4o-mini-2024-07-18", 120, 18, 64, 0},
      {"openai", "gpt-4o-mini-2024-07-18", 150, 25, 100, 0}},
     {{"get_weather", "{\"city\":\"Paris\"}", 0, NULL}}},
    {"openllmetry.json",
     OTLP_JSON,
     OTLP_DIALECT_OPENLLMETRY,
     3,
     1,
     0,
     "openllmetry-agent",
     "owner@example.com",
     "openllmetry-agent",
     NULL,
     {{"openai", "gpt-4o-mini-2024-07-18", 120, 18, 0, 0},
      {"openai", "gpt-4o-mini-2024-07-18", 150, 25, 0, 0}},
     {{"get_weather", "{\"city\":\"Paris\"}", 0, NULL}}},
    {"aisdk.json",
     OTLP_JSON,
     OTLP_DIALECT_AISDK,
     4,
     0,
     1,
     "aisdk-weather",
     "owner@example.com",
     "aisdk-agent",
     NULL,
     {{"mock-provider", "mock-model-1", 120, 18, 64, 0},
      {"mock-provider", "mock-model-1", 150, 25, 100, 0}},
     {{"get_weather", "{\"city\":\"Paris\"}", OK, NULL}}},
};

/* How many of the (at most 3) wanted rows are set: those before the first NULL `field`. */
#define COUNT_SET(rows, field)                                                                     \
    ((rows)[0].field == NULL ? 0 : (rows)[1].field == NULL ? 1 : (rows)[2].field == NULL ? 2 : 3)

static void check_fixture(const fixture *f, const otlp_owners *ow)
{
    char *path = tu_path("tests/otlp/fixtures", f->file);
    size_t len = 0;
    char *body = tu_read_file(path, &len);
    if (!body) fail_msg("%s: cannot read", path);
    otlp_result r = {0};
    fx_map((const uint8_t *)body, len, f->fmt, ow, &r);
    size_t np = COUNT_SET(f->prompts, model), nt = COUNT_SET(f->tools, name);
    assert_int_equal(r.n_spans, f->spans);
    assert_int_equal(r.n_not_ai, f->not_ai);
    assert_int_equal(r.n_rejected, 0);
    assert_int_equal(r.by_dialect[f->dialect], f->spans - f->not_ai);
    assert_int_equal(fx_count(&r, PROMPT), np);
    assert_int_equal(fx_count(&r, TOOL), nt);
    assert_int_equal(fx_count(&r, NOTE), f->notes);
    assert_int_equal(r.n_events, np + nt + f->notes);
    uint64_t in_total = 0, want_total = 0;
    for (size_t i = 0; i < r.n_events; i++) {
        const tp_event *e = r.events[i];
        assert_string_equal(e->workflow, f->workflow);
        assert_string_equal(e->dri, f->dri);
        assert_string_equal(e->service, f->service);
        if (f->environment) assert_string_equal(e->environment, f->environment);
        assert_true(e->has_time_unix_nano && e->time_unix_nano > 1700000000000000000ull);
        if (e->usage) in_total += e->usage->input_tokens;
        /* the collector masks every event before it stores it: none of these is refused */
        tp_event *masked = tp_event_clone(e);
        at_error merr = {{0}};
        assert_non_null(masked);
        if (tp_mask_event(masked, NULL, &merr) != 0)
            fail_msg("%s: event %zu refused by the masker: %s: %s", f->file, i, merr.where,
                     merr.what);
        assert_int_equal(tp_event_validate(masked, NULL, &merr), 0);
        tp_event_destroy(&masked);
        if ((int)e->kind != PROMPT) assert_null(e->usage);
    }
    for (size_t i = 0; i < np; i++) {
        const want_prompt *w = &f->prompts[i];
        const tp_event *p = fx_event(&r, PROMPT, i);
        want_total += w->in;
        assert_string_equal(p->model->provider, w->provider);
        assert_string_equal(p->model->name, w->model);
        assert_true(p->prompt && p->prompt->has_hmac_sha256 && !p->prompt->text);
        assert_int_equal(p->usage->input_tokens, w->in);
        assert_int_equal(p->usage->output_tokens, w->out);
        assert_int_equal(p->usage->has_cached_tokens, w->cached != 0);
        assert_int_equal(p->usage->cached_tokens, w->cached);
        assert_int_equal(p->usage->cost_usd_micros, w->cost_micros);
    }
    assert_int_equal(in_total, want_total); /* the AI SDK's outer span adds nothing */
    for (size_t i = 0; i < nt; i++) {
        const want_tool *w = &f->tools[i];
        const tp_event *t = fx_event(&r, TOOL, i);
        assert_string_equal(t->tool_call->name, w->name);
        assert_string_equal(t->tool_call->arguments, w->arguments);
        assert_int_equal(t->tool_call->has_status, w->status != 0);
        if (w->status) assert_int_equal(t->tool_call->status, w->status);
        if (w->error)
            assert_string_equal(t->tool_call->error, w->error);
        else
            assert_null(t->tool_call->error);
    }
    fx_assert_absent(&r, "SECRET-");
    /* the same bytes again: the same ids, so a retried export is deduplicated */
    otlp_result again = {0};
    fx_map((const uint8_t *)body, len, f->fmt, ow, &again);
    assert_int_equal(again.n_events, r.n_events);
    for (size_t i = 0; i < r.n_events; i++)
        assert_memory_equal(again.events[i]->event_id.data, r.events[i]->event_id.data, 16);
    otlp_result_clear(&again);
    otlp_result_clear(&r);
    TU_FREE(body, path);
}

AT_TEST(test_real_instrumentations_map_as_expected)
{
    (void)state;
    char *dir;
    otlp_owners *ow = fx_owners("service:* owner@example.com\n", &dir);
    for (size_t i = 0; i < sizeof fixtures / sizeof *fixtures; i++) {
        fprintf(stderr, "fixture %s\n", fixtures[i].file);
        check_fixture(&fixtures[i], ow);
    }
    otlp_owners_destroy(&ow);
    tu_rmtree_free(dir);
}
