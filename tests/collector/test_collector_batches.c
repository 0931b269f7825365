/*
 * test_collector_batches.c - what the collector answers, batch by batch, to
 * a raw DEALER socket: malformed, truncated, oversized, wrong-version and
 * multi-part batches get a REJECTED ack and the collector keeps serving; a
 * batch with some bad events stores the good ones and names the bad ones;
 * a resent batch is acked OK again and stored once; a full store answers
 * RETRY, keeps running, and stores everything once space returns; an event
 * or a batch carrying a protobuf field unknown to the schema is refused; an
 * event reusing a stored event_id with other content is rejected, logged and
 * counted.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zmq.h>

#include "at_test.h"
#include "pipeline_util.h"
#include "testutil.h"
#include "traceproto.h"
#include "tracestore.h"

typedef struct env {
    char *dir;
    char store[512], ep[600], log[512];
    void *ctx, *sock;
    pid_t collector;
} env;

static void env_connect(env *e)
{
    e->ctx = zmq_ctx_new();
    e->sock = zmq_socket(e->ctx, ZMQ_DEALER);
    int zero = 0, tmo = 10000;
    zmq_setsockopt(e->sock, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(e->sock, ZMQ_RCVTIMEO, &tmo, sizeof tmo);
    assert_int_equal(zmq_connect(e->sock, e->ep), 0);
}

static env *env_new(const char *const *collector_args)
{
    env *e = calloc(1, sizeof *e);
    e->dir = tu_tempdir("batches");
    snprintf(e->store, sizeof e->store, "%s/store", e->dir);
    snprintf(e->ep, sizeof e->ep, "ipc://%s/c.sock", e->dir);
    snprintf(e->log, sizeof e->log, "%s/collector.log", e->dir);
    e->collector = pu_collector_start(e->store, e->ep, e->log, collector_args);
    env_connect(e);
    return e;
}

static void env_free(env *e)
{
    zmq_close(e->sock);
    zmq_ctx_term(e->ctx);
    if (e->collector > 0) assert_int_equal(pu_kill_wait(e->collector, SIGTERM), 0);
    tu_rmtree_free(e->dir);
    free(e);
}

/* A packed event: valid, or without its DRI (invalid). */
static void packed_event(uint64_t n, int valid, size_t note_len, uint8_t **buf, size_t *len)
{
    tp_event *ev = tp_event_new();
    ev->has_event_id = 1;
    ev->event_id.data = calloc(1, 16);
    ev->event_id.len = 16;
    ev->event_id.data[0] = 0x42;
    for (int i = 0; i < 8; i++)
        ev->event_id.data[8 + i] = (uint8_t)(n >> (56 - 8 * i));
    ev->has_kind = 1;
    ev->kind = AGENTTRAIL__V1__KIND__NOTE;
    ev->workflow = strdup("batches-test");
    if (valid) ev->dri = strdup("dri@example.com");
    ev->note = malloc(note_len + 1);
    uint64_t x = n * 6364136223846793005ull + 1442695040888963407ull;
    for (size_t i = 0; i < note_len; i++) { /* incompressible: fills a map fast */
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        ev->note[i] = (char)('a' + (x >> 60));
    }
    ev->note[note_len] = 0;
    at_error err;
    assert_int_equal(tp_event_prepare(ev, NULL, 0, &err), 0);
    assert_int_equal(tp_event_pack(ev, buf, len), 0);
    tp_event_destroy(&ev);
}

/* Encodes a batch of events [first, first+n), those in `bad` mask invalid. */
static void make_batch(uint64_t seq, uint64_t first, size_t n, uint32_t bad_mask, size_t note_len,
                       uint8_t **frame, size_t *frame_len)
{
    uint8_t *evs[64];
    size_t lens[64];
    for (size_t i = 0; i < n; i++)
        packed_event(first + i, !(bad_mask & (1u << i)), note_len, &evs[i], &lens[i]);
    assert_int_equal(
        tp_batch_encode("test-shim", seq, (const uint8_t *const *)evs, lens, n, frame, frame_len),
        0);
    for (size_t i = 0; i < n; i++)
        free(evs[i]);
}

static tp_ack *send_and_ack(env *e, const void *frame, size_t len)
{
    assert_true(zmq_send(e->sock, frame, len, 0) >= 0);
    uint8_t buf[65536];
    int n = zmq_recv(e->sock, buf, sizeof buf, 0);
    assert_true(n > 0);
    tp_ack *ack = NULL;
    at_error err;
    assert_int_equal(tp_ack_decode(buf, (size_t)n, &ack, &err), 0);
    return ack;
}

