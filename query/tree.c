/*
 * tree.c - display order of a trace as a tree by parent span (see tree.h).
 *
 * Responsibility: parent lookup by span id (sorted array, binary search), child lists in time
 * order, an iterative depth-first walk (a deep chain of spans must not overflow the stack).
 * Owns: scratch arrays for the duration of qtree_order.
 * Invariants: every index in 0..n-1 is emitted exactly once (visited flags).
 * Threading: reentrant.
 */
#include "tree.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct span_ref {
    uint8_t span[8];
    size_t index;
} span_ref;

static int cmp_span(const void *a, const void *b)
{
    const span_ref *x = a, *y = b;
    int c = memcmp(x->span, y->span, 8);
    if (c) return c;
    return x->index < y->index ? -1 : x->index > y->index;
}

static int has_span8(const ProtobufCBinaryData *d, protobuf_c_boolean has)
{
    return has && d->len == 8;
}

/* The earliest event whose span is `span`, or -1. */
static long find_span(const span_ref *refs, size_t n, const uint8_t span[8])
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (memcmp(refs[mid].span, span, 8) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && memcmp(refs[lo].span, span, 8) == 0 ? (long)refs[lo].index : -1;
}

typedef struct walk {
    long *first_child, *next_sibling;
    unsigned char *visited;
    size_t *stack;
    int *depth;
    qtree_line *out;
    size_t emitted;
} walk;

static void walk_from(walk *w, size_t root)
{
    size_t sp = 0;
    w->stack[sp] = root;
    w->depth[sp++] = 0;
    w->visited[root] = 1;
    while (sp > 0) {
        sp--;
        size_t i = w->stack[sp];
        int d = w->depth[sp];
        w->out[w->emitted].index = i;
        w->out[w->emitted++].depth = d;
        /* Push unvisited children, then reverse them so they pop in time order. */
        size_t mark = sp;
        for (long c = w->first_child[i]; c >= 0; c = w->next_sibling[c]) {
            if (w->visited[c]) continue;
            w->visited[c] = 1;
            w->stack[sp] = (size_t)c;
            w->depth[sp++] = d + 1;
        }
        for (size_t lo = mark, hi = sp; hi > lo + 1; lo++, hi--) {
            size_t ts = w->stack[lo];
            int td = w->depth[lo];
            w->stack[lo] = w->stack[hi - 1];
            w->depth[lo] = w->depth[hi - 1];
            w->stack[hi - 1] = ts;
            w->depth[hi - 1] = td;
        }
    }
}

int qtree_order(const tp_event *const *evs, size_t n, qtree_line *out)
{
    if (n == 0) return 0;
    span_ref *refs = malloc(n * sizeof *refs);
    long *parent = malloc(n * sizeof *parent);
    long *last_child = malloc(n * sizeof *last_child);
    walk w = {0};
    w.first_child = malloc(n * sizeof *w.first_child);
    w.next_sibling = malloc(n * sizeof *w.next_sibling);
    w.visited = calloc(n, 1);
    w.stack = malloc(n * sizeof *w.stack);
    w.depth = malloc(n * sizeof *w.depth);
    w.out = out;
    int rc = -1;
    if (!refs || !parent || !last_child || !w.first_child || !w.next_sibling || !w.visited ||
        !w.stack || !w.depth)
        goto done;
    size_t nrefs = 0;
    for (size_t i = 0; i < n; i++) {
        if (!has_span8(&evs[i]->span_id, evs[i]->has_span_id)) continue;
        memcpy(refs[nrefs].span, evs[i]->span_id.data, 8);
        refs[nrefs++].index = i;
    }
    qsort(refs, nrefs, sizeof *refs, cmp_span);
    for (size_t i = 0; i < n; i++) {
        parent[i] = -1;
        w.first_child[i] = w.next_sibling[i] = last_child[i] = -1;
        const tp_event *ev = evs[i];
        if (!has_span8(&ev->parent_span_id, ev->has_parent_span_id)) continue;
        long p = find_span(refs, nrefs, ev->parent_span_id.data);
        if (p >= 0 && (size_t)p != i) parent[i] = p;
    }
    for (size_t i = 0; i < n; i++) {
        long p = parent[i];
        if (p < 0) continue;
        if (last_child[p] < 0)
            w.first_child[p] = (long)i;
        else
            w.next_sibling[last_child[p]] = (long)i;
        last_child[p] = (long)i;
    }
    for (size_t i = 0; i < n; i++)
        if (parent[i] < 0 && !w.visited[i]) walk_from(&w, i);
    /* What is left hangs off a cycle of parents: its earliest event becomes a root. */
    for (size_t i = 0; i < n; i++)
        if (!w.visited[i]) walk_from(&w, i);
    rc = w.emitted == n ? 0 : -1;
done:
    free(refs);
    free(parent);
    free(last_child);
    free(w.first_child);
    free(w.next_sibling);
    free(w.visited);
    free(w.stack);
    free(w.depth);
    return rc;
}
