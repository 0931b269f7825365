/*
 * fuzz_http_body.c - libFuzzer target for the collector's request bodies
 * (collector/http_body.h): untrusted bytes, raw or gzip, fed in pieces of untrusted sizes
 * under a small limit. Properties: never crashes or leaks; the body never holds more than
 * the limit; the answer is 0, 400 or 413; a raw body under the limit comes out exactly as
 * fed, and one over it is 413; a gzip body that zlib inflates in one go within the limit
 * comes out the same whatever the pieces.
 * Input: byte 0 = gzip (bit 0) and the limit (bits 1..7, times 97, plus 1); byte 1 seeds
 * the piece sizes; the rest is the body.
 * Owns nothing between runs. Single-threaded.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "http_body.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* zlib in one call, as the reference: 0 and the output, or -1 (bad, or over max). */
static int reference_inflate(const uint8_t *in, size_t n, size_t max, uint8_t *out, size_t *outlen)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) return -1;
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)(max + 1);
    int zr = inflate(&z, Z_FINISH);
    *outlen = (size_t)(max + 1) - z.avail_out;
    int ok = zr == Z_STREAM_END && z.avail_in == 0 && *outlen <= max;
    inflateEnd(&z);
    return ok ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    int gzip = data[0] & 1;
    size_t max = (size_t)(data[0] >> 1) * 97 + 1;
    unsigned seed = data[1];
    const uint8_t *body = data + 2;
    size_t n = size - 2;
    http_body b;
    if (http_body_init(&b, gzip, max, NULL) != 0) abort();
    for (size_t at = 0; at < n;) {
        seed = seed * 1103515245u + 12345u;
        size_t piece = 1 + (seed >> 16) % 300;
        if (piece > n - at) piece = n - at;
        http_body_feed(&b, body + at, piece);
        at += piece;
        if (b.data.len > max) abort();
    }
    int st = http_body_finish(&b);
    if (st != 0 && st != 400 && st != 413) abort();
    if (!gzip) {
        if ((n <= max) != (st == 0)) abort();
        if (st == 0 && (b.data.len != n || (n && memcmp(b.data.data, body, n) != 0))) abort();
    } else if (n <= max) {
        uint8_t *ref = malloc(max + 1);
        size_t rlen = 0;
        if (!ref) abort();
        if (reference_inflate(body, n, max, ref, &rlen) == 0 &&
            (st != 0 || b.data.len != rlen || (rlen && memcmp(b.data.data, ref, rlen) != 0)))
            abort();
        free(ref);
    }
    http_body_free(&b);
    return 0;
}
