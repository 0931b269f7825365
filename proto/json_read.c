/*
 * json_read.c - one JSON line (EVENTS.md) into an event.
 *
 * Owns: the jansson tree of the line being read (freed before returning) and
 * the event under construction (handed to the caller on success, freed on
 * failure). jansson is included here and in proto_validate.c only.
 *
 * Rules checked here are the JSON-level ones: one object, UTF-8, no
 * duplicate keys, known fields (any order), JSON types, hex ids, enum names,
 * integers 0..2^63-1 (booleans, floats and negatives refused), RFC 3339
 * `time`, empty arrays/objects refused. Every field-level rule that can be
 * judged on the event itself (lengths, UTF-8, zero ids, ...) is left to
 * tp_check_fields so it is worded once for JSON and for wire bytes.
 *
 * Threading: reentrant; no global state.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_alloc.h"
#include "proto_internal.h"
#include "traceproto.h"

typedef struct rd {
    tp_event *ev;
    const tp_limits *lim;
    int flags;
    at_error *err;
    at_error *warn;
} rd;

static const char *jtype(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_NULL:
        return "null";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    case JSON_INTEGER:
        return "integer";
    case JSON_REAL:
        return "number";
    case JSON_STRING:
        return "string";
    case JSON_ARRAY:
        return "array";
    default:
        return "object";
    }
}

static int fail(rd *r, const char *field, const char *problem, const json_t *v)
{
    at_error_set(r->err, field, "%s, got %s", problem, jtype(v));
    return TP_EINVAL;
}

static int enomem(rd *r, const char *field)
{
    at_error_set(r->err, field, "out of memory");
    return TP_ENOMEM;
}

static void sub(char *out, size_t n, const char *path, const char *key)
{
    tp_path_key(out, n, path, key);
}

static int unknown(rd *r, const char *path, const char *key)
{
    char f[128];
    sub(f, sizeof f, path, key);
    at_error_set(r->err, f, "unknown field");
    return TP_EINVAL;
}

/* ---- scalars ---- */

static int rd_str(rd *r, const char *f, const json_t *v, char **out)
{
    if (!json_is_string(v)) return fail(r, f, "must be a string", v);
    free(*out);
    *out = tp_strndup(json_string_value(v), json_string_length(v));
    return *out ? TP_OK : enomem(r, f);
}

static int rd_uint(rd *r, const char *f, const json_t *v, uint64_t max, protobuf_c_boolean *has,
                   uint64_t *out)
{
    if (!json_is_integer(v)) return fail(r, f, "must be a JSON integer", v);
    json_int_t x = json_integer_value(v);
    if (x < 0 || (uint64_t)x > max) {
        if (max == TP_INT_MAX)
            at_error_set(r->err, f, "%lld out of range 0..2^63-1", (long long)x);
        else
            at_error_set(r->err, f, "%lld out of range 0..%llu", (long long)x,
                         (unsigned long long)max);
        return TP_EINVAL;
    }
    *has = 1;
    *out = (uint64_t)x;
    return TP_OK;
}

static int rd_hex(rd *r, const char *f, const json_t *v, size_t nbytes, ProtobufCBinaryData *out)
{
    if (!json_is_string(v)) {
        at_error_set(r->err, f, "must be a string of %zu lowercase hex digits, got %s", 2 * nbytes,
                     jtype(v));
        return TP_EINVAL;
    }
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    uint8_t *buf = malloc(nbytes);
    if (!buf) return enomem(r, f);
    if (at_hex_decode(s, n, buf, nbytes) != TP_OK) {
        free(buf);
        at_error_set(r->err, f, "must be %zu lowercase hex digits, got '%.80s'", 2 * nbytes, s);
        return TP_EINVAL;
    }
    free(out->data);
    out->data = buf;
    out->len = nbytes;
    return TP_OK;
}

