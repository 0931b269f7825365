/*
 * log_info.c - what the collector records about its checkpointing in the log's log_info
 * table (docs/ledger.md), so that `trace-query verify --store` can tell a normal unsigned
 * tail from one an intruder left by removing the latest checkpoints.
 *
 * Owns one key of log_info (the table belongs to ledger.c): "tail_max" -> BE64, the most
 * entries a running collector ever leaves after its latest checkpoint (its entries trigger
 * plus the largest group it commits at once). Written by the signer at every start, read by
 * verify. Threading: as the ts_store.
 */
#include <string.h>

#include "store_internal.h"

#define T_INFO "log_info"
#define K_TAIL_MAX "tail_max"

int ts_log_set_tail_max(ts_store *s, uint64_t tail_max)
{
    if (!s) return TS_EINVAL;
    if (s->flags & TS_OPEN_RDONLY)
        return ts_fail(s, TS_EREADONLY, "store %s: opened read-only", s->dir);
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc) return ts_fail_mdb(s, rc, "log_info: beginning a write transaction");
    MDB_dbi info;
    uint8_t b[8];
    ts_put_be64(b, tail_max);
    MDB_val k = {strlen(K_TAIL_MAX), K_TAIL_MAX}, v = {8, b};
    rc = ts_internal_dbi(s, txn, T_INFO, 0, 0, &info);
    if (!rc) rc = ts_fail_mdb(s, mdb_put(txn, info, &k, &v, 0), "writing log_info tail_max");
    return ts_write_end(s, txn, rc, "committing log_info");
}

int ts_log_tail_max(ts_store *s, uint64_t *tail_max)
{
    if (!s || !tail_max) return TS_EINVAL;
    MDB_txn *txn;
    int rc = ts_read_begin(s, &txn);
    if (rc) return rc;
    MDB_dbi info;
    MDB_val k = {strlen(K_TAIL_MAX), K_TAIL_MAX}, v;
    rc = ts_internal_dbi(s, txn, T_INFO, 0, 0, &info);
    if (!rc) {
        int r = mdb_get(txn, info, &k, &v);
        if (r == MDB_NOTFOUND)
            rc = ts_fail(s, TS_ENOTFOUND, "store %s: log_info has no tail_max", s->dir);
        else if (r)
            rc = ts_fail_mdb(s, r, "reading log_info tail_max");
        else if (v.mv_size != 8)
            rc = ts_fail(s, TS_ECORRUPT, "store %s: log_info tail_max of %zu bytes", s->dir,
                         v.mv_size);
        else
            *tail_max = ts_get_be64(v.mv_data);
    }
    ts_read_end(s);
    return rc;
}
