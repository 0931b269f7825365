/*
 * test_secure_pipeline.c - security end to end with the real programs:
 * trace-collector with CURVE and an allowlist, trace-shim with its keys, raw
 * CURVE DEALER clients, a real store and a compliance bundle.
 *
 * Proves: fake secrets of every masking rule, sent through trace-shim and
 * (unmasked) straight over the wire, are found nowhere in the decompressed
 * stored bytes nor in any file of an exported bundle; every stored event
 * names its authenticated source; a refused shim exits 3 after its timeout
 * while the collector keeps serving; garbage from an authenticated client
 * never stops the collector; SIGHUP revokes a connected shim; the collector
 * refuses unsafe configurations; a secret in an indexed field (service) is
 * refused by trace-shim and by the collector, naming the field and the rule.
 * The environment (keys, collector, clients) is secure_env.c.
 *
 * Owns: a temp directory per test (keys, allowlist, store, bundle), the
 * collector process it starts (stopped with SIGTERM by pid).
 * Threading: single-threaded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include <cmocka.h>

#include "at_test.h"
#include "canary.h"
#include "checkpoint.h"
#include "pipeline_util.h"
#include "secure_env.h"
#include "testutil.h"
#include "traceproto.h"
#include "tracestore.h"

/* Export needs a signed checkpoint: the collector's key and checkpoint when
 * it made them, else a key and a checkpoint of the log as it stands. */
static void sign_checkpoint_if_none(env *e)
{
    char kp[600];
    at_error ebuf = {0};
    snprintf(kp, sizeof kp, "%s/checkpoint.key", P(e, P_STORE));
    cp_key *k = NULL;
    if (access(kp, R_OK) == 0) {
        assert_int_equal(cp_key_load_private(kp, &k, &ebuf), 0);
    } else {
        assert_int_equal(cp_key_generate(&k), 0);
        assert_int_equal(cp_key_save_private(k, kp, &ebuf), 0);
    }
    ts_store *s = NULL;
    assert_int_equal(ts_open(P(e, P_STORE), 0, NULL, &s, &ebuf), 0);
    uint64_t count = 0, size = 0;
    assert_int_equal(ts_checkpoint_count(s, &count), 0);
    if (count == 0) {
        cp_checkpoint c;
        memset(&c, 0, sizeof c);
        assert_int_equal(ts_log_origin(s, c.origin, sizeof c.origin), 0);
        assert_int_equal(ts_log_size(s, &size), 0);
        c.size = size;
        assert_int_equal(ts_log_root(s, size, c.root), 0);
        c.time_unix_nano = tp_now_unix_nano();
        char *note = NULL;
        size_t len = 0;
        assert_int_equal(cp_checkpoint_sign(&c, k, &note, &len), 0);
        assert_int_equal(ts_checkpoint_add(s, note, len), 0);
        free(note);
    }
    ts_close(&s);
    cp_key_destroy(&k);
}

