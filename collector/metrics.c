/*
 * metrics.c - trace-collector's counters and their Prometheus text (see metrics.h).
 *
 * Owns: the counters (C11 atomics, relaxed: each is a count on its own, no ordering between
 * them is promised), two fixed-bucket histograms, the store's last health and its reason
 * (under peer_lock, as the peer table), and the peer table: the routing ids of the ZeroMQ
 * connections that sent a batch, with when, so that "connected shims" is the number of
 * connections heard from in the last PEER_WINDOW_MS (a shim that reconnects gets a new
 * routing id and counts twice until its old one ages out).
 * Threading: any thread; see metrics.h.
 */
#include "metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "traceotlp.h"
#include "traceproto.h"

#define PEER_SLOTS 512
#define PEER_WINDOW_MS 60000u

typedef _Atomic uint64_t counter;

/* Rejection classes, in the order of reject_names. */
enum { RJ_INVALID, RJ_TOO_BIG, RJ_DECODE, RJ_NO_MEMORY, RJ_CONFLICT, RJ_OTHER, RJ_COUNT };
static const char *const reject_names[RJ_COUNT] = {"invalid",   "too_big",  "decode",
                                                   "no_memory", "conflict", "other"};
static const char *const batch_names[METRICS_BATCH_COUNT] = {"ok", "rejected", "retry"};
static const char *const span_names[METRICS_SPAN_COUNT] = {"stored", "rejected", "not_ai"};

/* The HTTP status codes the server answers; anything else counts as "other". */
static const int http_codes[] = {200, 400, 404, 405, 413, 415, 429, 500, 503};
#define HTTP_CODES (sizeof http_codes / sizeof http_codes[0])

static const double commit_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                       0.1,    0.25,  0.5,    1,     2.5,  5,     10};
#define COMMIT_BUCKETS (sizeof commit_bounds / sizeof commit_bounds[0])
static const double group_bounds[] = {1, 4, 16, 64, 256, 1024, 2048, 4096, 8192, 16384};
#define GROUP_BUCKETS (sizeof group_bounds / sizeof group_bounds[0])

typedef struct histogram {
    counter bucket[16]; /* per bound (not cumulative), then +Inf */
    counter count, sum_micro;
} histogram;

typedef struct peer {
    uint64_t hash, last_ms;
} peer;

struct metrics {
    counter stored, duplicates, rejected[RJ_COUNT], batches[METRICS_BATCH_COUNT];
    counter http[HTTP_CODES + 1];
    counter spans_dialect[OTLP_DIALECT_COUNT], spans_result[METRICS_SPAN_COUNT];
    counter store_bytes, map_size, store_events;
    histogram commit, group;
    pthread_mutex_t peer_lock;
    peer peers[PEER_SLOTS];
    int store_state;
    char store_why[256];
};

