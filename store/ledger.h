/*
 * ledger.h - the Merkle log inside the store: what ts_open (open.c) calls to attach it.
 *
 * Responsibility: ts_ledger_attach is called by ts_open (open.c) for read-write stores; the
 * append hook it registers is the ledger's only way into ts_append. It creates
 * the ledger tables (log_nodes, log_checkpoints, log_info), chooses the log's origin on
 * first use, chooses the node layout of a new log, brings log_nodes up to the log size if a
 * writer without the ledger left it behind, and registers the append hook that extends the
 * tree in every ts_append transaction. Layout: docs/ledger.md.
 *
 * Node layout: log_nodes keeps only the complete subtrees of level >= a minimum level, kept
 * in log_info ("nodes_min_level", 1 byte); a node below it is computed from its 2^level
 * leaves when a proof or a root needs it. A log without the key (written before the
 * layout was recorded) keeps every node of level >= 1 and is read and extended that way.
 *
 * Threading: as the ts_store (one thread).
 */
#ifndef AGENTTRAIL_LEDGER_H
#define AGENTTRAIL_LEDGER_H

#include "store_internal.h"

/* The minimum stored level of a new log: a node of level 4 covers 16 leaves, so log_nodes
 * holds about one entry per 8 events (6.6 B/event instead of 52.8 with every node); a proof
 * computes its 4 lowest siblings from one range read of 16 leaf hashes (11 hashes), which
 * costs no more than the 4 node lookups it replaces. Chosen by measurement at levels 1, 4,
 * 5 and 6 (docs/ledger.md). */
#define TS_NODE_MIN_LEVEL 4u
/* The largest minimum level a log may record (a block of 2^8 leaves is computed at most). */
#define TS_NODE_LEVEL_MAX 8u

/* 0 or a TS_E* code (message recorded on the store). */
int ts_ledger_attach(ts_store *s);

/* Chooses the node layout of a read-write store whose log is still empty: log_nodes will
 * keep the subtrees of level >= min_level (1: every node, the layout of logs written before
 * the layout was recorded). ts_open chooses TS_NODE_MIN_LEVEL; this is for tests and
 * benchmarks that compare layouts. Returns 0, TS_EINVAL (min_level outside
 * 1..TS_NODE_LEVEL_MAX, or the log already has entries), TS_EREADONLY, TS_ELMDB. */
int ts_ledger_set_layout(ts_store *s, unsigned min_level);

#endif
