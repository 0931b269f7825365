/*
 * test_atcommon.c - libtracecommon: sizes and durations parse alike for every program, the
 * buffer grows and fails sticky, hex round-trips, SHA-256 matches the published vectors, and
 * the file writer never overwrites and sets the exact mode.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "at_test.h"
#include "atcommon.h"
#include "testutil.h"

AT_TEST(sizes_take_suffixes_and_zero)
{
    (void)state;
    uint64_t v = 7;
    assert_int_equal(at_parse_size("0", &v), AT_OK);
    assert_int_equal(v, 0);
    assert_int_equal(at_parse_size("1G", &v), AT_OK);
    assert_int_equal(v, 1ull << 30);
    assert_int_equal(at_parse_size("64k", &v), AT_OK);
    assert_int_equal(v, 65536);
    assert_int_equal(at_parse_size("3M", &v), AT_OK);
    assert_int_equal(v, 3ull << 20);
    assert_int_equal(at_parse_size("-1", &v), AT_EINVAL);
    assert_int_equal(at_parse_size("", &v), AT_EINVAL);
    assert_int_equal(at_parse_size("1KB", &v), AT_EINVAL);
    assert_int_equal(at_parse_size("1T", &v), AT_EINVAL);
    assert_int_equal(at_parse_size("99999999999999999999", &v), AT_ERANGE);
    assert_int_equal(at_parse_size("17179869184G", &v), AT_ERANGE);
}

AT_TEST(durations_need_a_unit)
{
    (void)state;
    uint64_t v = 0;
    assert_int_equal(at_parse_duration("500ms", &v), AT_OK);
    assert_int_equal(v, 500000000ull);
    assert_int_equal(at_parse_duration("7d", &v), AT_OK);
    assert_int_equal(v, 7ull * 86400 * 1000000000ull);
    assert_int_equal(at_parse_duration("2w", &v), AT_OK);
    assert_int_equal(v, 14ull * 86400 * 1000000000ull);
    assert_int_equal(at_parse_duration("30", &v), AT_EINVAL);
    assert_int_equal(at_parse_duration("5y", &v), AT_EINVAL);
    assert_int_equal(at_parse_duration("99999999999w", &v), AT_ERANGE);
}

AT_TEST(buffer_grows_and_hands_over)
{
    (void)state;
    at_buf b = {0};
    for (int i = 0; i < 1000; i++)
        at_buf_putc(&b, 'x');
    at_buf_printf(&b, "-%d-", 42);
    at_buf_put_u64(&b, 18446744073709551615ull);
    size_t len = 0;
    char *s = at_buf_take(&b, &len);
    assert_non_null(s);
    assert_int_equal(len, 1000 + 4 + 20);
    assert_string_equal(s + 1000, "-42-18446744073709551615");
    assert_null(b.data);
    free(s);

    int *v = NULL;
    size_t cap = 0;
    assert_int_equal(at_grow((void **)&v, &cap, 100, sizeof *v, 4), AT_OK);
    assert_true(cap >= 100);
    v[99] = 1;
    free(v);
}

AT_TEST(hex_round_trips_lowercase_only)
{
    (void)state;
    const uint8_t in[4] = {0x00, 0xab, 0x7f, 0xff};
    char hex[9];
    at_hex_encode(in, 4, hex);
    assert_string_equal(hex, "00ab7fff");
    uint8_t out[4];
    assert_int_equal(at_hex_decode(hex, 8, out, 4), AT_OK);
    assert_memory_equal(in, out, 4);
    assert_int_equal(at_hex_decode("00AB7FFF", 8, out, 4), AT_EINVAL);
    assert_int_equal(at_hex_decode("00ab7f", 6, out, 4), AT_EINVAL);
}

AT_TEST(sha256_matches_the_published_vectors)
{
    (void)state;
    uint8_t md[AT_SHA256_LEN];
    char hex[65];
    assert_int_equal(at_sha256("abc", 3, md), AT_OK);
    at_hex_encode(md, 32, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    at_sha256_ctx *c = at_sha256_new();
    assert_non_null(c);
    for (int round = 0; round < 2; round++) { /* final resets for the next message */
        assert_int_equal(at_sha256_update(c, "a", 1), AT_OK);
        assert_int_equal(at_sha256_update(c, "bc", 2), AT_OK);
        uint8_t md2[AT_SHA256_LEN];
        assert_int_equal(at_sha256_final(c, md2), AT_OK);
        assert_memory_equal(md, md2, 32);
    }
    at_sha256_free(&c);
    assert_null(c);
    const void *parts[] = {"a", "b", "c"};
    const size_t lens[] = {1, 1, 1};
    uint8_t md3[AT_SHA256_LEN];
    assert_int_equal(at_sha256_parts(parts, lens, 3, md3), AT_OK);
    assert_memory_equal(md, md3, 32);
}

AT_TEST(file_create_never_overwrites_and_sets_the_mode)
{
    (void)state;
    char *dir = tu_tempdir("atcommon");
    char *path = tu_path(dir, "secret.key");
    at_error err = {0};
    assert_int_equal(at_file_create(path, "abc\n", 4, 0600, &err), AT_OK);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, 4);
    assert_int_equal(at_file_create(path, "other\n", 6, 0600, &err), AT_EEXIST);
    assert_non_null(strstr(err.what, "secret.key"));
    size_t len = 0;
    char *back = tu_read_file(path, &len);
    assert_int_equal(len, 4); /* untouched */
    assert_memory_equal(back, "abc\n", 4);
    free(back);
    char *missing = tu_path(dir, "no/such/dir/key");
    assert_int_equal(at_file_create(missing, "x", 1, 0600, &err), AT_EIO);
    assert_non_null(strstr(err.what, "cannot create"));
    char line[600];
    assert_non_null(strstr(at_error_format(&err, line, sizeof line), "no/such/dir"));
    free(missing);
    tu_rmtree_free(dir);
    free(path);
}
