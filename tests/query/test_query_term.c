/*
 * test_query_term.c - no byte of stored or typed text drives a terminal: real events holding
 * ESC sequences, CR, BEL, backspace, DEL, C1 controls and a bidi override in every string
 * field go through a real trace-shim into a real trace-collector (which signs checkpoints),
 * are linked with trace-query link (incident, reason and --by holding the same bytes), then
 * every command's text output is scanned byte by byte: find --format table, show, stats
 * --by each key (table and blocks), link's message, export's and verify's messages,
 * trace-shim's rejection messages and the collector's log. Each must hold no control byte
 * (beyond its own newlines), no C1 or bidi control and only well-formed UTF-8, and still
 * show the rest of the text; table columns stay aligned. jsonl stays exact.
 * tp_term_clean itself is checked on bytes that are not UTF-8 (which events cannot hold), and
 * the collector's log line (collector/log.c, compiled in) on a message quoting them.
 *
 * Owns: a temp directory with the store, socket, logs and bundles. Single-threaded.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <fcntl.h>
#include <unistd.h>

#include "at_test.h"
#include "ledger_fixture.h"
#include "log.h"
#include "pipeline_util.h"
#include "query_fixture.h"
#include "testutil.h"
#include "text_term.h"

/* The hostile text, as JSON escapes (for the events) and as raw bytes (for arguments), and
 * what a terminal must be shown instead. */
#define HOSTILE_JSON "<\\u001b[8m|\\r|\\u0007|\\b|\\u007f|\\u009b|\\u0085|\\u202e>"
#define HOSTILE_RAW "<\x1b[8m|\r|\x07|\b|\x7f|\xc2\x9b|\xc2\x85|\xe2\x80\xae>"
#define HOSTILE_SHOWN "< [8m| | | | | | |?>"
#define TRACE "7e57c0de7e57c0de7e57c0de7e57c0de"

static char *dir, *store, *bundle_path, *shim_err, *link_out, *link_err;

/* "<prefix>" HOSTILE_SHOWN: what the terminal must show for the field with that prefix. */
static char *shown(const char *prefix)
{
    size_t n = strlen(prefix) + sizeof HOSTILE_SHOWN;
    char *s = malloc(n);
    assert_non_null(s);
    snprintf(s, n, "%s%s", prefix, HOSTILE_SHOWN);
    return s;
}

/* The line of text around offset `at`, with bytes outside printable ASCII as \xNN. */
static const char *line_at(const char *text, size_t at)
{
    static char out[1024];
    size_t b = at, o = 0;
    while (b > 0 && text[b - 1] != '\n')
        b--;
    for (size_t i = b; text[i] && text[i] != '\n' && o + 5 < sizeof out; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c >= 0x20 && c < 0x7f)
            out[o++] = (char)c;
        else
            o += (size_t)snprintf(out + o, sizeof out - o, "\\x%02x", c);
    }
    out[o] = 0;
    return out;
}

/* Fails naming the first byte that could drive a terminal or is not well-formed UTF-8. */
static void assert_clean(const char *what, const char *text)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t n = strlen(text);
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        if (c == '\n' || (c >= 0x20 && c < 0x7f)) {
            i++;
            continue;
        }
        if (c < 0x80) fail_msg("%s: control byte 0x%02x at %zu: %s", what, c, i, line_at(text, i));
        size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
        if (len == 0 || i + len > n) fail_msg("%s: byte 0x%02x at %zu is not UTF-8", what, c, i);
        uint32_t cp = c & (0xff >> (len + 1));
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) fail_msg("%s: bad UTF-8 at %zu", what, i);
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if (cp <= 0x9f)
            fail_msg("%s: C1 control U+%04X at %zu: %s", what, (unsigned)cp, i, line_at(text, i));
        if ((cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069))
            fail_msg("%s: bidi control U+%04X at %zu", what, (unsigned)cp, i);
        i += len;
    }
}

static void assert_shows(const char *what, const char *text, const char *prefix)
{
    char *want = shown(prefix);
    if (!strstr(text, want)) fail_msg("%s: \"%s\" is not shown in:\n%s", what, want, text);
    free(want);
}

/* One event of each kind, every string field holding the hostile text after a prefix that
 * names the field; then two lines trace-shim refuses, quoting hostile bytes. */
