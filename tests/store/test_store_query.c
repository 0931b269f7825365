/*
 * test_store_query.c - queries by each filter in time order, paging with
 * cursors, the index chosen, incident links.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "at_test.h"
#include "store_fixture.h"
#include "testutil.h"

#define T0 1717200000000000000ull
#define HOUR 3600000000000ull
enum { N = 900, G = 90, PER_TRACE = 15 };

static const char *const workflows[] = {"airline-support", "code-review", "incident-summary"};

typedef struct world {
    char *dir;
    ts_store *s;
    tp_event *ev[N]; /* after append: stored stamps set */
} world;

/* Times are spread over ~5 hours and appended out of time order, so log
 * order and time order differ. */
static uint64_t time_of(uint64_t n)
{
    return T0 + ((n * 7919) % N) * (5 * HOUR / N) + n % 3;
}

static int setup(void **state)
{
    world *w = calloc(1, sizeof *w);
    w->dir = tu_tempdir("store-query");
    w->s = fx_open(w->dir, TS_OPEN_CREATE, NULL);
    for (uint64_t n = 0; n < N; n++)
        w->ev[n] = fx_event(n, n / PER_TRACE, workflows[n % 3], NULL, time_of(n));
    for (int g = 0; g < N / G; g++)
        fx_append_all(w->s, w->ev + g * G, G);
    *state = w;
    return 0;
}

static int teardown(void **state)
{
    world *w = *state;
    ts_close(&w->s);
    fx_free(w->ev, N);
    tu_rmtree_free(w->dir);
    free(w);
    return 0;
}

typedef int (*pred_fn)(const tp_event *ev, const void *arg);

static int cmp_ev(const void *a, const void *b)
{
    const tp_event *x = *(tp_event *const *)a, *y = *(tp_event *const *)b;
    if (x->time_unix_nano != y->time_unix_nano)
        return x->time_unix_nano < y->time_unix_nano ? -1 : 1;
    return x->stored->log_index < y->stored->log_index ? -1 : 1;
}

/* The expected log indexes, in (time, log index) order. */
static size_t expected(world *w, pred_fn p, const void *arg, uint64_t *out)
{
    tp_event *sel[N];
    size_t n = 0;
    for (size_t i = 0; i < N; i++)
        if (p(w->ev[i], arg)) sel[n++] = w->ev[i];
    qsort(sel, n, sizeof sel[0], cmp_ev);
    for (size_t i = 0; i < n; i++)
        out[i] = sel[i]->stored->log_index;
    return n;
}

static void expect_query(world *w, const ts_filter *f, pred_fn p, const void *arg,
                         const char *index, size_t page)
{
    uint64_t want[N];
    size_t nw = expected(w, p, arg, want);
    uint64_t *got = NULL;
    size_t ng = fx_query_all(w->s, f, page, &got);
    assert_int_equal(ng, nw);
    for (size_t i = 0; i < nw; i++)
        assert_int_equal(got[i], want[i]);
    free(got);
    ts_iter *it = NULL;
    assert_int_equal(ts_query(w->s, f, NULL, &it), 0);
    assert_string_equal(ts_iter_index_name(it), index);
    ts_iter_destroy(&it);
    assert_null(it);
}

static int p_workflow(const tp_event *ev, const void *arg)
{
    return strcmp(ev->workflow, arg) == 0;
}
static int p_dri(const tp_event *ev, const void *arg)
{
    return strcmp(ev->dri, arg) == 0;
}
static int p_trace(const tp_event *ev, const void *arg)
{
    return memcmp(ev->trace_id.data, arg, 16) == 0;
}
static int p_service(const tp_event *ev, const void *arg)
{
    return strcmp(ev->service, arg) == 0;
}
static int p_tool(const tp_event *ev, const void *arg)
{
    return strcmp(ev->tool_call->name, arg) == 0;
}
static int p_all(const tp_event *ev, const void *arg)
{
    (void)ev;
    (void)arg;
    return 1;
}
static const ts_filter *cur_filter;
static int p_window_workflow(const tp_event *ev, const void *arg)
{
    return p_workflow(ev, arg) && ev->time_unix_nano >= cur_filter->since &&
           ev->time_unix_nano < cur_filter->until;
}
static int p_wf_dri(const tp_event *ev, const void *arg)
{
    (void)arg;
    return strcmp(ev->workflow, cur_filter->workflow) == 0 && strcmp(ev->dri, cur_filter->dri) == 0;
}

