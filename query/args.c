/*
 * args.c - the option parser, help printer and small helpers shared by trace-query commands.
 *
 * Responsibility: turns a command's argv into a qargs using the command's option table
 * through the common engine (common/opt.c: options, their checks, --help and the man page
 * come from one table), the checked values of the shared rows, parses --since/--until times, opens
 * the store read-only with a message that says what to do when it is missing. Owns: qargs.rest
 * (qargs_free); qargs strings point into argv. Threading: single-threaded (trace-query is).
 */
#include <errno.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "ids.h"
#include "text_term.h"

void qerr(const qctx *ctx, const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (cmd)
        fprintf(ctx->err, "%s %s: ", ctx->prog, cmd);
    else
        fprintf(ctx->err, "%s: ", ctx->prog);
    /* Messages quote ids, names, file names and decoder errors: never raw to a terminal. */
    tp_term_vprintf(ctx->err, fmt, ap);
    va_end(ap);
}

int qout_event_json(const qctx *ctx, const char *cmd, const tp_event *ev)
{
    size_t len = 0;
    char *js = tp_event_to_json(ev, &len);
    if (!js) {
        qerr(ctx, cmd, "out of memory");
        return QEXIT_STORE;
    }
    fwrite(js, 1, len, ctx->out);
    fputc('\n', ctx->out);
    free(js);
    return 0;
}

void qcmd_prog(const qcmd *cmd, at_opt_prog *p)
{
    /* One command runs per process (trace-query is single-threaded), so one pair of names. */
    static char name[64], page[64];
    snprintf(name, sizeof name, "trace-query %s", cmd->name);
    snprintf(page, sizeof page, "trace-query-%s", cmd->name);
    *p = (at_opt_prog){
        .name = name,
        .opts = cmd->opts,
        .positionals = AT_OPT_POS_MIX,
        .head = cmd->help,
        .opts_title = "\noptions:\n",
        .page = page,
        .summary = cmd->summary,
    };
}

void qcmd_print_help(const qctx *ctx, const qcmd *cmd, FILE *f)
{
    (void)ctx;
    at_opt_prog p;
    qcmd_prog(cmd, &p);
    at_opt_help(&p, f);
}

int qtime_parse(const char *s, uint64_t now, uint64_t *out)
{
    if (!s || !*s) return -1;
    if (strcmp(s, "now") == 0) {
        *out = now;
        return 0;
    }
    if (s[0] >= '0' && s[0] <= '9') {
        char *end = NULL;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno == 0 && end != s && end[0] && !end[1]) {
            uint64_t unit;
            switch (end[0]) {
            case 's':
                unit = 1000000000ull;
                break;
            case 'm':
                unit = 60ull * 1000000000ull;
                break;
            case 'h':
                unit = 3600ull * 1000000000ull;
                break;
            case 'd':
                unit = 86400ull * 1000000000ull;
                break;
            case 'w':
                unit = 7ull * 86400ull * 1000000000ull;
                break;
            default:
                unit = 0;
                break;
            }
            if (unit) {
                if (v > now / unit) {
                    *out = 1; /* earlier than the epoch: from the beginning */
                    return 0;
                }
                *out = now - v * unit;
                if (*out == 0) *out = 1;
                return 0;
            }
        }
    }
    uint64_t t = 0;
    if (tp_time_parse_rfc3339(s, &t) != 0) return -1;
    *out = t;
    return 0;
}

int qfmt_effective(const qctx *ctx, int format)
{
    if (format == QFMT_AUTO) return ctx->out_is_tty ? QFMT_TABLE : QFMT_JSONL;
    return format;
}

