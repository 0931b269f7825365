/*
 * test_merkle.c - the Merkle tree math of store/merkle.c against an independent,
 * straightforward recursive implementation of RFC 9162 written here from the RFC's
 * definitions (MTH, PATH, PROOF/SUBPROOF), at every tree size 0..256, plus the
 * published Certificate Transparency test vectors and tampered proofs.
 *
 * Owns: a static table of 256 leaves (the reference, merkle_ref.c, keeps their hashes and
 * its memo). Single-threaded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "at_test.h"
#include "merkle.h"
#include "merkle_ref.h"

/* One SHA-256 context for every hash of this file (merkle.h hashes through the caller's). */
static at_sha256_ctx *sha(void)
{
    static at_sha256_ctx *h;
    if (!h) h = at_sha256_new();
    return h;
}

#define N_MAX 256
#define H MERKLE_HASH_LEN

/* ---- the leaves of the reference (merkle_ref.c: RFC 9162 read literally) -- */

static uint8_t leaf_data[N_MAX][8];
static size_t leaf_len[N_MAX];

/* ---- the accessor merkle.c reads through ---------------------------- */

static unsigned long accessor_calls;

static int ref_node(void *ctx, unsigned level, uint64_t index, uint8_t out[H])
{
    size_t limit = *(size_t *)ctx;
    uint64_t lo = index << level, n = UINT64_C(1) << level;
    if (level > 8 || lo + n > limit) return -1; /* outside the tree asked about */
    accessor_calls++;
    ref_mth((size_t)lo, (size_t)n, out);
    return 0;
}

static int setup_leaves(void **state)
{
    (void)state;
    /* Distinct leaves of varied lengths; leaf 0 is the empty string. Their hashes are
     * SHA-256(0x00 || data), computed here, not by merkle.c. */
    static uint8_t hashes[N_MAX][H];
    for (size_t i = 0; i < N_MAX; i++) {
        leaf_len[i] = i == 0 ? 0 : (i % 8) + 1;
        for (size_t j = 0; j < sizeof leaf_data[i]; j++)
            leaf_data[i][j] = (uint8_t)(i * 31 + j * 7);
        uint8_t zero = 0;
        ref_sha256(&zero, 1, leaf_data[i], leaf_len[i], NULL, 0, hashes[i]);
    }
    ref_init((const uint8_t(*)[H])hashes, N_MAX);
    return 0;
}

static int teardown_leaves(void **state)
{
    (void)state;
    ref_free();
    return 0;
}

static void hex32(const uint8_t h[H], char out[65])
{
    static const char d[] = "0123456789abcdef";
    for (int i = 0; i < H; i++) {
        out[2 * i] = d[h[i] >> 4];
        out[2 * i + 1] = d[h[i] & 15];
    }
    out[64] = 0;
}

static void assert_hash_equal(const uint8_t a[H], const uint8_t b[H])
{
    char x[65], y[65];
    hex32(a, x);
    hex32(b, y);
    assert_string_equal(x, y);
}

/* ---- tests ----------------------------------------------------------- */

AT_TEST(test_merkle_roots_match_reference_at_every_size_0_to_256)
{
    (void)state;
    for (size_t n = 0; n <= N_MAX; n++) {
        uint8_t got[H], want[H];
        size_t limit = n;
        assert_int_equal(merkle_root(sha(), ref_node, &limit, n, got), 0);
        ref_mth(0, n, want);
        assert_hash_equal(got, want);
    }
}

/* The Certificate Transparency reference vectors (RFC 6962 test data):
 * leaves "", 00, 10, 2021, 3031, 40414243, 5051525354555657,
 * 606162636465666768696a6b6c6d6e6f. */
static uint8_t ct_leaf[8][16];
static size_t ct_len[8];
static int ct_node(void *ctx, unsigned level, uint64_t index, uint8_t out[H])
{
    (void)ctx;
    if (level == 0) {
        merkle_leaf_hash(sha(), ct_leaf[index], ct_len[index], out);
        return 0;
    }
    uint8_t l[H], r[H];
    ct_node(ctx, level - 1, 2 * index, l);
    ct_node(ctx, level - 1, 2 * index + 1, r);
    merkle_node_hash(sha(), l, r, out);
    return 0;
}

AT_TEST(test_merkle_roots_match_published_ct_vectors)
{
    (void)state;
    static const char *hexleaves[8] = {"",
                                       "00",
                                       "10",
                                       "2021",
                                       "3031",
                                       "40414243",
                                       "5051525354555657",
                                       "606162636465666768696a6b6c6d6e6f"};
    static const char *roots[9] = {
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    };
    for (int i = 0; i < 8; i++) {
        ct_len[i] = strlen(hexleaves[i]) / 2;
        for (size_t j = 0; j < ct_len[i]; j++) {
            unsigned v;
            assert_int_equal(sscanf(hexleaves[i] + 2 * j, "%2x", &v), 1);
            ct_leaf[i][j] = (uint8_t)v;
        }
    }
    for (uint64_t n = 0; n <= 8; n++) {
        uint8_t got[H];
        char hex[65];
        assert_int_equal(merkle_root(sha(), ct_node, NULL, n, got), 0);
        hex32(got, hex);
        assert_string_equal(hex, roots[n]);
    }
}

