/*
 * stats.c - `trace-query stats`: the scorecard of workflows (or DRIs, models, services,
 * tools, sources) over the same filters as find.
 *
 * Responsibility: parses stats' own options (--sort, --top, --columns), runs the store query,
 * feeds every event to stats_calc, orders and cuts the groups, and prints one JSON object per
 * row (stats_fields.c: the keys the docs promise, in that order) or a table: by default a
 * compact set of columns per --by, one line per group, that fits 80 columns; with --columns
 * all every figure, as one block per group when that table would not fit the terminal.
 * The row of incident_link events comes after the groups, outside --sort and --top. Group
 * names are stored text: the table (table.c) and the blocks (tp_term_printf) print them
 * cleaned.
 * Owns: the store handle, the iterator and the accumulator for the duration of the command.
 * Invariants: rates are fractions in 0..1, or null when their denominator is 0; token and
 * cost sums are exact in jsonl (integers; cost from micro-USD, 6 decimals at most).
 * Threading: single-threaded.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "html_page.h"
#include "html_stats.h"
#include "reader.h"
#include "stats_calc.h"
#include "stats_fields.h"
#include "table.h"
#include "text_term.h"

/* The options only stats takes (qargs.own[]). */
enum { OWN_SORT = 0, OWN_TOP, OWN_COLUMNS };

static const at_opt stats_opts[] = {
    QO_STR("by", "DIM", by, "group by workflow (default), dri, model, service, tool or source"),
    QOPT_FILTERS,
    QOPT_MATCH_FILTERS,
    QO_STR("sort", "FIELD[:DIR]", own[OWN_SORT],
           "order groups by a column (numbers largest first; :asc or :desc)"),
    QO_STR("top", "N", own[OWN_TOP], "only the first N groups (after --sort)"),
    QO_STR("columns", "LIST", own[OWN_COLUMNS],
           "table columns, comma-separated (see below), or all (every figure)"),
    QO_FORMAT("table (default on a terminal) or jsonl (default otherwise)"),
    QO_HTML("the scorecard"),
    QO_HELP,
    QO_END,
};

static const char stats_help[] =
    "usage: trace-query [--store DIR] stats [--by DIM] [FILTERS]\n"
    "                   [--sort FIELD[:asc|:desc]] [--top N] [--columns LIST|all]\n"
    "                   [--format table|jsonl]\n"
    "\n"
    "The scorecard per group of the events matching the filters: events and traces;\n"
    "counts per kind; outcomes and acceptance/edit/rejection/escalation rates (over\n"
    "outcome events); input, output and cached tokens, cost in USD and LLM calls\n"
    "without a price (unpriced), cache hit rate (cached/input tokens); p50 and p95\n"
    "duration of LLM calls (prompt events) and of tool calls, each kind apart\n"
    "(nearest rank); tool calls blocked and errored; redactions; outcome coverage\n"
    "(traces that reached an outcome / traces) and DRI coverage (events with a DRI /\n"
    "events). Events without the grouping field (e.g. no tool with --by tool) form\n"
    "the group null ('(none)'). incident_link events are no group's work: they form\n"
    "one row of their own, '(incident links)' (jsonl: \"row\":\"incident_links\"), whose\n"
    "traces are the traces they link, printed after the groups.\n"
    "\n"
    "The table shows a compact set of columns per --by, one line per group, that fits\n"
    "80 columns; --columns picks others (names are the jsonl keys or the table\n"
    "headers):\n"
    "  events traces llm_calls tool_calls outcome_events acceptance_rate edit_rate\n"
    "  rejection_rate escalation_rate input_tokens output_tokens cached_tokens\n"
    "  cost_usd unpriced_calls cache_hit_rate llm_call_p50_ms llm_call_p95_ms\n"
    "  tool_call_p50_ms tool_call_p95_ms tool_calls_blocked tool_calls_error\n"
    "  redactions dri_coverage outcome_coverage\n"
    "--columns all shows every figure (one block per group when it cannot fit). A\n"
    "cost ending in '+' is a lower bound (some LLM calls are unpriced); 'unknown'\n"
    "when none is priced. Rates are fractions 0..1 in jsonl, percentages in the\n"
    "table; null / '-' when undefined.\n"
    "\n"
    "jsonl: one object per row with exactly these keys, in this order: group, row,\n"
    "events, traces,\n"
    "by_kind{prompt,retrieval,tool_call,diff,outcome,approval,incident_link,note},\n"
    "outcomes{accepted,edited,rejected,escalated}, acceptance_rate, edit_rate,\n"
    "rejection_rate, escalation_rate, input_tokens, output_tokens, cached_tokens,\n"
    "cost_usd, unpriced_calls, cache_hit_rate, llm_call_p50_ms, llm_call_p95_ms,\n"
    "tool_call_p50_ms, tool_call_p95_ms, tool_calls_blocked, tool_calls_error,\n"
    "redactions, dri_coverage, outcome_coverage.\n"
    "\n"
    "examples:\n"
    "  trace-query stats                                   (every workflow, all time)\n"
    "  trace-query stats --by workflow --since 7d --sort rejection_rate --top 10\n"
    "  trace-query stats --by model --workflow tau2-airline --format jsonl \\\n"
    "    | jq .cost_usd\n"
    "  trace-query stats --by dri --incident INC-2041\n"
    "  trace-query stats --by tool --sort tool_calls_error \\\n"
    "    --columns tool_calls,tool_calls_error\n"
    "  trace-query stats --columns all --since 2024-06-01T00:00:00Z \\\n"
    "    --until 2024-06-02T00:00:00Z\n";

