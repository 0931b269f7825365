/*
 * fuzz_mask.c - libFuzzer target for the secret masker (proto/mask.h).
 *
 * Input: byte 0 chooses the mode (bit 0: TP_MASK_JSON, bit 1: raw pass only);
 * the rest is the text. Properties checked on every input:
 *  - masking succeeds and returns a NUL-terminated copy of the stated length;
 *  - idempotent: masking the output again finds nothing and changes nothing,
 *    so no secret any rule reports survives in the output;
 *  - valid UTF-8 in gives valid UTF-8 out; valid JSON in gives valid JSON out
 *    in JSON mode;
 *  - the scanner's step count stays linear (<= 64 per byte plus a constant).
 * Owns nothing between runs. Single-threaded.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mask.h"

/* Aborts (a finding for libFuzzer) naming the property that failed. */
#define CHECK(cond, what)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_mask: property failed: %s\n", what);                             \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t k;
        unsigned cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            k = 1;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            k = 2;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            k = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        for (size_t j = 1; j <= k; j++) {
            if (i + j >= n || (s[i + j] & 0xc0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + j] & 0x3f);
        }
        if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += k + 1;
    }
    return 1;
}

static int json_valid(const char *s, size_t n)
{
    json_error_t e;
    json_t *j = json_loadb(s, n, JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &e);
    json_decref(j);
    return j != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    unsigned flags = data[0] & (TP_MASK_JSON | TP_MASK_RAW_ONLY);
    const char *in = (const char *)data + 1;
    size_t len = size - 1;
    char *out = NULL;
    size_t out_len = 0;
    unsigned count = 0;
    uint64_t work = 0;
    CHECK(tp_mask_text_ex(in, len, flags, &out, &out_len, &count, &work) == 0, "masking succeeds");
    CHECK(out && out[out_len] == 0, "output NUL-terminated at its length");
    CHECK(work <= 64 * (uint64_t)len + 4096, "linear work");
    CHECK(count > 0 || (out_len == len && memcmp(out, in, len) == 0),
          "nothing found, nothing changed");

    char *again = NULL;
    size_t again_len = 0;
    unsigned again_count = 0;
    CHECK(tp_mask_text_ex(out, out_len, flags, &again, &again_len, &again_count, NULL) == 0,
          "masking the output succeeds");
    CHECK(again_count == 0 && again_len == out_len && memcmp(again, out, out_len) == 0,
          "idempotent: masked text masks to itself");
    CHECK(!utf8_valid((const unsigned char *)in, len) ||
              utf8_valid((const unsigned char *)out, out_len),
          "valid UTF-8 stays valid");
    CHECK(!(flags & TP_MASK_JSON) || !json_valid(in, len) || json_valid(out, out_len),
          "valid JSON stays valid");
    free(again);
    free(out);
    return 0;
}
