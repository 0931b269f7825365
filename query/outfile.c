/*
 * outfile.c - the target of `-o FILE`, written through a temporary file beside it (see
 * outfile.h for the rules).
 *
 * Owns: the temporary file between qoutfile_open and qoutfile_commit/qoutfile_abort.
 * Threading: reentrant.
 */
#include "outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"

/* What a file type is called in messages. */
static const char *type_name(mode_t m)
{
    if (S_ISLNK(m)) return "a symbolic link";
    if (S_ISFIFO(m)) return "a FIFO";
    if (S_ISSOCK(m)) return "a socket";
    if (S_ISCHR(m) || S_ISBLK(m)) return "a device";
    if (S_ISDIR(m)) return "a directory";
    return "not a regular file";
}

int qoutfile_check(const char *path, int replace, at_error *err)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT) return 0;
        at_error_set(err, "", "%s: cannot check it: %s", path, strerror(errno));
        return QEXIT_STORE;
    }
    if (!S_ISREG(st.st_mode)) {
        at_error_set(err, "",
                     "%s is %s: not replaced (give the name of a new file, or -o - for stdout)",
                     path, type_name(st.st_mode));
        return QEXIT_USAGE;
    }
    if (!replace) {
        at_error_set(err, "",
                     "%s exists: not overwritten (pass --force to replace it, or choose another "
                     "name)",
                     path);
        return QEXIT_USAGE;
    }
    return 0;
}

int qoutfile_open(qoutfile *o, const char *path, int replace, at_error *err)
{
    memset(o, 0, sizeof *o);
    o->fd = -1;
    o->path = path;
    o->replace = replace;
    int rc = qoutfile_check(path, replace, err);
    if (rc) return rc;
    size_t plen = strlen(path);
    o->tmp = malloc(plen + 16);
    if (!o->tmp) {
        at_error_set(err, "", "out of memory");
        return QEXIT_STORE;
    }
    snprintf(o->tmp, plen + 16, "%s.tmp-XXXXXX", path);
    o->fd = mkstemp(o->tmp); /* O_CREAT | O_EXCL, mode 0600 */
    if (o->fd < 0) {
        at_error_set(err, "", "%s: cannot create a temporary file beside it: %s", path,
                     strerror(errno));
        free(o->tmp);
        o->tmp = NULL;
        return QEXIT_STORE;
    }
    if (fchmod(o->fd, 0644) != 0) {
        at_error_set(err, "", "%s: cannot set the mode: %s", o->tmp, strerror(errno));
        qoutfile_abort(o);
        return QEXIT_STORE;
    }
    return 0;
}

/* Gives tmp the target's name without replacing anything: 0, or -1 with errno. */
static int rename_noreplace(const char *tmp, const char *path)
{
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0) return 0;
    if (errno != EINVAL && errno != ENOSYS) return -1;
    /* A file system without RENAME_NOREPLACE: a hard link fails the same way on EEXIST. */
    if (link(tmp, path) != 0) return -1;
    unlink(tmp);
    return 0;
}

/* fsync of the directory holding path, so that the new name survives a crash. */
static void sync_dir(const char *path)
{
    char *copy = strdup(path);
    if (!copy) return;
    int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    free(copy);
}

int qoutfile_commit(qoutfile *o, at_error *err)
{
    int rc = 0;
    if (fsync(o->fd) != 0) {
        at_error_set(err, "", "%s: cannot write: %s", o->path, strerror(errno));
        rc = QEXIT_STORE;
    }
    if (close(o->fd) != 0 && !rc) {
        at_error_set(err, "", "%s: cannot write: %s", o->path, strerror(errno));
        rc = QEXIT_STORE;
    }
    o->fd = -1;
    if (!rc && o->replace) {
        /* Checked again: the target may have changed while the bundle was built. */
        rc = qoutfile_check(o->path, 1, err);
        if (!rc && rename(o->tmp, o->path) != 0) {
            at_error_set(err, "", "%s: cannot rename the finished file into place: %s", o->path,
                         strerror(errno));
            rc = QEXIT_STORE;
        }
    } else if (!rc && rename_noreplace(o->tmp, o->path) != 0) {
        int e = errno;
        if (e == EEXIST) rc = qoutfile_check(o->path, 0, err);
        if (!rc) {
            at_error_set(err, "", "%s: cannot give the finished file its name: %s", o->path,
                         strerror(e));
            rc = QEXIT_STORE;
        }
    }
    if (rc) {
        qoutfile_abort(o);
        return rc;
    }
    sync_dir(o->path);
    free(o->tmp);
    o->tmp = NULL;
    return 0;
}

void qoutfile_abort(qoutfile *o)
{
    if (o->fd >= 0) close(o->fd);
    o->fd = -1;
    if (o->tmp) unlink(o->tmp);
    free(o->tmp);
    o->tmp = NULL;
}
