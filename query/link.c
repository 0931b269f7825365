/*
 * link.c - `trace-query link`: attach traces to an incident after the fact.
 *
 * Responsibility: resolves what to link (the --trace ids, checked against the store, or the
 * traces of a workflow within a time window, read from the store), builds one incident_link
 * event (who, when, why, which trace ids) and sends it through the collector with
 * libtraceshim, waiting for the collector's ack (which comes only after the commit).
 * The store is only read here: the collector stays its only writer. When the store commits
 * the link, it indexes the linked traces' events under the incident.
 * The link is meant for the store it was resolved in: the event names that store's log origin
 * (attribute TP_ATTR_EXPECT_LOG), a collector writing another log refuses it (its reason is
 * printed, exit 3), and after the ack link re-opens the store read-only and waits (within
 * --timeout) until the event is there, so a collector writing a copy of the store with the
 * same origin is caught too. --dry-run prints what would be linked and sends nothing.
 * Owns: the store handle (closed before sending), the event and the shim client.
 * Invariants: success (exit 0) means the link event is durable and readable in the store.
 * Threading: single-threaded (libtraceshim runs its own background thread).
 */
#include <errno.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "atcommon.h"
#include "commands.h"
#include "text_term.h"
#include "traceshim.h"

/* At most this many traces in one link event (16 bytes each, far below the event limit). */
#define LINK_MAX_TRACES 16384
#define LINK_DEFAULT_ENDPOINT "tcp://127.0.0.1:7600"
#define LINK_DEFAULT_TIMEOUT_S 5
#define LINK_POLL_MS 20
static const at_opt link_opts[] = {
    QO_STR("incident", "ID", filter.incident, "the incident to link to (required), e.g. INC-2041"),
    QO_CALL("trace", "TRACE_ID", qopt_trace, "a trace to link (32 hex); repeat for several"),
    QO_STR("workflow", "NAME", filter.workflow,
           "or: link every trace of this workflow in the window"),
    QO_CALL("since", "TIME", qopt_time, "the window's start (with --workflow): RFC 3339 or 2h, 7d"),
    QO_CALL("until", "TIME", qopt_time, "the window's end, excluded (with --workflow)"),
    QO_STR("reason", "TEXT", reason, "why these traces belong to the incident (required)"),
    QO_STR("by", "WHO", who, "who links them (default: $USER); recorded as actor and DRI"),
    QO_STR("collector", "ENDPOINT", endpoint,
           "the collector (default: $AGENTTRAIL_COLLECTOR, else " LINK_DEFAULT_ENDPOINT ")"),
    QO_TIMEOUT("how long to wait for the collector and the store (default 5)"),
    QO_FLAG("dry-run", dry_run, "print the traces it would link; send nothing"),
    QO_HELP,
    QO_END,
};

static const char link_help[] =
    "usage: trace-query [--store DIR] link --incident ID --reason TEXT [--by WHO]\n"
    "                   [--dry-run] (--trace TRACE_ID... |\n"
    "                   --workflow NAME --since TIME --until TIME)\n"
    "\n"
    "Attaches traces to an incident after the fact. The link is itself an event (kind\n"
    "incident_link: who, when, why and the trace ids; a workflow window is resolved\n"
    "to its trace ids now) sent through the collector like any event, so the\n"
    "collector stays the store's only writer: a collector must be running on the\n"
    "store. Once it is committed, find --incident, stats --incident and exports\n"
    "include the linked traces' events. Linking the same traces twice is harmless (a\n"
    "second link event, no duplicated events). The link is meant for the store it was\n"
    "resolved in: a collector that writes another store refuses it (exit 3, naming\n"
    "both logs), and link reports success only once the event can be read back from\n"
    "this store (within --timeout).\n"
    "\n"
    "examples:\n"
    "  trace-query link --incident INC-2041 \\\n"
    "    --trace 4bf92f3577b34da6a3ce929d0e0e4736 \\\n"
    "    --reason \"refund issued without approval\" --by maria.chen@example.com\n"
    "  trace-query link --incident INC-2041 --workflow airline-support \\\n"
    "    --since 2024-06-01T09:00:00Z --until 2024-06-01T11:00:00Z \\\n"
    "    --reason \"bad deploy window\"\n"
    "  trace-query find --incident INC-2041\n";

