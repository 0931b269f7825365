/*
 * error.c - the error carrier (atcommon.h): at_error and the helpers that fill it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "atcommon.h"

static void set_where(at_error *err, const char *where)
{
    snprintf(err->where, sizeof err->where, "%s", where ? where : "");
}

void at_error_set(at_error *err, const char *where, const char *fmt, ...)
{
    if (!err) return;
    set_where(err, where);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->what, sizeof err->what, fmt, ap);
    va_end(ap);
}

int at_errf(at_error *err, int code, const char *fmt, ...)
{
    if (!err) return code;
    err->where[0] = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->what, sizeof err->what, fmt, ap);
    va_end(ap);
    return code;
}

const char *at_error_format(const at_error *err, char *buf, size_t buflen)
{
    if (!buflen) return buf;
    if (err->where[0])
        snprintf(buf, buflen, "%s: %s", err->where, err->what);
    else
        snprintf(buf, buflen, "%s", err->what);
    return buf;
}

void at_error_clear(at_error *err)
{
    if (!err) return;
    err->where[0] = 0;
    err->what[0] = 0;
}
