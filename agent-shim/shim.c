/*
 * shim.c - libtraceshim: the client a service links (see traceshim.h).
 *
 * Owns: the bounded in-memory queue of packed events, the ZeroMQ context and
 * DEALER socket, the window of unacked batches, the spool (spool.c) and the
 * background thread that moves events queue -> batch -> collector, or queue
 * -> spool when the collector is unreachable, and spool -> collector when it
 * answers again.
 *
 * Invariants:
 * - an event leaves memory only once acked OK/REJECTED, written to the spool,
 *   or counted as dropped;
 * - a spool segment is deleted only when every record in it was read and
 *   every batch made from it was acked;
 * - a batch keeps its seq for every resend; seqs grow across restarts (they
 *   start at the creation time in ns).
 *
 * Threading: emit/flush/counters run on any thread. The queue has one mutex,
 * held only to copy a pointer in or out; counters are atomics. The socket,
 * the window and the replay state belong to the background thread alone.
 * flush talks to the background thread through `fmu`/`fcond` generations.
 */
#include "traceshim.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "shim_monitor.h"
#include "shim_replay.h"
#include "spool.h"

#define DEFAULT_ENDPOINT "tcp://127.0.0.1:7600"
#define PROBE_INTERVAL_MS 200u
#define RETRY_BACKOFF_MS 100u

typedef tp_event *qitem; /* an event as emitted: ids and time filled, not yet masked */

typedef struct batch {
    int in_use;
    int from_spool; /* event bytes point into the replay segment */
    uint64_t seq;
    size_t n;
    uint8_t **evs; /* owned when !from_spool */
    size_t *lens;
    uint8_t *frame; /* encoded Batch, resent as is */
    size_t frame_len;
    uint64_t deadline;   /* ns, monotonic: resend after this */
    uint64_t giveup_at;  /* ns: spool it after this if the collector stays silent */
    unsigned sends;      /* sends that reached a live connection (backoff) */
    uint64_t sent_at;    /* ns of the first of them (ack delay) */
    unsigned attempts;   /* RETRY answers received */
    size_t rfirst, rend; /* spool batches: their records' index range in the segment */
    unsigned drops;      /* connections closed while it was in flight (size suspect) */
} batch;

struct traceshim {
    traceshim_options o;
    char *endpoints[TRACESHIM_MAX_ENDPOINTS];
    char curve_server[41], curve_secret[41]; /* Z85; empty: no CURVE */
    char *service, *workflow, *dri, *spool_dir;
    uint8_t key[TP_HMAC_KEY_LEN];
    int has_key;
    tp_limits limits;

    /* queue */
    pthread_mutex_t qmu;
    pthread_cond_t qspace;
    qitem *ring;
    size_t cap, head, count;
    uint64_t q_first; /* monotonic ns when the queue last became non-empty */
    int evfd;
    atomic_int closing;
    atomic_int stop;

    /* counters */
    atomic_uint_fast64_t c_emitted, c_acked, c_dups, c_rejected, c_retried, c_spooled, c_replayed,
        c_dropped, c_recovered, c_lost, c_lost_spans, c_auth_refused, c_set_aside;
    atomic_uint_fast64_t spool_failures, size_refusals, auth_reports; /* how often reported */

    spool *sp;
    char shim_id[33];
    void *zctx, *sock;
    pthread_t thr;
    int thr_started;
    void *mon;             /* PAIR socket of the DEALER's monitor; NULL: none */
    shim_conn_events conn; /* background thread only */

    /* flush handshake */
    pthread_mutex_t fmu;
    pthread_cond_t fcond;
    uint64_t req_gen, done_gen, spill_gen, req_deadline;

    /* background thread only */
    batch *win;
    unsigned nwin;
    uint64_t next_seq;
    uint64_t last_ack; /* monotonic ns of the last OK or REJECTED ack */
    uint64_t srtt;     /* smoothed ack delay, ns, of batches acked after one send */
    int down;
    uint64_t probe_at;
    replay_seg rs; /* the segment being replayed (rs.active) */
    unsigned rinflight;
    size_t learned_cap; /* batch bytes the collector was seen to refuse above; 0: none */
    uint8_t *rxbuf;
    uint8_t *carry; /* a packed event taken from the queue that did not fit a batch */
    size_t carry_len;
};

