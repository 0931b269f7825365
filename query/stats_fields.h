/*
 * stats_fields.h - the figures of a `trace-query stats` row, from one table: for each, the
 * jsonl key (also the name --columns and --sort take), the table header, how its value is
 * read from a qstats_group, and how it is printed (jsonl: exact; table: for people).
 *
 * Responsibility: naming, reading, printing and ordering the figures of stats_calc's groups.
 * The definitions are in docs/trace-query.md ("stats: definitions").
 * Owns: nothing (the table is static; text goes to the caller's buffer or FILE).
 * Threading: reentrant.
 */
#ifndef AGENTTRAIL_QUERY_STATS_FIELDS_H
#define AGENTTRAIL_QUERY_STATS_FIELDS_H

#include <stddef.h>
#include <stdio.h>

#include "stats_calc.h"

/* How a field's value is read and printed. */
enum {
    QSF_GROUP,     /* the group's name (null: "(none)"; the links row: "(incident links)") */
    QSF_ROW,       /* "group" or "incident_links" */
    QSF_COUNT,     /* a uint64_t of the group */
    QSF_RATE,      /* num / den of two uint64_t of the group; null when den is 0 */
    QSF_COST,      /* cost_usd: null (unknown) when every priced figure is missing */
    QSF_DURATION,  /* a nearest-rank percentile of one kind of call; null when none */
    QSF_KINDS,     /* jsonl only: {prompt:N, ...} all eight kinds */
    QSF_DECISIONS, /* jsonl only: {accepted:N, ...} */
};

typedef struct qstats_field {
    const char *key;       /* jsonl key; the name --columns and --sort take */
    const char *header;    /* table header (also accepted, any case, by --columns and --sort) */
    int type;              /* QSF_* */
    size_t num, den;       /* COUNT: offset of the value; RATE: offsets of numerator, denominator */
    int dur_kind;          /* DURATION: QDUR_* */
    unsigned pct;          /* DURATION: the percentile */
    unsigned char in_json; /* printed in jsonl */
    unsigned char in_table; /* can be a table column */
} qstats_field;

/* The fields, in jsonl key order. */
extern const qstats_field qsf_fields[];
extern const size_t qsf_nfields;

/* The index of the field named `name` (its key, or its header in any case), compared over
 * `len` bytes; -1 when none. */
int qsf_lookup(const char *name, size_t len);

/* Prints one group as a JSON object with every in_json field, in table order, and a newline. */
void qsf_print_json(FILE *f, const qstats_group *g);

/* The exact value of a number field for a group as jsonl writes it ("" for null, and for the
 * group name and the object fields), whether or not the field is in jsonl. */
void qsf_exact(const qstats_field *fd, const qstats_group *g, char *buf, size_t len);

/* The table text of a field for a group (never longer than len - 1; always terminated). */
void qsf_cell(const qstats_field *fd, const qstats_group *g, char *buf, size_t len);

/* Orders rows[0..n), given in group-name order (qstats_group_at's), by field `field`
 * (descending if `desc`); rows whose value is null come last either way, ties keep
 * group-name order. 0, or -1 when out of memory. */
int qsf_sort(const qstats_group **rows, size_t n, int field, int desc);

#endif
