/*
 * jsonl_source.c - JSON lines in, prepared and validated events out (see
 * jsonl_source.h for the contract).
 *
 * Owns: the current input FILE (closed when exhausted, unless it is stdin),
 * a fixed read buffer and a line buffer that never grows past
 * limits.event_max bytes: a longer line is counted while it is skipped and
 * then rejected with its length, so a hostile input cannot make the shim hold
 * an unbounded line.
 *
 * Threading: one thread per source.
 */
#include "jsonl_source.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "text_term.h"

#define READ_CHUNK (64 * 1024)

struct jsonl_source {
    jsonl_options opt;
    jsonl_stats stats;
    const char *const *paths;
    size_t npaths;
    size_t next_path; /* index of the next path to open */
    FILE *in;         /* current input, NULL between inputs */
    const char *label;
    uint64_t lineno;
    bool eof; /* current input has no more bytes */
    char *rbuf;
    size_t rlen, rpos;
    char *line;        /* current line, at most limits.event_max bytes */
    size_t line_cap;   /* allocated bytes of `line`; doublings, see grow_line */
    size_t line_len;   /* bytes kept in `line` */
    size_t line_total; /* bytes the line really has (> event_max when too long) */
    bool line_oom;     /* the line buffer could not grow: the line is refused */
    char where[512];
};

jsonl_options jsonl_options_default(void)
{
    jsonl_options o = {.limits = tp_limits_default(), .report = stderr};
    return o;
}

int jsonl_source_open(jsonl_source **out, const char *const *paths, size_t n,
                      const jsonl_options *opt)
{
    static const char *const stdin_only[] = {"-"};
    *out = NULL;
    jsonl_source *s = calloc(1, sizeof *s);
    if (!s) return TP_ENOMEM;
    s->opt = opt ? *opt : jsonl_options_default();
    s->paths = n ? paths : stdin_only;
    s->npaths = n ? n : 1;
    s->rbuf = malloc(READ_CHUNK);
    s->line_cap = 4096;
    s->line = malloc(s->line_cap);
    if (!s->rbuf || !s->line) {
        jsonl_source_destroy(&s);
        return TP_ENOMEM;
    }
    *out = s;
    return TP_OK;
}

static void close_input(jsonl_source *s)
{
    if (s->in && s->in != stdin) fclose(s->in);
    s->in = NULL;
}

void jsonl_source_destroy(jsonl_source **src)
{
    if (!src || !*src) return;
    jsonl_source *s = *src;
    close_input(s);
    free(s->rbuf);
    free(s->line);
    free(s);
    *src = NULL;
}

const jsonl_stats *jsonl_source_stats(const jsonl_source *src)
{
    return &src->stats;
}

/* Opens the next path; false when there is none left. Unreadable paths are
 * reported and skipped. */
static bool open_next(jsonl_source *s)
{
    while (s->next_path < s->npaths) {
        const char *p = s->paths[s->next_path++];
        bool is_stdin = strcmp(p, "-") == 0;
        s->label = is_stdin ? "<stdin>" : p;
        s->in = is_stdin ? stdin : fopen(p, "rb");
        s->lineno = 0;
        s->eof = false;
        s->rlen = s->rpos = 0;
        if (s->in) return true;
        s->stats.unreadable++;
        if (s->opt.report) tp_term_printf(s->opt.report, "%s: cannot read: %s", p, strerror(errno));
    }
    return false;
}

/* Makes room for `need` bytes in the line buffer (need <= event_max): the first doubling of
 * its 4096 bytes that holds them (so at most twice event_max when event_max is not such a
 * doubling; with the default 1 MiB it is exactly event_max). */
static bool grow_line(jsonl_source *s, size_t need)
{
    return at_grow((void **)&s->line, &s->line_cap, need, 1, 4096) == AT_OK;
}

/* Reads the next line of the current input into s->line. Returns true when a
 * line (possibly empty, possibly too long) was read, false at end of input. */