static uint64_t store_count(const char *store)
{
    uint64_t lost, dup, total = 0;
    assert_int_equal(pu_set_check(store, 0, 0, &lost, &dup, &total), 0);
    return total;
}

static void assert_rejected(env *e, const void *frame, size_t len, const char *what)
{
    tp_ack *ack = send_and_ack(e, frame, len);
    fprintf(stderr, "%s: status %d, reason: %s\n", what, ack->status,
            ack->reason ? ack->reason : "(none)");
    assert_int_equal(ack->status, AGENTTRAIL__V1__ACK_STATUS__ACK_REJECTED);
    assert_non_null(ack->reason);
    tp_ack_destroy(&ack);
}

static void assert_ok(env *e, const void *frame, size_t len, uint64_t seq, uint32_t accepted)
{
    tp_ack *ack = send_and_ack(e, frame, len);
    assert_int_equal(ack->status, AGENTTRAIL__V1__ACK_STATUS__ACK_OK);
    assert_int_equal(ack->seq, seq);
    assert_int_equal(ack->accepted, accepted);
    tp_ack_destroy(&ack);
}

/* Sends a batch and checks that it is acked OK with `accepted` events and
 * `nrej` rejections; returns the ack for more checks (caller destroys). */
static tp_ack *ack_ok_with(env *e, const void *frame, size_t len, uint32_t accepted, size_t nrej)
{
    tp_ack *ack = send_and_ack(e, frame, len);
    assert_int_equal(ack->status, AGENTTRAIL__V1__ACK_STATUS__ACK_OK);
    assert_int_equal(ack->accepted, accepted);
    assert_int_equal(ack->n_rejected, nrej);
    return ack;
}

AT_TEST(test_bad_batches_are_rejected_and_the_collector_keeps_serving)
{
    (void)state;
    const char *args[] = {"--max-batch-bytes", "64K", NULL};
    env *e = env_new(args);
    uint8_t *good = NULL, *big = NULL;
    size_t good_len = 0, big_len = 0;
    make_batch(7, 0, 4, 0, 100, &good, &good_len);

    assert_rejected(e, "hello, collector", 16, "malformed");
    assert_rejected(e, good, good_len / 2, "truncated");
    uint8_t *wrongver = malloc(good_len);
    memcpy(wrongver, good, good_len);
    wrongver[3] = 99;
    assert_rejected(e, wrongver, good_len, "wrong version");
    make_batch(8, 100, 8, 0, 10000, &big, &big_len); /* ~80 KiB > 64 KiB */
    assert_true(big_len > 65536);
    assert_rejected(e, big, big_len, "oversized");
    /* The REJECTED ack of an oversized batch names its seq: the shim stops resending it. */
    tp_ack *ack = send_and_ack(e, big, big_len);
    assert_int_equal(ack->seq, 8);
    tp_ack_destroy(&ack);
    /* Two message parts for one batch. */
    assert_true(zmq_send(e->sock, good, good_len, ZMQ_SNDMORE) >= 0);
    assert_rejected(e, good, good_len, "two parts");
    assert_int_equal(store_count(e->store), 0);

    /* Still serving: the good batch is stored. */
    assert_ok(e, good, good_len, 7, 4);
    assert_int_equal(store_count(e->store), 4);
    TU_FREE(good, big, wrongver);
    env_free(e);
}

AT_TEST(test_bad_events_are_named_and_their_neighbours_stored)
{
    (void)state;
    env *e = env_new(NULL);
    uint8_t *frame = NULL;
    size_t len = 0;
    make_batch(11, 0, 5, (1u << 1) | (1u << 3), 50, &frame, &len);
    tp_ack *ack = ack_ok_with(e, frame, len, 3, 2);
    assert_int_equal(ack->seq, 11);
    assert_int_equal(ack->rejected[0]->index, 1);
    assert_int_equal(ack->rejected[1]->index, 3);
    assert_non_null(strstr(ack->rejected[0]->reason, "dri"));
    tp_ack_destroy(&ack);
    assert_int_equal(store_count(e->store), 3);
    free(frame);
    env_free(e);
}

