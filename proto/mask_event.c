/*
 * mask_event.c - the secret masker applied to a whole event (tp_mask_event).
 *
 * Responsibility: the field table (one row per string field of TraceEvent
 * and its messages, saying how the field is treated), and a walk over the
 * event driven by the protobuf-c descriptors, so that every string field is
 * reached whether or not anyone remembered to list it: a field missing from
 * the table is masked (and tests/proto/test_mask.c fails until it is
 * classified).
 *
 * Classes (docs/security.md says why each field is where it is):
 *  - mask: secrets become [REDACTED:<rule>] and the event is kept;
 *  - mask as JSON: tool_call.arguments stays valid JSON text;
 *  - exact: indexed, filtered or grouped by exactly; a secret there cannot be
 *    masked without breaking lookups, so the event is refused with an error
 *    naming the field and the rule;
 *  - collector: set by the collector, never taken from a client.
 *
 * Owns: the static table, and the descriptor-to-class lookup built from it
 * once (pthread_once). Threading: reentrant.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mask_internal.h"

static const tp_mask_field fields[] = {
    {"workflow", TP_FIELD_EXACT},
    {"dri", TP_FIELD_EXACT},
    {"service", TP_FIELD_EXACT},
    {"environment", TP_FIELD_MASK},
    {"actor", TP_FIELD_MASK},
    {"incident", TP_FIELD_EXACT},
    {"model.provider", TP_FIELD_MASK},
    {"model.name", TP_FIELD_EXACT},
    {"prompt.template_id", TP_FIELD_MASK},
    {"prompt.template_version", TP_FIELD_MASK},
    {"prompt.text", TP_FIELD_MASK},
    {"context_ids", TP_FIELD_MASK},
    {"tool_call.name", TP_FIELD_EXACT},
    {"tool_call.arguments", TP_FIELD_MASK_JSON},
    {"tool_call.permission_scope", TP_FIELD_MASK},
    {"tool_call.error", TP_FIELD_MASK},
    {"diff.repo", TP_FIELD_MASK},
    {"diff.base_rev", TP_FIELD_MASK},
    {"diff.paths", TP_FIELD_MASK},
    {"diff.patch", TP_FIELD_MASK},
    {"outcome.by", TP_FIELD_MASK},
    {"approval.checkpoint", TP_FIELD_MASK},
    {"approval.approver", TP_FIELD_MASK},
    {"approval.reason", TP_FIELD_MASK},
    {"link.workflow", TP_FIELD_EXACT},
    {"link.reason", TP_FIELD_MASK},
    {"note", TP_FIELD_MASK},
    {"attributes.key", TP_FIELD_MASK},
    {"attributes.value", TP_FIELD_MASK},
    {"stored.source", TP_FIELD_COLLECTOR},
};

const tp_mask_field *tp_mask_fields(size_t *n)
{
    if (n) *n = sizeof fields / sizeof *fields;
    return fields;
}

static int field_class(const char *path)
{
    for (size_t f = 0; f < sizeof fields / sizeof *fields; f++)
        if (strcmp(fields[f].path, path) == 0) return fields[f].cls;
    return TP_FIELD_MASK; /* unclassified: the safe side */
}

/* Every string field of the schema with its path and class, found once by
 * walking the descriptors, so that masking an event looks fields up by
 * their descriptor instead of building and comparing paths. */
typedef struct field_slot {
    const ProtobufCFieldDescriptor *fd;
    char path[64];
    int cls;
} field_slot;

static field_slot slots[64];
static size_t nslots;
static pthread_once_t slots_once = PTHREAD_ONCE_INIT;

static void slots_add(const ProtobufCMessageDescriptor *d, const char *prefix, int depth)
{
    for (unsigned f = 0; f < d->n_fields && depth < 8; f++) {
        const ProtobufCFieldDescriptor *fd = &d->fields[f];
        char path[64];
        snprintf(path, sizeof path, "%s%s%s", prefix, prefix[0] ? "." : "", fd->name);
        if (fd->type == PROTOBUF_C_TYPE_MESSAGE) {
            slots_add(fd->descriptor, path, depth + 1);
        } else if (fd->type == PROTOBUF_C_TYPE_STRING && nslots < 64) {
            slots[nslots].fd = fd;
            snprintf(slots[nslots].path, sizeof slots[nslots].path, "%s", path);
            slots[nslots].cls = field_class(path);
            nslots++;
        }
    }
}

static void slots_init(void)
{
    slots_add(&agenttrail__v1__trace_event__descriptor, "", 0);
}

static const field_slot *slot_of(const ProtobufCFieldDescriptor *fd)
{
    for (size_t k = 0; k < nslots; k++)
        if (slots[k].fd == fd) return &slots[k];
    return NULL;
}

typedef struct walk {
    unsigned total;   /* masked spans */
    int keys_changed; /* an attribute key was masked */
    at_error *err;
} walk;

