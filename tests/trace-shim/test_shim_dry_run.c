/*
 * test_shim_dry_run.c - the real trace-shim binary: --dry-run over the shared
 * data is accepted by the independent validator (check-events) and is a fixed
 * point when fed back; exit codes 0/1/2; FILE:LINE: field: problem on stderr;
 * stdin; over-long lines; keygen.
 *
 * Owns: a temp directory (key, inputs, outputs). Runs programs with tu_run;
 * never writes under ../shared. Single-threaded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "at_test.h"
#include "testutil.h"
#include "traceproto.h"

static char *dir, *shim, *key;

static int setup(void **state)
{
    (void)state;
    unsetenv("AGENTTRAIL_HMAC_KEY_FILE");
    dir = tu_tempdir("shim-dry-run");
    shim = tu_bin("trace-shim");
    key = tu_path(dir, "hmac.key");
    char *argv[] = {shim, "keygen", "--hmac", "-o", key, NULL};
    return tu_run(argv, NULL, NULL, NULL, NULL) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    tu_rmtree_free(dir);
    free(shim);
    free(key);
    return 0;
}

/* Runs trace-shim with args (NULL-terminated, after the program name), stdin from `in`. */
static int shim_run(const char *in, char **out, size_t *out_len, char **err, ...)
{
    va_list ap;
    va_start(ap, err);
    int rc = tu_run_va("trace-shim", in, out, out_len, err, ap);
    va_end(ap);
    return rc;
}

AT_TEST(test_dry_run_of_shared_data_passes_check_events_and_is_a_fixed_point)
{
    (void)state;
    char *f1 = tu_shared("data/swe-agent.jsonl"), *f2 = tu_shared("data/tau.jsonl"),
         *f3 = tu_shared("data/tau2.jsonl");
    char *out = NULL, *err = NULL;
    size_t out_len = 0;
    int rc =
        shim_run(NULL, &out, &out_len, &err, "--dry-run", "--hmac-key-file", key, f1, f2, f3, NULL);
    if (rc != 0) fail_msg("dry-run of the shared data: exit %d: %.500s", rc, err);
    assert_string_equal(err, "");
    size_t lines = 0;
    for (size_t i = 0; i < out_len; i++)
        lines += out[i] == '\n';
    assert_int_equal(lines, 26481);
    assert_null(strstr(out, "\"text\":")); /* prompt text never leaves without --keep */
    char *first = tu_path(dir, "first.jsonl");
    assert_int_equal(tu_write_file(first, out, out_len), 0);

    char *again = NULL;
    size_t again_len = 0;
    free(err);
    assert_int_equal(
        shim_run(first, &again, &again_len, &err, "--dry-run", "--hmac-key-file", key, NULL), 0);
    assert_int_equal(again_len, out_len);
    assert_memory_equal(again, out, out_len);

    char *check = tu_shared("tools/check-events");
    char *py[] = {"/usr/bin/python3", check, "-q", first, NULL};
    char *verdict = NULL;
    int crc = tu_run(py, NULL, &verdict, NULL, NULL);
    if (crc != 0) fail_msg("check-events: exit %d: %.500s", crc, verdict);
    assert_string_equal(verdict, "26481 passed, 0 failed\n");
    TU_FREE(verdict, check, again, first, out, err, f1, f2, f3);
}

#define GOOD "{\"kind\":\"note\",\"workflow\":\"w\",\"dri\":\"d\",\"note\":\"n\"}\n"

AT_TEST(test_rejected_line_exits_1_names_file_line_field_and_keeps_valid_lines)
{
    (void)state;
    char *in = tu_path(dir, "mixed.jsonl");
    const char *text = GOOD "\n{\"kind\":\"note\",\"workflow\":\"w\",\"note\":\"n\"}\n" GOOD;
    assert_int_equal(tu_write_file(in, text, strlen(text)), 0);
    char *out = NULL, *err = NULL;
    assert_int_equal(shim_run(NULL, &out, NULL, &err, "--dry-run", in, NULL), 1);
    char want[4096];
    snprintf(want, sizeof want, "%s:3: dri: required, missing\n", in);
    assert_string_equal(err, want);
    size_t lines = 0;
    for (char *p = out; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 2);
    TU_FREE(out, err, in);
}

