/*
 * bench_sqlite.c - the SQLite baseline of bench_sqlite.h: statement helpers and the baseline
 * table and row of bench-store and bench-query.
 *
 * Owns nothing; every handle is the caller's. Invariant: every error ends in bench_die.
 * Threading: see bench_sqlite.h.
 */
#include "bench_sqlite.h"

#include "bench_common.h"

void bench_sq(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) bench_die(sql, err);
}

sqlite3_stmt *bench_prep(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) bench_die(sql, sqlite3_errmsg(db));
    return st;
}

void bench_engine_paths(const char *dir, char sdir[BENCH_PATH_MAX], char dbpath[BENCH_PATH_MAX])
{
    snprintf(sdir, BENCH_PATH_MAX, "%s/store", dir);
    snprintf(dbpath, BENCH_PATH_MAX, "%s/sqlite.db", dir);
}

ts_store *bench_ts_open(const char *dir, unsigned flags)
{
    ts_store *s = NULL;
    at_error err = {0};
    if (ts_open(dir, flags, NULL, &s, &err) != 0) bench_die("ts_open", err.what);
    return s;
}

sqlite3 *bench_sqlite_open(const char *path)
{
    sqlite3 *db;
    if (sqlite3_open(path, &db) != SQLITE_OK) bench_die(path, sqlite3_errmsg(db));
    bench_sq(db, "PRAGMA journal_mode=WAL");
    bench_sq(db, "PRAGMA synchronous=NORMAL");
    return db;
}

void bench_bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

void bench_sqlite_create_baseline(sqlite3 *db)
{
    bench_sq(db, "CREATE TABLE events(id INTEGER PRIMARY KEY, time INTEGER NOT NULL, "
                 "workflow TEXT, dri TEXT, incident TEXT, trace_id BLOB, json TEXT NOT NULL)");
    bench_sq(db, "CREATE INDEX by_workflow ON events(workflow, time)");
    bench_sq(db, "CREATE INDEX by_dri ON events(dri, time)");
    bench_sq(db, "CREATE INDEX by_incident ON events(incident, time)");
    bench_sq(db, "CREATE INDEX by_trace ON events(trace_id)");
}

void bench_sqlite_insert_event(sqlite3 *db, sqlite3_stmt *ins, const tp_event *ev, const char *json,
                               size_t len)
{
    sqlite3_bind_int64(ins, 1, (sqlite3_int64)ev->time_unix_nano);
    bench_bind_text(ins, 2, ev->workflow);
    bench_bind_text(ins, 3, ev->dri);
    bench_bind_text(ins, 4, ev->incident);
    sqlite3_bind_blob(ins, 5, ev->trace_id.data, (int)ev->trace_id.len, SQLITE_STATIC);
    sqlite3_bind_text(ins, 6, json, (int)len, SQLITE_STATIC);
    if (sqlite3_step(ins) != SQLITE_DONE) bench_die("sqlite insert", sqlite3_errmsg(db));
    sqlite3_reset(ins);
}

void bench_sqlite_bind_filter(sqlite3_stmt *st, const ts_filter *f)
{
    if (f->workflow) {
        sqlite3_bind_text(st, 1, f->workflow, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)f->since);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)f->until);
    } else if (f->trace_id) {
        sqlite3_bind_blob(st, 1, f->trace_id, 16, SQLITE_STATIC);
    } else {
        sqlite3_bind_text(st, 1, f->incident, -1, SQLITE_STATIC);
    }
}

size_t bench_sqlite_read_json(sqlite3_stmt *st, uint64_t *sum)
{
    size_t rows = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        int n = sqlite3_column_bytes(st, 0);
        *sum += (uint64_t)t[n - 1] + (uint64_t)n;
        rows++;
    }
    if (rc != SQLITE_DONE) bench_die("sqlite step", sqlite3_errstr(rc));
    sqlite3_reset(st);
    return rows;
}