/* ---- the command's own options ---------------------------------------------------------- */

/* Which figures the table shows and in which order the rows come. */
typedef struct stats_view {
    int cols[64]; /* indexes into qsf_fields, GROUP first */
    int ncols;
    int core; /* the default set: columns from this index on may be left out (0: none) */
    int all;  /* --columns all: every figure, as blocks when the table cannot fit */
    int sort; /* field index, -1: by group name */
    int desc;
    uint64_t top; /* 0: every group */
} stats_view;

/* The compact default columns per dimension (fit 80 columns with names up to 16; the
 * columns after the first `core` are left out, rightmost first, on narrower terminals). */
typedef struct default_columns {
    const char *names[10];
    int core;
} default_columns;

static const default_columns defaults[QBY_COUNT] = {
    [QBY_WORKFLOW] = {{"group", "traces", "outcome_coverage", "acceptance_rate", "rejection_rate",
                       "tool_calls_error", "cost_usd", "llm_call_p95_ms", "tool_call_p95_ms"},
                      8},
    [QBY_DRI] = {{"group", "traces", "outcome_coverage", "acceptance_rate", "rejection_rate",
                  "tool_calls_error", "cost_usd", "llm_call_p95_ms", "tool_call_p95_ms"},
                 8},
    [QBY_MODEL] = {{"group", "llm_calls", "input_tokens", "output_tokens", "cost_usd",
                    "unpriced_calls", "llm_call_p50_ms", "llm_call_p95_ms"},
                   6},
    [QBY_SERVICE] = {{"group", "traces", "llm_calls", "tool_calls", "tool_calls_error", "cost_usd",
                      "llm_call_p50_ms", "tool_call_p50_ms"},
                     6},
    [QBY_TOOL] = {{"group", "tool_calls", "traces", "tool_calls_error", "tool_calls_blocked",
                   "tool_call_p50_ms", "tool_call_p95_ms"},
                  6},
    [QBY_SOURCE] = {{"group", "events", "traces", "llm_calls", "tool_calls", "cost_usd",
                     "redactions"},
                    5},
};

static int field_index(const char *name)
{
    return qsf_lookup(name, strlen(name));
}

/* The names --columns and --sort take, for error messages. */
static void field_names(char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = 0;
    for (size_t i = 0; i < qsf_nfields && off < len; i++) {
        if (!qsf_fields[i].in_table) continue;
        int w = snprintf(buf + off, len - off, "%s%s", off ? ", " : "", qsf_fields[i].key);
        if (w < 0) break;
        off += (size_t)w;
    }
}

