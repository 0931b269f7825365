/*
 * test_ledger_store.c - the Merkle log inside a real store (store/ledger.c): roots and
 * proofs from log_nodes equal the tree recomputed from the events' stored bytes after every
 * group, proofs verify, log_nodes catch up after writes without the hook, checkpoints are
 * kept in order and refused when they do not match the log, read-only readers see it all.
 *
 * Owns: temp store directories. Single-threaded.
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
#include "checkpoint.h"
#include "merkle.h"
#include "store_fixture.h"
#include "store_internal.h"
#include "testutil.h"

/* One SHA-256 context for every hash of this file (merkle.h hashes through the caller's). */
static at_sha256_ctx *sha(void)
{
    static at_sha256_ctx *h;
    if (!h) h = at_sha256_new();
    return h;
}

#define T0 1732531200000000000ull

static uint64_t next_event;

/* Appends `n` new events. */
static void append_n(ts_store *s, size_t n)
{
    tp_event **ev = calloc(n, sizeof *ev);
    assert_non_null(ev);
    for (size_t i = 0; i < n; i++, next_event++)
        ev[i] = fx_event(next_event, next_event / 7, next_event % 2 ? "wf-a" : "wf-b", NULL,
                         T0 + next_event * 1000);
    fx_append_all(s, ev, n);
    fx_free(ev, n);
    free(ev);
}

/* The tree recomputed from the stored bytes, independent of log_leaves and log_nodes. */
static void recompute(ts_store *s, merkle_frontier *f, uint64_t upto)
{
    while (f->size < upto) {
        uint8_t *b = NULL, leaf[32];
        size_t len = 0;
        assert_int_equal(ts_get_stored_bytes(s, f->size, &b, &len), 0);
        merkle_leaf_hash(sha(), b, len, leaf);
        free(b);
        assert_int_equal(merkle_frontier_append(sha(), f, leaf, NULL, NULL), 0);
    }
}

AT_TEST(test_ledger_roots_and_proofs_match_the_stored_events)
{
    (void)state;
    char *dir;
    ts_store *s = fx_new_store("ledger-store", &dir);
    merkle_frontier f;
    memset(&f, 0, sizeof f);
    enum { GROUPS = 40 };
    uint64_t sizes[GROUPS + 1];
    uint8_t roots[GROUPS + 1][32];
    sizes[0] = 0;
    assert_int_equal(ts_log_root(s, 0, roots[0]), 0);
    for (int g = 1; g <= GROUPS; g++) {
        append_n(s, (size_t)(g % 7 == 0 ? 64 : g % 5 + 1));
        assert_int_equal(ts_log_size(s, &sizes[g]), 0);
        recompute(s, &f, sizes[g]);
        uint8_t want[32];
        merkle_frontier_root(sha(), &f, want);
        assert_int_equal(ts_log_root(s, sizes[g], roots[g]), 0);
        assert_memory_equal(roots[g], want, 32);
    }
    /* Inclusion proofs of every leaf against a few tree sizes. */
    for (int g = GROUPS / 3; g <= GROUPS; g += GROUPS / 3) {
        for (uint64_t i = 0; i < sizes[g]; i++) {
            uint8_t proof[TS_PROOF_MAX][32], leaf[32];
            size_t n;
            assert_int_equal(ts_log_inclusion_proof(s, i, sizes[g], proof, &n), 0);
            assert_int_equal(ts_log_leaf(s, i, leaf), 0);
            assert_int_equal(ts_log_verify_inclusion(leaf, i, sizes[g], (const uint8_t(*)[32])proof,
                                                     n, roots[g]),
                             0);
        }
    }
    /* Consistency between every pair of group boundaries. */
    for (int a = 0; a <= GROUPS; a++)
        for (int b = a; b <= GROUPS; b++) {
            uint8_t proof[TS_PROOF_MAX][32];
            size_t n;
            assert_int_equal(ts_log_consistency_proof(s, sizes[a], sizes[b], proof, &n), 0);
            assert_int_equal(ts_log_verify_consistency(sizes[a], sizes[b], roots[a], roots[b],
                                                       (const uint8_t(*)[32])proof, n),
                             0);
        }
    /* Out of range. */
    uint8_t proof[TS_PROOF_MAX][32], r[32];
    size_t n;
    assert_int_equal(ts_log_root(s, sizes[GROUPS] + 1, r), TS_EINVAL);
    assert_int_equal(ts_log_inclusion_proof(s, sizes[GROUPS], sizes[GROUPS], proof, &n), TS_EINVAL);

    /* A read-only reader sees the same log. */
    ts_store *ro = fx_open(dir, TS_OPEN_RDONLY, NULL);
    assert_int_equal(ts_log_root(ro, sizes[GROUPS], r), 0);
    assert_memory_equal(r, roots[GROUPS], 32);
    ts_close(&ro);
    fx_done(&s, dir);
}

