/*
 * ledger_fixture.h - stores with a Merkle log and signed checkpoints for the ledger tests.
 *
 * Owns nothing global. Stores are real LMDB stores (tests/support/store_fixture.c events);
 * checkpoints are signed with a real Ed25519 key written as DIR/checkpoint.key (0600), the
 * way the collector's signer keeps it. Single-threaded.
 */
#ifndef AGENTTRAIL_LEDGER_FIXTURE_H
#define AGENTTRAIL_LEDGER_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

#include "checkpoint.h"
#include "tracestore.h"

#define LF_T0 1732531200000000000ull

/* Appends events [first, first+n) (fx_event: trace = index / 10, workflow "wf-<index % 3>"),
 * in groups of `group`. */
void lf_append(ts_store *s, uint64_t first, uint64_t n, size_t group);

/* Signs and keeps a checkpoint of the store's current log with key k, stamped `when`. */
void lf_checkpoint(ts_store *s, const cp_key *k, uint64_t when);

/* A signed note for arbitrary fields (forgeries). malloc'd. */
char *lf_note(const cp_key *k, const char *origin, uint64_t size, const uint8_t root[32],
              uint64_t when);

/* Creates a store in `dir` with `n` events (event numbers from `base`, so that two stores
 * can hold different events) and a checkpoint after every `every` events and one at the
 * end; the key is saved to DIR/checkpoint.key and its public PEM to pub_path
 * (if not NULL). Returns the key (caller destroys). */
cp_key *lf_make_store(const char *dir, uint64_t base, uint64_t n, uint64_t every,
                      const char *pub_path);

/* A malloc'd "dir/name". */
char *lf_path(const char *dir, const char *name);

/* A new tu_tempdir(tag) and, for each (char **out, const char *name) pair up to a NULL
 * out, *out = lf_path(dir, name): the paths a group set-up names in its temp dir. Returns
 * the dir (tu_rmtree_free it; free each path). */
char *lf_tempdir_paths(const char *tag, ...);

/* `cp -a from to`. */
void lf_copy_tree(const char *from, const char *to);

/* Raw LMDB access to a store's files in one write transaction, as an intruder with the
 * files would have (lf_raw_close commits). */
typedef struct lf_raw {
    MDB_env *env;
    MDB_txn *txn;
} lf_raw;
void lf_raw_open(lf_raw *r, const char *store);
MDB_dbi lf_raw_dbi(lf_raw *r, const char *name);
void lf_raw_close(lf_raw *r);
void lf_be64(uint8_t *p, uint64_t v);

/* Deletes the store's checkpoints numbered from `from` (0: all of them). */
void lf_drop_checkpoints(const char *store, uint64_t from);

/* Creates an empty store in `dir` whose log has the given origin (as if it were another
 * store's files rewritten), open read-write. */
ts_store *lf_store_as(const char *dir, const char *origin);

#endif
