/*
 * test_http.c - the collector's HTTP endpoint as a client sees it (curl against the real
 * trace-collector): /metrics parses as Prometheus text and its counters move, /healthz,
 * 404 / 405 / 415, gzip bodies, the size limit checked after inflation (a gzip bomb and a
 * 100 MB body get 413 without the collector's memory growing by them, and it keeps serving),
 * malformed bodies get 400, more requests than --otlp-max-inflight get 429 with Retry-After.
 */
#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>
#include <cmocka.h>

#include "at_test.h"
#include "http_fixture.h"
#include "pipeline_util.h"
#include "testutil.h"

static const char *const JSON[] = {"Content-Type: application/json", NULL};
static const char *const JSON_GZ[] = {"Content-Type: application/json", "Content-Encoding: gzip",
                                      NULL};
static const char *const PROTO[] = {"Content-Type: application/x-protobuf", NULL};
static const char *TRACE = "5b8efff798038103d269b633813fc60c";

/* gzip of `total` zero bytes (or of `data` when not NULL) into file `name`. */
static char *write_gzip(hf_env *e, const char *name, const void *data, size_t total)
{
    char *p = hf_file(e, name);
    gzFile f = gzopen(p, "wb9");
    assert_non_null(f);
    static char zeros[1 << 20];
    for (size_t done = 0; done < total;) {
        size_t n = total - done < sizeof zeros ? total - done : sizeof zeros;
        assert_int_equal(gzwrite(f, data ? (const char *)data + done : zeros, (unsigned)n), (int)n);
        done += n;
    }
    assert_int_equal(gzclose(f), Z_OK);
    return p;
}

static void get(hf_env *e, hf_reply *r, const char *path)
{
    hf_request(e, r, "GET", path, NULL, NULL);
}

/* GET `path`, asserting the status `code`; the reply is not kept. */
static void expect_get(hf_env *e, const char *path, int code)
{
    hf_reply r;
    get(e, &r, path);
    assert_int_equal(r.code, code);
    hf_reply_free(&r);
}

/* Every line is a comment (# HELP / # TYPE NAME counter|gauge|histogram) or a sample
 * "NAME[{labels}] VALUE" whose metric family (NAME less _bucket/_sum/_count for histograms)
 * was TYPEd before it, with a numeric VALUE. Returns the number of samples. */
static int assert_prometheus_text(const char *text)
{
    char typed[64][128];
    char kinds[64][16];
    int ntyped = 0, samples = 0;
    char *copy = strdup(text), *save = NULL;
    assert_true(strlen(text) > 0 && text[strlen(text) - 1] == '\n');
    for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        if (strncmp(l, "# HELP ", 7) == 0) continue;
        if (strncmp(l, "# TYPE ", 7) == 0) {
            assert_true(ntyped < 64);
            assert_int_equal(sscanf(l + 7, "%127s %15s", typed[ntyped], kinds[ntyped]), 2);
            const char *k = kinds[ntyped];
            assert_true(strcmp(k, "counter") == 0 || strcmp(k, "gauge") == 0 ||
                        strcmp(k, "histogram") == 0);
            ntyped++;
            continue;
        }
        assert_true(l[0] != '#');
        char name[160];
        size_t n = strcspn(l, "{ ");
        assert_true(n > 0 && n < sizeof name);
        memcpy(name, l, n);
        name[n] = 0;
        const char *sp = strrchr(l, ' ');
        assert_non_null(sp);
        char *end = NULL;
        double v = strtod(sp + 1, &end);
        assert_true(end && *end == 0 && !isnan(v));
        int found = 0;
        for (int i = 0; i < ntyped && !found; i++) {
            size_t tl = strlen(typed[i]);
            if (strcmp(name, typed[i]) == 0) found = 1;
            if (strcmp(kinds[i], "histogram") == 0 && strncmp(name, typed[i], tl) == 0 &&
                (strcmp(name + tl, "_bucket") == 0 || strcmp(name + tl, "_sum") == 0 ||
                 strcmp(name + tl, "_count") == 0))
                found = 1;
        }
        if (!found) fprintf(stderr, "sample without # TYPE: %s\n", l);
        assert_true(found);
        assert_int_equal(strncmp(name, "agenttrail_", 11), 0);
        samples++;
    }
    free(copy);
    return samples;
}

