/*
 * shim_replay.c - the spool segment being replayed (see shim_replay.h).
 *
 * Owns: the segment's bytes, its record index and acked marks.
 * Invariants: recs[] are the good records in file order; next <= n; a
 * record marked acked is never handed out again.
 * Threading: the background thread only.
 */
#include "shim_replay.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atcommon.h"

static int push_rec(replay_seg *r, size_t *cap, size_t off, size_t len)
{
    if (at_grow((void **)&r->recs, cap, r->n + 1, sizeof *r->recs, 256)) return -1;
    r->recs[r->n].off = off;
    r->recs[r->n++].len = len;
    return 0;
}

static void report_damage(const replay_seg *r, spool *sp, const spool_damage *d,
                          replay_report_fn report, void *ctx)
{
    char name[64], line[1024], events[32];
    spool_segment_name(r->id, name, sizeof name);
    if (d->events < 0)
        snprintf(events, sizeof events, "unknown");
    else
        snprintf(events, sizeof events, "%ld", d->events);
    snprintf(line, sizeof line,
             "spool %s/%s: byte %zu: %s: %zu bytes skipped, events lost: %s; the rest of the "
             "segment is replayed",
             spool_dir(sp), name, d->off, d->why, d->bytes, events);
    report(ctx, line);
}

/* Walks the whole segment once: index of good records, damage reported. */
static int index_segment(replay_seg *r, spool *sp, replay_report_fn report, void *ctx,
                         replay_found *found)
{
    spool_cursor c;
    spool_cursor_init(&c, r->data, r->len);
    size_t cap = 0;
    const uint8_t *rec;
    size_t rl, at;
    spool_damage d;
    int k;
    while ((k = spool_cursor_next(&c, &rec, &rl, &at, &d)) != 0) {
        if (k > 0) {
            if (push_rec(r, &cap, (size_t)(rec - r->data), rl) != 0) return -1;
            continue;
        }
        report_damage(r, sp, &d, report, ctx);
        if (d.events > 0)
            found->lost += (uint64_t)d.events;
        else
            found->spans++;
    }
    found->unreadable = c.version < 0;
    found->records = r->n;
    return 0;
}

int replay_seg_load(replay_seg *r, spool *sp, replay_report_fn report, void *ctx,
                    replay_found *found)
{
    memset(found, 0, sizeof *found);
    memset(r, 0, sizeof *r);
    int k = spool_replay_take(sp, &r->id, &r->data, &r->len, &found->inherited);
    if (k <= 0) return k;
    if (index_segment(r, sp, report, ctx, found) != 0 || !(r->acked = calloc(r->n ? r->n : 1, 1))) {
        replay_seg_clear(r);
        errno = ENOMEM;
        return -1;
    }
    r->active = 1;
    return 1;
}

size_t replay_seg_take(replay_seg *r, size_t max, size_t max_bytes, uint8_t **evs, size_t *lens,
                       size_t *first, size_t *end)
{
    while (r->next < r->n && r->acked[r->next])
        r->next++;
    *first = r->next;
    size_t n = 0, bytes = 0;
    while (r->next < r->n && n < max) {
        if (r->acked[r->next]) { /* acked out of order earlier: not sent twice */
            r->next++;
            continue;
        }
        const replay_rec *rec = &r->recs[r->next];
        /* The same size rule as batches from the queue (16 bytes of framing
         * per event): a batch over the collector's limit would be refused. */
        if (n > 0 && bytes + rec->len + 16 * (n + 1) > max_bytes) break;
        evs[n] = r->data + rec->off;
        lens[n++] = rec->len;
        bytes += rec->len;
        r->next++;
    }
    *end = r->next;
    return n;
}

void replay_seg_acked(replay_seg *r, size_t first, size_t end)
{
    for (size_t i = first; i < end && i < r->n; i++)
        r->acked[i] = 1;
}

void replay_seg_rewind(replay_seg *r, size_t first)
{
    if (first < r->next) r->next = first;
}

int replay_seg_all_taken(const replay_seg *r)
{
    size_t i = r->next;
    while (i < r->n && r->acked[i])
        i++;
    return i >= r->n;
}

void replay_seg_clear(replay_seg *r)
{
    free(r->data);
    free(r->recs);
    free(r->acked);
    memset(r, 0, sizeof *r);
}
