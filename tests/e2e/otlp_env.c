/*
 * otlp_env.c - the environment of the OTLP client tests (otlp_env.h): npm clients, a collector
 * with --otlp-http on a free port, node runs, the store read back and scanned.
 * Single-threaded.
 */
#include "otlp_env.h"

#include <dirent.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "at_test.h"
#include "pipeline_util.h"
#include "testutil.h"

/* Who owns what the agent scripts send when their spans name no DRI (--owners). */
static const char owners_text[] = "# DRI of the OTLP client tests (workflow or service patterns)\n"
                                  "service:openai-agent bob@example.com\n"
                                  "service:openllmetry-* dave@example.com\n"
                                  "workflow:aisdk-* carol@example.com\n";

static char *find_on_path(const char *prog)
{
    const char *path = getenv("PATH");
    if (!path) return NULL;
    char *copy = strdup(path), *save = NULL;
    for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        char *p = tu_path(*d ? d : ".", prog);
        if (access(p, X_OK) == 0) {
            free(copy);
            return p;
        }
        free(p);
    }
    free(copy);
    return NULL;
}

/* scripts/npm-deps CACHE, once per process. */
static void install_clients(const char *cache)
{
    static int done;
    if (done) return;
    char *argv[] = {"scripts/npm-deps", (char *)cache, NULL};
    char *out = NULL, *err = NULL;
    int rc = tu_run(argv, NULL, &out, NULL, &err);
    fprintf(stderr, "%s%s", out ? out : "", rc != 0 && err ? err : "");
    TU_FREE(out, err);
    assert_int_equal(rc, 0);
    char *mod = tu_path(cache, "node_modules/@opentelemetry/sdk-trace-node/package.json");
    if (access(mod, R_OK) != 0)
        fail_msg("%s: missing after scripts/npm-deps (is npm installed? scripts/install-deps)",
                 mod);
    free(mod);
    done = 1;
}

otlp_env *oe_new(const char *tag)
{
    char *node = find_on_path("node");
    if (!node) {
        fprintf(stderr, "node is not on PATH: the OTLP client tests skip "
                        "(scripts/install-deps installs Debian's nodejs and npm)\n");
        return NULL;
    }
    otlp_env *e = calloc(1, sizeof *e);
    if (!e) abort();
    e->node = node;
    const char *cache = getenv("AGENTTRAIL_NPM_CACHE");
    snprintf(e->npm, sizeof e->npm, "%s", cache && *cache ? cache : "build/npm");
    install_clients(e->npm);
    e->dir = tu_tempdir(tag);
    snprintf(e->store, sizeof e->store, "%s/store", e->dir);
    snprintf(e->zmq, sizeof e->zmq, "ipc://%s/collector.sock", e->dir);
    snprintf(e->log, sizeof e->log, "%s/collector.log", e->dir);
    snprintf(e->owners, sizeof e->owners, "%s/owners", e->dir);
    assert_int_equal(tu_write_file(e->owners, owners_text, strlen(owners_text)), 0);
    e->port = pu_free_port();
    snprintf(e->addr, sizeof e->addr, "127.0.0.1:%d", e->port);
    snprintf(e->endpoint, sizeof e->endpoint, "http://127.0.0.1:%d", e->port);
    return e;
}

void oe_free(otlp_env **e)
{
    if (!e || !*e) return;
    if ((*e)->collector > 0) pu_kill_wait((*e)->collector, SIGKILL);
    tu_rmtree_free((*e)->dir);
    free((*e)->node);
    free(*e);
    *e = NULL;
}

void oe_collector_start(otlp_env *e, const char *const *extra)
{
    const char *args[24] = {"--otlp-http", e->addr, "--owners", e->owners};
    size_t n = 4;
    for (size_t i = 0; extra && extra[i] && n < 23; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    e->collector = pu_collector_start(e->store, e->zmq, e->log, args);
    for (int waited = 0; !pu_wait_for_port(e->port, 0); waited += 10) {
        int st;
        int exited = waitpid(e->collector, &st, WNOHANG) == e->collector;
        if (exited || waited > 10000) {
            if (exited) e->collector = 0;
            char *log = tu_read_file(e->log, NULL);
            fail_msg("trace-collector does not serve %s (%s); its log:\n%s", e->addr,
                     exited ? "it exited" : "not within 10 s", log ? log : "");
        }
        pu_sleep_ms(10);
    }
}

void oe_collector_stop(otlp_env *e)
{
    assert_true(e->collector > 0);
    int st = pu_kill_wait(e->collector, SIGTERM);
    e->collector = 0;
    if (st != 0) {
        char *log = tu_read_file(e->log, NULL);
        fail_msg("trace-collector exited %d; its log:\n%s", st, log ? log : "");
    }
}

void oe_collector_kill(otlp_env *e)
{
    assert_true(e->collector > 0);
    assert_int_equal(pu_kill_wait(e->collector, SIGKILL), 128 + SIGKILL);
    e->collector = 0;
}

const char *oe_script(otlp_env *e, const char *script)
{
    static char path[700];
    snprintf(path, sizeof path, "%s/%s", e->npm, script);
    return path;
}

int oe_node(otlp_env *e, const char *script, const char *const *args, char **out, char **err)
{
    char *argv[32] = {e->node, (char *)oe_script(e, script), e->endpoint};
    int n = 3;
    for (int i = 0; args && args[i] && n < 31; i++)
        argv[n++] = (char *)args[i];
    argv[n] = NULL;
    return tu_run(argv, NULL, out, NULL, err);
}

int oe_query(otlp_env *e, char **out, ...)
{
    char *argv[40];
    int n = 0;
    argv[n++] = tu_bin("trace-query");
    argv[n++] = "--store";
    argv[n++] = e->store;
    va_list ap;
    va_start(ap, out);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < 39)
        argv[n++] = (char *)a;
    va_end(ap);
    argv[n] = NULL;
    char *err = NULL;
    int rc = tu_run(argv, NULL, out, NULL, &err);
    if (rc != 0) fprintf(stderr, "trace-query %s: exit %d: %s\n", argv[3], rc, err ? err : "");
    TU_FREE(argv[0], err);
    return rc;
}

