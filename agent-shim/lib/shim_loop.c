/*
 * shim_loop.c - libtraceshim's background thread (see shim_internal.h):
 * queue -> batch -> collector, acks, resends and timeouts, queue -> spool
 * while the collector is unreachable, spool -> collector (shim_replay.c)
 * when it answers again, batches too big for the collector, the socket
 * monitor, and the lines for people about what was lost or refused.
 *
 * Owns nothing of its own: it works on the client's window, replay state and
 * socket, which belong to the background thread alone.
 * Invariants: those of shim.c; a batch in the window is in_use until acked,
 * spooled, set aside or dropped (counted).
 * Threading: the background thread, except shim_log, shim_worth_reporting,
 * shim_spool_events, shim_prepare_pack and shim_queue_count (any thread:
 * emit uses them) and shim_spill (close, after the thread stopped).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "shim_internal.h"
#include "shim_monitor.h"
#include "shim_replay.h"
#include "spool.h"

uint64_t shim_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- small helpers ---------------------------------------------------- */

/* A line for people through the log option (stderr by default). */
void shim_log(traceshim *s, const char *fmt, ...)
{
    char line[1536];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (s->o.log)
        s->o.log(s->o.log_ctx, line);
    else
        fprintf(stderr, "traceshim: %s\n", line);
}

static void replay_report(void *ctx, const char *line)
{
    shim_log(ctx, "%s", line);
}

/* Repeated failures are reported 10 times, then at powers of two. */
int shim_worth_reporting(atomic_uint_fast64_t *counter)
{
    uint64_t n = atomic_fetch_add(counter, 1) + 1;
    return n <= 10 || (n & (n - 1)) == 0;
}

static const char *spool_path(traceshim *s)
{
    return s->spool_dir ? s->spool_dir : "(none)";
}

/* Events given up because the spool could not take them (counted, said). */
static void spool_failed(traceshim *s, size_t n, int err, const char *what)
{
    CINC(s, c_dropped, n);
    if (!shim_worth_reporting(&s->spool_failures)) return;
    const char *hint = err == ENOSPC || err == EDQUOT || err == EFBIG
                           ? "; free space on that file system or give a bigger --spool-dir"
                       : err == EMSGSIZE ? " (an event over the spool's record limit)"
                                         : "";
    shim_log(s, "spool %s: %s failed: %s%s: %zu event(s) dropped (counted in `dropped`)",
             spool_path(s), what, strerror(err), hint, n);
}

void shim_batch_free(batch *b)
{
    if (!b->from_spool) {
        for (size_t i = 0; i < b->n; i++)
            free(b->evs[i]);
    }
    free(b->evs);
    free(b->lens);
    free(b->frame);
    memset(b, 0, sizeof *b);
}

static batch *win_slot(traceshim *s)
{
    for (unsigned i = 0; i < s->o.window; i++)
        if (!s->win[i].in_use) return &s->win[i];
    return NULL;
}

static long spool_sync_count(traceshim *s)
{
    if (!s->sp) return 0;
    long lost = 0;
    long n = spool_sync(s->sp, &lost);
    if (n > 0) CINC(s, c_spooled, n);
    if (n < 0 && lost > 0) spool_failed(s, (size_t)lost, errno, "fsync");
    return n;
}

/* Writes events to the spool (not yet fsync'd: spool_sync_count does it and
 * counts). On failure (nothing of them written) the events are dropped,
 * counted and reported. Frees nothing. Returns 0 or -1. */
int shim_spool_events(traceshim *s, uint8_t *const *evs, const size_t *lens, size_t n)
{
    if (n == 0) return 0;
    if (!s->sp) {
        CINC(s, c_dropped, n);
        return -1;
    }
    if (spool_append(s->sp, (const uint8_t *const *)evs, lens, n) != 0) {
        spool_failed(s, n, errno, "write");
        return -1;
    }
    return 0;
}

/* Masks secrets, hashes prompt text, packs. Slow (the masker reads every
 * string): runs on the background thread, or in emit only when the queue
 * is full and the event goes to the spool. 0, or -1 (counted rejected). */
