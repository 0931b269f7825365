/*
 * hex.c - lowercase hex, the one form ids, hashes and keys take in text (atcommon.h).
 */
#include "atcommon.h"

void at_hex_encode(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = 0;
}

int at_hex_digit(int c, bool upper_too)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (upper_too && c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int at_hex_decode(const char *hex, size_t hexlen, uint8_t *out, size_t n)
{
    if (hexlen != 2 * n) return AT_EINVAL;
    for (size_t i = 0; i < n; i++) {
        int hi = at_hex_digit(hex[2 * i], false), lo = at_hex_digit(hex[2 * i + 1], false);
        if (hi < 0 || lo < 0) return AT_EINVAL;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return AT_OK;
}
