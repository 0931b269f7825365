/*
 * stats_calc.c - one-pass aggregation of events into groups (see stats_calc.h).
 *
 * Responsibility: the arithmetic of `trace-query stats`.
 * Owns: groups (open-addressed hash on the key), the links row, traces (open-addressed hash on
 * the 16-byte trace id, each with the list of groups it appeared in; LINKS_ROW stands for the
 * links row).
 * Invariants: both hash tables are at most half full; group indexes are stable until
 * qstats_finish sorts them (the per-trace lists are consumed before the sort).
 * Threading: a qstats is used by one thread.
 */
#include "stats_calc.h"

#include <stdlib.h>
#include <string.h>

#include "atcommon.h"

static const char *const by_names[QBY_COUNT] = {"workflow", "dri",  "model",
                                                "service",  "tool", "source"};

const char *qstats_by_name(int by)
{
    return by >= 0 && by < QBY_COUNT ? by_names[by] : NULL;
}

int qstats_by_parse(const char *name)
{
    for (int i = 0; i < QBY_COUNT; i++)
        if (strcmp(by_names[i], name) == 0) return i;
    return -1;
}

typedef struct strace {
    uint8_t id[16];
    uint8_t used;
    uint8_t has_outcome;
    uint32_t ngroups, capgroups;
    uint32_t *groups;
} strace;

struct qstats {
    int by;
    qstats_group *groups;
    size_t ngroups, capgroups;
    int32_t *gslots; /* index into groups, -1 empty */
    size_t gslots_cap;
    int none_group;      /* index of the group without a key, -1 when none yet */
    qstats_group *links; /* the incident_link events, NULL until the first */
    strace *traces;
    size_t ntraces, traces_cap;
};

static uint64_t hash_bytes(const void *p, size_t n)
{
    /* FNV-1a: keys are short and trusted enough (they come from our own store). */
    const unsigned char *b = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ull;
    }
    return h;
}

qstats *qstats_new(int by)
{
    qstats *st = calloc(1, sizeof *st);
    if (!st) return NULL;
    st->by = by;
    st->none_group = -1;
    st->gslots_cap = 64;
    st->gslots = malloc(st->gslots_cap * sizeof *st->gslots);
    st->traces_cap = 1024;
    st->traces = calloc(st->traces_cap, sizeof *st->traces);
    if (!st->gslots || !st->traces) {
        qstats_destroy(&st);
        return NULL;
    }
    for (size_t i = 0; i < st->gslots_cap; i++)
        st->gslots[i] = -1;
    return st;
}

static const char *group_key(const qstats *st, const tp_event *ev)
{
    switch (st->by) {
    case QBY_WORKFLOW:
        return ev->workflow;
    case QBY_DRI:
        return ev->dri;
    case QBY_MODEL:
        return ev->model ? ev->model->name : NULL;
    case QBY_SERVICE:
        return ev->service;
    case QBY_TOOL:
        return ev->tool_call ? ev->tool_call->name : NULL;
    case QBY_SOURCE:
        return ev->stored ? ev->stored->source : NULL;
    default:
        return NULL;
    }
}

static int gslots_grow(qstats *st)
{
    size_t cap = st->gslots_cap * 2;
    int32_t *s = malloc(cap * sizeof *s);
    if (!s) return -1;
    for (size_t i = 0; i < cap; i++)
        s[i] = -1;
    for (size_t g = 0; g < st->ngroups; g++) {
        const char *k = st->groups[g].key;
        if (!k) continue;
        size_t i = hash_bytes(k, strlen(k)) & (cap - 1);
        while (s[i] >= 0)
            i = (i + 1) & (cap - 1);
        s[i] = (int32_t)g;
    }
    free(st->gslots);
    st->gslots = s;
    st->gslots_cap = cap;
    return 0;
}

static int new_group(qstats *st, const char *key)
{
    if (at_grow((void **)&st->groups, &st->capgroups, st->ngroups + 1, sizeof *st->groups, 16))
        return -1;
    qstats_group *g = &st->groups[st->ngroups];
    memset(g, 0, sizeof *g);
    if (key) {
        g->key = strdup(key);
        if (!g->key) return -1;
    }
    return (int)st->ngroups++;
}