int shim_prepare_pack(traceshim *s, tp_event *ev, uint8_t **buf, size_t *len)
{
    at_error err;
    if (tp_event_prepare(ev, s->has_key ? s->key : NULL, s->o.keep_prompt_text, &err) != 0 ||
        tp_event_pack(ev, buf, len) != 0) {
        CINC(s, c_rejected, 1);
        return -1;
    }
    if (*len > s->limits.event_max) {
        free(*buf);
        *buf = NULL;
        CINC(s, c_rejected, 1);
        return -1;
    }
    return 0;
}

/* ---- background thread: queue ------------------------------------------- */

/* Takes up to `max` events from the queue. */
static size_t queue_take(traceshim *s, qitem *out, size_t max)
{
    pthread_mutex_lock(&s->qmu);
    size_t n = s->count < max ? s->count : max;
    for (size_t i = 0; i < n; i++) {
        out[i] = s->ring[s->head];
        s->head = (s->head + 1) % s->cap;
    }
    s->count -= n;
    if (s->count) s->q_first = shim_now_ns(); /* what is left waits a full delay at most */
    pthread_mutex_unlock(&s->qmu);
    if (n) pthread_cond_broadcast(&s->qspace);
    return n;
}

size_t shim_queue_count(traceshim *s, uint64_t *first)
{
    pthread_mutex_lock(&s->qmu);
    size_t n = s->count;
    if (first) *first = s->q_first;
    pthread_mutex_unlock(&s->qmu);
    return n;
}

/* Moves the queue to the spool until `keep` events are left in it. */
static void queue_to_spool(traceshim *s, size_t keep)
{
    qitem items[256];
    size_t n, q;
    while ((q = shim_queue_count(s, NULL)) > keep &&
           (n = queue_take(s, items, q - keep < 256 ? q - keep : 256)) > 0) {
        uint8_t *evs[256];
        size_t lens[256], m = 0;
        for (size_t i = 0; i < n; i++) {
            if (shim_prepare_pack(s, items[i], &evs[m], &lens[m]) == 0) m++;
            tp_event_destroy(&items[i]);
        }
        shim_spool_events(s, evs, lens, m);
        for (size_t i = 0; i < m; i++)
            free(evs[i]);
    }
}

/* ---- background thread: sending ----------------------------------------- */

/* Event bytes per batch: the batch size limit less 64 KiB of framing, or
 * less when the collector was seen to refuse smaller batches. */
static size_t batch_cap(const traceshim *s)
{
    size_t cap = s->limits.batch_max_bytes > 65536 ? s->limits.batch_max_bytes - 65536 : 0;
    return s->learned_cap && s->learned_cap < cap ? s->learned_cap : cap;
}

/* Sends (or resends) a batch's frame. 0, or -1 when it cannot be queued on
 * a live connection (not connected yet, collector gone, queue full): it is
 * then tried again shortly. A batch goes to the spool only once the
 * collector has been silent for an ack timeout (check_timeouts), so a client
 * that sends before its connection is up does not spool. */
static int batch_send(traceshim *s, batch *b, uint64_t now)
{
    uint64_t tmo = (uint64_t)s->o.ack_timeout_ms * 1000000u;
    if (!b->giveup_at) b->giveup_at = now + tmo;
    if (zmq_send(s->sock, b->frame, b->frame_len, ZMQ_DONTWAIT) < 0) {
        b->deadline = now + RETRY_BACKOFF_MS * 1000000ull;
        return -1;
    }
    /* Wait at least 3x the acks' usual delay: a collector with a deep
     * queue is slow to answer, not gone. Each resend waits twice as long
     * again (up to 32x): a slow collector gets time, not a storm. */
    if (3 * s->srtt > tmo) tmo = 3 * s->srtt;
    if (tmo > 60000000000ull) tmo = 60000000000ull;
    b->deadline = now + (tmo << (b->sends < 5 ? b->sends : 5));
    b->wait_conn = 0;
    if (b->sends++ == 0) b->sent_at = now;
    return 0;
}

/* Room for a full batch's event pointers and lengths in a free slot. 0 or -1. */
static int batch_alloc(traceshim *s, batch *b)
{
    b->evs = malloc(s->o.batch_events * sizeof *b->evs);
    b->lens = malloc(s->o.batch_events * sizeof *b->lens);
    if (b->evs && b->lens) return 0;
    free(b->evs);
    free(b->lens);
    b->evs = NULL;
    b->lens = NULL;
    return -1;
}

