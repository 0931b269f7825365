/*
 * main.c - trace-query: global options and dispatch to the subcommands.
 *
 * Responsibility: parses the global options (--store DIR, --help, --version), builds the
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

static const char global_usage[] =
    "usage: trace-query [--store DIR] COMMAND [OPTIONS]\n"
    "\n"
    "Reads an AgentTrail store (read-only, safe while trace-collector writes) and answers\n"
    "what the agents did, who owned it, what it cost and how often its output was rejected.\n"
    "\n"
    "global options:\n"
    "  --store DIR   the store directory (default: $AGENTTRAIL_STORE, else ./agenttrail-store)\n"
    "  --help        this help; `trace-query COMMAND --help` for a command\n"
    "  --version     print the version\n"
    "\n"
    "commands:\n";

static const char global_examples[] =
    "\n"
    "examples:\n"
    "  trace-query find --workflow support-draft-reply --since 2h\n"
    "  trace-query show 4bf92f3577b34da6a3ce929d0e0e4736\n"
    "  trace-query stats --by workflow --since 7d\n"
    "  trace-query link --incident INC-2041 --trace 4bf92f3577b34da6a3ce929d0e0e4736 \\\n"
    "    --reason \"refund issued without approval\"\n"
    "\n"
    "exit codes: 0 success, 1 nothing matched to act on (export), 2 usage error, 3 store or\n"
    "I/O error, 4 verification failed or a damaged store, 5 verified against a key nothing\n"
    "independent vouches for (verify without --key)\n";

static void print_global_help(FILE *f)
{
    fputs(global_usage, f);
    for (size_t i = 0; commands[i]; i++)
        fprintf(f, "  %-8s %s\n", commands[i]->name, commands[i]->summary);
    fputs(global_examples, f);
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
        char *end = NULL;
        unsigned long v = strtoul(c, &end, 10);
        if (end && *end == 0 && v > 0 && v < 10000) return (int)v;
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

    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            print_global_help(stdout);
            return QEXIT_OK;
        } else if (strcmp(a, "--version") == 0) {
            printf("trace-query %s\n", AGENTTRAIL_VERSION);
            return QEXIT_OK;
        } else if (strcmp(a, "--store") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "trace-query: --store needs a directory: --store DIR\n");
                return QEXIT_USAGE;
            }
            ctx.store_dir = argv[++i];
        } else if (strncmp(a, "--store=", 8) == 0) {
            ctx.store_dir = a + 8;
        } else {
            tp_term_printf(stderr,
                           "trace-query: unknown global option '%s' (global options: --store DIR, "
                           "--help, --version; command options go after the command)",
                           a);
            return QEXIT_USAGE;
        }
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
