/*
 * test_shim_monitor.c - the shim socket's monitor (agent-shim/lib/shim_monitor.c)
 * on real ZeroMQ sockets over ipc:// in a temp dir: a DEALER set up as the
 * shim sets up its own, a ROUTER in another context standing for the
 * collector, closed and bound again at the same endpoint.
 *
 * Proves: once shim_monitor_stop has run, a connection event of the DEALER
 * (the peer going away, as a collector closing the connection on a batch it
 * finds too big) neither stalls the DEALER's I/O thread (it reconnects and
 * delivers to a new peer) nor leaks the event's message (ASan's leak check
 * at exit). The endpoint is longer than 33 bytes, so that the event's
 * endpoint part is a heap allocation (libzmq keeps shorter ones inline),
 * as in the once seen failure of test_spool_faults: "Direct leak of 86
 * byte(s)", 40 bytes of libzmq's message header plus a 46-byte endpoint.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include <cmocka.h>

#include "at_test.h"
#include "pipeline_util.h"
#include "shim_monitor.h"
#include "testutil.h"

/* A ROUTER bound at `ep` in its own context (*ctx), receiving for up to 5 s. */
static void *peer_bind(void **ctx, const char *ep)
{
    *ctx = zmq_ctx_new();
    assert_non_null(*ctx);
    void *r = zmq_socket(*ctx, ZMQ_ROUTER);
    assert_non_null(r);
    int zero = 0, tmo = 5000;
    zmq_setsockopt(r, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(r, ZMQ_RCVTIMEO, &tmo, sizeof tmo);
    assert_int_equal(zmq_bind(r, ep), 0);
    return r;
}

static void peer_close(void **ctx, void *r)
{
    zmq_close(r);
    zmq_ctx_term(*ctx);
    *ctx = NULL;
}

/* The message part after the routing id, as the peer received it; 0 none in 5 s. */
static int peer_recv(void *r, char *out, size_t cap)
{
    char id[256];
    if (zmq_recv(r, id, sizeof id, 0) < 0) return 0;
    int n = zmq_recv(r, out, cap - 1, 0);
    if (n < 0) return 0;
    out[(size_t)n < cap - 1 ? (size_t)n : cap - 1] = 0;
    return 1;
}

AT_TEST(test_a_connection_event_after_the_monitor_stopped_stalls_and_leaks_nothing)
{
    (void)state;
    char *dir = tu_tempdir("monitor");
    char ep[600];
    snprintf(ep, sizeof ep, "ipc://%s/collector-endpoint.sock", dir);
    assert_true(strlen(ep) > 33);
    void *pctx = NULL, *peer = peer_bind(&pctx, ep);

    void *zctx = zmq_ctx_new(), *sock = zmq_socket(zctx, ZMQ_DEALER);
    assert_non_null(sock);
    int zero = 0, ivl = 100;
    zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(sock, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
    void *mon = shim_monitor_start(zctx, sock);
    assert_non_null(mon);
    assert_int_equal(zmq_connect(sock, ep), 0);
    shim_conn_events ev;
    memset(&ev, 0, sizeof ev);
    for (int waited = 0; ev.connected == 0 && waited < 5000; waited += 10) {
        pu_sleep_ms(10);
        shim_monitor_drain(mon, &ev);
    }
    assert_int_equal(ev.connected, 1);
    char got[64];
    assert_int_equal(zmq_send(sock, "first", 5, 0), 5);
    assert_true(peer_recv(peer, got, sizeof got));
    assert_string_equal(got, "first");

    shim_monitor_stop(sock, &mon);
    assert_null(mon);
    pu_sleep_ms(200);        /* the PAIR's close reaches libzmq's end of the monitor */
    peer_close(&pctx, peer); /* DISCONNECTED on the DEALER, from its I/O thread */
    pu_sleep_ms(200);
    /* A collector back at the same endpoint gets what the DEALER sends: its I/O
     * thread is not stuck sending that event to a monitor nobody reads. */
    peer = peer_bind(&pctx, ep);
    assert_int_equal(zmq_send(sock, "second", 6, 0), 6);
    assert_true(peer_recv(peer, got, sizeof got));
    assert_string_equal(got, "second");

    peer_close(&pctx, peer);
    zmq_close(sock);
    zmq_ctx_term(zctx);
    tu_rmtree_free(dir);
}
