/*
 * http_body.c - request bodies under a limit, gzip inflated as they arrive (see http_body.h).
 *
 * Owns: the body's buffer and its zlib stream. Invariant: data.len <= max at every return;
 * inflate is given at most max + 1 - data.len bytes of output room, so one step can never
 * write more than one byte past the limit, which is how the limit is seen.
 */
#include "http_body.h"

#include <stdio.h>
#include <string.h>

#define INFLATE_STEP 65536

int http_body_init(http_body *b, int gzip, size_t max)
{
    memset(b, 0, sizeof *b);
    b->max = max;
    b->gzip = gzip;
    if (gzip) {
        if (inflateInit2(&b->z, 16 + MAX_WBITS) != Z_OK) return -1; /* gzip only */
        b->zinit = 1;
    }
    return 0;
}

static void too_big(http_body *b)
{
    b->too_big = 1;
    snprintf(b->why, sizeof b->why, "request body over %zu bytes (--otlp-max-body)%s", b->max,
             b->gzip ? " once inflated" : "");
    at_buf_free(&b->data);
}

static void bad(http_body *b, const char *what)
{
    b->bad = 1;
    snprintf(b->why, sizeof b->why, "gzip: %s", what);
    at_buf_free(&b->data);
}

static void inflate_some(http_body *b, const unsigned char *p, size_t n)
{
    b->z.next_in = (Bytef *)p;
    b->z.avail_in = (uInt)n;
    while (b->z.avail_in > 0 && !b->too_big && !b->bad) {
        if (b->zdone) {
            bad(b, "data after the end of the stream");
            return;
        }
        if (at_buf_reserve(&b->data, INFLATE_STEP) != 0) {
            too_big(b);
            return;
        }
        size_t room = b->data.cap - b->data.len, left = b->max + 1 - b->data.len;
        if (room > left) room = left;
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
    if (b->too_big || b->bad) return; /* read and dropped */
    if (b->received > b->max) {
        too_big(b);
    } else if (b->gzip) {
        /* zlib takes at most UINT_MAX at once; HTTP hands far smaller pieces */
        inflate_some(b, p, n);
    } else {
        at_buf_put(&b->data, p, n);
        if (b->data.failed) too_big(b);
    }
}

int http_body_finish(http_body *b)
{
    if (b->gzip && !b->zdone && !b->too_big && !b->bad) bad(b, "truncated stream");
    return b->too_big ? 413 : b->bad ? 400 : 0;
}

void http_body_free(http_body *b)
{
    if (b->zinit) inflateEnd(&b->z);
    b->zinit = 0;
    at_buf_free(&b->data);
}
