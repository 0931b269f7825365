/*
 * bench_common.c - the helpers of bench_common.h: clocks, fatal errors, number parsing, waiting
 * for a child, the start signal of children, the double comparator, the working directory, its
 * removal and running gen-events.
 *
 * Owns nothing but the borrowed program-name pointer. Invariant: bench_die always exits.
 * Threading: see bench_common.h (single-threaded programs).
 */
#include "bench_common.h"

#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef AGENTTRAIL_SHARED_DIR
#define AGENTTRAIL_SHARED_DIR "../shared"
#endif

static const char *bench_name = "bench";

void bench_set_name(const char *name)
{
    if (name) bench_name = name;
}

static double clock_s(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

double bench_now_s(void)
{
    return clock_s(CLOCK_MONOTONIC);
}

double bench_cpu_s(void)
{
    return clock_s(CLOCK_PROCESS_CPUTIME_ID);
}

uint64_t bench_written_bytes(void)
{
    FILE *f = fopen("/proc/self/io", "r");
    if (!f) return 0;
    char line[128];
    uint64_t v = 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "wchar: ", 7) == 0) v = strtoull(line + 7, NULL, 10);
    fclose(f);
    return v;
}

bench_cost bench_cost_now(void)
{
    bench_cost c;
    c.wall = bench_now_s();
    c.cpu = bench_cpu_s();
    c.written = bench_written_bytes();
    return c;
}

void bench_cost_add_since(bench_cost *total, const bench_cost *from)
{
    total->wall += bench_now_s() - from->wall;
    total->cpu += bench_cpu_s() - from->cpu;
    total->written += bench_written_bytes() - from->written;
}

void bench_die(const char *what, const char *detail)
{
    if (detail)
        fprintf(stderr, "%s: %s: %s\n", bench_name, what, detail);
    else
        fprintf(stderr, "%s: %s\n", bench_name, what);
    exit(1);
}

int bench_parse_u64(const char *s, uint64_t *out)
{
    if (!s || !*s || *s == '-') return -1;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || !end || end == s || *end) return -1;
    *out = v;
    return 0;
}

int bench_wait_pid(pid_t pid)
{
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void bench_gate_open(bench_gate *g)
{
    if (pipe(g->go) != 0 || pipe(g->ready) != 0) bench_die("pipe", strerror(errno));
}

double bench_gate_release(bench_gate *g, int k, const char *who)
{
    char c;
    for (int i = 0; i < k; i++)
        if (read(g->ready[0], &c, 1) != 1) bench_die(who, "did not start");
    double t0 = bench_now_s();
    for (int i = 0; i < k; i++)
        if (write(g->go[1], "g", 1) != 1) bench_die("pipe", strerror(errno));
    return t0;
}

void bench_gate_close(bench_gate *g)
{
    close(g->go[0]);
    close(g->go[1]);
    close(g->ready[0]);
    close(g->ready[1]);
}

int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

const char *bench_make_work_dir(const char *dir, char *tmpl)
{
    if (!dir) {
        if (!mkdtemp(tmpl)) bench_die("mkdtemp", strerror(errno));
        return tmpl;
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) bench_die(dir, strerror(errno));
    return dir;
}

static int remove_one(const char *p, const struct stat *st, int fl, struct FTW *ftw)
{
    (void)st;
    (void)fl;
    (void)ftw;
    remove(p);
    return 0;
}

void bench_remove_tree(const char *dir)
{
    nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

void bench_generate_events(uint64_t n, uint64_t seed, const char *path)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "python3 '%s/tools/gen-events' %" PRIu64 " --seed %" PRIu64 " -o '%s'",
             AGENTTRAIL_SHARED_DIR, n, seed, path);
    if (system(cmd) != 0) bench_die("gen-events failed", cmd);
}
