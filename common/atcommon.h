/*
 * atcommon.h - libtracecommon, the base layer under every other part of AgentTrail: the one
 * growable buffer, the one error carrier, size and duration parsing, hex, SHA-256 (one EVP
 * path), the atomic writer of new secret files, and (opt.h) the one option-table engine.
 *
 * Owns nothing global. Threading: every function is reentrant; objects (an at_buf, an
 * at_sha256_ctx) are used by one thread at a time.
 *
 * Error codes. Every library of the house has one disjoint block of negative codes, so that
 * a bare code names its library and its meaning (docs/architecture.md):
 *      -1 ..  -99  TP_*        libtraceproto (traceproto.h)
 *    -100 .. -199  TS_*        libtracestore (tracestore.h)
 *    -200 .. -299  TRACESHIM_* libtraceshim (traceshim.h)
 *    -300 .. -399  AUTH_*      the collector's CURVE and allowlist layer (collector/auth.h)
 *    -400 .. -499  CP_*        checkpoints and signing keys (checkpoint.h)
 *    -500 .. -599  MERKLE_*    the Merkle tree (merkle.h)
 *    -600 .. -699  BUNDLE_*    compliance bundles (query/bundle.h)
 *    -900 .. -999  AT_*        this library
 * 0 is success everywhere.
 *
 * Error detail. The one carrier is at_error: where (a file, a file:line, a JSON field path,
 * or empty) and what (a sentence fragment). A function that can fail with detail takes an
 * `at_error *err` (may be NULL) and returns a code; at_errf and at_error_set fill it.
 */
#ifndef AGENTTRAIL_ATCOMMON_H
#define AGENTTRAIL_ATCOMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum {
    AT_OK = 0,
    AT_EINVAL = -900,  /* malformed input (a size, a duration, hex) */
    AT_ENOMEM = -901,  /* out of memory */
    AT_EIO = -902,     /* a file system call failed (err names the file and the reason) */
    AT_EEXIST = -903,  /* the file to create exists: it is never overwritten */
    AT_ECRYPTO = -904, /* OpenSSL failed */
    AT_ERANGE = -905,  /* a number out of the allowed range */
};

/* ---- the error carrier ------------------------------------------------------------------- */

typedef struct at_error {
    char where[128]; /* "path", "path:12", "tool_call.name", or "" */
    char what[384];  /* "required, missing", "cannot create: Permission denied" */
} at_error;

/* Sets both parts; printf-style what. err may be NULL. Cut to fit, always NUL-terminated. */
void at_error_set(at_error *err, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Sets what (where becomes empty) and returns code: an error path is one statement,
 * `return at_errf(err, CP_EFORMAT, "%s: bad line", path);`. err may be NULL. */
int at_errf(at_error *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* "where: what", or "what" when where is empty, into buf; returns buf. */
const char *at_error_format(const at_error *err, char *buf, size_t buflen);
/* Empties both parts. */
void at_error_clear(at_error *err);

/* ---- the growable buffer ----------------------------------------------------------------- */

/* Bytes in data[0..len), malloc'd, capacity cap. `failed` is sticky after an allocation
 * failure, so that a writer appends without checking each call and checks once at the end.
 * A zeroed at_buf is empty and valid. */
typedef struct at_buf {
    char *data;
    size_t len;
    size_t cap;
    bool failed;
} at_buf;

/* Makes room for `need` more bytes (doubling from 256). 0, or AT_ENOMEM (and failed set). */
int at_buf_reserve(at_buf *b, size_t need);
void at_buf_put(at_buf *b, const void *p, size_t n);
void at_buf_putc(at_buf *b, char c);
void at_buf_puts(at_buf *b, const char *s);
void at_buf_put_u64(at_buf *b, uint64_t v);
/* printf into the buffer. */
void at_buf_printf(at_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Frees data and zeroes the buffer. */
void at_buf_free(at_buf *b);
/* Hands data over to the caller (NUL-terminated; NULL when failed) and zeroes the buffer. */
char *at_buf_take(at_buf *b, size_t *len);

/* Grows an array *v of *cap elements of elem bytes so that it holds at least n, doubling
 * (first size `first`). 0, or AT_ENOMEM with *v and *cap unchanged. For the arrays that are
 * not bytes: `if (at_grow((void **)&v, &cap, n + 1, sizeof *v, 16)) return ENOMEM;`. */
int at_grow(void **v, size_t *cap, size_t n, size_t elem, size_t first);

/* ---- sizes and durations ----------------------------------------------------------------- */

/* A size: decimal digits and an optional K, M or G suffix (powers of 1024, either case).
 * "0" is a size; whether it is allowed is the caller's rule. 0 or AT_EINVAL (not a size) or
 * AT_ERANGE (does not fit a uint64_t). */
int at_parse_size(const char *s, uint64_t *out);
/* A duration: digits and a unit, ms, s, m, h, d or w, into nanoseconds ("500ms", "30s", "7d").
 * A bare number is refused (say the unit). 0, AT_EINVAL, AT_ERANGE. */
int at_parse_duration(const char *s, uint64_t *out_ns);

/* ---- hex --------------------------------------------------------------------------------- */

/* Lowercase hex of in[0..n) into out[0..2n], NUL-terminated. */
void at_hex_encode(const uint8_t *in, size_t n, char *out);
/* Exactly 2n hex digits (lowercase only) into out[0..n). 0 or AT_EINVAL. */
int at_hex_decode(const char *hex, size_t hexlen, uint8_t *out, size_t n);
/* The value of one hex digit (lowercase, or also uppercase when upper_too); -1 if none. */
int at_hex_digit(int c, bool upper_too);

/* ---- SHA-256, through OpenSSL's EVP interface only ---------------------------------------- */

#define AT_SHA256_LEN 32

/* out = SHA-256(data[0..len)). 0 or AT_ECRYPTO. */
int at_sha256(const void *data, size_t len, uint8_t out[AT_SHA256_LEN]);
/* out = SHA-256 of the concatenation of n parts. 0 or AT_ECRYPTO. */
int at_sha256_parts(const void *const *parts, const size_t *lens, size_t n,
                    uint8_t out[AT_SHA256_LEN]);

/* A streaming digest for data that comes in pieces; reusable after final. */
typedef struct at_sha256_ctx at_sha256_ctx;
/* NULL when out of memory or OpenSSL cannot give SHA-256. */
at_sha256_ctx *at_sha256_new(void);
int at_sha256_update(at_sha256_ctx *c, const void *data, size_t len);
/* Writes the digest and resets the context for the next message. 0 or AT_ECRYPTO. */
int at_sha256_final(at_sha256_ctx *c, uint8_t out[AT_SHA256_LEN]);
void at_sha256_free(at_sha256_ctx **c);

/* ---- files --------------------------------------------------------------------------------- */

/* Creates path holding exactly data[0..len) with exactly `mode` (the umask does not narrow
 * it), atomically: the bytes are written and fsync'd in a temporary file in the same
 * directory, which is then linked to path, so path either does not exist or is complete.
 * An existing path is never overwritten. 0, AT_EEXIST or AT_EIO, with err naming the file. */
int at_file_create(const char *path, const void *data, size_t len, mode_t mode, at_error *err);

/* Writes all of data to fd, retrying short writes and EINTR. 0 or -1 with errno set. */
int at_write_all(int fd, const void *data, size_t len);

#endif
