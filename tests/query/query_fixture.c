/*
 * query_fixture.c - stores from the shared sample data, independent parsing, running
 * trace-query (see query_fixture.h). Single-threaded.
 */
#include "query_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"
#include "tracestore.h"

#define GROUP 512

static const uint8_t test_key[TP_HMAC_KEY_LEN] = {
    0x51, 0x75, 0x65, 0x72, 0x79, 0x54, 0x65, 0x73, 0x74, 0x4b, 0x65, 0x79, 0x00, 0x01, 0x02, 0x03,
    0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13};

static void die(const char *what, const char *where, const char *detail)
{
    fprintf(stderr, "query fixture: %s: %s: %s\n", where, what, detail ? detail : "");
    abort();
}

static void append_group(ts_store *s, tp_event **evs, size_t n, const char *path)
{
    ts_result res[GROUP];
    int rc = ts_append(s, evs, n, res);
    if (rc != 0) die("ts_append failed", path, ts_last_error(s));
    for (size_t i = 0; i < n; i++)
        tp_event_destroy(&evs[i]);
}

/* One JSON line as the tests store it: parsed and prepared with the test HMAC key. */
static tp_event *parse_event(const char *line, size_t len, const char *path, size_t lineno)
{
    tp_limits lim = tp_limits_default();
    at_error err;
    tp_event *ev = NULL;
    if (tp_event_from_json(line, len, &lim, 0, &ev, &err, NULL) != 0 ||
        tp_event_prepare(ev, test_key, 0, &err) != 0) {
        char where[4200], buf[600];
        snprintf(where, sizeof where, "%s:%zu", path, lineno);
        die("bad event", where, at_error_format(&err, buf, sizeof buf));
    }
    return ev;
}

void qf_store_append(const char *dir, const char *const *lines, size_t n)
{
    at_error msg = {0};
    ts_store *s = NULL;
    if (ts_open(dir, 0, NULL, &s, &msg) != 0) die("ts_open failed", dir, msg.what);
    tp_event *evs[GROUP];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        evs[k++] = parse_event(lines[i], strlen(lines[i]), "qf_store_append", i + 1);
        if (k == GROUP || i + 1 == n) {
            append_group(s, evs, k, dir);
            k = 0;
        }
    }
    ts_close(&s);
}

char *qf_build_store(const char *rel)
{
    char *path = tu_shared(rel);
    char *store = qf_build_store_path(path);
    free(path);
    return store;
}

char *qf_build_store_path(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) die("cannot open", path, "is ../shared/ beside the project?");
    char *store = tu_tempdir("query");
    at_error msg = {0};
    ts_store *s = NULL;
    if (ts_open(store, TS_OPEN_CREATE, NULL, &s, &msg) != 0) die("ts_open failed", store, msg.what);
    tp_event *evs[GROUP];
    size_t n = 0, lineno = 0, cap = 0;
    char *line = NULL;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) > 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = 0;
        if (len == 0) continue;
        evs[n++] = parse_event(line, (size_t)len, path, lineno);
        if (n == GROUP) {
            append_group(s, evs, n, path);
            n = 0;
        }
    }
    if (n) append_group(s, evs, n, path);
    free(line);
    fclose(f);
    ts_close(&s);
    return store;
}

json_t *qf_load_events(const char *rel)
{
    char *path = tu_shared(rel);
    FILE *f = fopen(path, "r");
    if (!f) die("cannot open", path, NULL);
    json_t *arr = json_array();
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) > 0) {
        if (len <= 1) continue;
        json_error_t jerr;
        json_t *o = json_loadb(line, (size_t)len, 0, &jerr);
        if (!o) die("bad JSON", path, jerr.text);
        json_array_append_new(arr, o);
    }
    free(line);
    fclose(f);
    free(path);
    return arr;
}

int qf_query(char **out, char **err, ...)
{
    va_list ap;
    va_start(ap, err);
    int rc = tu_run_va("trace-query", NULL, out, NULL, err, ap);
    va_end(ap);
    return rc;
}

size_t qf_columns(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80) w++;
    return w;
}

char **qf_lines(char *text, size_t *n)
{
    size_t cap = 16, k = 0;
    char **v = malloc(cap * sizeof *v);
    if (!v) abort();
    char *p = text;
    while (p && *p) {
        char *nl = strchr(p, '\n');
        if (nl) *nl = 0;
        if (k == cap) {
            cap *= 2;
            v = realloc(v, cap * sizeof *v);
            if (!v) abort();
        }
        v[k++] = p;
        p = nl ? nl + 1 : NULL;
    }
    *n = k;
    return v;
}

int qf_next_cursor(const char *err, char *cursor, size_t cap)
{
    const char *next = err ? strstr(err, "next: ") : NULL;
    if (!next) return 0;
    size_t cl = strcspn(next + 6, "\n");
    assert_true(cl > 0 && cl < cap);
    memcpy(cursor, next + 6, cl);
    cursor[cl] = 0;
    return 1;
}

qf_data qf;

enum { QF_SWE = 1, QF_TAU = 2 };

static int qf_setup(unsigned want)
{
    unsetenv("COLUMNS");
    if (want & QF_SWE) {
        qf.swe_store = qf_build_store("data/swe-agent.jsonl");
        qf.swe = qf_load_events("data/swe-agent.jsonl");
    }
    if (want & QF_TAU) {
        qf.tau_store = qf_build_store("data/tau.jsonl");
        qf.tau = qf_load_events("data/tau.jsonl");
    }
    return 0;
}

int qf_setup_all(void **state)
{
    (void)state;
    return qf_setup(QF_SWE | QF_TAU);
}

int qf_setup_swe(void **state)
{
    (void)state;
    return qf_setup(QF_SWE);
}

int qf_setup_tau(void **state)
{
    (void)state;
    return qf_setup(QF_TAU);
}

int qf_teardown(void **state)
{
    (void)state;
    tu_rmtree_free(qf.swe_store);
    tu_rmtree_free(qf.tau_store);
    json_decref(qf.swe);
    json_decref(qf.tau);
    qf = (qf_data){0};
    return 0;
}
