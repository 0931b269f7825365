/*
 * stats_fields.c - the figures of a stats row, from one table (see stats_fields.h).
 *
 * Responsibility: the field table (jsonl keys in order, table headers, how each value is
 * read), exact jsonl values (integers, shortest round-trip fractions, exact decimals of
 * micro-USD and nanoseconds), table text for people (percentages with one decimal, costs
 * with "+" when some calls are unpriced, durations down to nanoseconds), and ordering rows.
 * Owns: nothing.
 * Invariants: the table lists the jsonl keys in the order the docs promise; every value a
 * field reads is a uint64_t member of qstats_group (offsetof).
 * Threading: reentrant.
 */
#include "stats_fields.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "describe.h"

#define OFF(m) offsetof(qstats_group, m)
#define COUNT(k, h, m)                                                                             \
    {                                                                                              \
        k, h, QSF_COUNT, OFF(m), 0, 0, 0, 1, 1                                                     \
    }
#define TABLE_COUNT(k, h, m)                                                                       \
    {                                                                                              \
        k, h, QSF_COUNT, OFF(m), 0, 0, 0, 0, 1                                                     \
    }
#define RATE(k, h, n, d)                                                                           \
    {                                                                                              \
        k, h, QSF_RATE, OFF(n), OFF(d), 0, 0, 1, 1                                                 \
    }
#define DURATION(k, h, kind, p)                                                                    \
    {                                                                                              \
        k, h, QSF_DURATION, 0, 0, kind, p, 1, 1                                                    \
    }

const qstats_field qsf_fields[] = {
    {"group", "GROUP", QSF_GROUP, 0, 0, 0, 0, 1, 1},
    {"row", "ROW", QSF_ROW, 0, 0, 0, 0, 1, 0},
    COUNT("events", "EVENTS", events),
    COUNT("traces", "TRACES", traces),
    TABLE_COUNT("llm_calls", "LLM_CALLS", by_kind[AGENTTRAIL__V1__KIND__PROMPT]),
    TABLE_COUNT("tool_calls", "TOOL_CALLS", by_kind[AGENTTRAIL__V1__KIND__TOOL_CALL]),
    {"by_kind", "BY_KIND", QSF_KINDS, 0, 0, 0, 0, 1, 0},
    {"outcomes", "OUTCOMES", QSF_DECISIONS, 0, 0, 0, 0, 1, 0},
    TABLE_COUNT("outcome_events", "OUTCOMES", outcome_events),
    RATE("acceptance_rate", "ACCEPT", outcomes[AGENTTRAIL__V1__DECISION__ACCEPTED], outcome_events),
    RATE("edit_rate", "EDIT", outcomes[AGENTTRAIL__V1__DECISION__EDITED], outcome_events),
    RATE("rejection_rate", "REJECT", outcomes[AGENTTRAIL__V1__DECISION__REJECTED], outcome_events),
    RATE("escalation_rate", "ESCAL", outcomes[AGENTTRAIL__V1__DECISION__ESCALATED], outcome_events),
    COUNT("input_tokens", "TOK_IN", input_tokens),
    COUNT("output_tokens", "TOK_OUT", output_tokens),
    COUNT("cached_tokens", "CACHED", cached_tokens),
    {"cost_usd", "COST", QSF_COST, 0, 0, 0, 0, 1, 1},
    COUNT("unpriced_calls", "UNPRICED", unpriced_calls),
    RATE("cache_hit_rate", "CACHE_HIT", cached_tokens, input_tokens),
    DURATION("llm_call_p50_ms", "LLM_P50", QDUR_LLM, 50),
    DURATION("llm_call_p95_ms", "LLM_P95", QDUR_LLM, 95),
    DURATION("tool_call_p50_ms", "TOOL_P50", QDUR_TOOL, 50),
    DURATION("tool_call_p95_ms", "TOOL_P95", QDUR_TOOL, 95),
    COUNT("tool_calls_blocked", "BLOCKED", tool_calls_blocked),
    COUNT("tool_calls_error", "TOOL_ERR", tool_calls_error),
    COUNT("redactions", "REDACT", redactions),
    RATE("dri_coverage", "DRI_COV", dri_events, events),
    RATE("outcome_coverage", "OUT_COV", outcome_traces, traces),
};
const size_t qsf_nfields = sizeof qsf_fields / sizeof qsf_fields[0];

int qsf_lookup(const char *name, size_t len)
{
    for (size_t i = 0; i < qsf_nfields; i++) {
        const qstats_field *f = &qsf_fields[i];
        if ((strlen(f->key) == len && strncmp(f->key, name, len) == 0) ||
            (strlen(f->header) == len && strncasecmp(f->header, name, len) == 0))
            return (int)i;
    }
    return -1;
}

