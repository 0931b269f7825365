/*
 * find.c - `trace-query find`: the events matching filters, in time order, a page at a time.
 *
 * Responsibility: runs one store query (the store picks the best index from the filters),
 * writes the events as canonical JSON lines or as an aligned table, and when a --limit cut
 * the results short, prints the cursor that resumes after the last event shown.
 * The table streams (table.h): rows are printed as they are read, with widths from the
 * first rows, so memory stays bounded whatever the number of events. At 80 columns a row
 * is one line: trace ids are shortened to their unique prefix (ids.h), the time loses its
 * milliseconds, then DUR, TOKENS, COST and DRI are left out; STATUS (tool call status or
 * outcome decision) is never left out. `--traces` lists traces instead (find_traces.c).
 * Owns: the store handle and iterator for the duration of the command.
 * Invariants: jsonl output is exactly tp_event_to_json of each stored event, one per line
 * (with `stored`), so it pipes into jq and back into trace-shim --dry-run.
 * Threading: single-threaded.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "atcommon.h"
#include "commands.h"
#include "describe.h"
#include "find.h"
#include "ids.h"
#include "reader.h"
#include "table.h"

/* The page size of a table on a terminal when no --limit is given. */
#define FIND_TABLE_DEFAULT_LIMIT 100
/* A table streams: its column widths come from its first FIND_TABLE_WINDOW + 1 rows, so the
 * memory it takes does not grow with the number of events (docs/trace-query.md). */
#define FIND_TABLE_WINDOW 256

static const at_opt find_opts[] = {
    QOPT_FILTERS,
    QOPT_MATCH_FILTERS,
    QO_FLAG("traces", per_trace,
            "one row per trace with a matching event: trace, workflow, DRI, start, duration, "
            "events, errors, outcome, cost"),
    QO_LIMIT("at most N events (traces with --traces; table on a terminal: 100), then the "
             "cursor"),
    QO_CALL("after", "CURSOR", qopt_after, "resume after the cursor printed by the previous page"),
    QO_FORMAT("table (default on a terminal) or jsonl (default otherwise)"),
    QO_FLAG("explain", explain, "say on stderr which index answers the query"),
    QO_STR("prompt-file", "FILE", prompt_file,
           "only prompts whose HMAC is that of FILE's text (with or without its final newline)"),
    QO_STR("hmac-key-file", "FILE", hmac_key_file,
           "the organisation key for --prompt-file (default: $AGENTTRAIL_HMAC_KEY_FILE)"),
    QO_HELP,
    QO_END,
};

static const char find_help[] =
    "usage: trace-query [--store DIR] find [FILTERS] [--status S] [--error-text TEXT]\n"
    "                   [--traces] [--limit N] [--after CURSOR]\n"
    "                   [--format table|jsonl]\n"
    "\n"
    "Lists the events that match every filter given, oldest first. A workflow, DRI,\n"
    "incident or trace filter reads only that index; other filters narrow the scan.\n"
    "When --limit stops the list early, the cursor of the next page is printed: as\n"
    "the last table line, or on stderr (\"next: CURSOR\") with jsonl; pass it back with\n"
    "--after CURSOR. jsonl is the canonical event JSON (EVENTS.md) with the `stored`\n"
    "stamps. The table shows each trace id by its shortest unique prefix (8 digits at\n"
    "least); every command takes such a prefix where it takes a trace id. --traces\n"
    "lists one row per trace that has a matching event (in the order of its first\n"
    "one), with the whole trace's start, duration, events, tool errors, outcome and\n"
    "cost.\n"
    "\n"
    "examples:\n"
    "  trace-query find --workflow support-draft-reply --since 2h\n"
    "  trace-query find --dri maria.chen@example.com --kind outcome \\\n"
    "    --outcome rejected --since 7d\n"
    "  trace-query find --incident INC-2041 --format jsonl | jq .tool_call.name\n"
    "  trace-query find --trace 4bf92f35 --kind tool_call\n"
    "  trace-query find --workflow airline-support --status error --since 1d\n"
    "  trace-query find --error-text timeout --since 2h\n"
    "  trace-query find --traces --workflow airline-support --outcome rejected \\\n"
    "    --since 7d\n"
    "  trace-query find --since 2024-06-01T00:00:00Z --until 2024-06-02T00:00:00Z \\\n"
    "    --limit 50\n"
    "  trace-query find --since 1d --limit 50 --after 0000000000000a3f...\n"
    "                                                         (the next page)\n"
    "  trace-query find --prompt-file leaked-prompt.txt --hmac-key-file org.hmac\n";

