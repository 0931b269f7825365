/*
 * table.c - aligned text tables that fit the terminal (see table.h).
 *
 * Responsibility: column widths, shrinking flexible columns to the terminal width, printing;
 * cleaning every cell for the terminal (text_term.h) as it is added, so that a cell's width
 * in code points is its width on the screen; streaming long tables with a layout decided
 * from their first rows.
 * Owns: the cells (cleaned copies) of the rows held: every row of a table that is printed
 * at the end, at most `window` rows of a streamed one.
 * Invariants: every row has exactly ncols cells; every held cell is clean (no control byte,
 * well-formed UTF-8); once a streamed table's layout is fixed (t->fixed) no row is held.
 * Threading: a qtable is used by one thread.
 */
#include "table.h"

#include <stdlib.h>
#include <string.h>

#include "atcommon.h"
#include "text_term.h"

struct qtable {
    int ncols;
    char **headers;
    int *flags;
    size_t *min_width; /* per column, used only by a streamed table */
    size_t *trim;      /* per column: may be cut to this without a mark; 0 = not */
    int *drop;         /* optional columns in the order they are left out; NULL: from right */
    int ndrop;
    char **cells; /* rows * ncols */
    size_t rows, cap;
    /* Streaming (qtable_stream): */
    FILE *out;
    int width;
    size_t window;
    int fixed;      /* the layout is decided and the header printed */
    size_t *w;      /* the fixed layout: column widths ... */
    int *shown;     /* ... and which columns are printed */
    size_t printed; /* rows printed so far */
};

/* A cleaned copy of a cell (NULL is "-"). */
static char *dup_cell(const char *s)
{
    char *d = strdup(s ? s : "-");
    if (d) d[tp_term_clean(d, strlen(d))] = 0;
    return d;
}

qtable *qtable_new(int ncols, const char *const *headers, const int *flags)
{
    qtable *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->ncols = ncols;
    t->headers = calloc((size_t)ncols, sizeof *t->headers);
    t->flags = calloc((size_t)ncols, sizeof *t->flags);
    t->min_width = calloc((size_t)ncols, sizeof *t->min_width);
    t->trim = calloc((size_t)ncols, sizeof *t->trim);
    t->w = calloc((size_t)ncols, sizeof *t->w);
    t->shown = calloc((size_t)ncols, sizeof *t->shown);
    if (!t->headers || !t->flags || !t->min_width || !t->trim || !t->w || !t->shown) {
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

qtable *qtable_new_spec(const qtable_spec *spec)
{
    qtable *t = qtable_new(spec->ncols, spec->headers, spec->flags);
    if (t && spec->drop && qtable_set_drop_order(t, spec->drop, spec->ndrop) != 0)
        qtable_destroy(&t);
    for (int c = 0; t && spec->min_widths && c < spec->ncols; c++)
        qtable_set_min_width(t, c, spec->min_widths[c]);
    if (t && spec->trim_width) qtable_set_trim(t, spec->trim_col, spec->trim_width);
    return t;
}

void qtable_set_min_width(qtable *t, int col, size_t width)
{
    if (col >= 0 && col < t->ncols) t->min_width[col] = width;
}

void qtable_set_trim(qtable *t, int col, size_t width)
{
    if (col >= 0 && col < t->ncols) t->trim[col] = width;
}

int qtable_set_drop_order(qtable *t, const int *cols, int n)
{
    int *d = malloc((size_t)(n > 0 ? n : 1) * sizeof *d);
    if (!d) return -1;
    memcpy(d, cols, (size_t)n * sizeof *d);
    free(t->drop);
    t->drop = d;
    t->ndrop = n;
    return 0;
}

size_t qtable_rows(const qtable *t)
{
    return t->printed + t->rows;
}

size_t qtext_width(const char *s)
{
    size_t w = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p & 0xC0) != 0x80) w++;
    return w;
}

/* Prints `s` in `width` code points; a cut shows '~' as its last one when `mark`. */
static void fit_cell(FILE *f, const char *s, size_t width, int right, int pad, int mark)
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
    /* Print width-1 code points, then '~' (or width code points without a mark). */
    size_t shown = 0, keep = mark ? width - 1 : width;
    const char *p = s;
    while (*p && shown < keep) {
        const char *q = p + 1;
        while (*q && ((unsigned char)*q & 0xC0) == 0x80)
            q++;
        fwrite(p, 1, (size_t)(q - p), f);
        p = q;
        shown++;
    }
    if (mark) fputc('~', f);
}

