/*
 * auth.c - CURVE keys, the allowlist and the ZAP handler (see auth.h).
 *
 * Responsibility: key files (create, read, check modes), the allowlist
 * parser, the ZAP handler thread and its counters.
 *
 * Owns: an auth_zap owns its REP socket (bound to inproc://zeromq.zap.01),
 * the monitor PAIR sockets handed to it by auth_zap_watch, its thread, its
 * allowlist (swapped whole on reload) and a copy of the allowlist path.
 *
 * Invariants: key material never reaches a log line or an error message;
 * only names, peer addresses and reasons do. Every ZAP request gets exactly
 * one reply (REP's state machine demands it), malformed ones a 500.
 *
 * Threading: the handler thread alone uses the sockets after start; the
 * allowlist pointer and the pending-monitor slots are guarded by `lock`;
 * counters are C11 atomics.
 */
#include "auth.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "traceproto.h"

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define MAX_WATCH 8
#define ALLOWLIST_MAX_BYTES (16u << 20)

static const at_code_name auth_errors[] = {
    {AUTH_OK, "success"},
    {AUTH_EINVAL, "invalid argument"},
    {AUTH_ENOMEM, "out of memory"},
    {AUTH_EIO, "file read or write error"},
    {AUTH_EFORMAT, "malformed key file or allowlist"},
    {AUTH_ENOCURVE, "this libzmq has no CURVE support"},
    {AUTH_EZMQ, "ZeroMQ error"},
    {AUTH_EEXIST, "key file already exists"},
    {AUTH_EPERM, "key file or allowlist open to others (secret key readable, allowlist writable, "
                 "or another owner)"},
};

const char *auth_strerror(int code)
{
    return at_code_text(auth_errors, sizeof auth_errors / sizeof auth_errors[0], code,
                        "unknown error");
}

int auth_curve_available(void)
{
    return zmq_has("curve") ? 1 : 0;
}

/* ---- keys ------------------------------------------------------------- */

/* A new key file of exactly `mode`, complete or absent (at_file_create); never replaces
 * one. Its own EEXIST message, which says what to do (tests quote "already exists"); the
 * other failures keep at_file_create's words ("NAME.key: cannot create a file in DIR:
 * REASON", "NAME.key: cannot write: REASON"), which name the file as before. */
static int write_key_file(const char *path, const char *text, mode_t mode, at_error *err)
{
    int rc = at_file_create(path, text, strlen(text), mode, err);
    if (rc == AT_EEXIST)
        return at_errf(err, AUTH_EEXIST,
                       "%s: already exists; remove it or choose another name with -o", path);
    return rc == AT_OK ? AUTH_OK : AUTH_EIO;
}

int auth_keygen_curve(const char *name, at_error *err)
{
    if (!name || !*name) return at_errf(err, AUTH_EINVAL, "keygen: -o NAME is required");
    if (!auth_curve_available())
        return at_errf(err, AUTH_ENOCURVE,
                       "keygen: this libzmq was built without CURVE (zmq_has(\"curve\") is false); "
                       "install a libzmq with libsodium support");
    char pub[AUTH_Z85_KEY_LEN + 1], sec[AUTH_Z85_KEY_LEN + 1];
    if (zmq_curve_keypair(pub, sec) != 0)
        return at_errf(err, AUTH_EZMQ, "keygen: zmq_curve_keypair: %s", zmq_strerror(zmq_errno()));
    size_t n = strlen(name) + 5;
    char *kpath = malloc(n), *ppath = malloc(n);
    int rc = AUTH_ENOMEM;
    if (kpath && ppath) {
        snprintf(kpath, n, "%s.key", name);
        snprintf(ppath, n, "%s.pub", name);
        struct stat st;
        if (stat(ppath, &st) == 0)
            rc = at_errf(err, AUTH_EEXIST,
                         "%s: already exists; remove it or choose another name with -o", ppath);
        else {
            /* The secret file says what it is, so that a loader wanting a public key
             * (the shim's --server-key) can refuse it (docs/security.md). */
            char stext[320], ptext[AUTH_Z85_KEY_LEN + 2];
            snprintf(stext, sizeof stext,
                     "%s secret-key\n"
                     "# CURVE secret key (trace-collector keygen): keep it private, mode 0600.\n"
                     "# Peers get the public key in %s, never this file.\n",
                     sec, ppath);
            snprintf(ptext, sizeof ptext, "%s\n", pub);
            if ((rc = write_key_file(kpath, stext, 0600, err)) == AUTH_OK &&
                (rc = write_key_file(ppath, ptext, 0644, err)) != AUTH_OK)
                unlink(kpath);
            memset(stext, 0, sizeof stext);
        }
    }
    memset(sec, 0, sizeof sec);
    free(kpath);
    free(ppath);
    return rc;
}

