/*
 * commands.h - the shape every trace-query subcommand takes, and the helpers they share.
 *
 * Responsibility: the command table contract (qcmd), the context a command runs in (qctx),
 * the exit codes of DESIGN.md, the table-driven option parser (qopt, qargs) shared by the
 * filtering commands, and small output helpers.
 *
 * Adding a command: write query/<name>.c ending with `QCMD_DEFINE(<name>, "summary");`,
 * declare it below, and add one line `&qcmd_<name>,` to the table in query/main.c.
 *
 * Ownership: the qctx is owned by main() and borrowed by commands for the duration of run();
 * commands open the store themselves (qctx_open_store) and close it before returning.
 * Invariants: run() returns one of the QEXIT_* codes and has printed a message for people on
 * ctx->err for every non-zero code.
 * Threading: trace-query is single-threaded.
 */
#ifndef AGENTTRAIL_QUERY_COMMANDS_H
#define AGENTTRAIL_QUERY_COMMANDS_H

#include <stdint.h>
#include <stdio.h>

#include "atcommon.h"
#include "reader.h"
#include "tracestore.h"

/* Exit codes (DESIGN.md "trace-query"). */
enum {
    QEXIT_OK = 0,      /* success */
    QEXIT_NOTHING = 1, /* the query matched nothing to act on (export: no bundle written) */
    QEXIT_USAGE = 2,   /* usage error: unknown command or option, bad value, malformed id */
    QEXIT_STORE = 3,   /* store or I/O error, or the asked-for thing is not in the store */
    QEXIT_VERIFY = 4,  /* verification failed */
};

/* Output formats. */
enum { QFMT_AUTO = 0, QFMT_TABLE = 1, QFMT_JSONL = 2 };

/* What every command runs in. */
typedef struct qctx {
    const char *prog;      /* "trace-query" */
    const char *store_dir; /* --store, else $AGENTTRAIL_STORE, else ts_default_dir() */
    FILE *out;             /* results */
    FILE *err;             /* messages for people, cursors */
    int out_is_tty;        /* stdout is a terminal: table by default */
    int term_width;        /* columns available for tables; 0 = no limit */
} qctx;

struct qcmd;

/* One subcommand. `run` gets the arguments after the command name (argv[0] is the command
 * name, as for getopt) and returns a QEXIT_* code. `summary` is one line for the command
 * list; `help` is the full text for `COMMAND --help` (usage, description, examples). If
 * `opts` is not NULL the option list is printed after `help` from that table. */
typedef struct qcmd {
    const char *name;
    int (*run)(const qctx *ctx, int argc, char **argv);
    const char *summary;
    const char *help;
    const at_opt *opts; /* its option table (common/opt.c), ending with name == NULL */
} qcmd;

/* Defines `const qcmd qcmd_NAME` from the command file's NAME_run, NAME_help and NAME_opts,
 * so the four names of one command cannot drift apart: QCMD_DEFINE(find, "list ...");. */
#define QCMD_DEFINE(name_, summary_)                                                               \
    const qcmd qcmd_##name_ = {.name = #name_,                                                     \
                               .run = name_##_run,                                                 \
                               .summary = summary_,                                                \
                               .help = name_##_help,                                               \
                               .opts = name_##_opts}

/* The commands (one line each in main.c's table). */
extern const qcmd qcmd_find;
extern const qcmd qcmd_show;
extern const qcmd qcmd_stats;
extern const qcmd qcmd_link;
extern const qcmd qcmd_export;
extern const qcmd qcmd_verify;

/* ---- options, from tables ------------------------------------------------------------- */

/* A command's options are a table of at_opt rows (common/opt.c, atcommon.h "option tables")
 * next to its code; the filtering commands' rows write into a qargs (below). The same table
 * gives the command's --help and its man page (trace-query-COMMAND.1). Row helpers: */
#define QO_STR(n, mv, m, h) AT_OPT_STRING_ROW(qargs, n, m, mv, h)
#define QO_FLAG(n, m, h) AT_OPT_FLAG_ROW(qargs, n, m, h)
#define QO_CALL(n, mv, fn_, h)                                                                     \
    {                                                                                              \
        .name = n, .kind = AT_OPT_CALL, .metavar = mv, .fn = fn_, .help = h                        \
    }
#define QO_HELP                                                                                    \
    {                                                                                              \
        .name = "help", .letter = 'h', .kind = AT_OPT_HELP, .help = "this help"                    \
    }
#define QO_END                                                                                     \
    {                                                                                              \
        .name = NULL                                                                               \
    }

