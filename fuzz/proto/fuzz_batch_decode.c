/*
 * fuzz_batch_decode.c - libFuzzer target for the bytes a collector receives.
 *
 * Decodes the input as a framed Batch (tp_batch_decode), then unpacks and
 * validates every event in it (tp_event_unpack). Every event that passes
 * must survive canonical JSON and back unchanged (to_json -> from_json ->
 * to_json is a fixed point), and the events that pass must re-encode into a
 * batch that decodes again with the same count; an event that passes holds
 * no unknown protobuf field, and its packed bytes are those it came in (so
 * nothing unknown hid below the top either). Any violation aborts.
 *
 * Limits are the defaults except a smaller batch size, so the fuzzer spends
 * its time in decoding rather than in allocation.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "traceproto.h"

static void check_json_fixed_point(const tp_event *ev)
{
    size_t len = 0;
    char *json = tp_event_to_json(ev, &len);
    if (!json) abort();
    /* JSON escapes can make the line longer than the packed event: no size limit here. */
    tp_limits wide = tp_limits_default();
    wide.event_max = SIZE_MAX / 2;
    tp_event *back = NULL;
    at_error err;
    if (tp_event_from_json(json, len, &wide, TP_JSON_KEEP_STORED, &back, &err, NULL) != TP_OK)
        abort(); /* a valid event wrote JSON that does not read back */
    size_t len2 = 0;
    char *json2 = tp_event_to_json(back, &len2);
    if (!json2 || len2 != len || memcmp(json, json2, len) != 0) abort();
    free(json);
    free(json2);
    tp_event_destroy(&back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tp_limits lim = tp_limits_default();
    lim.batch_max_bytes = 1024 * 1024;
    tp_batch *b = NULL;
    at_error err;
    if (tp_batch_decode(data, size, &lim, &b, &err) != TP_OK) {
        if (b || !err.what[0]) abort();
        return 0;
    }
    size_t n = b->n_events, kept = 0;
    uint8_t **packed = calloc(n ? n : 1, sizeof *packed);
    size_t *lens = calloc(n ? n : 1, sizeof *lens);
    if (!packed || !lens) abort();
    for (size_t i = 0; i < n; i++) {
        tp_event *ev = NULL;
        if (tp_event_unpack(b->events[i].data, b->events[i].len, &lim, &ev, &err) != TP_OK) {
            if (ev || !err.where[0] || !err.what[0]) abort();
            continue;
        }
        /* Nothing unknown to the schema gets past unpack, at any depth: the
         * stored bytes are then exactly what the JSON form shows. */
        if (ev->base.n_unknown_fields) abort();
        check_json_fixed_point(ev);
        if (tp_event_pack(ev, &packed[kept], &lens[kept]) != TP_OK) abort();
        if (lens[kept] != b->events[i].len ||
            memcmp(packed[kept], b->events[i].data, lens[kept]) != 0)
            abort();
        kept++;
        tp_event_destroy(&ev);
    }
    uint8_t *frame = NULL;
    size_t flen = 0;
    if (tp_batch_encode(b->shim_id, b->seq, (const uint8_t *const *)packed, lens, kept, &frame,
                        &flen) != TP_OK)
        abort();
    tp_batch *again = NULL;
    tp_limits wide = tp_limits_default();
    wide.batch_max_bytes = SIZE_MAX / 2;
    if (tp_batch_decode(frame, flen, &wide, &again, &err) != TP_OK || again->n_events != kept ||
        again->seq != b->seq)
        abort();
    tp_batch_destroy(&again);
    free(frame);
    for (size_t i = 0; i < kept; i++)
        free(packed[i]);
    free(packed);
    free(lens);
    tp_batch_destroy(&b);
    return 0;
}