AT_TEST(test_stdin_is_read_when_no_file_or_dash_is_given)
{
    (void)state;
    char *in = tu_path(dir, "one.jsonl");
    assert_int_equal(tu_write_file(in, GOOD, strlen(GOOD)), 0);
    char *out = NULL, *err = NULL;
    assert_int_equal(shim_run(in, &out, NULL, &err, "--dry-run", NULL), 0);
    assert_non_null(strstr(out, "\"note\":\"n\""));
    free(out);
    free(err);
    assert_int_equal(shim_run(in, &out, NULL, &err, "--dry-run", "-", in, NULL), 0);
    assert_non_null(strstr(strstr(out, "\n"), "\"note\":\"n\""));
    free(out);
    free(err);
    const char *bad = "{\"kind\":\"x\"}\n";
    assert_int_equal(tu_write_file(in, bad, strlen(bad)), 0);
    assert_int_equal(shim_run(in, &out, NULL, &err, "--dry-run", NULL), 1);
    assert_non_null(strstr(err, "<stdin>:1: kind: must be one of"));
    TU_FREE(out, err, in);
}

AT_TEST(test_usage_errors_exit_2)
{
    (void)state;
    char *err = NULL, *out = NULL;
    char *in = tu_path(dir, "usage.jsonl");
    assert_int_equal(tu_write_file(in, GOOD, strlen(GOOD)), 0);
    assert_int_equal(shim_run(NULL, NULL, NULL, &err, "--dry-run", "--no-such-option", NULL), 2);
    assert_non_null(strstr(err, "--no-such-option"));
    free(err);
    assert_int_equal(
        shim_run(NULL, NULL, NULL, &err, "--dry-run", "--max-event-bytes", "lots", NULL), 2);
    free(err);
    char *absent = tu_path(dir, "absent.key");
    assert_int_equal(
        shim_run(NULL, NULL, NULL, &err, "--dry-run", "--hmac-key-file", absent, in, NULL), 2);
    assert_non_null(strstr(err, "trace-shim keygen --hmac -o FILE"));
    free(err);
    char *missing = tu_path(dir, "missing.jsonl");
    assert_int_equal(shim_run(NULL, &out, NULL, &err, "--dry-run", missing, in, NULL), 2);
    assert_non_null(strstr(err, "cannot read"));
    assert_non_null(strstr(out, "\"note\":\"n\"")); /* the readable file is still judged */
    free(out);
    free(err);
    /* Without --dry-run it sends: no collector there, so exit 3 after --timeout. */
    char *spool = tu_path(dir, "spool"), *sock = tu_path(dir, "none.sock");
    char ep[4200];
    snprintf(ep, sizeof ep, "ipc://%s", sock);
    assert_int_equal(shim_run(NULL, NULL, NULL, &err, "--endpoint", ep, "--spool-dir", spool,
                              "--timeout", "1", in, NULL),
                     3);
    assert_non_null(strstr(err, "spooled 1"));
    TU_FREE(err, spool, sock);
    assert_int_equal(shim_run(NULL, &out, NULL, NULL, "--help", NULL), 0);
    static const char *const documented[] = {"--dry-run",
                                             "--hmac-key-file",
                                             "--keep-prompt-text",
                                             "--lenient",
                                             "--max-event-bytes",
                                             "--max-patch-bytes",
                                             "--max-arguments-bytes",
                                             "--max-string-bytes",
                                             "--max-context-ids",
                                             "--max-attributes",
                                             "keygen --hmac",
                                             "AGENTTRAIL_HMAC_KEY_FILE"};
    for (size_t i = 0; i < sizeof documented / sizeof documented[0]; i++)
        if (!strstr(out, documented[i])) fail_msg("--help does not document %s", documented[i]);
    TU_FREE(out, absent, missing, in);
}

AT_TEST(test_prompt_text_without_a_key_is_refused_with_how_to_make_one)
{
    (void)state;
    char *in = tu_path(dir, "prompt.jsonl");
    const char *line = "{\"kind\":\"prompt\",\"workflow\":\"w\",\"dri\":\"d\",\"model\":{"
                       "\"provider\":\"p\",\"name\":\"m\"},\"prompt\":{\"text\":\"secret\"}}\n";
    assert_int_equal(tu_write_file(in, line, strlen(line)), 0);
    char *out = NULL, *err = NULL;
    assert_int_equal(shim_run(NULL, &out, NULL, &err, "--dry-run", in, NULL), 2);
    assert_string_equal(out, "");
    assert_non_null(strstr(err, ":1: prompt.text: no HMAC key configured"));
    assert_non_null(strstr(err, "trace-shim keygen --hmac -o FILE"));
    free(out);
    free(err);
    /* The key from the environment works like --hmac-key-file. */
    setenv("AGENTTRAIL_HMAC_KEY_FILE", key, 1);
    assert_int_equal(shim_run(NULL, &out, NULL, &err, "--dry-run", in, NULL), 0);
    unsetenv("AGENTTRAIL_HMAC_KEY_FILE");
    assert_non_null(strstr(out, "\"prompt\":{\"hmac_sha256\":\""));
    assert_null(strstr(out, "secret"));
    free(out);
    free(err);
    assert_int_equal(shim_run(NULL, &out, NULL, &err, "--dry-run", "--keep-prompt-text",
                              "--hmac-key-file", key, in, NULL),
                     0);
    assert_non_null(strstr(out, "\"text\":\"secret\""));
    TU_FREE(out, err, in);
}