enum {
    C_TIME,
    C_TRACE,
    C_KIND,
    C_STATUS,
    C_WORKFLOW,
    C_DRI,
    C_WHAT,
    C_DUR,
    C_TOKENS,
    C_COST,
    NCOLS
};
static const char *const find_headers[NCOLS] = {"TIME", "TRACE", "KIND", "STATUS", "WORKFLOW",
                                                "DRI",  "WHAT",  "DUR",  "TOKENS", "COST"};
static const int find_flags[NCOLS] = {
    [C_TRACE] = QCOL_KEEP,
    [C_WORKFLOW] = QCOL_FLEX,
    [C_DRI] = QCOL_FLEX | QCOL_OPTIONAL,
    [C_WHAT] = QCOL_FLEX,
    [C_DUR] = QCOL_RIGHT | QCOL_OPTIONAL,
    [C_TOKENS] = QCOL_RIGHT | QCOL_OPTIONAL,
    [C_COST] = QCOL_RIGHT | QCOL_OPTIONAL,
};
/* Left out in this order when a row would not fit: STATUS never is. */
static const int find_drop_order[] = {C_COST, C_TOKENS, C_DUR, C_DRI};
/* The least widths when the table streams, for values whose size is known: a time, a short
 * trace id, the longest kind ("incident_link") and status ("escalated"), typical durations
 * ("59.99s"), tokens and costs ("$0.012345"). Wider values later are cut with '~' (ids are
 * never cut, table.h). */
static const size_t find_min_widths[NCOLS] = {
    [C_TIME] = 23, [C_TRACE] = QID_SHORT_MIN,
    [C_KIND] = 13, [C_STATUS] = 9,
    [C_DUR] = 6,   [C_TOKENS] = 9,
    [C_COST] = 9,
};

static int add_row(qtable *t, qid_short *ids, ts_store *s, const tp_event *ev)
{
    char time[40], trace[33] = "", dur[32] = "", tokens[64], cost[32] = "", status[32], what[512];
    qdesc_time(ev->time_unix_nano, time, sizeof time);
    if (ev->has_trace_id && ev->trace_id.len == 16)
        qid_short_trace(ids, s, ev->trace_id.data, trace);
    if (ev->has_duration_nano) qdesc_duration(ev->duration_nano, dur, sizeof dur);
    qdesc_tokens(ev, tokens, sizeof tokens);
    if (ev->usage && ev->usage->has_cost_usd_micros)
        qdesc_cost(ev->usage->cost_usd_micros, cost, sizeof cost);
    qdesc_status(ev, status, sizeof status);
    qdesc_what(ev, what, sizeof what);
    const char *kind = ev->has_kind ? tp_kind_name(ev->kind) : NULL;
    const char *cells[NCOLS] = {
        [C_TIME] = time,
        [C_TRACE] = trace,
        [C_KIND] = kind ? kind : "?",
        [C_STATUS] = status,
        [C_WORKFLOW] = ev->workflow,
        [C_DRI] = ev->dri,
        [C_WHAT] = what,
        [C_DUR] = dur,
        [C_TOKENS] = tokens,
        [C_COST] = cost,
    };
    return qtable_add(t, cells);
}

/* TIME trimmed to "2024-05-01 20:46:42": seconds. */
static const qtable_spec find_spec = QTABLE_SPEC_STREAMED(find, NCOLS, C_TIME, 19);

/* --prompt-file: the HMACs of the file's text as is and without one final
 * newline (a prompt rarely ends with one; a text file usually does). */
