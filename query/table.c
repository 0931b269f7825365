/*
 * table.c - aligned text tables that fit the terminal (see table.h).
 *
 * Responsibility: column widths, shrinking flexible columns to the terminal width, printing.
 * Owns: the cells (copied strings) of every row.
 * Invariants: every row has exactly ncols cells.
 * Threading: a qtable is used by one thread.
 */
#include "table.h"

#include <stdlib.h>
#include <string.h>

struct qtable {
    int ncols;
    char **headers;
    int *flags;
    char **cells; /* rows * ncols */
    size_t rows, cap;
};

static char *dup_cell(const char *s)
{
    return strdup(s ? s : "-");
}

qtable *qtable_new(int ncols, const char *const *headers, const int *flags)
{
    qtable *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->ncols = ncols;
    t->headers = calloc((size_t)ncols, sizeof *t->headers);
    t->flags = calloc((size_t)ncols, sizeof *t->flags);
    if (!t->headers || !t->flags) {
        qtable_destroy(&t);
        return NULL;
    }
    for (int i = 0; i < ncols; i++) {
        t->headers[i] = dup_cell(headers[i]);
        t->flags[i] = flags ? flags[i] : 0;
        if (!t->headers[i]) {
            qtable_destroy(&t);
            return NULL;
        }
    }
    return t;
}

int qtable_add(qtable *t, const char *const *cells)
{
    if (t->rows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        char **n = realloc(t->cells, cap * (size_t)t->ncols * sizeof *n);
        if (!n) return -1;
        t->cells = n;
        t->cap = cap;
    }
    char **row = t->cells + t->rows * (size_t)t->ncols;
    for (int i = 0; i < t->ncols; i++) {
        row[i] = dup_cell(cells[i]);
        if (!row[i]) {
            for (int k = 0; k < i; k++)
                free(row[k]);
            return -1;
        }
    }
    t->rows++;
    return 0;
}

size_t qtable_rows(const qtable *t)
{
    return t->rows;
}

size_t qtext_width(const char *s)
{
    size_t w = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p & 0xC0) != 0x80) w++;
    return w;
}

void qtext_print_fit(FILE *f, const char *s, size_t width, int right, int pad)
{
    size_t w = qtext_width(s);
    if (w <= width) {
        if (right && pad)
            for (size_t i = w; i < width; i++)
                fputc(' ', f);
        fputs(s, f);
        if (!right && pad)
            for (size_t i = w; i < width; i++)
                fputc(' ', f);
        return;
    }
    if (width == 0) return;
    /* Print width-1 code points, then '~'. */
    size_t shown = 0;
    const char *p = s;
    while (*p && shown < width - 1) {
        const char *q = p + 1;
        while (*q && ((unsigned char)*q & 0xC0) == 0x80)
            q++;
        fwrite(p, 1, (size_t)(q - p), f);
        p = q;
        shown++;
    }
    fputc('~', f);
}

static void natural_widths(const qtable *t, size_t *w)
{
    int n = t->ncols;
    for (int c = 0; c < n; c++) {
        w[c] = qtext_width(t->headers[c]);
        for (size_t r = 0; r < t->rows; r++) {
            size_t cw = qtext_width(t->cells[r * (size_t)n + (size_t)c]);
            if (cw > w[c]) w[c] = cw;
        }
    }
}

size_t qtable_natural_width(const qtable *t)
{
    size_t *w = calloc((size_t)t->ncols, sizeof *w);
    if (!w) return 0;
    natural_widths(t, w);
    size_t total = 2 * (size_t)(t->ncols - 1);
    for (int c = 0; c < t->ncols; c++)
        total += w[c];
    free(w);
    return total;
}

/* Shrinks flexible columns, widest first, down to `floor`, until total <= width. */
static void shrink_flex(const qtable *t, size_t *w, const int *shown, size_t *total, size_t width,
                        size_t floor)
{
    while (*total > width) {
        int widest = -1;
        for (int c = 0; c < t->ncols; c++) {
            if (!shown[c] || !(t->flags[c] & QCOL_FLEX)) continue;
            size_t min = qtext_width(t->headers[c]);
            if (min < floor) min = floor;
            if (w[c] > min && (widest < 0 || w[c] > w[widest])) widest = c;
        }
        if (widest < 0) return;
        w[widest]--;
        (*total)--;
    }
}

static size_t total_width(const qtable *t, const size_t *w, const int *shown)
{
    size_t total = 0;
    int n = 0;
    for (int c = 0; c < t->ncols; c++)
        if (shown[c]) {
            total += w[c];
            n++;
        }
    return n ? total + 2 * (size_t)(n - 1) : 0;
}

void qtable_print(const qtable *t, FILE *f, int width)
{
    int n = t->ncols;
    size_t *w = calloc((size_t)n, sizeof *w);
    int *shown = calloc((size_t)n, sizeof *shown);
    if (!w || !shown) {
        free(w);
        free(shown);
        return;
    }
    natural_widths(t, w);
    for (int c = 0; c < n; c++) {
        /* A column with nothing in any row says nothing: leave it out. */
        shown[c] = t->rows == 0;
        for (size_t r = 0; r < t->rows && !shown[c]; r++)
            if (t->cells[r * (size_t)n + (size_t)c][0]) shown[c] = 1;
    }
    if (width > 0) {
        size_t total = total_width(t, w, shown);
        shrink_flex(t, w, shown, &total, (size_t)width, 16);
        for (int c = n - 1; c >= 0 && total > (size_t)width; c--) {
            if (!shown[c] || !(t->flags[c] & QCOL_OPTIONAL)) continue;
            shown[c] = 0;
            total = total_width(t, w, shown);
        }
        shrink_flex(t, w, shown, &total, (size_t)width, 6);
    }
    int last = -1;
    for (int c = 0; c < n; c++)
        if (shown[c]) last = c;
    /* Each line is built in memory so that trailing spaces (empty last cells) are cut. */
    char *line = NULL;
    size_t linelen = 0;
    for (size_t r = 0; r <= t->rows; r++) {
        char *const *row = r == 0 ? t->headers : t->cells + (r - 1) * (size_t)n;
        FILE *m = open_memstream(&line, &linelen);
        if (!m) break;
        for (int c = 0; c < n; c++) {
            if (!shown[c]) continue;
            qtext_print_fit(m, row[c], w[c], t->flags[c] & QCOL_RIGHT, c != last);
            if (c != last) fputs("  ", m);
        }
        if (fclose(m) != 0) break;
        while (linelen > 0 && line[linelen - 1] == ' ')
            linelen--;
        fwrite(line, 1, linelen, f);
        fputc('\n', f);
        free(line);
        line = NULL;
    }
    free(line);
    free(w);
    free(shown);
}

void qtable_destroy(qtable **tp)
{
    if (!tp || !*tp) return;
    qtable *t = *tp;
    for (size_t i = 0; i < t->rows * (size_t)t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    if (t->headers)
        for (int i = 0; i < t->ncols; i++)
            free(t->headers[i]);
    free(t->headers);
    free(t->flags);
    free(t);
    *tp = NULL;
}
