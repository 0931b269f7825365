/*
 * bench_events.c - the helpers of bench_events.h: loading gen-events lines, parsing one, and
 * the store-alone baseline, the start of an ingest benchmark.
 *
 * Owns the loaded lines (kept for the process's life). Threading: single-threaded.
 */
#include "bench_events.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "bench_common.h"
#include "tracestore.h"

void bench_events_load(bench_events *ev, size_t n, uint64_t seed, const char *dir)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/events.jsonl", dir);
    bench_generate_events(n, seed, path);
    FILE *f = fopen(path, "r");
    if (!f) bench_die(path, strerror(errno));
    ev->lines = calloc(n, sizeof *ev->lines);
    ev->lens = calloc(n, sizeof *ev->lens);
    if (!ev->lines || !ev->lens) bench_die("out of memory", NULL);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while (ev->n < n && (len = getline(&line, &cap, f)) > 0) {
        if (line[len - 1] == '\n') line[--len] = 0;
        ev->lines[ev->n] = strndup(line, (size_t)len);
        ev->lens[ev->n++] = (size_t)len;
    }
    free(line);
    fclose(f);
}

tp_event *bench_events_parse(const bench_events *ev, size_t i)
{
    tp_limits lim = tp_limits_default();
    tp_event *e = NULL;
    at_error err;
    if (tp_event_from_json(ev->lines[i], ev->lens[i], &lim, 0, &e, &err, NULL) != 0)
        bench_die("gen-events line does not parse", err.what);
    return e;
}

double bench_store_alone(const bench_events *ev, const char *dir)
{
    ts_store *s = NULL;
    at_error err = {0};
    if (ts_open(dir, TS_OPEN_CREATE, NULL, &s, &err) != 0) bench_die(dir, err.what);
    enum { G = 1000 };
    tp_event *group[G];
    ts_result res[G];
    double spent = 0;
    for (size_t at = 0; at < ev->n; at += G) {
        size_t g = ev->n - at < G ? ev->n - at : G;
        for (size_t i = 0; i < g; i++) {
            group[i] = bench_events_parse(ev, at + i);
            at_error e;
            tp_event_prepare(group[i], NULL, 0, &e);
        }
        double t = bench_now_s();
        if (ts_append(s, group, g, res) != 0) bench_die("ts_append", ts_last_error(s));
        spent += bench_now_s() - t;
        for (size_t i = 0; i < g; i++)
            tp_event_destroy(&group[i]);
    }
    ts_close(&s);
    return (double)ev->n / spent;
}

double bench_ingest_begin(const char *name, size_t n, uint64_t seed, char *bindir,
                          size_t bindir_cap, char *tmp, size_t tmp_cap, bench_events *ev)
{
    ssize_t l = readlink("/proc/self/exe", bindir, bindir_cap - 1);
    if (l <= 0) bench_die("/proc/self/exe", strerror(errno));
    bindir[l] = 0;
    *strrchr(bindir, '/') = 0;
    snprintf(tmp, tmp_cap, "%s/agenttrail-%s-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
             name);
    bench_make_work_dir(NULL, tmp);
    signal(SIGPIPE, SIG_IGN);
    bench_events_load(ev, n, seed, tmp);
    fprintf(stderr, "%s: %zu events from gen-events, temp %s\n", name, ev->n, tmp);
    char alone[PATH_MAX + 32];
    snprintf(alone, sizeof alone, "%s/store-alone", tmp);
    double base = bench_store_alone(ev, alone);
    fprintf(stderr, "%s: store alone %.0f events/s\n", name, base);
    return base;
}
