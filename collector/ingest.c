/*
 * ingest.c - OTLP/HTTP request bodies through the collector's own pipeline (see ingest.h).
 *
 * Owns: the owners file, the HMAC key, and the pool of DEALER sockets connected to the serving
 * loop's inproc ROUTER (COLLECTOR_OTLP_ENDPOINT). A request maps its body (otlp_map_request),
 * packs the events into batches within the collector's limits, sends them on one DEALER taken
 * from the pool, and waits for an ack of every batch. The loop validates, masks, stamps
 * (source "otlp-http") and group-commits them as any batch and acks only once durable, so
 * the guarantee is the ZeroMQ path's: 200 means every accepted span is on disk.
 *
 * Invariants: a batch seq is unique in the process (one atomic counter), so an ack that
 * arrives after its request gave up is recognised as stale on the next request that takes the
 * same DEALER and ignored. A socket is used by one thread at a time (taken from the pool
 * under `lock`, given back after).
 * Threading: ingest_handle on any number of HTTP threads; open/close on the main thread.
 */
#include "ingest.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <zmq.h>

#include "log.h"
#include "server.h"

#define ACK_TIMEOUT_MS 20000 /* no ack by then: 503, the client retries (ids dedupe) */
#define RETRY_AFTER_S 5
#define MAX_SPANS 100000  /* spans in one request; more: 413 */
#define BATCH_SLACK 65536 /* room for the batch framing under --max-batch-bytes */

/* google.rpc.Code values of the Status body. */
enum {
    GRPC_INVALID_ARGUMENT = 3,
    GRPC_RESOURCE_EXHAUSTED = 8,
    GRPC_INTERNAL = 13,
    GRPC_UNAVAILABLE = 14
};

struct ingest {
    const collector_config *cfg;
    metrics *m;
    void *zctx;
    otlp_owners *owners;
    uint8_t key[TP_HMAC_KEY_LEN];
    tp_limits limits;
    otlp_map_opts mopts;
    pthread_mutex_t lock;
    void **pool; /* idle DEALERs */
    size_t npool, cappool;
    _Atomic uint64_t seq;
    atomic_int stopping;
};

/* ---- opening ------------------------------------------------------------- */

/* STORE/otlp-hmac.key: loaded, or created with a fresh random key (64 hex digits, 0600). */
static int default_key(ingest *g, at_error *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/otlp-hmac.key", g->cfg->store_dir);
    struct stat st;
    if (stat(path, &st) != 0) {
        uint8_t k[TP_HMAC_KEY_LEN];
        char hex[2 * TP_HMAC_KEY_LEN + 2];
        if (tp_id_random(k, sizeof k) != 0)
            return at_errf(err, TP_ECRYPTO, "%s: no random bytes for a new key", path);
        at_hex_encode(k, sizeof k, hex);
        memset(k, 0, sizeof k);
        hex[2 * TP_HMAC_KEY_LEN] = '\n';
        hex[2 * TP_HMAC_KEY_LEN + 1] = 0;
        int rc = at_file_create(path, hex, strlen(hex), 0600, err);
        memset(hex, 0, sizeof hex);
        if (rc != 0 && rc != AT_EEXIST) return rc;
        if (rc == 0)
            clog_line(CLOG_INFO,
                      "otlp: created the HMAC key %s (mode 0600): prompt content of OTLP spans "
                      "is stored as its HMAC under it; keep it with the store",
                      path);
    }
    return tp_hmac_key_load(path, g->key, err);
}

