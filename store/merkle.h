/*
 * merkle.h - the RFC 9162 Merkle tree of the AgentTrail log: hashes, roots,
 * inclusion and consistency proofs, their verification, and the compact
 * "frontier" used to extend the tree one leaf at a time.
 *
 * Responsibility: the tree math only. Where the hashes live is the caller's
 * business: every function that reads the tree reads it through a
 * merkle_node_fn accessor returning the hash of one complete, aligned
 * subtree (level 0 = a leaf hash). The store answers from the leaf hashes
 * kept in its blocks and its `log_nodes` table; tests answer from an array
 * in memory.
 *
 * Definitions (RFC 9162 section 2.1): leaf hash = SHA-256(0x00 || bytes),
 * node hash = SHA-256(0x01 || left || right), the hash of the empty tree is
 * SHA-256(""), and a tree of n > 1 leaves splits at k, the largest power of
 * two below n. node (level L, index i) covers leaves [i * 2^L, (i+1) * 2^L).
 *
 * Invariants: proofs hold at most MERKLE_MAX_PROOF hashes (a tree of at most
 * 2^63 leaves). Every function is pure apart from the accessor calls.
 *
 * Threading: no global state; reentrant and thread-safe as long as the
 * accessor is and each thread hashes with its own at_sha256_ctx.
 */
#ifndef AGENTTRAIL_MERKLE_H
#define AGENTTRAIL_MERKLE_H

#include <stddef.h>
#include <stdint.h>

#include "atcommon.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MERKLE_HASH_LEN 32
#define MERKLE_MAX_PROOF 64

/* Error codes of this module: the block -500..-599 of the registry in atcommon.h (-1..-3
 * before the blocks existed). The store translates them to TS_E* codes. */
enum {
    MERKLE_OK = 0,
    MERKLE_EINVAL = -500,  /* index or size out of range, proof buffer too small */
    MERKLE_ESOURCE = -501, /* the accessor failed (its own error is the caller's) */
    MERKLE_EVERIFY = -502, /* a proof does not lead to the given root */
    MERKLE_ECRYPTO = -503, /* SHA-256 failed (OpenSSL) */
};

/* Gives the hash of the complete subtree at `level` (0 = leaf) and `index`
 * into out. Returns 0, or any non-zero value on failure (reported as
 * MERKLE_ESOURCE). */
typedef int (*merkle_node_fn)(void *ctx, unsigned level, uint64_t index,
                              uint8_t out[MERKLE_HASH_LEN]);

/* Every function that hashes takes the caller's SHA-256 context `h` (at_sha256_new, reused
 * for every hash: no allocation per hash) and returns MERKLE_ECRYPTO when OpenSSL fails. */

/* SHA-256(0x00 || data[0..len)) into out. 0 or MERKLE_ECRYPTO. */
int merkle_leaf_hash(at_sha256_ctx *h, const void *data, size_t len, uint8_t out[MERKLE_HASH_LEN]);

/* SHA-256(0x01 || left || right) into out (out may alias left or right). 0 or
 * MERKLE_ECRYPTO. */
int merkle_node_hash(at_sha256_ctx *h, const uint8_t left[MERKLE_HASH_LEN],
                     const uint8_t right[MERKLE_HASH_LEN], uint8_t out[MERKLE_HASH_LEN]);

/* The root of the tree of the first `size` leaves (SHA-256("") when 0).
 * Reads O(log size) nodes. Returns 0 or MERKLE_ESOURCE. */
int merkle_root(at_sha256_ctx *h, merkle_node_fn get, void *ctx, uint64_t size,
                uint8_t out[MERKLE_HASH_LEN]);

/* The inclusion proof of leaf `index` in the tree of `size` leaves
 * (RFC 9162 2.1.3.1), deepest sibling first, into proof[0..*n). `max` is the
 * capacity of proof (MERKLE_MAX_PROOF always suffices). Returns 0,
 * MERKLE_EINVAL (index >= size or max too small), MERKLE_ESOURCE. */
int merkle_inclusion_proof(at_sha256_ctx *h, merkle_node_fn get, void *ctx, uint64_t index,
                           uint64_t size, uint8_t (*proof)[MERKLE_HASH_LEN], size_t max, size_t *n);

/* The consistency proof between the trees of `old_size` and `new_size`
 * leaves (RFC 9162 2.1.4.1) into proof[0..*n). Empty when old_size is 0 or
 * equal to new_size. Returns 0, MERKLE_EINVAL (old_size > new_size or max
 * too small), MERKLE_ESOURCE. */
int merkle_consistency_proof(at_sha256_ctx *h, merkle_node_fn get, void *ctx, uint64_t old_size,
                             uint64_t new_size, uint8_t (*proof)[MERKLE_HASH_LEN], size_t max,
                             size_t *n);

/* Checks that `leaf` (a leaf hash) is at `index` in the tree of `size`
 * leaves whose root is `root` (RFC 9162 2.1.3.2). Returns 0 or
 * MERKLE_EVERIFY. */
int merkle_verify_inclusion(at_sha256_ctx *h, const uint8_t leaf[MERKLE_HASH_LEN], uint64_t index,
                            uint64_t size, const uint8_t (*proof)[MERKLE_HASH_LEN], size_t n,
                            const uint8_t root[MERKLE_HASH_LEN]);

/* Checks that the tree (new_size, new_root) extends (old_size, old_root)
 * (RFC 9162 2.1.4.2). old_size 0 is consistent with any tree given an empty
 * proof; equal sizes need equal roots and an empty proof. Returns 0 or
 * MERKLE_EVERIFY. */
int merkle_verify_consistency(at_sha256_ctx *h, uint64_t old_size, uint64_t new_size,
                              const uint8_t old_root[MERKLE_HASH_LEN],
                              const uint8_t new_root[MERKLE_HASH_LEN],
                              const uint8_t (*proof)[MERKLE_HASH_LEN], size_t n);

/* ---- building the tree leaf by leaf ---------------------------------- */

/* The right edge of a tree: for each set bit L of size, the hash of the
 * complete subtree of 2^L leaves that ends the tree there. Plain data:
 * zero-initialise it for the empty tree, copy it freely. */
typedef struct merkle_frontier {
    uint64_t size;
    uint8_t hash[64][MERKLE_HASH_LEN];
} merkle_frontier;

/* Called for each complete subtree (level >= 1) finished by an append. */
typedef int (*merkle_emit_fn)(void *ctx, unsigned level, uint64_t index,
                              const uint8_t hash[MERKLE_HASH_LEN]);

/* Appends one leaf hash; `emit` (may be NULL) receives every internal node
 * it completes, lowest first. Returns 0, MERKLE_EINVAL (tree full), or
 * MERKLE_ESOURCE when emit fails (the frontier is then unchanged). */
int merkle_frontier_append(at_sha256_ctx *h, merkle_frontier *f,
                           const uint8_t leaf[MERKLE_HASH_LEN], merkle_emit_fn emit, void *ctx);

/* The root of the frontier's tree. 0 or MERKLE_ECRYPTO. */
int merkle_frontier_root(at_sha256_ctx *h, const merkle_frontier *f, uint8_t out[MERKLE_HASH_LEN]);

/* Loads the frontier of the tree of `size` leaves through an accessor
 * (O(log size) reads). Returns 0 or MERKLE_ESOURCE. */
int merkle_frontier_load(merkle_frontier *f, merkle_node_fn get, void *ctx, uint64_t size);

#ifdef __cplusplus
}
#endif
#endif
