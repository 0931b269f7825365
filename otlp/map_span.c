/*
 * map_span.c - what one span becomes: the fields every event of it shares (ids, time,
 * workflow, DRI, service, environment), the kind-specific fields by role (prompt with model,
 * prompt HMAC and usage; tool_call; retrieval; note), the events derived from it (tool calls
 * the model requested, agenttrail.outcome.* and agenttrail.approval.*), and the attributes
 * kept. Field by field in docs/otlp.md.
 *
 * Rules kept here: usage and cost only on provider-call spans (OTLP_ROLE_LLM), never on the
 * agent, workflow or AI SDK outer spans around them (those keep theirs as plain attributes);
 * content attributes (map_attr.c's table) never reach an event: input content is reduced to
 * the prompt HMAC under opts->hmac_key; every event of a span passes tp_event_validate or the
 * span is rejected with the validate message, and none of its events is kept.
 *
 * Threading: reentrant.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otlp_internal.h"

#define ATTR_DROPPED "agenttrail.attributes_dropped"

typedef struct span_map {
    otlp_map_ctx *c;
    otlp_view v;
    otlp_class cls;
    const otlp_span *s;
    tp_event *evs[64]; /* the span's events; [0] is its own */
    uint32_t subs[64];
    size_t n;
} span_map;

static char *xdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* A string attribute of the span, else of its ancestors in the request (agenttrail.workflow
 * set on a root span holds for its children). */
static const char *inherited(span_map *m, const char *key)
{
    const char *const keys[] = {key, NULL};
    const char *v = otlp_attr_first(&m->v, keys);
    const otlp_span *p = m->s;
    for (int depth = 0; !v && depth < 64 && (p = otlp_find_parent(m->c, p)); depth++)
        for (size_t i = 0; i < p->n_attributes && !v; i++)
            if (strcmp(p->attributes[i]->key, key) == 0 && p->attributes[i]->value &&
                p->attributes[i]->value->value_case ==
                    OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE &&
                p->attributes[i]->value->string_value[0])
                v = p->attributes[i]->value->string_value;
    return v;
}

/* agenttrail.KEY of the span, its ancestors, or the resource. */
static const char *agenttrail_attr(span_map *m, const char *key)
{
    const char *v = inherited(m, key);
    return v ? v : otlp_res_str(&m->v, key);
}

static const char *workflow_of(span_map *m)
{
    static const char *const keys[] = {"gen_ai.workflow.name", "traceloop.workflow.name",
                                       "ai.telemetry.functionId", NULL};
    const char *w = agenttrail_attr(m, "agenttrail.workflow");
    for (const char *const *k = keys; !w && *k; k++)
        w = inherited(m, *k);
    for (const char *const *k = keys; *k; k++)
        otlp_attr(&m->v, *k); /* mapped, even when another won */
    if (!w) w = m->c->o->workflow;
    return w ? w : otlp_res_str(&m->v, "service.name");
}

/* The first of keys[] as an integer; every key is marked mapped. */
static bool first_u64(otlp_view *v, const char *const *keys, uint64_t *out)
{
    bool got = false;
    for (; *keys; keys++) {
        uint64_t x;
        if (otlp_attr_u64(v, *keys, &x) && !got) {
            *out = x;
            got = true;
        }
    }
    return got;
}

/* The first string of keys[]; every key is marked mapped. */
static const char *first_str(otlp_view *v, const char *const *keys)
{
    const char *got = NULL;
    for (; *keys; keys++) {
        const char *const one[] = {*keys, NULL};
        const char *s = otlp_attr_first(v, one);
        if (!got) got = s;
    }
    return got;
}