static int batch_build(traceshim *s, batch *b, size_t n)
{
    b->seq = s->next_seq++;
    b->n = n;
    b->in_use = 1;
    return tp_batch_encode(s->shim_id, b->seq, (const uint8_t *const *)b->evs, b->lens, n,
                           &b->frame, &b->frame_len) == 0
               ? 0
               : -1;
}

/* Stops the replay of the current segment: its batches leave the window and
 * sending resumes at the first record not yet acked (records of batches
 * acked out of order are skipped, never sent twice). */
static void replay_abort(traceshim *s)
{
    if (!s->rs.active) return;
    for (unsigned i = 0; i < s->o.window; i++) {
        batch *b = &s->win[i];
        if (b->in_use && b->from_spool) {
            replay_seg_rewind(&s->rs, b->rfirst);
            shim_batch_free(b);
        }
    }
    s->nwin -= s->rinflight;
    s->rinflight = 0;
}

/* Gives up on a batch for now: memory batches go to the spool (or, without
 * one, stay for a later resend); spool batches resume at their first unacked record. */
static void batch_fail(traceshim *s, batch *b, uint64_t now)
{
    s->down = 1;
    s->probe_at = now + PROBE_INTERVAL_MS * 1000000ull;
    if (b->from_spool) {
        replay_abort(s);
        return;
    }
    if (!s->sp) { /* keep it; try again later */
        b->attempts = 0;
        b->deadline = now + PROBE_INTERVAL_MS * 1000000ull;
        b->giveup_at = now + (uint64_t)s->o.ack_timeout_ms * 1000000u;
        return;
    }
    shim_spool_events(s, b->evs, b->lens, b->n);
    shim_batch_free(b);
    s->nwin--;
}

/* Takes the next segment for replay: its damaged records are reported and
 * counted lost; one of an unknown format version is set aside. 1 loaded. */
static int replay_load(traceshim *s)
{
    replay_found f;
    int r = replay_seg_load(&s->rs, s->sp, replay_report, s, &f);
    if (r <= 0) return 0;
    CINC(s, c_lost, f.lost);
    CINC(s, c_lost_spans, f.spans);
    if (f.inherited) CINC(s, c_recovered, f.records);
    if (f.unreadable) {
        char name[64];
        spool_segment_name(s->rs.id, name, sizeof name);
        if (spool_set_aside(s->sp, s->rs.id) == 0)
            shim_log(s, "spool %s/%s: set aside as %s.unreadable (not replayed, not deleted)",
                     spool_path(s), name, name);
        replay_seg_clear(&s->rs);
        return 0;
    }
    s->rinflight = 0;
    return 1;
}

/* Reads the next batch out of the replay segment. 1 sent (or failed and
 * handled), 0 nothing to send. */
static int replay_next(traceshim *s, uint64_t now, int probe)
{
    if (!s->sp) return 0;
    if (!s->rs.active && !replay_load(s)) return 0;
    if (replay_seg_all_taken(&s->rs)) {
        if (s->rinflight == 0) { /* every batch of it acked: delete */
            spool_remove(s->sp, s->rs.id);
            replay_seg_clear(&s->rs);
            return 1; /* the next segment may follow at once */
        }
        return 0;
    }
    batch *b = win_slot(s);
    if (!b) return 0;
    if (batch_alloc(s, b) != 0) return 0;
    b->from_spool = 1;
    /* The same size rule as batches from the queue: a replayed batch over the collector's
     * limit would be refused (or its connection dropped) on every replay. */
    size_t cap = batch_cap(s);
    size_t n =
        replay_seg_take(&s->rs, s->o.batch_events, cap, b->evs, b->lens, &b->rfirst, &b->rend);
    if (n == 0 || batch_build(s, b, n) != 0) {
        replay_seg_rewind(&s->rs, b->rfirst);
        shim_batch_free(b);
        return 0;
    }
    s->nwin++;
    s->rinflight++;
    int sent = batch_send(s, b, now) == 0;
    if (probe && sent) /* a collector just back may be busy: wait longer for this one */
        b->giveup_at = b->deadline = now + 4ull * s->o.ack_timeout_ms * 1000000u;
    return 1;
}

