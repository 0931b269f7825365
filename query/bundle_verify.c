/*
 * bundle_verify.c - offline verification of a compliance bundle (see bundle.h and
 * docs/ledger.md, "Verification"): the file set, the manifest signature, every file hash,
 * the checkpoint, every event's leaf hash, inclusion proof and JSON line, and the prior
 * checkpoint's consistency.
 *
 * Owns: nothing past a call. Invariants: reads nothing outside the bundle's buffers, checks in
 * a fixed order and stops at the first failure, which it names (bundle_failure).
 * Threading: reentrant.
 */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "bundle_internal.h"
#include "tracestore.h"

static int failed(bundle_failure *f, const char *file, int64_t event, uint64_t log_index,
                  const char *check, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static int failed(bundle_failure *f, const char *file, int64_t event, uint64_t log_index,
                  const char *check, const char *fmt, ...)
{
    snprintf(f->file, sizeof f->file, "%s", file);
    f->event = event;
    f->log_index = log_index;
    snprintf(f->check, sizeof f->check, "%s", check);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->message, sizeof f->message, fmt, ap);
    va_end(ap);
    return BUNDLE_EVERIFY;
}

int bundle_event_json(const uint8_t *bytes, size_t len, char **json, size_t *jlen, const char **why)
{
    static _Thread_local char reason[AT_ERROR_TEXT_LEN];
    tp_limits lim = tp_limits_default();
    tp_event *ev = NULL;
    at_error e;
    memset(&e, 0, sizeof e);
    if (tp_event_unpack(bytes, len, &lim, &ev, &e) != 0) {
        if (why) *why = at_error_format(&e, reason, sizeof reason);
        return -1;
    }
    *json = tp_event_to_json(ev, jlen);
    tp_event_destroy(&ev);
    if (!*json) {
        if (why) *why = "out of memory";
        return -1;
    }
    return 0;
}

const char *bundle_failure_format(const bundle_failure *f, char *buf, size_t buflen)
{
    if (f->event >= 0)
        snprintf(buf, buflen, "%s: event %lld (log index %llu): %s: %s", f->file,
                 (long long)f->event, (unsigned long long)f->log_index, f->check, f->message);
    else
        snprintf(buf, buflen, "%s: %s: %s", f->file, f->check, f->message);
    return buf;
}

static int hex_decode32(const char *s, uint8_t out[32])
{
    if (!s || strlen(s) != 64) return -1;
    return at_hex_decode(s, 64, out, 32);
}

/* A line [p, nl) of a JSON-lines file: advances *off past the newline. */
static int next_jsonl(const bundle_file *f, size_t *off, const char **line, size_t *len)
{
    if (*off >= f->len) return -1;
    const uint8_t *start = f->data + *off;
    const uint8_t *nl = memchr(start, '\n', f->len - *off);
    if (!nl) return -1;
    *line = (const char *)start;
    *len = (size_t)(nl - start);
    *off += *len + 1;
    return 0;
}

/* Parses a JSON array of hex hashes into proof. */
static int parse_proof(json_t *arr, uint8_t (*proof)[32], size_t *n)
{
    if (!json_is_array(arr) || json_array_size(arr) > TS_PROOF_MAX) return -1;
    *n = json_array_size(arr);
    for (size_t i = 0; i < *n; i++)
        if (hex_decode32(json_string_value(json_array_get(arr, i)), proof[i])) return -1;
    return 0;
}

static int get_u64(json_t *o, const char *key, uint64_t *out)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0) return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int check_manifest_and_hashes(const bundle *b, json_t *m, bundle_failure *f)
{
    if (!json_is_object(m) || !json_is_string(json_object_get(m, "format")) ||
        strcmp(json_string_value(json_object_get(m, "format")), BUNDLE_FORMAT) != 0)
        return failed(f, BUNDLE_MANIFEST, -1, 0, "manifest", "not an %s manifest", BUNDLE_FORMAT);
    json_t *files = json_object_get(m, "files");
    if (!json_is_object(files))
        return failed(f, BUNDLE_MANIFEST, -1, 0, "manifest", "\"files\" missing");
    /* Every file but the manifest and its signature is listed, with its hash. */
    bundle_file_hashes hex;
    if (bundle_hash_files(b, hex)) return BUNDLE_ECRYPTO;
    for (size_t i = 0; i < b->n; i++) {
        const bundle_file *bf = &b->files[i];
        if (!strcmp(bf->name, BUNDLE_MANIFEST) || !strcmp(bf->name, BUNDLE_SIGNATURE)) continue;
        const char *want = json_string_value(json_object_get(files, bf->name));
        if (!want)
            return failed(f, bf->name, -1, 0, "file hash",
                          "file not listed in the manifest (added after export)");
        if (strcmp(hex[i], want) != 0)
            return failed(f, bf->name, -1, 0, "file hash",
                          "SHA-256 %s differs from the manifest's %.64s: the file was changed",
                          hex[i], want);
    }
    const char *name;
    json_t *v;
    json_object_foreach(files, name, v)
    {
        if (!bundle_get(b, name))
            return failed(f, name, -1, 0, "file missing",
                          "listed in the manifest but not in the archive");
    }
    /* SHA256SUMS says the same as the manifest. */
    at_buf want = {0};
    if (bundle_sums_text(b, hex, &want)) {
        at_buf_free(&want);
        return BUNDLE_ENOMEM;
    }
    const bundle_file *sums = bundle_get(b, BUNDLE_SUMS);
    int same = sums && sums->len == want.len && memcmp(sums->data, want.data, want.len) == 0;
    at_buf_free(&want);
    if (!same)
        return failed(f, BUNDLE_SUMS, -1, 0, "file hash",
                      "does not list exactly the bundle's files and their SHA-256");
    return 0;
}

