/*
 * test_query_link.c - `trace-query link` through a real trace-collector on an ipc socket:
 * linked traces enter the incident (find and stats --incident), a workflow window resolves
 * to its traces, linking twice is harmless, and every error (no collector, unknown trace,
 * bad usage) is clear and links nothing. A link is meant for the store it was resolved in:
 * a second store B with its own collector refuses a link resolved in A (naming both logs) and
 * stores nothing; a collector on a copy of A (same log origin) acks, and link still fails
 * because the event never shows up in A; --dry-run lists what it would link and sends nothing.
 *
 * Expected sets come from the input file parsed with jansson.
 * Ownership: the collectors are started per test group and stopped with SIGTERM at teardown;
 * the stores and socket directory are removed. Threading: single-threaded.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "at_test.h"
#include "query_fixture.h"
#include "testutil.h"
#include "tracestore.h"

#define T1 "012e39dda9b29f048a68039110163fb8"
#define T2 "168acc2ae165d408ccdba25d9323a44e"

static char *store, *sockdir;
static char endpoint[4200], logpath[4200];
static pid_t collector = -1;
static json_t *swe;
/* Store B (another log) with its own collector, and its log origin and A's. */
static char *store_b;
static char endpoint_b[4200], logpath_b[4200];
static pid_t collector_b = -1;
static char origin_a[256], origin_b[256];

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static pid_t start_collector(const char *dir, const char *ep, const char *log_at)
{
    char *bin = tu_bin("trace-collector");
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(log_at, O_WRONLY | O_CREAT | O_APPEND, 0600);
        int nul = open("/dev/null", O_RDWR);
        if (fd < 0 || nul < 0) _exit(126);
        dup2(nul, 0);
        dup2(nul, 1);
        dup2(fd, 2);
        execl(bin, bin, "--store", dir, "--listen", ep, (char *)NULL);
        _exit(127);
    }
    free(bin);
    /* Ready when it says so in its log (up to 10 s). */
    for (int i = 0; i < 1000; i++) {
        char *log = tu_read_file(log_at, NULL);
        int ready = log && strstr(log, "ready");
        free(log);
        if (ready) return pid;
        if (waitpid(pid, NULL, WNOHANG) == pid) break;
        sleep_ms(10);
    }
    char *log = tu_read_file(log_at, NULL);
    fprintf(stderr, "trace-collector did not start: %s\n", log ? log : "(no log)");
    free(log);
    fail();
    return -1;
}

static const char *str_at(json_t *o, const char *a)
{
    json_t *v = json_object_get(o, a);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Input events of the given traces. */
static size_t count_trace_events(const char *const *traces, size_t n)
{
    size_t count = 0, i;
    json_t *ev;
    json_array_foreach(swe, i, ev)
    {
        for (size_t k = 0; k < n; k++)
            if (strcmp(str_at(ev, "trace_id"), traces[k]) == 0) count++;
    }
    return count;
}

/* Runs find --incident; returns the number of lines and checks each event appears once;
 * counts the incident_link events in *links. */
static size_t find_incident_in(const char *dir, const char *incident, size_t *links)
{
    char *out = NULL;
    int rc = qf_query(&out, NULL, "--store", dir, "find", "--incident", incident, "--format",
                      "jsonl", NULL);
    assert_int_equal(rc, 0);
    size_t n = 0;
    char **lines = qf_lines(out, &n);
    json_t *seen = json_object();
    *links = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_loads(lines[i], 0, NULL);
        assert_non_null(o);
        const char *id = str_at(o, "event_id");
        assert_null(json_object_get(seen, id));
        json_object_set_new(seen, id, json_true());
        if (strcmp(str_at(o, "kind"), "incident_link") == 0) (*links)++;
        json_decref(o);
    }
    json_decref(seen);
    free(lines);
    free(out);
    return n;
}

static size_t find_incident(const char *incident, size_t *links)
{
    return find_incident_in(store, incident, links);
}

