/*
 * proto_validate.c - the rules of EVENTS.md checked on the in-memory event.
 *
 * Owns: nothing. The same checks serve events parsed from JSON (after the
 * JSON-level type checks) and events decoded from untrusted protobuf bytes,
 * so a rule is written once and worded once. Wording mirrors the independent
 * validator ../shared/tools/check-events ("field: problem").
 *
 * Invariants: checks stop at the first broken rule; strings are treated as
 * NUL-terminated (protobuf-c terminates every string it decodes).
 *
 * Threading: reentrant; no global state.
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "json_alloc.h"
#include "proto_internal.h"
#include "traceproto.h"

/* Offset of the first byte that does not start a well-formed UTF-8 sequence
 * (overlongs, surrogates and code points above U+10FFFF are ill-formed); n when
 * the whole string is well-formed. */
size_t tp_utf8_bad_at(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        /* Most text is ASCII: skip it 8 bytes at a time. */
        while (n - i >= 8) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (w & UINT64_C(0x8080808080808080)) break;
            i += 8;
        }
        if (i >= n) break;
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        unsigned min, cp;
        if (c >= 0xc2 && c <= 0xdf) {
            need = 1, min = 0x80, cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2, min = 0x800, cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3, min = 0x10000, cp = c & 0x07;
        } else {
            return i;
        }
        if (n - i <= need) return i;
        for (size_t k = 1; k <= need; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return i;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
        i += need + 1;
    }
    return n;
}

bool tp_utf8_valid(const char *s, size_t n)
{
    return tp_utf8_bad_at(s, n) == n;
}

/* A present string: non-empty, valid UTF-8, lo..hi bytes. NULL is absent: fine. */
static int check_string(const char *field, const char *s, size_t hi, at_error *err)
{
    if (!s) return TP_OK;
    size_t n = strlen(s);
    if (n == 0) {
        at_error_set(err, field, "empty; omit the field instead");
        return TP_EINVAL;
    }
    if (n > hi) {
        at_error_set(err, field, "%zu bytes; must be 1-%zu bytes", n, hi);
        return TP_ETOOBIG;
    }
    if (!tp_utf8_valid(s, n)) {
        at_error_set(err, field, "not valid UTF-8 at byte %zu", tp_utf8_bad_at(s, n));
        return TP_EINVAL;
    }
    return TP_OK;
}

static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* An index key (workflow, dri, incident): a string as above that neither
 * starts nor ends with ASCII whitespace, so that what is queried is what
 * was stored (" maria@x" would be a key of its own). Whitespace inside is
 * kept ("Maria Chen"). */
static int check_key_string(const char *field, const char *s, size_t hi, at_error *err)
{
    CK(check_string(field, s, hi, err));
    if (!s) return TP_OK;
    size_t n = strlen(s);
    size_t lead = 0;
    while (lead < n && is_space((unsigned char)s[lead]))
        lead++;
    if (lead == n) {
        at_error_set(err, field, "only whitespace; a value is required");
        return TP_EINVAL;
    }
    if (lead || is_space((unsigned char)s[n - 1])) {
        at_error_set(err, field,
                     "'%.80s' %s with whitespace; an index key must not (it would not match "
                     "queries for the trimmed value)",
                     s, lead ? "starts" : "ends");
        return TP_EINVAL;
    }
    return TP_OK;
}

static int check_int(const char *field, bool has, uint64_t v, at_error *err)
{
    if (has && v > TP_INT_MAX) {
        at_error_set(err, field, "%llu out of range 0..2^63-1", (unsigned long long)v);
        return TP_EINVAL;
    }
    return TP_OK;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i]) return false;
    return true;
}

static int check_id(const char *field, bool has, ProtobufCBinaryData d, size_t n, bool nonzero,
                    at_error *err)
{
    if (!has) return TP_OK;
    if (d.len != n) {
        at_error_set(err, field, "must be %zu bytes (%zu lowercase hex digits), got %zu bytes", n,
                     2 * n, d.len);
        return TP_EINVAL;
    }
    if (nonzero && all_zero(d.data, n)) {
        at_error_set(err, field, "all zero is not a valid %s id",
                     strcmp(field, "event_id") == 0 ? "event" : "W3C");
        return TP_EINVAL;
    }
    return TP_OK;
}

