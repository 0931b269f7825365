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
 *    -700 .. -799  OTLP_*      libtraceotlp (traceotlp.h)
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
    char where[256]; /* "path", "path:12", "tool_call.name", or "" */
    char what[1024]; /* "required, missing", "cannot create: Permission denied" */
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

/* ---- option tables (opt.c, opt_doc.c) ------------------------------------------------------ */

/* One option-table engine for every program. A program (or each trace-query command) declares
 * a table of at_opt rows; the same row parses `--name VALUE` / `--name=VALUE` / `-l VALUE` from
 * argv, applies a `name = value` config-file line (at_opt_set_key), prints one line of --help
 * and one .TP paragraph of the man page. No abbreviations are accepted: `--stor` is unknown.
 *
 * Values: AT_OPT_SIZE goes through at_parse_size (N, NK, NM, NG; "0" is a size and whether it
 * is allowed is the row's min), AT_OPT_DURATION through at_parse_duration (into nanoseconds),
 * AT_OPT_UINT is plain decimal digits; the three check [min, max] (max 0: no upper bound) and
 * store into an unsigned field of `size` bytes (1, 2, 4 or 8). Messages (at_error.what) name
 * the option and the value: "--max-event-bytes '1T': not a size (use N, NK, NM or NG)"; on a
 * command line `where` is empty and " (see PROG --help)" ends the message, from a config file
 * `where` is the caller's "FILE:LINE" and the name has no dashes. */
#include <stdio.h>

typedef enum at_opt_kind {
    AT_OPT_FLAG,     /* no value: sets an unsigned field to 1 (config: true/false/yes/no/1/0) */
    AT_OPT_STRING,   /* const char * into argv (or the caller's config line); min: least length */
    AT_OPT_SIZE,     /* at_parse_size */
    AT_OPT_DURATION, /* at_parse_duration, nanoseconds */
    AT_OPT_UINT,     /* decimal digits */
    AT_OPT_ENUM,     /* one of words[]: its value into an int */
    AT_OPT_LIST,     /* repeatable: const char *field[], int count at count_off, at most max */
    AT_OPT_CALL,     /* fn(cfg, row, value) does it (value NULL for a row without metavar) */
    AT_OPT_HELP,     /* --help: sets at_opt_result.help */
    AT_OPT_VERSION,  /* --version: sets at_opt_result.version */
    AT_OPT_MAN,      /* --man: sets at_opt_result.man (hidden by default) */
} at_opt_kind;

enum {
    AT_OPT_HIDDEN = 1,   /* not in --help nor the man page */
    AT_OPT_NOCONFIG = 2, /* no config-file key */
    AT_OPT_NODEFSHOW = 4 /* do not show " [def]" after the help line */
};

typedef struct at_opt_word {
    const char *word;
    int value;
} at_opt_word;

typedef struct at_opt at_opt;
/* An AT_OPT_CALL row's action: 0, or AT_EINVAL with err->what the problem ("expected ok,
 * error or blocked"), which the engine wraps as "--NAME 'VALUE': problem". A message that must
 * stand alone is returned with AT_ERANGE instead: the engine then passes it unchanged. */
typedef int (*at_opt_fn)(void *cfg, const at_opt *row, const char *value, at_error *err);

struct at_opt {
    const char *name; /* long name without "--"; NULL ends a table */
    char letter;      /* short form (-o FILE), or 0 */
    at_opt_kind kind;
    size_t off, size;         /* where the value goes in the config struct: AT_OPT_AT(T, m) */
    const char *def;          /* applied through the row before parsing; NULL: none */
    const char *metavar;      /* "N", "FILE"; NULL: takes no value */
    const char *help;         /* one line for --help (wrapped to 80 columns) */
    const char *man;          /* longer text for the man page; NULL: help */
    const char *key;          /* config-file key; NULL: the long name */
    uint64_t min, max;        /* range (SIZE, DURATION, UINT), least length (STRING), most (LIST) */
    const char *expect;       /* the problem said of a bad value; NULL: the kind's own words */
    const char *need;         /* said of a missing value: "--NAME needs NEED"; NULL: "a value" */
    const at_opt_word *words; /* AT_OPT_ENUM: ends with word == NULL */
    size_t count_off;         /* AT_OPT_LIST: offset of the int count */
    at_opt_fn fn;             /* AT_OPT_CALL */
    int flags;                /* AT_OPT_HIDDEN... */
};

/* `.off`, `.size` of a member: `{.name = "store", AT_OPT_AT(cfg, store_dir), ...}`. */
#define AT_OPT_AT(type, member) .off = offsetof(type, member), .size = sizeof(((type *)0)->member)

