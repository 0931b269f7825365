/*
 * test_otlp_ingest.c - OTLP/HTTP requests stored with the ZeroMQ path's guarantee, through the
 * real trace-collector and read back with the real trace-query: JSON and protobuf GenAI spans
 * answer 200 and `find --format jsonl` shows them (source "otlp-http"); the same request sent
 * twice stores each span once; spans that cannot be stored are counted in partial_success
 * with the first reason, spans that are not AI work are named in its message and not stored;
 * a full store answers 503 with Retry-After, /healthz says why, and nothing is acked.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "at_test.h"
#include "http_fixture.h"
#include "pipeline_util.h"
#include "testutil.h"

static const char *const JSON[] = {"Content-Type: application/json", NULL};
static const char *const PROTO[] = {"Content-Type: application/x-protobuf", NULL};
static const char *TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";

static char *write_body(hf_env *e, const char *name, const void *data, size_t len)
{
    char *p = hf_file(e, name);
    assert_int_equal(tu_write_file(p, data, len), 0);
    return p;
}

/* trace-query --store STORE find --format jsonl: its output (malloc'd), number of lines. */
static char *find_jsonl(hf_env *e, int *lines)
{
    char *q = tu_bin("trace-query"), *out = NULL;
    char *argv[] = {q, "--store", e->store, "find", "--format", "jsonl", "--limit", "100000", NULL};
    assert_int_equal(tu_run(argv, NULL, &out, NULL, NULL), 0);
    *lines = 0;
    for (const char *p = out; (p = strchr(p, '\n')); p++)
        (*lines)++;
    free(q);
    return out;
}

