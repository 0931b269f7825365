/*
 * merkle_ref.h - RFC 9162 section 2.1 read literally (MTH, PATH, PROOF/SUBPROOF), written
 * from the RFC's definitions and independent of store/merkle.c, for the ledger tests to
 * compare the real tree with: test_merkle.c (the tree math) and test_ledger_layout.c (the
 * tree inside a store).
 *
 * Owns one table of leaf hashes and a memo of MTH over every [lo, lo+n) (ref_init
 * allocates, ref_free releases). Single-threaded: one reference at a time per process.
 */
#ifndef AGENTTRAIL_MERKLE_REF_H
#define AGENTTRAIL_MERKLE_REF_H

#include <stddef.h>
#include <stdint.h>

#define REF_H 32
#define REF_MAX_PROOF 64

/* Uses leaf hashes leaves[0..n) (copied) as the leaves D[0..n); forgets the memo. */
void ref_init(const uint8_t (*leaves)[REF_H], size_t n);
void ref_free(void);

/* SHA-256(a || b || c) through OpenSSL EVP (parts may be empty). */
void ref_sha256(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen, const uint8_t *c,
                size_t clen, uint8_t out[REF_H]);

/* MTH(D[lo:lo+n]): SHA-256("") for n = 0, the leaf hash for n = 1. */
void ref_mth(size_t lo, size_t n, uint8_t out[REF_H]);

typedef struct ref_proof {
    uint8_t h[REF_MAX_PROOF][REF_H];
    size_t n;
} ref_proof;

/* PATH(m, D[lo:lo+n]) appended to p. */
void ref_path(ref_proof *p, size_t m, size_t lo, size_t n);
/* SUBPROOF(m, D[lo:lo+n], b) appended to p. */
void ref_subproof(ref_proof *p, size_t m, size_t lo, size_t n, int b);

#endif