static uint64_t u64_at(const qstats_group *g, size_t off)
{
    uint64_t v;
    memcpy(&v, (const char *)g + off, sizeof v);
    return v;
}

/* The cost is unknown when calls are unpriced and no event states a price. */
static int cost_unknown(const qstats_group *g)
{
    return g->unpriced_calls > 0 && g->priced_events == 0;
}

/* A field's value as a number for ordering: 0 and *v, or -1 when it is null. */
static int field_number(const qstats_field *fd, const qstats_group *g, double *v)
{
    uint64_t ns, den;
    switch (fd->type) {
    case QSF_COUNT:
        *v = (double)u64_at(g, fd->num);
        return 0;
    case QSF_RATE:
        den = u64_at(g, fd->den);
        if (!den) return -1;
        *v = (double)u64_at(g, fd->num) / (double)den;
        return 0;
    case QSF_COST:
        if (cost_unknown(g)) return -1;
        *v = (double)g->cost_usd_micros;
        return 0;
    case QSF_DURATION:
        if (qstats_percentile(g, fd->dur_kind, fd->pct, &ns) != 0) return -1;
        *v = (double)ns;
        return 0;
    default:
        return -1;
    }
}

/* ---- jsonl ----------------------------------------------------------------------------- */

static void json_string(FILE *f, const char *s)
{
    if (!s) {
        fputs("null", f);
        return;
    }
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

/* The shortest decimal that reads back as the same double. */
static void json_fraction(FILE *f, uint64_t num, uint64_t den)
{
    if (den == 0) {
        fputs("null", f);
        return;
    }
    double x = (double)num / (double)den;
    char buf[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, x);
        if (strtod(buf, NULL) == x) break;
    }
    fputs(buf, f);
}

/* An exact decimal of n / 10^digits, trailing zeros trimmed ("1250", "1250.5"). */
static void decimal_text(uint64_t n, unsigned digits, char *buf, size_t len)
{
    uint64_t div = 1;
    for (unsigned i = 0; i < digits; i++)
        div *= 10;
    uint64_t frac = n % div;
    int w = snprintf(buf, len, "%" PRIu64, n / div);
    if (!frac || w < 0 || (size_t)w >= len) return;
    char f[32];
    snprintf(f, sizeof f, "%0*" PRIu64, (int)digits, frac);
    size_t fl = strlen(f);
    while (fl > 0 && f[fl - 1] == '0')
        f[--fl] = 0;
    snprintf(buf + w, len - (size_t)w, ".%s", f);
}

static void json_field(FILE *f, const qstats_field *fd, const qstats_group *g)
{
    char buf[48];
    uint64_t ns;
    switch (fd->type) {
    case QSF_GROUP:
        json_string(f, g->key);
        break;
    case QSF_ROW:
        fputs(g->is_links ? "\"incident_links\"" : "\"group\"", f);
        break;
    case QSF_COUNT:
        fprintf(f, "%" PRIu64, u64_at(g, fd->num));
        break;
    case QSF_RATE:
        json_fraction(f, u64_at(g, fd->num), u64_at(g, fd->den));
        break;
    case QSF_COST:
        decimal_text(g->cost_usd_micros, 6, buf, sizeof buf);
        fputs(cost_unknown(g) ? "null" : buf, f);
        break;
    case QSF_DURATION:
        if (qstats_percentile(g, fd->dur_kind, fd->pct, &ns) != 0) {
            fputs("null", f);
            break;
        }
        decimal_text(ns, 6, buf, sizeof buf);
        fputs(buf, f);
        break;
    case QSF_KINDS:
        for (int k = 1; k < QSTATS_KINDS; k++)
            fprintf(f, "%s\"%s\":%" PRIu64, k > 1 ? "," : "{", tp_kind_name(k), g->by_kind[k]);
        fputc('}', f);
        break;
    case QSF_DECISIONS:
        for (int d = 1; d < QSTATS_DECISIONS; d++)
            fprintf(f, "%s\"%s\":%" PRIu64, d > 1 ? "," : "{", tp_decision_name(d), g->outcomes[d]);
        fputc('}', f);
        break;
    }
}

void qsf_print_json(FILE *f, const qstats_group *g)
{
    int first = 1;
    for (size_t i = 0; i < qsf_nfields; i++) {
        const qstats_field *fd = &qsf_fields[i];
        if (!fd->in_json) continue;
        fprintf(f, "%s\"%s\":", first ? "{" : ",", fd->key);
        json_field(f, fd, g);
        first = 0;
    }
    fputs("}\n", f);
}

