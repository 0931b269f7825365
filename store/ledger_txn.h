/*
 * ledger_txn.h - what the ledger's files share (ledger.c, ledger_check.c,
 * ledger_checkpoints.c): its table names, the ledger transaction (a store transaction with
 * the tree ready to read) and the node accessor merkle.c reads the tree through.
 * Internal to the ledger: nothing outside store/ledger*.c includes it.
 *
 * Threading: as the ts_store (one thread).
 */
#ifndef AGENTTRAIL_LEDGER_TXN_H
#define AGENTTRAIL_LEDGER_TXN_H

#include "ledger.h"
#include "merkle.h"

#define T_NODES "log_nodes"
#define T_CHECKPOINTS "log_checkpoints"
#define T_INFO "log_info"
#define K_MIN_LEVEL "nodes_min_level"

/* Leaves read per range while extending or checking the tree. */
#define LEAF_CHUNK 256

/* The leaves of one aligned block of 2^L leaves and the hashes of its levels 1..L-1 computed
 * so far: level j starts at block_off(L, j), so the block's nodes take at most 2^(L+1)
 * slots. */
typedef struct low_block {
    uint64_t index; /* block number (leaves from index << L); UINT64_MAX when empty */
    uint64_t count; /* leaves of the block present (fewer at the log's right edge) */
    uint8_t done[2u << TS_NODE_LEVEL_MAX]; /* 1: h[slot] is computed (leaves always are) */
    uint8_t h[2u << TS_NODE_LEVEL_MAX][MERKLE_HASH_LEN];
} low_block;

typedef struct ledger_txn {
    ts_store *s;
    MDB_txn *txn;
    MDB_dbi nodes;
    unsigned min_level;   /* log_nodes keeps the levels >= this one */
    uint64_t leaves;      /* leaves present in txn: the blocks read stop there */
    MDB_cursor *leaf_cur; /* on the store's events, opened by the first ledger_leaves_read */
    int failed_rc;        /* the TS_E* / LMDB code behind a MERKLE_ESOURCE */
    low_block blk;
} ledger_txn;

/* Opens the tree inside txn (the node layout, the log_nodes table). 0 or a TS_E* code. */
int ledger_open(ledger_txn *l, ts_store *s, MDB_txn *txn);
/* Closes what ledger_open opened (not txn). */
void ledger_close(ledger_txn *l);
/* Begins a read with the tree ready to read (ledger_read_end after). */
int ledger_read_begin(ts_store *s, ledger_txn *l);
void ledger_read_end(ledger_txn *l);
/* The leaf hashes [first, first + n) from the store's blocks (the one place that asks the
 * store for leaf hashes). 0 or a TS_E* code. */
int ledger_leaves_read(ledger_txn *l, uint64_t first, size_t n, uint8_t (*out)[MERKLE_HASH_LEN]);
/* The log_nodes key of node (level, index). */
void ledger_node_key(uint8_t key[9], unsigned level, uint64_t index);
/* The merkle_node_fn of the store: ctx is a ledger_txn. */
int ledger_node_get(void *ctx, unsigned level, uint64_t index, uint8_t out[MERKLE_HASH_LEN]);
/* A merkle.c result as a store code (MERKLE_ESOURCE: the accessor's own). */
int ledger_from_merkle(ledger_txn *l, int mrc);
/* TS_EINVAL unless 0 < size <= the log's size. */
int ledger_check_size(ledger_txn *l, uint64_t size);

#endif