int auth_keygen_main(int argc, char **argv)
{
    const char *name = NULL;
    int curve = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--curve") == 0)
            curve = 1;
        else if ((strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--output") == 0) && i + 1 < argc)
            name = argv[++i];
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: trace-collector keygen --curve -o NAME\n"
                   "Writes NAME.key (CURVE secret key, 0600) and NAME.pub (public key), Z85 "
                   "text.\nThe collector loads its NAME.key with --curve-secret; each shim's "
                   "NAME.pub\ngoes into the collector's --allow file as \"NAME KEY\".\n");
            return 0;
        } else {
            fprintf(stderr, "trace-collector: keygen: unexpected argument %s (see keygen --help)\n",
                    argv[i]);
            return 2;
        }
    }
    if (!curve || !name) {
        fprintf(stderr, "trace-collector: usage: trace-collector keygen --curve -o NAME\n");
        return 2;
    }
    at_error err = {0};
    int rc = auth_keygen_curve(name, &err);
    if (rc != AUTH_OK) {
        char msg[AT_ERROR_TEXT_LEN];
        fprintf(stderr, "trace-collector: keygen: %s\n", at_error_format(&err, msg, sizeof msg));
        return rc == AUTH_EINVAL ? 2 : 3;
    }
    printf("wrote %s.key (CURVE secret key, mode 0600) and %s.pub (public key)\n", name, name);
    return 0;
}

static int is_z85_key(const char *s, size_t len)
{
    if (len != AUTH_Z85_KEY_LEN) return 0;
    char tmp[AUTH_Z85_KEY_LEN + 1];
    uint8_t bin[32];
    memcpy(tmp, s, len);
    tmp[len] = 0;
    return zmq_z85_decode(bin, tmp) != NULL;
}

int auth_key_load(const char *path, int secret, char z85[AUTH_Z85_KEY_LEN + 1], at_error *err)
{
    if (!path || !z85) return at_errf(err, AUTH_EINVAL, "key file: no path given");
    struct stat st;
    int fd = tp_file_open_regular(path, &st, err);
    if (fd < 0) return AUTH_EIO;
    if (secret && (st.st_mode & 077)) {
        close(fd);
        return at_errf(
            err, AUTH_EPERM,
            "%s: secret key is readable by group or others (mode %03o); run chmod 600 %s", path,
            (unsigned)(st.st_mode & 0777), path);
    }
    char buf[512];
    ssize_t n = read(fd, buf, sizeof buf);
    int e = errno;
    close(fd);
    if (n < 0) return at_errf(err, AUTH_EIO, "%s: cannot read: %s", path, strerror(e));
    int marked = 0;
    int bad = (size_t)n == sizeof buf || tp_curve_key_parse(buf, (size_t)n, z85, &marked) != 0;
    memset(buf, 0, sizeof buf);
    if (!bad) bad = !is_z85_key(z85, AUTH_Z85_KEY_LEN);
    if (bad) {
        memset(z85, 0, AUTH_Z85_KEY_LEN + 1);
        return at_errf(err, AUTH_EFORMAT,
                       "%s: not a CURVE key (expected 40 Z85 characters, as written by "
                       "`trace-collector keygen --curve -o NAME`)",
                       path);
    }
    if (!secret && marked) {
        memset(z85, 0, AUTH_Z85_KEY_LEN + 1);
        return at_errf(
            err, AUTH_EFORMAT,
            "%s: holds a CURVE secret key (marked \"secret-key\"); pass the public key "
            "instead (the NAME.pub file keygen wrote beside it) and keep this one private",
            path);
    }
    return AUTH_OK;
}

