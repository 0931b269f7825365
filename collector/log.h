/*
 * log.h - trace-collector's log: one line per notable thing, to stderr.
 *
 * Lines read "trace-collector: LEVEL: message". The level threshold is set
 * once at start (before any thread exists) and only read afterwards.
 * Threading: clog may be called from any thread (one write(2) per line).
 */
#ifndef AGENTTRAIL_COLLECTOR_LOG_H
#define AGENTTRAIL_COLLECTOR_LOG_H

enum { CLOG_ERROR = 0, CLOG_WARN = 1, CLOG_INFO = 2, CLOG_DEBUG = 3 };

/* Sets the threshold; lines above it are not written. */
void clog_set_level(int level);
/* Parses "error", "warn", "info", "debug"; -1 when unknown. */
int clog_level_parse(const char *name);
/* True when a line of `level` would be written. */
int clog_enabled(int level);
/* Writes one line (a newline is added). */
void clog_line(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