/* The group index of `key`, created on first sight; -1 when out of memory. */
static int group_for(qstats *st, const char *key)
{
    if (!key) {
        if (st->none_group < 0) st->none_group = new_group(st, NULL);
        return st->none_group;
    }
    size_t mask = st->gslots_cap - 1;
    size_t i = hash_bytes(key, strlen(key)) & mask;
    while (st->gslots[i] >= 0) {
        if (strcmp(st->groups[st->gslots[i]].key, key) == 0) return st->gslots[i];
        i = (i + 1) & mask;
    }
    int g = new_group(st, key);
    if (g < 0) return -1;
    st->gslots[i] = g;
    if ((st->ngroups + 1) * 2 > st->gslots_cap && gslots_grow(st) != 0) return -1;
    return g;
}

static int traces_grow(qstats *st)
{
    size_t cap = st->traces_cap * 2;
    strace *t = calloc(cap, sizeof *t);
    if (!t) return -1;
    for (size_t k = 0; k < st->traces_cap; k++) {
        if (!st->traces[k].used) continue;
        size_t i = hash_bytes(st->traces[k].id, 16) & (cap - 1);
        while (t[i].used)
            i = (i + 1) & (cap - 1);
        t[i] = st->traces[k];
    }
    free(st->traces);
    st->traces = t;
    st->traces_cap = cap;
    return 0;
}

static strace *trace_for(qstats *st, const uint8_t id[16])
{
    if ((st->ntraces + 1) * 2 > st->traces_cap && traces_grow(st) != 0) return NULL;
    size_t mask = st->traces_cap - 1;
    size_t i = hash_bytes(id, 16) & mask;
    while (st->traces[i].used) {
        if (memcmp(st->traces[i].id, id, 16) == 0) return &st->traces[i];
        i = (i + 1) & mask;
    }
    strace *t = &st->traces[i];
    memcpy(t->id, id, 16);
    t->used = 1;
    st->ntraces++;
    return t;
}

/* The group index of the links row in a trace's list of groups. */
#define LINKS_ROW UINT32_MAX

static int trace_join(strace *t, uint32_t g)
{
    for (uint32_t i = 0; i < t->ngroups; i++)
        if (t->groups[i] == g) return 0;
    size_t cap = t->capgroups; /* uint32_t in strace: one per trace, kept small */
    if (at_grow((void **)&t->groups, &cap, (size_t)t->ngroups + 1, sizeof *t->groups, 2)) return -1;
    t->capgroups = (uint32_t)cap;
    t->groups[t->ngroups++] = g;
    return 0;
}

static int durations_add(qstats_durations *d, uint64_t ns)
{
    if (at_grow((void **)&d->ns, &d->cap, d->n + 1, sizeof *d->ns, 64)) return -1;
    d->ns[d->n++] = ns;
    return 0;
}

static void account_usage(qstats_group *g, const tp_event *ev, int kind)
{
    const Agenttrail__V1__Usage *u = ev->usage;
    if (u) {
        g->input_tokens += u->input_tokens;
        g->output_tokens += u->output_tokens;
        g->cached_tokens += u->cached_tokens;
        g->cost_usd_micros += u->cost_usd_micros;
    }
    /* A cost of 0 that was stated is a price; a missing one is unknown, not free. */
    if (u && u->has_cost_usd_micros)
        g->priced_events++;
    else if (kind == AGENTTRAIL__V1__KIND__PROMPT)
        g->unpriced_calls++;
}

/* The per-event figures of `g` (everything but the trace-level ones). 0, or -1 (memory). */
static int account_event(qstats_group *g, const tp_event *ev, int kind)
{
    g->events++;
    if (kind > 0 && kind < QSTATS_KINDS) g->by_kind[kind]++;
    if (ev->dri && ev->dri[0]) g->dri_events++;
    if (kind == AGENTTRAIL__V1__KIND__OUTCOME && ev->outcome && ev->outcome->has_decision &&
        ev->outcome->decision > 0 && ev->outcome->decision < QSTATS_DECISIONS)
        g->outcomes[ev->outcome->decision]++;
    account_usage(g, ev, kind);
    if (ev->tool_call && ev->tool_call->has_status) {
        if (ev->tool_call->status == AGENTTRAIL__V1__TOOL_STATUS__TOOL_BLOCKED)
            g->tool_calls_blocked++;
        else if (ev->tool_call->status == AGENTTRAIL__V1__TOOL_STATUS__TOOL_ERROR)
            g->tool_calls_error++;
    }
    g->redactions += ev->redactions;
    int dk = kind == AGENTTRAIL__V1__KIND__PROMPT      ? QDUR_LLM
             : kind == AGENTTRAIL__V1__KIND__TOOL_CALL ? QDUR_TOOL
                                                       : -1;
    if (dk >= 0 && ev->has_duration_nano && durations_add(&g->dur[dk], ev->duration_nano) != 0)
        return -1;
    return 0;
}

