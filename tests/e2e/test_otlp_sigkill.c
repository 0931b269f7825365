/*
 * test_otlp_sigkill.c - the real OpenTelemetry JS exporter (tests/otlp/js/flood.mjs, protobuf)
 * streams thousands of GenAI spans to trace-collector --otlp-http while the collector is
 * SIGKILLed mid-request (each commit waits 100 ms), twice, and restarted on the same port each
 * time. The exporter retries refused and reset requests with its own backoff; at the end every span
 * it made is stored exactly once (counted by span id over trace-query find --format jsonl), none
 * lost, none twice, and the exporter gave up on none. Skipped only when node is not installed.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "at_test.h"
#include "otlp_env.h"
#include "pipeline_util.h"
#include "testutil.h"

#define SPANS 3000
#define KILLS 2

/* Each group commit waits 100 ms for more: a request is almost always in flight, its spans
 * not yet durable, when the SIGKILL comes (the exporter sees a reset, not only refusals). */
static const char *const slow_commit[] = {"--group-ms", "100", NULL};

static int still_running(pid_t pid, int *status)
{
    int st;
    if (waitpid(pid, &st, WNOHANG) != pid) return 1;
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The span ids flood.mjs wrote, one a line, sorted; *n how many. */
static char **read_ids(const char *path, size_t *n)
{
    char *text = tu_read_file(path, NULL);
    assert_non_null(text);
    char **ids = calloc(SPANS + 1, sizeof *ids), *save = NULL;
    *n = 0;
    for (char *l = strtok_r(text, "\n", &save); l && *n <= SPANS; l = strtok_r(NULL, "\n", &save))
        ids[(*n)++] = strdup(l);
    free(text);
    qsort(ids, *n, sizeof *ids, cmp_str);
    return ids;
}

/* The environment (NULL without node: the test skips); teardown also ends a collector that a
 * failed assertion left running. */
static int setup(void **state)
{
    *state = oe_new("otlp-sigkill");
    return 0;
}

static int teardown(void **state)
{
    otlp_env *e = *state;
    oe_free(&e);
    return 0;
}

AT_TEST_F(test_exporter_retries_across_sigkill_every_span_once, setup, teardown)
{
    otlp_env *e = *state;
    if (!e) skip();
    oe_collector_start(e, slow_commit);
    char ids_path[600], out_path[600], err_path[600], spans[16];
    snprintf(ids_path, sizeof ids_path, "%s/ids", e->dir);
    snprintf(out_path, sizeof out_path, "%s/flood.out", e->dir);
    snprintf(err_path, sizeof err_path, "%s/flood.err", e->dir);
    snprintf(spans, sizeof spans, "%d", SPANS);
    char *argv[] = {e->node,     (char *)oe_script(e, "flood.mjs"),
                    e->endpoint, "--spans",
                    spans,       "--ids",
                    ids_path,    NULL};
    pid_t flood = pu_spawn(argv, out_path, err_path);
    int status = -1, kills = 0;
    uint64_t at_kill[KILLS] = {0};
    while (still_running(flood, &status)) {
        if (kills < KILLS) {
            /* Kill as soon as the exporter got spans through (again, after a restart): it is
             * mid-stream, and with a 100 ms commit mid-request. */
            uint64_t stored = pu_store_total(e->store);
            if (stored > (kills ? at_kill[kills - 1] : 0)) {
                oe_collector_kill(e);
                at_kill[kills++] = stored;
                pu_sleep_ms(300); /* the exporter sees refused connections meanwhile */
                oe_collector_start(e, slow_commit);
            }
        }
        pu_sleep_ms(20);
    }
    char *err = tu_read_file(err_path, NULL), *out = tu_read_file(out_path, NULL);
    if (status != 0) fail_msg("flood.mjs exited %d:\n%s%s", status, out, err);
    fprintf(stderr, "flood.mjs: %s", out);
    /* The exporter met the dead collector and retried (the SDK's diag log says so). */
    size_t retries = 0;
    for (const char *r = err; (r = strstr(r, "Scheduling export retry")) != NULL; r++)
        retries++;
    fprintf(stderr, "flood.mjs: %zu export retries\n", retries);
    if (retries == 0) fail_msg("flood.mjs never retried an export:\n%s", err);
    TU_FREE(out, err);
    assert_int_equal(kills, KILLS);
    for (int k = 0; k < KILLS; k++) {
        fprintf(stderr, "kill %d: %llu spans stored before it\n", k + 1,
                (unsigned long long)at_kill[k]);
        assert_true(at_kill[k] < SPANS);
    }
    oe_collector_stop(e);

    size_t n = 0;
    char **ids = read_ids(ids_path, &n);
    assert_int_equal(n, SPANS);
    json_t *events = oe_find(e);
    assert_int_equal(json_array_size(events), SPANS);
    size_t *seen = calloc(n, sizeof *seen), i;
    const json_t *ev;
    json_array_foreach(events, i, ev)
    {
        const char *sid = oe_str(ev, "span_id");
        assert_non_null(sid);
        char **hit = bsearch(&sid, ids, n, sizeof *ids, cmp_str);
        if (!hit) fail_msg("stored span %s was not sent", sid);
        seen[hit - ids]++;
    }
    for (size_t k = 0; k < n; k++)
        if (seen[k] != 1) fail_msg("span %s stored %zu times, want once", ids[k], seen[k]);
    for (size_t k = 0; k < n; k++)
        free(ids[k]);
    TU_FREE(ids, seen);
    json_decref(events);
}