AT_TEST(test_ledger_nodes_catch_up_after_writes_without_the_hook)
{
    (void)state;
    char *dir;
    ts_store *s = fx_new_store("ledger-catchup", &dir);
    append_n(s, 10);
    ts_internal_set_append_hook(s, NULL, NULL); /* a writer that does not keep the log */
    append_n(s, 23);
    ts_close(&s);
    s = fx_open(dir, 0, NULL);
    merkle_frontier f;
    memset(&f, 0, sizeof f);
    recompute(s, &f, 33);
    uint8_t want[32], got[32];
    merkle_frontier_root(sha(), &f, want);
    assert_int_equal(ts_log_root(s, 33, got), 0);
    assert_memory_equal(got, want, 32);
    append_n(s, 5);
    recompute(s, &f, 38);
    merkle_frontier_root(sha(), &f, want);
    assert_int_equal(ts_log_root(s, 38, got), 0);
    assert_memory_equal(got, want, 32);
    fx_done(&s, dir);
}

static char *signed_note(cp_key *k, const char *origin, uint64_t size, const uint8_t root[32])
{
    cp_checkpoint c;
    memset(&c, 0, sizeof c);
    snprintf(c.origin, sizeof c.origin, "%s", origin);
    c.size = size;
    memcpy(c.root, root, 32);
    char *note;
    size_t len;
    assert_int_equal(cp_checkpoint_sign(&c, k, &note, &len), 0);
    return note;
}

AT_TEST(test_ledger_keeps_checkpoints_that_match_and_refuses_others)
{
    (void)state;
    char *dir;
    ts_store *s = fx_new_store("ledger-ckpt", &dir);
    cp_key *k;
    assert_int_equal(cp_key_generate(&k), 0);
    char origin[256];
    assert_int_equal(ts_log_origin(s, origin, sizeof origin), 0);
    assert_true(cp_name_valid(origin));
    assert_memory_equal(origin, "agenttrail/", 11);
    uint64_t count = 9;
    assert_int_equal(ts_checkpoint_count(s, &count), 0);
    assert_int_equal(count, 0);
    char *got = NULL;
    size_t len;
    assert_int_equal(ts_checkpoint_get(s, UINT64_MAX, &got, &len), TS_ENOTFOUND);

    char *notes[3];
    for (int i = 0; i < 3; i++) {
        append_n(s, (size_t)(5 + i * 11));
        uint64_t size;
        uint8_t root[32];
        assert_int_equal(ts_log_size(s, &size), 0);
        assert_int_equal(ts_log_root(s, size, root), 0);
        notes[i] = signed_note(k, origin, size, root);
        assert_int_equal(ts_checkpoint_add(s, notes[i], strlen(notes[i])), 0);
    }
    /* A forged root, another origin, a size beyond the log, garbage. */
    uint64_t size;
    uint8_t root[32];
    assert_int_equal(ts_log_size(s, &size), 0);
    assert_int_equal(ts_log_root(s, size, root), 0);
    root[3] ^= 1;
    char *forged = signed_note(k, origin, size, root);
    assert_int_equal(ts_checkpoint_add(s, forged, strlen(forged)), TS_ECORRUPT);
    assert_non_null(strstr(ts_last_error(s), "differs"));
    free(forged);
    root[3] ^= 1;
    forged = signed_note(k, "agenttrail/elsewhere/0000", size, root);
    assert_int_equal(ts_checkpoint_add(s, forged, strlen(forged)), TS_EINVAL);
    free(forged);
    forged = signed_note(k, origin, size + 1, root);
    assert_int_equal(ts_checkpoint_add(s, forged, strlen(forged)), TS_EINVAL);
    free(forged);
    assert_int_equal(ts_checkpoint_add(s, "nonsense\n", 9), TS_EINVAL);

    ts_close(&s);
    s = fx_open(dir, TS_OPEN_RDONLY, NULL);
    assert_int_equal(ts_checkpoint_count(s, &count), 0);
    assert_int_equal(count, 3);
    for (uint64_t i = 0; i < 3; i++) {
        assert_int_equal(ts_checkpoint_get(s, i, &got, &len), 0);
        assert_string_equal(got, notes[i]);
        assert_int_equal(len, strlen(notes[i]));
        free(got);
    }
    assert_int_equal(ts_checkpoint_get(s, UINT64_MAX, &got, &len), 0);
    assert_string_equal(got, notes[2]);
    free(got);
    assert_int_equal(ts_checkpoint_get(s, 3, &got, &len), TS_ENOTFOUND);
    assert_int_equal(ts_checkpoint_add(s, notes[2], strlen(notes[2])), TS_EREADONLY);
    for (int i = 0; i < 3; i++)
        free(notes[i]);
    cp_key_destroy(&k);
    fx_done(&s, dir);
}
