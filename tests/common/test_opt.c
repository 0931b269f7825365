/*
 * test_opt.c - the option-table engine (common/opt.c, opt_doc.c): every kind of row parses
 * and checks its value, errors name the option and the value, repeated options overwrite or
 * append, config-file keys go through the same rows with FILE:LINE, --help fits 80 columns
 * and lists every row, and the man page is roff that groff reads without a warning.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "at_test.h"
#include "atcommon.h"
#include "testutil.h"

typedef struct cfg {
    int flag;
    const char *name;
    size_t size;
    uint64_t wait_ns;
    unsigned count;
    int level;
    const char *eps[3];
    int neps;
    const char *called;
} cfg;

static int call_even(void *c, const at_opt *o, const char *v, at_error *err)
{
    (void)o;
    if (strlen(v) % 2) return at_errf(err, AT_EINVAL, "expected an even number of letters");
    ((cfg *)c)->called = v;
    return AT_OK;
}

static const at_opt_word levels[] = {{"low", 1}, {"mid", 2}, {"high", 3}, {NULL, 0}};

#define C(m) AT_OPT_AT(cfg, m)
static const at_opt rows[] = {
    {.name = "flag", .kind = AT_OPT_FLAG, C(flag), .help = "a flag"},
    {.name = "name",
     .letter = 'n',
     .kind = AT_OPT_STRING,
     C(name),
     .metavar = "NAME",
     .help = "a string"},
    {.name = "max-event-bytes",
     .kind = AT_OPT_SIZE,
     C(size),
     .metavar = "N",
     .def = "1M",
     .min = 1,
     .help = "a size with a minimum of 1, and a help text long enough to be wrapped "
             "over more than one line of the eighty columns"},
    {.name = "wait", .kind = AT_OPT_DURATION, C(wait_ns), .metavar = "TIME", .help = "a duration"},
    {.name = "count",
     .kind = AT_OPT_UINT,
     C(count),
     .metavar = "N",
     .min = 1,
     .max = 10,
     .help = "a number from 1 to 10"},
    {.name = "level",
     .kind = AT_OPT_ENUM,
     C(level),
     .metavar = "L",
     .words = levels,
     .def = "mid",
     .help = "low, mid or high"},
    {.name = "endpoint",
     .kind = AT_OPT_LIST,
     C(eps),
     .metavar = "E",
     .count_off = offsetof(cfg, neps),
     .max = 3,
     .key = "endpoints",
     .help = "repeatable"},
    {.name = "even",
     .kind = AT_OPT_CALL,
     .fn = call_even,
     .metavar = "WORD",
     .help = "checked by a callback"},
    {.name = "a-very-long-option-name-indeed",
     .kind = AT_OPT_FLAG,
     C(flag),
     .help = "its help goes on the next line"},
    {.name = "secret", .kind = AT_OPT_FLAG, C(flag), .flags = AT_OPT_HIDDEN, .help = "hidden"},
    {.name = "help", .letter = 'h', .kind = AT_OPT_HELP, .help = "this help"},
    {.name = "man", .kind = AT_OPT_MAN},
    {.name = NULL},
};

static const at_opt_section sections[] = {
    {"EXIT STATUS", "0 success; 2 usage error.\n\n.a line that starts with a dot\n"},
    {"EXAMPLES", "  prog --name x \\\n      --count 3\n"},
    {NULL, NULL},
};

static at_opt_prog prog = {
    .name = "prog",
    .opts = rows,
    .positionals = AT_OPT_POS_MIX,
    .head = "usage: prog [OPTIONS] FILE...\n\nDoes things with a backslash \\ and -dashes.\n",
    .opts_title = "\noptions:\n",
    .tail = "\nSizes take K, M or G.\n",
    .summary = "test the engine",
    .sections = sections,
};

/* Parses the NULL-terminated arguments after argv[0] into *c; the engine's code. */
static int parse(cfg *c, at_opt_result *r, at_error *err, ...)
{
    char *argv[32] = {"prog"};
    int argc = 1;
    va_list ap;
    va_start(ap, err);
    for (char *a; argc < 31 && (a = va_arg(ap, char *)) != NULL;)
        argv[argc++] = a;
    va_end(ap);
    memset(c, 0, sizeof *c);
    at_error_clear(err);
    return at_opt_parse(&prog, argc, argv, c, r, err);
}