AT_TEST_F(test_canary_secrets_reach_neither_the_store_nor_a_bundle, setup, teardown)
{
    env *e = *state;
    char *err = NULL;
    assert_int_equal(run(&err, "trace-shim", "keygen", "--hmac", "-o", P(e, P_HMAC), (char *)NULL),
                     0);
    free(err);
    start_collector(e, NULL);

    /* Through trace-shim (masked in the shim, again in the collector). */
    int lines = write_canary_events(P(e, P_EVENTS), "canary");
    FILE *f = fopen(P(e, P_EVENTS), "a");
    fprintf(f, "{\"kind\":\"prompt\",\"workflow\":\"canary\",\"dri\":\"sec@example.com\","
               "\"model\":{\"provider\":\"p\",\"name\":\"m\"},\"prompt\":{\"text\":\"deploy with "
               "AKIAQ7CANARY2AWS5KEY now\"}}\n");
    fclose(f);
    lines++;
    int rc = shim_send(e, P_A, "20", &err);
    if (rc != 0) fail_msg("trace-shim exited %d: %s", rc, err);
    free(err);

    /* Straight over the wire, unmasked: only the collector masks these. */
    int raw_lines = write_canary_events(P(e, P_EVENTS), "canary-raw");
    char *raw = tu_read_file(P(e, P_EVENTS), NULL);
    void *ctx = zmq_ctx_new();
    void *d = curve_dealer(ctx, e, P_A, endpoint(e));
    send_raw_batch(d, raw, 1);
    free(raw);
    tp_ack *ack = recv_ack(d, 10000);
    assert_non_null(ack);
    assert_int_equal(ack->status, AGENTTRAIL__V1__ACK_STATUS__ACK_OK);
    assert_int_equal(ack->accepted, (unsigned)raw_lines);
    tp_ack_destroy(&ack);
    zmq_close(d);
    zmq_ctx_term(ctx);
    stop_collector(e);

    /* Every stored event, decompressed, as stored bytes and as JSON. */
    ts_store *s = NULL;
    at_error ebuf = {0};
    assert_int_equal(ts_open(P(e, P_STORE), TS_OPEN_RDONLY, NULL, &s, &ebuf), 0);
    ts_filter all;
    memset(&all, 0, sizeof all);
    ts_iter *it = NULL;
    assert_int_equal(ts_query(s, &all, NULL, &it), 0);
    tp_event *ev = NULL;
    int events = 0, hits = 0, redacted = 0;
    while (ts_iter_next(it, &ev) == 0) {
        events++;
        assert_non_null(ev->stored);
        assert_string_equal(ev->stored->source, "shim-a");
        if (ev->has_redactions && ev->redactions > 0) redacted++;
        uint8_t *bytes = NULL;
        size_t blen = 0;
        assert_int_equal(ts_get_stored_bytes(s, ev->stored->log_index, &bytes, &blen), 0);
        hits += scan(bytes, blen, "stored bytes");
        free(bytes);
        size_t jlen = 0;
        char *json = tp_event_to_json(ev, &jlen);
        hits += scan(json, jlen, "stored event JSON");
        free(json);
        tp_event_destroy(&ev);
    }
    ts_iter_destroy(&it);
    assert_int_equal(events, lines + raw_lines);
    assert_int_equal(redacted, events); /* each event carried a secret */

    ts_close(&s);
    sign_checkpoint_if_none(e);
    rc = run(&err, "trace-query", "--store", P(e, P_STORE), "export", "--source", "shim-a", "-o",
             P(e, P_BUNDLE), (char *)NULL);
    if (rc != 0) fail_msg("export exited %d: %s", rc, err);
    free(err);
    char xdir[600];
    snprintf(xdir, sizeof xdir, "%s/bundle", e->dir);
    assert_int_equal(mkdir(xdir, 0700), 0);
    char *tar_argv[] = {"/bin/tar", "-xf", e->path[P_BUNDLE], "-C", xdir, NULL};
    assert_int_equal(tu_run(tar_argv, NULL, NULL, NULL, NULL), 0);
    char *ls_argv[] = {"/usr/bin/find", xdir, "-type", "f", NULL};
    char *files = NULL;
    assert_int_equal(tu_run(ls_argv, NULL, &files, NULL, NULL), 0);
    int nfiles = 0;
    for (char *line = strtok(files, "\n"); line; line = strtok(NULL, "\n")) {
        size_t flen = 0;
        char *content = tu_read_file(line, &flen);
        assert_non_null(content);
        hits += scan(content, flen, line);
        free(content);
        nfiles++;
    }
    free(files);
    fprintf(stderr, "# %d stored events and %d bundle files scanned\n", events, nfiles);
    assert_true(nfiles >= 3);
    assert_int_equal(hits, 0);

    /* Sources are queryable. */
    char *out = NULL;
    char *q_argv[] = {bin("trace-query"), "--store", e->path[P_STORE], "stats", "--by",
                      "source",           NULL};
    assert_int_equal(tu_run(q_argv, NULL, &out, NULL, NULL), 0);
    assert_non_null(strstr(out, "shim-a"));
    free(out);
    free(q_argv[0]);

    /* The prompt is found by its text (the HMAC is of the text before masking). */
    char pf[600];
    snprintf(pf, sizeof pf, "%s/prompt.txt", e->dir);
    const char *ptext = "deploy with AKIAQ7CANARY2AWS5KEY now\n";
    assert_int_equal(tu_write_file(pf, ptext, strlen(ptext)), 0);
    char *f_argv[] = {bin("trace-query"),
                      "--store",
                      e->path[P_STORE],
                      "find",
                      "--prompt-file",
                      pf,
                      "--hmac-key-file",
                      e->path[P_HMAC],
                      "--format",
                      "jsonl",
                      NULL};
    assert_int_equal(tu_run(f_argv, NULL, &out, NULL, NULL), 0);
    int found = 0;
    for (char *q = out; (q = strstr(q, "\"kind\":\"prompt\"")) != NULL; q++)
        found++;
    assert_int_equal(found, 1);
    assert_non_null(strstr(out, "[REDACTED:aws_access_key]"));
    free(out);
    assert_int_equal(tu_write_file(pf, "deploy later\n", 13), 0);
    assert_int_equal(tu_run(f_argv, NULL, &out, NULL, NULL), 0);
    assert_null(strstr(out, "\"kind\""));
    free(out);
    free(f_argv[0]);
}

