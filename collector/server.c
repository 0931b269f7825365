/*
 * server.c - trace-collector's serving loop (see server.h).
 *
 * Owns: the ZeroMQ context and ROUTER sockets (the --listen one, and with
 * --otlp-http the inproc one of the HTTP threads, COLLECTOR_OTLP_ENDPOINT),
 * the open store, and the pending group: the events received and not yet
 * committed, with, for each batch they came in, the socket and peer to answer
 * and the events it rejected.
 *
 * Invariants:
 * - an OK ack is sent only after ts_append returned 0 for the group holding
 *   every accepted event of that batch (ts_append returns once durable);
 * - the pending group never exceeds group_events + one batch of events, or
 *   group_bytes + one batch of bytes: the loop stops reading while it is
 *   full, and ZeroMQ's receive high-water mark then pushes back on shims;
 * - a failed commit stores nothing and every batch of the group gets RETRY.
 *
 * Threading: single-threaded. Reading, validating, committing and acking on
 * one thread keeps the ordering argument trivial; while ts_append waits for
 * the disk, new batches wait in ZeroMQ's queues and form the next group.
 */
#include "server.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "atcommon.h"
#include "auth.h"
#include "signer.h"
#include "log.h"
#include "metrics.h"
#include "tracestore.h"

typedef struct rejection {
    uint32_t index;
    char *reason;
} rejection;

typedef struct pending_batch {
    void *sock;       /* the ROUTER it came on, to ack on */
    uint8_t rid[256]; /* ZeroMQ routing id of the peer */
    size_t rid_len;
    uint64_t seq;
    size_t first, n; /* range in the group's events */
    rejection *rej;
    size_t nrej, caprej;
} pending_batch;

struct collector {
    const collector_config *cfg;
    tp_limits limits;
    ts_store *store;
    void *zctx, *sock;
    void *otlp_sock;  /* inproc ROUTER of the OTLP/HTTP threads (ingest.c), or NULL */
    metrics *metrics; /* counters of /metrics (collector/metrics.h) */
    uint64_t stat_ms; /* last ts_stat snapshot given to metrics, monotonic ms */
    auth_zap *auth;   /* CURVE allowlist (--allow), else NULL: loopback/anonymous */
    signer *signer;   /* signs checkpoints of the Merkle log (collector/signer.c) */
    char origin[256]; /* the store's log origin ("" if it has none), for expect_log */

    tp_event **events;
    ts_result *results;
    uint32_t *bindex; /* index of each event in its batch, for rejections after the commit */
    size_t nevents, capevents, group_bytes;
    pending_batch *batches;
    size_t nbatches, capbatches;
    uint64_t group_start; /* monotonic ns of the first batch in the group */

    int store_full; /* last commit failed with TS_EFULL (log transitions only) */
    uint64_t n_batches, n_stored, n_dups, n_rejected, n_bad_batches, n_retry;
    uint64_t n_conflicts; /* event ids already stored with other content (also in n_rejected) */
    uint64_t ns_take, ns_commit; /* time spent decoding+validating+masking, in ts_append */
};

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- opening ------------------------------------------------------------ */

static volatile sig_atomic_t g_reload;

void collector_request_reload(void)
{
    g_reload = 1;
}

/* Endpoints reachable from this machine only. */
static int endpoint_is_local(const char *ep)
{
    if (strncmp(ep, "ipc://", 6) == 0 || strncmp(ep, "inproc://", 9) == 0) return 1;
    if (strncmp(ep, "tcp://", 6) != 0) return 0;
    const char *h = ep + 6;
    return strncmp(h, "127.", 4) == 0 || strncmp(h, "localhost:", 10) == 0 ||
           strncmp(h, "[::1]:", 6) == 0;
}

static void auth_log(void *ctx, int level, const char *msg)
{
    (void)ctx;
    clog_line(level == AUTH_LOG_ERROR  ? CLOG_ERROR
              : level == AUTH_LOG_WARN ? CLOG_WARN
                                       : CLOG_INFO,
              "%s", msg);
}

/* CURVE with the allowlist (collector/auth.h), or loopback only unless
 * --insecure. Never falls back to open access: 3 when it cannot be set up. */
