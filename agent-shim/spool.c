/*
 * spool.c - the shim's disk spool (see spool.h for the format).
 *
 * Owns: the spool directory's lock fd, the open write segment, the list of
 * segment ids present on disk.
 * Invariants: `segs` is sorted ascending; the write segment, when open, is
 * the last id in `segs`; a taken (replaying) segment is never the write one.
 * Threading: one mutex guards everything; emit threads append while the
 * background thread replays.
 */
#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "traceproto.h"

#define SEGMENT_ROTATE_BYTES (4u << 20)
#define RECORD_MAX (64u << 20)

struct spool {
    pthread_mutex_t mu;
    char *dir;
    int lock_fd;
    int wfd;        /* write segment fd, -1 when none is open */
    uint64_t wid;   /* its id */
    size_t wbytes;  /* bytes written to it */
    int dirty;      /* written since the last fsync */
    long unsynced;  /* records appended and not yet fsync'd */
    uint64_t *segs; /* ids of segments on disk, ascending */
    size_t nsegs, capsegs;
    uint64_t next_id;
};

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

uint32_t spool_crc32(const uint8_t *p, size_t n)
{
    pthread_once(&crc_once, crc_init);
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++)
        c = crc_table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void seg_path(const spool *sp, uint64_t id, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/seg-%016" PRIu64 ".spool", sp->dir, id);
}

