/*
 * json_write.c - the canonical JSON writer of an event (EVENTS.md, docs/json-form.md).
 *
 * Owns: the output buffer of one call. Canonical means byte-exact: keys in
 * the order of the EVENTS.md table (and of check-events inside objects), no
 * spaces, integers as JSON numbers, absent fields omitted, and strings
 * escaped exactly as Python's json.dumps(ensure_ascii=False) does: \" \\ \n
 * \r \t \b \f, other bytes below 0x20 as \u00xx (lowercase hex), every other
 * byte (DEL, UTF-8) raw. The shared sample data was written that way, so
 * JSON -> event -> JSON reproduces it byte for byte.
 *
 * Threading: reentrant; no global state.
 */
#include <string.h>

#include "proto_internal.h"
#include "traceproto.h"

/* The fast path of the writer: an append that fits is a memcpy here, with no call into
 * libtracecommon; only growth (and the sticky failure) goes through at_buf_put. */
static inline void put(at_buf *b, const void *p, size_t n)
{
    if (!b->failed && n <= b->cap - b->len) {
        memcpy(b->data + b->len, p, n);
        b->len += n;
        return;
    }
    at_buf_put(b, p, n);
}

static inline void put_c(at_buf *b, char c)
{
    if (!b->failed && b->len < b->cap) {
        b->data[b->len++] = c;
        return;
    }
    at_buf_put(b, &c, 1);
}

static inline void put_s(at_buf *b, const char *s)
{
    put(b, s, strlen(s));
}

void tp_json_put_string(at_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    if (n + 2 > b->cap - b->len) at_buf_reserve(b, n + 2); /* failure is sticky */
    put_c(b, '"');
    size_t run = 0; /* start of the pending run of bytes written raw */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        put(b, s + run, i - run);
        run = i + 1;
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t elen = 2;
        switch (c) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            elen = 6;
        }
        put(b, esc, elen);
    }
    put(b, s + run, n - run);
    put_c(b, '"');
}

/* Object writer: tracks whether a comma is due. */
typedef struct jw {
    at_buf *b;
    bool first;
} jw;

static void jw_open(jw *w, at_buf *b)
{
    w->b = b;
    w->first = true;
    put_c(b, '{');
}

static void jw_key(jw *w, const char *key)
{
    if (!w->first) put_c(w->b, ',');
    w->first = false;
    put_c(w->b, '"');
    put_s(w->b, key);
    put_s(w->b, "\":");
}

static void jw_close(jw *w)
{
    put_c(w->b, '}');
}

static void jw_str(jw *w, const char *key, const char *v)
{
    if (!v) return;
    jw_key(w, key);
    tp_json_put_string(w->b, v, strlen(v));
}

static void jw_u64(jw *w, const char *key, bool has, uint64_t v)
{
    if (!has) return;
    jw_key(w, key);
    at_buf_put_u64(w->b, v);
}

static void jw_hex(jw *w, const char *key, bool has, ProtobufCBinaryData d)
{
    if (!has) return;
    jw_key(w, key);
    char tmp[2 * 32 + 1];
    put_c(w->b, '"');
    /* Ids are at most 32 bytes; longer data is written in pieces. */
    for (size_t off = 0; off < d.len; off += 32) {
        size_t n = d.len - off < 32 ? d.len - off : 32;
        at_hex_encode(d.data + off, n, tmp);
        put(w->b, tmp, 2 * n);
    }
    put_c(w->b, '"');
}

static void jw_enum(jw *w, const char *key, bool has, const char *name, int value)
{
    if (!has) return;
    jw_key(w, key);
    if (name) {
        tp_json_put_string(w->b, name, strlen(name));
    } else {
        /* Out of range: only an unvalidated event gets here; write the number. */
        at_buf_put_u64(w->b, (uint64_t)(unsigned)value);
    }
}