/* ---- the allowlist ---------------------------------------------------- */

typedef struct allow_entry {
    char name[AUTH_NAME_MAX + 1];
    uint8_t key[32];
} allow_entry;

struct auth_allowlist {
    allow_entry *v;
    size_t n, cap;
};

static int is_name_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '@' || c == '-';
}

static int is_blank(int c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

/* Past the run of blanks (blank 1) or of non-blanks (blank 0) at s, within [s, e). */
static const char *skip_run(const char *s, const char *e, int blank)
{
    while (s < e && is_blank(*s) == blank)
        s++;
    return s;
}

/* Parses one non-comment line [s, e). */
static int parse_entry(auth_allowlist *a, const char *s, const char *e, const char *origin,
                       size_t lineno, at_error *err)
{
    const char *name = s;
    s = skip_run(s, e, 0);
    size_t nlen = (size_t)(s - name);
    const char *key = s = skip_run(s, e, 1);
    s = skip_run(s, e, 0);
    size_t klen = (size_t)(s - key);
    s = skip_run(s, e, 1);
    if (s < e && *s != '#' && (size_t)(e - s) >= 10 && memcmp(s, "secret-key", 10) == 0)
        return at_errf(err, AUTH_EFORMAT,
                       "%s:%zu: key: a CURVE secret key (the line of a .key file); list the public "
                       "key of that shim (its .pub file) and keep the secret key on the shim",
                       origin, lineno);
    if (s < e && *s != '#')
        return at_errf(err, AUTH_EFORMAT,
                       "%s:%zu: extra text after the key; lines are \"NAME Z85-PUBLIC-KEY\"",
                       origin, lineno);
    if (nlen > AUTH_NAME_MAX)
        return at_errf(err, AUTH_EFORMAT, "%s:%zu: name: longer than %d characters", origin, lineno,
                       AUTH_NAME_MAX);
    for (size_t k = 0; k < nlen; k++)
        if (!is_name_char((unsigned char)name[k]))
            return at_errf(err, AUTH_EFORMAT,
                           "%s:%zu: name: only letters, digits and . _ @ - are allowed", origin,
                           lineno);
    if (klen == 0)
        return at_errf(err, AUTH_EFORMAT,
                       "%s:%zu: key: missing; lines are \"NAME Z85-PUBLIC-KEY\" (the content of a "
                       ".pub file)",
                       origin, lineno);
    if (!is_z85_key(key, klen))
        return at_errf(err, AUTH_EFORMAT,
                       "%s:%zu: key: not 40 Z85 characters (the content of a .pub file)", origin,
                       lineno);
    allow_entry ent;
    memset(&ent, 0, sizeof ent);
    memcpy(ent.name, name, nlen);
    char tmp[AUTH_Z85_KEY_LEN + 1];
    memcpy(tmp, key, AUTH_Z85_KEY_LEN);
    tmp[AUTH_Z85_KEY_LEN] = 0;
    zmq_z85_decode(ent.key, tmp);
    for (size_t k = 0; k < a->n; k++) {
        if (strcmp(a->v[k].name, ent.name) == 0)
            return at_errf(err, AUTH_EFORMAT, "%s:%zu: name: \"%s\" is listed twice", origin,
                           lineno, ent.name);
        if (memcmp(a->v[k].key, ent.key, 32) == 0)
            return at_errf(err, AUTH_EFORMAT,
                           "%s:%zu: key: already listed for \"%s\"; one key, one name", origin,
                           lineno, a->v[k].name);
    }
    if (at_grow((void **)&a->v, &a->cap, a->n + 1, sizeof *a->v, 16))
        return at_errf(err, AUTH_ENOMEM, "%s: out of memory", origin);
    a->v[a->n++] = ent;
    return AUTH_OK;
}

int auth_allowlist_parse(const char *text, size_t len, const char *origin, auth_allowlist **out,
                         at_error *err)
{
    if (!out || (!text && len)) return at_errf(err, AUTH_EINVAL, "allowlist: no text");
    *out = NULL;
    if (!origin) origin = "allowlist";
    auth_allowlist *a = calloc(1, sizeof *a);
    if (!a) return at_errf(err, AUTH_ENOMEM, "%s: out of memory", origin);
    const char *p = text, *end = text + len;
    size_t lineno = 0;
    int rc = AUTH_OK;
    while (rc == AUTH_OK && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        lineno++;
        const char *s = p;
        while (s < e && is_blank(*s))
            s++;
        if (s < e && memchr(s, '\0', (size_t)(e - s)))
            rc = at_errf(err, AUTH_EFORMAT, "%s:%zu: NUL byte in the line", origin, lineno);
        else if (s < e && *s != '#')
            rc = parse_entry(a, s, e, origin, lineno, err);
        p = nl ? nl + 1 : end;
    }
    if (rc != AUTH_OK) {
        auth_allowlist_destroy(&a);
        return rc;
    }
    *out = a;
    return AUTH_OK;
}

/* An allowlist decides who may write to the store: like ssh's authorized_keys
 * under StrictModes, it must be a regular file (a FIFO would hang start-up)
 * that nobody but its owner can change (no group or other write bit), owned
 * by the collector's user or root. The directory holding it is not checked. */
static int check_allowlist_file(const char *path, const struct stat *st, at_error *err)
{
    if (st->st_mode & 022)
        return at_errf(err, AUTH_EPERM,
                       "%s: writable by %s (mode %04o): whoever can write it can admit a key; run "
                       "chmod go-w %s",
                       path, (st->st_mode & 002) ? "anyone (others)" : "its group",
                       (unsigned)(st->st_mode & 07777), path);
    uid_t me = geteuid();
    if (st->st_uid != me && st->st_uid != 0)
        return at_errf(
            err, AUTH_EPERM,
            "%s: owned by uid %u, neither the collector's user (uid %u) nor root; chown it", path,
            (unsigned)st->st_uid, (unsigned)me);
    if (st->st_size > (off_t)ALLOWLIST_MAX_BYTES)
        return at_errf(err, AUTH_EFORMAT, "%s: larger than 16 MiB", path);
    return AUTH_OK;
}

int auth_allowlist_load(const char *path, auth_allowlist **out, at_error *err)
{
    if (!path || !out) return at_errf(err, AUTH_EINVAL, "allowlist: no path given");
    *out = NULL;
    struct stat st;
    int fd = tp_file_open_regular(path, &st, err);
    if (fd < 0) return AUTH_EIO;
    int rc = check_allowlist_file(path, &st, err);
    size_t cap = (size_t)st.st_size + 1, n = 0;
    char *buf = rc == AUTH_OK ? malloc(cap) : NULL;
    if (rc == AUTH_OK && !buf) rc = at_errf(err, AUTH_ENOMEM, "%s: out of memory", path);
    while (rc == AUTH_OK && n < cap) { /* one byte more than its size: it grew meanwhile */
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) rc = at_errf(err, AUTH_EIO, "%s: cannot read: %s", path, strerror(errno));
        if (r <= 0) break;
        n += (size_t)r;
    }
    close(fd);
    if (rc == AUTH_OK && n == cap)
        rc = at_errf(err, AUTH_EIO, "%s: changed while being read; try again", path);
    if (rc == AUTH_OK) rc = auth_allowlist_parse(buf, n, path, out, err);
    free(buf);
    return rc;
}

