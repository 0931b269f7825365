/*
 * test_fault_proto.c - libtraceproto under allocation faults: every canary event through
 * JSON line -> event -> prepare/mask -> validate -> pack, and a batch of them through
 * encode -> decode -> unpack, with the N-th allocation failing for every N (fault_sweep.c).
 *
 * Proves: each failure is an error code of the step (no crash, no UBSan report, no leak after
 * any N): TP_ENOMEM (also where jansson lost characters or reported a syntax error when it
 * ran out of memory: proto/json_alloc.h), or TP_EDECODE where protobuf-c's unpack returns NULL
 * for both; an event that comes
 * out is byte for byte what it is without faults (so never partly masked: no canary in it); a
 * decoded batch is whole or refused.
 *
 * Owns: a temp directory. Threading: single-threaded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "at_test.h"
#include "canary.h"
#include "fault_events.h"
#include "fault_sweep.h"
#include "testutil.h"
#include "traceproto.h"

typedef struct packs {
    uint8_t **buf;
    size_t *len;
} packs;

typedef struct proto_ctx {
    fe_lines lines;
    packs clean, out;
    int clean_done;
    size_t withheld, fired_but_whole;
} proto_ctx;

static void packs_alloc(packs *p, size_t n)
{
    p->buf = calloc(n, sizeof *p->buf);
    p->len = calloc(n, sizeof *p->len);
    assert_true(p->buf && p->len);
}

static void packs_clear(packs *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(p->buf[i]);
        p->buf[i] = NULL;
        p->len[i] = 0;
    }
}

static void packs_free(packs *p, size_t n)
{
    packs_clear(p, n);
    free(p->buf);
    free(p->len);
}

static int setup(void **state)
{
    proto_ctx *c = calloc(1, sizeof *c);
    char *dir = tu_tempdir("fault-proto");
    fe_lines_load(&c->lines, dir);
    tu_rmtree_free(dir);
    packs_alloc(&c->clean, c->lines.n);
    packs_alloc(&c->out, c->lines.n);
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    proto_ctx *c = *state;
    packs_free(&c->clean, c->lines.n);
    packs_free(&c->out, c->lines.n);
    fe_lines_free(&c->lines);
    free(c);
    return 0;
}

/* ---- JSON line -> packed event -------------------------------------------------------- */

static int run_events(void *arg)
{
    proto_ctx *c = arg;
    int first = 0;
    for (size_t i = 0; i < c->lines.n; i++) {
        int rc = fe_prepare_pack(c->lines.line[i], c->lines.len[i], NULL, &c->out.buf[i],
                                 &c->out.len[i]);
        if (rc != 0 && first == 0) first = rc;
    }
    return first;
}

/* Prints a packed event as JSON (what a mismatch looks like). */
static void print_json(const char *what, const uint8_t *buf, size_t len)
{
    tp_event *ev = NULL;
    at_error err;
    if (tp_event_unpack(buf, len, NULL, &ev, &err) != 0) {
        fprintf(stderr, "# %s: does not unpack: %s: %s\n", what, err.where, err.what);
        return;
    }
    char *json = tp_event_to_json(ev, NULL);
    fprintf(stderr, "# %s: %s\n", what, json ? json : "(no memory)");
    free(json);
    tp_event_destroy(&ev);
}

static void check_events(void *arg, int rc, unsigned long n)
{
    proto_ctx *c = arg;
    if (!c->clean_done) {
        for (size_t i = 0; i < c->lines.n; i++) {
            assert_int_equal(scan(c->out.buf[i], c->out.len[i], "a clean packed event"), 0);
            c->clean.buf[i] = c->out.buf[i];
            c->clean.len[i] = c->out.len[i];
            c->out.buf[i] = NULL;
        }
        c->clean_done = 1;
        return;
    }
    size_t out = 0;
    for (size_t i = 0; i < c->lines.n; i++) {
        if (!c->out.buf[i]) continue;
        out++;
        if (scan(c->out.buf[i], c->out.len[i], "a packed event") != 0 ||
            c->out.len[i] != c->clean.len[i] ||
            memcmp(c->out.buf[i], c->clean.buf[i], c->clean.len[i]) != 0) {
            print_json("clean", c->clean.buf[i], c->clean.len[i]);
            print_json("under the fault", c->out.buf[i], c->out.len[i]);
            fail_msg("N=%lu: line %zu came out different from its clean form (rc %d)", n, i + 1,
                     rc);
        }
    }
    if (rc != 0) {
        if (rc != TP_ENOMEM) fail_msg("N=%lu: failed with %d (%s)", n, rc, tp_strerror(rc));
        assert_int_equal(out, c->lines.n - 1);
        c->withheld++;
    } else {
        assert_int_equal(out, c->lines.n);
        c->fired_but_whole++;
    }
    packs_clear(&c->out, c->lines.n);
}

AT_TEST(test_every_event_path_allocation_fails_cleanly_and_never_half_masks)
{
    proto_ctx *c = *state;
    ft_op op = {.name = "json->prepare->pack",
                .kind = AT_FAULT_ALLOC,
                .max_runs = 400,
                .run = run_events,
                .check = check_events,
                .ctx = c};
    unsigned long count = ft_sweep(&op);
    fprintf(stderr, "# %zu runs withheld one event, %zu lost nothing\n", c->withheld,
            c->fired_but_whole);
    assert_true(count > c->lines.n);
    if (!getenv("AGENTTRAIL_FAULT_ONLY")) assert_true(c->withheld > 0);
}

/* ---- batch encode -> decode -> unpack --------------------------------------------------- */

typedef struct batch_ctx {
    proto_ctx *p;
    size_t decoded;
} batch_ctx;

static int run_batch(void *arg)
{
    batch_ctx *b = arg;
    proto_ctx *c = b->p;
    uint8_t *frame = NULL;
    size_t flen = 0;
    b->decoded = 0;
    int rc = tp_batch_encode("fault-shim", 7, (const uint8_t *const *)c->clean.buf, c->clean.len,
                             c->lines.n, &frame, &flen);
    if (rc != 0) return rc;
    tp_batch *batch = NULL;
    at_error err;
    tp_limits lim = tp_limits_default();
    rc = tp_batch_decode(frame, flen, &lim, &batch, &err);
    free(frame);
    for (size_t i = 0; rc == 0 && i < batch->n_events; i++) {
        tp_event *ev = NULL;
        rc = tp_event_unpack(batch->events[i].data, batch->events[i].len, &lim, &ev, &err);
        if (rc == 0) b->decoded++;
        tp_event_destroy(&ev);
    }
    tp_batch_destroy(&batch);
    return rc;
}

static void check_batch(void *arg, int rc, unsigned long n)
{
    batch_ctx *b = arg;
    if (rc == 0) {
        assert_int_equal(b->decoded, b->p->lines.n);
        return;
    }
    if (rc != TP_ENOMEM && rc != TP_EDECODE)
        fail_msg("N=%lu: batch path failed with %d (%s)", n, rc, tp_strerror(rc));
}

AT_TEST(test_every_batch_decode_allocation_fails_cleanly)
{
    proto_ctx *c = *state;
    if (!c->clean_done) {
        assert_int_equal(run_events(c), 0);
        check_events(c, 0, 0);
    }
    batch_ctx b = {.p = c};
    ft_op op = {.name = "batch encode->decode->unpack",
                .kind = AT_FAULT_ALLOC,
                .max_runs = 400,
                .run = run_batch,
                .check = check_batch,
                .ctx = &b};
    assert_true(ft_sweep(&op) > 0);
}

AT_TEST_GROUP(setup, teardown);
