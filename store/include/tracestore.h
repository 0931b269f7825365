/*
 * tracestore.h - libtracestore: the AgentTrail store on LMDB.
 *
 * One store = one directory = one LMDB environment. Events are kept
 * compressed (zstd with trained dictionaries), indexed by workflow, DRI,
 * incident, trace, time and event id, deduplicated by event id. The layout is
 * in docs/store-format.md.
 *
 * Writers: one process at a time writes a store (the collector holds an
 * exclusive lock file); a ts_store opened read-write is used by one thread at
 * a time. Readers: any number of processes may open the store read-only
 * (TS_OPEN_RDONLY) while the writer writes; a read-only ts_store may be used
 * by one thread at a time (open one per thread).
 *
 * Errors: 0 on success or a negative TS_E* code (the block -100..-199 of the
 * registry in atcommon.h); ts_strerror() describes it and ts_last_error() gives a
 * message with detail (the path, the LMDB or zstd reason) for the last failure on
 * that store. Error detail has one carrier, at_error (atcommon.h): ts_open, which
 * has no handle yet, fills the caller's `at_error *err`; once a handle exists its
 * calls keep the detail on the handle instead, read with ts_last_error, as
 * sqlite3_errmsg does for a connection (the handle-level use of the same carrier:
 * what at_error_format would print, with an empty `where`).
 *
 * Surface: this header and checkpoint.h, in store/include/, are all that a
 * consumer of libtracestore can include; LMDB and zstd are private to it.
 *
 * Layering inside the library (docs/store-format.md "Layering"): core (store.c)
 * <- codec (unit.c, dict.c) <- read (read.c, read_query.c) and write (append.c);
 * the ledger (ledger*.c, on merkle.c and checkpoint.c) plugs into writes through
 * the append hook only; open.c's ts_open puts the layers together.
 *
 * Durability: ts_append returns only after the LMDB commit is on disk
 * (no MDB_NOSYNC, no MDB_WRITEMAP). A process killed at any moment leaves the
 * store with every group whose ts_append returned and no part of any other.
 */
#ifndef AGENTTRAIL_TRACESTORE_H
#define AGENTTRAIL_TRACESTORE_H

#include <stddef.h>
#include <stdint.h>

#include "atcommon.h"
#include "traceproto.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Error codes. Numbered explicitly; never renumbered. */
enum {
    TS_OK = 0,
    TS_EINVAL = -100,    /* bad argument or filter */
    TS_ENOMEM = -101,    /* out of memory */
    TS_EIO = -102,       /* file system error (errno in ts_last_error) */
    TS_ENOTFOUND = -103, /* no such store / event / trace */
    TS_EVERSION = -104,  /* store schema version unknown to this build */
    TS_ECORRUPT = -105,  /* a checksum, a block or an index is wrong */
    TS_EFULL = -106,     /* the disk (not the map) is full: nothing written */
    TS_ELOCKED = -107,   /* another writer holds the store */
    TS_EREADONLY = -108, /* write on a read-only store */
    TS_ELMDB = -109,     /* another LMDB error (see ts_last_error) */
    TS_EZSTD = -110,     /* compression error */
    TS_EEND = -111,      /* iterator exhausted (not an error) */
};

const char *ts_strerror(int code);

typedef struct ts_store ts_store;

enum {
    TS_OPEN_RDONLY = 1 << 0, /* readers: never writes, never creates */
    TS_OPEN_CREATE = 1 << 1, /* create the directory and store if missing */
};

typedef struct ts_options {
    size_t map_size_initial; /* bytes; 0 = default (64 MiB); grows on MDB_MAP_FULL */
    size_t map_size_max;     /* bytes; 0 = no limit but the disk; past it: TS_EFULL */
    const tp_limits *limits; /* NULL = tp_limits_default() */
} ts_options;

/* The directory used when none is given: $AGENTTRAIL_STORE, else
 * ./agenttrail-store. Returns a static string. */
const char *ts_default_dir(void);

/* Opens (or with TS_OPEN_CREATE creates, 0700 dir / 0600 files) a store.
 * `opt` may be NULL. Read-write opens clear stale readers of dead
 * processes. Returns 0 and *out, or TS_ENOTFOUND (no store there),
 * TS_EVERSION, TS_ELOCKED, TS_EIO, TS_ELMDB; on failure *out is NULL and
 * `err` (if not NULL) holds a message for people (in err->what; err->where is empty). */
int ts_open(const char *dir, unsigned flags, const ts_options *opt, ts_store **out, at_error *err);

