/*
 * test_proto_wire.c - Batch and Ack frames against real and hostile bytes:
 * real events from ../shared/data round-trip through a batch; every proper
 * prefix of a real batch, oversized frames, wrong magic, wrong version and
 * random bytes are refused with the precise reason and never crash (the
 * sanitizer build runs this too); events inside a batch are judged one by one.
 *
 * Owns: nothing beyond each test. Single-threaded.
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
#include "testutil.h"
#include "traceproto.h"

#define N_EVENTS 12

typedef struct fixture {
    uint8_t *ev[N_EVENTS];
    size_t ev_len[N_EVENTS];
    char *json[N_EVENTS];
    uint8_t *batch;
    size_t batch_len;
} fixture;

/* Packs the first N_EVENTS lines of tau.jsonl and frames them as one batch. */
static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    char *path = tu_shared("data/tau.jsonl");
    size_t len = 0;
    char *data = tu_read_file(path, &len);
    if (!f || !data) return -1;
    char *p = data;
    for (int i = 0; i < N_EVENTS; i++) {
        char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        tp_event *ev = NULL;
        if (tp_event_from_json(p, n, NULL, 0, &ev, NULL, NULL) != TP_OK) return -1;
        f->json[i] = tp_event_to_json(ev, NULL);
        if (tp_event_pack(ev, &f->ev[i], &f->ev_len[i]) != TP_OK) return -1;
        tp_event_destroy(&ev);
        p = nl + 1;
    }
    if (tp_batch_encode("shim-test", 7, (const uint8_t *const *)f->ev, f->ev_len, N_EVENTS,
                        &f->batch, &f->batch_len) != TP_OK)
        return -1;
    free(data);
    free(path);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    for (int i = 0; i < N_EVENTS; i++) {
        free(f->ev[i]);
        free(f->json[i]);
    }
    free(f->batch);
    free(f);
    return 0;
}

AT_TEST(test_batch_of_real_events_round_trips)
{
    fixture *f = *state;
    assert_memory_equal(f->batch, "ATB\x01", 4);
    tp_batch *b = NULL;
    at_error err;
    assert_int_equal(tp_batch_decode(f->batch, f->batch_len, NULL, &b, &err), TP_OK);
    assert_string_equal(b->shim_id, "shim-test");
    assert_int_equal(b->seq, 7);
    assert_int_equal(b->n_events, N_EVENTS);
    for (size_t i = 0; i < b->n_events; i++) {
        tp_event *ev = NULL;
        assert_int_equal(tp_event_unpack(b->events[i].data, b->events[i].len, NULL, &ev, &err),
                         TP_OK);
        char *json = tp_event_to_json(ev, NULL);
        assert_string_equal(json, f->json[i]);
        free(json);
        tp_event_destroy(&ev);
    }
    tp_batch_destroy(&b);
    assert_null(b);
    tp_batch_destroy(&b);
}

AT_TEST(test_every_truncated_prefix_of_a_batch_is_refused)
{
    fixture *f = *state;
    for (size_t n = 0; n < f->batch_len; n++) {
        /* A copy of exactly n bytes, so ASan sees any read past the prefix. */
        uint8_t *cut = malloc(n ? n : 1);
        memcpy(cut, f->batch, n);
        tp_batch *b = NULL;
        at_error err = {{0}};
        int rc = tp_batch_decode(cut, n, NULL, &b, &err);
        if (rc == TP_OK)
            fail_msg("prefix of %zu of %zu bytes decoded as a batch of %zu events", n, f->batch_len,
                     b->n_events);
        assert_null(b);
        if (n < 4) {
            assert_int_equal(rc, TP_EFRAME);
            assert_non_null(strstr(err.what, "truncated"));
        } else {
            assert_true(rc == TP_EDECODE || rc == TP_EFRAME);
        }
        free(cut);
    }
}