static int check_enum(const char *field, bool has, int v, const char *(*name)(int),
                      const char *names, at_error *err)
{
    if (has && !name(v)) {
        at_error_set(err, field, "must be one of %s, got %d", names, v);
        return TP_EINVAL;
    }
    return TP_OK;
}

static int check_json_text(const char *field, const char *s, size_t hi, at_error *err)
{
    int rc = check_string(field, s, hi, err);
    if (rc || !s) return rc;
    json_error_t je;
    tp_json_watch();
    json_t *v =
        json_loadb(s, strlen(s), JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &je);
    if (tp_json_failed()) {
        json_decref(v);
        at_error_set(err, field, "out of memory");
        return TP_ENOMEM;
    }
    if (!v) {
        at_error_set(err, field, "must be JSON text: %s at line %d column %d", je.text, je.line,
                     je.column);
        return TP_EINVAL;
    }
    json_decref(v);
    return TP_OK;
}

static int check_string_array(const char *field, size_t n, char *const *v, size_t maxn, size_t hi,
                              at_error *err)
{
    if (maxn && n > maxn) {
        at_error_set(err, field, "%zu entries; at most %zu", n, maxn);
        return TP_ETOOBIG;
    }
    for (size_t i = 0; i < n; i++) {
        char f[128];
        tp_path_index(f, sizeof f, field, i);
        if (!v[i]) {
            at_error_set(err, f, "must be a string, got null");
            return TP_EINVAL;
        }
        int rc = check_string(f, v[i], hi, err);
        if (rc) return rc;
    }
    return TP_OK;
}

static int empty_object(const char *field, at_error *err)
{
    at_error_set(err, field, "empty; omit the field instead");
    return TP_EINVAL;
}

static int check_model_prompt(const tp_event *ev, const tp_limits *lim, at_error *err)
{
    const Agenttrail__V1__Model *m = ev->model;
    if (m) {
        if (!m->provider && !m->name) return empty_object("model", err);
        CK(check_string("model.provider", m->provider, lim->string_max, err));
        CK(check_string("model.name", m->name, lim->string_max, err));
    }
    const Agenttrail__V1__Prompt *p = ev->prompt;
    if (p) {
        if (!p->has_hmac_sha256 && !p->template_id && !p->template_version && !p->text)
            return empty_object("prompt", err);
        if (p->has_hmac_sha256 && p->hmac_sha256.len != 32) {
            at_error_set(err, "prompt.hmac_sha256",
                         "must be 32 bytes (64 lowercase hex digits), got %zu bytes",
                         p->hmac_sha256.len);
            return TP_EINVAL;
        }
        CK(check_string("prompt.template_id", p->template_id, lim->string_max, err));
        CK(check_string("prompt.template_version", p->template_version, lim->string_max, err));
        CK(check_string("prompt.text", p->text, lim->string_max, err));
    }
    return TP_OK;
}

static int check_tool_diff(const tp_event *ev, const tp_limits *lim, at_error *err)
{
    const Agenttrail__V1__ToolCall *t = ev->tool_call;
    if (t) {
        if (!t->name && !t->arguments && !t->has_status && !t->permission_scope && !t->error)
            return empty_object("tool_call", err);
        CK(check_string("tool_call.name", t->name, lim->string_max, err));
        CK(check_json_text("tool_call.arguments", t->arguments, lim->arguments_max, err));
        CK(check_enum("tool_call.status", t->has_status, t->status, tp_tool_status_name,
                      "ok|error|blocked", err));
        CK(check_string("tool_call.permission_scope", t->permission_scope, lim->string_max, err));
        CK(check_string("tool_call.error", t->error, lim->string_max, err));
    }
    const Agenttrail__V1__Diff *d = ev->diff;
    if (d) {
        if (!d->repo && !d->base_rev && !d->n_paths && !d->patch && !d->has_lines_added &&
            !d->has_lines_removed)
            return empty_object("diff", err);
        CK(check_string("diff.repo", d->repo, lim->string_max, err));
        CK(check_string("diff.base_rev", d->base_rev, lim->string_max, err));
        CK(check_string_array("diff.paths", d->n_paths, d->paths, 0, lim->string_max, err));
        CK(check_string("diff.patch", d->patch, lim->patch_max, err));
        CK(check_int("diff.lines_added", d->has_lines_added, d->lines_added, err));
        CK(check_int("diff.lines_removed", d->has_lines_removed, d->lines_removed, err));
    }
    return TP_OK;
}

