/*
 * bundle.h - compliance bundles: a tar archive of named files, its manifest and signature,
 * and the offline verification of everything in it (docs/ledger.md, "Bundle").
 *
 * Responsibility: the archive (libarchive, read and write; deterministic output: entries
 * sorted by name, mode 0644, uid/gid 0, no owner names, mtime = the checkpoint's signing
 * time), the files' formats (events.bin records, proofs.jsonl, consistency.jsonl), sealing
 * (SHA256SUMS, manifest.json, manifest.sig) and bundle_verify. It does not touch a store:
 * export.c fills a bundle from one, verify.c reads one from a file.
 *
 * Ownership: a bundle owns its files' names and bytes (malloc'd); bundle_clear frees them.
 * Untrusted input: bundle_read_* accept any bytes and refuse what is not a plain bundle
 * (non-regular entries, odd names, duplicates, more than BUNDLE_MAX_FILES entries, files
 * over BUNDLE_MAX_FILE_BYTES); bundle_verify trusts nothing in the bundle but the key it is
 * given (or, without one, the bundle's own pub.pem, which the auditor must compare).
 *
 * Errors: 0 or a negative BUNDLE_E* code (-600..-699); detail for people in the caller's
 * at_error (may be NULL). A bundle_failure is not error detail but the verification's
 * result: the report of the first check that failed, naming the file, the event and the
 * check, which bundle_verify fills with BUNDLE_EVERIFY.
 *
 * Threading: reentrant; a bundle is used by one thread at a time.
 */
#ifndef AGENTTRAIL_BUNDLE_H
#define AGENTTRAIL_BUNDLE_H

#include <stddef.h>
#include <stdint.h>

#include "atcommon.h"
#include "checkpoint.h"

#define BUNDLE_FORMAT "agenttrail-bundle/1"
#define BUNDLE_MAX_FILES 32
#define BUNDLE_MAX_NAME 64
#define BUNDLE_MAX_FILE_BYTES (UINT64_C(1) << 31)

/* The files of a bundle. */
#define BUNDLE_MANIFEST "manifest.json"
#define BUNDLE_SIGNATURE "manifest.sig"
#define BUNDLE_PUBKEY "pub.pem"
#define BUNDLE_CHECKPOINT "checkpoint.txt"
#define BUNDLE_EVENTS_JSON "events.jsonl"
#define BUNDLE_EVENTS_BIN "events.bin"
#define BUNDLE_PROOFS "proofs.jsonl"
#define BUNDLE_CONSISTENCY "consistency.jsonl"
#define BUNDLE_SUMS "SHA256SUMS"
#define BUNDLE_GUIDE "VERIFY.txt"

/* Error codes: the block -600..-699 of the house's registry (atcommon.h), so that a bare
 * code names this library. Numbered explicitly; never renumbered. */
enum {
    BUNDLE_OK = 0,
    BUNDLE_EFORMAT = -600, /* not a readable bundle archive */
    BUNDLE_EIO = -601,     /* file system error */
    BUNDLE_ENOMEM = -602,
    BUNDLE_EVERIFY = -603, /* a check failed (see bundle_failure) */
    BUNDLE_ECRYPTO = -604,
};

typedef struct bundle_file {
    char name[BUNDLE_MAX_NAME];
    uint8_t *data;
    size_t len;
} bundle_file;

typedef struct bundle {
    bundle_file files[BUNDLE_MAX_FILES];
    size_t n;
    uint64_t mtime; /* seconds, for every entry written */
} bundle;

/* An empty bundle. */
void bundle_init(bundle *b);
/* Frees every file; the bundle is empty again. Accepts NULL. */
void bundle_clear(bundle *b);
/* Adds or replaces file `name`, taking ownership of `data` (malloc'd, may be NULL when len
 * is 0) even on failure. 0, BUNDLE_EFORMAT (bad name, too many files), BUNDLE_ENOMEM. */
int bundle_put(bundle *b, const char *name, uint8_t *data, size_t len);
/* Adds a copy of data. */
int bundle_put_copy(bundle *b, const char *name, const void *data, size_t len);
/* The file called name, or NULL. */
const bundle_file *bundle_get(const bundle *b, const char *name);

/* Writes the archive to `fd` (a file, a pipe: written in order, never sought); `name` is
 * what messages call it. The descriptor stays open. 0 or BUNDLE_EIO; err says what. */
int bundle_write_fd(const bundle *b, int fd, const char *name, at_error *err);
/* Writes the archive to `path` through a temporary file and rename, replacing whatever is
 * there (tests use it to rewrite bundles; export's -o rules are in query/outfile.h). 0,
 * BUNDLE_EIO, BUNDLE_ENOMEM; err says what. */
