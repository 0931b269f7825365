/*
 * html_stats.c - the scorecard as one HTML page (see html_stats.h).
 *
 * Responsibility: the table of groups and figures, their exact values for sorting, and the
 * page's constant style and script. The values come from the same functions as the
 * terminal table (qsf_cell) and jsonl (qsf_exact), so the page never disagrees with either.
 * Owns: nothing beyond a call. Threading: reentrant.
 */
#include "html_stats.h"

#include <stdlib.h>
#include <string.h>

#include "html_page.h"
#include "stats_fields.h"
#include "text_term.h"

/* clang-format off */
static const char stats_css[] =
    "\n:root{color-scheme:light}"
    "body{font:13px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:16px 20px;"
    "color:#1f2328;background:#fff}"
    "h1{font-size:17px;margin:0 0 8px}p{color:#59636e;margin:0 0 10px}"
    "table{border-collapse:collapse}"
    "th,td{padding:3px 8px;border-bottom:1px solid #e6e9ec;white-space:nowrap}"
    "th{text-align:left;cursor:pointer;background:#f6f8fa;position:sticky;top:0}"
    "th[data-dir='asc']::after{content:' \\25B2'}th[data-dir='desc']::after{content:' \\25BC'}"
    "td.num{text-align:right;font-family:ui-monospace,'DejaVu Sans Mono',monospace}"
    "tr.links td{color:#59636e;font-style:italic}"
    "tr:hover td{background:#f6f8fa}\n";

static const char stats_js[] =
    "\n(function(){var b=document.body,t=document.getElementById('scorecard');"
    "var body=t.tBodies[0],hs=t.tHead.rows[0].cells;"
    "function val(r,i){var v=r.cells[i].getAttribute('data-v');return v===null?'':v;}"
    "function sortBy(i){var d=hs[i].getAttribute('data-dir')==='desc'?'asc':'desc';"
    "for(var k=0;k<hs.length;k++)hs[k].removeAttribute('data-dir');"
    "hs[i].setAttribute('data-dir',d);var s=d==='asc'?1:-1;"
    "var rows=Array.prototype.slice.call(body.rows).filter(function(r){"
    "return r.className!=='links';});"
    "var links=Array.prototype.slice.call(body.rows).filter(function(r){"
    "return r.className==='links';});"
    "rows.sort(function(x,y){var a=val(x,i),c=val(y,i);"
    "if(a==='')return c===''?0:1;if(c==='')return -1;"
    "var na=Number(a),nc=Number(c);"
    "if(!isNaN(na)&&!isNaN(nc))return s*(na-nc);return s*(a<c?-1:a>c?1:0);});"
    "rows.concat(links).forEach(function(r){body.appendChild(r);});}"
    "for(var i=0;i<hs.length;i++)hs[i].addEventListener('click',sortBy.bind(null,i));"
    "b.setAttribute('data-rows',String(body.rows.length));"
    "b.setAttribute('data-cols',String(hs.length));"
    "b.setAttribute('data-rendered','1');})();\n";
/* clang-format on */

static void put_row(FILE *f, const qstats_group *g, const int *cols, int ncols)
{
    fprintf(f, "<tr%s>", g->is_links ? " class=\"links\"" : "");
    for (int c = 0; c < ncols; c++) {
        const qstats_field *fd = &qsf_fields[cols[c]];
        char cell[256], exact[256];
        qsf_cell(fd, g, cell, sizeof cell);
        qsf_exact(fd, g, exact, sizeof exact);
        if (fd->type == QSF_GROUP && g->key) snprintf(exact, sizeof exact, "%s", g->key);
        fprintf(f, "<td%s data-key=\"%s\"", fd->type == QSF_GROUP ? "" : " class=\"num\"", fd->key);
        if (exact[0] || fd->type == QSF_GROUP) {
            fputs(" data-v=\"", f);
            qhtml_text(f, exact, 0);
            fputc('"', f);
        }
        fputc('>', f);
        /* The whole group name (the terminal table may cut it), else the table text. */
        qhtml_text(f, fd->type == QSF_GROUP && g->key ? g->key : cell, 0);
        fputs("</td>", f);
    }
    fputs("</tr>\n", f);
}

int qhtml_stats_write(FILE *f, const char *by, const qstats_group *const *rows, size_t n,
                      const int *cols, int ncols)
{
    int all[64], nall = 0;
    if (!cols) {
        for (size_t i = 0; i < qsf_nfields && nall < 64; i++)
            if (qsf_fields[i].in_table) all[nall++] = (int)i;
        cols = all;
        ncols = nall;
    }
    char title[160];
    snprintf(title, sizeof title, "AgentTrail scorecard by %s", by);
    if (qhtml_begin(f, title, stats_css, stats_js)) return -1;
    fputs("<h1>", f);
    qhtml_text(f, title, 0);
    fputs("</h1>\n<p>", f);
    qhtml_printf(f, "%zu row%s; click a column to sort by it (exact values, not the rounded text)",
                 n, n == 1 ? "" : "s");
    fputs("</p>\n<table id=\"scorecard\"><thead><tr>", f);
    for (int c = 0; c < ncols; c++) {
        fprintf(f, "<th data-key=\"%s\">", qsf_fields[cols[c]].key);
        qhtml_text(f, qsf_fields[cols[c]].header, 0);
        fputs("</th>", f);
    }
    fputs("</tr></thead>\n<tbody>\n", f);
    for (size_t i = 0; i < n; i++)
        put_row(f, rows[i], cols, ncols);
    fputs("</tbody></table>\n", f);
    qhtml_end(f, stats_js);
    return 0;
}

/* The arguments of qhtml_stats_write, for qhtml_render. */
typedef struct stats_page {
    const char *by;
    const qstats_group *const *rows;
    size_t n;
    const int *cols;
    int ncols;
} stats_page;

static int write_stats_page(FILE *f, const void *arg)
{
    const stats_page *p = arg;
    return qhtml_stats_write(f, p->by, p->rows, p->n, p->cols, p->ncols);
}

int qhtml_stats(const qctx *ctx, const char *by, const qstats_group *const *rows, size_t n,
                const int *cols, int ncols, const char *output, int force)
{
    stats_page p = {by, rows, n, cols, ncols};
    int rc = qhtml_render(ctx, "stats", write_stats_page, &p, output, force);
    if (rc == 0 && strcmp(output, "-") != 0)
        tp_term_printf(ctx->err, "stats: %zu rows by %s -> %s", n, by, output);
    return rc;
}
