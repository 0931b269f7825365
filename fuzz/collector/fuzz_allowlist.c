/*
 * fuzz_allowlist.c - libFuzzer target for the collector's allowlist parser
 * (collector/auth.h: auth_allowlist_parse), which reads an operator-edited
 * file. Properties: never crashes or leaks; on success the entry count
 * does not exceed the number of lines; on failure the code is AUTH_EFORMAT,
 * the message starts with the origin and a line number, and the list is
 * NULL.
 * Owns nothing between runs. Single-threaded.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    auth_allowlist *a = NULL;
    at_error err = {0};
    int rc = auth_allowlist_parse((const char *)data, size, "fuzz.txt", &a, &err);
    if (rc == AUTH_OK) {
        if (!a) abort();
        size_t lines = 1;
        for (size_t k = 0; k < size; k++)
            lines += data[k] == '\n';
        if (auth_allowlist_size(a) > lines) abort();
        auth_allowlist_destroy(&a);
        if (a) abort();
    } else {
        if (a || rc != AUTH_EFORMAT || strncmp(err.what, "fuzz.txt:", 9) != 0) abort();
    }
    return 0;
}
