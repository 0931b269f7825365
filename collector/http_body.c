/*
 * http_body.c - request bodies under a limit, gzip inflated as they arrive (see http_body.h).
 *
 * Owns: the body's buffer and its zlib stream. Invariant: data.len <= max at every return;
 * inflate is given at most max + 1 - data.len bytes of output room, so one step can never
 * write more than one byte past the limit, which is how the limit is seen. The body holds
 * budget for data.len plus what it is about to write, reserved before the buffer grows.
 * A failed allocation is "out of memory" (503, retry), never "too big" (413: the exporter
 * would drop the data).
 */
#include "http_body.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define INFLATE_STEP 65536

int http_body_init(http_body *b, int gzip, size_t max, http_budget *budget)
{
    memset(b, 0, sizeof *b);
    b->max = max;
    b->budget = budget;
    b->gzip = gzip;
    if (gzip) {
        if (inflateInit2(&b->z, 16 + MAX_WBITS) != Z_OK) return -1; /* gzip only */
        b->zinit = 1;
    }
    return 0;
}

/* Frees the data and gives back its budget. */
static void drop(http_body *b)
{
    at_buf_free(&b->data);
    if (b->budget && b->reserved) atomic_fetch_sub(&b->budget->used, b->reserved);
    b->reserved = 0;
}

static void too_big(http_body *b)
{
    b->too_big = 1;
    snprintf(b->why, sizeof b->why, "request body over %zu bytes (--otlp-max-body)%s", b->max,
             b->gzip ? " once inflated" : "");
    drop(b);
}

static void bad(http_body *b, const char *what)
{
    b->bad = 1;
    snprintf(b->why, sizeof b->why, "gzip: %s", what);
    drop(b);
}

static void nomem(http_body *b)
{
    b->nomem = 1;
    snprintf(b->why, sizeof b->why, "collector out of memory reading the body; retry");
    drop(b);
}

/* Holds budget for `total` bytes of body; 0, or -1 (marked busy) when the bodies in flight
 * would hold more than the budget. */
static int reserve(http_body *b, size_t total)
{
    if (total <= b->reserved) return 0;
    if (!b->budget) { /* no budget: only the room inflate_some may fill */
        b->reserved = total;
        return 0;
    }
    size_t more = total - b->reserved;
    size_t was = atomic_fetch_add(&b->budget->used, more);
    if (was + more > b->budget->max) {
        atomic_fetch_sub(&b->budget->used, more);
        b->busy = 1;
        snprintf(b->why, sizeof b->why,
                 "OTLP requests in flight would hold over %zu bytes (--otlp-max-inflight-bytes); "
                 "retry",
                 b->budget->max);
        drop(b);
        return -1;
    }
    b->reserved = total;
    return 0;
}

static int dropping(const http_body *b)
{
    return b->too_big || b->bad || b->busy || b->nomem;
}

static void inflate_some(http_body *b, const unsigned char *p, size_t n)
{
    b->z.next_in = (Bytef *)p;
    b->z.avail_in = (uInt)n;
    while (b->z.avail_in > 0 && !dropping(b)) {
        if (b->zdone) {
            bad(b, "data after the end of the stream");
            return;
        }
        size_t left = b->max + 1 - b->data.len;
        if (reserve(b, b->data.len + (left < INFLATE_STEP ? left : INFLATE_STEP)) != 0) return;
        if (at_buf_reserve(&b->data, INFLATE_STEP) != 0) {
            nomem(b);
            return;
        }
        size_t room = b->data.cap - b->data.len;
        if (room > left) room = left;
        if (room > b->reserved - b->data.len) room = b->reserved - b->data.len;
        b->z.next_out = (Bytef *)b->data.data + b->data.len;
        b->z.avail_out = (uInt)room;
        int zr = inflate(&b->z, Z_NO_FLUSH);
        b->data.len += room - b->z.avail_out;
        if (b->data.len > b->max)
            too_big(b);
        else if (zr == Z_STREAM_END)
            b->zdone = 1;
        else if (zr != Z_OK && zr != Z_BUF_ERROR)
            bad(b, b->z.msg ? b->z.msg : "bad stream");
    }
}

void http_body_feed(http_body *b, const void *p, size_t n)
{
    b->received += n;
    if (dropping(b)) return; /* read and dropped */
    if (b->received > b->max) {
        too_big(b);
    } else if (b->gzip) {
        /* zlib takes at most UINT_MAX at once; HTTP hands far smaller pieces */
        inflate_some(b, p, n);
    } else if (reserve(b, b->data.len + n) == 0) {
        at_buf_put(&b->data, p, n);
        if (b->data.failed) nomem(b);
    }
}

int http_body_reserve(http_body *b, size_t more)
{
    size_t total = b->data.len + more;
    return reserve(b, total < more ? SIZE_MAX : total);
}

int http_body_finish(http_body *b)
{
    if (b->gzip && !b->zdone && !dropping(b)) bad(b, "truncated stream");
    return b->too_big ? 413 : b->bad ? 400 : b->busy ? 429 : b->nomem ? 503 : 0;
}

void http_body_free(http_body *b)
{
    if (b->zinit) inflateEnd(&b->z);
    b->zinit = 0;
    drop(b);
}