/* check-events' short(): the JSON of the value, cut to 60 characters. */
static void short_json(const json_t *v, char *out, size_t n)
{
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    if (!s) {
        snprintf(out, n, "?");
        return;
    }
    if (strlen(s) <= 60)
        snprintf(out, n, "%s", s);
    else
        snprintf(out, n, "%.57s...", s);
    free(s);
}

static int rd_enum(rd *r, const char *f, const json_t *v, int (*parse)(const char *),
                   const char *names, protobuf_c_boolean *has, int *out)
{
    int x = json_is_string(v) ? parse(json_string_value(v)) : -1;
    if (x < 0) {
        char got[64];
        short_json(v, got, sizeof got);
        at_error_set(r->err, f, "must be one of %s, got %s", names, got);
        return TP_EINVAL;
    }
    *has = 1;
    *out = x;
    return TP_OK;
}

static int rd_str_array(rd *r, const char *f, const json_t *v, size_t *n, char ***out)
{
    if (!json_is_array(v)) return fail(r, f, "must be an array", v);
    size_t len = json_array_size(v);
    if (len == 0) {
        at_error_set(r->err, f, "empty; omit the field instead");
        return TP_EINVAL;
    }
    char **arr = calloc(len, sizeof *arr);
    if (!arr) return enomem(r, f);
    *out = arr;
    *n = 0;
    for (size_t i = 0; i < len; i++) {
        char fi[128];
        tp_path_index(fi, sizeof fi, f, i);
        CK(rd_str(r, fi, json_array_get(v, i), &arr[i]));
        *n = i + 1;
    }
    return TP_OK;
}

static int expect_object(rd *r, const char *f, const json_t *v)
{
    if (!json_is_object(v)) return fail(r, f, "must be an object", v);
    if (json_object_size(v) == 0) {
        at_error_set(r->err, f, "empty; omit the field instead");
        return TP_EINVAL;
    }
    return TP_OK;
}

/* Allocates a sub-message into *slot (freeing any previous one). */
#define NEW_SUB(slot, type, init_fn)                                                               \
    do {                                                                                           \
        if (*(slot)) protobuf_c_message_free_unpacked(&(*(slot))->base, NULL);                     \
        *(slot) = malloc(sizeof(type));                                                            \
        if (!*(slot)) return enomem(r, path);                                                      \
        init_fn(*(slot));                                                                          \
    } while (0)

#define FOR_KEYS(obj, key, val) json_object_foreach((json_t *)(obj), key, val)
#define IS(k) (strcmp(key, (k)) == 0)
#define F(k) (sub(f, sizeof f, path, (k)), f)

/* ---- sub-objects ---- */

static int rd_model(rd *r, const char *path, const json_t *v)
{
    CK(expect_object(r, path, v));
    NEW_SUB(&r->ev->model, Agenttrail__V1__Model, agenttrail__v1__model__init);
    Agenttrail__V1__Model *m = r->ev->model;
    const char *key;
    json_t *x;
    char f[128];
    FOR_KEYS(v, key, x)
    {
        if (IS("provider"))
            CK(rd_str(r, F(key), x, &m->provider));
        else if (IS("name"))
            CK(rd_str(r, F(key), x, &m->name));
        else
            return unknown(r, path, key);
    }
    return TP_OK;
}

static int rd_prompt(rd *r, const char *path, const json_t *v)
{
    CK(expect_object(r, path, v));
    NEW_SUB(&r->ev->prompt, Agenttrail__V1__Prompt, agenttrail__v1__prompt__init);
    Agenttrail__V1__Prompt *p = r->ev->prompt;
    const char *key;
    json_t *x;
    char f[128];
    FOR_KEYS(v, key, x)
    {
        if (IS("hmac_sha256")) {
            CK(rd_hex(r, F(key), x, 32, &p->hmac_sha256));
            p->has_hmac_sha256 = 1;
        } else if (IS("template_id")) {
            CK(rd_str(r, F(key), x, &p->template_id));
        } else if (IS("template_version")) {
            CK(rd_str(r, F(key), x, &p->template_version));
        } else if (IS("text")) {
            CK(rd_str(r, F(key), x, &p->text));
        } else {
            return unknown(r, path, key);
        }
    }
    return TP_OK;
}

