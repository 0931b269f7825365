/*
 * spool.h - the shim's disk spool (internal to libtraceshim).
 *
 * Responsibility: an append-only store of packed events in a spool
 * directory, for events the collector has not acknowledged. The directory
 * holds `lock` (flock'd by the one client using it), `shim_id` (the stable
 * id of the shim that owns the directory, 32 hex digits) and segment files
 * `seg-<16 digits>.spool`.
 *
 * Segment format, version 2 (all integers little-endian):
 *   file header, 8 bytes: "ATSPOOL" and the version byte 0x02;
 *   then records, each a 16-byte header and its payload:
 *     u32 magic 0x43525441 (the bytes "ATRC"), u32 payload length,
 *     u32 CRC-32 (IEEE) of the payload, u32 CRC-32 of the 12 bytes before it,
 *     payload: one packed (masked) TraceEvent, at most SPOOL_RECORD_MAX bytes.
 * A reader trusts a length only once the header CRC matched and the length
 * fits both SPOOL_RECORD_MAX and the bytes left in the segment. A record
 * whose header is good but whose payload fails its CRC is skipped by its
 * length (one event lost); a header that fails is skipped by scanning for
 * the next offset holding a good header (magic, header CRC, plausible
 * length): a damaged span of unknown event count. A false resync would need
 * the magic and a matching header CRC by chance (2^-32 per offset), or an
 * event whose bytes embed a whole record: such an event is still validated
 * and masked again by the collector like any other.
 *
 * Version 1 segments (no file header; records u32 length, u32 CRC-32,
 * payload) are still read; their damage cannot be resynchronised, so the
 * rest of such a segment after a bad record is reported as one span of
 * unknown event count. A segment with a file header of another version is
 * refused (reported, renamed to `<name>.unreadable`, not deleted).
 * A v1 segment cannot begin with "ATSP": as a v1 length it is > the limit.
 *
 * Invariants: records are only ever appended to the newest (write) segment;
 * a failed append leaves the segment as it was (truncated back), so a half
 * record never hides later ones; segments are replayed oldest first and
 * deleted whole, only after every event in them was acked; a segment being
 * replayed is never written again.
 *
 * Threading: every function is safe to call from several threads (one
 * internal mutex); the replay functions are meant for the background thread.
 * The cursor functions touch only their arguments.
 */
#ifndef AGENTTRAIL_SPOOL_H
#define AGENTTRAIL_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "atcommon.h"

#define SPOOL_FORMAT_VERSION 2
#define SPOOL_RECORD_MAX (64u << 20) /* largest record payload, bytes */
#define SPOOL_SEGMENT_HEADER 8       /* bytes before the first record (version 2) */

typedef struct spool spool;

/* Opens (creating, 0700) a spool directory, locks it, reads or creates its
 * shim id into shim_id (33 bytes, NUL-terminated). Returns 0, -1 with
 * errno-like meaning in *locked (1 when another process holds it); message
 * in err->what (err may be NULL). */
int spool_open(const char *dir, spool **out, char shim_id[33], int *locked, at_error *err);

/* fsyncs, unlocks, frees; accepts NULL; sets *sp to NULL. */
void spool_close(spool **sp);

/* The spool directory's path (valid until close). */
const char *spool_dir(const spool *sp);

/* Appends `n` records (bufs[i], lens[i]) to the write segment without
 * fsync; they count as spooled only once spool_sync made them durable.
 * All or nothing: on failure the segment is truncated back to where it was.
 * Returns 0 or -1 with errno set (EMSGSIZE: a record over SPOOL_RECORD_MAX,
 * nothing written; ENOSPC, EDQUOT, EFBIG, EIO...: the write failed). */
int spool_append(spool *sp, const uint8_t *const *bufs, const size_t *lens, size_t n);

/* fsyncs the write segment if anything was written since the last sync
 * (also segments closed unsynced by rotation). Returns how many records
 * became durable (>= 0), or -1 with errno set when the fsync failed: then
 * the records not known durable are cut off the segment (truncated back to
 * the last good fsync) and their number is put in *lost (may be NULL). */
long spool_sync(spool *sp, long *lost);

/* 1 when any segment holds records not yet deleted, else 0. */
int spool_has_data(spool *sp);

/* Takes the oldest segment for replay: rotates the write segment first when
 * it is the only one with data. Returns 1 with its id, its whole contents
 * (malloc'd, caller frees) and *inherited = 1 when the segment was on disk
 * before this spool was opened (left by an earlier client), 0 when nothing
 * is spooled, -1 on error. */
int spool_replay_take(spool *sp, uint64_t *seg_id, uint8_t **data, size_t *len, int *inherited);

/* The file name of segment `seg_id` (seg-<16 digits>.spool) into out. */
void spool_segment_name(uint64_t seg_id, char *out, size_t outlen);

/* Moves a segment that cannot be read out of the replay path: renamed to
 * `<name>.unreadable` in the directory (kept for a person or a newer tool).
 * 0 or -1. */
int spool_set_aside(spool *sp, uint64_t seg_id);

/* Deletes a replayed segment (all of it acked). 0 or -1. */
int spool_remove(spool *sp, uint64_t seg_id);

/* Where events that can never be delivered are kept (a person decides):
 * a segment-format file in the spool directory that replay never reads. */
#define SPOOL_ASIDE_NAME "undeliverable.spool"

/* Appends `n` records to SPOOL_ASIDE_NAME in the directory and fsyncs it.
 * All or nothing. 0 or -1 (errno set). */
int spool_put_aside(spool *sp, const uint8_t *const *bufs, const size_t *lens, size_t n);

/* A walk over the records of a segment's contents (borrowed bytes). */
typedef struct spool_cursor {
    const uint8_t *data;
    size_t len, off;
    int version; /* 1 or 2; 0 before the first call; -1 unknown version */
} spool_cursor;

/* What spool_cursor_next found where it could not read a record. */
typedef struct spool_damage {
    size_t off;      /* byte offset in the segment file where the damage starts */
    size_t bytes;    /* bytes skipped */
    long events;     /* events lost with it: 1, or -1 when unknown (header unreadable) */
    const char *why; /* static text for people */
} spool_damage;

void spool_cursor_init(spool_cursor *c, const uint8_t *data, size_t len);

/* Returns 1 with the next record's payload in *rec, *rec_len (pointing into
 * the data) and its offset in *rec_off (may be NULL); 0 at the end; -1 when
 * the bytes at the cursor are damaged: *dmg says where and how much, and
 * the cursor has moved past them to the next good record (or the end), so
 * that walking on reads the rest of the segment. An unknown format version
 * is one damage covering the whole segment (version -1). */
int spool_cursor_next(spool_cursor *c, const uint8_t **rec, size_t *rec_len, size_t *rec_off,
                      spool_damage *dmg);

/* CRC-32 (IEEE), as used in records. */
uint32_t spool_crc32(const uint8_t *p, size_t n);

#endif