static int setup_security(collector *c, const collector_config *cfg)
{
    if (!cfg->allow) {
        int open = 0;
        for (int i = 0; i < cfg->nlisten; i++) {
            if (endpoint_is_local(cfg->listen[i])) continue;
            if (!cfg->insecure) {
                clog_line(CLOG_ERROR,
                          "listen %s: not a loopback address and no CURVE: give --curve-secret "
                          "FILE --allow FILE (see trace-collector keygen --curve), or --insecure "
                          "to serve it open",
                          cfg->listen[i]);
                return 3;
            }
            open = 1;
        }
        clog_line(open ? CLOG_WARN : CLOG_INFO, "security: %s",
                  open ? "no authentication, OPEN to the network (--insecure); every source is "
                         "\"anonymous\""
                       : "no authentication, loopback only; every source is \"anonymous\"");
        return 0;
    }
    at_error err = {0};
    char sec[AUTH_Z85_KEY_LEN + 1] = "";
    int one = 1;
    int rc = auth_key_load(cfg->curve_secret, 1, sec, &err);
    if (rc == 0) rc = auth_zap_start(c->zctx, cfg->allow, auth_log, NULL, &c->auth, &err);
    if (rc == 0 && (zmq_setsockopt(c->sock, ZMQ_CURVE_SERVER, &one, sizeof one) != 0 ||
                    zmq_setsockopt(c->sock, ZMQ_CURVE_SECRETKEY, sec, AUTH_Z85_KEY_LEN) != 0 ||
                    zmq_setsockopt(c->sock, ZMQ_ZAP_DOMAIN, "agenttrail", 10) != 0))
        rc = at_errf(&err, -1, "zmq: cannot make the socket a CURVE server: %s",
                     zmq_strerror(errno));
    if (rc == 0) rc = auth_zap_watch(c->auth, c->sock, &err);
    memset(sec, 0, sizeof sec);
    if (rc != 0) {
        char msg[AT_ERROR_TEXT_LEN];
        clog_line(CLOG_ERROR, "security: %s; refusing to start without authentication",
                  at_error_format(&err, msg, sizeof msg));
        return 3;
    }
    clog_line(CLOG_INFO, "security: CURVE, only the keys in %s (SIGHUP reloads it)", cfg->allow);
    return 0;
}

/* The checkpoint signer: its key created 0600 on first start; a checkpoint at once if the
 * log grew past the last one (a crash between a commit and its checkpoint). */
static int open_signer(collector *c, const collector_config *cfg)
{
    /* The most a running collector leaves unsigned: the entries trigger, less one, plus the
     * largest group (group_events + one batch) committed before the signer runs. With no
     * entries trigger there is no bound to record (verify then only notes the tail). */
    uint64_t tail_max = cfg->checkpoint_entries ? (uint64_t)cfg->checkpoint_entries +
                                                      cfg->group_events + cfg->batch_max_events
                                                : 0;
    signer_options so = {cfg->signing_key, cfg->checkpoint_ms, cfg->checkpoint_entries, tail_max,
                         cfg->witness};
    char err[AT_ERROR_TEXT_LEN] = "";
    int created = 0;
    at_error e = {0};
    if (signer_open(c->store, cfg->store_dir, &so, &c->signer, &created, &e) != 0) {
        clog_line(CLOG_ERROR, "checkpoint signing key: %s", at_error_format(&e, err, sizeof err));
        return -1;
    }
    char path[4096];
    if (!cfg->signing_key) signer_default_key_path(cfg->store_dir, path, sizeof path);
    clog_line(CLOG_INFO, "checkpoints: signed with %s%s, at most every %zu ms or %zu entries%s%s",
              cfg->signing_key ? cfg->signing_key : path, created ? " (new key, mode 0600)" : "",
              cfg->checkpoint_ms, cfg->checkpoint_entries,
              cfg->witness ? ", each appended to the witness " : "",
              cfg->witness ? cfg->witness : "");
    return 0;
}

/* After a commit (committed = 1) or when idle: a checkpoint when one is due. */
static void sign_if_due(collector *c, int committed)
{
    char err[AT_ERROR_TEXT_LEN] = "";
    uint64_t ms = mono_ns() / 1000000u;
    at_error e = {0};
    int rc = committed ? signer_after_commit(c->signer, ms, &e) : signer_tick(c->signer, ms, &e);
    if (rc < 0) clog_line(CLOG_ERROR, "checkpoint: %s", at_error_format(&e, err, sizeof err));
}

/* The inproc ROUTER the HTTP threads' DEALERs send OTLP batches to: no CURVE (it never
 * leaves the process), the limits of the main socket. */
