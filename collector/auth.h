/*
 * auth.h - trace-collector's authentication: CURVE keys, the allowlist of
 * shim public keys, and the ZAP handler that admits only those keys.
 *
 * Responsibility: `trace-collector keygen --curve -o NAME` (auth_keygen_curve),
 * loading Z85 key files, parsing the allowlist (lines "NAME Z85-PUBLIC-KEY",
 * '#' comments, blank lines; errors name file:line), and a ZAP handler thread
 * (RFC 27, inproc://zeromq.zap.01) that answers 200 with User-Id = NAME for a
 * CURVE client whose key is listed and 400 for anything else. The collector
 * reads the authenticated source of each message from its "User-Id"
 * metadata (zmq_msg_gets) and stamps it as stored.source.
 *
 * Owns: the ZAP REP socket, optional monitor PAIR sockets, the current
 * allowlist, counters. Never logs or stores key material: rejections are
 * logged with the peer address and the reason only.
 *
 * Invariants: no silent fallback to open access. auth_zap_start fails when
 * libzmq lacks CURVE or the ZAP endpoint cannot be bound; a reload that
 * fails keeps the previous allowlist.
 *
 * Threading: auth_zap_start/stop/watch are called from one controlling
 * thread. auth_zap_reload, auth_zap_allows_name and auth_zap_counts may be
 * called from any thread (the allowlist is swapped under a mutex). The
 * allowlist functions are reentrant; an auth_allowlist is read-only after
 * parsing.
 */
#ifndef AGENTTRAIL_COLLECTOR_AUTH_H
#define AGENTTRAIL_COLLECTOR_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "atcommon.h"

/* Error codes: the block -300..-399 of the house's registry (atcommon.h). Numbered
 * explicitly; never renumbered. Detail for people goes in an at_error (may be NULL). */
enum {
    AUTH_OK = 0,
    AUTH_EINVAL = -300,   /* bad argument */
    AUTH_ENOMEM = -301,   /* out of memory */
    AUTH_EIO = -302,      /* a file could not be read or written (err says which) */
    AUTH_EFORMAT = -303,  /* a key file or the allowlist is malformed (err: file:line) */
    AUTH_ENOCURVE = -304, /* this libzmq was built without CURVE */
    AUTH_EZMQ = -305,     /* a ZeroMQ call failed (err says which) */
    AUTH_EEXIST = -306,   /* keygen: the key file already exists */
    AUTH_EPERM = -307,    /* a secret key file readable by group or others, an allowlist
                             writable by them or owned by another user */
};

/* A short English description of an AUTH_E* code; never NULL. */
const char *auth_strerror(int code);

#define AUTH_Z85_KEY_LEN 40 /* a 32-byte CURVE key in Z85 text */
#define AUTH_NAME_MAX 64    /* longest allowlist name */

/* 1 when this libzmq supports CURVE (zmq_has("curve")), else 0. */
int auth_curve_available(void);

/* ---- keys ------------------------------------------------------------- */

/* Writes a new CURVE key pair: NAME.key (the secret key: "Z85 secret-key"
 * and two '#' comment lines, mode 0600) and NAME.pub (the public key, Z85
 * and a newline, mode 0644). Never overwrites:
 * AUTH_EEXIST when either exists. Returns 0, AUTH_ENOCURVE, AUTH_EEXIST,
 * AUTH_EIO (err names the file and the reason), AUTH_EINVAL. */
int auth_keygen_curve(const char *name, at_error *err);

/* `trace-collector keygen --curve -o NAME`: argv[0] is "keygen". Writes the
 * pair with auth_keygen_curve and says where on stdout. Returns the exit
 * status: 0, 2 usage error, 3 when the files cannot be written. */
int auth_keygen_main(int argc, char **argv);

/* Reads a Z85 key file (tp_curve_key_parse: '#' comments, and "Z85
 * secret-key" in a secret key file or the bare Z85 of a public one) into z85[41]
 * (NUL-terminated). The file must be a regular file (a FIFO is refused
 * without blocking: AUTH_EIO). With `secret` set it must not be readable by
 * group or others (AUTH_EPERM: err says to chmod 600 it); without it, a
 * file marked as a secret key is refused (AUTH_EFORMAT: err says to pass
 * the .pub file). Returns 0, AUTH_EIO, AUTH_EFORMAT, AUTH_EPERM. */
int auth_key_load(const char *path, int secret, char z85[AUTH_Z85_KEY_LEN + 1], at_error *err);

/* ---- the allowlist ---------------------------------------------------- */

