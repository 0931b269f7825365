/*
 * text_term.c - text made safe to print on a terminal (see text_term.h for the rule).
 *
 * Owns: nothing; tp_term_vprintf formats into a stack buffer, or a heap one for long lines.
 * Threading: reentrant.
 */
#include "text_term.h"

#include <stdint.h>
#include <stdlib.h>

#include "term_progress.h"

/* Length of the well-formed UTF-8 sequence at s[0..n) and its code point in *cp; 0 when the
 * byte at s does not start one. Same well-formedness as tp_utf8_bad_at (proto_validate.c). */
static size_t utf8_seq(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned c = s[0];
    size_t need;
    uint32_t min, v;
    if (c >= 0xc2 && c <= 0xdf)
        need = 1, min = 0x80, v = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        need = 2, min = 0x800, v = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        need = 3, min = 0x10000, v = c & 0x07;
    else
        return 0;
    if (n <= need) return 0;
    for (size_t k = 1; k <= need; k++) {
        if ((s[k] & 0xc0) != 0x80) return 0;
        v = v << 6 | (s[k] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
    *cp = v;
    return need + 1;
}

/* What a well-formed non-ASCII code point becomes: 0 (kept), ' ' or '?'. */
static char replacement(uint32_t cp)
{
    if (cp <= 0x9f) return ' '; /* C1 controls */
    if ((cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0x200e ||
        cp == 0x200f || cp == 0x061c)
        return '?'; /* bidirectional controls and marks */
    return 0;
}

size_t tp_term_clean(char *str, size_t len)
{
    unsigned char *s = (unsigned char *)str;
    size_t r = 0, w = 0;
    while (r < len) {
        unsigned c = s[r];
        if (c < 0x80) {
            s[w++] = c < 0x20 || c == 0x7f ? ' ' : (unsigned char)c;
            r++;
            continue;
        }
        uint32_t cp = 0;
        size_t n = utf8_seq(s + r, len - r, &cp);
        if (n == 0) {
            s[w++] = '?';
            r++;
            continue;
        }
        char rep = replacement(cp);
        if (rep) {
            s[w++] = (unsigned char)rep;
        } else {
            for (size_t k = 0; k < n; k++)
                s[w++] = s[r + k];
        }
        r += n;
    }
    return w;
}

void tp_term_vprintf(FILE *f, const char *fmt, va_list ap)
{
    char small[1024];
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    char *text = small;
    if (n >= (int)sizeof small) {
        text = malloc((size_t)n + 1);
        if (text)
            vsnprintf(text, (size_t)n + 1, fmt, again);
        else
            text = small, n = (int)sizeof small - 1; /* out of memory: the line cut short */
    }
    va_end(again);
    tp_progress_clear(f); /* a progress line on f is erased, not glued to the message */
    if (n > 0) fwrite(text, 1, tp_term_clean(text, (size_t)n), f);
    fputc('\n', f);
    if (text != small) free(text);
}

void tp_term_printf(FILE *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tp_term_vprintf(f, fmt, ap);
    va_end(ap);
}