static void set_router_options(void *sock, int hwm, int linger, int64_t maxmsg)
{
    zmq_setsockopt(sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
}

static int open_otlp_socket(collector *c, int hwm, int64_t maxmsg)
{
    c->otlp_sock = zmq_socket(c->zctx, ZMQ_ROUTER);
    if (c->otlp_sock) set_router_options(c->otlp_sock, hwm, 0, maxmsg);
    if (!c->otlp_sock || zmq_bind(c->otlp_sock, COLLECTOR_OTLP_ENDPOINT) != 0) {
        clog_line(CLOG_ERROR, "zmq: %s: %s", COLLECTOR_OTLP_ENDPOINT, zmq_strerror(errno));
        return 3;
    }
    return 0;
}

void *collector_zmq_context(collector *c)
{
    return c->zctx;
}

int collector_open(const collector_config *cfg, metrics *m, collector **out)
{
    *out = NULL;
    collector *c = calloc(1, sizeof *c);
    if (!c) {
        clog_line(CLOG_ERROR, "out of memory");
        return 3;
    }
    c->cfg = cfg;
    c->metrics = m;
    c->limits = tp_limits_default();
    c->limits.event_max = cfg->event_max;
    c->limits.string_max = cfg->string_max;
    c->limits.batch_max_bytes = cfg->batch_max_bytes;
    c->limits.batch_max_events = cfg->batch_max_events;
    ts_options so = {.map_size_max = cfg->map_size_max, .limits = &c->limits};
    /* The store starts at 64 MiB whatever the maximum: start a small limit at
     * the limit itself so that it holds from the first commit. */
    if (cfg->map_size_max && cfg->map_size_max < ((size_t)64 << 20))
        so.map_size_initial = cfg->map_size_max;
    char err[AT_ERROR_TEXT_LEN] = "";
    at_error e = {0};
    int rc = ts_open(cfg->store_dir, TS_OPEN_CREATE, &so, &c->store, &e);
    at_error_format(&e, err, sizeof err);
    if (rc != 0) {
        if (rc == TS_ELOCKED)
            clog_line(CLOG_ERROR,
                      "store %s: held by another collector (%s); stop it or give this one another "
                      "--store",
                      cfg->store_dir, err);
        else
            clog_line(CLOG_ERROR, "store %s: cannot open: %s", cfg->store_dir,
                      err[0] ? err : ts_strerror(rc));
        collector_close(&c);
        return 3;
    }
    if (open_signer(c, cfg) != 0) {
        collector_close(&c);
        return 3;
    }
    if (ts_log_origin(c->store, c->origin, sizeof c->origin) != 0) c->origin[0] = 0;
    c->zctx = zmq_ctx_new();
    c->sock = c->zctx ? zmq_socket(c->zctx, ZMQ_ROUTER) : NULL;
    if (!c->sock) {
        clog_line(CLOG_ERROR, "zmq: cannot create the ROUTER socket: %s", zmq_strerror(errno));
        collector_close(&c);
        return 3;
    }
    int hwm = (int)cfg->recv_hwm, linger = 2000;
    /* Bigger frames than this close the connection; between batch_max_bytes
     * and this they get a REJECTED ack naming the limit. */
    int64_t maxmsg = (int64_t)cfg->batch_max_bytes * 2 + 4096;
    set_router_options(c->sock, hwm, linger, maxmsg);
    if (setup_security(c, cfg) != 0) {
        collector_close(&c);
        return 3;
    }
    for (int i = 0; i < cfg->nlisten; i++) {
        if (zmq_bind(c->sock, cfg->listen[i]) != 0) {
            clog_line(CLOG_ERROR,
                      "listen %s: %s (is another collector on it? use another --listen)",
                      cfg->listen[i], zmq_strerror(errno));
            collector_close(&c);
            return 3;
        }
        clog_line(CLOG_INFO, "listening on %s", cfg->listen[i]);
    }
    if (cfg->otlp_http && open_otlp_socket(c, hwm, maxmsg) != 0) {
        collector_close(&c);
        return 3;
    }
    ts_stats st;
    if (ts_stat(c->store, &st) == 0)
        clog_line(CLOG_INFO, "store %s open: %" PRIu64 " events", cfg->store_dir, st.events);
    *out = c;
    return 0;
}

static void group_clear(collector *c)
{
    for (size_t i = 0; i < c->nevents; i++)
        tp_event_destroy(&c->events[i]);
    for (size_t b = 0; b < c->nbatches; b++) {
        for (size_t k = 0; k < c->batches[b].nrej; k++)
            free(c->batches[b].rej[k].reason);
        free(c->batches[b].rej);
    }
    c->nevents = 0;
    c->nbatches = 0;
    c->group_bytes = 0;
}

void collector_close(collector **cp)
{
    if (!cp || !*cp) return;
    collector *c = *cp;
    group_clear(c);
    free(c->events);
    free(c->results);
    free(c->bindex);
    free(c->batches);
    if (c->sock) zmq_close(c->sock);
    if (c->otlp_sock) zmq_close(c->otlp_sock);
    auth_zap_stop(&c->auth);
    if (c->zctx) zmq_ctx_term(c->zctx);
    signer_destroy(&c->signer);
    ts_close(&c->store);
    free(c);
    *cp = NULL;
}

/* ---- acks --------------------------------------------------------------- */

static void send_ack(void *sock, const uint8_t *rid, size_t rid_len, const tp_ack *ack)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    if (tp_ack_encode(ack, &buf, &len) != 0) {
        clog_line(CLOG_ERROR, "out of memory encoding an ack; the shim will resend");
        return;
    }
    /* A peer that went away is dropped silently by ROUTER; it resends. */
    if (zmq_send(sock, rid, rid_len, ZMQ_SNDMORE) >= 0) zmq_send(sock, buf, len, 0);
    free(buf);
}

