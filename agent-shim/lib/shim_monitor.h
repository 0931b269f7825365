/*
 * shim_monitor.h - what the shim's DEALER socket says about its connections
 * (internal to libtraceshim).
 *
 * Responsibility: a ZeroMQ socket monitor on the shim's socket, read by the
 * background thread, so that the client can tell a collector that refuses
 * its CURVE key (ZMQ_EVENT_HANDSHAKE_FAILED_AUTH: the ZAP handler said no)
 * or fails the handshake from one that is not running, and can see the
 * connection being closed while batches are in flight.
 * Ownership: the PAIR socket returned belongs to the caller, who ends it
 * with shim_monitor_stop (never a bare zmq_close) before the monitored
 * socket is closed.
 * Threading: start from the thread that owns the monitored socket, before
 * it connects; drain from one thread.
 */
#ifndef AGENTTRAIL_SHIM_MONITOR_H
#define AGENTTRAIL_SHIM_MONITOR_H

#include <stdint.h>

typedef struct shim_conn_events {
    uint64_t connected;        /* handshakes that succeeded */
    uint64_t auth_refused;     /* the collector refused this shim's key */
    uint64_t handshake_failed; /* other handshake failures (wrong server key, protocol) */
    uint64_t disconnected;     /* connections closed */
    int last_status;           /* ZAP status code of the last refusal (400, 500...) */
    int up;                    /* the last of those two events: 1 handshake succeeded, 0 closed */
} shim_conn_events;

/* Starts monitoring `sock` of context `zctx`; returns the PAIR socket to
 * poll for ZMQ_POLLIN, or NULL (errno set) when monitoring is unavailable. */
void *shim_monitor_start(void *zctx, void *sock);

/* Reads every pending monitor event into *ev (adds to its counts). */
void shim_monitor_drain(void *pair, shim_conn_events *ev);

/* Stops monitoring `sock` and closes *pair (may be NULL; set to NULL). Call
 * it while `sock` is still open, from the thread that owns `sock`. */
void shim_monitor_stop(void *sock, void **pair);

#endif