AT_TEST_F(test_refused_shims_exit_3_while_the_collector_keeps_serving, setup, teardown)
{
    env *e = *state;
    start_collector(e, NULL);
    FILE *f = fopen(P(e, P_EVENTS), "w");
    fprintf(f, "{\"kind\":\"note\",\"workflow\":\"w\",\"dri\":\"d@example.com\",\"note\":\"n\"}\n");
    fclose(f);
    char *err = NULL;
    /* shim-b: a valid key the allowlist does not name. */
    char spub[600], bkey[600];
    snprintf(spub, sizeof spub, "%s.pub", P(e, P_SERVER));
    snprintf(bkey, sizeof bkey, "%s.key", P(e, P_B));
    int rc = run(&err, "trace-shim", "--endpoint", endpoint(e), "--spool-dir", P(e, P_SPOOL),
                 "--timeout", "2", "--server-key", spub, "--client-key", bkey, P(e, P_EVENTS),
                 (char *)NULL);
    if (rc != 3) fail_msg("unlisted shim: exit %d, wanted 3: %s", rc, err);
    if (!strstr(err, "the collector refused this shim's key (not on its allowlist?)"))
        fail_msg("unlisted shim: the refusal is not named: %s", err);
    free(err);
    /* No CURVE at all: the handshake fails, and the shim says so rather than asking whether a
     * collector runs. */
    char spool2[600];
    snprintf(spool2, sizeof spool2, "%s/spool2", e->dir);
    rc = run(&err, "trace-shim", "--endpoint", endpoint(e), "--spool-dir", spool2, "--timeout", "2",
             P(e, P_EVENTS), (char *)NULL);
    if (rc != 3) fail_msg("plain shim: exit %d, wanted 3: %s", rc, err);
    if (!strstr(err, "the CURVE handshake failed") || strstr(err, "is trace-collector running?"))
        fail_msg("plain shim: the failed handshake is not named: %s", err);
    free(err);
    /* An allowed client key with the wrong server key: the same. */
    char spool4[600], wrong[600];
    snprintf(spool4, sizeof spool4, "%s/spool4", e->dir);
    snprintf(wrong, sizeof wrong, "%s.pub", P(e, P_B));
    rc = run(&err, "trace-shim", "--endpoint", endpoint(e), "--spool-dir", spool4, "--timeout", "2",
             "--server-key", wrong, "--client-key", bkey, P(e, P_EVENTS), (char *)NULL);
    if (rc != 3) fail_msg("wrong server key: exit %d, wanted 3: %s", rc, err);
    if (!strstr(err, "the CURVE handshake failed"))
        fail_msg("wrong server key: the failed handshake is not named: %s", err);
    free(err);
    assert_true(collector_alive(e));
    /* The allowed shim gets in (and its own spool is fresh). */
    char spool3[600], akey[600];
    snprintf(spool3, sizeof spool3, "%s/spool3", e->dir);
    snprintf(akey, sizeof akey, "%s.key", P(e, P_A));
    rc = run(&err, "trace-shim", "--endpoint", endpoint(e), "--spool-dir", spool3, "--timeout",
             "10", "--server-key", spub, "--client-key", akey, P(e, P_EVENTS), (char *)NULL);
    if (rc != 0) fail_msg("allowed shim: exit %d: %s", rc, err);
    free(err);
    stop_collector(e);
    /* Refusals are logged with the peer, never with key material. */
    char *log = tu_read_file(P(e, P_LOG), NULL);
    assert_non_null(log);
    assert_non_null(strstr(log, "refused"));
    char bpub[41], bsec[41], ssec[41];
    key_text(P(e, P_B), "pub", bpub);
    key_text(P(e, P_B), "key", bsec);
    key_text(P(e, P_SERVER), "key", ssec);
    assert_null(strstr(log, bpub));
    assert_null(strstr(log, bsec));
    assert_null(strstr(log, ssec));
    free(log);
}

