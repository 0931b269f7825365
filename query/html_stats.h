/*
 * html_stats.h - `trace-query stats --html -o FILE`: the scorecard as one self-contained HTML
 * page (html_page.h: no network, strict CSP, stored text escaped).
 *
 * Responsibility: the page of a stats result: a title naming the dimension and the filters'
 * result size, one table row per group (in the order stats chose: --sort, --top, the
 * incident-links row last) and one column per figure a table can show (all of them, or the
 * --columns given). Each cell shows the table text of stats_fields (the same as the
 * terminal's) and carries the exact jsonl value in data-v, which the page's script sorts by
 * when a header is clicked. The script also records on <body> what it drew: data-rows,
 * data-cols and data-rendered="1" (for tests in a real browser).
 * Owns: nothing beyond a call. Threading: reentrant.
 */
#ifndef AGENTTRAIL_QUERY_HTML_STATS_H
#define AGENTTRAIL_QUERY_HTML_STATS_H

#include <stddef.h>
#include <stdio.h>

#include "commands.h"
#include "stats_calc.h"

/* Writes the page: `by` names the dimension, cols[0..ncols) are indexes into qsf_fields (NULL:
 * every in_table field). Returns 0, or -1 when OpenSSL cannot hash the CSP sources; a failed
 * write shows on the stream (ferror, fclose). */
int qhtml_stats_write(FILE *f, const char *by, const qstats_group *const *rows, size_t n,
                      const int *cols, int ncols);

/* Builds the page and writes it to `output` ("-": stdout) by the rules of outfile.h. A QEXIT
 * code, with a message on ctx->err. */
int qhtml_stats(const qctx *ctx, const char *by, const qstats_group *const *rows, size_t n,
                const int *cols, int ncols, const char *output, int force);

#endif
