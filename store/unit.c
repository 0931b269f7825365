/*
 * unit.c - the stored unit: a block of events, compressed (the dictionaries it is compressed
 * with are dict.c's).
 *
 * Owns: the unit format (docs/store-format.md "Units"): version byte, codec
 * byte, dictionary id (4 bytes BE), SHA-256 of the payload (32 bytes), then
 * the payload: a zstd frame without magic number, dictionary id or checksum
 * (the unit header carries the id and a stronger hash), or the raw bytes when
 * compression does not pay. Between the two, uncompressed: the event count
 * (1 byte) and each event's leaf hash (32 bytes). Decompressed, the payload
 * is a varint length per event, then the events' stored bytes back to back.
 *
 * Layer: codec (docs/store-format.md "Layering"): calls the core (store.c) and dict.c only.
 * Invariants: a unit names the dictionary it was written with forever.
 *
 * Threading: uses the zstd and digest contexts of the ts_store (one thread).
 */
#define ZSTD_STATIC_LINKING_ONLY
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "store_internal.h"

int ts_sha256(ts_store *s, int prefix, const uint8_t *data, size_t len, uint8_t out[32])
{
    uint8_t p = (uint8_t)prefix, scratch[AT_SHA256_LEN];
    int rc = prefix >= 0 ? at_sha256_update(s->sha, &p, 1) : 0;
    if (!rc) rc = at_sha256_update(s->sha, data, len);
    /* Always finalised, so that a failure leaves the context reset for the next message. */
    int frc = at_sha256_final(s->sha, rc ? scratch : out);
    if (rc || frc) return ts_fail(s, TS_ENOMEM, "store %s: SHA-256 failed", s->dir);
    return 0;
}

/* ---- units ------------------------------------------------------------ */

static int grow(ts_store *s, uint8_t **buf, size_t *cap, size_t need)
{
    if (at_grow((void **)buf, cap, need, 1, 4096))
        return ts_fail(s, TS_ENOMEM, "store %s: out of memory (%zu bytes)", s->dir, need);
    return 0;
}

