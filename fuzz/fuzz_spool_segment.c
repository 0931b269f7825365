/*
 * fuzz_spool_segment.c - libFuzzer target for the shim's spool reader and
 * the ack decoder the shim runs on bytes from the network.
 *
 * The input is treated (1) as the contents of a spool segment (a crash can
 * leave any bytes at its tail; a disk can flip any byte): every record is
 * walked with spool_record_next and unpacked as an event, as replay does;
 * (2) as an ack frame, decoded with tp_ack_decode. Neither may read outside
 * the input, loop forever, or leak.
 */
#include <stddef.h>
#include <stdint.h>

#include "spool.h"
#include "traceproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 0, len;
    const uint8_t *rec;
    tp_limits lim = tp_limits_default();
    while (spool_record_next(data, size, &off, &rec, &len) == 1) {
        tp_event *ev = NULL;
        tp_error err;
        if (tp_event_unpack(rec, len, &lim, &ev, &err) == 0) tp_event_destroy(&ev);
    }
    tp_ack *ack = NULL;
    tp_error err;
    if (tp_ack_decode(data, size, &ack, &err) == 0) tp_ack_destroy(&ack);
    return 0;
}
