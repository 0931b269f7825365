/*
 * test_fault_collector.c - the real trace-collector under allocation (and store write)
 * faults: started with AGENTTRAIL_FAULT_ALLOC=N (AGENTTRAIL_FAULT_LMDB=N), fed one batch of
 * unmasked events that carry the canary secrets of tests/support/canary.c, stopped with SIGTERM.
 * The count comes from a clean run's AGENTTRAIL_FAULT_REPORT; N is sampled evenly.
 *
 * A third sweep fails the N-th write/fsync/rename of a collector that signs a checkpoint at
 * every commit and appends it to a witness (AGENTTRAIL_FAULT_IO, every N).
 *
 * Proves, for each N: the collector starts and serves, or exits with an error status (never
 * a signal, an ASan/UBSan report or a leak: the sanitizers abort); no stored event holds a
 * raw secret (the stored bytes and their JSON are scanned): a partly masked event is
 * withheld, never stored; an OK ack's accepted events are all stored.
 *
 * Owns: a temp directory per run, the collector process it starts (stopped by pid).
 * Threading: single-threaded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>
#include <zmq.h>

#include <cmocka.h>

#include "at_test.h"
#include "canary.h"
#include "fault_events.h"
#include "fault_sweep.h"
#include "pipeline_util.h"
#include "testutil.h"
#include "tracestore.h"

typedef struct run_env {
    char *dir, *store, *log, *report, ep[600];
} run_env;

static uint8_t *g_frame;
static size_t g_flen, g_events;
/* What the runs of a sweep saw: faults fired, OK acks, other acks, no ack, error exits. */
static unsigned long g_fired, g_ok, g_other, g_none, g_exit;
/* 1: the collector signs a checkpoint at every commit and appends it to a witness. */
static int g_witness;

/* The canary events packed as they are (no prepare: only the collector masks them). */
static void make_frame(void)
{
    char *dir = tu_tempdir("fault-collector-lines");
    fe_lines l;
    fe_lines_load(&l, dir);
    tu_rmtree_free(dir);
    uint8_t **packed = calloc(l.n, sizeof *packed);
    size_t *lens = calloc(l.n, sizeof *lens);
    tp_limits lim = tp_limits_default();
    for (size_t i = 0; i < l.n; i++) {
        tp_event *ev = NULL;
        at_error err;
        if (tp_event_from_json(l.line[i], l.len[i], &lim, 0, &ev, &err, NULL) != 0)
            fail_msg("line %zu: %s: %s", i + 1, err.where, err.what);
        assert_int_equal(tp_event_pack(ev, &packed[i], &lens[i]), 0);
        tp_event_destroy(&ev);
    }
    assert_int_equal(tp_batch_encode("fault-raw", 1, (const uint8_t *const *)packed, lens, l.n,
                                     &g_frame, &g_flen),
                     0);
    for (size_t i = 0; i < l.n; i++)
        free(packed[i]);
    free(packed);
    free(lens);
    g_events = l.n;
    fe_lines_free(&l);
}

static void env_new(run_env *e)
{
    e->dir = tu_tempdir("fault-collector");
    e->store = tu_path(e->dir, "store");
    e->log = tu_path(e->dir, "collector.log");
    e->report = tu_path(e->dir, "faults.txt");
    snprintf(e->ep, sizeof e->ep, "ipc://%s/c.sock", e->dir);
}

static void env_free(run_env *e)
{
    tu_rmtree_free(e->dir);
    TU_FREE(e->store, e->log, e->report);
}

/* The ack to the batch within 5 s: its status and accepted count; -1 when none came. */
static int send_batch(const char *ep, unsigned *accepted)
{
    void *ctx = zmq_ctx_new();
    void *d = zmq_socket(ctx, ZMQ_DEALER);
    int linger = 0, status = -1;
    zmq_setsockopt(d, ZMQ_LINGER, &linger, sizeof linger);
    assert_int_equal(zmq_connect(d, ep), 0);
    assert_int_equal(zmq_send(d, g_frame, g_flen, 0), (int)g_flen);
    zmq_pollitem_t it = {d, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&it, 1, 5000) == 1) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        assert_true(zmq_msg_recv(&m, d, 0) >= 0);
        tp_ack *ack = NULL;
        at_error err;
        if (tp_ack_decode(zmq_msg_data(&m), zmq_msg_size(&m), &ack, &err) == 0) {
            status = ack->status;
            *accepted = ack->accepted;
        }
        tp_ack_destroy(&ack);
        zmq_msg_close(&m);
    }
    zmq_close(d);
    zmq_ctx_term(ctx);
    return status;
}

