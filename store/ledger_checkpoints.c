/*
 * ledger_checkpoints.c - the log's origin and its signed checkpoints (ts_log_origin,
 * ts_checkpoint_*): log_checkpoints, BE64(sequence) -> signed note, oldest first.
 *
 * Invariants: a checkpoint is kept only when its origin is the log's and its root is the
 * log's root at its size (checked here, in the transaction that appends it), so successive
 * checkpoints are consistent by construction.
 * Threading: as the ts_store (one thread).
 */
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "ledger_txn.h"

static int ledger_origin_in(ts_store *s, MDB_txn *txn, char *out, size_t outlen)
{
    MDB_dbi info;
    int rc = ts_internal_dbi(s, txn, T_INFO, 0, 0, &info);
    if (rc) return rc;
    MDB_val k = {6, "origin"}, v;
    rc = mdb_get(txn, info, &k, &v);
    if (rc == MDB_NOTFOUND)
        return ts_fail(s, TS_ENOTFOUND, "store %s: the log has no origin yet", s->dir);
    if (rc) return ts_fail_mdb(s, rc, "reading the log origin");
    if (v.mv_size == 0 || v.mv_size >= outlen)
        return ts_fail(s, TS_ECORRUPT, "store %s: log origin of %zu bytes", s->dir, v.mv_size);
    memcpy(out, v.mv_data, v.mv_size);
    out[v.mv_size] = 0;
    return 0;
}

int ts_log_origin(ts_store *s, char *out, size_t outlen)
{
    if (!s || !out || !outlen) return TS_EINVAL;
    MDB_txn *txn;
    int rc = ts_read_begin(s, &txn);
    if (rc) return rc;
    rc = ledger_origin_in(s, txn, out, outlen);
    ts_read_end(s);
    return rc;
}

/* ---- checkpoints -------------------------------------------------------- */

int ts_checkpoint_add(ts_store *s, const char *note, size_t len)
{
    if (!s || !note) return TS_EINVAL;
    if (s->flags & TS_OPEN_RDONLY)
        return ts_fail(s, TS_EREADONLY, "store %s: opened read-only", s->dir);
    cp_checkpoint c;
    cp_signature sig;
    size_t nsig;
    at_error err = {0};
    char msg[AT_ERROR_TEXT_LEN];
    if (cp_note_parse(note, len, &c, &sig, 1, &nsig, &err))
        return ts_fail(s, TS_EINVAL, "store %s: checkpoint: %s", s->dir,
                       at_error_format(&err, msg, sizeof msg));

    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc) return ts_fail_mdb(s, rc, "checkpoint: beginning a write transaction");
    ledger_txn l;
    MDB_dbi cps;
    char origin[CP_ORIGIN_MAX];
    uint8_t root[MERKLE_HASH_LEN];
    rc = ledger_open(&l, s, txn);
    if (!rc) rc = ts_internal_dbi(s, txn, T_CHECKPOINTS, 0, 0, &cps);
    if (!rc) rc = ledger_origin_in(s, txn, origin, sizeof origin);
    if (!rc && strcmp(origin, c.origin) != 0)
        rc = ts_fail(s, TS_EINVAL, "store %s: checkpoint of origin %s, but this log is %s", s->dir,
                     c.origin, origin);
    if (!rc) rc = ledger_check_size(&l, c.size);
    if (!rc) rc = ledger_from_merkle(&l, merkle_root(s->sha, ledger_node_get, &l, c.size, root));
    ledger_close(&l);
    if (!rc && memcmp(root, c.root, MERKLE_HASH_LEN) != 0)
        rc = ts_fail(s, TS_ECORRUPT,
                     "store %s: checkpoint root for size %llu differs from the log's root", s->dir,
                     (unsigned long long)c.size);
    MDB_stat st;
    if (!rc) rc = ts_fail_mdb(s, mdb_stat(txn, cps, &st), "log_checkpoints");
    if (!rc) {
        uint8_t key[8];
        ts_put_be64(key, st.ms_entries);
        MDB_val k = {8, key}, v = {len, (void *)note};
        rc = ts_fail_mdb(s, mdb_put(txn, cps, &k, &v, MDB_APPEND), "writing a checkpoint");
    }
    return ts_write_end(s, txn, rc, "committing a checkpoint");
}

int ts_checkpoint_count(ts_store *s, uint64_t *count)
{
    if (!s || !count) return TS_EINVAL;
    *count = 0;
    MDB_txn *txn;
    int rc = ts_read_begin(s, &txn);
    if (rc) return rc;
    MDB_dbi cps;
    MDB_stat st;
    rc = ts_internal_dbi(s, txn, T_CHECKPOINTS, 0, 0, &cps);
    if (!rc) rc = ts_fail_mdb(s, mdb_stat(txn, cps, &st), "log_checkpoints");
    if (!rc) *count = st.ms_entries;
    ts_read_end(s);
    return rc;
}

int ts_checkpoint_get(ts_store *s, uint64_t seq, char **note, size_t *len)
{
    if (!s || !note) return TS_EINVAL;
    *note = NULL;
    MDB_txn *txn;
    int rc = ts_read_begin(s, &txn);
    if (rc) return rc;
    MDB_dbi cps;
    MDB_cursor *cur = NULL;
    rc = ts_internal_dbi(s, txn, T_CHECKPOINTS, 0, 0, &cps);
    if (!rc) rc = ts_fail_mdb(s, mdb_cursor_open(txn, cps, &cur), "log_checkpoints");
    if (!rc) {
        uint8_t key[8];
        ts_put_be64(key, seq);
        MDB_val k = {8, key}, v;
        int r = seq == UINT64_MAX ? mdb_cursor_get(cur, &k, &v, MDB_LAST)
                                  : mdb_cursor_get(cur, &k, &v, MDB_SET_KEY);
        if (r == MDB_NOTFOUND)
            rc = ts_fail(s, TS_ENOTFOUND, "store %s: no checkpoint %s", s->dir,
                         seq == UINT64_MAX ? "yet" : "with that number");
        else if (r)
            rc = ts_fail_mdb(s, r, "reading a checkpoint");
        else if (!(*note = malloc(v.mv_size + 1)))
            rc = ts_fail(s, TS_ENOMEM, "store %s: out of memory", s->dir);
        else {
            memcpy(*note, v.mv_data, v.mv_size);
            (*note)[v.mv_size] = 0;
            if (len) *len = v.mv_size;
        }
    }
    if (cur) mdb_cursor_close(cur);
    ts_read_end(s);
    return rc;
}
