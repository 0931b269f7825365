/*
 * test_collector_checkpoints.c - the collector signs its log: real trace-collector and
 * trace-shim processes on an ipc socket and a real store. The key is created 0600 on first
 * start, checkpoints follow commits, a SIGKILL between a commit and its checkpoint is healed
 * by the next start with a checkpoint consistent with the last, --print-public-key gives the
 * key auditors verify with, `trace-collector keygen` never overwrites; and a bundle exported
 * from what the collector stored verifies. A missing key of a log that has entries, or a
 * mistyped --signing-key, stops the collector instead of making a new key; the entries
 * trigger bounds the unsigned tail (recorded for verify); the witness directory holds every
 * checkpoint, and verify --witness catches a copy of the store taken earlier and removed
 * checkpoints; a witness that fails while the collector runs is logged and acks go on.
 *
 * Owns: a temp directory with the store, sockets and logs. Single-threaded.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "at_test.h"
#include "checkpoint.h"
#include "ledger_fixture.h"
#include "pipeline_util.h"
#include "testutil.h"
#include "tracestore.h"

typedef struct env {
    char *dir, *store, *ep, *log, *spool, *pub, *collector, *shim, *query;
} env;

static int setup(void **state)
{
    env *e = calloc(1, sizeof *e);
    e->dir = tu_tempdir("collector-ckpt");
    e->store = tu_path(e->dir, "store");
    e->log = tu_path(e->dir, "collector.log");
    e->spool = tu_path(e->dir, "spool");
    e->pub = tu_path(e->dir, "pub.pem");
    char ep[4200];
    snprintf(ep, sizeof ep, "ipc://%s/collector.sock", e->dir);
    e->ep = strdup(ep);
    e->collector = tu_bin("trace-collector");
    e->shim = tu_bin("trace-shim");
    e->query = tu_bin("trace-query");
    *state = e;
    return 0;
}

/* Every collector started, so that a test that fails half way leaves none running. */
static pid_t started[64];
static int nstarted;

static pid_t start(const char *store, const char *ep, const char *log, const char *const *extra)
{
    pid_t pid = pu_collector_start(store, ep, log, extra);
    if (nstarted < (int)(sizeof started / sizeof started[0])) started[nstarted++] = pid;
    return pid;
}

static int teardown(void **state)
{
    env *e = *state;
    for (int i = 0; i < nstarted; i++) /* still our child and running: stop it */
        if (started[i] > 0 && waitpid(started[i], NULL, WNOHANG) == 0) {
            kill(started[i], SIGKILL);
            waitpid(started[i], NULL, 0);
        }
    tu_rmtree_free(e->dir);
    TU_FREE(e->store, e->log, e->spool, e->pub, e->ep, e->collector, e->shim, e->query, e);
    return 0;
}

/* Sends n note events numbered from first through trace-shim to endpoint ep. */
static void send_events_to(env *e, const char *ep, int first, int n)
{
    char *in = tu_path(e->dir, "in.jsonl");
    FILE *f = fopen(in, "w");
    assert_non_null(f);
    for (int i = first; i < first + n; i++)
        fprintf(f,
                "{\"kind\":\"note\",\"workflow\":\"ledger-e2e\",\"dri\":\"maria.chen@example.com\","
                "\"incident\":\"INC-7\",\"note\":\"step %d\"}\n",
                i);
    fclose(f);
    char *argv[] = {e->shim,     "--endpoint", (char *)ep, "--spool-dir", e->spool,
                    "--timeout", "20",         in,         NULL};
    char *err = NULL;
    int rc = tu_run(argv, NULL, NULL, NULL, &err);
    if (rc != 0) fail_msg("trace-shim exit %d: %s", rc, err ? err : "");
    free(err);
    free(in);
}

static void send_events(env *e, int first, int n)
{
    send_events_to(e, e->ep, first, n);
}

