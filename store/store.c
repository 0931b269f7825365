/*
 * store.c - the core of the store: its directory, lock, environment, tables, schema, map,
 * read transaction and errors. The bottom layer: it calls no other store/ file (ts_open in
 * open.c composes the layers above it; docs/store-format.md "Layering").
 *
 * Owns: the store directory (0700) and its files (0600), the writer lock file
 * (flock, so a second writer gets TS_ELOCKED and a killed writer's lock goes
 * with it), the LMDB environment and its named databases, the schema version
 * in meta, the cached read transaction and map growth.
 *
 * Invariants: the map grows only when no transaction of this store is open;
 * read-only stores follow a map grown by the writer (MDB_MAP_RESIZED ->
 * mdb_env_set_mapsize(env, 0), retry). Every open (read-only ones too) clears
 * the reader slots of dead processes (mdb_reader_check).
 *
 * Threading: a ts_store is used by one thread at a time.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_internal.h"

#define TS_MAP_DEFAULT ((size_t)64 << 20)
#define TS_LOCK_FILE "writer.lock"

static const char *const db_names[TS_DBI_COUNT] = {
    [TS_DBI_META] = "meta",
    [TS_DBI_EVENTS] = "events",
    [TS_DBI_IDS] = "event_ids",
    [TS_DBI_BY_WORKFLOW] = "by_workflow",
    [TS_DBI_BY_DRI] = "by_dri",
    [TS_DBI_BY_INCIDENT] = "by_incident",
    [TS_DBI_BY_TRACE] = "by_trace",
    [TS_DBI_BY_TIME] = "by_time",
    [TS_DBI_TRACE_INCIDENTS] = "trace_incidents",
    [TS_DBI_TRACES] = "traces",
};

static const unsigned db_flags[TS_DBI_COUNT] = {
    [TS_DBI_META] = 0,
    [TS_DBI_EVENTS] = 0,                       /* 8-byte big-endian keys sort as bytes */
    [TS_DBI_IDS] = MDB_DUPSORT | MDB_DUPFIXED, /* id bucket -> TS_ID_ENTRY-byte entries */
    [TS_DBI_BY_WORKFLOW] = MDB_DUPSORT | MDB_DUPFIXED,
    [TS_DBI_BY_DRI] = MDB_DUPSORT | MDB_DUPFIXED,
    [TS_DBI_BY_INCIDENT] = MDB_DUPSORT | MDB_DUPFIXED,
    [TS_DBI_BY_TRACE] = MDB_DUPSORT | MDB_DUPFIXED,
    [TS_DBI_BY_TIME] = MDB_DUPSORT | MDB_DUPFIXED,
    [TS_DBI_TRACE_INCIDENTS] = MDB_DUPSORT,
    [TS_DBI_TRACES] = 0,
};

static const at_code_name error_table[] = {
    {TS_OK, "success"},
    {TS_EINVAL, "invalid argument or filter"},
    {TS_ENOMEM, "out of memory"},
    {TS_EIO, "file system error"},
    {TS_ENOTFOUND, "not found"},
    {TS_EVERSION, "store schema version unknown to this build"},
    {TS_ECORRUPT, "store corrupt: a checksum, a block or an index is wrong"},
    {TS_EFULL, "disk or configured map limit full: nothing written"},
    {TS_ELOCKED, "another writer holds the store"},
    {TS_EREADONLY, "write on a read-only store"},
    {TS_ELMDB, "LMDB error"},
    {TS_EZSTD, "compression error"},
    {TS_EEND, "no more results"},
};

const char *ts_strerror(int code)
{
    return at_code_text(error_table, sizeof error_table / sizeof error_table[0], code,
                        "unknown store error");
}

const char *ts_last_error(const ts_store *s)
{
    return s ? s->err : "no store";
}

const char *ts_default_dir(void)
{
    const char *e = getenv("AGENTTRAIL_STORE");
    return e && *e ? e : "./agenttrail-store";
}

int ts_fail(ts_store *s, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->err, sizeof s->err, fmt, ap);
    va_end(ap);
    return code;
}

int ts_fail_mdb(ts_store *s, int rc, const char *what)
{
    if (rc == 0) return 0;
    int code = TS_ELMDB;
    if (rc == MDB_NOTFOUND)
        code = TS_ENOTFOUND;
    else if (rc == ENOMEM)
        code = TS_ENOMEM;
    else if (rc == ENOSPC || rc == MDB_MAP_FULL)
        code = TS_EFULL;
    else if (rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND || rc == MDB_INVALID ||
             rc == MDB_VERSION_MISMATCH) /* damaged meta pages */
        code = TS_ECORRUPT;
    else if (rc == EIO)
        code = TS_EIO;
    return ts_fail(s, code, "store %s: %s: %s", s->dir ? s->dir : "?", what, mdb_strerror(rc));
}