AT_TEST_F(test_garbage_from_an_authenticated_client_never_stops_the_collector, setup, teardown)
{
    env *e = *state;
    const char *small[] = {"--max-batch-bytes", "64K", "--max-event-bytes", "8K", NULL};
    start_collector(e, small);
    void *ctx = zmq_ctx_new();
    void *d = curve_dealer(ctx, e, P_A, endpoint(e));
    /* Malformed frames: each gets a REJECTED ack. */
    static const char *const junk[] = {"", "ATB", "ATB\x07garbage", "not a batch at all"};
    for (size_t k = 0; k < sizeof junk / sizeof *junk; k++) {
        assert_true(zmq_send(d, junk[k], strlen(junk[k]), 0) >= 0);
        tp_ack *ack = recv_ack(d, 5000);
        if (!ack) fail_msg("no ack for junk %zu", k);
        assert_int_equal(ack->status, AGENTTRAIL__V1__ACK_STATUS__ACK_REJECTED);
        tp_ack_destroy(&ack);
    }
    /* A valid frame holding undecodable events: rejected per event. */
    const uint8_t *bad[] = {(const uint8_t *)"\xff\xff\xff"};
    size_t bad_len[] = {3};
    uint8_t *frame;
    size_t flen;
    assert_int_equal(tp_batch_encode("junk", 7, bad, bad_len, 1, &frame, &flen), 0);
    assert_int_equal(zmq_send(d, frame, flen, 0), (int)flen);
    free(frame);
    tp_ack *ack = recv_ack(d, 5000);
    assert_non_null(ack);
    assert_int_equal(ack->accepted, 0);
    assert_int_equal(ack->n_rejected, 1);
    tp_ack_destroy(&ack);
    /* Oversized frames: over --max-batch-bytes (REJECTED) and far over it
     * (the connection is dropped by ZeroMQ). */
    size_t big = 200 << 10;
    char *huge = calloc(1, 4 << 20);
    memcpy(huge, "ATB\x01", 4);
    assert_true(zmq_send(d, huge, big, 0) >= 0);
    ack = recv_ack(d, 5000);
    if (ack) {
        assert_int_equal(ack->status, AGENTTRAIL__V1__ACK_STATUS__ACK_REJECTED);
        tp_ack_destroy(&ack);
    }
    assert_true(zmq_send(d, huge, 4 << 20, 0) >= 0);
    free(huge);
    pu_sleep_ms(300);
    assert_true(collector_alive(e));
    zmq_close(d);
    /* Still serving: a fresh connection gets a valid batch stored. */
    void *d2 = curve_dealer(ctx, e, P_A, endpoint(e));
    /* An event that masking pushes over --max-event-bytes is refused alone. */
    char *grow = malloc(8192);
    size_t o = (size_t)snprintf(grow, 8192,
                                "{\"kind\":\"note\",\"workflow\":\"w\",\"dri\":\"d@example.com\","
                                "\"note\":\"");
    for (int k = 0; k < 300; k++)
        o += (size_t)snprintf(grow + o, 8192 - o, "a://:p@h ");
    snprintf(grow + o, 8192 - o, "\"}");
    send_raw_batch(d2, grow, 9);
    free(grow);
    ack = recv_ack(d2, 10000);
    assert_non_null(ack);
    assert_int_equal(ack->status, AGENTTRAIL__V1__ACK_STATUS__ACK_OK);
    assert_int_equal(ack->accepted, 0);
    assert_int_equal(ack->n_rejected, 1);
    assert_non_null(strstr(ack->rejected[0]->reason, "once its 300 secret(s) are masked"));
    tp_ack_destroy(&ack);
    send_raw_batch(
        d2, "{\"kind\":\"note\",\"workflow\":\"w\",\"dri\":\"d@example.com\",\"note\":\"ok\"}", 8);
    ack = recv_ack(d2, 10000);
    assert_non_null(ack);
    assert_int_equal(ack->status, AGENTTRAIL__V1__ACK_STATUS__ACK_OK);
    assert_int_equal(ack->accepted, 1);
    tp_ack_destroy(&ack);
    zmq_close(d2);
    zmq_ctx_term(ctx);
    stop_collector(e);
}

