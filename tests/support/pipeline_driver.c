/*
 * pipeline_driver.c - a stand-in service for the pipeline tests and the
 * benchmark: links libtraceshim, emits numbered events, flushes, prints its
 * counters.
 *
 * Event ids are [4-byte tag][8-byte counter][4 zero bytes], big-endian, so a
 * test reading the store back knows exactly which events must be there once.
 *
 * Usage: test-pipeline-driver --endpoint E [--spool-dir D] --tag T --count N
 *          [--start K] [--rate EV_PER_S] [--ack-timeout-ms MS] [--flush-ms MS]
 *          [--queue N] [--batch N] [--overflow spool|drop|block]
 *          [--hold] [--wait-spooled] [--take] [--note-bytes N] [--batch-max-bytes N]
 * Prints "emitted=.. acked=.. ... flush=RC emit_p50_ns=.. emit_p99_ns=..
 * emit_max_ns=.." on stdout (and "flushed" alone on a line before --hold
 * sleeps forever, for tests that SIGKILL it after flush).
 * Exit: 0 flush OK, 3 flush timed out, 2 usage, 1 other error.
 * Threading: single-threaded service (the shim has its own thread).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "traceshim.h"

static uint64_t mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int num(const char *s, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end) return -1;
    *out = v;
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static tp_event *make_event(uint32_t tag, uint64_t n, size_t note_bytes)
{
    tp_event *ev = tp_event_new();
    if (!ev) return NULL;
    uint8_t *id = calloc(1, 16);
    if (!id) {
        tp_event_destroy(&ev);
        return NULL;
    }
    for (int i = 0; i < 4; i++)
        id[i] = (uint8_t)(tag >> (24 - 8 * i));
    for (int i = 0; i < 8; i++)
        id[4 + i] = (uint8_t)(n >> (56 - 8 * i));
    ev->has_event_id = 1;
    ev->event_id.data = id;
    ev->event_id.len = 16;
    ev->has_kind = 1;
    ev->kind = AGENTTRAIL__V1__KIND__NOTE;
    ev->workflow = strdup("pipeline-test");
    ev->dri = strdup("dri@example.com");
    char note[64];
    snprintf(note, sizeof note, "event %" PRIu64 " of driver %" PRIu32, n, tag);
    if (note_bytes > strlen(note)) { /* padded with letters that compress poorly */
        char *p = malloc(note_bytes + 1);
        if (p) {
            uint64_t x = n * 0x9E3779B97F4A7C15ull + tag;
            size_t k = strlen(note);
            memcpy(p, note, k);
            for (; k < note_bytes; k++) {
                x = x * 6364136223846793005ull + 1442695040888963407ull;
                p[k] = (char)('a' + (x >> 60));
            }
            p[note_bytes] = 0;
        }
        ev->note = p;
    } else {
        ev->note = strdup(note);
    }
    if (!ev->workflow || !ev->dri || !ev->note) tp_event_destroy(&ev);
    return ev;
}