static const char *const event_lines[] = {
    "\"kind\":\"prompt\",\"model\":{\"provider\":\"prov" HOSTILE_JSON
    "\",\"name\":\"model" HOSTILE_JSON "\"},\"prompt\":{\"hmac_sha256\":\"" TRACE TRACE
    "\",\"template_id\":\"tpl" HOSTILE_JSON "\",\"template_version\":\"tplv" HOSTILE_JSON
    "\"},\"usage\":{\"input_tokens\":10,"
    "\"output_tokens\":2,\"cost_usd_micros\":7}",
    "\"kind\":\"retrieval\",\"context_ids\":[\"ctx" HOSTILE_JSON "\"]",
    "\"kind\":\"tool_call\",\"duration_nano\":5000000,\"tool_call\":{\"name\":\"tool" HOSTILE_JSON
    "\",\"arguments\":\"{}\",\"status\":\"error\",\"permission_scope\":\"scope" HOSTILE_JSON
    "\",\"error\":\"toolerr" HOSTILE_JSON "\"}",
    "\"kind\":\"diff\",\"diff\":{\"repo\":\"repo" HOSTILE_JSON "\",\"base_rev\":\"rev" HOSTILE_JSON
    "\",\"paths\":[\"path" HOSTILE_JSON "\"],\"lines_added\":1,\"lines_removed\":0}",
    "\"kind\":\"approval\",\"approval\":{\"checkpoint\":\"checkpoint" HOSTILE_JSON
    "\",\"approver\":\"approver" HOSTILE_JSON
    "\",\"decision\":\"approved\",\"reason\":\"reason" HOSTILE_JSON "\"}",
    "\"kind\":\"note\",\"note\":\"note" HOSTILE_JSON "\"",
    "\"kind\":\"outcome\",\"outcome\":{\"decision\":\"accepted\",\"by\":\"by" HOSTILE_JSON "\"}",
};

static void write_events(const char *path)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (size_t i = 0; i < sizeof event_lines / sizeof event_lines[0]; i++)
        fprintf(f,
                "{\"trace_id\":\"" TRACE
                "\",\"time_unix_nano\":%zu000000,%s,\"workflow\":\"wf" HOSTILE_JSON
                "\",\"dri\":\"dri" HOSTILE_JSON "\",\"service\":\"svc" HOSTILE_JSON
                "\",\"environment\":\"env" HOSTILE_JSON "\",\"incident\":\"inc" HOSTILE_JSON
                "\",\"actor\":\"actor" HOSTILE_JSON "\",\"attributes\":{\"k" HOSTILE_JSON
                "\":\"v" HOSTILE_JSON "\"}}\n",
                1717200000000 + i, event_lines[i]);
    fputs("{\"kind\":\"note\",\"workflow\":\"w\",\"dri\":\"d\",\"note\":\"n\",\"trace_id\":"
          "\"bad" HOSTILE_JSON "\"}\n",
          f);
    fputs("{\"kind\":\"note\",\"workflow\":\"w\",\"dri\":\"d\",\"note\":\"n\",\"field" HOSTILE_JSON
          "\":1}\n",
          f);
    fclose(f);
}

static int setup(void **state)
{
    (void)state;
    unsetenv("COLUMNS");
    dir = tu_tempdir("query-term");
    store = lf_path(dir, "store");
    char *log = lf_path(dir, "collector.log"), *in = lf_path(dir, "hostile.jsonl");
    char *spool = lf_path(dir, "spool"), ep[4200];
    snprintf(ep, sizeof ep, "ipc://%s/c.sock", dir);
    write_events(in);
    const char *fast[] = {"--checkpoint-ms", "20", NULL};
    pid_t pid = pu_collector_start(store, ep, log, fast);
    char *shim = tu_bin("trace-shim");
    char *argv[] = {shim, "--endpoint", ep, "--spool-dir", spool, "--timeout", "20", in, NULL};
    int rc = tu_run(argv, NULL, NULL, NULL, &shim_err);
    assert_int_equal(rc, 1); /* two lines refused, the rest sent */
    rc = qf_query(&link_out, &link_err, "--store", store, "link", "--incident", "inc" HOSTILE_RAW,
                  "--trace", TRACE, "--reason", "why" HOSTILE_RAW, "--by", "who" HOSTILE_RAW,
                  "--collector", ep, NULL);
    if (rc != 0) fail_msg("link exit %d: %s", rc, link_err);
    pu_sleep_ms(100);
    assert_int_equal(pu_kill_wait(pid, SIGTERM), 0);
    char *clog = tu_read_file(log, NULL);
    assert_non_null(clog);
    assert_clean("trace-collector's log", clog);
    free(clog);
    bundle_path = lf_path(dir, "b" HOSTILE_RAW ".tar");
    TU_FREE(log, in, spool, shim);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tu_rmtree_free(dir);
    TU_FREE(store, bundle_path, shim_err, link_out, link_err);
    return 0;
}