/* A link event: its figures go to the links row, which joins the traces the link names. The
 * link's own trace id only carries the event: it is no trace of any group. */
static int add_link(qstats *st, const tp_event *ev, int kind)
{
    if (!st->links) {
        st->links = calloc(1, sizeof *st->links);
        if (!st->links) return -1;
        st->links->is_links = 1;
    }
    if (account_event(st->links, ev, kind) != 0) return -1;
    for (size_t i = 0; ev->link && i < ev->link->n_trace_ids; i++) {
        if (ev->link->trace_ids[i].len != 16) continue;
        strace *t = trace_for(st, ev->link->trace_ids[i].data);
        if (!t || trace_join(t, LINKS_ROW) != 0) return -1;
    }
    return 0;
}

int qstats_add(qstats *st, const tp_event *ev)
{
    int kind = ev->has_kind ? (int)ev->kind : 0;
    if (kind == AGENTTRAIL__V1__KIND__INCIDENT_LINK) return add_link(st, ev, kind);
    int gi = group_for(st, group_key(st, ev));
    if (gi < 0) return -1;
    if (account_event(&st->groups[gi], ev, kind) != 0) return -1;
    if (ev->has_trace_id && ev->trace_id.len == 16) {
        strace *t = trace_for(st, ev->trace_id.data);
        if (!t || trace_join(t, (uint32_t)gi) != 0) return -1;
        if (kind == AGENTTRAIL__V1__KIND__OUTCOME && ev->outcome) t->has_outcome = 1;
    }
    return 0;
}

static int cmp_group(const void *a, const void *b)
{
    const qstats_group *x = a, *y = b;
    if (!x->key || !y->key) return !x->key - !y->key; /* the keyless group last */
    return strcmp(x->key, y->key);
}

static void finish_group(qstats_group *g)
{
    g->outcome_events = 0;
    for (int d = 1; d < QSTATS_DECISIONS; d++)
        g->outcome_events += g->outcomes[d];
    for (int k = 0; k < QDUR_KINDS; k++)
        if (g->dur[k].n > 1) qsort(g->dur[k].ns, g->dur[k].n, sizeof(uint64_t), at_cmp_u64);
}

int qstats_finish(qstats *st)
{
    for (size_t k = 0; k < st->traces_cap; k++) {
        strace *t = &st->traces[k];
        if (!t->used) continue;
        for (uint32_t i = 0; i < t->ngroups; i++) {
            qstats_group *g = t->groups[i] == LINKS_ROW ? st->links : &st->groups[t->groups[i]];
            g->traces++;
            g->outcome_traces += t->has_outcome;
        }
        free(t->groups);
        t->groups = NULL;
        t->ngroups = t->capgroups = 0;
    }
    for (size_t i = 0; i < st->ngroups; i++)
        finish_group(&st->groups[i]);
    if (st->links) finish_group(st->links);
    if (st->ngroups > 1) qsort(st->groups, st->ngroups, sizeof *st->groups, cmp_group);
    /* The hash slots point at pre-sort indexes: no more qstats_add after this. */
    return 0;
}

size_t qstats_ngroups(const qstats *st)
{
    return st->ngroups;
}

const qstats_group *qstats_group_at(const qstats *st, size_t i)
{
    return i < st->ngroups ? &st->groups[i] : NULL;
}

const qstats_group *qstats_links(const qstats *st)
{
    return st->links;
}

int qstats_percentile(const qstats_group *g, int dur_kind, unsigned p, uint64_t *out)
{
    if (dur_kind < 0 || dur_kind >= QDUR_KINDS || p == 0 || p > 100) return -1;
    const qstats_durations *d = &g->dur[dur_kind];
    if (!d->n) return -1;
    size_t rank = (p * d->n + 99) / 100; /* ceil(p * n / 100) */
    if (rank < 1) rank = 1;
    *out = d->ns[rank - 1];
    return 0;
}

static void free_group(qstats_group *g)
{
    free(g->key);
    for (int k = 0; k < QDUR_KINDS; k++)
        free(g->dur[k].ns);
}

void qstats_destroy(qstats **stp)
{
    if (!stp || !*stp) return;
    qstats *st = *stp;
    for (size_t i = 0; i < st->ngroups; i++)
        free_group(&st->groups[i]);
    free(st->groups);
    if (st->links) free_group(st->links);
    free(st->links);
    free(st->gslots);
    if (st->traces)
        for (size_t k = 0; k < st->traces_cap; k++)
            free(st->traces[k].groups);
    free(st->traces);
    free(st);
    *stp = NULL;
}
