/*
 * stats_expect.c - the independent computation of stats figures and the checks of
 * trace-query's rows against it (see stats_expect.h). Single-threaded.
 */
#include "stats_expect.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query_fixture.h"
#include "testutil.h"

const char *const files[NFILES] = {"data/swe-agent.jsonl", "data/tau.jsonl", "data/tau2.jsonl"};
char *stores[NFILES];
json_t *inputs[NFILES];
char *link_store;
json_t *link_inputs;

static const char *const kinds[] = {"prompt",  "retrieval", "tool_call",     "diff",
                                    "outcome", "approval",  "incident_link", "note"};
static const char *const decisions[] = {"accepted", "edited", "rejected", "escalated"};

static const char *const keys_in_order[] = {"group",
                                            "row",
                                            "events",
                                            "traces",
                                            "by_kind",
                                            "outcomes",
                                            "acceptance_rate",
                                            "edit_rate",
                                            "rejection_rate",
                                            "escalation_rate",
                                            "input_tokens",
                                            "output_tokens",
                                            "cached_tokens",
                                            "cost_usd",
                                            "unpriced_calls",
                                            "cache_hit_rate",
                                            "llm_call_p50_ms",
                                            "llm_call_p95_ms",
                                            "tool_call_p50_ms",
                                            "tool_call_p95_ms",
                                            "tool_calls_blocked",
                                            "tool_calls_error",
                                            "redactions",
                                            "dri_coverage",
                                            "outcome_coverage"};
#define NKEYS (sizeof keys_in_order / sizeof keys_in_order[0])

/* ---- the independent computation ------------------------------------------------------ */