typedef struct trace_set {
    uint8_t (*ids)[16];
    size_t n, cap;
} trace_set;

static int set_add(trace_set *s, const uint8_t id[16])
{
    for (size_t i = 0; i < s->n; i++)
        if (memcmp(s->ids[i], id, 16) == 0) return 0;
    if (at_grow((void **)&s->ids, &s->cap, s->n + 1, sizeof *s->ids, 16)) return -1;
    memcpy(s->ids[s->n++], id, 16);
    return 0;
}

/* Reads the first event of `f`'s results into *ev (NULL if none). A TS_E* code. */
static int first_event(ts_store *s, const ts_filter *f, tp_event **ev)
{
    ts_iter *it = NULL;
    *ev = NULL;
    int rc = ts_query(s, f, NULL, &it);
    if (rc == 0) rc = ts_iter_next(it, ev);
    ts_iter_destroy(&it);
    return rc == TS_EEND ? 0 : rc;
}

/* Checks each --trace exists; fills the set and the workflow (of the first trace). */
static int resolve_traces(const qctx *ctx, ts_store *s, const qargs *a, trace_set *set,
                          char **workflow)
{
    for (int i = 0; i < a->ntraces; i++) {
        uint8_t id[16];
        if (at_hex_decode(a->traces[i], 32, id, 16) != 0) return QEXIT_USAGE; /* parsed */
        ts_filter f = {0};
        f.trace_id = id;
        tp_event *ev = NULL;
        int rc = first_event(s, &f, &ev);
        if (rc != 0) {
            qerr(ctx, "link", "reading %s failed: %s", ctx->store_dir, ts_last_error(s));
            return QEXIT_STORE;
        }
        if (!ev) {
            qerr(ctx, "link",
                 "no trace %s in the store at %s: check the id with trace-query find "
                 "(nothing was linked)",
                 a->traces[i], ctx->store_dir);
            return QEXIT_STORE;
        }
        if (!*workflow && ev->workflow) *workflow = strdup(ev->workflow);
        tp_event_destroy(&ev);
        if (set_add(set, id) != 0) {
            qerr(ctx, "link", "out of memory");
            return QEXIT_STORE;
        }
    }
    return 0;
}

/* The traces of a workflow within [since, until). */
static int resolve_window(const qctx *ctx, ts_store *s, const qargs *a, trace_set *set)
{
    ts_filter f = {0};
    f.workflow = a->filter.workflow;
    f.since = a->filter.since;
    f.until = a->filter.until;
    ts_iter *it = NULL;
    int rc = ts_query(s, &f, NULL, &it);
    while (rc == 0) {
        tp_event *ev = NULL;
        rc = ts_iter_next(it, &ev);
        if (rc != 0) break;
        if (ev->has_trace_id && ev->trace_id.len == 16 && set_add(set, ev->trace_id.data) != 0)
            rc = TS_ENOMEM;
        tp_event_destroy(&ev);
        if (rc == 0 && set->n > LINK_MAX_TRACES) {
            ts_iter_destroy(&it);
            qerr(ctx, "link",
                 "the window holds more than %d traces of %s: link a narrower window "
                 "(several links to one incident are fine)",
                 LINK_MAX_TRACES, f.workflow);
            return QEXIT_USAGE;
        }
    }
    ts_iter_destroy(&it);
    if (rc != TS_EEND) {
        qerr(ctx, "link", "reading %s failed: %s (%s)", ctx->store_dir, ts_strerror(rc),
             ts_last_error(s));
        return QEXIT_STORE;
    }
    if (set->n == 0) {
        qerr(ctx, "link",
             "no events of workflow %s in that window in the store at %s: check the name and "
             "the times with trace-query find --workflow %s (nothing was linked)",
             f.workflow, ctx->store_dir, f.workflow);
        return QEXIT_STORE;
    }
    return 0;
}

static const char *default_who(void)
{
    const char *u = getenv("USER");
    if (u && *u) return u;
    struct passwd *pw = getpwuid(getuid());
    return pw && pw->pw_name && *pw->pw_name ? pw->pw_name : NULL;
}

