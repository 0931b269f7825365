/*
 * test_proto_hmac.c - HMAC-SHA256 against the RFC 4231 test vectors (cases
 * 1-7; case 5 compares the 128-bit truncation), the rules of the organisation
 * key file (real files in a temp directory), and what tp_event_prepare does
 * with prompt.text.
 *
 * Owns: a temp directory per test run. Single-threaded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "at_test.h"
#include "testutil.h"
#include "traceproto.h"

typedef struct rfc4231_case {
    int number;
    uint8_t key_byte; /* key is key_len copies of key_byte (case 4: 0x01..0x19) */
    size_t key_len;
    const char *data; /* NULL: data_len copies of data_byte */
    uint8_t data_byte;
    size_t data_len;
    size_t compare; /* bytes of the MAC compared: 16 for case 5 */
    const char *hmac_hex;
} rfc4231_case;

static const rfc4231_case vectors[] = {
    {1, 0x0b, 20, "Hi There", 0, 8, 32,
     "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
    {2, 0, 4, "what do ya want for nothing?", 0, 28, 32,
     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
    {3, 0xaa, 20, NULL, 0xdd, 50, 32,
     "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
    {4, 0, 25, NULL, 0xcd, 50, 32,
     "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
    {5, 0x0c, 20, "Test With Truncation", 0, 20, 16, "a3b6167473100ee06e0c796c2955552b"},
    {6, 0xaa, 131, "Test Using Larger Than Block-Size Key - Hash Key First", 0, 54, 32,
     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
    {7, 0xaa, 131,
     "This is a test using a larger than block-size key and a larger than block-size data. The "
     "key needs to be hashed before being used by the HMAC algorithm.",
     0, 152, 32, "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
};

AT_TEST(test_hmac_sha256_matches_every_rfc4231_vector)
{
    (void)state;
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        const rfc4231_case *v = &vectors[i];
        uint8_t key[131], data[152], mac[32];
        if (v->number == 2)
            memcpy(key, "Jefe", 4);
        else if (v->number == 4)
            for (size_t k = 0; k < v->key_len; k++)
                key[k] = (uint8_t)(k + 1);
        else
            memset(key, v->key_byte, v->key_len);
        if (v->data) {
            assert_int_equal(strlen(v->data), v->data_len);
            memcpy(data, v->data, v->data_len);
        } else {
            memset(data, v->data_byte, v->data_len);
        }
        assert_int_equal(tp_hmac_sha256(key, v->key_len, data, v->data_len, mac), TP_OK);
        char hex[65];
        at_hex_encode(mac, v->compare, hex);
        if (strcmp(hex, v->hmac_hex) != 0)
            fail_msg("RFC 4231 case %d: got %s, expected %s", v->number, hex, v->hmac_hex);
    }
}

static char *dir;

static int make_dir(void **state)
{
    (void)state;
    dir = tu_tempdir("proto-hmac");
    return 0;
}

static int remove_dir(void **state)
{
    (void)state;
    tu_rmtree_free(dir);
    dir = NULL;
    return 0;
}

#define HEX64 "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

/* Writes `content` to a key file and loads it; returns the code, err filled. */
static int load(const char *content, size_t len, uint8_t key[32], at_error *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/key", dir);
    assert_int_equal(tu_write_file(path, content, len), 0);
    return tp_hmac_key_load(path, key, err);
}

AT_TEST(test_key_file_accepts_64_hex_digits_and_one_optional_newline)
{
    (void)state;
    uint8_t key[32];
    at_error err;
    assert_int_equal(load(HEX64, 64, key, &err), TP_OK);
    for (int i = 0; i < 32; i++)
        assert_int_equal(key[i], i);
    assert_int_equal(load(HEX64 "\n", 65, key, &err), TP_OK);
    assert_int_equal(key[31], 31);
}

AT_TEST(test_key_file_refuses_anything_else_and_says_how_to_make_one)
{
    (void)state;
    static const struct {
        const char *content;
        const char *problem;
    } bad[] = {
        {"", "this one has 0 bytes"},
        {HEX64 "\n\n", "this one is longer"},
        {HEX64 "\r\n", "this one is longer"},
        {HEX64 "00", "this one is longer"},
        {"0001020304", "this one has 10 bytes"},
        {" " HEX64, "this one is longer"},
        {"zz0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", "byte 0 is not a hex"},
        {"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1g",
         "byte 63 is not a hex"},
    };
    uint8_t key[32];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        at_error err = {{0}};
        int rc = load(bad[i].content, strlen(bad[i].content), key, &err);
        if (rc != TP_EKEY || !strstr(err.what, bad[i].problem) ||
            !strstr(err.what, "trace-shim keygen --hmac -o FILE"))
            fail_msg("key file %zu: rc %d, \"%s\"", i, rc, err.what);
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/absent", dir);
    at_error err;
    assert_int_equal(tp_hmac_key_load(path, key, &err), TP_EKEY);
    assert_string_equal(err.where, path);
    assert_non_null(strstr(err.what, "No such file"));
    assert_non_null(strstr(err.what, "trace-shim keygen --hmac -o FILE"));
    /* A FIFO is refused at once rather than waited on. */
    snprintf(path, sizeof path, "%s/key.fifo", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    alarm(10);
    assert_int_equal(tp_hmac_key_load(path, key, &err), TP_EKEY);
    alarm(0);
    assert_non_null(strstr(err.what, "is a FIFO, not a regular file"));
    unlink(path);
}

AT_TEST(test_prepare_replaces_prompt_text_by_its_hmac)
{
    (void)state;
    uint8_t key[32];
    for (int i = 0; i < 32; i++)
        key[i] = (uint8_t)i;
    const char *line =
        "{\"kind\":\"prompt\",\"workflow\":\"w\",\"dri\":\"d\",\"model\":{\"provider\":"
        "\"p\",\"name\":\"m\"},\"prompt\":{\"template_id\":\"t\",\"text\":\"héllo\"}}";
    uint8_t want[32];
    assert_int_equal(tp_hmac_sha256(key, 32, (const uint8_t *)"héllo", strlen("héllo"), want),
                     TP_OK);
    for (int keep = 0; keep <= 1; keep++) {
        tp_event *ev = NULL;
        at_error err;
        assert_int_equal(tp_event_from_json(line, strlen(line), NULL, 0, &ev, &err, NULL), TP_OK);
        assert_int_equal(tp_event_prepare(ev, key, keep, &err), TP_OK);
        assert_true(ev->prompt->has_hmac_sha256);
        assert_memory_equal(ev->prompt->hmac_sha256.data, want, 32);
        if (keep)
            assert_string_equal(ev->prompt->text, "héllo");
        else
            assert_null(ev->prompt->text);
        assert_true(ev->has_event_id && ev->has_trace_id && ev->has_span_id &&
                    ev->has_time_unix_nano);
        assert_false(ev->has_parent_span_id);
        assert_int_equal(tp_event_validate(ev, NULL, &err), TP_OK);
        tp_event_destroy(&ev);
    }
    /* No key: refused, naming the field and how to make a key. */
    tp_event *ev = NULL;
    at_error err;
    assert_int_equal(tp_event_from_json(line, strlen(line), NULL, 0, &ev, &err, NULL), TP_OK);
    assert_int_equal(tp_event_prepare(ev, NULL, 0, &err), TP_EKEY);
    assert_string_equal(err.where, "prompt.text");
    assert_non_null(strstr(err.what, "trace-shim keygen --hmac -o FILE"));
    tp_event_destroy(&ev);
}

AT_TEST_GROUP(make_dir, remove_dir);
