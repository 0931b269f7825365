/*
 * bench_query.c - bench-query: the questions trace-query answers, against SQLite, same
 * events, same run.
 *
 *   bench-query [--events N] [--seed S] [--input FILE] [--queries Q] [--stats-runs R]
 *               [--process-queries P] [--dir DIR] [--keep]
 *
 * Generates N events (default 1,000,000) with ../shared/tools/gen-events (or reads --input),
 * loads them into a fresh store (ts_append, groups of 1000) and into the SQLite baseline
 * table of bench-store (WAL, synchronous=NORMAL, the event JSON plus columns for the indexed
 * fields; indexes on (workflow, time), (dri, time), (incident, time), (trace_id), and (time)
 * because the store has a time index too), then times on a warm page cache, over the same
 * random keys, each question answered to the JSON text of every result row:
 *   find:     one workflow in a 1-hour window, first 100 events (ts_query, query/reader.c,
 *             tp_event_to_json, as trace-query find; SQLite ... ORDER BY time LIMIT 100)
 *   show:     one trace, every event (ts_iter_next: show keeps the events for its tree)
 *   incident: every event of one incident
 *   stats:    the stats --by workflow scorecard over one day (query/stats_calc.c, every figure
 *             including p50/p95 and coverage; SQLite: one GROUP BY over its indexed columns and
 *             json_extract for the rest, without percentiles or coverage, so a lower bound)
 * and, for the user's view, find through the trace-query program itself (process start,
 * store open, output to /dev/null). Loading is not timed (bench-store measures ingest).
 * Prints a table, then as its last line one JSON object of the figures.
 *
 * Owns its temp directory (removed unless --keep). Single-threaded (plus child processes).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "bench_common.h"
#include "bench_sqlite.h"
#include "reader.h"
#include "stats_calc.h"
#include "tracestore.h"

#ifndef AGENTTRAIL_SHARED_DIR
#define AGENTTRAIL_SHARED_DIR "../shared"
#endif
#ifndef AGENTTRAIL_BIN_DIR
#define AGENTTRAIL_BIN_DIR "build/release/bin"
#endif

#define GROUP 1000
#define FIND_LIMIT 100
#define HOUR_NS 3600000000000ull
#define DAY_NS (24ull * HOUR_NS)

extern char **environ;

typedef struct opts {
    uint64_t events, seed;
    const char *input;
    size_t queries, stats_runs, process_queries;
    const char *dir;
    int keep;
} opts;

typedef struct key {
    char workflow[129];
    uint8_t trace[16];
    uint64_t ts;
} key;

static void usage(void)
{
    fprintf(stderr, "usage: bench-query [--events N] [--seed S] [--input FILE] [--queries Q]\n"
                    "                   [--stats-runs R] [--process-queries P] [--dir DIR] "
                    "[--keep]\n");
    exit(2);
}

static opts parse_args(int argc, char **argv)
{
    opts o = {1000000, 1, NULL, 200, 3, 20, NULL, 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        uint64_t v = 0;
        if (strcmp(a, "--keep") == 0) {
            o.keep = 1;
            continue;
        }
        if (i + 1 >= argc) usage();
        const char *val = argv[++i];
        if (strcmp(a, "--input") == 0)
            o.input = val;
        else if (strcmp(a, "--dir") == 0)
            o.dir = val;
        else if (bench_parse_u64(val, &v) != 0)
            usage();
        else if (strcmp(a, "--events") == 0 && v > 0)
            o.events = v;
        else if (strcmp(a, "--seed") == 0)
            o.seed = v;
        else if (strcmp(a, "--queries") == 0 && v > 0)
            o.queries = (size_t)v;
        else if (strcmp(a, "--stats-runs") == 0 && v > 0)
            o.stats_runs = (size_t)v;
        else if (strcmp(a, "--process-queries") == 0)
            o.process_queries = (size_t)v;
        else
            usage();
    }
    return o;
}

/* Nearest rank, as trace-query stats. */
static double pct(double *v, size_t n, double p)
{
    if (n == 0) return 0;
    qsort(v, n, sizeof *v, bench_cmp_double);
    size_t rank = (size_t)(p * (double)n + 0.999999);
    if (rank < 1) rank = 1;
    if (rank > n) rank = n;
    return v[rank - 1];
}