static int rd_tool_call(rd *r, const char *path, const json_t *v)
{
    CK(expect_object(r, path, v));
    NEW_SUB(&r->ev->tool_call, Agenttrail__V1__ToolCall, agenttrail__v1__tool_call__init);
    Agenttrail__V1__ToolCall *t = r->ev->tool_call;
    const char *key;
    json_t *x;
    char f[128];
    FOR_KEYS(v, key, x)
    {
        if (IS("name")) {
            CK(rd_str(r, F(key), x, &t->name));
        } else if (IS("arguments")) {
            CK(rd_str(r, F(key), x, &t->arguments));
        } else if (IS("status")) {
            int s = 0;
            CK(rd_enum(r, F(key), x, tp_tool_status_parse, "ok|error|blocked", &t->has_status, &s));
            t->status = (Agenttrail__V1__ToolStatus)s;
        } else if (IS("permission_scope")) {
            CK(rd_str(r, F(key), x, &t->permission_scope));
        } else if (IS("error")) {
            CK(rd_str(r, F(key), x, &t->error));
        } else {
            return unknown(r, path, key);
        }
    }
    return TP_OK;
}

static int rd_diff(rd *r, const char *path, const json_t *v)
{
    CK(expect_object(r, path, v));
    NEW_SUB(&r->ev->diff, Agenttrail__V1__Diff, agenttrail__v1__diff__init);
    Agenttrail__V1__Diff *d = r->ev->diff;
    const char *key;
    json_t *x;
    char f[128];
    FOR_KEYS(v, key, x)
    {
        if (IS("repo"))
            CK(rd_str(r, F(key), x, &d->repo));
        else if (IS("base_rev"))
            CK(rd_str(r, F(key), x, &d->base_rev));
        else if (IS("paths"))
            CK(rd_str_array(r, F(key), x, &d->n_paths, &d->paths));
        else if (IS("patch"))
            CK(rd_str(r, F(key), x, &d->patch));
        else if (IS("lines_added"))
            CK(rd_uint(r, F(key), x, TP_INT_MAX, &d->has_lines_added, &d->lines_added));
        else if (IS("lines_removed"))
            CK(rd_uint(r, F(key), x, TP_INT_MAX, &d->has_lines_removed, &d->lines_removed));
        else
            return unknown(r, path, key);
    }
    return TP_OK;
}

static int rd_usage(rd *r, const char *path, const json_t *v)
{
    CK(expect_object(r, path, v));
    NEW_SUB(&r->ev->usage, Agenttrail__V1__Usage, agenttrail__v1__usage__init);
    Agenttrail__V1__Usage *u = r->ev->usage;
    const char *key;
    json_t *x;
    char f[128];
    FOR_KEYS(v, key, x)
    {
        if (IS("input_tokens"))
            CK(rd_uint(r, F(key), x, TP_INT_MAX, &u->has_input_tokens, &u->input_tokens));
        else if (IS("output_tokens"))
            CK(rd_uint(r, F(key), x, TP_INT_MAX, &u->has_output_tokens, &u->output_tokens));
        else if (IS("cached_tokens"))
            CK(rd_uint(r, F(key), x, TP_INT_MAX, &u->has_cached_tokens, &u->cached_tokens));
        else if (IS("cost_usd_micros"))
            CK(rd_uint(r, F(key), x, TP_INT_MAX, &u->has_cost_usd_micros, &u->cost_usd_micros));
        else
            return unknown(r, path, key);
    }
    return TP_OK;
}