const char *traceshim_strerror(int code)
{
    switch (code) {
    case TRACESHIM_OK:
        return "success";
    case TRACESHIM_EINVAL:
        return "invalid option or argument";
    case TRACESHIM_ENOMEM:
        return "out of memory";
    case TRACESHIM_EFULL:
        return "queue full: event dropped";
    case TRACESHIM_ETIMEDOUT:
        return "not everything was acked in time (the rest is spooled)";
    case TRACESHIM_ELOCKED:
        return "spool directory in use by another client";
    case TRACESHIM_EIO:
        return "spool I/O error";
    case TRACESHIM_EZMQ:
        return "ZeroMQ error";
    case TRACESHIM_EEVENT:
        return "event cannot be prepared or is too big";
    case TRACESHIM_ECLOSED:
        return "client is closing";
    default:
        return "unknown error";
    }
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#define CINC(s, c, n) atomic_fetch_add_explicit(&(s)->c, (uint64_t)(n), memory_order_relaxed)

size_t traceshim_event_max(const tp_limits *lim)
{
    tp_limits d = tp_limits_default();
    if (!lim) lim = &d;
    size_t in_batch = lim->batch_max_bytes > 65536 ? lim->batch_max_bytes - 65536 : 0;
    return in_batch < SPOOL_RECORD_MAX ? in_batch : SPOOL_RECORD_MAX;
}

void traceshim_options_default(traceshim_options *o)
{
    memset(o, 0, sizeof *o);
    o->queue_events = 65536;
    o->batch_events = 256;
    o->batch_delay_ms = 2;
    o->window = 16;
    o->ack_timeout_ms = 2000;
    o->attempts = 3;
    o->overflow = TRACESHIM_OVERFLOW_SPOOL;
}

/* ---- small helpers ---------------------------------------------------- */

/* A line for people through the log option (stderr by default). */
static void shim_log(traceshim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void shim_log(traceshim *s, const char *fmt, ...)
{
    char line[1536];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (s->o.log)
        s->o.log(s->o.log_ctx, line);
    else
        fprintf(stderr, "traceshim: %s\n", line);
}

static void replay_report(void *ctx, const char *line)
{
    shim_log(ctx, "%s", line);
}

/* Repeated failures are reported 10 times, then at powers of two. */
static int worth_reporting(atomic_uint_fast64_t *counter)
{
    uint64_t n = atomic_fetch_add(counter, 1) + 1;
    return n <= 10 || (n & (n - 1)) == 0;
}

static const char *spool_path(traceshim *s)
{
    return s->spool_dir ? s->spool_dir : "(none)";
}

/* Events given up because the spool could not take them (counted, said). */
static void spool_failed(traceshim *s, size_t n, int err, const char *what)
{
    CINC(s, c_dropped, n);
    if (!worth_reporting(&s->spool_failures)) return;
    const char *hint = err == ENOSPC || err == EDQUOT || err == EFBIG
                           ? "; free space on that file system or give a bigger --spool-dir"
                       : err == EMSGSIZE ? " (an event over the spool's record limit)"
                                         : "";
    shim_log(s, "spool %s: %s failed: %s%s: %zu event(s) dropped (counted in `dropped`)",
             spool_path(s), what, strerror(err), hint, n);
}

/* Bumped in a forked child: per-thread id generators reseed (see ids). */
static atomic_uint g_fork_gen;
static pthread_once_t g_atfork_once = PTHREAD_ONCE_INIT;

static void on_fork_child(void)
{
    atomic_fetch_add(&g_fork_gen, 1);
}

static void register_atfork(void)
{
    pthread_atfork(NULL, NULL, on_fork_child);
}

static char *dup_opt(const char *s, int *fail)
{
    if (!s) return NULL;
    char *d = strdup(s);
    if (!d) *fail = 1;
    return d;
}

static void wake(traceshim *s)
{
    uint64_t one = 1;
    ssize_t w = write(s->evfd, &one, sizeof one);
    (void)w; /* EAGAIN: the counter is already non-zero, the thread will wake */
}

static void batch_free(batch *b)
{
    if (!b->from_spool) {
        for (size_t i = 0; i < b->n; i++)
            free(b->evs[i]);
    }
    free(b->evs);
    free(b->lens);
    free(b->frame);
    memset(b, 0, sizeof *b);
}

static batch *win_slot(traceshim *s)
{
    for (unsigned i = 0; i < s->o.window; i++)
        if (!s->win[i].in_use) return &s->win[i];
    return NULL;
}

static long spool_sync_count(traceshim *s)
{
    if (!s->sp) return 0;
    long lost = 0;
    long n = spool_sync(s->sp, &lost);
    if (n > 0) CINC(s, c_spooled, n);
    if (n < 0 && lost > 0) spool_failed(s, (size_t)lost, errno, "fsync");
    return n;
}

/* Writes events to the spool (not yet fsync'd: spool_sync_count does it and
 * counts). On failure (nothing of them written) the events are dropped,
 * counted and reported. Frees nothing. Returns 0 or -1. */
static int spool_events(traceshim *s, uint8_t *const *evs, const size_t *lens, size_t n)
{
    if (n == 0) return 0;
    if (!s->sp) {
        CINC(s, c_dropped, n);
        return -1;
    }
    if (spool_append(s->sp, (const uint8_t *const *)evs, lens, n) != 0) {
        spool_failed(s, n, errno, "write");
        return -1;
    }
    return 0;
}

/* ---- creating --------------------------------------------------------- */

static int set_err(char *errbuf, size_t errlen, int code, const char *fmt, const char *a,
                   const char *b)
{
    if (errbuf && errlen) snprintf(errbuf, errlen, fmt, a, b);
    return code;
}

static void *bg_main(void *arg);

static int setup_socket(traceshim *s, char *errbuf, size_t errlen)
{
    s->zctx = zmq_ctx_new();
    if (!s->zctx)
        return set_err(errbuf, errlen, TRACESHIM_EZMQ, "zmq: cannot create a context: %s%s",
                       zmq_strerror(errno), "");
    s->sock = zmq_socket(s->zctx, ZMQ_DEALER);
    if (!s->sock)
        return set_err(errbuf, errlen, TRACESHIM_EZMQ, "zmq: cannot create a socket: %s%s",
                       zmq_strerror(errno), "");
    int zero = 0, one = 1, hwm = 4096, ivl = 100, ivlmax = 1000;
    zmq_setsockopt(s->sock, ZMQ_LINGER, &zero, sizeof zero);
    /* Queue only on live connections: a send while the collector is down
     * fails at once (EAGAIN) instead of piling up in ZeroMQ; the batch is
     * tried again and, while the collector stays silent, spooled. */
    zmq_setsockopt(s->sock, ZMQ_IMMEDIATE, &one, sizeof one);
    zmq_setsockopt(s->sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s->sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s->sock, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
    zmq_setsockopt(s->sock, ZMQ_RECONNECT_IVL_MAX, &ivlmax, sizeof ivlmax);
    /* Without a monitor the client still works; it only cannot tell a
     * refused key from a collector that is not running. */
    s->mon = shim_monitor_start(s->zctx, s->sock);
    if (s->curve_server[0]) {
        char pub[41];
        if (zmq_curve_public(pub, s->curve_secret) != 0 ||
            zmq_setsockopt(s->sock, ZMQ_CURVE_SERVERKEY, s->curve_server, 40) != 0 ||
            zmq_setsockopt(s->sock, ZMQ_CURVE_PUBLICKEY, pub, 40) != 0 ||
            zmq_setsockopt(s->sock, ZMQ_CURVE_SECRETKEY, s->curve_secret, 40) != 0)
            return set_err(errbuf, errlen, TRACESHIM_EZMQ, "zmq: cannot set CURVE keys: %s%s",
                           zmq_strerror(errno), " (does this libzmq have CURVE?)");
    }
    for (int i = 0; i < TRACESHIM_MAX_ENDPOINTS && s->endpoints[i]; i++) {
        if (zmq_connect(s->sock, s->endpoints[i]) != 0)
            return set_err(errbuf, errlen, TRACESHIM_EZMQ,
                           "endpoint %s: %s (expected tcp://HOST:PORT or ipc://PATH)",
                           s->endpoints[i], zmq_strerror(errno));
    }
    return 0;
}

static int copy_options(traceshim *s, const traceshim_options *o, char *errbuf, size_t errlen)
{
    int fail = 0;
    s->o = *o;
    if (!s->o.queue_events) s->o.queue_events = 65536;
    if (!s->o.batch_events) s->o.batch_events = 256;
    if (!s->o.window) s->o.window = 16;
    if (!s->o.ack_timeout_ms) s->o.ack_timeout_ms = 2000;
    if (!s->o.attempts) s->o.attempts = 3;
    s->limits = o->limits ? *o->limits : tp_limits_default();
    /* An event above this could never be spooled or delivered: the limit is
     * clamped to it (traceshim.h), and emit refuses bigger events. */
    if (s->limits.event_max > traceshim_event_max(&s->limits))
        s->limits.event_max = traceshim_event_max(&s->limits);
    if (s->o.batch_events > s->limits.batch_max_events)
        s->o.batch_events = s->limits.batch_max_events;
    if ((unsigned)s->o.overflow > TRACESHIM_OVERFLOW_BLOCK)
        return set_err(errbuf, errlen, TRACESHIM_EINVAL, "overflow policy %s%s: unknown", "?", "");
    int n = 0;
    for (; n < TRACESHIM_MAX_ENDPOINTS && o->endpoints[n]; n++)
        s->endpoints[n] = dup_opt(o->endpoints[n], &fail);
    if (n == 0) s->endpoints[0] = dup_opt(DEFAULT_ENDPOINT, &fail);
    s->service = dup_opt(o->service, &fail);
    s->workflow = dup_opt(o->workflow, &fail);
    s->dri = dup_opt(o->dri, &fail);
    s->spool_dir = dup_opt(o->spool_dir, &fail);
    if (o->hmac_key) {
        memcpy(s->key, o->hmac_key, TP_HMAC_KEY_LEN);
        s->has_key = 1;
    }
    s->o.curve_server_key = s->o.curve_secret_key = NULL; /* copied below, not kept */
    if (!o->curve_server_key != !o->curve_secret_key)
        return set_err(errbuf, errlen, TRACESHIM_EINVAL, "CURVE: give both the server key and %s%s",
                       "the client secret key", "");
    if (o->curve_server_key) {
        uint8_t bin[32];
        if (strlen(o->curve_server_key) != 40 || strlen(o->curve_secret_key) != 40 ||
            !zmq_z85_decode(bin, o->curve_server_key) || !zmq_z85_decode(bin, o->curve_secret_key))
            return set_err(errbuf, errlen, TRACESHIM_EINVAL, "CURVE: keys are 40 Z85 %s%s",
                           "characters (trace-collector keygen --curve)", "");
        memcpy(s->curve_server, o->curve_server_key, 41);
        memcpy(s->curve_secret, o->curve_secret_key, 41);
    }
    if (!s->spool_dir && s->o.overflow == TRACESHIM_OVERFLOW_SPOOL)
        s->o.overflow = TRACESHIM_OVERFLOW_DROP;
    if (fail) return set_err(errbuf, errlen, TRACESHIM_ENOMEM, "out of memory%s%s", "", "");
    return 0;
}

static void destroy_client(traceshim *s)
{
    if (s->ring) {
        for (size_t i = 0; i < s->count; i++)
            tp_event_destroy(&s->ring[(s->head + i) % s->cap]);
    }
    if (s->win) {
        for (unsigned i = 0; i < s->o.window; i++)
            if (s->win[i].in_use) batch_free(&s->win[i]);
    }
    free(s->win);
    free(s->ring);
    replay_seg_clear(&s->rs);
    free(s->rxbuf);
    free(s->carry);
    if (s->mon) zmq_close(s->mon);
    if (s->sock) zmq_close(s->sock);
    if (s->zctx) zmq_ctx_term(s->zctx);
    spool_close(&s->sp);
    if (s->evfd >= 0) close(s->evfd);
    for (int i = 0; i < TRACESHIM_MAX_ENDPOINTS; i++)
        free(s->endpoints[i]);
    free(s->service);
    free(s->workflow);
    free(s->dri);
    free(s->spool_dir);
    pthread_mutex_destroy(&s->qmu);
    pthread_cond_destroy(&s->qspace);
    pthread_mutex_destroy(&s->fmu);
    pthread_cond_destroy(&s->fcond);
    memset(s->key, 0, sizeof s->key);
    free(s);
}

int traceshim_create(const traceshim_options *o, traceshim **out, char *errbuf, size_t errlen)
{
    if (!o || !out) return set_err(errbuf, errlen, TRACESHIM_EINVAL, "no options%s%s", "", "");
    *out = NULL;
    traceshim *s = calloc(1, sizeof *s);
    if (!s) return set_err(errbuf, errlen, TRACESHIM_ENOMEM, "out of memory%s%s", "", "");
    s->evfd = -1;
    pthread_mutex_init(&s->qmu, NULL);
    pthread_cond_init(&s->qspace, NULL);
    pthread_mutex_init(&s->fmu, NULL);
    pthread_cond_init(&s->fcond, NULL);
    int rc = copy_options(s, o, errbuf, errlen);
    if (rc != 0) goto fail;
    s->cap = s->o.queue_events;
    s->ring = calloc(s->cap, sizeof *s->ring);
    s->win = calloc(s->o.window, sizeof *s->win);
    s->rxbuf = malloc(65536);
    if (!s->ring || !s->win || !s->rxbuf) {
        rc = set_err(errbuf, errlen, TRACESHIM_ENOMEM, "out of memory%s%s", "", "");
        goto fail;
    }
    s->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s->evfd < 0) {
        rc = set_err(errbuf, errlen, TRACESHIM_EIO, "eventfd: %s%s", strerror(errno), "");
        goto fail;
    }
    if (s->spool_dir) {
        int locked = 0;
        if (spool_open(s->spool_dir, &s->sp, s->shim_id, &locked, errbuf, errlen) != 0) {
            rc = locked ? TRACESHIM_ELOCKED : TRACESHIM_EIO;
            goto fail;
        }
    } else {
        uint8_t id[16];
        if (tp_id_random(id, sizeof id) != 0) {
            rc = set_err(errbuf, errlen, TRACESHIM_EIO, "cannot draw a shim id%s%s", "", "");
            goto fail;
        }
        tp_hex_encode(id, 16, s->shim_id);
    }
    s->next_seq = (uint64_t)tp_now_unix_nano();
    pthread_once(&g_atfork_once, register_atfork);
    /* The context's I/O thread and ours inherit this mask: no signal of the
     * service is ever delivered to them. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = setup_socket(s, errbuf, errlen);
    if (rc == 0) {
        if (pthread_create(&s->thr, NULL, bg_main, s) != 0)
            rc = set_err(errbuf, errlen, TRACESHIM_ENOMEM, "cannot start the shim thread%s%s", "",
                         "");
        else
            s->thr_started = 1;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) goto fail;
    *out = s;
    return 0;
fail:
    destroy_client(s);
    return rc;
}

const char *traceshim_id(const traceshim *s)
{
    return s->shim_id;
}

/* ---- ids ---------------------------------------------------------------- */

/* OpenSSL's RAND_bytes costs microseconds per call, more than the whole emit
 * budget, so ids come from a per-thread xoshiro256** generator seeded from
 * it. Ids need uniqueness, not secrecy. A fork bumps g_fork_gen so that a
 * child reseeds instead of repeating its parent's ids (which the store
 * would drop as duplicates). */
typedef struct idrng {
    uint64_t s[4];
    unsigned gen;
    int seeded;
} idrng;

static _Thread_local idrng t_rng;

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(void)
{
    idrng *r = &t_rng;
    unsigned gen = atomic_load_explicit(&g_fork_gen, memory_order_relaxed);
    if (!r->seeded || r->gen != gen) {
        if (tp_id_random((uint8_t *)r->s, sizeof r->s) != 0) {
            /* No OpenSSL randomness: time and address still differ per thread. */
            r->s[0] = tp_now_unix_nano();
            r->s[1] = (uint64_t)(uintptr_t)r;
            r->s[2] = 0x9E3779B97F4A7C15ull;
            r->s[3] = (uint64_t)getpid();
        }
        r->seeded = 1;
        r->gen = gen;
    }
    uint64_t *q = r->s, result = rotl(q[1] * 5, 7) * 9, t = q[1] << 17;
    q[2] ^= q[0];
    q[3] ^= q[1];
    q[1] ^= q[2];
    q[0] ^= q[3];
    q[2] ^= t;
    q[3] = rotl(q[3], 45);
    return result;
}

static int set_id(protobuf_c_boolean *has, ProtobufCBinaryData *id, size_t n, int time_ordered)
{
    uint8_t *p = malloc(n);
    if (!p) return -1;
    uint64_t a = rng_next(), b = rng_next() | 1; /* never all zero */
    memcpy(p, &a, 8);
    if (n > 8)
        memcpy(p + 8, &b, n - 8);
    else
        p[n - 1] |= 1;
    if (time_ordered) { /* 48-bit big-endian Unix ms first, as tp_id_event */
        uint64_t ms = tp_now_unix_nano() / 1000000u;
        for (int i = 0; i < 6; i++)
            p[i] = (uint8_t)(ms >> (40 - 8 * i));
    }
    id->data = p;
    id->len = n;
    *has = 1;
    return 0;
}

/* What emit fills so that the caller knows it: ids, time, defaults. */
static int fill_ids(traceshim *s, tp_event *ev)
{
    if ((!ev->has_event_id && set_id(&ev->has_event_id, &ev->event_id, 16, 1) != 0) ||
        (!ev->has_trace_id && set_id(&ev->has_trace_id, &ev->trace_id, 16, 0) != 0) ||
        (!ev->has_span_id && set_id(&ev->has_span_id, &ev->span_id, 8, 0) != 0))
        return TRACESHIM_ENOMEM;
    if (!ev->has_time_unix_nano) {
        ev->has_time_unix_nano = 1;
        ev->time_unix_nano = tp_now_unix_nano();
    }
    if ((!ev->service && s->service && !(ev->service = strdup(s->service))) ||
        (!ev->workflow && s->workflow && !(ev->workflow = strdup(s->workflow))) ||
        (!ev->dri && s->dri && !(ev->dri = strdup(s->dri))))
        return TRACESHIM_ENOMEM;
    return 0;
}

/* Masks secrets, hashes prompt text, packs. Slow (the masker reads every
 * string): runs on the background thread, or in emit only when the queue
 * is full and the event goes to the spool. 0, or -1 (counted rejected). */
static int prepare_pack(traceshim *s, tp_event *ev, uint8_t **buf, size_t *len)
{
    tp_error err;
    if (tp_event_prepare(ev, s->has_key ? s->key : NULL, s->o.keep_prompt_text, &err) != 0 ||
        tp_event_pack(ev, buf, len) != 0) {
        CINC(s, c_rejected, 1);
        return -1;
    }
    if (*len > s->limits.event_max) {
        free(*buf);
        *buf = NULL;
        CINC(s, c_rejected, 1);
        return -1;
    }
    return 0;
}

/* ---- emit --------------------------------------------------------------- */

/* Queues an owned event (ids filled). Takes ownership in every case. */
static int enqueue(traceshim *s, tp_event *ev)
{
    pthread_mutex_lock(&s->qmu);
    while (s->count == s->cap && s->o.overflow == TRACESHIM_OVERFLOW_BLOCK &&
           !atomic_load(&s->closing))
        pthread_cond_wait(&s->qspace, &s->qmu);
    if (s->count < s->cap) {
        s->ring[(s->head + s->count) % s->cap] = ev;
        int was_empty = s->count++ == 0;
        if (was_empty) s->q_first = now_ns();
        pthread_mutex_unlock(&s->qmu);
        CINC(s, c_emitted, 1);
        if (was_empty) wake(s);
        return 0;
    }
    pthread_mutex_unlock(&s->qmu);
    if (s->o.overflow == TRACESHIM_OVERFLOW_SPOOL) {
        /* No fsync here: the background thread makes it durable shortly. */
        uint8_t *buf = NULL;
        size_t len = 0;
        if (prepare_pack(s, ev, &buf, &len) != 0) {
            tp_event_destroy(&ev);
            return TRACESHIM_EEVENT;
        }
        tp_event_destroy(&ev);
        int rc = spool_events(s, &buf, &len, 1);
        free(buf);
        if (rc != 0) return TRACESHIM_EIO;
        CINC(s, c_emitted, 1);
        wake(s);
        return 0;
    }
    tp_event_destroy(&ev);
    CINC(s, c_dropped, 1);
    return atomic_load(&s->closing) ? TRACESHIM_ECLOSED : TRACESHIM_EFULL;
}

static int emit_check(traceshim *s, tp_event *ev)
{
    if (atomic_load_explicit(&s->closing, memory_order_relaxed)) return TRACESHIM_ECLOSED;
    if (ev->prompt && ev->prompt->text && ev->prompt->text[0] && !s->has_key)
        return TRACESHIM_EEVENT; /* prompt text needs the organisation key */
    int rc = fill_ids(s, ev);
    if (rc != 0) return rc;
    /* Refused here, not on the background thread: an event that could never
     * be spooled or delivered must not be accepted. Masking rarely changes
     * the size; an event that grows past the limit is still refused there. */
    size_t n = agenttrail__v1__trace_event__get_packed_size(ev);
    if (n > s->limits.event_max) {
        if (worth_reporting(&s->size_refusals))
            shim_log(s, "event refused at emit: it packs to %zu bytes, over the limit of %zu", n,
                     s->limits.event_max);
        return TRACESHIM_EEVENT;
    }
    return 0;
}

int traceshim_emit(traceshim *s, tp_event *ev)
{
    if (!s || !ev) return TRACESHIM_EINVAL;
    int rc = emit_check(s, ev);
    if (rc != 0) return rc;
    tp_event *copy = tp_event_clone(ev);
    if (!copy) return TRACESHIM_ENOMEM;
    return enqueue(s, copy);
}

int traceshim_emit_take(traceshim *s, tp_event **ev)
{
    if (!s || !ev || !*ev) return TRACESHIM_EINVAL;
    tp_event *e = *ev;
    *ev = NULL;
    int rc = emit_check(s, e);
    if (rc != 0) {
        tp_event_destroy(&e);
        return rc;
    }
    return enqueue(s, e);
}

/* ---- background thread: queue ------------------------------------------- */

/* Takes up to `max` events from the queue. */
static size_t queue_take(traceshim *s, qitem *out, size_t max)
{
    pthread_mutex_lock(&s->qmu);
    size_t n = s->count < max ? s->count : max;
    for (size_t i = 0; i < n; i++) {
        out[i] = s->ring[s->head];
        s->head = (s->head + 1) % s->cap;
    }
    s->count -= n;
    if (s->count) s->q_first = now_ns(); /* what is left waits a full delay at most */
    pthread_mutex_unlock(&s->qmu);
    if (n) pthread_cond_broadcast(&s->qspace);
    return n;
}

static size_t queue_count(traceshim *s, uint64_t *first)
{
    pthread_mutex_lock(&s->qmu);
    size_t n = s->count;
    if (first) *first = s->q_first;
    pthread_mutex_unlock(&s->qmu);
    return n;
}

/* Moves the queue to the spool until `keep` events are left in it. */
static void queue_to_spool(traceshim *s, size_t keep)
{
    qitem items[256];
    size_t n, q;
    while ((q = queue_count(s, NULL)) > keep &&
           (n = queue_take(s, items, q - keep < 256 ? q - keep : 256)) > 0) {
        uint8_t *evs[256];
        size_t lens[256], m = 0;
        for (size_t i = 0; i < n; i++) {
            if (prepare_pack(s, items[i], &evs[m], &lens[m]) == 0) m++;
            tp_event_destroy(&items[i]);
        }
        spool_events(s, evs, lens, m);
        for (size_t i = 0; i < m; i++)
            free(evs[i]);
    }
}

/* ---- background thread: sending ----------------------------------------- */

/* Event bytes per batch: the batch size limit less 64 KiB of framing, or
 * less when the collector was seen to refuse smaller batches. */
static size_t batch_cap(const traceshim *s)
{
    size_t cap = s->limits.batch_max_bytes > 65536 ? s->limits.batch_max_bytes - 65536 : 0;
    return s->learned_cap && s->learned_cap < cap ? s->learned_cap : cap;
}

/* Sends (or resends) a batch's frame. 0, or -1 when it cannot be queued on
 * a live connection (not connected yet, collector gone, queue full): it is
 * then tried again shortly. A batch goes to the spool only once the
 * collector has been silent for an ack timeout (check_timeouts), so a client
 * that sends before its connection is up does not spool. */
static int batch_send(traceshim *s, batch *b, uint64_t now)
{
    uint64_t tmo = (uint64_t)s->o.ack_timeout_ms * 1000000u;
    if (!b->giveup_at) b->giveup_at = now + tmo;
    if (zmq_send(s->sock, b->frame, b->frame_len, ZMQ_DONTWAIT) < 0) {
        b->deadline = now + RETRY_BACKOFF_MS * 1000000ull;
        return -1;
    }
    /* Wait at least 3x the acks' usual delay: a collector with a deep
     * queue is slow to answer, not gone. Each resend waits twice as long
     * again (up to 32x): a slow collector gets time, not a storm. */
    if (3 * s->srtt > tmo) tmo = 3 * s->srtt;
    if (tmo > 60000000000ull) tmo = 60000000000ull;
    b->deadline = now + (tmo << (b->sends < 5 ? b->sends : 5));
    if (b->sends++ == 0) b->sent_at = now;
    return 0;
}

static int batch_build(traceshim *s, batch *b, size_t n)
{
    b->seq = s->next_seq++;
    b->n = n;
    b->in_use = 1;
    return tp_batch_encode(s->shim_id, b->seq, (const uint8_t *const *)b->evs, b->lens, n,
                           &b->frame, &b->frame_len) == 0
               ? 0
               : -1;
}

/* Stops the replay of the current segment: its batches leave the window and
 * sending resumes at the first record not yet acked (records of batches
 * acked out of order are skipped, never sent twice). */
static void replay_abort(traceshim *s)
{
    if (!s->rs.active) return;
    for (unsigned i = 0; i < s->o.window; i++) {
        batch *b = &s->win[i];
        if (b->in_use && b->from_spool) {
            replay_seg_rewind(&s->rs, b->rfirst);
            batch_free(b);
        }
    }
    s->nwin -= s->rinflight;
    s->rinflight = 0;
}

/* Gives up on a batch for now: memory batches go to the spool (or, without
 * one, stay for a later resend); spool batches resume at their first unacked record. */
static void batch_fail(traceshim *s, batch *b, uint64_t now)
{
    s->down = 1;
    s->probe_at = now + PROBE_INTERVAL_MS * 1000000ull;
    if (b->from_spool) {
        replay_abort(s);
        return;
    }
    if (!s->sp) { /* keep it; try again later */
        b->attempts = 0;
        b->deadline = now + PROBE_INTERVAL_MS * 1000000ull;
        b->giveup_at = now + (uint64_t)s->o.ack_timeout_ms * 1000000u;
        return;
    }
    spool_events(s, b->evs, b->lens, b->n);
    batch_free(b);
    s->nwin--;
}

/* Takes the next segment for replay: its damaged records are reported and
 * counted lost; one of an unknown format version is set aside. 1 loaded. */
static int replay_load(traceshim *s)
{
    replay_found f;
    int r = replay_seg_load(&s->rs, s->sp, replay_report, s, &f);
    if (r <= 0) return 0;
    CINC(s, c_lost, f.lost);
    CINC(s, c_lost_spans, f.spans);
    if (f.inherited) CINC(s, c_recovered, f.records);
    if (f.unreadable) {
        char name[64];
        spool_segment_name(s->rs.id, name, sizeof name);
        if (spool_set_aside(s->sp, s->rs.id) == 0)
            shim_log(s, "spool %s/%s: set aside as %s.unreadable (not replayed, not deleted)",
                     spool_path(s), name, name);
        replay_seg_clear(&s->rs);
        return 0;
    }
    s->rinflight = 0;
    return 1;
}

/* Reads the next batch out of the replay segment. 1 sent (or failed and
 * handled), 0 nothing to send. */
static int replay_next(traceshim *s, uint64_t now, int probe)
{
    if (!s->sp) return 0;
    if (!s->rs.active && !replay_load(s)) return 0;
    if (replay_seg_all_taken(&s->rs)) {
        if (s->rinflight == 0) { /* every batch of it acked: delete */
            spool_remove(s->sp, s->rs.id);
            replay_seg_clear(&s->rs);
            return 1; /* the next segment may follow at once */
        }
        return 0;
    }
    batch *b = win_slot(s);
    if (!b) return 0;
    b->evs = malloc(s->o.batch_events * sizeof *b->evs);
    b->lens = malloc(s->o.batch_events * sizeof *b->lens);
    if (!b->evs || !b->lens) {
        free(b->evs);
        free(b->lens);
        b->evs = NULL;
        b->lens = NULL;
        return 0;
    }
    b->from_spool = 1;
    /* The same size rule as batches from the queue: a replayed batch over the collector's
     * limit would be refused (or its connection dropped) on every replay. */
    size_t cap = batch_cap(s);
    size_t n =
        replay_seg_take(&s->rs, s->o.batch_events, cap, b->evs, b->lens, &b->rfirst, &b->rend);
    if (n == 0 || batch_build(s, b, n) != 0) {
        replay_seg_rewind(&s->rs, b->rfirst);
        batch_free(b);
        return 0;
    }
    s->nwin++;
    s->rinflight++;
    int sent = batch_send(s, b, now) == 0;
    if (probe && sent) /* a collector just back may be busy: wait longer for this one */
        b->giveup_at = b->deadline = now + 4ull * s->o.ack_timeout_ms * 1000000u;
    return 1;
}

/* Sends a batch from the queue when it is full, old enough or being flushed. */
static int send_from_queue(traceshim *s, uint64_t now, int urgent)
{
    uint64_t first = 0;
    size_t q = queue_count(s, &first) + (s->carry != NULL);
    if (q == 0) return 0;
    if (q < s->o.batch_events && !urgent && now < first + (uint64_t)s->o.batch_delay_ms * 1000000u)
        return 0;
    batch *b = win_slot(s);
    if (!b) return 0;
    size_t max = s->o.batch_events, n = 0, bytes = 0, taken = 0;
    b->evs = malloc(max * sizeof *b->evs);
    b->lens = malloc(max * sizeof *b->lens);
    if (!b->evs || !b->lens) {
        free(b->evs);
        free(b->lens);
        b->evs = NULL;
        b->lens = NULL;
        return 0;
    }
    if (s->carry) { /* the event that did not fit in the previous batch */
        b->evs[n] = s->carry;
        b->lens[n++] = s->carry_len;
        bytes = s->carry_len;
        s->carry = NULL;
    }
    /* Events are masked and packed one by one; a batch stays under the
     * batch size limit (the collector rejects bigger ones whole). */
    size_t cap = batch_cap(s);
    qitem it;
    while (n < max && queue_take(s, &it, 1) == 1) {
        taken++;
        uint8_t *buf = NULL;
        size_t len = 0;
        int rc = prepare_pack(s, it, &buf, &len);
        tp_event_destroy(&it);
        if (rc != 0) continue;
        if (n > 0 && bytes + len + 16 * (n + 1) > cap) {
            s->carry = buf;
            s->carry_len = len;
            break;
        }
        b->evs[n] = buf;
        b->lens[n++] = len;
        bytes += len;
    }
    b->n = n;
    if (n == 0) {
        batch_free(b);
        return taken > 0;
    }
    if (batch_build(s, b, n) != 0) {
        spool_events(s, b->evs, b->lens, n);
        batch_free(b);
        return 0;
    }
    s->nwin++;
    batch_send(s, b, now);
    return 1;
}

/* The carried event goes to the spool with the queue. */
static void carry_to_spool(traceshim *s)
{
    if (!s->carry) return;
    spool_events(s, &s->carry, &s->carry_len, 1);
    free(s->carry);
    s->carry = NULL;
}

/* ---- background thread: acks and timeouts -------------------------------- */

static batch *win_find(traceshim *s, uint64_t seq)
{
    for (unsigned i = 0; i < s->o.window; i++)
        if (s->win[i].in_use && s->win[i].seq == seq) return &s->win[i];
    return NULL;
}

static void batch_done(traceshim *s, batch *b)
{
    if (b->from_spool) {
        s->rinflight--;
        replay_seg_acked(&s->rs, b->rfirst, b->rend);
        CINC(s, c_replayed, b->n);
    }
    batch_free(b);
    s->nwin--;
}

/* The collector's limit when a REJECTED ack says the batch was too big
 * ("batch is N bytes; at most M", tp_batch_decode's words), else 0. */
static size_t refused_for_size(const char *reason)
{
    const char *p = reason ? strstr(reason, "batch is ") : NULL;
    p = p ? strstr(p, "; at most ") : NULL;
    if (!p) return 0;
    unsigned long long v = strtoull(p + strlen("; at most "), NULL, 10);
    return v > 0 && v < SIZE_MAX ? (size_t)v : 0;
}

/* A batch that cannot be delivered as it is, for its size: the collector
 * refused it (REJECTED naming its limit) or closed the connection on it
 * again and again (frames above twice its limit; libzmq says nothing
 * more). Later batches are cut below `limit`; this one's events go to the
 * spool (or back into the replay) to be sent in smaller batches; a single
 * event is moved aside to SPOOL_ASIDE_NAME, reported, never resent. */
static void batch_too_big(traceshim *s, batch *b, size_t limit, const char *how)
{
    size_t cap = limit > 131072 ? limit - 65536 : limit / 2;
    if (!s->learned_cap || cap < s->learned_cap) {
        s->learned_cap = cap;
        shim_log(s,
                 "the collector %s a batch of %zu bytes (%zu events): batches are cut to %zu "
                 "bytes of events from now on (is its --max-batch-bytes smaller than this "
                 "shim's?)",
                 how, b->frame_len, b->n, cap);
    }
    if (b->n == 1) {
        const uint8_t *ev = b->evs[0];
        if (s->sp && spool_put_aside(s->sp, &ev, b->lens, 1) == 0) {
            CINC(s, c_set_aside, 1);
            shim_log(s,
                     "an event of %zu bytes is over the collector's limit: moved to %s/%s, "
                     "never resent",
                     b->lens[0], spool_path(s), SPOOL_ASIDE_NAME);
        } else {
            spool_failed(s, 1, s->sp ? errno : ENOENT, "setting an undeliverable event aside");
        }
        if (b->from_spool) {
            s->rinflight--;
            replay_seg_acked(&s->rs, b->rfirst, b->rend);
        }
    } else if (b->from_spool) {
        s->rinflight--;
        replay_seg_rewind(&s->rs, b->rfirst);
    } else {
        spool_events(s, b->evs, b->lens, b->n); /* a failure is counted dropped there */
    }
    batch_free(b);
    s->nwin--;
}

static void handle_ack(traceshim *s, const uint8_t *buf, size_t len, uint64_t now)
{
    tp_ack *ack = NULL;
    tp_error err;
    if (tp_ack_decode(buf, len, &ack, &err) != 0) return; /* not from a collector */
    batch *b = win_find(s, ack->seq);
    if (!b) { /* an ack for a batch already settled (resend, abort) */
        tp_ack_destroy(&ack);
        return;
    }
    switch (ack->status) {
    case AGENTTRAIL__V1__ACK_STATUS__ACK_OK:
        s->last_ack = now;
        if (b->sends == 1) /* resent batches say nothing certain about the delay */
            s->srtt = s->srtt ? (7 * s->srtt + (now - b->sent_at)) / 8 : now - b->sent_at;
        CINC(s, c_acked, ack->accepted);
        CINC(s, c_dups, ack->duplicates);
        CINC(s, c_rejected, ack->n_rejected);
        s->down = 0;
        batch_done(s, b);
        break;
    case AGENTTRAIL__V1__ACK_STATUS__ACK_REJECTED: {
        s->last_ack = now;
        s->down = 0;
        size_t limit = refused_for_size(ack->reason);
        if (limit) {
            batch_too_big(s, b, limit, "refused");
            break;
        }
        CINC(s, c_rejected, b->n);
        batch_done(s, b);
        break;
    }
    default: /* RETRY: store full or collector busy */
        if (++b->attempts >= s->o.attempts) {
            batch_fail(s, b, now);
        } else {
            b->deadline = now + RETRY_BACKOFF_MS * 1000000ull;
        }
        break;
    }
    tp_ack_destroy(&ack);
}

static void recv_acks(traceshim *s, uint64_t now)
{
    for (;;) {
        int n = zmq_recv(s->sock, s->rxbuf, 65536, ZMQ_DONTWAIT);
        if (n < 0) break;
        if (n > 65536) continue; /* truncated: not an ack of ours */
        handle_ack(s, s->rxbuf, (size_t)n, now);
    }
}

static void check_timeouts(traceshim *s, uint64_t now)
{
    /* A batch goes to the spool (and the client down) only when the
     * collector has answered nothing for a whole ack timeout; while acks
     * flow, a late batch is resent instead. */
    int silent = now - s->last_ack >= (uint64_t)s->o.ack_timeout_ms * 1000000u;
    for (unsigned i = 0; i < s->o.window; i++) {
        batch *b = &s->win[i];
        if (!b->in_use) continue;
        if (silent && b->giveup_at && now >= b->giveup_at) {
            batch_fail(s, b, now);
            continue;
        }
        if (now < b->deadline) continue;
        CINC(s, c_retried, 1);
        batch_send(s, b, now);
    }
}

/* ---- background thread: flush and the loop --------------------------- */

static int all_settled(traceshim *s)
{
    return s->nwin == 0 && queue_count(s, NULL) == 0 && !s->carry && !s->rs.active &&
           (!s->sp || !spool_has_data(s->sp));
}

/* Flush timed out: everything in memory goes to the spool, durably. */
static void spill(traceshim *s)
{
    if (!s->sp) return;
    for (unsigned i = 0; i < s->o.window; i++) {
        batch *b = &s->win[i];
        if (b->in_use && !b->from_spool) {
            spool_events(s, b->evs, b->lens, b->n);
            batch_free(b);
            s->nwin--;
        }
    }
    carry_to_spool(s);
    queue_to_spool(s, 0);
    spool_sync_count(s);
}

static int poll_timeout_ms(traceshim *s, uint64_t now, uint64_t req_deadline)
{
    uint64_t next = now + 100 * 1000000ull;
    uint64_t first = 0;
    if (queue_count(s, &first) > 0) {
        uint64_t t = first + (uint64_t)s->o.batch_delay_ms * 1000000u;
        if (t < next) next = t;
    }
    for (unsigned i = 0; i < s->o.window; i++)
        if (s->win[i].in_use && s->win[i].deadline < next) next = s->win[i].deadline;
    if (s->down && s->probe_at < next) next = s->probe_at;
    if (req_deadline && req_deadline < next) next = req_deadline;
    if (next <= now) return 0;
    return (int)((next - now + 999999) / 1000000);
}

static void bg_step(traceshim *s, uint64_t gen, uint64_t req_deadline)
{
    uint64_t now = now_ns();
    recv_acks(s, now);
    check_timeouts(s, now);
    int urgent = gen > s->done_gen || atomic_load(&s->closing);
    if (!s->down) {
        /* Spool first (older), at most half the window; then the queue. */
        while (s->rinflight < (s->o.window + 1) / 2 && s->nwin < s->o.window && !s->down &&
               replay_next(s, now, 0))
            ;
        while (s->nwin < s->o.window && !s->down && send_from_queue(s, now, urgent))
            ;
        /* Window stuck and the queue half full: spool from here, so that
         * emit rarely has to write the spool itself. */
        if (s->sp && s->nwin == s->o.window && queue_count(s, NULL) > s->cap / 2)
            queue_to_spool(s, s->cap / 4);
    } else {
        if (s->sp) {
            carry_to_spool(s);
            queue_to_spool(s, 0);
        }
        if (now >= s->probe_at) {
            s->probe_at = now + PROBE_INTERVAL_MS * 1000000ull;
            if (s->rinflight == 0 && !replay_next(s, now, 1) && !s->sp) send_from_queue(s, now, 1);
        }
    }
    spool_sync_count(s);
    if (!gen) return;
    pthread_mutex_lock(&s->fmu);
    if (s->done_gen < gen && all_settled(s)) {
        s->done_gen = gen;
        pthread_cond_broadcast(&s->fcond);
    } else if (s->spill_gen < gen && req_deadline && now_ns() >= req_deadline) {
        pthread_mutex_unlock(&s->fmu);
        spill(s);
        pthread_mutex_lock(&s->fmu);
        s->spill_gen = gen;
        if (s->req_gen == gen) s->req_deadline = 0;
        pthread_cond_broadcast(&s->fcond);
    }
    pthread_mutex_unlock(&s->fmu);
}

/* The connection closed: the biggest batch in flight is suspected of being
 * over the collector's limit (it closes on frames above twice its
 * --max-batch-bytes, and libzmq's monitor gives no reason). Only batches
 * over SIZE_SUSPECT_BYTES: a collector killed while a small batch was in
 * flight never makes the shim cut batches. Three closes while it is in
 * flight and it is handled as too big: a batch that was not (the collector
 * was killed three times while it was in flight) is only cut smaller; a
 * lone event over 64 KiB would be set aside (kept, reported), never lost. */
#define SIZE_SUSPECT_BYTES (64u << 10)
#define SIZE_SUSPECT_DROPS 3

static void suspect_on_close(traceshim *s, uint64_t now)
{
    batch *big = NULL;
    for (unsigned i = 0; i < s->o.window; i++) {
        batch *b = &s->win[i];
        /* What was in flight on the closed connection is gone with it: send
         * again as soon as a connection is up (the collector stores each
         * event once; a late ack of a settled batch is ignored). */
        if (b->in_use && b->sends > 0) b->deadline = now;
        if (b->in_use && b->sends > 0 && b->frame_len > SIZE_SUSPECT_BYTES &&
            (!big || b->frame_len > big->frame_len))
            big = b;
    }
    if (big && ++big->drops >= SIZE_SUSPECT_DROPS)
        batch_too_big(s, big, big->frame_len / 2, "closed the connection 3 times on");
}

/* Reads the socket monitor: a refused key is counted and said (the shim
 * would otherwise look like it waits for a collector that is not there). */
static void read_monitor(traceshim *s)
{
    if (!s->mon) return;
    uint64_t before = s->conn.auth_refused, closed = s->conn.disconnected;
    shim_monitor_drain(s->mon, &s->conn);
    if (s->conn.disconnected != closed) suspect_on_close(s, now_ns());
    uint64_t refused = s->conn.auth_refused - before;
    if (refused == 0) return;
    CINC(s, c_auth_refused, refused);
    if (worth_reporting(&s->auth_reports))
        shim_log(s,
                 "%s: the collector refused this shim's key (not on its allowlist?); ZAP status "
                 "%d; refused so far: %llu",
                 s->endpoints[0], s->conn.last_status, (unsigned long long)s->conn.auth_refused);
}

static void *bg_main(void *arg)
{
    traceshim *s = arg;
    s->last_ack = now_ns();
    while (!atomic_load(&s->stop)) {
        pthread_mutex_lock(&s->fmu);
        uint64_t gen = s->req_gen > s->done_gen && s->req_gen > s->spill_gen ? s->req_gen : 0;
        uint64_t dl = s->req_deadline;
        pthread_mutex_unlock(&s->fmu);
        bg_step(s, gen, gen ? dl : 0);
        uint64_t now = now_ns();
        zmq_pollitem_t items[3] = {{s->sock, 0, ZMQ_POLLIN, 0},
                                   {NULL, s->evfd, ZMQ_POLLIN, 0},
                                   {s->mon, 0, ZMQ_POLLIN, 0}};
        int timeout = poll_timeout_ms(s, now, gen ? dl : 0);
        if (gen && all_settled(s)) timeout = 0;
        if (zmq_poll(items, s->mon ? 3 : 2, timeout) > 0 && (items[1].revents & ZMQ_POLLIN)) {
            uint64_t v;
            ssize_t r = read(s->evfd, &v, sizeof v);
            (void)r;
        }
        read_monitor(s);
    }
    return NULL;
}

/* ---- flush, counters, close ------------------------------------------ */

int traceshim_flush(traceshim *s, int timeout_ms)
{
    if (!s) return TRACESHIM_EINVAL;
    if (timeout_ms < 0) timeout_ms = 0;
    uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000u;
    pthread_mutex_lock(&s->fmu);
    uint64_t my = ++s->req_gen;
    if (!s->req_deadline || deadline < s->req_deadline || s->spill_gen + 1 >= my)
        s->req_deadline = deadline;
    pthread_mutex_unlock(&s->fmu);
    wake(s);
    pthread_mutex_lock(&s->fmu);
    while (s->done_gen < my && s->spill_gen < my) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50 * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&s->fcond, &s->fmu, &ts);
        /* A later flush moved the deadline: keep ours honoured. */
        if (s->req_gen > my && s->spill_gen < my && now_ns() >= deadline &&
            (!s->req_deadline || s->req_deadline > deadline))
            s->req_deadline = deadline;
    }
    int rc = s->done_gen >= my ? 0 : TRACESHIM_ETIMEDOUT;
    pthread_mutex_unlock(&s->fmu);
    return rc;
}

void traceshim_counters_get(const traceshim *s, traceshim_counters *out)
{
    traceshim *m = (traceshim *)s;
    out->emitted = atomic_load(&m->c_emitted);
    out->acked = atomic_load(&m->c_acked);
    out->duplicates = atomic_load(&m->c_dups);
    out->rejected = atomic_load(&m->c_rejected);
    out->retried = atomic_load(&m->c_retried);
    out->spooled = atomic_load(&m->c_spooled);
    out->replayed = atomic_load(&m->c_replayed);
    out->dropped = atomic_load(&m->c_dropped);
    out->queued = queue_count(m, NULL);
    out->recovered = atomic_load(&m->c_recovered);
    out->lost = atomic_load(&m->c_lost);
    out->lost_spans = atomic_load(&m->c_lost_spans);
    out->auth_refused = atomic_load(&m->c_auth_refused);
    out->set_aside = atomic_load(&m->c_set_aside);
}

int traceshim_close(traceshim **sp, int timeout_ms)
{
    if (!sp || !*sp) return 0;
    traceshim *s = *sp;
    int rc = traceshim_flush(s, timeout_ms);
    atomic_store(&s->closing, 1);
    pthread_mutex_lock(&s->qmu);
    pthread_cond_broadcast(&s->qspace);
    pthread_mutex_unlock(&s->qmu);
    atomic_store(&s->stop, 1);
    wake(s);
    if (s->thr_started) pthread_join(s->thr, NULL);
    /* Whatever emit queued after the flush: to the spool, or lost (counted). */
    if (s->sp) {
        spill(s);
    } else {
        CINC(s, c_dropped, queue_count(s, NULL) + (s->carry != NULL));
        for (unsigned i = 0; i < s->o.window; i++)
            if (s->win[i].in_use && !s->win[i].from_spool) CINC(s, c_dropped, s->win[i].n);
    }
    destroy_client(s);
    *sp = NULL;
    return rc;
}
