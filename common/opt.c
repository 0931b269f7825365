/*
 * opt.c - the option-table engine (atcommon.h, "option tables"): parses argv and config-file
 * keys through the rows of a program's table. --help and the man page are opt_doc.c's.
 *
 * Owns: res->rest (freed by at_opt_done); every other value points into argv or the caller's
 * strings. Rules: `--name VALUE`, `--name=VALUE`, `-l VALUE`, `-lVALUE`; `--` ends the
 * options; a lone `-` is a positional (stdin); no abbreviations; a repeated option overwrites
 * (a LIST appends). Threading: reentrant.
 */
#include <stdlib.h>
#include <string.h>

#include "atcommon.h"

/* Stores v into an unsigned field of row->size bytes; AT_ERANGE when it does not fit. */
static int store_uint(void *cfg, const at_opt *o, uint64_t v)
{
    char *f = (char *)cfg + o->off;
    switch (o->size) {
    case 1: {
        uint8_t x = (uint8_t)v;
        if (x != v) return AT_ERANGE;
        memcpy(f, &x, 1);
        return AT_OK;
    }
    case 2: {
        uint16_t x = (uint16_t)v;
        if (x != v) return AT_ERANGE;
        memcpy(f, &x, 2);
        return AT_OK;
    }
    case 4: {
        uint32_t x = (uint32_t)v;
        if (x != v) return AT_ERANGE;
        memcpy(f, &x, 4);
        return AT_OK;
    }
    case 8:
        memcpy(f, &v, 8);
        return AT_OK;
    }
    return AT_ERANGE;
}

static int parse_uint(const char *s, uint64_t *out)
{
    return s ? at_parse_u64(s, strlen(s), UINT64_MAX, out) : AT_EINVAL;
}

/* The problem with a bad number, in the row's words or the kind's. */
static int bad_number(const at_opt *o, int rc, uint64_t v, at_error *err)
{
    if (o->expect) return at_errf(err, AT_EINVAL, "%s", o->expect);
    static const char *const what[] = {
        [AT_OPT_SIZE] = "not a size (use N, NK, NM or NG)",
        [AT_OPT_DURATION] = "not a duration (use a number and ms, s, m, h, d or w)",
        [AT_OPT_UINT] = "not a whole number",
    };
    if (rc == AT_EINVAL) return at_errf(err, AT_EINVAL, "%s", what[o->kind]);
    if (v < o->min)
        return at_errf(err, AT_EINVAL, "must be at least %llu", (unsigned long long)o->min);
    if (o->max) return at_errf(err, AT_EINVAL, "must be at most %llu", (unsigned long long)o->max);
    return at_errf(err, AT_EINVAL, "too large");
}

static int set_number(void *cfg, const at_opt *o, const char *val, at_error *err)
{
    uint64_t v = 0;
    int rc = o->kind == AT_OPT_SIZE       ? at_parse_size(val, &v)
             : o->kind == AT_OPT_DURATION ? at_parse_duration(val, &v)
                                          : parse_uint(val, &v);
    if (rc == AT_OK && (v < o->min || (o->max && v > o->max))) rc = AT_ERANGE;
    if (rc == AT_OK) rc = store_uint(cfg, o, v);
    return rc == AT_OK ? AT_OK : bad_number(o, rc, v, err);
}

static int set_enum(void *cfg, const at_opt *o, const char *val, at_error *err)
{
    for (const at_opt_word *w = o->words; w && w->word; w++)
        if (strcmp(w->word, val) == 0) {
            memcpy((char *)cfg + o->off, &w->value, sizeof w->value);
            return AT_OK;
        }
    if (o->expect) return at_errf(err, AT_EINVAL, "%s", o->expect);
    char list[256] = "";
    size_t at = 0;
    for (const at_opt_word *w = o->words; w && w->word && at < sizeof list; w++)
        at += (size_t)snprintf(list + at, sizeof list - at, "%s%s",
                               at ? (w[1].word ? ", " : " or ") : "", w->word);
    return at_errf(err, AT_EINVAL, "expected %s", list);
}

static int set_list(void *cfg, const at_opt *o, const char *val, at_error *err)
{
    int n;
    memcpy(&n, (char *)cfg + o->count_off, sizeof n);
    if (o->max && (uint64_t)n >= o->max)
        return at_errf(err, AT_EINVAL, "%s", o->expect ? o->expect : "too many of this option");
    memcpy((char *)cfg + o->off + (size_t)n * sizeof val, &val, sizeof val);
    n++;
    memcpy((char *)cfg + o->count_off, &n, sizeof n);
    return AT_OK;
}

