/*
 * show.c - `trace-query show TRACE_ID`: one trace as a tree and waterfall.
 *
 * Responsibility: reads every event of one trace (the trace index), orders them as a tree
 * by parent span (children in time order), and prints one line per event: indentation by
 * depth, kind, a duration bar scaled to the whole trace, what it did (model, tool, paths),
 * tokens, cost and status; then the foot: totals, outcome, DRI, approvals, incidents.
 * Stored text reaches the terminal only cleaned (table cells by table.c, the foot's lines
 * by tp_term_printf).
 * With --format jsonl it writes the trace's events as canonical JSON lines, in time order;
 * the table is the default also when stdout is not a terminal (`show ID | less`).
 * At 80 columns every event stays one line: the WHEN bar narrows to 12 cells, TOKENS then
 * COST are left out, STATUS (tool call status, outcome or approval decision) never is.
 * TRACE_ID may be a unique prefix (ids.h).
 * Output formats are a table of renderers (show_formats). With --html -o FILE it writes the
 * trace as one self-contained HTML page (html_trace.c) instead.
 * Owns: the trace's events (freed before returning).
 * Invariants: every event of the trace is printed exactly once, even when its parent span
 * is missing (it is then a root) or the parents form a cycle (tree.c).
 * Threading: single-threaded.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "atcommon.h"
#include "commands.h"
#include "describe.h"
#include "html_trace.h"
#include "ids.h"
#include "table.h"
#include "text_term.h"
#include "tree.h"

#define SHOW_BAR_WIDTH 24
/* Below this terminal width the bar takes SHOW_BAR_NARROW cells. */
#define SHOW_BAR_NARROW 12
#define SHOW_NARROW_TERM 120

static const at_opt show_opts[] = {
    QO_FORMAT("table (the default, also when piped) or jsonl"),
    QO_HTML("the trace"),
    QO_HELP,
    QO_END,
};

static const char show_help[] =
    "usage: trace-query [--store DIR] show TRACE_ID [--format table|jsonl]\n"
    "\n"
    "Shows one trace as a tree: each line is one event, indented under the event\n"
    "whose span is its parent, with the time since the trace began, its duration, a\n"
    "bar showing when it ran within the trace, the model or tool or paths, tokens\n"
    "(input/output), cost and status. The foot gives the totals, the outcome, the DRI\n"
    "and any approvals. TRACE_ID is 32 hex digits or a unique prefix of at least 4\n"
    "(find prints one in the TRACE column). The table is printed also into a pipe;\n"
    "--format jsonl gives the events, oldest first. --html -o FILE writes the trace\n"
    "as one HTML page that fetches nothing (waterfall, one panel per event, totals);\n"
    "FILE is never a link or device, nor replaced without --force.\n"
    "\n"
    "examples:\n"
    "  trace-query show 4bf92f3577b34da6a3ce929d0e0e4736\n"
    "  trace-query show 4bf92f35 | less\n"
    "  trace-query show 4bf92f35 --format jsonl | jq -c .tool_call\n"
    "  trace-query show 4bf92f35 --html -o trace.html\n"
    "  trace-query find --workflow tau2-airline --outcome rejected --limit 1 \\\n"
    "    --format jsonl \\\n"
    "    | jq -r .trace_id | xargs trace-query show\n";

typedef struct trace_view {
    tp_event **evs; /* time order */
    size_t n, cap;
    uint64_t start, end; /* earliest start, latest end */
    int bar_width;       /* cells of the WHEN bar */
} trace_view;

static void view_free(trace_view *v)
{
    for (size_t i = 0; i < v->n; i++)
        tp_event_destroy(&v->evs[i]);
    free(v->evs);
    v->evs = NULL;
    v->n = v->cap = 0;
}

static int view_add(trace_view *v, tp_event *ev)
{
    if (at_grow((void **)&v->evs, &v->cap, v->n + 1, sizeof *v->evs, 64)) return -1;
    v->evs[v->n++] = ev;
    uint64_t t = ev->time_unix_nano;
    uint64_t e = t + (ev->has_duration_nano ? ev->duration_nano : 0);
    if (v->n == 1 || t < v->start) v->start = t;
    if (v->n == 1 || e > v->end) v->end = e;
    return 0;
}