static void checkpoints(env *e, uint64_t *count, uint64_t *log_size, cp_checkpoint *latest)
{
    ts_store *s = NULL;
    at_error err = {0};
    assert_int_equal(ts_open(e->store, TS_OPEN_RDONLY, NULL, &s, &err), 0);
    assert_int_equal(ts_checkpoint_count(s, count), 0);
    assert_int_equal(ts_log_size(s, log_size), 0);
    if (*count) {
        cp_key *k = NULL;
        assert_int_equal(cp_key_load_public(e->pub, &k, &err), 0);
        char *note;
        size_t len;
        assert_int_equal(ts_checkpoint_get(s, UINT64_MAX, &note, &len), 0);
        if (cp_note_verify(note, len, k, latest, &err)) fail_msg("%s", err.what);
        free(note);
        cp_key_destroy(&k);
    }
    ts_close(&s);
}

/* `trace-collector --store store --print-public-key` into the file `pub`. */
static void save_public_key(env *e, const char *store, const char *pub)
{
    char *out = NULL;
    char *argv[] = {e->collector, "--store", (char *)store, "--print-public-key", NULL};
    assert_int_equal(tu_run(argv, NULL, &out, NULL, NULL), 0);
    assert_non_null(strstr(out, "BEGIN PUBLIC KEY"));
    assert_int_equal(tu_write_file(pub, out, strlen(out)), 0);
    free(out);
}

static void print_public_key(env *e)
{
    save_public_key(e, e->store, e->pub);
}

static void verify_store(env *e)
{
    char *out = NULL, *err = NULL;
    char *argv[] = {e->query, "verify", "--store", e->store, "--key", e->pub, NULL};
    int rc = tu_run(argv, NULL, &out, NULL, &err);
    if (rc != 0) fail_msg("verify --store exit %d: %s %s", rc, out, err);
    assert_non_null(strstr(out, "signatures checked"));
    free(out);
    free(err);
}

AT_TEST(test_collector_signs_checkpoints_and_heals_a_sigkill)
{
    env *e = *state;
    const char *fast[] = {"--checkpoint-ms", "20", NULL};
    pid_t pid = start(e->store, e->ep, e->log, fast);
    assert_true(pu_wait_for_text(e->log, "checkpoints: signed with", 1000));
    assert_true(pu_wait_for_text(e->log, "new key, mode 0600", 10));
    char *kp = tu_path(e->store, "checkpoint.key");
    TU_ASSERT_MODE(kp, 0600);
    send_events(e, 0, 25);
    pu_sleep_ms(100);
    assert_int_equal(pu_kill_wait(pid, SIGTERM), 0);
    print_public_key(e);
    uint64_t count = 0, size = 0;
    cp_checkpoint c;
    checkpoints(e, &count, &size, &c);
    assert_int_equal(size, 25);
    assert_true(count >= 1);
    assert_int_equal(c.size, 25);
    verify_store(e);

    /* Signing at most once a minute: the first commit after the start is signed at once,
     * later ones wait; SIGKILL leaves them unsigned. */
    const char *slow[] = {"--checkpoint-ms", "60000", NULL};
    pid = start(e->store, e->ep, e->log, slow);
    send_events(e, 25, 10);
    send_events(e, 35, 10);
    assert_int_equal(pu_kill_wait(pid, SIGKILL), 128 + SIGKILL);
    uint64_t count2 = 0;
    checkpoints(e, &count2, &size, &c);
    assert_int_equal(size, 45);
    /* Signed at the first commit after the start (the shim may split its batches), not
     * since: the log is ahead of its latest checkpoint. */
    assert_true(c.size > 25 && c.size < 45);
    /* The next start signs the rest at once, consistent with the last one. */
    pid = start(e->store, e->ep, e->log, slow);
    assert_int_equal(pu_kill_wait(pid, SIGTERM), 0);
    uint64_t count3 = 0;
    checkpoints(e, &count3, &size, &c);
    assert_int_equal(count3, count2 + 1);
    assert_int_equal(c.size, 45);
    char *pem_before = tu_read_file(e->pub, NULL);
    print_public_key(e); /* the same key was reused */
    char *pem_after = tu_read_file(e->pub, NULL);
    assert_string_equal(pem_before, pem_after);
    free(pem_before);
    free(pem_after);
    verify_store(e);

    /* An auditor's bundle of what the collector stored. */
    char *bundle = tu_path(e->dir, "INC-7.tar"), *out = NULL, *err = NULL;
    char *exp[] = {e->query, "--store", e->store, "export", "--incident",
                   "INC-7",  "-o",      bundle,   NULL};
    assert_int_equal(tu_run(exp, NULL, NULL, NULL, &err), 0);
    free(err);
    char *ver[] = {e->query, "verify", bundle, "--key", e->pub, NULL};
    assert_int_equal(tu_run(ver, NULL, &out, NULL, NULL), 0);
    assert_non_null(strstr(out, "verified: 45 events"));
    TU_FREE(out, bundle, kp);
}

