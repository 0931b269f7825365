/*
 * file.c - the atomic writer of new files that must never be overwritten or seen half
 * written: secret keys, public keys, the HMAC key (atcommon.h).
 *
 * How: mkstemp in the target's directory, write and fsync, fchmod to the exact mode, then
 * link(2) the temporary name to the target (link fails with EEXIST instead of replacing),
 * unlink the temporary name and fsync the directory. A crash leaves at worst a temporary
 * ".NAME.XXXXXX" file, never a partial key under the real name.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atcommon.h"

int at_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return -1;
        if (w == 0) {
            errno = EIO;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* The directory of path and ".BASE.XXXXXX" beside it. */
static int temp_name(const char *path, char *dir, size_t dirlen, char *tmp, size_t tmplen)
{
    char a[4096], b[4096];
    if (snprintf(a, sizeof a, "%s", path) >= (int)sizeof a) return -1;
    if (snprintf(b, sizeof b, "%s", path) >= (int)sizeof b) return -1;
    const char *d = dirname(a), *base = basename(b);
    if (snprintf(dir, dirlen, "%s", d) >= (int)dirlen) return -1;
    if (snprintf(tmp, tmplen, "%s/.%s.XXXXXX", d, base) >= (int)tmplen) return -1;
    return 0;
}

static void fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    (void)fsync(fd); /* the entry is there either way; this only hurries it to disk */
    close(fd);
}

int at_file_create(const char *path, const void *data, size_t len, mode_t mode, at_error *err)
{
    char dir[4096], tmp[4200];
    if (temp_name(path, dir, sizeof dir, tmp, sizeof tmp) != 0)
        return at_errf(err, AT_EIO, "%s: path too long", path);
    int fd = mkstemp(tmp);
    if (fd < 0)
        return at_errf(err, AT_EIO, "%s: cannot create a file in %s: %s", path, dir,
                       strerror(errno));
    int ok = fchmod(fd, mode) == 0 && at_write_all(fd, data, len) == 0 && fsync(fd) == 0;
    int e = errno;
    if (close(fd) != 0 && ok) {
        ok = 0;
        e = errno;
    }
    if (!ok) {
        unlink(tmp);
        return at_errf(err, AT_EIO, "%s: cannot write: %s", path, strerror(e));
    }
    if (link(tmp, path) != 0) {
        e = errno;
        unlink(tmp);
        if (e == EEXIST)
            return at_errf(err, AT_EEXIST, "%s: already exists; it is never overwritten", path);
        return at_errf(err, AT_EIO, "%s: cannot create: %s", path, strerror(e));
    }
    unlink(tmp);
    fsync_dir(dir);
    return AT_OK;
}