AT_TEST(test_resent_batch_is_acked_again_and_stored_once)
{
    (void)state;
    env *e = env_new(NULL);
    uint8_t *frame = NULL;
    size_t len = 0;
    make_batch(21, 0, 10, 0, 50, &frame, &len);
    assert_ok(e, frame, len, 21, 10);
    tp_ack *ack = send_and_ack(e, frame, len);
    assert_int_equal(ack->status, AGENTTRAIL__V1__ACK_STATUS__ACK_OK);
    assert_int_equal(ack->accepted, 10);
    assert_int_equal(ack->duplicates, 10);
    tp_ack_destroy(&ack);
    assert_int_equal(store_count(e->store), 10);
    free(frame);
    env_free(e);
}

AT_TEST(test_full_store_answers_retry_then_stores_once_space_returns)
{
    (void)state;
    const char *args[] = {"--map-size-max", "2M", NULL};
    env *e = env_new(args);
    /* Distinct, poorly compressible events until the map limit holds: three
     * RETRY answers in a row. Batches answered RETRY are kept to resend. */
    enum { MAXB = 600 };
    uint8_t *retry_frames[MAXB];
    size_t retry_lens[MAXB];
    uint64_t retry_seqs[MAXB];
    int nretry = 0, in_a_row = 0;
    uint64_t seq = 1, ok_events = 0;
    for (int i = 0; i < MAXB && in_a_row < 3; i++, seq++) {
        uint8_t *frame = NULL;
        size_t len = 0;
        make_batch(seq, seq * 32, 32, 0, 2000, &frame, &len);
        tp_ack *ack = send_and_ack(e, frame, len);
        assert_int_equal(ack->seq, seq);
        if (ack->status == AGENTTRAIL__V1__ACK_STATUS__ACK_RETRY) {
            in_a_row++;
            retry_frames[nretry] = frame;
            retry_lens[nretry] = len;
            retry_seqs[nretry++] = seq;
        } else {
            assert_int_equal(ack->status, AGENTTRAIL__V1__ACK_STATUS__ACK_OK);
            in_a_row = 0;
            ok_events += 32;
            free(frame);
        }
        tp_ack_destroy(&ack);
    }
    assert_int_equal(in_a_row, 3);
    assert_true(pu_wait_for_text(e->log, "full", 0));
    /* Nothing of a RETRY batch was stored. */
    assert_int_equal(store_count(e->store), ok_events);

    /* Space returns: restart without the limit; resends are stored, once. */
    assert_int_equal(pu_kill_wait(e->collector, SIGTERM), 0);
    zmq_close(e->sock);
    zmq_ctx_term(e->ctx);
    e->collector = pu_collector_start(e->store, e->ep, e->log, NULL);
    env_connect(e);
    for (int i = 0; i < nretry; i++) {
        assert_ok(e, retry_frames[i], retry_lens[i], retry_seqs[i], 32);
        assert_ok(e, retry_frames[i], retry_lens[i], retry_seqs[i], 32);
        free(retry_frames[i]);
    }
    assert_int_equal(store_count(e->store), ok_events + 32 * (uint64_t)nretry);
    env_free(e);
}

#define SECRET "AKIAIOSFODNN7EXAMPLE"

/* Appends field 99 (length-delimited) holding SECRET to protobuf bytes. */
static uint8_t *with_field_99(const uint8_t *buf, size_t len, size_t *out_len)
{
    size_t k = strlen(SECRET);
    uint8_t *p = malloc(len + 3 + k);
    memcpy(p, buf, len);
    p[len] = 0x9a; /* (99 << 3) | 2, as a varint */
    p[len + 1] = 0x06;
    p[len + 2] = (uint8_t)k;
    memcpy(p + len + 3, SECRET, k);
    *out_len = len + 3 + k;
    return p;
}

/* Sends a batch of two valid events [n, n+1], the first one altered by
 * `alter` (which replaces its packed bytes): the collector must store the
 * second and reject the first. Returns the reason, malloc'd. */
static char *send_pair_first_altered(env *e, uint64_t seq, uint64_t n,
                                     void (*alter)(uint8_t **buf, size_t *len))
{
    uint8_t *ev[2], *frame = NULL;
    size_t lens[2], flen = 0;
    packed_event(n, 1, 50, &ev[0], &lens[0]);
    packed_event(n + 1, 1, 50, &ev[1], &lens[1]);
    alter(&ev[0], &lens[0]);
    assert_int_equal(
        tp_batch_encode("test-shim", seq, (const uint8_t *const *)ev, lens, 2, &frame, &flen), 0);
    tp_ack *ack = ack_ok_with(e, frame, flen, 1, 1);
    assert_int_equal(ack->rejected[0]->index, 0);
    char *reason = strdup(ack->rejected[0]->reason);
    tp_ack_destroy(&ack);
    TU_FREE(frame, ev[0], ev[1]);
    return reason;
}

