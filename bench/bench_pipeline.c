/*
 * bench_pipeline.c - bench-pipeline: the end-to-end path, durable.
 *
 *   bench-pipeline [--events N] [--emit-events N] [--kills K] [--seed S]
 *
 * Measures, in one run, on this machine:
 *  1. the baseline: libtracestore alone, ts_append in groups of 1000 of the
 *     same events (what the collector can at best reach);
 *  2. durable end-to-end ingest for 1, 4 and 16 concurrent shims (each a
 *     process linking libtraceshim) to one trace-collector over TCP on
 *     127.0.0.1: from the start signal to the moment every shim's flush
 *     returned (every event acked, so committed);
 *  3. the cost of traceshim_emit and traceshim_emit_take seen by a service
 *     (median and p99 ns per call) with the collector up, stopped (SIGSTOP)
 *     and absent;
 *  4. K SIGKILLs of the collector at random moments while 4 shims stream,
 *     then a set check over the store (lost and duplicated events).
 * Events come from ../shared/tools/gen-events. Prints a table, then as the
 * last line one JSON object of the figures.
 *
 * Threading: single-threaded parent; shims are child processes.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_common.h"
#include "bench_events.h"
#include "traceshim.h"
#include "tracestore.h"

static char g_bindir[PATH_MAX], g_tmp[PATH_MAX];
static bench_events g_ev;

static uint64_t mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static tp_event *parse(size_t i)
{
    return bench_events_parse(&g_ev, i);
}

/* ---- processes ----------------------------------------------------------- */