/* The checked values (args.c): AT_OPT_CALL actions on a qargs. */
int qopt_trace(void *a, const at_opt *o, const char *v, at_error *err); /* --trace */
/* --kind, --outcome, --status: a name libtraceproto parses, into the filter or the match */
int qopt_named(void *a, const at_opt *o, const char *v, at_error *err);
int qopt_time(void *a, const at_opt *o, const char *v, at_error *err);       /* --since, --until */
int qopt_error_text(void *a, const at_opt *o, const char *v, at_error *err); /* --error-text */
int qopt_after(void *a, const at_opt *o, const char *v, at_error *err);      /* --after */
extern const at_opt_word qopt_format_words[];                                /* --format */

#define QO_FORMAT(h)                                                                               \
    {                                                                                              \
        .name = "format", .kind = AT_OPT_ENUM, AT_OPT_AT(qargs, format), .metavar = "FMT",         \
        .words = qopt_format_words, .expect = "expected table or jsonl", .help = h                 \
    }
#define QO_OUTPUT(h)                                                                               \
    {                                                                                              \
        .name = "output", .letter = 'o', .kind = AT_OPT_STRING, AT_OPT_AT(qargs, output),          \
        .metavar = "FILE", .help = h                                                               \
    }
#define QO_TIMEOUT(h)                                                                              \
    {                                                                                              \
        .name = "timeout", .kind = AT_OPT_UINT, AT_OPT_AT(qargs, timeout), .metavar = "SECONDS",   \
        .min = 1, .max = 3600, .expect = "expected seconds, 1 to 3600", .help = h                  \
    }
#define QO_LIMIT(h)                                                                                \
    {                                                                                              \
        .name = "limit", .kind = AT_OPT_UINT, AT_OPT_AT(qargs, limit), .metavar = "N", .min = 1,   \
        .expect = "expected a positive number of events", .help = h                                \
    }

/* --html, -o FILE and --force of a command that writes WHAT as one HTML page. */
#define QO_HTML(what)                                                                              \
    QO_FLAG("html", html, "write " what " as one self-contained HTML page to -o FILE"),            \
        QO_OUTPUT("with --html: the page to write (- for stdout)"),                                \
        QO_FLAG("force", force, "with --html: replace FILE if it is an existing regular file")

/* The filter options shared by find, stats and export: QOPT_FILTERS expands to their rows. */
#define QOPT_FILTERS                                                                               \
    QO_STR("workflow", "NAME", filter.workflow, "only this workflow"),                             \
        QO_STR("dri", "WHO", filter.dri, "only events owned by this DRI"),                         \
        QO_STR("incident", "ID", filter.incident, "only this incident (including linked traces)"), \
        QO_CALL("trace", "TRACE_ID", qopt_trace, "only this trace (32 hex, or a unique prefix)"),  \
        QO_STR("service", "NAME", filter.service, "only this service"),                            \
        QO_CALL("kind", "KIND", qopt_named,                                                        \
                "prompt, retrieval, tool_call, diff, outcome, approval, incident_link or note"),   \
        QO_STR("tool", "NAME", filter.tool, "only tool calls of this tool"),                       \
        QO_STR("model", "NAME", filter.model, "only this model name"),                             \
        QO_CALL("outcome", "DECISION", qopt_named, "accepted|edited|rejected|escalated"),          \
        QO_STR("source", "KEY_ID", filter.source, "only events from this authenticated shim key"), \
        QO_CALL("since", "TIME", qopt_time,                                                        \
                "from TIME: RFC 3339 or relative (90s, 30m, 2h, 7d, 2w)"),                         \
        QO_CALL("until", "TIME", qopt_time, "before TIME: RFC 3339 or relative")

/* The filters on decoded events (qmatch, reader.h): a command that has them in its table
 * hands a->match to qreader_set_match. */
#define QOPT_MATCH_FILTERS                                                                         \
    QO_CALL("status", "STATUS", qopt_named, "only tool calls with this status: ok|error|blocked"), \
        QO_CALL("error-text", "TEXT", qopt_error_text,                                             \
                "only tool calls whose error holds TEXT (case sensitive)")

/* The command's own options that qargs has no field for: a string each (a flag's is ""). */
#define QARGS_MAX_OWN 8