/* EVENTS.md: input_tokens counts every input token, cached ones included, so
 * cached_tokens <= input_tokens; an absent input_tokens counts as 0, as
 * check-events has it (cached tokens with no input is no call at all). */
static int check_cached_tokens(const Agenttrail__V1__Usage *u, at_error *err)
{
    uint64_t in = u->has_input_tokens ? u->input_tokens : 0;
    if (!u->has_cached_tokens || u->cached_tokens <= in) return TP_OK;
    if (u->has_input_tokens)
        at_error_set(err, "usage.cached_tokens",
                     "%llu is more than usage.input_tokens %llu; input_tokens counts cached "
                     "tokens (EVENTS.md)",
                     (unsigned long long)u->cached_tokens, (unsigned long long)in);
    else
        at_error_set(err, "usage.cached_tokens",
                     "%llu without usage.input_tokens; input_tokens counts cached tokens "
                     "(EVENTS.md): give it too",
                     (unsigned long long)u->cached_tokens);
    return TP_EINVAL;
}

static int check_usage_outcome(const tp_event *ev, const tp_limits *lim, at_error *err)
{
    const Agenttrail__V1__Usage *u = ev->usage;
    if (u) {
        if (!u->has_input_tokens && !u->has_output_tokens && !u->has_cached_tokens &&
            !u->has_cost_usd_micros)
            return empty_object("usage", err);
        CK(check_int("usage.input_tokens", u->has_input_tokens, u->input_tokens, err));
        CK(check_int("usage.output_tokens", u->has_output_tokens, u->output_tokens, err));
        CK(check_int("usage.cached_tokens", u->has_cached_tokens, u->cached_tokens, err));
        CK(check_int("usage.cost_usd_micros", u->has_cost_usd_micros, u->cost_usd_micros, err));
        CK(check_cached_tokens(u, err));
    }
    const Agenttrail__V1__Outcome *o = ev->outcome;
    if (o) {
        if (!o->has_decision && !o->by && !o->has_edit_distance)
            return empty_object("outcome", err);
        CK(check_enum("outcome.decision", o->has_decision, o->decision, tp_decision_name,
                      "accepted|edited|rejected|escalated", err));
        CK(check_string("outcome.by", o->by, lim->string_max, err));
        CK(check_int("outcome.edit_distance", o->has_edit_distance, o->edit_distance, err));
    }
    const Agenttrail__V1__Approval *a = ev->approval;
    if (a) {
        if (!a->checkpoint && !a->approver && !a->has_decision && !a->reason)
            return empty_object("approval", err);
        CK(check_string("approval.checkpoint", a->checkpoint, lim->string_max, err));
        CK(check_string("approval.approver", a->approver, lim->string_max, err));
        CK(check_enum("approval.decision", a->has_decision, a->decision, tp_approval_decision_name,
                      "approved|denied", err));
        CK(check_string("approval.reason", a->reason, lim->string_max, err));
    }
    return TP_OK;
}

static int check_link(const tp_event *ev, const tp_limits *lim, at_error *err)
{
    const Agenttrail__V1__Link *l = ev->link;
    if (!l) return TP_OK;
    if (!l->n_trace_ids && !l->workflow && !l->has_since_unix_nano && !l->has_until_unix_nano &&
        !l->reason)
        return empty_object("link", err);
    for (size_t i = 0; i < l->n_trace_ids; i++) {
        char f[64];
        snprintf(f, sizeof f, "link.trace_ids[%zu]", i);
        CK(check_id(f, true, l->trace_ids[i], 16, true, err));
    }
    CK(check_key_string("link.workflow", l->workflow, TP_WORKFLOW_MAX, err));
    CK(check_int("link.since_unix_nano", l->has_since_unix_nano, l->since_unix_nano, err));
    CK(check_int("link.until_unix_nano", l->has_until_unix_nano, l->until_unix_nano, err));
    CK(check_string("link.reason", l->reason, lim->string_max, err));
    if (l->has_since_unix_nano && l->has_until_unix_nano &&
        l->since_unix_nano > l->until_unix_nano) {
        at_error_set(err, "link.until_unix_nano", "before since_unix_nano");
        return TP_EINVAL;
    }
    return TP_OK;
}