AT_TEST(test_term_clean_replaces_bytes_that_are_not_utf8)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"a\x9b[2Jb", "a?[2Jb"},              /* a lone C1 byte (8-bit CSI) */
        {"a\xc0\x9b[2Jb", "a??[2Jb"},         /* an overlong ESC */
        {"a\xe2\x80", "a??"},                 /* a truncated sequence */
        {"a\xed\xa0\x80z", "a???z"},          /* a surrogate */
        {"\xf5\x80\x80\x80", "????"},         /* above U+10FFFF */
        {"\xe2\x81\xa6x\xe2\x81\xa9", "?x?"}, /* bidi isolates */
        {"caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80"},
        {"tab\there\nnl\x7f", "tab here nl "},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[64];
        size_t n = strlen(cases[i].in);
        memcpy(buf, cases[i].in, n);
        buf[tp_term_clean(buf, n)] = 0;
        assert_string_equal(buf, cases[i].out);
    }
}

/* What shims send reaches the collector's log only through clog_line: one cleaned line. */
AT_TEST(test_collector_log_line_is_cleaned)
{
    (void)state;
    char *path = lf_path(dir, "clog.txt");
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600), saved = dup(2);
    assert_true(fd >= 0 && saved >= 0);
    assert_int_equal(dup2(fd, 2), 2);
    clog_line(CLOG_WARN, "batch from \"%s\" rejected: %s", "shim" HOSTILE_RAW,
              "wf" HOSTILE_RAW "\xc0\x9b\x9b\nforged: line");
    assert_int_equal(dup2(saved, 2), 2);
    close(fd);
    close(saved);
    char *text = tu_read_file(path, NULL);
    assert_non_null(text);
    assert_clean("trace-collector's log line", text);
    assert_shows("trace-collector's log line", text, "batch from \"shim");
    assert_shows("trace-collector's log line", text, "rejected: wf");
    assert_non_null(strstr(text, "?>??? forged: line\n"));
    assert_int_equal(strchr(text, '\n') - text + 1, (long)strlen(text)); /* one line */
    free(text);
    free(path);
}

static const char *const every_field[] = {
    "wf",  "dri",  "svc", "env",  "actor",      "prov",     "model",
    "tpl", "tplv", "ctx", "tool", "scope",      "toolerr",  "repo",
    "rev", "path", "by",  "note", "checkpoint", "approver", "reason"};

AT_TEST(test_find_table_shows_hostile_text_cleaned_and_aligned)
{
    (void)state;
    char *out = NULL, *err = NULL;
    assert_int_equal(qf_query(&out, &err, "--store", store, "find", "--format", "table", NULL), 0);
    assert_clean("find --format table", out);
    assert_clean("find's stderr", err);
    static const char *const in_table[] = {"wf",         "dri",      "model", "tpl",  "ctx",
                                           "tool",       "path",     "by",    "note", "inc",
                                           "checkpoint", "approver", "reason"};
    for (size_t i = 0; i < sizeof in_table / sizeof in_table[0]; i++)
        assert_shows("find --format table", out, in_table[i]);
    /* Replaced bytes take one column each: every row's DRI cell starts under the header. */
    size_t n = 0;
    char **lines = qf_lines(out, &n);
    assert_int_equal(n, 1 + 8);
    size_t col = (size_t)(strstr(lines[0], "DRI") - lines[0]);
    for (size_t i = 1; i < n; i++) {
        const char *cell = strstr(lines[i], "  dri<"); /* the link's DRI is its --by */
        if (!cell) cell = strstr(lines[i], "  who<");
        assert_non_null(cell);
        char *prefix = strndup(lines[i], (size_t)(cell + 2 - lines[i]));
        assert_int_equal(qf_columns(prefix), col);
        free(prefix);
    }
    TU_FREE(lines, out, err);
    /* jsonl stays exact: C0 escaped as JSON does, DEL, C1 and bidi as the UTF-8 stored. */
    assert_int_equal(
        qf_query(&out, NULL, "--store", store, "find", "--kind", "note", "--format", "jsonl", NULL),
        0);
    assert_non_null(strstr(out, "\"note\":\"note<\\u001b[8m|\\r|\\u0007|\\b|\x7f|\xc2\x9b|\xc2\x85|"
                                "\xe2\x80\xae>\""));
    free(out);
}

