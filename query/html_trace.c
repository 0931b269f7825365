/*
 * html_trace.c - the HTML page of one trace (see html_trace.h).
 *
 * Responsibility: the page's sections in order: head (totals, owners, outcomes, approvals,
 * incidents), waterfall (rows in tree.c order), one detail panel per event (time order);
 * and the show command's --html step (checks, build in memory, write through html_page.c).
 * Every stored string goes through qhtml_text/qhtml_printf; the only unescaped text this
 * file writes is its own markup, fixed names (kinds, statuses, decisions: class names from
 * proto's name tables) and numbers.
 * Owns: the tree order and the page buffer for the duration of a call.
 * Threading: reentrant.
 */
#include "html_trace.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "describe.h"
#include "html_page.h"
#include "text_term.h"
#include "tree.h"

typedef struct totals {
    uint64_t start, end; /* earliest start, latest end */
    uint64_t in, out, cached, cost, redactions;
    size_t priced, unpriced, errors, blocked, tool_calls;
} totals;

static void add_totals(totals *t, const tp_event *ev, int first)
{
    uint64_t s = ev->time_unix_nano, e = s + (ev->has_duration_nano ? ev->duration_nano : 0);
    if (first || s < t->start) t->start = s;
    if (first || e > t->end) t->end = e;
    if (ev->usage) {
        t->in += ev->usage->input_tokens;
        t->out += ev->usage->output_tokens;
        t->cached += ev->usage->cached_tokens;
        if (ev->usage->has_cost_usd_micros) {
            t->cost += ev->usage->cost_usd_micros;
            t->priced++;
        } else
            t->unpriced++;
    }
    t->redactions += ev->redactions;
    if (!ev->tool_call) return;
    t->tool_calls++;
    if (ev->tool_call->has_status &&
        ev->tool_call->status == AGENTTRAIL__V1__TOOL_STATUS__TOOL_ERROR)
        t->errors++;
    if (ev->tool_call->has_status &&
        ev->tool_call->status == AGENTTRAIL__V1__TOOL_STATUS__TOOL_BLOCKED)
        t->blocked++;
}

/* The fixed name of the event's kind and tool status, for class names ("" when none). */
static const char *kind_of(const tp_event *ev)
{
    const char *k = ev->has_kind ? tp_kind_name(ev->kind) : NULL;
    return k ? k : "unknown";
}

static const char *status_of(const tp_event *ev)
{
    const char *s = NULL;
    if (ev->tool_call && ev->tool_call->has_status) s = tp_tool_status_name(ev->tool_call->status);
    return s ? s : "none";
}

/* Cost of one event: "$0.001234", "unknown" for usage without a price, "" without usage. */
static void cost_of(const tp_event *ev, char *buf, size_t len)
{
    buf[0] = 0;
    if (ev->usage && ev->usage->has_cost_usd_micros)
        qdesc_cost(ev->usage->cost_usd_micros, buf, len);
    else if (ev->usage)
        snprintf(buf, len, "unknown");
}

/* ---- head: totals, owners, outcomes, approvals ---------------------------------------- */

static void put_total(FILE *f, const char *id, const char *label, uint64_t v, const char *text)
{
    fprintf(f, "<div><dt>%s</dt><dd id=\"t-%s\" data-v=\"%" PRIu64 "\">", label, id, v);
    qhtml_text(f, text, 0);
    fputs("</dd></div>\n", f);
}

static void put_totals(FILE *f, size_t n, const totals *t)
{
    char dur[32], cost[40], tok[96], num[32];
    qdesc_duration(t->end - t->start, dur, sizeof dur);
    /* Unpriced calls are counted, not read as free: no priced call means the cost is
     * unknown, some means the sum is a lower bound (the unpriced count says so). */
    if (t->priced || !t->unpriced)
        qdesc_cost(t->cost, cost, sizeof cost);
    else
        snprintf(cost, sizeof cost, "unknown");
    fputs("<dl class=\"totals\" id=\"totals\">\n", f);
    snprintf(num, sizeof num, "%zu", n);
    put_total(f, "events", "events", n, num);
    put_total(f, "duration", "duration", t->end - t->start, dur);
    snprintf(tok, sizeof tok, "%" PRIu64 " in (%" PRIu64 " cached), %" PRIu64 " out", t->in,
             t->cached, t->out);
    put_total(f, "tokens", "tokens", t->in + t->out, tok);
    put_total(f, "cost", "cost (priced calls)", t->cost, cost);
    snprintf(num, sizeof num, "%zu", t->unpriced);
    put_total(f, "unpriced", "unpriced calls", t->unpriced, num);
    snprintf(num, sizeof num, "%zu of %zu tool calls", t->errors, t->tool_calls);
    put_total(f, "errors", "tool errors", t->errors, num);
    snprintf(num, sizeof num, "%zu", t->blocked);
    put_total(f, "blocked", "blocked calls", t->blocked, num);
    snprintf(num, sizeof num, "%" PRIu64, t->redactions);
    put_total(f, "redactions", "redactions", t->redactions, num);
    fputs("</dl>\n", f);
}