static int rd_outcome(rd *r, const char *path, const json_t *v)
{
    CK(expect_object(r, path, v));
    NEW_SUB(&r->ev->outcome, Agenttrail__V1__Outcome, agenttrail__v1__outcome__init);
    Agenttrail__V1__Outcome *o = r->ev->outcome;
    const char *key;
    json_t *x;
    char f[128];
    FOR_KEYS(v, key, x)
    {
        if (IS("decision")) {
            int d = 0;
            CK(rd_enum(r, F(key), x, tp_decision_parse, "accepted|edited|rejected|escalated",
                       &o->has_decision, &d));
            o->decision = (Agenttrail__V1__Decision)d;
        } else if (IS("by")) {
            CK(rd_str(r, F(key), x, &o->by));
        } else if (IS("edit_distance")) {
            CK(rd_uint(r, F(key), x, TP_INT_MAX, &o->has_edit_distance, &o->edit_distance));
        } else {
            return unknown(r, path, key);
        }
    }
    return TP_OK;
}

static int rd_approval(rd *r, const char *path, const json_t *v)
{
    CK(expect_object(r, path, v));
    NEW_SUB(&r->ev->approval, Agenttrail__V1__Approval, agenttrail__v1__approval__init);
    Agenttrail__V1__Approval *a = r->ev->approval;
    const char *key;
    json_t *x;
    char f[128];
    FOR_KEYS(v, key, x)
    {
        if (IS("checkpoint")) {
            CK(rd_str(r, F(key), x, &a->checkpoint));
        } else if (IS("approver")) {
            CK(rd_str(r, F(key), x, &a->approver));
        } else if (IS("decision")) {
            int d = 0;
            CK(rd_enum(r, F(key), x, tp_approval_decision_parse, "approved|denied",
                       &a->has_decision, &d));
            a->decision = (Agenttrail__V1__ApprovalDecision)d;
        } else if (IS("reason")) {
            CK(rd_str(r, F(key), x, &a->reason));
        } else {
            return unknown(r, path, key);
        }
    }
    return TP_OK;
}

static int rd_trace_ids(rd *r, const char *f, const json_t *v, Agenttrail__V1__Link *l)
{
    if (!json_is_array(v)) return fail(r, f, "must be an array", v);
    size_t len = json_array_size(v);
    if (len == 0) {
        at_error_set(r->err, f, "empty; omit the field instead");
        return TP_EINVAL;
    }
    l->trace_ids = calloc(len, sizeof *l->trace_ids);
    if (!l->trace_ids) return enomem(r, f);
    for (size_t i = 0; i < len; i++) {
        char fi[128];
        tp_path_index(fi, sizeof fi, f, i);
        l->n_trace_ids = i + 1;
        CK(rd_hex(r, fi, json_array_get(v, i), 16, &l->trace_ids[i]));
    }
    return TP_OK;
}

static int rd_link(rd *r, const char *path, const json_t *v)
{
    CK(expect_object(r, path, v));
    NEW_SUB(&r->ev->link, Agenttrail__V1__Link, agenttrail__v1__link__init);
    Agenttrail__V1__Link *l = r->ev->link;
    const char *key;
    json_t *x;
    char f[128];
    FOR_KEYS(v, key, x)
    {
        if (IS("trace_ids"))
            CK(rd_trace_ids(r, F(key), x, l));
        else if (IS("workflow"))
            CK(rd_str(r, F(key), x, &l->workflow));
        else if (IS("since_unix_nano"))
            CK(rd_uint(r, F(key), x, TP_INT_MAX, &l->has_since_unix_nano, &l->since_unix_nano));
        else if (IS("until_unix_nano"))
            CK(rd_uint(r, F(key), x, TP_INT_MAX, &l->has_until_unix_nano, &l->until_unix_nano));
        else if (IS("reason"))
            CK(rd_str(r, F(key), x, &l->reason));
        else
            return unknown(r, path, key);
    }
    return TP_OK;
}

