/*
 * stats.c - `trace-query stats`: the scorecard of workflows (or DRIs, models, services,
 * tools, sources) over the same filters as find.
 *
 * Responsibility: runs the store query, feeds every event to stats_calc, prints one JSON
 * object per group (the keys the docs promise, in that order) or a table; the table becomes
 * one block per group when its columns would not fit the terminal. Group names are stored
 * text: the table (table.c) and the blocks (tp_term_printf) print them cleaned.
 * Owns: the store handle, the iterator and the accumulator for the duration of the command.
 * Invariants: rates are fractions in 0..1, or null when their denominator is 0; token and
 * cost sums are exact (integers; cost printed from micro-USD with 6 decimals).
 * Threading: single-threaded.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "describe.h"
#include "reader.h"
#include "stats_calc.h"
#include "table.h"
#include "text_term.h"

static const qopt stats_opts[] = {
    {"by", "DIM", QOPT_BY, "group by workflow (default), dri, model, service, tool or source"},
    QOPT_FILTERS,
    {"format", "FMT", QOPT_FORMAT, "table (default on a terminal) or jsonl (default otherwise)"},
    {"help", NULL, QOPT_HELP, "this help"},
    {NULL, NULL, 0, NULL},
};

static const char stats_help[] =
    "usage: trace-query [--store DIR] stats [--by DIM] [FILTERS] [--format table|jsonl]\n"
    "\n"
    "The scorecard per group of the events matching the filters: events and traces; counts\n"
    "per kind; outcomes and acceptance/edit/rejection/escalation rates (over outcome events);\n"
    "input, output and cached tokens, cost in USD, cache hit rate (cached/input tokens);\n"
    "p50 and p95 duration of prompt and tool_call events (nearest rank); tool calls blocked\n"
    "and errored; redactions; outcome coverage (traces that reached an outcome) and DRI\n"
    "coverage (traces with an outcome whose DRI is set), both over the group's traces.\n"
    "Events without the grouping field (e.g. no tool with --by tool) form the group null\n"
    "(shown as '(none)'). Rates are fractions 0..1 in jsonl, percentages in the table, and\n"
    "null / '-' when undefined.\n"
    "\n"
    "jsonl: one object per group with exactly these keys, in this order: group, events, traces,\n"
    "by_kind{prompt,retrieval,tool_call,diff,outcome,approval,incident_link,note},\n"
    "outcomes{accepted,edited,rejected,escalated}, acceptance_rate, edit_rate, rejection_rate,\n"
    "escalation_rate, input_tokens, output_tokens, cached_tokens, cost_usd, cache_hit_rate,\n"
    "p50_duration_ms, p95_duration_ms, tool_calls_blocked, tool_calls_error, redactions,\n"
    "dri_coverage, outcome_coverage.\n"
    "\n"
    "examples:\n"
    "  trace-query stats                                   (every workflow, all time)\n"
    "  trace-query stats --by workflow --since 7d\n"
    "  trace-query stats --by model --workflow tau2-airline --format jsonl | jq .cost_usd\n"
    "  trace-query stats --by dri --incident INC-2041\n"
    "  trace-query stats --by tool --since 2024-06-01T00:00:00Z --until 2024-06-02T00:00:00Z\n";

/* ---- JSON output ----------------------------------------------------------------------- */

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
static void json_decimal(FILE *f, uint64_t n, unsigned digits)
{
    uint64_t div = 1;
    for (unsigned i = 0; i < digits; i++)
        div *= 10;
    uint64_t frac = n % div;
    fprintf(f, "%" PRIu64, n / div);
    if (!frac) return;
    char buf[32];
    snprintf(buf, sizeof buf, "%0*" PRIu64, (int)digits, frac);
    size_t len = strlen(buf);
    while (len > 0 && buf[len - 1] == '0')
        buf[--len] = 0;
    fprintf(f, ".%s", buf);
}

static void json_percentile_ms(FILE *f, const qstats_group *g, unsigned p)
{
    uint64_t ns;
    if (qstats_percentile(g, p, &ns) != 0)
        fputs("null", f);
    else
        json_decimal(f, ns, 6);
}

static uint64_t outcome_total(const qstats_group *g)
{
    uint64_t n = 0;
    for (int d = 1; d < QSTATS_DECISIONS; d++)
        n += g->outcomes[d];
    return n;
}