/* ---- the questions, answered by the store as trace-query does --------------------------- */

static qreader *reader;

/* Events of `f` (at most `limit`, 0 = all) decoded and written as canonical JSON, the way
 * trace-query does: find through the arena reader, show with owned events. */
static size_t store_json(ts_store *s, const ts_filter *f, size_t limit, int arena, uint64_t *sum)
{
    ts_iter *it = NULL;
    if (ts_query(s, f, NULL, &it) != 0) bench_die("ts_query", ts_last_error(s));
    size_t rows = 0;
    int rc = 0;
    if (arena) {
        /* find and find --incident: the page is read through query/reader.c */
        const tp_event *ev = NULL;
        while ((!limit || rows < limit) && (rc = qreader_next(reader, it, &ev)) == 0) {
            size_t len = 0;
            char *js = tp_event_to_json(ev, &len);
            if (!js) bench_die("tp_event_to_json", "out of memory");
            *sum += (uint64_t)js[len - 1] + len;
            free(js);
            rows++;
        }
    } else {
        /* show: the trace's events are kept (owned) to build the tree */
        tp_event *ev = NULL;
        while ((!limit || rows < limit) && (rc = ts_iter_next(it, &ev)) == 0) {
            size_t len = 0;
            char *js = tp_event_to_json(ev, &len);
            if (!js) bench_die("tp_event_to_json", "out of memory");
            *sum += (uint64_t)js[len - 1] + len;
            free(js);
            tp_event_destroy(&ev);
            rows++;
        }
    }
    if (rc != 0 && rc != TS_EEND) bench_die("ts_iter_next", ts_last_error(s));
    ts_iter_destroy(&it);
    return rows;
}

/* stats --by workflow over [since, until): the groups found. */
static size_t store_stats(ts_store *s, uint64_t since, uint64_t until, uint64_t *events)
{
    ts_filter f = {0};
    f.since = since;
    f.until = until;
    qstats *st = qstats_new(QBY_WORKFLOW);
    if (!st) bench_die("qstats_new", "out of memory");
    ts_iter *it = NULL;
    if (ts_query(s, &f, NULL, &it) != 0) bench_die("ts_query", ts_last_error(s));
    int rc;
    *events = 0;
    const tp_event *ev = NULL;
    while ((rc = qreader_next(reader, it, &ev)) == 0) {
        if (qstats_add(st, ev) != 0) bench_die("qstats_add", "out of memory");
        (*events)++;
    }
    if (rc != TS_EEND) bench_die("ts_iter_next", ts_last_error(s));
    ts_iter_destroy(&it);
    if (qstats_finish(st) != 0) bench_die("qstats_finish", "out of memory");
    size_t groups = qstats_ngroups(st);
    qstats_destroy(&st);
    return groups;
}

static const char sqlite_stats_sql[] =
    "SELECT workflow, count(*), count(DISTINCT trace_id),"
    " sum(json_extract(json,'$.kind')='prompt'), sum(json_extract(json,'$.kind')='retrieval'),"
    " sum(json_extract(json,'$.kind')='tool_call'), sum(json_extract(json,'$.kind')='diff'),"
    " sum(json_extract(json,'$.kind')='outcome'), sum(json_extract(json,'$.kind')='approval'),"
    " sum(json_extract(json,'$.kind')='incident_link'), sum(json_extract(json,'$.kind')='note'),"
    " sum(json_extract(json,'$.outcome.decision')='accepted'),"
    " sum(json_extract(json,'$.outcome.decision')='edited'),"
    " sum(json_extract(json,'$.outcome.decision')='rejected'),"
    " sum(json_extract(json,'$.outcome.decision')='escalated'),"
    " sum(json_extract(json,'$.usage.input_tokens')),"
    " sum(json_extract(json,'$.usage.output_tokens')),"
    " sum(json_extract(json,'$.usage.cached_tokens')),"
    " sum(json_extract(json,'$.usage.cost_usd_micros')),"
    " sum(json_extract(json,'$.tool_call.status')='blocked'),"
    " sum(json_extract(json,'$.tool_call.status')='error'),"
    " sum(json_extract(json,'$.redactions'))"
    " FROM events WHERE time>=? AND time<? GROUP BY workflow ORDER BY workflow";

