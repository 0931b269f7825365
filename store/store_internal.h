/*
 * store_internal.h - what the files of libtracestore share, and the seam the
 * Merkle ledger (store/merkle.c, store/checkpoint.c) builds on.
 *
 * Owns: the ts_store structure (LMDB environment, named databases, the cached
 * read transaction, zstd contexts and dictionaries, the lock file), and the
 * helpers every store file uses: error recording, big-endian keys, the unit
 * codec (unit.c) and its dictionaries (dict.c), index writes (append.c) and the
 * read path (read.c, read_query.c). Internal: consumers of the library cannot
 * include it (store/CMakeLists.txt keeps store/ PRIVATE).
 *
 * Layering (docs/store-format.md "Layering"): core (store.c) <- codec (unit.c,
 * dict.c) <- read (read.c, read_query.c) and write (append.c); the ledger is
 * attached by open.c and enters a write only through the append hook.
 *
 * Invariants: a ts_store is used by one thread at a time. At most one write
 * transaction is open (inside ts_append or a helper it calls). The cached read
 * transaction is reset between public calls, so no snapshot is pinned while
 * the caller is not inside the library. The map is grown only when no
 * transaction of this ts_store is open.
 *
 * Ledger seam: ts_internal_env, ts_internal_dbi, ts_internal_set_append_hook,
 * ts_internal_read_stored, ts_internal_leaf_get and ts_internal_leaves_read. The layout of every
 * table is in docs/store-format.md.
 *
 * Threading: none of these functions is thread-safe on one ts_store.
 */
#ifndef AGENTTRAIL_STORE_INTERNAL_H
#define AGENTTRAIL_STORE_INTERNAL_H

#include <lmdb.h>
#include <stdint.h>
#include <stdio.h>

#include "tracestore.h"

/* Schema version kept in meta under "schema_version" (4 bytes BE). */
#define TS_SCHEMA_VERSION 3u /* 3: events holds blocks; event_ids is bucketed */
/* Format version carried in the first byte of every stored unit: 2 = a block
 * of consecutive events (version 1, one event per unit, was schema 2's). */
#define TS_UNIT_VERSION 2u
/* Unit header: version (1), codec (1), dictionary id (4 BE), SHA-256 (32) of
 * everything after it; then the event count (1) and the events' leaf hashes
 * (32 each, uncompressed: proofs read them without decompressing), then the
 * compressed payload. */
#define TS_UNIT_HEADER 38u
#define TS_UNIT_LEAVES (TS_UNIT_HEADER + 1u)
/* A block holds the new events of one trace within one group, at most this many
 * events and about this many raw bytes (a read decompresses a whole block). */
#define TS_BLOCK_MAX_EVENTS 64u
#define TS_BLOCK_MAX_RAW (64u * 1024u)
enum { TS_CODEC_RAW = 0, TS_CODEC_ZSTD = 1 };

/* Index entry (the duplicate value of every by_* table): time BE8 + log index BE8. */
#define TS_ENTRY_LEN 16u
/* event_ids: key = the first TS_ID_BUCKET byte(s) of the event id; duplicate
 * = the other bytes of the id then the log index as BE48 (DUPFIXED, sorted by
 * id): 256 sub-databases of 21-byte entries packed in their own pages. */
#define TS_ID_BUCKET 1u
#define TS_ID_ENTRY (16u - TS_ID_BUCKET + 6u)

/* Named databases. */
enum {
    TS_DBI_META,
    TS_DBI_EVENTS,
    TS_DBI_IDS, /* event_ids */
    TS_DBI_BY_WORKFLOW,
    TS_DBI_BY_DRI,
    TS_DBI_BY_INCIDENT,
    TS_DBI_BY_TRACE,
    TS_DBI_BY_TIME,
    TS_DBI_TRACE_INCIDENTS,
    TS_DBI_TRACES, /* trace_id (16) -> BE64 trace number, in order of first appearance */
    TS_DBI_COUNT
};

/* The hook the ledger registers: called inside ts_append's write transaction
 * after the stored events of the group are written, before the commit, with
 * the log indexes [first, first + n) just stored (n may be 0 when the whole
 * group was duplicates). Returns 0, a TS_E* code, or an LMDB code; anything
 * but 0 aborts the transaction (MDB_MAP_FULL: the map grows and the whole
 * group, hook included, is retried). */