AT_TEST(test_line_over_the_event_limit_is_rejected_and_reading_goes_on)
{
    (void)state;
    size_t big = 3 * 1024 * 1024;
    char *text = malloc(big + 2 * sizeof GOOD);
    memcpy(text, GOOD, strlen(GOOD));
    memset(text + strlen(GOOD), 'x', big);
    text[strlen(GOOD) + big] = '\n';
    memcpy(text + strlen(GOOD) + big + 1, GOOD, strlen(GOOD));
    size_t len = 2 * strlen(GOOD) + big + 1;
    char *in = tu_path(dir, "long.jsonl");
    assert_int_equal(tu_write_file(in, text, len), 0);
    char *out = NULL, *err = NULL;
    assert_int_equal(shim_run(NULL, &out, NULL, &err, "--dry-run", in, NULL), 1);
    char want[4096];
    snprintf(want, sizeof want, "%s:2: -: encoded event is %zu bytes; at most 1048576\n", in, big);
    assert_string_equal(err, want);
    size_t lines = 0;
    for (char *p = out; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 2);
    free(out);
    free(err);
    /* A configured smaller limit applies to ordinary lines too. */
    assert_int_equal(
        shim_run(NULL, &out, NULL, &err, "--dry-run", "--max-event-bytes", "20", in, NULL), 1);
    assert_non_null(strstr(err, ":1: -: encoded event is"));
    TU_FREE(out, err, in, text);
}

AT_TEST(test_lenient_reports_unknown_fields_as_warnings_and_exits_0)
{
    (void)state;
    char *in = tu_path(dir, "lenient.jsonl");
    const char *line =
        "{\"kind\":\"note\",\"workflow\":\"w\",\"dri\":\"d\",\"note\":\"n\",\"x\":1}\n";
    assert_int_equal(tu_write_file(in, line, strlen(line)), 0);
    char *out = NULL, *err = NULL;
    assert_int_equal(shim_run(NULL, &out, NULL, &err, "--dry-run", in, NULL), 1);
    assert_non_null(strstr(err, ":1: x: unknown field"));
    free(out);
    free(err);
    assert_int_equal(shim_run(NULL, &out, NULL, &err, "--dry-run", "--lenient", in, NULL), 0);
    assert_non_null(strstr(err, ":1: x: warning: unknown field (ignored with --lenient)"));
    assert_null(strstr(out, "\"x\""));
    TU_FREE(out, err, in);
}

/* Lines in canonical order, each breaking one rule: trace-shim's message must be one of
 * check-events' messages for that line, word for word, except where the JSON parsers word
 * syntax errors differently and for redactions (32-bit on the wire); there the FILE:LINE: field
 * prefix must still match. */