static size_t sqlite_stats(sqlite3_stmt *st, uint64_t since, uint64_t until, uint64_t *events)
{
    sqlite3_bind_int64(st, 1, (sqlite3_int64)since);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)until);
    size_t groups = 0;
    int rc;
    *events = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        *events += (uint64_t)sqlite3_column_int64(st, 1);
        groups++;
    }
    if (rc != SQLITE_DONE) bench_die("sqlite stats", sqlite3_errstr(rc));
    sqlite3_reset(st);
    return groups;
}

/* Runs trace-query with stdout/stderr to /dev/null; its exit status. */
static int run_quiet(char *const argv[])
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) return -1;
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* ---- loading ---------------------------------------------------------------------------- */

typedef struct loaded {
    size_t n;
    key *keys; /* reservoir of `queries` random events */
    char **incidents;
    size_t nincidents;
    uint64_t t_min, t_max;
} loaded;

static void note_event(loaded *L, const tp_event *ev, size_t idx, size_t nkeys)
{
    if (ev->incident) {
        int seen = 0;
        for (size_t k = 0; k < L->nincidents && !seen; k++)
            seen = !strcmp(L->incidents[k], ev->incident);
        if (!seen) {
            L->incidents = realloc(L->incidents, (L->nincidents + 1) * sizeof *L->incidents);
            if (!L->incidents) bench_die("realloc", "out of memory");
            L->incidents[L->nincidents++] = strdup(ev->incident);
        }
    }
    size_t slot = idx < nkeys ? idx : (size_t)((uint64_t)rand() % (idx + 1));
    if (slot < nkeys && ev->workflow && ev->has_trace_id) {
        key *k = &L->keys[slot];
        snprintf(k->workflow, sizeof k->workflow, "%s", ev->workflow);
        memcpy(k->trace, ev->trace_id.data, 16);
        k->ts = ev->time_unix_nano;
    }
    if (!L->t_min || ev->time_unix_nano < L->t_min) L->t_min = ev->time_unix_nano;
    if (ev->time_unix_nano > L->t_max) L->t_max = ev->time_unix_nano;
}

/* Streams the file into both engines, a group at a time. */
static void load(const char *input, ts_store *s, sqlite3 *db, const opts *o, loaded *L)
{
    FILE *f = fopen(input, "r");
    if (!f) bench_die(input, strerror(errno));
    bench_sqlite_create_baseline(db);
    bench_sq(db, "CREATE INDEX by_time ON events(time)");
    sqlite3_stmt *ins = bench_prep(db, BENCH_SQLITE_INSERT_SQL);
    tp_limits lim = tp_limits_default();
    tp_event *group[GROUP];
    char *texts[GROUP];
    size_t lens[GROUP];
    ts_result res[GROUP];
    char *line = NULL;
    size_t cap = 0, g = 0;
    ssize_t len;
    int eof = 0;
    L->keys = calloc(o->queries, sizeof *L->keys);
    if (!L->keys) bench_die("calloc", "out of memory");
    while (!eof) {
        len = getline(&line, &cap, f);
        if (len > 0) {
            while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
                line[--len] = 0;
            if (len == 0) continue;
            at_error err;
            tp_event *ev = NULL;
            if (tp_event_from_json(line, (size_t)len, &lim, 0, &ev, &err, NULL) != 0 ||
                tp_event_prepare(ev, NULL, 0, &err) != 0) {
                char buf[600];
                bench_die("bad event", at_error_format(&err, buf, sizeof buf));
            }
            group[g] = ev;
            texts[g] = strndup(line, (size_t)len);
            lens[g] = (size_t)len;
            g++;
            if (o->input && L->n + g >= o->events) eof = 1;
        } else {
            eof = 1;
        }
        if (g == GROUP || (eof && g)) {
            if (ts_append(s, group, g, res) != 0) bench_die("ts_append", ts_last_error(s));
            bench_sq(db, "BEGIN");
            for (size_t i = 0; i < g; i++) {
                tp_event *ev = group[i];
                bench_sqlite_insert_event(db, ins, ev, texts[i], lens[i]);
                note_event(L, ev, L->n + i, o->queries);
                tp_event_destroy(&group[i]);
                free(texts[i]);
            }
            bench_sq(db, "COMMIT");
            L->n += g;
            g = 0;
            if (L->n % 100000 == 0) fprintf(stderr, "bench-query: loaded %zu events\n", L->n);
        }
    }
    free(line);
    fclose(f);
    sqlite3_finalize(ins);
    bench_sq(db, "ANALYZE");
    bench_sq(db, "PRAGMA wal_checkpoint(TRUNCATE)");
}