void ts_put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

uint64_t ts_get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

void ts_put_be32(uint8_t *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

uint32_t ts_get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---- read transactions and the map ----------------------------------- */

void ts_read_drop(ts_store *s)
{
    if (s->rtxn) mdb_txn_abort(s->rtxn);
    s->rtxn = NULL;
    s->rtxn_live = 0;
}

void ts_read_end(ts_store *s)
{
    if (s->rtxn && s->rtxn_live) mdb_txn_reset(s->rtxn);
    s->rtxn_live = 0;
}

int ts_read_begin(ts_store *s, MDB_txn **txn)
{
    if (s->rtxn && s->rtxn_live) {
        *txn = s->rtxn;
        return 0;
    }
    for (int attempt = 0; attempt < 3; attempt++) {
        int rc;
        if (s->rtxn)
            rc = mdb_txn_renew(s->rtxn);
        else
            rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &s->rtxn);
        if (rc == 0) {
            s->rtxn_live = 1;
            *txn = s->rtxn;
            return 0;
        }
        if (rc != MDB_MAP_RESIZED) {
            ts_read_drop(s);
            return ts_fail_mdb(s, rc, "beginning a read transaction");
        }
        /* The writer grew the map: adopt its size, with nothing open. */
        ts_read_drop(s);
        rc = mdb_env_set_mapsize(s->env, 0);
        if (rc) return ts_fail_mdb(s, rc, "following the grown map");
        MDB_envinfo info;
        if (mdb_env_info(s->env, &info) == 0) s->map_size = info.me_mapsize;
    }
    return ts_fail(s, TS_ELMDB, "store %s: the map keeps changing size; retry", s->dir);
}

int ts_write_end(ts_store *s, MDB_txn *txn, int rc, const char *what)
{
    if (rc) {
        mdb_txn_abort(txn);
        return rc;
    }
    return ts_fail_mdb(s, mdb_txn_commit(txn), what);
}

int ts_map_grow(ts_store *s, size_t need)
{
    size_t cur = s->map_size;
    size_t next = cur * 2;
    if (next < cur + need * 4) next = cur + need * 4;
    if (s->map_max && next > s->map_max) next = s->map_max;
    if (next <= cur)
        return ts_fail(s, TS_EFULL,
                       "store %s: the map is at its configured maximum (%zu bytes); raise "
                       "map_size_max or free space",
                       s->dir, s->map_max);
    ts_read_drop(s); /* mdb_env_set_mapsize needs no open transaction */
    int rc = mdb_env_set_mapsize(s->env, next);
    if (rc) return ts_fail_mdb(s, rc, "growing the map");
    MDB_envinfo info;
    if (mdb_env_info(s->env, &info) == 0)
        s->map_size = info.me_mapsize;
    else
        s->map_size = next;
    return 0;
}

/* ---- opening ---------------------------------------------------------- */

static int dir_exists(const char *dir)
{
    struct stat st;
    return stat(dir, &st) == 0 && S_ISDIR(st.st_mode);
}

static int take_writer_lock(ts_store *s)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", s->dir, TS_LOCK_FILE);
    s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (s->lock_fd < 0)
        return ts_fail(s, TS_EIO, "store %s: cannot open the lock file %s: %s", s->dir, path,
                       strerror(errno));
    if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(s->lock_fd);
        s->lock_fd = -1;
        if (e == EWOULDBLOCK)
            return ts_fail(s, TS_ELOCKED,
                           "store %s: another writer (a running trace-collector?) holds %s; "
                           "stop it or open the store read-only",
                           s->dir, path);
        return ts_fail(s, TS_EIO, "store %s: cannot lock %s: %s", s->dir, path, strerror(e));
    }
    return 0;
}

static int open_dbis(ts_store *s, MDB_txn *txn, int create)
{
    for (int i = TS_DBI_META + 1; i < TS_DBI_COUNT; i++) {
        unsigned fl = db_flags[i] | (create ? MDB_CREATE : 0);
        int rc = mdb_dbi_open(txn, db_names[i], fl, &s->dbi[i]);
        if (rc == MDB_NOTFOUND)
            return ts_fail(s, TS_ENOTFOUND,
                           "store %s: table %s missing: not a store, or not initialised by a "
                           "writer yet",
                           s->dir, db_names[i]);
        if (rc) return ts_fail_mdb(s, rc, db_names[i]);
    }
    return 0;
}