static int set_usage(span_map *m, tp_event *ev)
{
    static const char *const in_keys[] = {"gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens",
                                          "llm.token_count.prompt",    "ai.usage.inputTokens",
                                          "ai.usage.promptTokens",     NULL};
    static const char *const out_keys[] = {
        "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens",
        "llm.token_count.completion", "ai.usage.outputTokens",
        "ai.usage.completionTokens",  NULL};
    static const char *const cached_keys[] = {
        "gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens",
        "llm.token_count.prompt_details.cache_read", "ai.usage.cachedInputTokens", NULL};
    static const char *const total_keys[] = {"gen_ai.usage.total_tokens", "llm.token_count.total",
                                             "ai.usage.totalTokens", "llm.usage.total_tokens",
                                             NULL};
    uint64_t in = 0, out = 0, cached = 0, total = 0;
    bool has_in = first_u64(&m->v, in_keys, &in), has_out = first_u64(&m->v, out_keys, &out);
    bool has_cached = first_u64(&m->v, cached_keys, &cached);
    first_u64(&m->v, total_keys, &total); /* derivable: mapped, not kept */
    double cost = -1, amount;
    char tmp[64];
    const char *cur = otlp_attr_str(&m->v, "gen_ai.usage.cost.currency", tmp, sizeof tmp);
    if (otlp_attr_double(&m->v, "gen_ai.usage.cost.amount", &amount) && amount >= 0 &&
        (!cur || strcasecmp(cur, "USD") == 0))
        cost = amount;
    if (otlp_attr_double(&m->v, "llm.cost.total", &amount) && amount >= 0 && cost < 0)
        cost = amount;
    if (!has_in && !has_out && !has_cached && cost < 0) return 0;
    Agenttrail__V1__Usage *u = malloc(sizeof *u);
    if (!u) return OTLP_ENOMEM;
    agenttrail__v1__usage__init(u);
    ev->usage = u;
    /* input_tokens counts cached ones (EVENTS.md); an instrumentation that counts them apart
     * (Anthropic's way) gives cached > input: add them. */
    if (has_cached && cached > in) in += cached, has_in = true;
    u->has_input_tokens = has_in, u->input_tokens = in;
    u->has_output_tokens = has_out, u->output_tokens = out;
    u->has_cached_tokens = has_cached, u->cached_tokens = cached;
    if (cost >= 0 && cost < 9e12)
        u->has_cost_usd_micros = 1, u->cost_usd_micros = (uint64_t)llround(cost * 1e6);
    return 0;
}

static int set_model(span_map *m, tp_event *ev)
{
    static const char *const names[] = {"gen_ai.response.model", "gen_ai.request.model",
                                        "llm.model_name",        "ai.response.model",
                                        "ai.model.id",           NULL};
    static const char *const providers[] = {"gen_ai.provider.name", "gen_ai.system",
                                            "llm.provider",         "llm.system",
                                            "ai.model.provider",    NULL};
    const char *name = first_str(&m->v, names), *prov = first_str(&m->v, providers);
    if (!name && !prov) return 0;
    /* A prompt needs both; a span that names its model but not the provider still counts. */
    if (name && !prov) prov = "unknown";
    ev->model = malloc(sizeof *ev->model);
    if (!ev->model) return OTLP_ENOMEM;
    agenttrail__v1__model__init(ev->model);
    ev->model->name = xdup(name);
    ev->model->provider = xdup(prov);
    return (name && !ev->model->name) || (prov && !ev->model->provider) ? OTLP_ENOMEM : 0;
}

/* The prompt HMAC over the span's input content: the text of every input-content attribute
 * (map_attr.c), in the span's order, joined by "\n". */
static int set_prompt(span_map *m, tp_event *ev)
{
    at_buf b = {0};
    size_t parts = 0;
    for (size_t i = 0; i < m->v.n_attrs; i++) {
        if (!otlp_key_is_prompt_input(m->v.attrs[i]->key) || !m->v.attrs[i]->value) continue;
        if (parts++) at_buf_putc(&b, '\n');
        otlp_any_text(m->v.attrs[i]->value, &b);
    }
    char tmp[64];
    const char *ver = otlp_attr_str(&m->v, "llm.prompt_template.version", tmp, sizeof tmp);
    if (b.failed) {
        at_buf_free(&b);
        return OTLP_ENOMEM;
    }
    if (!parts && !ver) return 0;
    ev->prompt = malloc(sizeof *ev->prompt);
    if (!ev->prompt) {
        at_buf_free(&b);
        return OTLP_ENOMEM;
    }
    agenttrail__v1__prompt__init(ev->prompt);
    int rc = 0;
    if (parts) {
        uint8_t *h = malloc(32);
        if (!h)
            rc = OTLP_ENOMEM;
        else if (tp_hmac_sha256(m->c->o->hmac_key, TP_HMAC_KEY_LEN, (const uint8_t *)b.data, b.len,
                                h))
            rc = OTLP_ECRYPTO;
        if (h) ev->prompt->hmac_sha256.data = h, ev->prompt->hmac_sha256.len = 32;
        ev->prompt->has_hmac_sha256 = h != NULL;
    }
    if (!rc && ver && !(ev->prompt->template_version = strdup(ver))) rc = OTLP_ENOMEM;
    if (b.data) memset(b.data, 0, b.len); /* the content leaves no copy behind */
    at_buf_free(&b);
    return rc;
}

