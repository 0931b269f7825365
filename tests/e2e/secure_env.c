/*
 * secure_env.c - the environment of the security end-to-end tests: a temp
 * directory with CURVE keys for a collector and two shims, an allowlist
 * naming shim-a, the collector process, raw CURVE DEALER clients, and the
 * built programs run with their stderr captured.
 *
 * Owns: what setup creates (removed by teardown) and the collector process
 * (stopped by pid). Threading: single-threaded.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <zmq.h>

#include <cmocka.h>

#include "pipeline_util.h"
#include "secure_env.h"
#include "testutil.h"

const char *P(env *e, int k)
{
    return e->path[k];
}

char *bin(const char *name)
{
    return tu_bin(name);
}

/* Runs a program; returns its status, stderr in *err (may be NULL). */
int run(char **err, const char *a0, ...)
{
    char *out = NULL;
    va_list ap;
    va_start(ap, a0);
    int rc = tu_run_va(a0, NULL, &out, NULL, err, ap);
    va_end(ap);
    free(out);
    return rc;
}

void keygen(env *e, int k, const char *name)
{
    char base[480];
    snprintf(base, sizeof base, "%s/%s", e->dir, name);
    char *err = NULL;
    int rc = run(&err, "trace-collector", "keygen", "--curve", "-o", base, (char *)NULL);
    if (rc != 0) fail_msg("keygen %s: %d %s", base, rc, err);
    free(err);
    snprintf(e->path[k], sizeof e->path[k], "%s", base);
}

void key_text(const char *base, const char *ext, char out[41])
{
    char p[600];
    snprintf(p, sizeof p, "%s.%s", base, ext);
    char *t = tu_read_file(p, NULL);
    assert_non_null(t);
    assert_true(strlen(t) >= 40);
    memcpy(out, t, 40);
    out[40] = 0;
    free(t);
}

void allow_only(env *e, int k, const char *name)
{
    char pub[41], text[256];
    key_text(P(e, k), "pub", pub);
    int n = snprintf(text, sizeof text, "# shims allowed in\n%s %s\n", name, pub);
    assert_int_equal(tu_write_file(P(e, P_ALLOW), text, (size_t)n), 0);
}

int setup(void **state)
{
    env *e = calloc(1, sizeof *e);
    assert_non_null(e);
    e->dir = tu_tempdir("secpipe");
    const char *names[] = {
        [P_STORE] = "store",       [P_SOCK] = "c.sock",         [P_LOG] = "collector.log",
        [P_ALLOW] = "allow.txt",   [P_EVENTS] = "events.jsonl", [P_SPOOL] = "spool",
        [P_BUNDLE] = "bundle.tar", [P_HMAC] = "org.hmac"};
    for (int k = 0; k < 16; k++)
        if (k < (int)(sizeof names / sizeof *names) && names[k])
            snprintf(e->path[k], sizeof e->path[k], "%s/%s", e->dir, names[k]);
    keygen(e, P_SERVER, "server");
    keygen(e, P_A, "shim-a");
    keygen(e, P_B, "shim-b");
    allow_only(e, P_A, "shim-a");
    *state = e;
    return 0;
}

int teardown(void **state)
{
    env *e = *state;
    if (e->collector > 0) pu_kill_wait(e->collector, SIGKILL);
    tu_rmtree_free(e->dir);
    free(e);
    return 0;
}

char *endpoint(env *e)
{
    static char ep[600];
    snprintf(ep, sizeof ep, "ipc://%s", P(e, P_SOCK));
    return ep;
}

void start_collector(env *e, const char *const *extra_in)
{
    char key[600];
    snprintf(key, sizeof key, "%s.key", P(e, P_SERVER));
    const char *extra[16] = {"--curve-secret", key, "--allow", P(e, P_ALLOW)};
    int n = 4;
    for (int k = 0; extra_in && extra_in[k] && n < 15; k++)
        extra[n++] = extra_in[k];
    extra[n] = NULL;
    e->collector = pu_collector_start(P(e, P_STORE), endpoint(e), P(e, P_LOG), extra);
    if (!pu_wait_for_text(P(e, P_LOG), "ready (", 5000)) {
        char *log = tu_read_file(P(e, P_LOG), NULL);
        fail_msg("collector did not start: %s", log ? log : "(no log)");
    }
}