AT_TEST(test_link_puts_the_traces_under_the_incident)
{
    (void)state;
    char *out = NULL, *err = NULL;
    int rc = qf_query(&out, &err, "--store", store, "link", "--incident", "INC-1", "--trace", T1,
                      "--trace", T2, "--reason", "bad fix shipped", "--by", "alice@example.com",
                      "--collector", endpoint, NULL);
    if (rc != 0) fprintf(stderr, "link: %s\n", err);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "linked 2 traces to INC-1"));
    free(out);
    free(err);

    const char *traces[] = {T1, T2};
    size_t want = count_trace_events(traces, 2);
    assert_int_equal(want, 14);
    size_t links = 0;
    assert_int_equal(find_incident("INC-1", &links), want + 1);
    assert_int_equal(links, 1);

    /* The link event says who, why and which traces. */
    rc = qf_query(&out, NULL, "--store", store, "find", "--incident", "INC-1", "--kind",
                  "incident_link", "--format", "jsonl", NULL);
    assert_int_equal(rc, 0);
    json_t *o = json_loads(out, 0, NULL);
    assert_non_null(o);
    assert_string_equal(str_at(o, "actor"), "alice@example.com");
    assert_string_equal(str_at(o, "dri"), "alice@example.com");
    assert_string_equal(str_at(o, "incident"), "INC-1");
    json_t *l = json_object_get(o, "link");
    assert_string_equal(str_at(l, "reason"), "bad fix shipped");
    json_t *ids = json_object_get(l, "trace_ids");
    assert_int_equal(json_array_size(ids), 2);
    assert_string_equal(json_string_value(json_array_get(ids, 0)), T1);
    assert_string_equal(json_string_value(json_array_get(ids, 1)), T2);
    /* It names the log it was resolved in, kept as audit information. */
    json_t *attrs = json_object_get(o, "attributes");
    assert_non_null(attrs);
    assert_string_equal(str_at(attrs, "agenttrail.expect_log"), origin_a);
    json_decref(o);
    free(out);

    /* stats --incident counts the same events: the traces' in their workflow's row, the
     * link event in the row of links, whose traces are the two it links. */
    rc = qf_query(&out, NULL, "--store", store, "stats", "--incident", "INC-1", "--format", "jsonl",
                  NULL);
    assert_int_equal(rc, 0);
    size_t nl = 0;
    char **lines = qf_lines(out, &nl);
    assert_true(nl >= 2);
    json_int_t events = 0, group_traces = 0;
    for (size_t i = 0; i < nl; i++) {
        o = json_loads(lines[i], 0, NULL);
        assert_non_null(o);
        int is_links = strcmp(str_at(o, "row"), "incident_links") == 0;
        assert_int_equal(is_links, i == nl - 1);
        json_int_t ntr = json_integer_value(json_object_get(o, "traces"));
        if (is_links) {
            assert_int_equal(json_integer_value(json_object_get(o, "events")), 1);
            assert_int_equal(ntr, 2);
        } else {
            group_traces += ntr;
        }
        events += json_integer_value(json_object_get(o, "events"));
        json_decref(o);
    }
    assert_int_equal(group_traces, 2); /* not the link event's own trace */
    assert_int_equal(events, (json_int_t)want + 1);
    free(lines);
    free(out);
}

AT_TEST(test_linking_twice_is_harmless)
{
    (void)state;
    for (int i = 0; i < 2; i++) {
        int rc =
            qf_query(NULL, NULL, "--store", store, "link", "--incident", "INC-2", "--trace", T1,
                     "--reason", "again", "--by", "bob@example.com", "--collector", endpoint, NULL);
        assert_int_equal(rc, 0);
    }
    const char *traces[] = {T1};
    size_t links = 0;
    /* Each event of the trace once, plus the two link events. */
    assert_int_equal(find_incident("INC-2", &links), count_trace_events(traces, 1) + 2);
    assert_int_equal(links, 2);
}

AT_TEST(test_link_resolves_a_workflow_window_to_its_traces)
{
    (void)state;
    /* swe-agent-test-repo holds two traces (T2 then T1), in May 2024. */
    char *out = NULL, *err = NULL;
    int rc = qf_query(&out, &err, "--store", store, "link", "--incident", "INC-3", "--workflow",
                      "swe-agent-test-repo", "--since", "2024-05-01T00:00:00Z", "--until",
                      "2024-05-02T00:00:00Z", "--reason", "window", "--by", "carol@example.com",
                      "--collector", endpoint, NULL);
    if (rc != 0) fprintf(stderr, "link: %s\n", err);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "linked 2 traces to INC-3"));
    assert_non_null(strstr(out, T1));
    assert_non_null(strstr(out, T2));
    free(out);
    free(err);
    const char *traces[] = {T1, T2};
    size_t links = 0;
    assert_int_equal(find_incident("INC-3", &links), count_trace_events(traces, 2) + 1);
    assert_int_equal(links, 1);
}