static const char agreement_cases[] =
    "{\"kind\":\"note\",\"workflow\":\"w\",\"dri\":\"d\",\"note\":\"n\",\"bogus\":1}\n"
    "{\"kind\":\"chat\",\"workflow\":\"w\",\"dri\":\"d\"}\n"
    "{\"workflow\":\"w\",\"dri\":\"d\",\"note\":\"n\"}\n"
    "{\"kind\":\"note\",\"dri\":\"d\",\"note\":\"n\"}\n"
    "{\"kind\":\"note\",\"workflow\":\"w\",\"note\":\"n\"}\n"
    "{\"span_id\":\"00f067aa0ba902b7\",\"parent_span_id\":\"00f067aa0ba902b7\",\"kind\":\"note\","
    "\"workflow\":\"w\",\"dri\":\"d\",\"note\":\"n\"}\n"
    "{\"trace_id\":\"00000000000000000000000000000000\",\"kind\":\"note\",\"workflow\":\"w\","
    "\"dri\":\"d\",\"note\":\"n\"}\n"
    "{\"trace_id\":\"4BF92F3577B34DA6A3CE929D0E0E4736\",\"kind\":\"note\",\"workflow\":\"w\","
    "\"dri\":\"d\",\"note\":\"n\"}\n"
    "{\"event_id\":12,\"kind\":\"note\",\"workflow\":\"w\",\"dri\":\"d\",\"note\":\"n\"}\n"
    "{\"duration_nano\":1.5,\"kind\":\"note\",\"workflow\":\"w\",\"dri\":\"d\",\"note\":\"n\"}\n"
    "{\"duration_nano\":-1,\"kind\":\"note\",\"workflow\":\"w\",\"dri\":\"d\",\"note\":\"n\"}\n"
    "{\"kind\":\"note\",\"workflow\":\"w\",\"dri\":\"d\",\"service\":\"\",\"note\":\"n\"}\n"
    "{\"kind\":\"note\",\"workflow\":7,\"dri\":\"d\",\"note\":\"n\"}\n"
    "{\"kind\":\"prompt\",\"workflow\":\"w\",\"dri\":\"d\",\"model\":{\"name\":\"m\"}}\n"
    "{\"kind\":\"prompt\",\"workflow\":\"w\",\"dri\":\"d\",\"model\":{\"provider\":\"p\"}}\n"
    "{\"kind\":\"retrieval\",\"workflow\":\"w\",\"dri\":\"d\"}\n"
    "{\"kind\":\"tool_call\",\"workflow\":\"w\",\"dri\":\"d\",\"tool_call\":{\"status\":\"ok\"}}\n"
    "{\"kind\":\"tool_call\",\"workflow\":\"w\",\"dri\":\"d\",\"tool_call\":{\"name\":\"t\","
    "\"status\":\"fine\"}}\n"
    "{\"kind\":\"tool_call\",\"workflow\":\"w\",\"dri\":\"d\",\"tool_call\":{\"name\":\"t\","
    "\"arguments\":\"{x\"}}\n"
    "{\"kind\":\"diff\",\"workflow\":\"w\",\"dri\":\"d\",\"diff\":{\"repo\":\"r\"}}\n"
    "{\"kind\":\"diff\",\"workflow\":\"w\",\"dri\":\"d\",\"diff\":{\"paths\":[\"a\",2]}}\n"
    "{\"kind\":\"outcome\",\"workflow\":\"w\",\"dri\":\"d\",\"outcome\":{\"by\":\"b\"}}\n"
    "{\"kind\":\"outcome\",\"workflow\":\"w\",\"dri\":\"d\",\"outcome\":{\"decision\":\"maybe\"}}\n"
    "{\"kind\":\"approval\",\"workflow\":\"w\",\"dri\":\"d\"}\n"
    "{\"kind\":\"approval\",\"workflow\":\"w\",\"dri\":\"d\",\"approval\":{\"decision\":1}}\n"
    "{\"kind\":\"incident_link\",\"workflow\":\"w\",\"dri\":\"d\",\"link\":{\"reason\":\"r\"}}\n"
    "{\"kind\":\"incident_link\",\"workflow\":\"w\",\"dri\":\"d\",\"link\":{\"workflow\":\"w\","
    "\"since_unix_nano\":5,\"until_unix_nano\":4}}\n"
    "{\"kind\":\"incident_link\",\"workflow\":\"w\",\"dri\":\"d\",\"link\":{\"trace_ids\":[\"xyz\"]"
    "}}\n"
    "{\"kind\":\"note\",\"workflow\":\"w\",\"dri\":\"d\"}\n"
    "{\"kind\":\"note\",\"workflow\":\"w\",\"dri\":\"d\",\"context_ids\":[],\"note\":\"n\"}\n"
    "{\"kind\":\"note\",\"workflow\":\"w\",\"dri\":\"d\",\"context_ids\":\"c\",\"note\":\"n\"}\n"
    "{\"kind\":\"note\",\"workflow\":\"w\",\"dri\":\"d\",\"model\":{},\"note\":\"n\"}\n"
    "{\"kind\":\"note\",\"workflow\":\"w\",\"dri\":\"d\",\"model\":{\"name\":\"m\",\"size\":\"xl\"}"
    ",\"note\":\"n\"}\n"
    "{\"kind\":\"note\",\"workflow\":\"w\",\"dri\":\"d\",\"usage\":\"lots\",\"note\":\"n\"}\n"
    "{\"kind\":\"note\",\"workflow\":\"w\",\"dri\":\"d\",\"usage\":{\"input_tokens\":true},"
    "\"note\":\"n\"}\n"
    "{\"kind\":\"note\",\"workflow\":\"w\",\"dri\":\"d\",\"note\":\"n\",\"attributes\":{\"k\":1}}\n"
    "{\"kind\":\"note\",\"workflow\":\"w\",\"dri\":\"d\",\"note\":\"n\",\"attributes\":{\"\":\"v\"}"
    "}\n"
    "{\"kind\":\"note\",\"workflow\":\"w\",\"dri\":\"d\",\"note\":\"n\",\"attributes\":{}}\n"
    "{\"kind\":\"note\",\"workflow\":\"w\",\"dri\":\"d\",\"note\":\"n\",\"attributes\":[]}\n"
    "{\"time_unix_nano\":1,\"time\":\"2024-01-01T00:00:00Z\",\"kind\":\"note\",\"workflow\":\"w\","
    "\"dri\":\"d\",\"note\":\"n\"}\n"
    "{\"time\":\"2024-02-30T00:00:00Z\",\"kind\":\"note\",\"workflow\":\"w\",\"dri\":\"d\","
    "\"note\":\"n\"}\n"
    "{\"kind\":\"note\",\"workflow\":\"w\",\"dri\":\"d\",\"prompt\":{\"hmac_sha256\":\"abc\"},"
    "\"note\":\"n\"}\n"
    "{\"kind\":\"note\",\"workflow\":\"w\",\"dri\":\"d\",\"note\":\"n\",\"redactions\":-1}\n"
    "{\"kind\":\"note\",\"workflow\":\"w\",\"dri\":\"d\",\"note\":\"n\",\"stored\":{\"log_index\":"
    "\"1\"}}\n"
    "[1,2]\n"
    "{}\n"
    "{\"kind\":\"note\",\n";

