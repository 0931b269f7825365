/*
 * server.h - trace-collector's serving loop: ROUTER socket, batch decoding
 * and validation, group commit through libtracestore, durable acks.
 *
 * Threading: one thread does everything (receive, validate, commit, ack),
 * for the ZeroMQ shims and the OTLP/HTTP threads alike;
 * see docs/pipeline.md for why. The stop flag is written by a signal handler
 * and read by the loop.
 */
#ifndef AGENTTRAIL_COLLECTOR_SERVER_H
#define AGENTTRAIL_COLLECTOR_SERVER_H

#include <signal.h>

#include "metrics.h"
#include "options.h"

/* Where the OTLP/HTTP threads send their batches (collector/ingest.c), in the
 * collector's ZeroMQ context; bound only with --otlp-http. */
#define COLLECTOR_OTLP_ENDPOINT "inproc://otlp-http"

typedef struct collector collector;

/* Opens the store (creating it) and binds every endpoint. `m` (borrowed, must
 * outlive the collector) receives the counters of /metrics. Returns 0 and *out,
 * or 3 (store error, e.g. another collector holds it, or socket error),
 * after logging what went wrong and what to do. */
int collector_open(const collector_config *cfg, metrics *m, collector **out);

/* The ZeroMQ context, for the DEALERs of ingest.c (inproc needs the same one). */
void *collector_zmq_context(collector *c);

/* Serves until *stop becomes non-zero, then stops reading, commits what was
 * received, acks it and returns 0. Store errors are answered with RETRY and
 * logged; they never stop the loop. */
int collector_run(collector *c, volatile sig_atomic_t *stop);

/* Asks the serving loop to reload the --allow file (SIGHUP). Only sets a
 * flag: async-signal-safe. */
void collector_request_reload(void);

/* Closes the socket (waiting up to 2 s for the last acks to leave) and the
 * store; accepts NULL; sets *c to NULL. */
void collector_close(collector **c);

#endif
