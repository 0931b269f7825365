/*
 * pipeline_util.c - process and store helpers for the pipeline tests (see
 * pipeline_util.h). Single-threaded.
 */
#include "pipeline_util.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "tracestore.h"

void pu_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

int pu_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        abort();
    close(fd);
    return ntohs(a.sin_port);
}

int pu_wait_for_port(int port, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 10) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0) abort();
        struct sockaddr_in a;
        memset(&a, 0, sizeof a);
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons((uint16_t)port);
        int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
        close(fd);
        if (ok) return 1;
        pu_sleep_ms(10);
    }
    return 0;
}

pid_t pu_spawn(char *const argv[], const char *out, const char *err)
{
    pid_t pid = fork();
    if (pid < 0) abort();
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY);
        int o = open(out ? out : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0600);
        int e = open(err ? err : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (in < 0 || o < 0 || e < 0) _exit(126);
        dup2(in, 0);
        dup2(o, 1);
        dup2(e, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

int pu_wait(pid_t pid)
{
    int st = 0;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int pu_kill_wait(pid_t pid, int sig)
{
    kill(pid, sig);
    return pu_wait(pid);
}

static size_t count_text(const char *path, const char *needle)
{
    char *t = tu_read_file(path, NULL);
    size_t n = 0;
    for (const char *p = t; p && (p = strstr(p, needle)) != NULL; p++)
        n++;
    free(t);
    return n;
}

int pu_wait_for_text(const char *path, const char *needle, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 10) {
        if (count_text(path, needle) > 0) return 1;
        pu_sleep_ms(10);
    }
    return 0;
}

pid_t pu_collector_start(const char *store, const char *endpoint, const char *log,
                         const char *const *extra)
{
    char *bin = tu_bin("trace-collector");
    char *argv[32];
    int n = 0;
    argv[n++] = bin;
    argv[n++] = "--store";
    argv[n++] = (char *)store;
    argv[n++] = "--listen";
    argv[n++] = (char *)endpoint;
    for (int i = 0; extra && extra[i] && n < 30; i++)
        argv[n++] = (char *)extra[i];
    argv[n] = NULL;
    size_t before = count_text(log, "ready (");
    pid_t pid = pu_spawn(argv, NULL, log);
    free(bin);
    for (int waited = 0; waited < 10000; waited += 5) {
        if (count_text(log, "ready (") > before) break;
        siginfo_t info;
        memset(&info, 0, sizeof info);
        if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid)
            break; /* exited early: the caller's pu_wait reads why */
        pu_sleep_ms(5);
    }
    return pid;
}

long long pu_field(const char *text, const char *key)
{
    size_t kl = strlen(key);
    for (const char *p = text; p && (p = strstr(p, key)) != NULL; p++) {
        if ((p == text || p[-1] == ' ' || p[-1] == '\n') && p[kl] == '=') {
            char *end = NULL;
            long long v = strtoll(p + kl + 1, &end, 10);
            return end == p + kl + 1 ? -1 : v;
        }
    }
    return -1;
}

int pu_set_check(const char *store, uint32_t ntags, uint64_t count, uint64_t *lost,
                 uint64_t *duplicated, uint64_t *total)
{
    ts_store *s = NULL;
    at_error err = {0};
    int rc = ts_open(store, TS_OPEN_RDONLY, NULL, &s, &err);
    if (rc != 0) {
        fprintf(stderr, "set check: %s: %s\n", store, err.what);
        return rc;
    }
    uint32_t *seen = calloc((size_t)ntags * count + 1, sizeof *seen);
    ts_filter f;
    memset(&f, 0, sizeof f);
    ts_iter *it = NULL;
    *total = 0;
    rc = ts_query(s, &f, NULL, &it);
    tp_event *ev = NULL;
    while (rc == 0 && (rc = ts_iter_next(it, &ev)) == 0) {
        (*total)++;
        if (ev->event_id.len == 16) {
            const uint8_t *id = ev->event_id.data;
            uint32_t tag =
                (uint32_t)id[0] << 24 | (uint32_t)id[1] << 16 | (uint32_t)id[2] << 8 | id[3];
            uint64_t n = 0;
            for (int i = 0; i < 8; i++)
                n = n << 8 | id[4 + i];
            if (tag >= 1 && tag <= ntags && n < count) seen[(size_t)(tag - 1) * count + n]++;
        }
        tp_event_destroy(&ev);
    }
    if (rc == TS_EEND) rc = 0;
    ts_iter_destroy(&it);
    ts_close(&s);
    *lost = *duplicated = 0;
    for (size_t i = 0; i < (size_t)ntags * count; i++) {
        if (seen[i] == 0) (*lost)++;
        if (seen[i] > 1) *duplicated += seen[i] - 1;
    }
    free(seen);
    return rc;
}

pu_shim_env *pu_shim_env_new(const char *tag)
{
    pu_shim_env *e = calloc(1, sizeof *e);
    if (!e) abort();
    e->dir = tu_tempdir(tag);
    e->shim = tu_bin("trace-shim");
    snprintf(e->store, sizeof e->store, "%s/store", e->dir);
    snprintf(e->ep, sizeof e->ep, "ipc://%s/c.sock", e->dir);
    snprintf(e->log, sizeof e->log, "%s/collector.log", e->dir);
    snprintf(e->spool, sizeof e->spool, "%s/spool", e->dir);
    snprintf(e->input, sizeof e->input, "%s/events.jsonl", e->dir);
    snprintf(e->err, sizeof e->err, "%s/shim.err", e->dir);
    return e;
}

void pu_shim_env_free(pu_shim_env **e)
{
    if (!e || !*e) return;
    tu_rmtree_free((*e)->dir);
    free((*e)->shim);
    free(*e);
    *e = NULL;
}

int pu_shim_run(pu_shim_env *e, const char *input, const char *timeout, char **err)
{
    char *argv[] = {e->shim,     "--endpoint",    e->ep,         "--spool-dir", e->spool,
                    "--timeout", (char *)timeout, (char *)input, NULL};
    return tu_run(argv, NULL, NULL, NULL, err);
}

uint64_t pu_store_total(const char *store)
{
    uint64_t lost, dup, total = 0;
    if (pu_set_check(store, 0, 0, &lost, &dup, &total) != 0) abort();
    return total;
}
