/*
 * test_opt_programs.c - the option tables through the real programs: trace-shim and
 * trace-collector accept or refuse the same size strings alike (one at_parse_size, one rule:
 * 0 is a size, K/M/G taken, a minimum is the row's), and every program's --help lists every
 * option its man page (made from the same table) documents.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <cmocka.h>

#include "at_test.h"
#include "pipeline_util.h"
#include "testutil.h"

/* trace-shim --dry-run --max-event-bytes SIZE over one valid line: its exit status. */
static int shim_status(const char *dir, const char *size)
{
    static const char line[] =
        "{\"kind\":\"note\",\"workflow\":\"w\",\"dri\":\"d\",\"note\":\"n\"}\n";
    char *in = tu_path(dir, "in.jsonl"), *bin = tu_bin("trace-shim");
    assert_int_equal(tu_write_file(in, line, strlen(line)), 0);
    char *argv[] = {bin, "--dry-run", "--max-event-bytes", (char *)size, in, NULL};
    int rc = tu_run(argv, NULL, NULL, NULL, NULL);
    free(in);
    free(bin);
    return rc;
}

/* trace-collector --max-event-bytes SIZE on a fresh store: 0 when it came up and stopped
 * cleanly on SIGTERM, else its exit status (2: refused). */
static int collector_status(const char *dir, const char *size, int n)
{
    char name[32], *store, *log = tu_path(dir, "collector.log"), ep[4200];
    snprintf(name, sizeof name, "store%d", n);
    store = tu_path(dir, name);
    snprintf(ep, sizeof ep, "ipc://%s/c%d.sock", dir, n);
    const char *extra[] = {"--max-event-bytes", size, NULL};
    pid_t pid = pu_collector_start(store, ep, log, extra);
    int rc = pu_kill_wait(pid, SIGTERM);
    free(store);
    free(log);
    return rc;
}

AT_TEST(the_same_size_is_accepted_or_refused_alike_by_shim_and_collector)
{
    (void)state;
    static const struct {
        const char *size;
        int ok;
    } sizes[] = {{"1G", 1}, {"64K", 1}, {"16m", 1}, {"4096", 1}, {"0", 0},
                 {"1T", 0}, {"-1", 0},  {"1KB", 0}, {"", 0}};
    char *dir = tu_tempdir("opt-sizes");
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        int shim = shim_status(dir, sizes[i].size);
        int coll = collector_status(dir, sizes[i].size, (int)i);
        if (shim != (sizes[i].ok ? 0 : 2) || coll != (sizes[i].ok ? 0 : 2))
            fail_msg("--max-event-bytes '%s': trace-shim exits %d, trace-collector %d; want %d",
                     sizes[i].size, shim, coll, sizes[i].ok ? 0 : 2);
    }
    tu_rmtree_free(dir);
}

/* Runs a program; its stdout, malloc'd (exit 0 asserted). */
static char *output_of(char *const argv[])
{
    char *out = NULL;
    assert_int_equal(tu_run(argv, NULL, &out, NULL, NULL), 0);
    return out;
}

/* Every option the man page documents (".B \-\-name" or ".B \-o, \-\-name") is in --help,
 * and there are at least `least` of them. */
static void help_lists_the_table(const char *prog, const char *cmd, int least)
{
    char *bin = tu_bin(prog);
    char *help_argv[] = {bin, (char *)(cmd ? cmd : "--help"), cmd ? "--help" : NULL, NULL};
    char *man_argv[] = {bin, (char *)(cmd ? cmd : "--man"), cmd ? "--man" : NULL, NULL};
    char *help = output_of(help_argv), *man = output_of(man_argv);
    int n = 0;
    for (const char *p = man; (p = strstr(p, "\n.B ")) != NULL; p++) {
        const char *name = strstr(p, "\\-\\-");
        if (!name || name > strchr(p + 1, '\n')) continue;
        name += 4;
        char want[80] = "--";
        size_t len = strcspn(name, " \n");
        if (len > sizeof want - 3) len = sizeof want - 3;
        memcpy(want + 2, name, len);
        want[2 + len] = 0;
        for (char *s = want; (s = strstr(s, "\\-")) != NULL;)
            memmove(s, s + 1, strlen(s)); /* roff's \- is a dash */
        if (!strstr(help, want))
            fail_msg("%s %s --help does not list %s", prog, cmd ? cmd : "", want);
        n++;
    }
    if (n < least)
        fail_msg("%s %s: %d options in the man page, want %d", prog, cmd ? cmd : "", n, least);
    TU_FREE(help, man, bin);
}

AT_TEST(help_of_every_program_lists_every_option_of_its_table)
{
    (void)state;
    help_lists_the_table("trace-collector", NULL, 22);
    help_lists_the_table("trace-shim", NULL, 18);
    help_lists_the_table("trace-query", NULL, 3);
    static const char *const cmds[] = {"find", "show", "stats", "link", "export", "verify"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        help_lists_the_table("trace-query", cmds[i], 5);
}

/* Fails naming what and the line when a line of text is past 80 columns. */
static void fits_80(const char *what, const char *text)
{
    for (const char *p = text; *p;) {
        size_t n = strcspn(p, "\n");
        if (n > 80) fail_msg("%s: a line of %zu columns: %.*s", what, n, (int)n, p);
        p += n + (p[n] ? 1 : 0);
    }
}

/* --help, and the man page as man prints it (groff -man -Tascii, when groff is there), of
 * every program and of every trace-query command fit 80 columns. */
AT_TEST(every_help_fits_80_columns)
{
    (void)state;
    static const char *const runs[][2] = {
        {"trace-collector", NULL}, {"trace-shim", NULL},      {"trace-query", NULL},
        {"trace-query", "find"},   {"trace-query", "show"},   {"trace-query", "stats"},
        {"trace-query", "link"},   {"trace-query", "export"}, {"trace-query", "verify"},
    };
    char *dir = tu_tempdir("width");
    char *page = tu_path(dir, "page.1");
    char *groff[] = {"/bin/sh", "-c",
                     "command -v groff >/dev/null || exit 0; groff -man -Tascii -P-c -P-b -P-u",
                     NULL};
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        char *bin = tu_bin(runs[i][0]);
        for (int man = 0; man < 2; man++) {
            char *flag = man ? "--man" : "--help", what[96];
            snprintf(what, sizeof what, "%s %s%s", runs[i][0], runs[i][1] ? runs[i][1] : "", flag);
            char *argv[] = {bin, runs[i][1] ? (char *)runs[i][1] : flag, runs[i][1] ? flag : NULL,
                            NULL};
            char *out = output_of(argv);
            if (man) {
                assert_int_equal(tu_write_file(page, out, strlen(out)), 0);
                free(out);
                out = NULL;
                assert_int_equal(tu_run(groff, page, &out, NULL, NULL), 0);
            }
            fits_80(what, out ? out : "");
            free(out);
        }
        free(bin);
    }
    free(page);
    tu_rmtree(dir);
    free(dir);
}
