/*
 * reader.h - reading a page of events without an allocation per field.
 *
 * Responsibility: takes the next event of a store iterator as its stored bytes
 * (ts_iter_next_stored) and decodes them into an arena that is reset for every event, so the
 * hot loops of find, show and stats pay one protobuf decode and no malloc/free per field.
 * The decode is the store's own (plain protobuf-c, no re-validation: the collector validated
 * every event before the store took it).
 * Owns: the arena. Events it returns are borrowed: valid until the next qreader_next or
 * qreader_destroy; never pass them to tp_event_destroy.
 * Threading: a qreader is used by one thread.
 */
#ifndef AGENTTRAIL_QUERY_READER_H
#define AGENTTRAIL_QUERY_READER_H

#include "tracestore.h"

typedef struct qreader qreader;

/* A new reader; NULL when out of memory. */
qreader *qreader_new(void);

/* The next event of `it` in *ev (borrowed, see above). Returns 0, TS_EEND when done,
 * TS_ECORRUPT when the stored bytes do not decode, TS_ENOMEM, or the iterator's error. */
int qreader_next(qreader *r, ts_iter *it, const tp_event **ev);

/* Frees; accepts NULL and *r == NULL; sets *r to NULL. */
void qreader_destroy(qreader **r);

#endif