static void print_group_json(FILE *f, const qstats_group *g)
{
    fputs("{\"group\":", f);
    json_string(f, g->key);
    fprintf(f, ",\"events\":%" PRIu64 ",\"traces\":%" PRIu64 ",\"by_kind\":{", g->events,
            g->traces);
    for (int k = 1; k < QSTATS_KINDS; k++)
        fprintf(f, "%s\"%s\":%" PRIu64, k > 1 ? "," : "", tp_kind_name(k), g->by_kind[k]);
    fputs("},\"outcomes\":{", f);
    for (int d = 1; d < QSTATS_DECISIONS; d++)
        fprintf(f, "%s\"%s\":%" PRIu64, d > 1 ? "," : "", tp_decision_name(d), g->outcomes[d]);
    fputc('}', f);
    uint64_t no = outcome_total(g);
    static const char *const rate_keys[] = {NULL, "acceptance_rate", "edit_rate", "rejection_rate",
                                            "escalation_rate"};
    for (int d = 1; d < QSTATS_DECISIONS; d++) {
        fprintf(f, ",\"%s\":", rate_keys[d]);
        json_fraction(f, g->outcomes[d], no);
    }
    fprintf(f,
            ",\"input_tokens\":%" PRIu64 ",\"output_tokens\":%" PRIu64 ",\"cached_tokens\":%" PRIu64
            ",\"cost_usd\":",
            g->input_tokens, g->output_tokens, g->cached_tokens);
    json_decimal(f, g->cost_usd_micros, 6);
    fputs(",\"cache_hit_rate\":", f);
    json_fraction(f, g->cached_tokens, g->input_tokens);
    fputs(",\"p50_duration_ms\":", f);
    json_percentile_ms(f, g, 50);
    fputs(",\"p95_duration_ms\":", f);
    json_percentile_ms(f, g, 95);
    fprintf(f,
            ",\"tool_calls_blocked\":%" PRIu64 ",\"tool_calls_error\":%" PRIu64
            ",\"redactions\":%" PRIu64 ",\"dri_coverage\":",
            g->tool_calls_blocked, g->tool_calls_error, g->redactions);
    json_fraction(f, g->dri_traces, g->traces);
    fputs(",\"outcome_coverage\":", f);
    json_fraction(f, g->outcome_traces, g->traces);
    fputs("}\n", f);
}

/* ---- table output ---------------------------------------------------------------------- */

static void pct(uint64_t num, uint64_t den, char *buf, size_t len)
{
    if (!den)
        snprintf(buf, len, "-");
    else
        snprintf(buf, len, "%.1f%%", 100.0 * (double)num / (double)den);
}

static void pctl(const qstats_group *g, unsigned p, char *buf, size_t len)
{
    uint64_t ns;
    if (qstats_percentile(g, p, &ns) != 0)
        snprintf(buf, len, "-");
    else
        qdesc_duration(ns, buf, len);
}

enum {
    C_GROUP,
    C_EVENTS,
    C_TRACES,
    C_OUTCOMES,
    C_ACCEPT,
    C_EDIT,
    C_REJECT,
    C_ESCAL,
    C_IN,
    C_OUT,
    C_CACHE,
    C_COST,
    C_P50,
    C_P95,
    C_BLOCKED,
    C_ERRORS,
    C_REDACT,
    C_OUTCOV,
    C_DRICOV,
    C_COUNT
};

static const char *const stats_headers[C_COUNT] = {
    "GROUP",   "EVENTS", "TRACES",  "OUTCOMES", "ACCEPT", "EDIT", "REJECT",
    "ESCAL",   "TOK_IN", "TOK_OUT", "CACHE",    "COST",   "P50",  "P95",
    "BLOCKED", "ERRORS", "REDACT",  "OUT_COV",  "DRI_COV"};

typedef struct row_text {
    char c[C_COUNT][48];
} row_text;