static int count_of(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

AT_TEST(test_json_spans_are_stored_and_found_once_even_when_sent_twice)
{
    (void)state;
    hf_env *e = hf_start("otlp-json", NULL);
    char *body = hf_otlp_json(TRACE, 0, 4, 0, "ann@example.com", 0);
    char *file = write_body(e, "req.json", body, strlen(body));
    hf_reply r;
    for (int round = 0; round < 2; round++) {
        hf_request(e, &r, "POST", "/v1/traces", JSON, file);
        assert_int_equal(r.code, 200);
        char *ct = hf_header(&r, "Content-Type");
        assert_string_equal(ct, "application/json");
        assert_null(strstr(r.body, "rejectedSpans"));
        free(ct);
        hf_reply_free(&r);
    }
    int lines = 0;
    char *out = find_jsonl(e, &lines);
    assert_int_equal(lines, 4);
    assert_int_equal(count_of(out, "\"kind\":\"tool_call\""), 4);
    assert_int_equal(count_of(out, "\"name\":\"search\""), 4);
    assert_int_equal(count_of(out, "\"source\":\"otlp-http\""), 4);
    assert_int_equal(count_of(out, "\"dri\":\"ann@example.com\""), 4);
    assert_int_equal(count_of(out, TRACE), 4);
    hf_request(e, &r, "GET", "/metrics", NULL, NULL);
    assert_true(hf_metric(r.body, "agenttrail_events_duplicate_total") == 4);
    hf_reply_free(&r);
    TU_FREE(body, file, out);
    hf_stop(&e);
}

AT_TEST(test_protobuf_spans_are_stored_and_answered_in_protobuf)
{
    (void)state;
    hf_env *e = hf_start("otlp-proto", NULL);
    size_t len = 0;
    unsigned char *pb = hf_otlp_protobuf(TRACE, 50, 3, "bob@example.com", &len);
    char *file = write_body(e, "req.pb", pb, len);
    hf_reply r;
    hf_request(e, &r, "POST", "/v1/traces", PROTO, file);
    if (r.code != 200) fprintf(stderr, "answer %d: %.*s\n", r.code, (int)r.len, r.body);
    assert_int_equal(r.code, 200);
    char *ct = hf_header(&r, "Content-Type");
    assert_string_equal(ct, "application/x-protobuf");
    assert_int_equal(r.len, 0); /* an empty ExportTraceServiceResponse: all accepted */
    hf_reply_free(&r);
    int lines = 0;
    char *out = find_jsonl(e, &lines);
    assert_int_equal(lines, 3);
    assert_int_equal(count_of(out, "\"dri\":\"bob@example.com\""), 3);
    TU_FREE(pb, file, ct, out);
    hf_stop(&e);
}

AT_TEST(test_partial_success_counts_unstorable_spans_and_names_not_ai_ones)
{
    (void)state;
    hf_env *e = hf_start("otlp-partial", NULL);
    /* No DRI anywhere (no agenttrail.dri, no --owners): rejected, never dropped silently;
     * plus three plain HTTP spans: not AI work, not stored, not rejected. */
    char *body = hf_otlp_json(TRACE, 70, 2, 3, NULL, 0);
    char *file = write_body(e, "req.json", body, strlen(body));
    hf_reply r;
    hf_request(e, &r, "POST", "/v1/traces", JSON, file);
    assert_int_equal(r.code, 200);
    /* int64 in OTLP/JSON: a string or a number */
    assert_true(strstr(r.body, "\"rejectedSpans\":\"2\"") || strstr(r.body, "\"rejectedSpans\":2"));
    assert_non_null(strstr(r.body, "dri"));
    assert_non_null(strstr(r.body, "3 spans were not AI work and were not stored"));
    hf_reply_free(&r);
    assert_int_equal(pu_store_total(e->store), 0);
    hf_request(e, &r, "GET", "/metrics", NULL, NULL);
    assert_true(hf_metric(r.body, "agenttrail_otlp_span_results_total{result=\"rejected\"}") == 2);
    assert_true(hf_metric(r.body, "agenttrail_otlp_span_results_total{result=\"not_ai\"}") == 3);
    hf_reply_free(&r);
    TU_FREE(body, file);
    hf_stop(&e);
}

AT_TEST(test_full_store_answers_503_with_retry_after_and_healthz_says_why)
{
    (void)state;
    const char *args[] = {"--map-size-max", "2M", NULL};
    hf_env *e = hf_start("otlp-full", args);
    hf_reply r;
    int code = 200, i = 0;
    uint64_t before = 0;
    /* Poorly compressible spans until the map limit holds. */
    for (; i < 200 && code == 200; i++) {
        before = pu_store_total(e->store);
        char *body = hf_otlp_json(TRACE, 1000 + i * 64, 64, 0, "ann@example.com", 1500);
        char *file = write_body(e, "req.json", body, strlen(body));
        hf_request(e, &r, "POST", "/v1/traces", JSON, file);
        code = r.code;
        if (code == 503) {
            char *ra = hf_header(&r, "Retry-After");
            assert_non_null(ra);
            assert_true(strtol(ra, NULL, 10) > 0);
            free(ra);
            assert_non_null(strstr(r.body, "\"code\":14"));
        }
        hf_reply_free(&r);
        TU_FREE(body, file);
    }
    assert_int_equal(code, 503);
    /* Nothing of the refused request was acked nor stored. */
    assert_int_equal(pu_store_total(e->store), before);
    hf_request(e, &r, "GET", "/healthz", NULL, NULL);
    assert_int_equal(r.code, 503);
    assert_non_null(strstr(r.body, "store full"));
    assert_non_null(strchr(r.body, '\n'));
    hf_reply_free(&r);
    hf_request(e, &r, "GET", "/metrics", NULL, NULL);
    assert_true(hf_metric(r.body, "agenttrail_store_healthy") == 0);
    assert_true(hf_metric(r.body, "agenttrail_batches_total{status=\"retry\"}") >= 1);
    assert_true(hf_metric(r.body, "agenttrail_http_requests_total{code=\"503\"}") >= 1);
    hf_reply_free(&r);
    hf_stop(&e);
}

AT_TEST(test_hmac_key_is_created_0600_and_owners_errors_exit_2)
{
    (void)state;
    hf_env *e = hf_start("otlp-key", NULL);
    char *key = tu_path(e->store, "otlp-hmac.key");
    TU_ASSERT_MODE(key, 0600);
    size_t len = 0;
    char *k = tu_read_file(key, &len);
    assert_int_equal(len, 65);
    char *dir = tu_tempdir("otlp-owners"), *store = tu_path(dir, "store");
    char *col = tu_bin("trace-collector"), *missing = tu_path(dir, "no-such-owners"), *err = NULL;
    char ep[600];
    snprintf(ep, sizeof ep, "ipc://%s/c.sock", dir);
    char *argv[] = {col,           "--store",     store,      "--listen", ep,
                    "--otlp-http", "127.0.0.1:0", "--owners", missing,    NULL};
    assert_int_equal(tu_run(argv, NULL, NULL, NULL, &err), 2);
    assert_non_null(strstr(err, "no-such-owners"));
    char *argv2[] = {col, "--otlp-http", "127.0.0.1:99999", NULL};
    assert_int_equal(tu_run(argv2, NULL, NULL, NULL, NULL), 2);
    char *argv3[] = {col, "--owners", missing, NULL}; /* OTLP options without OTLP */
    assert_int_equal(tu_run(argv3, NULL, NULL, NULL, NULL), 2);
    TU_FREE(key, k, store, col, missing, err);
    tu_rmtree_free(dir);
    hf_stop(&e);
}

AT_TEST(test_request_resent_after_a_sigkill_mid_request_stores_every_span_once)
{
    (void)state;
    /* Small batches: a request is many commits, so the kill may fall between two. */
    const char *args[] = {"--max-batch-events", "200", NULL};
    hf_env *e = hf_start("otlp-kill", args);
    enum { SPANS = 4000 };
    char *half = hf_otlp_json(TRACE, 5000, SPANS / 2, 0, "ann@example.com", 200);
    char *body = hf_otlp_json(TRACE, 5000, SPANS, 0, "ann@example.com", 200);
    char *hfile = write_body(e, "half.json", half, strlen(half));
    char *file = write_body(e, "req.json", body, strlen(body));
    /* The first half stored already: the retry overlaps what is durable. */
    hf_reply r;
    hf_request(e, &r, "POST", "/v1/traces", JSON, hfile);
    assert_int_equal(r.code, 200);
    hf_reply_free(&r);
    /* A client in flight when the collector dies: it gets no answer, or not a 200. */
    char *out = hf_file(e, "curl.out");
    pid_t client = hf_post_json_async(e, file, out);
    pu_sleep_ms(40);
    assert_int_equal(hf_restart(e, SIGKILL), 128 + SIGKILL);
    pu_wait(client);
    char *code = tu_read_file(out, NULL);
    uint64_t after_kill = pu_store_total(e->store);
    fprintf(stderr, "killed mid-request: client saw \"%s\", %llu of %d spans stored\n",
            code ? code : "", (unsigned long long)after_kill, SPANS);
    /* The exporter's retry: the same request, to the restarted collector. */
    hf_request(e, &r, "POST", "/v1/traces", JSON, file);
    assert_int_equal(r.code, 200);
    hf_reply_free(&r);
    assert_int_equal(pu_store_total(e->store), SPANS);
    hf_request(e, &r, "POST", "/v1/traces", JSON, file);
    assert_int_equal(r.code, 200);
    hf_reply_free(&r);
    assert_int_equal(pu_store_total(e->store), SPANS);
    TU_FREE(half, hfile, body, file, out, code);
    hf_stop(&e);
}

/* Many requests at once, each on its own thread of the collector and its own DEALER: every
 * one answered 200, every span stored once. */
AT_TEST(test_concurrent_requests_are_all_stored)
{
    (void)state;
    hf_env *e = hf_start("otlp-many", NULL);
    enum { CLIENTS = 12, SPANS = 300 };
    pid_t pids[CLIENTS];
    char *files[CLIENTS], *outs[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        char *body = hf_otlp_json(TRACE, 20000 + i * SPANS, SPANS, 1, "ann@example.com", 64);
        char name[32];
        snprintf(name, sizeof name, "req-%d.json", i);
        files[i] = write_body(e, name, body, strlen(body));
        snprintf(name, sizeof name, "out-%d", i);
        outs[i] = hf_file(e, name);
        free(body);
    }
    for (int i = 0; i < CLIENTS; i++) {
        pids[i] = hf_post_json_async(e, files[i], outs[i]);
    }
    for (int i = 0; i < CLIENTS; i++) {
        assert_int_equal(pu_wait(pids[i]), 0);
        char *code = tu_read_file(outs[i], NULL);
        assert_string_equal(code, "200");
        TU_FREE(code, files[i], outs[i]);
    }
    assert_int_equal(pu_store_total(e->store), CLIENTS * SPANS);
    hf_stop(&e);
}
