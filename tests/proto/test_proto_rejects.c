/*
 * test_proto_rejects.c - one input per rule of EVENTS.md (as check-events words
 * it): each must be rejected for exactly that field and that rule, and a valid
 * base event must pass, so every case differs from an accepted line by one
 * fault.
 *
 * A line is judged the way trace-shim judges it: tp_event_from_json, then
 * tp_event_prepare (ids, time, HMAC with a test key), then tp_event_validate.
 *
 * Owns: nothing beyond each case. Single-threaded.
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
#include "traceproto.h"

#define BASE "\"kind\":\"note\",\"workflow\":\"w\",\"dri\":\"d\",\"note\":\"n\""

static const uint8_t test_key[TP_HMAC_KEY_LEN] = {1, 2, 3};

/* Runs the shim's judgement; returns the first failing code (0 when accepted). */
static int judge(const char *line, size_t len, const tp_limits *lim, at_error *err)
{
    tp_event *ev = NULL;
    int rc = tp_event_from_json(line, len, lim, 0, &ev, err, NULL);
    if (rc == TP_OK) rc = tp_event_prepare(ev, test_key, 0, err);
    if (rc == TP_OK) rc = tp_event_validate(ev, lim, err);
    tp_event_destroy(&ev);
    return rc;
}

/* A malloc'd string: prefix, then `n` copies of `unit`, then suffix. */
static char *repeat(const char *prefix, const char *unit, size_t n, const char *suffix)
{
    size_t pl = strlen(prefix), ul = strlen(unit), sl = strlen(suffix);
    char *s = malloc(pl + ul * n + sl + 1);
    assert_non_null(s);
    memcpy(s, prefix, pl);
    for (size_t i = 0; i < n; i++)
        memcpy(s + pl + i * ul, unit, ul);
    memcpy(s + pl + ul * n, suffix, sl + 1);
    return s;
}

static char *long_workflow(void)
{
    return repeat("{\"kind\":\"note\",\"workflow\":\"", "w", 129,
                  "\",\"dri\":\"d\",\"note\":\"n\"}");
}
static char *long_dri(void)
{
    return repeat("{\"kind\":\"note\",\"workflow\":\"w\",\"dri\":\"", "d", 257,
                  "\",\"note\":\"n\"}");
}
static char *long_incident(void)
{
    return repeat("{" BASE ",\"incident\":\"", "i", 257, "\"}");
}
static char *long_note(void)
{
    return repeat("{\"kind\":\"note\",\"workflow\":\"w\",\"dri\":\"d\",\"note\":\"", "n", 65537,
                  "\"}");
}
static char *long_arguments(void)
{
    return repeat("{" BASE ",\"tool_call\":{\"arguments\":\"\\\"", "a", 262143, "\\\"\"}}");
}
static char *long_line(void)
{
    return repeat("{" BASE ",\"attributes\":{\"k\":\"", "x", 1024 * 1024, "\"}}");
}
static char *many_context_ids(void)
{
    return repeat("{" BASE ",\"context_ids\":[\"c\"", ",\"c\"", 1024, "]}");
}
static char *many_attributes(void)
{
    char *s = malloc(4096);
    assert_non_null(s);
    size_t n = (size_t)snprintf(s, 4096, "{" BASE ",\"attributes\":{");
    for (int i = 0; i < 65; i++)
        n += (size_t)snprintf(s + n, 4096 - n, "%s\"k%d\":\"v\"", i ? "," : "", i);
    snprintf(s + n, 4096 - n, "}}");
    return s;
}

typedef struct reject_case {
    const char *rule;    /* what the case proves */
    const char *line;    /* the input, or NULL when `make` builds it */
    char *(*make)(void); /* builds a large input */
    size_t patch_max;    /* non-zero: a configured diff.patch limit */
    const char *field;   /* the field the error must name */
    const char *problem; /* the start of the problem it must state */
} reject_case;

