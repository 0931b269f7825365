/*
 * shim_send.h - trace-shim's send mode: JSON lines -> libtraceshim -> collector.
 *
 * Responsibility: reads events with jsonl_source (the same judgement and
 * messages as --dry-run) or, with --follow, tails a growing file judging each
 * complete line with jsonl_judge_line; emits them through libtraceshim; waits
 * for the acks up to the timeout; prints the one-line summary on stderr.
 * Ownership: borrows everything it is given.
 * Threading: called once from trace-shim's main thread; installs SIGINT and
 * SIGTERM handlers (they end --follow) for the duration of the call.
 */
#ifndef AGENTTRAIL_SHIM_SEND_H
#define AGENTTRAIL_SHIM_SEND_H

#include <stddef.h>

#include "jsonl_source.h"
#include "traceshim.h"

typedef struct shim_send_options {
    const char *endpoints[TRACESHIM_MAX_ENDPOINTS]; /* NULL-terminated; none: the default */
    int nendpoints;
    const char *spool_dir;        /* NULL: $AGENTTRAIL_SPOOL_DIR, else ./agenttrail-spool */
    unsigned timeout_s;           /* wait for acks this long at the end (0: default 30) */
    const char *follow;           /* tail this file instead of reading `files` */
    const char *curve_server_key; /* Z85 (--server-key); NULL: no CURVE */
    const char *curve_secret_key; /* Z85 (--client-key) */
} shim_send_options;

/* What became of the events. */
enum {
    SHIM_SEND_DELIVERED = 0, /* every accepted line acked */
    SHIM_SEND_REJECTED = 1,  /* the collector refused some events */
    SHIM_SEND_TIMEOUT = 3,   /* not all acked in time: the rest waits in the spool */
    SHIM_SEND_LOST = 4,      /* events were dropped (the spool could not take them) or lost
                                (damaged spool records); wins over the others */
};

/* Sends. Returns 0 with *delivery (SHIM_SEND_*) and the line counters in
 * *stats, or 2 when the client cannot start (message printed). */
int shim_send_run(const shim_send_options *o, const jsonl_options *judge, const char *const *files,
                  size_t n, jsonl_stats *stats, int *delivery);

#endif
