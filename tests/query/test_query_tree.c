/*
 * test_query_tree.c - the order in which `show` prints a trace (query/tree.c): children under
 * their parent span in time order, orphans as roots, cycles of parents broken, every event
 * exactly once, and deep chains without recursion.
 * Ownership: each test frees its events. Threading: single-threaded.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "at_test.h"
#include "tree.h"

/* An event with span `span` and parent `parent` (0: none); ids are 8-byte big-endian. */
/* An 8-byte id, big-endian `v`, into *id (malloc'd); *has set. */
static void set_id8(protobuf_c_boolean *has, ProtobufCBinaryData *id, uint64_t v)
{
    *has = 1;
    id->len = 8;
    id->data = malloc(8);
    assert_non_null(id->data);
    for (int i = 0; i < 8; i++)
        id->data[i] = (uint8_t)(v >> (56 - 8 * i));
}

static tp_event *ev_span(uint64_t span, uint64_t parent)
{
    tp_event *ev = tp_event_new();
    assert_non_null(ev);
    set_id8(&ev->has_span_id, &ev->span_id, span);
    if (parent) set_id8(&ev->has_parent_span_id, &ev->parent_span_id, parent);
    return ev;
}

static void free_all(tp_event **evs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        tp_event_destroy(&evs[i]);
}

/* Checks every index appears once; returns the order. */
static qtree_line *order_of(tp_event **evs, size_t n)
{
    qtree_line *o = malloc((n ? n : 1) * sizeof *o);
    assert_non_null(o);
    assert_int_equal(qtree_order((const tp_event *const *)evs, n, o), 0);
    unsigned char *seen = calloc(n ? n : 1, 1);
    assert_non_null(seen);
    for (size_t i = 0; i < n; i++) {
        assert_true(o[i].index < n);
        assert_false(seen[o[i].index]);
        seen[o[i].index] = 1;
    }
    free(seen);
    return o;
}

/* Orders evs[0..n) and asserts the index and depth of every line, then frees
 * both: the one check every shaped-tree test below makes. */
static void expect_order(tp_event **evs, size_t n, const size_t *want_idx, const int *want_depth)
{
    qtree_line *o = order_of(evs, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(o[i].index, want_idx[i]);
        assert_int_equal(o[i].depth, want_depth[i]);
    }
    free(o);
    free_all(evs, n);
}

AT_TEST(test_tree_puts_children_under_their_parent_in_time_order)
{
    (void)state;
    /* 0 root(1); 1 child of 1 (span 2); 2 child of 2 (span 3); 3 child of 1 (span 4) */
    tp_event *evs[] = {ev_span(1, 0), ev_span(2, 1), ev_span(3, 2), ev_span(4, 1)};
    expect_order(evs, 4, (size_t[]){0, 1, 2, 3}, (int[]){0, 1, 2, 1});
}

AT_TEST(test_tree_makes_events_with_a_missing_parent_roots)
{
    (void)state;
    tp_event *evs[] = {ev_span(5, 99), ev_span(6, 5), ev_span(7, 0)};
    expect_order(evs, 3, (size_t[]){0, 1, 2}, (int[]){0, 1, 0});
}

AT_TEST(test_tree_breaks_a_cycle_of_parents_and_shows_each_event_once)
{
    (void)state;
    /* 10 -> 11 -> 12 -> 10 (a cycle), 13 hangs off 12, 14 is a plain root: the true root
     * first, then the cycle from its earliest event. */
    tp_event *evs[] = {ev_span(10, 12), ev_span(11, 10), ev_span(12, 11), ev_span(13, 12),
                       ev_span(14, 0)};
    expect_order(evs, 5, (size_t[]){4, 0, 1, 2, 3}, (int[]){0, 0, 1, 2, 3});
}

AT_TEST(test_tree_handles_a_deep_chain_without_recursion)
{
    (void)state;
    enum { N = 200000 };
    tp_event **evs = calloc(N, sizeof *evs);
    assert_non_null(evs);
    for (size_t i = 0; i < N; i++)
        evs[i] = ev_span(i + 1, i);
    qtree_line *o = order_of(evs, N);
    for (size_t i = 0; i < N; i++) {
        assert_int_equal(o[i].index, i);
        assert_int_equal(o[i].depth, (int)i);
    }
    free(o);
    free_all(evs, N);
    free(evs);
}

AT_TEST(test_tree_with_duplicate_spans_keeps_every_event)
{
    (void)state;
    /* Two events claim span 20; the child attaches to the earliest. */
    tp_event *evs[] = {ev_span(20, 0), ev_span(20, 0), ev_span(21, 20)};
    expect_order(evs, 3, (size_t[]){0, 2, 1}, (int[]){0, 1, 0});
}
