/*
 * unit.c - the stored unit (a block of events, compressed) and the
 * dictionaries.
 *
 * Owns: the unit format (docs/store-format.md "Units"): version byte, codec
 * byte, dictionary id (4 bytes BE), SHA-256 of the payload (32 bytes), then
 * the payload: a zstd frame without magic number, dictionary id or checksum
 * (the unit header carries the id and a stronger hash), or the raw bytes when
 * compression does not pay. Between the two, uncompressed: the event count
 * (1 byte) and each event's leaf hash (32 bytes). Decompressed, the payload
 * is a varint length per event, then the events' stored bytes back to back. Also the dictionaries
 * in meta ("dict" + id BE32
 * -> ZDICT bytes, "dict_current" -> id BE32, "dict_trained_at" -> BE64) and
 * the training policy: a first dictionary at TS_TRAIN_FIRST stored events, a
 * larger one at TS_TRAIN_SECOND, then a new one whenever the compression ratio
 * drifts more than 25% from what the current one achieved.
 *
 * Invariants: a unit names the dictionary it was written with forever;
 * dictionaries are never deleted or changed once committed.
 *
 * Threading: uses the zstd and digest contexts of the ts_store (one thread).
 */
#define ZSTD_STATIC_LINKING_ONLY
#define ZDICT_STATIC_LINKING_ONLY
#include <stdlib.h>
#include <string.h>

#include <zdict.h>
#include <zstd.h>

#include "store_internal.h"

#define TS_ZSTD_LEVEL 3
#define TS_TRAIN_FIRST 1000u
#define TS_TRAIN_SECOND 20000u
#define TS_TRAIN_SAMPLES 20000u
#define TS_DICT_MAX (110u * 1024u)
#define TS_DRIFT_WINDOW 20000u

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

static ts_dict *dict_find(ts_store *s, uint32_t id)
{
    for (size_t i = 0; i < s->ndicts; i++)
        if (s->dicts[i].id == id) return &s->dicts[i];
    return NULL;
}

static void dict_key(uint8_t key[8], uint32_t id)
{
    memcpy(key, "dict", 4);
    ts_put_be32(key + 4, id);
}

/* Sets the compression parameters and the dictionary on the writer's CCtx. */
static int cctx_setup(ts_store *s)
{
    ZSTD_CCtx *c = s->cctx;
    ZSTD_CCtx_reset(c, ZSTD_reset_session_and_parameters);
    size_t r = ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, TS_ZSTD_LEVEL);
    if (!ZSTD_isError(r)) r = ZSTD_CCtx_setParameter(c, ZSTD_c_format, ZSTD_f_zstd1_magicless);
    if (!ZSTD_isError(r)) r = ZSTD_CCtx_setParameter(c, ZSTD_c_dictIDFlag, 0);
    if (!ZSTD_isError(r)) r = ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 0);
    if (!ZSTD_isError(r)) r = ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 1);
    /* Literals stay uncompressed (no Huffman table per frame): reading a block then costs
     * ~17% fewer instructions, which took the trace query's median from SQLite's to 1.2x
     * better than it, for 1.3% more bytes (docs/store-format.md). */
    if (!ZSTD_isError(r))
        r = ZSTD_CCtx_setParameter(c, ZSTD_c_literalCompressionMode, ZSTD_ps_disable);
    ts_dict *d = s->dict_current ? dict_find(s, s->dict_current) : NULL;
    if (!ZSTD_isError(r)) r = ZSTD_CCtx_refCDict(c, d ? d->cdict : NULL);
    if (ZSTD_isError(r))
        return ts_fail(s, TS_EZSTD, "store %s: zstd setup: %s", s->dir, ZSTD_getErrorName(r));
    return 0;
}

/* Adds a dictionary (bytes copied into zstd's own structures). */
static int dict_add(ts_store *s, uint32_t id, const void *buf, size_t len)
{
    if (dict_find(s, id)) return 0;
    ts_dict *nd = realloc(s->dicts, (s->ndicts + 1) * sizeof *nd);
    if (!nd) return ts_fail(s, TS_ENOMEM, "store %s: out of memory", s->dir);
    s->dicts = nd;
    ts_dict *d = &s->dicts[s->ndicts];
    memset(d, 0, sizeof *d);
    d->id = id;
    d->ddict = ZSTD_createDDict(buf, len);
    if (!(s->flags & TS_OPEN_RDONLY)) d->cdict = ZSTD_createCDict(buf, len, TS_ZSTD_LEVEL);
    if (!d->ddict || (!(s->flags & TS_OPEN_RDONLY) && !d->cdict)) {
        ZSTD_freeDDict(d->ddict);
        ZSTD_freeCDict(d->cdict);
        return ts_fail(s, TS_EZSTD, "store %s: dictionary %u does not load", s->dir, id);
    }
    s->ndicts++;
    return 0;
}

