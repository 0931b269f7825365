/*
 * spool.c - the shim's disk spool (see spool.h for the format).
 *
 * Owns: the spool directory's lock fd, the open write segment, the list of
 * segment ids present on disk.
 * Invariants: `segs` is sorted ascending; the write segment, when open, is
 * the last id in `segs`; a taken (replaying) segment is never the write one;
 * `wbytes` is the length of the write segment's good prefix (header and
 * whole records): a failed write is truncated back to it; `synced` <=
 * `wbytes` is the part of it known durable.
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
#define RECORD_HEADER 16

static const uint8_t seg_magic[7] = {'A', 'T', 'S', 'P', 'O', 'O', 'L'};
static const uint8_t rec_magic[4] = {'A', 'T', 'R', 'C'};

struct spool {
    pthread_mutex_t mu;
    char *dir;
    int lock_fd;
    int wfd;        /* write segment fd, -1 when none is open */
    uint64_t wid;   /* its id */
    size_t wbytes;  /* bytes of it that hold the header and whole records */
    size_t synced;  /* of which known durable (fsync'd) */
    int dirty;      /* written since the last fsync */
    long unsynced;  /* records appended and not yet fsync'd */
    long cut;       /* records cut off after a failed fsync, not yet reported */
    uint64_t *segs; /* ids of segments on disk, ascending */
    size_t nsegs, capsegs;
    uint64_t next_id;
    uint64_t first_own; /* segments below this id were on disk at open */
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

void spool_segment_name(uint64_t seg_id, char *out, size_t outlen)
{
    snprintf(out, outlen, "seg-%016" PRIu64 ".spool", seg_id);
}

static void seg_path(const spool *sp, uint64_t id, char *out, size_t outlen)
{
    char name[64];
    spool_segment_name(id, name, sizeof name);
    snprintf(out, outlen, "%s/%s", sp->dir, name);
}

const char *spool_dir(const spool *sp)
{
    return sp->dir;
}

