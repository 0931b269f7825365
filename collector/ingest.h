/*
 * ingest.h - OTLP/HTTP requests into the collector's own pipeline: map the body to events
 * (libtraceotlp), send them as batches on an inproc DEALER to the serving loop's second
 * ROUTER (server.c, COLLECTOR_OTLP_ENDPOINT) and wait for its acks, so that an OTLP request
 * is answered 200 only once every accepted span is durable, exactly as a ZeroMQ batch.
 *
 * Threading: ingest_handle is called from many HTTP threads at once; the DEALER sockets are
 * in a pool under a mutex (a ZeroMQ socket is used by one thread at a time). Open and close
 * from the main thread.
 */
#ifndef AGENTTRAIL_COLLECTOR_INGEST_H
#define AGENTTRAIL_COLLECTOR_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "metrics.h"
#include "options.h"
#include "traceotlp.h"

typedef struct ingest ingest;

/* What to answer an OTLP request. body (malloc'd, may be NULL) is in the request's format:
 * an ExportTraceServiceResponse for 200, a google.rpc.Status otherwise. retry_after is in
 * seconds (0: no Retry-After header). */
typedef struct ingest_answer {
    int status;
    int retry_after;
    uint8_t *body;
    size_t len;
} ingest_answer;

/* Loads --owners (errors name FILE:LINE: returns 2, logged) and the HMAC key (--hmac-key-file,
 * else STORE/otlp-hmac.key, created 0600 on first start: returns 3 when neither works), and
 * prepares the DEALER pool in zctx (the collector's context, where the inproc ROUTER is
 * bound). 0 and *out. */
int ingest_open(const collector_config *cfg, void *zctx, metrics *m, ingest **out);

/* Maps, stores and answers one request body (already inflated). Never fails: every outcome
 * is an answer (400 undecodable, 413 too many spans, 503 store full / commit failed / no ack
 * in time, 200 with partial_success). Thread-safe. */
void ingest_handle(ingest *g, const uint8_t *body, size_t len, otlp_format fmt, ingest_answer *out);

/* A google.rpc.Status {code, message} in fmt, for the answers that are not 200. Returns a
 * malloc'd body in *out / *len (NULL when out of memory). */
void ingest_status_body(otlp_format fmt, int grpc_code, const char *message, uint8_t **out,
                        size_t *len);

/* From now on requests waiting for acks give up at once (503): the loop has stopped. */
void ingest_stop(ingest *g);

/* Closes the DEALERs (no request may be running); accepts NULL; sets *g to NULL. */
void ingest_close(ingest **g);

#endif