static void append_field_99(uint8_t **buf, size_t *len)
{
    uint8_t *p = with_field_99(*buf, *len, len);
    free(*buf);
    *buf = p;
}

AT_TEST(test_unknown_protobuf_fields_are_refused_not_stored)
{
    (void)state;
    env *e = env_new(NULL);
    char *reason = send_pair_first_altered(e, 31, 1, append_field_99);
    assert_string_equal(reason, "field 99: unknown to agenttrail.v1.TraceEvent; refused: unknown "
                                "fields would be stored unread and unmasked");
    free(reason);
    assert_int_equal(store_count(e->store), 1);

    /* The envelope: the whole batch is refused. */
    uint8_t *good = NULL;
    size_t glen = 0, flen = 0;
    make_batch(32, 10, 2, 0, 50, &good, &glen);
    uint8_t *bad = with_field_99(good, glen, &flen);
    assert_rejected(e, bad, flen, "unknown Batch field");
    tp_ack *ack = send_and_ack(e, bad, flen);
    assert_string_equal(ack->reason, "field 99: unknown to agenttrail.v1.Batch; refused: unknown "
                                     "fields would be stored unread and unmasked");
    tp_ack_destroy(&ack);
    assert_int_equal(store_count(e->store), 1);
    free(good);
    free(bad);
    env_free(e);
}

AT_TEST(test_an_event_reusing_a_stored_id_with_other_content_is_rejected_and_counted)
{
    (void)state;
    env *e = env_new(NULL);
    uint8_t *first = NULL, *other = NULL, *ev[2];
    size_t first_len = 0, other_len = 0, lens[2];
    make_batch(41, 5, 1, 0, 50, &first, &first_len);
    assert_ok(e, first, first_len, 41, 1);
    /* Event 5 again with another note, beside a new event 6. */
    packed_event(6, 1, 50, &ev[0], &lens[0]);
    packed_event(5, 1, 60, &ev[1], &lens[1]);
    assert_int_equal(
        tp_batch_encode("test-shim", 42, (const uint8_t *const *)ev, lens, 2, &other, &other_len),
        0);
    tp_ack *ack = ack_ok_with(e, other, other_len, 1, 1);
    assert_int_equal(ack->duplicates, 0);
    assert_int_equal(ack->rejected[0]->index, 1);
    assert_string_equal(ack->rejected[0]->reason,
                        "event_id: already stored with different content (log index 0)");
    tp_ack_destroy(&ack);
    /* An ordinary resend of the first batch is still a plain duplicate. */
    ack = ack_ok_with(e, first, first_len, 1, 0);
    assert_int_equal(ack->duplicates, 1);
    tp_ack_destroy(&ack);
    assert_int_equal(store_count(e->store), 2);
    assert_true(pu_wait_for_text(e->log,
                                 "event 42000000000000000000000000000005 from \"anonymous\" "
                                 "(batch 42, index 1): event_id already stored at log index 0 "
                                 "with different content",
                                 5000));
    assert_int_equal(pu_kill_wait(e->collector, SIGTERM), 0);
    e->collector = 0;
    assert_true(pu_wait_for_text(
        e->log, "1 events rejected (1 reusing a stored event_id with different content)", 5000));
    TU_FREE(first, other, ev[0], ev[1]);
    env_free(e);
}

/* An incident longer than the by_incident index takes (TP_INCIDENT_MAX) was
 * stored unindexed: find and export --incident found nothing. Now refused. */
static void set_long_incident(uint8_t **buf, size_t *len)
{
    tp_event *x = agenttrail__v1__trace_event__unpack(NULL, *len, *buf);
    x->incident = malloc(301);
    memset(x->incident, 'I', 300);
    x->incident[300] = 0;
    free(*buf);
    assert_int_equal(tp_event_pack(x, buf, len), 0);
    tp_event_destroy(&x);
}

AT_TEST(test_an_incident_too_long_to_index_is_refused)
{
    (void)state;
    env *e = env_new(NULL);
    char *reason = send_pair_first_altered(e, 51, 1, set_long_incident);
    assert_string_equal(reason, "incident: 300 bytes; must be 1-256 bytes");
    free(reason);
    assert_int_equal(store_count(e->store), 1);
    env_free(e);
}
