/*
 * proto_crypto.c - ids, the prompt HMAC, the organisation key file, and
 * tp_event_prepare (what the shim does to an event before it leaves).
 *
 * Owns: nothing global; OpenSSL's random source is the only shared state.
 * OpenSSL is included here only, so its errors become TP_ECRYPTO here.
 *
 * Invariants: a key is exactly 32 bytes read from 64 hex digits; key bytes on
 * the stack are wiped with OPENSSL_cleanse before returning.
 *
 * Threading: reentrant (OpenSSL 3 RAND and HMAC are thread-safe).
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mask.h"
#include "proto_internal.h"
#include "traceproto.h"

#define KEYGEN_HINT "make one with `trace-shim keygen --hmac -o FILE`"

int tp_id_random(uint8_t *out, size_t n)
{
    if (n == 0) return TP_OK;
    for (int tries = 0; tries < 8; tries++) {
        if (RAND_bytes(out, (int)n) != 1) return TP_ECRYPTO;
        for (size_t i = 0; i < n; i++)
            if (out[i]) return TP_OK;
    }
    return TP_ECRYPTO;
}

int tp_id_event(uint8_t out[16])
{
    uint64_t ms = tp_now_unix_nano() / 1000000u;
    for (int i = 0; i < 6; i++)
        out[i] = (uint8_t)(ms >> (8 * (5 - i)));
    return RAND_bytes(out + 6, 10) == 1 ? TP_OK : TP_ECRYPTO;
}

int tp_hmac_sha256(const uint8_t *key, size_t keylen, const uint8_t *msg, size_t msglen,
                   uint8_t out[32])
{
    static const uint8_t empty[1] = {0};
    unsigned int outlen = 0;
    if (keylen > INT32_MAX) return TP_ECRYPTO;
    if (!HMAC(EVP_sha256(), keylen ? key : empty, (int)keylen, msglen ? msg : empty, msglen, out,
              &outlen) ||
        outlen != 32)
        return TP_ECRYPTO;
    return TP_OK;
}

int tp_hmac_key_load(const char *path, uint8_t key[TP_HMAC_KEY_LEN], at_error *err)
{
    const char *where = path ? path : "(no path)";
    if (!path || !*path) {
        at_error_set(err, "hmac key", "no key file given; " KEYGEN_HINT);
        return TP_EKEY;
    }
    struct stat st;
    at_error open_err;
    int fd = tp_file_open_regular(path, &st, &open_err); /* a FIFO must not block */
    if (fd < 0) {
        const char *why = open_err.what;
        const char *reason = strncmp(why, path, strlen(path)) == 0 ? why + strlen(path) + 2 : why;
        at_error_set(err, where, "HMAC key file: %s; " KEYGEN_HINT, reason);
        return TP_EKEY;
    }
    /* 64 hex digits, an optional newline, and one byte more to detect extra content. */
    char buf[67];
    size_t n = 0;
    while (n < sizeof buf) {
        ssize_t r = read(fd, buf + n, sizeof buf - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            at_error_set(err, where, "cannot read the HMAC key file: %s", strerror(e));
            return TP_EKEY;
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    close(fd);
    int rc = TP_OK;
    if (n > 65 || (n == 65 && buf[64] != '\n')) {
        at_error_set(err, where,
                     "an HMAC key file holds exactly 64 hex digits and an optional newline, "
                     "this one is longer; " KEYGEN_HINT);
        rc = TP_EKEY;
    } else if (n < 64) {
        at_error_set(
            err, where,
            "an HMAC key file holds exactly 64 hex digits, this one has %zu bytes; " KEYGEN_HINT,
            n);
        rc = TP_EKEY;
    } else {
        for (size_t i = 0; i < 32; i++) {
            int hi = at_hex_digit(buf[2 * i], true), lo = at_hex_digit(buf[2 * i + 1], true);
            if (hi < 0 || lo < 0) {
                at_error_set(err, where,
                             "byte %zu is not a hex digit; an HMAC key file holds exactly 64 hex "
                             "digits; " KEYGEN_HINT,
                             hi < 0 ? 2 * i : 2 * i + 1);
                rc = TP_EKEY;
                break;
            }
            key[i] = (uint8_t)(hi << 4 | lo);
        }
    }
    OPENSSL_cleanse(buf, sizeof buf);
    if (rc != TP_OK) OPENSSL_cleanse(key, TP_HMAC_KEY_LEN);
    return rc;
}

static int set_random_id(protobuf_c_boolean *has, ProtobufCBinaryData *d, size_t n, bool event)
{
    uint8_t *p = malloc(n);
    if (!p) return TP_ENOMEM;
    int rc = event ? tp_id_event(p) : tp_id_random(p, n);
    if (rc != TP_OK) {
        free(p);
        return rc;
    }
    free(d->data);
    d->data = p;
    d->len = n;
    *has = 1;
    return TP_OK;
}

static int hash_prompt(Agenttrail__V1__Prompt *p, const uint8_t *key, int keep_text, at_error *err)
{
    if (!key) {
        at_error_set(err, "prompt.text",
                     "no HMAC key configured to hash it; " KEYGEN_HINT
                     " and pass --hmac-key-file FILE or set AGENTTRAIL_HMAC_KEY_FILE");
        return TP_EKEY;
    }
    uint8_t mac[32];
    int rc = tp_hmac_sha256(key, TP_HMAC_KEY_LEN, (const uint8_t *)p->text, strlen(p->text), mac);
    if (rc != TP_OK) {
        at_error_set(err, "prompt.text", "HMAC-SHA256 failed in OpenSSL");
        return rc;
    }
    if (!p->has_hmac_sha256 || p->hmac_sha256.len != 32) {
        uint8_t *d = malloc(32);
        if (!d) return TP_ENOMEM;
        free(p->hmac_sha256.data);
        p->hmac_sha256.data = d;
        p->hmac_sha256.len = 32;
        p->has_hmac_sha256 = 1;
    }
    memcpy(p->hmac_sha256.data, mac, 32);
    if (!keep_text) {
        free(p->text);
        p->text = NULL;
    }
    return TP_OK;
}

int tp_event_prepare(tp_event *ev, const uint8_t *key, int keep_text, at_error *err)
{
    int rc = TP_OK;
    if (!ev->has_event_id) rc = set_random_id(&ev->has_event_id, &ev->event_id, 16, true);
    if (rc == TP_OK && !ev->has_trace_id)
        rc = set_random_id(&ev->has_trace_id, &ev->trace_id, 16, false);
    if (rc == TP_OK && !ev->has_span_id)
        rc = set_random_id(&ev->has_span_id, &ev->span_id, 8, false);
    if (rc != TP_OK) {
        at_error_set(err, "-", "cannot generate ids: %s", tp_strerror(rc));
        return rc;
    }
    if (!ev->has_time_unix_nano) {
        ev->has_time_unix_nano = 1;
        ev->time_unix_nano = tp_now_unix_nano();
    }
    if (ev->stored) {
        protobuf_c_message_free_unpacked(&ev->stored->base, NULL);
        ev->stored = NULL;
    }
    /* A kept text already hashed (a second prepare, as trace-shim's judge then
     * libtraceshim do) is masked text now: its HMAC stays the first one. */
    if (ev->prompt && ev->prompt->text && ev->prompt->text[0] &&
        !(keep_text && ev->prompt->has_hmac_sha256 && ev->prompt->hmac_sha256.len == 32)) {
        rc = hash_prompt(ev->prompt, key, keep_text, err);
        if (rc != TP_OK) return rc;
    }
    /* Secrets are masked before anything leaves the process (mask.h); the
     * HMAC above is of the text as given. On failure (a secret in an exact
     * field: err names it) the caller withholds. */
    return tp_mask_event(ev, NULL, err);
}