/* The bar: where the event ran within [start, end], in v->bar_width cells. */
static void bar(const trace_view *v, const tp_event *ev, char *out)
{
    uint64_t span = v->end > v->start ? v->end - v->start : 0;
    const int width = v->bar_width;
    for (int i = 0; i < width; i++)
        out[i] = '.';
    out[width] = 0;
    uint64_t off = ev->time_unix_nano - v->start;
    uint64_t dur = ev->has_duration_nano ? ev->duration_nano : 0;
    int a = span ? (int)((long double)off * width / span) : 0;
    int b = span ? (int)((long double)(off + dur) * width / span + 0.999L) : 1;
    if (a >= width) a = width - 1;
    if (b > width) b = width;
    if (!dur) {
        out[a] = '|';
        return;
    }
    if (b <= a) b = a + 1;
    for (int i = a; i < b; i++)
        out[i] = '#';
}

static int add_line(qtable *t, const trace_view *v, size_t idx, int depth)
{
    const tp_event *ev = v->evs[idx];
    char name[160], off[40], dur[32] = "", b[SHOW_BAR_WIDTH + 1], what[512], tokens[64],
                             cost[32] = "", status[32];
    const char *kind = ev->has_kind ? tp_kind_name(ev->kind) : NULL;
    int indent = depth > 30 ? 30 : depth;
    snprintf(name, sizeof name, "%*s%s", indent * 2, "", kind ? kind : "?");
    char rel[32];
    qdesc_duration(ev->time_unix_nano - v->start, rel, sizeof rel);
    snprintf(off, sizeof off, "+%s", rel);
    if (ev->has_duration_nano) qdesc_duration(ev->duration_nano, dur, sizeof dur);
    bar(v, ev, b);
    qdesc_what(ev, what, sizeof what);
    qdesc_tokens(ev, tokens, sizeof tokens);
    if (ev->usage && ev->usage->has_cost_usd_micros)
        qdesc_cost(ev->usage->cost_usd_micros, cost, sizeof cost);
    qdesc_status(ev, status, sizeof status);
    const char *cells[] = {name, off, dur, b, status, tokens, cost, what};
    return qtable_add(t, cells);
}

/* One line per event, in tree order (tree.c). */
static int add_tree(qtable *t, const trace_view *v)
{
    qtree_line *order = malloc(v->n * sizeof *order);
    int rc = order ? qtree_order((const tp_event *const *)v->evs, v->n, order) : -1;
    for (size_t i = 0; i < v->n && rc == 0; i++)
        rc = add_line(t, v, order[i].index, order[i].depth);
    free(order);
    return rc;
}

/* Adds `s` to a small list of distinct strings (for the foot). */
static void add_distinct(const char **list, size_t *n, size_t max, const char *s)
{
    if (!s) return;
    for (size_t i = 0; i < *n; i++)
        if (strcmp(list[i], s) == 0) return;
    if (*n < max) list[(*n)++] = s;
}

/* "label a, b, c" as one cleaned line (the values are stored text). */
static void print_list(FILE *f, const char *label, const char **list, size_t n)
{
    char *line = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&line, &len);
    if (!m) return;
    fprintf(m, "%s", label);
    for (size_t i = 0; i < n; i++)
        fprintf(m, "%s%s", i ? ", " : " ", list[i]);
    if (n == 0) fprintf(m, " -");
    if (fclose(m) == 0) tp_term_printf(f, "%s", line);
    free(line);
}