AT_TEST(test_oversized_batch_is_refused_before_decoding)
{
    fixture *f = *state;
    tp_limits lim = tp_limits_default();
    lim.batch_max_bytes = f->batch_len - 1;
    tp_batch *b = NULL;
    at_error err;
    assert_int_equal(tp_batch_decode(f->batch, f->batch_len, &lim, &b, &err), TP_ETOOBIG);
    assert_string_equal(err.where, "-");
    char want[96];
    snprintf(want, sizeof want, "batch is %zu bytes; at most %zu", f->batch_len, f->batch_len - 1);
    assert_string_equal(err.what, want);
    /* Garbage that is too big is refused for its size, not its content. */
    lim.batch_max_bytes = 16;
    assert_int_equal(tp_batch_decode((const uint8_t *)"XXXXXXXXXXXXXXXXXXXXXX", 22, &lim, &b, &err),
                     TP_ETOOBIG);
    /* Too many events. */
    lim = tp_limits_default();
    lim.batch_max_events = N_EVENTS - 1;
    assert_int_equal(tp_batch_decode(f->batch, f->batch_len, &lim, &b, &err), TP_ETOOBIG);
    assert_string_equal(err.where, "events");
    assert_null(b);
}

AT_TEST(test_wrong_magic_and_wrong_version_are_named)
{
    fixture *f = *state;
    uint8_t *copy = malloc(f->batch_len);
    memcpy(copy, f->batch, f->batch_len);
    tp_batch *b = NULL;
    at_error err;
    copy[0] = 'X';
    assert_int_equal(tp_batch_decode(copy, f->batch_len, NULL, &b, &err), TP_EFRAME);
    assert_non_null(strstr(err.what, "expected \"ATB\""));
    copy[0] = 'A';
    copy[3] = 2;
    assert_int_equal(tp_batch_decode(copy, f->batch_len, NULL, &b, &err), TP_EFRAME);
    assert_string_equal(err.what,
                        "batch frame version 2 is not supported; this build speaks version 1");
    /* An ack frame is not a batch. */
    memcpy(copy, "ATA\x01", 4);
    assert_int_equal(tp_batch_decode(copy, f->batch_len, NULL, &b, &err), TP_EFRAME);
    assert_null(b);
    free(copy);
}

/* xorshift64*: deterministic random bytes for the hostile inputs. */
static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

AT_TEST(test_random_bytes_never_crash_batch_or_event_decoding)
{
    fixture *f = *state;
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    size_t decoded = 0;
    for (int round = 0; round < 20000; round++) {
        size_t n = (size_t)(rng_next(&seed) % 600);
        uint8_t *buf = malloc(n + 4);
        int mode = round % 3;
        for (size_t i = 0; i < n + 4; i++)
            buf[i] = (uint8_t)rng_next(&seed);
        if (mode == 1) {
            memcpy(buf, "ATB\x01", 4); /* a valid header before random protobuf bytes */
        } else if (mode == 2 && f->batch_len > 8) {
            /* a real batch with a few bytes flipped */
            n = f->batch_len;
            free(buf);
            buf = malloc(n);
            memcpy(buf, f->batch, n);
            for (int k = 0; k < 4; k++)
                buf[4 + rng_next(&seed) % (n - 4)] ^= (uint8_t)(1 + rng_next(&seed) % 255);
        }
        size_t len = mode == 2 ? n : n + 4;
        tp_batch *b = NULL;
        at_error err = {{0}};
        if (tp_batch_decode(buf, len, NULL, &b, &err) == TP_OK) {
            decoded++;
            for (size_t i = 0; i < b->n_events; i++) {
                tp_event *ev = NULL;
                if (tp_event_unpack(b->events[i].data, b->events[i].len, NULL, &ev, &err) ==
                    TP_OK) {
                    char *json = tp_event_to_json(ev, NULL);
                    assert_non_null(json);
                    free(json);
                    tp_event_destroy(&ev);
                } else {
                    assert_true(err.where[0] != 0 && err.what[0] != 0);
                }
            }
            tp_batch_destroy(&b);
        } else {
            assert_null(b);
            assert_true(err.what[0] != 0);
        }
        tp_event *ev = NULL;
        if (tp_event_unpack(buf, len, NULL, &ev, &err) == TP_OK) tp_event_destroy(&ev);
        free(buf);
    }
    print_message("%zu of 20000 hostile frames decoded as batches\n", decoded);
}