/* Loads the dictionaries stored in meta that this store does not know yet. */
static int dicts_refresh(ts_store *s, MDB_txn *txn)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, s->dbi[TS_DBI_META], &c);
    if (rc) return ts_fail_mdb(s, rc, "meta");
    uint8_t first[8];
    dict_key(first, 0);
    MDB_val k = {8, first}, v;
    rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && k.mv_size == 8 && memcmp(k.mv_data, "dict", 4) == 0) {
        uint32_t id = ts_get_be32((const uint8_t *)k.mv_data + 4);
        int r = dict_add(s, id, v.mv_data, v.mv_size);
        if (r) {
            mdb_cursor_close(c);
            return r;
        }
        rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(c);
    if (rc && rc != MDB_NOTFOUND) return ts_fail_mdb(s, rc, "reading dictionaries");
    return 0;
}

void ts_dict_policy_default(ts_store *s)
{
    s->train_first = TS_TRAIN_FIRST;
    s->train_second = TS_TRAIN_SECOND;
    s->drift_window = (uint64_t)TS_DRIFT_WINDOW * 400;
}

int ts_dicts_load(ts_store *s, MDB_txn *txn)
{
    int rc = dicts_refresh(s, txn);
    if (rc) return rc;
    MDB_val k = {12, "dict_current"}, v;
    s->dict_current = 0;
    if (mdb_get(txn, s->dbi[TS_DBI_META], &k, &v) == 0 && v.mv_size == 4)
        s->dict_current = ts_get_be32(v.mv_data);
    if (s->flags & TS_OPEN_RDONLY) return 0;
    uint64_t trained_at = 0;
    MDB_val tk = {15, "dict_trained_at"};
    if (mdb_get(txn, s->dbi[TS_DBI_META], &tk, &v) == 0 && v.mv_size == 8)
        trained_at = ts_get_be64(v.mv_data);
    if (!s->dict_current)
        s->next_train_at = s->train_first;
    else if (trained_at < s->train_second)
        s->next_train_at = s->train_second;
    else
        s->next_train_at = UINT64_MAX; /* drift decides */
    s->drift_raw = s->drift_packed = 0;
    s->dict_ratio = 0;
    return cctx_setup(s);
}

void ts_dicts_free(ts_store *s)
{
    for (size_t i = 0; i < s->ndicts; i++) {
        ZSTD_freeCDict(s->dicts[i].cdict);
        ZSTD_freeDDict(s->dicts[i].ddict);
    }
    free(s->dicts);
    s->dicts = NULL;
    s->ndicts = 0;
}

