/*
 * pb_write.h - a minimal protobuf writer for building OTLP request bodies from the published
 * field numbers of opentelemetry-proto: varints, length-delimited fields, fixed64, nested
 * messages and KeyValue attributes.
 *
 * Responsibility: encoding only; what the fields mean is the caller's. Shared by the
 * collector's HTTP test fixture and bench-otlp (which compiles this file into itself).
 * Ownership: appends to the caller's at_buf; pbw_msg frees the inner buffer it frames.
 * Errors: an allocation failure is recorded by at_buf (b->failed), as for any at_buf.
 * Threading: none of its own.
 */
#ifndef AGENTTRAIL_PB_WRITE_H
#define AGENTTRAIL_PB_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "atcommon.h"

/* A base-128 varint. */
void pbw_varint(at_buf *b, uint64_t v);

/* Field `field` of wire type 2 (length-delimited) holding the n bytes at p. */
void pbw_bytes(at_buf *b, int field, const void *p, size_t n);

/* A nested message as field `field`: its bytes built in `inner`, framed into b, then inner
 * freed. */
void pbw_msg(at_buf *b, int field, at_buf *inner);

/* Field `field` of wire type 1 (fixed64, little-endian). */
void pbw_fixed64(at_buf *b, int field, uint64_t v);

/* KeyValue {1 key, 2 value: AnyValue {1 string_value | 3 int_value}} as field `field` of b:
 * int_value (parsed from the decimal `value`) when isint, else string_value. */
void pbw_attr(at_buf *b, int field, const char *key, const char *value, int isint);

#endif