static size_t varint_put(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

int ts_varint_get(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

/* Reads a varint that must fit 32 bits. 0 or -1. */
static int varint_get(const uint8_t **p, const uint8_t *end, uint32_t *out)
{
    uint64_t v = 0;
    if (ts_varint_get(p, end, &v) || v > UINT32_MAX) return -1;
    *out = (uint32_t)v;
    return 0;
}

int ts_block_encode(ts_store *s, const uint8_t *data, const uint32_t *lens,
                    const uint8_t (*leaves)[32], size_t n, const uint8_t **out, size_t *outlen)
{
    /* The payload before compression: a varint length per event, the events. */
    size_t datalen = 0;
    for (size_t i = 0; i < n; i++)
        datalen += lens[i];
    size_t rawlen = 5 * n + datalen;
    size_t at_payload = TS_UNIT_LEAVES + 32 * n;
    int rc = grow(s, &s->raw_buf, &s->raw_cap, rawlen);
    if (!rc) rc = grow(s, &s->zbuf, &s->zcap, at_payload + ZSTD_compressBound(rawlen));
    if (rc) return rc;
    uint8_t *raw = s->raw_buf;
    size_t at = 0;
    for (size_t i = 0; i < n; i++)
        at += varint_put(raw + at, lens[i]);
    memcpy(raw + at, data, datalen);
    rawlen = at + datalen;
    uint8_t *h = s->zbuf;
    h[TS_UNIT_HEADER] = (uint8_t)n;
    memcpy(h + TS_UNIT_LEAVES, leaves, 32 * n);
    uint8_t *payload = h + at_payload;
    size_t cap = s->zcap - at_payload;
    size_t z = ZSTD_compress2(s->cctx, payload, cap, raw, rawlen);
    if (ZSTD_isError(z))
        return ts_fail(s, TS_EZSTD, "store %s: compressing a block: %s", s->dir,
                       ZSTD_getErrorName(z));
    h[0] = TS_UNIT_VERSION;
    if (z < rawlen) {
        h[1] = TS_CODEC_ZSTD;
        ts_put_be32(h + 2, s->dict_current);
    } else {
        h[1] = TS_CODEC_RAW;
        ts_put_be32(h + 2, 0);
        memcpy(payload, raw, rawlen);
        z = rawlen;
    }
    if ((rc = ts_sha256(s, -1, h + TS_UNIT_HEADER, at_payload - TS_UNIT_HEADER + z, h + 6)))
        return rc;
    ts_dict_observe(s, rawlen, z);
    *out = h;
    *outlen = at_payload + z;
    return 0;
}

/* The event count of a unit, or 0 when the unit is too short for its leaves. */
static uint32_t unit_count(const uint8_t *unit, size_t len)
{
    if (len < TS_UNIT_LEAVES) return 0;
    uint32_t n = unit[TS_UNIT_HEADER];
    if (n == 0 || n > TS_BLOCK_MAX_EVENTS || len < TS_UNIT_LEAVES + 32 * (size_t)n) return 0;
    return n;
}

int ts_unit_leaf(const uint8_t *unit, size_t len, uint64_t first, uint64_t li, uint8_t out[32])
{
    uint32_t n = unit_count(unit, len);
    if (n == 0 || unit[0] != TS_UNIT_VERSION) return TS_ECORRUPT;
    if (li < first || li - first >= n) return TS_ENOTFOUND;
    memcpy(out, unit + TS_UNIT_LEAVES + 32 * (size_t)(li - first), 32);
    return 0;
}

/* Checks a unit's header and hash and leaves its decompressed payload in b->buf. */
static int unit_payload(ts_store *s, MDB_txn *txn, const uint8_t *unit, size_t len, int verify,
                        ts_block *b)
{
    if (len < TS_UNIT_HEADER)
        return ts_fail(s, TS_ECORRUPT, "unit of %zu bytes is shorter than its header", len);
    if (unit[0] != TS_UNIT_VERSION)
        return ts_fail(s, TS_ECORRUPT, "unit format version %u is unknown (this build knows %u)",
                       unit[0], TS_UNIT_VERSION);
    uint32_t count = unit_count(unit, len);
    if (count == 0)
        return ts_fail(s, TS_ECORRUPT, "unit of %zu bytes: bad event count or leaf hashes cut",
                       len);
    if (verify) {
        uint8_t h[32];
        int rc = ts_sha256(s, -1, unit + TS_UNIT_HEADER, len - TS_UNIT_HEADER, h);
        if (rc) return rc;
        if (memcmp(h, unit + 6, 32) != 0)
            return ts_fail(s, TS_ECORRUPT, "unit SHA-256 does not match its payload");
    }
    memcpy(b->leaves, unit + TS_UNIT_LEAVES, 32 * (size_t)count);
    b->count = count;
    const uint8_t *payload = unit + TS_UNIT_LEAVES + 32 * (size_t)count;
    size_t plen = len - TS_UNIT_LEAVES - 32 * (size_t)count;
    uint32_t id = ts_get_be32(unit + 2);
    if (unit[1] == TS_CODEC_RAW) {
        int rc = grow(s, &b->buf, &b->cap, plen ? plen : 1);
        if (rc) return rc;
        memcpy(b->buf, payload, plen);
        b->len = plen;
        return 0;
    }
    if (unit[1] != TS_CODEC_ZSTD)
        return ts_fail(s, TS_ECORRUPT, "unit codec %u is unknown", unit[1]);
    ZSTD_frameHeader fh;
    size_t r = ZSTD_getFrameHeader_advanced(&fh, payload, plen, ZSTD_f_zstd1_magicless);
    /* A block holds at most TS_BLOCK_MAX_EVENTS events of at most event_max bytes. */
    unsigned long long most = (unsigned long long)s->limits.event_max * 2 * TS_BLOCK_MAX_EVENTS;
    if (r != 0 || fh.frameContentSize == ZSTD_CONTENTSIZE_UNKNOWN || fh.frameContentSize > most)
        return ts_fail(s, TS_ECORRUPT, "unit zstd frame header is unreadable");
    ts_dict *d = NULL;
    if (id && !(d = ts_dict_for_read(s, txn, id)))
        return ts_fail(s, TS_ECORRUPT, "unit names dictionary %u, which is not in meta", id);
    int rc = grow(s, &b->buf, &b->cap, fh.frameContentSize ? fh.frameContentSize : 1);
    if (rc) return rc;
    ZSTD_DCtx *dc = s->dctx;
    ZSTD_DCtx_reset(dc, ZSTD_reset_session_only);
    r = ZSTD_DCtx_setParameter(dc, ZSTD_d_format, ZSTD_f_zstd1_magicless);
    if (!ZSTD_isError(r)) r = ZSTD_DCtx_refDDict(dc, d ? d->ddict : NULL);
    if (!ZSTD_isError(r)) r = ZSTD_decompressDCtx(dc, b->buf, b->cap, payload, plen);
    if (ZSTD_isError(r) || r != fh.frameContentSize)
        return ts_fail(s, TS_ECORRUPT, "unit does not decompress: %s",
                       ZSTD_isError(r) ? ZSTD_getErrorName(r) : "wrong length");
    b->len = r;
    return 0;
}

int ts_block_decode(ts_store *s, MDB_txn *txn, uint64_t first, const uint8_t *unit, size_t len,
                    int verify, ts_block *b)
{
    b->first = UINT64_MAX;
    b->count = 0;
    int rc = unit_payload(s, txn, unit, len, verify, b);
    if (rc) return rc;
    const uint8_t *p = b->buf, *end = b->buf + b->len;
    uint32_t count = b->count;
    b->count = 0;
    if (at_grow((void **)&b->off, &b->offcap, (size_t)count + 1, sizeof *b->off, 64))
        return ts_fail(s, TS_ENOMEM, "store %s: out of memory", s->dir);
    uint64_t at = 0;
    for (uint32_t i = 0; i < count; i++) {
        uint32_t n;
        if (varint_get(&p, end, &n))
            return ts_fail(s, TS_ECORRUPT, "block: bad length of event %u", i);
        b->off[i] = (uint32_t)at;
        at += n;
    }
    size_t hdr = (size_t)(p - b->buf);
    if (at != b->len - hdr)
        return ts_fail(s, TS_ECORRUPT, "block: event lengths add up to %llu, not %zu",
                       (unsigned long long)at, b->len - hdr);
    for (uint32_t i = 0; i < count; i++)
        b->off[i] += (uint32_t)hdr;
    b->off[count] = (uint32_t)b->len;
    b->first = first;
    b->count = count;
    return 0;
}

int ts_block_event(const ts_block *b, uint64_t li, const uint8_t **buf, size_t *len)
{
    if (b->first == UINT64_MAX || li < b->first || li - b->first >= b->count) return TS_ENOTFOUND;
    size_t i = (size_t)(li - b->first);
    *buf = b->buf + b->off[i];
    *len = b->off[i + 1] - b->off[i];
    return 0;
}

void ts_block_free(ts_block *b)
{
    free(b->buf);
    free(b->off);
    memset(b, 0, sizeof *b);
    b->first = UINT64_MAX;
}

int ts_block_find(MDB_cursor *c, uint64_t li, uint64_t *first, MDB_val *unit)
{
    uint8_t key[8];
    ts_put_be64(key, li);
    MDB_val k = {8, key};
    int rc = mdb_cursor_get(c, &k, unit, MDB_SET_RANGE);
    if (rc == 0 && k.mv_size == 8 && ts_get_be64(k.mv_data) == li) {
        *first = li;
        return 0;
    }
    if (rc == MDB_NOTFOUND)
        rc = mdb_cursor_get(c, &k, unit, MDB_LAST);
    else if (rc == 0)
        rc = mdb_cursor_get(c, &k, unit, MDB_PREV);
    if (rc) return rc;
    if (k.mv_size != 8) return MDB_NOTFOUND;
    *first = ts_get_be64(k.mv_data);
    return *first <= li ? 0 : MDB_NOTFOUND;
}
