/*
 * traceshim.h - libtraceshim: what a service links to record trace events.
 *
 * The only header a service needs. A traceshim client takes events from any
 * number of threads (traceshim_emit copies them into a bounded in-memory
 * queue and returns), and one background thread per client batches them,
 * sends them to one or more trace-collectors over a ZeroMQ DEALER socket,
 * keeps a window of unacknowledged batches, resends a batch after the ack
 * timeout with the same sequence number, and spools to an append-only file
 * in the spool directory when the collector is unreachable, answers RETRY
 * (store full) or the queue is full. The spool is replayed when the
 * collector answers again, and also by the next client opened on the same
 * spool directory (after a restart of the service); spooled data is deleted
 * only after the collector acknowledged it. The collector stores each event
 * once (dedup by event_id), so resends and replays never duplicate.
 *
 * Delivery: an event counted in `acked` is durable in the store. An event is
 * never lost once traceshim_flush (or traceshim_close) returned: it is either
 * acked or written to the spool and fsync'd, and will be sent by the next
 * client on that spool directory.
 *
 * Threads: every function is thread-safe except traceshim_close, which must
 * not race with other calls on the same client.
 *
 * Fork: do not use a client in a child after fork(); the background thread
 * does not exist there. Create a new client in the child (on another spool
 * directory: a spool directory is locked by one client at a time). The id
 * generator reseeds in a child (pthread_atfork), so a child never repeats
 * its parent's event ids.
 *
 * Signals: no function here is async-signal-safe. Do not call them from a
 * signal handler; set a flag there and call traceshim_flush from normal code.
 * The library does not install signal handlers; it blocks all signals in its
 * own background thread so that the service's handlers run in its threads.
 *
 * Errors: functions return 0 or a negative TRACESHIM_E* code;
 * traceshim_strerror() describes it, and the at_error of traceshim_create says
 * what, where and what to do.
 */
#ifndef AGENTTRAIL_TRACESHIM_H
#define AGENTTRAIL_TRACESHIM_H

#include <stddef.h>
#include <stdint.h>

#include "traceproto.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Error codes. Numbered explicitly; never renumbered. libtraceshim's block is -200..-299
 * (atcommon.h keeps the registry of disjoint blocks): a code in it is a TRACESHIM_E*; the
 * TP_E* codes of libtraceproto (-1..-99) never come out of this API. */
enum {
    TRACESHIM_OK = 0,
    TRACESHIM_EINVAL = -200,    /* bad option or argument */
    TRACESHIM_ENOMEM = -201,    /* out of memory */
    TRACESHIM_EFULL = -202,     /* queue full and policy drop: event dropped (counted) */
    TRACESHIM_ETIMEDOUT = -203, /* flush/close: not everything acked in time (rest spooled) */
    TRACESHIM_ELOCKED = -204,   /* the spool directory is used by another client */
    TRACESHIM_EIO = -205,       /* spool file system error */
    TRACESHIM_EZMQ = -206,      /* ZeroMQ socket error (bad endpoint, ...) */
    TRACESHIM_EEVENT = -207,    /* the event cannot be prepared or is over the size limit */
    TRACESHIM_ECLOSED = -208,   /* the client is closing */
};

/* A short English description of a TRACESHIM_E* code; never NULL. */
const char *traceshim_strerror(int code);

/* What to do when the in-memory queue is full. */
typedef enum traceshim_overflow {
    TRACESHIM_OVERFLOW_SPOOL = 0, /* write the event to the spool (needs spool_dir) */
    TRACESHIM_OVERFLOW_DROP = 1,  /* drop the new event, count it in `dropped` */
    TRACESHIM_OVERFLOW_BLOCK = 2, /* wait in emit until there is room */
} traceshim_overflow;

#define TRACESHIM_MAX_ENDPOINTS 8

/* The defaults of traceshim_options, written here only: traceshim_options_default fills them
 * (shim.c's table of defaults reads these names), and traceshim_create gives a field left 0
 * its default too, except batch_delay_ms (0: a partial batch goes at once) and overflow
 * (0 is TRACESHIM_OVERFLOW_SPOOL, the default). No endpoint given: the default endpoint. */
