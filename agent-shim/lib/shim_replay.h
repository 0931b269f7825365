/*
 * shim_replay.h - the spool segment being replayed (internal to libtraceshim).
 *
 * Responsibility: reads a segment taken from the spool once, checks every
 * record (spool_cursor_next: CRC and length), reports each damaged span
 * (segment file, byte offset, events lost or "unknown") and keeps an index
 * of the good records with an acked mark each, so that replayed batches are
 * cut from the index, a batch that fails is read again, and records of
 * batches acked out of order are never sent twice.
 * Ownership: a replay_seg owns the segment's bytes and its index; the event
 * bytes it hands out point into them and stay valid until replay_seg_clear.
 * Threading: the background thread only.
 */
#ifndef AGENTTRAIL_SHIM_REPLAY_H
#define AGENTTRAIL_SHIM_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#include "spool.h"

typedef struct replay_rec {
    size_t off, len; /* payload offset and length in the segment's bytes */
} replay_rec;

typedef struct replay_seg {
    int active;
    uint64_t id;
    uint8_t *data;
    size_t len;
    replay_rec *recs;
    uint8_t *acked; /* one mark per record */
    size_t n, next; /* records; the next one to send */
} replay_seg;

/* What loading a segment found. */
typedef struct replay_found {
    uint64_t records; /* good records */
    uint64_t lost;    /* events of damaged records with a readable header */
    uint64_t spans;   /* damaged spans of unknown event count */
    int inherited;    /* the segment was left by an earlier client */
    int unreadable;   /* unknown format version: set aside, nothing to send */
} replay_found;

/* Receives one line for people (no newline). */
typedef void (*replay_report_fn)(void *ctx, const char *line);

/* Takes the oldest segment of `sp` and indexes it; each damaged span is
 * reported through `report`. Returns 1 loaded (r->active), 0 nothing
 * spooled, -1 error (out of memory, unreadable file). */
int replay_seg_load(replay_seg *r, spool *sp, replay_report_fn report, void *ctx,
                    replay_found *found);

/* Fills up to `max` events (at most `max_bytes` of event bytes, but at
 * least one) from the next records not yet acked; *first is the index of
 * the first; the records taken are those from *first to the returned index
 * end (exclusive) not yet acked. Returns the number of events. */
size_t replay_seg_take(replay_seg *r, size_t max, size_t max_bytes, uint8_t **evs, size_t *lens,
                       size_t *first, size_t *end);

/* Marks records [first, end) acked. */
void replay_seg_acked(replay_seg *r, size_t first, size_t end);

/* Sending resumes at record `first` (records already acked are skipped). */
void replay_seg_rewind(replay_seg *r, size_t first);

/* 1 when every record was taken. */
int replay_seg_all_taken(const replay_seg *r);

/* Frees the bytes and the index; r is inactive afterwards. */
void replay_seg_clear(replay_seg *r);

#endif