static void group_cells(const qstats_group *g, row_text *r)
{
    uint64_t no = outcome_total(g);
    snprintf(r->c[C_GROUP], 48, "%s", g->key ? g->key : "(none)");
    snprintf(r->c[C_EVENTS], 48, "%" PRIu64, g->events);
    snprintf(r->c[C_TRACES], 48, "%" PRIu64, g->traces);
    snprintf(r->c[C_OUTCOMES], 48, "%" PRIu64, no);
    pct(g->outcomes[AGENTTRAIL__V1__DECISION__ACCEPTED], no, r->c[C_ACCEPT], 48);
    pct(g->outcomes[AGENTTRAIL__V1__DECISION__EDITED], no, r->c[C_EDIT], 48);
    pct(g->outcomes[AGENTTRAIL__V1__DECISION__REJECTED], no, r->c[C_REJECT], 48);
    pct(g->outcomes[AGENTTRAIL__V1__DECISION__ESCALATED], no, r->c[C_ESCAL], 48);
    snprintf(r->c[C_IN], 48, "%" PRIu64, g->input_tokens);
    snprintf(r->c[C_OUT], 48, "%" PRIu64, g->output_tokens);
    pct(g->cached_tokens, g->input_tokens, r->c[C_CACHE], 48);
    qdesc_cost(g->cost_usd_micros, r->c[C_COST], 48);
    pctl(g, 50, r->c[C_P50], 48);
    pctl(g, 95, r->c[C_P95], 48);
    snprintf(r->c[C_BLOCKED], 48, "%" PRIu64, g->tool_calls_blocked);
    snprintf(r->c[C_ERRORS], 48, "%" PRIu64, g->tool_calls_error);
    snprintf(r->c[C_REDACT], 48, "%" PRIu64, g->redactions);
    pct(g->outcome_traces, g->traces, r->c[C_OUTCOV], 48);
    pct(g->dri_traces, g->traces, r->c[C_DRICOV], 48);
}

/* One block per group, for terminals too narrow for the wide table. */
static void print_group_block(FILE *f, const char *by, const qstats_group *g)
{
    row_text r;
    group_cells(g, &r);
    tp_term_printf(f, "%s %s", by, g->key ? g->key : "(none)"); /* the whole name, cleaned */
    fprintf(f, "  events %s, traces %s:", r.c[C_EVENTS], r.c[C_TRACES]);
    for (int k = 1; k < QSTATS_KINDS; k++)
        if (g->by_kind[k]) fprintf(f, " %s %" PRIu64, tp_kind_name(k), g->by_kind[k]);
    fprintf(f, "\n  outcomes %s: accepted %s, edited %s, rejected %s, escalated %s\n",
            r.c[C_OUTCOMES], r.c[C_ACCEPT], r.c[C_EDIT], r.c[C_REJECT], r.c[C_ESCAL]);
    fprintf(f, "  tokens in %s (%" PRIu64 " cached, hit %s), out %s; cost %s\n", r.c[C_IN],
            g->cached_tokens, r.c[C_CACHE], r.c[C_OUT], r.c[C_COST]);
    fprintf(f, "  duration of prompts and tool calls: p50 %s, p95 %s\n", r.c[C_P50], r.c[C_P95]);
    fprintf(f, "  tool calls blocked %s, errored %s; redactions %s\n", r.c[C_BLOCKED],
            r.c[C_ERRORS], r.c[C_REDACT]);
    fprintf(f, "  coverage: outcome %s of traces, DRI %s\n", r.c[C_OUTCOV], r.c[C_DRICOV]);
}

