/*
 * signer.h - the collector's checkpoint signer: its Ed25519 key and the signed checkpoints of
 * the store's Merkle log (docs/ledger.md).
 *
 * Responsibility: keeps the key file (PKCS#8 PEM, created 0600 on the first start of a new,
 * empty log only, never overwritten; default STORE/checkpoint.key), and after commits signs a
 * checkpoint of the log (C2SP tlog-checkpoint signed note, stamped with the signing time) at
 * most every interval_ms, or at once past `entries` unsigned entries, keeping it in the store
 * (ts_checkpoint_add) and appending it to the witness directory when there is one
 * (store/include/checkpoint.h); records the unsigned-tail bound in log_info (ts_log_set_tail_max).
 * On open it signs at once when the log grew past the latest checkpoint, so a crash between a
 * commit and its checkpoint leaves the next checkpoint consistent with the last (the log is
 * append-only and every kept checkpoint's root is checked against it). Also `trace-collector
 * keygen` (a new key file) and the public key export.
 *
 * Ownership: a signer borrows the ts_store (which must outlive it) and owns its key.
 * Errors: functions return 0 or -1 with a message for people in `err` (what, where, what to
 * do); signer_after_commit and signer_tick return 1 when they signed.
 * Threading: the thread that writes the store (the collector's serving thread).
 */
#ifndef AGENTTRAIL_SIGNER_H
#define AGENTTRAIL_SIGNER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tracestore.h"

#define SIGNER_KEY_FILE "checkpoint.key"
#define SIGNER_INTERVAL_MS_DEFAULT 1000

typedef struct signer signer;

typedef struct signer_options {
    const char *key_path; /* NULL: STORE/checkpoint.key */
    uint64_t interval_ms; /* at most one checkpoint per interval; 0 = after every commit */
    uint64_t entries;     /* also sign at once after a commit that leaves this many entries
                           * unsigned (0: only the interval) */
    uint64_t tail_max;    /* recorded in log_info for verify: the most entries this
                           * collector leaves unsigned (0: not recorded) */
    const char *witness;  /* NULL, or a directory every checkpoint is appended to */
} signer_options;

/* The default key path for a store directory into out. */
void signer_default_key_path(const char *store_dir, char *out, size_t outlen);

/* Loads the key and signs a checkpoint at once if the log grew past the latest one. A key
 * is created (0600, *created set to 1 if `created` is not NULL) only at the default path
 * and only for a new log (no entry, no checkpoint): a missing --signing-key file, or a
 * missing default key of a log that has entries, is an error, never a new key. With a
 * witness, the latest checkpoint is appended to it at once (the witness must be writable
 * to start). 0 and *out, or -1 with err filled. */
int signer_open(ts_store *s, const char *store_dir, const signer_options *opt, signer **out,
                int *created, at_error *err);

/* To call after every successful commit: notes that the log grew and signs if the interval
 * has passed since the last checkpoint, or the entries since it reach opt->entries.
 * `now_ms` is a monotonic clock in milliseconds. 1 signed, 0 not yet (pending), -1 error
 * (err filled; the pending state is kept). A checkpoint kept in the store but not appended
 * to the witness is -1 too (err says so); the next checkpoint is appended again. */
int signer_after_commit(signer *g, uint64_t now_ms, at_error *err);

/* To call from the serving loop when idle: signs a pending checkpoint once the interval has
 * passed. Same returns as signer_after_commit. */
int signer_tick(signer *g, uint64_t now_ms, at_error *err);

/* Milliseconds until a pending checkpoint is due (0: due now), or -1 when none is pending:
 * a poll timeout for the serving loop. */
int64_t signer_due_in_ms(const signer *g, uint64_t now_ms);

/* Signs now if the log grew past the latest checkpoint (before a clean stop). Same returns. */
int signer_sign_now(signer *g, at_error *err);

/* Checkpoints signed by this signer since open. */
uint64_t signer_count(const signer *g);

/* Frees; accepts NULL and *g == NULL; sets *g to NULL. */
void signer_destroy(signer **g);

/* `trace-collector keygen`: a new key at `path` (0600, refused if it exists), and its
 * public key PEM printed to `out` (may be NULL). 0 or -1 with err filled. */
int signer_keygen(const char *path, FILE *out, at_error *err);

/* `trace-collector keygen [-o FILE] [--store DIR]`: argv[0] is "keygen". Returns the exit
 * code (0, 2 usage, 3 I/O), or -1 when the arguments ask for another kind of key (--curve:
 * the transport keys of collector/auth.c). Default FILE: STORE/checkpoint.key. */
int signer_keygen_main(int argc, char **argv);

/* `--print-public-key`: the SPKI PEM of the key at `path` to `out`, then its signed-note
 * verifier line for log `origin` (when not NULL) as a comment-free last line. 0 or -1. */
int signer_print_public_key(const char *path, const char *origin, FILE *out, at_error *err);

#endif
