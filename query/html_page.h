/*
 * html_page.h - the frame of trace-query's self-contained HTML pages (show --html) and the
 * one rule for putting stored text into them.
 *
 * Responsibility: escaping text for HTML (element content and quoted attribute values), the
 * page head with a strict Content-Security-Policy (nothing may be fetched: no network, no
 * fonts, no images; only the page's own inline style and script run, named by their
 * SHA-256), and writing a finished page to `-o FILE` (outfile.h rules) or `-o -` (stdout).
 * Text rule: stored text is first cleaned by the terminal rule (proto/text_term.h, per line:
 * controls become spaces, malformed UTF-8 and bidi controls '?'), so the page shows what
 * `show` prints; then & < > " ' become character references, so no stored string can open
 * or close an element or an attribute. Pages embed no data in their script (the script is
 * a constant that reads data-* attributes), so `</script>` and U+2028/U+2029 in stored text
 * need no further rule.
 * Owns: nothing beyond a call. Threading: reentrant.
 */
#ifndef AGENTTRAIL_QUERY_HTML_PAGE_H
#define AGENTTRAIL_QUERY_HTML_PAGE_H

#include <stddef.h>
#include <stdio.h>

#include "commands.h"

/* Writes s (NULL: nothing) escaped by the rule above. multiline: keep its line ends (for
 * <pre>); else they become spaces (attributes, one-line cells). */
void qhtml_text(FILE *f, const char *s, int multiline);

/* The same for s[0..len), which need not be NUL-terminated. */
void qhtml_textn(FILE *f, const char *s, size_t len, int multiline);

/* printf-style, then escaped as one line. */
void qhtml_printf(FILE *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "<!DOCTYPE html>...<body>": the head with the CSP that allows exactly `css` as the inline
 * style and `js` as the inline script (by hash), the title (escaped) and the style. 0, or
 * -1 when OpenSSL cannot compute the hashes (nothing is written then). */
int qhtml_begin(FILE *f, const char *title, const char *css, const char *js);

/* The script (the same `js` as given to qhtml_begin) and "</body></html>". */
void qhtml_end(FILE *f, const char *js);

/* Checks where a page will go before any work: "-" (stdout) is always fine, a FILE by the
 * rules of outfile.h. A QEXIT code, with a message on ctx->err naming `cmd`. */
int qhtml_check_output(const qctx *ctx, const char *cmd, const char *output, int force);

/* Writes the page html[0..len) to `output` ("-": stdout) by those rules. A QEXIT code. */
int qhtml_write_output(const qctx *ctx, const char *cmd, const char *html, size_t len,
                       const char *output, int force);

/* Writes a whole page into a FILE; 0, or non-zero when it cannot be made. */
typedef int (*qhtml_page_fn)(FILE *f, const void *arg);

/* Builds the page page(f, arg) in memory, then writes it to `output` as qhtml_write_output
 * does. A QEXIT code; "out of memory while building the page" for `cmd` when page fails. */
int qhtml_render(const qctx *ctx, const char *cmd, qhtml_page_fn page, const void *arg,
                 const char *output, int force);

#endif