static void ack_simple(collector *c, void *sock, const uint8_t *rid, size_t rid_len, uint64_t seq,
                       int status, const char *reason)
{
    metrics_add_batch(c->metrics, status == AGENTTRAIL__V1__ACK_STATUS__ACK_RETRY
                                      ? METRICS_BATCH_RETRY
                                      : METRICS_BATCH_REJECTED);
    tp_ack ack = AGENTTRAIL__V1__ACK__INIT;
    ack.has_seq = 1;
    ack.seq = seq;
    ack.has_status = 1;
    ack.status = status;
    ack.reason = (char *)reason;
    send_ack(sock, rid, rid_len, &ack);
}

static void ack_batch_ok(collector *c, const pending_batch *pb, uint32_t accepted, uint32_t dups)
{
    metrics_add_batch(c->metrics, METRICS_BATCH_OK);
    tp_ack ack = AGENTTRAIL__V1__ACK__INIT;
    ack.has_seq = 1;
    ack.seq = pb->seq;
    ack.has_status = 1;
    ack.status = AGENTTRAIL__V1__ACK_STATUS__ACK_OK;
    ack.has_accepted = 1;
    ack.accepted = accepted;
    ack.has_duplicates = 1;
    ack.duplicates = dups;
    Agenttrail__V1__Rejection *rs = NULL, **rp = NULL;
    if (pb->nrej) {
        rs = calloc(pb->nrej, sizeof *rs);
        rp = calloc(pb->nrej, sizeof *rp);
        if (!rs || !rp) {
            free(rs);
            free(rp);
            clog_line(CLOG_ERROR, "out of memory building an ack; the shim will resend");
            return;
        }
        for (size_t i = 0; i < pb->nrej; i++) {
            agenttrail__v1__rejection__init(&rs[i]);
            rs[i].has_index = 1;
            rs[i].index = pb->rej[i].index;
            rs[i].reason = pb->rej[i].reason;
            rp[i] = &rs[i];
        }
        ack.n_rejected = pb->nrej;
        ack.rejected = rp;
    }
    send_ack(pb->sock, pb->rid, pb->rid_len, &ack);
    free(rs);
    free(rp);
}

/* ---- the group ---------------------------------------------------------- */

/* Adds a rejection, keeping the list in batch order (rejections found at
 * commit come after those found while decoding). */
static int add_rejection(pending_batch *pb, uint32_t index, const char *reason)
{
    if (at_grow((void **)&pb->rej, &pb->caprej, pb->nrej + 1, sizeof *pb->rej, 4)) return -1;
    rejection *r = pb->rej;
    char *why = strdup(reason);
    if (!why) return -1;
    size_t at = pb->nrej;
    while (at > 0 && r[at - 1].index > index)
        at--;
    memmove(&r[at + 1], &r[at], (pb->nrej - at) * sizeof *r);
    r[at].index = index;
    r[at].reason = why;
    pb->nrej++;
    return 0;
}

#define CONFLICT_REASON "event_id: already stored with different content"

/* An event whose id the store already holds with other content: a bug in an
 * emitter (an id reused) or an attack (an event rewritten under a stored
 * id). The stored copy stays; this one is rejected in the ack, logged and
 * counted, never acked as stored. Returns 1 when ev is such an event. */
