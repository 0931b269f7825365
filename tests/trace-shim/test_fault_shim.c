/*
 * test_fault_shim.c - the real trace-shim under allocation faults (AGENTTRAIL_FAULT_ALLOC=N,
 * counted by a clean run's AGENTTRAIL_FAULT_REPORT, N sampled evenly), over the canary
 * events of tests/support/canary.c: --dry-run, and sending through libtraceshim to a receiver in
 * this test (a ROUTER socket that acks every batch).
 *
 * Proves, for each N: trace-shim exits with a status (never a signal, a sanitizer report or a
 * leak); no line it prints and no event of any batch it emits holds a raw secret; every
 * dry-run line is, byte for byte, the line of the same event in the clean run (an event is
 * printed whole and masked, or not at all); every emitted event decodes and validates.
 *
 * Owns: a temp directory, the trace-shim processes it starts. Threading: single-threaded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include <cmocka.h>

#include "at_test.h"
#include "canary.h"
#include "fault_events.h"
#include "fault_sweep.h"
#include "pipeline_util.h"
#include "testutil.h"

typedef struct shim_env {
    char *dir, *shim, *key, *input, *out, *err, *report, *spool;
    char ep[600];
    char *clean; /* the clean run's dry-run output */
    size_t clean_len;
} shim_env;

static shim_env g;

/* Runs per sweep: a trace-shim run takes ~0.1 s (dry run) to ~0.3 s (send) under ASan. */
enum { DRY_RUNS = 80, SEND_RUNS = 40 };

static int setup(void **state)
{
    (void)state;
    g.dir = tu_tempdir("fault-shim");
    ft_child_sanitizers_abort();
    g.shim = tu_bin("trace-shim");
    g.key = tu_path(g.dir, "hmac.key");
    g.input = tu_path(g.dir, "canary.jsonl");
    g.out = tu_path(g.dir, "out.txt");
    g.err = tu_path(g.dir, "err.txt");
    g.report = tu_path(g.dir, "faults.txt");
    g.spool = tu_path(g.dir, "spool");
    snprintf(g.ep, sizeof g.ep, "ipc://%s/r.sock", g.dir);
    char *kg[] = {g.shim, "keygen", "--hmac", "-o", g.key, NULL};
    assert_int_equal(tu_run(kg, NULL, NULL, NULL, NULL), 0);
    fe_lines l;
    fe_lines_load(&l, g.dir);
    fe_lines_write(&l, g.input);
    fe_lines_free(&l);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tu_rmtree(g.dir);
    char **p[] = {&g.dir, &g.shim, &g.key, &g.input, &g.out, &g.err, &g.report, &g.spool, &g.clean};
    for (size_t i = 0; i < sizeof p / sizeof *p; i++)
        free(*p[i]);
    return 0;
}

/* Starts trace-shim with fault n (0: none); the pid. */
static pid_t start_shim(char *const argv[], unsigned long n)
{
    char num[32];
    snprintf(num, sizeof num, "%lu", n);
    setenv("AGENTTRAIL_FAULT_ALLOC", num, 1);
    setenv("AGENTTRAIL_FAULT_REPORT", g.report, 1);
    pid_t pid = pu_spawn(argv, g.out, g.err);
    unsetenv("AGENTTRAIL_FAULT_ALLOC");
    unsetenv("AGENTTRAIL_FAULT_REPORT");
    return pid;
}

/* The exit status must be the program's own; returns the fault report's allocation count. */
static unsigned long finish(const char *what, int status, unsigned long n)
{
    if (status >= 100 || (n == 0 && status != 0)) {
        char *err = tu_read_file(g.err, NULL);
        fail_msg("%s, N=%lu: trace-shim ended with status %d:\n%s", what, n, status, err);
    }
    char *report = tu_read_file(g.report, NULL);
    long long count = report ? pu_field(report, "alloc") : -1;
    free(report);
    unlink(g.report);
    return count > 0 ? (unsigned long)count : 0;
}

/* 1 when [p, p+len) is a whole line of text[0, n) (memchr: the texts are large). */
static int has_line(const char *text, size_t n, const char *p, size_t len)
{
    for (const char *q = text, *end = text + n; q < end;) {
        const char *nl = memchr(q, '\n', (size_t)(end - q));
        size_t l = nl ? (size_t)(nl - q) : (size_t)(end - q);
        if (l == len && memcmp(q, p, len) == 0) return 1;
        if (!nl) break;
        q = nl + 1;
    }
    return 0;
}

static unsigned long dry_run(unsigned long n)
{
    char *argv[] = {g.shim, "--dry-run", "--hmac-key-file", g.key, g.input, NULL};
    unsigned long count = finish("--dry-run", pu_wait(start_shim(argv, n)), n);
    size_t len = 0;
    char *out = tu_read_file(g.out, &len);
    assert_non_null(out);
    if (scan(out, len, "trace-shim --dry-run output") != 0)
        fail_msg("--dry-run, N=%lu: a raw secret was printed", n);
    if (n == 0) {
        free(g.clean);
        g.clean = out;
        g.clean_len = len;
        return count;
    }
    for (char *p = out, *end = out + len, *nl; p < end; p = nl + 1) {
        nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) fail_msg("--dry-run, N=%lu: a line without its end: %s", n, p);
        if (!has_line(g.clean, g.clean_len, p, (size_t)(nl - p)))
            fail_msg("--dry-run, N=%lu: a line that the clean run does not print: %.*s", n,
                     (int)(nl - p), p);
    }
    free(out);
    return count;
}