static int meta_get_u64(MDB_txn *txn, MDB_dbi meta, const char *key, uint64_t *out)
{
    MDB_val k = {strlen(key), (void *)key}, v;
    int rc = mdb_get(txn, meta, &k, &v);
    if (rc) return rc;
    if (v.mv_size == 8)
        *out = ts_get_be64(v.mv_data);
    else if (v.mv_size == 4)
        *out = ts_get_be32(v.mv_data);
    else
        return MDB_CORRUPTED;
    return 0;
}

/* Checks (or for a new store writes) the schema version. */
static int check_schema(ts_store *s, MDB_txn *txn, int writable)
{
    uint64_t ver = 0;
    int rc = meta_get_u64(txn, s->dbi[TS_DBI_META], "schema_version", &ver);
    if (rc == MDB_NOTFOUND && writable) {
        uint8_t b[4];
        ts_put_be32(b, TS_SCHEMA_VERSION);
        MDB_val k = {14, "schema_version"}, v = {4, b};
        rc = mdb_put(txn, s->dbi[TS_DBI_META], &k, &v, 0);
        if (rc) return ts_fail_mdb(s, rc, "writing the schema version");
        ver = TS_SCHEMA_VERSION;
    } else if (rc == MDB_NOTFOUND) {
        return ts_fail(s, TS_ENOTFOUND, "store %s: no schema version: not initialised by a writer",
                       s->dir);
    } else if (rc) {
        return ts_fail_mdb(s, rc, "reading the schema version");
    }
    if (ver != TS_SCHEMA_VERSION)
        return ts_fail(s, TS_EVERSION,
                       "store %s: schema version %llu is unknown to this build (it knows %u); "
                       "use the AgentTrail release that wrote it",
                       s->dir, (unsigned long long)ver, TS_SCHEMA_VERSION);
    return 0;
}

/* Loads the writer's counters. */
static int init_meta(ts_store *s, MDB_txn *txn)
{
    uint64_t n = 0;
    int rc = meta_get_u64(txn, s->dbi[TS_DBI_META], "log_size", &n);
    if (rc && rc != MDB_NOTFOUND) return ts_fail_mdb(s, rc, "reading log_size");
    s->log_size = n;
    return 0;
}

static int open_env(ts_store *s, const ts_options *opt)
{
    int rc = mdb_env_create(&s->env);
    if (rc) return ts_fail_mdb(s, rc, "creating the LMDB environment");
    mdb_env_set_maxdbs(s->env, 32);
    mdb_env_set_maxreaders(s->env, 254);
    int ro = (s->flags & TS_OPEN_RDONLY) != 0;
    if (!ro) {
        size_t want = opt && opt->map_size_initial ? opt->map_size_initial : TS_MAP_DEFAULT;
        rc = mdb_env_set_mapsize(s->env, want);
        if (rc) return ts_fail_mdb(s, rc, "setting the map size");
    }
    unsigned fl = MDB_NOTLS | (ro ? MDB_RDONLY : 0);
    rc = mdb_env_open(s->env, s->dir, fl, 0600);
    if (rc == ENOENT)
        return ts_fail(s, TS_ENOTFOUND, "store %s: no store here (data.mdb missing)", s->dir);
    if (rc == EACCES)
        return ts_fail(s, TS_EIO, "store %s: permission denied opening the LMDB files", s->dir);
    if (rc) return ts_fail_mdb(s, rc, "opening the LMDB environment");
    /* Readers too: a reader that died by a signal (a crash on a damaged store, SIGKILL)
     * leaves its slot taken, and after maxreaders of them every open fails with
     * MDB_READERS_FULL until something clears them. */
    int dead = 0;
    mdb_reader_check(s->env, &dead);
    MDB_envinfo info;
    mdb_env_info(s->env, &info);
    s->map_size = info.me_mapsize;
    return 0;
}