static const reject_case cases[] = {
    {"utf8", "{\"kind\":\"note\",\"workflow\":\"w\xff\",\"dri\":\"d\",\"note\":\"n\"}", NULL, 0,
     "-", "not valid UTF-8 at byte 28"},
    {"json syntax", "{\"kind\":\"note\",", NULL, 0, "-", "not valid JSON"},
    {"nan", "{" BASE ",\"duration_nano\":NaN}", NULL, 0, "-", "not valid JSON"},
    {"nul in a string", "{" BASE ",\"service\":\"a\\u0000b\"}", NULL, 0, "-", "not valid JSON"},
    {"not an object", "[1,2]", NULL, 0, "-", "line must be a JSON object, got array"},
    {"empty object", "{}", NULL, 0, "-", "empty object"},
    {"duplicate key", "{" BASE ",\"kind\":\"note\"}", NULL, 0, "-",
     "key \"kind\" appears more than once"},
    {"unknown top-level field", "{" BASE ",\"bogus\":1}", NULL, 0, "bogus", "unknown field"},
    {"empty top-level key", "{" BASE ",\"\":\"\"}", NULL, 0, "\"\"", "unknown field"},
    {"unknown nested field", "{" BASE ",\"model\":{\"name\":\"m\",\"size\":\"xl\"}}", NULL, 0,
     "model.size", "unknown field"},
    {"string type", "{\"kind\":\"note\",\"workflow\":7,\"dri\":\"d\",\"note\":\"n\"}", NULL, 0,
     "workflow", "must be a string, got integer"},
    {"empty string", "{" BASE ",\"service\":\"\"}", NULL, 0, "service",
     "empty; omit the field instead"},
    {"workflow length", NULL, long_workflow, 0, "workflow", "129 bytes; must be 1-128 bytes"},
    {"dri length", NULL, long_dri, 0, "dri", "257 bytes; must be 1-256 bytes"},
    {"string length", NULL, long_note, 0, "note", "65537 bytes; must be 1-65536 bytes"},
    {"integer not float", "{" BASE ",\"duration_nano\":1.5}", NULL, 0, "duration_nano",
     "must be a JSON integer, got number"},
    {"integer not boolean", "{" BASE ",\"usage\":{\"input_tokens\":true}}", NULL, 0,
     "usage.input_tokens", "must be a JSON integer, got boolean"},
    {"integer not negative", "{" BASE ",\"duration_nano\":-1}", NULL, 0, "duration_nano",
     "-1 out of range 0..2^63-1"},
    {"integer not above 2^63-1", "{" BASE ",\"duration_nano\":9223372036854775808}", NULL, 0,
     "duration_nano", "9223372036854775808 out of range 0..2^63-1"},
    {"integer beyond 64 bits names its field",
     "{" BASE ",\"usage\":{\"output_tokens\":1,\"input_tokens\":99999999999999999999}}", NULL, 0,
     "usage.input_tokens", "99999999999999999999 out of range 0..2^63-1"},
    {"negative beyond 64 bits names its field",
     "{" BASE ",\"diff\":{\"paths\":[\"a\",\"b\"],\"lines_added\":-99999999999999999999}}", NULL, 0,
     "diff.lines_added", "-99999999999999999999 out of range 0..2^63-1"},
    {"huge integer in an array names its index",
     "{" BASE ",\"context_ids\":[\"a\",1e3,"
     "123456789012345678901234]}",
     NULL, 0, "context_ids[2]", "123456789012345678901234 out of range"},
    {"cached tokens are part of input tokens",
     "{" BASE ",\"usage\":{\"input_tokens\":1000,\"cached_tokens\":1200}}", NULL, 0,
     "usage.cached_tokens",
     "1200 is more than usage.input_tokens 1000; input_tokens counts cached tokens (EVENTS.md)"},
    {"cached tokens need input tokens", "{" BASE ",\"usage\":{\"cached_tokens\":5}}", NULL, 0,
     "usage.cached_tokens", "5 without usage.input_tokens"},
    {"event_id not all zero", "{" BASE ",\"event_id\":\"00000000000000000000000000000000\"}", NULL,
     0, "event_id", "all zero is not a valid event id"},
    {"dri not only whitespace",
     "{\"kind\":\"note\",\"workflow\":\"w\",\"dri\":\" \\t \",\"note\":\"n\"}", NULL, 0, "dri",
     "only whitespace; a value is required"},
    {"dri without leading whitespace",
     "{\"kind\":\"note\",\"workflow\":\"w\",\"dri\":\" maria@example.com\",\"note\":\"n\"}", NULL,
     0, "dri", "' maria@example.com' starts with whitespace"},
    {"workflow without trailing whitespace",
     "{\"kind\":\"note\",\"workflow\":\"w\\n\",\"dri\":\"d\",\"note\":\"n\"}", NULL, 0, "workflow",
     "'w\n' ends with whitespace"},
    {"incident without trailing whitespace", "{" BASE ",\"incident\":\"INC-1 \"}", NULL, 0,
     "incident", "'INC-1 ' ends with whitespace"},
    {"link.workflow without whitespace around",
     "{\"kind\":\"incident_link\",\"workflow\":\"w\",\"dri\":\"d\",\"link\":{\"workflow\":\" w\"}}",
     NULL, 0, "link.workflow", "' w' starts with whitespace"},
    {"incident length (an index key)", NULL, long_incident, 0, "incident",
     "257 bytes; must be 1-256 bytes"},
    {"redactions fit 32 bits", "{" BASE ",\"redactions\":4294967296}", NULL, 0, "redactions",
     "4294967296 out of range 0..4294967295"},
    {"hex id type", "{" BASE ",\"event_id\":12}", NULL, 0, "event_id",
     "must be a string of 32 lowercase hex digits, got integer"},
    {"hex id lowercase", "{" BASE ",\"trace_id\":\"4BF92F3577B34DA6A3CE929D0E0E4736\"}", NULL, 0,
     "trace_id", "must be 32 lowercase hex digits, got '4BF92F3577B34DA6A3CE929D0E0E4736'"},
    {"hex id length", "{" BASE ",\"span_id\":\"00f067aa0ba902\"}", NULL, 0, "span_id",
     "must be 16 lowercase hex digits"},
    {"w3c id not zero", "{" BASE ",\"trace_id\":\"00000000000000000000000000000000\"}", NULL, 0,
     "trace_id", "all zero is not a valid W3C id"},
    {"span not its own parent",
     "{" BASE ",\"span_id\":\"00f067aa0ba902b7\",\"parent_span_id\":\"00f067aa0ba902b7\"}", NULL, 0,
     "parent_span_id", "equals span_id: a span cannot be its own parent"},
    {"hmac hex", "{" BASE ",\"prompt\":{\"hmac_sha256\":\"abc\"}}", NULL, 0, "prompt.hmac_sha256",
     "must be 64 lowercase hex digits"},
    {"kind enum", "{\"kind\":\"chat\",\"workflow\":\"w\",\"dri\":\"d\"}", NULL, 0, "kind",
     "must be one of prompt|retrieval|tool_call|diff|outcome|approval|incident_link|note, got "
     "\"chat\""},
    {"tool status enum", "{" BASE ",\"tool_call\":{\"name\":\"t\",\"status\":\"fine\"}}", NULL, 0,
     "tool_call.status", "must be one of ok|error|blocked, got \"fine\""},
    {"outcome decision enum", "{" BASE ",\"outcome\":{\"decision\":\"maybe\"}}", NULL, 0,
     "outcome.decision", "must be one of accepted|edited|rejected|escalated, got \"maybe\""},
    {"approval decision enum", "{" BASE ",\"approval\":{\"decision\":1}}", NULL, 0,
     "approval.decision", "must be one of approved|denied, got 1"},
    {"kind required", "{\"workflow\":\"w\",\"dri\":\"d\",\"note\":\"n\"}", NULL, 0, "kind",
     "required, missing"},
    {"workflow required", "{\"kind\":\"note\",\"dri\":\"d\",\"note\":\"n\"}", NULL, 0, "workflow",
     "required, missing"},
    {"dri required", "{\"kind\":\"note\",\"workflow\":\"w\",\"note\":\"n\"}", NULL, 0, "dri",
     "required, missing"},
    {"prompt needs model.provider",
     "{\"kind\":\"prompt\",\"workflow\":\"w\",\"dri\":\"d\",\"model\":{\"name\":\"m\"}}", NULL, 0,
     "model.provider", "required for kind prompt, missing"},
    {"prompt needs model.name",
     "{\"kind\":\"prompt\",\"workflow\":\"w\",\"dri\":\"d\",\"model\":{\"provider\":\"p\"}}", NULL,
     0, "model.name", "required for kind prompt, missing"},
    {"retrieval needs context_ids", "{\"kind\":\"retrieval\",\"workflow\":\"w\",\"dri\":\"d\"}",
     NULL, 0, "context_ids", "required (non-empty) for kind retrieval, missing"},
    {"tool_call needs a name",
     "{\"kind\":\"tool_call\",\"workflow\":\"w\",\"dri\":\"d\",\"tool_call\":{\"status\":\"ok\"}}",
     NULL, 0, "tool_call.name", "required for kind tool_call, missing"},
    {"diff needs patch or paths",
     "{\"kind\":\"diff\",\"workflow\":\"w\",\"dri\":\"d\",\"diff\":{\"repo\":\"r\"}}", NULL, 0,
     "diff", "patch or paths required for kind diff, missing"},
    {"outcome needs a decision",
     "{\"kind\":\"outcome\",\"workflow\":\"w\",\"dri\":\"d\",\"outcome\":{\"by\":\"b\"}}", NULL, 0,
     "outcome.decision", "required for kind outcome, missing"},
    {"approval needs approval", "{\"kind\":\"approval\",\"workflow\":\"w\",\"dri\":\"d\"}", NULL, 0,
     "approval", "required for kind approval, missing"},
    {"incident_link needs a link",
     "{\"kind\":\"incident_link\",\"workflow\":\"w\",\"dri\":\"d\",\"link\":{\"reason\":\"r\"}}",
     NULL, 0, "link", "trace_ids or workflow required for kind incident_link, missing"},
    {"note needs note", "{\"kind\":\"note\",\"workflow\":\"w\",\"dri\":\"d\"}", NULL, 0, "note",
     "required for kind note, missing"},
    {"link time order",
     "{" BASE ",\"link\":{\"workflow\":\"w\",\"since_unix_nano\":5,\"until_unix_nano\":4}}", NULL,
     0, "link.until_unix_nano", "before since_unix_nano"},
    {"link trace id hex", "{" BASE ",\"link\":{\"trace_ids\":[\"xyz\"]}}", NULL, 0,
     "link.trace_ids[0]", "must be 32 lowercase hex digits"},
    {"time or time_unix_nano", "{" BASE ",\"time_unix_nano\":1,\"time\":\"2024-01-01T00:00:00Z\"}",
     NULL, 0, "time", "give time_unix_nano or time, not both"},
    {"time is RFC 3339", "{" BASE ",\"time\":\"2024-02-30T00:00:00Z\"}", NULL, 0, "time",
     "must be an RFC 3339 time, got '2024-02-30T00:00:00Z'"},
    {"empty array", "{" BASE ",\"context_ids\":[]}", NULL, 0, "context_ids",
     "empty; omit the field instead"},
    {"array type", "{" BASE ",\"context_ids\":\"c\"}", NULL, 0, "context_ids",
     "must be an array, got string"},
    {"array item type", "{" BASE ",\"diff\":{\"paths\":[\"a\",2]}}", NULL, 0, "diff.paths[1]",
     "must be a string, got integer"},
    {"context_ids count", NULL, many_context_ids, 0, "context_ids", "1025 entries; at most 1024"},
    {"empty object field", "{" BASE ",\"model\":{}}", NULL, 0, "model",
     "empty; omit the field instead"},
    {"object type", "{" BASE ",\"usage\":\"lots\"}", NULL, 0, "usage",
     "must be an object, got string"},
    {"attributes type", "{" BASE ",\"attributes\":[]}", NULL, 0, "attributes",
     "must be an object of string to string, got array"},
    {"attributes not empty", "{" BASE ",\"attributes\":{}}", NULL, 0, "attributes",
     "empty; omit the field instead"},
    {"attribute value type", "{" BASE ",\"attributes\":{\"k\":1}}", NULL, 0, "attributes.k",
     "must be a string, got integer"},
    {"attribute key not empty", "{" BASE ",\"attributes\":{\"\":\"v\"}}", NULL, 0, "attributes",
     "empty key"},
    {"attributes count", NULL, many_attributes, 0, "attributes", "65 entries; at most 64"},
    {"arguments are JSON text", "{" BASE ",\"tool_call\":{\"name\":\"t\",\"arguments\":\"{x\"}}",
     NULL, 0, "tool_call.arguments", "must be JSON text"},
    {"arguments length", NULL, long_arguments, 0, "tool_call.arguments",
     "262145 bytes; must be 1-262144 bytes"},
    {"patch length (configured)", "{" BASE ",\"diff\":{\"patch\":\"0123456789a\"}}", NULL, 10,
     "diff.patch", "11 bytes; must be 1-10 bytes"},
    {"event size", NULL, long_line, 0, "-", "encoded event is 1048649 bytes; at most 1048576"},
    {"stored types are checked", "{" BASE ",\"stored\":{\"log_index\":\"1\"}}", NULL, 0,
     "stored.log_index", "must be a JSON integer, got string"},
};