/* Every stored event, as stored bytes and as JSON: the canaries found, and the events. */
static int scan_store(const char *store, size_t *events)
{
    *events = 0;
    if (access(store, F_OK) != 0) return 0;
    ts_store *s = NULL;
    at_error ebuf = {0};
    if (ts_open(store, TS_OPEN_RDONLY, NULL, &s, &ebuf) != 0) return 0;
    ts_filter all;
    memset(&all, 0, sizeof all);
    ts_iter *it = NULL;
    assert_int_equal(ts_query(s, &all, NULL, &it), 0);
    int hits = 0;
    for (tp_event *ev = NULL; ts_iter_next(it, &ev) == 0; tp_event_destroy(&ev)) {
        (*events)++;
        uint8_t *bytes = NULL;
        size_t blen = 0, jlen = 0;
        assert_int_equal(ts_get_stored_bytes(s, ev->stored->log_index, &bytes, &blen), 0);
        hits += scan(bytes, blen, "stored bytes");
        free(bytes);
        char *json = tp_event_to_json(ev, &jlen);
        assert_non_null(json);
        hits += scan(json, jlen, "stored event JSON");
        free(json);
    }
    ts_iter_destroy(&it);
    ts_close(&s);
    return hits;
}

/* One collector run with fault `n` of `var` (n 0: none); returns its fault report's count
 * of that kind. */
static unsigned long one_collector(const char *var, const char *key, unsigned long n)
{
    run_env e;
    env_new(&e);
    char num[32];
    snprintf(num, sizeof num, "%lu", n);
    setenv(var, num, 1);
    setenv("AGENTTRAIL_FAULT_REPORT", e.report, 1);
    char *wdir = tu_path(e.dir, "witness");
    const char *const extra[] = {"--witness", wdir, "--checkpoint-ms", "0", NULL};
    pid_t pid = pu_collector_start(e.store, e.ep, e.log, g_witness ? extra : NULL);
    free(wdir);
    unsetenv(var);
    unsetenv("AGENTTRAIL_FAULT_REPORT");
    unsigned accepted = 0;
    int ack = pu_wait_for_text(e.log, "ready (", 1) ? send_batch(e.ep, &accepted) : -1;
    int status = pu_kill_wait(pid, SIGTERM);
    char *log = tu_read_file(e.log, NULL);
    if (status >= 100 || (n == 0 && status != 0))
        fail_msg("%s=%lu: the collector ended with status %d:\n%s", var, n, status, log);
    size_t stored = 0;
    if (scan_store(e.store, &stored) != 0)
        fail_msg("%s=%lu: a raw secret was stored (ack %d)", var, n, ack);
    if (ack == AGENTTRAIL__V1__ACK_STATUS__ACK_OK && stored != accepted)
        fail_msg("%s=%lu: %u events acknowledged, %zu stored", var, n, accepted, stored);
    if (n == 0 && (ack != AGENTTRAIL__V1__ACK_STATUS__ACK_OK || accepted != g_events))
        fail_msg("clean run: ack %d, %u of %zu accepted:\n%s", ack, accepted, g_events, log);
    free(log);
    char *report = tu_read_file(e.report, NULL);
    long long count = report ? pu_field(report, key) : -1;
    g_fired += report && pu_field(report, "fired") > 0;
    g_ok += ack == AGENTTRAIL__V1__ACK_STATUS__ACK_OK;
    g_other += ack >= 0 && ack != AGENTTRAIL__V1__ACK_STATUS__ACK_OK;
    g_none += ack < 0;
    g_exit += status != 0;
    free(report);
    env_free(&e);
    return count > 0 ? (unsigned long)count : 0;
}

static void sweep(const char *var, const char *key, unsigned long max, int witness)
{
    if (!g_frame) make_frame();
    ft_child_sanitizers_abort();
    g_witness = witness;
    unsigned long count = one_collector(var, key, 0);
    assert_true(count > 0);
    unsigned long only = ft_only();
    max = ft_max_runs(max);
    unsigned long *ns = calloc(max && max < count ? max : count, sizeof *ns);
    g_fired = g_ok = g_other = g_none = g_exit = 0;
    unsigned long k = only ? 1 : ft_sample(count, max, ns);
    if (only) ns[0] = only;
    for (unsigned long i = 0; i < k; i++)
        one_collector(var, key, ns[i]);
    fprintf(stderr,
            "# trace-collector, %s: %lu calls, %lu runs: %lu faults fired; acks: %lu OK, %lu "
            "other, %lu none; %lu error exits\n",
            var, count, k, g_fired, g_ok, g_other, g_none, g_exit);
    free(ns);
}

AT_TEST(test_no_allocation_failure_lets_a_raw_secret_into_the_store)
{
    (void)state;
    sweep("AGENTTRAIL_FAULT_ALLOC", "alloc", 160, 0);
}

AT_TEST(test_no_lmdb_write_failure_breaks_the_collector)
{
    (void)state;
    sweep("AGENTTRAIL_FAULT_LMDB", "lmdb", 60, 0);
}

AT_TEST(test_no_checkpoint_or_witness_write_failure_breaks_the_collector)
{
    (void)state;
    sweep("AGENTTRAIL_FAULT_IO", "io", 0, 1);
}

int main(void)
{
    int rc = at_test_run();
    free(g_frame);
    return rc;
}