typedef int (*ts_append_hook)(void *ctx, ts_store *s, MDB_txn *txn, uint64_t first, uint64_t n);

/* A trained dictionary, for compression (writer) and decompression. */
typedef struct ts_dict {
    uint32_t id;
    void *cdict; /* ZSTD_CDict *, writer only, may be NULL */
    void *ddict; /* ZSTD_DDict *, created on first use */
} ts_dict;

/* A decoded block: the stored bytes of the events [first, first + count). */
typedef struct ts_block {
    uint64_t first; /* UINT64_MAX when empty */
    uint32_t count;
    uint8_t leaves[TS_BLOCK_MAX_EVENTS][32]; /* leaf hash of each event, from the unit */
    uint8_t *buf;                            /* decompressed payload */
    size_t len, cap;
    uint32_t *off; /* event i is buf[off[i] .. off[i + 1]) */
    size_t offcap;
} ts_block;

/* The read cache: the last decoded blocks (stored bytes never change once
 * committed, so entries never go stale), replaced round robin. */
#define TS_CACHE_SLOTS 32

struct ts_store {
    MDB_env *env;
    MDB_dbi dbi[TS_DBI_COUNT];
    unsigned flags; /* TS_OPEN_* */
    char *dir;
    int lock_fd; /* read-write opens: flock'd lock file; -1 otherwise */
    size_t map_size, map_max;
    tp_limits limits;

    MDB_txn *rtxn; /* cached read transaction, reset when idle */
    int rtxn_live; /* 1 while it holds a snapshot */

    void *cctx; /* ZSTD_CCtx * */
    void *dctx; /* ZSTD_DCtx * */
    ts_dict *dicts;
    size_t ndicts, dicts_cap;
    uint32_t dict_current; /* 0 = none yet */

    /* Writer state (read-write only). */
    uint64_t log_size;                /* next log index */
    uint64_t next_train_at;           /* stored events count that triggers (re)training */
    uint64_t drift_raw, drift_packed; /* bytes since the current dictionary */
    double dict_ratio;                /* packed/raw measured on the first events after training */
    /* Training policy (defaults in unit.c; tests shrink them): the first dictionary at
     * train_first stored events, a larger one at train_second, then whenever a window of
     * drift_window raw bytes compresses 25% worse than the first window after training. */
    uint64_t train_first, train_second, drift_window;
    uint8_t *zbuf;
    size_t zcap;
    at_sha256_ctx *sha; /* SHA-256 of units and leaves (libtracecommon), reused: one fetch */

    ts_append_hook hook;
    void *hook_ctx;

    ts_block cache[TS_CACHE_SLOTS];
    unsigned cache_next; /* the slot replaced next */
    /* Writer: the stored bytes of the block being built, back to back, and
     * their lengths; raw_buf: the block's payload before compression. */
    uint8_t *blk_buf;
    size_t blk_len, blk_cap;
    uint32_t blk_lens[TS_BLOCK_MAX_EVENTS];
    uint8_t blk_leaves[TS_BLOCK_MAX_EVENTS][32];
    uint8_t *raw_buf;
    size_t raw_cap;
    char err[512];
};

/* ---- errors and helpers (store.c) ------------------------------------ */