const char *str_at(json_t *o, const char *a, const char *b)
{
    json_t *v = json_object_get(o, a);
    if (v && b) v = json_object_get(v, b);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

long long int_at(json_t *o, const char *a, const char *b)
{
    json_t *v = json_object_get(o, a);
    if (v && b) v = json_object_get(v, b);
    return json_is_integer(v) ? json_integer_value(v) : 0;
}

static const char *dim_key(json_t *ev, const char *dim)
{
    if (strcmp(dim, "workflow") == 0) return str_at(ev, "workflow", NULL);
    if (strcmp(dim, "dri") == 0) return str_at(ev, "dri", NULL);
    if (strcmp(dim, "model") == 0) return str_at(ev, "model", "name");
    if (strcmp(dim, "service") == 0) return str_at(ev, "service", NULL);
    if (strcmp(dim, "tool") == 0) return str_at(ev, "tool_call", "name");
    return "anonymous"; /* source: what the store stamps on events appended without one */
}

static int index_of(const char *const *list, size_t n, const char *s)
{
    for (size_t i = 0; s && i < n; i++)
        if (strcmp(list[i], s) == 0) return (int)i;
    return -1;
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

static expect *row_for(expected *x, const char *key, int links)
{
    for (size_t k = 0; k < x->n; k++) {
        expect *e = &x->g[k];
        if (e->links != links) continue;
        if (links || (!key && !e->key) || (key && e->key && strcmp(key, e->key) == 0)) return e;
    }
    assert_true(x->n < 4096);
    expect *e = &x->g[x->n++];
    e->key = links ? NULL : key;
    e->links = links;
    e->traces = json_object();
    return e;
}

static void add_duration(durs *d, json_t *dur)
{
    d->v = realloc(d->v, (d->n + 1) * sizeof *d->v);
    assert_non_null(d->v);
    d->v[d->n++] = json_integer_value(dur);
}

/* The figures of one event that do not depend on other events. */
static void account(expect *e, json_t *ev, const char *kind)
{
    e->events++;
    int ki = index_of(kinds, 8, kind);
    assert_true(ki >= 0);
    e->by_kind[ki]++;
    const char *dri = str_at(ev, "dri", NULL);
    if (dri && *dri) e->dri_events++;
    if (strcmp(kind, "outcome") == 0) {
        int d = index_of(decisions, 4, str_at(ev, "outcome", "decision"));
        assert_true(d >= 0);
        e->outcomes[d]++;
    }
    e->in += int_at(ev, "usage", "input_tokens");
    e->out += int_at(ev, "usage", "output_tokens");
    e->cached += int_at(ev, "usage", "cached_tokens");
    json_t *cost = json_object_get(json_object_get(ev, "usage"), "cost_usd_micros");
    e->cost_micros += cost ? json_integer_value(cost) : 0;
    if (cost)
        e->priced++;
    else if (strcmp(kind, "prompt") == 0)
        e->unpriced++;
    const char *status = str_at(ev, "tool_call", "status");
    if (status && strcmp(status, "blocked") == 0) e->blocked++;
    if (status && strcmp(status, "error") == 0) e->errored++;
    e->redactions += int_at(ev, "redactions", NULL);
    json_t *dur = json_object_get(ev, "duration_nano");
    if (dur && strcmp(kind, "prompt") == 0) add_duration(&e->d[LLM], dur);
    if (dur && strcmp(kind, "tool_call") == 0) add_duration(&e->d[TOOL], dur);
}

/* Expected rows for a list of events and a dimension. incident_link events are the links
 * row: its traces are the traces the links name; no group sees them. */
expected compute(json_t *events, const char *dim)
{
    expected x = {calloc(4096, sizeof(expect)), 0};
    assert_non_null(x.g);
    json_t *has_outcome = json_object(); /* trace -> true */
    size_t i;
    json_t *ev;
    json_array_foreach(events, i, ev)
    {
        const char *kind = str_at(ev, "kind", NULL);
        assert_non_null(kind);
        int link = strcmp(kind, "incident_link") == 0;
        expect *e = row_for(&x, link ? NULL : dim_key(ev, dim), link);
        account(e, ev, kind);
        if (link) {
            size_t j;
            json_t *t;
            json_array_foreach(json_object_get(json_object_get(ev, "link"), "trace_ids"), j, t)
                json_object_set_new(e->traces, json_string_value(t), json_true());
            continue;
        }
        const char *tid = str_at(ev, "trace_id", NULL);
        assert_non_null(tid);
        json_object_set_new(e->traces, tid, json_true());
        if (strcmp(kind, "outcome") == 0) json_object_set_new(has_outcome, tid, json_true());
    }
    for (size_t k = 0; k < x.n; k++) {
        const char *tid;
        json_t *v;
        json_object_foreach(x.g[k].traces, tid, v)
        {
            (void)v;
            x.g[k].ntraces++;
            if (json_object_get(has_outcome, tid)) x.g[k].outcome_traces++;
        }
        for (int d = 0; d < 2; d++)
            if (x.g[k].d[d].n > 1) qsort(x.g[k].d[d].v, x.g[k].d[d].n, sizeof(long long), cmp_ll);
    }
    json_decref(has_outcome);
    return x;
}

void free_expected(expected *x)
{
    for (size_t k = 0; k < x->n; k++) {
        json_decref(x->g[k].traces);
        free(x->g[k].d[LLM].v);
        free(x->g[k].d[TOOL].v);
    }
    free(x->g);
}

/* The nearest-rank percentile: the value at 1-based rank ceil(p/100 * N). */
long long percentile(const durs *d, int p)
{
    size_t rank = (size_t)ceil((double)p / 100.0 * (double)d->n);
    if (rank < 1) rank = 1;
    return d->v[rank - 1];
}

/* ---- comparing ------------------------------------------------------------------------- */

void check_int(json_t *o, const char *key, long long want, const char *ctx)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) != want) {
        fprintf(stderr, "%s: %s: want %lld, got %s\n", ctx, key, want,
                v ? json_dumps(v, JSON_ENCODE_ANY) : "(missing)");
        fail();
    }
}

/* A fraction num/den, or null when den == 0; compared exactly as doubles. */
void check_rate(json_t *o, const char *key, long long num, long long den, const char *ctx)
{
    json_t *v = json_object_get(o, key);
    if (den == 0) {
        if (!json_is_null(v)) {
            fprintf(stderr, "%s: %s: want null\n", ctx, key);
            fail();
        }
        return;
    }
    double want = (double)num / (double)den;
    if (!json_is_number(v) || json_number_value(v) != want) {
        fprintf(stderr, "%s: %s: want %.17g, got %.17g\n", ctx, key, want,
                v ? json_number_value(v) : -1.0);
        fail();
    }
}

static void check_ms(json_t *o, const char *key, const durs *d, int p, const char *ctx)
{
    json_t *v = json_object_get(o, key);
    if (d->n == 0) {
        if (!json_is_null(v)) {
            fprintf(stderr, "%s: %s: want null\n", ctx, key);
            fail();
        }
        return;
    }
    double want = (double)percentile(d, p) / 1e6;
    if (!json_is_number(v) || json_number_value(v) != want) {
        fprintf(stderr, "%s: %s: want %.17g ms, got %.17g\n", ctx, key, want,
                v ? json_number_value(v) : -1.0);
        fail();
    }
}