#define TRACESHIM_DEFAULT_ENDPOINT "tcp://127.0.0.1:7600"
#define TRACESHIM_DEFAULT_QUEUE_EVENTS 65536
#define TRACESHIM_DEFAULT_BATCH_EVENTS 256
#define TRACESHIM_DEFAULT_BATCH_DELAY_MS 2
#define TRACESHIM_DEFAULT_WINDOW 16
#define TRACESHIM_DEFAULT_ACK_TIMEOUT_MS 2000
#define TRACESHIM_DEFAULT_ATTEMPTS 3

typedef struct traceshim_options {
    const char *endpoints[TRACESHIM_MAX_ENDPOINTS]; /* NULL-terminated; none given:
                                                       TRACESHIM_DEFAULT_ENDPOINT */
    const char *service;         /* filled into events without one; may be NULL */
    const char *workflow;        /* default workflow for events without one; may be NULL */
    const char *dri;             /* default DRI for events without one; may be NULL */
    const uint8_t *hmac_key;     /* TP_HMAC_KEY_LEN bytes for prompt.text; may be NULL */
    int keep_prompt_text;        /* keep prompt.text beside its HMAC */
    size_t queue_events;         /* in-memory queue capacity, events */
    size_t batch_events;         /* events per batch */
    unsigned batch_delay_ms;     /* send a partial batch after this */
    unsigned window;             /* unacked batches in flight */
    unsigned ack_timeout_ms;     /* resend a batch after this, x2 per resend up to x32 */
    unsigned attempts;           /* RETRY answers (store full) before a batch goes to the
                                    spool; unanswered batches go there once the
                                    collector has been silent for an ack timeout */
    const char *spool_dir;       /* created 0700 if missing; NULL: no spool */
    traceshim_overflow overflow; /* default SPOOL (DROP when spool_dir is NULL) */
    const tp_limits *limits;     /* NULL = tp_limits_default(); event size checked before sending */
    /* CURVE (docs/security.md): both or neither, 40 Z85 characters each, copied. The
     * collector's public key, and this shim's secret key (its public key is derived). */
    const char *curve_server_key;
    const char *curve_secret_key;
    /* Lines for people about events lost or refused (a damaged spool record,
     * a spool write that failed, an event over the size limit, a refused
     * key, events the collector refused: "the collector refused N event(s)
     * of batch S, the first: REASON"). Called from any thread of the client, without its locks; no
     * newline. NULL: written to stderr prefixed "traceshim: ". Repeated
     * failures are reported 10 times, then at powers of two. */
    void (*log)(void *log_ctx, const char *line);
    void *log_ctx;
} traceshim_options;

/* Fills `o` with the TRACESHIM_DEFAULT_* values above (all pointers NULL). */
void traceshim_options_default(traceshim_options *o);

/* The largest packed event a client accepts under `lim` (NULL: defaults):
 * the smaller of the spool's record limit (64 MiB) and what fits in one
 * batch under lim->batch_max_bytes (less 64 KiB of framing); an event above
 * it could never be spooled or delivered. A client created with a bigger
 * lim->event_max uses this instead (clamped), and emit refuses bigger
 * events (TRACESHIM_EEVENT). */
size_t traceshim_event_max(const tp_limits *lim);

typedef struct traceshim traceshim;

/* Creates a client and starts its background thread. Strings and the key
 * in `o` are copied. With a spool directory: locks it (TRACESHIM_ELOCKED if
 * another live client holds it), reads or creates its stable shim id, and
 * schedules the replay of what a previous client left there.
 * Returns 0 and *out, or TRACESHIM_EINVAL, TRACESHIM_ENOMEM,
 * TRACESHIM_ELOCKED, TRACESHIM_EIO, TRACESHIM_EZMQ with a message for people
 * in err->what (err may be NULL; where stays empty). */
int traceshim_create(const traceshim_options *o, traceshim **out, at_error *err);

