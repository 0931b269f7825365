/*
 * key_file.c - opening key and list files safely, and the text of a CURVE key
 * file, shared by trace-collector (collector/auth.c) and trace-shim.
 *
 * Owns: nothing; every function is given its buffers. Errors name the file in
 * at_error's `what` (where stays empty), so a long path is not cut at `where`'s size. A file is
 * opened with O_NONBLOCK so that a FIFO or a device named by mistake (or by an attacker) fails at
 * once instead of hanging start-up, then refused unless it is a regular file.
 *
 * The CURVE key file format (docs/security.md): '#' comment lines and blank
 * lines, and one key line: "Z85 secret-key" in a secret key file (what
 * `trace-collector keygen --curve` writes), the bare 40 Z85 characters in a
 * public key file. The marker is what lets a loader that wants a public key
 * refuse a secret one: both are 40 random-looking Z85 characters. It follows
 * the key so that the file still starts with the key's 40 characters.
 *
 * Threading: reentrant; no global state.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "traceproto.h"

int tp_file_open_regular(const char *path, struct stat *st, at_error *err)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        return at_errf(err, -1, "%s: cannot open: %s", path, strerror(errno));
    }
    if (fstat(fd, st) != 0) {
        at_errf(err, -1, "%s: cannot stat: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (!S_ISREG(st->st_mode)) {
        const char *what = S_ISFIFO(st->st_mode)   ? "a FIFO"
                           : S_ISDIR(st->st_mode)  ? "a directory"
                           : S_ISSOCK(st->st_mode) ? "a socket"
                                                   : "a device";
        at_errf(err, -1, "%s: is %s, not a regular file; refused", path, what);
        close(fd);
        return -1;
    }
    /* Regular files never block; later reads need no special handling. */
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    return fd;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

#define SECRET_MARKER "secret-key"

int tp_curve_key_parse(const char *text, size_t len, char z85[TP_CURVE_Z85_LEN + 1],
                       int *marked_secret)
{
    const char *p = text, *end = text + len;
    int found = 0;
    *marked_secret = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end, *s = p;
        p = nl ? nl + 1 : end;
        while (s < e && is_blank(*s))
            s++;
        while (e > s && is_blank(e[-1]))
            e--;
        if (s == e || *s == '#') continue;
        if (found) return -1;           /* one key per file */
        if (e - s > TP_CURVE_Z85_LEN) { /* "KEY secret-key" */
            const char *m = s + TP_CURVE_Z85_LEN;
            size_t ml = sizeof SECRET_MARKER - 1;
            if (!is_blank(*m)) return -1;
            while (m < e && is_blank(*m))
                m++;
            if ((size_t)(e - m) != ml || memcmp(m, SECRET_MARKER, ml) != 0) return -1;
            *marked_secret = 1;
        }
        if (e - s < TP_CURVE_Z85_LEN || memchr(s, '\0', TP_CURVE_Z85_LEN)) return -1;
        memcpy(z85, s, TP_CURVE_Z85_LEN);
        z85[TP_CURVE_Z85_LEN] = 0;
        found = 1;
    }
    return found ? 0 : -1;
}
