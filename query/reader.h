/*
 * reader.h - reading a page of events without an allocation per field.
 *
 * Responsibility: takes the next event of a store iterator as its stored bytes
 * (ts_iter_next_stored) and decodes them into an arena that is reset for every event, so the
 * hot loops of find, show and stats pay one protobuf decode and no malloc/free per field.
 * The decode is the store's own (plain protobuf-c, no re-validation: the collector validated
 * every event before the store took it).
 * It also holds the filters the store's indexes do not know (qmatch: tool call status, text
 * of tool errors), so find and stats skip the same events: an event qmatch_event rejects
 * is never returned by qreader_next.
 * Owns: the arena. Events it returns are borrowed: valid until the next qreader_next or
 * qreader_destroy; never pass them to tp_event_destroy.
 * Threading: a qreader is used by one thread.
 */
#ifndef AGENTTRAIL_QUERY_READER_H
#define AGENTTRAIL_QUERY_READER_H

#include "tracestore.h"

typedef struct qreader qreader;

/* Filters applied to decoded events, after the store's own (ts_filter). All given must
 * hold; a zeroed qmatch matches every event. */
typedef struct qmatch {
    int tool_status;        /* AGENTTRAIL__V1__TOOL_STATUS__*: tool calls with it; 0 = any */
    const char *error_text; /* tool calls whose tool_call.error holds it (bytes, case
                               sensitive); NULL = any */
} qmatch;

/* Whether `ev` passes `m` (NULL: yes). */
int qmatch_event(const qmatch *m, const tp_event *ev);

/* Whether `m` asks for anything (a reader with it skips events). */
int qmatch_active(const qmatch *m);

/* From now on qreader_next returns only events that pass `m` (borrowed: keep it alive
 * while reading; NULL: every event). */
void qreader_set_match(qreader *r, const qmatch *m);

/* A new reader; NULL when out of memory. */
qreader *qreader_new(void);

/* The next event of `it` that passes the reader's qmatch, in *ev (borrowed, see above). Returns 0,
 * TS_EEND when done, TS_ECORRUPT when the stored bytes do not decode, TS_ENOMEM, or the iterator's
 * error. */
int qreader_next(qreader *r, ts_iter *it, const tp_event **ev);

/* Frees; accepts NULL and *r == NULL; sets *r to NULL. */
void qreader_destroy(qreader **r);

#endif