/* The inclusion proof of leaf m, or the consistency proof of size m, in the reference
 * tree of n leaves, which must be made (and its length set); returns its length. */
enum { INCLUSION, CONSISTENCY };
static size_t proof_of(int which, size_t m, size_t n, uint8_t (*proof)[H])
{
    size_t len = 99, limit = n;
    int rc = which == INCLUSION ? merkle_inclusion_proof(sha(), ref_node, &limit, m, n, proof,
                                                         MERKLE_MAX_PROOF, &len)
                                : merkle_consistency_proof(sha(), ref_node, &limit, m, n, proof,
                                                           MERKLE_MAX_PROOF, &len);
    assert_int_equal(rc, 0);
    return len;
}

AT_TEST(test_merkle_inclusion_proofs_match_reference_and_verify)
{
    (void)state;
    for (size_t n = 1; n <= N_MAX; n++) {
        uint8_t root[H];
        ref_mth(0, n, root);
        for (size_t m = 0; m < n; m++) {
            uint8_t proof[MERKLE_MAX_PROOF][H];
            size_t len = proof_of(INCLUSION, m, n, proof);
            ref_proof want = {.n = 0};
            ref_path(&want, m, 0, n);
            assert_int_equal(len, want.n);
            for (size_t i = 0; i < len; i++)
                assert_hash_equal(proof[i], want.h[i]);
            uint8_t leaf[H];
            ref_mth(m, 1, leaf);
            assert_int_equal(
                merkle_verify_inclusion(sha(), leaf, m, n, (const uint8_t(*)[H])proof, len, root),
                0);
        }
    }
}

AT_TEST(test_merkle_consistency_proofs_match_reference_and_verify)
{
    (void)state;
    for (size_t n = 0; n <= N_MAX; n++) {
        uint8_t new_root[H];
        ref_mth(0, n, new_root);
        for (size_t m = 0; m <= n; m++) {
            uint8_t proof[MERKLE_MAX_PROOF][H];
            size_t len = proof_of(CONSISTENCY, m, n, proof);
            ref_proof want = {.n = 0};
            if (m > 0 && m < n) ref_subproof(&want, m, 0, n, 1);
            assert_int_equal(len, want.n);
            for (size_t i = 0; i < len; i++)
                assert_hash_equal(proof[i], want.h[i]);
            uint8_t old_root[H];
            ref_mth(0, m, old_root);
            assert_int_equal(merkle_verify_consistency(sha(), m, n, old_root, new_root,
                                                       (const uint8_t(*)[H])proof, len),
                             0);
        }
    }
}

AT_TEST(test_merkle_rejects_tampered_inclusion_proofs)
{
    (void)state;
    size_t checked = 0;
    for (size_t n = 2; n <= N_MAX; n += 7) {
        uint8_t root[H];
        ref_mth(0, n, root);
        for (size_t m = 0; m < n; m += 3) {
            uint8_t proof[MERKLE_MAX_PROOF][H], leaf[H];
            size_t len = proof_of(INCLUSION, m, n, proof);
            ref_mth(m, 1, leaf);
            const uint8_t(*cp)[H] = (const uint8_t(*)[H])proof;
            /* Another leaf, another index, a shorter or longer proof. (Another size may
             * share the proof's shape: size is bound to the root by the checkpoint.) */
            uint8_t other[H];
            ref_mth((m + 1) % n, 1, other);
            assert_int_not_equal(merkle_verify_inclusion(sha(), other, m, n, cp, len, root), 0);
            assert_int_not_equal(
                merkle_verify_inclusion(sha(), leaf, (m + 1) % n, n, cp, len, root), 0);
            assert_int_not_equal(merkle_verify_inclusion(sha(), leaf, m, n, cp, len - 1, root), 0);
            assert_int_not_equal(merkle_verify_inclusion(sha(), leaf, n, n, cp, len, root), 0);
            memcpy(proof[len], proof[0], H);
            assert_int_not_equal(merkle_verify_inclusion(sha(), leaf, m, n, cp, len + 1, root), 0);
            /* Every single flipped bit in every proof element. */
            for (size_t i = 0; i < len; i++) {
                proof[i][i % H] ^= 0x10;
                assert_int_not_equal(merkle_verify_inclusion(sha(), leaf, m, n, cp, len, root), 0);
                proof[i][i % H] ^= 0x10;
            }
            checked++;
        }
    }
    assert_true(checked > 100);
}