AT_TEST(test_each_rule_rejects_for_exactly_its_field_and_reason)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const reject_case *c = &cases[i];
        char *made = c->make ? c->make() : NULL;
        const char *line = made ? made : c->line;
        tp_limits lim = tp_limits_default();
        if (c->patch_max) lim.patch_max = c->patch_max;
        at_error err = {{0}};
        int rc = judge(line, strlen(line), &lim, &err);
        if (rc == TP_OK) {
            print_error("rule %s: accepted, expected %s: %s\n", c->rule, c->field, c->problem);
            failures++;
        } else if (strcmp(err.where, c->field) != 0 ||
                   strncmp(err.what, c->problem, strlen(c->problem)) != 0) {
            print_error("rule %s: got \"%s: %s\", expected \"%s: %s...\"\n", c->rule, err.where,
                        err.what, c->field, c->problem);
            failures++;
        }
        free(made);
    }
    assert_int_equal(failures, 0);
}

AT_TEST(test_base_event_and_boundary_values_are_accepted)
{
    (void)state;
    static const char *const good[] = {
        "{" BASE "}",
        "{" BASE ",\"duration_nano\":9223372036854775807,\"redactions\":4294967295}",
        "{" BASE ",\"attributes\":{\"k\":\"\"}}",
        "{" BASE ",\"time\":\"2024-02-29T23:59:59.999999999999-23:59\"}",
        "{" BASE ",\"event_id\":\"00000000000000000000000000000001\"}",
        "{\"kind\":\"note\",\"workflow\":\"w\",\"dri\":\"Maria Chen\",\"note\":\"n\",\"usage\":{"
        "\"input_tokens\":7,\"cached_tokens\":7}}",
        "{" BASE ",\"prompt\":{\"text\":\"hello\"}}",
        "{\"kind\":\"diff\",\"workflow\":\"w\",\"dri\":\"d\",\"diff\":{\"paths\":[\"a\"]}}",
        "{\"kind\":\"incident_link\",\"workflow\":\"w\",\"dri\":\"d\",\"link\":{\"trace_ids\":"
        "[\"4bf92f3577b34da6a3ce929d0e0e4736\"]}}",
        "{\"kind\":\"approval\",\"workflow\":\"w\",\"dri\":\"d\",\"approval\":{\"decision\":"
        "\"denied\"}}",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        at_error err = {{0}};
        tp_limits lim = tp_limits_default();
        int rc = judge(good[i], strlen(good[i]), &lim, &err);
        if (rc != TP_OK) fail_msg("line %zu rejected: %s: %s", i, err.where, err.what);
    }
    /* The 128- and 256-byte boundaries of workflow and dri. */
    char *w =
        repeat("{\"kind\":\"note\",\"workflow\":\"", "w", 128, "\",\"dri\":\"d\",\"note\":\"n\"}");
    at_error err;
    assert_int_equal(judge(w, strlen(w), NULL, &err), TP_OK);
    free(w);
    /* An incident of 256 bytes is the longest the by_incident index is given. */
    char *inc = repeat("{" BASE ",\"incident\":\"", "i", 256, "\"}");
    assert_int_equal(judge(inc, strlen(inc), NULL, &err), TP_OK);
    free(inc);
}

