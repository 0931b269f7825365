/*
 * term_progress.c - a progress line on a terminal (see term_progress.h).
 *
 * Responsibility: deciding when to draw (a terminal, 100 ms apart) and drawing over the
 * previous line. The text is the program's own (a step name and numbers), never stored
 * text, so it needs no cleaning.
 * Owns: nothing. The line being drawn is remembered (one at a time per process) so that a
 * message printed through tp_term_printf erases it first (tp_progress_clear) instead of
 * being glued to it; a mutex orders the drawing and the erasing, since a library's log
 * callback (trace-shim's) prints from its own thread.
 * Threading: one thread updates a progress line; any thread may print messages.
 */
#include "term_progress.h"

#include <inttypes.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TP_PROGRESS_INTERVAL_NS 100000000ull

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static pthread_mutex_t line_mu = PTHREAD_MUTEX_INITIALIZER;
static tp_progress *line_owner; /* the progress line now on the terminal, if any */

void tp_progress_start(tp_progress *p, FILE *f)
{
    memset(p, 0, sizeof *p);
    p->f = f && isatty(fileno(f)) ? f : NULL;
}

/* "\r" + text, then spaces over the rest of the previous text, then back to its end. */
static void draw(tp_progress *p, const char *text)
{
    size_t n = strlen(text);
    fprintf(p->f, "\r%s", text);
    for (size_t i = n; i < p->shown; i++)
        fputc(' ', p->f);
    if (p->shown > n) fprintf(p->f, "\r%s", text);
    fflush(p->f);
    p->shown = n;
    line_owner = n ? p : NULL;
}

void tp_progress_update(tp_progress *p, const char *what, uint64_t done, uint64_t total)
{
    if (!p->f) return;
    uint64_t t = now_ns();
    if (p->last_ns && t - p->last_ns < TP_PROGRESS_INTERVAL_NS && !(total && done == total)) return;
    p->last_ns = t;
    char line[160];
    if (total)
        snprintf(line, sizeof line, "%s %" PRIu64 "/%" PRIu64 " events (%" PRIu64 "%%)", what, done,
                 total, done * 100 / total);
    else
        snprintf(line, sizeof line, "%s %" PRIu64 " events", what, done);
    pthread_mutex_lock(&line_mu);
    draw(p, line);
    pthread_mutex_unlock(&line_mu);
}

void tp_progress_end(tp_progress *p)
{
    if (!p->f) return;
    pthread_mutex_lock(&line_mu);
    if (p->shown) draw(p, "");
    pthread_mutex_unlock(&line_mu);
}

void tp_progress_clear(FILE *f)
{
    pthread_mutex_lock(&line_mu);
    if (line_owner && line_owner->f == f) draw(line_owner, "");
    pthread_mutex_unlock(&line_mu);
}