/* Closes; accepts NULL and *s == NULL; sets *s to NULL. */
void ts_close(ts_store **s);

/* Detail of the last failure on this store (never NULL). */
const char *ts_last_error(const ts_store *s);

/* ---- writing --------------------------------------------------------- */

enum {
    TS_RESULT_STORED = 1,    /* stored now, at log_index */
    TS_RESULT_DUPLICATE = 2, /* this event_id was already stored with the same content (a retry) */
    TS_RESULT_CONFLICT = 3,  /* this event_id was already stored with other content: not
                                stored (an emitter bug or an attack); the caller reports it */
};

typedef struct ts_result {
    int status;         /* TS_RESULT_* */
    uint64_t log_index; /* STORED: its position in the log; DUPLICATE, CONFLICT: the first copy's */
} ts_result;

/* Appends `n` validated events in one durable write transaction. For each
 * stored event the store sets stored.log_index (consecutive in commit order,
 * from 0; within a group the new events of one trace get consecutive
 * indexes, traces in order of their first event in `events`, so indexes need
 * not follow the order of `events`: read them from results); stored.received_unix_nano and
 * stored.source are kept as the caller set them (the collector stamps them; absent ones are set to
 * now and "anonymous"). Events whose event_id is already stored, or repeated within the group, are
 * not stored again: DUPLICATE when the first copy has the same content (its stored bytes and the
 * event's bytes are equal once `stored` is left out of both), CONFLICT when it differs. Only
 * events whose id is already there are compared (their first copy is read back), so new events
 * cost nothing more. The events are modified (stored stamps) but stay owned by the
 * caller. Returns 0 once the commit is durable, with results[i] for each event; on error nothing of
 * the group is stored. TS_EFULL when the map may not grow further or the disk is full. */
int ts_append(ts_store *s, tp_event *const *events, size_t n, ts_result *results);

/* ---- reading --------------------------------------------------------- */

/* Filters; a zero/NULL member means "any". All given members must match. */
typedef struct ts_filter {
    const char *workflow;
    const char *dri;
    const char *incident; /* also matches traces linked to it by incident_link */
    const char *service;
    const char *model;       /* model.name */
    const char *tool;        /* tool_call.name */
    const char *source;      /* stored.source */
    const uint8_t *trace_id; /* 16 bytes */
    int kind;                /* AGENTTRAIL__V1__KIND__*, 0 = any */
    int outcome;             /* AGENTTRAIL__V1__DECISION__*, 0 = any */
    uint64_t since;          /* time_unix_nano >= since (0 = open) */
    uint64_t until;          /* time_unix_nano < until (0 = open) */
} ts_filter;

/* A resume point: opaque, printable. ts_iter_cursor() gives the cursor
 * after the last event returned; passing it to ts_query resumes after it. */
#define TS_CURSOR_LEN 64
typedef struct ts_cursor {
    char text[TS_CURSOR_LEN]; /* NUL-terminated hex */
} ts_cursor;

typedef struct ts_iter ts_iter;

/* Starts a query: events matching `f` in time order (ties: log order),
 * after `after` if not NULL. The most selective index is chosen (trace,
 * incident, workflow, dri, then time). The iterator holds no read
 * transaction between calls to ts_iter_next. Returns 0 and *out, or
 * TS_EINVAL (bad cursor). */
int ts_query(ts_store *s, const ts_filter *f, const ts_cursor *after, ts_iter **out);

/* The next matching event, a new event owned by the caller (with `stored`
 * set). Returns 0, TS_EEND when done, or an error. */
int ts_iter_next(ts_iter *it, tp_event **ev);

/* Like ts_iter_next, but gives the next matching event's stored bytes (the
 * protobuf with `stored`, as ts_get_stored_bytes) without building an event:
 * *buf is borrowed and valid until the next call on this store or iterator.
 * For readers that forward or hash events rather than inspect them.
 * Returns 0, TS_EEND when done, or an error. */
int ts_iter_next_stored(ts_iter *it, const uint8_t **buf, size_t *len);

/* The cursor after the last event returned. */
void ts_iter_cursor(const ts_iter *it, ts_cursor *out);

/* Which index the query uses ("trace", "incident", "workflow", "dri",
 * "time"), for tests and --explain. */
const char *ts_iter_index_name(const ts_iter *it);

void ts_iter_destroy(ts_iter **it);

