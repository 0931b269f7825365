/*
 * fuzz_witness_read.c - libFuzzer target for the witness file reader (store/witness.c): the
 * bytes of WDIR/<origin>.checkpoints, read by `trace-query verify --store --witness`, which
 * come from another disk or host. Checks that record framing never reads out of bounds, that
 * every record handed on lies inside the input and is at most 64 KiB, and that each record
 * goes through the checkpoint parser as verify does.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"

typedef struct span {
    const char *start;
    size_t size;
} span;

static int record(void *ctx, uint64_t seq, const char *note, size_t len)
{
    const span *in = ctx;
    (void)seq;
    if (note < in->start || len > CP_NOTE_MAX || (size_t)(note - in->start) + len > in->size)
        abort();
    cp_checkpoint c;
    cp_signature sig;
    size_t nsig;
    at_error err = {0};
    (void)cp_note_parse(note, len, &c, &sig, 1, &nsig, &err);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A copy of exactly `size` bytes so that reading past the end is caught. */
    char *text = malloc(size ? size : 1);
    if (!text) return 0;
    memcpy(text, data, size);
    span in = {text, size};
    int torn = 0;
    at_error err = {0};
    (void)wt_parse(text, size, "fuzz", record, &in, &torn, &err);
    free(text);
    return 0;
}