static int set_flag_word(void *cfg, const at_opt *o, const char *val, at_error *err)
{
    static const at_opt_word words[] = {{"true", 1},  {"yes", 1}, {"1", 1},
                                        {"false", 0}, {"no", 0},  {"0", 0}};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strcmp(words[i].word, val) == 0) return store_uint(cfg, o, (uint64_t)words[i].value);
    return at_errf(err, AT_EINVAL, "expected true or false");
}

/* Applies one value through its row: 0, AT_EINVAL with the problem in err (wrapped by the
 * caller), AT_ERANGE with a message that stands alone. */
static int apply(void *cfg, const at_opt *o, const char *val, at_error *err)
{
    switch (o->kind) {
    case AT_OPT_FLAG:
        return val ? set_flag_word(cfg, o, val, err) : store_uint(cfg, o, 1);
    case AT_OPT_STRING:
        if (strlen(val) < o->min)
            return at_errf(err, AT_EINVAL, "%s", o->expect ? o->expect : "too short");
        memcpy((char *)cfg + o->off, &val, sizeof val);
        return AT_OK;
    case AT_OPT_SIZE:
    case AT_OPT_DURATION:
    case AT_OPT_UINT:
        return set_number(cfg, o, val, err);
    case AT_OPT_ENUM:
        return set_enum(cfg, o, val, err);
    case AT_OPT_LIST:
        return set_list(cfg, o, val, err);
    case AT_OPT_CALL:
        return o->fn(cfg, o, val, err);
    default:
        return AT_OK; /* HELP, VERSION, MAN: the parser's */
    }
}

/* apply, with the message naming the option (as "--name" on argv, as its key in a config
 * file) and the value; hint: " (see PROG --help)" or "". */
static int apply_named(void *cfg, const at_opt *o, const char *val, const char *dashes,
                       const char *name, const char *hint, at_error *err)
{
    at_error e;
    at_error_clear(&e);
    int rc = apply(cfg, o, val, &e);
    if (rc == AT_OK) return AT_OK;
    if (rc == AT_ERANGE)
        at_error_set(err, "", "%s", e.what);
    else
        at_error_set(err, "", "%s%s '%s': %s%s", dashes, name, val ? val : "", e.what, hint);
    return AT_EINVAL;
}

int at_opt_defaults(const at_opt_prog *p, void *cfg, at_error *err)
{
    for (const at_opt *o = p->opts; o && o->name; o++)
        if (o->def && apply_named(cfg, o, o->def, "--", o->name, " (the default)", err) != AT_OK)
            return AT_EINVAL;
    return AT_OK;
}

const at_opt *at_opt_find(const at_opt_prog *p, const char *name, size_t len)
{
    for (const at_opt *o = p->opts; o && o->name; o++)
        if (strlen(o->name) == len && strncmp(o->name, name, len) == 0) return o;
    return NULL;
}

static const at_opt *find_letter(const at_opt_prog *p, char c)
{
    for (const at_opt *o = p->opts; o && o->name; o++)
        if (o->letter && o->letter == c) return o;
    return NULL;
}

static int takes_value(const at_opt *o)
{
    return o->metavar != NULL && o->kind != AT_OPT_FLAG && o->kind != AT_OPT_HELP &&
           o->kind != AT_OPT_VERSION && o->kind != AT_OPT_MAN;
}

/* The parser's state over one argv. */
typedef struct parser {
    const at_opt_prog *p;
    int argc;
    char **argv;
    int i; /* the next argument */
    void *cfg;
    at_opt_result *res;
    at_error *err;
    char hint[160]; /* " (see PROG --help)" */
} parser;

static int unknown(parser *ps, const char *arg, size_t len)
{
    const char *hint = ps->p->hint;
    at_error_set(ps->err, "", "unknown %s '%.*s' %s%s%s",
                 ps->p->optword ? ps->p->optword : "option", (int)len, arg, hint ? hint : "(see ",
                 hint ? "" : ps->p->name, hint ? "" : " --help)");
    return AT_EINVAL;
}