static int view_add(stats_view *v, int field)
{
    for (int i = 0; i < v->ncols; i++)
        if (v->cols[i] == field) return 0; /* named twice: shown once */
    if (v->ncols >= (int)(sizeof v->cols / sizeof v->cols[0])) return -1;
    v->cols[v->ncols++] = field;
    return 0;
}

/* --columns LIST|all, or the dimension's default set. */
static int parse_columns(const qctx *ctx, const char *spec, int by, stats_view *v)
{
    view_add(v, field_index("group")); /* a row without its name says nothing */
    if (!spec) {
        for (int i = 1; i < 10 && defaults[by].names[i]; i++)
            view_add(v, field_index(defaults[by].names[i]));
        v->core = defaults[by].core;
        return 0;
    }
    if (strcmp(spec, "all") == 0) {
        for (size_t i = 1; i < qsf_nfields; i++)
            if (qsf_fields[i].in_table) view_add(v, (int)i);
        v->all = 1;
        return 0;
    }
    for (const char *p = spec; *p;) {
        size_t len = strcspn(p, ",");
        int f = qsf_lookup(p, len);
        if (f < 0 || !qsf_fields[f].in_table) {
            char names[1024];
            field_names(names, sizeof names);
            qerr(ctx, "stats", "--columns: unknown column '%.*s'; columns are: %s, or all",
                 (int)len, p, names);
            return QEXIT_USAGE;
        }
        view_add(v, f);
        p += len;
        if (*p == ',') p++;
    }
    return 0;
}

/* --sort FIELD[:asc|:desc]: numbers sort descending unless :asc, the group name ascending. */
static int parse_sort(const qctx *ctx, const char *spec, stats_view *v)
{
    v->sort = -1;
    if (!spec) return 0;
    const char *colon = strchr(spec, ':');
    size_t len = colon ? (size_t)(colon - spec) : strlen(spec);
    int f = qsf_lookup(spec, len);
    if (f < 0 || !qsf_fields[f].in_table) {
        char names[1024];
        field_names(names, sizeof names);
        qerr(ctx, "stats", "--sort '%s': unknown field; fields are: %s (add :asc or :desc)", spec,
             names);
        return QEXIT_USAGE;
    }
    v->sort = f;
    v->desc = qsf_fields[f].type != QSF_GROUP;
    if (colon && strcmp(colon, ":asc") == 0)
        v->desc = 0;
    else if (colon && strcmp(colon, ":desc") == 0)
        v->desc = 1;
    else if (colon) {
        qerr(ctx, "stats", "--sort '%s': the direction is :asc or :desc", spec);
        return QEXIT_USAGE;
    }
    return 0;
}

static int parse_top(const qctx *ctx, const char *spec, stats_view *v)
{
    if (!spec) return 0;
    uint64_t n = 0;
    if (at_parse_u64(spec, strlen(spec), UINT64_MAX, &n) || n == 0) {
        qerr(ctx, "stats", "--top '%s': expected a positive number of groups", spec);
        return QEXIT_USAGE;
    }
    v->top = n;
    return 0;
}

static int parse_view(const qctx *ctx, const qargs *a, int by, stats_view *v)
{
    memset(v, 0, sizeof *v);
    int rc = parse_columns(ctx, a->own[OWN_COLUMNS], by, v);
    if (rc == 0) rc = parse_sort(ctx, a->own[OWN_SORT], v);
    if (rc == 0) rc = parse_top(ctx, a->own[OWN_TOP], v);
    return rc;
}

/* The rows to print: the groups in --sort order, cut to --top, then the links row. NULL when
 * out of memory; *n rows. */
static const qstats_group **view_rows(const stats_view *v, const qstats *st, size_t *n)
{
    size_t ng = qstats_ngroups(st);
    const qstats_group **rows = calloc(ng + 1, sizeof *rows);
    if (!rows) return NULL;
    for (size_t i = 0; i < ng; i++)
        rows[i] = qstats_group_at(st, i);
    if (v->sort >= 0 && qsf_sort(rows, ng, v->sort, v->desc) != 0) {
        free(rows);
        return NULL;
    }
    if (v->top && v->top < ng) ng = (size_t)v->top;
    if (qstats_links(st)) rows[ng++] = qstats_links(st);
    *n = ng;
    return rows;
}

