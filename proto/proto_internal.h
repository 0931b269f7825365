/*
 * proto_internal.h - helpers shared by the files of libtraceproto; not a public header.
 *
 * Owns: nothing. Declares the JSON string writer of the canonical JSON writer (on
 * libtracecommon's at_buf), the field-level checker shared by JSON parsing and tp_event_validate,
 * and small string rules (UTF-8, JSON text).
 *
 * Invariants: every checker stops at the first broken rule and fills the
 * at_error with the field path and the problem in the words of EVENTS.md.
 *
 * Threading: all functions are reentrant; no global state.
 */
#ifndef AGENTTRAIL_PROTO_INTERNAL_H
#define AGENTTRAIL_PROTO_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "atcommon.h"
#include "traceproto.h"

/* Largest integer an event may hold: JSON integers are 0..2^63-1. */
#define TP_INT_MAX UINT64_C(9223372036854775807)

/* Runs a check returning a TP_E* code and returns that code when it fails. */
#define CK(expr)                                                                                   \
    do {                                                                                           \
        int ck_rc_ = (expr);                                                                       \
        if (ck_rc_) return ck_rc_;                                                                 \
    } while (0)

/* A JSON string literal with the escapes of Python's json.dumps(ensure_ascii=False),
 * appended to b (json_write.c; a failed allocation is sticky in b). */
void tp_json_put_string(at_buf *b, const char *s, size_t n);

/* True when s[0..n) is well-formed UTF-8 (no overlongs, no surrogates). */
bool tp_utf8_valid(const char *s, size_t n);
/* Offset of the first ill-formed UTF-8 byte of s[0..n), or n when well-formed. */
size_t tp_utf8_bad_at(const char *s, size_t n);

/* Checks every field-level rule of an event (types are given by the struct):
 * sizes and non-zero ids, integer range, enum range, strings non-empty valid
 * UTF-8 within limits, arguments JSON text, counts, attribute keys unique,
 * span not its own parent, link time order, sub-objects non-empty. Does not
 * check required fields. 0, TP_EINVAL or TP_ETOOBIG with err filled. */
int tp_check_fields(const tp_event *ev, const tp_limits *lim, at_error *err);

/* Required fields (kind, workflow, dri) and the per-kind requirements. */
int tp_check_required(const tp_event *ev, at_error *err);

/* Refuses unknown protobuf fields in `m` and in every sub-message (repeated
 * ones and map entries included): protobuf-c keeps them in unknown_fields and
 * packs them back, so they would be stored and hashed without being read,
 * validated or masked. `path` is the JSON path of `m` ("" for the top).
 * `err` names the field number and the message type. 0 or TP_EDECODE. */
int tp_check_unknown_fields(const ProtobufCMessage *m, const char *path, at_error *err);

/* "a|b|c" list of names of an enum, for messages. */
const char *tp_kind_names(void);

/* "field[i]" and "path.key" into out (cut to n-1 bytes). */
void tp_path_index(char *out, size_t n, const char *field, size_t i);
void tp_path_key(char *out, size_t n, const char *path, const char *key);

/* malloc'd copy of s[0..n) with a NUL; NULL when out of memory. */
char *tp_strndup(const char *s, size_t n);

#endif
