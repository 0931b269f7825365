/*
 * fuzz_keyring.c - libFuzzer target for the keyring reader of `trace-query verify --keyring`
 * (query/keyring.c): text the auditor keeps, PEM blocks and verifier key lines. Checks that
 * parsing never reads outside the input, that a failed parse says where (the file name
 * leads the message) and that every key loaded is freed.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keyring.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A copy of exactly `size` bytes, not NUL-terminated, so reading past the end is caught. */
    char *text = malloc(size ? size : 1);
    if (!text) return 0;
    memcpy(text, data, size);
    qkeyring kr = {0};
    at_error err = {0};
    int rc = qkeyring_parse(text, size, "fuzz.keyring", &kr, &err);
    if (rc != 0 && strncmp(err.where, "fuzz.keyring", 12) != 0) abort();
    if (rc == 0 && kr.n == 0) abort();
    for (size_t i = 0; i < kr.n; i++)
        if (qkeyring_find(&kr, kr.keys[i]) == NULL) abort();
    qkeyring_clear(&kr);
    free(text);
    return 0;
}
