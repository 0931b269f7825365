/*
 * jsonl_source.h - JSON lines in, prepared and validated events out.
 *
 * Responsibility: the one place where trace-shim reads event JSON lines from
 * files or stdin, keeps FILE:LINE, parses (tp_event_from_json), does what the
 * shim does before sending (tp_event_prepare: ids, time, prompt HMAC) and
 * validates (tp_event_validate), and reports every rejection to a stream as
 * `FILE:LINE: field: problem` (warnings as `FILE:LINE: field: warning: ...`).
 * Every mode of trace-shim (--dry-run and sending) uses it, so they accept
 * and word exactly the same things.
 *
 * Ownership: a source owns its open file and buffers; events it returns
 * belong to the caller. The paths and the key given to jsonl_source_open are
 * borrowed and must outlive the source.
 *
 * Invariants: a line longer than limits.event_max is rejected without being
 * held in memory whole (memory per source is bounded by event_max plus a
 * read buffer); blank lines are skipped; lines are counted from 1 per file.
 *
 * Threading: a source is used by one thread at a time.
 */
#ifndef AGENTTRAIL_JSONL_SOURCE_H
#define AGENTTRAIL_JSONL_SOURCE_H

#include <stdint.h>
#include <stdio.h>

#include "traceproto.h"

typedef struct jsonl_options {
    tp_limits limits;
    int lenient;             /* unknown top-level fields: warnings, not errors */
    int keep_prompt_text;    /* keep prompt.text beside its HMAC */
    const uint8_t *hmac_key; /* TP_HMAC_KEY_LEN bytes, or NULL when none is configured */
    FILE *report;            /* where rejections and warnings go (stderr); NULL: nowhere */
} jsonl_options;

typedef struct jsonl_stats {
    uint64_t lines;       /* non-blank lines read */
    uint64_t accepted;    /* handed out by jsonl_source_next */
    uint64_t rejected;    /* reported and skipped */
    uint64_t warnings;    /* reported, line still accepted */
    uint64_t key_missing; /* rejected because prompt.text needs a key and none is configured */
    uint64_t unreadable;  /* inputs that could not be opened or read */
} jsonl_stats;

typedef struct jsonl_source jsonl_source;

/* The options every caller starts from: EVENTS.md limits, strict, no key, stderr. */
jsonl_options jsonl_options_default(void);

/* Opens a source over `paths` (n entries; "-" is stdin) or stdin when n == 0.
 * Files are opened one at a time as reading reaches them.
 * Returns 0 and *out, or TP_ENOMEM. */
int jsonl_source_open(jsonl_source **out, const char *const *paths, size_t n,
                      const jsonl_options *opt);

/* The next accepted event. Returns 1 with *ev (caller owns it; `where`, if
 * not NULL, receives "FILE:LINE", valid until the next call), 0 when every
 * input is exhausted. Rejected lines and unreadable inputs are reported to
 * opt->report and counted, never returned. */
int jsonl_source_next(jsonl_source *src, tp_event **ev, const char **where);

/* Counters so far; valid while the source lives. */
const jsonl_stats *jsonl_source_stats(const jsonl_source *src);

/* Closes the current input and frees the source; accepts NULL, sets *src NULL. */
void jsonl_source_destroy(jsonl_source **src);

/* Judges one line (no newline) as jsonl_source_next does: parse, prepare,
 * validate. Returns 0 and *ev, or a TP_E* code with `err` filled; `warn`
 * receives a warning (warn->where[0] == 0 when none). Reentrant. */
int jsonl_judge_line(const char *line, size_t len, const jsonl_options *opt, tp_event **ev,
                     at_error *err, at_error *warn);

#endif