static int report_conflict(collector *c, pending_batch *pb, size_t i)
{
    if (c->results[i].status != TS_RESULT_CONFLICT) return 0;
    const tp_event *ev = c->events[i];
    char id[33] = "?";
    if (ev->has_event_id && ev->event_id.len == 16) at_hex_encode(ev->event_id.data, 16, id);
    const char *source = ev->stored && ev->stored->source ? ev->stored->source : "anonymous";
    clog_line(CLOG_WARN,
              "event %s from \"%s\" (batch %" PRIu64 ", index %u): event_id already stored at "
              "log index %" PRIu64 " with different content; rejected, the stored event kept "
              "(an emitter reusing ids, or an attempt to rewrite a stored event)",
              id, source, pb->seq, c->bindex[i], c->results[i].log_index);
    char why[160];
    snprintf(why, sizeof why, CONFLICT_REASON " (log index %" PRIu64 ")", c->results[i].log_index);
    if (add_rejection(pb, c->bindex[i], why) != 0)
        clog_line(CLOG_ERROR, "out of memory recording a rejection for event %s", id);
    c->n_conflicts++;
    c->n_rejected++;
    metrics_add_rejected(c->metrics, 0, 1);
    return 1;
}

/* The three per-event arrays share capevents: each grows through its own copy of it, and
 * capevents moves only once all three hold n (a failure part-way leaves a larger array than
 * capevents says, which the next call grows again to the same size). */
static int group_reserve(collector *c, size_t more_events)
{
    size_t n = c->nevents + more_events, ce = c->capevents, cr = ce, cx = ce;
    if (at_grow((void **)&c->events, &ce, n, sizeof *c->events, 1024) ||
        at_grow((void **)&c->results, &cr, n, sizeof *c->results, 1024) ||
        at_grow((void **)&c->bindex, &cx, n, sizeof *c->bindex, 1024))
        return -1;
    c->capevents = ce;
    return at_grow((void **)&c->batches, &c->capbatches, c->nbatches + 1, sizeof *c->batches, 64)
               ? -1
               : 0;
}

/* For /metrics and /healthz; ts_stat (the file's size) at most once a second. */
static void note_commit(collector *c, int rc, uint64_t took)
{
    char why[200] = "";
    if (rc != 0)
        snprintf(why, sizeof why, "%s: %s", rc == TS_EFULL ? "store full" : "commit failing",
                 ts_last_error(c->store));
    metrics_add_commit(c->metrics, took, c->nevents,
                       rc == 0          ? METRICS_STORE_OK
                       : rc == TS_EFULL ? METRICS_STORE_FULL
                                        : METRICS_STORE_FAILING,
                       why);
    uint64_t ms = mono_ns() / 1000000u;
    ts_stats st;
    if ((c->stat_ms == 0 || ms - c->stat_ms >= 1000) && ts_stat(c->store, &st) == 0) {
        c->stat_ms = ms;
        metrics_set_store(c->metrics, st.bytes_on_disk, st.map_size, st.events);
    }
}

/* Commits the group, then acks every batch in it: OK once durable, RETRY if
 * the commit failed (nothing of it is stored; the shims resend). */
static void group_commit(collector *c)
{
    if (c->nbatches == 0) return;
    uint64_t t0 = mono_ns();
    int rc = c->nevents ? ts_append(c->store, c->events, c->nevents, c->results) : 0;
    uint64_t took = mono_ns() - t0;
    c->ns_commit += took;
    note_commit(c, rc, took);
    if (rc == 0) {
        if (c->store_full) clog_line(CLOG_INFO, "store has room again: acking batches");
        c->store_full = 0;
        for (size_t b = 0; b < c->nbatches; b++) {
            pending_batch *pb = &c->batches[b];
            uint32_t dups = 0, conflicts = 0;
            for (size_t i = pb->first; i < pb->first + pb->n; i++) {
                dups += c->results[i].status == TS_RESULT_DUPLICATE;
                conflicts += (uint32_t)report_conflict(c, pb, i);
            }
            c->n_stored += pb->n - dups - conflicts;
            c->n_dups += dups;
            metrics_add_events(c->metrics, pb->n - dups - conflicts, dups);
            ack_batch_ok(c, pb, (uint32_t)pb->n - conflicts, dups);
        }
        clog_line(CLOG_DEBUG, "committed %zu events from %zu batches", c->nevents, c->nbatches);
        sign_if_due(c, 1);
    } else {
        const char *why = ts_last_error(c->store);
        if (rc == TS_EFULL) {
            if (!c->store_full)
                clog_line(CLOG_WARN,
                          "store %s full (%s): answering RETRY, nothing acked until there is room "
                          "(raise --map-size-max or free disk space)",
                          c->cfg->store_dir, why);
            c->store_full = 1;
        } else {
            clog_line(CLOG_ERROR, "commit of %zu events failed: %s: %s; answering RETRY",
                      c->nevents, ts_strerror(rc), why);
        }
        char reason[256];
        snprintf(reason, sizeof reason, "store: %s", ts_strerror(rc));
        for (size_t b = 0; b < c->nbatches; b++) {
            c->n_retry++;
            ack_simple(c, c->batches[b].sock, c->batches[b].rid, c->batches[b].rid_len,
                       c->batches[b].seq, AGENTTRAIL__V1__ACK_STATUS__ACK_RETRY, reason);
        }
    }
    group_clear(c);
}

