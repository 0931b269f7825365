/*
 * canary.h - fake secrets of every masking rule and the scan for them (canary.c): a test
 * writes events that carry them, runs them through a real part, and scans what came out.
 */
#ifndef AGENTTRAIL_CANARY_H
#define AGENTTRAIL_CANARY_H
#include <stddef.h>

/* Writes one JSON line per canary and masked field, plus the JSON-only forms, to path;
 * `workflow` names them. Returns the number of lines. Fails the test if path cannot be
 * written. */
int write_canary_events(const char *path, const char *workflow);
/* 1 when needle occurs in [hay, hay+n). */
int contains(const void *hay, size_t n, const char *needle);
/* The number of canaries found in [p, p+n); prints each hit with `where`. */
int scan(const void *p, size_t n, const char *where);
#endif
