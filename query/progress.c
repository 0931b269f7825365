/*
 * progress.c - a progress line on a terminal (see progress.h).
 *
 * Responsibility: deciding when to draw (a terminal, 100 ms apart) and drawing over the
 * previous line. The text is the program's own (a step name and numbers), never stored
 * text, so it needs no cleaning.
 * Owns: nothing. Threading: single-threaded.
 */
#include "progress.h"

#include <inttypes.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define QPROGRESS_INTERVAL_NS 100000000ull

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void qprogress_start(qprogress *p, FILE *f)
{
    memset(p, 0, sizeof *p);
    p->f = f && isatty(fileno(f)) ? f : NULL;
}

/* "\r" + text, then spaces over the rest of the previous text, then back to its end. */
static void draw(qprogress *p, const char *text)
{
    size_t n = strlen(text);
    fprintf(p->f, "\r%s", text);
    for (size_t i = n; i < p->shown; i++)
        fputc(' ', p->f);
    if (p->shown > n) fprintf(p->f, "\r%s", text);
    fflush(p->f);
    p->shown = n;
}

void qprogress_update(qprogress *p, const char *what, uint64_t done, uint64_t total)
{
    if (!p->f) return;
    uint64_t t = now_ns();
    if (p->last_ns && t - p->last_ns < QPROGRESS_INTERVAL_NS && !(total && done == total)) return;
    p->last_ns = t;
    char line[160];
    if (total)
        snprintf(line, sizeof line, "%s %" PRIu64 "/%" PRIu64 " events (%" PRIu64 "%%)", what, done,
                 total, done * 100 / total);
    else
        snprintf(line, sizeof line, "%s %" PRIu64 " events", what, done);
    draw(p, line);
}

void qprogress_end(qprogress *p)
{
    if (!p->f || !p->shown) return;
    draw(p, "");
}
