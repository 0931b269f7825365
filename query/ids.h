/*
 * ids.h - trace ids for people: shortened in tables, prefixes accepted as input.
 *
 * Responsibility: the cell a table shows for a trace id (its shortest prefix that no other
 * stored trace shares, at least QID_SHORT_MIN digits; jsonl keeps full ids), and turning
 * what a person typed (a full id or a unique prefix of at least QID_PREFIX_MIN digits) into
 * the full id, with an error that lists the candidates when the prefix is ambiguous.
 * Only trace ids are taken as input by trace-query (no command takes an event id).
 * Owns: a one-entry cache per qid_short (consecutive rows of one trace are common).
 * Threading: single-threaded (trace-query is).
 */
#ifndef AGENTTRAIL_QUERY_IDS_H
#define AGENTTRAIL_QUERY_IDS_H

#include <stddef.h>
#include <stdint.h>

#include "commands.h"

#define QID_SHORT_MIN 8  /* digits a table shows at least */
#define QID_PREFIX_MIN 4 /* digits a prefix given as input has at least */

/* Shortens trace ids for one table (keeps the last answer: rows of a trace follow). */
typedef struct qid_short {
    uint8_t last[16];
    size_t last_len; /* 0: nothing kept */
} qid_short;

/* The table cell of `trace` in `out` (33 bytes): its shortest unique prefix in the store,
 * at least QID_SHORT_MIN digits. On a read error the full id (never a wrong prefix). */
void qid_short_trace(qid_short *q, ts_store *s, const uint8_t trace[16], char out[33]);

/* Is `text` a trace id or a prefix people may type (QID_PREFIX_MIN..32 lowercase hex)? */
int qid_is_trace_text(const char *text);

/* Resolves `text` (qid_is_trace_text) to a stored trace: 0 and out[16] (and hex[33] if not
 * NULL). A full 32-digit id is taken as is (whether it is stored is the command's check).
 * A shorter prefix must match exactly one stored trace: none is QEXIT_STORE ("no trace
 * begins with ..."), several QEXIT_USAGE with the candidates (id, start, workflow) listed
 * on ctx->err. `cmd` names the command in messages. */
int qid_resolve_trace(const qctx *ctx, ts_store *s, const char *cmd, const char *text,
                      uint8_t out[16], char hex[33]);

#endif
