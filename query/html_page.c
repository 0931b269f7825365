/*
 * html_page.c - escaping, the CSP head and writing of trace-query's HTML pages (see
 * html_page.h).
 *
 * Responsibility: the text rule (terminal cleaning per line, then character references),
 * the SHA-256 source hashes of the page's inline style and script for its CSP, and the
 * output step through outfile.h.
 * Owns: scratch copies of the text being escaped (freed before returning).
 * Threading: reentrant.
 */
#include "html_page.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "atcommon.h"
#include "outfile.h"
#include "text_term.h"

/* Escapes one cleaned line (no line ends left in it). */
static void put_escaped(FILE *f, const char *s, size_t len)
{
    static const char *const entity[256] = {
        ['&'] = "&amp;", ['<'] = "&lt;", ['>'] = "&gt;", ['"'] = "&quot;", ['\''] = "&#39;",
    };
    for (size_t i = 0; i < len; i++) {
        const char *e = entity[(unsigned char)s[i]];
        if (e)
            fputs(e, f);
        else
            fputc(s[i], f);
    }
}

void qhtml_textn(FILE *f, const char *s, size_t len, int multiline)
{
    if (!s || !len) return;
    char *copy = malloc(len);
    if (!copy) return;
    memcpy(copy, s, len);
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && !(multiline && copy[i] == '\n')) continue;
        /* One line: cleaned by the terminal rule (a '\n' inside one-line text becomes a
         * space there), then escaped. */
        size_t n = tp_term_clean(copy + start, i - start);
        put_escaped(f, copy + start, n);
        if (i < len) fputc('\n', f);
        start = i + 1;
    }
    free(copy);
}

void qhtml_text(FILE *f, const char *s, int multiline)
{
    if (s) qhtml_textn(f, s, strlen(s), multiline);
}

void qhtml_printf(FILE *f, const char *fmt, ...)
{
    char *line = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&line, fmt, ap);
    va_end(ap);
    if (n >= 0) qhtml_textn(f, line, (size_t)n, 0);
    free(line);
}

/* 'sha256-BASE64' of s, the CSP source expression that allows exactly this inline text. */
static int csp_hash(const char *s, char out[80])
{
    uint8_t md[AT_SHA256_LEN];
    if (at_sha256(s, strlen(s), md) != AT_OK) return -1;
    unsigned char b64[64];
    EVP_EncodeBlock(b64, md, (int)sizeof md);
    snprintf(out, 80, "'sha256-%s'", (const char *)b64);
    return 0;
}

int qhtml_begin(FILE *f, const char *title, const char *css, const char *js)
{
    char hs[80], hj[80];
    if (csp_hash(css, hs) || csp_hash(js, hj)) return -1;
    /* default-src 'none': no fetch of any kind (images, fonts, frames, connections);
     * only the inline style and script below, by hash; no <base>, no forms. */
    fprintf(f,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
            "style-src %s; script-src %s; img-src 'none'; font-src 'none'; connect-src "
            "'none'; base-uri 'none'; form-action 'none'\">\n"
            "<meta name=\"referrer\" content=\"no-referrer\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            "<title>",
            hs, hj);
    qhtml_text(f, title, 0);
    fprintf(f, "</title>\n<style>%s</style>\n</head>\n", css);
    return 0;
}

void qhtml_end(FILE *f, const char *js)
{
    fprintf(f, "<script>%s</script>\n</body>\n</html>\n", js);
}

int qhtml_check_output(const qctx *ctx, const char *cmd, const char *output, int force)
{
    if (strcmp(output, "-") == 0) return 0;
    at_error err = {0};
    int rc = qoutfile_check(output, force, &err);
    if (rc) qerr(ctx, cmd, "%s", err.what);
    return rc;
}

int qhtml_write_output(const qctx *ctx, const char *cmd, const char *html, size_t len,
                       const char *output, int force)
{
    if (strcmp(output, "-") == 0) {
        /* Stored text in the page is cleaned of controls: safe on a terminal too. */
        if (fwrite(html, 1, len, ctx->out) == len && fflush(ctx->out) == 0) return 0;
        qerr(ctx, cmd, "cannot write the page to stdout (output closed or disk full)");
        return QEXIT_STORE;
    }
    at_error err = {0};
    qoutfile o;
    int rc = qoutfile_open(&o, output, force, &err);
    if (!rc && at_write_all(o.fd, html, len) != 0) {
        at_error_set(&err, "", "writing %s failed: %s", output, strerror(errno));
        qoutfile_abort(&o);
        rc = QEXIT_STORE;
    }
    if (!rc) rc = qoutfile_commit(&o, &err);
    if (rc) qerr(ctx, cmd, "%s", err.what);
    return rc;
}

int qhtml_render(const qctx *ctx, const char *cmd, qhtml_page_fn page, const void *arg,
                 const char *output, int force)
{
    char *html = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&html, &len);
    int ok = m && page(m, arg) == 0;
    if (m && fclose(m) != 0) ok = 0;
    int rc = QEXIT_STORE;
    if (!ok)
        qerr(ctx, cmd, "out of memory while building the page");
    else
        rc = qhtml_write_output(ctx, cmd, html, len, output, force);
    free(html);
    return rc;
}
