/*
 * fault_events.c - the canary events for the fault tests (fault_events.h).
 *
 * Owns: nothing shared. Threading: single-threaded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "canary.h"
#include "fault_events.h"
#include "testutil.h"

void fe_lines_load(fe_lines *l, const char *dir)
{
    char *path = tu_path(dir, "canary.jsonl");
    int n = write_canary_events(path, "faults");
    char *text = tu_read_file(path, NULL);
    assert_non_null(text);
    unlink(path);
    free(path);
    l->n = 0;
    l->line = calloc((size_t)n, sizeof *l->line);
    l->len = calloc((size_t)n, sizeof *l->len);
    assert_true(l->line && l->len);
    for (char *p = text, *nl; *p && l->n < (size_t)n; p = nl + 1) {
        nl = strchr(p, '\n');
        assert_non_null(nl);
        size_t k = l->n, cap = (size_t)(nl - p) + 160;
        char *s = malloc(cap);
        assert_non_null(s);
        int w = snprintf(s, cap,
                         "{\"event_id\":\"%032zx\",\"trace_id\":\"%032zx\",\"span_id\":\"%016zx\","
                         "\"time\":\"2026-12-04T21:00:%02zuZ\",%.*s",
                         k + 1, k / 8 + 1, k + 1, k % 60, (int)(nl - p - 1), p + 1);
        assert_true(w > 0 && (size_t)w < cap);
        l->line[k] = s;
        l->len[k] = (size_t)w;
        l->n++;
    }
    free(text);
}

void fe_lines_free(fe_lines *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->line[i]);
    free(l->line);
    free(l->len);
    memset(l, 0, sizeof *l);
}

void fe_lines_write(const fe_lines *l, const char *path)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (size_t i = 0; i < l->n; i++)
        fprintf(f, "%.*s\n", (int)l->len[i], l->line[i]);
    assert_int_equal(fclose(f), 0);
}

const uint8_t *fe_hmac_key(void)
{
    static const uint8_t key[TP_HMAC_KEY_LEN] = "fault-tests-fixed-hmac-key-32-b";
    return key;
}

int fe_prepare_pack(const char *line, size_t len, tp_event **evp, uint8_t **packed, size_t *plen)
{
    tp_limits lim = tp_limits_default();
    tp_event *ev = NULL;
    at_error err;
    int rc = tp_event_from_json(line, len, &lim, 0, &ev, &err, NULL);
    if (rc == 0) rc = tp_event_prepare(ev, fe_hmac_key(), 0, &err);
    if (rc == 0) rc = tp_event_validate(ev, &lim, &err);
    if (rc == 0) rc = tp_event_pack(ev, packed, plen);
    if (rc != 0 || !evp)
        tp_event_destroy(&ev);
    else
        *evp = ev;
    return rc;
}
