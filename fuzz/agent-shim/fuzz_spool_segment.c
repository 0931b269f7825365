/*
 * fuzz_spool_segment.c - libFuzzer target for the shim's spool reader and
 * the ack decoder the shim runs on bytes from the network.
 *
 * The input is treated (1) as the contents of a spool segment (a crash can
 * leave any bytes at its tail; a disk can flip any byte): every record is
 * walked with spool_cursor_next, through damage and resync, and unpacked as
 * an event, as replay does; every damage must move the cursor forward and
 * stay inside the input;
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
    size_t len, at;
    const uint8_t *rec;
    tp_limits lim = tp_limits_default();
    spool_cursor c;
    spool_damage d;
    spool_cursor_init(&c, data, size);
    int k;
    while ((k = spool_cursor_next(&c, &rec, &len, &at, &d)) != 0) {
        if (k < 0) {
            if (d.bytes == 0 || d.off + d.bytes > size) __builtin_trap();
            continue;
        }
        if (rec < data || rec + len > data + size) __builtin_trap();
        tp_event *ev = NULL;
        at_error err;
        if (tp_event_unpack(rec, len, &lim, &ev, &err) == 0) tp_event_destroy(&ev);
    }
    tp_ack *ack = NULL;
    at_error err;
    if (tp_ack_decode(data, size, &ack, &err) == 0) tp_ack_destroy(&ack);
    return 0;
}