static int check_checkpoint(const bundle *b, json_t *m, const cp_key *k, cp_checkpoint *cp,
                            bundle_failure *f)
{
    const bundle_file *cpf = bundle_get(b, BUNDLE_CHECKPOINT);
    char why[AT_ERROR_TEXT_LEN];
    at_error e = {0};
    int rc = cp_note_verify((const char *)cpf->data, cpf->len, k, cp, &e);
    at_error_format(&e, why, sizeof why);
    if (rc == CP_EFORMAT)
        return failed(f, BUNDLE_CHECKPOINT, -1, 0, "checkpoint format", "%s", why);
    if (rc) return failed(f, BUNDLE_CHECKPOINT, -1, 0, "checkpoint signature", "%s", why);
    json_t *mc = json_object_get(m, "checkpoint");
    uint64_t size;
    char root64[48];
    cp_base64_encode(cp->root, 32, root64);
    const char *origin = json_string_value(json_object_get(mc, "origin"));
    const char *root = json_string_value(json_object_get(mc, "root"));
    if (get_u64(mc, "size", &size) || size != cp->size || !origin ||
        strcmp(origin, cp->origin) != 0 || !root || strcmp(root, root64) != 0)
        return failed(f, BUNDLE_CHECKPOINT, -1, 0, "checkpoint",
                      "origin, size or root differ from the manifest's (a checkpoint of size "
                      "%llu was put in place of the exported one)",
                      (unsigned long long)cp->size);
    return 0;
}

/* One events.bin record at *off. */
static int next_record(const bundle_file *f, size_t *off, uint64_t *li, const uint8_t **bytes,
                       size_t *len)
{
    if (f->len - *off < 12) return -1;
    const uint8_t *p = f->data + *off;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    uint32_t n = (uint32_t)p[8] << 24 | (uint32_t)p[9] << 16 | (uint32_t)p[10] << 8 | p[11];
    if (f->len - *off - 12 < n) return -1;
    *li = v;
    *bytes = p + 12;
    *len = n;
    *off += 12 + (size_t)n;
    return 0;
}

static int check_event(const cp_checkpoint *cp, int64_t i, uint64_t li, const uint8_t *bytes,
                       size_t len, const char *pline, size_t plen, const char *jline, size_t jlen,
                       bundle_json_fn json, bundle_failure *f)
{
    uint8_t leaf[32], claimed[32], proof[TS_PROOF_MAX][32];
    size_t n = 0;
    if (ts_log_leaf_hash(bytes, len, leaf))
        return failed(f, BUNDLE_EVENTS_BIN, i, li, "leaf hash", "SHA-256 failed (OpenSSL)");
    json_error_t jerr;
    json_t *p = json_loadb(pline, plen, JSON_REJECT_DUPLICATES, &jerr);
    uint64_t pli;
    int bad = !json_is_object(p) || get_u64(p, "log_index", &pli) ||
              hex_decode32(json_string_value(json_object_get(p, "leaf_hash")), claimed) ||
              parse_proof(json_object_get(p, "proof"), proof, &n);
    json_decref(p);
    if (bad)
        return failed(f, BUNDLE_PROOFS, i, li, "proof format", "line %lld is not a proof",
                      (long long)i + 1);
    if (pli != li)
        return failed(f, BUNDLE_PROOFS, i, li, "proof order",
                      "line %lld is the proof of log index %llu", (long long)i + 1,
                      (unsigned long long)pli);
    if (memcmp(leaf, claimed, 32) != 0)
        return failed(f, BUNDLE_EVENTS_BIN, i, li, "leaf hash",
                      "SHA-256(0x00 || stored bytes) differs from the proof's leaf hash: the "
                      "event's bytes are not those logged");
    if (ts_log_verify_inclusion(leaf, li, cp->size, (const uint8_t(*)[32])proof, n, cp->root))
        return failed(f, BUNDLE_PROOFS, i, li, "inclusion proof",
                      "does not lead from the leaf to the checkpoint's root (tree size %llu): "
                      "the event is not at this position in this log",
                      (unsigned long long)cp->size);
    if (json) {
        char *mine = NULL;
        size_t mlen = 0;
        const char *why = NULL;
        if (json(bytes, len, &mine, &mlen, &why))
            return failed(f, BUNDLE_EVENTS_BIN, i, li, "event decode",
                          "stored bytes do not decode: %s", why ? why : "invalid");
        int same = mlen == jlen && memcmp(mine, jline, jlen) == 0;
        free(mine);
        if (!same)
            return failed(f, BUNDLE_EVENTS_JSON, i, li, "event JSON",
                          "line %lld is not the canonical JSON of the stored bytes",
                          (long long)i + 1);
    }
    return 0;
}