/* Positional arguments: refused, collected wherever they are, or ending the options. */
enum { AT_OPT_POS_NONE, AT_OPT_POS_MIX, AT_OPT_POS_STOP };

typedef struct at_opt_section {
    const char *title; /* "EXIT STATUS", "FILES", "EXAMPLES"; NULL ends */
    const char *text;  /* plain text: blank line = paragraph, indented lines kept as they are */
} at_opt_section;

typedef struct at_opt_prog {
    const char *name;       /* in messages and hints: "trace-collector", "trace-query find" */
    const at_opt *opts;     /* the table */
    int positionals;        /* AT_OPT_POS_* */
    const char *head;       /* --help before the options: usage, what it does */
    const char *opts_title; /* a line before the options in --help ("options:"), or NULL */
    const char *tail;       /* --help after the options, or NULL */
    const char *optword;    /* "unknown OPTWORD '--x'": NULL is "option" */
    const char *hint;       /* after an unknown option; NULL: "(see NAME --help)" */
    /* The man page (section 1): NAME line, then head as DESCRIPTION, OPTIONS, tail, sections. */
    const char *page;               /* page name: "trace-query-find"; NULL: name */
    const char *summary;            /* "receive, validate and store trace events" */
    const at_opt_section *sections; /* NULL or ending with title == NULL */
} at_opt_prog;

typedef struct at_opt_result {
    int help, version, man; /* --help, --version, --man were given */
    char **rest;            /* the positional arguments, NULL-terminated (free: at_opt_done) */
    int nrest;
} at_opt_result;

/* Applies the rows' defaults to cfg, then parses argv[1..argc) into cfg and *res. 0, or
 * AT_EINVAL (a usage error: err says what, the caller prints "PROG: " and exits 2) or
 * AT_ENOMEM. res->rest is allocated either way: call at_opt_done. */
int at_opt_parse(const at_opt_prog *p, int argc, char **argv, void *cfg, at_opt_result *res,
                 at_error *err);
void at_opt_done(at_opt_result *res);
/* Applies the rows' defaults only (at_opt_parse does it first). 0 or AT_EINVAL. */
int at_opt_defaults(const at_opt_prog *p, void *cfg, at_error *err);
/* One config-file line `key = value` through the row whose key it is; where is "FILE:LINE"
 * and goes into err->where. The value must outlive cfg (a STRING keeps the pointer).
 * 0, AT_EINVAL (unknown key, bad value). */
int at_opt_set_key(const at_opt_prog *p, void *cfg, const char *key, const char *value,
                   const char *where, at_error *err);
/* The row of a long name, or NULL. */
const at_opt *at_opt_find(const at_opt_prog *p, const char *name, size_t len);

/* --help from the table: head, opts_title, one wrapped row per option (no line past 80
 * columns), tail. */
void at_opt_help(const at_opt_prog *p, FILE *out);
/* The man page (roff, man macros, section 1), `version` on its .TH line. */
void at_opt_man(const at_opt_prog *p, const char *version, FILE *out);
/* Answers --help (at_opt_help), --man and --version ("NAME VERSION") when res holds one:
 * prints it to out and returns 1; else 0 (the program runs). */
int at_opt_answer(const at_opt_prog *p, const at_opt_result *res, const char *version, FILE *out);

/* ---- the room a formatted at_error needs -------------------------------------------------- */

/* "where: what" and its NUL: the size of a buffer for at_error_format that never cuts. */
#define AT_ERROR_TEXT_LEN (sizeof((at_error *)0)->where + sizeof((at_error *)0)->what + 2)

/* ---- plain decimal numbers (u64.c) --------------------------------------------------------- */

/* s[0..n) (need not be NUL-terminated; strlen(s) for a string) as a decimal number: digits
 * only, no sign, no suffix, no space, leading zeros allowed (a format that refuses them checks
 * s[0] itself). 0 and *out set; AT_EINVAL (empty, or a byte that is not a digit) or AT_ERANGE
 * (above max, or above UINT64_MAX); *out is left alone on error. */
int at_parse_u64(const char *s, size_t n, uint64_t max, uint64_t *out);
/* The qsort/bsearch order of uint64_t values, ascending. */
int at_cmp_u64(const void *a, const void *b);

/* ---- the words of an error code (code_text.c) ----------------------------------------------- */

/* One row of a library's table of its codes' words. */
typedef struct at_code_name {
    int code;
    const char *text;
} at_code_name;

/* The text of code in table[0..n), or `unknown`: every *_strerror is its table and this. */
const char *at_code_text(const at_code_name *table, size_t n, int code, const char *unknown);

#endif