/* Sends a batch from the queue when it is full, old enough or being flushed. */
static int send_from_queue(traceshim *s, uint64_t now, int urgent)
{
    uint64_t first = 0;
    size_t q = shim_queue_count(s, &first) + (s->carry != NULL);
    if (q == 0) return 0;
    if (q < s->o.batch_events && !urgent && now < first + (uint64_t)s->o.batch_delay_ms * 1000000u)
        return 0;
    batch *b = win_slot(s);
    if (!b) return 0;
    size_t max = s->o.batch_events, n = 0, bytes = 0, taken = 0;
    if (batch_alloc(s, b) != 0) return 0;
    if (s->carry) { /* the event that did not fit in the previous batch */
        b->evs[n] = s->carry;
        b->lens[n++] = s->carry_len;
        bytes = s->carry_len;
        s->carry = NULL;
    }
    /* Events are masked and packed one by one; a batch stays under the
     * batch size limit (the collector rejects bigger ones whole). */
    size_t cap = batch_cap(s);
    qitem it;
    while (n < max && queue_take(s, &it, 1) == 1) {
        taken++;
        uint8_t *buf = NULL;
        size_t len = 0;
        int rc = shim_prepare_pack(s, it, &buf, &len);
        tp_event_destroy(&it);
        if (rc != 0) continue;
        if (n > 0 && bytes + len + 16 * (n + 1) > cap) {
            s->carry = buf;
            s->carry_len = len;
            break;
        }
        b->evs[n] = buf;
        b->lens[n++] = len;
        bytes += len;
    }
    b->n = n;
    if (n == 0) {
        shim_batch_free(b);
        return taken > 0;
    }
    if (batch_build(s, b, n) != 0) {
        shim_spool_events(s, b->evs, b->lens, n);
        shim_batch_free(b);
        return 0;
    }
    s->nwin++;
    batch_send(s, b, now);
    return 1;
}

/* The carried event goes to the spool with the queue. */
static void carry_to_spool(traceshim *s)
{
    if (!s->carry) return;
    shim_spool_events(s, &s->carry, &s->carry_len, 1);
    free(s->carry);
    s->carry = NULL;
}

/* ---- background thread: acks and timeouts -------------------------------- */

static batch *win_find(traceshim *s, uint64_t seq)
{
    for (unsigned i = 0; i < s->o.window; i++)
        if (s->win[i].in_use && s->win[i].seq == seq) return &s->win[i];
    return NULL;
}

static void batch_done(traceshim *s, batch *b)
{
    if (b->from_spool) {
        s->rinflight--;
        replay_seg_acked(&s->rs, b->rfirst, b->rend);
        CINC(s, c_replayed, b->n);
    }
    shim_batch_free(b);
    s->nwin--;
}

/* The collector's limit when a REJECTED ack says the batch was too big
 * ("batch is N bytes; at most M", tp_batch_decode's words), else 0. */
static size_t refused_for_size(const char *reason)
{
    const char *p = reason ? strstr(reason, "batch is ") : NULL;
    p = p ? strstr(p, "; at most ") : NULL;
    if (!p) return 0;
    unsigned long long v = strtoull(p + strlen("; at most "), NULL, 10);
    return v > 0 && v < SIZE_MAX ? (size_t)v : 0;
}

/* A batch that cannot be delivered as it is, for its size: the collector
 * refused it (REJECTED naming its limit) or closed the connection on it
 * again and again (frames above twice its limit; libzmq says nothing
 * more). Later batches are cut below `limit`; this one's events go to the
 * spool (or back into the replay) to be sent in smaller batches; a single
 * event is moved aside to SPOOL_ASIDE_NAME, reported, never resent. */
static void batch_too_big(traceshim *s, batch *b, size_t limit, const char *how)
{
    size_t cap = limit > 131072 ? limit - 65536 : limit / 2;
    if (!s->learned_cap || cap < s->learned_cap) {
        s->learned_cap = cap;
        shim_log(s,
                 "the collector %s a batch of %zu bytes (%zu events): batches are cut to %zu "
                 "bytes of events from now on (is its --max-batch-bytes smaller than this "
                 "shim's?)",
                 how, b->frame_len, b->n, cap);
    }
    if (b->n == 1) {
        const uint8_t *ev = b->evs[0];
        if (s->sp && spool_put_aside(s->sp, &ev, b->lens, 1) == 0) {
            CINC(s, c_set_aside, 1);
            shim_log(s,
                     "an event of %zu bytes is over the collector's limit: moved to %s/%s, "
                     "never resent",
                     b->lens[0], spool_path(s), SPOOL_ASIDE_NAME);
        } else {
            spool_failed(s, 1, s->sp ? errno : ENOENT, "setting an undeliverable event aside");
        }
        if (b->from_spool) {
            s->rinflight--;
            replay_seg_acked(&s->rs, b->rfirst, b->rend);
        }
    } else if (b->from_spool) {
        s->rinflight--;
        replay_seg_rewind(&s->rs, b->rfirst);
    } else {
        shim_spool_events(s, b->evs, b->lens, b->n); /* a failure is counted dropped there */
    }
    shim_batch_free(b);
    s->nwin--;
}