int ingest_open(const collector_config *cfg, void *zctx, metrics *m, ingest **out)
{
    *out = NULL;
    ingest *g = calloc(1, sizeof *g);
    if (!g || pthread_mutex_init(&g->lock, NULL) != 0) {
        free(g);
        clog_line(CLOG_ERROR, "out of memory");
        return 3;
    }
    g->cfg = cfg;
    g->m = m;
    g->zctx = zctx;
    g->seq = (uint64_t)time(NULL) << 20;
    g->limits = tp_limits_default();
    g->limits.event_max = cfg->event_max;
    g->limits.string_max = cfg->string_max;
    g->limits.batch_max_bytes = cfg->batch_max_bytes;
    g->limits.batch_max_events = cfg->batch_max_events;
    char msg[AT_ERROR_TEXT_LEN];
    at_error err = {0};
    if (cfg->owners && otlp_owners_load(cfg->owners, &g->owners, &err) != 0) {
        clog_line(CLOG_ERROR, "--owners: %s", at_error_format(&err, msg, sizeof msg));
        ingest_close(&g);
        return 2;
    }
    int rc = cfg->hmac_key_file ? tp_hmac_key_load(cfg->hmac_key_file, g->key, &err)
                                : default_key(g, &err);
    if (rc != 0) {
        clog_line(CLOG_ERROR, "otlp: HMAC key: %s", at_error_format(&err, msg, sizeof msg));
        ingest_close(&g);
        return 3;
    }
    g->mopts = (otlp_map_opts){
        .owners = g->owners, .hmac_key = g->key, .limits = &g->limits, .max_spans = MAX_SPANS};
    *out = g;
    return 0;
}

void ingest_stop(ingest *g)
{
    if (g) atomic_store(&g->stopping, 1);
}

void ingest_close(ingest **gp)
{
    if (!gp || !*gp) return;
    ingest *g = *gp;
    for (size_t i = 0; i < g->npool; i++)
        zmq_close(g->pool[i]);
    free(g->pool);
    otlp_owners_destroy(&g->owners);
    memset(g->key, 0, sizeof g->key);
    pthread_mutex_destroy(&g->lock);
    free(g);
    *gp = NULL;
}

/* ---- the DEALER pool ------------------------------------------------------ */

static void *pool_take(ingest *g)
{
    void *s = NULL;
    pthread_mutex_lock(&g->lock);
    if (g->npool) s = g->pool[--g->npool];
    pthread_mutex_unlock(&g->lock);
    if (s) return s;
    s = zmq_socket(g->zctx, ZMQ_DEALER);
    int linger = 0;
    if (s) zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    if (s && zmq_connect(s, COLLECTOR_OTLP_ENDPOINT) != 0) {
        clog_line(CLOG_ERROR, "otlp: connect %s: %s", COLLECTOR_OTLP_ENDPOINT, zmq_strerror(errno));
        zmq_close(s);
        s = NULL;
    }
    return s;
}

static void pool_give(ingest *g, void *s)
{
    pthread_mutex_lock(&g->lock);
    if (at_grow((void **)&g->pool, &g->cappool, g->npool + 1, sizeof *g->pool, 16) == 0) {
        g->pool[g->npool++] = s;
        s = NULL;
    }
    pthread_mutex_unlock(&g->lock);
    if (s) zmq_close(s);
}

/* ---- answers --------------------------------------------------------------- */