/* Arguments as JSON text: JSON as it is, any other text as a JSON string. NULL: out of
 * memory. */
static char *json_text(const char *s)
{
    json_t *j;
    if (otlp_json_load(s, strlen(s), JSON_DECODE_ANY, &j)) return NULL;
    if (j) {
        json_decref(j);
        return strdup(s);
    }
    /* not UTF-8: kept as it is, so validation names the field and rejects the span */
    if (!otlp_utf8_valid(s, strlen(s))) return strdup(s);
    json_t *str = json_string(s);
    char *out = str ? json_dumps(str, JSON_ENCODE_ANY) : NULL;
    json_decref(str);
    return out;
}

static int set_tool(span_map *m, tp_event *ev, const char *name, const char *args)
{
    ev->tool_call = malloc(sizeof *ev->tool_call);
    if (!ev->tool_call) return OTLP_ENOMEM;
    agenttrail__v1__tool_call__init(ev->tool_call);
    if (!(ev->tool_call->name = xdup(name)) && name) return OTLP_ENOMEM;
    if (args && *args && !(ev->tool_call->arguments = json_text(args))) return OTLP_ENOMEM;
    (void)m;
    return 0;
}

static int tool_span(span_map *m, tp_event *ev)
{
    static const char *const names[] = {"gen_ai.tool.name", "tool.name", "ai.toolCall.name", NULL};
    static const char *const args_keys[] = {"gen_ai.tool.call.arguments", "ai.toolCall.args",
                                            "ai.toolCall.input", NULL};
    const char *name = first_str(&m->v, names);
    if (!name && m->cls.dialect == OTLP_DIALECT_OPENLLMETRY)
        name = first_str(&m->v, (const char *const[]){"traceloop.entity.name", NULL});
    if (!name && m->s->name[0]) name = m->s->name;
    const char *args = first_str(&m->v, args_keys);
    at_buf b = {0};
    if (!args) { /* OpenInference and OpenLLMetry give a tool's input as the span's input */
        const char *const in[] = {
            m->cls.dialect == OTLP_DIALECT_OPENINFERENCE ? "input.value" : "traceloop.entity.input",
            NULL};
        const otlp_any *a = otlp_attr(&m->v, in[0]);
        if (a) otlp_any_text(a, &b);
        if (b.failed) {
            at_buf_free(&b);
            return OTLP_ENOMEM;
        }
        args = b.data;
    }
    int rc = set_tool(m, ev, name, args);
    at_buf_free(&b);
    if (rc) return rc;
    const Opentelemetry__Proto__Trace__V1__Status *st = m->s->status;
    ev->tool_call->has_status = 1;
    ev->tool_call->status = AGENTTRAIL__V1__TOOL_STATUS__TOOL_OK;
    if (st && st->code == OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR) {
        ev->tool_call->status = AGENTTRAIL__V1__TOOL_STATUS__TOOL_ERROR;
        const char *msg = st->message[0] ? st->message : "error";
        if (!(ev->tool_call->error = strdup(msg))) return OTLP_ENOMEM;
    }
    return 0;
}

static int add_context_id(tp_event *ev, const char *id)
{
    if (!id || !*id) return 0;
    char **ids = realloc(ev->context_ids, (ev->n_context_ids + 1) * sizeof *ids);
    if (!ids) return OTLP_ENOMEM;
    ev->context_ids = ids;
    if (!(ids[ev->n_context_ids] = strdup(id))) return OTLP_ENOMEM;
    ev->n_context_ids++;
    return 0;
}

