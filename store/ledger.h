/*
 * ledger.h - the Merkle log inside the store: what store.c calls to keep it.
 *
 * Responsibility: ts_ledger_attach is called by ts_open for read-write stores. It creates
 * the ledger tables (log_nodes, log_checkpoints, log_info), chooses the log's origin on
 * first use, brings log_nodes up to the log size if a writer without the ledger left it
 * behind, and registers the append hook that extends the tree in every ts_append
 * transaction. Layout: docs/ledger.md.
 *
 * Threading: as the ts_store (one thread).
 */
#ifndef AGENTTRAIL_LEDGER_H
#define AGENTTRAIL_LEDGER_H

#include "store_internal.h"

/* 0 or a TS_E* code (message recorded on the store). */
int ts_ledger_attach(ts_store *s);

#endif