int ts_core_open(ts_store *s, const ts_options *opt, ts_open_fn in_open_txn)
{
    int ro = (s->flags & TS_OPEN_RDONLY) != 0;
    if (!dir_exists(s->dir)) {
        if (ro || !(s->flags & TS_OPEN_CREATE))
            return ts_fail(s, TS_ENOTFOUND,
                           "store %s: no such directory (create it with the collector, or pass "
                           "--store)",
                           s->dir);
        if (mkdir(s->dir, 0700) != 0 && errno != EEXIST)
            return ts_fail(s, TS_EIO, "store %s: cannot create the directory: %s", s->dir,
                           strerror(errno));
    } else if (!ro && !(s->flags & TS_OPEN_CREATE)) {
        char path[4096];
        snprintf(path, sizeof path, "%s/data.mdb", s->dir);
        if (access(path, F_OK) != 0)
            return ts_fail(s, TS_ENOTFOUND, "store %s: no store here (data.mdb missing)", s->dir);
    }
    int rc;
    if (!ro && (rc = take_writer_lock(s))) return rc;
    if ((rc = open_env(s, opt))) return rc;

    MDB_txn *txn;
    rc = mdb_txn_begin(s->env, NULL, ro ? MDB_RDONLY : 0, &txn);
    if (rc) return ts_fail_mdb(s, rc, "beginning the open transaction");
    /* meta first: a store of another schema is refused by its version, not by a table. */
    rc = mdb_dbi_open(txn, db_names[TS_DBI_META], ro ? 0 : MDB_CREATE, &s->dbi[TS_DBI_META]);
    if (rc == MDB_NOTFOUND)
        rc = ts_fail(s, TS_ENOTFOUND,
                     "store %s: table meta missing: not a store, or not initialised by a writer "
                     "yet",
                     s->dir);
    else if (rc)
        rc = ts_fail_mdb(s, rc, "meta");
    if (!rc) rc = check_schema(s, txn, !ro);
    if (!rc) rc = open_dbis(s, txn, !ro);
    if (!rc) rc = init_meta(s, txn);
    if (!rc && in_open_txn) rc = in_open_txn(s, txn);
    if (rc) {
        mdb_txn_abort(txn);
        return rc;
    }
    rc = mdb_txn_commit(txn);
    if (rc) return ts_fail_mdb(s, rc, "committing the open transaction");
    return 0;
}

void ts_core_close(ts_store *s)
{
    ts_read_drop(s);
    if (s->env) mdb_env_close(s->env);
    s->env = NULL;
    if (s->lock_fd >= 0) close(s->lock_fd); /* releases the flock */
    s->lock_fd = -1;
}

/* ---- the ledger seam -------------------------------------------------- */

MDB_env *ts_internal_env(ts_store *s)
{
    return s->env;
}

int ts_internal_dbi(ts_store *s, MDB_txn *txn, const char *name, unsigned mdb_flags, int create,
                    MDB_dbi *dbi)
{
    unsigned fl = mdb_flags | (create && !(s->flags & TS_OPEN_RDONLY) ? MDB_CREATE : 0);
    int rc = mdb_dbi_open(txn, name, fl, dbi);
    if (rc == MDB_NOTFOUND) return ts_fail(s, TS_ENOTFOUND, "store %s: no table %s", s->dir, name);
    return ts_fail_mdb(s, rc, name);
}

void ts_internal_set_append_hook(ts_store *s, ts_append_hook fn, void *ctx)
{
    s->hook = fn;
    s->hook_ctx = ctx;
}

int ts_internal_log_size(ts_store *s, MDB_txn *txn, uint64_t *out)
{
    *out = 0;
    int rc = meta_get_u64(txn, s->dbi[TS_DBI_META], "log_size", out);
    if (rc == MDB_NOTFOUND) return 0;
    return ts_fail_mdb(s, rc, "reading log_size");
}

int ts_stat(ts_store *s, ts_stats *out)
{
    if (!s || !out) return TS_EINVAL;
    memset(out, 0, sizeof *out);
    MDB_txn *txn;
    int rc = ts_read_begin(s, &txn);
    if (rc) return rc;
    rc = ts_internal_log_size(s, txn, &out->events);
    MDB_stat tst;
    if (!rc) rc = ts_fail_mdb(s, mdb_stat(txn, s->dbi[TS_DBI_TRACES], &tst), "traces");
    if (!rc) out->traces = tst.ms_entries; /* one number per distinct trace id */
    uint32_t nd = 0;
    for (size_t i = 0; i < s->ndicts; i++)
        if (s->dicts[i].id) nd++;
    out->dictionaries = nd;
    ts_read_end(s);
    MDB_envinfo info;
    MDB_stat st;
    if (mdb_env_info(s->env, &info) == 0 && mdb_env_stat(s->env, &st) == 0) {
        out->map_size = info.me_mapsize;
        out->bytes_on_disk = (uint64_t)(info.me_last_pgno + 1) * st.ms_psize;
    }
    char path[4096];
    struct stat fst;
    snprintf(path, sizeof path, "%s/data.mdb", s->dir);
    if (stat(path, &fst) == 0) out->bytes_on_disk = (uint64_t)fst.st_size;
    return rc;
}
