/*
 * spool.h - the shim's disk spool (internal to libtraceshim).
 *
 * Responsibility: an append-only store of packed events in a spool
 * directory, for events the collector has not acknowledged. The directory
 * holds `lock` (flock'd by the one client using it), `shim_id` (the stable
 * id of the shim that owns the directory, 32 hex digits) and segment files
 * `seg-<16 digits>.spool`. Each segment is a sequence of records:
 * u32 little-endian length, u32 little-endian CRC-32 of the payload, payload
 * (one packed TraceEvent). A torn last record (crash during a write) fails
 * its length or CRC check and ends the segment there.
 *
 * Invariants: records are only ever appended to the newest (write) segment;
 * segments are replayed oldest first and deleted whole, only after every
 * event in them was acked; a segment being replayed is never written again.
 *
 * Threading: every function is safe to call from several threads (one
 * internal mutex); the replay functions are meant for the background thread.
 */
#ifndef AGENTTRAIL_SPOOL_H
#define AGENTTRAIL_SPOOL_H

#include <stddef.h>
#include <stdint.h>

typedef struct spool spool;

/* Opens (creating, 0700) a spool directory, locks it, reads or creates its
 * shim id into shim_id (33 bytes, NUL-terminated). Returns 0, -1 with
 * errno-like meaning in *locked (1 when another process holds it); message
 * in errbuf. */
int spool_open(const char *dir, spool **out, char shim_id[33], int *locked, char *errbuf,
               size_t errlen);

/* fsyncs, unlocks, frees; accepts NULL; sets *sp to NULL. */
void spool_close(spool **sp);

/* Appends `n` records (bufs[i], lens[i]) to the write segment without
 * fsync; they count as spooled only once spool_sync made them durable.
 * Returns 0 or -1 (errno set). */
int spool_append(spool *sp, const uint8_t *const *bufs, const size_t *lens, size_t n);

/* fsyncs the write segment if anything was written since the last sync
 * (also segments closed unsynced by rotation). Returns how many records
 * became durable (>= 0), or -1. */
long spool_sync(spool *sp);

/* 1 when any segment holds records not yet deleted, else 0. */
int spool_has_data(spool *sp);

/* Takes the oldest segment for replay: rotates the write segment first when
 * it is the only one with data. Returns 1 with its id and its whole contents
 * (malloc'd, caller frees), 0 when nothing is spooled, -1 on error. */
int spool_replay_take(spool *sp, uint64_t *seg_id, uint8_t **data, size_t *len);

/* Deletes a replayed segment (all of it acked). 0 or -1. */
int spool_remove(spool *sp, uint64_t seg_id);

/* Walks the records of a segment's contents: returns 1 with the next record
 * at *off (advanced), 0 at a clean end, -1 at a torn or corrupt record. */
int spool_record_next(const uint8_t *data, size_t len, size_t *off, const uint8_t **rec,
                      size_t *rec_len);

/* CRC-32 (IEEE), as used in records. */
uint32_t spool_crc32(const uint8_t *p, size_t n);

#endif