static int rd_attributes(rd *r, const char *path, const json_t *v)
{
    if (!json_is_object(v)) return fail(r, path, "must be an object of string to string", v);
    size_t n = json_object_size(v);
    if (n == 0) {
        at_error_set(r->err, path, "empty; omit the field instead");
        return TP_EINVAL;
    }
    tp_event *ev = r->ev;
    ev->attributes = calloc(n, sizeof *ev->attributes);
    if (!ev->attributes) return enomem(r, path);
    const char *key;
    json_t *x;
    char f[128];
    FOR_KEYS(v, key, x)
    {
        Agenttrail__V1__Attribute *a = malloc(sizeof *a);
        if (!a) return enomem(r, path);
        agenttrail__v1__attribute__init(a);
        ev->attributes[ev->n_attributes++] = a;
        a->key = tp_strndup(key, strlen(key));
        if (!a->key) return enomem(r, path);
        CK(rd_str(r, F(key), x, &a->value));
    }
    return TP_OK;
}

static int rd_stored(rd *r, const char *path, const json_t *v)
{
    CK(expect_object(r, path, v));
    NEW_SUB(&r->ev->stored, Agenttrail__V1__Stored, agenttrail__v1__stored__init);
    Agenttrail__V1__Stored *s = r->ev->stored;
    const char *key;
    json_t *x;
    char f[128];
    FOR_KEYS(v, key, x)
    {
        if (IS("log_index"))
            CK(rd_uint(r, F(key), x, TP_INT_MAX, &s->has_log_index, &s->log_index));
        else if (IS("received_unix_nano"))
            CK(rd_uint(r, F(key), x, TP_INT_MAX, &s->has_received_unix_nano,
                       &s->received_unix_nano));
        else if (IS("source"))
            CK(rd_str(r, F(key), x, &s->source));
        else
            return unknown(r, path, key);
    }
    return TP_OK;
}

static int rd_time(rd *r, const char *f, const json_t *v)
{
    if (!json_is_string(v)) return fail(r, f, "must be a string", v);
    const char *s = json_string_value(v);
    if (json_string_length(v) == 0) {
        at_error_set(r->err, f, "empty; omit the field instead");
        return TP_EINVAL;
    }
    uint64_t ns = 0;
    if (tp_time_parse_rfc3339(s, &ns) != TP_OK) {
        at_error_set(r->err, f, "must be an RFC 3339 time, got '%.80s'", s);
        return TP_EINVAL;
    }
    r->ev->has_time_unix_nano = 1;
    r->ev->time_unix_nano = ns;
    return TP_OK;
}

/* ---- the event ---- */

static int rd_top_field(rd *r, const char *key, const json_t *x)
{
    tp_event *ev = r->ev;
    if (IS("event_id")) {
        ev->has_event_id = 1;
        return rd_hex(r, key, x, 16, &ev->event_id);
    }
    if (IS("trace_id")) {
        ev->has_trace_id = 1;
        return rd_hex(r, key, x, 16, &ev->trace_id);
    }
    if (IS("span_id")) {
        ev->has_span_id = 1;
        return rd_hex(r, key, x, 8, &ev->span_id);
    }
    if (IS("parent_span_id")) {
        ev->has_parent_span_id = 1;
        return rd_hex(r, key, x, 8, &ev->parent_span_id);
    }
    if (IS("time_unix_nano"))
        return rd_uint(r, key, x, TP_INT_MAX, &ev->has_time_unix_nano, &ev->time_unix_nano);
    if (IS("time")) return rd_time(r, key, x);
    if (IS("duration_nano"))
        return rd_uint(r, key, x, TP_INT_MAX, &ev->has_duration_nano, &ev->duration_nano);
    if (IS("kind")) {
        int k = 0;
        CK(rd_enum(r, key, x, tp_kind_parse, tp_kind_names(), &ev->has_kind, &k));
        ev->kind = (Agenttrail__V1__Kind)k;
        return TP_OK;
    }
    static const struct {
        const char *name;
        size_t off;
    } strs[] = {
        {"workflow", offsetof(tp_event, workflow)},
        {"dri", offsetof(tp_event, dri)},
        {"service", offsetof(tp_event, service)},
        {"environment", offsetof(tp_event, environment)},
        {"actor", offsetof(tp_event, actor)},
        {"incident", offsetof(tp_event, incident)},
        {"note", offsetof(tp_event, note)},
    };
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        if (IS(strs[i].name)) return rd_str(r, key, x, (char **)((char *)ev + strs[i].off));
    if (IS("model")) return rd_model(r, key, x);
    if (IS("prompt")) return rd_prompt(r, key, x);
    if (IS("context_ids")) return rd_str_array(r, key, x, &ev->n_context_ids, &ev->context_ids);
    if (IS("tool_call")) return rd_tool_call(r, key, x);
    if (IS("diff")) return rd_diff(r, key, x);
    if (IS("usage")) return rd_usage(r, key, x);
    if (IS("outcome")) return rd_outcome(r, key, x);
    if (IS("approval")) return rd_approval(r, key, x);
    if (IS("link")) return rd_link(r, key, x);
    if (IS("attributes")) return rd_attributes(r, key, x);
    if (IS("redactions")) {
        uint64_t n = 0;
        CK(rd_uint(r, key, x, UINT32_MAX, &ev->has_redactions, &n));
        ev->redactions = (uint32_t)n;
        return TP_OK;
    }
    if (IS("stored")) return rd_stored(r, key, x);
    const char *name = *key ? key : "\"\""; /* an empty key is still named */
    if (r->flags & TP_JSON_LENIENT) {
        if (r->warn && !r->warn->where[0])
            at_error_set(r->warn, name, "unknown field (ignored with --lenient)");
        return TP_OK;
    }
    at_error_set(r->err, name, "unknown field");
    return TP_EINVAL;
}