AT_TEST_F(test_sighup_reload_revokes_a_connected_shim, setup, teardown)
{
    env *e = *state;
    start_collector(e, NULL);
    void *ctx = zmq_ctx_new();
    void *a = curve_dealer(ctx, e, P_A, endpoint(e));
    const char *line =
        "{\"kind\":\"note\",\"workflow\":\"w\",\"dri\":\"d@example.com\",\"note\":\"x\"}";
    send_raw_batch(a, line, 1);
    tp_ack *ack = recv_ack(a, 10000);
    assert_non_null(ack);
    assert_int_equal(ack->status, AGENTTRAIL__V1__ACK_STATUS__ACK_OK);
    tp_ack_destroy(&ack);
    allow_only(e, P_B, "shim-b");
    assert_int_equal(kill(e->collector, SIGHUP), 0);
    assert_true(pu_wait_for_text(P(e, P_LOG), "allowlist reloaded", 5000));
    send_raw_batch(a, line, 2);
    ack = recv_ack(a, 10000);
    assert_non_null(ack);
    assert_int_equal(ack->status, AGENTTRAIL__V1__ACK_STATUS__ACK_REJECTED);
    assert_non_null(strstr(ack->reason, "no longer in the allowlist"));
    tp_ack_destroy(&ack);
    void *b = curve_dealer(ctx, e, P_B, endpoint(e));
    send_raw_batch(b, line, 1);
    ack = recv_ack(b, 10000);
    assert_non_null(ack);
    assert_int_equal(ack->status, AGENTTRAIL__V1__ACK_STATUS__ACK_OK);
    tp_ack_destroy(&ack);
    zmq_close(a);
    zmq_close(b);
    zmq_ctx_term(ctx);
    stop_collector(e);
}

AT_TEST_F(test_collector_refuses_unsafe_configurations, setup, teardown)
{
    env *e = *state;
    char *err = NULL;
    /* Non-loopback without CURVE. */
    int rc = run(&err, "trace-collector", "--store", P(e, P_STORE), "--listen", "tcp://0.0.0.0:0",
                 (char *)NULL);
    assert_int_equal(rc, 3);
    assert_non_null(strstr(err, "--insecure"));
    free(err);
    /* Half a CURVE configuration. */
    char key[600];
    snprintf(key, sizeof key, "%s.key", P(e, P_SERVER));
    rc =
        run(&err, "trace-collector", "--store", P(e, P_STORE), "--curve-secret", key, (char *)NULL);
    assert_int_equal(rc, 2);
    free(err);
    /* An allowlist that cannot be read: no fallback to open access. */
    char missing[600];
    snprintf(missing, sizeof missing, "%s/missing.txt", e->dir);
    rc = run(&err, "trace-collector", "--store", P(e, P_STORE), "--listen", endpoint(e),
             "--curve-secret", key, "--allow", missing, (char *)NULL);
    assert_int_equal(rc, 3);
    assert_non_null(strstr(err, "refusing to start"));
    free(err);
    /* A secret key others can read. */
    assert_int_equal(chmod(key, 0644), 0);
    rc = run(&err, "trace-collector", "--store", P(e, P_STORE), "--listen", endpoint(e),
             "--curve-secret", key, "--allow", P(e, P_ALLOW), (char *)NULL);
    assert_int_equal(rc, 3);
    assert_non_null(strstr(err, "chmod 600"));
    free(err);
    /* keygen never overwrites. */
    rc = run(&err, "trace-collector", "keygen", "--curve", "-o", P(e, P_SERVER), (char *)NULL);
    assert_int_equal(rc, 3);
    assert_non_null(strstr(err, "already exists"));
    free(err);
    /* Loopback without CURVE starts and says so. */
    e->collector = pu_collector_start(P(e, P_STORE), endpoint(e), P(e, P_LOG), NULL);
    assert_true(pu_wait_for_text(P(e, P_LOG), "loopback only", 5000));
    stop_collector(e);
}

