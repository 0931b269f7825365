/*
 * bench_store.c - bench-store: libtracestore against SQLite, same events,
 * same run.
 *
 *   bench-store --events N [--seed S] [--input FILE] [--group G]
 *               [--queries Q] [--dir DIR] [--keep] [--time-ordered-ids]
 *
 * Generates N events with ../shared/tools/gen-events (or reads --input, one
 * JSON event per line), loads them into a fresh store and into SQLite the way
 * a user would without AgentTrail (WAL, synchronous=NORMAL, one table with the
 * event JSON plus columns for the indexed fields, indexes on (workflow, time),
 * (dri, time), (incident, time), (trace_id), transactions of G events,
 * prepared statements), then times three queries on both over the same random
 * keys: one workflow in a 1-hour window (all rows), one trace, one incident.
 *
 * What is timed: ingest times only ts_append / the SQLite transaction (JSON
 * parsing is done before, untimed, for both); queries time from the query call
 * to the last row's bytes (stored protobuf for the store, JSON text for
 * SQLite); the decoded-event workflow figure (ts_iter_next) is printed too.
 * Prints a table, then as its last line one JSON object of the figures.
 *
 * --time-ordered-ids rewrites every event id the way the shim makes them
 * (48-bit milliseconds of the event's time first, then 80 bits of the given
 * id) before loading: gen-events ids are uniformly random, the worst case
 * for the store's id index (SQLite's baseline has no event id index).
 *
 * Owns its temp directory (removed unless --keep). Single-threaded.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "bench_common.h"
#include "bench_sqlite.h"
#include "tracestore.h"

#ifndef AGENTTRAIL_SHARED_DIR
#define AGENTTRAIL_SHARED_DIR "../shared"
#endif

typedef struct opts {
    uint64_t events, seed;
    const char *input;
    size_t group, queries;
    const char *dir;
    int keep, time_ids;
} opts;

typedef struct line {
    char *text;
    size_t len;
} line;

typedef struct key {
    char workflow[129];
    char incident[129];
    uint8_t trace[16];
    uint64_t ts;
} key;

static void usage(void)
{
    fprintf(stderr, "usage: bench-store --events N [--seed S] [--input FILE] [--group G] "
                    "[--queries Q] [--dir DIR] [--keep] [--time-ordered-ids]\n");
    exit(2);
}

static opts parse_args(int argc, char **argv)
{
    opts o = {.events = 0, .seed = 1, .group = 1000, .queries = 200};
    for (int i = 1; i < argc; i++) {
        uint64_t v = 0;
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--keep")) {
            o.keep = 1;
            continue;
        }
        if (!strcmp(a, "--time-ordered-ids")) {
            o.time_ids = 1;
            continue;
        }
        if (!val) usage();
        i++;
        if (!strcmp(a, "--input"))
            o.input = val;
        else if (!strcmp(a, "--dir"))
            o.dir = val;
        else if (bench_parse_u64(val, &v) != 0)
            usage();
        else if (!strcmp(a, "--events"))
            o.events = v;
        else if (!strcmp(a, "--seed"))
            o.seed = v;
        else if (!strcmp(a, "--group") && v > 0)
            o.group = (size_t)v;
        else if (!strcmp(a, "--queries") && v >= 100)
            o.queries = (size_t)v;
        else
            usage();
    }
    if (!o.events && !o.input) usage();
    return o;
}

/* ---- input ------------------------------------------------------------ */

static line *read_lines(const char *path, uint64_t max, size_t *n)
{
    FILE *f = fopen(path, "r");
    if (!f) bench_die(path, strerror(errno));
    size_t cap = 1024, cnt = 0;
    line *v = malloc(cap * sizeof *v);
    char *buf = NULL;
    size_t bcap = 0;
    ssize_t r;
    while ((!max || cnt < max) && (r = getline(&buf, &bcap, f)) > 0) {
        while (r > 0 && (buf[r - 1] == '\n' || buf[r - 1] == '\r'))
            buf[--r] = 0;
        if (r == 0) continue;
        if (cnt == cap) v = realloc(v, (cap *= 2) * sizeof *v);
        if (!v) bench_die("reading input", "out of memory");
        v[cnt].text = malloc((size_t)r + 1);
        memcpy(v[cnt].text, buf, (size_t)r + 1);
        v[cnt].len = (size_t)r;
        cnt++;
    }
    free(buf);
    fclose(f);
    *n = cnt;
    return v;
}