/* Events the collector refused, with its reason (the first of the ack), said through the
 * log option: the counters say how many, only this says why. */
static void report_refused(traceshim *s, const tp_ack *ack, size_t nbatch)
{
    size_t n = ack->status == AGENTTRAIL__V1__ACK_STATUS__ACK_OK ? ack->n_rejected : nbatch;
    if (n == 0 || !shim_worth_reporting(&s->refusal_reports)) return;
    const char *why = ack->status == AGENTTRAIL__V1__ACK_STATUS__ACK_OK
                          ? (ack->rejected[0]->reason ? ack->rejected[0]->reason : "")
                          : (ack->reason ? ack->reason : "");
    shim_log(s, "the collector refused %zu event(s) of batch %llu, the first: %s", n,
             (unsigned long long)ack->seq, why);
}

static void handle_ack(traceshim *s, const uint8_t *buf, size_t len, uint64_t now)
{
    tp_ack *ack = NULL;
    at_error err;
    if (tp_ack_decode(buf, len, &ack, &err) != 0) return; /* not from a collector */
    batch *b = win_find(s, ack->seq);
    if (!b) { /* an ack for a batch already settled (resend, abort) */
        tp_ack_destroy(&ack);
        return;
    }
    switch (ack->status) {
    case AGENTTRAIL__V1__ACK_STATUS__ACK_OK:
        s->last_ack = now;
        if (b->sends == 1) /* resent batches say nothing certain about the delay */
            s->srtt = s->srtt ? (7 * s->srtt + (now - b->sent_at)) / 8 : now - b->sent_at;
        CINC(s, c_acked, ack->accepted);
        CINC(s, c_dups, ack->duplicates);
        CINC(s, c_rejected, ack->n_rejected);
        report_refused(s, ack, b->n);
        s->down = 0;
        batch_done(s, b);
        break;
    case AGENTTRAIL__V1__ACK_STATUS__ACK_REJECTED: {
        s->last_ack = now;
        s->down = 0;
        size_t limit = refused_for_size(ack->reason);
        if (limit) {
            batch_too_big(s, b, limit, "refused");
            break;
        }
        CINC(s, c_rejected, b->n);
        report_refused(s, ack, b->n);
        batch_done(s, b);
        break;
    }
    default: /* RETRY: store full or collector busy */
        if (++b->attempts >= s->o.attempts) {
            batch_fail(s, b, now);
        } else {
            b->deadline = now + RETRY_BACKOFF_MS * 1000000ull;
        }
        break;
    }
    tp_ack_destroy(&ack);
}

static void recv_acks(traceshim *s, uint64_t now)
{
    for (;;) {
        int n = zmq_recv(s->sock, s->rxbuf, 65536, ZMQ_DONTWAIT);
        if (n < 0) break;
        if (n > 65536) continue; /* truncated: not an ack of ours */
        handle_ack(s, s->rxbuf, (size_t)n, now);
    }
}

static void check_timeouts(traceshim *s, uint64_t now)
{
    /* A batch goes to the spool (and the client down) only when the
     * collector has answered nothing for a whole ack timeout; while acks
     * flow, a late batch is resent instead. */
    int silent = now - s->last_ack >= (uint64_t)s->o.ack_timeout_ms * 1000000u;
    for (unsigned i = 0; i < s->o.window; i++) {
        batch *b = &s->win[i];
        if (!b->in_use) continue;
        if (silent && b->giveup_at && now >= b->giveup_at) {
            batch_fail(s, b, now);
            continue;
        }
        if (now < b->deadline) continue;
        CINC(s, c_retried, 1);
        batch_send(s, b, now);
    }
}

/* ---- background thread: flush and the loop --------------------------- */