static int retrieval_span(span_map *m, tp_event *ev)
{
    int rc = 0;
    char tmp[64];
    for (size_t i = 0; i < m->v.n_attrs && !rc; i++) {
        const char *k = m->v.attrs[i]->key;
        size_t n = strlen(k);
        if (strncmp(k, "retrieval.documents.", 20) == 0 && n > 12 &&
            strcmp(k + n - 12, ".document.id") == 0)
            rc = add_context_id(ev, otlp_attr_str(&m->v, k, tmp, sizeof tmp));
    }
    const otlp_any *docs = otlp_attr(&m->v, "gen_ai.retrieval.documents");
    if (docs && !rc) {
        at_buf b = {0};
        otlp_any_text(docs, &b);
        json_t *j = NULL;
        rc = b.failed ? OTLP_ENOMEM : otlp_json_load(b.data, b.len, 0, &j);
        at_buf_free(&b);
        for (size_t i = 0; json_is_array(j) && i < json_array_size(j) && !rc; i++) {
            json_t *id = json_object_get(json_array_get(j, i), "id");
            if (json_is_string(id)) rc = add_context_id(ev, json_string_value(id));
        }
        json_decref(j);
    }
    const char *src = otlp_attr_str(&m->v, "gen_ai.data_source.id", tmp, sizeof tmp);
    if (!rc && !ev->n_context_ids && src) rc = add_context_id(ev, src);
    if (!rc && !ev->n_context_ids) { /* a retrieval that names no document: a note of it */
        ev->kind = AGENTTRAIL__V1__KIND__NOTE;
        if (!(ev->note = strdup("retrieval (no document ids)"))) rc = OTLP_ENOMEM;
    }
    return rc;
}

static int note_of(span_map *m, tp_event *ev, const char *what)
{
    at_buf b = {0};
    at_buf_puts(&b, what);
    if (m->s->name[0] && strcmp(m->s->name, what) != 0) at_buf_printf(&b, ": %s", m->s->name);
    ev->note = at_buf_take(&b, NULL);
    return ev->note ? 0 : OTLP_ENOMEM;
}

static int dup_bytes(ProtobufCBinaryData *dst, protobuf_c_boolean *has,
                     const ProtobufCBinaryData *src)
{
    if (!src->len) return 0;
    if (!(dst->data = malloc(src->len))) return OTLP_ENOMEM;
    memcpy(dst->data, src->data, src->len);
    dst->len = src->len;
    *has = 1;
    return 0;
}

/* A new event of the span: the first is the span's own; the others (derived events) start
 * with the shared fields of the first (ids, time, workflow, DRI, service, environment, actor,
 * incident, model). */
static int new_event(span_map *m, uint32_t sub, tp_event **out)
{
    *out = NULL;
    if (m->n >= sizeof m->evs / sizeof m->evs[0]) return 0;
    tp_event *ev = tp_event_new();
    if (!ev) return OTLP_ENOMEM;
    m->evs[m->n] = ev;
    m->subs[m->n++] = sub;
    *out = ev;
    if (m->n == 1) return 0;
    const tp_event *b = m->evs[0];
    if (dup_bytes(&ev->trace_id, &ev->has_trace_id, &b->trace_id) ||
        dup_bytes(&ev->span_id, &ev->has_span_id, &b->span_id) ||
        dup_bytes(&ev->parent_span_id, &ev->has_parent_span_id, &b->parent_span_id))
        return OTLP_ENOMEM;
    ev->has_time_unix_nano = b->has_time_unix_nano, ev->time_unix_nano = b->time_unix_nano;
    ev->has_duration_nano = b->has_duration_nano, ev->duration_nano = b->duration_nano;
    if ((b->workflow && !(ev->workflow = strdup(b->workflow))) ||
        (b->dri && !(ev->dri = strdup(b->dri))) ||
        (b->service && !(ev->service = strdup(b->service))) ||
        (b->environment && !(ev->environment = strdup(b->environment))) ||
        (b->actor && !(ev->actor = strdup(b->actor))) ||
        (b->incident && !(ev->incident = strdup(b->incident))))
        return OTLP_ENOMEM;
    if (b->model) {
        if (!(ev->model = malloc(sizeof *ev->model))) return OTLP_ENOMEM;
        agenttrail__v1__model__init(ev->model);
        if ((b->model->name && !(ev->model->name = strdup(b->model->name))) ||
            (b->model->provider && !(ev->model->provider = strdup(b->model->provider))))
            return OTLP_ENOMEM;
    }
    return 0;
}