static int segs_push(spool *sp, uint64_t id)
{
    if (sp->nsegs == sp->capsegs) {
        size_t cap = sp->capsegs ? sp->capsegs * 2 : 16;
        uint64_t *n = realloc(sp->segs, cap * sizeof *n);
        if (!n) return -1;
        sp->segs = n;
        sp->capsegs = cap;
    }
    sp->segs[sp->nsegs++] = id;
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int write_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* Reads or creates the stable shim id of the directory. */
static int load_shim_id(const char *dir, char shim_id[33], char *errbuf, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/shim_id", dir);
    int fd = open(path, O_RDONLY);
    if (fd >= 0) {
        char buf[64];
        ssize_t r = read(fd, buf, sizeof buf);
        close(fd);
        if (r >= 32) {
            uint8_t tmp[16];
            if (tp_hex_decode(buf, 32, tmp, 16) == 0) {
                memcpy(shim_id, buf, 32);
                shim_id[32] = 0;
                return 0;
            }
        }
        snprintf(errbuf, errlen,
                 "%s: not 32 lowercase hex digits; remove the file to give this spool a new "
                 "shim id",
                 path);
        return -1;
    }
    uint8_t id[16];
    if (tp_id_random(id, sizeof id) != 0) {
        snprintf(errbuf, errlen, "spool: cannot draw a random shim id (OpenSSL)");
        return -1;
    }
    tp_hex_encode(id, 16, shim_id);
    char tmp[4096 + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write_all(fd, shim_id, 32) != 0 || write_all(fd, "\n", 1) != 0 ||
        fsync(fd) != 0) {
        snprintf(errbuf, errlen, "%s: cannot write: %s", tmp, strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    close(fd);
    if (rename(tmp, path) != 0 || fsync_dir(dir) != 0) {
        snprintf(errbuf, errlen, "%s: cannot create: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int list_segments(spool *sp, char *errbuf, size_t errlen)
{
    DIR *d = opendir(sp->dir);
    if (!d) {
        snprintf(errbuf, errlen, "%s: cannot list: %s", sp->dir, strerror(errno));
        return -1;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *n = e->d_name;
        if (strncmp(n, "seg-", 4) != 0 || strlen(n) != 4 + 16 + 6 || strcmp(n + 20, ".spool") != 0)
            continue;
        char *end = NULL;
        errno = 0;
        unsigned long long id = strtoull(n + 4, &end, 10);
        if (errno != 0 || end != n + 20) continue;
        if (segs_push(sp, (uint64_t)id) != 0) {
            closedir(d);
            snprintf(errbuf, errlen, "spool: out of memory");
            return -1;
        }
    }
    closedir(d);
    if (sp->nsegs) qsort(sp->segs, sp->nsegs, sizeof *sp->segs, cmp_u64);
    sp->next_id = sp->nsegs ? sp->segs[sp->nsegs - 1] + 1 : 1;
    return 0;
}

int spool_open(const char *dir, spool **out, char shim_id[33], int *locked, char *errbuf,
               size_t errlen)
{
    *out = NULL;
    *locked = 0;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(errbuf, errlen, "%s: cannot create the spool directory: %s", dir, strerror(errno));
        return -1;
    }
    spool *sp = calloc(1, sizeof *sp);
    if (!sp || !(sp->dir = strdup(dir))) {
        free(sp);
        snprintf(errbuf, errlen, "spool: out of memory");
        return -1;
    }
    pthread_mutex_init(&sp->mu, NULL);
    sp->wfd = -1;
    char path[4096];
    snprintf(path, sizeof path, "%s/lock", dir);
    sp->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (sp->lock_fd < 0) {
        snprintf(errbuf, errlen, "%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    if (flock(sp->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        *locked = errno == EWOULDBLOCK;
        snprintf(errbuf, errlen,
                 "%s: the spool directory is in use by another process; give this one its "
                 "own --spool-dir",
                 dir);
        goto fail;
    }
    if (load_shim_id(dir, shim_id, errbuf, errlen) != 0) goto fail;
    if (list_segments(sp, errbuf, errlen) != 0) goto fail;
    *out = sp;
    return 0;
fail:
    spool_close(&sp);
    return -1;
}

static int close_write_segment(spool *sp)
{
    int rc = 0;
    if (sp->wfd >= 0) {
        if (sp->dirty && fsync(sp->wfd) != 0) rc = -1;
        close(sp->wfd);
        sp->wfd = -1;
        sp->dirty = 0;
    }
    return rc;
}

void spool_close(spool **spp)
{
    if (!spp || !*spp) return;
    spool *sp = *spp;
    close_write_segment(sp);
    /* An empty write segment left behind is harmless but untidy. */
    if (sp->lock_fd >= 0) close(sp->lock_fd);
    pthread_mutex_destroy(&sp->mu);
    free(sp->segs);
    free(sp->dir);
    free(sp);
    *spp = NULL;
}

static int open_write_segment(spool *sp)
{
    char path[4096];
    uint64_t id = sp->next_id;
    seg_path(sp, id, path, sizeof path);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) return -1;
    if (segs_push(sp, id) != 0) {
        close(fd);
        unlink(path);
        errno = ENOMEM;
        return -1;
    }
    /* The new name must survive a crash before any record in it counts. */
    fsync_dir(sp->dir);
    sp->next_id++;
    sp->wfd = fd;
    sp->wid = id;
    sp->wbytes = 0;
    return 0;
}

int spool_append(spool *sp, const uint8_t *const *bufs, const size_t *lens, size_t n)
{
    pthread_mutex_lock(&sp->mu);
    int rc = 0;
    if (sp->wfd >= 0 && sp->wbytes >= SEGMENT_ROTATE_BYTES) rc = close_write_segment(sp);
    if (rc == 0 && sp->wfd < 0) rc = open_write_segment(sp);
    /* Gather records into iovecs, at most 64 records per writev. */
    enum { CHUNK = 64 };
    uint8_t hdr[CHUNK][8];
    struct iovec iov[CHUNK * 2];
    for (size_t i = 0; rc == 0 && i < n; i += CHUNK) {
        size_t m = n - i < CHUNK ? n - i : CHUNK, total = 0;
        for (size_t k = 0; k < m; k++) {
            put_le32(hdr[k], (uint32_t)lens[i + k]);
            put_le32(hdr[k] + 4, spool_crc32(bufs[i + k], lens[i + k]));
            iov[2 * k].iov_base = hdr[k];
            iov[2 * k].iov_len = 8;
            iov[2 * k + 1].iov_base = (void *)bufs[i + k];
            iov[2 * k + 1].iov_len = lens[i + k];
            total += 8 + lens[i + k];
        }
        ssize_t w = writev(sp->wfd, iov, (int)(2 * m));
        if (w >= 0 && (size_t)w != total) {
            /* Short write (disk full?): finish it byte by byte through write_all. */
            size_t done = (size_t)w;
            for (size_t k = 0; k < 2 * m && rc == 0; k++) {
                if (done >= iov[k].iov_len) {
                    done -= iov[k].iov_len;
                    continue;
                }
                rc = write_all(sp->wfd, (uint8_t *)iov[k].iov_base + done, iov[k].iov_len - done);
                done = 0;
            }
        } else if (w < 0) {
            rc = -1;
        }
        sp->wbytes += total;
        sp->dirty = 1;
        if (rc == 0) sp->unsynced += (long)m;
    }
    pthread_mutex_unlock(&sp->mu);
    return rc;
}

long spool_sync(spool *sp)
{
    /* fsync outside the mutex, on a dup of the fd: emit threads appending
     * to the spool must not wait for the disk. */
    pthread_mutex_lock(&sp->mu);
    if (sp->wfd < 0 || !sp->dirty) {
        long n = sp->unsynced; /* made durable by a rotation's fsync */
        sp->unsynced = 0;
        pthread_mutex_unlock(&sp->mu);
        return n;
    }
    int fd = dup(sp->wfd);
    long n = sp->unsynced;
    sp->unsynced = 0;
    sp->dirty = 0;
    pthread_mutex_unlock(&sp->mu);
    if (fd < 0 || fsync(fd) != 0) {
        if (fd >= 0) close(fd);
        pthread_mutex_lock(&sp->mu);
        sp->unsynced += n;
        sp->dirty = 1;
        pthread_mutex_unlock(&sp->mu);
        return -1;
    }
    close(fd);
    return n;
}

int spool_has_data(spool *sp)
{
    pthread_mutex_lock(&sp->mu);
    int r = sp->nsegs > 1 || (sp->nsegs == 1 && (sp->wfd < 0 || sp->wbytes > 0));
    pthread_mutex_unlock(&sp->mu);
    return r;
}

static int read_whole(const char *path, uint8_t **data, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return -1;
    }
    size_t n = (size_t)st.st_size, got = 0;
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) {
        close(fd);
        return -1;
    }
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd);
    *data = buf;
    *len = got;
    return 0;
}

int spool_replay_take(spool *sp, uint64_t *seg_id, uint8_t **data, size_t *len)
{
    pthread_mutex_lock(&sp->mu);
    int rc = 0;
    for (;;) {
        if (sp->nsegs == 0) break;
        uint64_t id = sp->segs[0];
        if (sp->wfd >= 0 && id == sp->wid) {
            if (sp->wbytes == 0) break; /* only an empty write segment */
            if (close_write_segment(sp) != 0) {
                rc = -1;
                break;
            }
        }
        char path[4096];
        seg_path(sp, id, path, sizeof path);
        if (read_whole(path, data, len) != 0) {
            if (errno == ENOENT) { /* gone: forget it */
                memmove(sp->segs, sp->segs + 1, (sp->nsegs - 1) * sizeof *sp->segs);
                sp->nsegs--;
                continue;
            }
            rc = -1;
            break;
        }
        *seg_id = id;
        rc = 1;
        break;
    }
    pthread_mutex_unlock(&sp->mu);
    return rc;
}

int spool_remove(spool *sp, uint64_t seg_id)
{
    pthread_mutex_lock(&sp->mu);
    char path[4096];
    seg_path(sp, seg_id, path, sizeof path);
    int rc = unlink(path) == 0 || errno == ENOENT ? 0 : -1;
    for (size_t i = 0; i < sp->nsegs; i++) {
        if (sp->segs[i] == seg_id) {
            memmove(sp->segs + i, sp->segs + i + 1, (sp->nsegs - i - 1) * sizeof *sp->segs);
            sp->nsegs--;
            break;
        }
    }
    if (rc == 0) fsync_dir(sp->dir);
    pthread_mutex_unlock(&sp->mu);
    return rc;
}

int spool_record_next(const uint8_t *data, size_t len, size_t *off, const uint8_t **rec,
                      size_t *rec_len)
{
    if (*off == len) return 0;
    if (len - *off < 8) return -1;
    uint32_t n = get_le32(data + *off), crc = get_le32(data + *off + 4);
    if (n > RECORD_MAX || n > len - *off - 8) return -1;
    const uint8_t *p = data + *off + 8;
    if (spool_crc32(p, n) != crc) return -1;
    *rec = p;
    *rec_len = n;
    *off += 8 + (size_t)n;
    return 1;
}
