/*
 * store_fixture.h - events and stores for the store tests.
 *
 * Owns nothing global. Events are built in memory (tp_event_new + malloc'd
 * strings), deterministic from a seed, varied enough to compress like real
 * ones; stores are real LMDB stores in tu_tempdir directories.
 * Single-threaded.
 */
#ifndef AGENTTRAIL_STORE_FIXTURE_H
#define AGENTTRAIL_STORE_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "tracestore.h"

/* A trace id derived from n (never all zero). */
void fx_trace_id(uint64_t n, uint8_t out[16]);
/* An event id derived from n. */
void fx_event_id(uint64_t n, uint8_t out[16]);

/* A new tool_call event: id from `n`, trace `trace` (fx_trace_id), the given
 * workflow, dri (NULL: derived from n), time `ts`. Caller destroys. */
tp_event *fx_event(uint64_t n, uint64_t trace, const char *workflow, const char *dri, uint64_t ts);

/* Opens (creating) a store in dir; fails the test on error. */
ts_store *fx_open(const char *dir, unsigned flags, const ts_options *opt);

/* A new store (created) in a new temp directory tu_tempdir(tag), its path in *dir; fails the
 * test on error. fx_done closes the store and removes and frees the directory. */
ts_store *fx_new_store(const char *tag, char **dir);
void fx_done(ts_store **s, char *dir);

/* Appends events [0, n) and checks every result is STORED. */
void fx_append_all(ts_store *s, tp_event **ev, size_t n);

/* The store holds exactly n events (ts_stat); fails the test otherwise. */
void fx_expect_events(ts_store *s, uint64_t n);

/* Destroys n events. */
void fx_free(tp_event **ev, size_t n);

/* Collects every event of a query (all pages of `page` events, or one pass
 * when page == 0): log indexes into out (malloc'd), count returned; checks
 * time order. */
size_t fx_query_all(ts_store *s, const ts_filter *f, size_t page, uint64_t **out);

/* A ts_check report function that prints to stderr and counts in *(int *)ctx. */
void fx_report(void *ctx, const char *msg);

#endif