static int set_kind(tp_event *ev, Agenttrail__V1__Kind k)
{
    ev->has_kind = 1;
    ev->kind = k;
    return 0;
}

/* The shared fields of the span's own event. The DRI: agenttrail.dri, else the owners file;
 * NULL dri leaves the span to be rejected. */
static int fill_base(span_map *m, tp_event *ev, const char **wf_out)
{
    const otlp_span *s = m->s;
    if (dup_bytes(&ev->trace_id, &ev->has_trace_id, &s->trace_id) ||
        dup_bytes(&ev->span_id, &ev->has_span_id, &s->span_id) ||
        dup_bytes(&ev->parent_span_id, &ev->has_parent_span_id, &s->parent_span_id))
        return OTLP_ENOMEM;
    if (s->start_time_unix_nano)
        ev->has_time_unix_nano = 1, ev->time_unix_nano = s->start_time_unix_nano;
    if (s->start_time_unix_nano && s->end_time_unix_nano >= s->start_time_unix_nano)
        ev->has_duration_nano = 1,
        ev->duration_nano = s->end_time_unix_nano - s->start_time_unix_nano;
    const char *wf = workflow_of(m);
    const char *svc = otlp_res_str(&m->v, "service.name");
    const char *env = otlp_res_str(&m->v, "deployment.environment.name");
    if (!env) env = otlp_res_str(&m->v, "deployment.environment");
    const char *dri = agenttrail_attr(m, "agenttrail.dri");
    if (!dri) dri = otlp_owners_find(m->c->o->owners, wf, svc);
    const char *inc = agenttrail_attr(m, "agenttrail.incident");
    const char *actor = agenttrail_attr(m, "agenttrail.actor");
    if (!actor)
        actor = first_str(&m->v, (const char *const[]){"gen_ai.agent.name", "agent.name", NULL});
    *wf_out = wf;
    if ((wf && !(ev->workflow = strdup(wf))) || (dri && !(ev->dri = strdup(dri))) ||
        (svc && !(ev->service = strdup(svc))) || (env && !(ev->environment = strdup(env))) ||
        (inc && !(ev->incident = strdup(inc))) || (actor && !(ev->actor = strdup(actor))))
        return OTLP_ENOMEM;
    return 0;
}

/* agenttrail.outcome.* as an outcome event (the span's own when agenttrail.kind says outcome). */
static int outcome_fields(span_map *m, tp_event *ev)
{
    char tmp[64];
    const char *d = otlp_attr_str(&m->v, "agenttrail.outcome.decision", tmp, sizeof tmp);
    set_kind(ev, AGENTTRAIL__V1__KIND__OUTCOME);
    if (!(ev->outcome = malloc(sizeof *ev->outcome))) return OTLP_ENOMEM;
    agenttrail__v1__outcome__init(ev->outcome);
    int dec = d ? tp_decision_parse(d) : -1;
    if (dec > 0)
        ev->outcome->has_decision = 1, ev->outcome->decision = (Agenttrail__V1__Decision)dec;
    const char *by = first_str(&m->v, (const char *const[]){"agenttrail.outcome.by", NULL});
    if (by && !(ev->outcome->by = strdup(by))) return OTLP_ENOMEM;
    uint64_t ed;
    if (otlp_attr_u64(&m->v, "agenttrail.outcome.edit_distance", &ed))
        ev->outcome->has_edit_distance = 1, ev->outcome->edit_distance = ed;
    if (by && !ev->actor && !(ev->actor = strdup(by))) return OTLP_ENOMEM;
    return 0;
}