/* The authenticated name of the sender, stamped as stored.source: the
 * "User-Id" metadata ZeroMQ sets from the reply of the ZAP handler
 * (collector/auth.c: the allowlist name of the CURVE key), else "anonymous". */
static const char *message_source(zmq_msg_t *msg)
{
    const char *uid = zmq_msg_gets(msg, "User-Id");
    return uid && *uid ? uid : "anonymous";
}

static int stamp(tp_event *ev, uint64_t received, const char *source)
{
    if (!ev->stored) {
        ev->stored = malloc(sizeof *ev->stored);
        if (!ev->stored) return -1;
    } else {
        free(ev->stored->source); /* never trusted from a client */
    }
    agenttrail__v1__stored__init(ev->stored);
    ev->stored->has_received_unix_nano = 1;
    ev->stored->received_unix_nano = received;
    ev->stored->source = strdup(source);
    return ev->stored->source ? 0 : -1;
}

/* Masks an event's secrets (proto/mask.h): 0, or the event is withheld,
 * `err` saying why (a secret in an exact field such as service, or out of
 * memory). */
static int mask_or_refuse(tp_event *ev, unsigned *masked, at_error *err)
{
    int rc = tp_mask_event(ev, masked, err);
    if (rc == TP_ENOMEM)
        at_error_set(err, "-", "collector could not mask secrets (out of memory): withheld");
    return rc;
}

/* The seq of a batch refused for its size (it decodes without the limit;
 * ZMQ_MAXMSGSIZE bounds it), so that the shim can match the REJECTED ack
 * and stop resending it; 0 when it cannot be read. */
static uint64_t oversized_batch_seq(collector *c, zmq_msg_t *payload, int rc)
{
    if (rc != TP_ETOOBIG) return 0;
    tp_limits big = c->limits;
    big.batch_max_bytes = SIZE_MAX;
    big.batch_max_events = SIZE_MAX;
    tp_batch *b = NULL;
    at_error err;
    uint64_t seq = 0;
    if (tp_batch_decode(zmq_msg_data(payload), zmq_msg_size(payload), &big, &b, &err) == 0)
        seq = b->seq;
    tp_batch_destroy(&b);
    return seq;
}

/* An event that names the log it was meant for (attribute TP_ATTR_EXPECT_LOG, set by
 * trace-query link to the origin of the store it resolved the link in) is refused unless
 * that is this collector's log: a link resolved in store A must never land in store B. */
static int check_expect_log(const collector *c, const tp_event *ev, at_error *err)
{
    for (size_t i = 0; i < ev->n_attributes; i++) {
        const Agenttrail__V1__Attribute *a = ev->attributes[i];
        if (!a->key || strcmp(a->key, TP_ATTR_EXPECT_LOG) != 0) continue;
        if (a->value && c->origin[0] && strcmp(a->value, c->origin) == 0) return 0;
        at_error_set(err, "attributes." TP_ATTR_EXPECT_LOG,
                     "this collector writes log %s (store %s); the event was meant for log %s",
                     c->origin[0] ? c->origin : "(none)", c->cfg->store_dir,
                     a->value ? a->value : "(none)");
        return TP_EINVAL;
    }
    return 0;
}

