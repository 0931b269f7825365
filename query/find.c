/*
 * find.c - `trace-query find`: the events matching filters, in time order, a page at a time.
 *
 * Responsibility: runs one store query (the store picks the best index from the filters),
 * writes the events as canonical JSON lines or as an aligned table, and when a --limit cut
 * the results short, prints the cursor that resumes after the last event shown.
 * The table streams (table.h): rows are printed as they are read, with widths from the
 * first rows, so memory stays bounded whatever the number of events.
 * Owns: the store handle and iterator for the duration of the command.
 * Invariants: jsonl output is exactly tp_event_to_json of each stored event, one per line
 * (with `stored`), so it pipes into jq and back into trace-shim --dry-run.
 * Threading: single-threaded.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "describe.h"
#include "reader.h"
#include "table.h"

/* The page size of a table on a terminal when no --limit is given. */
#define FIND_TABLE_DEFAULT_LIMIT 100
/* A table streams: its column widths come from its first FIND_TABLE_WINDOW + 1 rows, so the
 * memory it takes does not grow with the number of events (docs/trace-query.md). */
#define FIND_TABLE_WINDOW 256

static const qopt find_opts[] = {
    QOPT_FILTERS,
    {"limit", "N", QOPT_LIMIT,
     "at most N events (table on a terminal: 100 by default), then the next cursor"},
    {"after", "CURSOR", QOPT_AFTER, "resume after the cursor printed by the previous page"},
    {"format", "FMT", QOPT_FORMAT, "table (default on a terminal) or jsonl (default otherwise)"},
    {"explain", NULL, QOPT_EXPLAIN, "say on stderr which index answers the query"},
    {"prompt-file", "FILE", QOPT_PROMPT_FILE,
     "only prompts whose HMAC is that of FILE's text (with or without its final newline)"},
    {"hmac-key-file", "FILE", QOPT_HMAC_KEY_FILE,
     "the organisation key for --prompt-file (default: $AGENTTRAIL_HMAC_KEY_FILE)"},
    {"help", NULL, QOPT_HELP, "this help"},
    {NULL, NULL, 0, NULL},
};

static const char find_help[] =
    "usage: trace-query [--store DIR] find [FILTERS] [--limit N] [--after CURSOR]\n"
    "                   [--format table|jsonl]\n"
    "\n"
    "Lists the events that match every filter given, oldest first. A workflow, DRI, incident\n"
    "or trace filter reads only that index; other filters narrow the scan. When --limit\n"
    "stops the list early, the cursor of the next page is printed: as the last table line,\n"
    "or on stderr (\"next: CURSOR\") with jsonl; pass it back with --after CURSOR.\n"
    "jsonl is the canonical event JSON (EVENTS.md) with the `stored` stamps.\n"
    "\n"
    "examples:\n"
    "  trace-query find --workflow support-draft-reply --since 2h\n"
    "  trace-query find --dri maria.chen@example.com --kind outcome --outcome rejected --since 7d\n"
    "  trace-query find --incident INC-2041 --format jsonl | jq .tool_call.name\n"
    "  trace-query find --trace 4bf92f3577b34da6a3ce929d0e0e4736 --kind tool_call\n"
    "  trace-query find --since 2024-06-01T00:00:00Z --until 2024-06-02T00:00:00Z --limit 50\n"
    "  trace-query find --since 1d --limit 50 --after 0000000000000a3f...   (the next page)\n"
    "  trace-query find --prompt-file leaked-prompt.txt --hmac-key-file org.hmac\n";

static const char *const find_headers[] = {"TIME", "TRACE",  "KIND", "WORKFLOW", "DRI",
                                           "WHAT", "STATUS", "DUR",  "TOKENS",   "COST"};