static const char *get_workflow(const tp_event *e)
{
    return e->workflow;
}
static const char *get_service(const tp_event *e)
{
    return e->service;
}
static const char *get_dri(const tp_event *e)
{
    return e->dri;
}
static const char *get_incident(const tp_event *e)
{
    return e->incident;
}

static const struct owner_field {
    const char *id, *label;
    const char *(*get)(const tp_event *);
} owner_fields[] = {
    {"workflow", "workflow", get_workflow},
    {"service", "service", get_service},
    {"dri", "DRI", get_dri},
    {"incident", "incident", get_incident},
};

/* The distinct values of one field, in first-seen order, at most OWNER_MAX ("-" when
 * none). O(n * OWNER_MAX) whatever the trace's size. */
#define OWNER_MAX 16
static void put_owner(FILE *f, const tp_event *const *evs, size_t n, const struct owner_field *o)
{
    const char *seen[OWNER_MAX];
    size_t nseen = 0;
    fprintf(f, "<div><dt>%s</dt><dd id=\"o-%s\">", o->label, o->id);
    for (size_t i = 0; i < n && nseen < OWNER_MAX; i++) {
        const char *v = o->get(evs[i]);
        size_t j = 0;
        while (v && j < nseen && strcmp(seen[j], v) != 0)
            j++;
        if (!v || j < nseen) continue;
        if (nseen) fputs(", ", f);
        seen[nseen++] = v;
        qhtml_text(f, v, 0);
    }
    fputs(nseen ? "</dd></div>\n" : "-</dd></div>\n", f);
}

static void put_outcomes(FILE *f, const tp_event *const *evs, size_t n)
{
    fputs("<ul class=\"facts\" id=\"outcomes\">\n", f);
    size_t shown = 0;
    for (size_t i = 0; i < n; i++) {
        const Agenttrail__V1__Outcome *o = evs[i]->outcome;
        if (!o || !evs[i]->has_kind || evs[i]->kind != AGENTTRAIL__V1__KIND__OUTCOME) continue;
        const char *d = o->has_decision ? tp_decision_name(o->decision) : NULL;
        char when[40];
        qdesc_time(evs[i]->time_unix_nano, when, sizeof when);
        fprintf(f, "<li class=\"outcome dec-%s\"><a href=\"#e%zu\">outcome <b>%s</b></a> ",
                d ? d : "unknown", i, d ? d : "?");
        qhtml_printf(f, "%s%s at %s UTC (DRI %s)", o->by ? "by " : "", o->by ? o->by : "", when,
                     evs[i]->dri ? evs[i]->dri : "-");
        fputs("</li>\n", f);
        shown++;
    }
    if (!shown) fputs("<li class=\"outcome none\">outcome: none recorded</li>\n", f);
    for (size_t i = 0; i < n; i++) {
        const Agenttrail__V1__Approval *ap = evs[i]->approval;
        if (!ap) continue;
        const char *d = ap->has_decision ? tp_approval_decision_name(ap->decision) : NULL;
        fprintf(f, "<li class=\"approval ap-%s\"><a href=\"#e%zu\">approval <b>%s</b></a> ",
                d ? d : "unknown", i, d ? d : "?");
        qhtml_printf(f, "%s by %s%s%s", ap->checkpoint ? ap->checkpoint : "-",
                     ap->approver ? ap->approver : "-", ap->reason ? ": " : "",
                     ap->reason ? ap->reason : "");
        fputs("</li>\n", f);
        shown++;
    }
    fputs("</ul>\n", f);
}

