/*
 * fuzz_json_line.c - libFuzzer target for one JSON line as trace-shim reads it.
 *
 * Parses the input (tp_event_from_json; the first byte chooses strict or
 * lenient), validates it, writes its canonical JSON, and when it parses
 * asserts that canonical JSON is a fixed point: to_json -> from_json ->
 * to_json gives the same bytes. Also packs and unpacks the event and checks
 * the JSON is unchanged when the unpacked event validates. Any violation
 * aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "traceproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int flags = size && (data[0] & 1) ? TP_JSON_LENIENT : 0;
    tp_limits lim = tp_limits_default();
    tp_event *ev = NULL;
    at_error err, warn;
    if (tp_event_from_json((const char *)data, size, &lim, flags, &ev, &err, &warn) != TP_OK) {
        if (ev || !err.where[0] || !err.what[0]) abort();
        return 0;
    }
    int valid = tp_event_validate(ev, &lim, &err) == TP_OK;
    size_t len = 0;
    char *json = tp_event_to_json(ev, &len);
    if (!json) abort();
    tp_limits wide = tp_limits_default();
    wide.event_max = SIZE_MAX / 2; /* canonical escapes may lengthen the line */
    tp_event *back = NULL;
    if (tp_event_from_json(json, len, &wide, 0, &back, &err, NULL) != TP_OK) abort();
    size_t len2 = 0;
    char *json2 = tp_event_to_json(back, &len2);
    if (!json2 || len2 != len || memcmp(json, json2, len) != 0) abort();
    uint8_t *buf = NULL;
    size_t blen = 0;
    if (tp_event_pack(ev, &buf, &blen) != TP_OK) abort();
    tp_event *unpacked = NULL;
    if (tp_event_unpack(buf, blen, &lim, &unpacked, &err) == TP_OK) {
        if (!valid) abort(); /* the wire accepted what validation refused */
        char *json3 = tp_event_to_json(unpacked, NULL);
        if (!json3 || strcmp(json3, json) != 0) abort();
        free(json3);
        tp_event_destroy(&unpacked);
    }
    free(buf);
    free(json);
    free(json2);
    tp_event_destroy(&back);
    tp_event_destroy(&ev);
    return 0;
}
