/*
 * open.c - ts_open and ts_close: the one place that puts the store's layers together.
 *
 * Layering (docs/store-format.md "Layering"), each layer calling only those before it:
 *   core   store.c                 directory, lock, LMDB environment, tables, schema, map,
 *                                  the read transaction, errors
 *   codec  unit.c, dict.c          units (compressed blocks) and their dictionaries,
 *                                  dictionary training (reads units through the codec only)
 *   read   read.c, read_query.c    the block cache, ts_get, ts_query and its iterators
 *   write  append.c                ts_append: packs, encodes and commits groups
 *   ledger ledger.c, ledger_*.c    the Merkle log, on the core's seam (store_internal.h)
 * ts_open builds them bottom up and is the only caller that knows them all: it opens the
 * core (loading the dictionaries inside the open transaction), then, for read-write stores,
 * attaches the ledger, which registers its append hook. ts_append never calls the ledger by
 * name: the hook is the ledger's one way into a write.
 *
 * Owns: the ts_store allocation and the order of its set-up and tear-down.
 * Threading: as the ts_store (one thread).
 */
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "ledger.h"
#include "store_internal.h"

/* Inside the open transaction: the codec's dictionaries. */
static int load_codec(ts_store *s, MDB_txn *txn)
{
    return ts_dicts_load(s, txn);
}

int ts_open(const char *dir, unsigned flags, const ts_options *opt, ts_store **out, at_error *err)
{
    if (out) *out = NULL;
    if (!dir || !out || ((flags & TS_OPEN_RDONLY) && (flags & TS_OPEN_CREATE))) {
        return at_errf(err, TS_EINVAL, "ts_open: bad arguments");
    }
    ts_store *s = calloc(1, sizeof *s);
    if (!s || !(s->dir = strdup(dir))) {
        free(s);
        return at_errf(err, TS_ENOMEM, "store %s: out of memory", dir);
    }
    s->flags = flags;
    s->lock_fd = -1;
    s->limits = opt && opt->limits ? *opt->limits : tp_limits_default();
    s->map_max = opt ? opt->map_size_max : 0;
    for (size_t i = 0; i < TS_CACHE_SLOTS; i++)
        s->cache[i].first = UINT64_MAX;
    ts_dict_policy_default(s);
    int rc = 0;
    s->cctx = ZSTD_createCCtx();
    s->dctx = ZSTD_createDCtx();
    s->sha = at_sha256_new();
    if (!s->cctx || !s->dctx || !s->sha) rc = ts_fail(s, TS_ENOMEM, "store %s: out of memory", dir);
    if (!rc) rc = ts_core_open(s, opt, load_codec);
    if (!rc && !(flags & TS_OPEN_RDONLY)) rc = ts_ledger_attach(s); /* store/ledger.c */
    if (rc) {
        at_errf(err, rc, "%s", s->err);
        ts_close(&s);
        return rc;
    }
    *out = s;
    return 0;
}

void ts_close(ts_store **sp)
{
    if (!sp || !*sp) return;
    ts_store *s = *sp;
    ts_core_close(s);
    ts_dicts_free(s);
    ts_cache_clear(s);
    ZSTD_freeCCtx(s->cctx);
    ZSTD_freeDCtx(s->dctx);
    at_sha256_free(&s->sha);
    free(s->zbuf);
    free(s->blk_buf);
    free(s->raw_buf);
    free(s->dir);
    free(s);
    *sp = NULL;
}