AT_TEST(test_metrics_parse_as_prometheus_text_and_count_stored_spans)
{
    (void)state;
    hf_env *e = hf_start("http-metrics", NULL);
    hf_reply r;
    get(e, &r, "/metrics");
    assert_int_equal(r.code, 200);
    char *ct = hf_header(&r, "Content-Type");
    assert_non_null(strstr(ct, "text/plain; version=0.0.4"));
    assert_true(assert_prometheus_text(r.body) > 40);
    assert_true(hf_metric(r.body, "agenttrail_events_stored_total") == 0);
    hf_reply_free(&r);
    char *body = hf_otlp_json(TRACE, 0, 3, 2, "ann@example.com", 0);
    char *file = hf_write_body(e, "req.json", body, strlen(body));
    hf_request(e, &r, "POST", "/v1/traces", JSON, file);
    assert_int_equal(r.code, 200);
    hf_reply_free(&r);
    get(e, &r, "/metrics");
    assert_prometheus_text(r.body);
    assert_true(hf_metric(r.body, "agenttrail_events_stored_total") == 3);
    assert_true(hf_metric(r.body, "agenttrail_batches_total{status=\"ok\"}") == 1);
    assert_true(hf_metric(r.body, "agenttrail_otlp_spans_total{dialect=\"genai\"}") == 3);
    assert_true(hf_metric(r.body, "agenttrail_otlp_span_results_total{result=\"not_ai\"}") == 2);
    assert_true(hf_metric(r.body, "agenttrail_http_requests_total{code=\"200\"}") >= 2);
    assert_true(hf_metric(r.body, "agenttrail_commit_duration_seconds_count") >= 1);
    assert_true(hf_metric(r.body, "agenttrail_store_events") == 3);
    assert_true(hf_metric(r.body, "agenttrail_store_healthy") == 1);
    hf_reply_free(&r);
    TU_FREE(ct, body, file);
    hf_stop(&e);
}

/* Batches over ZeroMQ (trace-shim) and over HTTP land in the same counters; the shim's
 * connection is counted as a connected shim. */
AT_TEST(test_metrics_count_zeromq_batches_and_connected_shims)
{
    (void)state;
    hf_env *e = hf_start("http-shims", NULL);
    char *lines = NULL;
    size_t len = 0;
    char *tau = tu_shared("data/tau2.jsonl");
    char *all = tu_read_file(tau, &len);
    assert_non_null(all);
    size_t cut = 0;
    for (int n = 0; n < 10 && cut < len; cut++)
        n += all[cut] == '\n';
    lines = hf_write_body(e, "ten.jsonl", all, cut);
    char *shim = tu_bin("trace-shim"), *spool = hf_file(e, "spool");
    char *key = tu_path(e->store, "otlp-hmac.key"); /* the collector made it: same format */
    char *argv[] = {shim, "--endpoint",      e->ep, "--spool-dir", spool, "--timeout",
                    "20", "--hmac-key-file", key,   lines,         NULL};
    assert_int_equal(tu_run(argv, NULL, NULL, NULL, NULL), 0);
    hf_reply r;
    get(e, &r, "/metrics");
    assert_true(hf_metric(r.body, "agenttrail_events_stored_total") == 10);
    assert_true(hf_metric(r.body, "agenttrail_connected_shims") >= 1);
    assert_true(hf_metric(r.body, "agenttrail_otlp_spans_total{dialect=\"genai\"}") == 0);
    hf_reply_free(&r);
    TU_FREE(tau, all, lines, shim, spool, key);
    hf_stop(&e);
}

