/*
 * term_progress.h - a progress line on a terminal for long work (trace-query export of many
 * events, a big file sent by trace-shim).
 *
 * Responsibility: one line on stderr that is rewritten in place ("\r" then the text, padded
 * over what the previous text left), at most every 100 ms, and erased when the work is
 * done so the command's own last message starts on a clean line. Only when stderr is a
 * terminal: into a file or a pipe nothing at all is written.
 * Owns: nothing beyond the struct (no allocation).
 * Threading: single-threaded.
 */
#ifndef AGENTTRAIL_PROTO_TERM_PROGRESS_H
#define AGENTTRAIL_PROTO_TERM_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

typedef struct tp_progress {
    FILE *f;          /* NULL: not a terminal, every call does nothing */
    uint64_t last_ns; /* when the line was last drawn */
    size_t shown;     /* columns the line takes now */
} tp_progress;

/* Starts a progress line on `f` if it is a terminal. */
void tp_progress_start(tp_progress *p, FILE *f);

/* Redraws the line with `done` of `total` ("export: proving 1200/5000 events (24%)" when
 * total > 0, else "export: reading 1200 events"): `what` names the step. Drawn at most
 * every 100 ms, and always when done == total. */
void tp_progress_update(tp_progress *p, const char *what, uint64_t done, uint64_t total);

/* Erases the line (if one was drawn). */
void tp_progress_end(tp_progress *p);

/* Erases the progress line drawn on `f`, if any, so that a message starts on a clean line;
 * the next update draws it again. tp_term_vprintf calls it before every message. */
void tp_progress_clear(FILE *f);

#endif