AT_TEST(test_unpacked_event_without_ids_is_refused)
{
    (void)state;
    const char *line = "{\"kind\":\"note\",\"workflow\":\"w\",\"dri\":\"d\",\"note\":\"n\"}";
    tp_event *ev = NULL;
    assert_int_equal(tp_event_from_json(line, strlen(line), NULL, 0, &ev, NULL, NULL), TP_OK);
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(tp_event_pack(ev, &buf, &len), TP_OK);
    tp_event *back = NULL;
    at_error err;
    assert_int_equal(tp_event_unpack(buf, len, NULL, &back, &err), TP_EINVAL);
    assert_string_equal(err.where, "event_id");
    assert_null(back);
    free(buf);
    /* After the shim's preparation the same event passes. */
    assert_int_equal(tp_event_prepare(ev, NULL, 0, &err), TP_OK);
    assert_int_equal(tp_event_pack(ev, &buf, &len), TP_OK);
    assert_int_equal(tp_event_unpack(buf, len, NULL, &back, &err), TP_OK);
    tp_event_destroy(&back);
    /* A hand-made wire event with a 5-byte span id is named precisely. */
    free(ev->span_id.data);
    ev->span_id.data = malloc(5);
    memset(ev->span_id.data, 1, 5);
    ev->span_id.len = 5;
    free(buf);
    assert_int_equal(tp_event_pack(ev, &buf, &len), TP_OK);
    assert_int_equal(tp_event_unpack(buf, len, NULL, &back, &err), TP_EINVAL);
    assert_string_equal(err.where, "span_id");
    assert_string_equal(err.what, "must be 8 bytes (16 lowercase hex digits), got 5 bytes");
    free(buf);
    tp_event_destroy(&ev);
}

AT_TEST(test_event_bytes_that_do_not_re_encode_identically_are_refused)
{
    (void)state;
    const char *line = "{\"kind\":\"note\",\"workflow\":\"w\",\"dri\":\"d\",\"note\":\"n\"}";
    tp_event *ev = NULL;
    at_error err;
    assert_int_equal(tp_event_from_json(line, strlen(line), NULL, 0, &ev, NULL, NULL), TP_OK);
    assert_int_equal(tp_event_prepare(ev, NULL, 0, &err), TP_OK);
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(tp_event_pack(ev, &buf, &len), TP_OK);
    tp_event_destroy(&ev);
    uint8_t *bad = malloc(len + 16);
    memcpy(bad, buf, len);
    /* A second `note` (field 23) holding "a\0b": it decodes, the last copy wins, and a reader
     * would see "a" while the bytes hold more. */
    static const uint8_t hidden[] = {0xba, 0x01, 0x03, 'a', 0x00, 'b'};
    memcpy(bad + len, hidden, sizeof hidden);
    assert_int_equal(tp_event_unpack(bad, len + sizeof hidden, NULL, &ev, &err), TP_EDECODE);
    assert_null(ev);
    assert_string_equal(err.where, "-");
    assert_non_null(strstr(err.what, "not in canonical protobuf form"));
    /* redactions (field 25, uint32) given a 33-bit value is cut on decode: refused too. */
    static const uint8_t wide[] = {0xc8, 0x01, 0x80, 0x80, 0x80, 0x80, 0x10};
    memcpy(bad + len, wide, sizeof wide);
    assert_int_equal(tp_event_unpack(bad, len + sizeof wide, NULL, &ev, &err), TP_EDECODE);
    assert_string_equal(err.where, "redactions"); /* named, as the JSON reader names it */
    assert_string_equal(err.what, "4294967296 out of range 0..4294967295");
    /* The canonical bytes themselves pass. */
    assert_int_equal(tp_event_unpack(buf, len, NULL, &ev, &err), TP_OK);
    tp_event_destroy(&ev);
    free(bad);
    free(buf);
}