static int approval_fields(span_map *m, tp_event *ev)
{
    char tmp[64];
    set_kind(ev, AGENTTRAIL__V1__KIND__APPROVAL);
    if (!(ev->approval = malloc(sizeof *ev->approval))) return OTLP_ENOMEM;
    agenttrail__v1__approval__init(ev->approval);
    Agenttrail__V1__Approval *a = ev->approval;
    const char *d = otlp_attr_str(&m->v, "agenttrail.approval.decision", tmp, sizeof tmp);
    int dec = d ? tp_approval_decision_parse(d) : -1;
    if (dec > 0) a->has_decision = 1, a->decision = (Agenttrail__V1__ApprovalDecision)dec;
    const char *cp =
        first_str(&m->v, (const char *const[]){"agenttrail.approval.checkpoint", NULL});
    const char *ap = first_str(&m->v, (const char *const[]){"agenttrail.approval.approver", NULL});
    const char *re = first_str(&m->v, (const char *const[]){"agenttrail.approval.reason", NULL});
    if ((cp && !(a->checkpoint = strdup(cp))) || (ap && !(a->approver = strdup(ap))) ||
        (re && !(a->reason = strdup(re))))
        return OTLP_ENOMEM;
    return 0;
}

/* The span's own event, by role. */
static int own_event(span_map *m, tp_event *ev)
{
    int rc = 0;
    char tmp[64];
    switch (m->cls.role) {
    case OTLP_ROLE_LLM:
        set_kind(ev, AGENTTRAIL__V1__KIND__PROMPT);
        if (!(rc = set_model(m, ev)) && !(rc = set_prompt(m, ev))) rc = set_usage(m, ev);
        return rc;
    case OTLP_ROLE_TOOL:
        set_kind(ev, AGENTTRAIL__V1__KIND__TOOL_CALL);
        if (!(rc = set_model(m, ev))) rc = tool_span(m, ev);
        return rc;
    case OTLP_ROLE_RETRIEVAL:
        set_kind(ev, AGENTTRAIL__V1__KIND__RETRIEVAL);
        return retrieval_span(m, ev);
    case OTLP_ROLE_AGENTTRAIL: {
        int k = tp_kind_parse(m->cls.label);
        otlp_attr(&m->v, "agenttrail.kind");
        if (k == AGENTTRAIL__V1__KIND__OUTCOME) return outcome_fields(m, ev);
        if (k == AGENTTRAIL__V1__KIND__APPROVAL) return approval_fields(m, ev);
        set_kind(ev, AGENTTRAIL__V1__KIND__NOTE);
        const char *note = otlp_attr_str(&m->v, "agenttrail.note", tmp, sizeof tmp);
        return note_of(m, ev, note ? note : m->cls.label);
    }
    default:
        set_kind(ev, AGENTTRAIL__V1__KIND__NOTE);
        if (!(rc = set_model(m, ev))) rc = note_of(m, ev, m->cls.label);
        return rc;
    }
}

/* Derived events: tool calls requested in an LLM span's output that no tool span of the
 * request carries out (sub-index 16 + i), agenttrail.outcome.* (1) and agenttrail.approval.*
 * (2) on a span whose own event is of another kind. */
