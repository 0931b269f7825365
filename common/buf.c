/*
 * buf.c - the growable buffer and the array-growing helper (atcommon.h).
 *
 * Owns: the memory of each at_buf. The appends that fit call nothing, so that writers
 * (the canonical JSON writer above all) pay for growth only when it happens.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atcommon.h"

int at_buf_reserve(at_buf *b, size_t need)
{
    if (b->failed) return AT_ENOMEM;
    if (need <= b->cap - b->len) return AT_OK;
    if (need > SIZE_MAX / 2 - b->len) {
        b->failed = true;
        return AT_ENOMEM;
    }
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + need)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) {
        b->failed = true;
        return AT_ENOMEM;
    }
    b->data = p;
    b->cap = cap;
    return AT_OK;
}

void at_buf_put(at_buf *b, const void *p, size_t n)
{
    if (n > b->cap - b->len && at_buf_reserve(b, n) != AT_OK) return;
    if (b->failed || !n) return;
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

void at_buf_putc(at_buf *b, char c)
{
    if (!b->failed && b->len < b->cap) { /* one byte with room: no call */
        b->data[b->len++] = c;
        return;
    }
    at_buf_put(b, &c, 1);
}

void at_buf_puts(at_buf *b, const char *s)
{
    at_buf_put(b, s, strlen(s));
}

void at_buf_put_u64(at_buf *b, uint64_t v)
{
    char tmp[24];
    size_t i = sizeof tmp;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    at_buf_put(b, tmp + i, sizeof tmp - i);
}

void at_buf_printf(at_buf *b, const char *fmt, ...)
{
    if (b->failed) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || at_buf_reserve(b, (size_t)n + 1) != AT_OK) {
        b->failed = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void at_buf_free(at_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

char *at_buf_take(at_buf *b, size_t *len)
{
    char *out = NULL;
    if (!b->failed) {
        at_buf_putc(b, 0);
        if (!b->failed) {
            out = b->data;
            b->data = NULL;
            if (len) *len = b->len - 1;
        }
    }
    at_buf_free(b);
    return out;
}

int at_grow(void **v, size_t *cap, size_t n, size_t elem, size_t first)
{
    if (n <= *cap) return AT_OK;
    size_t c = *cap ? *cap : (first ? first : 8);
    while (c < n) {
        if (c > SIZE_MAX / 2) return AT_ENOMEM;
        c *= 2;
    }
    if (elem && c > SIZE_MAX / elem) return AT_ENOMEM;
    void *p = realloc(*v, c * elem);
    if (!p) return AT_ENOMEM;
    *v = p;
    *cap = c;
    return AT_OK;
}
