/*
 * http_body.h - a request body read under a size limit, inflated as it arrives when it is
 * gzip (collector/http.c's OTLP bodies).
 *
 * The limit holds on the inflated size as it grows, and on the bytes received, so that a
 * gzip bomb costs at most the limit, never its expansion; past it the rest is dropped.
 * The bodies in flight share a budget of bytes (http_budget), reserved as a body grows.
 * Threading: one body belongs to one request's thread; the budget is atomic.
 */
#ifndef AGENTTRAIL_COLLECTOR_HTTP_BODY_H
#define AGENTTRAIL_COLLECTOR_HTTP_BODY_H

#include <stdatomic.h>
#include <stddef.h>
#include <zlib.h>

#include "atcommon.h"

/* What the bodies of the requests in flight may hold together (--otlp-max-inflight-bytes):
 * each body reserves its bytes here before it holds them and gives them back when freed. */
typedef struct http_budget {
    atomic_size_t used;
    size_t max;
} http_budget;

typedef struct http_body {
    at_buf data;         /* the body so far (inflated); at most max bytes */
    size_t received;     /* bytes received (compressed when gzip) */
    size_t max;          /* the limit */
    http_budget *budget; /* may be NULL */
    size_t reserved;     /* bytes of budget this body holds */
    int gzip, zinit, zdone;
    z_stream z;
    int too_big, bad, busy, nomem; /* sticky: the rest is dropped */
    char why[160];                 /* what is wrong, for the answer */
} http_body;

/* An empty body; gzip: Content-Encoding gzip; budget: shared with the other bodies, or NULL.
 * 0, or -1 when zlib has no memory. */
int http_body_init(http_body *b, int gzip, size_t max, http_budget *budget);

/* Takes n more bytes of the body as they came. Never fails: a body over the limit, bad
 * gzip, over the budget or out of memory is marked (too_big, bad, busy, nomem), its data
 * freed and the rest dropped. */
void http_body_feed(http_body *b, const void *p, size_t n);

/* Reserves `more` bytes of budget beyond the data (what decoding the body will cost).
 * 0, or -1 and the body marked busy (data freed; http_body_finish says 429). */
int http_body_reserve(http_body *b, size_t more);

/* At the end of the body: 0 (data holds it), 413 (over the limit), 400 (bad or truncated
 * gzip), 429 (over the budget) or 503 (out of memory), why saying what. */
int http_body_finish(http_body *b);

/* Frees the data and the zlib stream and gives back its budget; the body may be initialised
 * again. */
void http_body_free(http_body *b);

#endif