static const int find_flags[] = {0,
                                 0,
                                 0,
                                 QCOL_FLEX,
                                 QCOL_FLEX,
                                 QCOL_FLEX,
                                 QCOL_OPTIONAL,
                                 QCOL_RIGHT | QCOL_OPTIONAL,
                                 QCOL_RIGHT | QCOL_OPTIONAL,
                                 QCOL_RIGHT | QCOL_OPTIONAL};
/* The least widths when the table streams, for values whose size is known: a time, a trace
 * id, the longest kind ("incident_link") and status ("escalated"), typical durations
 * ("59.99s"), tokens and costs ("$0.012345"). Wider values later are cut with '~'. */
static const size_t find_min_widths[] = {23, 32, 13, 0, 0, 0, 9, 6, 9, 9};

static int add_row(qtable *t, const tp_event *ev)
{
    char time[40], trace[33] = "", dur[32] = "", tokens[64], cost[32] = "", status[32], what[512];
    qdesc_time(ev->time_unix_nano, time, sizeof time);
    if (ev->has_trace_id && ev->trace_id.len == 16) tp_hex_encode(ev->trace_id.data, 16, trace);
    if (ev->has_duration_nano) qdesc_duration(ev->duration_nano, dur, sizeof dur);
    qdesc_tokens(ev, tokens, sizeof tokens);
    if (ev->usage && ev->usage->has_cost_usd_micros)
        qdesc_cost(ev->usage->cost_usd_micros, cost, sizeof cost);
    qdesc_status(ev, status, sizeof status);
    qdesc_what(ev, what, sizeof what);
    const char *kind = ev->has_kind ? tp_kind_name(ev->kind) : NULL;
    const char *cells[] = {
        time, trace, kind ? kind : "?", ev->workflow, ev->dri, what, status, dur, tokens, cost};
    return qtable_add(t, cells);
}

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
    tp_error err;
    if (tp_hmac_key_load(kp, key, &err) != 0) {
        qerr(ctx, "find", "%s: %s", kp, err.problem);
        return QEXIT_USAGE;
    }
    FILE *f = fopen(a->prompt_file, "rb");
    char *text = NULL;
    size_t len = 0, cap = 0;
    int rc = f ? 0 : QEXIT_STORE;
    while (f && rc == 0) {
        if (len == cap) {
            char *t = realloc(text, cap = cap ? cap * 2 : 65536);
            if (!t)
                rc = QEXIT_STORE;
            else
                text = t;
        }
        size_t r = rc == 0 ? fread(text + len, 1, cap - len, f) : 0;
        len += r;
        if (r == 0) break;
    }
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
    free(text);
    return rc;
}

static int prompt_matches(const tp_event *ev, uint8_t macs[2][32])
{
    const Agenttrail__V1__Prompt *p = ev->prompt;
    return p && p->has_hmac_sha256 && p->hmac_sha256.len == 32 &&
           (memcmp(p->hmac_sha256.data, macs[0], 32) == 0 ||
            memcmp(p->hmac_sha256.data, macs[1], 32) == 0);
}