static int print_table(const qctx *ctx, const char *by, const qstats *st)
{
    static const int flags[C_COUNT] = {QCOL_FLEX,  QCOL_RIGHT, QCOL_RIGHT, QCOL_RIGHT, QCOL_RIGHT,
                                       QCOL_RIGHT, QCOL_RIGHT, QCOL_RIGHT, QCOL_RIGHT, QCOL_RIGHT,
                                       QCOL_RIGHT, QCOL_RIGHT, QCOL_RIGHT, QCOL_RIGHT, QCOL_RIGHT,
                                       QCOL_RIGHT, QCOL_RIGHT, QCOL_RIGHT, QCOL_RIGHT};
    size_t n = qstats_ngroups(st);
    if (n == 0) {
        fprintf(ctx->out, "-- no events match\n");
        return 0;
    }
    qtable *t = qtable_new(C_COUNT, stats_headers, flags);
    if (!t) return -1;
    row_text r;
    const char *cells[C_COUNT];
    for (size_t i = 0; i < n; i++) {
        group_cells(qstats_group_at(st, i), &r);
        for (int c = 0; c < C_COUNT; c++)
            cells[c] = r.c[c];
        /* The whole group name (r.c holds at most 47 bytes); the table cleans and fits it. */
        const qstats_group *g = qstats_group_at(st, i);
        cells[C_GROUP] = g->key ? g->key : "(none)";
        if (qtable_add(t, cells) != 0) {
            qtable_destroy(&t);
            return -1;
        }
    }
    /* Too wide even with group names cut to 16: one block per group instead. */
    size_t natural = qtable_natural_width(t);
    size_t longest = 0;
    for (size_t i = 0; i < n; i++) {
        const qstats_group *g = qstats_group_at(st, i);
        size_t w = qtext_width(g->key ? g->key : "(none)");
        if (w > longest) longest = w;
    }
    size_t squeezed = natural - (longest > 16 ? longest - 16 : 0);
    if (ctx->term_width > 0 && squeezed > (size_t)ctx->term_width) {
        for (size_t i = 0; i < n; i++) {
            if (i) fputc('\n', ctx->out);
            print_group_block(ctx->out, by, qstats_group_at(st, i));
        }
    } else {
        qtable_print(t, ctx->out, ctx->term_width);
    }
    qtable_destroy(&t);
    return 0;
}

static int stats_run(const qctx *ctx, int argc, char **argv)
{
    qargs a;
    int rc = qargs_parse(ctx, &qcmd_stats, argc, argv, tp_now_unix_nano(), &a);
    if (rc != 0 || a.help) {
        if (rc == 0) qcmd_print_help(ctx, &qcmd_stats, ctx->out);
        qargs_free(&a);
        return rc;
    }
    int by = a.by ? qstats_by_parse(a.by) : QBY_WORKFLOW;
    if (by < 0 || a.nrest > 0 || a.ntraces > 1) {
        if (by < 0)
            qerr(ctx, "stats", "--by '%s': expected workflow, dri, model, service, tool or source",
                 a.by);
        else if (a.nrest > 0)
            qerr(ctx, "stats", "unexpected argument '%s' (see trace-query stats --help)",
                 a.rest[0]);
        else
            qerr(ctx, "stats", "give --trace once");
        qargs_free(&a);
        return QEXIT_USAGE;
    }
    int fmt = qfmt_effective(ctx, a.format);
    ts_store *s = NULL;
    rc = qctx_open_store(ctx, &s);
    if (rc != 0) {
        qargs_free(&a);
        return rc;
    }
    qstats *st = qstats_new(by);
    qreader *rd = qreader_new();
    ts_iter *it = NULL;
    int trc = st && rd ? ts_query(s, &a.filter, NULL, &it) : TS_ENOMEM;
    while (trc == 0) {
        const tp_event *ev = NULL;
        trc = qreader_next(rd, it, &ev);
        if (trc != 0) break;
        if (qstats_add(st, ev) != 0) trc = TS_ENOMEM;
    }
    if (trc != TS_EEND) {
        qerr(ctx, "stats", "reading %s failed: %s (%s)", ctx->store_dir, ts_strerror(trc),
             ts_last_error(s));
        rc = QEXIT_STORE;
    } else if (qstats_finish(st) != 0) {
        qerr(ctx, "stats", "out of memory");
        rc = QEXIT_STORE;
    } else if (fmt == QFMT_JSONL) {
        for (size_t i = 0; i < qstats_ngroups(st); i++)
            print_group_json(ctx->out, qstats_group_at(st, i));
    } else if (print_table(ctx, qstats_by_name(by), st) != 0) {
        qerr(ctx, "stats", "out of memory");
        rc = QEXIT_STORE;
    }
    if (fflush(ctx->out) != 0 && rc == 0) {
        qerr(ctx, "stats", "cannot write the output (output closed or disk full)");
        rc = QEXIT_STORE;
    }
    ts_iter_destroy(&it);
    qreader_destroy(&rd);
    qstats_destroy(&st);
    ts_close(&s);
    qargs_free(&a);
    return rc;
}

const qcmd qcmd_stats = {
    .name = "stats",
    .run = stats_run,
    .summary = "the scorecard per workflow, DRI, model, service, tool or source",
    .help = stats_help,
    .opts = stats_opts,
};