AT_TEST(test_healthz_and_unknown_routes_methods_and_types)
{
    (void)state;
    hf_env *e = hf_start("http-routes", NULL);
    hf_reply r;
    get(e, &r, "/healthz");
    assert_int_equal(r.code, 200);
    assert_string_equal(r.body, "ok\n");
    hf_reply_free(&r);
    expect_get(e, "/v1/logs", 404);
    get(e, &r, "/v1/traces");
    assert_int_equal(r.code, 405);
    char *allow = hf_header(&r, "Allow");
    assert_string_equal(allow, "POST");
    hf_reply_free(&r);
    char *file = hf_write_body(e, "x.txt", "hello", 5);
    const char *const text[] = {"Content-Type: text/plain", NULL};
    hf_request(e, &r, "POST", "/v1/traces", text, file);
    assert_int_equal(r.code, 415);
    hf_reply_free(&r);
    const char *const br[] = {"Content-Type: application/json", "Content-Encoding: br", NULL};
    hf_request(e, &r, "POST", "/v1/traces", br, file);
    assert_int_equal(r.code, 415);
    hf_reply_free(&r);
    hf_request(e, &r, "POST", "/metrics", JSON, file);
    assert_int_equal(r.code, 405);
    hf_reply_free(&r);
    TU_FREE(allow, file);
    hf_stop(&e);
}

AT_TEST(test_http_alone_serves_metrics_and_health_but_no_otlp)
{
    (void)state;
    const char *args[] = {"--http", "127.0.0.1:0", NULL};
    hf_env *e = hf_start_with("http-only", 0, args);
    hf_reply r;
    get(e, &r, "/metrics");
    assert_int_equal(r.code, 200);
    assert_prometheus_text(r.body);
    hf_reply_free(&r);
    expect_get(e, "/healthz", 200);
    char *body = hf_otlp_json(TRACE, 0, 1, 0, "ann@example.com", 0);
    char *file = hf_write_body(e, "req.json", body, strlen(body));
    hf_request(e, &r, "POST", "/v1/traces", JSON, file);
    assert_int_equal(r.code, 404);
    hf_reply_free(&r);
    char *key = hf_file(e, "store/otlp-hmac.key");
    assert_int_not_equal(access(key, F_OK), 0); /* no OTLP, no key made */
    TU_FREE(body, file, key);
    hf_stop(&e);
}

AT_TEST(test_gzip_body_is_inflated_and_stored)
{
    (void)state;
    hf_env *e = hf_start("http-gzip", NULL);
    char *body = hf_otlp_json(TRACE, 100, 5, 0, "ann@example.com", 0);
    char *gz = write_gzip(e, "req.json.gz", body, strlen(body));
    hf_reply r;
    hf_request(e, &r, "POST", "/v1/traces", JSON_GZ, gz);
    assert_int_equal(r.code, 200);
    hf_reply_free(&r);
    assert_int_equal(pu_store_total(e->store), 5);
    /* gzip that is not: 400, named. */
    char *bad = hf_write_body(e, "bad.gz", "\x1f\x8b\x08\x00garbage-garbage", 19);
    hf_request(e, &r, "POST", "/v1/traces", JSON_GZ, bad);
    assert_int_equal(r.code, 400);
    assert_non_null(strstr(r.body, "gzip"));
    hf_reply_free(&r);
    TU_FREE(body, gz, bad);
    hf_stop(&e);
}

/* Answers, then the collector still stores a good request: it kept serving. */
static void assert_still_serving(hf_env *e, int first)
{
    expect_get(e, "/healthz", 200);
    hf_assert_stores(e, TRACE, first);
}

AT_TEST(test_gzip_bomb_gets_413_and_costs_at_most_the_limit)
{
    (void)state;
    const char *args[] = {"--otlp-max-body", "4M", NULL};
    hf_env *e = hf_start("http-bomb", args);
    long before = hf_peak_rss_kb(e->pid);
    char *bomb = write_gzip(e, "bomb.gz", NULL, (size_t)1 << 30); /* 1 GiB of zeros, ~1 MB */
    hf_reply r;
    hf_request(e, &r, "POST", "/v1/traces", JSON_GZ, bomb);
    assert_int_equal(r.code, 413);
    assert_non_null(strstr(r.body, "once inflated"));
    hf_reply_free(&r);
    long after = hf_peak_rss_kb(e->pid);
    fprintf(stderr, "gzip bomb: peak RSS %ld -> %ld KiB\n", before, after);
    assert_true(before > 0 && after - before < 24 * 1024);
    assert_still_serving(e, 0);
    free(bomb);
    hf_stop(&e);
}

