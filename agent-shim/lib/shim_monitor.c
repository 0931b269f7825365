/*
 * shim_monitor.c - the shim socket's connection events (see shim_monitor.h).
 *
 * Owns nothing beyond the PAIR socket it hands back. Invariants: each
 * monitor message is two parts, [u16 event, u32 value][endpoint]; anything
 * else is drained and ignored; the PAIR is closed only after monitoring
 * stopped (shim_monitor_stop). Threading: see the header.
 */
#include "shim_monitor.h"

#include <stdio.h>
#include <string.h>
#include <zmq.h>

#define MONITOR_EVENTS                                                                             \
    (ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |                             \
     ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |                  \
     ZMQ_EVENT_DISCONNECTED)

void *shim_monitor_start(void *zctx, void *sock)
{
    char ep[64];
    snprintf(ep, sizeof ep, "inproc://traceshim-monitor-%p", sock);
    if (zmq_socket_monitor(sock, ep, MONITOR_EVENTS) != 0) return NULL;
    void *pair = zmq_socket(zctx, ZMQ_PAIR);
    int zero = 0;
    if (pair) zmq_setsockopt(pair, ZMQ_LINGER, &zero, sizeof zero);
    if (!pair || zmq_connect(pair, ep) != 0) {
        shim_monitor_stop(sock, &pair); /* no reader: the next event would block the I/O thread */
        return NULL;
    }
    return pair;
}

/* libzmq sends each event on its own PAIR socket from the I/O thread and
 * blocks while no peer is connected: an event after our PAIR is closed
 * stalls that thread until zmq_ctx_term, which then fails the send and
 * leaks the endpoint part of the message (libzmq 4.3 does not close a
 * message whose send failed). So: drain what is queued (an I/O thread
 * blocked on a full queue holds the lock that stopping takes), stop the
 * monitor (later events are not sent at all), then close the PAIR. */
void shim_monitor_stop(void *sock, void **pair)
{
    if (*pair) {
        shim_conn_events ignored;
        memset(&ignored, 0, sizeof ignored);
        shim_monitor_drain(*pair, &ignored);
    }
    zmq_socket_monitor(sock, NULL, 0);
    if (*pair) zmq_close(*pair);
    *pair = NULL;
}

static void count_event(uint16_t event, uint32_t value, shim_conn_events *ev)
{
    switch (event) {
    case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
        ev->connected++;
        ev->up = 1;
        break;
    case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
        ev->auth_refused++;
        ev->last_status = (int)value;
        break;
    case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
    case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
        ev->handshake_failed++;
        break;
    case ZMQ_EVENT_DISCONNECTED:
        ev->disconnected++;
        ev->up = 0;
        break;
    default:
        break;
    }
}

void shim_monitor_drain(void *pair, shim_conn_events *ev)
{
    for (;;) {
        zmq_msg_t head;
        zmq_msg_init(&head);
        if (zmq_msg_recv(&head, pair, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&head);
            return;
        }
        if (zmq_msg_size(&head) >= 6) {
            uint16_t event;
            uint32_t value;
            memcpy(&event, zmq_msg_data(&head), 2);
            memcpy(&value, (char *)zmq_msg_data(&head) + 2, 4);
            count_event(event, value, ev);
        }
        int more = zmq_msg_more(&head);
        zmq_msg_close(&head);
        while (more) { /* the endpoint part, and anything unexpected */
            zmq_msg_t part;
            zmq_msg_init(&part);
            if (zmq_msg_recv(&part, pair, ZMQ_DONTWAIT) < 0)
                more = 0;
            else
                more = zmq_msg_more(&part);
            zmq_msg_close(&part);
        }
    }
}
