/*
 * checkpoint.h - signed checkpoints of the Merkle log: the C2SP
 * tlog-checkpoint text inside a C2SP signed note, Ed25519 keys and their
 * files, strict base64, and witness files (signed checkpoints kept outside the store).
 *
 * One of the two public headers of libtracestore (with tracestore.h), in store/include/,
 * the only folder of the library its consumers can include. Checkpoints stay in this
 * library rather than a libtraceledger of their own: the store's ledger (ts_checkpoint_add)
 * parses notes with cp_note_parse, and keeping notes, keys and the log in one library keeps
 * every dependency one-way (libtracestore -> libtraceproto -> libtracecommon); a separate
 * library would depend on the store's internals while the store depended on it
 * (docs/ledger.md "Libraries").
 *
 * Formats (docs/ledger.md): a checkpoint body is
 *     <origin>\n<tree size, decimal>\n<base64 of the 32-byte root>\n
 *     [time_unix_nano <decimal>\n] [<extension line>\n ...]
 * and the signed note is the body, an empty line, then one or more lines
 *     "\u2014 <key name> <base64(key id (4 bytes) || Ed25519 signature (64))>\n"
 * The key name of an AgentTrail checkpoint key is the log's origin. The key
 * id is the first 4 bytes of SHA-256(name || "\n" || 0x01 || public key).
 * The signature covers the body bytes exactly.
 *
 * Key files: the private key is PKCS#8 PEM ("PRIVATE KEY"), created 0600 and
 * never overwritten; the public key is SubjectPublicKeyInfo PEM ("PUBLIC
 * KEY"), the form `openssl pkeyutl -verify -pubin -inkey` reads. Public key
 * files may also hold a signed-note verifier key line
 * (<name>+<hex id>+<base64(0x01 || key)>).
 *
 * Ownership: cp_key is opaque, created by cp_key_generate/cp_key_load_* and
 * freed with cp_key_destroy. Parsing never allocates: results are copied into
 * caller structures.
 *
 * Threading: every function is reentrant; a cp_key may be shared read-only
 * between threads.
 */
#ifndef AGENTTRAIL_CHECKPOINT_H
#define AGENTTRAIL_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "atcommon.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Error codes of this module: the block -400..-499 of the registry in atcommon.h, so that a
 * bare code names checkpoints (never renumbered again; -1..-7 before the blocks existed). */
enum {
    CP_OK = 0,
    CP_EFORMAT = -400, /* malformed note, checkpoint, key text or base64 */
    CP_ECRYPTO = -401, /* OpenSSL failed */
    CP_EIO = -402,     /* a file could not be read or written (errno kept) */
    CP_EKEY = -403,    /* not an Ed25519 key in a form we read */
    CP_EVERIFY = -404, /* no valid signature by the given key */
    CP_ENOMEM = -405,
    CP_EEXIST = -406, /* the key file already exists (never overwritten) */
};

/* A short English description of a CP_E* code; never NULL. */
const char *cp_strerror(int code);

#define CP_ORIGIN_MAX 256
#define CP_NOTE_MAX 65536 /* longest note accepted */
#define CP_SIG_LEN 64
#define CP_PUB_LEN 32

/* A checkpoint body. */
typedef struct cp_checkpoint {
    char origin[CP_ORIGIN_MAX]; /* NUL-terminated, no newline, non-empty */
    uint64_t size;
    uint8_t root[32];
    uint64_t time_unix_nano; /* when it was signed; 0 = absent. Carried as the first
                              * extension line "time_unix_nano <decimal>" */
} cp_checkpoint;

/* One signature line of a note, unverified. */
typedef struct cp_signature {
    char name[CP_ORIGIN_MAX];
    uint8_t key_id[4];
    uint8_t sig[CP_SIG_LEN];
    size_t sig_len; /* bytes of sig that are meaningful (<= CP_SIG_LEN) */
} cp_signature;

/* ---- base64 (RFC 4648, standard alphabet, padded, strict) ----------- */

/* Encodes n bytes into out (4*ceil(n/3)+1 bytes, NUL-terminated). Returns
 * the encoded length. */
size_t cp_base64_encode(const uint8_t *in, size_t n, char *out);
/* Decodes exactly `len` characters; refuses bad characters, bad padding and
 * non-zero padding bits. Returns 0 and *outlen, or CP_EFORMAT (also when the
 * result would exceed `max`). */
int cp_base64_decode(const char *in, size_t len, uint8_t *out, size_t max, size_t *outlen);

/* ---- keys ------------------------------------------------------------- */

typedef struct cp_key cp_key;

