/*
 * fuzz_otlp_map.c - libFuzzer target for an OTLP/HTTP request body as the collector hands it to
 * libtraceotlp: otlp_map_request decodes and maps it.
 *
 * The first byte chooses: bit 0 the format (1: OTLP/JSON, 0: protobuf), bit 1 tight limits
 * (small strings and 4 attributes, so that the limit paths run). An owners file that matches
 * every service is loaded once, so spans get past the DRI and through the whole mapping.
 * Checks: an error leaves the result empty and says where; on success every event passes
 * tp_event_validate under the same limits and packs, the counts add up (not AI + rejected +
 * mapped spans = spans), the rejections answer as a response, and mapping the same bytes again
 * gives the same event ids. Any violation aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "traceotlp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const otlp_owners *owners(void)
{
    static otlp_owners *o;
    if (o) return o;
    char path[] = "/tmp/fuzz-otlp-owners-XXXXXX";
    int fd = mkstemp(path);
    static const char text[] = "# fuzz\nservice:* fuzz@example.com\nworkflow:w* w@example.com\n";
    if (fd < 0 || write(fd, text, sizeof text - 1) != (ssize_t)(sizeof text - 1)) abort();
    close(fd);
    at_error err;
    if (otlp_owners_load(path, &o, &err) != OTLP_OK) abort();
    unlink(path);
    return o;
}

static void check(const otlp_result *r, const tp_limits *lim)
{
    size_t spans_with_events = 0;
    const uint8_t *last_span = NULL;
    for (size_t i = 0; i < r->n_events; i++) {
        at_error err;
        const tp_event *ev = r->events[i];
        if (tp_event_validate(ev, lim, &err) != TP_OK) abort();
        uint8_t *buf = NULL;
        size_t len = 0;
        if (tp_event_pack(ev, &buf, &len) != TP_OK || len > lim->event_max) abort();
        free(buf);
        if (!last_span || memcmp(last_span, ev->span_id.data, 8) != 0) spans_with_events++;
        last_span = ev->span_id.data;
    }
    /* events of one span are contiguous; spans may share an id, so only an upper bound */
    if (spans_with_events + r->n_not_ai + r->n_rejected > r->n_spans) abort();
    if (r->n_rejections > r->n_rejected || r->n_rejections > OTLP_MAX_REJECTIONS) abort();
    size_t sum = 0;
    for (int d = 0; d < OTLP_DIALECT_COUNT; d++)
        sum += r->by_dialect[d];
    if (sum != r->n_spans) abort();
    uint8_t *resp = NULL;
    size_t rlen = 0;
    const char *msg = r->n_rejections ? r->rejections[0].reason : "";
    for (int f = 0; f < 2; f++) {
        if (otlp_response_encode((otlp_format)f, (int64_t)r->n_rejected, msg, &resp, &rlen))
            abort();
        free(resp);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    static const uint8_t key[TP_HMAC_KEY_LEN] = {1};
    otlp_format fmt = data[0] & 1 ? OTLP_JSON : OTLP_PROTOBUF;
    tp_limits lim = tp_limits_default();
    if (data[0] & 2) {
        lim.string_max = 16;
        lim.arguments_max = 32;
        lim.attributes_max = 4;
        lim.context_ids_max = 2;
        lim.event_max = 512;
    }
    otlp_map_opts o = {.owners = owners(), .hmac_key = key, .limits = &lim, .max_spans = 256};
    otlp_result r, again;
    at_error err;
    int rc = otlp_map_request(data + 1, size - 1, fmt, &o, &r, &err);
    if (rc != OTLP_OK) {
        if (r.n_events || r.events || r.rejections || !err.where[0] || !err.what[0]) abort();
        if (rc != OTLP_EDECODE && rc != OTLP_ETOOBIG) abort();
        return 0;
    }
    check(&r, &lim);
    if (otlp_map_request(data + 1, size - 1, fmt, &o, &again, &err) != OTLP_OK) abort();
    if (again.n_events != r.n_events) abort();
    for (size_t i = 0; i < r.n_events; i++)
        if (memcmp(again.events[i]->event_id.data, r.events[i]->event_id.data, 16) != 0) abort();
    otlp_result_clear(&again);
    otlp_result_clear(&r);
    return 0;
}