AT_TEST(test_collector_keygen_makes_a_new_key_and_never_overwrites)
{
    env *e = *state;
    char *kp = tu_path(e->dir, "new-signing.key"), *out = NULL, *err = NULL;
    char *argv[] = {e->collector, "keygen", "-o", kp, NULL};
    assert_int_equal(tu_run(argv, NULL, &out, NULL, &err), 0);
    assert_non_null(strstr(out, "BEGIN PUBLIC KEY"));
    free(out);
    free(err);
    TU_ASSERT_MODE(kp, 0600);
    assert_int_equal(tu_run(argv, NULL, NULL, NULL, &err), 3);
    assert_non_null(strstr(err, "never overwritten"));
    free(err);
    free(kp);
}

/* A collector that must refuse to start: its exit code is 3 and its log names `needle`. */
static void expect_refusal(env *e, const char *store, const char *const *extra, const char *needle)
{
    pid_t pid = start(store, e->ep, e->log, extra);
    siginfo_t info;
    int exited = 0;
    for (int waited = 0; waited < 3000 && !exited; waited += 10) {
        memset(&info, 0, sizeof info);
        exited =
            waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid;
        if (!exited) pu_sleep_ms(10);
    }
    if (!exited) {
        pu_kill_wait(pid, SIGTERM);
        fail_msg("trace-collector started instead of refusing (\"%s\")", needle);
    }
    int rc = pu_wait(pid);
    char *log = tu_read_file(e->log, NULL);
    if (rc != 3 || !log || !strstr(log, needle))
        fail_msg("trace-collector exit %d, wanted 3 naming \"%s\"; log: %s", rc, needle,
                 log ? log : "");
    free(log);
}

AT_TEST(test_collector_never_makes_a_new_key_for_an_existing_log)
{
    env *e = *state;
    /* The store of the first test: 45 entries signed with STORE/checkpoint.key. */
    char *kp = tu_path(e->store, "checkpoint.key"), *saved = tu_path(e->dir, "saved.key");
    assert_int_equal(rename(kp, saved), 0);
    expect_refusal(e, e->store, NULL, "is missing, but the log already holds 45 entries");
    struct stat st;
    assert_int_not_equal(stat(kp, &st), 0); /* no new key */
    /* A mistyped --signing-key is an error, for an existing log and for a new one alike. */
    char *typo = tu_path(e->dir, "sigining.key"), *fresh = tu_path(e->dir, "fresh-store");
    const char *opt[] = {"--signing-key", typo, NULL};
    expect_refusal(e, e->store, opt, "no such file; a given key is never created");
    expect_refusal(e, fresh, opt, "no such file; a given key is never created");
    assert_int_not_equal(stat(typo, &st), 0);
    /* With the key back the collector starts and the log still verifies with it. */
    assert_int_equal(rename(saved, kp), 0);
    pid_t pid = start(e->store, e->ep, e->log, NULL);
    assert_int_equal(pu_kill_wait(pid, SIGTERM), 0);
    verify_store(e);
    TU_FREE(kp, saved, typo, fresh);
}

