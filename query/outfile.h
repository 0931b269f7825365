/*
 * outfile.h - writing a file that people name on the command line, without harming what is
 * there (export -o).
 *
 * Responsibility: the rules for the target of `-o FILE`: the bytes go to a new temporary
 * file beside the target (same directory, created with O_EXCL by mkstemp, mode 0644), which
 * takes the target's name only once it is complete and on disk (fsync, then the directory
 * fsync'd). A target that exists and is not a regular file (symlink, FIFO, socket, device,
 * directory) is refused, always; an existing regular file is refused unless the caller
 * allows replacing it (--force). Without --force the final step cannot replace anything
 * (renameat2 RENAME_NOREPLACE, else link(2)), so a file created meanwhile is not lost; with
 * it the target is checked again just before rename(2), which replaces a name and never
 * writes through a link.
 * Owns: the temporary file (descriptor and name) from qoutfile_open to commit or abort.
 * Errors: QEXIT_USAGE (the target is not acceptable) or QEXIT_STORE (I/O), with a message
 * for people in the caller's at_error (may be NULL; its `where` stays empty, `what` holds
 * the whole message, the path first).
 * Threading: one qoutfile per thread.
 */
#ifndef AGENTTRAIL_QUERY_OUTFILE_H
#define AGENTTRAIL_QUERY_OUTFILE_H

#include <stddef.h>

#include "atcommon.h"

typedef struct qoutfile {
    const char *path; /* the target (borrowed) */
    char *tmp;        /* the temporary file's name (malloc'd) */
    int fd;           /* the temporary file, -1 when none */
    int replace;
} qoutfile;

/* Checks `path` before any work is done: 0 when it does not exist, or is a regular file and
 * `replace` is set; else QEXIT_USAGE or QEXIT_STORE and a message in *err. */
int qoutfile_check(const char *path, int replace, at_error *err);

/* Checks the target and creates the temporary file beside it; o->fd is where to write.
 * 0, or QEXIT_USAGE / QEXIT_STORE and a message (nothing is left behind). */
int qoutfile_open(qoutfile *o, const char *path, int replace, at_error *err);

/* Makes the written bytes durable and gives them the target's name; closes o->fd.
 * 0, or QEXIT_USAGE / QEXIT_STORE and a message (the temporary file is removed). */
int qoutfile_commit(qoutfile *o, at_error *err);

/* Removes the temporary file, if any; accepts a qoutfile that was never opened. */
void qoutfile_abort(qoutfile *o);

#endif