static int derived_events(span_map *m)
{
    tp_event *ev;
    int rc = 0;
    const tp_event *own = m->evs[0];
    if (own->kind != AGENTTRAIL__V1__KIND__OUTCOME &&
        otlp_attr(&m->v, "agenttrail.outcome.decision")) {
        if ((rc = new_event(m, 1, &ev)) || !ev || (rc = outcome_fields(m, ev))) return rc;
    }
    if (own->kind != AGENTTRAIL__V1__KIND__APPROVAL &&
        otlp_attr(&m->v, "agenttrail.approval.decision")) {
        if ((rc = new_event(m, 2, &ev)) || !ev || (rc = approval_fields(m, ev))) return rc;
    }
    if (m->cls.role != OTLP_ROLE_LLM) return 0;
    otlp_req_tool *t = NULL;
    size_t n = 0;
    if (otlp_requested_tools(&m->v, &t, &n)) return OTLP_ENOMEM;
    for (size_t i = 0; i < n && !rc; i++) {
        if (otlp_has_tool_span(m->c, t[i].id)) continue;
        if ((rc = new_event(m, 16 + (uint32_t)i, &ev)) || !ev) break;
        set_kind(ev, AGENTTRAIL__V1__KIND__TOOL_CALL);
        if ((rc = set_tool(m, ev, t[i].name, t[i].arguments))) break;
        ev->has_duration_nano = 0, ev->duration_nano = 0;
        if (!(ev->attributes = calloc(2, sizeof *ev->attributes))) rc = OTLP_ENOMEM;
        for (int a = 0; a < 2 && !rc; a++) {
            const char *k = a ? "gen_ai.tool.call.id" : "agenttrail.requested_by";
            const char *val = a ? t[i].id : "llm_output";
            if (!val) continue;
            Agenttrail__V1__Attribute *at = malloc(sizeof *at);
            if (!at) {
                rc = OTLP_ENOMEM;
                break;
            }
            agenttrail__v1__attribute__init(at);
            ev->attributes[ev->n_attributes++] = at;
            if (!(at->key = strdup(k)) || !(at->value = strdup(val))) rc = OTLP_ENOMEM;
        }
    }
    otlp_req_tools_free(t, n);
    return rc;
}

static int add_attr(tp_event *ev, size_t *cap, const char *k, const char *val)
{
    if (at_grow((void **)&ev->attributes, cap, ev->n_attributes + 1, sizeof *ev->attributes, 8))
        return OTLP_ENOMEM;
    Agenttrail__V1__Attribute *a = malloc(sizeof *a);
    if (!a) return OTLP_ENOMEM;
    agenttrail__v1__attribute__init(a);
    ev->attributes[ev->n_attributes++] = a;
    if (!(a->key = strdup(k)) || !(a->value = strdup(val))) return OTLP_ENOMEM;
    return 0;
}

static bool has_key(const tp_event *ev, const char *k)
{
    for (size_t i = 0; i < ev->n_attributes; i++)
        if (strcmp(ev->attributes[i]->key, k) == 0) return true;
    return false;
}

/* Keeps a candidate attribute when it fits: within attributes_max (one place is left for the
 * count of dropped ones), key and value non-empty UTF-8 within string_max, key not seen. */
static int keep(span_map *m, tp_event *ev, size_t *cap, const char *k, const char *val,
                size_t *dropped)
{
    const tp_limits *lim = m->c->o->limits;
    size_t kl = strlen(k), vl = strlen(val);
    if (!kl || !vl || has_key(ev, k)) return 0; /* empty: nothing to keep; duplicate: the first */
    if (ev->n_attributes + 1 >= lim->attributes_max || kl > lim->string_max ||
        vl > lim->string_max || !otlp_utf8_valid(k, kl) || !otlp_utf8_valid(val, vl)) {
        (*dropped)++;
        return 0;
    }
    return add_attr(ev, cap, k, val);
}

/* The span's attributes that nothing mapped and that are not content, after otel.span.name,
 * otel.scope.name and the status of a span that is not a tool call. */
static int keep_attributes(span_map *m, tp_event *ev)
{
    size_t cap = 0, dropped = 0;
    int rc = keep(m, ev, &cap, "otel.span.name", m->s->name, &dropped);
    if (!rc) rc = keep(m, ev, &cap, "otel.scope.name", m->v.scope_name, &dropped);
    const Opentelemetry__Proto__Trace__V1__Status *st = m->s->status;
    if (!rc && st &&
        st->code == OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR &&
        !ev->tool_call) {
        rc = keep(m, ev, &cap, "otel.status_code", "ERROR", &dropped);
        if (!rc) rc = keep(m, ev, &cap, "otel.status_message", st->message, &dropped);
    }
    for (size_t i = 0; i < m->v.n_attrs && !rc; i++) {
        const otlp_kv *kv = m->v.attrs[i];
        if (m->v.used[i] || !kv->value || otlp_key_is_content(kv->key)) continue;
        at_buf b = {0};
        otlp_any_text(kv->value, &b);
        if (b.failed) {
            at_buf_free(&b);
            return OTLP_ENOMEM;
        }
        rc = keep(m, ev, &cap, kv->key, b.data ? b.data : "", &dropped);
        at_buf_free(&b);
    }
    if (!rc && dropped) {
        char n[32];
        snprintf(n, sizeof n, "%zu", dropped);
        rc = add_attr(ev, &cap, ATTR_DROPPED, n);
    }
    return rc;
}