/* The parsed arguments of a command. Strings point into argv, except traces[] (full ids). */
#define QARGS_MAX_TRACES 256
typedef struct qargs {
    ts_filter filter; /* filters; trace_id points at trace_id_buf */
    uint8_t trace_id_buf[16];
    int has_trace;
    /* Every --trace given (link takes several), as full 32-digit ids: a prefix is resolved
     * against the store by qargs_parse (ids.h) into trace_hex. */
    const char *traces[QARGS_MAX_TRACES];
    char trace_hex[QARGS_MAX_TRACES][33];
    int ntraces;
    qmatch match;   /* --status, --error-text */
    int per_trace;  /* find --traces */
    uint64_t limit; /* 0 = no limit */
    const char *after;
    int format; /* QFMT_* */
    const char *by;
    const char *reason;
    const char *who;
    const char *endpoint;
    const char *output;
    uint64_t timeout;  /* seconds; 0 = the command's default */
    int explain;       /* --explain: say which index answers */
    int force;         /* --force */
    int allow_empty;   /* --allow-empty */
    int html;          /* --html */
    int dry_run;       /* --dry-run */
    const char *key;   /* export --key */
    const char *prior; /* export --prior */
    uint64_t now;      /* the reference of relative times (--since 2h) */

    /* The command's own options (QOPT_OWN): their values, NULL when not given. */
    const char *own[QARGS_MAX_OWN];

    /* find --prompt-file: prompts whose HMAC is that of this file's text, under the key of
     * --hmac-key-file (default $AGENTTRAIL_HMAC_KEY_FILE). */
    const char *prompt_file;
    const char *hmac_key_file;
    int help;
    char **rest; /* positional arguments left over */
    int nrest;
} qargs;

/* Parses argv (argv[0] is the command name) against cmd->opts into *a (common/opt.c).
 * Accepts `--name VALUE`, `--name=VALUE` and a row's short letter (-o FILE); positionals go
 * to a->rest. Values are checked (hex ids,
 * enum names, times, numbers). A --trace prefix is resolved in the store (opened read-only
 * for it; an unknown prefix exits QEXIT_STORE, an ambiguous one QEXIT_USAGE with the
 * candidates). `--help` sets a->help. On a usage error prints what is wrong and how
 * to get help on ctx->err and returns QEXIT_USAGE; otherwise 0. `now` is the reference for relative
 * times. */
int qargs_parse(const qctx *ctx, const qcmd *cmd, int argc, char **argv, uint64_t now, qargs *a);

/* The opening of every command that parses through qargs: qargs_parse (now: this moment),
 * then --help. Returns 1 when the run ends here, *rc its exit code (0 after printing the help,
 * or qargs_parse's error; a freed), or 0 with a parsed for the command (free: qargs_free). */
int qargs_begin(const qctx *ctx, const qcmd *cmd, int argc, char **argv, qargs *a, int *rc);

/* Frees what qargs_parse allocated (call it whatever qargs_parse returned); accepts NULL. */
void qargs_free(qargs *a);

/* Prints the help of a command (cmd->help then the option table) to `f`. */
void qcmd_print_help(const qctx *ctx, const qcmd *cmd, FILE *f);

/* The engine's view of a command: name "trace-query CMD", page trace-query-CMD, its help as
 * the head and its table. */
void qcmd_prog(const qcmd *cmd, at_opt_prog *p);

/* Parses a time for --since/--until: RFC 3339, or a relative duration before `now`
 * ("90s", "30m", "2h", "7d", "2w"), or "now". Returns 0 and *out, or -1. */
int qtime_parse(const char *s, uint64_t now, uint64_t *out);

/* The effective output format: QFMT_TABLE or QFMT_JSONL (AUTO becomes TABLE on a terminal). */
int qfmt_effective(const qctx *ctx, int format);

/* Opens the store read-only. On failure prints "no store at DIR: start trace-collector
 * --store DIR or pass --store" (or the store's own reason) and returns QEXIT_STORE;
 * otherwise 0 and *out (close with ts_close). */
int qctx_open_store(const qctx *ctx, ts_store **out);

/* Writes `ev` as one line of canonical JSON (EVENTS.md, with `stored`) to ctx->out; 0, or
 * QEXIT_STORE with "out of memory" said for `cmd`. */
int qout_event_json(const qctx *ctx, const char *cmd, const tp_event *ev);

/* Prints "trace-query CMD: <message>" to ctx->err (printf-style). */
void qerr(const qctx *ctx, const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- the end of a command (cmd.c) ---------------------------------------------------- */

/* Flushes ctx->out. When that fails, or an earlier write to it did, and rc is 0, prints
 * "cannot write the WHAT (output closed or disk full)" for `cmd` and returns QEXIT_STORE;
 * otherwise returns rc (a command that failed already has said why). */
int qcmd_finish_output(const qctx *ctx, const char *cmd, const char *what, int rc);

#endif
