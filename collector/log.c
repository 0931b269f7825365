/*
 * log.c - trace-collector's log lines (see log.h).
 *
 * Owns: the level threshold (set before threads start).
 * Threading: each line is formatted into a local buffer and written with a
 * single write(2), so lines from several threads never interleave. The message part is
 * cleaned for the terminal (text_term.h) before it is written.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "text_term.h"

static int g_level = CLOG_INFO;
static const char *const names[] = {"error", "warn", "info", "debug"};

void clog_set_level(int level)
{
    g_level = level;
}

int clog_level_parse(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(name, names[i]) == 0) return i;
    return -1;
}

int clog_enabled(int level)
{
    return level <= g_level;
}

void clog_line(int level, const char *fmt, ...)
{
    if (!clog_enabled(level)) return;
    char line[1024];
    int n = snprintf(line, sizeof line, "trace-collector: %s: ", names[level]);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2) len = sizeof line - 2;
    /* Messages quote what shims sent (workflow names, field values, shim ids): cleaned, so
     * that no byte of theirs reaches the operator's terminal raw (text_term.h). */
    len = (size_t)n + tp_term_clean(line + n, len - (size_t)n);
    line[len++] = '\n';
    ssize_t w = write(2, line, len);
    (void)w;
}
