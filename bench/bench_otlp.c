/*
 * bench_otlp.c - bench-otlp: durable ingest through the collector's OTLP/HTTP receiver.
 *
 *   bench-otlp [--spans N] [--clients K] [--batch B] [--format json|protobuf] [--seed S]
 *
 * Measures, in one run, on this machine, with the same N gen-events events:
 *  1. the store alone: ts_append in groups of 1000 (what the collector can at best reach);
 *  2. the ZeroMQ path: K shim processes (libtraceshim) to one trace-collector over TCP on
 *     127.0.0.1, from the start signal until every shim's close returned (all acked);
 *  3. the OTLP/HTTP path: the events mapped to GenAI spans (prompt: a chat span with model,
 *     provider and usage; retrieval: a retrieval span; the others: an execute_tool span; the
 *     DRI and workflow as agenttrail.* attributes) and sent by K client processes, each on one
 *     keep-alive HTTP/1.1 connection, B spans per request (the OTel batch processor's 512 by
 *     default), every request answered 200 (a 429 or 503 is resent after its Retry-After).
 * Request bodies are encoded before the start signal: the figure is the collector's.
 * Prints a table, then one JSON object. Target (issue 14): OTLP >= 0.7x the ZeroMQ path.
 *
 * Threading: single-threaded parent; shims and HTTP clients are child processes.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_common.h"
#include "bench_events.h"
#include "pb_write.h"
#include "traceshim.h"
#include "tracestore.h"

static char g_bindir[PATH_MAX], g_tmp[PATH_MAX];
static bench_events g_ev;

static tp_event *parse(size_t i)
{
    return bench_events_parse(&g_ev, i);
}

/* trace-collector on `store` with `ep`, and --otlp-http 127.0.0.1:PORT when port > 0. */
static pid_t start_collector(const char *store, const char *ep, int port)
{
    char bin[PATH_MAX + 32], addr[32];
    snprintf(bin, sizeof bin, "%s/trace-collector", g_bindir);
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        dup2(fd, 2);
        if (port > 0)
            execl(bin, bin, "--store", store, "--listen", ep, "--log-level", "warn", "--otlp-http",
                  addr, (char *)NULL);
        else
            execl(bin, bin, "--store", store, "--listen", ep, "--log-level", "warn", (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* ---- the store alone and the ZeroMQ path ------------------------------------- */

/* Runs k children, child(i, from, to) each over its share; returns items/s from the go
 * signal until every child exited 0. */
typedef int (*child_fn)(int i, size_t from, size_t to, int ready_fd, int go_fd, void *arg);

static double run_children(int k, child_fn fn, void *arg)
{
    bench_gate gate;
    bench_gate_open(&gate);
    pid_t pids[256];
    for (int i = 0; i < k; i++) {
        pids[i] = fork();
        if (pids[i] == 0)
            _exit(fn(i, g_ev.n * (size_t)i / (size_t)k, g_ev.n * (size_t)(i + 1) / (size_t)k,
                     gate.ready[1], gate.go[0], arg));
    }
    double t0 = bench_gate_release(&gate, k, "child");
    int bad = 0;
    for (int i = 0; i < k; i++)
        bad += bench_wait_pid(pids[i]) != 0;
    double secs = bench_now_s() - t0;
    bench_gate_close(&gate);
    if (bad) bench_die("a client did not get every event acked", "see the collector");
    return (double)g_ev.n / secs;
}

static int shim_child(int i, size_t from, size_t to, int ready_fd, int go_fd, void *arg)
{
    const char *ep = arg;
    char spool[PATH_MAX + 64];
    snprintf(spool, sizeof spool, "%s/spool-%d", g_tmp, i);
    tp_event **evs = malloc((to - from + 1) * sizeof *evs);
    for (size_t j = from; j < to; j++)
        evs[j - from] = parse(j);
    traceshim_options o;
    traceshim_options_default(&o);
    o.endpoints[0] = ep;
    o.spool_dir = spool;
    o.ack_timeout_ms = 2000;
    traceshim *s = NULL;
    if (traceshim_create(&o, &s, NULL) != 0) return 2;
    char c = 1;
    if (write(ready_fd, &c, 1) != 1 || read(go_fd, &c, 1) != 1) return 2;
    for (size_t j = 0; j < to - from; j++)
        traceshim_emit_take(s, &evs[j]);
    int rc = traceshim_close(&s, 600000);
    free(evs);
    return rc == 0 ? 0 : 3;
}

/* ---- events as OTLP spans -------------------------------------------------------- */

static const char *jstr(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* The span of gen-events event `i`: its attributes as (key, value) strings, ints as text. */
typedef struct span_model {
    char trace[33], span[17], parent[17], name[96];
    unsigned long long start, end;
    const char *keys[24];
    char vals[24][256];
    int nint[24]; /* 1: an intValue */
    int n;
    char service[96], env[32];
} span_model;

static void add_attr(span_model *m, const char *k, const char *v, int isint)
{
    if (m->n >= 24 || !v || !*v) return;
    m->keys[m->n] = k;
    snprintf(m->vals[m->n], sizeof m->vals[0], "%s", v);
    m->nint[m->n++] = isint;
}

static void model_of(size_t i, span_model *m)
{
    memset(m, 0, sizeof *m);
    json_t *e = json_loadb(g_ev.lines[i], g_ev.lens[i], 0, NULL);
    if (!e) bench_die("gen-events line", "not JSON");
    snprintf(m->trace, sizeof m->trace, "%s", jstr(e, "trace_id"));
    snprintf(m->span, sizeof m->span, "%s", jstr(e, "span_id"));
    snprintf(m->parent, sizeof m->parent, "%s", jstr(e, "parent_span_id"));
    snprintf(m->service, sizeof m->service, "%s", jstr(e, "service"));
    snprintf(m->env, sizeof m->env, "%s", jstr(e, "environment"));
    m->start = (unsigned long long)json_integer_value(json_object_get(e, "time_unix_nano"));
    m->end = m->start + (unsigned long long)json_integer_value(json_object_get(e, "duration_nano"));
    const char *kind = jstr(e, "kind");
    json_t *model = json_object_get(e, "model"), *usage = json_object_get(e, "usage");
    json_t *tool = json_object_get(e, "tool_call");
    char num[32];
    if (strcmp(kind, "prompt") == 0) {
        snprintf(m->name, sizeof m->name, "chat %s", jstr(model, "name"));
        add_attr(m, "gen_ai.operation.name", "chat", 0);
        add_attr(m, "gen_ai.provider.name", jstr(model, "provider"), 0);
        add_attr(m, "gen_ai.request.model", jstr(model, "name"), 0);
        snprintf(num, sizeof num, "%lld",
                 json_integer_value(json_object_get(usage, "input_tokens")));
        add_attr(m, "gen_ai.usage.input_tokens", num, 1);
        snprintf(num, sizeof num, "%lld",
                 json_integer_value(json_object_get(usage, "output_tokens")));
        add_attr(m, "gen_ai.usage.output_tokens", num, 1);
    } else if (strcmp(kind, "retrieval") == 0) {
        snprintf(m->name, sizeof m->name, "retrieval");
        add_attr(m, "gen_ai.operation.name", "retrieval", 0);
        add_attr(m, "gen_ai.data_source.id", jstr(e, "service"), 0);
    } else {
        const char *tn = tool ? jstr(tool, "name") : kind;
        snprintf(m->name, sizeof m->name, "execute_tool %s", tn);
        add_attr(m, "gen_ai.operation.name", "execute_tool", 0);
        add_attr(m, "gen_ai.tool.name", tn, 0);
        if (tool) add_attr(m, "gen_ai.tool.call.arguments", jstr(tool, "arguments"), 0);
    }
    static char dri[128], wf[128];
    snprintf(dri, sizeof dri, "%s", jstr(e, "dri"));
    snprintf(wf, sizeof wf, "%s", jstr(e, "workflow"));
    add_attr(m, "agenttrail.dri", dri, 0);
    add_attr(m, "agenttrail.workflow", wf, 0);
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(e, "attributes"), k, v)
    {
        static char keys[24][64];
        if (m->n >= 24) break;
        snprintf(keys[m->n], sizeof keys[0], "%s", k);
        add_attr(m, keys[m->n], json_string_value(v), 0);
    }
    /* the values are copied; the keys of the static tables live until the next call, which
     * comes after this span was encoded */
    json_decref(e);
}

static void json_span(at_buf *b, const span_model *m)
{
    json_t *o = json_pack("{s:[{s:s,s:{s:s}},{s:s,s:{s:s}}]}", "attributes", "key", "service.name",
                          "value", "stringValue", m->service, "key", "deployment.environment.name",
                          "value", "stringValue", m->env);
    json_t *attrs = json_array();
    for (int i = 0; i < m->n; i++)
        json_array_append_new(attrs,
                              json_pack("{s:s,s:{s:s}}", "key", m->keys[i], "value",
                                        m->nint[i] ? "intValue" : "stringValue", m->vals[i]));
    char st[24], en[24];
    snprintf(st, sizeof st, "%llu", m->start);
    snprintf(en, sizeof en, "%llu", m->end);
    json_t *span = json_pack("{s:s,s:s,s:s,s:i,s:s,s:s,s:o}", "traceId", m->trace, "spanId",
                             m->span, "name", m->name, "kind", 1, "startTimeUnixNano", st,
                             "endTimeUnixNano", en, "attributes", attrs);
    if (m->parent[0]) json_object_set_new(span, "parentSpanId", json_string(m->parent));
    json_t *rs = json_pack("{s:o,s:[{s:{s:s},s:[o]}]}", "resource", o, "scopeSpans", "scope",
                           "name", "bench-otlp", "spans", span);
    char *s = json_dumps(rs, JSON_COMPACT);
    at_buf_puts(b, s);
    free(s);
    json_decref(rs);
}

/* One ResourceSpans (ExportTraceServiceRequest field 1) holding the span. */
static void pb_span(at_buf *req, const span_model *m)
{
    at_buf res = {0}, span = {0}, scope = {0}, sc = {0}, rs = {0};
    pbw_attr(&res, 1, "service.name", m->service, 0);
    pbw_attr(&res, 1, "deployment.environment.name", m->env, 0);
    uint8_t id[16];
    at_hex_decode(m->trace, 32, id, 16);
    pbw_bytes(&span, 1, id, 16);
    at_hex_decode(m->span, 16, id, 8);
    pbw_bytes(&span, 2, id, 8);
    if (m->parent[0] && at_hex_decode(m->parent, 16, id, 8) == 0) pbw_bytes(&span, 4, id, 8);
    pbw_bytes(&span, 5, m->name, strlen(m->name));
    pbw_varint(&span, 6 << 3);
    pbw_varint(&span, 1);
    pbw_fixed64(&span, 7, m->start);
    pbw_fixed64(&span, 8, m->end);
    for (int i = 0; i < m->n; i++)
        pbw_attr(&span, 9, m->keys[i], m->vals[i], m->nint[i]);
    pbw_bytes(&sc, 1, "bench-otlp", 10); /* InstrumentationScope.name */
    pbw_msg(&scope, 1, &sc);
    pbw_msg(&scope, 2, &span);
    pbw_msg(&rs, 1, &res);
    pbw_msg(&rs, 2, &scope);
    pbw_msg(req, 1, &rs);
}

/* ---- the HTTP clients -------------------------------------------------------------- */

typedef struct otlp_run {
    int port, protobuf;
    size_t batch;
} otlp_run;

/* Reads one response; returns its status and sets *retry_after (s); -1 on a closed socket. */
static int read_response(int fd, int *retry_after)
{
    static char buf[1 << 16];
    size_t have = 0;
    char *end = NULL;
    while (!end) {
        ssize_t n = read(fd, buf + have, sizeof buf - 1 - have);
        if (n <= 0) return -1;
        have += (size_t)n;
        buf[have] = 0;
        end = strstr(buf, "\r\n\r\n");
    }
    int status = (int)strtol(buf + 9, NULL, 10);
    const char *cl = strcasestr(buf, "\r\nContent-Length:");
    size_t len = cl ? strtoull(cl + 17, NULL, 10) : 0, got = have - (size_t)(end + 4 - buf);
    const char *ra = strcasestr(buf, "\r\nRetry-After:");
    *retry_after = ra ? (int)strtol(ra + 14, NULL, 10) : 0;
    while (got < len) {
        ssize_t n = read(fd, buf, sizeof buf < len - got ? sizeof buf : len - got);
        if (n <= 0) return -1;
        got += (size_t)n;
    }
    return status;
}

static int connect_local(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int http_child(int i, size_t from, size_t to, int ready_fd, int go_fd, void *arg)
{
    (void)i;
    const otlp_run *r = arg;
    size_t nreq = (to - from + r->batch - 1) / r->batch;
    at_buf *reqs = calloc(nreq ? nreq : 1, sizeof *reqs);
    for (size_t q = 0; q < nreq; q++) {
        at_buf body = {0};
        size_t a = from + q * r->batch, z = a + r->batch < to ? a + r->batch : to;
        if (!r->protobuf) at_buf_puts(&body, "{\"resourceSpans\":[");
        for (size_t j = a; j < z; j++) {
            span_model m;
            model_of(j, &m);
            if (r->protobuf) {
                pb_span(&body, &m);
            } else {
                if (j > a) at_buf_putc(&body, ',');
                json_span(&body, &m);
            }
        }
        if (!r->protobuf) at_buf_puts(&body, "]}");
        at_buf_printf(&reqs[q],
                      "POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: %s\r\n"
                      "Content-Length: %zu\r\n\r\n",
                      r->protobuf ? "application/x-protobuf" : "application/json", body.len);
        at_buf_put(&reqs[q], body.data, body.len);
        at_buf_free(&body);
    }
    int fd = connect_local(r->port);
    char c = 1;
    if (fd < 0 || write(ready_fd, &c, 1) != 1 || read(go_fd, &c, 1) != 1) return 2;
    for (size_t q = 0; q < nreq;) {
        int retry = 0, st = -1;
        if (at_write_all(fd, reqs[q].data, reqs[q].len) == 0) st = read_response(fd, &retry);
        if (st == 200) {
            q++;
            continue;
        }
        if (st != 429 && st != 503 && st != -1) return 4;
        usleep(retry > 0 ? 100000 : 20000); /* far less than Retry-After: a bench, not a client */
        if (st == -1) {
            close(fd);
            fd = connect_local(r->port);
            if (fd < 0) return 5;
        }
    }
    close(fd);
    for (size_t q = 0; q < nreq; q++)
        at_buf_free(&reqs[q]);
    free(reqs);
    return 0;
}

static uint64_t stored_events(const char *store)
{
    ts_store *s = NULL;
    at_error err = {0};
    ts_stats st = {0};
    if (ts_open(store, TS_OPEN_RDONLY, NULL, &s, &err) != 0) bench_die(store, err.what);
    ts_stat(s, &st);
    ts_close(&s);
    return st.events;
}

int main(int argc, char **argv)
{
    bench_set_name("bench-otlp");
    uint64_t n = 100000, k = 4, batch = 512, seed = 1;
    int protobuf = 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        uint64_t *to = !strcmp(argv[i], "--spans")     ? &n
                       : !strcmp(argv[i], "--clients") ? &k
                       : !strcmp(argv[i], "--batch")   ? &batch
                       : !strcmp(argv[i], "--seed")    ? &seed
                                                       : NULL;
        if (!strcmp(argv[i], "--format")) {
            protobuf = strcmp(argv[i + 1], "json") != 0;
            continue;
        }
        if (!to || bench_parse_u64(argv[i + 1], to) != 0 || (to != &seed && *to == 0))
            bench_die(argv[i], "--spans N --clients K --batch B --format json|protobuf --seed S");
    }
    if (k > 256) k = 256;
    double base = bench_ingest_begin("bench-otlp", (size_t)n, seed, g_bindir, sizeof g_bindir,
                                     g_tmp, sizeof g_tmp, &g_ev);

    char store[PATH_MAX + 32], ep[PATH_MAX + 32];
    snprintf(store, sizeof store, "%s/store-zmq", g_tmp);
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", 20600 + (int)(getpid() % 1000));
    pid_t c = start_collector(store, ep, 0);
    usleep(300000);
    double zmq = run_children((int)k, shim_child, ep);
    kill(c, SIGTERM);
    bench_wait_pid(c);
    uint64_t zmq_stored = stored_events(store);
    fprintf(stderr, "bench-otlp: ZeroMQ, %d shims: %.0f durable events/s\n", (int)k, zmq);

    otlp_run r = {21600 + (int)(getpid() % 1000), protobuf, (size_t)batch};
    snprintf(store, sizeof store, "%s/store-otlp", g_tmp);
    snprintf(ep, sizeof ep, "ipc://%s/otlp.sock", g_tmp);
    c = start_collector(store, ep, r.port);
    usleep(300000);
    double otlp = run_children((int)k, http_child, &r);
    kill(c, SIGTERM);
    if (bench_wait_pid(c) != 0) bench_die("collector", "did not stop cleanly");
    uint64_t otlp_stored = stored_events(store);
    fprintf(stderr, "bench-otlp: OTLP/HTTP, %d clients: %.0f durable spans/s\n", (int)k, otlp);

    printf("bench-otlp: %zu gen-events events, durable (answered after commit), loopback, %d "
           "concurrent clients, 2 cores shared by clients and collector\n",
           g_ev.n, (int)k);
    printf("%-52s %12s %9s %9s\n", "what", "events/s", "vs store", "stored");
    printf("%-52s %12.0f %9.2f %9zu\n", "store alone (ts_append, groups of 1000)", base, 1.0,
           g_ev.n);
    char what[96];
    snprintf(what, sizeof what, "ZeroMQ: %d shims (libtraceshim, TCP)", (int)k);
    printf("%-52s %12.0f %9.2f %9llu\n", what, zmq, zmq / base, (unsigned long long)zmq_stored);
    snprintf(what, sizeof what, "OTLP/HTTP: %d clients, %zu spans/request, %s", (int)k,
             (size_t)batch, protobuf ? "protobuf" : "JSON");
    printf("%-52s %12.0f %9.2f %9llu\n", what, otlp, otlp / base, (unsigned long long)otlp_stored);
    printf("OTLP / ZeroMQ: %.2f (target >= 0.70)\n", otlp / zmq);
    printf(
        "{\"events\":%zu,\"clients\":%d,\"batch\":%zu,\"format\":\"%s\",\"store_alone_eps\":%.0f,"
        "\"zmq_eps\":%.0f,\"otlp_eps\":%.0f,\"otlp_vs_zmq\":%.3f,\"zmq_stored\":%llu,"
        "\"otlp_stored\":%llu}\n",
        g_ev.n, (int)k, (size_t)batch, protobuf ? "protobuf" : "json", base, zmq, otlp, otlp / zmq,
        (unsigned long long)zmq_stored, (unsigned long long)otlp_stored);
    bench_remove_tree(g_tmp);
    return 0;
}
