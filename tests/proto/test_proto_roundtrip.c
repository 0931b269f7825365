/*
 * test_proto_roundtrip.c - every line of every ../shared/data/ JSONL file survives
 * JSON -> event -> protobuf bytes -> event -> JSON byte for byte, and the
 * canonical form is a fixed point of parse + write.
 *
 * Owns: nothing beyond each test. Single-threaded.
 */
#include <glob.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "at_test.h"
#include "testutil.h"
#include "traceproto.h"

/* Round-trips one line; fails the test naming file:line and the first difference. */
static void roundtrip_line(const char *file, size_t lineno, const char *line, size_t len)
{
    tp_limits lim = tp_limits_default();
    tp_event *ev = NULL;
    at_error err = {{0}};
    int rc = tp_event_from_json(line, len, &lim, 0, &ev, &err, NULL);
    if (rc != TP_OK) fail_msg("%s:%zu: from_json: %s: %s", file, lineno, err.where, err.what);
    uint8_t *buf = NULL;
    size_t blen = 0;
    assert_int_equal(tp_event_pack(ev, &buf, &blen), TP_OK);
    tp_event *back = NULL;
    rc = tp_event_unpack(buf, blen, &lim, &back, &err);
    if (rc != TP_OK) fail_msg("%s:%zu: unpack: %s: %s", file, lineno, err.where, err.what);
    size_t olen = 0;
    char *out = tp_event_to_json(back, &olen);
    assert_non_null(out);
    if (olen != len || memcmp(out, line, len) != 0) {
        size_t i = 0;
        while (i < len && i < olen && out[i] == line[i])
            i++;
        fail_msg("%s:%zu: differs at byte %zu: in ...%.40s... out ...%.40s...", file, lineno, i,
                 line + (i > 20 ? i - 20 : 0), out + (i > 20 ? i - 20 : 0));
    }
    free(out);
    free(buf);
    tp_event_destroy(&back);
    tp_event_destroy(&ev);
    assert_null(ev);
}

AT_TEST(test_every_shared_data_line_round_trips_byte_identically)
{
    (void)state;
    char *pattern = tu_shared("data/*.jsonl");
    glob_t g;
    assert_int_equal(glob(pattern, 0, NULL, &g), 0);
    assert_true(g.gl_pathc >= 3);
    size_t total = 0;
    for (size_t f = 0; f < g.gl_pathc; f++) {
        size_t len = 0;
        char *data = tu_read_file(g.gl_pathv[f], &len);
        assert_non_null(data);
        size_t lineno = 0;
        char *p = data, *end = data + len;
        while (p < end) {
            char *nl = memchr(p, '\n', (size_t)(end - p));
            size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
            lineno++;
            if (n > 0) {
                roundtrip_line(g.gl_pathv[f], lineno, p, n);
                total++;
            }
            p += n + 1;
        }
        free(data);
    }
    print_message("round-tripped %zu lines from %zu files\n", total, g.gl_pathc);
    assert_true(total > 20000);
    globfree(&g);
    free(pattern);
}

AT_TEST(test_input_key_order_and_spaces_are_free_output_is_canonical)
{
    (void)state;
    const char *in = "{ \"dri\" : \"a@b\", \"kind\":\"note\", \"note\":\"x\\u0001\\u007f\\/\","
                     "\"workflow\":\"w\", \"attributes\":{\"z\":\"1\",\"a\":\"\"},"
                     "\"time\":\"2024-06-01T00:00:00.5+01:00\"}";
    const char *want = "{\"time_unix_nano\":1717196400500000000,\"kind\":\"note\",\"workflow\":"
                       "\"w\",\"dri\":\"a@b\",\"note\":\"x\\u0001\x7f/\",\"attributes\":{\"z\":"
                       "\"1\",\"a\":\"\"}}";
    tp_event *ev = NULL;
    at_error err;
    assert_int_equal(tp_event_from_json(in, strlen(in), NULL, 0, &ev, &err, NULL), TP_OK);
    char *out = tp_event_to_json(ev, NULL);
    assert_string_equal(out, want);
    free(out);
    tp_event_destroy(&ev);
}

AT_TEST(test_clone_is_deep_and_equal)
{
    (void)state;
    const char *in = "{\"kind\":\"diff\",\"workflow\":\"w\",\"dri\":\"d\",\"diff\":{\"paths\":"
                     "[\"a\",\"b\"],\"patch\":\"p\"},\"attributes\":{\"k\":\"v\"}}";
    tp_event *ev = NULL;
    assert_int_equal(tp_event_from_json(in, strlen(in), NULL, 0, &ev, NULL, NULL), TP_OK);
    tp_event *copy = tp_event_clone(ev);
    assert_non_null(copy);
    char *a = tp_event_to_json(ev, NULL);
    tp_event_destroy(&ev);
    char *b = tp_event_to_json(copy, NULL);
    assert_string_equal(a, b);
    free(a);
    free(b);
    tp_event_destroy(&copy);
    tp_event_destroy(&copy); /* idempotent on NULL */
    tp_event_destroy(NULL);
}