static int check_events(const bundle *b, json_t *m, const cp_checkpoint *cp, bundle_json_fn json,
                        bundle_progress_fn progress, void *pctx, uint64_t *count, bundle_failure *f)
{
    const bundle_file *bin = bundle_get(b, BUNDLE_EVENTS_BIN);
    const bundle_file *pr = bundle_get(b, BUNDLE_PROOFS);
    const bundle_file *js = bundle_get(b, BUNDLE_EVENTS_JSON);
    uint64_t want;
    if (get_u64(json_object_get(m, "counts"), "events", &want))
        return failed(f, BUNDLE_MANIFEST, -1, 0, "manifest", "counts.events missing");
    size_t boff = 0, poff = 0, joff = 0;
    int64_t i = 0;
    uint64_t prev = 0;
    while (boff < bin->len) {
        uint64_t li;
        const uint8_t *bytes;
        size_t len;
        if (next_record(bin, &boff, &li, &bytes, &len))
            return failed(f, BUNDLE_EVENTS_BIN, i, 0, "events.bin format",
                          "record %lld is truncated", (long long)i + 1);
        if (i > 0 && li <= prev)
            return failed(f, BUNDLE_EVENTS_BIN, i, li, "log order",
                          "log index %llu after %llu: events are out of log order or repeated",
                          (unsigned long long)li, (unsigned long long)prev);
        if (li >= cp->size)
            return failed(f, BUNDLE_EVENTS_BIN, i, li, "checkpoint coverage",
                          "log index beyond the checkpoint's tree of %llu entries",
                          (unsigned long long)cp->size);
        const char *pline, *jline = NULL;
        size_t plen, jlen = 0;
        if (next_jsonl(pr, &poff, &pline, &plen))
            return failed(f, BUNDLE_PROOFS, i, li, "proof missing", "fewer proofs than events");
        if (next_jsonl(js, &joff, &jline, &jlen))
            return failed(f, BUNDLE_EVENTS_JSON, i, li, "event missing",
                          "fewer JSON lines than stored events");
        int rc = check_event(cp, i, li, bytes, len, pline, plen, jline, jlen, json, f);
        if (rc) return rc;
        prev = li;
        i++;
        if (progress && (i & 8191) == 0) progress(pctx, (uint64_t)i, want);
    }
    if (poff != pr->len)
        return failed(f, BUNDLE_PROOFS, -1, 0, "event count", "more proofs than events");
    if (joff != js->len)
        return failed(f, BUNDLE_EVENTS_JSON, -1, 0, "event count",
                      "more JSON lines than stored events (or a line without a newline)");
    if ((uint64_t)i != want)
        return failed(f, BUNDLE_EVENTS_BIN, -1, 0, "event count",
                      "%lld events, the manifest says %llu", (long long)i,
                      (unsigned long long)want);
    if (progress) progress(pctx, (uint64_t)i, want);
    *count = (uint64_t)i;
    return 0;
}

