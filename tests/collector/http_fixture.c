/*
 * http_fixture.c - a real trace-collector with its HTTP endpoint, driven by curl (see
 * http_fixture.h).
 */
#include "http_fixture.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <cmocka.h>

#include "atcommon.h"
#include "pb_write.h"
#include "pipeline_util.h"
#include "testutil.h"

/* Starts the collector of e (its args) and reads its port: the last one its log names. */
static void start_collector(hf_env *e)
{
    e->pid = pu_collector_start(e->store, e->ep, e->log, (const char *const *)e->args);
    assert_true(e->pid > 0);
    char *log = tu_read_file(e->log, NULL);
    assert_non_null(log);
    const char *key = "http: listening on 127.0.0.1:", *at = NULL;
    for (const char *p = log; (p = strstr(p, key)); p++)
        at = p;
    if (!at) fprintf(stderr, "collector log:\n%s\n", log);
    assert_non_null(at);
    e->port = (int)strtol(at + strlen(key), NULL, 10);
    assert_true(e->port > 0);
    free(log);
}

hf_env *hf_start(const char *tag, const char *const *extra)
{
    return hf_start_with(tag, 1, extra);
}

hf_env *hf_start_with(const char *tag, int otlp, const char *const *extra)
{
    hf_env *e = calloc(1, sizeof *e);
    assert_non_null(e);
    e->dir = tu_tempdir(tag);
    snprintf(e->store, sizeof e->store, "%s/store", e->dir);
    snprintf(e->ep, sizeof e->ep, "ipc://%s/c.sock", e->dir);
    snprintf(e->log, sizeof e->log, "%s/collector.log", e->dir);
    int n = 0;
    if (otlp) {
        e->args[n++] = "--otlp-http";
        e->args[n++] = "127.0.0.1:0";
    }
    for (int i = 0; extra && extra[i] && n < HF_MAX_ARGS - 1; i++)
        e->args[n++] = extra[i];
    e->args[n] = NULL;
    start_collector(e);
    return e;
}

int hf_restart(hf_env *e, int sig)
{
    int st = pu_kill_wait(e->pid, sig);
    start_collector(e);
    return st;
}

void hf_stop(hf_env **ep)
{
    if (!ep || !*ep) return;
    hf_env *e = *ep;
    if (e->pid > 0) assert_int_equal(pu_kill_wait(e->pid, SIGTERM), 0);
    tu_rmtree_free(e->dir);
    free(e);
    *ep = NULL;
}

char *hf_file(hf_env *e, const char *name)
{
    return tu_path(e->dir, name);
}

char *hf_write_body(hf_env *e, const char *name, const void *data, size_t len)
{
    char *p = hf_file(e, name);
    assert_int_equal(tu_write_file(p, data, len), 0);
    return p;
}

void hf_assert_stores(hf_env *e, const char *trace_hex, int first)
{
    hf_reply r;
    char *body = hf_otlp_json(trace_hex, first, 2, 0, "ann@example.com", 0);
    char *file = hf_write_body(e, "stores.json", body, strlen(body));
    static const char *const json[] = {"Content-Type: application/json", NULL};
    hf_request(e, &r, "POST", "/v1/traces", json, file);
    assert_int_equal(r.code, 200);
    hf_reply_free(&r);
    TU_FREE(body, file);
}

void hf_request(hf_env *e, hf_reply *r, const char *method, const char *path,
                const char *const *headers, const char *body_file)
{
    memset(r, 0, sizeof *r);
    char url[256], data[600];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", e->port, path);
    char *hfile = hf_file(e, "reply.headers"), *bfile = hf_file(e, "reply.body");
    const char *argv[48] = {"/usr/bin/curl", "-s", "--max-time", "60", "-X",          method, "-D",
                            hfile,           "-o", bfile,        "-w", "%{http_code}"};
    int n = 12;
    for (int i = 0; headers && headers[i] && n < 40; i++) {
        argv[n++] = "-H";
        argv[n++] = headers[i];
    }
    if (body_file) {
        snprintf(data, sizeof data, "@%s", body_file);
        argv[n++] = "--data-binary";
        argv[n++] = data;
    }
    argv[n++] = url;
    argv[n] = NULL;
    char *out = NULL;
    unlink(hfile);
    unlink(bfile);
    r->curl_exit = tu_run((char *const *)argv, NULL, &out, NULL, NULL);
    r->code = out ? (int)strtol(out, NULL, 10) : 0;
    r->headers = tu_read_file(hfile, NULL);
    r->body = tu_read_file(bfile, &r->len);
    if (!r->body) r->body = calloc(1, 1);
    TU_FREE(out, hfile, bfile);
}

pid_t hf_post_json_async(hf_env *e, const char *body_file, const char *out)
{
    char url[128], data[600];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/traces", e->port);
    snprintf(data, sizeof data, "@%s", body_file);
    char *argv[] = {"/usr/bin/curl",
                    "-s",
                    "-o",
                    "/dev/null",
                    "-w",
                    "%{http_code}",
                    "-H",
                    "Content-Type: application/json",
                    "--data-binary",
                    data,
                    url,
                    NULL};
    return pu_spawn(argv, out, NULL);
}

char *hf_header(const hf_reply *r, const char *name)
{
    size_t n = strlen(name);
    for (const char *l = r->headers; l && *l;) {
        const char *end = strchr(l, '\n');
        if (strncasecmp(l, name, n) == 0 && l[n] == ':') {
            const char *v = l + n + 1;
            while (*v == ' ')
                v++;
            size_t len = strcspn(v, "\r\n");
            return strndup(v, len);
        }
        l = end ? end + 1 : NULL;
    }
    return NULL;
}

