/*
 * code_text.c - the words of an error code (atcommon.h, at_code_text): the one lookup behind
 * every library's *_strerror, each of which keeps only its table.
 */
#include "atcommon.h"

const char *at_code_text(const at_code_name *table, size_t n, int code, const char *unknown)
{
    for (size_t i = 0; i < n; i++)
        if (table[i].code == code) return table[i].text;
    return unknown;
}
