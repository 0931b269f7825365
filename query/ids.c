/*
 * ids.c - short trace ids in tables and trace id prefixes as input (see ids.h).
 *
 * Responsibility: asks the store (ts_trace_id_unique_len, ts_trace_ids_by_prefix, both one
 * seek in its sorted table of trace ids) and words the answers for people.
 * Owns: nothing beyond the call.
 * Threading: single-threaded.
 */
#include "ids.h"

#include <string.h>

#include "describe.h"
#include "reader.h"
#include "text_term.h"

/* Candidates listed when a prefix is ambiguous. */
#define QID_CANDIDATES 8

void qid_short_trace(qid_short *q, ts_store *s, const uint8_t trace[16], char out[33])
{
    at_hex_encode(trace, 16, out);
    size_t len = 32;
    if (q->last_len && memcmp(q->last, trace, 16) == 0) {
        len = q->last_len;
    } else if (ts_trace_id_unique_len(s, trace, &len) == 0) {
        if (len < QID_SHORT_MIN) len = QID_SHORT_MIN;
        memcpy(q->last, trace, 16);
        q->last_len = len;
    } else {
        len = 32;
    }
    out[len] = 0;
}

int qid_is_trace_text(const char *text)
{
    size_t n = strlen(text);
    if (n < QID_PREFIX_MIN || n > 32) return 0;
    return strspn(text, "0123456789abcdef") == n;
}

/* "  <id>  <start> UTC  <workflow>" for one candidate, from its first event. */
static void print_candidate(const qctx *ctx, ts_store *s, const uint8_t id[16])
{
    char hex[33], when[40] = "?";
    const char *wf = "-";
    at_hex_encode(id, 16, hex);
    ts_filter f = {0};
    f.trace_id = id;
    ts_iter *it = NULL;
    qreader *rd = qreader_new();
    const tp_event *ev = NULL;
    if (rd && ts_query(s, &f, NULL, &it) == 0 && qreader_next(rd, it, &ev) == 0) {
        qdesc_time(ev->time_unix_nano, when, sizeof when);
        if (ev->workflow) wf = ev->workflow;
    }
    tp_term_printf(ctx->err, "  %s  %s UTC  %s", hex, when, wf);
    ts_iter_destroy(&it);
    qreader_destroy(&rd);
}

int qid_resolve_trace(const qctx *ctx, ts_store *s, const char *cmd, const char *text,
                      uint8_t out[16], char hex[33])
{
    size_t len = strlen(text);
    if (len == 32) {
        if (at_hex_decode(text, 32, out, 16) != 0) return QEXIT_USAGE;
        if (hex) memcpy(hex, text, 33);
        return 0;
    }
    uint8_t found[QID_CANDIDATES][16];
    size_t n = 0;
    int rc = ts_trace_ids_by_prefix(s, text, len, found, QID_CANDIDATES, &n);
    if (rc != 0) {
        qerr(ctx, cmd, "looking up trace ids beginning with %s failed: %s", text, ts_last_error(s));
        return QEXIT_STORE;
    }
    if (n == 0) {
        qerr(ctx, cmd,
             "no trace id in the store at %s begins with %s (check it with trace-query find "
             "--traces, or the --store)",
             ctx->store_dir, text);
        return QEXIT_STORE;
    }
    if (n > 1) {
        qerr(ctx, cmd, "%s is the start of %zu trace ids; give more digits:", text, n);
        for (size_t i = 0; i < n && i < QID_CANDIDATES; i++)
            print_candidate(ctx, s, found[i]);
        if (n > QID_CANDIDATES) fprintf(ctx->err, "  ... and %zu more\n", n - QID_CANDIDATES);
        return QEXIT_USAGE;
    }
    memcpy(out, found[0], 16);
    if (hex) at_hex_encode(out, 16, hex);
    if (hex) hex[32] = 0;
    return 0;
}