void check_group(json_t *o, const expect *e, const char *ctx)
{
    /* Exactly the documented keys, in the documented order. */
    assert_int_equal(json_object_size(o), NKEYS);
    size_t k = 0;
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        (void)v;
        assert_string_equal(key, keys_in_order[k]);
        k++;
    }
    assert_string_equal(str_at(o, "row", NULL), e->links ? "incident_links" : "group");
    check_int(o, "events", e->events, ctx);
    check_int(o, "traces", e->ntraces, ctx);
    json_t *bk = json_object_get(o, "by_kind");
    assert_int_equal(json_object_size(bk), 8);
    for (int i = 0; i < 8; i++)
        check_int(bk, kinds[i], e->by_kind[i], ctx);
    json_t *oc = json_object_get(o, "outcomes");
    assert_int_equal(json_object_size(oc), 4);
    long long no = 0;
    for (int i = 0; i < 4; i++) {
        check_int(oc, decisions[i], e->outcomes[i], ctx);
        no += e->outcomes[i];
    }
    check_rate(o, "acceptance_rate", e->outcomes[0], no, ctx);
    check_rate(o, "edit_rate", e->outcomes[1], no, ctx);
    check_rate(o, "rejection_rate", e->outcomes[2], no, ctx);
    check_rate(o, "escalation_rate", e->outcomes[3], no, ctx);
    check_int(o, "input_tokens", e->in, ctx);
    check_int(o, "output_tokens", e->out, ctx);
    check_int(o, "cached_tokens", e->cached, ctx);
    /* Unknown (null) when LLM calls are unpriced and nothing states a price. */
    json_t *cost = json_object_get(o, "cost_usd");
    if (e->unpriced > 0 && e->priced == 0) {
        if (!json_is_null(cost)) fprintf(stderr, "%s: cost_usd: want null\n", ctx);
        assert_true(json_is_null(cost));
    } else {
        assert_true(json_is_number(cost));
        assert_true(json_number_value(cost) == (double)e->cost_micros / 1e6);
    }
    check_int(o, "unpriced_calls", e->unpriced, ctx);
    check_rate(o, "cache_hit_rate", e->cached, e->in, ctx);
    check_ms(o, "llm_call_p50_ms", &e->d[LLM], 50, ctx);
    check_ms(o, "llm_call_p95_ms", &e->d[LLM], 95, ctx);
    check_ms(o, "tool_call_p50_ms", &e->d[TOOL], 50, ctx);
    check_ms(o, "tool_call_p95_ms", &e->d[TOOL], 95, ctx);
    check_int(o, "tool_calls_blocked", e->blocked, ctx);
    check_int(o, "tool_calls_error", e->errored, ctx);
    check_int(o, "redactions", e->redactions, ctx);
    check_rate(o, "dri_coverage", e->dri_events, e->events, ctx);
    check_rate(o, "outcome_coverage", e->outcome_traces, e->ntraces, ctx);
}

const expect *expected_named(const expected *x, const char *name)
{
    for (size_t i = 0; i < x->n; i++) {
        const expect *e = &x->g[i];
        if (e->links) continue;
        if (e->key ? strcmp(e->key, name) == 0 : strcmp(name, "(none)") == 0) return e;
    }
    return NULL;
}

/* The expected row of a jsonl object (by group and row), NULL when none. */
static const expect *expected_row(const expected *x, json_t *o)
{
    json_t *gk = json_object_get(o, "group");
    int links = strcmp(str_at(o, "row", NULL) ? str_at(o, "row", NULL) : "", "incident_links") == 0;
    for (size_t k = 0; k < x->n; k++) {
        const expect *e = &x->g[k];
        if (e->links != links) continue;
        if (links || (json_is_null(gk) && !e->key) ||
            (json_is_string(gk) && e->key && strcmp(e->key, json_string_value(gk)) == 0))
            return e;
    }
    return NULL;
}

