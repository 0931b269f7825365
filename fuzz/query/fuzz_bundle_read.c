/*
 * fuzz_bundle_read.c - libFuzzer target for the compliance bundle reader and verifier
 * (query/bundle.c): untrusted archives handed to `trace-query verify`.
 *
 * Input byte 0 chooses the mode. Even: the rest is a whole archive, read and verified as
 * is. Odd: the rest replaces one file (chosen by byte 0) of a small genuine bundle built at
 * start-up, which is then re-sealed with the genuine key, so that the deep parsers (manifest,
 * checkpoint, events.bin, proofs, consistency proofs) see fuzzed content behind valid
 * signatures and hashes. A genuine bundle must verify; nothing may crash or leak.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "merkle.h"

/* One SHA-256 context for every hash of this file (merkle.h hashes through the caller's). */
static at_sha256_ctx *sha(void)
{
    static at_sha256_ctx *h;
    if (!h) h = at_sha256_new();
    return h;
}

static cp_key *key;
static bundle genuine;
static char prior[512];
static size_t prior_len;

static const char *const files[] = {BUNDLE_CHECKPOINT, BUNDLE_EVENTS_BIN,  BUNDLE_EVENTS_JSON,
                                    BUNDLE_PROOFS,     BUNDLE_CONSISTENCY, BUNDLE_MANIFEST};
#define NFILES (sizeof files / sizeof files[0])

/* The "canonical JSON" of stored bytes for the fuzzer: their hex. */
static int hex_json(const uint8_t *bytes, size_t len, char **json, size_t *jlen, const char **why)
{
    (void)why;
    if (len > 4096) return -1;
    *json = malloc(2 * len + 1);
    if (!*json) return -1;
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        (*json)[2 * i] = d[bytes[i] >> 4];
        (*json)[2 * i + 1] = d[bytes[i] & 15];
    }
    (*json)[2 * len] = 0;
    *jlen = 2 * len;
    return 0;
}

static uint8_t leaves[5][32];
static int leaf_node(void *ctx, unsigned level, uint64_t index, uint8_t out[32])
{
    (void)ctx;
    if (level == 0) {
        memcpy(out, leaves[index], 32);
        return 0;
    }
    uint8_t l[32], r[32];
    leaf_node(ctx, level - 1, 2 * index, l);
    leaf_node(ctx, level - 1, 2 * index + 1, r);
    merkle_node_hash(sha(), l, r, out);
    return 0;
}

static void build_genuine(void)
{
    if (cp_key_generate(&key)) abort();
    static const char *ev[5] = {"alpha", "bravo", "charlie", "delta", "echo"};
    for (int i = 0; i < 5; i++)
        merkle_leaf_hash(sha(), ev[i], strlen(ev[i]), leaves[i]);
    cp_checkpoint c = {.origin = "agenttrail/fuzz/0001", .size = 5, .time_unix_nano = 1};
    merkle_root(sha(), leaf_node, NULL, 5, c.root);
    char *note;
    size_t len;
    if (cp_checkpoint_sign(&c, key, &note, &len)) abort();
    bundle_init(&genuine);
    bundle_put(&genuine, BUNDLE_CHECKPOINT, (uint8_t *)note, len);
    at_buf bin = {0}, js = {0}, pr = {0}, cons = {0};
    for (uint64_t i = 1; i < 5; i += 2) {
        uint8_t proof[MERKLE_MAX_PROOF][32];
        size_t n;
        char *j;
        size_t jl;
        merkle_inclusion_proof(sha(), leaf_node, NULL, i, 5, proof, MERKLE_MAX_PROOF, &n);
        bundle_events_bin_append(&bin, i, (const uint8_t *)ev[i], strlen(ev[i]));
        hex_json((const uint8_t *)ev[i], strlen(ev[i]), &j, &jl, NULL);
        at_buf_put(&js, j, jl);
        at_buf_putc(&js, '\n');
        free(j);
        bundle_proof_line_append(&pr, i, leaves[i], (const uint8_t(*)[32])proof, n);
    }
    cp_checkpoint old = {.origin = "agenttrail/fuzz/0001", .size = 3, .time_unix_nano = 1};
    merkle_root(sha(), leaf_node, NULL, 3, old.root);
    uint8_t proof[MERKLE_MAX_PROOF][32];
    size_t n;
    merkle_consistency_proof(sha(), leaf_node, NULL, 3, 5, proof, MERKLE_MAX_PROOF, &n);
    bundle_consistency_line_append(&cons, 3, old.root, 5, (const uint8_t(*)[32])proof, n);
    char *pn;
    if (cp_checkpoint_sign(&old, key, &pn, &prior_len) || prior_len >= sizeof prior) abort();
    memcpy(prior, pn, prior_len);
    free(pn);
    bundle_put_buf(&genuine, BUNDLE_EVENTS_BIN, &bin);
    bundle_put_buf(&genuine, BUNDLE_EVENTS_JSON, &js);
    bundle_put_buf(&genuine, BUNDLE_PROOFS, &pr);
    bundle_put_buf(&genuine, BUNDLE_CONSISTENCY, &cons);
    if (bundle_seal(&genuine, "{\"trace\":\"fuzz\"}", "fuzz", key, NULL)) abort();
    bundle_summary sum;
    bundle_failure f;
    if (bundle_verify(&genuine, key, prior, prior_len, hex_json, NULL, NULL, &sum, &f)) abort();
}

/* A copy of the genuine bundle's content files (without what sealing adds). */
static void copy_content(bundle *b)
{
    bundle_init(b);
    for (size_t i = 0; i < NFILES - 1; i++) {
        const bundle_file *f = bundle_get(&genuine, files[i]);
        bundle_put_copy(b, f->name, f->data, f->len);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!key) build_genuine();
    if (size < 1) return 0;
    bundle b;
    at_error err = {0};
    bundle_summary sum;
    bundle_failure f;
    if (!(data[0] & 1)) {
        bundle_init(&b);
        if (bundle_read_memory(data + 1, size - 1, &b, &err) == 0) {
            (void)bundle_verify(&b, NULL, NULL, 0, hex_json, NULL, NULL, &sum, &f);
            (void)bundle_verify(&b, key, prior, prior_len, hex_json, NULL, NULL, &sum, &f);
        }
        bundle_clear(&b);
        return 0;
    }
    size_t which = (size_t)(data[0] >> 1) % NFILES;
    copy_content(&b);
    if (strcmp(files[which], BUNDLE_MANIFEST) == 0) {
        /* A fuzzed manifest, validly signed. */
        if (bundle_seal(&b, "{}", "fuzz", key, &err) == 0) {
            uint8_t *sig = malloc(CP_SIG_LEN);
            if (sig && cp_key_sign(key, data + 1, size - 1, sig) == 0) {
                bundle_put_copy(&b, BUNDLE_MANIFEST, data + 1, size - 1);
                bundle_put(&b, BUNDLE_SIGNATURE, sig, CP_SIG_LEN);
            } else {
                free(sig);
            }
        }
    } else {
        bundle_put_copy(&b, files[which], data + 1, size - 1);
        if (bundle_seal(&b, "{\"trace\":\"fuzz\"}", "fuzz", key, &err) != 0) {
            bundle_clear(&b);
            return 0;
        }
    }
    (void)bundle_verify(&b, key, prior, prior_len, hex_json, NULL, NULL, &sum, &f);
    bundle_clear(&b);
    return 0;
}
