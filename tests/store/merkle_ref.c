/*
 * merkle_ref.c - the literal RFC 9162 reference of merkle_ref.h.
 *
 * Owns the leaf table and an (n+1) x (n+1) memo of MTH results, so that exhaustive loops
 * over every size and index stay fast. Failures abort the test through cmocka asserts.
 * Single-threaded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "merkle_ref.h"

static uint8_t (*ref_leaves)[REF_H];
static size_t ref_n;
static uint8_t (*memo)[REF_H]; /* memo[lo * (ref_n + 1) + n] */
static uint8_t *memo_set;

void ref_free(void)
{
    free(ref_leaves);
    free(memo);
    free(memo_set);
    ref_leaves = NULL;
    memo = NULL;
    memo_set = NULL;
    ref_n = 0;
}

void ref_init(const uint8_t (*leaves)[REF_H], size_t n)
{
    ref_free();
    ref_n = n;
    ref_leaves = malloc((n ? n : 1) * sizeof *ref_leaves);
    memo = malloc((n + 1) * (n + 1) * sizeof *memo);
    memo_set = calloc((n + 1) * (n + 1), 1);
    assert_non_null(ref_leaves);
    assert_non_null(memo);
    assert_non_null(memo_set);
    if (n) memcpy(ref_leaves, leaves, n * sizeof *ref_leaves);
}

void ref_sha256(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen, const uint8_t *c,
                size_t clen, uint8_t out[REF_H])
{
    EVP_MD_CTX *x = EVP_MD_CTX_new();
    assert_non_null(x);
    assert_int_equal(EVP_DigestInit_ex(x, EVP_sha256(), NULL), 1);
    if (alen) EVP_DigestUpdate(x, a, alen);
    if (blen) EVP_DigestUpdate(x, b, blen);
    if (clen) EVP_DigestUpdate(x, c, clen);
    unsigned int olen = 0;
    EVP_DigestFinal_ex(x, out, &olen);
    EVP_MD_CTX_free(x);
}

/* The largest power of two smaller than n (n > 1), as the RFC defines k. */
static size_t split(size_t n)
{
    size_t k = 1;
    while (k * 2 < n)
        k *= 2;
    return k;
}

void ref_mth(size_t lo, size_t n, uint8_t out[REF_H])
{
    assert_true(lo + n <= ref_n || n == 0);
    size_t slot = lo * (ref_n + 1) + n;
    if (memo_set[slot]) {
        memcpy(out, memo[slot], REF_H);
        return;
    }
    if (n == 0) {
        ref_sha256(NULL, 0, NULL, 0, NULL, 0, out);
    } else if (n == 1) {
        memcpy(out, ref_leaves[lo], REF_H);
    } else {
        size_t k = split(n);
        uint8_t l[REF_H], r[REF_H], one = 1;
        ref_mth(lo, k, l);
        ref_mth(lo + k, n - k, r);
        ref_sha256(&one, 1, l, REF_H, r, REF_H, out);
    }
    memcpy(memo[slot], out, REF_H);
    memo_set[slot] = 1;
}

static void push(ref_proof *p, size_t lo, size_t n)
{
    assert_true(p->n < REF_MAX_PROOF);
    ref_mth(lo, n, p->h[p->n++]);
}

void ref_path(ref_proof *p, size_t m, size_t lo, size_t n)
{
    if (n <= 1) return;
    size_t k = split(n);
    if (m < k) {
        ref_path(p, m, lo, k);
        push(p, lo + k, n - k);
    } else {
        ref_path(p, m - k, lo + k, n - k);
        push(p, lo, k);
    }
}

void ref_subproof(ref_proof *p, size_t m, size_t lo, size_t n, int b)
{
    if (m == n) {
        if (!b) push(p, lo, n);
        return;
    }
    size_t k = split(n);
    if (m <= k) {
        ref_subproof(p, m, lo, k, b);
        push(p, lo + k, n - k);
    } else {
        ref_subproof(p, m - k, lo + k, n - k, 0);
        push(p, lo, k);
    }
}
