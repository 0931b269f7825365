/*
 * u64.c - plain decimal numbers (atcommon.h, at_parse_u64): the one parser for the fields and
 * options that are a bare count or id, with no sign, no suffix and no surrounding space; and
 * the one ascending order of such numbers for qsort and bsearch.
 */
#include "atcommon.h"

int at_parse_u64(const char *s, size_t n, uint64_t max, uint64_t *out)
{
    if (!s || n == 0) return AT_EINVAL;
    uint64_t v = 0;
    int over = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return AT_EINVAL;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10) over = 1; /* keep reading: a non-digit is EINVAL */
        v = over ? v : v * 10 + d;
    }
    if (over || v > max) return AT_ERANGE;
    *out = v;
    return AT_OK;
}

int at_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}