static int check_attributes(const tp_event *ev, const tp_limits *lim, at_error *err)
{
    size_t n = ev->n_attributes;
    if (n > lim->attributes_max) {
        at_error_set(err, "attributes", "%zu entries; at most %zu", n, lim->attributes_max);
        return TP_ETOOBIG;
    }
    for (size_t i = 0; i < n; i++) {
        const Agenttrail__V1__Attribute *a = ev->attributes[i];
        const char *k = a->key ? a->key : "";
        size_t kl = strlen(k);
        char f[128];
        tp_path_key(f, sizeof f, "attributes", k);
        if (kl == 0) {
            at_error_set(err, "attributes", "empty key");
            return TP_EINVAL;
        }
        if (kl > lim->string_max) {
            at_error_set(err, "attributes", "key of %zu bytes; at most %zu", kl, lim->string_max);
            return TP_ETOOBIG;
        }
        if (!tp_utf8_valid(k, kl)) {
            at_error_set(err, "attributes", "key not valid UTF-8 at byte %zu",
                         tp_utf8_bad_at(k, kl));
            return TP_EINVAL;
        }
        for (size_t j = 0; j < i; j++) {
            if (ev->attributes[j]->key && strcmp(ev->attributes[j]->key, k) == 0) {
                at_error_set(err, f, "key appears more than once");
                return TP_EINVAL;
            }
        }
        if (!a->value) {
            at_error_set(err, f, "must be a string, got null");
            return TP_EINVAL;
        }
        size_t vl = strlen(a->value);
        if (vl > lim->string_max) {
            at_error_set(err, f, "%zu bytes; at most %zu", vl, lim->string_max);
            return TP_ETOOBIG;
        }
        if (!tp_utf8_valid(a->value, vl)) {
            at_error_set(err, f, "not valid UTF-8 at byte %zu", tp_utf8_bad_at(a->value, vl));
            return TP_EINVAL;
        }
    }
    return TP_OK;
}

static int check_stored(const tp_event *ev, const tp_limits *lim, at_error *err)
{
    const Agenttrail__V1__Stored *s = ev->stored;
    if (!s) return TP_OK;
    if (!s->has_log_index && !s->has_received_unix_nano && !s->source)
        return empty_object("stored", err);
    CK(check_int("stored.log_index", s->has_log_index, s->log_index, err));
    CK(check_int("stored.received_unix_nano", s->has_received_unix_nano, s->received_unix_nano,
                 err));
    CK(check_string("stored.source", s->source, lim->string_max, err));
    return TP_OK;
}

int tp_check_fields(const tp_event *ev, const tp_limits *lim, at_error *err)
{
    CK(check_id("event_id", ev->has_event_id, ev->event_id, 16, true, err));
    CK(check_id("trace_id", ev->has_trace_id, ev->trace_id, 16, true, err));
    CK(check_id("span_id", ev->has_span_id, ev->span_id, 8, true, err));
    CK(check_id("parent_span_id", ev->has_parent_span_id, ev->parent_span_id, 8, true, err));
    CK(check_int("time_unix_nano", ev->has_time_unix_nano, ev->time_unix_nano, err));
    CK(check_int("duration_nano", ev->has_duration_nano, ev->duration_nano, err));
    CK(check_enum("kind", ev->has_kind, ev->kind, tp_kind_name, tp_kind_names(), err));
    CK(check_key_string("workflow", ev->workflow, TP_WORKFLOW_MAX, err));
    CK(check_key_string("dri", ev->dri, TP_DRI_MAX, err));
    CK(check_string("service", ev->service, lim->string_max, err));
    CK(check_string("environment", ev->environment, lim->string_max, err));
    CK(check_string("actor", ev->actor, lim->string_max, err));
    CK(check_key_string("incident", ev->incident, TP_INCIDENT_MAX, err));
    CK(check_model_prompt(ev, lim, err));
    CK(check_string_array("context_ids", ev->n_context_ids, ev->context_ids, lim->context_ids_max,
                          lim->string_max, err));
    CK(check_tool_diff(ev, lim, err));
    CK(check_usage_outcome(ev, lim, err));
    CK(check_link(ev, lim, err));
    CK(check_string("note", ev->note, lim->string_max, err));
    CK(check_attributes(ev, lim, err));
    CK(check_stored(ev, lim, err));
    if (ev->has_span_id && ev->has_parent_span_id && ev->span_id.len == ev->parent_span_id.len &&
        memcmp(ev->span_id.data, ev->parent_span_id.data, ev->span_id.len) == 0) {
        at_error_set(err, "parent_span_id", "equals span_id: a span cannot be its own parent");
        return TP_EINVAL;
    }
    return TP_OK;
}