size_t auth_allowlist_size(const auth_allowlist *a)
{
    return a ? a->n : 0;
}

const char *auth_allowlist_find_key(const auth_allowlist *a, const uint8_t key[32])
{
    for (size_t k = 0; a && key && k < a->n; k++)
        if (memcmp(a->v[k].key, key, 32) == 0) return a->v[k].name;
    return NULL;
}

int auth_allowlist_has_name(const auth_allowlist *a, const char *name)
{
    for (size_t k = 0; a && name && k < a->n; k++)
        if (strcmp(a->v[k].name, name) == 0) return 1;
    return 0;
}

void auth_allowlist_destroy(auth_allowlist **a)
{
    if (!a || !*a) return;
    free((*a)->v);
    free(*a);
    *a = NULL;
}

/* ---- the ZAP handler -------------------------------------------------- */

struct auth_zap {
    void *zctx;
    void *rep;
    void *watch[MAX_WATCH]; /* monitor PAIR sockets owned by the thread */
    size_t nwatch;
    void *pending[MAX_WATCH]; /* handed over by auth_zap_watch, under lock */
    size_t npending;
    unsigned watch_serial;
    char *path;
    auth_allowlist *list; /* under lock */
    pthread_mutex_t lock;
    pthread_t thread;
    atomic_int stop;
    atomic_uint_fast64_t accepted, rejected, handshake_failed, reloads;
    auth_log_fn log;
    void *log_ctx;
};

