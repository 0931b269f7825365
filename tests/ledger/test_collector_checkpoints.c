/*
 * test_collector_checkpoints.c - the collector signs its log: real trace-collector and
 * trace-shim processes on an ipc socket and a real store. The key is created 0600 on first
 * start, checkpoints follow commits, a SIGKILL between a commit and its checkpoint is healed
 * by the next start with a checkpoint consistent with the last, --print-public-key gives the
 * key auditors verify with, `trace-collector keygen` never overwrites; and a bundle exported
 * from what the collector stored verifies.
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

#include <cmocka.h>

#include "checkpoint.h"
#include "pipeline_util.h"
#include "testutil.h"
#include "tracestore.h"

typedef struct env {
    char *dir, *store, *ep, *log, *spool, *pub, *collector, *shim, *query;
} env;

static char *join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    assert_non_null(p);
    snprintf(p, n, "%s/%s", a, b);
    return p;
}

static int setup(void **state)
{
    env *e = calloc(1, sizeof *e);
    e->dir = tu_tempdir("collector-ckpt");
    e->store = join(e->dir, "store");
    e->log = join(e->dir, "collector.log");
    e->spool = join(e->dir, "spool");
    e->pub = join(e->dir, "pub.pem");
    char ep[4200];
    snprintf(ep, sizeof ep, "ipc://%s/collector.sock", e->dir);
    e->ep = strdup(ep);
    e->collector = tu_bin("trace-collector");
    e->shim = tu_bin("trace-shim");
    e->query = tu_bin("trace-query");
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    env *e = *state;
    tu_rmtree(e->dir);
    free(e->dir);
    free(e->store);
    free(e->log);
    free(e->spool);
    free(e->pub);
    free(e->ep);
    free(e->collector);
    free(e->shim);
    free(e->query);
    free(e);
    return 0;
}

/* Sends n note events numbered from first through trace-shim. */
static void send_events(env *e, int first, int n)
{
    char *in = join(e->dir, "in.jsonl");
    FILE *f = fopen(in, "w");
    assert_non_null(f);
    for (int i = first; i < first + n; i++)
        fprintf(f,
                "{\"kind\":\"note\",\"workflow\":\"ledger-e2e\",\"dri\":\"maria.chen@example.com\","
                "\"incident\":\"INC-7\",\"note\":\"step %d\"}\n",
                i);
    fclose(f);
    char *argv[] = {e->shim,     "--endpoint", e->ep, "--spool-dir", e->spool,
                    "--timeout", "20",         in,    NULL};
    char *err = NULL;
    int rc = tu_run(argv, NULL, NULL, NULL, &err);
    if (rc != 0) fail_msg("trace-shim exit %d: %s", rc, err ? err : "");
    free(err);
    free(in);
}

static void checkpoints(env *e, uint64_t *count, uint64_t *log_size, cp_checkpoint *latest)
{
    ts_store *s = NULL;
    char err[512];
    assert_int_equal(ts_open(e->store, TS_OPEN_RDONLY, NULL, &s, err, sizeof err), 0);
    assert_int_equal(ts_checkpoint_count(s, count), 0);
    assert_int_equal(ts_log_size(s, log_size), 0);
    if (*count) {
        cp_key *k = NULL;
        assert_int_equal(cp_key_load_public(e->pub, &k, err, sizeof err), 0);
        char *note;
        size_t len;
        assert_int_equal(ts_checkpoint_get(s, UINT64_MAX, &note, &len), 0);
        if (cp_note_verify(note, len, k, latest, err, sizeof err)) fail_msg("%s", err);
        free(note);
        cp_key_destroy(&k);
    }
    ts_close(&s);
}

static void print_public_key(env *e)
{
    char *out = NULL;
    char *argv[] = {e->collector, "--store", e->store, "--print-public-key", NULL};
    assert_int_equal(tu_run(argv, NULL, &out, NULL, NULL), 0);
    assert_non_null(strstr(out, "BEGIN PUBLIC KEY"));
    assert_int_equal(tu_write_file(e->pub, out, strlen(out)), 0);
    free(out);
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

static void test_collector_signs_checkpoints_and_heals_a_sigkill(void **state)
{
    env *e = *state;
    const char *fast[] = {"--checkpoint-ms", "20", NULL};
    pid_t pid = pu_collector_start(e->store, e->ep, e->log, fast);
    assert_true(pu_wait_for_text(e->log, "checkpoints: signed with", 1000));
    assert_true(pu_wait_for_text(e->log, "new key, mode 0600", 10));
    char *kp = join(e->store, "checkpoint.key");
    struct stat st;
    assert_int_equal(stat(kp, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
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
    pid = pu_collector_start(e->store, e->ep, e->log, slow);
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
    pid = pu_collector_start(e->store, e->ep, e->log, slow);
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
    char *bundle = join(e->dir, "INC-7.tar"), *out = NULL, *err = NULL;
    char *exp[] = {e->query, "--store", e->store, "export", "--incident",
                   "INC-7",  "-o",      bundle,   NULL};
    assert_int_equal(tu_run(exp, NULL, NULL, NULL, &err), 0);
    free(err);
    char *ver[] = {e->query, "verify", bundle, "--key", e->pub, NULL};
    assert_int_equal(tu_run(ver, NULL, &out, NULL, NULL), 0);
    assert_non_null(strstr(out, "verified: 45 events"));
    free(out);
    free(bundle);
    free(kp);
}

static void test_collector_keygen_makes_a_new_key_and_never_overwrites(void **state)
{
    env *e = *state;
    char *kp = join(e->dir, "new-signing.key"), *out = NULL, *err = NULL;
    char *argv[] = {e->collector, "keygen", "-o", kp, NULL};
    assert_int_equal(tu_run(argv, NULL, &out, NULL, &err), 0);
    assert_non_null(strstr(out, "BEGIN PUBLIC KEY"));
    free(out);
    free(err);
    struct stat st;
    assert_int_equal(stat(kp, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(tu_run(argv, NULL, NULL, NULL, &err), 3);
    assert_non_null(strstr(err, "never overwritten"));
    free(err);
    free(kp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_collector_signs_checkpoints_and_heals_a_sigkill),
        cmocka_unit_test(test_collector_keygen_makes_a_new_key_and_never_overwrites),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
