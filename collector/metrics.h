/*
 * metrics.h - trace-collector's counters, rendered as Prometheus text for GET /metrics,
 * and the store's health for GET /healthz.
 *
 * Owns: C11 atomic counters and histograms, a small table of the ZeroMQ peers seen
 * recently, the last store snapshot and health. The serving loop (server.c) and the HTTP
 * threads (http.c, ingest.c) update them; any thread renders them.
 * Threading: every function is safe from any thread at once (atomics; the peer table has
 * its own mutex).
 */
#ifndef AGENTTRAIL_COLLECTOR_METRICS_H
#define AGENTTRAIL_COLLECTOR_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "atcommon.h"

typedef struct metrics metrics;

/* Batch outcomes, as acked. */
enum { METRICS_BATCH_OK, METRICS_BATCH_REJECTED, METRICS_BATCH_RETRY, METRICS_BATCH_COUNT };

/* The store's health after the last commit. */
enum { METRICS_STORE_OK, METRICS_STORE_FULL, METRICS_STORE_FAILING };

/* The result of the spans of OTLP requests. */
enum { METRICS_SPAN_STORED, METRICS_SPAN_REJECTED, METRICS_SPAN_NOT_AI, METRICS_SPAN_COUNT };

/* A new set of zeroed counters, or NULL when out of memory. */
metrics *metrics_create(void);
/* Accepts NULL and *m == NULL; sets *m to NULL. */
void metrics_destroy(metrics **m);

/* Events of committed batches: newly stored and already stored (duplicates). */
void metrics_add_events(metrics *m, uint64_t stored, uint64_t duplicates);
/* An event rejected, classed by the TP_E* code that refused it, or conflict = 1 for an
 * event_id already stored with other content. */
void metrics_add_rejected(metrics *m, int tp_code, int conflict);
/* A batch acked with METRICS_BATCH_*. */
void metrics_add_batch(metrics *m, int outcome);
/* A group commit of `events` events that took `ns`; `store` is METRICS_STORE_* after it,
 * `why` (may be NULL) the one-line reason when not OK. */
void metrics_add_commit(metrics *m, uint64_t ns, size_t events, int store, const char *why);
/* The store's size on disk and map size (ts_stat after a commit). */
void metrics_set_store(metrics *m, uint64_t bytes_on_disk, uint64_t map_size, uint64_t events);
/* An HTTP answer with this status code. */
void metrics_add_http(metrics *m, int status);
/* OTLP spans recognised per dialect (otlp_dialect order, OTLP_DIALECT_COUNT values) and
 * spans per result (METRICS_SPAN_*). */
void metrics_add_spans(metrics *m, const size_t *by_dialect, size_t ndialects,
                       const uint64_t result[METRICS_SPAN_COUNT]);
/* A batch from the ZeroMQ peer with this routing id (a connection of a shim). */
void metrics_peer_seen(metrics *m, const uint8_t *rid, size_t len);

/* 1 and "" while the last commit succeeded (or none was tried), else 0 and the reason
 * ("store full: ...") in why. */
int metrics_healthy(metrics *m, char *why, size_t whylen);

/* Appends the Prometheus text exposition (version 0.0.4) of every metric to out. 0 or
 * AT_ENOMEM. */
int metrics_render(metrics *m, at_buf *out);

#endif
