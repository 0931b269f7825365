/*
 * merkle.c - the RFC 9162 Merkle tree math (see merkle.h).
 *
 * Owns nothing: every function reads the tree through the caller's
 * accessor and hashes through the caller's at_sha256_ctx (libtracecommon's
 * one EVP path, every OpenSSL return checked): a context kept by the caller
 * costs no allocation and no provider fetch per hash, which matters here
 * (one hash per event on ingest, two per node on verification). Recursion
 * depth is bounded by 64 (one level per bit of size).
 *
 * Threading: reentrant, no global state.
 */
#include "merkle.h"

#include <string.h>

/* SHA-256(a || b) into out. The context is always finalised, so that a failure leaves it
 * reset for the next message. */
static int digest(at_sha256_ctx *h, const void *a, size_t an, const void *b, size_t bn,
                  uint8_t out[MERKLE_HASH_LEN])
{
    uint8_t scratch[MERKLE_HASH_LEN];
    int rc = at_sha256_update(h, a, an);
    if (!rc && bn) rc = at_sha256_update(h, b, bn);
    int frc = at_sha256_final(h, rc ? scratch : out);
    return rc || frc ? MERKLE_ECRYPTO : 0;
}

int merkle_leaf_hash(at_sha256_ctx *h, const void *data, size_t len, uint8_t out[MERKLE_HASH_LEN])
{
    static const uint8_t prefix = 0x00;
    return digest(h, &prefix, 1, data, len, out);
}

int merkle_node_hash(at_sha256_ctx *h, const uint8_t left[MERKLE_HASH_LEN],
                     const uint8_t right[MERKLE_HASH_LEN], uint8_t out[MERKLE_HASH_LEN])
{
    uint8_t buf[1 + 2 * MERKLE_HASH_LEN];
    buf[0] = 0x01;
    memcpy(buf + 1, left, MERKLE_HASH_LEN);
    memcpy(buf + 1 + MERKLE_HASH_LEN, right, MERKLE_HASH_LEN);
    return digest(h, buf, sizeof buf, NULL, 0, out);
}

/* SHA-256(""), the root of the empty tree. */
static int empty_root(at_sha256_ctx *h, uint8_t out[MERKLE_HASH_LEN])
{
    return digest(h, "", 0, NULL, 0, out);
}

/* The largest power of two strictly below n (n >= 2). */
static uint64_t split_point(uint64_t n)
{
    uint64_t k = 1;
    while (k << 1 < n)
        k <<= 1;
    return k;
}

static int is_pow2(uint64_t n)
{
    return n && !(n & (n - 1));
}

static unsigned log2_exact(uint64_t n)
{
    unsigned l = 0;
    while ((UINT64_C(1) << l) < n)
        l++;
    return l;
}

/* MTH of the leaves [lo, lo+n), n >= 1, lo aligned as in every RFC 9162
 * recursion (a multiple of the largest power of two <= n). */
static int subtree_hash(at_sha256_ctx *h, merkle_node_fn get, void *ctx, uint64_t lo, uint64_t n,
                        uint8_t out[MERKLE_HASH_LEN])
{
    if (is_pow2(n)) {
        unsigned level = log2_exact(n);
        return get(ctx, level, lo >> level, out) ? MERKLE_ESOURCE : 0;
    }
    uint64_t k = split_point(n);
    uint8_t left[MERKLE_HASH_LEN], right[MERKLE_HASH_LEN];
    int rc = subtree_hash(h, get, ctx, lo, k, left);
    if (!rc) rc = subtree_hash(h, get, ctx, lo + k, n - k, right);
    if (!rc) rc = merkle_node_hash(h, left, right, out);
    return rc;
}

int merkle_root(at_sha256_ctx *h, merkle_node_fn get, void *ctx, uint64_t size,
                uint8_t out[MERKLE_HASH_LEN])
{
    if (size == 0) return empty_root(h, out);
    return subtree_hash(h, get, ctx, 0, size, out);
}

/* A proof under construction. */
typedef struct proof_buf {
    uint8_t (*h)[MERKLE_HASH_LEN];
    size_t n, max;
    at_sha256_ctx *sha;
} proof_buf;