AT_TEST(test_show_and_its_foot_show_hostile_text_cleaned)
{
    (void)state;
    char *out = NULL, *err = NULL;
    assert_int_equal(
        qf_query(&out, &err, "--store", store, "show", TRACE, "--format", "table", NULL), 0);
    assert_clean("show", out);
    assert_clean("show's stderr", err);
    for (size_t i = 0; i < sizeof every_field / sizeof every_field[0]; i++)
        if (strcmp(every_field[i], "env") && strcmp(every_field[i], "actor") &&
            strcmp(every_field[i], "prov") && strcmp(every_field[i], "tplv") &&
            strcmp(every_field[i], "scope") && strcmp(every_field[i], "repo") &&
            strcmp(every_field[i], "rev"))
            assert_shows("show", out, every_field[i]);
    assert_shows("show", out, "inc");
    free(out);
    free(err);
}

AT_TEST(test_stats_by_every_key_shows_group_names_cleaned)
{
    (void)state;
    static const struct {
        const char *by, *prefix;
    } keys[] = {{"workflow", "wf"}, {"dri", "dri"},   {"model", "model"},
                {"service", "svc"}, {"tool", "tool"}, {"source", NULL}};
    for (int narrow = 0; narrow < 2; narrow++) {
        if (narrow) setenv("COLUMNS", "60", 1); /* --columns all: one block per group */
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
            char *out = NULL, *err = NULL;
            assert_int_equal(qf_query(&out, &err, "--store", store, "stats", "--by", keys[i].by,
                                      "--columns", narrow ? "all" : "group,traces,cost_usd",
                                      "--format", "table", NULL),
                             0);
            assert_clean(keys[i].by, out);
            assert_clean(keys[i].by, err);
            if (keys[i].prefix) assert_shows(keys[i].by, out, keys[i].prefix);
            if (narrow) assert_non_null(strstr(out, "  coverage: outcome"));
            free(out);
            free(err);
        }
        unsetenv("COLUMNS");
    }
}

AT_TEST(test_link_export_verify_and_shim_messages_are_clean)
{
    (void)state;
    assert_clean("link's message", link_out);
    assert_clean("link's stderr", link_err);
    assert_shows("link's message", link_out, "inc");
    assert_shows("link's message", link_out, "who");
    assert_clean("trace-shim's messages", shim_err);
    assert_shows("trace-shim's messages", shim_err, "got 'bad");
    assert_shows("trace-shim's messages", shim_err, "field");
    assert_non_null(strstr(shim_err, "hostile.jsonl:8: trace_id:"));

    char *out = NULL, *err = NULL;
    assert_int_equal(qf_query(&out, &err, "--store", store, "export", "--incident",
                              "inc" HOSTILE_RAW, "-o", bundle_path, NULL),
                     0);
    assert_clean("export's messages", err);
    assert_shows("export's messages", err, "/b");
    free(out);
    free(err);
    /* Refused: the file is there now. The message names it, cleaned. */
    assert_int_equal(qf_query(&out, &err, "--store", store, "export", "--incident",
                              "inc" HOSTILE_RAW, "-o", bundle_path, NULL),
                     2);
    assert_clean("export's refusal", err);
    assert_shows("export's refusal", err, "/b");
    free(out);
    free(err);
    assert_int_equal(qf_query(&out, &err, "verify", bundle_path, "--trust-bundle-key", NULL), 5);
    assert_clean("verify's message", out);
    assert_clean("verify's stderr", err);
    assert_non_null(strstr(out, ": 8 events"));
    assert_non_null(strstr(err, "NOT TRUSTED"));
    free(out);
    free(err);
    char *missing = lf_path(dir, "gone" HOSTILE_RAW ".tar");
    assert_int_equal(qf_query(&out, &err, "verify", missing, NULL), 3);
    assert_clean("verify's failure", err);
    assert_shows("verify's failure", err, "/gone");
    TU_FREE(missing, out, err);
}

AT_TEST_GROUP(setup, teardown);
