/*
 * crash.h - a crash while reading a damaged store is reported, never a bare signal.
 *
 * LMDB maps the store's data.mdb and trusts its pages: a flipped bit in a page number or a
 * node offset can make a read touch memory outside the map. qcrash_install sets handlers for
 * SIGSEGV, SIGBUS, SIGFPE, SIGILL and SIGABRT (LMDB's own assertions) on an alternate signal
 * stack that write, async-signal-safe, "trace-query: the store DIR is damaged: reading it
 * crashed (SIGSEGV); ..." and _exit(QEXIT_VERIFY).
 * Threading: install once in main before any command; qcrash_store may be called again
 * by a command that reads another directory (verify --store DIR).
 */
#ifndef AGENTTRAIL_QUERY_CRASH_H
#define AGENTTRAIL_QUERY_CRASH_H

/* Installs the handlers; `dir` is the store the message names (copied). */
void qcrash_install(const char *dir);

/* Changes the store the message names (copied; the handler reads it only when crashing). */
void qcrash_store(const char *dir);

#endif