static void put_head(FILE *f, const tp_event *const *evs, size_t n, const char *hex,
                     const totals *t)
{
    char t0[40];
    qdesc_time(t->start, t0, sizeof t0);
    fprintf(f, "<body data-trace=\"%s\" data-events=\"%zu\">\n<header>\n<h1>trace <code>", hex, n);
    qhtml_text(f, hex, 0);
    fprintf(f, "</code> <small>from %s UTC</small></h1>\n", t0);
    put_totals(f, n, t);
    fputs("<dl class=\"owners\">\n", f);
    for (size_t i = 0; i < sizeof owner_fields / sizeof owner_fields[0]; i++)
        put_owner(f, evs, n, &owner_fields[i]);
    fputs("</dl>\n", f);
    put_outcomes(f, evs, n);
    fputs("</header>\n", f);
}

/* ---- waterfall ------------------------------------------------------------------------- */

static void put_row(FILE *f, const tp_event *ev, size_t idx, int depth, const totals *t)
{
    char what[512], tok[64], cost[40], dur[32] = "", status[32];
    const char *kind = kind_of(ev), *st = status_of(ev);
    qdesc_status(ev, status, sizeof status); /* a fixed name: decision or tool status */
    uint64_t dn = ev->has_duration_nano ? ev->duration_nano : 0;
    qdesc_what(ev, what, sizeof what);
    qdesc_tokens(ev, tok, sizeof tok);
    cost_of(ev, cost, sizeof cost);
    if (ev->has_duration_nano) qdesc_duration(dn, dur, sizeof dur);
    fprintf(f,
            "<a class=\"row k-%s st-%s\" href=\"#e%zu\" data-i=\"%zu\" data-kind=\"%s\" "
            "data-status=\"%s\" data-depth=\"%d\" data-off=\"%" PRIu64 "\" data-dur=\"%" PRIu64
            "\"><span class=\"label\"><span class=\"kind\">%s</span> ",
            kind, st, idx, idx, kind, st, depth, ev->time_unix_nano - t->start, dn, kind);
    /* The status before the text, so a long text cut at the column's end never hides it. */
    if (strcmp(st, "error") == 0 || strcmp(st, "blocked") == 0)
        fprintf(f, "<span class=\"badge\">%s</span> ", st);
    else if (!ev->tool_call && status[0])
        fprintf(f, "<b class=\"dec\">%s</b> ", status);
    qhtml_text(f, what, 0);
    fputs("</span><span class=\"lane\"><span class=\"bar\"></span></span><span class=\"num\">", f);
    qhtml_text(f, tok, 0);
    fputs("</span><span class=\"num\">", f);
    qhtml_text(f, cost, 0);
    fputs("</span><span class=\"num\">", f);
    qhtml_text(f, dur, 0);
    fputs("</span></a>\n", f);
}

static void put_waterfall(FILE *f, const tp_event *const *evs, const qtree_line *order, size_t n,
                          const totals *t)
{
    fprintf(f,
            "<section id=\"waterfall\" data-total=\"%" PRIu64 "\">\n<h2>waterfall</h2>\n"
            "<div class=\"axis\"><span class=\"label\">span</span><span class=\"lane\" "
            "id=\"ticks\"></span><span class=\"num\">tokens</span><span class=\"num\">cost"
            "</span><span class=\"num\">duration</span></div>\n",
            t->end - t->start);
    for (size_t i = 0; i < n; i++)
        put_row(f, evs[order[i].index], order[i].index, order[i].depth, t);
    fputs("</section>\n", f);
}

/* ---- detail panels --------------------------------------------------------------------- */

static void dd(FILE *f, const char *label, const char *v)
{
    if (!v) return;
    fprintf(f, "<dt>%s</dt><dd>", label);
    qhtml_text(f, v, 0);
    fputs("</dd>", f);
}

static void dd_hex(FILE *f, const char *label, const ProtobufCBinaryData *b, int has)
{
    if (!has || b->len == 0 || b->len > 64) return;
    char hex[129];
    at_hex_encode(b->data, b->len, hex);
    dd(f, label, hex);
}

static void dd_u64(FILE *f, const char *label, uint64_t v, int has)
{
    if (has) fprintf(f, "<dt>%s</dt><dd>%" PRIu64 "</dd>", label, v);
}

static void pre(FILE *f, const char *cls, const char *label, const char *text)
{
    if (!text) return;
    fprintf(f, "<div class=\"block\"><div class=\"cap\">%s</div><pre class=\"%s\">", label, cls);
    qhtml_text(f, text, 1);
    fputs("</pre></div>", f);
}

