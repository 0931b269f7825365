/*
 * errbuf.h - the one way libtracestore's modules (and the collector's signer) fill a
 * caller's message buffer: format into err[0..errlen) and return the code, so that an error
 * path is one statement (`return ts_errf(err, errlen, CP_EFORMAT, "...", ...)`).
 * Owns nothing. Threading: reentrant.
 */
#ifndef AGENTTRAIL_STORE_ERRBUF_H
#define AGENTTRAIL_STORE_ERRBUF_H

#include <stddef.h>

/* Writes the message into err when err and errlen are set (cut to fit, NUL-terminated);
 * returns code. */
int ts_errf(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