/* Runs the row o, its value inline (after '=' or the letter) or the next argument. */
static int run_row(parser *ps, const at_opt *o, const char *inline_val, int has_inline)
{
    at_opt_result *r = ps->res;
    if (o->kind == AT_OPT_HELP || o->kind == AT_OPT_VERSION || o->kind == AT_OPT_MAN ||
        (!takes_value(o) && o->kind != AT_OPT_CALL)) {
        if (has_inline) {
            at_error_set(ps->err, "", "--%s takes no value", o->name);
            return AT_EINVAL;
        }
        if (o->kind == AT_OPT_HELP) r->help = 1;
        if (o->kind == AT_OPT_VERSION) r->version = 1;
        if (o->kind == AT_OPT_MAN) r->man = 1;
        return o->kind == AT_OPT_FLAG
                   ? apply_named(ps->cfg, o, NULL, "--", o->name, ps->hint, ps->err)
                   : AT_OK;
    }
    const char *v = has_inline ? inline_val : NULL;
    if (!has_inline && takes_value(o)) {
        if (ps->i >= ps->argc) {
            at_error_set(ps->err, "", "--%s needs %s: --%s %s", o->name,
                         o->need ? o->need : "a value", o->name, o->metavar);
            return AT_EINVAL;
        }
        v = ps->argv[ps->i++];
    }
    return apply_named(ps->cfg, o, v, "--", o->name, ps->hint, ps->err);
}

static int long_option(parser *ps, const char *arg)
{
    const char *name = arg + 2, *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    const at_opt *o = at_opt_find(ps->p, name, len);
    if (!o) return unknown(ps, arg, len + 2);
    return run_row(ps, o, eq ? eq + 1 : NULL, eq != NULL);
}

static int short_option(parser *ps, const char *arg)
{
    const at_opt *o = find_letter(ps->p, arg[1]);
    if (!o) return unknown(ps, arg, strlen(arg));
    if (arg[2] && !takes_value(o)) return unknown(ps, arg, strlen(arg));
    return run_row(ps, o, arg + 2, arg[2] != 0);
}

static int positional(parser *ps, char *arg, int *stop)
{
    if (ps->p->positionals == AT_OPT_POS_NONE) {
        at_error_set(ps->err, "", "unexpected argument '%s'%s", arg, ps->hint);
        return AT_EINVAL;
    }
    ps->res->rest[ps->res->nrest++] = arg;
    if (ps->p->positionals == AT_OPT_POS_STOP) *stop = 1;
    return AT_OK;
}

int at_opt_parse(const at_opt_prog *p, int argc, char **argv, void *cfg, at_opt_result *res,
                 at_error *err)
{
    memset(res, 0, sizeof *res);
    res->rest = calloc((size_t)(argc > 0 ? argc : 0) + 1, sizeof *res->rest);
    if (!res->rest) return at_errf(err, AT_ENOMEM, "out of memory");
    parser ps = {p, argc, argv, 1, cfg, res, err, ""};
    snprintf(ps.hint, sizeof ps.hint, " (see %s --help)", p->name);
    if (at_opt_defaults(p, cfg, err) != AT_OK) return AT_EINVAL;
    int only_positionals = 0, rc = AT_OK;
    while (rc == AT_OK && ps.i < argc) {
        char *arg = argv[ps.i++];
        if (only_positionals) {
            res->rest[res->nrest++] = arg;
        } else if (strcmp(arg, "--") == 0) {
            only_positionals = 1;
        } else if (arg[0] != '-' || arg[1] == 0) {
            rc = positional(&ps, arg, &only_positionals);
        } else {
            rc = arg[1] == '-' ? long_option(&ps, arg) : short_option(&ps, arg);
        }
    }
    return rc;
}

void at_opt_done(at_opt_result *res)
{
    if (!res) return;
    free(res->rest);
    res->rest = NULL;
    res->nrest = 0;
}

int at_opt_set_key(const at_opt_prog *p, void *cfg, const char *key, const char *value,
                   const char *where, at_error *err)
{
    for (const at_opt *o = p->opts; o && o->name; o++) {
        const char *k = o->key ? o->key : o->name;
        if ((o->flags & AT_OPT_NOCONFIG) || o->kind >= AT_OPT_HELP || strcmp(k, key) != 0) continue;
        at_error e;
        if (apply_named(cfg, o, value, "", k, "", &e) == AT_OK) return AT_OK;
        at_error_set(err, where, "%s", e.what);
        return AT_EINVAL;
    }
    at_error_set(err, where, "unknown key '%s'", key);
    return AT_EINVAL;
}