static int prompt_macs(const qctx *ctx, const qargs *a, uint8_t macs[2][32])
{
    const char *kp = a->hmac_key_file ? a->hmac_key_file : getenv("AGENTTRAIL_HMAC_KEY_FILE");
    if (!kp || !*kp) {
        qerr(ctx, "find",
             "--prompt-file needs the organisation key: --hmac-key-file FILE or "
             "$AGENTTRAIL_HMAC_KEY_FILE (the key trace-shim hashes prompts with)");
        return QEXIT_USAGE;
    }
    uint8_t key[TP_HMAC_KEY_LEN];
    at_error err;
    if (tp_hmac_key_load(kp, key, &err) != 0) {
        qerr(ctx, "find", "%s: %s", kp, err.what);
        return QEXIT_USAGE;
    }
    FILE *f = fopen(a->prompt_file, "rb");
    at_buf tb = {0};
    int rc = f ? 0 : QEXIT_STORE;
    while (f && rc == 0) {
        if (at_buf_reserve(&tb, 65536)) {
            rc = QEXIT_STORE;
            break;
        }
        size_t r = fread(tb.data + tb.len, 1, tb.cap - tb.len, f);
        tb.len += r;
        if (r == 0) break;
    }
    const char *text = tb.data;
    size_t len = tb.len;
    if (f && ferror(f)) rc = QEXIT_STORE;
    if (f) fclose(f);
    if (rc != 0) {
        qerr(ctx, "find", "--prompt-file %s: cannot read it", a->prompt_file);
    } else {
        size_t trimmed = len;
        if (trimmed && text[trimmed - 1] == '\n') trimmed--;
        if (trimmed && text[trimmed - 1] == '\r') trimmed--;
        if (tp_hmac_sha256(key, sizeof key, (const uint8_t *)text, len, macs[0]) != 0 ||
            tp_hmac_sha256(key, sizeof key, (const uint8_t *)text, trimmed, macs[1]) != 0) {
            qerr(ctx, "find", "HMAC-SHA256 failed in OpenSSL");
            rc = QEXIT_STORE;
        }
    }
    memset(key, 0, sizeof key);
    at_buf_free(&tb);
    return rc;
}

static int prompt_matches(const tp_event *ev, const uint8_t macs[2][32])
{
    const Agenttrail__V1__Prompt *p = ev->prompt;
    return p && p->has_hmac_sha256 && p->hmac_sha256.len == 32 &&
           (memcmp(p->hmac_sha256.data, macs[0], 32) == 0 ||
            memcmp(p->hmac_sha256.data, macs[1], 32) == 0);
}

int qfind_selects(const qfind *q, const tp_event *ev)
{
    return qmatch_event(&q->a->match, ev) && (!q->use_macs || prompt_matches(ev, q->macs));
}

int qfind_next(qfind *q, const tp_event **ev)
{
    for (;;) {
        int r = qreader_next(q->rd, q->it, ev);
        if (r == TS_EEND) return TS_EEND;
        if (r != 0) {
            qerr(q->ctx, "find", "reading %s failed: %s (%s)", q->ctx->store_dir, ts_strerror(r),
                 ts_last_error(q->s));
            return QEXIT_STORE;
        }
        if (!q->use_macs || prompt_matches(*ev, q->macs)) return 0;
    }
}