static void zap_log(auth_zap *z, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void zap_log(auth_zap *z, int level, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (z->log)
        z->log(z->log_ctx, level, line);
    else
        fprintf(stderr, "trace-collector: %s\n", line);
}

/* Refusals are logged one by one at first, then at powers of two, so a
 * client retrying every 100 ms cannot flood the log; counters see them all. */
static int worth_logging(uint64_t n)
{
    return n <= 10 || (n & (n - 1)) == 0;
}

/* Copies a frame into a printable string: bytes outside 0x21..0x7e become
 * '?', so a peer cannot inject lines into the log. */
static void frame_text(zmq_msg_t *m, char *out, size_t outlen)
{
    size_t n = zmq_msg_size(m);
    const unsigned char *d = zmq_msg_data(m);
    if (n >= outlen) n = outlen - 1;
    for (size_t k = 0; k < n; k++)
        out[k] = d[k] > 0x20 && d[k] < 0x7f ? (char)d[k] : '?';
    out[n] = 0;
}

static int send_frame(void *s, const void *data, size_t len, int more)
{
    return zmq_send(s, data, len, more ? ZMQ_SNDMORE : 0) < 0 ? -1 : 0;
}

static void zap_reply(auth_zap *z, zmq_msg_t *reqid, const char *status, const char *text,
                      const char *user)
{
    send_frame(z->rep, "1.0", 3, 1);
    send_frame(z->rep, reqid ? zmq_msg_data(reqid) : "", reqid ? zmq_msg_size(reqid) : 0, 1);
    send_frame(z->rep, status, strlen(status), 1);
    send_frame(z->rep, text, strlen(text), 1);
    send_frame(z->rep, user, strlen(user), 1);
    send_frame(z->rep, "", 0, 0);
}

/* Frames of a ZAP request (RFC 27). */
enum { F_VERSION, F_REQID, F_DOMAIN, F_ADDRESS, F_IDENTITY, F_MECHANISM, F_CRED, F_MAX = 8 };

static void zap_handle(auth_zap *z)
{
    zmq_msg_t f[F_MAX];
    size_t nf = 0;
    int more = 1, truncated = 0;
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, z->rep, 0) < 0) {
            zmq_msg_close(&m);
            break;
        }
        more = zmq_msg_more(&m);
        if (nf < F_MAX)
            f[nf++] = m;
        else {
            truncated = 1;
            zmq_msg_close(&m);
        }
    }
    char addr[64] = "?", mech[16] = "?";
    if (nf > F_ADDRESS) frame_text(&f[F_ADDRESS], addr, sizeof addr);
    if (nf > F_MECHANISM) frame_text(&f[F_MECHANISM], mech, sizeof mech);
    if (!addr[0]) snprintf(addr, sizeof addr, "a local peer");
    if (nf < F_CRED - 1 || truncated || zmq_msg_size(&f[F_VERSION]) != 3 ||
        memcmp(zmq_msg_data(&f[F_VERSION]), "1.0", 3) != 0) {
        zap_reply(z, nf > F_REQID ? &f[F_REQID] : NULL, "500", "malformed ZAP request", "");
        atomic_fetch_add(&z->rejected, 1);
        zap_log(z, AUTH_LOG_WARN, "refused a connection from %s: malformed ZAP request", addr);
    } else if (strcmp(mech, "CURVE") != 0 || nf != F_CRED + 1 || zmq_msg_size(&f[F_CRED]) != 32) {
        zap_reply(z, &f[F_REQID], "400", "CURVE required", "");
        uint64_t n = atomic_fetch_add(&z->rejected, 1) + 1;
        if (worth_logging(n))
            zap_log(z, AUTH_LOG_WARN,
                    "refused a connection from %s: mechanism %s, only CURVE is served (refused so "
                    "far: %llu)",
                    addr, mech, (unsigned long long)n);
    } else {
        char name[AUTH_NAME_MAX + 1] = "";
        pthread_mutex_lock(&z->lock);
        const char *found = auth_allowlist_find_key(z->list, zmq_msg_data(&f[F_CRED]));
        if (found) snprintf(name, sizeof name, "%s", found);
        pthread_mutex_unlock(&z->lock);
        if (name[0]) {
            zap_reply(z, &f[F_REQID], "200", "OK", name);
            atomic_fetch_add(&z->accepted, 1);
            zap_log(z, AUTH_LOG_INFO, "accepted shim \"%s\" from %s", name, addr);
        } else {
            zap_reply(z, &f[F_REQID], "400", "key not allowed", "");
            uint64_t n = atomic_fetch_add(&z->rejected, 1) + 1;
            if (worth_logging(n))
                zap_log(
                    z, AUTH_LOG_WARN,
                    "refused a CURVE client from %s: its key is not in the allowlist %s (refused "
                    "so far: %llu)",
                    addr, z->path, (unsigned long long)n);
        }
    }
    for (size_t k = 0; k < nf; k++)
        zmq_msg_close(&f[k]);
}

