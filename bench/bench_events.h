/*
 * bench_events.h - the gen-events events a benchmark sends, held as JSON lines, and the
 * baseline every ingest benchmark measures first: the store alone.
 *
 * Responsibility: generating and loading the lines, parsing one into a tp_event, timing
 * ts_append of them all in groups of 1000, and the start of an ingest benchmark around them.
 * Ownership: a bench_events owns its lines (a benchmark keeps them for its whole run; they are not
 * freed). Threading: single-threaded.
 */
#ifndef AGENTTRAIL_BENCH_EVENTS_H
#define AGENTTRAIL_BENCH_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "traceproto.h"

/* n JSON lines (without their newline) and their lengths. */
typedef struct bench_events {
    char **lines;
    size_t *lens;
    size_t n;
} bench_events;

/* Writes `n` events of seed `seed` to DIR/events.jsonl (bench_generate_events) and loads
 * them into *ev (zeroed by the caller). Dies on failure. */
void bench_events_load(bench_events *ev, size_t n, uint64_t seed, const char *dir);

/* Line `i` parsed under the default limits; the caller destroys it. Dies if it does not
 * parse. */
tp_event *bench_events_parse(const bench_events *ev, size_t i);

/* Events per second of ts_append alone (groups of 1000, prepared outside the timing) into a
 * new store at `dir`: what a collector can at best reach. Dies on a store error. */
double bench_store_alone(const bench_events *ev, const char *dir);

/* The start every ingest benchmark shares: the directory of the running program into bindir
 * (where trace-collector is), a fresh work directory $TMPDIR/agenttrail-<name>-XXXXXX into tmp,
 * SIGPIPE ignored, `n` events of seed `seed` loaded into *ev (zeroed by the caller), then the
 * store alone measured in tmp/store-alone, each step said on stderr. Returns the store-alone
 * events per second. Dies on failure. */
double bench_ingest_begin(const char *name, size_t n, uint64_t seed, char *bindir,
                          size_t bindir_cap, char *tmp, size_t tmp_cap, bench_events *ev);

#endif
