/*
 * dict.c - the dictionaries of the store's units and their training.
 *
 * Owns: the dictionaries in meta ("dict" + id BE32 -> ZDICT bytes, "dict_current" -> id
 * BE32, "dict_trained_at" -> BE64), the loaded zstd CDict/DDict of each, the writer's CCtx
 * parameters, and the training policy: a first dictionary at TS_TRAIN_FIRST stored events,
 * a larger one at TS_TRAIN_SECOND, then a new one whenever the compression ratio drifts more
 * than 25% from what the current one achieved.
 *
 * Layer: codec, beside unit.c (docs/store-format.md "Layering"): it calls the core
 * (store.c) and unit.c's decoder, never the read layer: training samples are decoded from
 * the units directly, not through the read cache.
 *
 * Invariants: dictionaries are never deleted or changed once committed; a unit names the
 * dictionary it was written with forever.
 *
 * Threading: uses the zstd contexts of the ts_store (one thread).
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

/* The training samples: their bytes back to back and the size of each. */
typedef struct samples_buf {
    uint8_t *bytes;
    size_t total, cap;
    size_t *sizes;
    unsigned count;
} samples_buf;

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
    if (at_grow((void **)&s->dicts, &s->dicts_cap, s->ndicts + 1, sizeof *s->dicts, 4))
        return ts_fail(s, TS_ENOMEM, "store %s: out of memory", s->dir);
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
    s->ndicts = s->dicts_cap = 0;
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

ts_dict *ts_dict_for_read(ts_store *s, MDB_txn *txn, uint32_t id)
{
    ts_dict *d = dict_find(s, id);
    if (!d && dicts_refresh(s, txn) == 0) d = dict_find(s, id); /* written after we opened */
    return d;
}

/* ---- training --------------------------------------------------------- */

/* Appends the stored bytes of the events [from, to) of one decoded block to the samples. */
static int take_samples(ts_store *s, const ts_block *b, uint64_t from, uint64_t to, samples_buf *sb)
{
    for (uint64_t li = from; li < to; li++) {
        const uint8_t *p;
        size_t len;
        if (ts_block_event(b, li, &p, &len) != 0) continue; /* not in this block */
        if (at_grow((void **)&sb->bytes, &sb->cap, sb->total + len, 1, 4096))
            return ts_fail(s, TS_ENOMEM, "store %s: out of memory (%zu bytes)", s->dir,
                           sb->total + len);
        memcpy(sb->bytes + sb->total, p, len);
        sb->total += len;
        sb->sizes[sb->count++] = len;
    }
    return 0;
}

/* Collects the stored bytes of the most recent events as training samples, in log order,
 * decoding their units with the codec alone: training never reads through the read layer
 * (read.c and its cache sit above this file). */
static int collect_samples(ts_store *s, samples_buf *sb)
{
    MDB_txn *txn;
    int rc = ts_read_begin(s, &txn);
    if (rc) return rc;
    uint64_t n = s->log_size < TS_TRAIN_SAMPLES ? s->log_size : TS_TRAIN_SAMPLES;
    uint64_t from = s->log_size - n, to = s->log_size;
    sb->sizes = calloc(n ? n : 1, sizeof *sb->sizes);
    if (!sb->sizes) rc = ts_fail(s, TS_ENOMEM, "store %s: out of memory", s->dir);
    MDB_cursor *c = NULL;
    if (!rc) rc = ts_fail_mdb(s, mdb_cursor_open(txn, s->dbi[TS_DBI_EVENTS], &c), "events");
    ts_block b = {.first = UINT64_MAX};
    uint64_t first = 0;
    MDB_val k, unit;
    /* The block holding `from`, or else the first one after it. */
    int mrc = rc ? MDB_NOTFOUND : ts_block_find(c, from, &first, &unit);
    if (mrc == MDB_NOTFOUND && !rc) {
        uint8_t key[8];
        ts_put_be64(key, from);
        k = (MDB_val){8, key};
        mrc = mdb_cursor_get(c, &k, &unit, MDB_SET_RANGE);
        if (!mrc) first = k.mv_size == 8 ? ts_get_be64(k.mv_data) : UINT64_MAX;
    }
    while (!rc && mrc == 0 && first < to) {
        rc = ts_block_decode(s, txn, first, unit.mv_data, unit.mv_size, 0, &b);
        if (!rc) rc = take_samples(s, &b, first > from ? first : from, to, sb);
        mrc = rc ? MDB_NOTFOUND : mdb_cursor_get(c, &k, &unit, MDB_NEXT);
        if (!mrc) first = k.mv_size == 8 ? ts_get_be64(k.mv_data) : UINT64_MAX;
    }
    if (!rc && mrc && mrc != MDB_NOTFOUND) rc = ts_fail_mdb(s, mrc, "reading training samples");
    ts_block_free(&b);
    if (c) mdb_cursor_close(c);
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
    samples_buf sb = {0};
    int rc = collect_samples(s, &sb);
    size_t total = sb.total;
    unsigned count = sb.count;
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
        dlen = ZDICT_trainFromBuffer_fastCover(dict, cap, sb.bytes, sb.sizes, count, p);
        if (ZDICT_isError(dlen)) dlen = 0;
    }
    free(sb.bytes);
    free(sb.sizes);
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
