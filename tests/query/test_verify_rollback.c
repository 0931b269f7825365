/*
 * test_verify_rollback.c - `trace-query verify --store` sees what an intruder with the
 * store's files leaves when they rewrite events and remove the checkpoints that would show
 * it: the real program on real stores.
 *
 * - every checkpoint removed (and an event rewritten, every hash recomputed): "no checkpoint"
 * - the latest checkpoint removed and the now unsigned tail rewritten: "unsigned tail" when
 *   the tail is longer than the collector's recorded bound (log_info tail_max), a note when
 *   it is within
 * - a copy of the store taken earlier, against a newer checkpoint the auditor kept
 *   (--prior): "rollback"; a prior checkpoint newer than every kept one: "removed
 *   checkpoints"; a prior of another key or with another root fails; an older one passes.
 *
 * A rewritten store is built as the intruder would: the same origin, the events the
 * intruder wants, every leaf, node and root recomputed by the store itself, checkpoints
 * signed with the collector's key only where the intruder could copy them.
 * Owns: temp stores. Single-threaded.
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
#include "ledger_fixture.h"
#include "store_fixture.h"
#include "testutil.h"

static char *dir, *grown, *early, *pub, *newer_cp, *older_cp;
static cp_key *key;
static char origin[CP_ORIGIN_MAX];

/* Writes checkpoint `seq` (UINT64_MAX: the latest) of `store` to `path`. */
static void save_checkpoint(const char *store, uint64_t seq, const char *path)
{
    ts_store *s = fx_open(store, TS_OPEN_RDONLY, NULL);
    char *note;
    size_t len;
    assert_int_equal(ts_checkpoint_get(s, seq, &note, &len), 0);
    assert_int_equal(tu_write_file(path, note, len), 0);
    free(note);
    ts_close(&s);
}

/* grown: 250 events, checkpoints at 100, 200, 250; early: a copy taken at 200. */
static int setup(void **state)
{
    (void)state;
    dir = lf_tempdir_paths("verify-rollback", &grown, "grown", &early, "early", &pub, "pub.pem",
                           &newer_cp, "newer.checkpoint", &older_cp, "older.checkpoint", NULL);
    key = lf_make_store(grown, 0, 200, 100, pub);
    lf_copy_tree(grown, early);
    ts_store *s = fx_open(grown, 0, NULL);
    lf_append(s, 200, 50, 500);
    lf_checkpoint(s, key, LF_T0 + 7200000000000ull);
    assert_int_equal(ts_log_origin(s, origin, sizeof origin), 0);
    ts_close(&s);
    save_checkpoint(grown, UINT64_MAX, newer_cp);
    save_checkpoint(grown, 0, older_cp);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cp_key_destroy(&key);
    tu_rmtree_free(dir);
    TU_FREE(grown, early, pub, newer_cp, older_cp);
    return 0;
}

/* Runs trace-query verify --store `store` --key pub [extra...]; returns the exit code. */
static int verify(const char *store, const char *opt, const char *val, char **out, char **err)
{
    char *tq = tu_bin("trace-query");
    char *argv[] = {tq,  "verify",    "--store",   (char *)store, "--key",
                    pub, (char *)opt, (char *)val, NULL};
    int rc = tu_run(argv, NULL, out, NULL, err);
    free(tq);
    return rc;
}

static void expect(int want, const char *store, const char *opt, const char *val,
                   const char *needle, const char *needle2)
{
    char *out = NULL, *err = NULL;
    int rc = verify(store, opt, val, &out, &err);
    const char *hay = want == 0 ? out : err;
    if (rc != want || !hay || !strstr(hay, needle) || (needle2 && !strstr(err, needle2)))
        fail_msg("verify --store %s %s %s: exit %d, wanted %d naming \"%s\" / \"%s\"; out: %s; "
                 "err: %s",
                 store, opt ? opt : "", val ? val : "", rc, want, needle, needle2 ? needle2 : "",
                 out ? out : "", err ? err : "");
    free(out);
    free(err);
}

