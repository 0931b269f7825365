/*
 * tree.h - the order in which `show` prints a trace: a tree by parent span.
 *
 * Responsibility: given the events of one trace in time order, gives the display order
 * (depth first, children in time order) and each event's depth. Events whose parent span is
 * not in the trace are roots; events not reachable from a root (they hang off a cycle of
 * parents) are shown from the earliest of them, as a root. Every event appears exactly once.
 * Owns: nothing beyond the call (scratch memory is freed before returning).
 * Threading: reentrant.
 */
#ifndef AGENTTRAIL_QUERY_TREE_H
#define AGENTTRAIL_QUERY_TREE_H

#include <stddef.h>

#include "traceproto.h"

typedef struct qtree_line {
    size_t index; /* into the events array */
    int depth;    /* 0 for a root */
} qtree_line;

/* Fills out[0..n) with the display order of evs[0..n) (time order expected).
 * O(n log n). Returns 0, or -1 when out of memory. */
int qtree_order(const tp_event *const *evs, size_t n, qtree_line *out);

#endif
