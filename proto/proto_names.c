/*
 * proto_names.c - the small vocabularies of the event: enum names as JSON
 * writes them, RFC 3339 time, the clock (hex is libtracecommon's at_hex_*).
 *
 * Owns: the name tables (constant). Invariants: names are the exact strings
 * of EVENTS.md; value 0 (UNSPECIFIED) has no name.
 *
 * Threading: reentrant; no global state.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "proto_internal.h"
#include "traceproto.h"

static const char *const kind_names[] = {NULL,        "prompt",        "retrieval",
                                         "tool_call", "diff",          "outcome",
                                         "approval",  "incident_link", "note"};
static const char *const decision_names[] = {NULL, "accepted", "edited", "rejected", "escalated"};
static const char *const tool_status_names[] = {NULL, "ok", "error", "blocked"};
static const char *const approval_names[] = {NULL, "approved", "denied"};

#define NAMES_N(t) ((int)(sizeof(t) / sizeof(t)[0]))

static const char *name_of(const char *const *t, int n, int v)
{
    return v > 0 && v < n ? t[v] : NULL;
}

static int parse_name(const char *const *t, int n, const char *s)
{
    if (!s) return -1;
    for (int i = 1; i < n; i++)
        if (strcmp(t[i], s) == 0) return i;
    return -1;
}

/* tp_WHAT_name and tp_WHAT_parse (traceproto.h) over the table `t`. */
#define NAMES_API(what, t)                                                                         \
    const char *tp_##what##_name(int v)                                                            \
    {                                                                                              \
        return name_of(t, NAMES_N(t), v);                                                          \
    }                                                                                              \
    int tp_##what##_parse(const char *name)                                                        \
    {                                                                                              \
        return parse_name(t, NAMES_N(t), name);                                                    \
    }

NAMES_API(kind, kind_names)
NAMES_API(decision, decision_names)
NAMES_API(tool_status, tool_status_names)
NAMES_API(approval_decision, approval_names)

const char *tp_kind_names(void)
{
    return "prompt|retrieval|tool_call|diff|outcome|approval|incident_link|note";
}

uint64_t tp_now_unix_nano(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static int days_in_month(int64_t y, int m)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : dm[m - 1];
}

int tp_time_parse_rfc3339(const char *s, uint64_t *out)
{
    /* YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM), as check-events accepts it. */
    size_t n = strlen(s);
    if (n < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
        s[16] != ':')
        return TP_EINVAL;
    int y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
    int h = digits(s + 11, 2), mi = digits(s + 14, 2), sec = digits(s + 17, 2);
    if (y < 0 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 ||
        sec > 59 || d > days_in_month(y, mo))
        return TP_EINVAL;
    size_t i = 19;
    uint64_t frac = 0;
    if (s[i] == '.') {
        i++;
        size_t start = i;
        uint64_t scale = 100000000;
        while (s[i] >= '0' && s[i] <= '9') {
            frac += (uint64_t)(s[i] - '0') * scale;
            scale /= 10;
            i++;
        }
        if (i == start) return TP_EINVAL;
    }
    int64_t offset = 0;
    if ((s[i] == 'Z' || s[i] == 'z') && s[i + 1] == 0) {
        offset = 0;
    } else if ((s[i] == '+' || s[i] == '-') && n - i == 6 && s[i + 3] == ':') {
        int oh = digits(s + i + 1, 2), om = digits(s + i + 4, 2);
        if (oh < 0 || oh > 23 || om < 0 || om > 59) return TP_EINVAL;
        offset = (int64_t)(oh * 3600 + om * 60) * (s[i] == '-' ? -1 : 1);
    } else {
        return TP_EINVAL;
    }
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset;
    /* Representable as uint64 ns within 0..2^63-1. */
    if (secs < 0 || secs > 9223372035) return TP_EINVAL;
    uint64_t ns = (uint64_t)secs * 1000000000u + frac;
    if (ns > TP_INT_MAX) return TP_EINVAL;
    *out = ns;
    return TP_OK;
}

void tp_time_format_rfc3339(uint64_t unix_nano, char *out, size_t outlen)
{
    int64_t secs = (int64_t)(unix_nano / 1000000000u);
    unsigned ns = (unsigned)(unix_nano % 1000000000u);
    int64_t days = secs / 86400, rem = secs % 86400;
    int64_t y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    snprintf(out, outlen, "%04lld-%02d-%02dT%02d:%02d:%02d.%09uZ", (long long)y, m, d,
             (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60), ns);
}