static char *generate(const opts *o, const char *dir)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/events.jsonl", dir);
    fprintf(stderr, "bench-store: generating %" PRIu64 " events (gen-events, seed %" PRIu64 ")\n",
            o->events, o->seed);
    bench_generate_events(o->events, o->seed, path);
    return path;
}

static int time_ids; /* --time-ordered-ids */

static tp_event *parse(const line *l, size_t i)
{
    tp_event *ev = NULL;
    at_error err;
    if (tp_event_from_json(l->text, l->len, NULL, 0, &ev, &err, NULL) != 0) {
        char msg[600];
        at_error_format(&err, msg, sizeof msg);
        fprintf(stderr, "bench-store: line %zu: %s\n", i + 1, msg);
        exit(1);
    }
    if (time_ids && ev->has_event_id && ev->event_id.len == 16) {
        uint8_t *id = ev->event_id.data;
        memmove(id + 6, id, 10);
        uint64_t ms = ev->time_unix_nano / 1000000u;
        for (int b = 0; b < 6; b++)
            id[b] = (uint8_t)(ms >> (40 - 8 * b));
    }
    return ev;
}

/* Parses the group of lines [at, at + max) of the n (fewer at the end) into group[]; returns
 * how many. */
static size_t parse_group(const line *lines, size_t n, size_t at, size_t max, tp_event **group)
{
    size_t g = n - at < max ? n - at : max;
    for (size_t i = 0; i < g; i++)
        group[i] = parse(&lines[at + i], at + i);
    return g;
}

/* ---- SQLite ------------------------------------------------------------ */

/* ---- timing helpers --------------------------------------------------- */

static double pct(double *v, size_t n, double p)
{
    qsort(v, n, sizeof *v, bench_cmp_double);
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i];
}

static uint64_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* ---- queries ---------------------------------------------------------- */

enum { Q_WORKFLOW, Q_TRACE, Q_INCIDENT, Q_COUNT };

static size_t store_query(ts_store *s, const ts_filter *f, int decode, uint64_t *sum)
{
    ts_iter *it = NULL;
    if (ts_query(s, f, NULL, &it) != 0) bench_die("ts_query", ts_last_error(s));
    size_t rows = 0;
    int rc;
    if (decode) {
        tp_event *ev;
        while ((rc = ts_iter_next(it, &ev)) == 0) {
            *sum += ev->time_unix_nano;
            tp_event_destroy(&ev);
            rows++;
        }
    } else {
        const uint8_t *b;
        size_t len;
        while ((rc = ts_iter_next_stored(it, &b, &len)) == 0) {
            *sum += b[len - 1] + len;
            rows++;
        }
    }
    if (rc != TS_EEND) bench_die("ts_iter_next", ts_last_error(s));
    ts_iter_destroy(&it);
    return rows;
}