static void put_varint(uint8_t *p, size_t *at, uint64_t v)
{
    while (v >= 0x80) {
        p[(*at)++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[(*at)++] = (uint8_t)v;
}

void ingest_status_body(otlp_format fmt, int grpc_code, const char *message, uint8_t **out,
                        size_t *len)
{
    *out = NULL;
    *len = 0;
    if (fmt == OTLP_JSON) {
        json_t *o = json_pack("{s:i,s:s}", "code", grpc_code, "message", message);
        char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        if (s) {
            *len = strlen(s);
            *out = (uint8_t *)s;
        }
        return;
    }
    size_t n = strlen(message), at = 0;
    uint8_t *p = malloc(n + 24);
    if (!p) return;
    p[at++] = 0x08; /* Status.code = 1, varint */
    put_varint(p, &at, (uint64_t)grpc_code);
    p[at++] = 0x12; /* Status.message = 2, length-delimited */
    put_varint(p, &at, n);
    memcpy(p + at, message, n);
    *out = p;
    *len = at + n;
}

static void answer_error(ingest_answer *a, otlp_format fmt, int status, int grpc, int retry,
                         const char *message)
{
    a->status = status;
    a->retry_after = retry;
    ingest_status_body(fmt, grpc, message, &a->body, &a->len);
}

/* ---- one request ----------------------------------------------------------- */

/* What the acks of a request's batches said. */
typedef struct tally {
    uint64_t accepted, rejected;
    int retry;
    char first[640]; /* the first rejection the collector named */
} tally;

typedef struct sent {
    uint64_t seq;
    size_t first, n; /* range of the request's events */
    int acked;
} sent;

/* Packs every event and sends them in batches; *nsent batches went out. 0, or -1 (out of
 * memory, or the socket refused: nothing is acked then). */
static int send_batches(ingest *g, void *sock, otlp_result *r, sent **out, size_t *nsent)
{
    size_t n = r->n_events, nb = 0, cap = 0;
    uint8_t **bufs = calloc(n ? n : 1, sizeof *bufs);
    size_t *lens = calloc(n ? n : 1, sizeof *lens);
    sent *s = NULL;
    int rc = bufs && lens ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = tp_event_pack(r->events[i], &bufs[i], &lens[i]) == 0 ? 0 : -1;
    size_t room = g->limits.batch_max_bytes > 2 * BATCH_SLACK
                      ? g->limits.batch_max_bytes - BATCH_SLACK
                      : g->limits.batch_max_bytes / 2;
    for (size_t i = 0; rc == 0 && i < n;) {
        size_t j = i, bytes = 0;
        while (j < n && j - i < g->limits.batch_max_events &&
               (j == i || bytes + lens[j] + 16 <= room))
            bytes += lens[j++] + 16;
        if (at_grow((void **)&s, &cap, nb + 1, sizeof *s, 4)) {
            rc = -1;
            break;
        }
        uint8_t *frame = NULL;
        size_t flen = 0;
        uint64_t seq = atomic_fetch_add(&g->seq, 1) + 1;
        if (tp_batch_encode("otlp-http", seq, (const uint8_t *const *)bufs + i, lens + i, j - i,
                            &frame, &flen) != 0) {
            rc = -1;
            break;
        }
        if (zmq_send(sock, frame, flen, 0) < 0) rc = -1;
        free(frame);
        s[nb++] = (sent){seq, i, j - i, 0};
        i = j;
    }
    for (size_t i = 0; bufs && i < n; i++)
        free(bufs[i]);
    free(bufs);
    free(lens);
    *out = s;
    *nsent = nb;
    return rc;
}

static void tally_ack(const tp_ack *ack, sent *s, const otlp_result *r, tally *t)
{
    s->acked = 1;
    if (ack->status == AGENTTRAIL__V1__ACK_STATUS__ACK_RETRY) {
        t->retry = 1;
        return;
    }
    size_t nrej = ack->status == AGENTTRAIL__V1__ACK_STATUS__ACK_OK ? ack->n_rejected : s->n;
    t->rejected += nrej;
    t->accepted += s->n - nrej;
    if (t->first[0] || nrej == 0) return;
    char span[33] = "?";
    const char *why = ack->reason ? ack->reason : "rejected";
    size_t idx = s->first;
    if (ack->status == AGENTTRAIL__V1__ACK_STATUS__ACK_OK) {
        why = ack->rejected[0]->reason ? ack->rejected[0]->reason : "rejected";
        idx += ack->rejected[0]->index < s->n ? ack->rejected[0]->index : 0;
    }
    const tp_event *ev = r->events[idx];
    if (ev->has_span_id && ev->span_id.len == 8) at_hex_encode(ev->span_id.data, 8, span);
    snprintf(t->first, sizeof t->first, "span %s: %s", span, why);
}

/* Waits for the ack of every batch in s (until the deadline or ingest_stop). 0, or -1 when
 * some never came. */
static int wait_acks(ingest *g, void *sock, sent *s, size_t ns, const otlp_result *r, tally *t)
{
    size_t left = ns;
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (left) {
        zmq_pollitem_t it = {sock, 0, ZMQ_POLLIN, 0};
        int n = zmq_poll(&it, 1, 100);
        if (n < 0 && errno != EINTR) return -1;
        while (n > 0) {
            zmq_msg_t msg;
            zmq_msg_init(&msg);
            if (zmq_msg_recv(&msg, sock, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&msg);
                break;
            }
            tp_ack *ack = NULL;
            at_error err;
            if (tp_ack_decode(zmq_msg_data(&msg), zmq_msg_size(&msg), &ack, &err) == 0) {
                for (size_t i = 0; i < ns; i++)
                    if (!s[i].acked && s[i].seq == ack->seq) {
                        tally_ack(ack, &s[i], r, t);
                        left--;
                    }
            }
            tp_ack_destroy(&ack);
            zmq_msg_close(&msg);
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        long ms = (now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
        if (left && (ms >= ACK_TIMEOUT_MS || atomic_load(&g->stopping))) return -1;
    }
    return 0;
}

/* "span S: REASON" of the mapper or the collector, then the spans not stored as not AI. */
static void partial_message(const otlp_result *r, const tally *t, char *out, size_t len)
{
    out[0] = 0;
    if (r->n_rejections)
        snprintf(out, len, "span %s: %s",
                 r->rejections[0].span_id[0] ? r->rejections[0].span_id : "?",
                 r->rejections[0].reason);
    else if (t->first[0])
        snprintf(out, len, "%s", t->first);
    if (r->n_not_ai) {
        size_t at = strlen(out);
        snprintf(out + at, len - at, "%s%zu spans were not AI work and were not stored",
                 at ? "; " : "", r->n_not_ai);
    }
}

void ingest_handle(ingest *g, const uint8_t *body, size_t len, otlp_format fmt, ingest_answer *a)
{
    memset(a, 0, sizeof *a);
    otlp_result r = {0};
    at_error err = {0};
    char msg[AT_ERROR_TEXT_LEN + 64];
    int rc = otlp_map_request(body, len, fmt, &g->mopts, &r, &err);
    if (rc != 0) {
        char e[AT_ERROR_TEXT_LEN];
        snprintf(msg, sizeof msg, "%s: %s", otlp_strerror(rc), at_error_format(&err, e, sizeof e));
        if (rc == OTLP_EDECODE)
            answer_error(a, fmt, 400, GRPC_INVALID_ARGUMENT, 0, msg);
        else if (rc == OTLP_ETOOBIG)
            answer_error(a, fmt, 413, GRPC_RESOURCE_EXHAUSTED, 0, msg);
        else
            answer_error(a, fmt, 503, GRPC_UNAVAILABLE, RETRY_AFTER_S, msg);
        return;
    }
    tally t = {0};
    void *sock = r.n_events ? pool_take(g) : NULL;
    sent *s = NULL;
    size_t ns = 0;
    int ok = 1;
    if (r.n_events) {
        ok = sock && send_batches(g, sock, &r, &s, &ns) == 0;
        if (ok) ok = wait_acks(g, sock, s, ns, &r, &t) == 0;
    }
    if (sock) pool_give(g, sock);
    free(s);
    if (!ok || t.retry) {
        answer_error(a, fmt, 503, GRPC_UNAVAILABLE, RETRY_AFTER_S,
                     !ok ? "collector: the events were not acknowledged in time; retry"
                         : "store: the commit failed (store full or failing); nothing of this "
                           "request is acknowledged; retry");
        otlp_result_clear(&r);
        return;
    }
    uint64_t res[METRICS_SPAN_COUNT] = {t.accepted, r.n_rejected + t.rejected, r.n_not_ai};
    metrics_add_spans(g->m, r.by_dialect, OTLP_DIALECT_COUNT, res);
    partial_message(&r, &t, msg, sizeof msg);
    a->status = 200;
    if (otlp_response_encode(fmt, (int64_t)(r.n_rejected + t.rejected), msg, &a->body, &a->len) !=
        0)
        answer_error(a, fmt, 500, GRPC_INTERNAL, 0, "collector out of memory");
    otlp_result_clear(&r);
}
