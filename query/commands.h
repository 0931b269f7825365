/*
 * commands.h - the shape every trace-query subcommand takes, and the helpers they share.
 *
 * Responsibility: the command table contract (qcmd), the context a command runs in (qctx),
 * the exit codes of DESIGN.md, the table-driven option parser (qopt, qargs) shared by the
 * filtering commands, and small output helpers.
 *
 * Adding a command: write query/<name>.c defining `const qcmd qcmd_<name> = {...};`,
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
    const struct qopt *opts; /* NULL-terminated table (name == NULL), or NULL */
} qcmd;

/* The commands (one line each in main.c's table). */
extern const qcmd qcmd_find;
extern const qcmd qcmd_show;
extern const qcmd qcmd_stats;
extern const qcmd qcmd_link;
extern const qcmd qcmd_export;
extern const qcmd qcmd_verify;

/* ---- options, from tables ------------------------------------------------------------- */

/* Option ids understood by qargs_parse. */
enum {
    QOPT_END = 0,
    QOPT_HELP,
    QOPT_WORKFLOW,
    QOPT_DRI,
    QOPT_INCIDENT,
    QOPT_TRACE,
    QOPT_SERVICE,
    QOPT_KIND,
    QOPT_TOOL,
    QOPT_MODEL,
    QOPT_OUTCOME,
    QOPT_SOURCE,
    QOPT_SINCE,
    QOPT_UNTIL,
    QOPT_LIMIT,
    QOPT_AFTER,
    QOPT_FORMAT,
    QOPT_BY,
    QOPT_REASON,
    QOPT_WHO,
    QOPT_ENDPOINT,
    QOPT_OUTPUT,
    QOPT_TIMEOUT,
    QOPT_EXPLAIN,
    QOPT_PROMPT_FILE,
    QOPT_HMAC_KEY_FILE,
    QOPT_FORCE,       /* export: replace an existing regular file */
    QOPT_ALLOW_EMPTY, /* export: write a bundle even when no event matches */
    QOPT_STATUS,      /* tool call status (qmatch) */
    QOPT_ERROR_TEXT,  /* text in tool_call.error (qmatch) */
    QOPT_TRACES,      /* find: one row per trace */
    QOPT_HTML,        /* show: the trace as one HTML page (-o FILE) */
};

/* Ids QOPT_OWN .. QOPT_OWN + QARGS_MAX_OWN - 1 are a command's own options: qargs_parse keeps
 * their value (a flag's is "") in qargs.own[id - QOPT_OWN] and the command checks it. */
#define QOPT_OWN 100
#define QARGS_MAX_OWN 8

/* One option: `--name ARG` (arg == NULL: a flag). `help` is one line for --help. */
typedef struct qopt {
    const char *name;
    const char *arg;
    int id;
    const char *help;
} qopt;

/* The filter options shared by find, stats and link, for building command tables:
 * QOPT_FILTERS expands to the qopt lines of every filter. */
#define QOPT_FILTERS                                                                               \
    {"workflow", "NAME", QOPT_WORKFLOW, "only this workflow"},                                     \
        {"dri", "WHO", QOPT_DRI, "only events owned by this DRI"},                                 \
        {"incident", "ID", QOPT_INCIDENT, "only this incident (including linked traces)"},         \
        {"trace", "TRACE_ID", QOPT_TRACE, "only this trace (32 hex, or a unique prefix)"},         \
        {"service", "NAME", QOPT_SERVICE, "only this service"},                                    \
        {"kind", "KIND", QOPT_KIND,                                                                \
         "prompt|retrieval|tool_call|diff|outcome|approval|incident_link|note"},                   \
        {"tool", "NAME", QOPT_TOOL, "only tool calls of this tool"},                               \
        {"model", "NAME", QOPT_MODEL, "only this model name"},                                     \
        {"outcome", "DECISION", QOPT_OUTCOME, "accepted|edited|rejected|escalated"},               \
        {"source", "KEY_ID", QOPT_SOURCE, "only events from this authenticated shim key"},         \
        {"since", "TIME", QOPT_SINCE, "from TIME: RFC 3339 or relative (90s, 30m, 2h, 7d, 2w)"},   \
    {                                                                                              \
        "until", "TIME", QOPT_UNTIL, "before TIME: RFC 3339 or relative"                           \
    }

/* The filters on decoded events (qmatch, reader.h): a command that has them in its table
 * hands a->match to qreader_set_match. */
#define QOPT_MATCH_FILTERS                                                                         \
    {"status", "STATUS", QOPT_STATUS, "only tool calls with this status: ok|error|blocked"},       \
    {                                                                                              \
        "error-text", "TEXT", QOPT_ERROR_TEXT,                                                     \
            "only tool calls whose error holds TEXT (case sensitive)"                              \
    }

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
    uint64_t timeout; /* seconds; 0 = the command's default */
    int explain;      /* --explain: say which index answers */
    int force;        /* --force */
    int allow_empty;  /* --allow-empty */
    int html;         /* --html */

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

/* Parses argv (argv[0] is the command name) against cmd->opts into *a. Accepts
 * `--name VALUE` and `--name=VALUE`; positionals go to a->rest. Values are checked (hex ids,
 * enum names, times, numbers). A --trace prefix is resolved in the store (opened read-only
 * for it; an unknown prefix exits QEXIT_STORE, an ambiguous one QEXIT_USAGE with the
 * candidates). `--help` sets a->help. On a usage error prints what is wrong and how
 * to get help on ctx->err and returns QEXIT_USAGE; otherwise 0. `now` is the reference for relative
 * times. */
int qargs_parse(const qctx *ctx, const qcmd *cmd, int argc, char **argv, uint64_t now, qargs *a);

/* Frees what qargs_parse allocated (call it whatever qargs_parse returned); accepts NULL. */
void qargs_free(qargs *a);

/* Prints the help of a command (cmd->help then the option table) to `f`. */
void qcmd_print_help(const qctx *ctx, const qcmd *cmd, FILE *f);

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
