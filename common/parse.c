/*
 * parse.c - sizes and durations as people type them (atcommon.h). Every program reads its
 * size and duration options through these two, so "1G" or "0" means the same everywhere.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "atcommon.h"

/* Leading decimal digits of s: AT_EINVAL unless s starts with one. */
static int digits(const char *s, uint64_t *v, const char **end)
{
    size_t n = s ? strspn(s, "0123456789") : 0;
    int rc = at_parse_u64(s, n, UINT64_MAX, v);
    if (rc == AT_OK) *end = s + n;
    return rc;
}

int at_parse_size(const char *s, uint64_t *out)
{
    uint64_t v;
    const char *end;
    int rc = digits(s, &v, &end);
    if (rc) return rc;
    uint64_t mul = 1;
    switch (*end) {
    case 0:
        break;
    case 'k':
    case 'K':
        mul = 1ull << 10;
        break;
    case 'm':
    case 'M':
        mul = 1ull << 20;
        break;
    case 'g':
    case 'G':
        mul = 1ull << 30;
        break;
    default:
        return AT_EINVAL;
    }
    if (mul != 1 && end[1] != 0) return AT_EINVAL;
    if (v > UINT64_MAX / mul) return AT_ERANGE;
    *out = v * mul;
    return AT_OK;
}

int at_parse_duration(const char *s, uint64_t *out_ns)
{
    static const struct {
        const char *unit;
        uint64_t ns;
    } units[] = {
        {"ms", 1000000ull},      {"s", 1000000000ull},     {"m", 60000000000ull},
        {"h", 3600000000000ull}, {"d", 86400000000000ull}, {"w", 604800000000000ull},
    };
    uint64_t v;
    const char *end;
    int rc = digits(s, &v, &end);
    if (rc) return rc;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(end, units[i].unit) != 0) continue;
        if (v > UINT64_MAX / units[i].ns) return AT_ERANGE;
        *out_ns = v * units[i].ns;
        return AT_OK;
    }
    return AT_EINVAL;
}
