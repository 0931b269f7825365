/*
 * keyring.c - the signing keys `trace-query verify` trusts for a bundle (see keyring.h).
 *
 * Owns: the keys of a qkeyring. Invariants: an entry is one PEM block or one verifier line,
 * parsed by cp_key_parse_public; the file is read whole (a keyring is small: at most 1 MiB).
 * Threading: single-threaded.
 */
#include "keyring.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEYRING_MAX (1u << 20)

static char *read_small(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = malloc(KEYRING_MAX + 1);
    size_t n = buf ? fread(buf, 1, KEYRING_MAX + 1, f) : 0;
    int bad = !buf || ferror(f) || n > KEYRING_MAX;
    fclose(f);
    if (bad) {
        free(buf);
        errno = buf ? EFBIG : ENOMEM;
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

static int keyring_add(qkeyring *kr, const char *text, size_t len)
{
    cp_key *k = NULL;
    if (cp_key_parse_public(text, len, &k) != 0) return -1;
    cp_key **v = realloc(kr->keys, (kr->n + 1) * sizeof *v);
    if (!v) {
        cp_key_destroy(&k);
        return -1;
    }
    kr->keys = v;
    kr->keys[kr->n++] = k;
    return 0;
}

/* The end of the line starting at p (at its '\n', or `end`). */
static const char *line_end(const char *p, const char *end)
{
    const char *e = memchr(p, '\n', (size_t)(end - p));
    return e ? e : end;
}

/* err = "path:line: what"; returns -1. */
static int keyring_fail(at_error *err, const char *path, unsigned line, const char *what)
{
    char where[sizeof err->where];
    snprintf(where, sizeof where, "%s:%u", path, line);
    at_error_set(err, where, "%s", what);
    return -1;
}

int qkeyring_parse(const char *text, size_t len, const char *path, qkeyring *kr, at_error *err)
{
    if (memchr(text, 0, len)) {
        at_error_set(err, path, "not a keyring: it holds a NUL byte");
        return -1;
    }
    int rc = 0;
    unsigned line = 1;
    const char *end = text + len;
    for (const char *p = text; p < end && rc == 0;) {
        const char *e = line_end(p, end), *start = p;
        unsigned first = line;
        size_t n = (size_t)(e - p);
        while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if (n > 0 && p[0] != '#') {
            int pem = n >= 11 && strncmp(p, "-----BEGIN ", 11) == 0;
            while (pem && e < end && !((size_t)(e - p) >= 9 && strncmp(p, "-----END ", 9) == 0)) {
                p = e + 1; /* the block runs to its END line */
                e = line_end(p, end);
                line++;
            }
            if (pem && !((size_t)(e - p) >= 9 && strncmp(p, "-----END ", 9) == 0)) {
                rc = keyring_fail(err, path, first, "a PEM block with no END line");
            } else if (keyring_add(kr, start, (size_t)(e - start)) != 0) {
                rc = keyring_fail(err, path, first,
                                  "not an Ed25519 public key (PEM or verifier line)");
            }
        }
        p = e < end ? e + 1 : e;
        line++;
    }
    if (rc == 0 && kr->n == 0) {
        at_error_set(err, path, "the keyring holds no key");
        rc = -1;
    }
    return rc;
}

int qkeyring_load(const char *path, qkeyring *kr, at_error *err)
{
    size_t len = 0;
    char *text = read_small(path, &len);
    if (!text) {
        at_error_set(err, path, "cannot read the keyring: %s", strerror(errno));
        return -1;
    }
    int rc = qkeyring_parse(text, len, path, kr, err);
    free(text);
    return rc;
}

const cp_key *qkeyring_find(const qkeyring *kr, const cp_key *k)
{
    uint8_t want[CP_PUB_LEN], have[CP_PUB_LEN];
    cp_key_public_raw(k, want);
    for (size_t i = 0; i < kr->n; i++) {
        cp_key_public_raw(kr->keys[i], have);
        if (memcmp(want, have, CP_PUB_LEN) == 0) return kr->keys[i];
    }
    return NULL;
}

void qkeyring_clear(qkeyring *kr)
{
    for (size_t i = 0; i < kr->n; i++)
        cp_key_destroy(&kr->keys[i]);
    free(kr->keys);
    kr->keys = NULL;
    kr->n = 0;
}