static int segs_push(spool *sp, uint64_t id)
{
    if (at_grow((void **)&sp->segs, &sp->capsegs, sp->nsegs + 1, sizeof *sp->segs, 16)) return -1;
    sp->segs[sp->nsegs++] = id;
    return 0;
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
static int load_shim_id(const char *dir, char shim_id[33], at_error *err)
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
            if (at_hex_decode(buf, 32, tmp, 16) == 0) {
                memcpy(shim_id, buf, 32);
                shim_id[32] = 0;
                return 0;
            }
        }
        at_errf(err, -1,
                "%s: not 32 lowercase hex digits; remove the file to give this spool a new "
                "shim id",
                path);
        return -1;
    }
    uint8_t id[16];
    if (tp_id_random(id, sizeof id) != 0) {
        at_errf(err, -1, "spool: cannot draw a random shim id (OpenSSL)");
        return -1;
    }
    at_hex_encode(id, 16, shim_id);
    char tmp[4096 + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write_all(fd, shim_id, 32) != 0 || write_all(fd, "\n", 1) != 0 ||
        fsync(fd) != 0) {
        at_errf(err, -1, "%s: cannot write: %s", tmp, strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    close(fd);
    if (rename(tmp, path) != 0 || fsync_dir(dir) != 0) {
        at_errf(err, -1, "%s: cannot create: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int list_segments(spool *sp, at_error *err)
{
    DIR *d = opendir(sp->dir);
    if (!d) {
        at_errf(err, -1, "%s: cannot list: %s", sp->dir, strerror(errno));
        return -1;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *n = e->d_name;
        if (strncmp(n, "seg-", 4) != 0 || strlen(n) != 4 + 16 + 6 || strcmp(n + 20, ".spool") != 0)
            continue;
        uint64_t id = 0;
        if (at_parse_u64(n + 4, 16, UINT64_MAX, &id) != 0) continue;
        if (segs_push(sp, (uint64_t)id) != 0) {
            closedir(d);
            at_errf(err, -1, "spool: out of memory");
            return -1;
        }
    }
    closedir(d);
    if (sp->nsegs) qsort(sp->segs, sp->nsegs, sizeof *sp->segs, at_cmp_u64);
    sp->next_id = sp->nsegs ? sp->segs[sp->nsegs - 1] + 1 : 1;
    sp->first_own = sp->next_id;
    return 0;
}

int spool_open(const char *dir, spool **out, char shim_id[33], int *locked, at_error *err)
{
    *out = NULL;
    *locked = 0;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        at_errf(err, -1, "%s: cannot create the spool directory: %s", dir, strerror(errno));
        return -1;
    }
    spool *sp = calloc(1, sizeof *sp);
    if (!sp || !(sp->dir = strdup(dir))) {
        free(sp);
        at_errf(err, -1, "spool: out of memory");
        return -1;
    }
    pthread_mutex_init(&sp->mu, NULL);
    sp->wfd = -1;
    char path[4096];
    snprintf(path, sizeof path, "%s/lock", dir);
    sp->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (sp->lock_fd < 0) {
        at_errf(err, -1, "%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    if (flock(sp->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        *locked = errno == EWOULDBLOCK;
        at_errf(err, -1,
                "%s: the spool directory is in use by another process; give this one its "
                "own --spool-dir",
                dir);
        goto fail;
    }
    if (load_shim_id(dir, shim_id, err) != 0) goto fail;
    if (list_segments(sp, err) != 0) goto fail;
    *out = sp;
    return 0;
fail:
    spool_close(&sp);
    return -1;
}

static void truncate_back(spool *sp, size_t to);

static int close_write_segment(spool *sp)
{
    int rc = 0;
    if (sp->wfd >= 0) {
        if (sp->dirty && fsync(sp->wfd) != 0) {
            /* Not known durable: cut off, reported by the next spool_sync. */
            rc = -1;
            truncate_back(sp,
                          sp->synced > SPOOL_SEGMENT_HEADER ? sp->synced : SPOOL_SEGMENT_HEADER);
            sp->cut += sp->unsynced;
            sp->unsynced = 0;
        }
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
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) return -1;
    uint8_t hdr[SPOOL_SEGMENT_HEADER];
    memcpy(hdr, seg_magic, sizeof seg_magic);
    hdr[7] = SPOOL_FORMAT_VERSION;
    if (write_all(fd, hdr, sizeof hdr) != 0 || segs_push(sp, id) != 0) {
        int e = errno;
        close(fd);
        unlink(path);
        errno = e ? e : ENOMEM;
        return -1;
    }
    /* The new name must survive a crash before any record in it counts. */
    fsync_dir(sp->dir);
    sp->next_id++;
    sp->wfd = fd;
    sp->wid = id;
    sp->wbytes = sizeof hdr;
    sp->synced = 0;
    sp->dirty = 1;
    return 0;
}

/* Cuts a failed write off the write segment (O_APPEND writes go to the new
 * end), keeping errno. */
static void truncate_back(spool *sp, size_t to)
{
    int e = errno;
    if (ftruncate(sp->wfd, (off_t)to) == 0) sp->wbytes = to;
    errno = e;
}

static void record_header(uint8_t hdr[RECORD_HEADER], const uint8_t *payload, size_t len)
{
    memcpy(hdr, rec_magic, 4);
    put_le32(hdr + 4, (uint32_t)len);
    put_le32(hdr + 8, spool_crc32(payload, len));
    put_le32(hdr + 12, spool_crc32(hdr, 12));
}

/* Writes gathered iovecs whole (a short writev is finished piece by piece). */
static int writev_all(int fd, struct iovec *iov, size_t niov, size_t total)
{
    ssize_t w = writev(fd, iov, (int)niov);
    if (w < 0) return -1;
    size_t done = (size_t)w;
    if (done == total) return 0;
    for (size_t k = 0; k < niov; k++) {
        if (done >= iov[k].iov_len) {
            done -= iov[k].iov_len;
            continue;
        }
        if (write_all(fd, (uint8_t *)iov[k].iov_base + done, iov[k].iov_len - done) != 0) return -1;
        done = 0;
    }
    return 0;
}

int spool_append(spool *sp, const uint8_t *const *bufs, const size_t *lens, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (lens[i] > SPOOL_RECORD_MAX) {
            errno = EMSGSIZE;
            return -1;
        }
    }
    pthread_mutex_lock(&sp->mu);
    int rc = 0;
    if (sp->wfd >= 0 && sp->wbytes >= SEGMENT_ROTATE_BYTES) rc = close_write_segment(sp);
    if (rc == 0 && sp->wfd < 0) rc = open_write_segment(sp);
    size_t start = sp->wbytes;
    /* Gather records into iovecs, at most 64 records per writev. */
    enum { CHUNK = 64 };
    uint8_t hdr[CHUNK][RECORD_HEADER];
    struct iovec iov[CHUNK * 2];
    for (size_t i = 0; rc == 0 && i < n; i += CHUNK) {
        size_t m = n - i < CHUNK ? n - i : CHUNK, total = 0;
        for (size_t k = 0; k < m; k++) {
            record_header(hdr[k], bufs[i + k], lens[i + k]);
            iov[2 * k].iov_base = hdr[k];
            iov[2 * k].iov_len = RECORD_HEADER;
            iov[2 * k + 1].iov_base = (void *)bufs[i + k];
            iov[2 * k + 1].iov_len = lens[i + k];
            total += RECORD_HEADER + lens[i + k];
        }
        rc = writev_all(sp->wfd, iov, 2 * m, total);
        sp->wbytes += total;
        sp->dirty = 1;
    }
    if (rc == 0) {
        sp->unsynced += (long)n;
    } else if (sp->wfd >= 0) {
        truncate_back(sp, start); /* all or nothing: no half record in the segment */
    }
    pthread_mutex_unlock(&sp->mu);
    return rc;
}

long spool_sync(spool *sp, long *lost)
{
    /* fsync outside the mutex, on a dup of the fd: emit threads appending
     * to the spool must not wait for the disk. */
    if (lost) *lost = 0;
    pthread_mutex_lock(&sp->mu);
    if (sp->cut) {
        if (lost) *lost = sp->cut;
        sp->cut = 0;
        pthread_mutex_unlock(&sp->mu);
        errno = EIO;
        return -1;
    }
    if (sp->wfd < 0 || !sp->dirty) {
        long n = sp->unsynced; /* made durable by a rotation's fsync */
        sp->unsynced = 0;
        pthread_mutex_unlock(&sp->mu);
        return n;
    }
    int fd = dup(sp->wfd);
    long n = sp->unsynced;
    uint64_t id = sp->wid;
    size_t upto = sp->wbytes, from = sp->synced;
    sp->unsynced = 0;
    sp->dirty = 0;
    pthread_mutex_unlock(&sp->mu);
    if (fd >= 0 && fsync(fd) == 0) {
        close(fd);
        pthread_mutex_lock(&sp->mu);
        if (sp->wid == id && sp->synced < upto) sp->synced = upto;
        pthread_mutex_unlock(&sp->mu);
        return n;
    }
    int e = errno;
    if (fd >= 0) close(fd);
    /* What the failed fsync covered may or may not be on disk: cut it off,
     * and everything appended since, so that nothing counts as spooled that
     * is not known durable. */
    pthread_mutex_lock(&sp->mu);
    long cut = n;
    if (sp->wfd >= 0 && sp->wid == id) {
        cut += sp->unsynced;
        sp->unsynced = 0;
        truncate_back(sp, from > SPOOL_SEGMENT_HEADER ? from : SPOOL_SEGMENT_HEADER);
        sp->dirty = 1;
    }
    pthread_mutex_unlock(&sp->mu);
    if (lost) *lost = cut;
    errno = e;
    return -1;
}

int spool_has_data(spool *sp)
{
    pthread_mutex_lock(&sp->mu);
    int r = sp->nsegs > 1 || (sp->nsegs == 1 && (sp->wfd < 0 || sp->wbytes > SPOOL_SEGMENT_HEADER));
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

int spool_replay_take(spool *sp, uint64_t *seg_id, uint8_t **data, size_t *len, int *inherited)
{
    pthread_mutex_lock(&sp->mu);
    int rc = 0;
    for (;;) {
        if (sp->nsegs == 0) break;
        uint64_t id = sp->segs[0];
        if (sp->wfd >= 0 && id == sp->wid) {
            if (sp->wbytes <= SPOOL_SEGMENT_HEADER) break; /* only an empty write segment */
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
        *inherited = id < sp->first_own;
        rc = 1;
        break;
    }
    pthread_mutex_unlock(&sp->mu);
    return rc;
}

static void segs_forget(spool *sp, uint64_t seg_id)
{
    for (size_t i = 0; i < sp->nsegs; i++) {
        if (sp->segs[i] == seg_id) {
            memmove(sp->segs + i, sp->segs + i + 1, (sp->nsegs - i - 1) * sizeof *sp->segs);
            sp->nsegs--;
            break;
        }
    }
}

int spool_remove(spool *sp, uint64_t seg_id)
{
    pthread_mutex_lock(&sp->mu);
    char path[4096];
    seg_path(sp, seg_id, path, sizeof path);
    int rc = unlink(path) == 0 || errno == ENOENT ? 0 : -1;
    segs_forget(sp, seg_id);
    if (rc == 0) fsync_dir(sp->dir);
    pthread_mutex_unlock(&sp->mu);
    return rc;
}

int spool_set_aside(spool *sp, uint64_t seg_id)
{
    pthread_mutex_lock(&sp->mu);
    char path[4096], aside[4096 + 16];
    seg_path(sp, seg_id, path, sizeof path);
    snprintf(aside, sizeof aside, "%s.unreadable", path);
    int rc = rename(path, aside) == 0 ? 0 : -1;
    if (rc == 0) {
        segs_forget(sp, seg_id);
        fsync_dir(sp->dir);
    }
    pthread_mutex_unlock(&sp->mu);
    return rc;
}

int spool_put_aside(spool *sp, const uint8_t *const *bufs, const size_t *lens, size_t n)
{
    pthread_mutex_lock(&sp->mu);
    char path[4096 + 32];
    snprintf(path, sizeof path, "%s/" SPOOL_ASIDE_NAME, sp->dir);
    int rc = -1, fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0) {
        rc = 0;
        if (st.st_size == 0) {
            uint8_t hdr[SPOOL_SEGMENT_HEADER];
            memcpy(hdr, seg_magic, sizeof seg_magic);
            hdr[7] = SPOOL_FORMAT_VERSION;
            rc = write_all(fd, hdr, sizeof hdr);
        }
        for (size_t i = 0; rc == 0 && i < n; i++) {
            uint8_t h[RECORD_HEADER];
            record_header(h, bufs[i], lens[i]);
            struct iovec iov[2] = {{h, RECORD_HEADER}, {(void *)bufs[i], lens[i]}};
            rc = writev_all(fd, iov, 2, RECORD_HEADER + lens[i]);
        }
        if (rc == 0) rc = fsync(fd);
        if (rc != 0 && ftruncate(fd, st.st_size) != 0) rc = -1;
    }
    int e = errno;
    if (fd >= 0) close(fd);
    pthread_mutex_unlock(&sp->mu);
    errno = e;
    return rc;
}

/* ---- reading records ------------------------------------------------- */

void spool_cursor_init(spool_cursor *c, const uint8_t *data, size_t len)
{
    c->data = data;
    c->len = len;
    c->off = 0;
    c->version = 0;
}

/* 1 when a good version-2 record header is at `off` (magic, header CRC, a
 * length within the limit and the segment); its length in *n. */
static int header_ok(const spool_cursor *c, size_t off, uint32_t *n)
{
    if (c->len - off < RECORD_HEADER) return 0;
    const uint8_t *h = c->data + off;
    if (memcmp(h, rec_magic, 4) != 0 || spool_crc32(h, 12) != get_le32(h + 12)) return 0;
    *n = get_le32(h + 4);
    return *n <= SPOOL_RECORD_MAX;
}

static int damage(spool_cursor *c, spool_damage *dmg, size_t to, long events, const char *why)
{
    dmg->off = c->off;
    dmg->bytes = to - c->off;
    dmg->events = events;
    dmg->why = why;
    c->off = to;
    return -1;
}

/* Reads the segment's file header: sets the version. */
static int cursor_start(spool_cursor *c, spool_damage *dmg)
{
    c->version = 1;
    if (c->len >= 4 && memcmp(c->data, seg_magic, 4) == 0) {
        if (c->len < SPOOL_SEGMENT_HEADER) { /* torn while created: nothing in it */
            c->off = c->len;
            return 0;
        }
        if (memcmp(c->data, seg_magic, sizeof seg_magic) != 0 ||
            c->data[7] != SPOOL_FORMAT_VERSION) {
            c->version = -1;
            return damage(c, dmg, c->len, -1,
                          "not a spool segment of format version 2 (written by another version "
                          "of libtraceshim?)");
        }
        c->version = 2;
        c->off = SPOOL_SEGMENT_HEADER;
    }
    return 0;
}

static int next_v1(spool_cursor *c, const uint8_t **rec, size_t *rec_len, spool_damage *dmg)
{
    if (c->len - c->off < 8)
        return damage(c, dmg, c->len, -1,
                      "version 1 record torn or corrupt; the rest of a "
                      "version 1 segment cannot be resynchronised");
    uint32_t n = get_le32(c->data + c->off), crc = get_le32(c->data + c->off + 4);
    const uint8_t *p = c->data + c->off + 8;
    if (n > SPOOL_RECORD_MAX || n > c->len - c->off - 8 || spool_crc32(p, n) != crc)
        return damage(c, dmg, c->len, -1,
                      "version 1 record torn or corrupt; the rest of a "
                      "version 1 segment cannot be resynchronised");
    *rec = p;
    *rec_len = n;
    c->off += 8 + (size_t)n;
    return 1;
}

static int next_v2(spool_cursor *c, const uint8_t **rec, size_t *rec_len, spool_damage *dmg)
{
    uint32_t n;
    if (!header_ok(c, c->off, &n)) { /* resync: the next offset with a good header */
        size_t at = c->off + 1;
        while (at < c->len && !header_ok(c, at, &n))
            at++;
        return damage(c, dmg, at, -1,
                      at < c->len ? "record header unreadable"
                                  : "record header unreadable or torn");
    }
    const uint8_t *p = c->data + c->off + RECORD_HEADER;
    if (n > c->len - c->off - RECORD_HEADER)
        return damage(c, dmg, c->len, 1, "record torn (shorter than its length)");
    if (spool_crc32(p, n) != get_le32(c->data + c->off + 8))
        return damage(c, dmg, c->off + RECORD_HEADER + n, 1, "record payload fails its CRC");
    *rec = p;
    *rec_len = n;
    c->off += RECORD_HEADER + (size_t)n;
    return 1;
}

int spool_cursor_next(spool_cursor *c, const uint8_t **rec, size_t *rec_len, size_t *rec_off,
                      spool_damage *dmg)
{
    if (c->version == 0 && cursor_start(c, dmg) != 0) return -1;
    if (c->off >= c->len || c->version < 0) return 0;
    if (rec_off) *rec_off = c->off;
    return c->version == 1 ? next_v1(c, rec, rec_len, dmg) : next_v2(c, rec, rec_len, dmg);
}