/* Emits one event: copies it (tp_event_clone) into the queue and returns;
 * `ev` stays owned by the caller. Before the copy, fills into *ev what the
 * caller may want to know: missing event_id (time-ordered), trace_id,
 * span_id, time_unix_nano, and the default service/workflow/DRI when
 * absent. The rest of tp_event_prepare (secret masking, prompt.text
 * replaced by its HMAC) and the packing run on the background thread,
 * because masking costs more than the whole emit budget; an event is never
 * sent nor spooled unmasked.
 * The event is not validated here: the collector validates every event and
 * names the bad ones in its ack (counted in `rejected`); call
 * tp_event_validate first to know before.
 * Never waits for the network or fsync: under SPOOL and DROP it returns in
 * bounded time (when the queue is full under SPOOL it masks, packs and
 * writes the event to the spool itself); under BLOCK it waits while the
 * queue is full.
 * Returns 0 (queued or spooled), TRACESHIM_EFULL (dropped under DROP),
 * TRACESHIM_EEVENT (prompt.text and no HMAC key; the event packs to more
 * than the limits' event_max: refused here, never queued nor spooled; or,
 * queue full, the event cannot be prepared), TRACESHIM_EIO (queue full and
 * the spool write failed, e.g. disk full: dropped, counted and reported),
 * TRACESHIM_ENOMEM, TRACESHIM_ECLOSED. Thread-safe. */
int traceshim_emit(traceshim *s, tp_event *ev);

/* As traceshim_emit, without the copy: takes ownership of *ev (also on
 * error: the event is then freed) and sets *ev to NULL. The cheapest way to
 * emit. The caller cannot read the filled ids afterwards: read them from a
 * copy, or set them before the call. Thread-safe. */
int traceshim_emit_take(traceshim *s, tp_event **ev);

/* Waits until every event emitted before the call is acked, or until
 * `timeout_ms` passed; in that case what is not acked is written to the
 * spool and fsync'd before returning (it is sent later, or by the next
 * client on the spool directory). Returns 0 when all is acked and the spool
 * is empty, TRACESHIM_ETIMEDOUT otherwise (nothing lost when a spool
 * directory is set; without one, unacked events stay in memory).
 * Thread-safe. */
int traceshim_flush(traceshim *s, int timeout_ms);

/* Counters, monotonic since create. */
typedef struct traceshim_counters {
    uint64_t emitted;          /* events accepted by emit (queued or spooled) */
    uint64_t acked;            /* events acked OK (stored now or found already stored) */
    uint64_t duplicates;       /* of acked: already stored (resends, replays) */
    uint64_t rejected;         /* events the collector refused (bad event or batch) */
    uint64_t retried;          /* batch resends after a timeout or a RETRY ack */
    uint64_t spooled;          /* events written to the spool */
    uint64_t replayed;         /* events read back from the spool and sent again */
    uint64_t dropped;          /* events given up: DROP overflow, a spool write or fsync that
                                  failed (disk full...), closed without a spool */
    uint64_t queued;           /* events now in the in-memory queue (a gauge) */
    uint64_t recovered;        /* events read from spool segments left by an earlier client,
                                  sent by this one: acked + rejected <= emitted + recovered */
    uint64_t lost;             /* events of damaged spool records, skipped on replay */
    uint64_t lost_spans;       /* damaged spool spans whose event count is unknown (each held
                                  at least one event) */
    uint64_t auth_refused;     /* connections on which the collector refused this shim's
                                  CURVE key */
    uint64_t handshake_failed; /* connections whose handshake failed otherwise: a wrong
                                  --server-key, or CURVE on one side only */
    uint64_t set_aside;        /* events too big for the collector (it refused them or closed
                                  the connection on them, alone in a batch): moved to
                                  undeliverable.spool in the spool directory, never resent */
} traceshim_counters;

/* A consistent-enough snapshot (each counter read atomically). Thread-safe. */
void traceshim_counters_get(const traceshim *s, traceshim_counters *out);

/* The shim id sent in every batch (stable for a spool directory).
 * Valid until close. */
const char *traceshim_id(const traceshim *s);

/* Flushes with `timeout_ms` (see traceshim_flush), stops the background
 * thread, closes the socket and the spool, frees the client and sets *s to
 * NULL. Accepts NULL and *s == NULL. Returns the flush result. Must not race
 * with other calls on the client. */
int traceshim_close(traceshim **s, int timeout_ms);

#ifdef __cplusplus
}
#endif
#endif
