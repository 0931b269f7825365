/*
 * shim.c - libtraceshim: the client a service links (see traceshim.h):
 * options, creating and closing a client, ids, emit, flush, counters.
 *
 * Owns: the client (shim_internal.h): the bounded in-memory queue of events,
 * the ZeroMQ context and DEALER socket (and its monitor), the window of
 * unacked batches, the spool (spool.c) and the background thread
 * (shim_loop.c) that moves events queue -> batch -> collector, or queue ->
 * spool when the collector is unreachable, and spool -> collector when it
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

#include "shim_internal.h"
#include "shim_monitor.h"
#include "spool.h"

static const at_code_name shim_errors[] = {
    {TRACESHIM_OK, "success"},
    {TRACESHIM_EINVAL, "invalid option or argument"},
    {TRACESHIM_ENOMEM, "out of memory"},
    {TRACESHIM_EFULL, "queue full: event dropped"},
    {TRACESHIM_ETIMEDOUT, "not everything was acked in time (the rest is spooled)"},
    {TRACESHIM_ELOCKED, "spool directory in use by another client"},
    {TRACESHIM_EIO, "spool I/O error"},
    {TRACESHIM_EZMQ, "ZeroMQ error"},
    {TRACESHIM_EEVENT, "event cannot be prepared or is too big"},
    {TRACESHIM_ECLOSED, "client is closing"},
};

const char *traceshim_strerror(int code)
{
    return at_code_text(shim_errors, sizeof shim_errors / sizeof shim_errors[0], code,
                        "unknown error");
}

size_t traceshim_event_max(const tp_limits *lim)
{
    tp_limits d = tp_limits_default();
    if (!lim) lim = &d;
    size_t in_batch = lim->batch_max_bytes > 65536 ? lim->batch_max_bytes - 65536 : 0;
    return in_batch < SPOOL_RECORD_MAX ? in_batch : SPOOL_RECORD_MAX;
}

/* The one table of defaults (the values are traceshim.h's TRACESHIM_DEFAULT_*). */
static const traceshim_options k_defaults = {
    .queue_events = TRACESHIM_DEFAULT_QUEUE_EVENTS,
    .batch_events = TRACESHIM_DEFAULT_BATCH_EVENTS,
    .batch_delay_ms = TRACESHIM_DEFAULT_BATCH_DELAY_MS,
    .window = TRACESHIM_DEFAULT_WINDOW,
    .ack_timeout_ms = TRACESHIM_DEFAULT_ACK_TIMEOUT_MS,
    .attempts = TRACESHIM_DEFAULT_ATTEMPTS,
    .overflow = TRACESHIM_OVERFLOW_SPOOL,
};

void traceshim_options_default(traceshim_options *o)
{
    *o = k_defaults;
}

/* A field left 0 takes its default (traceshim.h says which do not: 0 is a value there). */
#define FILL_ZERO(o, f)                                                                            \
    do {                                                                                           \
        if (!(o)->f) (o)->f = k_defaults.f;                                                        \
    } while (0)

/* ---- small helpers ---------------------------------------------------- */

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

/* ---- creating --------------------------------------------------------- */

static int setup_socket(traceshim *s, at_error *err)
{
    s->zctx = zmq_ctx_new();
    if (!s->zctx)
        return at_errf(err, TRACESHIM_EZMQ, "zmq: cannot create a context: %s",
                       zmq_strerror(errno));
    s->sock = zmq_socket(s->zctx, ZMQ_DEALER);
    if (!s->sock)
        return at_errf(err, TRACESHIM_EZMQ, "zmq: cannot create a socket: %s", zmq_strerror(errno));
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
            return at_errf(err, TRACESHIM_EZMQ, "zmq: cannot set CURVE keys: %s%s",
                           zmq_strerror(errno), " (does this libzmq have CURVE?)");
    }
    for (int i = 0; i < TRACESHIM_MAX_ENDPOINTS && s->endpoints[i]; i++) {
        if (zmq_connect(s->sock, s->endpoints[i]) != 0)
            return at_errf(err, TRACESHIM_EZMQ,
                           "endpoint %s: %s (expected tcp://HOST:PORT or ipc://PATH)",
                           s->endpoints[i], zmq_strerror(errno));
    }
    return 0;
}