int qctx_open_store(const qctx *ctx, ts_store **out)
{
    struct stat st;
    if (stat(ctx->store_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        qerr(ctx, NULL, "no store at %s: start trace-collector --store %s or pass --store",
             ctx->store_dir, ctx->store_dir);
        return QEXIT_STORE;
    }
    char msg[AT_ERROR_TEXT_LEN] = "";
    at_error e = {0};
    int rc = ts_open(ctx->store_dir, TS_OPEN_RDONLY, NULL, out, &e);
    at_error_format(&e, msg, sizeof msg);
    if (rc == TS_ENOTFOUND) {
        qerr(ctx, NULL, "no store at %s: start trace-collector --store %s or pass --store",
             ctx->store_dir, ctx->store_dir);
        return QEXIT_STORE;
    }
    if (rc != 0) {
        qerr(ctx, NULL, "cannot open the store at %s: %s", ctx->store_dir,
             msg[0] ? msg : ts_strerror(rc));
        return QEXIT_STORE;
    }
    return QEXIT_OK;
}

/* ---- the checked values of the shared rows (commands.h) ---------------------------------- */

const at_opt_word qopt_format_words[] = {{"table", QFMT_TABLE}, {"jsonl", QFMT_JSONL}, {NULL, 0}};

int qopt_trace(void *cfg, const at_opt *o, const char *v, at_error *err)
{
    (void)o;
    qargs *a = cfg;
    if (!qid_is_trace_text(v))
        return at_errf(err, AT_EINVAL,
                       "a trace id is 32 lowercase hex digits, or a unique prefix of at least 4");
    if (a->ntraces >= QARGS_MAX_TRACES)
        return at_errf(err, AT_EINVAL, "too many --trace options (at most 256)");
    a->traces[a->ntraces++] = v; /* a prefix is resolved once every option is read */
    a->has_trace = 1;
    a->filter.trace_id = a->trace_id_buf;
    return 0;
}

/* The names libtraceproto parses (kind, outcome, status): the row's name picks its line. */
static const struct {
    const char *option;
    int (*parse)(const char *name); /* > 0, or <= 0 when not a name */
    size_t off;                     /* an int in qargs */
    const char *expect;
} named[] = {
    {"kind", tp_kind_parse, offsetof(qargs, filter.kind),
     "expected prompt, retrieval, tool_call, diff, outcome, approval, incident_link or note"},
    {"outcome", tp_decision_parse, offsetof(qargs, filter.outcome),
     "expected accepted, edited, rejected or escalated"},
    {"status", tp_tool_status_parse, offsetof(qargs, match.tool_status),
     "expected ok, error or blocked"},
};

int qopt_named(void *cfg, const at_opt *o, const char *v, at_error *err)
{
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++) {
        if (strcmp(named[i].option, o->name) != 0) continue;
        int x = named[i].parse(v);
        if (x <= 0) return at_errf(err, AT_EINVAL, "%s", named[i].expect);
        memcpy((char *)cfg + named[i].off, &x, sizeof x);
        return 0;
    }
    return at_errf(err, AT_EINVAL, "no such name");
}

int qopt_time(void *cfg, const at_opt *o, const char *v, at_error *err)
{
    qargs *a = cfg;
    uint64_t t = 0;
    if (qtime_parse(v, a->now, &t) != 0)
        return at_errf(err, AT_EINVAL,
                       "expected RFC 3339 (2024-06-01T09:00:00Z) or a duration ago (90s, 30m, "
                       "2h, 7d, 2w)");
    if (strcmp(o->name, "since") == 0)
        a->filter.since = t;
    else
        a->filter.until = t;
    return 0;
}

int qopt_error_text(void *cfg, const at_opt *o, const char *v, at_error *err)
{
    (void)o;
    if (!*v) return at_errf(err, AT_EINVAL, "expected some text of a tool error");
    ((qargs *)cfg)->match.error_text = v;
    return 0;
}

int qopt_after(void *cfg, const at_opt *o, const char *v, at_error *err)
{
    (void)o;
    if (strlen(v) >= TS_CURSOR_LEN || !*v)
        return at_errf(err, AT_EINVAL, "not a cursor printed by an earlier find (next: ...)");
    ((qargs *)cfg)->after = v;
    return 0;
}

