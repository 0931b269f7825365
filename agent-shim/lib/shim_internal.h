/*
 * shim_internal.h - libtraceshim's client, shared by shim.c (the public
 * functions) and shim_loop.c (the background thread). Internal: services
 * see only traceshim.h.
 *
 * Owns: the definition of a client (struct traceshim) and of a batch in its
 * window. Threading: see the fields: the queue under qmu, counters atomic,
 * the flush handshake under fmu, the rest the background thread's alone.
 */
#ifndef AGENTTRAIL_SHIM_INTERNAL_H
#define AGENTTRAIL_SHIM_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "shim_monitor.h"
#include "shim_replay.h"
#include "spool.h"
#include "traceshim.h"

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
    int wait_conn;       /* its connection closed: resent once one is up (resend_on_connect) */
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
        c_dropped, c_recovered, c_lost, c_lost_spans, c_auth_refused, c_handshake_failed,
        c_set_aside;
    atomic_uint_fast64_t spool_failures, size_refusals, auth_reports,
        refusal_reports; /* how often reported */

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

#define CINC(s, c, n) atomic_fetch_add_explicit(&(s)->c, (uint64_t)(n), memory_order_relaxed)

/* Monotonic time, ns. */
uint64_t shim_now_ns(void);

/* A line for people through the log option (stderr by default). */
void shim_log(traceshim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* 1 for the first 10 calls on `counter`, then at powers of two. */
int shim_worth_reporting(atomic_uint_fast64_t *counter);

/* Writes events to the spool (fsync'd later by the background thread); on
 * failure they are dropped, counted and reported. 0 or -1. Frees nothing. */
int shim_spool_events(traceshim *s, uint8_t *const *evs, const size_t *lens, size_t n);

/* Masks, hashes prompt text and packs an event (malloc'd *buf). 0, or -1
 * (counted rejected). */
int shim_prepare_pack(traceshim *s, tp_event *ev, uint8_t **buf, size_t *len);

/* Events in the queue; *first (may be NULL): when it last became non-empty. */
size_t shim_queue_count(traceshim *s, uint64_t *first);

/* Frees a batch's buffers and clears it. */
void shim_batch_free(batch *b);

/* Everything in memory to the spool, fsync'd (flush deadline, close). */
void shim_spill(traceshim *s);

/* The background thread (pthread_create's start routine; arg: the client). */
void *shim_bg_main(void *arg);

#endif
