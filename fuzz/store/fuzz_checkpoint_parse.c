/*
 * fuzz_checkpoint_parse.c - libFuzzer target for the checkpoint and signed-note parser and the
 * public key reader (store/checkpoint.c): untrusted text from bundles, --prior files and
 * --key files. Checks that parsing never reads out of bounds, that whatever parses
 * re-renders to the same body, and that verification with a fixed key never crashes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"

static cp_key *fixed_key;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fixed_key && cp_key_generate(&fixed_key) != 0) abort();
    /* A copy of exactly `size` bytes so that reading past the end is caught. */
    char *text = malloc(size ? size : 1);
    if (!text) return 0;
    memcpy(text, data, size);

    cp_checkpoint c;
    cp_signature sigs[4];
    size_t nsigs = 0;
    at_error err = {0};
    if (cp_note_parse(text, size, &c, sigs, 4, &nsigs, &err) == 0) {
        char body[CP_ORIGIN_MAX + 128];
        size_t blen = cp_checkpoint_body(&c, body, sizeof body);
        /* A parsed body renders back to its own first lines (extensions other than the time
         * are not kept). */
        if (blen == 0 || blen > size) abort();
        if (memcmp(body, text, blen - 1) != 0) abort();
        cp_checkpoint v;
        if (cp_note_verify(text, size, fixed_key, &v, &err) == 0) abort();
    }
    cp_key *k = NULL;
    if (cp_key_parse_public(text, size, &k) == 0) {
        uint8_t sig[64] = {0};
        (void)cp_key_verify(k, text, size, sig, sizeof sig);
    }
    cp_key_destroy(&k);
    free(text);
    return 0;
}
