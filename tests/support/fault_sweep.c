/*
 * fault_sweep.c - the count-then-sweep loop of the fault tests (fault_sweep.h).
 *
 * Owns: nothing shared. Threading: single-threaded (the counters are the process's).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fault_sweep.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define FT_LSAN 1
#endif

/* A leak check scans the heap (~0.1 s under ASan): one after every LEAK_EVERY runs, and the
 * report names the last N of the runs since the one before; its stacks name the path. */
enum { LEAK_EVERY = 16 };

static unsigned long env_ulong(const char *name, unsigned long dflt)
{
    const char *v = getenv(name);
    if (!v || !*v) return dflt;
    char *end = NULL;
    unsigned long n = strtoul(v, &end, 10);
    return *end ? dflt : n;
}

unsigned long ft_max_runs(unsigned long dflt)
{
    return env_ulong("AGENTTRAIL_FAULT_MAX", dflt);
}

unsigned long ft_only(void)
{
    return env_ulong("AGENTTRAIL_FAULT_ONLY", 0);
}

unsigned long ft_sample(unsigned long count, unsigned long max, unsigned long *out)
{
    if (max == 0 || count <= max) {
        for (unsigned long i = 0; i < count; i++)
            out[i] = i + 1;
        return count;
    }
    if (max == 1) {
        out[0] = 1;
        return 1;
    }
    unsigned long k = 0;
    for (unsigned long i = 0; i < max; i++) {
        unsigned long n = 1 + (unsigned long)((unsigned long long)i * (count - 1) / (max - 1));
        if (k == 0 || out[k - 1] != n) out[k++] = n;
    }
    return k;
}

void ft_no_leak(const char *name, unsigned long n)
{
#ifdef FT_LSAN
    if (__lsan_do_recoverable_leak_check())
        fail_msg("%s: memory leaked in the runs up to fault N=%lu (report above)", name, n);
#else
    (void)name;
    (void)n;
#endif
}

static void append_option(const char *var, const char *opts)
{
    const char *old = getenv(var);
    char buf[1024];
    snprintf(buf, sizeof buf, "%s%s%s", old ? old : "", old && *old ? ":" : "", opts);
    setenv(var, buf, 1);
}

void ft_child_sanitizers_abort(void)
{
    static int done;
    if (done++) return;
    append_option("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1");
    append_option("UBSAN_OPTIONS", "halt_on_error=1:abort_on_error=1");
}

static void one_run(const ft_op *op, unsigned long n)
{
    if (op->setup) op->setup(op->ctx);
    at_fault_arm(op->kind, n);
    int rc = op->run(op->ctx);
    at_fault_reset();
    op->check(op->ctx, rc, n);
    if (op->teardown) op->teardown(op->ctx);
}

unsigned long ft_sweep(const ft_op *op)
{
    if (op->setup) op->setup(op->ctx);
    at_fault_arm(op->kind, 0);
    int rc = op->run(op->ctx);
    unsigned long count = at_fault_count(op->kind);
    at_fault_reset();
    if (rc != 0) fail_msg("%s: fails with no fault injected: %d", op->name, rc);
    op->check(op->ctx, rc, 0);
    if (op->teardown) op->teardown(op->ctx);
    ft_no_leak(op->name, 0);

    unsigned long only = ft_only();
    unsigned long max = ft_max_runs(op->max_runs);
    if (only) {
        one_run(op, only);
        ft_no_leak(op->name, only);
        return count;
    }
    unsigned long *ns = calloc(max && max < count ? max : count ? count : 1, sizeof *ns);
    assert_non_null(ns);
    unsigned long k = ft_sample(count, max, ns);
    unsigned long before = at_fault_fired();
    for (unsigned long i = 0; i < k; i++) {
        one_run(op, ns[i]);
        if ((i + 1) % LEAK_EVERY == 0 || i + 1 == k) ft_no_leak(op->name, ns[i]);
    }
    fprintf(stderr, "# %s: %lu calls, %lu runs, %lu faults fired\n", op->name, count, k,
            at_fault_fired() - before);
    free(ns);
    return count;
}

void ft_sweep_as(const ft_op *op, int kind, const char *name)
{
    ft_op o = *op;
    o.kind = kind;
    o.name = name;
    if (ft_sweep(&o) == 0) fail_msg("%s: no call to fail", name);
}