AT_TEST(test_store_query_by_workflow_in_time_order)
{
    world *w = *state;
    ts_filter f = {.workflow = "code-review"};
    expect_query(w, &f, p_workflow, "code-review", "workflow", 0);
    f.workflow = "no-such-workflow";
    expect_query(w, &f, p_workflow, "no-such-workflow", "workflow", 0);
}

AT_TEST(test_store_query_by_workflow_in_a_time_window)
{
    world *w = *state;
    ts_filter f = {.workflow = "airline-support", .since = T0 + HOUR, .until = T0 + 2 * HOUR};
    cur_filter = &f;
    expect_query(w, &f, p_window_workflow, "airline-support", "workflow", 0);
}

AT_TEST(test_store_query_by_dri_trace_service_tool)
{
    world *w = *state;
    ts_filter f = {.dri = "dri3@example.com"};
    expect_query(w, &f, p_dri, f.dri, "dri", 0);
    uint8_t tr[16];
    fx_trace_id(7, tr);
    ts_filter g = {.trace_id = tr};
    expect_query(w, &g, p_trace, tr, "trace", 0);
    ts_filter h = {.service = "kb-search"};
    expect_query(w, &h, p_service, "kb-search", "time", 0);
    ts_filter t = {.tool = "send_email"};
    expect_query(w, &t, p_tool, "send_email", "time", 0);
    ts_filter all = {0};
    expect_query(w, &all, p_all, NULL, "time", 0);
    ts_filter k = {.kind = AGENTTRAIL__V1__KIND__PROMPT};
    uint64_t *got = NULL;
    assert_int_equal(fx_query_all(w->s, &k, 0, &got), 0);
    free(got);
}

AT_TEST(test_store_query_picks_the_most_selective_index)
{
    world *w = *state;
    /* A DRI has fewer events than a workflow. */
    ts_filter f = {.workflow = "code-review", .dri = "dri5@example.com"};
    cur_filter = &f;
    expect_query(w, &f, p_wf_dri, NULL, "dri", 0);
    uint8_t tr[16];
    fx_trace_id(3, tr);
    ts_filter g = {.workflow = workflows[0], .trace_id = tr};
    ts_iter *it;
    assert_int_equal(ts_query(w->s, &g, NULL, &it), 0);
    assert_string_equal(ts_iter_index_name(it), "trace");
    ts_iter_destroy(&it);
}

AT_TEST(test_store_paging_with_cursors_returns_every_event_once)
{
    world *w = *state;
    ts_filter all = {0};
    expect_query(w, &all, p_all, NULL, "time", 7);
    ts_filter f = {.workflow = "incident-summary"};
    expect_query(w, &f, p_workflow, "incident-summary", "workflow", 1);
    expect_query(w, &f, p_workflow, "incident-summary", "workflow", 64);
}

AT_TEST(test_store_query_rejects_a_bad_cursor)
{
    world *w = *state;
    ts_cursor c;
    snprintf(c.text, sizeof c.text, "zz");
    ts_iter *it = (ts_iter *)1;
    assert_int_equal(ts_query(w->s, NULL, &c, &it), TS_EINVAL);
    assert_null(it);
    ts_filter f = {.since = 10, .until = 5};
    assert_int_equal(ts_query(w->s, &f, NULL, &it), TS_EINVAL);
}

