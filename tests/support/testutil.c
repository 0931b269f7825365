/*
 * testutil.c - helpers shared by the tests (see testutil.h). Single-threaded use.
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char *dup_printf(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    if (!p) abort();
    snprintf(p, n, "%s/%s", a, b);
    return p;
}

char *tu_tempdir(const char *tag)
{
    const char *base = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/agenttrail-%s-XXXXXX", base && *base ? base : "/tmp", tag);
    if (!mkdtemp(tmpl)) {
        perror("mkdtemp");
        abort();
    }
    char *p = strdup(tmpl);
    if (!p) abort();
    return p;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) == 0 ? 0 : 0;
}

void tu_rmtree(const char *path)
{
    if (path) nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void tu_free_n(void *const *ptrs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(ptrs[i]);
}

void tu_rmtree_free(char *path)
{
    tu_rmtree(path);
    free(path);
}

char *tu_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    if (!buf) abort();
    size_t r;
    while ((r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap + 1);
            if (!buf) abort();
        }
    }
    fclose(f);
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

int tu_write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) return -1;
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR) continue;
            close(fd);
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return close(fd);
}

char *tu_bin(const char *name)
{
    const char *b = getenv("AGENTTRAIL_BIN");
    return dup_printf(b && *b ? b : "build/release/bin", name);
}

char *tu_path(const char *dir, const char *name)
{
    return dup_printf(dir, name);
}

char *tu_shared(const char *rel)
{
    const char *b = getenv("AGENTTRAIL_SHARED");
    return dup_printf(b && *b ? b : "../shared", rel);
}

struct sink {
    int fd;
    char *buf;
    size_t len, cap;
};

static void sink_read(struct sink *s)
{
    if (s->len + 65536 > s->cap) {
        s->cap = (s->cap + 65536) * 2;
        s->buf = realloc(s->buf, s->cap + 1);
        if (!s->buf) abort();
    }
    ssize_t r = read(s->fd, s->buf + s->len, s->cap - s->len);
    if (r > 0) {
        s->len += (size_t)r;
    } else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
        close(s->fd);
        s->fd = -1;
    }
}

int tu_run(char *const argv[], const char *in_path, char **out, size_t *out_len, char **err)
{
    int po[2], pe[2];
    if (pipe(po) != 0 || pipe(pe) != 0) return -1;
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        int in = open(in_path ? in_path : "/dev/null", O_RDONLY);
        if (in < 0) _exit(126);
        dup2(in, 0);
        dup2(po[1], 1);
        dup2(pe[1], 2);
        close(po[0]);
        close(pe[0]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    struct sink s[2] = {{po[0], NULL, 0, 0}, {pe[0], NULL, 0, 0}};
    while (s[0].fd >= 0 || s[1].fd >= 0) {
        struct pollfd p[2] = {{s[0].fd, POLLIN, 0}, {s[1].fd, POLLIN, 0}};
        if (poll(p, 2, -1) < 0 && errno != EINTR) break;
        for (int i = 0; i < 2; i++)
            if (s[i].fd >= 0 && (p[i].revents & (POLLIN | POLLHUP | POLLERR))) sink_read(&s[i]);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    for (int i = 0; i < 2; i++) {
        if (!s[i].buf) {
            s[i].buf = malloc(1);
            if (!s[i].buf) abort();
        }
        s[i].buf[s[i].len] = 0;
    }
    if (out)
        *out = s[0].buf;
    else
        free(s[0].buf);
    if (out_len) *out_len = s[0].len;
    if (err)
        *err = s[1].buf;
    else
        free(s[1].buf);
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return -1;
}

int tu_run_va(const char *name, const char *in_path, char **out, size_t *out_len, char **err,
              va_list ap)
{
    char *argv[64];
    int n = 0;
    argv[n++] = tu_bin(name);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < 63)
        argv[n++] = (char *)a;
    argv[n] = NULL;
    int rc = tu_run(argv, in_path, out, out_len, err);
    free(argv[0]);
    return rc;
}