int collector_alive(env *e)
{
    return waitpid(e->collector, NULL, WNOHANG) == 0;
}

void stop_collector(env *e)
{
    assert_int_equal(pu_kill_wait(e->collector, SIGTERM), 0);
    e->collector = 0;
}

/* Sends events (JSON lines) as one batch over a CURVE DEALER, without the
 * shim's masking (ids are filled here). Returns the ack, NULL on timeout. */
tp_ack *send_raw_batch(void *d, const char *jsonl, uint64_t seq)
{
    uint8_t *packed[128] = {0};
    size_t lens[128] = {0}, n = 0;
    const char *p = jsonl;
    while (*p && n < 128) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        tp_event *ev = NULL;
        at_error err;
        tp_limits lim = tp_limits_default();
        if (tp_event_from_json(p, len, &lim, 0, &ev, &err, NULL) != 0)
            fail_msg("fixture line: %s: %s", err.where, err.what);
        uint8_t id[16];
        assert_int_equal(tp_id_event(id), 0);
        ev->has_event_id = 1;
        ev->event_id.len = 16;
        ev->event_id.data = malloc(16);
        memcpy(ev->event_id.data, id, 16);
        ev->has_trace_id = 1;
        ev->trace_id.len = 16;
        ev->trace_id.data = malloc(16);
        assert_int_equal(tp_id_random(ev->trace_id.data, 16), 0);
        ev->has_span_id = 1;
        ev->span_id.len = 8;
        ev->span_id.data = malloc(8);
        assert_int_equal(tp_id_random(ev->span_id.data, 8), 0);
        ev->has_time_unix_nano = 1;
        ev->time_unix_nano = tp_now_unix_nano();
        assert_int_equal(tp_event_pack(ev, &packed[n], &lens[n]), 0);
        tp_event_destroy(&ev);
        n++;
        p = nl ? nl + 1 : p + len;
    }
    uint8_t *frame;
    size_t flen;
    assert_int_equal(
        tp_batch_encode("raw-canary", seq, (const uint8_t *const *)packed, lens, n, &frame, &flen),
        0);
    for (size_t k = 0; k < n; k++)
        free(packed[k]);
    assert_int_equal(zmq_send(d, frame, flen, 0), (int)flen);
    free(frame);
    return NULL;
}

tp_ack *recv_ack(void *d, int timeout_ms)
{
    zmq_pollitem_t it = {d, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&it, 1, timeout_ms) <= 0) return NULL;
    zmq_msg_t m;
    zmq_msg_init(&m);
    assert_true(zmq_msg_recv(&m, d, 0) >= 0);
    tp_ack *ack = NULL;
    at_error err;
    int rc = tp_ack_decode(zmq_msg_data(&m), zmq_msg_size(&m), &ack, &err);
    zmq_msg_close(&m);
    return rc == 0 ? ack : NULL;
}

void *curve_dealer(void *ctx, env *e, int k, const char *ep)
{
    char sp[41], cs[41], cp[41];
    key_text(P(e, P_SERVER), "pub", sp);
    key_text(P(e, k), "key", cs);
    assert_int_equal(zmq_curve_public(cp, cs), 0);
    void *d = zmq_socket(ctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(d, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(d, ZMQ_CURVE_SERVERKEY, sp, 40);
    zmq_setsockopt(d, ZMQ_CURVE_PUBLICKEY, cp, 40);
    zmq_setsockopt(d, ZMQ_CURVE_SECRETKEY, cs, 40);
    assert_int_equal(zmq_connect(d, ep), 0);
    return d;
}

int shim_send(env *e, int key, const char *timeout, char **err)
{
    char spub[600], ckey[600];
    snprintf(spub, sizeof spub, "%s.pub", P(e, P_SERVER));
    snprintf(ckey, sizeof ckey, "%s.key", P(e, key));
    return run(err, "trace-shim", "--endpoint", endpoint(e), "--spool-dir", P(e, P_SPOOL),
               "--timeout", timeout, "--server-key", spub, "--client-key", ckey, "--hmac-key-file",
               P(e, P_HMAC), "--keep-prompt-text", P(e, P_EVENTS), (char *)NULL);
}
