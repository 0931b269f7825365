/*
 * test_parse_u64.c - at_parse_u64 (common/u64.c): digits only, no sign, suffix or space,
 * bounded by the caller's max and by UINT64_MAX, reading exactly n bytes; at_cmp_u64 sorts
 * ascending.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "at_test.h"
#include "atcommon.h"

static int parse(const char *s, uint64_t max, uint64_t *v)
{
    return at_parse_u64(s, strlen(s), max, v);
}

AT_TEST(digits_only)
{
    (void)state;
    uint64_t v = 7;
    assert_int_equal(parse("0", UINT64_MAX, &v), AT_OK);
    assert_int_equal(v, 0);
    assert_int_equal(parse("0042", UINT64_MAX, &v), AT_OK);
    assert_int_equal(v, 42);
    v = 7;
    static const char *const bad[] = {"", "-1", "+1", " 1", "1 ", "1K", "0x10", "1.5", "1e3"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(parse(bad[i], UINT64_MAX, &v), AT_EINVAL);
    assert_int_equal(v, 7); /* left alone on error */
    assert_int_equal(at_parse_u64(NULL, 0, UINT64_MAX, &v), AT_EINVAL);
}

AT_TEST(range_checked)
{
    (void)state;
    uint64_t v = 0;
    assert_int_equal(parse("18446744073709551615", UINT64_MAX, &v), AT_OK);
    assert_int_equal(v, UINT64_MAX);
    assert_int_equal(parse("18446744073709551616", UINT64_MAX, &v), AT_ERANGE);
    assert_int_equal(parse("99999999999999999999999", UINT64_MAX, &v), AT_ERANGE);
    assert_int_equal(parse("99999999999999999999x", UINT64_MAX, &v), AT_EINVAL);
    assert_int_equal(parse("9999", 9999, &v), AT_OK);
    assert_int_equal(parse("10000", 9999, &v), AT_ERANGE);
    assert_int_equal(parse("9223372036854775808", (UINT64_C(1) << 63) - 1, &v), AT_ERANGE);
}

AT_TEST(reads_exactly_n_bytes)
{
    (void)state;
    uint64_t v = 0;
    const char seg[] = "seg-0000000000000012.spool";
    assert_int_equal(at_parse_u64(seg + 4, 16, UINT64_MAX, &v), AT_OK);
    assert_int_equal(v, 12);
    assert_int_equal(at_parse_u64(seg + 4, 17, UINT64_MAX, &v), AT_EINVAL);
    assert_int_equal(at_parse_u64(seg + 4, 0, UINT64_MAX, &v), AT_EINVAL);
}

AT_TEST(sorted_ascending)
{
    (void)state;
    uint64_t v[] = {UINT64_MAX, 3, 0, UINT64_MAX - 1, 3, 1};
    qsort(v, 6, sizeof v[0], at_cmp_u64);
    const uint64_t want[] = {0, 1, 3, 3, UINT64_MAX - 1, UINT64_MAX};
    assert_memory_equal(v, want, sizeof want);
    uint64_t key = 3;
    assert_non_null(bsearch(&key, v, 6, sizeof v[0], at_cmp_u64));
}