/* Records a message in s->err and returns `code`. */
int ts_fail(ts_store *s, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Translates an LMDB return code (records "what: mdb_strerror" and returns
 * TS_ELMDB, TS_EFULL, TS_ENOTFOUND or TS_ENOMEM). 0 stays 0. */
int ts_fail_mdb(ts_store *s, int rc, const char *what);

void ts_put_be64(uint8_t *p, uint64_t v);
uint64_t ts_get_be64(const uint8_t *p);
void ts_put_be32(uint8_t *p, uint32_t v);
uint32_t ts_get_be32(const uint8_t *p);

/* The core's part of ts_open (store.c): directory, lock, environment, tables, schema and
 * counters, in one transaction in which in_open_txn (may be NULL) runs last, so that the
 * layers above load their state from the same snapshot (open.c). 0 or a TS_E* code. */
typedef int (*ts_open_fn)(ts_store *s, MDB_txn *txn);
int ts_core_open(ts_store *s, const ts_options *opt, ts_open_fn in_open_txn);
/* The core's part of ts_close: the read transaction, the environment, the lock. */
void ts_core_close(ts_store *s);

/* Begins (or renews) the cached read transaction, following the map if a
 * writer grew it. 0 or a TS_E* code. */
int ts_read_begin(ts_store *s, MDB_txn **txn);
/* Releases the snapshot (mdb_txn_reset); the handle is kept for reuse. */
void ts_read_end(ts_store *s);
/* Drops the cached read transaction entirely (before the map grows). */
void ts_read_drop(ts_store *s);
/* The end of a small write transaction: aborts it when rc is an error (and returns rc), else
 * commits it, a failed commit reported as `what` ("committing a checkpoint"). */
int ts_write_end(ts_store *s, MDB_txn *txn, int rc, const char *what);

/* Grows the map (no transaction of this store may be open). 0 or TS_EFULL. */
int ts_map_grow(ts_store *s, size_t need);

/* ---- units and dictionaries (unit.c) --------------------------------- */

/* Encodes the stored bytes of `n` consecutive events (events[i] of lens[i]
 * bytes, laid out back to back in `data`) and their leaf hashes into a block
 * unit in s->zbuf. out and outlen borrow s->zbuf until the next call.
 * 0 or TS_EZSTD/TS_ENOMEM. */
int ts_block_encode(ts_store *s, const uint8_t *data, const uint32_t *lens,
                    const uint8_t (*leaves)[32], size_t n, const uint8_t **out, size_t *outlen);
/* The leaf hash of `li` from the unit stored under `first`, without
 * decompressing it. 0, TS_ENOTFOUND (not in this unit) or TS_ECORRUPT. */
int ts_unit_leaf(const uint8_t *unit, size_t len, uint64_t first, uint64_t li, uint8_t out[32]);
/* Decodes the unit stored under log index `first` into *b: checks the
 * version, the SHA-256 of the payload (when `verify`), the dictionary,
 * decompresses, and splits the events.
 * 0, TS_ECORRUPT (message set), TS_ENOMEM. */
int ts_block_decode(ts_store *s, MDB_txn *txn, uint64_t first, const uint8_t *unit, size_t len,
                    int verify, ts_block *b);
/* The stored bytes of `li` inside a decoded block (borrowed from it). 0 or
 * TS_ENOTFOUND when the block does not hold it. */
int ts_block_event(const ts_block *b, uint64_t li, const uint8_t **buf, size_t *len);
void ts_block_free(ts_block *b);
/* Finds the unit holding `li` with cursor `c` on events: the unit whose key
 * is the greatest first log index <= li. 0 with *first and the unit (borrowed
 * from the snapshot), MDB_NOTFOUND, or another LMDB code. The caller checks
 * that the decoded block really holds li. */
int ts_block_find(MDB_cursor *c, uint64_t li, uint64_t *first, MDB_val *unit);
/* SHA-256 of (prefix byte if prefix >= 0) || data into out. 0 or TS_ENOMEM. */
int ts_sha256(ts_store *s, int prefix, const uint8_t *data, size_t len, uint8_t out[32]);

/* ---- dictionaries and training (dict.c, codec layer) ------------------ */

/* Loads the dictionaries named in meta (for the writer: also the current
 * one's compression dictionary). 0 or an error. */
int ts_dicts_load(ts_store *s, MDB_txn *txn);
/* Sets the training policy's defaults (before ts_dicts_load). */
void ts_dict_policy_default(ts_store *s);
/* Trains a new dictionary from the most recent stored events when the
 * policy says so, in its own write transaction. 0 or an error. */
int ts_dict_maybe_train(ts_store *s);
void ts_dicts_free(ts_store *s);
/* Records how well the current dictionary compresses (drives retraining). */
void ts_dict_observe(ts_store *s, size_t raw, size_t packed);
/* The dictionary `id` for decoding, loading the ones written since the store was opened;
 * NULL when meta has no such dictionary. */
ts_dict *ts_dict_for_read(ts_store *s, MDB_txn *txn, uint32_t id);

/* ---- read path (read.c) ---------------------------------------------- */

/* The by_trace key of a trace: its BE64 trace number from `traces` (numbers
 * are given in order of first appearance, so the entries of recent traces
 * share the last pages of by_trace). 0 and out, MDB_NOTFOUND for a trace
 * never stored, or another LMDB code. */
int ts_trace_key(ts_store *s, MDB_txn *txn, const uint8_t trace[16], uint8_t out[8]);

/* Reads a base-128 varint (protobuf's) from [*p, end), advancing *p. 0 or -1
 * (cut or longer than 64 bits). */
int ts_varint_get(const uint8_t **p, const uint8_t *end, uint64_t *out);

/* The time_unix_nano of stored bytes, read from the protobuf wire format
 * without unpacking (0 when absent or unreadable, as the indexes use). */
uint64_t ts_stored_time(const uint8_t *buf, size_t len);

/* Looks an event id up in event_ids with cursor `c`: 0 and *li, MDB_NOTFOUND,
 * or another LMDB code. */
int ts_id_lookup(MDB_cursor *c, const uint8_t id[16], uint64_t *li);
/* The event_ids entry of (id, li) into e (TS_ID_ENTRY bytes); the key is the
 * id's first TS_ID_BUCKET bytes. */
void ts_id_entry(const uint8_t id[16], uint64_t li, uint8_t e[TS_ID_ENTRY]);

/* The stored bytes of `log_index` inside `txn`, through the per-store cache:
 * *buf borrows the cache until the next read call on this store.
 * 0, TS_ENOTFOUND, TS_ECORRUPT. */
int ts_read_stored(ts_store *s, MDB_txn *txn, uint64_t log_index, const uint8_t **buf, size_t *len);
/* The same with an open cursor on events (a positioned cursor finds nearby
 * units without descending from the root). */
int ts_read_stored_cur(ts_store *s, MDB_txn *txn, MDB_cursor *events, uint64_t log_index,
                       const uint8_t **buf, size_t *len);
/* Unpacks stored bytes into a new event (caller frees with tp_event_destroy
 * or protobuf-c's free_unpacked). 0 or TS_ECORRUPT. */
int ts_event_decode(ts_store *s, const uint8_t *buf, size_t len, tp_event **ev);
void ts_cache_clear(ts_store *s);

/* ---- the ledger seam ------------------------------------------------- */

/* The LMDB environment of the store (borrowed, valid until ts_close). */
MDB_env *ts_internal_env(ts_store *s);

/* Opens (with `create` and a write transaction: creates) a named database
 * inside `txn`. `mdb_flags` are extra mdb_dbi_open flags (MDB_DUPSORT...).
 * 0 and *dbi, TS_ENOTFOUND if missing and not created, TS_ELMDB. */
int ts_internal_dbi(ts_store *s, MDB_txn *txn, const char *name, unsigned mdb_flags, int create,
                    MDB_dbi *dbi);

/* Registers the append hook (NULL to remove). Read-write stores only. */
void ts_internal_set_append_hook(ts_store *s, ts_append_hook fn, void *ctx);

/* The stored bytes of an event by log index inside `txn` (any transaction of
 * this store, read or write): malloc'd copy, caller frees. 0, TS_ENOTFOUND,
 * TS_ECORRUPT, TS_ENOMEM. */
int ts_internal_read_stored(ts_store *s, MDB_txn *txn, uint64_t log_index, uint8_t **buf,
                            size_t *len);

/* The leaf hash SHA-256(0x00 || stored bytes) of log_index, kept in the
 * header of its block. 0, TS_ENOTFOUND or TS_ECORRUPT. */
int ts_internal_leaf_get(ts_store *s, MDB_txn *txn, uint64_t log_index, uint8_t out[32]);
/* The leaf hashes of [first, first + n) in out, block by block through
 * *cur (a cursor on events opened on first use; the caller closes it).
 * 0, TS_ENOTFOUND (beyond the log or a block missing) or TS_ECORRUPT. */
int ts_internal_leaves_read(ts_store *s, MDB_txn *txn, MDB_cursor **cur, uint64_t first, size_t n,
                            uint8_t (*out)[32]);

/* The number of entries in the log (next log index) as committed in `txn`. */
int ts_internal_log_size(ts_store *s, MDB_txn *txn, uint64_t *out);

#endif