/* A secret in a field that is indexed and stored exactly (service) is
 * refused, not masked: by trace-shim (--dry-run and sending) and by the
 * collector, in the ack, with the field and the rule named. */
AT_TEST_F(test_a_secret_in_an_indexed_field_is_refused_everywhere, setup, teardown)
{
    env *e = *state;
    static const char *const why = "service: holds what looks like a secret (github_token); "
                                   "refused: this field is indexed and stored exactly";
    const char *bad = "{\"kind\":\"note\",\"workflow\":\"w\",\"dri\":\"d@example.com\","
                      "\"service\":\"ghp_CanaryServiceToken0123456789abcdefXY\",\"note\":\"n\"}";
    const char *good =
        "{\"kind\":\"note\",\"workflow\":\"w\",\"dri\":\"d@example.com\",\"note\":\"ok\"}";
    char lines[1024];
    snprintf(lines, sizeof lines, "%s\n%s\n", bad, good);
    assert_int_equal(tu_write_file(P(e, P_EVENTS), lines, strlen(lines)), 0);
    char *err = NULL;
    int rc = run(&err, "trace-shim", "--dry-run", P(e, P_EVENTS), (char *)NULL);
    if (rc != 1 || !strstr(err, ":1: ") || !strstr(err, why))
        fail_msg("trace-shim --dry-run: exit %d: %s", rc, err);
    free(err);

    assert_int_equal(run(&err, "trace-shim", "keygen", "--hmac", "-o", P(e, P_HMAC), (char *)NULL),
                     0);
    free(err);
    start_collector(e, NULL);
    rc = shim_send(e, P_A, "10", &err);
    if (!strstr(err, why)) fail_msg("trace-shim: exit %d without the refusal: %s", rc, err);
    free(err);
    void *ctx = zmq_ctx_new();
    void *d = curve_dealer(ctx, e, P_A, endpoint(e));
    send_raw_batch(d, lines, 21);
    tp_ack *ack = recv_ack(d, 10000);
    assert_non_null(ack);
    assert_int_equal(ack->status, AGENTTRAIL__V1__ACK_STATUS__ACK_OK);
    assert_int_equal(ack->accepted, 1);
    assert_int_equal(ack->n_rejected, 1);
    assert_int_equal(ack->rejected[0]->index, 0);
    assert_string_equal(ack->rejected[0]->reason, why);
    tp_ack_destroy(&ack);
    zmq_close(d);
    zmq_ctx_term(ctx);
    stop_collector(e);
    /* Only the good line is stored, twice (shim and raw), and the token nowhere. */
    char *q_argv[] = {
        bin("trace-query"), "--store", e->path[P_STORE], "find", "--format", "jsonl", NULL};
    char *out = NULL;
    assert_int_equal(tu_run(q_argv, NULL, &out, NULL, NULL), 0);
    assert_null(strstr(out, "CanaryServiceToken"));
    int found = 0;
    for (char *q = out; (q = strstr(q, "\"kind\":\"note\"")) != NULL; q++)
        found++;
    assert_int_equal(found, 2);
    free(out);
    free(q_argv[0]);
}