/* ---- the field of an integer jansson cannot hold ---- */

/* One open container while scanning: an object (its current key) or an
 * array (the index of its current element). */
typedef struct scan_level {
    bool object;
    const char *key;
    size_t klen, index;
} scan_level;

/* End of the JSON string starting at s[i] == '"' (the index after the closing quote). */
static size_t skip_string(const char *s, size_t i, size_t end)
{
    for (i++; i < end && s[i] != '"'; i++)
        if (s[i] == '\\') i++;
    return i + 1;
}

/* The JSON path ("usage.input_tokens", "diff.paths[2]") of the value that
 * starts at byte `at` of a line that is valid JSON up to there (jansson read
 * it that far). Keys are written as they appear between their quotes. */
static void path_at(const char *s, size_t at, char *out, size_t n)
{
    scan_level st[32];
    size_t depth = 0;
    bool want_key = false;
    for (size_t i = 0; i < at;) {
        char c = s[i];
        scan_level *top = depth && depth <= 32 ? &st[depth - 1] : NULL;
        if (c == '"') {
            size_t e = skip_string(s, i, at);
            if (top && top->object && want_key) {
                top->key = s + i + 1;
                top->klen = e - i - 2;
                want_key = false;
            }
            i = e;
            continue;
        }
        if (c == '{' || c == '[') {
            if (depth < 32) st[depth] = (scan_level){.object = c == '{'};
            depth++;
            want_key = c == '{';
        } else if ((c == '}' || c == ']') && depth) {
            depth--;
        } else if (c == ',' && top) {
            top->index++;
            want_key = top->object;
        }
        i++;
    }
    size_t w = 0;
    out[0] = 0;
    for (size_t k = 0; k < depth && k < 32 && w < n; k++) {
        int m = st[k].object ? snprintf(out + w, n - w, "%s%.*s", w ? "." : "", (int)st[k].klen,
                                        st[k].key ? st[k].key : "")
                             : snprintf(out + w, n - w, "[%zu]", st[k].index);
        if (m > 0) w += (size_t)m;
    }
    if (!out[0]) snprintf(out, n, "-");
}

/* An integer beyond 64 bits: jansson refuses the whole line; name the field
 * it is in, as rd_uint would for one that fits. */
static int too_big(rd *r, const char *line, const json_error_t *je)
{
    size_t end = je->position > 0 ? (size_t)je->position : 0, start = end;
    while (start > 0 && strchr("0123456789-+.eE", line[start - 1]))
        start--;
    char path[128];
    path_at(line, start, path, sizeof path);
    int n = (int)(end - start > 40 ? 40 : end - start);
    at_error_set(r->err, path, "%.*s out of range 0..%s", n, line + start,
                 strcmp(path, "redactions") == 0 ? "4294967295" : "2^63-1");
    return TP_EINVAL;
}