/* --status and --error-text select tool calls: they imply --kind tool_call, and contradict
 * any other kind. */
static int match_needs_tool_calls(const qctx *ctx, const qcmd *cmd, qargs *a)
{
    if (!qmatch_active(&a->match)) return 0;
    if (a->filter.kind && a->filter.kind != AGENTTRAIL__V1__KIND__TOOL_CALL) {
        qerr(ctx, cmd->name, "--%s selects tool calls: --kind %s would match nothing",
             a->match.tool_status ? "status" : "error-text", tp_kind_name(a->filter.kind));
        return QEXIT_USAGE;
    }
    a->filter.kind = AGENTTRAIL__V1__KIND__TOOL_CALL;
    return 0;
}

/* Every --trace as a full id in a->traces (a prefix looked up in the store, opened only
 * when one is given), the last one decoded into the filter's trace id. */
static int resolve_traces(const qctx *ctx, const qcmd *cmd, qargs *a)
{
    ts_store *s = NULL;
    int rc = 0;
    for (int i = 0; i < a->ntraces && rc == 0; i++) {
        if (strlen(a->traces[i]) == 32) continue;
        if (!s && (rc = qctx_open_store(ctx, &s)) != 0) break;
        uint8_t id[16];
        rc = qid_resolve_trace(ctx, s, cmd->name, a->traces[i], id, a->trace_hex[i]);
        if (rc == 0) a->traces[i] = a->trace_hex[i];
    }
    ts_close(&s);
    if (rc == 0 && a->ntraces > 0 &&
        at_hex_decode(a->traces[a->ntraces - 1], 32, a->trace_id_buf, 16) != 0)
        rc = QEXIT_USAGE;
    return rc;
}

/* `--store` after the command: the one global option people most often put there. */
static int misplaced_store(const qctx *ctx, const qcmd *cmd, int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--store") == 0 || strncmp(argv[i], "--store=", 8) == 0) {
            qerr(ctx, cmd->name,
                 "--store is a global option: it goes before the command "
                 "(trace-query --store DIR %s ...)",
                 cmd->name);
            return QEXIT_USAGE;
        }
    return 0;
}

int qargs_parse(const qctx *ctx, const qcmd *cmd, int argc, char **argv, uint64_t now, qargs *a)
{
    memset(a, 0, sizeof *a);
    a->now = now;
    at_opt_prog p;
    qcmd_prog(cmd, &p);
    at_opt_result res;
    at_error err;
    int rc = at_opt_find(&p, "store", 5) ? 0 : misplaced_store(ctx, cmd, argc, argv);
    if (rc == 0 && (rc = at_opt_parse(&p, argc, argv, a, &res, &err)) != 0)
        qerr(ctx, cmd->name, "%s", err.what);
    a->rest = res.rest; /* qargs_free frees it */
    a->nrest = res.nrest;
    a->help = res.help;
    if (rc) return rc == AT_ENOMEM ? QEXIT_STORE : QEXIT_USAGE;
    if (a->filter.since && a->filter.until && a->filter.since >= a->filter.until) {
        qerr(ctx, cmd->name, "--since must be before --until (the window is empty)");
        return QEXIT_USAGE;
    }
    if (a->help) return 0;
    rc = match_needs_tool_calls(ctx, cmd, a);
    return rc ? rc : resolve_traces(ctx, cmd, a);
}

void qargs_free(qargs *a)
{
    if (!a) return;
    free(a->rest);
    a->rest = NULL;
    a->nrest = 0;
}

int qargs_begin(const qctx *ctx, const qcmd *cmd, int argc, char **argv, qargs *a, int *rc)
{
    *rc = qargs_parse(ctx, cmd, argc, argv, tp_now_unix_nano(), a);
    if (*rc == 0 && !a->help) return 0;
    if (*rc == 0) qcmd_print_help(ctx, cmd, ctx->out);
    qargs_free(a);
    return 1;
}