/* trace-query verify --store store --key pub [--witness w]: the exit code, stderr kept. */
static int verify_with(env *e, const char *store, const char *pub, const char *witness, char **err)
{
    char *argv[] = {e->query,
                    "verify",
                    "--store",
                    (char *)store,
                    pub ? "--key" : "--witness",
                    pub ? (char *)pub : (char *)witness,
                    pub && witness ? "--witness" : NULL,
                    (char *)witness,
                    NULL};
    return tu_run(argv, NULL, NULL, NULL, err);
}

static void expect_verify(env *e, int want, const char *store, const char *pub, const char *witness,
                          const char *needle)
{
    char *err = NULL;
    int rc = verify_with(e, store, pub, witness, &err);
    if (rc != want || (needle && (!err || !strstr(err, needle))))
        fail_msg("verify --store %s: exit %d, wanted %d naming \"%s\": %s", store, rc, want,
                 needle ? needle : "", err ? err : "");
    free(err);
}

AT_TEST(test_collector_bounds_the_unsigned_tail)
{
    env *e = *state;
    char *store = tu_path(e->dir, "tail-store"), *pub = tu_path(e->dir, "tail.pub");
    /* Signing once a minute but at once past 8 unsigned entries; groups of at most 4 events
     * and batches of at most 4: the tail a running collector leaves is at most 8 + 4 + 4. */
    const char *opt[] = {"--checkpoint-ms",
                         "60000",
                         "--checkpoint-entries",
                         "8",
                         "--group-events",
                         "4",
                         "--max-batch-events",
                         "4",
                         NULL};
    pid_t pid = start(store, e->ep, e->log, opt);
    for (int i = 0; i < 40; i += 4) /* one shim run sends its 4 lines as one batch */
        send_events(e, i, 4);
    assert_int_equal(pu_kill_wait(pid, SIGKILL), 128 + SIGKILL);
    save_public_key(e, store, pub);
    ts_store *s = NULL;
    at_error err = {0};
    uint64_t tail_max = 0, ncp = 0, size = 0;
    assert_int_equal(ts_open(store, TS_OPEN_RDONLY, NULL, &s, &err), 0);
    assert_int_equal(ts_log_tail_max(s, &tail_max), 0);
    assert_int_equal(ts_checkpoint_count(s, &ncp), 0);
    assert_int_equal(ts_log_size(s, &size), 0);
    ts_close(&s);
    assert_int_equal(tail_max, 16);
    assert_int_equal(size, 40);
    assert_true(ncp >= 4); /* the interval alone would have signed once */
    expect_verify(e, 0, store, pub, NULL, NULL);
    /* All but the first checkpoint removed: far more unsigned than the collector leaves. */
    lf_drop_checkpoints(store, 1);
    expect_verify(e, 4, store, pub, NULL, "unsigned tail");
    free(store);
    free(pub);
}