/* Gets one event by id: 0 and a new event, or TS_ENOTFOUND. */
int ts_get(ts_store *s, const uint8_t event_id[16], tp_event **ev);

/* The stored bytes of one event (protobuf with `stored`, as hashed by the
 * Merkle log) by log index: malloc'd, caller frees. 0 or TS_ENOTFOUND. */
int ts_get_stored_bytes(ts_store *s, uint64_t log_index, uint8_t **buf, size_t *len);

/* Counts. */
typedef struct ts_stats {
    uint64_t events;        /* stored events == next log_index */
    uint64_t traces;        /* distinct trace ids */
    uint64_t bytes_on_disk; /* data.mdb size */
    uint64_t map_size;
    uint32_t dictionaries; /* trained dictionaries in meta */
} ts_stats;
int ts_stat(ts_store *s, ts_stats *out);

/* ---- trace ids by prefix (store/trace_ids.c) -------------------------- */

/* The stored trace ids that begin with the `len` lowercase hex digits of `hex` (1..32):
 * the first `max` of them (bytewise order) into out[], their number in *count (all of
 * them, also past `max`). Returns 0, TS_EINVAL (not lowercase hex, or len outside 1..32),
 * or a read error. */
int ts_trace_ids_by_prefix(ts_store *s, const char *hex, size_t len, uint8_t (*out)[16], size_t max,
                           size_t *count);

/* The number of hex digits (1..32) of `trace` that no other stored trace id begins with:
 * its shortest unique prefix now (a later trace may share it). `trace` need not be stored.
 * Returns 0 and *digits, or a read error. */
int ts_trace_id_unique_len(ts_store *s, const uint8_t trace[16], size_t *digits);

/* ---- checking -------------------------------------------------------- */

/* Verifies every index entry points to a stored event, every stored event
 * is in each index that applies, every block's SHA-256 matches and every
 * event decodes. `report` (may be NULL) is called once per problem found
 * with a message for people; returns 0 when all is well, TS_ECORRUPT when
 * any problem was found, or another error. */
typedef void (*ts_report_fn)(void *ctx, const char *message);
int ts_check(ts_store *s, ts_report_fn report, void *ctx);

/* ==== the Merkle log and its checkpoints (store/ledger.c) ===============
 *
 * Every stored event is leaf `log_index` of an RFC 9162 Merkle tree: leaf
 * hash = SHA-256(0x00 || stored bytes), node = SHA-256(0x01 || left ||
 * right). The store keeps the leaf hashes (in the blocks) and the complete
 * subtree hashes of level >= 4 (log_nodes; lower ones are computed from at
 * most 16 leaf hashes), written in ts_append's transaction, so roots and
 * proofs need O(log n) reads and no event. Signed checkpoints (C2SP
 * tlog-checkpoint signed notes, see docs/ledger.md) are kept in
 * log_checkpoints, oldest first. Same threading and error rules as above;
 * read-write and read-only stores answer every ts_log_* read. */

#define TS_HASH_LEN 32
#define TS_PROOF_MAX 64 /* hashes in any proof */

/* The committed size of the log (== ts_stat().events). 0 or an error. */
int ts_log_size(ts_store *s, uint64_t *size);

/* The root of the tree of the first `size` leaves (size <= ts_log_size).
 * 0, TS_EINVAL (size too large), TS_ECORRUPT (a node missing), TS_ELMDB. */
int ts_log_root(ts_store *s, uint64_t size, uint8_t root[TS_HASH_LEN]);

/* The stored leaf hash of `log_index`. 0 or TS_ENOTFOUND. */
int ts_log_leaf(ts_store *s, uint64_t log_index, uint8_t leaf[TS_HASH_LEN]);

/* The inclusion proof of leaf `log_index` in the tree of `size` leaves
 * (RFC 9162 2.1.3) into proof[0..*n) (capacity TS_PROOF_MAX).
 * 0, TS_EINVAL (index >= size or size > log size), TS_ECORRUPT. */
int ts_log_inclusion_proof(ts_store *s, uint64_t log_index, uint64_t size,
                           uint8_t proof[][TS_HASH_LEN], size_t *n);

/* The consistency proof from the tree of `old_size` leaves to that of
 * `new_size` (RFC 9162 2.1.4) into proof[0..*n) (capacity TS_PROOF_MAX).
 * 0, TS_EINVAL, TS_ECORRUPT. */
int ts_log_consistency_proof(ts_store *s, uint64_t old_size, uint64_t new_size,
                             uint8_t proof[][TS_HASH_LEN], size_t *n);