void hf_reply_free(hf_reply *r)
{
    TU_FREE(r->headers, r->body);
    memset(r, 0, sizeof *r);
}

static void span_id(int i, char out[17])
{
    snprintf(out, 17, "abc%05x%08x", (unsigned)(i >> 24) & 0xfffff, (unsigned)i + 1);
}

char *hf_otlp_json(const char *trace_hex, int first, int n, int not_ai, const char *dri, size_t pad)
{
    at_buf b = {0};
    at_buf_printf(&b,
                  "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\","
                  "\"value\":{\"stringValue\":\"agent\"}}");
    if (dri)
        at_buf_printf(&b, ",{\"key\":\"agenttrail.dri\",\"value\":{\"stringValue\":\"%s\"}}", dri);
    at_buf_printf(&b, "]},\"scopeSpans\":[{\"scope\":{\"name\":\"test\"},\"spans\":[");
    for (int i = 0; i < n + not_ai; i++) {
        char sid[17];
        span_id(first + i, sid);
        unsigned long long t = 1754793848000000000ull + (unsigned long long)(first + i) * 1000000u;
        at_buf_printf(&b,
                      "%s{\"traceId\":\"%s\",\"spanId\":\"%s\",\"name\":\"%s\",\"kind\":%d,"
                      "\"startTimeUnixNano\":\"%llu\",\"endTimeUnixNano\":\"%llu\","
                      "\"attributes\":[",
                      i ? "," : "", trace_hex, sid, i < n ? "execute_tool search" : "GET /",
                      i < n ? 1 : 3, t, t + 500000);
        if (i < n) {
            at_buf_printf(&b,
                          "{\"key\":\"gen_ai.operation.name\",\"value\":{\"stringValue\":"
                          "\"execute_tool\"}},{\"key\":\"gen_ai.tool.name\",\"value\":{"
                          "\"stringValue\":\"search\"}},{\"key\":\"gen_ai.tool.call.arguments\","
                          "\"value\":{\"stringValue\":\"{\\\"q\\\":\\\"%d",
                          first + i);
            for (size_t k = 0; k < pad; k++)
                at_buf_putc(&b, "0123456789abcdef"[rand() & 15]);
            at_buf_printf(&b, "\\\"}\"}}");
        } else {
            at_buf_printf(&b, "{\"key\":\"http.request.method\",\"value\":{\"stringValue\":"
                              "\"GET\"}}");
        }
        at_buf_printf(&b, "]}");
    }
    at_buf_printf(&b, "]}]}]}");
    char *s = at_buf_take(&b, NULL);
    assert_non_null(s);
    return s;
}

/* ---- protobuf, from the published field numbers of opentelemetry-proto ---------- */

unsigned char *hf_otlp_protobuf(const char *trace_hex, int first, int n, const char *dri,
                                size_t *len)
{
    at_buf resource = {0}, scope = {0}, rs = {0}, req = {0};
    pbw_attr(&resource, 1, "service.name", "agent", 0);
    if (dri) pbw_attr(&resource, 1, "agenttrail.dri", dri, 0);
    uint8_t tid[16];
    assert_int_equal(at_hex_decode(trace_hex, 32, tid, 16), 0);
    for (int i = 0; i < n; i++) {
        at_buf span = {0};
        char sid_hex[17], args[64];
        uint8_t sid[8];
        span_id(first + i, sid_hex);
        assert_int_equal(at_hex_decode(sid_hex, 16, sid, 8), 0);
        uint64_t t = 1754793848000000000ull + (uint64_t)(first + i) * 1000000u;
        pbw_bytes(&span, 1, tid, 16);                                   /* trace_id */
        pbw_bytes(&span, 2, sid, 8);                                    /* span_id */
        pbw_bytes(&span, 5, "execute_tool search", 19);                 /* name */
        pbw_varint(&span, 6 << 3), pbw_varint(&span, 1);                /* kind INTERNAL */
        pbw_fixed64(&span, 7, t);                                       /* start */
        pbw_fixed64(&span, 8, t + 500000);                              /* end */
        pbw_attr(&span, 9, "gen_ai.operation.name", "execute_tool", 0); /* attributes */
        pbw_attr(&span, 9, "gen_ai.tool.name", "search", 0);
        snprintf(args, sizeof args, "{\"q\":\"%d\"}", first + i);
        pbw_attr(&span, 9, "gen_ai.tool.call.arguments", args, 0);
        pbw_msg(&scope, 2, &span); /* ScopeSpans.spans */
    }
    pbw_msg(&rs, 1, &resource); /* ResourceSpans.resource */
    pbw_msg(&rs, 2, &scope);    /* ResourceSpans.scope_spans */
    pbw_msg(&req, 1, &rs);      /* ExportTraceServiceRequest.resource_spans */
    unsigned char *out = (unsigned char *)at_buf_take(&req, len);
    assert_non_null(out);
    return out;
}

long hf_peak_rss_kb(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    char *s = tu_read_file(path, NULL);
    const char *at = s ? strstr(s, "VmHWM:") : NULL;
    long kb = at ? strtol(at + 6, NULL, 10) : -1;
    free(s);
    return kb;
}

double hf_metric(const char *text, const char *name)
{
    size_t n = strlen(name);
    for (const char *l = text; l && *l;) {
        if (strncmp(l, name, n) == 0 && l[n] == ' ') return strtod(l + n + 1, NULL);
        l = strchr(l, '\n');
        if (l) l++;
    }
    return -1;
}