AT_TEST(every_kind_parses_and_defaults_apply)
{
    (void)state;
    cfg c;
    at_opt_result r;
    at_error err;
    assert_int_equal(parse(&c, &r, &err, NULL), AT_OK);
    assert_int_equal(c.size, 1u << 20); /* the defaults, through their rows */
    assert_int_equal(c.level, 2);
    at_opt_done(&r);
    assert_int_equal(parse(&c, &r, &err, "--flag", "-n", "x", "--max-event-bytes=1G", "--wait",
                           "500ms", "--count", "10", "--level", "high", "--endpoint", "a",
                           "--endpoint", "b", "--even", "ab", "-nlast", "f1", "-", "--", "--f2",
                           NULL),
                     AT_OK);
    assert_int_equal(c.flag, 1);
    assert_string_equal(c.name, "last"); /* repeated: the last one wins */
    assert_int_equal(c.size, 1u << 30);
    assert_int_equal(c.wait_ns, 500000000ull);
    assert_int_equal(c.count, 10);
    assert_int_equal(c.level, 3);
    assert_int_equal(c.neps, 2); /* a list appends */
    assert_string_equal(c.eps[1], "b");
    assert_string_equal(c.called, "ab");
    assert_int_equal(r.nrest, 3); /* positionals anywhere; "-" is one; after "--" all are */
    assert_string_equal(r.rest[0], "f1");
    assert_string_equal(r.rest[1], "-");
    assert_string_equal(r.rest[2], "--f2");
    assert_null(r.rest[3]);
    at_opt_done(&r);
}

/* Each bad command line and the message it gets: it names the option and the value. */
AT_TEST(errors_name_the_option_and_the_value)
{
    (void)state;
    static const struct {
        const char *args[3], *what;
    } cases[] = {
        {{"--max-event-bytes", "1T"},
         "--max-event-bytes '1T': not a size (use N, NK, NM or NG) (see prog --help)"},
        {{"--max-event-bytes", "0"}, "--max-event-bytes '0': must be at least 1 (see prog --help)"},
        {{"--count", "11"}, "--count '11': must be at most 10 (see prog --help)"},
        {{"--count", "-1"}, "--count '-1': not a whole number (see prog --help)"},
        {{"--wait", "5"},
         "--wait '5': not a duration (use a number and ms, s, m, h, d or w) (see prog --help)"},
        {{"--level", "max"}, "--level 'max': expected low, mid or high (see prog --help)"},
        {{"--even", "abc"}, "--even 'abc': expected an even number of letters (see prog --help)"},
        {{"--bogus"}, "unknown option '--bogus' (see prog --help)"},
        {{"--flagg"}, "unknown option '--flagg' (see prog --help)"},
        {{"--fla"}, "unknown option '--fla' (see prog --help)"}, /* no abbreviations */
        {{"-x"}, "unknown option '-x' (see prog --help)"},
        {{"--name"}, "--name needs a value: --name NAME"},
        {{"--flag=yes"}, "--flag takes no value"},
        {{"--endpoint", "a"}, NULL}, /* below: the fourth one */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0] - 1; i++) {
        cfg c;
        at_opt_result r;
        at_error err;
        int rc = parse(&c, &r, &err, cases[i].args[0], cases[i].args[1], NULL);
        at_opt_done(&r);
        assert_int_equal(rc, AT_EINVAL);
        assert_string_equal(err.what, cases[i].what);
        assert_string_equal(err.where, "");
    }
    cfg c;
    at_opt_result r;
    at_error err;
    assert_int_equal(parse(&c, &r, &err, "--endpoint", "a", "--endpoint", "b", "--endpoint", "c",
                           "--endpoint", "d", NULL),
                     AT_EINVAL);
    assert_string_equal(err.what, "--endpoint 'd': too many of this option (see prog --help)");
    at_opt_done(&r);
}

AT_TEST(positionals_follow_the_program_rule)
{
    (void)state;
    cfg c;
    at_opt_result r;
    at_error err;
    prog.positionals = AT_OPT_POS_NONE;
    assert_int_equal(parse(&c, &r, &err, "--flag", "extra", NULL), AT_EINVAL);
    assert_string_equal(err.what, "unexpected argument 'extra' (see prog --help)");
    at_opt_done(&r);
    prog.positionals = AT_OPT_POS_STOP; /* the first positional ends the options */
    assert_int_equal(parse(&c, &r, &err, "file", "--flag", NULL), AT_OK);
    assert_int_equal(c.flag, 0);
    assert_int_equal(r.nrest, 2);
    assert_string_equal(r.rest[1], "--flag");
    at_opt_done(&r);
    prog.positionals = AT_OPT_POS_MIX;
}