AT_TEST(test_link_without_a_collector_says_so_and_links_nothing)
{
    (void)state;
    char other[4300], *err = NULL;
    snprintf(other, sizeof other, "ipc://%s/nobody.sock", sockdir);
    int rc = qf_query(NULL, &err, "--store", store, "link", "--incident", "INC-4", "--trace", T1,
                      "--reason", "x", "--by", "dave@example.com", "--collector", other,
                      "--timeout", "1", NULL);
    assert_int_equal(rc, 3);
    assert_non_null(strstr(err, "no collector answered at"));
    assert_non_null(strstr(err, "start trace-collector --store"));
    free(err);
    size_t links = 0;
    assert_int_equal(find_incident("INC-4", &links), 0);
}

AT_TEST(test_link_errors_are_clear_and_link_nothing)
{
    (void)state;
    struct {
        int code;
        const char *needle;
        const char *args[12];
    } cases[] = {
        {2, "which incident?", {"--trace", T1, "--reason", "r"}},
        {2, "why? pass --reason", {"--incident", "INC-5", "--trace", T1}},
        {2, "what to link?", {"--incident", "INC-5", "--reason", "r"}},
        {2, "not both", {"--incident", "INC-5", "--reason", "r", "--trace", T1, "--workflow", "w"}},
        {2, "needs a window", {"--incident", "INC-5", "--reason", "r", "--workflow", "w"}},
        {2, "--trace 'zz'", {"--incident", "INC-5", "--reason", "r", "--trace", "zz"}},
        {3,
         "no trace 00000000000000000000000000000009",
         {"--incident", "INC-5", "--reason", "r", "--trace", "00000000000000000000000000000009"}},
        {3,
         "no events of workflow nope",
         {"--incident", "INC-5", "--reason", "r", "--workflow", "nope", "--since", "7d", "--until",
          "now"}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *argv[32];
        int n = 0;
        argv[n++] = tu_bin("trace-query");
        argv[n++] = "--store";
        argv[n++] = store;
        argv[n++] = "link";
        for (int k = 0; k < 12 && cases[i].args[k]; k++)
            argv[n++] = (char *)cases[i].args[k];
        argv[n++] = "--by";
        argv[n++] = "erin@example.com";
        argv[n++] = "--collector";
        argv[n++] = endpoint;
        argv[n] = NULL;
        char *err = NULL;
        int rc = tu_run(argv, NULL, NULL, NULL, &err);
        if (rc != cases[i].code || !strstr(err, cases[i].needle))
            fprintf(stderr, "case %zu: want %d \"%s\", got %d: %s\n", i, cases[i].code,
                    cases[i].needle, rc, err);
        assert_int_equal(rc, cases[i].code);
        assert_non_null(strstr(err, cases[i].needle));
        free(err);
        free(argv[0]);
    }
    size_t links = 0;
    assert_int_equal(find_incident("INC-5", &links), 0);
}

AT_TEST(test_link_through_the_collector_of_another_store_is_refused)
{
    (void)state;
    char *out = NULL, *err = NULL;
    int rc = qf_query(&out, &err, "--store", store, "link", "--incident", "INC-6", "--trace", T1,
                      "--reason", "wrong collector", "--by", "frank@example.com", "--collector",
                      endpoint_b, NULL);
    if (rc != 3) fprintf(stderr, "link: %d %s\n", rc, err);
    assert_int_equal(rc, 3);
    assert_null(strstr(out, "linked"));
    assert_non_null(strstr(err, "refused the link event"));
    assert_non_null(strstr(err, origin_a));
    assert_non_null(strstr(err, origin_b));
    free(out);
    free(err);
    size_t links = 0;
    assert_int_equal(find_incident("INC-6", &links), 0);
    assert_int_equal(find_incident_in(store_b, "INC-6", &links), 0);
    /* Nothing of kind incident_link entered B at all. */
    rc = qf_query(&out, NULL, "--store", store_b, "find", "--kind", "incident_link", "--format",
                  "jsonl", NULL);
    assert_int_equal(rc, 0);
    assert_string_equal(out, "");
    free(out);
}

AT_TEST(test_link_acked_but_not_in_the_store_fails)
{
    (void)state;
    /* A copy of A (same log origin) with its own collector: the origin check passes and the
     * collector acks, but the event lands in the copy; link must not report success. */
    char *copy = tu_path(sockdir, "copy");
    char cmd[9000];
    snprintf(cmd, sizeof cmd, "cp -r '%s' '%s'", store, copy);
    assert_int_equal(system(cmd), 0);
    char ep[4300], log[4300];
    snprintf(ep, sizeof ep, "ipc://%s/copy.sock", sockdir);
    snprintf(log, sizeof log, "%s/copy.log", sockdir);
    pid_t pid = start_collector(copy, ep, log);
    char *out = NULL, *err = NULL;
    int rc = qf_query(&out, &err, "--store", store, "link", "--incident", "INC-7", "--trace", T1,
                      "--reason", "copy", "--by", "gina@example.com", "--collector", ep,
                      "--timeout", "1", NULL);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    if (rc != 3) fprintf(stderr, "link: %d %s\n", rc, err);
    assert_int_equal(rc, 3);
    assert_null(strstr(out, "linked"));
    assert_non_null(strstr(err, "acknowledged link event"));
    assert_non_null(strstr(err, "but it is not in the store at"));
    free(out);
    free(err);
    size_t links = 0;
    assert_int_equal(find_incident("INC-7", &links), 0);
    assert_true(find_incident_in(copy, "INC-7", &links) > 0); /* where it went */
    tu_rmtree_free(copy);
}

AT_TEST(test_dry_run_lists_the_traces_and_sends_nothing)
{
    (void)state;
    /* No collector on this endpoint: a dry run never needs one. */
    char nobody[4300];
    snprintf(nobody, sizeof nobody, "ipc://%s/nobody.sock", sockdir);
    char *out = NULL, *err = NULL;
    int rc = qf_query(&out, &err, "--store", store, "link", "--incident", "INC-8", "--workflow",
                      "swe-agent-test-repo", "--since", "2024-05-01T00:00:00Z", "--until",
                      "2024-05-02T00:00:00Z", "--reason", "window", "--by", "hal@example.com",
                      "--collector", nobody, "--dry-run", NULL);
    if (rc != 0) fprintf(stderr, "link: %s\n", err);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "dry run: would link 2 traces to INC-8 (nothing sent)"));
    assert_non_null(strstr(out, T1));
    assert_non_null(strstr(out, T2));
    free(out);
    free(err);
    rc = qf_query(&out, &err, "--store", store, "link", "--incident", "INC-8", "--trace", T2,
                  "--reason", "one", "--by", "hal@example.com", "--collector", endpoint,
                  "--dry-run", NULL);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "dry run: would link 1 trace to INC-8"));
    assert_non_null(strstr(out, T2));
    assert_null(strstr(out, T1));
    free(out);
    free(err);
    size_t links = 0;
    assert_int_equal(find_incident("INC-8", &links), 0);
}