/* Names the log the event is meant for (the store's origin; "" for a store without one). */
static int add_expect_log(tp_event *ev, const char *origin)
{
    if (!origin[0]) return 0;
    Agenttrail__V1__Attribute *at = malloc(sizeof *at);
    ev->attributes = calloc(1, sizeof *ev->attributes);
    if (!at || !ev->attributes) {
        free(at);
        return -1;
    }
    agenttrail__v1__attribute__init(at);
    ev->attributes[ev->n_attributes++] = at;
    at->key = strdup(TP_ATTR_EXPECT_LOG);
    at->value = strdup(origin);
    return at->key && at->value ? 0 : -1;
}

/* Fills the link event. Strings are copied (the event owns them). */
static int build_event(tp_event *ev, const qargs *a, const trace_set *set, const char *workflow,
                       const char *who, const char *origin)
{
    Agenttrail__V1__Link *l = malloc(sizeof *l);
    if (!l) return -1;
    agenttrail__v1__link__init(l);
    ev->link = l;
    ev->has_kind = 1;
    ev->kind = AGENTTRAIL__V1__KIND__INCIDENT_LINK;
    ev->incident = strdup(a->filter.incident);
    ev->workflow = strdup(workflow);
    ev->dri = strdup(who);
    ev->actor = strdup(who);
    ev->service = strdup("trace-query");
    l->reason = strdup(a->reason);
    if (!ev->incident || !ev->workflow || !ev->dri || !ev->actor || !ev->service || !l->reason)
        return -1;
    if (a->filter.workflow) {
        l->workflow = strdup(a->filter.workflow);
        if (!l->workflow) return -1;
        l->has_since_unix_nano = l->has_until_unix_nano = 1;
        l->since_unix_nano = a->filter.since;
        l->until_unix_nano = a->filter.until;
    }
    l->trace_ids = calloc(set->n, sizeof *l->trace_ids);
    if (!l->trace_ids) return -1;
    for (size_t i = 0; i < set->n; i++) {
        l->trace_ids[i].data = malloc(16);
        if (!l->trace_ids[i].data) return -1;
        memcpy(l->trace_ids[i].data, set->ids[i], 16);
        l->trace_ids[i].len = 16;
        l->n_trace_ids++;
    }
    return add_expect_log(ev, origin);
}

/* The collector's reason for a refusal, from the shim's log lines (its background thread;
 * read only after traceshim_close joined it). Other lines go to stderr as usual. */
typedef struct shim_said {
    char refused[600];
} shim_said;

static void shim_line(void *ctx, const char *line)
{
    shim_said *said = ctx;
    const char *why = strstr(line, "the first: ");
    if (strstr(line, "the collector refused") && why) {
        if (!said->refused[0]) snprintf(said->refused, sizeof said->refused, "%s", why + 11);
        return;
    }
    tp_term_printf(stderr, "traceshim: %s", line);
}

