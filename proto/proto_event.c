/*
 * proto_event.c - the life of an event: error texts (tp_strerror), limits, new/destroy/clone,
 * protobuf pack and unpack of one event.
 *
 * Owns: nothing global. An event is a protobuf-c message whose every pointer
 * is its own malloc'd block, so protobuf_c_message_free_unpacked frees
 * events built here, by the JSON parser and by protobuf-c alike.
 *
 * Invariants: tp_event_unpack never returns an event that failed
 * tp_event_validate or that holds a field unknown to the schema (at any
 * depth: protobuf-c would keep it and pack it back, unread and unmasked); it never reads outside
 * the given bytes (protobuf-c bounds every read by the length it is given).
 *
 * Threading: reentrant; no global state.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto_internal.h"
#include "traceproto.h"

static const at_code_name tp_errors[] = {
    {TP_OK, "success"},
    {TP_EINVAL, "the event breaks a rule of the event contract"},
    {TP_ENOMEM, "out of memory"},
    {TP_ETOOBIG, "a configured size limit was exceeded"},
    {TP_EFRAME, "bad framing: magic, version or truncated bytes"},
    {TP_EDECODE, "protobuf bytes that do not decode"},
    {TP_EKEY, "HMAC key file missing, unreadable or malformed"},
    {TP_EIO, "read or write error"},
    {TP_ECRYPTO, "OpenSSL failed"},
};

const char *tp_strerror(int code)
{
    return at_code_text(tp_errors, sizeof tp_errors / sizeof tp_errors[0], code,
                        "unknown error code");
}

tp_limits tp_limits_default(void)
{
    tp_limits l = {
        .event_max = 1024 * 1024,
        .patch_max = 1024 * 1024,
        .arguments_max = 256 * 1024,
        .string_max = 64 * 1024,
        .context_ids_max = 1024,
        .attributes_max = 64,
        .batch_max_bytes = 16 * 1024 * 1024,
        .batch_max_events = 4096,
    };
    return l;
}

char *tp_strndup(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

void tp_path_index(char *out, size_t n, const char *field, size_t i)
{
    /* Using the result tells the compiler a cut path is expected. */
    int w = snprintf(out, n, "%s[%zu]", field, i);
    (void)w;
}

void tp_path_key(char *out, size_t n, const char *path, const char *key)
{
    int w = snprintf(out, n, "%s.%s", path, key);
    (void)w;
}

tp_event *tp_event_new(void)
{
    tp_event *ev = malloc(sizeof *ev);
    if (!ev) return NULL;
    agenttrail__v1__trace_event__init(ev);
    return ev;
}

void tp_event_destroy(tp_event **ev)
{
    if (!ev || !*ev) return;
    protobuf_c_message_free_unpacked(&(*ev)->base, NULL);
    *ev = NULL;
}

int tp_event_pack(const tp_event *ev, uint8_t **buf, size_t *len)
{
    size_t n = agenttrail__v1__trace_event__get_packed_size(ev);
    uint8_t *p = malloc(n ? n : 1);
    if (!p) return TP_ENOMEM;
    size_t w = agenttrail__v1__trace_event__pack(ev, p);
    if (w != n) {
        free(p);
        return TP_EINVAL;
    }
    *buf = p;
    *len = n;
    return TP_OK;
}

tp_event *tp_event_clone(const tp_event *ev)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    if (tp_event_pack(ev, &buf, &len) != TP_OK) return NULL;
    tp_event *copy = agenttrail__v1__trace_event__unpack(NULL, len, buf);
    free(buf);
    return copy;
}

static void unknown_path(char *out, size_t n, const char *path, uint32_t tag)
{
    int w =
        path[0] ? snprintf(out, n, "%s: field %u", path, tag) : snprintf(out, n, "field %u", tag);
    (void)w;
}

static void sub_path(char *out, size_t n, const char *path, const char *name)
{
    int w = path[0] ? snprintf(out, n, "%s.%s", path, name) : snprintf(out, n, "%s", name);
    (void)w;
}

int tp_check_unknown_fields(const ProtobufCMessage *m, const char *path, at_error *err)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    if (m->n_unknown_fields) {
        char f[160];
        unknown_path(f, sizeof f, path, m->unknown_fields[0].tag);
        at_error_set(err, f,
                     "unknown to %s; refused: unknown fields would be stored unread and unmasked",
                     d->name);
        return TP_EDECODE;
    }
    const char *base = (const char *)m;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *fd = &d->fields[i];
        if (fd->type != PROTOBUF_C_TYPE_MESSAGE) continue;
        char f[160];
        sub_path(f, sizeof f, path, fd->name);
        if (fd->label != PROTOBUF_C_LABEL_REPEATED) {
            const ProtobufCMessage *sub;
            memcpy(&sub, base + fd->offset, sizeof sub);
            if (sub) CK(tp_check_unknown_fields(sub, f, err));
            continue;
        }
        size_t n;
        ProtobufCMessage **v;
        memcpy(&n, base + fd->quantifier_offset, sizeof n);
        memcpy(&v, base + fd->offset, sizeof v);
        for (size_t k = 0; k < n; k++) {
            char fi[176];
            tp_path_index(fi, sizeof fi, f, k);
            if (v[k]) CK(tp_check_unknown_fields(v[k], fi, err));
        }
    }
    return TP_OK;
}

