/*
 * verify.h - what the two halves of `trace-query verify` share: the parsed arguments and the
 * store half (query/verify_store.c). The bundle half and the argument parsing are in
 * query/verify.c. Threading: single-threaded.
 */
#ifndef AGENTTRAIL_QUERY_VERIFY_H
#define AGENTTRAIL_QUERY_VERIFY_H

#include <stddef.h>

#include "commands.h"

/* verify --store without --key, --witness or --trust-store-key: every check passed, but the
 * signatures were checked only against DIR/checkpoint.key (docs/ledger.md). */
#define QEXIT_UNTRUSTED 5

typedef struct vargs {
    const char *file, *key, *keyring, *prior, *store, *witness;
    int trust_store_key, trust_bundle_key;
    int help;
} vargs;

/* `verify --store`: returns a QEXIT_* code (or QEXIT_UNTRUSTED). */
int verify_store(const qctx *ctx, const vargs *v);

/* Reads a small text file (a checkpoint note, at most CP_NOTE_MAX bytes): malloc'd and
 * NUL-terminated, or NULL with errno set. */
char *verify_slurp(const char *path, size_t *len);

/* The progress line on stderr (a terminal). */
void verify_progress(void *ctx, uint64_t done, uint64_t total);

#endif
