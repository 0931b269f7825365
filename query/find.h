/*
 * find.h - what `find` (find.c) and `find --traces` (find_traces.c) share.
 *
 * Responsibility: one running find: the parsed arguments, the store and the query over it,
 * the reader (with --status/--error-text applied, reader.h) and --prompt-file's HMACs, so
 * both forms select exactly the same events.
 * Owns: the store, iterator and reader while the command runs (find.c opens and closes).
 * Threading: single-threaded.
 */
#ifndef AGENTTRAIL_QUERY_FIND_H
#define AGENTTRAIL_QUERY_FIND_H

#include "commands.h"
#include "reader.h"

typedef struct qfind {
    const qctx *ctx;
    const qargs *a;
    ts_store *s;
    ts_iter *it;
    qreader *rd;
    int use_macs; /* --prompt-file given: only prompts with one of these HMACs */
    uint8_t macs[2][32];
    int fmt;        /* QFMT_TABLE or QFMT_JSONL */
    uint64_t limit; /* 0: none */
} qfind;

/* The next selected event of the query (borrowed from q->rd): 0, TS_EEND, or a QEXIT code
 * with the message printed. */
int qfind_next(qfind *q, const tp_event **ev);

/* Whether `ev` passes every filter of the find that the store does not apply (qmatch and
 * --prompt-file). */
int qfind_selects(const qfind *q, const tp_event *ev);

/* find --traces: one row per trace whose events match (find_traces.c). A QEXIT code. */
int qfind_traces(qfind *q);

#endif