static int proof_push(proof_buf *p, merkle_node_fn get, void *ctx, uint64_t lo, uint64_t n)
{
    if (p->n >= p->max) return MERKLE_EINVAL;
    int rc = subtree_hash(p->sha, get, ctx, lo, n, p->h[p->n]);
    if (!rc) p->n++;
    return rc;
}

/* PATH(m, D[lo, lo+n)) of RFC 9162 2.1.3.1. */
static int path(proof_buf *p, merkle_node_fn get, void *ctx, uint64_t m, uint64_t lo, uint64_t n)
{
    if (n <= 1) return 0;
    uint64_t k = split_point(n);
    int rc;
    if (m < k) {
        rc = path(p, get, ctx, m, lo, k);
        return rc ? rc : proof_push(p, get, ctx, lo + k, n - k);
    }
    rc = path(p, get, ctx, m - k, lo + k, n - k);
    return rc ? rc : proof_push(p, get, ctx, lo, k);
}

int merkle_inclusion_proof(at_sha256_ctx *h, merkle_node_fn get, void *ctx, uint64_t index,
                           uint64_t size, uint8_t (*proof)[MERKLE_HASH_LEN], size_t max, size_t *n)
{
    *n = 0;
    if (index >= size) return MERKLE_EINVAL;
    proof_buf p = {proof, 0, max, h};
    int rc = path(&p, get, ctx, index, 0, size);
    *n = rc ? 0 : p.n;
    return rc;
}

/* SUBPROOF(m, D[lo, lo+n), b) of RFC 9162 2.1.4.1. */
static int subproof(proof_buf *p, merkle_node_fn get, void *ctx, uint64_t m, uint64_t lo,
                    uint64_t n, int b)
{
    if (m == n) return b ? 0 : proof_push(p, get, ctx, lo, n);
    uint64_t k = split_point(n);
    int rc;
    if (m <= k) {
        rc = subproof(p, get, ctx, m, lo, k, b);
        return rc ? rc : proof_push(p, get, ctx, lo + k, n - k);
    }
    rc = subproof(p, get, ctx, m - k, lo + k, n - k, 0);
    return rc ? rc : proof_push(p, get, ctx, lo, k);
}

int merkle_consistency_proof(at_sha256_ctx *h, merkle_node_fn get, void *ctx, uint64_t old_size,
                             uint64_t new_size, uint8_t (*proof)[MERKLE_HASH_LEN], size_t max,
                             size_t *n)
{
    *n = 0;
    if (old_size > new_size) return MERKLE_EINVAL;
    if (old_size == 0 || old_size == new_size) return 0;
    proof_buf p = {proof, 0, max, h};
    int rc = subproof(&p, get, ctx, old_size, 0, new_size, 1);
    *n = rc ? 0 : p.n;
    return rc;
}

int merkle_verify_inclusion(at_sha256_ctx *h, const uint8_t leaf[MERKLE_HASH_LEN], uint64_t index,
                            uint64_t size, const uint8_t (*proof)[MERKLE_HASH_LEN], size_t n,
                            const uint8_t root[MERKLE_HASH_LEN])
{
    if (index >= size) return MERKLE_EVERIFY;
    uint64_t fn = index, sn = size - 1;
    uint8_t r[MERKLE_HASH_LEN];
    memcpy(r, leaf, MERKLE_HASH_LEN);
    for (size_t i = 0; i < n; i++) {
        if (sn == 0) return MERKLE_EVERIFY;
        if ((fn & 1) || fn == sn) {
            if (merkle_node_hash(h, proof[i], r, r)) return MERKLE_ECRYPTO;
            /* A left child with no right sibling at this level: climb. */
            while (!(fn & 1) && fn != 0) {
                fn >>= 1;
                sn >>= 1;
            }
        } else {
            if (merkle_node_hash(h, r, proof[i], r)) return MERKLE_ECRYPTO;
        }
        fn >>= 1;
        sn >>= 1;
    }
    if (sn != 0 || memcmp(r, root, MERKLE_HASH_LEN) != 0) return MERKLE_EVERIFY;
    return 0;
}

