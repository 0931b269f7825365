/*
 * main.c - trace-query: global options and dispatch to the subcommands.
 *
 * Responsibility: parses the global options (--store DIR, --help, --version, the hidden
 * --man; a table of common/opt.c, like every command's), builds the
 * qctx every command runs in, installs the crash report (query/crash.c: a crash while
 * reading a damaged store exits 4 with a message, never by a signal), finds the command in
 * the table below and runs it.
 * Owns: the qctx (lives for the whole run).
 * Invariants: the exit code is one of QEXIT_* (commands.h; DESIGN.md): 0 success, 1 nothing
 * matched, 2 usage error, 3 store or I/O error, 4 verification failed, 5 not trusted.
 * Threading: single-threaded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "commands.h"
#include "crash.h"
#include "text_term.h"

/* The commands, in the order `trace-query --help` lists them. One line per command. */
/* clang-format off */
static const qcmd *const commands[] = {
    &qcmd_find,
    &qcmd_show,
    &qcmd_stats,
    &qcmd_link,
    &qcmd_export,
    &qcmd_verify,
    NULL,
};
/* clang-format on */

/* The global options (common/opt.c): before the command, into the qctx. */
static const at_opt global_opts[] = {
    {.name = "store",
     .kind = AT_OPT_STRING,
     AT_OPT_AT(qctx, store_dir),
     .metavar = "DIR",
     .need = "a directory",
     .help = "the store directory (default: $AGENTTRAIL_STORE, else ./agenttrail-store)"},
    {.name = "help",
     .letter = 'h',
     .kind = AT_OPT_HELP,
     .help = "this help; `trace-query COMMAND --help` for a command"},
    {.name = "version", .kind = AT_OPT_VERSION, .help = "print the version"},
    {.name = "man",
     .kind = AT_OPT_MAN,
     .help = "print the man page (roff); `trace-query COMMAND --man` for a command's"},
    {.name = NULL},
};

static const char global_examples[] =
    "  trace-query find --workflow support-draft-reply --since 2h\n"
    "  trace-query show 4bf92f3577b34da6a3ce929d0e0e4736\n"
    "  trace-query stats --by workflow --since 7d\n"
    "  trace-query link --incident INC-2041 \\\n"
    "    --trace 4bf92f3577b34da6a3ce929d0e0e4736 \\\n"
    "    --reason \"refund issued without approval\"\n";

static const char global_exit[] =
    "exit codes: 0 success, 1 nothing matched to act on (export), 2 usage error, 3\n"
    "store or I/O error, 4 verification failed or a damaged store, 5 verified against\n"
    "a key nothing independent vouches for (verify without --key)\n";

/* The man page's sections: the command list is made from the table below at run time. */
static char man_commands[1024];
static const at_opt_section global_sections[] = {
    {"COMMANDS", man_commands},
    {"EXIT STATUS", global_exit},
    {"ENVIRONMENT", "AGENTTRAIL_STORE: the store directory when --store is not given."},
    {"EXAMPLES", global_examples},
    {"SEE ALSO", "trace-query-find(1), trace-query-show(1), trace-query-stats(1), "
                 "trace-query-link(1), trace-query-export(1), trace-query-verify(1), "
                 "trace-collector(1), trace-shim(1)"},
    {NULL, NULL},
};

static const at_opt_prog global_prog = {
    .name = "trace-query",
    .opts = global_opts,
    .positionals = AT_OPT_POS_STOP,
    .head = "usage: trace-query [--store DIR] COMMAND [OPTIONS]\n"
            "\n"
            "Reads an AgentTrail store (read-only, safe while trace-collector writes) and\n"
            "answers what the agents did, who owned it, what it cost and how often its\n"
            "output was rejected.\n",
    .opts_title = "\nglobal options:\n",
    .optword = "global option",
    .hint = "(global options: --store DIR, --help, --version; command options go after the "
            "command)",
    .summary = "find, show, count, link, export and verify what AI agents did",
    .sections = global_sections,
};