/* Sends the event and waits for its ack. A QEXIT_* code. */
static int send_event(const qctx *ctx, const char *endpoint, unsigned timeout_s, tp_event *ev)
{
    traceshim_options o;
    shim_said said = {""};
    traceshim_options_default(&o);
    o.log = shim_line;
    o.log_ctx = &said;
    o.endpoints[0] = endpoint;
    o.endpoints[1] = NULL;
    o.overflow = TRACESHIM_OVERFLOW_DROP; /* no spool: a link is sent now or not at all */
    o.ack_timeout_ms = 1000;
    o.attempts = timeout_s > 1 ? timeout_s : 1;
    traceshim *sh = NULL;
    at_error msg = {0};
    int rc = traceshim_create(&o, &sh, &msg);
    if (rc != 0) {
        qerr(ctx, "link", "cannot reach the collector at %s: %s", endpoint,
             msg.what[0] ? msg.what : traceshim_strerror(rc));
        return rc == TRACESHIM_EINVAL || rc == TRACESHIM_EZMQ ? QEXIT_USAGE : QEXIT_STORE;
    }
    rc = traceshim_emit(sh, ev);
    if (rc != 0) {
        qerr(ctx, "link", "the link event could not be sent: %s", traceshim_strerror(rc));
        traceshim_close(&sh, 0);
        return QEXIT_STORE;
    }
    rc = traceshim_flush(sh, (int)(timeout_s * 1000));
    traceshim_counters c;
    traceshim_counters_get(sh, &c);
    traceshim_close(&sh, 0);
    if (c.acked >= 1) return QEXIT_OK;
    if (c.rejected >= 1) {
        qerr(ctx, "link",
             "the collector at %s refused the link event: %s; the link was resolved in the "
             "store at %s: pass the --collector that writes it; nothing was linked",
             endpoint, said.refused[0] ? said.refused : "(no reason given; its log says why)",
             ctx->store_dir);
        return QEXIT_STORE;
    }
    (void)rc;
    qerr(ctx, "link",
         "no collector answered at %s within %u s: start trace-collector --store %s --listen "
         "%s, or pass --collector ENDPOINT; nothing was linked",
         endpoint, timeout_s, ctx->store_dir, endpoint);
    return QEXIT_STORE;
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* After the ack: waits until the link event can be read from the store it was resolved in
 * (re-opened read-only for each look, by event id), within timeout_s. A QEXIT_* code. */
static int wait_readable(const qctx *ctx, const char *endpoint, unsigned timeout_s,
                         const tp_event *ev)
{
    uint64_t deadline = mono_ms() + (uint64_t)timeout_s * 1000u;
    char last[AT_ERROR_TEXT_LEN] = "";
    for (;;) {
        ts_store *s = NULL;
        tp_event *got = NULL;
        at_error e = {0};
        int rc = ts_open(ctx->store_dir, TS_OPEN_RDONLY, NULL, &s, &e);
        at_error_format(&e, last, sizeof last);
        if (rc == 0) {
            rc = ts_get(s, ev->event_id.data, &got);
            if (rc != 0 && rc != TS_ENOTFOUND) snprintf(last, sizeof last, "%s", ts_last_error(s));
            ts_close(&s);
        }
        tp_event_destroy(&got);
        if (rc == 0) return QEXIT_OK;
        if (rc != TS_ENOTFOUND || mono_ms() >= deadline) break;
        struct timespec nap = {0, LINK_POLL_MS * 1000000L};
        nanosleep(&nap, NULL);
    }
    char eid[33];
    at_hex_encode(ev->event_id.data, 16, eid);
    if (last[0])
        qerr(ctx, "link",
             "the collector at %s acknowledged link event %s, but reading it back "
             "from the store at %s failed: %s",
             endpoint, eid, ctx->store_dir, last);
    else
        qerr(ctx, "link",
             "the collector at %s acknowledged link event %s, but it is not in the store at %s "
             "after %u s: that collector writes another store (a copy of this one?); pass the "
             "--collector that writes %s (nothing was linked there)",
             endpoint, eid, ctx->store_dir, timeout_s, ctx->store_dir);
    return QEXIT_STORE;
}

/* --dry-run: what would be linked; nothing is sent. */
static void print_dry_run(const qctx *ctx, const qargs *a, const trace_set *set)
{
    tp_term_printf(ctx->out, "dry run: would link %zu trace%s to %s (nothing sent)", set->n,
                   set->n == 1 ? "" : "s", a->filter.incident);
    for (size_t i = 0; i < set->n; i++) {
        char hex[33];
        at_hex_encode(set->ids[i], 16, hex);
        fprintf(ctx->out, "  %s\n", hex);
    }
}

static int check_usage(const qctx *ctx, const qargs *a)
{
    const char *problem = NULL;
    if (a->nrest > 0)
        problem = "unexpected argument (trace ids go after --trace)";
    else if (!a->filter.incident)
        problem = "which incident? pass --incident ID";
    else if (!a->reason || !*a->reason)
        problem = "why? pass --reason TEXT (it is kept in the link event)";
    else if (a->ntraces && a->filter.workflow)
        problem = "give either --trace IDs or --workflow with --since and --until, not both";
    else if (!a->ntraces && !a->filter.workflow)
        problem = "what to link? pass --trace TRACE_ID or --workflow NAME --since T --until T";
    else if (a->filter.workflow && (!a->filter.since || !a->filter.until))
        problem = "--workflow needs a window: --since TIME and --until TIME";
    else if (a->ntraces && (a->filter.since || a->filter.until))
        problem = "--since and --until go with --workflow, not with --trace";
    if (!problem) return 0;
    qerr(ctx, "link", "%s (see trace-query link --help)", problem);
    return QEXIT_USAGE;
}

static int link_run(const qctx *ctx, int argc, char **argv)
{
    qargs a;
    int rc;
    if (qargs_begin(ctx, &qcmd_link, argc, argv, &a, &rc)) return rc;
    if ((rc = check_usage(ctx, &a)) != 0) {
        qargs_free(&a);
        return rc;
    }
    const char *who = a.who ? a.who : default_who();
    if (!who || !*who) {
        qerr(ctx, "link", "who is linking? pass --by WHO (no $USER here)");
        qargs_free(&a);
        return QEXIT_USAGE;
    }
    const char *endpoint = a.endpoint ? a.endpoint : getenv("AGENTTRAIL_COLLECTOR");
    if (!endpoint || !*endpoint) endpoint = LINK_DEFAULT_ENDPOINT;
    unsigned timeout_s = a.timeout ? (unsigned)a.timeout : LINK_DEFAULT_TIMEOUT_S;

    ts_store *s = NULL;
    if ((rc = qctx_open_store(ctx, &s)) != 0) {
        qargs_free(&a);
        return rc;
    }
    trace_set set = {0};
    char *workflow = NULL;
    if (a.ntraces)
        rc = resolve_traces(ctx, s, &a, &set, &workflow);
    else
        rc = resolve_window(ctx, s, &a, &set);
    char origin[256] = ""; /* the log the link is meant for; none in a pre-ledger store */
    if (rc == 0 && ts_log_origin(s, origin, sizeof origin) != 0) origin[0] = 0;
    ts_close(&s); /* read only, and never held while the collector writes the link */
    tp_event *ev = NULL;
    if (rc == 0) {
        ev = tp_event_new();
        if (!ev ||
            build_event(ev, &a, &set, workflow ? workflow : a.filter.workflow, who, origin) != 0) {
            qerr(ctx, "link", "out of memory");
            rc = QEXIT_STORE;
        }
    }
    if (rc == 0) {
        /* Judge it here, so a bad value is a usage error rather than a collector refusal. */
        at_error err;
        char buf[AT_ERROR_TEXT_LEN];
        tp_limits lim = tp_limits_default();
        ev->has_time_unix_nano = 1;
        ev->time_unix_nano = tp_now_unix_nano();
        int prc = tp_event_prepare(ev, NULL, 0, &err);
        if (prc == 0) prc = tp_event_validate(ev, &lim, &err);
        if (prc != 0) {
            qerr(ctx, "link", "the link event is not valid: %s",
                 at_error_format(&err, buf, sizeof buf));
            rc = QEXIT_USAGE;
        }
    }
    int dry = a.dry_run;
    if (rc == 0 && dry) print_dry_run(ctx, &a, &set);
    if (rc == 0 && !dry) rc = send_event(ctx, endpoint, timeout_s, ev);
    if (rc == 0 && !dry) rc = wait_readable(ctx, endpoint, timeout_s, ev);
    if (rc == 0 && !dry) {
        char eid[33] = "";
        if (ev->has_event_id && ev->event_id.len == 16) at_hex_encode(ev->event_id.data, 16, eid);
        tp_term_printf(ctx->out, "linked %zu trace%s to %s (link event %s, by %s)", set.n,
                       set.n == 1 ? "" : "s", a.filter.incident, eid, who);
        for (size_t i = 0; i < set.n; i++) {
            char hex[33];
            at_hex_encode(set.ids[i], 16, hex);
            fprintf(ctx->out, "  %s\n", hex);
        }
    }
    tp_event_destroy(&ev);
    free(set.ids);
    free(workflow);
    qargs_free(&a);
    return rc;
}

QCMD_DEFINE(link, "attach traces to an incident after the fact, through the collector");