static int copy_options(traceshim *s, const traceshim_options *o, at_error *err)
{
    int fail = 0;
    s->o = *o;
    FILL_ZERO(&s->o, queue_events);
    FILL_ZERO(&s->o, batch_events);
    FILL_ZERO(&s->o, window);
    FILL_ZERO(&s->o, ack_timeout_ms);
    FILL_ZERO(&s->o, attempts);
    s->limits = o->limits ? *o->limits : tp_limits_default();
    /* An event above this could never be spooled or delivered: the limit is
     * clamped to it (traceshim.h), and emit refuses bigger events. */
    if (s->limits.event_max > traceshim_event_max(&s->limits))
        s->limits.event_max = traceshim_event_max(&s->limits);
    if (s->o.batch_events > s->limits.batch_max_events)
        s->o.batch_events = s->limits.batch_max_events;
    if ((unsigned)s->o.overflow > TRACESHIM_OVERFLOW_BLOCK)
        return at_errf(err, TRACESHIM_EINVAL, "overflow policy ?: unknown");
    int n = 0;
    for (; n < TRACESHIM_MAX_ENDPOINTS && o->endpoints[n]; n++)
        s->endpoints[n] = dup_opt(o->endpoints[n], &fail);
    if (n == 0) s->endpoints[0] = dup_opt(TRACESHIM_DEFAULT_ENDPOINT, &fail);
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
        return at_errf(err, TRACESHIM_EINVAL, "CURVE: give both the server key and %s",
                       "the client secret key");
    if (o->curve_server_key) {
        uint8_t bin[32];
        if (strlen(o->curve_server_key) != 40 || strlen(o->curve_secret_key) != 40 ||
            !zmq_z85_decode(bin, o->curve_server_key) || !zmq_z85_decode(bin, o->curve_secret_key))
            return at_errf(err, TRACESHIM_EINVAL, "CURVE: keys are 40 Z85 %s",
                           "characters (trace-collector keygen --curve)");
        memcpy(s->curve_server, o->curve_server_key, 41);
        memcpy(s->curve_secret, o->curve_secret_key, 41);
    }
    if (!s->spool_dir && s->o.overflow == TRACESHIM_OVERFLOW_SPOOL)
        s->o.overflow = TRACESHIM_OVERFLOW_DROP;
    if (fail) return at_errf(err, TRACESHIM_ENOMEM, "out of memory");
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
            if (s->win[i].in_use) shim_batch_free(&s->win[i]);
    }
    free(s->win);
    free(s->ring);
    replay_seg_clear(&s->rs);
    free(s->rxbuf);
    free(s->carry);
    if (s->sock) shim_monitor_stop(s->sock, &s->mon);
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

int traceshim_create(const traceshim_options *o, traceshim **out, at_error *err)
{
    if (!o || !out) return at_errf(err, TRACESHIM_EINVAL, "no options");
    *out = NULL;
    traceshim *s = calloc(1, sizeof *s);
    if (!s) return at_errf(err, TRACESHIM_ENOMEM, "out of memory");
    s->evfd = -1;
    pthread_mutex_init(&s->qmu, NULL);
    pthread_cond_init(&s->qspace, NULL);
    pthread_mutex_init(&s->fmu, NULL);
    pthread_cond_init(&s->fcond, NULL);
    int rc = copy_options(s, o, err);
    if (rc != 0) goto fail;
    s->cap = s->o.queue_events;
    s->ring = calloc(s->cap, sizeof *s->ring);
    s->win = calloc(s->o.window, sizeof *s->win);
    s->rxbuf = malloc(65536);
    if (!s->ring || !s->win || !s->rxbuf) {
        rc = at_errf(err, TRACESHIM_ENOMEM, "out of memory");
        goto fail;
    }
    s->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s->evfd < 0) {
        rc = at_errf(err, TRACESHIM_EIO, "eventfd: %s", strerror(errno));
        goto fail;
    }
    if (s->spool_dir) {
        int locked = 0;
        if (spool_open(s->spool_dir, &s->sp, s->shim_id, &locked, err) != 0) {
            rc = locked ? TRACESHIM_ELOCKED : TRACESHIM_EIO;
            goto fail;
        }
    } else {
        uint8_t id[16];
        if (tp_id_random(id, sizeof id) != 0) {
            rc = at_errf(err, TRACESHIM_EIO, "cannot draw a shim id");
            goto fail;
        }
        at_hex_encode(id, 16, s->shim_id);
    }
    s->next_seq = (uint64_t)tp_now_unix_nano();
    pthread_once(&g_atfork_once, register_atfork);
    /* The context's I/O thread and ours inherit this mask: no signal of the
     * service is ever delivered to them. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = setup_socket(s, err);
    if (rc == 0) {
        if (pthread_create(&s->thr, NULL, shim_bg_main, s) != 0)
            rc = at_errf(err, TRACESHIM_ENOMEM, "cannot start the shim thread");
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
        if (was_empty) s->q_first = shim_now_ns();
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
        if (shim_prepare_pack(s, ev, &buf, &len) != 0) {
            tp_event_destroy(&ev);
            return TRACESHIM_EEVENT;
        }
        tp_event_destroy(&ev);
        int rc = shim_spool_events(s, &buf, &len, 1);
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
        if (shim_worth_reporting(&s->size_refusals))
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

/* ---- flush, counters, close ------------------------------------------ */

int traceshim_flush(traceshim *s, int timeout_ms)
{
    if (!s) return TRACESHIM_EINVAL;
    if (timeout_ms < 0) timeout_ms = 0;
    uint64_t deadline = shim_now_ns() + (uint64_t)timeout_ms * 1000000u;
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
        if (s->req_gen > my && s->spill_gen < my && shim_now_ns() >= deadline &&
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
    out->queued = shim_queue_count(m, NULL);
    out->recovered = atomic_load(&m->c_recovered);
    out->lost = atomic_load(&m->c_lost);
    out->lost_spans = atomic_load(&m->c_lost_spans);
    out->auth_refused = atomic_load(&m->c_auth_refused);
    out->handshake_failed = atomic_load(&m->c_handshake_failed);
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
        shim_spill(s);
    } else {
        CINC(s, c_dropped, shim_queue_count(s, NULL) + (s->carry != NULL));
        for (unsigned i = 0; i < s->o.window; i++)
            if (s->win[i].in_use && !s->win[i].from_spool) CINC(s, c_dropped, s->win[i].n);
    }
    destroy_client(s);
    *sp = NULL;
    return rc;
}