static void jw_str_array(jw *w, const char *key, size_t n, char *const *v)
{
    if (!n) return;
    jw_key(w, key);
    put_c(w->b, '[');
    for (size_t i = 0; i < n; i++) {
        if (i) put_c(w->b, ',');
        const char *s = v[i] ? v[i] : "";
        tp_json_put_string(w->b, s, strlen(s));
    }
    put_c(w->b, ']');
}

static void write_model(jw *top, const Agenttrail__V1__Model *m)
{
    jw w;
    jw_key(top, "model");
    jw_open(&w, top->b);
    jw_str(&w, "provider", m->provider);
    jw_str(&w, "name", m->name);
    jw_close(&w);
}

static void write_prompt(jw *top, const Agenttrail__V1__Prompt *p)
{
    jw w;
    jw_key(top, "prompt");
    jw_open(&w, top->b);
    jw_hex(&w, "hmac_sha256", p->has_hmac_sha256, p->hmac_sha256);
    jw_str(&w, "template_id", p->template_id);
    jw_str(&w, "template_version", p->template_version);
    jw_str(&w, "text", p->text);
    jw_close(&w);
}

static void write_tool_call(jw *top, const Agenttrail__V1__ToolCall *t)
{
    jw w;
    jw_key(top, "tool_call");
    jw_open(&w, top->b);
    jw_str(&w, "name", t->name);
    jw_str(&w, "arguments", t->arguments);
    jw_enum(&w, "status", t->has_status, tp_tool_status_name(t->status), t->status);
    jw_str(&w, "permission_scope", t->permission_scope);
    jw_str(&w, "error", t->error);
    jw_close(&w);
}

static void write_diff(jw *top, const Agenttrail__V1__Diff *d)
{
    jw w;
    jw_key(top, "diff");
    jw_open(&w, top->b);
    jw_str(&w, "repo", d->repo);
    jw_str(&w, "base_rev", d->base_rev);
    jw_str_array(&w, "paths", d->n_paths, d->paths);
    jw_str(&w, "patch", d->patch);
    jw_u64(&w, "lines_added", d->has_lines_added, d->lines_added);
    jw_u64(&w, "lines_removed", d->has_lines_removed, d->lines_removed);
    jw_close(&w);
}

static void write_usage(jw *top, const Agenttrail__V1__Usage *u)
{
    jw w;
    jw_key(top, "usage");
    jw_open(&w, top->b);
    jw_u64(&w, "input_tokens", u->has_input_tokens, u->input_tokens);
    jw_u64(&w, "output_tokens", u->has_output_tokens, u->output_tokens);
    jw_u64(&w, "cached_tokens", u->has_cached_tokens, u->cached_tokens);
    jw_u64(&w, "cost_usd_micros", u->has_cost_usd_micros, u->cost_usd_micros);
    jw_close(&w);
}

static void write_outcome(jw *top, const Agenttrail__V1__Outcome *o)
{
    jw w;
    jw_key(top, "outcome");
    jw_open(&w, top->b);
    jw_enum(&w, "decision", o->has_decision, tp_decision_name(o->decision), o->decision);
    jw_str(&w, "by", o->by);
    jw_u64(&w, "edit_distance", o->has_edit_distance, o->edit_distance);
    jw_close(&w);
}

static void write_approval(jw *top, const Agenttrail__V1__Approval *a)
{
    jw w;
    jw_key(top, "approval");
    jw_open(&w, top->b);
    jw_str(&w, "checkpoint", a->checkpoint);
    jw_str(&w, "approver", a->approver);
    jw_enum(&w, "decision", a->has_decision, tp_approval_decision_name(a->decision), a->decision);
    jw_str(&w, "reason", a->reason);
    jw_close(&w);
}