int merkle_verify_consistency(at_sha256_ctx *h, uint64_t old_size, uint64_t new_size,
                              const uint8_t old_root[MERKLE_HASH_LEN],
                              const uint8_t new_root[MERKLE_HASH_LEN],
                              const uint8_t (*proof)[MERKLE_HASH_LEN], size_t n)
{
    if (old_size > new_size) return MERKLE_EVERIFY;
    if (old_size == 0) return n == 0 ? 0 : MERKLE_EVERIFY;
    if (old_size == new_size)
        return n == 0 && memcmp(old_root, new_root, MERKLE_HASH_LEN) == 0 ? 0 : MERKLE_EVERIFY;
    if (n == 0) return MERKLE_EVERIFY;

    /* When the old tree is a complete subtree its root is the proof's
     * implicit first element. */
    size_t i = 0;
    uint8_t fr[MERKLE_HASH_LEN], sr[MERKLE_HASH_LEN];
    if (is_pow2(old_size)) {
        memcpy(fr, old_root, MERKLE_HASH_LEN);
    } else {
        memcpy(fr, proof[0], MERKLE_HASH_LEN);
        i = 1;
    }
    memcpy(sr, fr, MERKLE_HASH_LEN);
    uint64_t fn = old_size - 1, sn = new_size - 1;
    while (fn & 1) {
        fn >>= 1;
        sn >>= 1;
    }
    for (; i < n; i++) {
        if (sn == 0) return MERKLE_EVERIFY;
        if ((fn & 1) || fn == sn) {
            if (merkle_node_hash(h, proof[i], fr, fr)) return MERKLE_ECRYPTO;
            if (merkle_node_hash(h, proof[i], sr, sr)) return MERKLE_ECRYPTO;
            while (!(fn & 1) && fn != 0) {
                fn >>= 1;
                sn >>= 1;
            }
        } else {
            if (merkle_node_hash(h, sr, proof[i], sr)) return MERKLE_ECRYPTO;
        }
        fn >>= 1;
        sn >>= 1;
    }
    if (sn != 0 || memcmp(fr, old_root, MERKLE_HASH_LEN) != 0 ||
        memcmp(sr, new_root, MERKLE_HASH_LEN) != 0)
        return MERKLE_EVERIFY;
    return 0;
}

int merkle_frontier_append(at_sha256_ctx *sha, merkle_frontier *f,
                           const uint8_t leaf[MERKLE_HASH_LEN], merkle_emit_fn emit, void *ctx)
{
    if (f->size >= (UINT64_C(1) << 63)) return MERKLE_EINVAL;
    uint8_t h[MERKLE_HASH_LEN];
    memcpy(h, leaf, MERKLE_HASH_LEN);
    uint64_t index = f->size;
    unsigned level = 0;
    /* Each set low bit of size is a complete subtree waiting for a right
     * sibling of the same size: merge while they carry. Emit first, so
     * that a failing emit leaves the frontier as it was. */
    while ((f->size >> level) & 1) {
        if (merkle_node_hash(sha, f->hash[level], h, h)) return MERKLE_ECRYPTO;
        level++;
        index >>= 1;
        if (emit && emit(ctx, level, index, h)) return MERKLE_ESOURCE;
    }
    memcpy(f->hash[level], h, MERKLE_HASH_LEN);
    f->size++;
    return 0;
}

int merkle_frontier_root(at_sha256_ctx *h, const merkle_frontier *f, uint8_t out[MERKLE_HASH_LEN])
{
    if (f->size == 0) return empty_root(h, out);
    int have = 0;
    for (unsigned l = 0; l < 64; l++) {
        if (!((f->size >> l) & 1)) continue;
        if (!have) {
            memcpy(out, f->hash[l], MERKLE_HASH_LEN);
            have = 1;
        } else {
            if (merkle_node_hash(h, f->hash[l], out, out)) return MERKLE_ECRYPTO;
        }
    }
    return 0;
}

int merkle_frontier_load(merkle_frontier *f, merkle_node_fn get, void *ctx, uint64_t size)
{
    memset(f, 0, sizeof *f);
    uint64_t start = 0;
    for (int l = 63; l >= 0; l--) {
        if (!((size >> l) & 1)) continue;
        if (get(ctx, (unsigned)l, start >> l, f->hash[l])) return MERKLE_ESOURCE;
        start += UINT64_C(1) << l;
    }
    f->size = size;
    return 0;
}