static void print_foot(FILE *f, const trace_view *v, const char *trace_hex)
{
    uint64_t in = 0, out = 0, cached = 0, cost = 0, priced = 0, unpriced = 0, redactions = 0;
    const char *wf[8], *dri[8], *svc[8], *inc[8];
    size_t nwf = 0, ndri = 0, nsvc = 0, ninc = 0, noutcome = 0, napproval = 0;
    for (size_t i = 0; i < v->n; i++) {
        const tp_event *ev = v->evs[i];
        if (ev->usage) {
            in += ev->usage->input_tokens;
            out += ev->usage->output_tokens;
            cached += ev->usage->cached_tokens;
            cost += ev->usage->cost_usd_micros;
            priced += ev->usage->has_cost_usd_micros;
        }
        unpriced += (uint64_t)qdesc_unpriced(ev);
        redactions += ev->redactions;
        add_distinct(wf, &nwf, 8, ev->workflow);
        add_distinct(dri, &ndri, 8, ev->dri);
        add_distinct(svc, &nsvc, 8, ev->service);
        add_distinct(inc, &ninc, 8, ev->incident);
    }
    char dur[32], c[96], t0[40];
    qdesc_duration(v->end - v->start, dur, sizeof dur);
    qdesc_cost_sum(cost, priced, unpriced, 0, c, sizeof c);
    if (!c[0]) snprintf(c, sizeof c, "none (no model calls)");
    qdesc_time(v->start, t0, sizeof t0);
    fprintf(f, "\ntrace %s: %zu events from %s UTC over %s\n", trace_hex, v->n, t0, dur);
    fprintf(f,
            "tokens: %" PRIu64 " in (%" PRIu64 " cached), %" PRIu64 " out; cost %s; "
            "redactions %" PRIu64 "\n",
            in, cached, out, c, redactions);
    print_list(f, "workflow:", wf, nwf);
    print_list(f, "service:", svc, nsvc);
    print_list(f, "DRI:", dri, ndri);
    for (size_t i = 0; i < v->n; i++) {
        const tp_event *ev = v->evs[i];
        if (!ev->outcome || !ev->has_kind || ev->kind != AGENTTRAIL__V1__KIND__OUTCOME) continue;
        char when[40];
        qdesc_time(ev->time_unix_nano, when, sizeof when);
        const char *d = ev->outcome->has_decision ? tp_decision_name(ev->outcome->decision) : NULL;
        tp_term_printf(f, "outcome: %s%s%s at %s UTC (DRI %s)", d ? d : "?",
                       ev->outcome->by ? " by " : "", ev->outcome->by ? ev->outcome->by : "", when,
                       ev->dri ? ev->dri : "-");
        noutcome++;
    }
    if (!noutcome) fprintf(f, "outcome: none recorded (the trace has not reached an outcome)\n");
    for (size_t i = 0; i < v->n; i++) {
        const tp_event *ev = v->evs[i];
        if (!ev->approval) continue;
        const Agenttrail__V1__Approval *ap = ev->approval;
        const char *d = ap->has_decision ? tp_approval_decision_name(ap->decision) : NULL;
        tp_term_printf(f, "approval: %s %s by %s%s%s", ap->checkpoint ? ap->checkpoint : "-",
                       d ? d : "?", ap->approver ? ap->approver : "-", ap->reason ? ": " : "",
                       ap->reason ? ap->reason : "");
        napproval++;
    }
    if (!napproval) fprintf(f, "approvals: none\n");
    if (ninc) print_list(f, "incident:", inc, ninc);
}

static int render_jsonl(const qctx *ctx, const trace_view *v, const char *hex)
{
    (void)hex;
    int rc = 0;
    for (size_t i = 0; i < v->n && rc == 0; i++)
        rc = qout_event_json(ctx, "show", v->evs[i]);
    return rc;
}

enum { S_SPAN, S_START, S_DUR, S_WHEN, S_STATUS, S_TOKENS, S_COST, S_WHAT, SCOLS };
static const char *const show_headers[SCOLS] = {"SPAN",   "START",  "DUR",  "WHEN",
                                                "STATUS", "TOKENS", "COST", "WHAT"};
static const int show_flags[SCOLS] = {
    [S_SPAN] = QCOL_FLEX,
    [S_START] = QCOL_RIGHT,
    [S_DUR] = QCOL_RIGHT,
    [S_TOKENS] = QCOL_RIGHT | QCOL_OPTIONAL,
    [S_COST] = QCOL_RIGHT | QCOL_OPTIONAL,
    [S_WHAT] = QCOL_FLEX,
};
/* Left out in this order when a line would not fit: STATUS never is. */
static const int show_drop_order[] = {S_TOKENS, S_COST};
static const qtable_spec show_spec = {
    .ncols = SCOLS,
    .headers = show_headers,
    .flags = show_flags,
    .drop = show_drop_order,
    .ndrop = sizeof show_drop_order / sizeof show_drop_order[0],
};

static int render_table(const qctx *ctx, const trace_view *v, const char *hex)
{
    qtable *t = qtable_new_spec(&show_spec);
    int rc = 0;
    if (!t || add_tree(t, v) != 0) {
        qerr(ctx, "show", "out of memory");
        rc = QEXIT_STORE;
    } else {
        qtable_print(t, ctx->out, ctx->term_width);
        print_foot(ctx->out, v, hex);
    }
    qtable_destroy(&t);
    return rc;
}

