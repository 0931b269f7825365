/*
 * fuzz_store_unit.c - libFuzzer target for the store's unit decoder: the bytes of a unit (a
 * block of events, or one event in a schema 2 store) as read back from data.mdb (a disk that
 * lies, a file edited by hand) go through ts_block_decode with and without SHA-256
 * verification, then each event it holds through the event decoder; and through
 * ts_unit_leaf, which reads leaf hashes without decompressing.
 *
 * Setup (once): a real store in a temp directory with 1,200 events, so that a trained
 * dictionary (id 1) exists and units naming it exercise dictionary decompression.
 * Single-threaded, as libFuzzer runs it.
 */
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store_internal.h"

static ts_store *store;
static char store_dir[] = "/tmp/fuzz-store-unit-XXXXXX";

static int rm_one(const char *p, const struct stat *st, int fl, struct FTW *ftw)
{
    (void)st;
    (void)fl;
    (void)ftw;
    remove(p);
    return 0;
}

static void cleanup(void)
{
    ts_close(&store);
    nftw(store_dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

static char *dup_str(const char *s)
{
    char *p = strdup(s);
    if (!p) abort();
    return p;
}

static tp_event *make_event(uint64_t n)
{
    tp_event *ev = tp_event_new();
    if (!ev) abort();
    uint8_t id[16] = {0}, tr[16] = {0};
    for (int i = 0; i < 8; i++) {
        id[i] = (uint8_t)(n >> (8 * i));
        tr[i] = (uint8_t)((n / 10) >> (8 * i));
    }
    id[15] = tr[15] = 1;
    ev->event_id.data = malloc(16);
    ev->trace_id.data = malloc(16);
    if (!ev->event_id.data || !ev->trace_id.data) abort();
    memcpy(ev->event_id.data, id, 16);
    memcpy(ev->trace_id.data, tr, 16);
    ev->event_id.len = ev->trace_id.len = 16;
    ev->has_event_id = ev->has_trace_id = 1;
    ev->has_time_unix_nano = 1;
    ev->time_unix_nano = 1717200000000000000ull + n * 1000000;
    ev->has_kind = 1;
    ev->kind = AGENTTRAIL__V1__KIND__NOTE;
    ev->workflow = dup_str(n % 2 ? "support-draft-reply" : "code-review");
    ev->dri = dup_str(n % 3 ? "maria.chen@example.com" : "li.wei@example.com");
    char note[128];
    snprintf(note, sizeof note, "step %llu of the run, tool get_user_details returned ok",
             (unsigned long long)n);
    ev->note = dup_str(note);
    return ev;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (!mkdtemp(store_dir)) abort();
    atexit(cleanup);
    at_error err = {0};
    if (ts_open(store_dir, TS_OPEN_CREATE, NULL, &store, &err) != 0) {
        fprintf(stderr, "fuzz_store_unit: %s\n", err.what);
        abort();
    }
    enum { G = 600 };
    tp_event *ev[G];
    ts_result r[G];
    for (uint64_t g = 0; g < 2; g++) {
        for (uint64_t i = 0; i < G; i++)
            ev[i] = make_event(g * G + i);
        if (ts_append(store, ev, G, r) != 0) abort();
        for (int i = 0; i < G; i++)
            tp_event_destroy(&ev[i]);
    }
    tp_event *one = make_event(5000); /* the append after 1,000 events trains dictionary 1 */
    if (ts_append(store, &one, 1, r) != 0) abort();
    tp_event_destroy(&one);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    MDB_txn *txn;
    if (ts_read_begin(store, &txn) != 0) abort();
    uint8_t leaf[32];
    for (uint64_t li = 999; li < 1000 + TS_BLOCK_MAX_EVENTS + 1; li++)
        (void)ts_unit_leaf(data, size, 1000, li, leaf); /* the proofs' reader: no decompression */
    ts_block b = {.first = UINT64_MAX};
    for (int verify = 0; verify < 2; verify++) {
        if (ts_block_decode(store, txn, 1000, data, size, verify, &b) == 0) {
            for (uint64_t li = 1000; li < 1000 + b.count; li++) {
                const uint8_t *p;
                size_t len;
                if (ts_block_event(&b, li, &p, &len) != 0) abort(); /* decode said it holds li */
                tp_event *ev = NULL;
                if (ts_event_decode(store, p, len, &ev) == 0) tp_event_destroy(&ev);
            }
        }
    }
    ts_block_free(&b);
    ts_read_end(store);
    return 0;
}
