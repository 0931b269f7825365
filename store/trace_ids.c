/*
 * trace_ids.c - trace ids by prefix: the lookups behind short ids in trace-query.
 *
 * Responsibility: the stored trace ids that begin with some hex digits, and the shortest
 * prefix of a stored trace id that no other stored trace id shares. Both read the `traces`
 * table (trace id -> trace number), whose keys LMDB keeps sorted bytewise, so a prefix is
 * one range seek and a trace's shortest unique prefix is decided by its two neighbours.
 * Owns: nothing beyond the call (one read snapshot, released before returning).
 * Threading: one thread per ts_store (as the rest of the read path).
 */
#include <string.h>

#include "store_internal.h"

/* The hex digit at nibble `i` of a 16-byte id. */
static unsigned nibble(const uint8_t *id, size_t i)
{
    return i % 2 ? id[i / 2] & 15u : id[i / 2] >> 4;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* Digits two ids have in common from the start (0..32). */
static size_t common_nibbles(const uint8_t *a, const uint8_t *b)
{
    size_t n = 0;
    while (n < 32 && nibble(a, n) == nibble(b, n))
        n++;
    return n;
}

/* A read snapshot and a cursor on the traces table; end with close_traces. */
static int open_traces(ts_store *s, MDB_cursor **c)
{
    MDB_txn *txn;
    int rc = ts_read_begin(s, &txn);
    if (rc) return rc;
    rc = mdb_cursor_open(txn, s->dbi[TS_DBI_TRACES], c);
    if (rc) {
        ts_read_end(s);
        return ts_fail_mdb(s, rc, "opening the traces table");
    }
    return 0;
}

static void close_traces(ts_store *s, MDB_cursor *c)
{
    mdb_cursor_close(c);
    ts_read_end(s);
}

int ts_trace_ids_by_prefix(ts_store *s, const char *hex, size_t len, uint8_t (*out)[16], size_t max,
                           size_t *count)
{
    *count = 0;
    uint8_t start[16] = {0};
    if (len == 0 || len > 32) return TS_EINVAL;
    for (size_t i = 0; i < len; i++) {
        int v = hex_value(hex[i]);
        if (v < 0) return TS_EINVAL;
        start[i / 2] |= (uint8_t)(i % 2 ? v : v << 4);
    }
    MDB_cursor *c;
    int rc = open_traces(s, &c);
    if (rc) return rc;
    MDB_val k = {16, start}, v;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 16) continue; /* not a trace id: ts_check reports it */
        size_t i = 0;
        while (i < len && nibble(k.mv_data, i) == nibble(start, i))
            i++;
        if (i < len) break; /* past the prefix: keys are sorted */
        if (*count < max) memcpy(out[*count], k.mv_data, 16);
        (*count)++;
    }
    close_traces(s, c);
    return rc == 0 || rc == MDB_NOTFOUND ? 0 : ts_fail_mdb(s, rc, "reading the traces table");
}

int ts_trace_id_unique_len(ts_store *s, const uint8_t trace[16], size_t *digits)
{
    MDB_cursor *c;
    int rc = open_traces(s, &c);
    if (rc) return rc;
    size_t shared = 0; /* the most digits another stored id has in common with it */
    /* The next stored id after it: the first key >= it, or the one after that when it is
     * the id itself. */
    MDB_val k = {16, (void *)trace}, v;
    rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    if (rc == 0 && k.mv_size == 16 && memcmp(k.mv_data, trace, 16) == 0)
        rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    if (rc == 0 && k.mv_size == 16) shared = common_nibbles(trace, k.mv_data);
    /* The stored id before it: the key before the first key >= it, else the last key. */
    k.mv_data = (void *)trace;
    k.mv_size = 16;
    rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    rc = rc == 0 ? mdb_cursor_get(c, &k, &v, MDB_PREV) : mdb_cursor_get(c, &k, &v, MDB_LAST);
    if (rc == 0 && k.mv_size == 16) {
        size_t n = common_nibbles(trace, k.mv_data);
        if (n > shared) shared = n;
    }
    close_traces(s, c);
    *digits = shared < 32 ? shared + 1 : 32;
    return 0;
}
