/*
 * owners.c - the ownership file (--owners): which human owns the outcomes of a workflow or a
 * service, where no span says it with agenttrail.dri.
 *
 * Format (docs/otlp.md): one "PATTERN OWNER" per line, as CODEOWNERS has it; '#' starts a
 * comment line, blank lines are ignored; PATTERN is workflow:GLOB or service:GLOB (fnmatch(3)
 * globs, no flags); OWNER is one DRI (1..TP_DRI_MAX bytes of UTF-8, no spaces). The last
 * matching line wins; workflow lines are tried before service lines.
 *
 * Owns the loaded table; read-only once loaded, so one table serves many threads.
 */
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otlp_internal.h"

typedef struct owner_line {
    bool workflow; /* else service */
    char *glob;
    char *owner;
} owner_line;

struct otlp_owners {
    owner_line *lines;
    size_t n, cap;
};

void otlp_owners_destroy(otlp_owners **o)
{
    if (!o || !*o) return;
    for (size_t i = 0; i < (*o)->n; i++) {
        free((*o)->lines[i].glob);
        free((*o)->lines[i].owner);
    }
    free((*o)->lines);
    free(*o);
    *o = NULL;
}

static int line_fail(at_error *err, const char *path, unsigned line, const char *what)
{
    char where[256];
    snprintf(where, sizeof where, "%s:%u", path, line);
    at_error_set(err, where, "%s", what);
    return OTLP_EOWNERS;
}

/* Parses one line (NUL-terminated, no newline) into o. */
static int parse_line(otlp_owners *o, char *s, const char *path, unsigned ln, at_error *err)
{
    char *tok[3] = {0};
    int n = 0;
    for (char *save = NULL, *t = strtok_r(s, " \t\r", &save); t; t = strtok_r(NULL, " \t\r", &save))
        if (n < 3)
            tok[n++] = t;
        else
            n = 4;
    if (n == 0 || tok[0][0] == '#') return 0;
    if (n != 2)
        return line_fail(err, path, ln,
                         "expected \"workflow:GLOB OWNER\" or \"service:GLOB OWNER\"");
    bool wf = strncmp(tok[0], "workflow:", 9) == 0;
    if (!wf && strncmp(tok[0], "service:", 8) != 0)
        return line_fail(err, path, ln, "the pattern must start with workflow: or service:");
    const char *glob = tok[0] + (wf ? 9 : 8);
    if (!*glob) return line_fail(err, path, ln, "empty pattern");
    size_t olen = strlen(tok[1]);
    if (olen > TP_DRI_MAX || !otlp_utf8_valid(tok[1], olen) || tok[1][0] == '#')
        return line_fail(err, path, ln, "the owner must be 1-256 bytes of UTF-8");
    if (at_grow((void **)&o->lines, &o->cap, o->n + 1, sizeof *o->lines, 16)) return OTLP_ENOMEM;
    owner_line *l = &o->lines[o->n];
    l->workflow = wf;
    l->glob = strdup(glob);
    l->owner = strdup(tok[1]);
    if (!l->glob || !l->owner) {
        free(l->glob);
        free(l->owner);
        return OTLP_ENOMEM;
    }
    o->n++;
    return 0;
}

int otlp_owners_load(const char *path, otlp_owners **out, at_error *err)
{
    *out = NULL;
    if (!path) return OTLP_EINVAL;
    FILE *f = fopen(path, "r");
    if (!f) {
        at_error_set(err, path, "cannot open: %s", strerror(errno));
        return OTLP_EOWNERS;
    }
    otlp_owners *o = calloc(1, sizeof *o);
    if (!o) {
        fclose(f);
        return OTLP_ENOMEM;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    unsigned ln = 0;
    int rc = 0;
    while (!rc && (len = getline(&line, &cap, f)) >= 0) {
        ln++;
        if (len && line[len - 1] == '\n') line[--len] = 0;
        if (strlen(line) != (size_t)len)
            rc = line_fail(err, path, ln, "holds a NUL byte");
        else
            rc = parse_line(o, line, path, ln, err);
    }
    if (!rc && ferror(f)) {
        at_error_set(err, path, "read error: %s", strerror(errno));
        rc = OTLP_EOWNERS;
    }
    free(line);
    fclose(f);
    if (rc) {
        otlp_owners_destroy(&o);
        return rc;
    }
    *out = o;
    return 0;
}

static const char *last_match(const otlp_owners *o, bool workflow, const char *name)
{
    if (!name) return NULL;
    for (size_t i = o->n; i-- > 0;)
        if (o->lines[i].workflow == workflow && fnmatch(o->lines[i].glob, name, 0) == 0)
            return o->lines[i].owner;
    return NULL;
}

const char *otlp_owners_find(const otlp_owners *o, const char *workflow, const char *service)
{
    if (!o) return NULL;
    const char *w = last_match(o, true, workflow);
    return w ? w : last_match(o, false, service);
}