AT_TEST(test_store_iter_gives_stored_bytes)
{
    world *w = *state;
    uint8_t tr[16];
    fx_trace_id(2, tr);
    ts_filter f = {.trace_id = tr};
    ts_iter *a, *b;
    assert_int_equal(ts_query(w->s, &f, NULL, &a), 0);
    assert_int_equal(ts_query(w->s, &f, NULL, &b), 0);
    int n = 0;
    tp_event *ev;
    while (ts_iter_next(a, &ev) == 0) {
        const uint8_t *buf;
        size_t len;
        assert_int_equal(ts_iter_next_stored(b, &buf, &len), 0);
        uint8_t *p;
        size_t plen;
        assert_int_equal(tp_event_pack(ev, &p, &plen), 0);
        assert_int_equal(plen, len);
        assert_memory_equal(p, buf, len);
        free(p);
        tp_event_destroy(&ev);
        n++;
    }
    const uint8_t *buf;
    size_t len;
    assert_int_equal(ts_iter_next_stored(b, &buf, &len), TS_EEND);
    assert_int_equal(n, PER_TRACE);
    ts_iter_destroy(&a);
    ts_iter_destroy(&b);
}

AT_TEST_GROUP(setup, teardown);

/* ---- incidents -------------------------------------------------------- */

static tp_event *link_event(uint64_t n, const char *incident, const uint64_t *traces, size_t nt)
{
    tp_event *ev = fx_event(n, 100000 + n, "incident-summary", "oncall@example.com", T0);
    ev->kind = AGENTTRAIL__V1__KIND__INCIDENT_LINK;
    ev->incident = strdup(incident);
    ev->link = malloc(sizeof *ev->link);
    agenttrail__v1__link__init(ev->link);
    ev->link->n_trace_ids = nt;
    ev->link->trace_ids = calloc(nt, sizeof *ev->link->trace_ids);
    for (size_t i = 0; i < nt; i++) {
        ev->link->trace_ids[i].data = malloc(16);
        ev->link->trace_ids[i].len = 16;
        fx_trace_id(traces[i], ev->link->trace_ids[i].data);
    }
    ev->link->reason = strdup("bad refund issued");
    return ev;
}

static size_t incident_count(ts_store *s, const char *inc, uint64_t **li)
{
    ts_filter f = {.incident = inc};
    return fx_query_all(s, &f, 0, li);
}

AT_TEST(test_store_incident_link_indexes_linked_traces)
{
    (void)state;
    char *dir;
    ts_store *s = fx_new_store("store-incident", &dir);
    /* Traces 1 and 2 (5 events each) stored before the link; one event of
     * trace 3 names the incident itself. */
    tp_event *ev[11];
    for (int i = 0; i < 10; i++)
        ev[i] = fx_event((uint64_t)i, 1 + (uint64_t)i / 5, "wf", NULL, T0 + (uint64_t)i * 10);
    ev[10] = fx_event(10, 3, "wf", NULL, T0 + 5);
    ev[10]->incident = strdup("INC-7");
    fx_append_all(s, ev, 11);
    uint64_t *li = NULL;
    assert_int_equal(incident_count(s, "INC-7", &li), 1);
    free(li);
    uint64_t traces[] = {1, 2};
    tp_event *link = link_event(500, "INC-7", traces, 2);
    fx_append_all(s, &link, 1);
    /* 10 linked + the one naming it + the link event itself. */
    assert_int_equal(incident_count(s, "INC-7", &li), 12);
    free(li);
    /* A later event of a linked trace joins the incident at append. */
    tp_event *late = fx_event(20, 2, "wf", NULL, T0 + 1000);
    fx_append_all(s, &late, 1);
    assert_int_equal(incident_count(s, "INC-7", &li), 13);
    free(li);
    /* Linking again (a new link event) adds no duplicate entries. */
    tp_event *again = link_event(501, "INC-7", traces, 2);
    fx_append_all(s, &again, 1);
    assert_int_equal(incident_count(s, "INC-7", &li), 14); /* only the new link event */
    free(li);
    /* Combined with another filter, incident membership still holds. */
    uint8_t tr[16];
    fx_trace_id(1, tr);
    ts_filter f = {.incident = "INC-7", .trace_id = tr};
    assert_int_equal(fx_query_all(s, &f, 0, &li), 5);
    free(li);
    assert_int_equal(incident_count(s, "INC-8", &li), 0);
    free(li);
    assert_int_equal(ts_check(s, fx_report, NULL), 0);
    fx_free(ev, 11);
    tp_event_destroy(&link);
    tp_event_destroy(&late);
    tp_event_destroy(&again);
    fx_done(&s, dir);
}
