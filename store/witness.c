/*
 * witness.c - the witness files: signed checkpoints appended outside the store (witness.h).
 *
 * Owns nothing past a call: every append opens, writes the whole record, fsyncs and closes,
 * so a witness on a remounted or briefly absent disk works again at the next checkpoint;
 * reading goes record by record (constant memory, whatever the file's size).
 * Threading: reentrant.
 */
#include "checkpoint.h"
#include "atcommon.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WT_HEAD "checkpoint "
#define WT_NOTE_MAX 65536 /* as CP_NOTE_MAX */

int wt_path(const char *dir, const char *origin, char *out, size_t outlen)
{
    int n = snprintf(out, outlen, "%s/", dir);
    if (n < 0 || (size_t)n >= outlen) return -1;
    size_t at = (size_t)n;
    for (const char *p = origin; *p; p++) {
        if (at + 1 >= outlen) return -1;
        out[at++] = *p == '/' ? '_' : *p;
    }
    n = snprintf(out + at, outlen - at, ".checkpoints");
    return n < 0 || (size_t)n >= outlen - at ? -1 : 0;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int wt_append(const char *dir, const char *origin, const char *note, size_t len, at_error *err)
{
    char path[4096], head[64];
    if (wt_path(dir, origin, path, sizeof path))
        return at_errf(err, -1, "witness %s: path too long", dir);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return at_errf(err, -1, "witness %s: cannot create the directory: %s", dir,
                       strerror(errno));
    struct stat st;
    int existed = stat(path, &st) == 0;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return at_errf(err, -1, "witness %s: cannot open: %s", path, strerror(errno));
    off_t size = fstat(fd, &st) == 0 ? st.st_size : -1;
    int n = snprintf(head, sizeof head, WT_HEAD "%zu\n", len);
    int rc = write_all(fd, head, (size_t)n) || write_all(fd, note, len) || fsync(fd);
    int saved = errno;
    /* A failed append is cut off again: a head without its note would make every record
     * appended after it unreadable. If the cut fails too, wt_read reports the torn record. */
    if (rc && size >= 0 && ftruncate(fd, size) != 0) {
    }
    if (close(fd) != 0 && !rc) rc = -1, saved = errno;
    if (rc) return at_errf(err, -1, "witness %s: cannot append: %s", path, strerror(saved));
    if (!existed && sync_dir(dir) != 0)
        return at_errf(err, -1, "witness %s: cannot fsync the directory: %s", dir, strerror(errno));
    return 0;
}

/* Parses the record head at p (n bytes left): 1 and *hlen, *len; 0 when cut short; -1 bad. */
static int record_head(const char *p, size_t n, size_t *hlen, size_t *len)
{
    size_t h = strlen(WT_HEAD);
    if (n < h) return memcmp(p, WT_HEAD, n) == 0 ? 0 : -1;
    if (memcmp(p, WT_HEAD, h) != 0) return -1;
    size_t v = 0, i = h;
    for (; i < n && p[i] >= '0' && p[i] <= '9' && i < h + 6; i++)
        v = v * 10 + (size_t)(p[i] - '0');
    if (i == n) return 0;
    if (i == h || p[i] != '\n' || v == 0 || v > WT_NOTE_MAX || (p[h] == '0')) return -1;
    *hlen = i + 1;
    *len = v;
    return 1;
}

int wt_parse(const char *buf, size_t n, const char *name, wt_record_fn fn, void *ctx, int *torn,
             at_error *err)
{
    if (torn) *torn = 0;
    int rc = 0;
    uint64_t seq = 0;
    for (size_t at = 0; at < n && !rc; seq++) {
        size_t hlen = 0, len = 0;
        int h = record_head(buf + at, n - at, &hlen, &len);
        if (h < 0)
            return at_errf(err, -1, "witness %s: byte %zu: record %llu: not \"checkpoint LENGTH\"",
                           name, at, (unsigned long long)seq);
        if (h == 0 || len > n - at - hlen) {
            if (torn) *torn = 1; /* the last append did not finish */
            break;
        }
        rc = fn(ctx, seq, buf + at + hlen, len);
        at += hlen + len;
    }
    return rc;
}

/* Reads one record head line ("checkpoint N\n", at most 32 bytes) from f into line: its
 * length, 0 at the end of the file. */
static size_t head_line(FILE *f, char *line, size_t cap)
{
    size_t n = 0;
    int c;
    while (n < cap && (c = getc(f)) != EOF) {
        line[n++] = (char)c;
        if (c == '\n') break;
    }
    return n;
}

int wt_read(const char *dir, const char *origin, wt_record_fn fn, void *ctx, int *torn,
            at_error *err)
{
    char path[4096], line[32];
    if (torn) *torn = 0;
    if (wt_path(dir, origin, path, sizeof path))
        return at_errf(err, -1, "witness %s: path too long", dir);
    FILE *f = fopen(path, "rb");
    if (!f)
        return at_errf(err, -1, "witness %s: cannot read (%s): it holds no checkpoint of log %s",
                       path, strerror(errno), origin);
    char *note = malloc(WT_NOTE_MAX);
    int rc = note ? 0 : at_errf(err, -1, "witness %s: out of memory", path);
    /* Record by record, so that a witness of years of checkpoints is read in constant memory. */
    for (uint64_t seq = 0, at = 0; !rc; seq++) {
        size_t n = head_line(f, line, sizeof line), hlen = 0, len = 0;
        if (n == 0) break;
        int h = record_head(line, n, &hlen, &len);
        if (h < 0 || (h == 0 && n == sizeof line)) {
            rc = at_errf(err, -1, "witness %s: byte %llu: record %llu: not \"checkpoint LENGTH\"",
                         path, (unsigned long long)at, (unsigned long long)seq);
        } else if (h == 0 || fread(note, 1, len, f) != len) {
            if (torn) *torn = 1; /* the last append did not finish */
            break;
        } else {
            rc = fn(ctx, seq, note, len);
            at += hlen + len;
        }
    }
    if (!rc && ferror(f)) rc = at_errf(err, -1, "witness %s: read error", path);
    fclose(f);
    free(note);
    return rc;
}