int main(int argc, char **argv)
{
    bench_set_name("bench-store");
    opts o = parse_args(argc, argv);
    time_ids = o.time_ids;
    char tmpl[] = "/tmp/bench-store-XXXXXX";
    const char *dir = bench_make_work_dir(o.dir, tmpl);
    const char *input = o.input ? o.input : generate(&o, dir);
    size_t n = 0;
    line *lines = read_lines(input, o.input ? o.events : 0, &n);
    if (n == 0) bench_die(input, "no events");
    fprintf(stderr, "bench-store: %zu events, groups of %zu\n", n, o.group);

    /* Keys for the queries: random events' workflow/hour, trace, incident. */
    srand((unsigned)o.seed);
    key *keys = calloc(o.queries, sizeof *keys);
    char **incidents = NULL;
    size_t nincidents = 0;

    /* ---- load the store ------------------------------------------------ */
    char sdir[BENCH_PATH_MAX], dbpath[BENCH_PATH_MAX];
    bench_engine_paths(dir, sdir, dbpath);
    ts_store *s = bench_ts_open(sdir, TS_OPEN_CREATE);
    tp_event **group = calloc(o.group, sizeof *group);
    ts_result *res = calloc(o.group, sizeof *res);
    bench_cost c_store = {0}, c_sqlite = {0};
    size_t pick = 0;
    for (size_t at = 0; at < n; at += o.group) {
        size_t g = parse_group(lines, n, at, o.group, group);
        bench_cost from = bench_cost_now();
        if (ts_append(s, group, g, res) != 0) bench_die("ts_append", ts_last_error(s));
        bench_cost_add_since(&c_store, &from);
        for (size_t i = 0; i < g; i++) {
            tp_event *ev = group[i];
            if (ev->incident) {
                int seen = 0;
                for (size_t k = 0; k < nincidents && !seen; k++)
                    seen = !strcmp(incidents[k], ev->incident);
                if (!seen) {
                    incidents = realloc(incidents, (nincidents + 1) * sizeof *incidents);
                    incidents[nincidents++] = strdup(ev->incident);
                }
            }
            /* Reservoir of query keys. */
            size_t idx = at + i;
            size_t slot = pick < o.queries ? pick++ : (size_t)((uint64_t)rand() % (idx + 1));
            if (slot < o.queries && ev->workflow && ev->has_trace_id) {
                key *k = &keys[slot];
                snprintf(k->workflow, sizeof k->workflow, "%s", ev->workflow);
                memcpy(k->trace, ev->trace_id.data, 16);
                k->ts = ev->time_unix_nano;
            }
            tp_event_destroy(&group[i]);
        }
    }
    ts_stats st;
    ts_stat(s, &st);

    /* ---- load SQLite --------------------------------------------------- */
    sqlite3 *db = bench_sqlite_open(dbpath);
    bench_sqlite_create_baseline(db);
    sqlite3_stmt *ins = bench_prep(db, BENCH_SQLITE_INSERT_SQL);
    sqlite3_stmt *begin = bench_prep(db, "BEGIN"), *commit = bench_prep(db, "COMMIT");
    for (size_t at = 0; at < n; at += o.group) {
        size_t g = parse_group(lines, n, at, o.group, group);
        bench_cost from = bench_cost_now();
        sqlite3_step(begin);
        sqlite3_reset(begin);
        for (size_t i = 0; i < g; i++) {
            bench_sqlite_insert_event(db, ins, group[i], lines[at + i].text, lines[at + i].len);
        }
        if (sqlite3_step(commit) != SQLITE_DONE) bench_die("sqlite commit", sqlite3_errmsg(db));
        sqlite3_reset(commit);
        bench_cost_add_since(&c_sqlite, &from);
        for (size_t i = 0; i < g; i++)
            tp_event_destroy(&group[i]);
    }
    bench_sq(db, "PRAGMA wal_checkpoint(TRUNCATE)");
    char walpath[4300];
    snprintf(walpath, sizeof walpath, "%s-wal", dbpath);
    uint64_t sqlite_bytes = file_size(dbpath) + file_size(walpath);
    for (size_t i = 0; i < n; i++)
        free(lines[i].text);
    free(lines);

    /* ---- queries ------------------------------------------------------- */
    const char *qname[Q_COUNT] = {"workflow, 1 hour", "trace", "incident"};
    double *tq[Q_COUNT][2], *tdec = calloc(o.queries, sizeof *tdec);
    size_t rows[Q_COUNT][2] = {{0}};
    size_t nq[Q_COUNT] = {o.queries, o.queries, nincidents ? o.queries : 0};
    for (int q = 0; q < Q_COUNT; q++)
        for (int k = 0; k < 2; k++)
            tq[q][k] = calloc(o.queries, sizeof(double));
    sqlite3_stmt *sqs[Q_COUNT] = {
        bench_prep(db,
                   "SELECT json FROM events WHERE workflow=? AND time>=? AND time<? ORDER BY time"),
        bench_prep(db, "SELECT json FROM events WHERE trace_id=? ORDER BY time"),
        bench_prep(db, "SELECT json FROM events WHERE incident=? ORDER BY time")};
    uint64_t sum = 0;
    const uint64_t hour = 3600000000000ull;
    for (size_t i = 0; i < o.queries; i++) {
        key *k = &keys[i];
        const char *inc = nincidents ? incidents[(size_t)rand() % nincidents] : NULL;
        uint64_t since = k->ts > hour / 2 ? k->ts - hour / 2 : 0;
        ts_filter f[Q_COUNT] = {{.workflow = k->workflow, .since = since, .until = since + hour},
                                {.trace_id = k->trace},
                                {.incident = inc}};
        for (int q = 0; q < Q_COUNT; q++) {
            if (i >= nq[q]) continue;
            double t0 = bench_now_s();
            size_t r0 = store_query(s, &f[q], 0, &sum);
            tq[q][0][i] = (bench_now_s() - t0) * 1e3;
            sqlite3_stmt *qs = sqs[q];
            bench_sqlite_bind_filter(qs, &f[q]);
            t0 = bench_now_s();
            size_t r1 = bench_sqlite_read_json(qs, &sum);
            tq[q][1][i] = (bench_now_s() - t0) * 1e3;
            if (r0 != r1)
                fprintf(stderr, "bench-store: %s query %zu: store %zu rows, sqlite %zu rows\n",
                        qname[q], i, r0, r1);
            rows[q][0] += r0;
            rows[q][1] += r1;
        }
        double t0 = bench_now_s();
        store_query(s, &f[Q_WORKFLOW], 1, &sum);
        tdec[i] = (bench_now_s() - t0) * 1e3;
    }

    /* ---- report -------------------------------------------------------- */
    double ingest = (double)n / c_store.wall, s_ingest = (double)n / c_sqlite.wall;
    double bpe = (double)st.bytes_on_disk / (double)n, s_bpe = (double)sqlite_bytes / (double)n;
    double p50[Q_COUNT][2], p99[Q_COUNT][2];
    for (int q = 0; q < Q_COUNT; q++)
        for (int k = 0; k < 2; k++) {
            p50[q][k] = nq[q] ? pct(tq[q][k], nq[q], 0.5) : 0;
            p99[q][k] = nq[q] ? pct(tq[q][k], nq[q], 0.99) : 0;
        }
    double dec50 = pct(tdec, o.queries, 0.5);
    printf("bench-store: %zu events (%s), groups of %zu, %zu random keys per query\n", n,
           o.input ? o.input : "gen-events", o.group, o.queries);
    printf("%-28s %14s %14s %10s\n", "figure", "tracestore", "sqlite", "ratio");
    printf("%-28s %14.0f %14.0f %9.2fx\n", "ingest, events/s", ingest, s_ingest, ingest / s_ingest);
    printf("%-28s %14.0f %14.0f %9.2fx\n", "ingest, events/CPU-s", (double)n / c_store.cpu,
           (double)n / c_sqlite.cpu, c_sqlite.cpu / c_store.cpu);
    double wpe = (double)c_store.written / (double)n;
    double s_wpe = (double)c_sqlite.written / (double)n;
    printf("%-28s %14.0f %14.0f %9.2fx\n", "ingest, written B/event", wpe, s_wpe,
           wpe > 0 ? s_wpe / wpe : 0);
    printf("%-28s %14.1f %14.1f %9.2fx\n", "bytes on disk per event", bpe, s_bpe, s_bpe / bpe);
    for (int q = 0; q < Q_COUNT; q++) {
        char label[64];
        snprintf(label, sizeof label, "%s p50 ms", qname[q]);
        printf("%-28s %14.3f %14.3f %9.2fx\n", label, p50[q][0], p50[q][1],
               p50[q][0] > 0 ? p50[q][1] / p50[q][0] : 0);
        snprintf(label, sizeof label, "%s p99 ms", qname[q]);
        printf("%-28s %14.3f %14.3f %9.2fx\n", label, p99[q][0], p99[q][1],
               p99[q][0] > 0 ? p99[q][1] / p99[q][0] : 0);
        snprintf(label, sizeof label, "%s rows/query", qname[q]);
        printf("%-28s %14.1f %14.1f\n", label, nq[q] ? (double)rows[q][0] / (double)nq[q] : 0,
               nq[q] ? (double)rows[q][1] / (double)nq[q] : 0);
    }
    printf("%-28s %14.3f %14s\n", "workflow p50 ms, decoded", dec50, "-");
    printf("%-28s %14u\n", "dictionaries trained", st.dictionaries);
    printf("%-28s %14s\n", "event ids", o.time_ids ? "time-ordered" : "as given");
    printf("(ratio: how many times better the store is; >1 is better. checksum %" PRIu64 ")\n",
           sum % 1000);
    printf("{\"events\":%zu,\"group\":%zu,\"queries\":%zu,\"ingest_eps\":%.0f,"
           "\"sqlite_ingest_eps\":%.0f,\"ingest_ratio\":%.2f,\"ingest_cpu_eps\":%.0f,"
           "\"sqlite_ingest_cpu_eps\":%.0f,\"written_per_event\":%.0f,"
           "\"sqlite_written_per_event\":%.0f,\"bytes_per_event\":%.1f,"
           "\"sqlite_bytes_per_event\":%.1f,\"bytes_ratio\":%.3f,"
           "\"q_workflow_p50_ms\":%.3f,\"q_workflow_p99_ms\":%.3f,"
           "\"sqlite_q_workflow_p50_ms\":%.3f,\"sqlite_q_workflow_p99_ms\":%.3f,"
           "\"q_workflow_decoded_p50_ms\":%.3f,\"q_workflow_rows\":%.1f,"
           "\"q_trace_p50_ms\":%.4f,\"q_trace_p99_ms\":%.4f,\"sqlite_q_trace_p50_ms\":%.4f,"
           "\"q_trace_rows\":%.1f,\"q_incident_p50_ms\":%.4f,\"q_incident_p99_ms\":%.4f,"
           "\"sqlite_q_incident_p50_ms\":%.4f,\"q_incident_rows\":%.1f,\"dictionaries\":%u,"
           "\"ids\":\"%s\"}\n",
           n, o.group, o.queries, ingest, s_ingest, ingest / s_ingest, (double)n / c_store.cpu,
           (double)n / c_sqlite.cpu, wpe, s_wpe, bpe, s_bpe, bpe / s_bpe, p50[0][0], p99[0][0],
           p50[0][1], p99[0][1], dec50, (double)rows[0][0] / (double)o.queries, p50[1][0],
           p99[1][0], p50[1][1], (double)rows[1][0] / (double)o.queries, p50[2][0], p99[2][0],
           p50[2][1], nq[2] ? (double)rows[2][0] / (double)nq[2] : 0, st.dictionaries,
           o.time_ids ? "time-ordered" : "as given");

    for (int q = 0; q < Q_COUNT; q++) {
        sqlite3_finalize(sqs[q]);
        free(tq[q][0]);
        free(tq[q][1]);
    }
    sqlite3_finalize(ins);
    sqlite3_finalize(begin);
    sqlite3_finalize(commit);
    sqlite3_close(db);
    ts_close(&s);
    for (size_t i = 0; i < nincidents; i++)
        free(incidents[i]);
    free(incidents);
    free(keys);
    free(tdec);
    free(group);
    free(res);
    if (!o.keep && !o.dir) bench_remove_tree(dir);
    return 0;
}
