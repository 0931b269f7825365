/*
 * table.h - aligned text tables that fit the terminal, for trace-query's table format.
 *
 * Responsibility: collects rows of cells, then prints them with columns aligned on display
 * width (UTF-8 code points). To fit the given width it, in order: leaves out columns that are
 * empty in every row, shortens flexible columns to 16 (a cut cell ends with "~"), trims
 * columns that have a trim width to it (cut without a mark: a time loses its milliseconds),
 * leaves out optional columns (in the table's drop order, else rightmost first), then
 * shortens flexible columns down to 6. A QCOL_KEEP column (ids) is never cut.
 * Every cell is cleaned for the terminal as it is added (text_term.h: control characters
 * become spaces, bytes that are not UTF-8 and bidirectional controls '?'), so stored text
 * never drives the terminal and each printed code point takes one column.
 * A streamed table (qtable_stream) holds at most `window` + 1 rows: while it has no more
 * rows than the window it prints exactly as qtable_print would at qtable_end; once one more
 * row arrives, the layout is decided from the rows held (each column at least its
 * qtable_set_min_width, no column left out for being empty since later rows may fill it),
 * the header and those rows are printed, and every later row is printed as it is added, cut
 * to the same widths.
 * Owns: copies of the cells held.
 * Threading: a qtable is used by one thread.
 */
#ifndef AGENTTRAIL_QUERY_TABLE_H
#define AGENTTRAIL_QUERY_TABLE_H

#include <stdio.h>

typedef struct qtable qtable;

/* Column alignment and behaviour flags. */
enum {
    QCOL_LEFT = 0,
    QCOL_RIGHT = 1 << 0,    /* numbers */
    QCOL_FLEX = 1 << 1,     /* may be shortened to fit the width */
    QCOL_OPTIONAL = 1 << 2, /* may be left out (drop order) when the table cannot fit */
    QCOL_KEEP = 1 << 3,     /* never cut (ids): in a streamed table a later, wider cell takes
                               the columns it needs from the padding of the cells after it,
                               else from the next flexible cell of its row */
};

/* A new table with `ncols` columns named by `headers` (copied) with `flags[i]` (QCOL_*).
 * Returns NULL when out of memory. */
qtable *qtable_new(int ncols, const char *const *headers, const int *flags);

/* A table described by one table of constants: its columns, their flags, their least widths
 * when it streams (NULL: none), the drop order (NULL: rightmost first) and one trimmed
 * column (trim_width 0: none). */
typedef struct qtable_spec {
    int ncols;
    const char *const *headers;
    const int *flags;
    const size_t *min_widths;
    const int *drop;
    int ndrop;
    int trim_col;
    size_t trim_width;
} qtable_spec;

/* The spec of a streamed table from the tables P_headers, P_flags, P_min_widths and
 * P_drop_order of the file, with column TRIM cut to WIDTH. */
#define QTABLE_SPEC_STREAMED(p_, ncols_, trim_, width_)                                            \
    {                                                                                              \
        .ncols = ncols_, .headers = p_##_headers, .flags = p_##_flags,                             \
        .min_widths = p_##_min_widths, .drop = p_##_drop_order,                                    \
        .ndrop = sizeof p_##_drop_order / sizeof p_##_drop_order[0], .trim_col = trim_,            \
        .trim_width = width_                                                                       \
    }

/* qtable_new with everything of `spec` set. NULL when out of memory. */
qtable *qtable_new_spec(const qtable_spec *spec);

/* Adds one row of `ncols` cells (cleaned copies; NULL is printed as "-"); a streamed table
 * whose layout is fixed prints it at once instead. 0 or -1 (out of memory). */
int qtable_add(qtable *t, const char *const *cells);

/* Makes the table stream to `f` with terminal width `width` (0: no limit): the layout is
 * decided from the first `window` + 1 rows (see above). Call before the first qtable_add and
 * end with qtable_end. Returns 0. */
int qtable_stream(qtable *t, FILE *f, int width, size_t window);

/* The least width of column `col` when the table streams: values of a known size (times,
 * ids, kinds) are then never cut because the first rows happened to be shorter. */
void qtable_set_min_width(qtable *t, int col, size_t width);

/* Column `col` may be cut at the right to `width` code points, without a '~', when the
 * table does not fit (after flexible columns reach 16, before optional ones are left out). */
void qtable_set_trim(qtable *t, int col, size_t width);

/* The optional columns in the order they are left out when the table does not fit
 * (default: rightmost first); columns not listed are kept. 0, or -1 out of memory. */
int qtable_set_drop_order(qtable *t, const int *cols, int n);

/* Prints what a streamed table still holds (all of it, with the header, when it never
 * reached more than its window). Does nothing for a table that does not stream. */
void qtable_end(qtable *t);

/* Number of rows added. */
size_t qtable_rows(const qtable *t);

/* The width the table takes without shrinking (columns, two spaces between). */
size_t qtable_natural_width(const qtable *t);

/* Prints header and rows (of a table that does not stream). `width` is the terminal width (0: no
 * limit). Columns are separated by two spaces; trailing spaces are not printed. */
void qtable_print(const qtable *t, FILE *f, int width);

/* Frees; accepts NULL and *t == NULL; sets *t to NULL. */
void qtable_destroy(qtable **t);

/* Display width of a UTF-8 string (code points). */
size_t qtext_width(const char *s);

/* Prints `s` cut to at most `width` code points (the last one replaced by '~' when cut),
 * then pads with spaces to `width` if `pad`. */
void qtext_print_fit(FILE *f, const char *s, size_t width, int right, int pad);

#endif
