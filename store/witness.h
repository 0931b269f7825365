/*
 * witness.h - the witness: signed checkpoints kept outside the store (docs/ledger.md).
 *
 * Format: a directory (created 0700) holding, per log, one append-only file named after the
 * log's origin with every '/' as '_' plus ".checkpoints" (created 0600). Each record is the
 * line "checkpoint <decimal length>\n" followed by that many bytes: a signed checkpoint note
 * exactly as the store keeps it. The collector appends a record for every checkpoint it
 * signs and fsyncs the file (and the directory when it creates the file); nothing is ever
 * rewritten. trace-query verify --store --witness reads every record back.
 *
 * Errors: 0 or -1 with a message for people in err (what, which file, why).
 * Threading: reentrant; one writer per file (the collector's serving thread).
 */
#ifndef AGENTTRAIL_WITNESS_H
#define AGENTTRAIL_WITNESS_H

#include <stddef.h>
#include <stdint.h>

#include "atcommon.h"

/* The witness file of `origin` inside `dir` into out. 0, or -1 when it does not fit. */
int wt_path(const char *dir, const char *origin, char *out, size_t outlen);

/* Appends one note (creating dir 0700 and the file 0600 as needed), then fsyncs. */
int wt_append(const char *dir, const char *origin, const char *note, size_t len, at_error *err);

/* Calls fn for every record of the witness file of `origin`, oldest first (seq from 0); stops
 * at the first non-zero return of fn and returns it. A last record cut short (a crash in the
 * middle of an append) is not passed and *torn is set to 1 (torn may be NULL); any other
 * malformed record is an error. -1 with err filled (also when the file is missing). */
typedef int (*wt_record_fn)(void *ctx, uint64_t seq, const char *note, size_t len);
int wt_read(const char *dir, const char *origin, wt_record_fn fn, void *ctx, int *torn,
            at_error *err);

/* The same over the n bytes of a witness file in memory (`name` says which, for messages):
 * what wt_read calls, and what fuzz/fuzz_witness_read.c feeds untrusted bytes to. */
int wt_parse(const char *buf, size_t n, const char *name, wt_record_fn fn, void *ctx, int *torn,
             at_error *err);

#endif