static bool read_line(jsonl_source *s)
{
    size_t max = s->opt.limits.event_max;
    bool any = false;
    s->line_len = s->line_total = 0;
    s->line_oom = false;
    for (;;) {
        if (s->rpos == s->rlen) {
            if (s->eof) return any;
            s->rlen = fread(s->rbuf, 1, READ_CHUNK, s->in);
            s->rpos = 0;
            if (s->rlen == 0) {
                s->eof = true;
                if (ferror(s->in)) {
                    s->stats.unreadable++;
                    if (s->opt.report)
                        tp_term_printf(s->opt.report, "%s: cannot read: %s", s->label,
                                       strerror(errno));
                }
                return any;
            }
        }
        any = true;
        char *start = s->rbuf + s->rpos;
        char *nl = memchr(start, '\n', s->rlen - s->rpos);
        size_t chunk = nl ? (size_t)(nl - start) : s->rlen - s->rpos;
        if (s->line_total + chunk <= max && !s->line_oom && !grow_line(s, s->line_len + chunk)) {
            s->line_oom = true;
        } else if (s->line_total + chunk <= max && !s->line_oom) {
            memcpy(s->line + s->line_len, start, chunk);
            s->line_len += chunk;
        }
        s->line_total += chunk;
        s->rpos += chunk + (nl ? 1 : 0);
        if (nl) return true;
    }
}

static bool blank(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r') return false;
    return true;
}

int jsonl_judge_line(const char *line, size_t len, const jsonl_options *opt, tp_event **ev,
                     at_error *err, at_error *warn)
{
    *ev = NULL;
    int flags = opt->lenient ? TP_JSON_LENIENT : 0;
    tp_event *e = NULL;
    int rc = tp_event_from_json(line, len, &opt->limits, flags, &e, err, warn);
    if (rc == TP_OK) rc = tp_event_prepare(e, opt->hmac_key, opt->keep_prompt_text, err);
    if (rc == TP_OK) rc = tp_event_validate(e, &opt->limits, err);
    if (rc != TP_OK) {
        tp_event_destroy(&e);
        return rc;
    }
    *ev = e;
    return TP_OK;
}

static void report(jsonl_source *s, const char *field, const char *kind, const char *problem)
{
    if (s->opt.report)
        tp_term_printf(s->opt.report, "%s:%llu: %s: %s%s", s->label, (unsigned long long)s->lineno,
                       field[0] ? field : "-", kind, problem);
}

int jsonl_source_next(jsonl_source *s, tp_event **ev, const char **where)
{
    *ev = NULL;
    for (;;) {
        if (!s->in && !open_next(s)) return 0;
        if (!read_line(s)) {
            close_input(s);
            continue;
        }
        s->lineno++;
        if (!s->line_oom && s->line_total <= s->opt.limits.event_max && blank(s->line, s->line_len))
            continue;
        s->stats.lines++;
        at_error err = {{0}}, warn = {{0}};
        int rc;
        if (s->line_oom) {
            at_error_set(&err, "-", "out of memory holding a line of %zu bytes", s->line_total);
            rc = TP_ENOMEM;
        } else if (s->line_total > s->opt.limits.event_max) {
            at_error_set(&err, "-", "encoded event is %zu bytes; at most %zu", s->line_total,
                         s->opt.limits.event_max);
            rc = TP_ETOOBIG;
        } else {
            rc = jsonl_judge_line(s->line, s->line_len, &s->opt, ev, &err, &warn);
        }
        if (warn.where[0]) {
            s->stats.warnings++;
            report(s, warn.where, "warning: ", warn.what);
        }
        if (rc != TP_OK) {
            s->stats.rejected++;
            if (rc == TP_EKEY) s->stats.key_missing++;
            report(s, err.where, "", err.what);
            continue;
        }
        s->stats.accepted++;
        if (where) {
            snprintf(s->where, sizeof s->where, "%s:%llu", s->label, (unsigned long long)s->lineno);
            *where = s->where;
        }
        return 1;
    }
}
