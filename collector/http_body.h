/*
 * http_body.h - a request body read under a size limit, inflated as it arrives when it is
 * gzip (collector/http.c's OTLP bodies).
 *
 * The limit holds on the inflated size as it grows, and on the bytes received, so that a
 * gzip bomb costs at most the limit, never its expansion; past it the rest is dropped.
 * Threading: one body belongs to one request's thread.
 */
#ifndef AGENTTRAIL_COLLECTOR_HTTP_BODY_H
#define AGENTTRAIL_COLLECTOR_HTTP_BODY_H

#include <stddef.h>
#include <zlib.h>

#include "atcommon.h"

typedef struct http_body {
    at_buf data;     /* the body so far (inflated); at most max bytes */
    size_t received; /* bytes received (compressed when gzip) */
    size_t max;      /* the limit */
    int gzip, zinit, zdone;
    z_stream z;
    int too_big, bad; /* sticky: the rest is dropped */
    char why[160];    /* what is wrong, for the answer */
} http_body;

/* An empty body; gzip: Content-Encoding gzip. 0, or -1 when zlib has no memory. */
int http_body_init(http_body *b, int gzip, size_t max);

/* Takes n more bytes of the body as they came. Never fails: a body over the limit or bad
 * gzip is marked (too_big, bad) and the rest dropped. */
void http_body_feed(http_body *b, const void *p, size_t n);

/* At the end of the body: 0 (data holds it), 413 (over the limit) or 400 (bad or truncated
 * gzip), why saying what. */
int http_body_finish(http_body *b);

/* Frees the data and the zlib stream; the body may be initialised again. */
void http_body_free(http_body *b);

#endif