AT_TEST(test_dry_run_never_prints_a_partly_masked_event)
{
    (void)state;
    unsigned long count = dry_run(0), max = ft_max_runs(DRY_RUNS);
    unsigned long *ns = calloc(max && max < count ? max : count, sizeof *ns);
    unsigned long k = ft_only() ? (ns[0] = ft_only(), 1) : ft_sample(count, max, ns);
    for (unsigned long i = 0; i < k; i++)
        dry_run(ns[i]);
    fprintf(stderr, "# trace-shim --dry-run: %lu allocations, %lu runs\n", count, k);
    free(ns);
}

/* ---- sending through libtraceshim ------------------------------------------------------ */

/* Checks one batch frame and acks it on r (identity id). Returns its event count. */
static size_t take_batch(void *r, zmq_msg_t *id, const uint8_t *frame, size_t len, unsigned long n)
{
    tp_batch *b = NULL;
    at_error err;
    if (tp_batch_decode(frame, len, NULL, &b, &err) != 0)
        fail_msg("send, N=%lu: an emitted batch does not decode: %s", n, err.what);
    for (size_t i = 0; i < b->n_events; i++) {
        if (scan(b->events[i].data, b->events[i].len, "an emitted event") != 0)
            fail_msg("send, N=%lu: an emitted event holds a raw secret", n);
        tp_event *ev = NULL;
        if (tp_event_unpack(b->events[i].data, b->events[i].len, NULL, &ev, &err) != 0)
            fail_msg("send, N=%lu: an emitted event is refused: %s: %s", n, err.where, err.what);
        tp_event_destroy(&ev);
    }
    tp_ack ack = AGENTTRAIL__V1__ACK__INIT;
    ack.has_seq = ack.has_status = ack.has_accepted = 1;
    ack.seq = b->seq;
    ack.status = AGENTTRAIL__V1__ACK_STATUS__ACK_OK;
    ack.accepted = (uint32_t)b->n_events;
    size_t events = b->n_events;
    tp_batch_destroy(&b);
    uint8_t *buf = NULL;
    size_t blen = 0;
    assert_int_equal(tp_ack_encode(&ack, &buf, &blen), 0);
    zmq_msg_send(id, r, ZMQ_SNDMORE);
    zmq_send(r, buf, blen, 0);
    free(buf);
    return events;
}

static unsigned long send_run(unsigned long n, size_t *events)
{
    void *ctx = zmq_ctx_new();
    void *r = zmq_socket(ctx, ZMQ_ROUTER);
    int linger = 0;
    zmq_setsockopt(r, ZMQ_LINGER, &linger, sizeof linger);
    assert_int_equal(zmq_bind(r, g.ep), 0);
    tu_rmtree(g.spool);
    char *argv[] = {g.shim, "--endpoint",      g.ep,  "--spool-dir", g.spool, "--timeout",
                    "5",    "--hmac-key-file", g.key, g.input,       NULL};
    pid_t pid = start_shim(argv, n);
    int status = -1;
    *events = 0;
    for (int waited = 0; waited < 30000; waited += 20) {
        zmq_pollitem_t it = {r, 0, ZMQ_POLLIN, 0};
        while (zmq_poll(&it, 1, 20) == 1) {
            zmq_msg_t id, m;
            zmq_msg_init(&id);
            zmq_msg_init(&m);
            assert_true(zmq_msg_recv(&id, r, 0) >= 0);
            assert_true(zmq_msg_recv(&m, r, 0) >= 0);
            *events += take_batch(r, &id, zmq_msg_data(&m), zmq_msg_size(&m), n);
            zmq_msg_close(&m);
            zmq_msg_close(&id);
        }
        if (waitpid(pid, &status, WNOHANG) == pid) break;
    }
    if (status == -1)
        status = pu_kill_wait(pid, SIGKILL) + 1000;
    else
        status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    zmq_close(r);
    zmq_ctx_term(ctx);
    return finish("send", status, n);
}

AT_TEST(test_no_emitted_batch_holds_a_partly_masked_event)
{
    (void)state;
    size_t events = 0;
    unsigned long count = send_run(0, &events), max = ft_max_runs(SEND_RUNS);
    unsigned long *ns = calloc(max && max < count ? max : count, sizeof *ns);
    assert_true(events > 0);
    unsigned long k = ft_only() ? (ns[0] = ft_only(), 1) : ft_sample(count, max, ns);
    for (unsigned long i = 0; i < k; i++)
        send_run(ns[i], &events);
    fprintf(stderr, "# trace-shim send: %lu allocations, %lu runs\n", count, k);
    free(ns);
}

AT_TEST_GROUP(setup, teardown);