static int all_settled(traceshim *s)
{
    return s->nwin == 0 && shim_queue_count(s, NULL) == 0 && !s->carry && !s->rs.active &&
           (!s->sp || !spool_has_data(s->sp));
}

/* Flush timed out: everything in memory goes to the spool, durably. */
void shim_spill(traceshim *s)
{
    if (!s->sp) return;
    for (unsigned i = 0; i < s->o.window; i++) {
        batch *b = &s->win[i];
        if (b->in_use && !b->from_spool) {
            shim_spool_events(s, b->evs, b->lens, b->n);
            shim_batch_free(b);
            s->nwin--;
        }
    }
    carry_to_spool(s);
    queue_to_spool(s, 0);
    spool_sync_count(s);
}

static int poll_timeout_ms(traceshim *s, uint64_t now, uint64_t req_deadline)
{
    uint64_t next = now + 100 * 1000000ull;
    uint64_t first = 0;
    if (shim_queue_count(s, &first) > 0) {
        uint64_t t = first + (uint64_t)s->o.batch_delay_ms * 1000000u;
        if (t < next) next = t;
    }
    for (unsigned i = 0; i < s->o.window; i++)
        if (s->win[i].in_use && s->win[i].deadline < next) next = s->win[i].deadline;
    if (s->down && s->probe_at < next) next = s->probe_at;
    if (req_deadline && req_deadline < next) next = req_deadline;
    if (next <= now) return 0;
    return (int)((next - now + 999999) / 1000000);
}

static void bg_step(traceshim *s, uint64_t gen, uint64_t req_deadline)
{
    uint64_t now = shim_now_ns();
    recv_acks(s, now);
    check_timeouts(s, now);
    int urgent = gen > s->done_gen || atomic_load(&s->closing);
    if (!s->down) {
        /* Spool first (older), at most half the window; then the queue. */
        while (s->rinflight < (s->o.window + 1) / 2 && s->nwin < s->o.window && !s->down &&
               replay_next(s, now, 0))
            ;
        while (s->nwin < s->o.window && !s->down && send_from_queue(s, now, urgent))
            ;
        /* Window stuck and the queue half full: spool from here, so that
         * emit rarely has to write the spool itself. */
        if (s->sp && s->nwin == s->o.window && shim_queue_count(s, NULL) > s->cap / 2)
            queue_to_spool(s, s->cap / 4);
    } else {
        if (s->sp) {
            carry_to_spool(s);
            queue_to_spool(s, 0);
        }
        if (now >= s->probe_at) {
            s->probe_at = now + PROBE_INTERVAL_MS * 1000000ull;
            if (s->rinflight == 0 && !replay_next(s, now, 1) && !s->sp) send_from_queue(s, now, 1);
        }
    }
    spool_sync_count(s);
    if (!gen) return;
    pthread_mutex_lock(&s->fmu);
    if (s->done_gen < gen && all_settled(s)) {
        s->done_gen = gen;
        pthread_cond_broadcast(&s->fcond);
    } else if (s->spill_gen < gen && req_deadline && shim_now_ns() >= req_deadline) {
        pthread_mutex_unlock(&s->fmu);
        shim_spill(s);
        pthread_mutex_lock(&s->fmu);
        s->spill_gen = gen;
        if (s->req_gen == gen) s->req_deadline = 0;
        pthread_cond_broadcast(&s->fcond);
    }
    pthread_mutex_unlock(&s->fmu);
}

/* The connection closed: the biggest batch in flight is suspected of being
 * over the collector's limit (it closes on frames above twice its
 * --max-batch-bytes, and libzmq's monitor gives no reason). Only batches
 * over SIZE_SUSPECT_BYTES: a collector killed while a small batch was in
 * flight never makes the shim cut batches. Three closes while it is in
 * flight and it is handled as too big: a batch that was not (the collector
 * was killed three times while it was in flight) is only cut smaller; a
 * lone event over 64 KiB would be set aside (kept, reported), never lost. */
#define SIZE_SUSPECT_BYTES (64u << 10)
#define SIZE_SUSPECT_DROPS 3