AT_TEST(test_merkle_rejects_tampered_consistency_proofs)
{
    (void)state;
    for (size_t n = 2; n <= N_MAX; n += 5) {
        uint8_t new_root[H];
        ref_mth(0, n, new_root);
        for (size_t m = 1; m < n; m += 2) {
            uint8_t proof[MERKLE_MAX_PROOF][H], old_root[H];
            size_t len = proof_of(CONSISTENCY, m, n, proof);
            ref_mth(0, m, old_root);
            const uint8_t(*cp)[H] = (const uint8_t(*)[H])proof;
            /* A forked old tree: same size, another root. */
            uint8_t forked[H];
            memcpy(forked, old_root, H);
            forked[0] ^= 1;
            assert_int_not_equal(merkle_verify_consistency(sha(), m, n, forked, new_root, cp, len),
                                 0);
            assert_int_not_equal(merkle_verify_consistency(sha(), m, n, old_root, forked, cp, len),
                                 0);
            assert_int_not_equal(
                merkle_verify_consistency(sha(), m + 1, n, old_root, new_root, cp, len), 0);
            assert_int_not_equal(
                merkle_verify_consistency(sha(), n, m, new_root, old_root, cp, len), 0);
            for (size_t i = 0; i < len; i++) {
                proof[i][5] ^= 0x80;
                assert_int_not_equal(
                    merkle_verify_consistency(sha(), m, n, old_root, new_root, cp, len), 0);
                proof[i][5] ^= 0x80;
            }
            if (len > 0)
                assert_int_not_equal(
                    merkle_verify_consistency(sha(), m, n, old_root, new_root, cp, len - 1), 0);
        }
    }
    /* Equal sizes with different roots are a fork. */
    uint8_t a[H], b[H];
    ref_mth(0, 5, a);
    ref_mth(1, 5, b);
    assert_int_not_equal(merkle_verify_consistency(sha(), 5, 5, a, b, NULL, 0), 0);
    assert_int_equal(merkle_verify_consistency(sha(), 5, 5, a, a, NULL, 0), 0);
}

typedef struct emitted {
    unsigned long count;
    int mismatch;
} emitted;

static int check_emit(void *ctx, unsigned level, uint64_t index, const uint8_t hash[H])
{
    emitted *e = ctx;
    uint8_t want[H];
    ref_mth((size_t)(index << level), (size_t)1 << level, want);
    if (memcmp(want, hash, H) != 0) e->mismatch = 1;
    e->count++;
    return 0;
}

AT_TEST(test_merkle_frontier_builds_the_reference_tree_leaf_by_leaf)
{
    (void)state;
    merkle_frontier f;
    memset(&f, 0, sizeof f);
    emitted e = {0, 0};
    for (size_t n = 0; n <= N_MAX; n++) {
        uint8_t got[H], want[H];
        merkle_frontier_root(sha(), &f, got);
        ref_mth(0, n, want);
        assert_hash_equal(got, want);
        /* Reloading the frontier through the accessor gives the same edge. */
        merkle_frontier g;
        size_t limit = n;
        assert_int_equal(merkle_frontier_load(&g, ref_node, &limit, n), 0);
        merkle_frontier_root(sha(), &g, got);
        assert_hash_equal(got, want);
        if (n == N_MAX) break;
        uint8_t leaf[H];
        ref_mth(n, 1, leaf);
        assert_int_equal(merkle_frontier_append(sha(), &f, leaf, check_emit, &e), 0);
    }
    assert_int_equal(e.mismatch, 0);
    assert_int_equal(e.count, N_MAX - 1); /* a full binary tree of 256 leaves has 255 nodes */
}

AT_TEST(test_merkle_proofs_refuse_out_of_range_requests)
{
    (void)state;
    uint8_t proof[MERKLE_MAX_PROOF][H];
    size_t len = 7, limit = 10;
    assert_int_equal(merkle_inclusion_proof(sha(), ref_node, &limit, 10, 10, proof, 64, &len),
                     MERKLE_EINVAL);
    assert_int_equal(len, 0);
    assert_int_equal(merkle_consistency_proof(sha(), ref_node, &limit, 11, 10, proof, 64, &len),
                     MERKLE_EINVAL);
    /* A buffer too small for the proof. */
    assert_int_equal(merkle_inclusion_proof(sha(), ref_node, &limit, 3, 10, proof, 1, &len),
                     MERKLE_EINVAL);
    /* An accessor that fails is reported, not papered over. */
    limit = 4;
    assert_int_equal(merkle_inclusion_proof(sha(), ref_node, &limit, 3, 10, proof, 64, &len),
                     MERKLE_ESOURCE);
    uint8_t root[H];
    assert_int_equal(merkle_root(sha(), ref_node, &limit, 10, root), MERKLE_ESOURCE);
}

AT_TEST_GROUP(setup_leaves, teardown_leaves);