int bundle_write(const bundle *b, const char *path, at_error *err);
/* Reads an archive from a file or memory into an empty bundle. 0, BUNDLE_EIO,
 * BUNDLE_EFORMAT, BUNDLE_ENOMEM; err says what. */
int bundle_read_file(const char *path, bundle *b, at_error *err);
int bundle_read_memory(const void *buf, size_t len, bundle *b, at_error *err);

/* ---- contents ------------------------------------------------------------ */

/* The contents are built in at_buf buffers (atcommon.h), whose failure is sticky: the
 * appenders return 0, or BUNDLE_ENOMEM once any append to the buffer has failed. */

/* Hands the bytes of *buf over to the bundle as file `name` (NUL-terminated beyond their
 * length, as files read from an archive are) and empties *buf, even on failure. 0,
 * BUNDLE_ENOMEM (the buffer had failed), BUNDLE_EFORMAT (as bundle_put). */
int bundle_put_buf(bundle *b, const char *name, at_buf *buf);
/* Appends one events.bin record (BE64 log index, BE32 length, bytes). */
int bundle_events_bin_append(at_buf *bb, uint64_t log_index, const uint8_t *bytes, size_t len);
/* Appends one proofs.jsonl line. */
int bundle_proof_line_append(at_buf *bb, uint64_t log_index, const uint8_t leaf[32],
                             const uint8_t (*proof)[32], size_t n);
/* Appends one consistency.jsonl line. */
int bundle_consistency_line_append(at_buf *bb, uint64_t old_size, const uint8_t old_root[32],
                                   uint64_t new_size, const uint8_t (*proof)[32], size_t n);

/* The text of VERIFY.txt (static). */
const char *bundle_guide_text(void);

/* Seals a bundle whose content files are in place (checkpoint.txt, events.*, proofs.jsonl,
 * consistency.jsonl): adds VERIFY.txt, pub.pem (k's public key), SHA256SUMS, manifest.json
 * (format, query = `query_json` (a JSON object text), exported_by, tool, checkpoint
 * fields, when = the checkpoint's signing time, counts, SHA-256 of every file) and
 * manifest.sig (Ed25519 by k over manifest.json). Sets b->mtime to the checkpoint time.
 * 0, BUNDLE_EFORMAT (content missing or malformed), BUNDLE_ECRYPTO, BUNDLE_ENOMEM. */
int bundle_seal(bundle *b, const char *query_json, const char *exported_by, const cp_key *k,
                at_error *err);

/* ---- verification ------------------------------------------------------- */

/* Gives the canonical JSON of an event from its stored bytes (malloc'd, no newline), or
 * returns non-zero when the bytes do not decode; *why (static or NULL) says why. */
typedef int (*bundle_json_fn)(const uint8_t *bytes, size_t len, char **json, size_t *jlen,
                              const char **why);

/* The verification report of a bundle that fails (a result of bundle_verify, not the
 * detail of an error, hence not an at_error): what failed first, the file, the event's
 * position in the bundle (-1 when not about one event), the check's short name and a
 * message for people. */
typedef struct bundle_failure {
    char file[BUNDLE_MAX_NAME];
    int64_t event;
    uint64_t log_index;
    char check[48];
    char message[640];
} bundle_failure;

/* What a successful verification established. */
typedef struct bundle_summary {
    uint64_t events;
    cp_checkpoint checkpoint;
    int prior_checked; /* 1 when `prior` was given and is consistent */
    int key_pinned;    /* 1 when the caller's key was used, 0 for the bundle's pub.pem */
} bundle_summary;

/* Progress callback (may be NULL): done of total events checked. */
typedef void (*bundle_progress_fn)(void *ctx, uint64_t done, uint64_t total);

/* Verifies a bundle offline: manifest signature, every file hash, SHA256SUMS, checkpoint
 * signature and fields, events.bin records, for every event its leaf hash, inclusion proof
 * against the checkpoint root, and (when `json` is not NULL) that its JSON line equals the
 * decoded stored bytes; with `prior` (a signed checkpoint note kept from before), its
 * signature and the consistency proof from it to the bundle's checkpoint. `pinned` may be
 * NULL (then pub.pem is used). Returns 0 with *sum filled, or BUNDLE_EVERIFY with *fail
 * naming the first failure, or BUNDLE_ENOMEM. */
int bundle_verify(const bundle *b, const cp_key *pinned, const char *prior, size_t prior_len,
                  bundle_json_fn json, bundle_progress_fn progress, void *pctx, bundle_summary *sum,
                  bundle_failure *fail);

/* The bundle_json_fn of trace-query: tp_event_unpack then tp_event_to_json. */
int bundle_event_json(const uint8_t *bytes, size_t len, char **json, size_t *jlen,
                      const char **why);

/* "file: event N (log index L): check: message" into buf; returns buf. */
const char *bundle_failure_format(const bundle_failure *f, char *buf, size_t buflen);

#endif