/* One socket-monitor event: [uint16 event, uint32 value][endpoint]. */
static void monitor_handle(auth_zap *z, void *pair)
{
    zmq_msg_t ev, ep;
    zmq_msg_init(&ev);
    zmq_msg_init(&ep);
    if (zmq_msg_recv(&ev, pair, 0) >= 0 && zmq_msg_more(&ev) && zmq_msg_recv(&ep, pair, 0) >= 0 &&
        zmq_msg_size(&ev) >= 6) {
        uint16_t event;
        uint32_t value;
        memcpy(&event, zmq_msg_data(&ev), 2);
        memcpy(&value, (char *)zmq_msg_data(&ev) + 2, 4);
        char where[128];
        frame_text(&ep, where, sizeof where);
        /* HANDSHAKE_FAILED_AUTH follows a ZAP refusal, already counted. */
        if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ||
            event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) {
            uint64_t n = atomic_fetch_add(&z->handshake_failed, 1) + 1;
            if (worth_logging(n))
                zap_log(z, AUTH_LOG_WARN,
                        "refused a connection on %s: handshake failed (%s, code 0x%x): a client "
                        "without CURVE or with the wrong server key (failed so far: %llu)",
                        where,
                        value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH ? "mechanism mismatch"
                                                                            : "protocol",
                        (unsigned)value, (unsigned long long)n);
        }
    }
    while (zmq_msg_more(&ep)) { /* drain anything unexpected */
        zmq_msg_close(&ep);
        zmq_msg_init(&ep);
        if (zmq_msg_recv(&ep, pair, 0) < 0) break;
    }
    zmq_msg_close(&ev);
    zmq_msg_close(&ep);
}