static int missing(const char *field, const char *why, at_error *err)
{
    at_error_set(err, field, "%s", why);
    return TP_EINVAL;
}

int tp_check_required(const tp_event *ev, at_error *err)
{
    if (!ev->has_kind) return missing("kind", "required, missing", err);
    if (!ev->workflow) return missing("workflow", "required, missing", err);
    if (!ev->dri) return missing("dri", "required, missing", err);
    switch (ev->kind) {
    case AGENTTRAIL__V1__KIND__PROMPT:
        if (!ev->model || !ev->model->provider)
            return missing("model.provider", "required for kind prompt, missing", err);
        if (!ev->model->name)
            return missing("model.name", "required for kind prompt, missing", err);
        break;
    case AGENTTRAIL__V1__KIND__RETRIEVAL:
        if (!ev->n_context_ids)
            return missing("context_ids", "required (non-empty) for kind retrieval, missing", err);
        break;
    case AGENTTRAIL__V1__KIND__TOOL_CALL:
        if (!ev->tool_call || !ev->tool_call->name)
            return missing("tool_call.name", "required for kind tool_call, missing", err);
        break;
    case AGENTTRAIL__V1__KIND__DIFF:
        if (!ev->diff || (!ev->diff->patch && !ev->diff->n_paths))
            return missing("diff", "patch or paths required for kind diff, missing", err);
        break;
    case AGENTTRAIL__V1__KIND__OUTCOME:
        if (!ev->outcome || !ev->outcome->has_decision)
            return missing("outcome.decision", "required for kind outcome, missing", err);
        break;
    case AGENTTRAIL__V1__KIND__APPROVAL:
        if (!ev->approval) return missing("approval", "required for kind approval, missing", err);
        break;
    case AGENTTRAIL__V1__KIND__INCIDENT_LINK:
        if (!ev->link || (!ev->link->n_trace_ids && !ev->link->workflow))
            return missing("link", "trace_ids or workflow required for kind incident_link, missing",
                           err);
        break;
    case AGENTTRAIL__V1__KIND__NOTE:
        if (!ev->note) return missing("note", "required for kind note, missing", err);
        break;
    default:
        break;
    }
    return TP_OK;
}

int tp_event_validate(const tp_event *ev, const tp_limits *lim, at_error *err)
{
    tp_limits def = tp_limits_default();
    if (!lim) lim = &def;
    if (!ev->has_event_id)
        return missing("event_id", "required, missing (the shim generates it)", err);
    if (!ev->has_trace_id)
        return missing("trace_id", "required, missing (the shim generates it)", err);
    if (!ev->has_span_id)
        return missing("span_id", "required, missing (the shim generates it)", err);
    if (!ev->has_time_unix_nano)
        return missing("time_unix_nano", "required, missing (the shim stamps it)", err);
    CK(tp_check_fields(ev, lim, err));
    CK(tp_check_required(ev, err));
    size_t n = agenttrail__v1__trace_event__get_packed_size(ev);
    if (n > lim->event_max) {
        at_error_set(err, "-", "encoded event is %zu bytes; at most %zu", n, lim->event_max);
        return TP_ETOOBIG;
    }
    return TP_OK;
}