void qsf_exact(const qstats_field *fd, const qstats_group *g, char *buf, size_t len)
{
    buf[0] = 0;
    if (fd->type == QSF_GROUP || fd->type == QSF_KINDS || fd->type == QSF_DECISIONS) return;
    FILE *m = fmemopen(buf, len, "w");
    if (!m) return;
    json_field(m, fd, g);
    fclose(m);
    if (strcmp(buf, "null") == 0) buf[0] = 0;
}

/* ---- table text ------------------------------------------------------------------------ */

/* The cost for people: "$76.44" from $1 (cents), three significant digits below ("$0.558",
 * "$0.0174"; at most 6 decimals), rounded half up; "+" when LLM calls are unpriced (the sum
 * is then a lower bound); "unknown" when no price is known; "-" when nothing is priced. */
static void cost_text(const qstats_group *g, char *buf, size_t len)
{
    if (cost_unknown(g)) {
        snprintf(buf, len, "unknown");
        return;
    }
    if (g->priced_events == 0) {
        snprintf(buf, len, "-");
        return;
    }
    char num[40];
    uint64_t m = g->cost_usd_micros;
    if (m >= 999500u) { /* rounds to at least $1.00 */
        uint64_t cents = m / 10000u + (m % 10000u >= 5000u);
        snprintf(num, sizeof num, "%" PRIu64 ".%02" PRIu64, cents / 100u, cents % 100u);
    } else if (m == 0) {
        snprintf(num, sizeof num, "0");
    } else {
        int dec = m >= 100000u ? 3 : m >= 10000u ? 4 : m >= 1000u ? 5 : 6;
        uint64_t unit = 1;
        for (int i = dec; i < 6; i++)
            unit *= 10;
        snprintf(num, sizeof num, "0.%0*" PRIu64, dec, (m + unit / 2) / unit);
    }
    snprintf(buf, len, "$%s%s", num, g->unpriced_calls ? "+" : "");
}

void qsf_cell(const qstats_field *fd, const qstats_group *g, char *buf, size_t len)
{
    double v;
    switch (fd->type) {
    case QSF_GROUP:
        snprintf(buf, len, "%s", g->is_links ? "(incident links)" : g->key ? g->key : "(none)");
        break;
    case QSF_COUNT:
        snprintf(buf, len, "%" PRIu64, u64_at(g, fd->num));
        break;
    case QSF_RATE:
        if (field_number(fd, g, &v) != 0)
            snprintf(buf, len, "-");
        else
            snprintf(buf, len, "%.1f%%", 100.0 * v);
        break;
    case QSF_COST:
        cost_text(g, buf, len);
        break;
    case QSF_DURATION:
        if (field_number(fd, g, &v) != 0)
            snprintf(buf, len, "-");
        else
            qdesc_duration((uint64_t)v, buf, len);
        break;
    default:
        snprintf(buf, len, "-");
        break;
    }
}

/* ---- order ----------------------------------------------------------------------------- */

typedef struct sort_row {
    const qstats_group *g;
    size_t name_rank; /* position in group-name order: the tie-break */
    int null;
    double v;
    int desc;
} sort_row;

static int cmp_sort_row(const void *a, const void *b)
{
    const sort_row *x = a, *y = b;
    if (x->null != y->null) return x->null - y->null;
    if (!x->null && x->v != y->v) return (x->v < y->v ? -1 : 1) * (x->desc ? -1 : 1);
    return x->name_rank < y->name_rank ? -1 : x->name_rank > y->name_rank;
}

int qsf_sort(const qstats_group **rows, size_t n, int field, int desc)
{
    if (n < 2) return 0;
    sort_row *s = calloc(n, sizeof *s);
    if (!s) return -1;
    const qstats_field *fd = &qsf_fields[field];
    for (size_t i = 0; i < n; i++) {
        s[i].g = rows[i];
        s[i].desc = desc;
        /* The rows come in group-name order: their index is the name's rank, so sorting by
         * group is sorting by that rank (descending: reversed, the keyless group first). */
        s[i].name_rank = i;
        if (fd->type == QSF_GROUP)
            s[i].v = (double)i;
        else
            s[i].null = field_number(fd, rows[i], &s[i].v) != 0;
    }
    qsort(s, n, sizeof *s, cmp_sort_row);
    for (size_t i = 0; i < n; i++)
        rows[i] = s[i].g;
    free(s);
    return 0;
}