AT_TEST(test_100mb_body_gets_413_without_the_collector_holding_it)
{
    (void)state;
    const char *args[] = {"--otlp-max-body", "4M", NULL};
    hf_env *e = hf_start("http-big", args);
    long before = hf_peak_rss_kb(e->pid);
    char *big = hf_file(e, "big.json");
    FILE *f = fopen(big, "wb");
    static char block[1 << 20];
    memset(block, ' ', sizeof block);
    for (int i = 0; i < 100; i++)
        assert_int_equal(fwrite(block, 1, sizeof block, f), sizeof block);
    fclose(f);
    hf_reply r;
    /* With its Content-Length: refused before the body is sent. */
    hf_request(e, &r, "POST", "/v1/traces", JSON, big);
    assert_int_equal(r.code, 413);
    hf_reply_free(&r);
    /* Chunked, no length: read and dropped past the limit. */
    const char *const chunked[] = {"Content-Type: application/json", "Transfer-Encoding: chunked",
                                   NULL};
    hf_request(e, &r, "POST", "/v1/traces", chunked, big);
    assert_int_equal(r.code, 413);
    hf_reply_free(&r);
    long after = hf_peak_rss_kb(e->pid);
    fprintf(stderr, "100 MB body: peak RSS %ld -> %ld KiB\n", before, after);
    assert_true(before > 0 && after - before < 24 * 1024);
    assert_still_serving(e, 10);
    unlink(big);
    free(big);
    hf_stop(&e);
}

AT_TEST(test_malformed_protobuf_and_json_get_400_and_the_collector_keeps_serving)
{
    (void)state;
    hf_env *e = hf_start("http-bad", NULL);
    const char *json_bad[] = {"{\"resourceSpans\":[{", "[1,2,3", "\xff\xfe", "nonsense"};
    hf_reply r;
    for (size_t i = 0; i < sizeof json_bad / sizeof json_bad[0]; i++) {
        char *file = hf_write_body(e, "bad.json", json_bad[i], strlen(json_bad[i]));
        hf_request(e, &r, "POST", "/v1/traces", JSON, file);
        assert_int_equal(r.code, 400);
        /* google.rpc.Status in JSON: code INVALID_ARGUMENT and a message */
        assert_non_null(strstr(r.body, "\"code\":3"));
        assert_non_null(strstr(r.body, "\"message\":"));
        hf_reply_free(&r);
        free(file);
    }
    /* Protobuf: a length running past the end, a wrong wire type. */
    const char *pb_bad[] = {"\x0a\x7f\x0a", "\x0b\x01\x02\x03"};
    for (size_t i = 0; i < 2; i++) {
        char *file = hf_write_body(e, "bad.pb", pb_bad[i], strlen(pb_bad[i]));
        hf_request(e, &r, "POST", "/v1/traces", PROTO, file);
        assert_int_equal(r.code, 400);
        assert_true(r.len >= 2 && (unsigned char)r.body[0] == 0x08 && r.body[1] == 3);
        hf_reply_free(&r);
        free(file);
    }
    assert_still_serving(e, 20);
    hf_stop(&e);
}

/* A request whose headers are in and whose body never ends: it holds its in-flight slot. */
static int hold_request(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    const char *req = "POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{";
    assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    return fd;
}

AT_TEST(test_requests_over_max_inflight_get_429_with_retry_after)
{
    (void)state;
    const char *args[] = {"--otlp-max-inflight", "2", NULL};
    hf_env *e = hf_start("http-429", args);
    int a = hold_request(e->port), b = hold_request(e->port);
    pu_sleep_ms(300);
    char *body = hf_otlp_json(TRACE, 30, 1, 0, "ann@example.com", 0);
    char *file = hf_write_body(e, "one.json", body, strlen(body));
    hf_reply r;
    hf_request(e, &r, "POST", "/v1/traces", JSON, file);
    assert_int_equal(r.code, 429);
    char *ra = hf_header(&r, "Retry-After");
    assert_non_null(ra);
    assert_true(strtol(ra, NULL, 10) > 0);
    hf_reply_free(&r);
    /* /metrics and /healthz are not OTLP requests: still answered. */
    expect_get(e, "/healthz", 200);
    close(a);
    close(b);
    pu_sleep_ms(300);
    hf_request(e, &r, "POST", "/v1/traces", JSON, file);
    assert_int_equal(r.code, 200);
    hf_reply_free(&r);
    TU_FREE(body, file, ra);
    hf_stop(&e);
}
