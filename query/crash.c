/*
 * crash.c - the crash report of trace-query (see crash.h).
 *
 * Owns: the alternate signal stack and the message, composed before any crash so that the
 * handler only calls write() and _exit(), both async-signal-safe.
 * Threading: the handler may run on any thread; trace-query has one.
 */
#include "crash.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"

static char head[4200]; /* "trace-query: the store DIR is damaged: reading it crashed (" */
static char tail[4200]; /* "); run `trace-query verify --store DIR` ...\n" */
static size_t head_len, tail_len;

/* clang-format off */
static const struct { int sig; const char *name; } signals[] = {
    {SIGSEGV, "SIGSEGV"}, {SIGBUS, "SIGBUS"}, {SIGFPE, "SIGFPE"}, {SIGILL, "SIGILL"},
    {SIGABRT, "SIGABRT"},
};
/* clang-format on */
#define NSIGNALS (sizeof signals / sizeof signals[0])

static void put(const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(STDERR_FILENO, p, n);
        if (w <= 0) return;
        p += w;
        n -= (size_t)w;
    }
}

static void on_crash(int sig)
{
    const char *name = "a signal";
    for (size_t i = 0; i < NSIGNALS; i++)
        if (signals[i].sig == sig) name = signals[i].name;
    put(head, head_len);
    put(name, strlen(name));
    put(tail, tail_len);
    _exit(QEXIT_VERIFY);
}

void qcrash_store(const char *dir)
{
    /* Not atomic with respect to a crash in the middle, which cannot happen here: the
     * store is read only after this returns. */
    int n = snprintf(head, sizeof head,
                     "trace-query: the store %s is damaged: reading it crashed (", dir);
    head_len = n < 0 ? 0 : (size_t)n < sizeof head ? (size_t)n : sizeof head - 1;
    n = snprintf(tail, sizeof tail,
                 "); check a copy with `trace-query --store %s verify --key PUB` and restore "
                 "the store from a backup\n",
                 dir);
    tail_len = n < 0 ? 0 : (size_t)n < sizeof tail ? (size_t)n : sizeof tail - 1;
}

void qcrash_install(const char *dir)
{
    qcrash_store(dir);
    static char *altstack;
    size_t size = SIGSTKSZ > 65536 ? SIGSTKSZ : 65536;
    if (!altstack && (altstack = malloc(size)) != NULL) {
        stack_t ss = {.ss_sp = altstack, .ss_size = size, .ss_flags = 0};
        if (sigaltstack(&ss, NULL) != 0) {
            free(altstack);
            altstack = NULL;
        }
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_crash;
    sa.sa_flags = SA_ONSTACK | SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < NSIGNALS; i++)
        sigaction(signals[i].sig, &sa, NULL);
}