/* ---- main ------------------------------------------------------------------------------- */

enum { Q_FIND, Q_SHOW, Q_INCIDENT, Q_STATS, Q_COUNT };
static const char *const qname[Q_COUNT] = {"find workflow 1h, first 100", "show one trace",
                                           "find --incident", "stats --by workflow, 1 day"};
static const char *const qkey[Q_COUNT] = {"find", "show", "incident", "stats"};

int main(int argc, char **argv)
{
    bench_set_name("bench-query");
    opts o = parse_args(argc, argv);
    char tmpl[] = "/tmp/bench-query-XXXXXX";
    const char *dir = bench_make_work_dir(o.dir, tmpl);
    char input[4300];
    if (o.input) {
        snprintf(input, sizeof input, "%s", o.input);
    } else {
        snprintf(input, sizeof input, "%s/events.jsonl", dir);
        fprintf(stderr,
                "bench-query: generating %" PRIu64 " events (gen-events, seed %" PRIu64 ")\n",
                o.events, o.seed);
        bench_generate_events(o.events, o.seed, input);
    }
    srand((unsigned)o.seed);
    char sdir[BENCH_PATH_MAX], dbpath[BENCH_PATH_MAX];
    bench_engine_paths(dir, sdir, dbpath);
    ts_store *s = bench_ts_open(sdir, TS_OPEN_CREATE);
    sqlite3 *db = bench_sqlite_open(dbpath);
    loaded L = {0};
    load(input, s, db, &o, &L);
    reader = qreader_new();
    if (!reader) bench_die("qreader_new", "out of memory");
    if (L.n == 0) bench_die(input, "no events");
    /* Reopen the store read-only, as trace-query does. */
    ts_close(&s);
    s = bench_ts_open(sdir, TS_OPEN_RDONLY);
    size_t nkeys = L.n < o.queries ? L.n : o.queries;
    fprintf(stderr, "bench-query: %zu events loaded, %zu incidents; timing\n", L.n, L.nincidents);

    sqlite3_stmt *sq_find =
        bench_prep(db, "SELECT json FROM events WHERE workflow=? AND time>=? AND "
                       "time<? ORDER BY time LIMIT 100");
    sqlite3_stmt *sq_show =
        bench_prep(db, "SELECT json FROM events WHERE trace_id=? ORDER BY time");
    sqlite3_stmt *sq_inc = bench_prep(db, "SELECT json FROM events WHERE incident=? ORDER BY time");
    sqlite3_stmt *sq_stats = bench_prep(db, sqlite_stats_sql);

    double *t[Q_COUNT][2];
    size_t nq[Q_COUNT] = {nkeys, nkeys, L.nincidents ? nkeys : 0, o.stats_runs};
    double rows[Q_COUNT][2] = {{0}};
    for (int q = 0; q < Q_COUNT; q++)
        for (int k = 0; k < 2; k++) {
            t[q][k] = calloc(nq[q] + 1, sizeof(double));
            if (!t[q][k]) bench_die("calloc", "out of memory");
        }
    uint64_t sum = 0;
    /* Warm-up: one pass of each question, untimed, so both engines read from the page
     * cache as a responder's second query does. */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < nkeys; i++) {
            key *k = &L.keys[i];
            uint64_t since = k->ts > HOUR_NS / 2 ? k->ts - HOUR_NS / 2 : 0;
            const char *inc = L.nincidents ? L.incidents[i % L.nincidents] : NULL;
            ts_filter ff = {0}, fs = {0}, fi = {0};
            ff.workflow = k->workflow;
            ff.since = since;
            ff.until = since + HOUR_NS;
            fs.trace_id = k->trace;
            fi.incident = inc;
            for (int q = 0; q < Q_INCIDENT + 1; q++) {
                if (q == Q_INCIDENT && !inc) continue;
                double t0 = bench_now_s();
                const ts_filter *f = q == Q_FIND ? &ff : q == Q_SHOW ? &fs : &fi;
                size_t r0 = store_json(s, f, q == Q_FIND ? FIND_LIMIT : 0, q != Q_SHOW, &sum);
                double ts_ms = (bench_now_s() - t0) * 1e3;
                sqlite3_stmt *st = q == Q_FIND ? sq_find : q == Q_SHOW ? sq_show : sq_inc;
                bench_sqlite_bind_filter(st, f);
                t0 = bench_now_s();
                size_t r1 = bench_sqlite_read_json(st, &sum);
                double sq_ms = (bench_now_s() - t0) * 1e3;
                if (r0 != r1)
                    fprintf(stderr, "bench-query: %s #%zu: store %zu rows, sqlite %zu rows\n",
                            qname[q], i, r0, r1);
                if (pass == 1) {
                    t[q][0][i] = ts_ms;
                    t[q][1][i] = sq_ms;
                    rows[q][0] += (double)r0;
                    rows[q][1] += (double)r1;
                }
            }
        }
    }
    /* stats over one day from the first event (the generator's 1M events span less). */
    uint64_t since = L.t_min, until = L.t_min + DAY_NS;
    uint64_t ev_store = 0, ev_sqlite = 0;
    size_t g_store = 0, g_sqlite = 0;
    for (size_t r = 0; r <= o.stats_runs; r++) {
        double t0 = bench_now_s();
        g_store = store_stats(s, since, until, &ev_store);
        double ts_ms = (bench_now_s() - t0) * 1e3;
        t0 = bench_now_s();
        g_sqlite = sqlite_stats(sq_stats, since, until, &ev_sqlite);
        double sq_ms = (bench_now_s() - t0) * 1e3;
        if (r == 0) continue; /* warm-up */
        t[Q_STATS][0][r - 1] = ts_ms;
        t[Q_STATS][1][r - 1] = sq_ms;
        rows[Q_STATS][0] += (double)ev_store;
        rows[Q_STATS][1] += (double)ev_sqlite;
    }
    if (g_store != g_sqlite || ev_store != ev_sqlite)
        fprintf(stderr,
                "bench-query: stats: store %zu groups/%" PRIu64 " events, sqlite %zu/%" PRIu64 "\n",
                g_store, ev_store, g_sqlite, ev_sqlite);

    /* find through the program, as a responder runs it. */
    size_t np = o.process_queries < nkeys ? o.process_queries : nkeys;
    double *tp = calloc(np + 1, sizeof *tp);
    char *bin = NULL;
    if (np) {
        size_t blen = strlen(AGENTTRAIL_BIN_DIR) + 32;
        bin = malloc(blen);
        snprintf(bin, blen, "%s/trace-query", AGENTTRAIL_BIN_DIR);
        if (access(bin, X_OK) != 0) np = 0;
    }
    for (size_t i = 0; i < np; i++) {
        key *k = &L.keys[i];
        uint64_t s0 = k->ts > HOUR_NS / 2 ? k->ts - HOUR_NS / 2 : 0;
        char since_s[32], until_s[32];
        tp_time_format_rfc3339(s0, since_s, sizeof since_s);
        tp_time_format_rfc3339(s0 + HOUR_NS, until_s, sizeof until_s);
        char *argv_q[] = {bin,         "--store", sdir,       "find",    "--workflow",
                          k->workflow, "--since", since_s,    "--until", until_s,
                          "--limit",   "100",     "--format", "jsonl",   NULL};
        double t0 = bench_now_s();
        int rc = run_quiet(argv_q);
        tp[i] = (bench_now_s() - t0) * 1e3;
        if (rc != 0) bench_die("trace-query find failed", bin);
    }

    /* ---- report ----------------------------------------------------------------------- */
    double p50[Q_COUNT][2], p99[Q_COUNT][2];
    for (int q = 0; q < Q_COUNT; q++)
        for (int k = 0; k < 2; k++) {
            p50[q][k] = pct(t[q][k], nq[q], 0.50);
            p99[q][k] = pct(t[q][k], nq[q], 0.99);
        }
    double pp50 = pct(tp, np, 0.50), pp99 = pct(tp, np, 0.99);
    printf("bench-query: %zu events (%s), %zu random keys, %zu incidents, %zu stats runs, "
           "warm page cache\n",
           L.n, o.input ? o.input : "gen-events", nkeys, L.nincidents, o.stats_runs);
    printf("%-30s %12s %12s %12s %12s %9s %10s\n", "question", "store p50", "store p99",
           "sqlite p50", "sqlite p99", "ratio", "rows");
    for (int q = 0; q < Q_COUNT; q++) {
        if (!nq[q]) continue;
        printf("%-30s %10.3fms %10.3fms %10.3fms %10.3fms %8.2fx %10.1f\n", qname[q], p50[q][0],
               p99[q][0], p50[q][1], p99[q][1], p50[q][0] > 0 ? p50[q][1] / p50[q][0] : 0,
               rows[q][0] / (double)nq[q]);
    }
    if (np)
        printf("%-30s %10.3fms %10.3fms %12s %12s\n", "trace-query find (process)", pp50, pp99, "-",
               "-");
    printf("(ratio: sqlite p50 / store p50, >1 means the store answers faster; stats groups "
           "%zu, checksum %" PRIu64 ")\n",
           g_store, sum % 1000);
    printf("{\"events\":%zu,\"queries\":%zu,\"incidents\":%zu,\"stats_runs\":%zu", L.n, nkeys,
           L.nincidents, o.stats_runs);
    for (int q = 0; q < Q_COUNT; q++)
        printf(",\"%s_p50_ms\":%.3f,\"%s_p99_ms\":%.3f,\"sqlite_%s_p50_ms\":%.3f,"
               "\"sqlite_%s_p99_ms\":%.3f,\"%s_ratio\":%.3f,\"%s_rows\":%.1f",
               qkey[q], p50[q][0], qkey[q], p99[q][0], qkey[q], p50[q][1], qkey[q], p99[q][1],
               qkey[q], p50[q][0] > 0 ? p50[q][1] / p50[q][0] : 0, qkey[q],
               nq[q] ? rows[q][0] / (double)nq[q] : 0);
    printf(",\"find_process_p50_ms\":%.3f,\"find_process_p99_ms\":%.3f,"
           "\"stats_vs_sqlite\":%.3f}\n",
           pp50, pp99, p50[Q_STATS][1] > 0 ? p50[Q_STATS][0] / p50[Q_STATS][1] : 0);

    sqlite3_finalize(sq_find);
    sqlite3_finalize(sq_show);
    sqlite3_finalize(sq_inc);
    sqlite3_finalize(sq_stats);
    sqlite3_close(db);
    ts_close(&s);
    qreader_destroy(&reader);
    for (int q = 0; q < Q_COUNT; q++)
        for (int k = 0; k < 2; k++)
            free(t[q][k]);
    for (size_t i = 0; i < L.nincidents; i++)
        free(L.incidents[i]);
    free(L.incidents);
    free(L.keys);
    free(tp);
    free(bin);
    if (!o.keep && !o.dir) bench_remove_tree(dir);
    return 0;
}
