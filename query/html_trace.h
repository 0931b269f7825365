/*
 * html_trace.h - `trace-query show --html TRACE -o FILE`: one trace as one self-contained
 * HTML page.
 *
 * Responsibility: the page of one trace: totals (events, duration, tokens, cost, unpriced
 * calls, tool errors, blocked calls, redactions), who owned it (workflow, service, DRI),
 * outcomes, approvals and incidents; the waterfall (one bar per event on the trace's time
 * axis, rows in tree order by parent span from tree.c, indented by depth, coloured by kind
 * and tool status, with tokens, cost and duration); one detail panel per event with every
 * field as stored (tool arguments as the shim masked them, the diff's patch line by line
 * marked added/removed, the prompt's template and HMAC).
 * The page fetches nothing (html_page.h's CSP); its one script positions the bars from
 * data-* attributes and records what it drew on <body> (data-bars, data-errors,
 * data-blocked, data-rendered), which a headless browser's DOM shows. The same events
 * give the same bytes (no time of writing in the page).
 * Owns: the page text while it is built. Threading: reentrant.
 */
#ifndef AGENTTRAIL_QUERY_HTML_TRACE_H
#define AGENTTRAIL_QUERY_HTML_TRACE_H

#include <stddef.h>
#include <stdio.h>

#include "commands.h"
#include "traceproto.h"

/* The page's constant style and script (html_trace_assets.c). */
extern const char qhtml_trace_css[];
extern const char qhtml_trace_js[];

/* Writes the page of the trace `trace_hex` whose events are evs[0..n) (time order, n > 0).
 * Returns 0, or -1 when out of memory or OpenSSL cannot hash the CSP sources. */
int qhtml_trace_write(FILE *f, const tp_event *const *evs, size_t n, const char *trace_hex);

/* The show command's checks of --html, -o and --force before any work: -o and --force only
 * with --html, --html only with -o. A QEXIT code (message printed). */
int qhtml_show_check(const qctx *ctx, int html, const char *output, int force);

/* Builds the page and writes it to `output` ("-": stdout) by the rules of html_page.h.
 * A QEXIT code (message printed). */
int qhtml_show(const qctx *ctx, const tp_event *const *evs, size_t n, const char *trace_hex,
               const char *output, int force);

#endif
