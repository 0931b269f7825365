/*
 * otlp_fixture.h - OTLP requests for the tests of libtraceotlp, built from one table in both
 * formats: the protobuf through the generated OTLP structs, packed by protobuf-c; the OTLP/JSON
 * written by hand from the same table. A test maps both and asserts the same events.
 */
#ifndef AGENTTRAIL_OTLP_FIXTURE_H
#define AGENTTRAIL_OTLP_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "traceotlp.h"

/* One attribute: type 's' (string), 'i' (int), 'd' (double), 'b' (bool). A table of them ends
 * with key == NULL. */
typedef struct tattr {
    const char *key;
    char type;
    const char *s;
    int64_t i;
    double d;
} tattr;

#define TS(k, v)                                                                                   \
    {                                                                                              \
        k, 's', v, 0, 0                                                                            \
    }
#define TI(k, v)                                                                                   \
    {                                                                                              \
        k, 'i', NULL, v, 0                                                                         \
    }
#define TD(k, v)                                                                                   \
    {                                                                                              \
        k, 'd', NULL, 0, v                                                                         \
    }
#define TEND                                                                                       \
    {                                                                                              \
        NULL, 0, NULL, 0, 0                                                                        \
    }

/* One span: ids in hex (parent NULL for a root), times in ns, status 0 unset / 1 ok / 2 error. */
typedef struct tspan {
    const char *trace, *span, *parent, *name;
    uint64_t start, end;
    int status;
    const char *status_msg;
    const tattr *attrs;
} tspan;

/* The request of one resource (its attributes `res`) and one scope holding spans[0..n). */
uint8_t *fx_pb_request(const tattr *res, const tspan *spans, size_t n, size_t *len);
char *fx_json_request(const tattr *res, const tspan *spans, size_t n);

/* The HMAC key of the tests (32 bytes of 0x42). */
extern const uint8_t fx_key[TP_HMAC_KEY_LEN];

/* Maps a request with the test key, the default limits and `owners` (may be NULL); asserts
 * it maps (rc 0). */
void fx_map(const uint8_t *body, size_t len, otlp_format fmt, const otlp_owners *owners,
            otlp_result *r);
/* Maps the table in both formats, asserts the two results hold the same events (packed bytes
 * equal) and counts, and leaves the protobuf one in *r. */
void fx_map_both(const tattr *res, const tspan *spans, size_t n, const otlp_owners *owners,
                 otlp_result *r);

/* The events of kind `kind` in r, in order: the i-th one, or NULL. */
const tp_event *fx_event(const otlp_result *r, int kind, size_t i);
size_t fx_count(const otlp_result *r, int kind);
/* The value of attribute key of ev, or NULL. */
const char *fx_attr(const tp_event *ev, const char *key);
/* Fails the test when `needle` appears in any event's packed bytes or JSON. */
void fx_assert_absent(const otlp_result *r, const char *needle);
/* The HMAC of text under fx_key, as 64 hex. */
void fx_hmac_hex(const char *text, char out[65]);
/* An owners file with the given text in a fresh temp dir; loads it (asserting success). The
 * caller destroys the table and tu_rmtree_free's *dir. */
otlp_owners *fx_owners(const char *text, char **dir);

#endif