/* Inclusion proofs of n leaves in the tree of `size` leaves, in one read
 * transaction with the shared upper nodes read once: what an export or a
 * proof server wants. proofs[i] / lens[i] as ts_log_inclusion_proof.
 * 0, TS_EINVAL (an index >= size), TS_ENOMEM, TS_ECORRUPT. */
int ts_log_inclusion_proofs(ts_store *s, uint64_t size, size_t n, const uint64_t *indexes,
                            uint8_t (*proofs)[TS_PROOF_MAX][TS_HASH_LEN], size_t *lens);

/* Recomputes the tree from the stored events in one read transaction: for
 * every log index, decodes the stored bytes, checks the stored leaf hash
 * against SHA-256(0x00 || bytes), and gives the roots of the recomputed tree
 * at the ascending sizes[0..nsizes) into roots (and, when not NULL, its root
 * at the full log size into *full_root, the size into *full_size).
 * `report` gets a message naming the first log index that fails; `progress`
 * (may be NULL) is called every 65536 events. 0, TS_ECORRUPT, or an error. */
int ts_log_recompute(ts_store *s, size_t nsizes, const uint64_t *sizes,
                     uint8_t (*roots)[TS_HASH_LEN], uint8_t full_root[TS_HASH_LEN],
                     uint64_t *full_size, ts_report_fn report, void *ctx,
                     void (*progress)(void *pctx, uint64_t done, uint64_t total), void *pctx);

/* Pure checks, no store needed: 0 when the proof holds, TS_ECORRUPT when
 * not, TS_ENOMEM when OpenSSL fails. Leaf hash of bytes: ts_log_leaf_hash. */
int ts_log_verify_inclusion(const uint8_t leaf[TS_HASH_LEN], uint64_t log_index, uint64_t size,
                            const uint8_t proof[][TS_HASH_LEN], size_t n,
                            const uint8_t root[TS_HASH_LEN]);
int ts_log_verify_consistency(uint64_t old_size, uint64_t new_size,
                              const uint8_t old_root[TS_HASH_LEN],
                              const uint8_t new_root[TS_HASH_LEN],
                              const uint8_t proof[][TS_HASH_LEN], size_t n);
/* SHA-256(0x00 || bytes) into leaf. 0, or TS_ENOMEM when OpenSSL fails. */
int ts_log_leaf_hash(const void *bytes, size_t len, uint8_t leaf[TS_HASH_LEN]);

/* Recomputes every stored subtree hash (log_nodes) from the stored leaf
 * hashes, in one read transaction, and compares them; `report` (may be NULL)
 * gets a message for the first difference. 0, TS_ECORRUPT, or an error. */
int ts_log_check_nodes(ts_store *s, ts_report_fn report, void *ctx);

/* The log's origin (the first line of its checkpoints, naming this store:
 * "agenttrail/<host>/<random id>", chosen when the store is created).
 * 0 or TS_ENOTFOUND (a store from before the ledger, opened read-only). */
int ts_log_origin(ts_store *s, char *out, size_t outlen);

/* The most entries a running collector leaves after its latest checkpoint (log_info
 * "tail_max", written by the collector's signer at start, store/log_info.c): verify
 * --store reports a longer unsigned tail as removed checkpoints. Set: read-write stores,
 * 0, TS_EREADONLY, TS_ELMDB. Get: 0, TS_ENOTFOUND (never recorded), TS_ECORRUPT. */
int ts_log_set_tail_max(ts_store *s, uint64_t tail_max);
int ts_log_tail_max(ts_store *s, uint64_t *tail_max);

/* Keeps a signed checkpoint note (read-write stores). The note must parse,
 * name this store's origin, and its size and root must be those of this
 * log; its signature is the signer's business (collector/signer.c).
 * 0, TS_EINVAL (malformed or another origin), TS_ECORRUPT (root differs
 * from the log's), TS_EREADONLY, TS_ELMDB. */
int ts_checkpoint_add(ts_store *s, const char *note, size_t len);

/* How many checkpoints are kept. 0 or an error. */
int ts_checkpoint_count(ts_store *s, uint64_t *count);

/* Checkpoint number `seq` (0 = oldest) or, with seq == UINT64_MAX, the
 * latest: a malloc'd NUL-terminated note the caller frees, *len without the
 * NUL. 0 or TS_ENOTFOUND. */
int ts_checkpoint_get(ts_store *s, uint64_t seq, char **note, size_t *len);

#ifdef __cplusplus
}
#endif
#endif