AT_TEST(config_keys_go_through_the_same_rows)
{
    (void)state;
    cfg c;
    memset(&c, 0, sizeof c);
    at_error err;
    assert_int_equal(at_opt_set_key(&prog, &c, "max-event-bytes", "64K", "f.conf:3", &err), AT_OK);
    assert_int_equal(c.size, 65536);
    assert_int_equal(at_opt_set_key(&prog, &c, "endpoints", "tcp://h:1", "f.conf:4", &err), AT_OK);
    assert_int_equal(c.neps, 1);
    assert_int_equal(at_opt_set_key(&prog, &c, "flag", "true", "f.conf:5", &err), AT_OK);
    assert_int_equal(c.flag, 1);
    assert_int_equal(at_opt_set_key(&prog, &c, "flag", "no", "f.conf:6", &err), AT_OK);
    assert_int_equal(c.flag, 0);
    assert_int_equal(at_opt_set_key(&prog, &c, "max-event-bytes", "1T", "f.conf:7", &err),
                     AT_EINVAL);
    char msg[600];
    assert_string_equal(at_error_format(&err, msg, sizeof msg),
                        "f.conf:7: max-event-bytes '1T': not a size (use N, NK, NM or NG)");
    assert_int_equal(at_opt_set_key(&prog, &c, "help", "1", "f.conf:8", &err), AT_EINVAL);
    assert_string_equal(at_error_format(&err, msg, sizeof msg), "f.conf:8: unknown key 'help'");
    assert_int_equal(at_opt_set_key(&prog, &c, "endpoint", "x", "f.conf:9", &err), AT_EINVAL);
    assert_int_equal(at_opt_set_key(&prog, &c, "endpoints", "4", "f.conf:10", &err), AT_OK);
    assert_int_equal(at_opt_set_key(&prog, &c, "endpoints", "5", "f.conf:11", &err), AT_OK);
    assert_int_equal(at_opt_set_key(&prog, &c, "endpoints", "6", "f.conf:12", &err), AT_EINVAL);
    assert_string_equal(at_error_format(&err, msg, sizeof msg),
                        "f.conf:12: endpoints '6': too many of this option"); /* the key's name */
}

AT_TEST(help_lists_every_shown_row_within_80_columns)
{
    (void)state;
    at_opt_result r;
    cfg c;
    at_error err;
    assert_int_equal(parse(&c, &r, &err, "--help", NULL), AT_OK);
    assert_true(r.help);
    at_opt_done(&r);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    at_opt_help(&prog, f);
    fclose(f);
    for (const char *line = text; *line;) {
        size_t n = strcspn(line, "\n");
        if (n > 80) fail_msg("help line of %zu columns: %.*s", n, (int)n, line);
        line += n + (line[n] != 0);
    }
    assert_non_null(strstr(text, "usage: prog"));
    assert_non_null(strstr(text, "\n  -n, --name NAME "));
    assert_non_null(strstr(text, "\n  --a-very-long-option-name-indeed\n      "));
    assert_non_null(strstr(text, "[1M]")); /* a default is shown */
    for (const at_opt *o = rows; o->name; o++) {
        char want[64];
        snprintf(want, sizeof want, "--%s", o->name);
        int hidden = (o->flags & AT_OPT_HIDDEN) || o->kind == AT_OPT_MAN;
        if ((strstr(text, want) != NULL) == hidden) fail_msg("%s in --help: %d", want, !hidden);
    }
    free(text);
}

AT_TEST(the_man_page_is_roff_groff_reads_without_warnings)
{
    (void)state;
    char *dir = tu_tempdir("opt-man");
    char *page = tu_path(dir, "prog.1"), *errs = tu_path(dir, "groff.err");
    FILE *f = fopen(page, "w");
    assert_non_null(f);
    at_opt_man(&prog, "1.2.3", f);
    fclose(f);
    char *roff = tu_read_file(page, NULL);
    assert_non_null(strstr(roff, ".TH PROG 1 \"\" \"AgentTrail 1.2.3\""));
    assert_non_null(strstr(roff, ".SH NAME\nprog \\- test the engine\n"));
    assert_non_null(strstr(roff, ".TP\n.B \\-n, \\-\\-name NAME\n"));
    assert_non_null(strstr(roff, "backslash \\e and"));
    assert_non_null(strstr(roff, "\n\\&.a line that starts with a dot\n"));
    assert_non_null(strstr(roff, ".SH EXAMPLES\n.nf\n"));
    assert_null(strstr(roff, "secret"));
    free(roff);
    char cmd[8400];
    snprintf(cmd, sizeof cmd,
             "command -v groff >/dev/null || exit 77; "
             "groff -man -Tutf8 -ww -z '%s' 2>'%s'",
             page, errs);
    int rc = system(cmd);
    if (WEXITSTATUS(rc) == 77) {
        fprintf(stderr, "SKIP: groff is not installed (scripts/install-deps installs it)\n");
    } else {
        assert_int_equal(WEXITSTATUS(rc), 0);
        char *warnings = tu_read_file(errs, NULL);
        if (warnings && *warnings) fail_msg("groff: %s", warnings);
        free(warnings);
    }
    free(page);
    free(errs);
    tu_rmtree_free(dir);
}
