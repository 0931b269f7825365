/*
 * text_term.h - text from events and inputs made safe to print on a terminal.
 *
 * Responsibility: one rule, shared by trace-query, trace-shim and trace-collector, for every
 * string they print for people that may hold bytes they did not write themselves (event
 * fields, file names, argument values, decoder messages that quote input). Such bytes must
 * never drive the terminal (move the cursor, hide or recolour text, retitle the window,
 * reorder a line) and every printed character must take one column, so that tables stay
 * aligned. The rule:
 *   - C0 controls (0x00-0x1F, newlines and tabs included), DEL (0x7F) and C1 controls
 *     (U+0080-U+009F, i.e. UTF-8 0xC2 0x80-0x9F) become one space each;
 *   - each byte that does not belong to well-formed UTF-8 (stray continuation bytes,
 *     overlongs such as 0xC0 0x9B, surrogates, above U+10FFFF, truncated sequences) becomes
 *     '?';
 *   - the bidirectional controls that reorder what follows them (U+202A-U+202E embeddings
 *     and overrides, U+2066-U+2069 isolates) and the direction marks U+200E, U+200F, U+061C
 *     become '?': a row must not be able to show its cells in another order than stored,
 *     and the '?' tells the reader the stored text held one;
 *   - everything else (printable ASCII, well-formed UTF-8) is kept as is.
 * Every replacement is one byte standing for at least one, so the result is never longer
 * than the input and cleaning works in place. A program's own newlines are written by the
 * callers around the cleaned text (tp_term_printf adds the one line end).
 * Owns: nothing. Threading: reentrant, no global state.
 */
#ifndef AGENTTRAIL_PROTO_TEXT_TERM_H
#define AGENTTRAIL_PROTO_TEXT_TERM_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

/* Cleans s[0..len) in place by the rule above; returns the new length (<= len). Does not
 * write a NUL: the caller terminates at the returned length if it needs a C string. */
size_t tp_term_clean(char *s, size_t len);

/* Formats one message line (printf-style), cleans it, writes it to f followed by '\n'.
 * The formatted text is cleaned as a whole, so newlines inside it become spaces: call it
 * once per line. Errors of f are left for the caller to see with ferror/fflush. */
void tp_term_printf(FILE *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tp_term_vprintf(FILE *f, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

#endif
