/*
 * fault_sweep.h - the loop every fault test runs (fault_sweep.c): count the faultable calls
 * an operation makes, then run it again for every N up to that count (or an even sample of
 * them), with the N-th call failing, checking the outcome after each run and that nothing
 * leaked (LeakSanitizer, in-process, after every 16 runs and at the end).
 *
 * By hand: AGENTTRAIL_FAULT_ONLY=N runs only N; AGENTTRAIL_FAULT_MAX=K changes the sample size
 * (0: every N). docs/testing.md.
 */
#ifndef AGENTTRAIL_FAULT_SWEEP_H
#define AGENTTRAIL_FAULT_SWEEP_H
#include "fault.h"

typedef struct ft_op {
    const char *name;
    int kind;                 /* AT_FAULT_ALLOC, AT_FAULT_IO, AT_FAULT_LMDB */
    unsigned long max_runs;   /* sample size when the count is larger (0: every N) */
    void (*setup)(void *ctx); /* fresh state before each run (not counted); may be NULL */
    int (*run)(void *ctx);    /* the operation under faults: 0 or an error code */
    void (*check)(void *ctx, int rc, unsigned long n); /* asserts, faults disarmed; n 0: clean */
    void (*teardown)(void *ctx);                       /* after check; may be NULL */
    void *ctx;
} ft_op;

/* An ft_op (without name and kind: ft_sweep_as gives them) of a sample size, setup, run,
 * check, teardown and context. */
#define FT_OP(max, setup_fn, run_fn, check_fn, teardown_fn, context)                               \
    {                                                                                              \
        .max_runs = (max), .setup = (setup_fn), .run = (run_fn), .check = (check_fn),              \
        .teardown = (teardown_fn), .ctx = (context)                                                \
    }

/* Runs op clean (it must succeed), then for each sampled N. Returns the count. */
unsigned long ft_sweep(const ft_op *op);
/* ft_sweep of a copy of op with this kind and name; fails the test when the operation makes
 * no call of that kind (a sweep that tests nothing). */
void ft_sweep_as(const ft_op *op, int kind, const char *name);
/* The sampled N of a count: N in 1..count, at most max (0: all) spread evenly, always 1
 * and count. Returns how many were written to out (out holds max, or count when max is 0). */
unsigned long ft_sample(unsigned long count, unsigned long max, unsigned long *out);
/* The sample size: AGENTTRAIL_FAULT_MAX when set, else dflt (0: every N). */
unsigned long ft_max_runs(unsigned long dflt);
/* AGENTTRAIL_FAULT_ONLY when set (run only that N), else 0. */
unsigned long ft_only(void);
/* Makes the sanitizers of the programs this process starts abort (exit by SIGABRT) on any
 * finding, leaks included, whatever ASAN_OPTIONS / UBSAN_OPTIONS the caller gave: a finding
 * can then never pass for a program's own error status. */
void ft_child_sanitizers_abort(void);
/* Fails the test when LeakSanitizer finds unreachable memory now, naming the last N run
 * (no-op without ASan). */
void ft_no_leak(const char *name, unsigned long n);
#endif
