/*
 * args.c - the option parser, help printer and small helpers shared by trace-query commands.
 *
 * Responsibility: turns a command's argv into a qargs using the command's option table
 * (so options, their checks and their help come from one table), parses --since/--until
 * times, opens the store read-only with a message that says what to do when it is missing.
 * Owns: nothing beyond the call; qargs strings point into argv.
 * Threading: single-threaded (trace-query is).
 */
#include <errno.h>
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

void qcmd_print_help(const qctx *ctx, const qcmd *cmd, FILE *f)
{
    (void)ctx;
    fputs(cmd->help, f);
    if (!cmd->opts) return;
    fputs("\noptions:\n", f);
    for (const qopt *o = cmd->opts; o->name; o++) {
        char left[64];
        snprintf(left, sizeof left, "--%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
        fprintf(f, "  %-22s %s\n", left, o->help);
    }
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
    char msg[512] = "";
    int rc = ts_open(ctx->store_dir, TS_OPEN_RDONLY, NULL, out, msg, sizeof msg);
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

static const qopt *opt_lookup(const qcmd *cmd, const char *name, size_t len)
{
    if (!cmd->opts) return NULL;
    for (const qopt *o = cmd->opts; o->name; o++)
        if (strlen(o->name) == len && strncmp(o->name, name, len) == 0) return o;
    return NULL;
}

/* Usage error for a bad value: says what, which option and where to look. */
static int bad_value(const qctx *ctx, const qcmd *cmd, const char *opt, const char *val,
                     const char *expected)
{
    qerr(ctx, cmd->name, "--%s '%s': %s (see trace-query %s --help)", opt, val, expected,
         cmd->name);
    return QEXIT_USAGE;
}

static int parse_u64(const char *s, uint64_t *out)
{
    if (!s || !*s || s[0] == '-' || s[0] == '+') return -1;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || !end || *end) return -1;
    *out = v;
    return 0;
}

static int set_value(const qctx *ctx, const qcmd *cmd, const qopt *o, const char *v, uint64_t now,
                     qargs *a)
{
    ts_filter *f = &a->filter;
    switch (o->id) {
    case QOPT_WORKFLOW:
        f->workflow = v;
        break;
    case QOPT_DRI:
        f->dri = v;
        break;
    case QOPT_INCIDENT:
        f->incident = v;
        break;
    case QOPT_SERVICE:
        f->service = v;
        break;
    case QOPT_TOOL:
        f->tool = v;
        break;
    case QOPT_MODEL:
        f->model = v;
        break;
    case QOPT_SOURCE:
        f->source = v;
        break;
    case QOPT_TRACE:
        if (!qid_is_trace_text(v))
            return bad_value(ctx, cmd, o->name, v,
                             "a trace id is 32 lowercase hex digits, or a unique prefix of at "
                             "least 4");
        if (a->ntraces >= QARGS_MAX_TRACES)
            return bad_value(ctx, cmd, o->name, v, "too many --trace options (at most 256)");
        a->traces[a->ntraces++] = v; /* a prefix is resolved once every option is read */
        a->has_trace = 1;
        f->trace_id = a->trace_id_buf;
        break;
    case QOPT_STATUS: {
        int st = tp_tool_status_parse(v);
        if (st <= 0) return bad_value(ctx, cmd, o->name, v, "expected ok, error or blocked");
        a->match.tool_status = st;
        break;
    }
    case QOPT_ERROR_TEXT:
        if (!*v) return bad_value(ctx, cmd, o->name, v, "expected some text of a tool error");
        a->match.error_text = v;
        break;
    case QOPT_KIND: {
        int k = tp_kind_parse(v);
        if (k <= 0)
            return bad_value(ctx, cmd, o->name, v,
                             "expected prompt, retrieval, tool_call, diff, outcome, approval, "
                             "incident_link or note");
        f->kind = k;
        break;
    }
    case QOPT_OUTCOME: {
        int d = tp_decision_parse(v);
        if (d <= 0)
            return bad_value(ctx, cmd, o->name, v,
                             "expected accepted, edited, rejected or escalated");
        f->outcome = d;
        break;
    }
    case QOPT_SINCE:
    case QOPT_UNTIL: {
        uint64_t t = 0;
        if (qtime_parse(v, now, &t) != 0)
            return bad_value(ctx, cmd, o->name, v,
                             "expected RFC 3339 (2024-06-01T09:00:00Z) or a duration ago "
                             "(90s, 30m, 2h, 7d, 2w)");
        if (o->id == QOPT_SINCE)
            f->since = t;
        else
            f->until = t;
        break;
    }
    case QOPT_LIMIT:
        if (parse_u64(v, &a->limit) != 0 || a->limit == 0)
            return bad_value(ctx, cmd, o->name, v, "expected a positive number of events");
        break;
    case QOPT_AFTER:
        if (strlen(v) >= TS_CURSOR_LEN || !*v)
            return bad_value(ctx, cmd, o->name, v,
                             "not a cursor printed by an earlier find (next: ...)");
        a->after = v;
        break;
    case QOPT_FORMAT:
        if (strcmp(v, "table") == 0)
            a->format = QFMT_TABLE;
        else if (strcmp(v, "jsonl") == 0)
            a->format = QFMT_JSONL;
        else
            return bad_value(ctx, cmd, o->name, v, "expected table or jsonl");
        break;
    case QOPT_BY:
        a->by = v;
        break;
    case QOPT_REASON:
        a->reason = v;
        break;
    case QOPT_WHO:
        a->who = v;
        break;
    case QOPT_ENDPOINT:
        a->endpoint = v;
        break;
    case QOPT_OUTPUT:
        a->output = v;
        break;
    case QOPT_PROMPT_FILE:
        a->prompt_file = v;
        break;
    case QOPT_HMAC_KEY_FILE:
        a->hmac_key_file = v;
        break;
    case QOPT_TIMEOUT:
        if (parse_u64(v, &a->timeout) != 0 || a->timeout == 0 || a->timeout > 3600)
            return bad_value(ctx, cmd, o->name, v, "expected seconds, 1 to 3600");
        break;
    default:
        if (o->id < QOPT_OWN || o->id >= QOPT_OWN + QARGS_MAX_OWN)
            return bad_value(ctx, cmd, o->name, v, "unsupported option");
        a->own[o->id - QOPT_OWN] = v;
        break;
    }
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

int qargs_parse(const qctx *ctx, const qcmd *cmd, int argc, char **argv, uint64_t now, qargs *a)
{
    memset(a, 0, sizeof *a);
    a->rest = calloc((size_t)argc + 1, sizeof *a->rest);
    if (!a->rest) {
        qerr(ctx, cmd->name, "out of memory");
        return QEXIT_STORE;
    }
    int only_positionals = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (only_positionals || arg[0] != '-' || arg[1] == 0) {
            a->rest[a->nrest++] = argv[i];
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            only_positionals = 1;
            continue;
        }
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            a->help = 1;
            continue;
        }
        if (strcmp(arg, "-o") == 0 && opt_lookup(cmd, "output", 6)) {
            arg = "--output"; /* -o FILE: the short form of a command's --output */
        }
        if (arg[1] != '-') {
            qerr(ctx, cmd->name,
                 "unknown option '%s' (options are long: see trace-query %s --help)", arg,
                 cmd->name);
            return QEXIT_USAGE;
        }
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const qopt *o = opt_lookup(cmd, name, len);
        if (!o && len == 5 && strncmp(name, "store", 5) == 0) {
            /* The one global option people most often put after the command. */
            qerr(ctx, cmd->name,
                 "--store is a global option: it goes before the command "
                 "(trace-query --store DIR %s ...)",
                 cmd->name);
            return QEXIT_USAGE;
        }
        if (!o) {
            qerr(ctx, cmd->name, "unknown option '%.*s' (see trace-query %s --help)", (int)len + 2,
                 arg, cmd->name);
            return QEXIT_USAGE;
        }
        if (o->id == QOPT_HELP) {
            a->help = 1;
            continue;
        }
        if (!o->arg) {
            if (eq) {
                qerr(ctx, cmd->name, "--%s takes no value", o->name);
                return QEXIT_USAGE;
            }
            if (o->id == QOPT_EXPLAIN) a->explain = 1;
            if (o->id == QOPT_FORCE) a->force = 1;
            if (o->id == QOPT_ALLOW_EMPTY) a->allow_empty = 1;
            if (o->id >= QOPT_OWN && o->id < QOPT_OWN + QARGS_MAX_OWN)
                a->own[o->id - QOPT_OWN] = "";
            if (o->id == QOPT_TRACES) a->per_trace = 1;
            if (o->id == QOPT_HTML) a->html = 1;
            continue;
        }
        const char *v = eq ? eq + 1 : NULL;
        if (!v) {
            if (i + 1 >= argc) {
                qerr(ctx, cmd->name, "--%s needs a value: --%s %s", o->name, o->name, o->arg);
                return QEXIT_USAGE;
            }
            v = argv[++i];
        }
        int rc = set_value(ctx, cmd, o, v, now, a);
        if (rc != 0) return rc;
    }
    if (a->filter.since && a->filter.until && a->filter.since >= a->filter.until) {
        qerr(ctx, cmd->name, "--since must be before --until (the window is empty)");
        return QEXIT_USAGE;
    }
    if (a->help) return 0;
    int rc = match_needs_tool_calls(ctx, cmd, a);
    return rc ? rc : resolve_traces(ctx, cmd, a);
}

void qargs_free(qargs *a)
{
    if (!a) return;
    free(a->rest);
    a->rest = NULL;
    a->nrest = 0;
}
