/*
 * test_fault_otlp.c - libtraceotlp under allocation faults: the captured requests of the real
 * instrumentations (protobuf and OTLP/JSON) through otlp_map_request with the N-th allocation
 * failing, for a sample of N over every allocation it makes (fault_sweep.c).
 *
 * Proves: each failure is OTLP_ENOMEM with an empty result, never OTLP_EDECODE (which the
 * collector answers 400, and the exporter would drop the spans), never a crash, a UBSan report
 * or a leak; a run that succeeds gives byte for byte the events of the clean run (none half
 * built, no rejection a fault made up).
 *
 * Threading: single-threaded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fault_sweep.h"
#include "otlp_fixture.h"
#include "testutil.h"

typedef struct map_ctx {
    char *body;
    size_t len;
    otlp_format fmt;
    otlp_owners *owners;
    otlp_result clean, out;
    at_error err;
    size_t failed, whole;
} map_ctx;

static int run_map(void *arg)
{
    map_ctx *c = arg;
    tp_limits lim = tp_limits_default();
    otlp_map_opts o = {.owners = c->owners, .hmac_key = fx_key, .limits = &lim, .max_spans = 100};
    return otlp_map_request((const uint8_t *)c->body, c->len, c->fmt, &o, &c->out, &c->err);
}

static int same_event(const tp_event *a, const tp_event *b)
{
    uint8_t *x = NULL, *y = NULL;
    size_t xl = 0, yl = 0;
    assert_int_equal(tp_event_pack(a, &x, &xl), 0);
    assert_int_equal(tp_event_pack(b, &y, &yl), 0);
    int same = xl == yl && memcmp(x, y, xl) == 0;
    TU_FREE(x, y);
    return same;
}

static void check_map(void *arg, int rc, unsigned long n)
{
    map_ctx *c = arg;
    if (n == 0) { /* the clean run: the reference */
        assert_int_equal(rc, 0);
        c->clean = c->out;
        memset(&c->out, 0, sizeof c->out);
        return;
    }
    if (rc != 0) {
        if (rc != OTLP_ENOMEM)
            fail_msg("N=%lu: failed with %d (%s): %s: %s", n, rc, otlp_strerror(rc), c->err.where,
                     c->err.what);
        assert_int_equal(c->out.n_events, 0);
        assert_null(c->out.events);
        assert_null(c->out.rejections);
        c->failed++;
        return;
    }
    if (c->out.n_events != c->clean.n_events || c->out.n_rejected != c->clean.n_rejected ||
        c->out.n_not_ai != c->clean.n_not_ai)
        fail_msg("N=%lu: %zu events, %zu rejected, %zu not AI; clean: %zu, %zu, %zu", n,
                 c->out.n_events, c->out.n_rejected, c->out.n_not_ai, c->clean.n_events,
                 c->clean.n_rejected, c->clean.n_not_ai);
    for (size_t i = 0; i < c->out.n_events; i++)
        if (!same_event(c->out.events[i], c->clean.events[i]))
            fail_msg("N=%lu: event %zu differs from the clean run's", n, i);
    otlp_result_clear(&c->out);
    c->whole++;
}

static void sweep(const char *file, otlp_format fmt)
{
    map_ctx c = {.fmt = fmt};
    char *path = tu_path("tests/otlp/fixtures", file), *dir;
    c.body = tu_read_file(path, &c.len);
    assert_non_null(c.body);
    c.owners = fx_owners("service:* owner@example.com\n", &dir);
    ft_op op = {.name = file,
                .kind = AT_FAULT_ALLOC,
                .max_runs = 300,
                .run = run_map,
                .check = check_map,
                .ctx = &c};
    unsigned long count = ft_sweep(&op);
    fprintf(stderr, "# %s: %lu allocations; %zu runs failed with OTLP_ENOMEM, %zu came out whole\n",
            file, count, c.failed, c.whole);
    assert_true(count > 100);
    if (!getenv("AGENTTRAIL_FAULT_ONLY")) assert_true(c.failed > 0);
    otlp_result_clear(&c.clean);
    otlp_result_clear(&c.out);
    otlp_owners_destroy(&c.owners);
    tu_rmtree_free(dir);
    TU_FREE(path, c.body);
}

static void test_protobuf_request_under_allocation_faults(void **state)
{
    (void)state;
    sweep("genai.pb", OTLP_PROTOBUF);
}

static void test_json_requests_under_allocation_faults(void **state)
{
    (void)state;
    sweep("openinference.json", OTLP_JSON);
    sweep("aisdk.json", OTLP_JSON);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_protobuf_request_under_allocation_faults),
        cmocka_unit_test(test_json_requests_under_allocation_faults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