void ts_dict_observe(ts_store *s, size_t raw, size_t packed)
{
    s->drift_raw += raw;
    s->drift_packed += packed;
    if (s->drift_raw < s->drift_window) return;
    double ratio = (double)s->drift_packed / (double)s->drift_raw;
    s->drift_raw = s->drift_packed = 0;
    if (!s->dict_current) return;
    if (s->dict_ratio == 0) {
        s->dict_ratio = ratio; /* the first window after (re)loading sets the mark */
        return;
    }
    if (ratio > s->dict_ratio * 1.25 && s->next_train_at == UINT64_MAX)
        s->next_train_at = s->log_size; /* drifted: retrain before the next group */
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

static ts_dict *dict_for_read(ts_store *s, MDB_txn *txn, uint32_t id)
{
    ts_dict *d = dict_find(s, id);
    if (!d && dicts_refresh(s, txn) == 0) d = dict_find(s, id); /* written after we opened */
    return d;
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
    if (id && !(d = dict_for_read(s, txn, id)))
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

/* ---- training --------------------------------------------------------- */

/* Collects the stored bytes of the most recent events as training samples. */
static int collect_samples(ts_store *s, uint8_t **samples, size_t **sizes, unsigned *count,
                           size_t *total)
{
    MDB_txn *txn;
    int rc = ts_read_begin(s, &txn);
    if (rc) return rc;
    uint64_t n = s->log_size < TS_TRAIN_SAMPLES ? s->log_size : TS_TRAIN_SAMPLES;
    size_t cap = 0;
    *sizes = calloc(n ? n : 1, sizeof **sizes);
    if (!*sizes) rc = ts_fail(s, TS_ENOMEM, "store %s: out of memory", s->dir);
    *count = 0;
    *total = 0;
    for (uint64_t li = s->log_size - n; !rc && li < s->log_size; li++) {
        const uint8_t *b;
        size_t len;
        int r = ts_read_stored(s, txn, li, &b, &len);
        if (r == TS_ENOTFOUND) continue;
        if (r) {
            rc = r;
            break;
        }
        if ((rc = grow(s, samples, &cap, *total + len))) break;
        memcpy(*samples + *total, b, len);
        *total += len;
        (*sizes)[(*count)++] = len;
    }
    ts_read_end(s);
    return rc;
}

static int dict_commit(ts_store *s, uint32_t id, const void *dict, size_t len)
{
    for (int attempt = 0; attempt < 8; attempt++) {
        MDB_txn *txn;
        int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
        if (rc) return ts_fail_mdb(s, rc, "beginning the dictionary transaction");
        uint8_t key[8], idb[4], at[8];
        dict_key(key, id);
        ts_put_be32(idb, id);
        ts_put_be64(at, s->log_size);
        MDB_val k = {8, key}, v = {len, (void *)dict};
        MDB_val ck = {12, "dict_current"}, cv = {4, idb};
        MDB_val tk = {15, "dict_trained_at"}, tv = {8, at};
        rc = mdb_put(txn, s->dbi[TS_DBI_META], &k, &v, MDB_NOOVERWRITE);
        if (!rc) rc = mdb_put(txn, s->dbi[TS_DBI_META], &ck, &cv, 0);
        if (!rc) rc = mdb_put(txn, s->dbi[TS_DBI_META], &tk, &tv, 0);
        if (!rc)
            rc = mdb_txn_commit(txn);
        else
            mdb_txn_abort(txn);
        if (rc == MDB_MAP_FULL) {
            int g = ts_map_grow(s, len);
            if (g) return g;
            continue;
        }
        return ts_fail_mdb(s, rc, "storing a dictionary");
    }
    return ts_fail(s, TS_EFULL, "store %s: could not grow the map for a dictionary", s->dir);
}

int ts_dict_maybe_train(ts_store *s)
{
    if (s->log_size < s->next_train_at) return 0;
    uint8_t *samples = NULL;
    size_t *sizes = NULL, total = 0;
    unsigned count = 0;
    int rc = collect_samples(s, &samples, &sizes, &count, &total);
    size_t cap = total / 10;
    if (cap > TS_DICT_MAX) cap = TS_DICT_MAX;
    void *dict = NULL;
    size_t dlen = 0;
    if (!rc && cap >= 1024 && count >= 100 && (dict = malloc(cap))) {
        ZDICT_fastCover_params_t p;
        memset(&p, 0, sizeof p);
        p.k = 200;
        p.d = 8;
        p.f = 20;
        p.accel = 1;
        p.zParams.compressionLevel = TS_ZSTD_LEVEL;
        dlen = ZDICT_trainFromBuffer_fastCover(dict, cap, samples, sizes, count, p);
        if (ZDICT_isError(dlen)) dlen = 0;
    }
    free(samples);
    free(sizes);
    /* Whatever happens, do not try again for a while. */
    if (s->log_size < s->train_second)
        s->next_train_at = s->train_second;
    else
        s->next_train_at = UINT64_MAX;
    if (rc || !dlen) {
        free(dict);
        return rc; /* too few samples or training failed: keep the current dictionary */
    }
    uint32_t id = 1;
    for (size_t i = 0; i < s->ndicts; i++)
        if (s->dicts[i].id >= id) id = s->dicts[i].id + 1;
    rc = dict_commit(s, id, dict, dlen);
    if (!rc) rc = dict_add(s, id, dict, dlen);
    free(dict);
    if (rc) return rc;
    s->dict_current = id;
    s->dict_ratio = 0;
    s->drift_raw = s->drift_packed = 0;
    return cctx_setup(s);
}
