/*
 * http.h - trace-collector's HTTP endpoint (libmicrohttpd): POST /v1/traces (OTLP/HTTP, with
 * --otlp-http), GET /metrics (Prometheus text), GET /healthz (docs/http.md).
 *
 * Threading: libmicrohttpd runs a listening thread and one thread per connection; a request
 * blocks its thread until the serving loop acks its events (ingest.h). Start and stop from
 * the main thread.
 */
#ifndef AGENTTRAIL_COLLECTOR_HTTP_H
#define AGENTTRAIL_COLLECTOR_HTTP_H

#include <stddef.h>
#include <sys/socket.h>

#include "ingest.h"
#include "metrics.h"
#include "options.h"

/* An address to listen on: "PORT", ":PORT" (both 127.0.0.1), "IPV4:PORT", "localhost:PORT",
 * "[IPV6]:PORT". PORT 0 takes a free port (logged). */
typedef struct http_addr {
    struct sockaddr_storage ss;
    socklen_t len;
    int loopback;
} http_addr;

/* 0 and *out (out may be NULL: only check), or -1 with why saying what is wrong. */
int http_addr_parse(const char *s, http_addr *out, char *why, size_t whylen);

typedef struct http_server http_server;

/* Starts the servers the options ask for: --otlp-http (OTLP, metrics, health; g must not be
 * NULL then) and --http (metrics, health; one server when both name the same address).
 * Logs each address served ("http: listening on ADDR:PORT (...)") and a warning for a
 * non-loopback one. Returns 0 and *out (NULL when neither option is given), or 3 when an
 * address cannot be bound (logged). */
int http_start(const collector_config *cfg, metrics *m, ingest *g, http_server **out);

/* Stops serving: waits for the running requests (each gives up waiting for acks once
 * ingest_stop was called) and closes the sockets. Accepts NULL; sets *h to NULL. */
void http_stop(http_server **h);

#endif