static pid_t start_collector(const char *store, const char *ep)
{
    char bin[PATH_MAX + 32];
    snprintf(bin, sizeof bin, "%s/trace-collector", g_bindir);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        dup2(fd, 2);
        execl(bin, bin, "--store", store, "--listen", ep, "--log-level", "warn", (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* A shim of the defaults sending to `ep`, resending after `ack_ms`, spooling to `spool` (NULL:
 * the default spool). NULL on failure, said in *err (may be NULL). */
static traceshim *shim_open(const char *ep, const char *spool, unsigned ack_ms, at_error *err)
{
    traceshim_options o;
    traceshim_options_default(&o);
    o.endpoints[0] = ep;
    if (spool) o.spool_dir = spool;
    o.ack_timeout_ms = ack_ms;
    traceshim *s = NULL;
    return traceshim_create(&o, &s, err) == 0 ? s : NULL;
}

/* Waits until a client can get one batch acked: the collector is serving. */
static void wait_serving(const char *ep)
{
    for (int i = 0; i < 500; i++) {
        at_error err = {0};
        traceshim *s = shim_open(ep, NULL, 200, &err);
        if (!s) bench_die("shim", err.what);
        int rc = traceshim_flush(s, 100); /* nothing to send: tests the handshake only */
        traceshim_close(&s, 0);
        if (rc == 0) break;
        sleep_ms(10);
    }
    sleep_ms(50);
}

/* A shim process: emits lines [from, to) then flushes; exits 0 when all
 * acked. Waits on `go` (a pipe) before starting. */
static pid_t start_shim(const char *ep, const char *spool, size_t from, size_t to, int go_fd,
                        int ready_fd, unsigned rate)
{
    pid_t pid = fork();
    if (pid != 0) return pid;
    tp_event **evs = malloc((to - from) * sizeof *evs);
    for (size_t i = from; i < to; i++)
        evs[i - from] = parse(i);
    traceshim *s = shim_open(ep, spool, 500, NULL);
    if (!s) _exit(2);
    char c = 1;
    if (write(ready_fd, &c, 1) != 1 || read(go_fd, &c, 1) != 1) _exit(2);
    uint64_t t0 = mono();
    for (size_t i = 0; i < to - from; i++) {
        traceshim_emit_take(s, &evs[i]);
        if (rate) {
            uint64_t due = t0 + (i + 1) * 1000000000ull / rate, now = mono();
            if (due > now) {
                struct timespec ts = {0, (long)(due - now)};
                nanosleep(&ts, NULL);
            }
        }
    }
    int rc = traceshim_close(&s, 600000);
    free(evs);
    _exit(rc == 0 ? 0 : 3);
}

/* Runs k shims over all events; returns durable events/s. */
static double run_shims(int k, const char *ep, const char *spool_base, unsigned rate, int kills,
                        const char *store, pid_t *collector, int *kills_done)
{
    bench_gate gate;
    bench_gate_open(&gate);
    pid_t pids[64];
    for (int i = 0; i < k; i++) {
        char spool[PATH_MAX + 64];
        snprintf(spool, sizeof spool, "%s-%d", spool_base, i);
        pids[i] = start_shim(ep, spool, g_ev.n * (size_t)i / (size_t)k,
                             g_ev.n * (size_t)(i + 1) / (size_t)k, gate.go[0], gate.ready[1], rate);
    }
    double t0 = bench_gate_release(&gate, k, "shim");
    int running = k, bad = 0;
    *kills_done = 0;
    while (running > 0) {
        if (*kills_done < kills) {
            sleep_ms(20 + rand() % 80);
            kill(*collector, SIGKILL);
            bench_wait_pid(*collector);
            (*kills_done)++;
            *collector = start_collector(store, ep);
        }
        int st;
        pid_t p = waitpid(-1, &st, *kills_done < kills ? WNOHANG : 0);
        for (int i = 0; p > 0 && i < k; i++)
            if (pids[i] == p) {
                running--;
                if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) bad++;
            }
    }
    double secs = bench_now_s() - t0;
    bench_gate_close(&gate);
    if (bad) bench_die("a shim did not get every event acked", "see the collector");
    return (double)g_ev.n / secs;
}

/* ---- phases ---------------------------------------------------------------- */

/* Emit cost in this process: median and p99 ns over n calls. */
static void emit_cost(const char *ep, const char *spool, size_t n, int take, uint64_t *p50,
                      uint64_t *p99)
{
    at_error err = {0};
    traceshim *s = shim_open(ep, spool, 300, &err);
    if (!s) bench_die("shim", err.what);
    tp_event **evs = malloc(n * sizeof *evs);
    uint64_t *lat = malloc(n * sizeof *lat);
    for (size_t i = 0; i < n; i++)
        evs[i] = parse(i % g_ev.n);
    for (size_t i = 0; i < n; i++) {
        uint64_t a = mono();
        if (take)
            traceshim_emit_take(s, &evs[i]);
        else
            traceshim_emit(s, evs[i]);
        lat[i] = mono() - a;
        if (!take) tp_event_destroy(&evs[i]);
    }
    traceshim_close(&s, 0); /* what is not acked now goes to the spool */
    qsort(lat, n, sizeof *lat, at_cmp_u64);
    *p50 = lat[n / 2];
    *p99 = lat[n * 99 / 100];
    free(lat);
    free(evs);
}

static void set_check(const char *store, uint64_t *lost, uint64_t *dup, uint64_t *total)
{
    ts_store *s = NULL;
    at_error err = {0};
    if (ts_open(store, TS_OPEN_RDONLY, NULL, &s, &err) != 0) bench_die(store, err.what);
    /* Every generated event_id once: count by lookup. */
    *lost = *dup = *total = 0;
    ts_stats st;
    ts_stat(s, &st);
    *total = st.events;
    for (size_t i = 0; i < g_ev.n; i++) {
        tp_event *ev = parse(i), *got = NULL;
        if (ts_get(s, ev->event_id.data, &got) != 0) (*lost)++;
        tp_event_destroy(&got);
        tp_event_destroy(&ev);
    }
    if (*total + *lost > g_ev.n) *dup = *total + *lost - g_ev.n;
    ts_close(&s);
}

int main(int argc, char **argv)
{
    bench_set_name("bench-pipeline");
    size_t n = 200000, emit_n = 50000;
    int kills = 1000;
    unsigned seed = 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        char *end = NULL;
        unsigned long long v = strtoull(argv[i + 1], &end, 10);
        if (!end || *end) bench_die(argv[i], "needs a number");
        if (!strcmp(argv[i], "--events"))
            n = v;
        else if (!strcmp(argv[i], "--emit-events"))
            emit_n = v;
        else if (!strcmp(argv[i], "--kills"))
            kills = (int)v;
        else if (!strcmp(argv[i], "--seed"))
            seed = (unsigned)v;
        else
            bench_die(argv[i], "unknown option (--events N --emit-events N --kills K --seed S)");
    }
    srand(seed);
    double base = bench_ingest_begin("bench-pipeline", (size_t)n, seed, g_bindir, sizeof g_bindir,
                                     g_tmp, sizeof g_tmp, &g_ev);

    int shims[3] = {1, 4, 16};
    double eps[3];
    for (int r = 0; r < 3; r++) {
        char store[PATH_MAX + 32], ep[64], spool[PATH_MAX + 32];
        snprintf(store, sizeof store, "%s/store-%d", g_tmp, shims[r]);
        snprintf(spool, sizeof spool, "%s/spool-%d", g_tmp, shims[r]);
        snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", 17600 + (int)(getpid() % 1000) + r);
        pid_t c = start_collector(store, ep);
        wait_serving(ep);
        int kd = 0;
        eps[r] = run_shims(shims[r], ep, spool, 0, 0, store, &c, &kd);
        kill(c, SIGTERM);
        bench_wait_pid(c);
        fprintf(stderr, "bench-pipeline: %d shims: %.0f durable events/s\n", shims[r], eps[r]);
    }

    /* Emit cost: collector up, stopped, absent. */
    uint64_t cost[3][2][2];
    const char *state[3] = {"up", "stopped", "down"};
    {
        char store[PATH_MAX + 32], ep[64];
        snprintf(store, sizeof store, "%s/store-emit", g_tmp);
        snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", 18700 + (int)(getpid() % 1000));
        pid_t c = start_collector(store, ep);
        wait_serving(ep);
        for (int st = 0; st < 3; st++) {
            if (st == 1) kill(c, SIGSTOP);
            if (st == 2) {
                kill(c, SIGCONT);
                kill(c, SIGTERM);
                bench_wait_pid(c);
            }
            for (int take = 0; take < 2; take++) {
                char spool[PATH_MAX + 64];
                snprintf(spool, sizeof spool, "%s/spool-emit-%d-%d", g_tmp, st, take);
                emit_cost(ep, spool, emit_n, take, &cost[st][take][0], &cost[st][take][1]);
            }
        }
    }

    /* Kills while 4 shims stream at a steady rate. */
    uint64_t lost = 0, dup = 0, total = 0;
    int kills_done = 0;
    double kill_eps = 0;
    if (kills > 0) {
        char store[PATH_MAX + 32], ep[64], spool[PATH_MAX + 32];
        snprintf(store, sizeof store, "%s/store-kills", g_tmp);
        snprintf(spool, sizeof spool, "%s/spool-kills", g_tmp);
        snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", 19800 + (int)(getpid() % 1000));
        pid_t c = start_collector(store, ep);
        wait_serving(ep);
        /* Spread the events over the kill phase (~70 ms per kill). */
        unsigned rate = (unsigned)((double)g_ev.n / 4 / (kills * 0.07 + 1));
        if (rate == 0) rate = 1;
        kill_eps = run_shims(4, ep, spool, rate, kills, store, &c, &kills_done);
        kill(c, SIGTERM);
        bench_wait_pid(c);
        set_check(store, &lost, &dup, &total);
    }

    printf("bench-pipeline: %zu gen-events events, durable (acked after commit), TCP loopback, "
           "2 cores shared by shims and collector\n",
           g_ev.n);
    printf("%-42s %14s %10s\n", "what", "events/s", "vs store");
    printf("%-42s %14.0f %10.2f\n", "store alone (ts_append, groups of 1000)", base, 1.0);
    for (int r = 0; r < 3; r++) {
        char what[64];
        snprintf(what, sizeof what, "end to end, %d shim%s", shims[r], shims[r] > 1 ? "s" : "");
        printf("%-42s %14.0f %10.2f\n", what, eps[r], eps[r] / base);
    }
    printf("\n%-28s %12s %12s %12s %12s\n", "emit cost (ns per call)", "emit p50", "emit p99",
           "take p50", "take p99");
    for (int st = 0; st < 3; st++)
        printf("collector %-18s %12" PRIu64 " %12" PRIu64 " %12" PRIu64 " %12" PRIu64 "\n",
               state[st], cost[st][0][0], cost[st][0][1], cost[st][1][0], cost[st][1][1]);
    if (kills > 0)
        printf("\n%d SIGKILLs of the collector while 4 shims streamed (%.0f events/s): %" PRIu64
               " stored, lost %" PRIu64 ", duplicated %" PRIu64 "\n",
               kills_done, kill_eps, total, lost, dup);
    printf("{\"events\":%zu,\"store_alone_eps\":%.0f,\"e2e_1_eps\":%.0f,\"e2e_4_eps\":%.0f,"
           "\"e2e_16_eps\":%.0f,\"e2e_4_vs_store\":%.3f,"
           "\"emit_up_p50_ns\":%" PRIu64 ",\"emit_up_p99_ns\":%" PRIu64
           ",\"emit_stopped_p50_ns\":%" PRIu64 ",\"emit_stopped_p99_ns\":%" PRIu64
           ",\"emit_down_p50_ns\":%" PRIu64 ",\"emit_down_p99_ns\":%" PRIu64
           ",\"take_up_p50_ns\":%" PRIu64 ",\"take_up_p99_ns\":%" PRIu64
           ",\"take_stopped_p50_ns\":%" PRIu64 ",\"take_stopped_p99_ns\":%" PRIu64
           ",\"take_down_p50_ns\":%" PRIu64 ",\"take_down_p99_ns\":%" PRIu64
           ",\"kills\":%d,\"lost\":%" PRIu64 ",\"duplicated\":%" PRIu64 "}\n",
           g_ev.n, base, eps[0], eps[1], eps[2], eps[1] / base, cost[0][0][0], cost[0][0][1],
           cost[1][0][0], cost[1][0][1], cost[2][0][0], cost[2][0][1], cost[0][1][0], cost[0][1][1],
           cost[1][1][0], cost[1][1][1], cost[2][1][0], cost[2][1][1], kills_done, lost, dup);
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
    if (system(cmd) != 0) fprintf(stderr, "bench-pipeline: could not remove %s\n", g_tmp);
    return lost || dup ? 1 : 0;
}
