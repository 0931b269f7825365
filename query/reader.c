/*
 * reader.c - events decoded into a per-event arena (see reader.h).
 *
 * Responsibility: a bump allocator handed to protobuf-c, reset before each decode; the
 * filters the store does not apply (qmatch).
 * Owns: a list of chunks; after a reset at most one chunk is kept (grown to what the largest
 * event needed), so a long scan settles on one block.
 * Invariants: every pointer handed out is 16-byte aligned and lies in a live chunk until the
 * next reset.
 * Threading: one thread per qreader.
 */
#include "reader.h"

#include <stdlib.h>
#include <string.h>

#define CHUNK_MIN (64 * 1024)
#define ALIGN 16

typedef struct chunk {
    struct chunk *next;
    size_t cap, used;
    unsigned char *data;
} chunk;

struct qreader {
    chunk *head;
    size_t total; /* bytes handed out since the last reset */
    ProtobufCAllocator alloc;
    int failed;
    const qmatch *match; /* borrowed; NULL: every event */
};

static chunk *chunk_new(size_t cap)
{
    chunk *c = malloc(sizeof *c);
    if (!c) return NULL;
    c->data = malloc(cap);
    if (!c->data) {
        free(c);
        return NULL;
    }
    c->cap = cap;
    c->used = 0;
    c->next = NULL;
    return c;
}

static void *arena_alloc(void *ctx, size_t n)
{
    qreader *r = ctx;
    size_t need = (n + ALIGN - 1) & ~(size_t)(ALIGN - 1);
    if (need == 0) need = ALIGN;
    if (!r->head || r->head->used + need > r->head->cap) {
        size_t cap = need * 2 > CHUNK_MIN ? need * 2 : CHUNK_MIN;
        chunk *c = chunk_new(cap);
        if (!c) {
            r->failed = 1;
            return NULL;
        }
        c->next = r->head;
        r->head = c;
    }
    void *p = r->head->data + r->head->used;
    r->head->used += need;
    r->total += need;
    return p;
}

static void arena_free(void *ctx, void *p)
{
    (void)ctx;
    (void)p; /* everything goes at the next reset */
}

static void free_chunks(chunk *c)
{
    while (c) {
        chunk *n = c->next;
        free(c->data);
        free(c);
        c = n;
    }
}

/* Keeps one chunk, large enough for what the last event needed. */
static void arena_reset(qreader *r)
{
    if (r->head && r->head->next) {
        size_t want = r->total * 2 > CHUNK_MIN ? r->total * 2 : CHUNK_MIN;
        free_chunks(r->head);
        r->head = chunk_new(want); /* NULL is fine: the next alloc makes one */
    } else if (r->head) {
        r->head->used = 0;
    }
    r->total = 0;
    r->failed = 0;
}

qreader *qreader_new(void)
{
    qreader *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->alloc.alloc = arena_alloc;
    r->alloc.free = arena_free;
    r->alloc.allocator_data = r;
    r->head = chunk_new(CHUNK_MIN);
    if (!r->head) {
        free(r);
        return NULL;
    }
    return r;
}

int qmatch_active(const qmatch *m)
{
    return m && (m->tool_status || m->error_text);
}

int qmatch_event(const qmatch *m, const tp_event *ev)
{
    if (!qmatch_active(m)) return 1;
    const Agenttrail__V1__ToolCall *tc = ev->tool_call;
    if (!tc) return 0;
    if (m->tool_status && (!tc->has_status || (int)tc->status != m->tool_status)) return 0;
    if (m->error_text && (!tc->error || !strstr(tc->error, m->error_text))) return 0;
    return 1;
}

void qreader_set_match(qreader *r, const qmatch *m)
{
    r->match = qmatch_active(m) ? m : NULL;
}

int qreader_next(qreader *r, ts_iter *it, const tp_event **ev)
{
    *ev = NULL;
    for (;;) {
        const uint8_t *buf = NULL;
        size_t len = 0;
        int rc = ts_iter_next_stored(it, &buf, &len);
        if (rc != 0) return rc;
        arena_reset(r);
        tp_event *e = agenttrail__v1__trace_event__unpack(&r->alloc, len, buf);
        if (!e) return r->failed ? TS_ENOMEM : TS_ECORRUPT;
        if (!r->match || qmatch_event(r->match, e)) {
            *ev = e;
            return 0;
        }
    }
}

void qreader_destroy(qreader **rp)
{
    if (!rp || !*rp) return;
    free_chunks((*rp)->head);
    free(*rp);
    *rp = NULL;
}