static void write_link(jw *top, const Agenttrail__V1__Link *l)
{
    jw w;
    jw_key(top, "link");
    jw_open(&w, top->b);
    if (l->n_trace_ids) {
        jw_key(&w, "trace_ids");
        put_c(w.b, '[');
        for (size_t i = 0; i < l->n_trace_ids; i++) {
            if (i) put_c(w.b, ',');
            char tmp[33];
            size_t n = l->trace_ids[i].len <= 16 ? l->trace_ids[i].len : 16;
            at_hex_encode(l->trace_ids[i].data, n, tmp);
            tp_json_put_string(w.b, tmp, 2 * n);
        }
        put_c(w.b, ']');
    }
    jw_str(&w, "workflow", l->workflow);
    jw_u64(&w, "since_unix_nano", l->has_since_unix_nano, l->since_unix_nano);
    jw_u64(&w, "until_unix_nano", l->has_until_unix_nano, l->until_unix_nano);
    jw_str(&w, "reason", l->reason);
    jw_close(&w);
}

static void write_attributes(jw *top, const tp_event *ev)
{
    jw w;
    jw_key(top, "attributes");
    jw_open(&w, top->b);
    for (size_t i = 0; i < ev->n_attributes; i++) {
        const Agenttrail__V1__Attribute *a = ev->attributes[i];
        const char *k = a->key ? a->key : "", *v = a->value ? a->value : "";
        if (!w.first) put_c(w.b, ',');
        w.first = false;
        tp_json_put_string(w.b, k, strlen(k));
        put_c(w.b, ':');
        tp_json_put_string(w.b, v, strlen(v));
    }
    jw_close(&w);
}

static void write_stored(jw *top, const Agenttrail__V1__Stored *s)
{
    jw w;
    jw_key(top, "stored");
    jw_open(&w, top->b);
    jw_u64(&w, "log_index", s->has_log_index, s->log_index);
    jw_u64(&w, "received_unix_nano", s->has_received_unix_nano, s->received_unix_nano);
    jw_str(&w, "source", s->source);
    jw_close(&w);
}

char *tp_event_to_json(const tp_event *ev, size_t *len)
{
    at_buf b = {0};
    jw w;
    jw_open(&w, &b);
    jw_hex(&w, "event_id", ev->has_event_id, ev->event_id);
    jw_hex(&w, "trace_id", ev->has_trace_id, ev->trace_id);
    jw_hex(&w, "span_id", ev->has_span_id, ev->span_id);
    jw_hex(&w, "parent_span_id", ev->has_parent_span_id, ev->parent_span_id);
    jw_u64(&w, "time_unix_nano", ev->has_time_unix_nano, ev->time_unix_nano);
    jw_u64(&w, "duration_nano", ev->has_duration_nano, ev->duration_nano);
    jw_enum(&w, "kind", ev->has_kind, tp_kind_name(ev->kind), ev->kind);
    jw_str(&w, "workflow", ev->workflow);
    jw_str(&w, "dri", ev->dri);
    jw_str(&w, "service", ev->service);
    jw_str(&w, "environment", ev->environment);
    jw_str(&w, "actor", ev->actor);
    jw_str(&w, "incident", ev->incident);
    if (ev->model) write_model(&w, ev->model);
    if (ev->prompt) write_prompt(&w, ev->prompt);
    jw_str_array(&w, "context_ids", ev->n_context_ids, ev->context_ids);
    if (ev->tool_call) write_tool_call(&w, ev->tool_call);
    if (ev->diff) write_diff(&w, ev->diff);
    if (ev->usage) write_usage(&w, ev->usage);
    if (ev->outcome) write_outcome(&w, ev->outcome);
    if (ev->approval) write_approval(&w, ev->approval);
    if (ev->link) write_link(&w, ev->link);
    jw_str(&w, "note", ev->note);
    if (ev->n_attributes) write_attributes(&w, ev);
    jw_u64(&w, "redactions", ev->has_redactions, ev->redactions);
    if (ev->stored) write_stored(&w, ev->stored);
    jw_close(&w);
    return at_buf_take(&b, len);
}