/* Builds a store from a shared data file with a signing key, and reads its log origin. */
static char *make_store(const char *rel, char *origin, size_t len)
{
    char *dir = qf_build_store(rel);
    /* The store was filled without a collector: a collector makes a signing key only for
     * a new, empty log, so the key is made ahead of time, as an operator would. */
    char *bin = tu_bin("trace-collector");
    char *keygen[] = {bin, "keygen", "--store", dir, NULL};
    assert_int_equal(tu_run(keygen, NULL, NULL, NULL, NULL), 0);
    free(bin);
    ts_store *s = NULL;
    assert_int_equal(ts_open(dir, TS_OPEN_RDONLY, NULL, &s, NULL), 0);
    assert_int_equal(ts_log_origin(s, origin, len), 0);
    ts_close(&s);
    return dir;
}

static int setup(void **state)
{
    (void)state;
    store = make_store("data/swe-agent.jsonl", origin_a, sizeof origin_a);
    store_b = make_store("data/swe-agent.jsonl", origin_b, sizeof origin_b);
    assert_string_not_equal(origin_a, origin_b);
    swe = qf_load_events("data/swe-agent.jsonl");
    sockdir = tu_tempdir("qlink");
    snprintf(endpoint, sizeof endpoint, "ipc://%s/collector.sock", sockdir);
    snprintf(logpath, sizeof logpath, "%s/collector.log", sockdir);
    snprintf(endpoint_b, sizeof endpoint_b, "ipc://%s/collector-b.sock", sockdir);
    snprintf(logpath_b, sizeof logpath_b, "%s/collector-b.log", sockdir);
    collector = start_collector(store, endpoint, logpath);
    collector_b = start_collector(store_b, endpoint_b, logpath_b);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    pid_t pids[] = {collector, collector_b};
    for (size_t i = 0; i < 2; i++) {
        if (pids[i] <= 0) continue;
        kill(pids[i], SIGTERM);
        waitpid(pids[i], NULL, 0);
    }
    tu_rmtree_free(store);
    tu_rmtree_free(store_b);
    tu_rmtree_free(sockdir);
    json_decref(swe);
    return 0;
}

AT_TEST_GROUP(setup, teardown);