static void print_global_help(FILE *f)
{
    at_opt_help(&global_prog, f);
    fputs("\ncommands:\n", f);
    for (size_t i = 0; commands[i]; i++)
        fprintf(f, "  %-8s %s\n", commands[i]->name, commands[i]->summary);
    fprintf(f, "\nexamples:\n%s\n%s", global_examples, global_exit);
}

static void print_global_man(FILE *f)
{
    size_t at = 0;
    for (size_t i = 0; commands[i] && at < sizeof man_commands; i++)
        at += (size_t)snprintf(man_commands + at, sizeof man_commands - at,
                               "%s%s: %s (see %s-%s(1))", i ? "\n\n" : "", commands[i]->name,
                               commands[i]->summary, "trace-query", commands[i]->name);
    at_opt_man(&global_prog, AGENTTRAIL_VERSION, f);
}

/* `trace-query COMMAND --man`: the command's page. */
static void print_command_man(const qcmd *c, FILE *f)
{
    at_opt_prog p;
    qcmd_prog(c, &p);
    at_opt_man(&p, AGENTTRAIL_VERSION, f);
}

static const qcmd *find_command(const char *name)
{
    for (size_t i = 0; commands[i]; i++)
        if (strcmp(commands[i]->name, name) == 0) return commands[i];
    return NULL;
}

static int terminal_width(int is_tty)
{
    if (is_tty) {
        struct winsize ws;
        if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
    }
    const char *c = getenv("COLUMNS");
    if (c && *c) {
        uint64_t v = 0;
        if (at_parse_u64(c, strlen(c), 9999, &v) == 0 && v > 0) return (int)v;
    }
    return is_tty ? 80 : 0;
}

int main(int argc, char **argv)
{
    qctx ctx = {
        .prog = "trace-query",
        .store_dir = NULL,
        .out = stdout,
        .err = stderr,
        .out_is_tty = isatty(STDOUT_FILENO),
    };
    ctx.term_width = terminal_width(ctx.out_is_tty);

    at_opt_result res;
    at_error err;
    int rc = at_opt_parse(&global_prog, argc, argv, &ctx, &res, &err);
    int i = argc - res.nrest; /* the command and its arguments are the rest */
    at_opt_done(&res);
    if (rc != 0) {
        tp_term_printf(stderr, "trace-query: %s", err.what);
        return rc == AT_ENOMEM ? QEXIT_STORE : QEXIT_USAGE;
    }
    if (res.help || res.man || res.version) {
        if (res.help) print_global_help(stdout);
        if (res.man) print_global_man(stdout);
        if (res.version) printf("trace-query %s\n", AGENTTRAIL_VERSION);
        return QEXIT_OK;
    }
    if (!ctx.store_dir || !*ctx.store_dir) ctx.store_dir = ts_default_dir();
    if (i >= argc) {
        fprintf(stderr, "trace-query: no command given\n\n");
        print_global_help(stderr);
        return QEXIT_USAGE;
    }
    if (strcmp(argv[i], "help") == 0) {
        const qcmd *c = i + 1 < argc ? find_command(argv[i + 1]) : NULL;
        if (c)
            qcmd_print_help(&ctx, c, stdout);
        else
            print_global_help(stdout);
        return QEXIT_OK;
    }
    /* From here on a crash reading a damaged store is reported and exits 4 (crash.h). */
    qcrash_install(ctx.store_dir);
    const qcmd *cmd = find_command(argv[i]);
    if (cmd && i + 1 < argc && strcmp(argv[i + 1], "--man") == 0) {
        print_command_man(cmd, stdout);
        return QEXIT_OK;
    }
    if (!cmd) {
        char names[512] = "";
        for (size_t k = 0, at = 0; commands[k] && at < sizeof names; k++)
            at += (size_t)snprintf(names + at, sizeof names - at, " %s", commands[k]->name);
        tp_term_printf(
            stderr, "trace-query: unknown command '%s'; commands are:%s (see trace-query --help)",
            argv[i], names);
        return QEXIT_USAGE;
    }
    return cmd->run(&ctx, argc - i, argv + i);
}