AT_TEST(test_witness_catches_a_rollback_and_removed_checkpoints)
{
    env *e = *state;
    char *store = tu_path(e->dir, "w-store"), *early = tu_path(e->dir, "w-early"),
         *wdir = tu_path(e->dir, "witness"), *pub = tu_path(e->dir, "w.pub");
    const char *opt[] = {"--checkpoint-ms", "0", "--witness", wdir, NULL};
    pid_t pid = start(store, e->ep, e->log, opt);
    send_events(e, 0, 20);
    assert_int_equal(pu_kill_wait(pid, SIGTERM), 0);
    lf_copy_tree(store, early); /* the copy an intruder keeps to put back later */
    pid = start(store, e->ep, e->log, opt);
    send_events(e, 20, 20);
    assert_int_equal(pu_kill_wait(pid, SIGTERM), 0);
    save_public_key(e, store, pub);
    /* The witness: a 0700 directory, one 0600 file for this log. */
    TU_ASSERT_MODE(wdir, 0700);
    char origin[CP_ORIGIN_MAX], wfile[4096];
    ts_store *s = NULL;
    at_error err = {0};
    assert_int_equal(ts_open(store, TS_OPEN_RDONLY, NULL, &s, &err), 0);
    assert_int_equal(ts_log_origin(s, origin, sizeof origin), 0);
    ts_close(&s);
    snprintf(wfile, sizeof wfile, "%s/", wdir);
    for (size_t i = strlen(wfile), j = 0; origin[j] && i + 1 < sizeof wfile; i++, j++)
        wfile[i] = origin[j] == '/' ? '_' : origin[j], wfile[i + 1] = 0;
    strncat(wfile, ".checkpoints", sizeof wfile - strlen(wfile) - 1);
    TU_ASSERT_MODE(wfile, 0600);

    expect_verify(e, 0, store, pub, wdir, NULL);
    expect_verify(e, 0, store, NULL, wdir, NULL); /* the witness vouches, even without --key */
    /* The earlier copy put back: the witness holds checkpoints of 40 entries. */
    expect_verify(e, 4, early, pub, wdir, "rollback: witness record");
    expect_verify(e, 4, early, NULL, wdir, "rollback: witness record");
    /* Every checkpoint but the first removed from the store. */
    char *removed = tu_path(e->dir, "w-removed");
    lf_copy_tree(store, removed);
    lf_drop_checkpoints(removed, 1);
    expect_verify(e, 4, removed, pub, wdir, "removed checkpoints: witness record");
    /* A last record cut short (a crash in the middle of an append) is skipped with a note. */
    FILE *wf = fopen(wfile, "ab");
    assert_non_null(wf);
    fputs("checkpoint 300\nagenttrail/cut-", wf);
    assert_int_equal(fclose(wf), 0);
    expect_verify(e, 0, store, pub, wdir, "last record is cut short");
    /* A witness that cannot be written stops the collector from starting. */
    char *notdir = tu_path(e->dir, "a-file"), *bad = tu_path(notdir, "witness");
    assert_int_equal(tu_write_file(notdir, "x", 1), 0);
    const char *badopt[] = {"--witness", bad, NULL};
    expect_refusal(e, store, badopt, "witness");
    TU_FREE(notdir, bad, removed, store, early, wdir, pub);
}

AT_TEST(test_a_failing_witness_is_loud_and_acks_go_on)
{
    env *e = *state;
    char *store = tu_path(e->dir, "wf-store"), *wdir = tu_path(e->dir, "wf-witness"),
         *away = tu_path(e->dir, "wf-witness.away"), *pub = tu_path(e->dir, "wf.pub");
    const char *opt[] = {"--checkpoint-ms", "0", "--witness", wdir, NULL};
    pid_t pid = start(store, e->ep, e->log, opt);
    send_events(e, 0, 5);
    /* The checkpoint (and its append) follows the commit that acked the events. */
    struct stat st;
    for (int waited = 0; stat(wdir, &st) != 0 && waited < 3000; waited += 10)
        pu_sleep_ms(10);
    /* The witness disk goes away: a file where its directory was. */
    assert_int_equal(rename(wdir, away), 0);
    assert_int_equal(tu_write_file(wdir, "x", 1), 0);
    send_events(e, 5, 5); /* acked: the events are committed and signed in the store */
    assert_true(pu_wait_for_text(e->log, "NOT in the witness", 2000));
    /* Back again: the next checkpoint, which covers everything before it, is appended. */
    assert_int_equal(unlink(wdir), 0);
    assert_int_equal(rename(away, wdir), 0);
    send_events(e, 10, 5);
    assert_int_equal(pu_kill_wait(pid, SIGTERM), 0);
    save_public_key(e, store, pub);
    expect_verify(e, 0, store, pub, wdir, "witness checkpoints checked");
    TU_FREE(store, wdir, away, pub);
}

AT_TEST_GROUP(setup, teardown);