/* Reads a varint at buf[*i] (at most 10 bytes, within len); 0 or -1. */
static int read_varint(const uint8_t *buf, size_t len, size_t *i, uint64_t *v)
{
    *v = 0;
    for (unsigned shift = 0; *i < len && shift < 70; shift += 7) {
        uint8_t c = buf[(*i)++];
        *v |= (uint64_t)(c & 0x7f) << (shift < 64 ? shift : 63);
        if (!(c & 0x80)) return 0;
    }
    return -1;
}

/* A top-level uint32 field (redactions) sent with a value that does not fit: protobuf-c keeps the
 * low 32 bits, so the canonical check would refuse it without naming it. Names it like the JSON
 * reader does. */
static int name_oversized_field(const uint8_t *buf, size_t len, at_error *err)
{
    const ProtobufCMessageDescriptor *d = &agenttrail__v1__trace_event__descriptor;
    size_t i = 0;
    while (i < len) {
        uint64_t key, v;
        if (read_varint(buf, len, &i, &key)) return 0;
        unsigned wt = (unsigned)(key & 7);
        if (wt == 0) {
            if (read_varint(buf, len, &i, &v)) return 0;
            const ProtobufCFieldDescriptor *f =
                protobuf_c_message_descriptor_get_field(d, (unsigned)(key >> 3));
            if (f && v > UINT32_MAX && f->type == PROTOBUF_C_TYPE_UINT32) {
                at_error_set(err, f->name, "%llu out of range 0..4294967295",
                             (unsigned long long)v);
                return 1;
            }
        } else if (wt == 2) {
            if (read_varint(buf, len, &i, &v) || v > len - i) return 0;
            i += (size_t)v;
        } else if (wt == 1 || wt == 5) {
            i += wt == 1 ? 8 : 4;
        } else {
            return 0;
        }
    }
    return 0;
}

/* The bytes must be exactly what tp_event_pack writes for the decoded event.
 * Otherwise what is hashed and stored could differ from what every reader
 * sees: a string with a NUL byte reads as its prefix, a repeated optional
 * field reads as its last copy, an oversized uint32 is cut to 32 bits. */
static int check_canonical(const tp_event *ev, const uint8_t *buf, size_t len, at_error *err)
{
    size_t n = agenttrail__v1__trace_event__get_packed_size(ev);
    if (n == len) {
        uint8_t *again = malloc(n ? n : 1);
        if (!again) return TP_ENOMEM;
        agenttrail__v1__trace_event__pack(ev, again);
        int same = memcmp(again, buf, n) == 0;
        free(again);
        if (same) return TP_OK;
    }
    if (name_oversized_field(buf, len, err)) return TP_EDECODE;
    at_error_set(err, "-",
                 "not in canonical protobuf form: re-encoding the decoded event gives other "
                 "bytes (a string with a NUL byte, a repeated field, an oversized or "
                 "non-minimal integer, or fields out of order)");
    return TP_EDECODE;
}

int tp_event_unpack(const uint8_t *buf, size_t len, const tp_limits *lim, tp_event **out,
                    at_error *err)
{
    tp_limits def = tp_limits_default();
    if (!lim) lim = &def;
    *out = NULL;
    if (len > lim->event_max) {
        at_error_set(err, "-", "encoded event is %zu bytes; at most %zu", len, lim->event_max);
        return TP_ETOOBIG;
    }
    tp_event *ev = agenttrail__v1__trace_event__unpack(NULL, len, buf);
    if (!ev) {
        at_error_set(err, "-", "not a TraceEvent: the %zu protobuf bytes do not decode", len);
        return TP_EDECODE;
    }
    /* Unknown fields first: protobuf-c packs them back, so the canonical
     * check alone would let them through. */
    int rc = tp_check_unknown_fields(&ev->base, "", err);
    if (rc == TP_OK) rc = tp_event_validate(ev, lim, err);
    if (rc == TP_OK) rc = check_canonical(ev, buf, len, err);
    if (rc != TP_OK) {
        tp_event_destroy(&ev);
        return rc;
    }
    *out = ev;
    return TP_OK;
}