/* Decodes one framed batch into the group (or answers REJECTED at once). */
static void take_batch(collector *c, void *sock, const uint8_t *rid, size_t rid_len,
                       zmq_msg_t *payload)
{
    c->n_batches++;
    tp_batch *b = NULL;
    at_error err;
    char why[600];
    int rc = tp_batch_decode(zmq_msg_data(payload), zmq_msg_size(payload), &c->limits, &b, &err);
    if (rc != 0) {
        at_error_format(&err, why, sizeof why);
        c->n_bad_batches++;
        clog_line(CLOG_WARN, "batch rejected: %s: %s", tp_strerror(rc), why);
        ack_simple(c, sock, rid, rid_len, oversized_batch_seq(c, payload, rc),
                   AGENTTRAIL__V1__ACK_STATUS__ACK_REJECTED, why);
        return;
    }
    if (b->n_events > c->limits.batch_max_events) {
        snprintf(why, sizeof why, "events: %zu in one batch, limit %zu (--max-batch-events)",
                 b->n_events, c->limits.batch_max_events);
        c->n_bad_batches++;
        clog_line(CLOG_WARN, "batch rejected: %s", why);
        ack_simple(c, sock, rid, rid_len, b->seq, AGENTTRAIL__V1__ACK_STATUS__ACK_REJECTED, why);
        tp_batch_destroy(&b);
        return;
    }
    /* A session authenticated before a reload that revoked its key. */
    const char *who = sock == c->otlp_sock ? "otlp-http" : message_source(payload);
    if (sock == c->sock) metrics_peer_seen(c->metrics, rid, rid_len);
    if (c->auth && sock == c->sock && !auth_zap_allows_name(c->auth, who)) {
        snprintf(why, sizeof why,
                 "-: source \"%s\" is no longer in the allowlist; reconnect with an allowed key",
                 who);
        c->n_bad_batches++;
        clog_line(CLOG_WARN, "batch from \"%s\" rejected: key revoked by an allowlist reload", who);
        ack_simple(c, sock, rid, rid_len, b->seq, AGENTTRAIL__V1__ACK_STATUS__ACK_REJECTED, why);
        tp_batch_destroy(&b);
        return;
    }
    if (group_reserve(c, b->n_events) != 0) {
        ack_simple(c, sock, rid, rid_len, b->seq, AGENTTRAIL__V1__ACK_STATUS__ACK_RETRY,
                   "collector out of memory");
        tp_batch_destroy(&b);
        return;
    }
    if (c->nbatches == 0) c->group_start = mono_ns();
    pending_batch *pb = &c->batches[c->nbatches++];
    memset(pb, 0, sizeof *pb);
    pb->sock = sock;
    memcpy(pb->rid, rid, rid_len);
    pb->rid_len = rid_len;
    pb->seq = b->seq;
    pb->first = c->nevents;
    uint64_t received = tp_now_unix_nano();
    const char *source = who;
    for (size_t i = 0; i < b->n_events; i++) {
        tp_event *ev = NULL;
        rc = tp_event_unpack(b->events[i].data, b->events[i].len, &c->limits, &ev, &err);
        /* Masked again here, whatever the shim did (proto/mask.h); an event
         * that cannot be masked is withheld, never stored raw. */
        unsigned masked = 0;
        if (rc == 0) rc = check_expect_log(c, ev, &err);
        if (rc == 0) rc = mask_or_refuse(ev, &masked, &err);
        /* Markers can be longer than what they replace: an event pushed over
         * the limit is refused here rather than failing its whole group. */
        if (rc == 0 && masked > 0 &&
            agenttrail__v1__trace_event__get_packed_size(ev) + 512 > c->limits.event_max) {
            rc = TP_ETOOBIG;
            at_error_set(&err, "-", "over the event size limit once its %u secret(s) are masked",
                         masked);
        }
        if (rc == 0 && stamp(ev, received, source) != 0) {
            rc = TP_ENOMEM;
            at_error_set(&err, "-", "collector out of memory");
        }
        if (rc != 0) {
            tp_event_destroy(&ev);
            at_error_format(&err, why, sizeof why);
            add_rejection(pb, (uint32_t)i, why);
            c->n_rejected++;
            metrics_add_rejected(c->metrics, rc, 0);
            continue;
        }
        c->bindex[c->nevents] = (uint32_t)i;
        c->events[c->nevents++] = ev;
        c->group_bytes += b->events[i].len;
    }
    pb->n = c->nevents - pb->first;
    if (pb->nrej)
        clog_line(CLOG_INFO, "batch %" PRIu64 " from %s: %zu of %zu events rejected, first: %s",
                  pb->seq, source, pb->nrej, b->n_events, pb->rej[0].reason);
    tp_batch_destroy(&b);
}