/* The line of `text` that starts with `prefix`, or NULL. */
static const char *line_with_prefix(const char *text, const char *prefix)
{
    size_t n = strlen(prefix);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, prefix, n) == 0) return p;
    return NULL;
}

AT_TEST(test_every_rejection_is_worded_like_check_events)
{
    (void)state;
    char *in = tu_path(dir, "agreement.jsonl");
    assert_int_equal(tu_write_file(in, agreement_cases, strlen(agreement_cases)), 0);
    char *out = NULL, *ours = NULL, *theirs = NULL;
    assert_int_equal(shim_run(NULL, &out, NULL, &ours, "--dry-run", in, NULL), 1);
    assert_string_equal(out, "");
    char *check = tu_shared("tools/check-events");
    char *py[] = {"/usr/bin/python3", check, in, NULL};
    assert_int_equal(tu_run(py, NULL, &theirs, NULL, NULL), 1);
    size_t cases = 0, lines = 0;
    for (const char *p = agreement_cases; *p; p++)
        cases += *p == '\n';
    for (char *line = ours; *line;) {
        char *nl = strchr(line, '\n');
        assert_non_null(nl);
        *nl = 0;
        lines++;
        size_t n = strlen(line);
        const char *exact = line_with_prefix(theirs, line);
        if (!exact || exact[n] != '\n') {
            /* FILE:LINE: field: is the part before the second ": " after the path. */
            const char *field = strstr(line + strlen(in), ": ");
            const char *problem = field ? strstr(field + 2, ": ") : NULL;
            assert_non_null(problem);
            int parser_wording = strncmp(problem + 2, "must be JSON text:", 18) == 0 ||
                                 strncmp(problem + 2, "not valid JSON:", 15) == 0 ||
                                 strstr(line, ": redactions: ") != NULL;
            char prefix[4096];
            snprintf(prefix, sizeof prefix, "%.*s", (int)(problem + 2 - line), line);
            if (!parser_wording || !line_with_prefix(theirs, prefix))
                fail_msg("trace-shim said \"%s\"; check-events said:\n%s", line, theirs);
        }
        line = nl + 1;
    }
    assert_int_equal(lines, cases); /* one message per rejected line, none accepted */
    TU_FREE(check, out, ours, theirs, in);
}

AT_TEST(test_keygen_makes_a_0600_key_and_never_overwrites)
{
    (void)state;
    TU_ASSERT_MODE(key, 0600);
    size_t len = 0;
    char *before = tu_read_file(key, &len);
    assert_int_equal(len, 65);
    uint8_t k[TP_HMAC_KEY_LEN];
    at_error e;
    assert_int_equal(tp_hmac_key_load(key, k, &e), TP_OK);
    char *err = NULL;
    assert_int_equal(shim_run(NULL, NULL, NULL, &err, "keygen", "--hmac", "-o", key, NULL), 2);
    assert_non_null(strstr(err, "refusing to overwrite"));
    free(err);
    char *after = tu_read_file(key, NULL);
    assert_string_equal(before, after);
    assert_int_equal(shim_run(NULL, NULL, NULL, &err, "keygen", "-o", key, NULL), 2);
    TU_FREE(err, before, after);
}

AT_TEST_GROUP(setup, teardown);