static int find_run(const qctx *ctx, int argc, char **argv)
{
    qargs a;
    int rc = qargs_parse(ctx, &qcmd_find, argc, argv, tp_now_unix_nano(), &a);
    if (rc != 0 || a.help) {
        if (rc == 0) qcmd_print_help(ctx, &qcmd_find, ctx->out);
        qargs_free(&a);
        return rc;
    }
    if (a.nrest > 0) {
        qerr(ctx, "find",
             "unexpected argument '%s' (filters are options, e.g. --trace ID; "
             "see trace-query find --help)",
             a.rest[0]);
        qargs_free(&a);
        return QEXIT_USAGE;
    }
    if (a.ntraces > 1) {
        qerr(ctx, "find", "give --trace once (to list several traces, run find per trace)");
        qargs_free(&a);
        return QEXIT_USAGE;
    }
    uint8_t macs[2][32];
    if (a.prompt_file) {
        rc = prompt_macs(ctx, &a, macs);
        if (rc != 0) {
            qargs_free(&a);
            return rc;
        }
        if (!a.filter.kind) a.filter.kind = AGENTTRAIL__V1__KIND__PROMPT;
    }
    int fmt = qfmt_effective(ctx, a.format);
    uint64_t limit = a.limit;
    if (!limit && fmt == QFMT_TABLE && ctx->out_is_tty) limit = FIND_TABLE_DEFAULT_LIMIT;

    ts_store *s = NULL;
    rc = qctx_open_store(ctx, &s);
    if (rc != 0) {
        qargs_free(&a);
        return rc;
    }
    ts_cursor after;
    if (a.after) snprintf(after.text, sizeof after.text, "%s", a.after);
    ts_iter *it = NULL;
    int trc = ts_query(s, &a.filter, a.after ? &after : NULL, &it);
    if (trc == TS_EINVAL) {
        qerr(ctx, "find",
             "--after '%s': not a cursor printed by an earlier find with the same "
             "store (see trace-query find --help)",
             a.after ? a.after : "");
        ts_close(&s);
        qargs_free(&a);
        return QEXIT_USAGE;
    }
    if (trc != 0) {
        qerr(ctx, "find", "query failed on %s: %s", ctx->store_dir, ts_last_error(s));
        ts_close(&s);
        qargs_free(&a);
        return QEXIT_STORE;
    }
    if (a.explain) fprintf(ctx->err, "index: %s\n", ts_iter_index_name(it));
    qtable *t = NULL;
    if (fmt == QFMT_TABLE) {
        t = qtable_new(10, find_headers, find_flags);
        if (!t) {
            qerr(ctx, "find", "out of memory");
            rc = QEXIT_STORE;
        } else {
            for (int c = 0; c < 10; c++)
                qtable_set_min_width(t, c, find_min_widths[c]);
            qtable_stream(t, ctx->out, ctx->term_width, FIND_TABLE_WINDOW);
        }
    }
    uint64_t n = 0;
    int more = 0;
    ts_cursor next = {{0}};
    qreader *rd = qreader_new();
    if (!rd && rc == 0) {
        qerr(ctx, "find", "out of memory");
        rc = QEXIT_STORE;
    }
    while (rc == 0) {
        const tp_event *ev = NULL;
        int r = qreader_next(rd, it, &ev);
        if (r == TS_EEND) break;
        if (r != 0) {
            qerr(ctx, "find", "reading %s failed: %s (%s)", ctx->store_dir, ts_strerror(r),
                 ts_last_error(s));
            rc = QEXIT_STORE;
            break;
        }
        if (a.prompt_file && !prompt_matches(ev, macs)) continue;
        if (limit && n == limit) {
            /* One event past the page: there is more; the cursor is the one after the page. */
            more = 1;
            break;
        }
        if (t) {
            if (add_row(t, ev) != 0) {
                qerr(ctx, "find", "out of memory");
                rc = QEXIT_STORE;
            }
        } else {
            size_t len = 0;
            char *js = tp_event_to_json(ev, &len);
            if (!js) {
                qerr(ctx, "find", "out of memory");
                rc = QEXIT_STORE;
            } else {
                fwrite(js, 1, len, ctx->out);
                fputc('\n', ctx->out);
                free(js);
            }
        }
        n++;
        if (limit && n == limit) ts_iter_cursor(it, &next);
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
    if ((fflush(ctx->out) != 0 || ferror(ctx->out)) && rc == 0) {
        qerr(ctx, "find", "cannot write the results (output closed or disk full)");
        rc = QEXIT_STORE;
    }
    qtable_destroy(&t);
    qreader_destroy(&rd);
    ts_iter_destroy(&it);
    ts_close(&s);
    qargs_free(&a);
    return rc;
}

const qcmd qcmd_find = {
    .name = "find",
    .run = find_run,
    .summary = "list the events matching filters, in time order, a page at a time",
    .help = find_help,
    .opts = find_opts,
};