/* ---- table output ---------------------------------------------------------------------- */

static void cell(const qstats_group *g, const char *key, char *buf, size_t len)
{
    qsf_cell(&qsf_fields[field_index(key)], g, buf, len);
}

/* One block per group: every figure, for terminals too narrow for the table of all. */
static void print_group_block(FILE *f, const char *by, const qstats_group *g)
{
    char c[16][48];
    static const char *const keys[16] = {
        "events",          "traces",          "outcome_events",   "acceptance_rate",
        "edit_rate",       "rejection_rate",  "escalation_rate",  "cost_usd",
        "llm_call_p50_ms", "llm_call_p95_ms", "tool_call_p50_ms", "tool_call_p95_ms",
        "cache_hit_rate",  "dri_coverage",    "outcome_coverage", "group"};
    for (int i = 0; i < 16; i++)
        cell(g, keys[i], c[i], sizeof c[i]);
    if (g->is_links)
        fputs(c[15], f);
    else
        tp_term_printf(f, "%s %s", by, g->key ? g->key : c[15]); /* the whole name, cleaned */
    fputc('\n', f);
    fprintf(f, "  events %s, traces %s:", c[0], c[1]);
    for (int k = 1; k < QSTATS_KINDS; k++)
        if (g->by_kind[k]) fprintf(f, " %s %" PRIu64, tp_kind_name(k), g->by_kind[k]);
    fprintf(f, "\n  outcomes %s: accepted %s, edited %s, rejected %s, escalated %s\n", c[2], c[3],
            c[4], c[5], c[6]);
    fprintf(f,
            "  tokens in %" PRIu64 " (%" PRIu64 " cached, hit %s), out %" PRIu64
            "; cost %s, unpriced LLM calls %" PRIu64 "\n",
            g->input_tokens, g->cached_tokens, c[12], g->output_tokens, c[7], g->unpriced_calls);
    fprintf(f, "  LLM calls %" PRIu64 ": p50 %s, p95 %s; tool calls %" PRIu64 ": p50 %s, p95 %s\n",
            g->by_kind[AGENTTRAIL__V1__KIND__PROMPT], c[8], c[9],
            g->by_kind[AGENTTRAIL__V1__KIND__TOOL_CALL], c[10], c[11]);
    fprintf(f, "  tool calls blocked %" PRIu64 ", errored %" PRIu64 "; redactions %" PRIu64 "\n",
            g->tool_calls_blocked, g->tool_calls_error, g->redactions);
    fprintf(f, "  coverage: outcome %s of traces, DRI %s of events\n", c[14], c[13]);
}

static qtable *build_table(const stats_view *v, const qstats_group *const *rows, size_t n)
{
    const char *headers[64];
    int flags[64];
    for (int i = 0; i < v->ncols; i++) {
        headers[i] = qsf_fields[v->cols[i]].header;
        flags[i] = i == 0 ? QCOL_FLEX : QCOL_RIGHT;
        if (v->core && i >= v->core) flags[i] |= QCOL_OPTIONAL;
    }
    qtable *t = qtable_new(v->ncols, headers, flags);
    if (!t) return NULL;
    char text[64][48];
    const char *cells[64];
    for (size_t r = 0; r < n; r++) {
        for (int i = 0; i < v->ncols; i++) {
            qsf_cell(&qsf_fields[v->cols[i]], rows[r], text[i], sizeof text[i]);
            cells[i] = text[i];
        }
        /* The whole group name (text holds at most 47 bytes); the table cleans and fits it. */
        if (!rows[r]->is_links && rows[r]->key) cells[0] = rows[r]->key;
        if (qtable_add(t, cells) != 0) {
            qtable_destroy(&t);
            return NULL;
        }
    }
    return t;
}