/* A unified diff, one block per line, marked by its first characters. */
static const char *patch_line_class(const char *p, size_t len)
{
    if (len >= 3 && (strncmp(p, "+++", 3) == 0 || strncmp(p, "---", 3) == 0)) return "file";
    if (len >= 2 && strncmp(p, "@@", 2) == 0) return "hunk";
    if (len && p[0] == '+') return "add";
    if (len && p[0] == '-') return "del";
    return "ctx";
}

static void put_patch(FILE *f, const char *p)
{
    if (!p) return;
    fputs("<div class=\"block\"><div class=\"cap\">patch</div><pre class=\"diff\">", f);
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        fprintf(f, "<span class=\"%s\">", patch_line_class(p, len));
        qhtml_textn(f, p, len, 0);
        fputs("</span>", f);
        p += len + (nl ? 1 : 0);
    }
    fputs("</pre></div>", f);
}

static void put_common(FILE *f, const tp_event *ev, const totals *t)
{
    char when[40], off[96], dur[32];
    qdesc_time(ev->time_unix_nano, when, sizeof when);
    qdesc_duration(ev->time_unix_nano - t->start, dur, sizeof dur);
    snprintf(off, sizeof off, "%s UTC (+%s)", when, dur);
    dd(f, "time", off);
    if (ev->has_duration_nano) qdesc_duration(ev->duration_nano, dur, sizeof dur);
    dd(f, "duration", ev->has_duration_nano ? dur : NULL);
    dd_hex(f, "event id", &ev->event_id, ev->has_event_id);
    dd_hex(f, "span id", &ev->span_id, ev->has_span_id);
    dd_hex(f, "parent span", &ev->parent_span_id, ev->has_parent_span_id);
    dd(f, "workflow", ev->workflow);
    dd(f, "DRI", ev->dri);
    dd(f, "service", ev->service);
    dd(f, "environment", ev->environment);
    dd(f, "actor", ev->actor);
    dd(f, "incident", ev->incident);
    if (ev->model) dd(f, "model provider", ev->model->provider);
    if (ev->model) dd(f, "model", ev->model->name);
    for (size_t i = 0; i < ev->n_context_ids; i++)
        dd(f, "context id", ev->context_ids[i]);
}

static void put_usage(FILE *f, const tp_event *ev)
{
    const Agenttrail__V1__Usage *u = ev->usage;
    if (!u) return;
    char cost[40];
    cost_of(ev, cost, sizeof cost);
    dd_u64(f, "input tokens", u->input_tokens, u->has_input_tokens);
    dd_u64(f, "cached tokens", u->cached_tokens, u->has_cached_tokens);
    dd_u64(f, "output tokens", u->output_tokens, u->has_output_tokens);
    dd(f, "cost", cost);
}

static void put_kind_fields(FILE *f, const tp_event *ev)
{
    if (ev->prompt) {
        dd(f, "template", ev->prompt->template_id);
        dd(f, "template version", ev->prompt->template_version);
        dd_hex(f, "prompt HMAC-SHA256", &ev->prompt->hmac_sha256, ev->prompt->has_hmac_sha256);
    }
    if (ev->tool_call) {
        dd(f, "tool", ev->tool_call->name);
        dd(f, "tool status", ev->tool_call->has_status ? status_of(ev) : NULL);
        dd(f, "permission scope", ev->tool_call->permission_scope);
    }
    if (ev->diff) {
        dd(f, "repo", ev->diff->repo);
        dd(f, "base rev", ev->diff->base_rev);
        for (size_t i = 0; i < ev->diff->n_paths; i++)
            dd(f, "path", ev->diff->paths[i]);
        dd_u64(f, "lines added", ev->diff->lines_added, ev->diff->has_lines_added);
        dd_u64(f, "lines removed", ev->diff->lines_removed, ev->diff->has_lines_removed);
    }
    if (ev->outcome) {
        const Agenttrail__V1__Outcome *o = ev->outcome;
        dd(f, "decision", o->has_decision ? tp_decision_name(o->decision) : NULL);
        dd(f, "by", o->by);
        dd_u64(f, "edit distance", o->edit_distance, o->has_edit_distance);
    }
    if (ev->approval) {
        const Agenttrail__V1__Approval *a = ev->approval;
        dd(f, "checkpoint", a->checkpoint);
        dd(f, "approver", a->approver);
        dd(f, "approval", a->has_decision ? tp_approval_decision_name(a->decision) : NULL);
        dd(f, "reason", a->reason);
    }
    if (ev->link) {
        for (size_t i = 0; i < ev->link->n_trace_ids; i++)
            dd_hex(f, "linked trace", &ev->link->trace_ids[i], 1);
        dd(f, "linked workflow", ev->link->workflow);
        dd(f, "link reason", ev->link->reason);
    }
}

