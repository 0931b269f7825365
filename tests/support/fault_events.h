/*
 * fault_events.h - the canary events of tests/support/canary.c as the fault tests use them
 * (fault_events.c): JSON lines with fixed ids and time (so that two runs give the same bytes),
 * the HMAC key, and the clean pipeline JSON line -> event -> prepare/mask -> pack.
 */
#ifndef AGENTTRAIL_FAULT_EVENTS_H
#define AGENTTRAIL_FAULT_EVENTS_H
#include <stddef.h>
#include <stdint.h>

#include "traceproto.h"

typedef struct fe_lines {
    char **line;
    size_t *len;
    size_t n;
} fe_lines;

/* The canary events (write_canary_events) with event_id, trace_id (one per 8 lines), span_id
 * and time set, as lines in memory. `dir` holds the temporary file. */
void fe_lines_load(fe_lines *l, const char *dir);
void fe_lines_free(fe_lines *l);
/* Writes the lines to path, one per line. */
void fe_lines_write(const fe_lines *l, const char *path);
/* The fixed HMAC key of the tests. */
const uint8_t *fe_hmac_key(void);
/* JSON line -> tp_event_from_json -> tp_event_prepare (key, text not kept) -> tp_event_validate
 * -> tp_event_pack. 0 with *packed (malloc'd) and *ev (may be NULL: not wanted), or the code of
 * the step that failed (nothing returned). */
int fe_prepare_pack(const char *line, size_t len, tp_event **ev, uint8_t **packed, size_t *plen);
#endif