/* Masks (or judges, for an exact field) one string. */
static int visit_string(char **field, const field_slot *slot, walk *w)
{
    if (!*field || !**field) return 0;
    int cls = slot ? slot->cls : TP_FIELD_MASK;
    if (cls == TP_FIELD_COLLECTOR) return 0;
    char *m = NULL;
    unsigned c = 0;
    const tp_mask_rule *rule = NULL;
    int rc =
        tp_mask_text_first(*field, strlen(*field), cls == TP_FIELD_MASK_JSON ? TP_MASK_JSON : 0, &m,
                           NULL, &c, NULL, &rule);
    if (rc != 0 || !m) return rc;
    if (cls == TP_FIELD_EXACT) {
        free(m);
        at_error_set(w->err, slot->path,
                     "holds what looks like a secret (%s); refused: this field is indexed and "
                     "stored exactly",
                     rule ? rule->name : "secret");
        return TP_EINVAL;
    }
    free(*field);
    *field = m;
    w->total += c;
    if (slot && strcmp(slot->path, "attributes.key") == 0) w->keys_changed = 1;
    return 0;
}

static int visit_message(ProtobufCMessage *msg, walk *w);

/* One field of a message: strings are visited, messages walked into. */
static int visit_field(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *fd, walk *w)
{
    char *at = (char *)msg + fd->offset;
    int repeated = fd->label == PROTOBUF_C_LABEL_REPEATED;
    size_t n = repeated ? *(size_t *)((char *)msg + fd->quantifier_offset) : 1;
    int rc = 0;
    if (fd->type == PROTOBUF_C_TYPE_STRING) {
        char **v = repeated ? *(char ***)at : (char **)at;
        const field_slot *slot = slot_of(fd);
        for (size_t k = 0; rc == 0 && v && k < n; k++)
            rc = visit_string(&v[k], slot, w);
    } else if (fd->type == PROTOBUF_C_TYPE_MESSAGE) {
        ProtobufCMessage **v = repeated ? *(ProtobufCMessage ***)at : (ProtobufCMessage **)at;
        for (size_t k = 0; rc == 0 && v && k < n; k++)
            if (v[k]) rc = visit_message(v[k], w);
    }
    return rc;
}

/* An attribute whose key names a secret (api_key, DB_PASSWORD) and whose
 * value looks random has its value masked whole, as a JSON member is. */
static int mask_secret_attribute(Agenttrail__V1__Attribute *a, walk *w)
{
    if (!a->key || !a->value || !a->value[0]) return 0;
    size_t kl = strlen(a->key), vl = strlen(a->value);
    scan sc = {.s = (const unsigned char *)a->value, .n = vl};
    if (!tp_mask_name_is_secret((const unsigned char *)a->key, kl) ||
        strncmp(a->value, REDACTED_PREFIX, strlen(REDACTED_PREFIX)) == 0 ||
        !tp_mask_high_entropy(&sc, sc.s, vl))
        return 0;
    char *m = strdup(REDACTED_PREFIX "generic_secret]");
    if (!m) return TP_ENOMEM;
    free(a->value);
    a->value = m;
    w->total++;
    return 0;
}

static int visit_message(ProtobufCMessage *msg, walk *w)
{
    const ProtobufCMessageDescriptor *d = msg->descriptor;
    int rc = 0;
    for (unsigned f = 0; rc == 0 && f < d->n_fields; f++)
        rc = visit_field(msg, &d->fields[f], w);
    if (rc == 0 && d == &agenttrail__v1__attribute__descriptor)
        rc = mask_secret_attribute((Agenttrail__V1__Attribute *)msg, w);
    return rc;
}

/* Two attribute keys that held secrets can mask to the same marker. */
static int check_masked_keys(const tp_event *ev, at_error *err)
{
    for (size_t i = 0; i < ev->n_attributes; i++)
        for (size_t j = 0; j < i; j++) {
            const char *a = ev->attributes[i]->key, *b = ev->attributes[j]->key;
            if (a && b && strcmp(a, b) == 0) {
                at_error_set(err, "attributes",
                             "two keys hold secrets and mask to the same key \"%s\"; refused: "
                             "keep secrets out of attribute keys",
                             a);
                return TP_EINVAL;
            }
        }
    return 0;
}

int tp_mask_event(tp_event *ev, unsigned *count, at_error *err)
{
    if (count) *count = 0;
    if (!ev) {
        at_error_set(err, "-", "no event to mask");
        return TP_EINVAL;
    }
    pthread_once(&slots_once, slots_init);
    walk w = {0, 0, err};
    int rc = visit_message(&ev->base, &w);
    if (rc == 0 && w.keys_changed) rc = check_masked_keys(ev, err);
    if (rc == TP_ENOMEM) at_error_set(err, "-", "out of memory while masking secrets: withheld");
    if (w.total > 0) {
        uint64_t sum = (uint64_t)(ev->has_redactions ? ev->redactions : 0) + w.total;
        ev->redactions = sum > UINT32_MAX ? UINT32_MAX : (uint32_t)sum;
        ev->has_redactions = 1;
    }
    if (count) *count = w.total;
    return rc;
}