/* Adds a length-delimited field `tag`, unknown to the schema, holding `text`. */
static void add_unknown(ProtobufCMessage *m, uint32_t tag, const char *text)
{
    ProtobufCMessageUnknownField *u =
        realloc(m->unknown_fields, (m->n_unknown_fields + 1) * sizeof *u);
    assert_non_null(u);
    m->unknown_fields = u;
    u += m->n_unknown_fields++;
    u->tag = tag;
    u->wire_type = PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED;
    size_t n = strlen(text); /* < 128: one length byte */
    u->len = 1 + n;          /* protobuf-c keeps the length prefix with the data */
    u->data = malloc(1 + n);
    u->data[0] = (uint8_t)n;
    memcpy(u->data + 1, text, n);
}

#define SMUGGLED "AKIAIOSFODNN7EXAMPLE"
#define REFUSAL "unknown to agenttrail.v1."

/* Packs `ev` and checks that tp_event_unpack refuses it for `field`, of `type`. */
static void assert_unknown_refused(tp_event *ev, const char *field, const char *type)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(tp_event_pack(ev, &buf, &len), TP_OK);
    assert_non_null(memmem(buf, len, SMUGGLED, strlen(SMUGGLED))); /* it is in the bytes */
    tp_event *out = NULL;
    at_error err = {{0}};
    int rc = tp_event_unpack(buf, len, NULL, &out, &err);
    if (rc != TP_EDECODE || strcmp(err.where, field) != 0)
        fail_msg("%d %s: %s, expected %s", rc, err.where, err.what, field);
    assert_null(out);
    char want[256];
    snprintf(want, sizeof want,
             REFUSAL "%s; refused: unknown fields would be stored unread and unmasked", type);
    assert_string_equal(err.what, want);
    free(buf);
}

AT_TEST(test_unknown_fields_at_any_depth_are_refused)
{
    fixture *f = *state;
    /* The attack as sent: a valid event with a secret appended as field 99. */
    size_t n = f->ev_len[0];
    uint8_t *raw = malloc(n + 2 + 1 + strlen(SMUGGLED));
    memcpy(raw, f->ev[0], n);
    raw[n] = 0x9a; /* tag (99 << 3) | 2 as a varint */
    raw[n + 1] = 0x06;
    raw[n + 2] = (uint8_t)strlen(SMUGGLED);
    memcpy(raw + n + 3, SMUGGLED, strlen(SMUGGLED));
    tp_event *ev = NULL;
    at_error err = {{0}};
    assert_int_equal(tp_event_unpack(raw, n + 3 + strlen(SMUGGLED), NULL, &ev, &err), TP_EDECODE);
    char msg[600];
    assert_string_equal(at_error_format(&err, msg, sizeof msg),
                        "field 99: unknown to agenttrail.v1.TraceEvent; refused: unknown fields "
                        "would be stored unread and unmasked");
    free(raw);
    /* In a sub-message, in a map entry (attributes), in a repeated message. */
    ev = agenttrail__v1__trace_event__unpack(NULL, f->ev_len[0], f->ev[0]);
    assert_non_null(ev);
    if (!ev->usage) {
        ev->usage = malloc(sizeof *ev->usage);
        agenttrail__v1__usage__init(ev->usage);
        ev->usage->has_input_tokens = 1;
        ev->usage->input_tokens = 10;
    }
    add_unknown(&ev->usage->base, 99, SMUGGLED);
    assert_unknown_refused(ev, "usage: field 99", "Usage");
    tp_event_destroy(&ev);

    ev = agenttrail__v1__trace_event__unpack(NULL, f->ev_len[0], f->ev[0]);
    Agenttrail__V1__Attribute *a = malloc(sizeof *a);
    agenttrail__v1__attribute__init(a);
    a->key = strdup("k");
    a->value = strdup("v");
    size_t na = ev->n_attributes;
    ev->attributes = realloc(ev->attributes, (na + 1) * sizeof *ev->attributes);
    ev->attributes[na] = a;
    ev->n_attributes = na + 1;
    add_unknown(&a->base, 3, SMUGGLED);
    char field[64];
    snprintf(field, sizeof field, "attributes[%zu]: field 3", na);
    assert_unknown_refused(ev, field, "Attribute");
    tp_event_destroy(&ev);
}