AT_TEST(test_lenient_turns_unknown_top_level_fields_into_a_warning)
{
    (void)state;
    const char *line = "{" BASE ",\"extra\":{\"a\":1}}";
    tp_event *ev = NULL;
    at_error err = {{0}}, warn = {{0}};
    assert_int_equal(
        tp_event_from_json(line, strlen(line), NULL, TP_JSON_LENIENT, &ev, &err, &warn), TP_OK);
    assert_string_equal(warn.where, "extra");
    assert_string_equal(warn.what, "unknown field (ignored with --lenient)");
    char *out = tp_event_to_json(ev, NULL);
    assert_null(strstr(out, "extra"));
    free(out);
    tp_event_destroy(&ev);
    /* Nothing but unknown fields leaves nothing to record. */
    line = "{\"extra\":1}";
    assert_int_equal(
        tp_event_from_json(line, strlen(line), NULL, TP_JSON_LENIENT, &ev, &err, &warn), TP_EINVAL);
    assert_string_equal(err.where, "-");
    assert_string_equal(err.what, "empty object once unknown fields and `stored` are dropped");
    /* Nested unknown fields stay errors. */
    line = "{" BASE ",\"usage\":{\"tokens\":1}}";
    assert_int_equal(
        tp_event_from_json(line, strlen(line), NULL, TP_JSON_LENIENT, &ev, &err, &warn), TP_EINVAL);
    assert_string_equal(err.where, "usage.tokens");
}

AT_TEST(test_stored_is_dropped_on_input_unless_kept)
{
    (void)state;
    const char *line = "{" BASE ",\"stored\":{\"log_index\":3,\"source\":\"anonymous\"}}";
    tp_event *ev = NULL;
    assert_int_equal(tp_event_from_json(line, strlen(line), NULL, 0, &ev, NULL, NULL), TP_OK);
    assert_null(ev->stored);
    tp_event_destroy(&ev);
    assert_int_equal(
        tp_event_from_json(line, strlen(line), NULL, TP_JSON_KEEP_STORED, &ev, NULL, NULL), TP_OK);
    char *out = tp_event_to_json(ev, NULL);
    assert_string_equal(out, "{" BASE ",\"stored\":{\"log_index\":3,\"source\":\"anonymous\"}}");
    free(out);
    tp_event_destroy(&ev);
}