static void suspect_on_close(traceshim *s, uint64_t now)
{
    batch *big = NULL;
    for (unsigned i = 0; i < s->o.window; i++) {
        batch *b = &s->win[i];
        /* What was in flight on the closed connection is gone with it: sent
         * again once a connection is up (resend_on_connect; the collector
         * stores each event once, a late ack of a settled batch is ignored).
         * Not at once: until the socket has processed the closed pipe's end,
         * zmq_send still "succeeds" into it and the frame is lost, and the
         * batch would then wait its doubled deadline, past its give-up time.
         * An ack timeout at most, should the monitor miss the reconnection. */
        if (b->in_use && b->sends > 0) {
            b->wait_conn = 1;
            b->deadline = now + (uint64_t)s->o.ack_timeout_ms * 1000000u;
        }
        if (b->in_use && b->sends > 0 && b->frame_len > SIZE_SUSPECT_BYTES &&
            (!big || b->frame_len > big->frame_len))
            big = b;
    }
    if (big && ++big->drops >= SIZE_SUSPECT_DROPS)
        batch_too_big(s, big, big->frame_len / 2, "closed the connection 3 times on");
}

/* A connection is up (handshake done, long after the closed one's pipe
 * was dropped): what waits for one is sent now. */
static void resend_on_connect(traceshim *s, uint64_t now)
{
    for (unsigned i = 0; i < s->o.window; i++) {
        batch *b = &s->win[i];
        if (b->in_use && b->wait_conn) {
            b->wait_conn = 0;
            b->deadline = now;
        }
    }
}

/* Whether a power of two lies in (before, after]: reports at the 1st, 2nd, 4th, 8th... */
static int crossed_power_of_two(uint64_t before, uint64_t after)
{
    for (uint64_t p = 1; p && p <= after; p <<= 1)
        if (p > before) return 1;
    return 0;
}

/* Reads the socket monitor: closed and new connections (above), a refused
 * key counted and said (the shim would otherwise look like it waits for a
 * collector that is not there). */
static void read_monitor(traceshim *s)
{
    if (!s->mon) return;
    uint64_t before = s->conn.auth_refused, closed = s->conn.disconnected,
             opened = s->conn.connected, failed = s->conn.handshake_failed;
    shim_monitor_drain(s->mon, &s->conn);
    if (s->conn.disconnected != closed) suspect_on_close(s, shim_now_ns());
    if (s->conn.connected != opened && s->conn.up) resend_on_connect(s, shim_now_ns());
    uint64_t nf = s->conn.handshake_failed;
    if (nf != failed) {
        CINC(s, c_handshake_failed, nf - failed);
        /* libzmq retries the handshake every reconnect interval: said at 1, 2, 4, 8... */
        if (crossed_power_of_two(failed, nf))
            shim_log(s,
                     "%s: the CURVE handshake with the collector failed (a wrong --server-key, or "
                     "CURVE on one side only?); failed so far: %llu",
                     s->endpoints[0], (unsigned long long)s->conn.handshake_failed);
    }
    uint64_t refused = s->conn.auth_refused - before;
    if (refused == 0) return;
    CINC(s, c_auth_refused, refused);
    if (shim_worth_reporting(&s->auth_reports))
        shim_log(s,
                 "%s: the collector refused this shim's key (not on its allowlist?); ZAP status "
                 "%d; refused so far: %llu",
                 s->endpoints[0], s->conn.last_status, (unsigned long long)s->conn.auth_refused);
}

void *shim_bg_main(void *arg)
{
    traceshim *s = arg;
    s->last_ack = shim_now_ns();
    while (!atomic_load(&s->stop)) {
        pthread_mutex_lock(&s->fmu);
        uint64_t gen = s->req_gen > s->done_gen && s->req_gen > s->spill_gen ? s->req_gen : 0;
        uint64_t dl = s->req_deadline;
        pthread_mutex_unlock(&s->fmu);
        bg_step(s, gen, gen ? dl : 0);
        uint64_t now = shim_now_ns();
        zmq_pollitem_t items[3] = {{s->sock, 0, ZMQ_POLLIN, 0},
                                   {NULL, s->evfd, ZMQ_POLLIN, 0},
                                   {s->mon, 0, ZMQ_POLLIN, 0}};
        int timeout = poll_timeout_ms(s, now, gen ? dl : 0);
        if (gen && all_settled(s)) timeout = 0;
        if (zmq_poll(items, s->mon ? 3 : 2, timeout) > 0 && (items[1].revents & ZMQ_POLLIN)) {
            uint64_t v;
            ssize_t r = read(s->evfd, &v, sizeof v);
            (void)r;
        }
        read_monitor(s);
    }
    return NULL;
}
