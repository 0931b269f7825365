/*
 * fuzz_query_render.c - libFuzzer target for what trace-query does with events read back from
 * a store and with its own arguments: the show tree order, the stats arithmetic, the one-line
 * descriptions and the table layout, and the --since/--until time parser.
 *
 * Input: byte 0 picks the stats grouping and the table width; then records of a 2-byte
 * little-endian length and that many bytes of a protobuf TraceEvent (tp_event_unpack
 * validates them, as the store does on read); the bytes after the last whole record are also
 * parsed as a time and cleaned for the terminal. Bit 2 of byte 0 streams the table with a
 * window of 4 rows. Invariants checked: every event appears exactly once in the tree order;
 * the events of the stats groups and of the incident links row add up to the events given
 * (every row is also printed as jsonl and as table cells, sorted by a field); the table has one
 * line per row plus the header and every line is already clean (tp_term_clean leaves it as it is:
 * no control byte, no C1 or bidi control, only well-formed UTF-8); tp_term_clean of arbitrary bytes
 * is never longer than its input and cleaning twice changes nothing. Single-threaded, as libFuzzer
 * runs it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "describe.h"
#include "stats_calc.h"
#include "stats_fields.h"
#include "table.h"
#include "text_term.h"
#include "tree.h"

#define MAX_EVENTS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every line of the printed table is clean, and there are `rows` + 1 of them. */
static void check_printed(char *text, size_t len, size_t rows)
{
    size_t lines = 0, start = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] != '\n') continue;
        size_t n = i - start;
        char *copy = malloc(n + 1);
        if (!copy) abort();
        memcpy(copy, text + start, n);
        if (tp_term_clean(copy, n) != n || memcmp(copy, text + start, n) != 0) abort();
        free(copy);
        lines++;
        start = i + 1;
    }
    if (start != len || lines != rows + 1) abort();
}

/* Prints every stats row as jsonl and as table cells; returns the events of all rows. */
static uint64_t render_stats(const qstats *st)
{
    const qstats_group *rows[MAX_EVENTS + 1];
    size_t nrows = 0;
    for (size_t g = 0; g < qstats_ngroups(st) && nrows < MAX_EVENTS; g++)
        rows[nrows++] = qstats_group_at(st, g);
    if (qstats_links(st)) rows[nrows++] = qstats_links(st);
    int by_traces = qsf_lookup("traces", 6);
    if (by_traces < 0 || qsf_sort(rows, nrows - (qstats_links(st) != NULL), by_traces, 1) != 0)
        abort();
    FILE *null = fopen("/dev/null", "w");
    if (!null) abort();
    uint64_t total = 0;
    for (size_t r = 0; r < nrows; r++) {
        total += rows[r]->events;
        qsf_print_json(null, rows[r]);
        char cell[48];
        for (size_t f = 0; f < qsf_nfields; f++) {
            qsf_cell(&qsf_fields[f], rows[r], cell, sizeof cell);
            if (strlen(cell) >= sizeof cell) abort();
        }
    }
    fclose(null);
    return total;
}

static void render(tp_event **evs, size_t n, int by, int width, int streamed)
{
    qtree_line order[MAX_EVENTS];
    if (qtree_order((const tp_event *const *)evs, n, order) != 0) abort();
    unsigned char seen[MAX_EVENTS] = {0};
    for (size_t i = 0; i < n; i++) {
        if (order[i].index >= n || seen[order[i].index]) abort();
        seen[order[i].index] = 1;
    }
    qstats *st = qstats_new(by);
    static const char *const headers[] = {"TIME", "WHAT", "TOKENS", "STATUS", "DUR", "COST"};
    static const int flags[] = {0,
                                QCOL_FLEX,
                                QCOL_RIGHT | QCOL_OPTIONAL,
                                QCOL_OPTIONAL,
                                QCOL_RIGHT,
                                QCOL_RIGHT | QCOL_OPTIONAL};
    qtable *t = qtable_new(6, headers, flags);
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    if (!st || !t || !m) abort();
    if (streamed) {
        qtable_set_min_width(t, 0, 23);
        qtable_stream(t, m, width, 4);
    }
    for (size_t i = 0; i < n; i++) {
        const tp_event *ev = evs[order[i].index];
        char tm[40], what[512], tok[64], status[32], dur[32], cost[32];
        qdesc_time(ev->time_unix_nano, tm, sizeof tm);
        qdesc_what(ev, what, sizeof what);
        qdesc_tokens(ev, tok, sizeof tok);
        qdesc_status(ev, status, sizeof status);
        qdesc_duration(ev->duration_nano, dur, sizeof dur);
        qdesc_cost(ev->usage ? ev->usage->cost_usd_micros : 0, cost, sizeof cost);
        const char *cells[] = {tm, what, tok, status, dur, cost};
        if (qtable_add(t, cells) != 0) abort();
        if (qstats_add(st, ev) != 0) abort();
    }
    if (qstats_finish(st) != 0) abort();
    uint64_t total = render_stats(st);
    if (total != n) abort();
    if (streamed)
        qtable_end(t);
    else
        qtable_print(t, m, width);
    if (fclose(m) != 0) abort();
    check_printed(text, len, n);
    free(text);
    qtable_destroy(&t);
    qstats_destroy(&st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    int by = data[0] % QBY_COUNT;
    int width = (data[0] >> 3) * 8; /* 0 (no limit) .. 248 */
    size_t off = 1, n = 0;
    tp_event *evs[MAX_EVENTS];
    tp_limits lim = tp_limits_default();
    while (off + 2 <= size && n < MAX_EVENTS) {
        size_t len = (size_t)data[off] | ((size_t)data[off + 1] << 8);
        if (off + 2 + len > size) break;
        at_error err;
        tp_event *ev = NULL;
        if (tp_event_unpack(data + off + 2, len, &lim, &ev, &err) == 0) evs[n++] = ev;
        off += 2 + len;
    }
    render(evs, n, by, width, data[0] & 4);
    for (size_t i = 0; i < n; i++)
        tp_event_destroy(&evs[i]);
    /* The rest as a --since value. */
    char text[128];
    size_t tl = size - off < sizeof text - 1 ? size - off : sizeof text - 1;
    memcpy(text, data + off, tl);
    text[tl] = 0;
    uint64_t t = 0;
    qtime_parse(text, 1732531200000000000ull, &t);
    size_t once = tp_term_clean(text, tl);
    if (once > tl || tp_term_clean(text, once) != once) abort();
    for (size_t i = 0; i < once; i++)
        if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f) abort();
    return 0;
}