int main(int argc, char **argv)
{
    traceshim_options o;
    traceshim_options_default(&o);
    uint64_t tag = 1, count = 0, start = 0, rate = 0, flush_ms = 30000, note_bytes = 0, v;
    int hold = 0, wait_spooled = 0, take = 0, ne = 0;
    uint64_t errors = 0;
    tp_limits limits = tp_limits_default(); /* copied by traceshim_create */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--hold") == 0) {
            hold = 1;
            continue;
        }
        if (strcmp(a, "--take") == 0) {
            take = 1;
            continue;
        }
        if (strcmp(a, "--wait-spooled") == 0) {
            wait_spooled = 1;
            continue;
        }
        if (!val) goto usage;
        i++;
        if (strcmp(a, "--endpoint") == 0 && ne < TRACESHIM_MAX_ENDPOINTS - 1)
            o.endpoints[ne++] = val;
        else if (strcmp(a, "--spool-dir") == 0)
            o.spool_dir = val;
        else if (strcmp(a, "--overflow") == 0)
            o.overflow = strcmp(val, "drop") == 0    ? TRACESHIM_OVERFLOW_DROP
                         : strcmp(val, "block") == 0 ? TRACESHIM_OVERFLOW_BLOCK
                                                     : TRACESHIM_OVERFLOW_SPOOL;
        else if (num(val, &v) != 0)
            goto usage;
        else if (strcmp(a, "--tag") == 0)
            tag = v;
        else if (strcmp(a, "--count") == 0)
            count = v;
        else if (strcmp(a, "--start") == 0)
            start = v;
        else if (strcmp(a, "--rate") == 0)
            rate = v;
        else if (strcmp(a, "--note-bytes") == 0)
            note_bytes = v;
        else if (strcmp(a, "--flush-ms") == 0)
            flush_ms = v;
        else if (strcmp(a, "--ack-timeout-ms") == 0)
            o.ack_timeout_ms = (unsigned)v;
        else if (strcmp(a, "--queue") == 0)
            o.queue_events = v;
        else if (strcmp(a, "--batch") == 0)
            o.batch_events = v;
        else if (strcmp(a, "--batch-max-bytes") == 0) {
            limits.batch_max_bytes = (size_t)v;
            o.limits = &limits;
        } else
            goto usage;
    }
    traceshim *s = NULL;
    at_error err = {0};
    int rc = traceshim_create(&o, &s, &err);
    if (rc != 0) {
        fprintf(stderr, "driver: %s: %s\n", traceshim_strerror(rc), err.what);
        return 1;
    }
    uint64_t *lat = count ? malloc(count * sizeof *lat) : NULL;
    uint64_t t0 = mono();
    for (uint64_t k = 0; k < count; k++) {
        tp_event *ev = make_event((uint32_t)tag, start + k, (size_t)note_bytes);
        if (!ev) return 1;
        uint64_t a = mono();
        rc = take ? traceshim_emit_take(s, &ev) : traceshim_emit(s, ev);
        lat[k] = mono() - a;
        tp_event_destroy(&ev);
        if (rc != 0 && errors++ == 0)
            fprintf(stderr, "driver: emit %" PRIu64 ": %s (only the first error is shown)\n", k,
                    traceshim_strerror(rc));
        if (rate) {
            uint64_t due = t0 + (k + 1) * 1000000000ull / rate, now = mono();
            if (due > now) {
                struct timespec ts = {(time_t)((due - now) / 1000000000u),
                                      (long)((due - now) % 1000000000u)};
                nanosleep(&ts, NULL);
            }
        }
    }
    traceshim_counters c;
    if (wait_spooled) { /* until every emitted event is durable in the spool */
        do {
            usleep(10000);
            traceshim_counters_get(s, &c);
        } while (c.spooled < c.emitted);
        printf("spooled\n");
        fflush(stdout);
    }
    int frc = traceshim_flush(s, (int)flush_ms);
    traceshim_counters_get(s, &c);
    if (count) qsort(lat, count, sizeof *lat, cmp_u64);
    printf("emitted=%" PRIu64 " acked=%" PRIu64 " duplicates=%" PRIu64 " rejected=%" PRIu64
           " retried=%" PRIu64 " spooled=%" PRIu64 " replayed=%" PRIu64 " dropped=%" PRIu64
           " flush=%d emit_p50_ns=%" PRIu64 " emit_p99_ns=%" PRIu64 " emit_max_ns=%" PRIu64 "\n",
           c.emitted, c.acked, c.duplicates, c.rejected, c.retried, c.spooled, c.replayed,
           c.dropped, frc, count ? lat[count / 2] : 0, count ? lat[count * 99 / 100] : 0,
           count ? lat[count - 1] : 0);
    fflush(stdout);
    free(lat);
    if (hold) {
        printf("flushed\n");
        fflush(stdout);
        for (;;)
            pause();
    }
    traceshim_close(&s, 0);
    return frc == 0 ? 0 : 3;
usage:
    fprintf(stderr, "usage: test-pipeline-driver --endpoint E --tag T --count N [...]\n");
    return 2;
}
