/*
 * bench_sqlite.h - the SQLite baseline shared by bench-store and bench-query: statement
 * helpers that die on error, and the baseline table a user would build without AgentTrail
 * (the event JSON plus columns for the indexed fields, indexes on (workflow, time),
 * (dri, time), (incident, time) and (trace_id)).
 *
 * Responsibility: one definition of the baseline schema and row so that both benchmarks
 * compare against the same thing. Ownership: the caller owns the sqlite3 handle and every
 * statement returned (sqlite3_finalize); strings bound with SQLITE_STATIC are borrowed and
 * must stay valid until the statement is stepped and reset. Threading: one connection per
 * thread, as SQLite's; the benchmarks are single-threaded. Errors go to bench_die.
 */
#ifndef AGENTTRAIL_BENCH_SQLITE_H
#define AGENTTRAIL_BENCH_SQLITE_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "tracestore.h"

/* The baseline table's insert: bind with bench_sqlite_insert_event. */
#define BENCH_SQLITE_INSERT_SQL                                                                    \
    "INSERT INTO events(time, workflow, dri, incident, trace_id, json) VALUES(?,?,?,?,?,?)"

/* The size of a path in a benchmark's work dir. */
#define BENCH_PATH_MAX 4200

/* The paths of the two engines compared in work dir `dir`: DIR/store and DIR/sqlite.db. */
void bench_engine_paths(const char *dir, char sdir[BENCH_PATH_MAX], char dbpath[BENCH_PATH_MAX]);

/* ts_open of `dir` with `flags` and the default options; dies with the store's reason. */
ts_store *bench_ts_open(const char *dir, unsigned flags);

/* Opens (creating) the SQLite database `path` as the baseline runs it: journal_mode=WAL,
 * synchronous=NORMAL. Dies on error. The caller closes it (sqlite3_close). */
sqlite3 *bench_sqlite_open(const char *path);

/* Runs `sql` (no result rows expected); dies with SQLite's message on error. */
void bench_sq(sqlite3 *db, const char *sql);

/* Prepares `sql`; dies on error. Returns the statement, owned by the caller (finalize it). */
sqlite3_stmt *bench_prep(sqlite3 *db, const char *sql);

/* Binds `s` (borrowed, SQLITE_STATIC) as parameter `i`, or NULL when `s` is NULL. */
void bench_bind_text(sqlite3_stmt *st, int i, const char *s);

/* Creates the baseline table `events` and its four indexes in `db` (which must not have it
 * yet). Dies on error. */
void bench_sqlite_create_baseline(sqlite3 *db);

/* Inserts one row of the baseline table for `ev` with its JSON text `json` (`len` bytes):
 * binds, steps and resets `ins` (prepared from BENCH_SQLITE_INSERT_SQL on `db`). Everything
 * is borrowed; dies on error. */
void bench_sqlite_insert_event(sqlite3 *db, sqlite3_stmt *ins, const tp_event *ev, const char *json,
                               size_t len);

/* Binds the baseline's answer to one of the three questions in `f` to `st`: a workflow with
 * its [since, until) hour (parameters 1-3), else a trace id (1), else an incident (1), as the
 * benchmarks' SELECTs take them. Everything is borrowed (SQLITE_STATIC). */
void bench_sqlite_bind_filter(sqlite3_stmt *st, const ts_filter *f);

/* Steps `st` (a SELECT whose first column is the event JSON) to the end, adding each row's
 * last byte and length to *sum so that the bytes are read, then resets it. Returns the rows
 * read; dies on a step error. */
size_t bench_sqlite_read_json(sqlite3_stmt *st, uint64_t *sum);

#endif