AT_TEST(test_unknown_fields_in_the_batch_envelope_are_refused)
{
    fixture *f = *state;
    size_t n = f->batch_len, k = strlen(SMUGGLED);
    uint8_t *frame = malloc(n + 3 + k);
    memcpy(frame, f->batch, n);
    frame[n] = 0x9a;
    frame[n + 1] = 0x06;
    frame[n + 2] = (uint8_t)k;
    memcpy(frame + n + 3, SMUGGLED, k);
    tp_batch *b = NULL;
    at_error err = {{0}};
    assert_int_equal(tp_batch_decode(frame, n + 3 + k, NULL, &b, &err), TP_EDECODE);
    assert_null(b);
    assert_string_equal(err.where, "field 99");
    assert_string_equal(err.what, REFUSAL "Batch; refused: unknown fields would be stored "
                                          "unread and unmasked");
    free(frame);
}

AT_TEST(test_ack_round_trips_and_checks_its_frame)
{
    (void)state;
    tp_ack ack = AGENTTRAIL__V1__ACK__INIT;
    Agenttrail__V1__Rejection rej = AGENTTRAIL__V1__REJECTION__INIT;
    Agenttrail__V1__Rejection *rejs[1] = {&rej};
    rej.has_index = 1;
    rej.index = 3;
    rej.reason = "dri: required, missing";
    ack.has_seq = 1;
    ack.seq = 42;
    ack.has_status = 1;
    ack.status = AGENTTRAIL__V1__ACK_STATUS__ACK_OK;
    ack.has_accepted = 1;
    ack.accepted = 9;
    ack.n_rejected = 1;
    ack.rejected = rejs;
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(tp_ack_encode(&ack, &buf, &len), TP_OK);
    assert_memory_equal(buf, "ATA\x01", 4);
    tp_ack *back = NULL;
    at_error err;
    assert_int_equal(tp_ack_decode(buf, len, &back, &err), TP_OK);
    assert_int_equal(back->seq, 42);
    assert_int_equal(back->accepted, 9);
    assert_int_equal(back->n_rejected, 1);
    assert_string_equal(back->rejected[0]->reason, "dri: required, missing");
    tp_ack_destroy(&back);
    assert_null(back);
    assert_int_equal(tp_ack_decode(buf, 3, &back, &err), TP_EFRAME);
    buf[0] = 'Z';
    assert_int_equal(tp_ack_decode(buf, len, &back, &err), TP_EFRAME);
    buf[0] = 'A';
    buf[3] = 9;
    assert_int_equal(tp_ack_decode(buf, len, &back, &err), TP_EFRAME);
    free(buf);
}

AT_TEST(test_event_ids_are_time_ordered_and_random)
{
    (void)state;
    uint8_t a[16], b[16];
    uint64_t before = tp_now_unix_nano() / 1000000u;
    assert_int_equal(tp_id_event(a), TP_OK);
    assert_int_equal(tp_id_event(b), TP_OK);
    uint64_t ms = 0;
    for (int i = 0; i < 6; i++)
        ms = ms << 8 | a[i];
    assert_true(ms >= before && ms <= before + 1000);
    assert_memory_not_equal(a + 6, b + 6, 10);
    char hex[33];
    at_hex_encode(a, 16, hex);
    uint8_t back[16];
    assert_int_equal(at_hex_decode(hex, 32, back, 16), TP_OK);
    assert_memory_equal(a, back, 16);
    assert_int_equal(at_hex_decode("0A", 2, back, 1), AT_EINVAL);
    char t[40];
    tp_time_format_rfc3339(1717200000500000000ull, t, sizeof t);
    assert_string_equal(t, "2024-06-01T00:00:00.500000000Z");
    uint64_t ns = 0;
    assert_int_equal(tp_time_parse_rfc3339(t, &ns), TP_OK);
    assert_int_equal(ns, 1717200000500000000ull);
    assert_int_equal(tp_time_parse_rfc3339("1969-12-31T23:59:59Z", &ns), TP_EINVAL);
}

AT_TEST_GROUP(setup, teardown);