static void put_meta(FILE *f, const tp_event *ev)
{
    for (size_t i = 0; i < ev->n_attributes; i++) {
        const Agenttrail__V1__Attribute *a = ev->attributes[i];
        fputs("<dt class=\"attr\">", f);
        qhtml_text(f, a->key ? a->key : "?", 0);
        fputs("</dt><dd>", f);
        qhtml_text(f, a->value, 0);
        fputs("</dd>", f);
    }
    dd_u64(f, "redactions", ev->redactions, ev->has_redactions);
    if (!ev->stored) return;
    dd_u64(f, "log index", ev->stored->log_index, ev->stored->has_log_index);
    dd(f, "source key", ev->stored->source);
}

static void put_detail(FILE *f, const tp_event *ev, size_t idx, const totals *t)
{
    char what[512], rel[32];
    const char *kind = kind_of(ev), *st = status_of(ev);
    qdesc_what(ev, what, sizeof what);
    qdesc_duration(ev->time_unix_nano - t->start, rel, sizeof rel);
    fprintf(f,
            "<details class=\"ev k-%s st-%s\" id=\"e%zu\"><summary><span class=\"n\">#%zu</span> "
            "+%s <b>%s</b> ",
            kind, st, idx, idx, rel, kind);
    qhtml_text(f, what, 0);
    fputs("</summary>\n<dl class=\"fields\">", f);
    put_common(f, ev, t);
    put_usage(f, ev);
    put_kind_fields(f, ev);
    put_meta(f, ev);
    fputs("</dl>", f);
    if (ev->prompt) pre(f, "text", "prompt text (as kept)", ev->prompt->text);
    if (ev->tool_call) pre(f, "args", "arguments (as stored, masked)", ev->tool_call->arguments);
    if (ev->tool_call) pre(f, "error", "error", ev->tool_call->error);
    if (ev->diff) put_patch(f, ev->diff->patch);
    pre(f, "text", "note", ev->note);
    fputs("</details>\n", f);
}

int qhtml_trace_write(FILE *f, const tp_event *const *evs, size_t n, const char *trace_hex)
{
    qtree_line *order = malloc((n ? n : 1) * sizeof *order);
    if (!order || qtree_order(evs, n, order) != 0) {
        free(order);
        return -1;
    }
    totals t = {0};
    for (size_t i = 0; i < n; i++)
        add_totals(&t, evs[i], i == 0);
    char title[64];
    snprintf(title, sizeof title, "trace %s", trace_hex);
    if (qhtml_begin(f, title, qhtml_trace_css, qhtml_trace_js)) {
        free(order);
        return -1;
    }
    put_head(f, evs, n, trace_hex, &t);
    put_waterfall(f, evs, order, n, &t);
    fputs("<section id=\"details\">\n<h2>events</h2>\n", f);
    for (size_t i = 0; i < n; i++)
        put_detail(f, evs[i], i, &t);
    fputs("</section>\n", f);
    qhtml_end(f, qhtml_trace_js);
    free(order);
    return 0;
}

int qhtml_show_check(const qctx *ctx, int html, const char *output, int force)
{
    if (!html && (output || force)) {
        qerr(ctx, "show", "-o and --force are for --html (see trace-query show --help)");
        return QEXIT_USAGE;
    }
    if (html && !output) {
        qerr(ctx, "show",
             "--html needs -o FILE (or -o - for stdout): the page is one file to open in a "
             "browser");
        return QEXIT_USAGE;
    }
    return html ? qhtml_check_output(ctx, "show", output, force) : 0;
}

/* The arguments of qhtml_trace_write, for qhtml_render. */
typedef struct trace_page {
    const tp_event *const *evs;
    size_t n;
    const char *trace_hex;
} trace_page;

static int write_trace_page(FILE *f, const void *arg)
{
    const trace_page *p = arg;
    return qhtml_trace_write(f, p->evs, p->n, p->trace_hex);
}

int qhtml_show(const qctx *ctx, const tp_event *const *evs, size_t n, const char *trace_hex,
               const char *output, int force)
{
    trace_page p = {evs, n, trace_hex};
    int rc = qhtml_render(ctx, "show", write_trace_page, &p, output, force);
    if (rc == 0 && strcmp(output, "-") != 0)
        tp_term_printf(ctx->err, "show: trace %s, %zu events -> %s", trace_hex, n, output);
    return rc;
}
