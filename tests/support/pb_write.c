/*
 * pb_write.c - the protobuf writer of pb_write.h (varints, length-delimited and fixed64
 * fields, nested messages, KeyValue attributes).
 *
 * Owns nothing. Threading: none of its own.
 */
#include "pb_write.h"

#include <stdlib.h>
#include <string.h>

void pbw_varint(at_buf *b, uint64_t v)
{
    while (v >= 0x80) {
        at_buf_putc(b, (char)(v | 0x80));
        v >>= 7;
    }
    at_buf_putc(b, (char)v);
}

void pbw_bytes(at_buf *b, int field, const void *p, size_t n)
{
    pbw_varint(b, (uint64_t)field << 3 | 2);
    pbw_varint(b, n);
    at_buf_put(b, p, n);
}

void pbw_msg(at_buf *b, int field, at_buf *inner)
{
    pbw_bytes(b, field, inner->data ? inner->data : "", inner->len);
    at_buf_free(inner);
}

void pbw_fixed64(at_buf *b, int field, uint64_t v)
{
    pbw_varint(b, (uint64_t)field << 3 | 1);
    for (int i = 0; i < 8; i++)
        at_buf_putc(b, (char)(v >> (8 * i)));
}

void pbw_attr(at_buf *b, int field, const char *key, const char *value, int isint)
{
    at_buf any = {0}, kv = {0};
    if (isint) {
        pbw_varint(&any, 3 << 3);
        pbw_varint(&any, strtoull(value, NULL, 10));
    } else {
        pbw_bytes(&any, 1, value, strlen(value));
    }
    pbw_bytes(&kv, 1, key, strlen(key));
    pbw_msg(&kv, 2, &any);
    pbw_msg(b, field, &kv);
}