void qtext_print_fit(FILE *f, const char *s, size_t width, int right, int pad)
{
    fit_cell(f, s, width, right, pad, 1);
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

/* Gives the room that leaving columns out made back: flexible columns grow (narrowest
 * first) towards `nat`, then trimmed columns get their whole width back when it fits (the
 * text of a cell is worth more than a time's milliseconds). */
static void give_back(const qtable *t, size_t *w, const int *shown, const size_t *nat,
                      size_t *total, size_t width)
{
    while (*total < width) {
        int narrowest = -1;
        for (int c = 0; c < t->ncols; c++)
            if (shown[c] && (t->flags[c] & QCOL_FLEX) && w[c] < nat[c] &&
                (narrowest < 0 || w[c] < w[narrowest]))
                narrowest = c;
        if (narrowest < 0) break;
        w[narrowest]++;
        (*total)++;
    }
    for (int c = 0; c < t->ncols; c++)
        if (shown[c] && t->trim[c] && nat[c] > w[c] && *total + nat[c] - w[c] <= width) {
            *total += nat[c] - w[c];
            w[c] = nat[c];
        }
}

static void fit_width(const qtable *t, size_t *w, int *shown, const size_t *nat, size_t width)
{
    int n = t->ncols;
    size_t total = total_width(t, w, shown);
    shrink_flex(t, w, shown, &total, width, 16);
    for (int c = 0; c < n && total > width; c++)
        if (shown[c] && t->trim[c] && w[c] > t->trim[c]) {
            w[c] = t->trim[c];
            total = total_width(t, w, shown);
        }
    int ndrop = t->drop ? t->ndrop : n;
    for (int i = 0; i < ndrop && total > width; i++) {
        int c = t->drop ? t->drop[i] : n - 1 - i;
        if (c < 0 || c >= n || !shown[c] || !(t->flags[c] & QCOL_OPTIONAL)) continue;
        shown[c] = 0;
        total = total_width(t, w, shown);
    }
    shrink_flex(t, w, shown, &total, width, 6);
    give_back(t, w, shown, nat, &total, width);
}

/* Decides the column widths and which columns are printed, from the rows held. A streamed
 * table (`streamed`: rows will follow that are not held) gives each column at least its
 * min width and keeps columns that are empty in the rows held (later rows may fill them). */
static void layout(const qtable *t, int width, int streamed, size_t *w, int *shown)
{
    int n = t->ncols;
    natural_widths(t, w);
    for (int c = 0; c < n; c++) {
        if (streamed && w[c] < t->min_width[c]) w[c] = t->min_width[c];
        /* A column with nothing in any row says nothing: leave it out. */
        shown[c] = streamed || t->rows == 0;
        for (size_t r = 0; r < t->rows && !shown[c]; r++)
            if (t->cells[r * (size_t)n + (size_t)c][0]) shown[c] = 1;
    }
    if (width <= 0) return;
    size_t *nat = malloc((size_t)n * sizeof *nat); /* the widths before fitting */
    if (!nat) return;
    memcpy(nat, w, (size_t)n * sizeof *nat);
    fit_width(t, w, shown, nat, (size_t)width);
    free(nat);
}

/* One line: the shown cells fitted to their widths, two spaces apart, trailing spaces cut. */
static void print_row(const qtable *t, char *const *row, FILE *f, const size_t *w, const int *shown)
{
    int last = -1;
    for (int c = 0; c < t->ncols; c++)
        if (shown[c]) last = c;
    /* The line is built in memory so that trailing spaces (empty last cells) are cut. */
    char *line = NULL;
    size_t linelen = 0;
    FILE *m = open_memstream(&line, &linelen);
    if (!m) return;
    /* Columns a QCOL_KEEP cell took beyond its width: paid back from the padding of the
     * cells after it, else by cutting the next flexible cell, so the row keeps its width
     * and its later columns their places. */
    size_t debt = 0;
    for (int c = 0; c < t->ncols; c++) {
        if (!shown[c]) continue;
        size_t width = w[c], cw = qtext_width(row[c]);
        if ((t->flags[c] & QCOL_KEEP) && cw > width) {
            debt += cw - width;
            width = cw;
        } else if (debt) {
            size_t take = cw < width ? width - cw : 0;
            if (take > debt) take = debt;
            if (debt > take && (t->flags[c] & QCOL_FLEX) && width - take > 1)
                take = debt < width - 1 ? debt : width - 1;
            width -= take;
            debt -= take;
        }
        int mark = !(t->trim[c] && width >= t->trim[c]);
        /* A right-aligned last cell is padded on its left too (numbers line up). */
        int right = t->flags[c] & QCOL_RIGHT;
        fit_cell(m, row[c], width, right, c != last || right, mark);
        if (c != last) fputs("  ", m);
    }
    if (fclose(m) == 0) {
        while (linelen > 0 && line[linelen - 1] == ' ')
            linelen--;
        fwrite(line, 1, linelen, f);
        fputc('\n', f);
    }
    free(line);
}

static void free_rows(qtable *t)
{
    for (size_t i = 0; i < t->rows * (size_t)t->ncols; i++)
        free(t->cells[i]);
    t->rows = 0;
}

/* Prints the header and the rows held with the layout in t->w / t->shown, then drops them. */
static void print_held(qtable *t, FILE *f, int header)
{
    if (header) print_row(t, t->headers, f, t->w, t->shown);
    for (size_t r = 0; r < t->rows; r++)
        print_row(t, t->cells + r * (size_t)t->ncols, f, t->w, t->shown);
    t->printed += t->rows;
    free_rows(t);
}

int qtable_stream(qtable *t, FILE *f, int width, size_t window)
{
    t->out = f;
    t->width = width;
    t->window = window ? window : 1;
    return 0;
}

/* A cleaned copy of a row into `row`; -1 when out of memory (nothing kept). */
static int copy_row(const qtable *t, const char *const *cells, char **row)
{
    for (int i = 0; i < t->ncols; i++) {
        row[i] = dup_cell(cells[i]);
        if (!row[i]) {
            for (int k = 0; k < i; k++)
                free(row[k]);
            return -1;
        }
    }
    return 0;
}

int qtable_add(qtable *t, const char *const *cells)
{
    if (t->fixed) {
        /* Streaming with the layout fixed: print the row now, hold nothing. */
        char **row = malloc((size_t)t->ncols * sizeof *row);
        if (!row || copy_row(t, cells, row) != 0) {
            free(row);
            return -1;
        }
        print_row(t, row, t->out, t->w, t->shown);
        t->printed++;
        for (int i = 0; i < t->ncols; i++)
            free(row[i]);
        free(row);
        return 0;
    }
    /* cells holds rows of ncols pointers: one element of at_grow is a row. */
    if (at_grow((void **)&t->cells, &t->cap, t->rows + 1, (size_t)t->ncols * sizeof *t->cells, 64))
        return -1;
    if (copy_row(t, cells, t->cells + t->rows * (size_t)t->ncols) != 0) return -1;
    t->rows++;
    if (t->out && t->rows > t->window) {
        /* More rows than the window: the table streams. Its layout is decided from the rows
         * held (the window and this one) and kept for every row to come. */
        layout(t, t->width, 1, t->w, t->shown);
        t->fixed = 1;
        print_held(t, t->out, 1);
    }
    return 0;
}

void qtable_end(qtable *t)
{
    if (!t->out) return;
    if (!t->fixed) {
        layout(t, t->width, 0, t->w, t->shown);
        print_held(t, t->out, 1);
    }
}

void qtable_print(const qtable *t, FILE *f, int width)
{
    int n = t->ncols;
    size_t *w = calloc((size_t)n, sizeof *w);
    int *shown = calloc((size_t)n, sizeof *shown);
    if (w && shown) {
        layout(t, width, 0, w, shown);
        print_row(t, t->headers, f, w, shown);
        for (size_t r = 0; r < t->rows; r++)
            print_row(t, t->cells + r * (size_t)n, f, w, shown);
    }
    free(w);
    free(shown);
}

void qtable_destroy(qtable **tp)
{
    if (!tp || !*tp) return;
    qtable *t = *tp;
    if (t->cells) free_rows(t);
    free(t->cells);
    if (t->headers)
        for (int i = 0; i < t->ncols; i++)
            free(t->headers[i]);
    free(t->headers);
    free(t->flags);
    free(t->min_width);
    free(t->trim);
    free(t->drop);
    free(t->w);
    free(t->shown);
    free(t);
    *tp = NULL;
}
