/*
 * errbuf.c - a formatted message into a caller's buffer (see errbuf.h).
 */
#include "errbuf.h"

#include <stdarg.h>
#include <stdio.h>

int ts_errf(char *err, size_t errlen, int code, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}