typedef struct auth_allowlist auth_allowlist;

/* Parses allowlist text (`len` bytes). Each line is blank, a comment
 * (first non-blank character '#'), or "NAME KEY" separated by blanks, with
 * an optional trailing "# comment". NAME: 1..64 of [A-Za-z0-9._@-]; KEY: a
 * Z85 public key. Names and keys are unique. `origin` (a file name) prefixes
 * error messages: "allow.txt:3: key: not 40 Z85 characters". Returns 0 and
 * *out (caller destroys), AUTH_EFORMAT, AUTH_ENOMEM. An empty list is valid
 * (it admits nobody). */
int auth_allowlist_parse(const char *text, size_t len, const char *origin, auth_allowlist **out,
                         at_error *err);

/* Reads and parses a file (at most 16 MiB). Like ssh's StrictModes, the file
 * must be a regular file (a FIFO is refused without blocking: AUTH_EIO),
 * writable by nobody but its owner and owned by the collector's user or root
 * (AUTH_EPERM, err names the file and its mode or owner). Returns as
 * auth_allowlist_parse, or AUTH_EIO, AUTH_EPERM. */
int auth_allowlist_load(const char *path, auth_allowlist **out, at_error *err);

/* Number of entries. */
size_t auth_allowlist_size(const auth_allowlist *a);

/* The name listed for a 32-byte public key, or NULL. Valid while `a` lives. */
const char *auth_allowlist_find_key(const auth_allowlist *a, const uint8_t key[32]);

/* 1 when `name` is listed, else 0. */
int auth_allowlist_has_name(const auth_allowlist *a, const char *name);

/* Frees; accepts NULL and *a == NULL; sets *a to NULL. */
void auth_allowlist_destroy(auth_allowlist **a);

/* ---- the ZAP handler -------------------------------------------------- */

/* Log levels passed to an auth_log_fn. */
enum { AUTH_LOG_ERROR = 0, AUTH_LOG_WARN = 1, AUTH_LOG_INFO = 2 };

/* Receives one line for people (no newline). Called from the ZAP thread. */
typedef void (*auth_log_fn)(void *ctx, int level, const char *message);

typedef struct auth_zap auth_zap;

/* Loads the allowlist at `allow_path`, binds the ZAP endpoint in ZeroMQ
 * context `zctx` and starts the handler thread. Call it before any CURVE
 * server socket of `zctx` accepts connections. `log` may be NULL (lines go
 * to stderr prefixed "trace-collector: "). Returns 0 and *out, or
 * AUTH_ENOCURVE, AUTH_EIO, AUTH_EFORMAT, AUTH_EZMQ (for instance another
 * ZAP handler already runs in this context), AUTH_ENOMEM, with err
 * filled. Never starts half-way: on error nothing is left running. */
int auth_zap_start(void *zctx, const char *allow_path, auth_log_fn log, void *log_ctx,
                   auth_zap **out, at_error *err);

/* Counts handshakes that fail before ZAP is asked (a client without CURVE,
 * a client with the wrong server key) on `server_socket`, through a socket
 * monitor read by the handler thread. Call from the thread that owns the
 * socket, before it binds. Up to 8 sockets. Returns 0, AUTH_EZMQ,
 * AUTH_EINVAL. */
int auth_zap_watch(auth_zap *z, void *server_socket, at_error *err);

/* Re-reads the allowlist file (the collector calls it on SIGHUP). On
 * success the new list answers every later handshake; on failure the old
 * list stays and err says why. Thread-safe. */
int auth_zap_reload(auth_zap *z, at_error *err);

/* 1 when `name` (a message's User-Id) is in the current allowlist: lets the
 * collector refuse messages of a session whose key was revoked by a reload
 * after it connected. Thread-safe. */
int auth_zap_allows_name(auth_zap *z, const char *name);

typedef struct auth_counts {
    uint64_t accepted;         /* ZAP: key listed */
    uint64_t rejected;         /* ZAP: key not listed, or not CURVE */
    uint64_t handshake_failed; /* watched sockets: failed before ZAP */
    uint64_t reloads;          /* successful reloads */
} auth_counts;

/* Snapshot of the counters. Thread-safe. */
void auth_zap_counts(auth_zap *z, auth_counts *out);

/* Stops the thread and frees everything; accepts NULL and *z == NULL; sets
 * *z to NULL. Call before zmq_ctx_term of its context (or after: the thread
 * also ends when the context terminates). */
void auth_zap_stop(auth_zap **z);

#endif