static void inc(counter *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static uint64_t get(counter *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

metrics *metrics_create(void)
{
    metrics *m = calloc(1, sizeof *m);
    if (m && pthread_mutex_init(&m->peer_lock, NULL) != 0) {
        free(m);
        return NULL;
    }
    return m;
}

void metrics_destroy(metrics **m)
{
    if (!m || !*m) return;
    pthread_mutex_destroy(&(*m)->peer_lock);
    free(*m);
    *m = NULL;
}

void metrics_add_events(metrics *m, uint64_t stored, uint64_t duplicates)
{
    inc(&m->stored, stored);
    inc(&m->duplicates, duplicates);
}

void metrics_add_rejected(metrics *m, int tp_code, int conflict)
{
    int k = conflict                ? RJ_CONFLICT
            : tp_code == TP_EINVAL  ? RJ_INVALID
            : tp_code == TP_ETOOBIG ? RJ_TOO_BIG
            : tp_code == TP_EDECODE ? RJ_DECODE
            : tp_code == TP_ENOMEM  ? RJ_NO_MEMORY
                                    : RJ_OTHER;
    inc(&m->rejected[k], 1);
}

void metrics_add_batch(metrics *m, int outcome)
{
    if (outcome >= 0 && outcome < METRICS_BATCH_COUNT) inc(&m->batches[outcome], 1);
}

static void observe(histogram *h, const double *bounds, size_t nb, double v)
{
    size_t i = 0;
    while (i < nb && v > bounds[i])
        i++;
    inc(&h->bucket[i], 1);
    inc(&h->count, 1);
    inc(&h->sum_micro, (uint64_t)(v * 1e6));
}

void metrics_add_commit(metrics *m, uint64_t ns, size_t events, int store, const char *why)
{
    observe(&m->commit, commit_bounds, COMMIT_BUCKETS, (double)ns / 1e9);
    observe(&m->group, group_bounds, GROUP_BUCKETS, (double)events);
    pthread_mutex_lock(&m->peer_lock);
    m->store_state = store;
    snprintf(m->store_why, sizeof m->store_why, "%s", why ? why : "");
    pthread_mutex_unlock(&m->peer_lock);
}

void metrics_set_store(metrics *m, uint64_t bytes_on_disk, uint64_t map_size, uint64_t events)
{
    atomic_store_explicit(&m->store_bytes, bytes_on_disk, memory_order_relaxed);
    atomic_store_explicit(&m->map_size, map_size, memory_order_relaxed);
    atomic_store_explicit(&m->store_events, events, memory_order_relaxed);
}

void metrics_add_http(metrics *m, int status)
{
    size_t i = 0;
    while (i < HTTP_CODES && http_codes[i] != status)
        i++;
    inc(&m->http[i], 1);
}

void metrics_add_spans(metrics *m, const size_t *by_dialect, size_t ndialects,
                       const uint64_t result[METRICS_SPAN_COUNT])
{
    for (size_t d = 0; d < ndialects && d < OTLP_DIALECT_COUNT; d++)
        inc(&m->spans_dialect[d], by_dialect[d]);
    for (int r = 0; r < METRICS_SPAN_COUNT; r++)
        inc(&m->spans_result[r], result[r]);
}

void metrics_peer_seen(metrics *m, const uint8_t *rid, size_t len)
{
    uint64_t h = 1469598103934665603u; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ rid[i]) * 1099511628211u;
    uint64_t now = now_ms();
    pthread_mutex_lock(&m->peer_lock);
    size_t oldest = 0;
    for (size_t i = 0; i < PEER_SLOTS; i++) {
        if (m->peers[i].hash == h && m->peers[i].last_ms) {
            oldest = i;
            break;
        }
        if (m->peers[i].last_ms < m->peers[oldest].last_ms) oldest = i;
    }
    m->peers[oldest].hash = h;
    m->peers[oldest].last_ms = now;
    pthread_mutex_unlock(&m->peer_lock);
}

int metrics_healthy(metrics *m, char *why, size_t whylen)
{
    pthread_mutex_lock(&m->peer_lock);
    int ok = m->store_state == METRICS_STORE_OK;
    snprintf(why, whylen, "%s", ok ? "" : m->store_why);
    pthread_mutex_unlock(&m->peer_lock);
    return ok;
}

/* ---- rendering ----------------------------------------------------------- */

static void head(at_buf *b, const char *name, const char *type, const char *help)
{
    at_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void sample(at_buf *b, const char *name, const char *label, const char *value, uint64_t v)
{
    if (label)
        at_buf_printf(b, "%s{%s=\"%s\"} %llu\n", name, label, value, (unsigned long long)v);
    else
        at_buf_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

static void render_histogram(at_buf *b, const char *name, const char *help, histogram *h,
                             const double *bounds, size_t nb, int seconds)
{
    head(b, name, "histogram", help);
    uint64_t cum = 0;
    for (size_t i = 0; i <= nb; i++) {
        cum += get(&h->bucket[i]);
        if (i < nb)
            at_buf_printf(b, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[i],
                          (unsigned long long)cum);
        else
            at_buf_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
    }
    uint64_t sum = get(&h->sum_micro);
    if (seconds)
        at_buf_printf(b, "%s_sum %.6f\n", name, (double)sum / 1e6);
    else
        at_buf_printf(b, "%s_sum %llu\n", name, (unsigned long long)(sum / 1000000u));
    at_buf_printf(b, "%s_count %llu\n", name, (unsigned long long)get(&h->count));
}

static uint64_t peers_recent(metrics *m)
{
    uint64_t now = now_ms(), n = 0;
    pthread_mutex_lock(&m->peer_lock);
    for (size_t i = 0; i < PEER_SLOTS; i++)
        n += m->peers[i].last_ms && now - m->peers[i].last_ms <= PEER_WINDOW_MS;
    pthread_mutex_unlock(&m->peer_lock);
    return n;
}

/* One family of one unlabelled sample `v`. */
static void single(at_buf *b, const char *name, const char *type, const char *help, uint64_t v)
{
    head(b, name, type, help);
    sample(b, name, NULL, NULL, v);
}

/* One counter family of `count` samples, `label` taking the value names[i] (or name_of(i) when
 * names is NULL) for c[i]. */
static void labelled(at_buf *b, const char *name, const char *help, const char *label,
                     const char *const *names, const char *(*name_of)(int), counter *c, int count)
{
    head(b, name, "counter", help);
    for (int i = 0; i < count; i++)
        sample(b, name, label, names ? names[i] : name_of(i), get(&c[i]));
}

int metrics_render(metrics *m, at_buf *b)
{
    single(b, "agenttrail_events_stored_total", "counter", "Events newly stored (durable).",
           get(&m->stored));
    single(b, "agenttrail_events_duplicate_total", "counter",
           "Events received again and already stored (not stored twice).", get(&m->duplicates));
    labelled(b, "agenttrail_events_rejected_total", "Events refused, by reason class.", "reason",
             reject_names, NULL, m->rejected, RJ_COUNT);
    labelled(b, "agenttrail_batches_total",
             "Batches received (ZeroMQ and OTLP/HTTP), by ack status.", "status", batch_names, NULL,
             m->batches, METRICS_BATCH_COUNT);
    const char *n = "agenttrail_http_requests_total";
    head(b, n, "counter", "HTTP requests answered, by status code.");
    char code[16];
    for (size_t i = 0; i <= HTTP_CODES; i++) {
        if (i < HTTP_CODES) snprintf(code, sizeof code, "%d", http_codes[i]);
        sample(b, n, "code", i < HTTP_CODES ? code : "other", get(&m->http[i]));
    }
    render_histogram(b, "agenttrail_commit_duration_seconds",
                     "Time of one group commit (LMDB transaction made durable).", &m->commit,
                     commit_bounds, COMMIT_BUCKETS, 1);
    render_histogram(b, "agenttrail_commit_group_events", "Events in one group commit.", &m->group,
                     group_bounds, GROUP_BUCKETS, 0);
    single(b, "agenttrail_store_bytes", "gauge",
           "Size of the store's data file (after the last commit).", get(&m->store_bytes));
    single(b, "agenttrail_store_map_bytes", "gauge",
           "Size of the store's LMDB map (after the last commit).", get(&m->map_size));
    single(b, "agenttrail_store_events", "gauge", "Events in the store (after the last commit).",
           get(&m->store_events));
    char why[256];
    single(b, "agenttrail_store_healthy", "gauge",
           "1 while the last commit succeeded, 0 while the store is full or failing.",
           (uint64_t)metrics_healthy(m, why, sizeof why));
    labelled(b, "agenttrail_otlp_spans_total",
             "OTLP spans received, by the instrumentation that made them.", "dialect", NULL,
             otlp_dialect_name, m->spans_dialect, OTLP_DIALECT_COUNT);
    labelled(b, "agenttrail_otlp_span_results_total",
             "OTLP spans (and the events derived from them) by mapping result.", "result",
             span_names, NULL, m->spans_result, METRICS_SPAN_COUNT);
    single(b, "agenttrail_connected_shims", "gauge",
           "ZeroMQ connections that sent a batch in the last 60 s.", peers_recent(m));
    return b->failed ? AT_ENOMEM : 0;
}