/* Validates the span's events and hands them to the result, or rejects the span. */
static int commit(span_map *m)
{
    const tp_limits *lim = m->c->o->limits;
    for (size_t i = 0; i < m->n; i++) {
        uint8_t *id = malloc(16);
        if (!id) return OTLP_ENOMEM;
        tp_event *ev = m->evs[i];
        ev->event_id.data = id, ev->event_id.len = 16, ev->has_event_id = 1;
        if (otlp_event_id(m->s, m->subs[i], id)) return OTLP_ECRYPTO;
        at_error verr;
        int vrc = tp_event_validate(ev, lim, &verr);
        if (vrc == TP_ENOMEM) return OTLP_ENOMEM; /* its JSON check ran out of memory */
        if (vrc != TP_OK) {
            otlp_reject(m->c, m->s, "%s%s: %s", i ? "derived event: " : "", verr.where, verr.what);
            return 0;
        }
        uint8_t *packed = NULL;
        size_t len = 0;
        if (tp_event_pack(ev, &packed, &len)) return OTLP_ENOMEM;
        free(packed);
        if (len > lim->event_max) {
            otlp_reject(m->c, m->s, "-: the event is %zu bytes, over the limit of %zu", len,
                        lim->event_max);
            return 0;
        }
    }
    otlp_result *r = m->c->out;
    if (at_grow((void **)&r->events, &m->c->events_cap, r->n_events + m->n, sizeof *r->events, 64))
        return OTLP_ENOMEM;
    for (size_t i = 0; i < m->n; i++) {
        r->events[r->n_events++] = m->evs[i];
        m->evs[i] = NULL;
    }
    m->n = 0;
    return 0;
}

static int map_built(span_map *m)
{
    tp_event *ev;
    const char *wf = NULL;
    int rc = new_event(m, 0, &ev);
    if (!rc) rc = fill_base(m, ev, &wf);
    if (rc) return rc;
    if (!ev->dri) {
        otlp_reject(m->c, m->s,
                    "dri: no agenttrail.dri attribute and no line of the owners file matches "
                    "workflow \"%s\" or service \"%s\"",
                    wf ? wf : "", ev->service ? ev->service : "");
        return 0;
    }
    if (!ev->workflow) {
        otlp_reject(m->c, m->s, "workflow: no agenttrail.workflow, workflow name or service.name");
        return 0;
    }
    if ((rc = own_event(m, ev)) || (rc = derived_events(m)) || (rc = keep_attributes(m, ev)))
        return rc;
    return commit(m);
}

int otlp_map_span(otlp_map_ctx *c, const otlp_rspans *rs, const otlp_sspans *ss, const otlp_span *s)
{
    span_map m = {.c = c, .s = s};
    m.v.span = s;
    m.v.attrs = (const otlp_kv *const *)s->attributes;
    m.v.n_attrs = s->n_attributes;
    m.v.res = rs->resource ? (const otlp_kv *const *)rs->resource->attributes : NULL;
    m.v.n_res = rs->resource ? rs->resource->n_attributes : 0;
    m.v.scope_name = ss->scope ? ss->scope->name : "";
    m.v.used = calloc(s->n_attributes + 1, sizeof *m.v.used);
    if (!m.v.used) return OTLP_ENOMEM;
    m.cls = otlp_classify(&m.v);
    c->out->by_dialect[m.cls.dialect]++;
    int rc = 0;
    if (m.cls.role == OTLP_ROLE_NONE)
        c->out->n_not_ai++;
    else
        rc = map_built(&m);
    for (size_t i = 0; i < m.n; i++)
        tp_event_destroy(&m.evs[i]);
    free(m.v.used);
    return rc;
}