/* stats --by dim of `store` equals the independent computation over `events`, every row. */
void check_store_dim(const char *store, json_t *events, const char *name, const char *dim)
{
    char *out = NULL, *err = NULL;
    int rc =
        qf_query(&out, &err, "--store", store, "stats", "--by", dim, "--format", "jsonl", NULL);
    if (rc != 0) fprintf(stderr, "stats --by %s on %s: exit %d: %s\n", dim, name, rc, err);
    assert_int_equal(rc, 0);
    expected x = compute(events, dim);
    size_t nl = 0;
    char **lines = qf_lines(out, &nl);
    assert_int_equal(nl, x.n);
    long long total = 0;
    for (size_t i = 0; i < nl; i++) {
        json_t *o = json_loads(lines[i], 0, NULL);
        assert_non_null(o);
        const expect *e = expected_row(&x, o);
        if (!e) fprintf(stderr, "%s --by %s: unexpected row %s\n", name, dim, lines[i]);
        assert_non_null(e);
        if (e->links) assert_int_equal(i, nl - 1); /* the links row comes last */
        char ctx[256];
        snprintf(ctx, sizeof ctx, "%s --by %s group %s", name, dim,
                 e->links ? "(incident links)"
                 : e->key ? e->key
                          : "null");
        check_group(o, e, ctx);
        total += e->events;
        json_decref(o);
    }
    assert_int_equal(total, (long long)json_array_size(events));
    free(lines);
    free_expected(&x);
    free(out);
    free(err);
}

char *stats_out(const char *store, ...)
{
    char *argv[32] = {tu_bin("trace-query"), "--store", (char *)store, "stats"};
    int n = 4;
    va_list ap;
    va_start(ap, store);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < 31)
        argv[n++] = (char *)a;
    va_end(ap);
    char *out = NULL, *err = NULL;
    int rc = tu_run(argv, NULL, &out, NULL, &err);
    if (rc != 0) fprintf(stderr, "stats: exit %d: %s\n", rc, err);
    assert_int_equal(rc, 0);
    free(argv[0]);
    free(err);
    return out;
}

/* ---- the stores ------------------------------------------------------------------------ */

/* Two incident_link events after tau.jsonl: INC-9 names two traces, INC-10 one of them and
 * a third; their DRI is someone who is no DRI of any workflow. */
static void build_link_store(void)
{
    const char *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = str_at(json_array_get(inputs[1], (size_t)i * 100), "trace_id", NULL);
    static char lines[2][1024];
    snprintf(lines[0], sizeof lines[0],
             "{\"event_id\":\"0192f5c1a4e87c3d9b2e4f6a8c0d0001\",\"trace_id\":"
             "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaa0001\",\"span_id\":\"00000000000000a1\","
             "\"time_unix_nano\":1800000000000000000,\"kind\":\"incident_link\","
             "\"workflow\":\"tau-airline\",\"dri\":\"oncall@example.com\",\"service\":"
             "\"trace-query\",\"actor\":\"oncall@example.com\",\"incident\":\"INC-9\","
             "\"link\":{\"trace_ids\":[\"%s\",\"%s\"],\"reason\":\"refund\"}}",
             t[0], t[1]);
    snprintf(lines[1], sizeof lines[1],
             "{\"event_id\":\"0192f5c1a4e87c3d9b2e4f6a8c0d0002\",\"trace_id\":"
             "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaa0002\",\"span_id\":\"00000000000000a2\","
             "\"time_unix_nano\":1800000000000000001,\"kind\":\"incident_link\","
             "\"workflow\":\"tau-airline\",\"dri\":\"oncall@example.com\",\"service\":"
             "\"trace-query\",\"actor\":\"oncall@example.com\",\"incident\":\"INC-10\","
             "\"link\":{\"trace_ids\":[\"%s\",\"%s\"],\"reason\":\"again\"}}",
             t[1], t[2]);
    link_store = qf_build_store(files[1]);
    const char *const add[2] = {lines[0], lines[1]};
    qf_store_append(link_store, add, 2);
    link_inputs = json_deep_copy(inputs[1]);
    for (int i = 0; i < 2; i++)
        json_array_append_new(link_inputs, json_loads(lines[i], 0, NULL));
}

int stats_stores_setup(void **state)
{
    (void)state;
    unsetenv("COLUMNS"); /* tables are not cut unless a test asks for a width */
    for (int f = 0; f < NFILES; f++) {
        stores[f] = qf_build_store(files[f]);
        inputs[f] = qf_load_events(files[f]);
    }
    build_link_store();
    return 0;
}

int stats_stores_teardown(void **state)
{
    (void)state;
    for (int f = 0; f < NFILES; f++) {
        tu_rmtree_free(stores[f]);
        json_decref(inputs[f]);
    }
    tu_rmtree_free(link_store);
    json_decref(link_inputs);
    return 0;
}