/* The table's width with the group names cut to 16 (the first thing the table shrinks). */
static size_t squeezed_width(const qtable *t, const qstats_group *const *rows, size_t n)
{
    size_t longest = 0;
    for (size_t i = 0; i < n; i++) {
        size_t w = rows[i]->key && !rows[i]->is_links ? qtext_width(rows[i]->key) : 16;
        if (w > longest) longest = w;
    }
    return qtable_natural_width(t) - (longest > 16 ? longest - 16 : 0);
}

static int print_table(const qctx *ctx, const char *by, const stats_view *v,
                       const qstats_group *const *rows, size_t n)
{
    if (n == 0) {
        fprintf(ctx->out, "-- no events match\n");
        return 0;
    }
    qtable *t = build_table(v, rows, n);
    if (!t) return -1;
    if (v->all && ctx->term_width > 0 && squeezed_width(t, rows, n) > (size_t)ctx->term_width) {
        for (size_t i = 0; i < n; i++) {
            if (i) fputc('\n', ctx->out);
            print_group_block(ctx->out, by, rows[i]);
        }
    } else {
        qtable_print(t, ctx->out, ctx->term_width);
    }
    qtable_destroy(&t);
    return 0;
}

/* --html -o FILE: the page instead of the table (every figure, unless --columns). */
typedef struct stats_html {
    int on, force, columns_given;
    const char *output; /* points into argv */
} stats_html;

/* Finishes the figures and prints the rows the view selects. 0, -1 when out of memory, or
 * the QEXIT code of writing the HTML page (its message printed). */
static int print_rows(const qctx *ctx, int fmt, const char *by, const stats_view *v, qstats *st,
                      const stats_html *h)
{
    if (qstats_finish(st) != 0) return -1;
    size_t n = 0;
    const qstats_group **rows = view_rows(v, st, &n);
    if (!rows) return -1;
    int rc = 0;
    if (h->on) {
        rc = qhtml_stats(ctx, by, rows, n, h->columns_given ? v->cols : NULL, v->ncols, h->output,
                         h->force);
        free(rows);
        return rc > 0 ? rc : 0; /* its message is printed */
    }
    if (fmt == QFMT_JSONL)
        for (size_t i = 0; i < n; i++)
            qsf_print_json(ctx->out, rows[i]);
    else
        rc = print_table(ctx, by, v, rows, n);
    free(rows);
    return rc;
}

static int stats_run(const qctx *ctx, int argc, char **argv)
{
    qargs a;
    int rc;
    if (qargs_begin(ctx, &qcmd_stats, argc, argv, &a, &rc)) return rc;
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
    stats_view view;
    rc = parse_view(ctx, &a, by, &view);
    if (rc != 0) {
        qargs_free(&a);
        return rc;
    }
    int fmt = qfmt_effective(ctx, a.format);
    stats_html html = {a.html, a.force, a.own[OWN_COLUMNS] != NULL, a.output};
    if (!html.on && (html.output || html.force)) {
        qerr(ctx, "stats", "-o and --force are for --html (see trace-query stats --help)");
        rc = QEXIT_USAGE;
    } else if (html.on && !html.output) {
        qerr(ctx, "stats", "--html needs -o FILE (or -o - for stdout)");
        rc = QEXIT_USAGE;
    } else if (html.on) {
        rc = qhtml_check_output(ctx, "stats", html.output, html.force);
    }
    if (rc != 0) {
        qargs_free(&a);
        return rc;
    }
    ts_store *s = NULL;
    rc = qctx_open_store(ctx, &s);
    if (rc != 0) {
        qargs_free(&a);
        return rc;
    }
    qstats *st = qstats_new(by);
    qreader *rd = qreader_new();
    if (rd) qreader_set_match(rd, &a.match);
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
    } else if ((rc = print_rows(ctx, fmt, qstats_by_name(by), &view, st, &html)) != 0) {
        if (rc < 0) qerr(ctx, "stats", "out of memory");
        rc = QEXIT_STORE;
    }
    rc = qcmd_finish_output(ctx, "stats", "output", rc);
    ts_iter_destroy(&it);
    qreader_destroy(&rd);
    qstats_destroy(&st);
    ts_close(&s);
    qargs_free(&a);
    return rc;
}

QCMD_DEFINE(stats, "the scorecard per workflow, DRI, model, service, tool or source");