/* The events of the page, then the cursor when --limit cut it short. */
static int find_events(qfind *q)
{
    const qctx *ctx = q->ctx;
    qtable *t = NULL;
    int rc = 0;
    if (q->fmt == QFMT_TABLE) {
        if (!(t = qtable_new_spec(&find_spec))) {
            qerr(ctx, "find", "out of memory");
            return QEXIT_STORE;
        }
        qtable_stream(t, ctx->out, ctx->term_width, FIND_TABLE_WINDOW);
    }
    qid_short ids = {{0}, 0};
    uint64_t n = 0;
    int more = 0;
    ts_cursor next = {{0}};
    while (rc == 0) {
        const tp_event *ev = NULL;
        int r = qfind_next(q, &ev);
        if (r == TS_EEND) break;
        if (r != 0) {
            rc = r;
            break;
        }
        if (q->limit && n == q->limit) {
            /* One event past the page: there is more; the cursor is the one after the page. */
            more = 1;
            break;
        }
        if (t && add_row(t, &ids, q->s, ev) != 0) {
            qerr(ctx, "find", "out of memory");
            rc = QEXIT_STORE;
        } else if (!t) {
            rc = qout_event_json(ctx, "find", ev);
        }
        n++;
        if (q->limit && n == q->limit) ts_iter_cursor(q->it, &next);
    }
    if (rc == 0 && t) {
        if (n > 0) qtable_end(t);
        if (more)
            fprintf(ctx->out, "-- %" PRIu64 " shown; next page: --after %s\n", n, next.text);
        else if (n == 0)
            fprintf(ctx->out, "-- no events match\n");
    } else if (rc == 0 && more) {
        fprintf(ctx->err, "next: %s\n", next.text);
    }
    qtable_destroy(&t);
    return rc;
}

/* Arguments that parse but do not go together. */
static int check_args(const qctx *ctx, const qargs *a)
{
    if (a->nrest > 0) {
        qerr(ctx, "find",
             "unexpected argument '%s' (filters are options, e.g. --trace ID; "
             "see trace-query find --help)",
             a->rest[0]);
        return QEXIT_USAGE;
    }
    if (a->ntraces > 1) {
        qerr(ctx, "find", "give --trace once (to list several traces, run find per trace)");
        return QEXIT_USAGE;
    }
    return 0;
}

/* Opens the store and starts the query; a QEXIT code. */
static int find_open(qfind *q)
{
    const qctx *ctx = q->ctx;
    int rc = qctx_open_store(ctx, &q->s);
    if (rc != 0) return rc;
    ts_cursor after;
    if (q->a->after) snprintf(after.text, sizeof after.text, "%s", q->a->after);
    int trc = ts_query(q->s, &q->a->filter, q->a->after ? &after : NULL, &q->it);
    if (trc == TS_EINVAL) {
        qerr(ctx, "find",
             "--after '%s': not a cursor printed by an earlier find with the same "
             "store (see trace-query find --help)",
             q->a->after ? q->a->after : "");
        return QEXIT_USAGE;
    }
    if (trc != 0) {
        qerr(ctx, "find", "query failed on %s: %s", ctx->store_dir, ts_last_error(q->s));
        return QEXIT_STORE;
    }
    if (q->a->explain) fprintf(ctx->err, "index: %s\n", ts_iter_index_name(q->it));
    if (!(q->rd = qreader_new())) {
        qerr(ctx, "find", "out of memory");
        return QEXIT_STORE;
    }
    qreader_set_match(q->rd, &q->a->match);
    return 0;
}

static int find_run(const qctx *ctx, int argc, char **argv)
{
    qargs a;
    int rc;
    if (qargs_begin(ctx, &qcmd_find, argc, argv, &a, &rc)) return rc;
    qfind q = {.ctx = ctx, .a = &a};
    rc = check_args(ctx, &a);
    if (rc == 0 && a.prompt_file) {
        rc = prompt_macs(ctx, &a, q.macs);
        q.use_macs = 1;
        if (!a.filter.kind) a.filter.kind = AGENTTRAIL__V1__KIND__PROMPT;
    }
    q.fmt = qfmt_effective(ctx, a.format);
    q.limit = a.limit;
    if (!q.limit && q.fmt == QFMT_TABLE && ctx->out_is_tty) q.limit = FIND_TABLE_DEFAULT_LIMIT;
    if (rc == 0) rc = find_open(&q);
    if (rc == 0) rc = a.per_trace ? qfind_traces(&q) : find_events(&q);
    rc = qcmd_finish_output(ctx, "find", "results", rc);
    qreader_destroy(&q.rd);
    ts_iter_destroy(&q.it);
    ts_close(&q.s);
    qargs_free(&a);
    return rc;
}

QCMD_DEFINE(find, "list the events matching filters, in time order, a page at a time");