static int check_prior(const bundle *b, const cp_key *k, const cp_checkpoint *cp, const char *prior,
                       size_t prior_len, bundle_failure *f)
{
    cp_checkpoint old;
    char why[AT_ERROR_TEXT_LEN];
    at_error e = {0};
    if (cp_note_verify(prior, prior_len, k, &old, &e))
        return failed(f, "prior checkpoint", -1, 0, "prior signature", "%s",
                      at_error_format(&e, why, sizeof why));
    if (strcmp(old.origin, cp->origin) != 0)
        return failed(f, "prior checkpoint", -1, 0, "prior origin",
                      "of log %s, the bundle is of log %s", old.origin, cp->origin);
    if (old.size > cp->size)
        return failed(f, BUNDLE_CHECKPOINT, -1, 0, "consistency",
                      "the bundle's tree (%llu entries) is smaller than the prior checkpoint's "
                      "(%llu): the log was rolled back or forked",
                      (unsigned long long)cp->size, (unsigned long long)old.size);
    if (old.size == cp->size) {
        if (memcmp(old.root, cp->root, 32) != 0)
            return failed(f, BUNDLE_CHECKPOINT, -1, 0, "consistency",
                          "same size %llu as the prior checkpoint, another root: the log forked",
                          (unsigned long long)cp->size);
        return 0;
    }
    const bundle_file *cf = bundle_get(b, BUNDLE_CONSISTENCY);
    size_t off = 0;
    const char *line;
    size_t len;
    while (cf && next_jsonl(cf, &off, &line, &len) == 0) {
        json_error_t jerr;
        json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
        uint64_t os = 0, ns = 0;
        uint8_t proof[TS_PROOF_MAX][32];
        size_t n = 0;
        int ok = json_is_object(o) && !get_u64(o, "old_size", &os) &&
                 !get_u64(o, "new_size", &ns) &&
                 !parse_proof(json_object_get(o, "proof"), proof, &n);
        json_decref(o);
        if (!ok || os != old.size || ns != cp->size) continue;
        if (ts_log_verify_consistency(old.size, cp->size, old.root, cp->root,
                                      (const uint8_t(*)[32])proof, n))
            return failed(f, BUNDLE_CONSISTENCY, -1, 0, "consistency",
                          "the log of the bundle does not extend the prior checkpoint (size "
                          "%llu): the log was rewritten or forked",
                          (unsigned long long)old.size);
        return 0;
    }
    return failed(f, BUNDLE_CONSISTENCY, -1, 0, "consistency proof missing",
                  "no proof from tree size %llu to %llu in the bundle: export again from the "
                  "store with the prior checkpoint kept there",
                  (unsigned long long)old.size, (unsigned long long)cp->size);
}

int bundle_verify(const bundle *b, const cp_key *pinned, const char *prior, size_t prior_len,
                  bundle_json_fn json, bundle_progress_fn progress, void *pctx, bundle_summary *sum,
                  bundle_failure *f)
{
    memset(sum, 0, sizeof *sum);
    memset(f, 0, sizeof *f);
    f->event = -1;
    static const char *required[] = {
        BUNDLE_MANIFEST,    BUNDLE_SIGNATURE, BUNDLE_PUBKEY, BUNDLE_CHECKPOINT, BUNDLE_EVENTS_BIN,
        BUNDLE_EVENTS_JSON, BUNDLE_PROOFS,    BUNDLE_SUMS,   BUNDLE_GUIDE,      BUNDLE_CONSISTENCY};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        if (!bundle_get(b, required[i]))
            return failed(f, required[i], -1, 0, "file missing", "not in the archive");
    for (size_t i = 0; i < b->n; i++) {
        int known = 0;
        for (size_t j = 0; j < sizeof required / sizeof required[0]; j++)
            known |= strcmp(b->files[i].name, required[j]) == 0;
        if (!known)
            return failed(f, b->files[i].name, -1, 0, "unexpected file", "not part of an %s bundle",
                          BUNDLE_FORMAT);
    }
    cp_key *own = NULL;
    const cp_key *k = pinned;
    if (!k) {
        const bundle_file *pk = bundle_get(b, BUNDLE_PUBKEY);
        if (cp_key_parse_public((const char *)pk->data, pk->len, &own))
            return failed(f, BUNDLE_PUBKEY, -1, 0, "public key", "not an Ed25519 public key");
        k = own;
    }
    const bundle_file *mf = bundle_get(b, BUNDLE_MANIFEST), *sf = bundle_get(b, BUNDLE_SIGNATURE);
    int rc;
    json_t *m = NULL;
    if (cp_key_verify(k, mf->data, mf->len, sf->data, sf->len)) {
        rc = failed(f, BUNDLE_SIGNATURE, -1, 0, "manifest signature",
                    "manifest.json is not signed by %s: it was changed or signed by another "
                    "key",
                    pinned ? "the given key" : "the bundle's pub.pem");
        goto out;
    }
    json_error_t jerr;
    m = json_loadb((const char *)mf->data, mf->len, JSON_REJECT_DUPLICATES, &jerr);
    if (!m) {
        rc = failed(f, BUNDLE_MANIFEST, -1, 0, "manifest", "not JSON: %s", jerr.text);
        goto out;
    }
    if ((rc = check_manifest_and_hashes(b, m, f))) goto out;
    if ((rc = check_checkpoint(b, m, k, &sum->checkpoint, f))) goto out;
    if ((rc = check_events(b, m, &sum->checkpoint, json, progress, pctx, &sum->events, f)))
        goto out;
    if (prior) {
        if ((rc = check_prior(b, k, &sum->checkpoint, prior, prior_len, f))) goto out;
        sum->prior_checked = 1;
    }
    sum->key_pinned = pinned != NULL;
    rc = 0;
out:
    json_decref(m);
    cp_key_destroy(&own);
    return rc;
}
