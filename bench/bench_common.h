/*
 * bench_common.h - helpers every benchmark program repeats: its name in messages, a monotonic
 * and a CPU clock, fatal errors, number parsing, waiting for and starting child processes,
 * sorting doubles, the temp directory's removal and the generated event file.
 *
 * Responsibility: small process-level utilities for the programs in bench/; nothing here is
 * timed itself or changes a figure. Ownership: nothing is allocated or kept, apart from the
 * program name pointer given to bench_set_name (borrowed, must outlive the program, normally
 * argv or a string literal). Threading: bench_set_name is called once from main before anything
 * else; the rest is safe from any thread but the programs are single-threaded.
 */
#ifndef AGENTTRAIL_BENCH_COMMON_H
#define AGENTTRAIL_BENCH_COMMON_H

#include <stdint.h>
#include <sys/types.h>

/* Sets the name that prefixes bench_die's messages (default "bench"). `name` is borrowed and
 * must stay valid for the life of the process. Not thread-safe: call once at the top of main. */
void bench_set_name(const char *name);

/* Seconds on CLOCK_MONOTONIC, for wall-clock intervals. No errors. Thread-safe. */
double bench_now_s(void);

/* CPU seconds of this process (CLOCK_PROCESS_CPUTIME_ID), all threads. No errors. */
double bench_cpu_s(void);

/* Bytes this process has handed to write-type system calls so far (`wchar` of
 * /proc/self/io): what a store writes before its fsyncs. 0 when unreadable. */
uint64_t bench_written_bytes(void);

/* What a piece of work cost (wall and CPU seconds, bytes written), or the moment it began. */
typedef struct bench_cost {
    double wall, cpu;
    uint64_t written;
} bench_cost;

/* The moment now, to measure from: bench_now_s, bench_cpu_s and bench_written_bytes. */
bench_cost bench_cost_now(void);

/* Adds what was spent since `from` (a bench_cost_now) to *total. */
void bench_cost_add_since(bench_cost *total, const bench_cost *from);

/* Prints "<name>: what: detail" (or "<name>: what" when detail is NULL) to stderr and exits
 * with status 1. Both strings are borrowed. Does not return. */
_Noreturn void bench_die(const char *what, const char *detail);

/* Parses a whole decimal unsigned number into *out. Returns 0, or -1 (and leaves *out
 * unchanged) when `s` is NULL, empty, negative, has trailing characters or overflows. */
int bench_parse_u64(const char *s, uint64_t *out);

/* Waits for child `pid` (retrying on EINTR): its exit status, or 128 + the signal that ended
 * it. */
int bench_wait_pid(pid_t pid);

/* The start signal of child processes: each writes one byte to ready[1] once set up, then
 * waits to read one from go[0]. */
typedef struct bench_gate {
    int go[2], ready[2];
} bench_gate;

/* Makes the gate's pipes; dies when it cannot. */
void bench_gate_open(bench_gate *g);

/* Waits for the ready byte of `k` children (dies, naming `who`, when one does not come), then
 * writes k go bytes. Returns bench_now_s() at the signal. */
double bench_gate_release(bench_gate *g, int k, const char *who);

/* Closes the gate's pipes. */
void bench_gate_close(bench_gate *g);

/* qsort comparator for ascending doubles (a and b point to double). */
int bench_cmp_double(const void *a, const void *b);

/* The benchmark's working directory: `dir` when given (created with mode 0700 if missing), else
 * a fresh directory made from `tmpl` (a mkdtemp template ending in XXXXXX, modified in place).
 * Returns `dir` or `tmpl` (borrowed from the caller); dies when the directory cannot be made. */
const char *bench_make_work_dir(const char *dir, char *tmpl);

/* Removes `dir` and everything below it, without following symbolic links. Errors on single
 * entries are ignored (a benchmark's temp directory is best-effort clean-up). */
void bench_remove_tree(const char *dir);

/* Writes `n` events with seed `seed` to `path` by running ../shared/tools/gen-events (the
 * build's AGENTTRAIL_SHARED_DIR) under python3; dies with the command line if it fails.
 * `path` is borrowed and must not contain a single quote. Prints nothing itself. */
void bench_generate_events(uint64_t n, uint64_t seed, const char *path);

#endif
