/*
 * proto_wire.c - Batch and Ack frames on the wire (docs/wire-format.md).
 *
 * A frame is a 3-byte magic ("ATB" for a batch, "ATA" for an ack), one
 * version byte (TP_WIRE_VERSION), then the protobuf message. Decoding checks,
 * in this order and before any allocation proportional to the input: the
 * size limit, the magic, the version, then the protobuf bytes, then the
 * batch-level rules (schema version, event count, no unknown fields: the
 * envelope is refused whole rather than stripped). Events inside a batch
 * stay encoded: each is unpacked and validated on its own (tp_event_unpack)
 * so a bad event is named by its index without rejecting its neighbours.
 *
 * Owns: nothing global. Threading: reentrant.
 */
#include <stdlib.h>
#include <string.h>

#include "proto_internal.h"
#include "traceproto.h"

#define FRAME_HEADER 4
/* Acks are small; this bounds what tp_ack_decode will look at. */
#define ACK_MAX_BYTES (16u * 1024 * 1024)

static int frame(const char *magic, const ProtobufCMessage *m, uint8_t **buf, size_t *len)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *p = malloc(FRAME_HEADER + n);
    if (!p) return TP_ENOMEM;
    memcpy(p, magic, 3);
    p[3] = TP_WIRE_VERSION;
    protobuf_c_message_pack(m, p + FRAME_HEADER);
    *buf = p;
    *len = FRAME_HEADER + n;
    return TP_OK;
}

static int check_frame(const char *what, const char *magic, const uint8_t *buf, size_t len,
                       size_t max, int over, at_error *err)
{
    if (len > max) {
        at_error_set(err, "-", "%s is %zu bytes; at most %zu", what, len, max);
        return over;
    }
    if (len < FRAME_HEADER) {
        at_error_set(err, "-", "%s frame truncated: %zu bytes, a frame needs at least %d", what,
                     len, FRAME_HEADER);
        return TP_EFRAME;
    }
    if (memcmp(buf, magic, 3) != 0) {
        at_error_set(err, "-",
                     "%s frame has magic %02x %02x %02x, expected \"%s\"; not an AgentTrail %s",
                     what, buf[0], buf[1], buf[2], magic, what);
        return TP_EFRAME;
    }
    if (buf[3] != TP_WIRE_VERSION) {
        at_error_set(err, "-", "%s frame version %u is not supported; this build speaks version %d",
                     what, buf[3], TP_WIRE_VERSION);
        return TP_EFRAME;
    }
    return TP_OK;
}

/* The protobuf body of a `what` frame of `len` bytes did not decode: said in *err. */
static int body_undecodable(const char *what, size_t len, at_error *err)
{
    at_error_set(err, "-", "%s: the %zu protobuf bytes after the header do not decode", what,
                 len - FRAME_HEADER);
    return TP_EDECODE;
}

int tp_batch_encode(const char *shim_id, uint64_t seq, const uint8_t *const *events,
                    const size_t *event_lens, size_t n, uint8_t **buf, size_t *len)
{
    tp_batch b = AGENTTRAIL__V1__BATCH__INIT;
    b.has_schema_version = 1;
    b.schema_version = AGENTTRAIL__V1__SCHEMA_VERSION__SCHEMA_VERSION_CURRENT;
    b.shim_id = (char *)shim_id;
    b.has_seq = 1;
    b.seq = seq;
    ProtobufCBinaryData *ev = NULL;
    if (n) {
        ev = calloc(n, sizeof *ev);
        if (!ev) return TP_ENOMEM;
        for (size_t i = 0; i < n; i++) {
            ev[i].data = (uint8_t *)events[i];
            ev[i].len = event_lens[i];
        }
    }
    b.n_events = n;
    b.events = ev;
    b.has_event_count = 1;
    b.event_count = (uint32_t)n;
    int rc = frame(TP_BATCH_MAGIC, &b.base, buf, len);
    free(ev);
    return rc;
}

int tp_batch_decode(const uint8_t *buf, size_t len, const tp_limits *lim, tp_batch **out,
                    at_error *err)
{
    tp_limits def = tp_limits_default();
    if (!lim) lim = &def;
    *out = NULL;
    int rc = check_frame("batch", TP_BATCH_MAGIC, buf, len, lim->batch_max_bytes, TP_ETOOBIG, err);
    if (rc) return rc;
    tp_batch *b = agenttrail__v1__batch__unpack(NULL, len - FRAME_HEADER, buf + FRAME_HEADER);
    if (!b) return body_undecodable("batch", len, err);
    if (!b->has_schema_version ||
        b->schema_version != AGENTTRAIL__V1__SCHEMA_VERSION__SCHEMA_VERSION_CURRENT) {
        at_error_set(err, "schema_version", "%d is not supported; this build speaks %d",
                     b->has_schema_version ? (int)b->schema_version : 0,
                     AGENTTRAIL__V1__SCHEMA_VERSION__SCHEMA_VERSION_CURRENT);
        rc = TP_EDECODE;
    } else if (!b->has_seq) {
        at_error_set(err, "seq", "required, missing");
        rc = TP_EDECODE;
    } else if (!b->has_event_count || b->event_count != b->n_events) {
        if (b->has_event_count)
            at_error_set(err, "event_count",
                         "says %u events, the batch holds %zu; truncated or "
                         "corrupt",
                         b->event_count, b->n_events);
        else
            at_error_set(err, "event_count",
                         "missing: the batch is truncated (or not written "
                         "by tp_batch_encode)");
        rc = TP_EFRAME;
    } else if (b->n_events > lim->batch_max_events) {
        at_error_set(err, "events", "%zu entries; at most %zu", b->n_events, lim->batch_max_events);
        rc = TP_ETOOBIG;
    } else if ((rc = tp_check_unknown_fields(&b->base, "", err)) != 0) {
        /* an envelope field nobody reads is a channel past every check */
    } else if (b->shim_id && !tp_utf8_valid(b->shim_id, strlen(b->shim_id))) {
        at_error_set(err, "shim_id", "not valid UTF-8");
        rc = TP_EDECODE;
    }
    if (rc) {
        tp_batch_destroy(&b);
        return rc;
    }
    *out = b;
    return TP_OK;
}

void tp_batch_destroy(tp_batch **b)
{
    if (!b || !*b) return;
    agenttrail__v1__batch__free_unpacked(*b, NULL);
    *b = NULL;
}

int tp_ack_encode(const tp_ack *ack, uint8_t **buf, size_t *len)
{
    return frame(TP_ACK_MAGIC, &ack->base, buf, len);
}

int tp_ack_decode(const uint8_t *buf, size_t len, tp_ack **out, at_error *err)
{
    *out = NULL;
    int rc = check_frame("ack", TP_ACK_MAGIC, buf, len, ACK_MAX_BYTES, TP_EFRAME, err);
    if (rc) return rc;
    tp_ack *a = agenttrail__v1__ack__unpack(NULL, len - FRAME_HEADER, buf + FRAME_HEADER);
    if (!a) return body_undecodable("ack", len, err);
    *out = a;
    return TP_OK;
}

void tp_ack_destroy(tp_ack **a)
{
    if (!a || !*a) return;
    agenttrail__v1__ack__free_unpacked(*a, NULL);
    *a = NULL;
}