/* Translates a jansson parse error into the words of check-events. */
static int parse_error(rd *r, const char *line, const json_error_t *je)
{
    const char *near = strstr(je->text, "near '");
    if (strstr(je->text, "duplicate object key")) {
        if (near) {
            const char *k = near + 6;
            size_t n = strlen(k);
            if (n && k[n - 1] == '\'') n--;
            at_error_set(r->err, "-", "key %.*s appears more than once (column %d)", (int)n, k,
                         je->column);
        } else {
            at_error_set(r->err, "-", "a key appears more than once (column %d)", je->column);
        }
        return TP_EINVAL;
    }
    if (strstr(je->text, "too big")) return too_big(r, line, je);
    at_error_set(r->err, "-", "not valid JSON: %s at column %d", je->text, je->column);
    return TP_EINVAL;
}

static int read_event(rd *r, const char *line, size_t len)
{
    if (len > r->lim->event_max) {
        at_error_set(r->err, "-", "encoded event is %zu bytes; at most %zu", len,
                     r->lim->event_max);
        return TP_ETOOBIG;
    }
    size_t bad = tp_utf8_bad_at(line, len);
    if (bad != len) {
        at_error_set(r->err, "-", "not valid UTF-8 at byte %zu", bad);
        return TP_EINVAL;
    }
    json_error_t je;
    tp_json_watch();
    json_t *root = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (tp_json_failed()) { /* whatever jansson returned: it may have lost characters */
        json_decref(root);
        at_error_set(r->err, "-", "out of memory");
        return TP_ENOMEM;
    }
    if (!root) return parse_error(r, line, &je);
    int rc = TP_OK;
    if (!json_is_object(root)) {
        at_error_set(r->err, "-", "line must be a JSON object, got %s", jtype(root));
        rc = TP_EINVAL;
    } else if (json_object_size(root) == 0) {
        at_error_set(r->err, "-", "empty object");
        rc = TP_EINVAL;
    } else if (json_object_get(root, "time") && json_object_get(root, "time_unix_nano")) {
        at_error_set(r->err, "time", "give time_unix_nano or time, not both");
        rc = TP_EINVAL;
    } else {
        const char *key;
        json_t *x;
        json_object_foreach(root, key, x)
        {
            rc = rd_top_field(r, key, x);
            if (rc) break;
        }
    }
    json_decref(root);
    return rc;
}

int tp_event_from_json(const char *line, size_t len, const tp_limits *lim, int flags,
                       tp_event **out, at_error *err, at_error *warn)
{
    tp_limits def = tp_limits_default();
    at_error scratch;
    if (!err) err = &scratch;
    if (warn) warn->where[0] = warn->what[0] = 0;
    *out = NULL;
    rd r = {.lim = lim ? lim : &def, .flags = flags, .err = err, .warn = warn};
    r.ev = tp_event_new();
    if (!r.ev) return enomem(&r, "-");
    int rc = read_event(&r, line, len);
    if (rc == TP_OK && r.ev->stored && !(flags & TP_JSON_KEEP_STORED)) {
        protobuf_c_message_free_unpacked(&r.ev->stored->base, NULL);
        r.ev->stored = NULL;
    }
    if (rc == TP_OK && agenttrail__v1__trace_event__get_packed_size(r.ev) == 0) {
        /* Only unknown fields (--lenient) or `stored`: nothing to record, and its
         * canonical form "{}" would not read back. */
        at_error_set(err, "-", "empty object once unknown fields and `stored` are dropped");
        rc = TP_EINVAL;
    }
    if (rc == TP_OK) rc = tp_check_fields(r.ev, r.lim, err);
    if (rc != TP_OK) {
        tp_event_destroy(&r.ev);
        return rc;
    }
    *out = r.ev;
    return TP_OK;
}