/* A new random Ed25519 key pair. 0 or CP_ECRYPTO/CP_ENOMEM. */
int cp_key_generate(cp_key **out);
/* Reads a PKCS#8 PEM private key (Ed25519). Refuses a file readable by group
 * or others (CP_EKEY, "chmod 600"). 0, CP_EIO, CP_EKEY; `err` says what. */
int cp_key_load_private(const char *path, cp_key **out, at_error *err);
/* Writes the private key as PKCS#8 PEM to a new file created 0600 (O_EXCL:
 * an existing file is CP_EEXIST, never overwritten). 0, CP_EEXIST, CP_EIO. */
int cp_key_save_private(const cp_key *k, const char *path, at_error *err);
/* Reads a public key: SPKI PEM or a verifier key line (then its name and id
 * must match). 0, CP_EIO, CP_EKEY. */
int cp_key_load_public(const char *path, cp_key **out, at_error *err);
/* Parses a public key from memory (SPKI PEM or verifier key line). */
int cp_key_parse_public(const char *text, size_t len, cp_key **out);
/* The SPKI PEM of the public key: malloc'd, NUL-terminated; *len without
 * the NUL. 0 or CP_ENOMEM/CP_ECRYPTO. */
int cp_key_public_pem(const cp_key *k, char **pem, size_t *len);
/* The raw 32-byte public key. */
void cp_key_public_raw(const cp_key *k, uint8_t out[CP_PUB_LEN]);
/* The key's fingerprint for people: "SHA256:" then the hex SHA-256 of the
 * key's DER SubjectPublicKeyInfo, what `openssl pkey -pubin -in KEY -outform
 * DER | sha256sum` prints (and scripts/agenttrail-verify-bundle). Printed by
 * every verify so that an auditor compares it with the one the operator gave
 * out of band. */
#define CP_FINGERPRINT_LEN 72
void cp_key_fingerprint(const cp_key *k, char out[CP_FINGERPRINT_LEN]);
/* Whether the key can sign (holds the private half). */
int cp_key_has_private(const cp_key *k);
/* The note key id for `name`. */
void cp_key_id(const cp_key *k, const char *name, uint8_t out[4]);
/* The verifier key line "<name>+<8 hex id>+<base64(0x01||pub)>" into out.
 * 0 or CP_EFORMAT (bad name or out too small). */
int cp_key_vkey(const cp_key *k, const char *name, char *out, size_t outlen);
/* Ed25519 signature over msg. 0 or CP_EKEY (public only)/CP_ECRYPTO. */
int cp_key_sign(const cp_key *k, const void *msg, size_t len, uint8_t sig[CP_SIG_LEN]);
/* 0 when sig is a valid Ed25519 signature of msg by k, else CP_EVERIFY. */
int cp_key_verify(const cp_key *k, const void *msg, size_t len, const uint8_t *sig, size_t sig_len);
/* Frees; accepts NULL and *k == NULL; sets *k to NULL. */
void cp_key_destroy(cp_key **k);

/* ---- checkpoints and notes --------------------------------------------- */

/* Whether `name` is a valid origin / key name: 1..CP_ORIGIN_MAX-1 bytes of
 * printable ASCII without spaces or '+'. */
int cp_name_valid(const char *name);

/* Formats the checkpoint body into out. Returns its length, or 0 when the
 * origin is invalid or out is too small. */
size_t cp_checkpoint_body(const cp_checkpoint *c, char *out, size_t outlen);

/* The signed note of a checkpoint, signed by k under the key name
 * c->origin: malloc'd, NUL-terminated, *len without the NUL.
 * 0, CP_EFORMAT (bad origin), CP_EKEY, CP_ECRYPTO, CP_ENOMEM. */
int cp_checkpoint_sign(const cp_checkpoint *c, const cp_key *k, char **note, size_t *len);

/* Parses untrusted note text (len bytes, need not be NUL-terminated):
 * the checkpoint body and up to `max` signature lines (more are ignored;
 * *nsigs is how many were stored). Checks the structure only, no
 * signature. 0 or CP_EFORMAT; `err` (may be NULL) says what is wrong. */
int cp_note_parse(const char *note, size_t len, cp_checkpoint *out, cp_signature *sigs, size_t max,
                  size_t *nsigs, at_error *err);

/* Parses and verifies: at least one signature line by k under the name
 * c.origin must be valid (lines by other keys are ignored, a line claiming
 * k's name and id with a bad signature fails). 0 and *out, CP_EFORMAT or
 * CP_EVERIFY with `err` filled. */
int cp_note_verify(const char *note, size_t len, const cp_key *k, cp_checkpoint *out,
                   at_error *err);

/* ---- witness files (store/witness.c) ----------------------------------- */
/*
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

#ifdef __cplusplus
}
#endif
#endif