json_t *oe_find(otlp_env *e)
{
    char *out = NULL;
    assert_int_equal(oe_query(e, &out, "find", "--format", "jsonl", NULL), 0);
    json_t *all = json_array();
    char *save = NULL;
    for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_error_t jerr;
        json_t *ev = json_loads(line, 0, &jerr);
        if (!ev) fail_msg("find printed a line that is not JSON (%s): %s", jerr.text, line);
        json_array_append_new(all, ev);
    }
    free(out);
    return all;
}

/* GET path over HTTP/1.0 on the collector's port: the whole response, malloc'd. */
static char *http_get(otlp_env *e, const char *path)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)e->port);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
        fail_msg("GET %s: cannot connect to %s", path, e->addr);
    char req[256];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n", path, e->addr);
    assert_int_equal(write(fd, req, (size_t)n), n);
    size_t len = 0, cap = 1 << 16;
    char *buf = malloc(cap);
    ssize_t got;
    while (buf && (got = read(fd, buf + len, cap - len - 1)) > 0) {
        len += (size_t)got;
        if (cap - len < 2) buf = realloc(buf, cap *= 2);
    }
    close(fd);
    assert_non_null(buf);
    buf[len] = '\0';
    return buf;
}

long long oe_metric(otlp_env *e, const char *sample)
{
    char *r = http_get(e, "/metrics");
    if (strncmp(r, "HTTP/1.", 7) != 0 || strncmp(r + 8, " 200", 4) != 0)
        fail_msg("GET /metrics: %.200s", r);
    size_t sl = strlen(sample);
    long long v = -1;
    for (const char *l = strstr(r, "\r\n\r\n"); l && *l; l = strchr(l, '\n')) {
        l += *l == '\n' ? 1 : 4;
        if (strncmp(l, sample, sl) == 0 && l[sl] == ' ') {
            v = strtoll(l + sl + 1, NULL, 10);
            break;
        }
    }
    if (v < 0) fail_msg("GET /metrics has no sample %s:\n%s", sample, r);
    free(r);
    return v;
}

static int file_has(const char *path, const char *needle)
{
    size_t len = 0;
    char *t = tu_read_file(path, &len);
    int found = t && memmem(t, len, needle, strlen(needle)) != NULL;
    free(t);
    return found;
}

size_t oe_grep_store(otlp_env *e, const char *needle)
{
    size_t n = file_has(e->log, needle);
    DIR *d = opendir(e->store);
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        char *p = tu_path(e->store, de->d_name);
        struct stat st;
        if (stat(p, &st) == 0 && S_ISREG(st.st_mode) && file_has(p, needle)) {
            fprintf(stderr, "%s holds \"%s\"\n", p, needle);
            n++;
        }
        free(p);
    }
    closedir(d);
    return n;
}

static const json_t *at_path(const json_t *ev, const char *path)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    const json_t *v = ev;
    char *save = NULL;
    for (char *k = strtok_r(buf, ".", &save); k && v; k = strtok_r(NULL, ".", &save))
        v = json_object_get(v, k);
    return v;
}

const char *oe_str(const json_t *ev, const char *path)
{
    return json_string_value(at_path(ev, path));
}

long long oe_int(const json_t *ev, const char *path)
{
    const json_t *v = at_path(ev, path);
    return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

size_t oe_count_kind(const json_t *events, const char *kind, const json_t **first)
{
    size_t n = 0, i;
    const json_t *ev;
    if (first) *first = NULL;
    json_array_foreach(events, i, ev)
    {
        const char *k = oe_str(ev, "kind");
        if (!k || strcmp(k, kind) != 0) continue;
        if (first && n == 0) *first = ev;
        n++;
    }
    return n;
}

void oe_usage_totals(const json_t *events, long long out[4])
{
    static const char *const keys[4] = {"usage.input_tokens", "usage.output_tokens",
                                        "usage.cached_tokens", "usage.cost_usd_micros"};
    memset(out, 0, 4 * sizeof out[0]);
    size_t i;
    const json_t *ev;
    json_array_foreach(events, i, ev)
    {
        if (!json_object_get(ev, "usage")) continue;
        long long in = oe_int(ev, keys[0]), cached = oe_int(ev, keys[2]);
        if (cached > in)
            fail_msg("event %s: cached_tokens %lld > input_tokens %lld", oe_str(ev, "event_id"),
                     cached, in);
        for (int k = 0; k < 4; k++) {
            long long v = oe_int(ev, keys[k]);
            if (v > 0) out[k] += v;
        }
    }
}

const json_t *oe_tool(const json_t *events, const char *name, size_t *count)
{
    const json_t *found = NULL, *ev;
    size_t i;
    *count = 0;
    json_array_foreach(events, i, ev)
    {
        const char *k = oe_str(ev, "kind"), *n = oe_str(ev, "tool_call.name");
        if (k && strcmp(k, "tool_call") == 0 && n && strcmp(n, name) == 0) {
            if (!found) found = ev;
            (*count)++;
        }
    }
    return found;
}