AT_TEST(test_every_checkpoint_removed_and_an_event_rewritten)
{
    (void)state;
    /* Removed only. */
    char *s = lf_path(dir, "no-checkpoints");
    lf_copy_tree(grown, s);
    lf_drop_checkpoints(s, 0);
    expect(4, s, NULL, NULL, "no checkpoint: the log has 250 entries", NULL);
    free(s);
    /* Event 120 rewritten, every hash recomputed, no checkpoint kept. */
    s = lf_path(dir, "rewritten");
    ts_store *st = lf_store_as(s, origin);
    lf_append(st, 0, 120, 500);
    lf_append(st, 9000, 1, 1);
    lf_append(st, 121, 129, 500);
    ts_close(&st);
    expect(4, s, NULL, NULL, "no checkpoint", NULL);
    free(s);
}

/* The store as an intruder leaves it: the checkpoints at 100 and 200 copied, the tail
 * 200..249 rewritten, the checkpoint at 250 gone; tail_max as a collector records it. */
static char *tail_rewritten(const char *name, uint64_t tail_max)
{
    char *s = lf_path(dir, name);
    ts_store *st = lf_store_as(s, origin);
    lf_append(st, 0, 100, 500);
    lf_checkpoint(st, key, LF_T0 + 1);
    lf_append(st, 100, 100, 500);
    lf_checkpoint(st, key, LF_T0 + 2);
    lf_append(st, 9200, 50, 500);
    if (tail_max) assert_int_equal(ts_log_set_tail_max(st, tail_max), 0);
    ts_close(&st);
    return s;
}

AT_TEST(test_latest_checkpoint_removed_and_the_tail_rewritten)
{
    (void)state;
    char *s = tail_rewritten("long-tail", 20);
    expect(4, s, NULL, NULL, "unsigned tail: 50 entries after the last checkpoint",
           "more than the 20 a running collector leaves unsigned");
    free(s);
    /* Within the bound it is what a running collector leaves: a note, exit 0. */
    s = tail_rewritten("short-tail", 64);
    expect(0, s, NULL, NULL, "250 events, 2 checkpoints (signatures checked)",
           "50 entries after the last checkpoint, not yet signed");
    free(s);
    /* The same copy with its latest checkpoint removed. */
    s = lf_path(dir, "latest-removed");
    lf_copy_tree(grown, s);
    lf_drop_checkpoints(s, 2);
    {
        ts_store *st = fx_open(s, 0, NULL);
        assert_int_equal(ts_log_set_tail_max(st, 49), 0);
        ts_close(&st);
    }
    expect(4, s, NULL, NULL, "unsigned tail: 50 entries", "log indexes 200..249");
    free(s);
}

AT_TEST(test_prior_checkpoint_catches_a_rollback)
{
    (void)state;
    /* The earlier copy against the newer checkpoint the auditor kept. */
    expect(4, early, "--prior", newer_cp,
           "rollback: the prior checkpoint is a checkpoint of tree "
           "size 250, but the store's log has only 200 entries",
           NULL);
    /* The store itself holds it; an older prior is in the log too. */
    expect(0, grown, "--prior", newer_cp, "the prior checkpoint is in the log", NULL);
    expect(0, grown, "--prior", older_cp, "the prior checkpoint is in the log", NULL);
    expect(0, early, "--prior", older_cp, "the prior checkpoint is in the log", NULL);
    /* The newest checkpoint removed from the store: the prior is newer than every kept one. */
    char *s = lf_path(dir, "prior-removed");
    lf_copy_tree(grown, s);
    lf_drop_checkpoints(s, 2);
    expect(4, s, "--prior", newer_cp,
           "removed checkpoints: the prior checkpoint is a checkpoint "
           "of tree size 250",
           "newest checkpoint is of tree size 200");
    free(s);
    /* A prior the events do not give (signed by the key), and one signed by another key. */
    uint8_t root[32] = {1};
    char *note = lf_note(key, origin, 150, root, LF_T0);
    char *forged = lf_path(dir, "forged.checkpoint");
    assert_int_equal(tu_write_file(forged, note, strlen(note)), 0);
    free(note);
    expect(4, grown, "--prior", forged, "the prior checkpoint (tree size 150): root differs",
           "the log was rewritten");
    cp_key *other = NULL;
    assert_int_equal(cp_key_generate(&other), 0);
    note = lf_note(other, origin, 150, root, LF_T0);
    assert_int_equal(tu_write_file(forged, note, strlen(note)), 0);
    free(note);
    cp_key_destroy(&other);
    expect(4, grown, "--prior", forged, "the prior checkpoint: signature", NULL);
    free(forged);
}

AT_TEST_GROUP(setup, teardown);