static void *zap_main(void *arg)
{
    auth_zap *z = arg;
    while (!atomic_load(&z->stop)) {
        pthread_mutex_lock(&z->lock);
        for (size_t k = 0; k < z->npending && z->nwatch < MAX_WATCH; k++)
            z->watch[z->nwatch++] = z->pending[k];
        z->npending = 0;
        pthread_mutex_unlock(&z->lock);
        zmq_pollitem_t items[1 + MAX_WATCH];
        items[0] = (zmq_pollitem_t){z->rep, 0, ZMQ_POLLIN, 0};
        for (size_t k = 0; k < z->nwatch; k++)
            items[1 + k] = (zmq_pollitem_t){z->watch[k], 0, ZMQ_POLLIN, 0};
        int rc = zmq_poll(items, (int)(1 + z->nwatch), 100);
        if (rc < 0) {
            if (zmq_errno() == EINTR) continue;
            break; /* ETERM: the context is ending */
        }
        if (items[0].revents & ZMQ_POLLIN) zap_handle(z);
        for (size_t k = 0; k < z->nwatch; k++)
            if (items[1 + k].revents & ZMQ_POLLIN) monitor_handle(z, z->watch[k]);
    }
    int linger = 0;
    zmq_setsockopt(z->rep, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(z->rep);
    z->rep = NULL;
    for (size_t k = 0; k < z->nwatch; k++) {
        zmq_setsockopt(z->watch[k], ZMQ_LINGER, &linger, sizeof linger);
        zmq_close(z->watch[k]);
    }
    z->nwatch = 0;
    return NULL;
}

int auth_zap_start(void *zctx, const char *allow_path, auth_log_fn log, void *log_ctx,
                   auth_zap **out, at_error *err)
{
    if (!zctx || !allow_path || !out)
        return at_errf(err, AUTH_EINVAL, "auth: context, allowlist and out are required");
    *out = NULL;
    if (!auth_curve_available())
        return at_errf(
            err, AUTH_ENOCURVE,
            "this libzmq was built without CURVE (zmq_has(\"curve\") is false): refusing "
            "to serve --allow without authentication");
    auth_zap *z = calloc(1, sizeof *z);
    if (!z) return at_errf(err, AUTH_ENOMEM, "auth: out of memory");
    z->zctx = zctx;
    z->log = log;
    z->log_ctx = log_ctx;
    z->path = strdup(allow_path);
    int rc = z->path ? AUTH_OK : at_errf(err, AUTH_ENOMEM, "auth: out of memory");
    if (rc == AUTH_OK) rc = auth_allowlist_load(allow_path, &z->list, err);
    if (rc == AUTH_OK) {
        z->rep = zmq_socket(zctx, ZMQ_REP);
        int linger = 0;
        if (!z->rep || zmq_setsockopt(z->rep, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
            zmq_bind(z->rep, ZAP_ENDPOINT) != 0)
            rc = at_errf(err, AUTH_EZMQ,
                         "cannot run the ZAP handler: bind %s: %s (is another handler running in "
                         "this process?)",
                         ZAP_ENDPOINT, zmq_strerror(zmq_errno()));
    }
    if (rc == AUTH_OK && pthread_mutex_init(&z->lock, NULL) != 0)
        rc = at_errf(err, AUTH_ENOMEM, "auth: cannot create a mutex");
    if (rc == AUTH_OK && pthread_create(&z->thread, NULL, zap_main, z) != 0) {
        pthread_mutex_destroy(&z->lock);
        rc = at_errf(err, AUTH_ENOMEM, "cannot run the ZAP handler: no thread");
    }
    if (rc != AUTH_OK) {
        if (z->rep) zmq_close(z->rep);
        auth_allowlist_destroy(&z->list);
        free(z->path);
        free(z);
        return rc;
    }
    zap_log(z, AUTH_LOG_INFO, "CURVE authentication on: %zu key(s) allowed by %s",
            auth_allowlist_size(z->list), z->path);
    *out = z;
    return AUTH_OK;
}

int auth_zap_watch(auth_zap *z, void *server_socket, at_error *err)
{
    if (!z || !server_socket) return at_errf(err, AUTH_EINVAL, "auth: no socket to watch");
    char ep[96];
    pthread_mutex_lock(&z->lock);
    unsigned serial = z->watch_serial++;
    int full = z->nwatch + z->npending >= MAX_WATCH;
    pthread_mutex_unlock(&z->lock);
    if (full) return at_errf(err, AUTH_EINVAL, "auth: more than %d sockets", MAX_WATCH);
    snprintf(ep, sizeof ep, "inproc://agenttrail-auth-monitor-%p-%u", (void *)z, serial);
    if (zmq_socket_monitor(server_socket, ep,
                           ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) != 0)
        return at_errf(err, AUTH_EZMQ, "auth: zmq_socket_monitor: %s", zmq_strerror(zmq_errno()));
    void *pair = zmq_socket(z->zctx, ZMQ_PAIR);
    if (!pair || zmq_connect(pair, ep) != 0) {
        if (pair) zmq_close(pair);
        zmq_socket_monitor(server_socket, NULL, 0);
        return at_errf(err, AUTH_EZMQ, "auth: monitor connect: %s", zmq_strerror(zmq_errno()));
    }
    pthread_mutex_lock(&z->lock);
    z->pending[z->npending++] = pair;
    pthread_mutex_unlock(&z->lock);
    return AUTH_OK;
}

int auth_zap_reload(auth_zap *z, at_error *err)
{
    if (!z) return at_errf(err, AUTH_EINVAL, "auth: not running");
    auth_allowlist *fresh = NULL;
    at_error local = {0}, *e = err ? err : &local;
    int rc = auth_allowlist_load(z->path, &fresh, e);
    if (rc != AUTH_OK) {
        char msg[AT_ERROR_TEXT_LEN];
        zap_log(z, AUTH_LOG_ERROR, "allowlist reload failed, keeping the previous one: %s",
                e->what[0] ? at_error_format(e, msg, sizeof msg) : auth_strerror(rc));
        return rc;
    }
    size_t n = auth_allowlist_size(fresh);
    pthread_mutex_lock(&z->lock);
    auth_allowlist *old = z->list;
    z->list = fresh;
    pthread_mutex_unlock(&z->lock);
    auth_allowlist_destroy(&old);
    atomic_fetch_add(&z->reloads, 1);
    zap_log(z, AUTH_LOG_INFO, "allowlist reloaded: %zu key(s) allowed by %s", n, z->path);
    return AUTH_OK;
}

int auth_zap_allows_name(auth_zap *z, const char *name)
{
    if (!z || !name) return 0;
    pthread_mutex_lock(&z->lock);
    int ok = auth_allowlist_has_name(z->list, name);
    pthread_mutex_unlock(&z->lock);
    return ok;
}

void auth_zap_counts(auth_zap *z, auth_counts *out)
{
    if (!out) return;
    memset(out, 0, sizeof *out);
    if (!z) return;
    out->accepted = atomic_load(&z->accepted);
    out->rejected = atomic_load(&z->rejected);
    out->handshake_failed = atomic_load(&z->handshake_failed);
    out->reloads = atomic_load(&z->reloads);
}

void auth_zap_stop(auth_zap **zp)
{
    if (!zp || !*zp) return;
    auth_zap *z = *zp;
    atomic_store(&z->stop, 1);
    pthread_join(z->thread, NULL);
    int linger = 0;
    for (size_t k = 0; k < z->npending; k++) {
        zmq_setsockopt(z->pending[k], ZMQ_LINGER, &linger, sizeof linger);
        zmq_close(z->pending[k]);
    }
    pthread_mutex_destroy(&z->lock);
    auth_allowlist_destroy(&z->list);
    free(z->path);
    free(z);
    *zp = NULL;
}
