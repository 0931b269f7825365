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

#include "testutil.h"
#include "traceproto.h"

static char *dir, *shim, *key;

static char *path_in(const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    assert_non_null(p);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static int setup(void **state)
{
    (void)state;
    unsetenv("AGENTTRAIL_HMAC_KEY_FILE");
    dir = tu_tempdir("shim-dry-run");
    shim = tu_bin("trace-shim");
    key = path_in("hmac.key");
    char *argv[] = {shim, "keygen", "--hmac", "-o", key, NULL};
    return tu_run(argv, NULL, NULL, NULL, NULL) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    tu_rmtree(dir);
    free(dir);
    free(shim);
    free(key);
    return 0;
}

/* Runs trace-shim with args (NULL-terminated, after the program name), stdin from `in`. */
static int shim_run(const char *in, char **out, size_t *out_len, char **err, ...)
{
    char *argv[32] = {shim};
    int n = 1;
    va_list ap;
    va_start(ap, err);
    char *a;
    while ((a = va_arg(ap, char *)) != NULL && n < 31)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    return tu_run(argv, in, out, out_len, err);
}

static void test_dry_run_of_shared_data_passes_check_events_and_is_a_fixed_point(void **state)
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
    char *first = path_in("first.jsonl");
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
    free(verdict);
    free(check);
    free(again);
    free(first);
    free(out);
    free(err);
    free(f1);
    free(f2);
    free(f3);
}

#define GOOD "{\"kind\":\"note\",\"workflow\":\"w\",\"dri\":\"d\",\"note\":\"n\"}\n"

static void test_rejected_line_exits_1_names_file_line_field_and_keeps_valid_lines(void **state)
{
    (void)state;
    char *in = path_in("mixed.jsonl");
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
    free(out);
    free(err);
    free(in);
}

static void test_stdin_is_read_when_no_file_or_dash_is_given(void **state)
{
    (void)state;
    char *in = path_in("one.jsonl");
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
    free(out);
    free(err);
    free(in);
}

static void test_usage_errors_exit_2(void **state)
{
    (void)state;
    char *err = NULL, *out = NULL;
    char *in = path_in("usage.jsonl");
    assert_int_equal(tu_write_file(in, GOOD, strlen(GOOD)), 0);
    assert_int_equal(shim_run(NULL, NULL, NULL, &err, "--dry-run", "--no-such-option", NULL), 2);
    assert_non_null(strstr(err, "--no-such-option"));
    free(err);
    assert_int_equal(
        shim_run(NULL, NULL, NULL, &err, "--dry-run", "--max-event-bytes", "lots", NULL), 2);
    free(err);
    char *absent = path_in("absent.key");
    assert_int_equal(
        shim_run(NULL, NULL, NULL, &err, "--dry-run", "--hmac-key-file", absent, in, NULL), 2);
    assert_non_null(strstr(err, "trace-shim keygen --hmac -o FILE"));
    free(err);
    char *missing = path_in("missing.jsonl");
    assert_int_equal(shim_run(NULL, &out, NULL, &err, "--dry-run", missing, in, NULL), 2);
    assert_non_null(strstr(err, "cannot read"));
    assert_non_null(strstr(out, "\"note\":\"n\"")); /* the readable file is still judged */
    free(out);
    free(err);
    /* Without --dry-run it sends: no collector there, so exit 3 after --timeout. */
    char *spool = path_in("spool"), *sock = path_in("none.sock");
    char ep[4200];
    snprintf(ep, sizeof ep, "ipc://%s", sock);
    assert_int_equal(shim_run(NULL, NULL, NULL, &err, "--endpoint", ep, "--spool-dir", spool,
                              "--timeout", "1", in, NULL),
                     3);
    assert_non_null(strstr(err, "spooled 1"));
    free(err);
    free(spool);
    free(sock);
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
    free(out);
    free(absent);
    free(missing);
    free(in);
}

static void test_prompt_text_without_a_key_is_refused_with_how_to_make_one(void **state)
{
    (void)state;
    char *in = path_in("prompt.jsonl");
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
    free(out);
    free(err);
    free(in);
}

static void test_line_over_the_event_limit_is_rejected_and_reading_goes_on(void **state)
{
    (void)state;
    size_t big = 3 * 1024 * 1024;
    char *text = malloc(big + 2 * sizeof GOOD);
    memcpy(text, GOOD, strlen(GOOD));
    memset(text + strlen(GOOD), 'x', big);
    text[strlen(GOOD) + big] = '\n';
    memcpy(text + strlen(GOOD) + big + 1, GOOD, strlen(GOOD));
    size_t len = 2 * strlen(GOOD) + big + 1;
    char *in = path_in("long.jsonl");
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
    free(out);
    free(err);
    free(in);
    free(text);
}

static void test_lenient_reports_unknown_fields_as_warnings_and_exits_0(void **state)
{
    (void)state;
    char *in = path_in("lenient.jsonl");
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
    free(out);
    free(err);
    free(in);
}

static void test_keygen_makes_a_0600_key_and_never_overwrites(void **state)
{
    (void)state;
    struct stat st;
    assert_int_equal(stat(key, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    size_t len = 0;
    char *before = tu_read_file(key, &len);
    assert_int_equal(len, 65);
    uint8_t k[TP_HMAC_KEY_LEN];
    tp_error e;
    assert_int_equal(tp_hmac_key_load(key, k, &e), TP_OK);
    char *err = NULL;
    assert_int_equal(shim_run(NULL, NULL, NULL, &err, "keygen", "--hmac", "-o", key, NULL), 2);
    assert_non_null(strstr(err, "refusing to overwrite"));
    free(err);
    char *after = tu_read_file(key, NULL);
    assert_string_equal(before, after);
    assert_int_equal(shim_run(NULL, NULL, NULL, &err, "keygen", "-o", key, NULL), 2);
    free(err);
    free(before);
    free(after);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dry_run_of_shared_data_passes_check_events_and_is_a_fixed_point),
        cmocka_unit_test(test_rejected_line_exits_1_names_file_line_field_and_keeps_valid_lines),
        cmocka_unit_test(test_stdin_is_read_when_no_file_or_dash_is_given),
        cmocka_unit_test(test_usage_errors_exit_2),
        cmocka_unit_test(test_prompt_text_without_a_key_is_refused_with_how_to_make_one),
        cmocka_unit_test(test_line_over_the_event_limit_is_rejected_and_reading_goes_on),
        cmocka_unit_test(test_lenient_reports_unknown_fields_as_warnings_and_exits_0),
        cmocka_unit_test(test_keygen_makes_a_0600_key_and_never_overwrites),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