/* The output formats of show: one line each. */
typedef int (*show_render_fn)(const qctx *ctx, const trace_view *v, const char *hex);
static const struct {
    int format;
    show_render_fn render;
} show_formats[] = {
    {QFMT_TABLE, render_table},
    {QFMT_JSONL, render_jsonl},
};

/* Reads every event of the trace into *v; a QEXIT code (messages printed). */
static int load_trace(const qctx *ctx, ts_store *s, const uint8_t tid[16], const char *hex,
                      trace_view *v)
{
    ts_filter f = {0};
    f.trace_id = tid;
    ts_iter *it = NULL;
    int trc = ts_query(s, &f, NULL, &it);
    while (trc == 0) {
        tp_event *ev = NULL;
        trc = ts_iter_next(it, &ev);
        if (trc != 0) break;
        if (view_add(v, ev) != 0) {
            tp_event_destroy(&ev);
            trc = TS_ENOMEM;
        }
    }
    ts_iter_destroy(&it);
    if (trc != TS_EEND) {
        qerr(ctx, "show", "reading trace %s from %s failed: %s (%s)", hex, ctx->store_dir,
             ts_strerror(trc), ts_last_error(s));
        return QEXIT_STORE;
    }
    if (v->n == 0) {
        qerr(ctx, "show",
             "no trace %s in the store at %s (check the id with trace-query find, or the "
             "--store)",
             hex, ctx->store_dir);
        return QEXIT_STORE;
    }
    return 0;
}

/* The one positional argument, checked before the store is opened. */
static int check_trace_arg(const qctx *ctx, const qargs *a)
{
    if (a->nrest != 1) {
        qerr(ctx, "show", "%s (usage: trace-query show TRACE_ID; see trace-query show --help)",
             a->nrest ? "give one trace id" : "which trace? give its id");
        return QEXIT_USAGE;
    }
    if (!qid_is_trace_text(a->rest[0])) {
        qerr(ctx, "show",
             "'%s' is not a trace id: a trace id is 32 lowercase hex digits, or a unique "
             "prefix of at least 4 (the TRACE column of trace-query find)",
             a->rest[0]);
        return QEXIT_USAGE;
    }
    return 0;
}

static int show_run(const qctx *ctx, int argc, char **argv)
{
    qargs a;
    int rc;
    if (qargs_begin(ctx, &qcmd_show, argc, argv, &a, &rc)) return rc;
    rc = check_trace_arg(ctx, &a);
    /* A table unless jsonl is asked for, also into a pipe (show ID | less). */
    int fmt = a.format == QFMT_AUTO ? QFMT_TABLE : a.format;
    const char *html_out = a.output; /* points into argv */
    int html = a.html, force = a.force;
    if (rc == 0) rc = qhtml_show_check(ctx, html, html_out, force);
    ts_store *s = NULL;
    if (rc == 0) rc = qctx_open_store(ctx, &s);
    uint8_t tid[16];
    char hex[33];
    if (rc == 0) rc = qid_resolve_trace(ctx, s, "show", a.rest[0], tid, hex);
    qargs_free(&a);
    trace_view v = {0};
    v.bar_width = ctx->term_width == 0 || ctx->term_width >= SHOW_NARROW_TERM ? SHOW_BAR_WIDTH
                                                                              : SHOW_BAR_NARROW;
    if (rc == 0) rc = load_trace(ctx, s, tid, hex, &v);
    if (rc == 0 && html) {
        rc = qhtml_show(ctx, (const tp_event *const *)v.evs, v.n, hex, html_out, force);
        fmt = -1; /* no other renderer */
    }
    for (size_t i = 0; rc == 0 && i < sizeof show_formats / sizeof show_formats[0]; i++)
        if (show_formats[i].format == fmt) rc = show_formats[i].render(ctx, &v, hex);
    rc = qcmd_finish_output(ctx, "show", "output", rc);
    view_free(&v);
    ts_close(&s);
    return rc;
}

QCMD_DEFINE(show, "one trace as a tree and waterfall: tools, diffs, cost, outcome, DRI");