/* Receives one message if any: 1 taken, 0 none waiting. */
static int recv_one(collector *c, void *sock)
{
    if (!sock) return 0;
    zmq_msg_t rid, payload;
    zmq_msg_init(&rid);
    if (zmq_msg_recv(&rid, sock, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&rid);
        return 0;
    }
    zmq_msg_init(&payload);
    int ok = zmq_msg_more(&rid) && zmq_msg_recv(&payload, sock, 0) >= 0;
    int extra = 0;
    while (ok && zmq_msg_more(&payload)) { /* one part per batch: drop the rest */
        zmq_msg_t x;
        zmq_msg_init(&x);
        zmq_msg_recv(&x, sock, 0);
        int more = zmq_msg_more(&x);
        zmq_msg_close(&x);
        extra = 1;
        if (!more) break;
    }
    size_t rid_len = zmq_msg_size(&rid);
    if (ok && rid_len <= 256) {
        if (extra) {
            c->n_bad_batches++;
            clog_line(CLOG_WARN, "batch rejected: more than one message part");
            ack_simple(c, sock, zmq_msg_data(&rid), rid_len, 0,
                       AGENTTRAIL__V1__ACK_STATUS__ACK_REJECTED,
                       "-: a batch is one message part (docs/wire-format.md)");
        } else {
            uint64_t t0 = mono_ns();
            take_batch(c, sock, zmq_msg_data(&rid), rid_len, &payload);
            c->ns_take += mono_ns() - t0;
        }
    }
    zmq_msg_close(&payload);
    zmq_msg_close(&rid);
    return 1;
}

static int group_is_full(const collector *c)
{
    return c->nevents >= c->cfg->group_events || c->group_bytes >= c->cfg->group_bytes;
}

int collector_run(collector *c, volatile sig_atomic_t *stop)
{
    const uint64_t group_ns = (uint64_t)c->cfg->group_ms * 1000000u;
    while (!*stop) {
        int timeout = 200;
        if (c->nbatches) {
            uint64_t now = mono_ns(), due = c->group_start + group_ns;
            timeout = now >= due ? 0 : (int)((due - now + 999999) / 1000000);
        }
        int64_t sign_in = signer_due_in_ms(c->signer, mono_ns() / 1000000u);
        if (sign_in >= 0 && sign_in < timeout) timeout = (int)sign_in;
        zmq_pollitem_t items[2] = {{c->sock, 0, ZMQ_POLLIN, 0}, {c->otlp_sock, 0, ZMQ_POLLIN, 0}};
        int n = zmq_poll(items, c->otlp_sock ? 2 : 1, timeout);
        if (n < 0 && errno != EINTR) {
            clog_line(CLOG_ERROR, "zmq_poll: %s", zmq_strerror(errno));
            break;
        }
        if (*stop) break;
        if (g_reload) {
            g_reload = 0;
            if (!c->auth)
                clog_line(CLOG_INFO, "SIGHUP: no --allow file to reload");
            else
                auth_zap_reload(c->auth, NULL); /* logs either way */
        }
        /* Both sockets in turn, so that neither starves the other. */
        while (!group_is_full(c) && (recv_one(c, c->sock) | recv_one(c, c->otlp_sock)))
            ;
        if (c->nbatches &&
            (group_is_full(c) || mono_ns() >= c->group_start + group_ns || group_ns == 0))
            group_commit(c);
        sign_if_due(c, 0);
    }
    /* Stop accepting: what is received gets committed and acked. */
    group_commit(c);
    char serr[AT_ERROR_TEXT_LEN] = "";
    at_error se = {0};
    if (signer_sign_now(c->signer, &se) < 0)
        clog_line(CLOG_ERROR, "last checkpoint: %s (the next start signs it)",
                  at_error_format(&se, serr, sizeof serr));
    clog_line(CLOG_INFO,
              "stopping: %" PRIu64 " batches, %" PRIu64 " events stored, %" PRIu64
              " duplicates, %" PRIu64 " events rejected (%" PRIu64
              " reusing a stored event_id with different content), %" PRIu64
              " bad batches, %" PRIu64
              " RETRY acks; %.2f s decoding, validating and masking, %.2f s committing",
              c->n_batches, c->n_stored, c->n_dups, c->n_rejected, c->n_conflicts, c->n_bad_batches,
              c->n_retry, (double)c->ns_take / 1e9, (double)c->ns_commit / 1e9);
    return 0;
}
