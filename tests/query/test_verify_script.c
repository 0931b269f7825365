/*
 * test_verify_script.c - the standalone verifier (scripts/agenttrail-verify-bundle, Python 3
 * and openssl) gives trace-query verify's verdict on good and tampered bundles.
 *
 * The store is written by a real trace-collector from real trace-shim runs (the shared
 * swe-agent sample, the first tau events, and hand-written events of every other kind with
 * hostile text), in two runs, so that it keeps checkpoints of two tree sizes. Bundles come
 * from the real trace-query export; tampered copies are made with query/bundle.c (compiled
 * in) and libarchive. On each, both programs run with the pinned key: the exit codes must be
 * equal and, but for archive damage (libarchive's and Python's words differ), the failure
 * line (file, event, check, message) identical. Tampering is of two sorts: what anyone can
 * do (no key: change, drop, swap or add anything, re-sign with a new key and replace
 * pub.pem), and what an insider holding the collector's key can do (re-seal the manifest),
 * which reaches the deeper checks (leaf hash, log order, inclusion proof, event JSON).
 *
 * Owns: a temp directory (store, bundles, keys), built once for the group. Single-threaded.
 */
#include <archive.h>
#include <archive_entry.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "at_test.h"
#include "bundle_fixture.h"
#include "ledger_fixture.h"
#include "pipeline_util.h"
#include "testutil.h"

#define SCRIPT "scripts/agenttrail-verify-bundle"
#define SINCE "2000-01-01T00:00:00Z"
#define WHO "auditor@example.com"

static char *dir, *store, *ep, *col_log, *pub, *forger_pub, *early, *good, *incident, *scratch,
    *prior;
static cp_key *collector_key, *forger;

/* Events of the kinds the samples lack, with text that every escape of the canonical JSON
 * writer meets: quotes, backslashes, controls, DEL, UTF-8, a bidi override. */
static const char EXTRA[] =
    "{\"kind\":\"note\",\"workflow\":\"audit-e2e\",\"dri\":\"maria.chen@example.com\","
    "\"incident\":\"INC-77\",\"note\":\"quote \\\" backslash \\\\ tab \\t nl \\n cr \\r bs \\b "
    "ff \\f ctl \\u0001\\u001f del \\u007f \xc3\xa9 \xe6\x97\xa5 \\u202e bidi\","
    "\"attributes\":{\"k\\\"1\":\"v\\\\1\",\"\xd0\xba\":\"\xd0\xb7\"},\"redactions\":0}\n"
    "{\"kind\":\"approval\",\"workflow\":\"audit-e2e\",\"dri\":\"maria.chen@example.com\","
    "\"incident\":\"INC-77\",\"actor\":\"lee@example.com\",\"approval\":{\"checkpoint\":"
    "\"release\",\"approver\":\"lee@example.com\",\"decision\":\"denied\",\"reason\":\"no "
    "tests\"}}\n"
    "{\"kind\":\"outcome\",\"workflow\":\"audit-e2e\",\"dri\":\"maria.chen@example.com\","
    "\"incident\":\"INC-77\",\"actor\":\"lee@example.com\",\"outcome\":{\"decision\":\"edited\","
    "\"by\":\"lee@example.com\",\"edit_distance\":12},\"duration_nano\":0}\n"
    "{\"kind\":\"incident_link\",\"workflow\":\"audit-e2e\",\"dri\":\"maria.chen@example.com\","
    "\"incident\":\"INC-77\",\"link\":{\"trace_ids\":[\"4bf92f3577b34da6a3ce929d0e0e4736\","
    "\"00000000000000000000000000000001\"],\"workflow\":\"tau-airline\",\"since_unix_nano\":1,"
    "\"until_unix_nano\":9223372036854775807,\"reason\":\"refund\"}}\n"
    "{\"kind\":\"retrieval\",\"workflow\":\"audit-e2e\",\"dri\":\"maria.chen@example.com\","
    "\"incident\":\"INC-77\",\"context_ids\":[\"doc-1\",\"doc \\\"3\\\"\"],\"usage\":{"
    "\"input_tokens\":0,\"output_tokens\":9223372036854775807,\"cached_tokens\":0,"
    "\"cost_usd_micros\":5}}\n";

/* ---- running the programs --------------------------------------------------------------- */

static int run(char **argv, char **out, char **err)
{
    return tu_run(argv, NULL, out, NULL, err);
}

static void must_run(char **argv)
{
    char *err = NULL;
    int rc = run(argv, NULL, &err);
    if (rc != 0) fail_msg("%s exit %d: %s", argv[0], rc, err ? err : "");
    free(err);
}

/* Starts a collector, sends each file through trace-shim, stops it (SIGTERM: the last
 * checkpoint is signed at the clean stop). */
static void collect(const char *const *inputs)
{
    const char *extra[] = {"--checkpoint-ms", "0", NULL};
    pid_t pid = pu_collector_start(store, ep, col_log, extra);
    char *shim = tu_bin("trace-shim"), *spool = lf_path(dir, "spool");
    for (size_t i = 0; inputs[i]; i++) {
        char *argv[] = {shim, "--endpoint",      ep,  "--spool-dir", spool, "--timeout",
                        "20", (char *)inputs[i], NULL};
        must_run(argv);
    }
    assert_int_equal(pu_kill_wait(pid, SIGTERM), 0);
    free(shim);
    free(spool);
}

static void export(const char *path, const char *filter, const char *value)
{
    char *tq = tu_bin("trace-query");
    char *argv[] = {tq,           "--store", store, "export", (char *)filter, (char *)value, "-o",
                    (char *)path, "--who",   WHO,   NULL};
    must_run(argv);
    free(tq);
}

/* trace-query verify BUNDLE --key KEY [--prior P], or --trust-bundle-key when key is NULL. */
static int run_query(const char *bundle_path, const char *key, const char *prior_file, char **out,
                     char **err)
{
    char *tq = tu_bin("trace-query");
    char *argv[8] = {tq, "verify", (char *)bundle_path, key ? "--key" : "--trust-bundle-key",
                     (char *)key};
    int n = key ? 5 : 4;
    if (prior_file) {
        argv[n++] = "--prior";
        argv[n++] = (char *)prior_file;
    }
    argv[n] = NULL;
    int rc = run(argv, out, err);
    free(tq);
    return rc;
}

/* The script with --key KEY, or --trust-bundle-key when key is NULL. */
static int run_script(const char *bundle_path, const char *key, const char *prior_file, char **out,
                      char **err)
{
    char *argv[8] = {SCRIPT, (char *)bundle_path};
    int n = 2;
    if (key) {
        argv[n++] = "--key";
        argv[n++] = (char *)key;
    } else {
        argv[n++] = "--trust-bundle-key";
    }
    if (prior_file) {
        argv[n++] = "--prior";
        argv[n++] = (char *)prior_file;
    }
    argv[n] = NULL;
    return run(argv, out, err);
}

/* The failure line after "FAILED: ", malloc'd ("" when there is none). */
static char *failure_of(const char *err)
{
    const char *p = err ? strstr(err, "FAILED: ") : NULL;
    if (!p) return strdup("");
    p += 8;
    return strndup(p, strcspn(p, "\n"));
}

/* Both programs on `bundle_path` with the pinned key: the same exit code `want`, `check`
 * named by both, and (when `exact`) the same failure line. */
static void same_verdict(const char *what, const char *bundle_path, const char *key,
                         const char *prior_file, int want, const char *check, int exact)
{
    char *qout = NULL, *qerr = NULL, *sout = NULL, *serr = NULL;
    int q = run_query(bundle_path, key, prior_file, &qout, &qerr);
    int s = run_script(bundle_path, key, prior_file, &sout, &serr);
    char *qf = failure_of(qerr), *sf = failure_of(serr);
    if (q != want || s != want || (check && (!strstr(qf, check) || !strstr(sf, check))) ||
        (exact && strcmp(qf, sf) != 0))
        fail_msg("%s: wanted exit %d naming \"%s\"\n  trace-query exit %d: %s%s\n  script exit %d: "
                 "%s%s",
                 what, want, check ? check : "", q, qout ? qout : "", qerr ? qerr : "", s,
                 sout ? sout : "", serr ? serr : "");
    TU_FREE(qf, sf, qout, qerr, sout, serr);
}

/* ---- the store and its bundles ----------------------------------------------------------- */

static int setup(void **state)
{
    (void)state;
    dir = lf_tempdir_paths("verify-script", &store, "store", &col_log, "collector.log", &pub,
                           "collector.pub.pem", &forger_pub, "forger.pub.pem", &early, "early.tar",
                           &good, "good.tar", &incident, "incident.tar", &scratch, "tampered.tar",
                           &prior, "prior.checkpoint.txt", NULL);
    char sock[4200];
    snprintf(sock, sizeof sock, "ipc://%s/c.sock", dir);
    ep = strdup(sock);
    /* Prompts carry text: the shim reduces it to an HMAC with an organisation key. */
    char *shim = tu_bin("trace-shim"), *hmac = lf_path(dir, "hmac.key");
    char *keygen[] = {shim, "keygen", "--hmac", "-o", hmac, NULL};
    must_run(keygen);
    setenv("AGENTTRAIL_HMAC_KEY_FILE", hmac, 1);
    free(shim);
    free(hmac);

    char *swe = tu_shared("data/swe-agent.jsonl"), *tau = tu_shared("data/tau.jsonl");
    const char *first[] = {swe, NULL};
    collect(first);
    export(early, "--since", SINCE);
    /* The second run: the first 300 tau events and the hand-written ones. */
    char *taus = lf_path(dir, "tau-300.jsonl"), *extra = lf_path(dir, "extra.jsonl");
    size_t len = 0;
    char *text = tu_read_file(tau, &len);
    assert_non_null(text);
    char *p = text;
    for (int i = 0; i < 300 && p; i++)
        p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL;
    assert_int_equal(tu_write_file(taus, text, p ? (size_t)(p - text) : len), 0);
    assert_int_equal(tu_write_file(extra, EXTRA, strlen(EXTRA)), 0);
    const char *second[] = {taus, extra, NULL};
    collect(second);
    TU_FREE(text, taus, extra, swe, tau);

    char *tc = tu_bin("trace-collector"), *out = NULL;
    char *print[] = {tc, "--store", store, "--print-public-key", NULL};
    assert_int_equal(run(print, &out, NULL), 0);
    assert_int_equal(tu_write_file(pub, out, strlen(out)), 0);
    free(out);
    free(tc);
    export(good, "--since", SINCE);
    export(incident, "--incident", "INC-77");

    char *kp = lf_path(store, "checkpoint.key");
    at_error kerr = {0};
    if (cp_key_load_private(kp, &collector_key, &kerr)) fail_msg("%s", kerr.what);
    free(kp);
    assert_int_equal(cp_key_generate(&forger), 0);
    char *pem = NULL;
    assert_int_equal(cp_key_public_pem(forger, &pem, &len), 0);
    assert_int_equal(tu_write_file(forger_pub, pem, len), 0);
    free(pem);
    /* The auditor kept the early bundle's checkpoint. */
    bundle b;
    bundle_init(&b);
    assert_int_equal(bundle_read_file(early, &b, NULL), 0);
    const bundle_file *cp = bundle_get(&b, BUNDLE_CHECKPOINT);
    assert_int_equal(tu_write_file(prior, cp->data, cp->len), 0);
    bundle_clear(&b);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cp_key_destroy(&collector_key);
    cp_key_destroy(&forger);
    tu_rmtree(dir);
    char **paths[] = {&dir,   &store, &ep,       &col_log, &pub,  &forger_pub,
                      &early, &good,  &incident, &scratch, &prior};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        free(*paths[i]);
    return 0;
}

/* ---- tampering --------------------------------------------------------------------------- */

static bundle_file *file_of(bundle *b, const char *name)
{
    bundle_file *f = (bundle_file *)bundle_get(b, name);
    assert_non_null(f);
    return f;
}

/* The bundle without `name`. */
static void drop_file(bundle *b, const char *name)
{
    bundle keep;
    bundle_init(&keep);
    for (size_t i = 0; i < b->n; i++)
        if (strcmp(b->files[i].name, name) != 0)
            assert_int_equal(
                bundle_put_copy(&keep, b->files[i].name, b->files[i].data, b->files[i].len), 0);
    bundle_clear(b);
    *b = keep;
}

/* Seals the content files again with `k` (pub.pem becomes k's). */
static void reseal(bundle *b, const cp_key *k)
{
    bf_reseal(b, k, "{\"since\":\"" SINCE "\"}", WHO);
}

/* The events as pieces of events.bin, events.jsonl and proofs.jsonl (copies). */
enum { MAX_EVENTS = 1024 };
typedef struct piece {
    uint8_t *p;
    size_t len;
} piece;
typedef struct events {
    piece bin[MAX_EVENTS], json[MAX_EVENTS], proof[MAX_EVENTS];
    size_t n;
} events;

static size_t split(const bundle_file *f, piece *out, int records)
{
    size_t n = 0, off = 0;
    while (off < f->len && n < MAX_EVENTS) {
        const uint8_t *p = f->data + off;
        size_t len =
            records ? 12 + ((size_t)p[8] << 24 | (size_t)p[9] << 16 | (size_t)p[10] << 8 | p[11])
                    : (size_t)((uint8_t *)memchr(p, '\n', f->len - off) - p) + 1;
        out[n].p = malloc(len);
        memcpy(out[n].p, p, len);
        out[n++].len = len;
        off += len;
    }
    return n;
}

static events *events_of(bundle *b)
{
    events *e = calloc(1, sizeof *e);
    e->n = split(file_of(b, BUNDLE_EVENTS_BIN), e->bin, 1);
    assert_int_equal(split(file_of(b, BUNDLE_EVENTS_JSON), e->json, 0), e->n);
    assert_int_equal(split(file_of(b, BUNDLE_PROOFS), e->proof, 0), e->n);
    assert_true(e->n > 20);
    return e;
}

static void put_pieces(bundle *b, const char *name, const piece *v, size_t n)
{
    at_buf bb = {0};
    for (size_t i = 0; i < n; i++)
        if (v[i].p) at_buf_put(&bb, v[i].p, v[i].len);
    assert_int_equal(bundle_put_buf(b, name, &bb), 0);
}

/* Writes the pieces back (a piece with p == NULL is left out) and frees them. */
static void events_put(bundle *b, events *e)
{
    put_pieces(b, BUNDLE_EVENTS_BIN, e->bin, e->n);
    put_pieces(b, BUNDLE_EVENTS_JSON, e->json, e->n);
    put_pieces(b, BUNDLE_PROOFS, e->proof, e->n);
    for (size_t i = 0; i < e->n; i++) {
        TU_FREE(e->bin[i].p, e->json[i].p, e->proof[i].p);
    }
    free(e);
}

static void drop(piece *p)
{
    free(p->p);
    p->p = NULL;
}

/* Changes one character at `at` of the piece (past `after` when it is given) to another of
 * the same class (hex digit, letter), so the piece stays well formed. */
static void change(piece *p, size_t at, const char *after)
{
    if (after) {
        uint8_t *q = memmem(p->p, p->len, after, strlen(after));
        assert_non_null(q);
        at += (size_t)(q - p->p) + strlen(after);
    }
    assert_true(at < p->len);
    static const char hex[] = "0123456789abcdef";
    const char *d = memchr(hex, p->p[at], 16);
    p->p[at] = d ? hex[(d - hex + 1) % 16] : (uint8_t)(p->p[at] ^ 0x01);
}

/* One piece of one event changed (see change) or dropped: the edits the tampering
 * table gives as data. */
enum { BIN, JSON, PROOF };
enum { DROP = -1 };
typedef struct piece_edit {
    int set; /* BIN, JSON or PROOF */
    size_t event;
    int at; /* as change's `at`, or DROP */
    const char *after;
} piece_edit;

static void edit_piece(bundle *b, const piece_edit *pe)
{
    events *e = events_of(b);
    piece *sets[] = {e->bin, e->json, e->proof};
    piece *p = &sets[pe->set][pe->event];
    if (pe->at == DROP)
        drop(p);
    else
        change(p, (size_t)pe->at, pe->after);
    events_put(b, e);
}

static void drop_event(bundle *b)
{
    events *e = events_of(b);
    drop(&e->bin[12]);
    drop(&e->json[12]);
    drop(&e->proof[12]);
    events_put(b, e);
}

static void swap_events(bundle *b)
{
    events *e = events_of(b);
    piece *sets[] = {e->bin, e->json, e->proof};
    for (int s = 0; s < 3; s++) {
        piece t = sets[s][10];
        sets[s][10] = sets[s][11];
        sets[s][11] = t;
    }
    events_put(b, e);
}

static void put_early_checkpoint(bundle *b)
{
    bundle o;
    bf_load(early, &o);
    const bundle_file *cp = bundle_get(&o, BUNDLE_CHECKPOINT);
    assert_int_equal(bundle_put_copy(b, BUNDLE_CHECKPOINT, cp->data, cp->len), 0);
    bundle_clear(&o);
}

static void edit_manifest(bundle *b)
{
    bundle_file *m = file_of(b, BUNDLE_MANIFEST);
    uint8_t *at = memmem(m->data, m->len, "auditor@", 8);
    assert_non_null(at);
    memcpy(at, "intrude@", 8);
}

static void put_forger_pub(bundle *b)
{
    size_t len = 0;
    char *pem = tu_read_file(forger_pub, &len);
    assert_int_equal(bundle_put(b, BUNDLE_PUBKEY, (uint8_t *)pem, len), 0);
}

static void add_file(bundle *b)
{
    assert_int_equal(bundle_put_copy(b, "notes.txt", "hello", 5), 0);
}

static void remove_consistency(bundle *b)
{
    drop_file(b, BUNDLE_CONSISTENCY);
}

static void forger_signature(bundle *b)
{
    const bundle_file *m = bundle_get(b, BUNDLE_MANIFEST);
    uint8_t *sig = malloc(CP_SIG_LEN);
    assert_int_equal(cp_key_sign(forger, m->data, m->len, sig), 0);
    assert_int_equal(bundle_put(b, BUNDLE_SIGNATURE, sig, CP_SIG_LEN), 0);
}

/* The forgery of the issue: an event dropped, the checkpoint signed again by a new key (same
 * origin, size and root), the manifest sealed with it, pub.pem replaced by its public key. */
static void forge(bundle *b)
{
    drop_event(b);
    const bundle_file *f = bundle_get(b, BUNDLE_CHECKPOINT);
    cp_checkpoint cp;
    cp_signature sig;
    size_t nsig;
    assert_int_equal(cp_note_parse((const char *)f->data, f->len, &cp, &sig, 1, &nsig, NULL), 0);
    char *note = lf_note(forger, cp.origin, cp.size, cp.root, cp.time_unix_nano);
    assert_int_equal(bundle_put(b, BUNDLE_CHECKPOINT, (uint8_t *)note, strlen(note)), 0);
    reseal(b, forger);
}

/* ---- the verdicts ------------------------------------------------------------------------ */

typedef void (*tamper_fn)(bundle *b);
typedef struct tampering {
    const char *what;
    tamper_fn fn; /* or NULL: the one edit below */
    int insider;  /* re-sealed with the collector's own key afterwards */
    int want;     /* the exit code of both */
    const char *check;
    piece_edit edit;
} tampering;

static const tampering TAMPERINGS[] = {
    {"an event's stored bytes changed", NULL, 0, 4, "events.bin: file hash", {BIN, 7, 40, NULL}},
    {"an event dropped, manifest not re-signed", drop_event, 0, 4, "events.bin: file hash"},
    {"a proof hash changed",
     NULL,
     0,
     4,
     "proofs.jsonl: file hash",
     {PROOF, 5, 10, "\"proof\":[\""}},
    {"the checkpoint swapped for an older one", put_early_checkpoint, 0, 4,
     "checkpoint.txt: file hash"},
    {"a JSON line changed", NULL, 0, 4, "events.jsonl: file hash", {JSON, 3, 0, "\"dri\":\""}},
    {"the manifest changed", edit_manifest, 0, 4, "manifest signature"},
    {"the manifest signed by another key", forger_signature, 0, 4, "manifest signature"},
    {"pub.pem replaced", put_forger_pub, 0, 4, "pub.pem: file hash"},
    {"a file added", add_file, 0, 4, "notes.txt: unexpected file"},
    {"a file removed", remove_consistency, 0, 4, "consistency.jsonl: file missing"},
    {"forged: event dropped, checkpoint and manifest re-signed by a new key, its pub.pem", forge, 0,
     4, "manifest signature"},
    {"insider: an event's stored bytes changed", NULL, 1, 4, "leaf hash", {BIN, 7, 40, NULL}},
    {"insider: a leaf hash changed", NULL, 1, 4, "leaf hash", {PROOF, 9, 3, "\"leaf_hash\":\""}},
    {"insider: a proof hash changed",
     NULL,
     1,
     4,
     "inclusion proof",
     {PROOF, 5, 10, "\"proof\":[\""}},
    {"insider: a JSON line changed", NULL, 1, 4, "event JSON", {JSON, 3, 0, "\"dri\":\""}},
    {"insider: a JSON line dropped", NULL, 1, 4, "event JSON", {JSON, 4, DROP, NULL}},
    {"insider: a stored record dropped", NULL, 1, 4, "proof order", {BIN, 12, DROP, NULL}},
    {"insider: two events swapped", swap_events, 1, 4, "log order"},
    /* Within the limit of docs/ledger.md: a key holder can leave events out. */
    {"insider: an event dropped everywhere", drop_event, 1, 0, NULL},
    {"insider: a checkpoint of a smaller tree", put_early_checkpoint, 1, 4, "inclusion proof"},
};

AT_TEST(test_script_accepts_the_good_bundles_as_trace_query_does)
{
    (void)state;
    same_verdict("the whole store", good, pub, NULL, 0, NULL, 0);
    same_verdict("one incident", incident, pub, NULL, 0, NULL, 0);
    same_verdict("the early bundle", early, pub, NULL, 0, NULL, 0);
    same_verdict("with the kept checkpoint", good, pub, prior, 0, NULL, 0);
    char *out = NULL;
    assert_int_equal(run_script(good, pub, prior, &out, NULL), 0);
    assert_non_null(strstr(out, "verified: "));
    assert_non_null(strstr(out, "signed by the given key (SHA256:"));
    assert_non_null(strstr(out, "consistent with the prior checkpoint"));
    free(out);
    /* VERIFY.txt points at the script, with the command as it is run here. */
    bundle b;
    bf_load(good, &b);
    const bundle_file *guide = bundle_get(&b, BUNDLE_GUIDE);
    assert_non_null(guide);
    assert_non_null(strstr((const char *)guide->data,
                           "agenttrail-verify-bundle BUNDLE.tar --key OPERATOR-KEY.pem [--prior "));
    assert_non_null(strstr((const char *)guide->data, "scripts/agenttrail-verify-bundle"));
    bundle_clear(&b);
}

AT_TEST(test_script_fingerprint_is_the_documented_openssl_command)
{
    (void)state;
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "openssl pkey -pubin -in '%s' -outform DER | sha256sum", pub);
    char *argv[] = {"/bin/sh", "-c", cmd, NULL}, *hash = NULL, *out = NULL;
    assert_int_equal(run(argv, &hash, NULL), 0);
    hash[64] = 0;
    assert_int_equal(run_script(incident, pub, NULL, &out, NULL), 0);
    char want[80];
    snprintf(want, sizeof want, "(SHA256:%s)", hash);
    if (!strstr(out, want)) fail_msg("wanted %s in: %s", want, out);
    free(hash);
    free(out);
}

AT_TEST(test_script_and_trace_query_agree_on_every_tampering)
{
    (void)state;
    for (size_t i = 0; i < sizeof TAMPERINGS / sizeof TAMPERINGS[0]; i++) {
        const tampering *t = &TAMPERINGS[i];
        bundle b;
        bf_load(good, &b);
        if (t->fn)
            t->fn(&b);
        else
            edit_piece(&b, &t->edit);
        if (t->insider) reseal(&b, collector_key);
        bf_save(&b, scratch);
        same_verdict(t->what, scratch, pub, NULL, t->want, t->check, 1);
    }
}

AT_TEST(test_script_trusting_the_bundle_key_says_so_with_exit_5)
{
    (void)state;
    char *out = NULL, *err = NULL;
    assert_int_equal(run_script(good, NULL, NULL, &out, &err), 5);
    assert_non_null(strstr(out, "NOT PINNED"));
    /* trace-query says the same with the same status, naming the key by the same fingerprint. */
    char *qout = NULL, *qerr = NULL;
    assert_int_equal(run_query(good, NULL, NULL, &qout, &qerr), 5);
    assert_non_null(strstr(qerr, "NOT TRUSTED"));
    const char *fp = strstr(qout, "SHA256:");
    assert_non_null(fp);
    char want[80];
    snprintf(want, sizeof want, "%.71s", fp);
    if (!strstr(out, want)) fail_msg("fingerprint %s not in the script's output: %s", want, out);
    TU_FREE(qout, qerr, out, err);
    /* The forgery passes every check but the key's: exit 5, never 0; pinned, it fails. */
    bundle b;
    bf_load(good, &b);
    forge(&b);
    bf_save(&b, scratch);
    assert_int_equal(run_script(scratch, NULL, NULL, &out, NULL), 5);
    assert_non_null(strstr(out, "NOT PINNED"));
    free(out);
    same_verdict("the forgery, trusting its own key", scratch, NULL, NULL, 5, NULL, 0);
    same_verdict("the forgery, pinned", scratch, pub, NULL, 4, "manifest signature", 1);
    /* Trusting the bundle's key still catches what it can: a re-signed manifest over a
     * checkpoint the new key did not sign. */
    bf_load(good, &b);
    reseal(&b, forger);
    bf_save(&b, scratch);
    assert_int_equal(run_script(scratch, NULL, NULL, NULL, &err), 4);
    assert_non_null(strstr(err, "checkpoint signature"));
    free(err);
}

AT_TEST(test_script_and_trace_query_agree_on_keys_and_prior_checkpoints)
{
    (void)state;
    same_verdict("a wrong --key", good, forger_pub, NULL, 4, "manifest signature", 1);
    char *missing = lf_path(dir, "missing.pem");
    same_verdict("a --key that is not there", good, missing, NULL, 3, NULL, 0);
    same_verdict("a --key that is not a key", good, prior, NULL, 3, NULL, 0);
    same_verdict("a prior that is not there", good, pub, missing, 3, NULL, 0);
    free(missing);
    /* Priors signed by the collector: a fork (same size, another root), a larger tree. */
    cp_checkpoint cp;
    cp_signature sig;
    size_t nsig, len;
    char *text = tu_read_file(prior, &len), *other = lf_path(dir, "other-prior.txt");
    assert_int_equal(cp_note_parse(text, len, &cp, &sig, 1, &nsig, NULL), 0);
    cp.root[0] ^= 0xff;
    char *note = lf_note(collector_key, cp.origin, cp.size, cp.root, cp.time_unix_nano);
    assert_int_equal(tu_write_file(other, note, strlen(note)), 0);
    same_verdict("a prior of a forked log", good, pub, other, 4, "consistency", 1);
    free(note);
    note = lf_note(collector_key, cp.origin, 100000, cp.root, cp.time_unix_nano);
    assert_int_equal(tu_write_file(other, note, strlen(note)), 0);
    same_verdict("a prior of a larger tree", good, pub, other, 4, "rolled back", 1);
    free(note);
    note = lf_note(forger, cp.origin, cp.size, cp.root, cp.time_unix_nano);
    assert_int_equal(tu_write_file(other, note, strlen(note)), 0);
    same_verdict("a prior signed by another key", good, pub, other, 4, "prior signature", 1);
    free(note);
    /* The key as a signed-note verifier line instead of PEM. */
    char vkey[512];
    assert_int_equal(cp_key_vkey(collector_key, cp.origin, vkey, sizeof vkey), 0);
    assert_int_equal(tu_write_file(other, vkey, strlen(vkey)), 0);
    same_verdict("a verifier key line", good, other, NULL, 0, NULL, 0);
    vkey[strlen(vkey) - 2] ^= 0x01; /* another key of the same name and id */
    assert_int_equal(tu_write_file(other, vkey, strlen(vkey)), 0);
    same_verdict("a verifier key line of another key", good, other, NULL, 3, NULL, 0);
    free(text);
    free(other);
}

/* The good bundle's archive written again with `name` twice, the second copy `data`. */
static void save_with_duplicate(const char *name, const void *data, size_t len)
{
    bundle b;
    bf_load(good, &b);
    struct archive *a = archive_write_new();
    struct archive_entry *e = archive_entry_new();
    assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
    assert_int_equal(archive_write_open_filename(a, scratch), ARCHIVE_OK);
    for (size_t i = 0; i <= b.n; i++) {
        const void *d = i < b.n ? b.files[i].data : data;
        size_t n = i < b.n ? b.files[i].len : len;
        archive_entry_clear(e);
        archive_entry_set_pathname(e, i < b.n ? b.files[i].name : name);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_size(e, (la_int64_t)n);
        assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
        assert_int_equal(archive_write_data(a, d, n), (la_ssize_t)n);
    }
    assert_int_equal(archive_write_close(a), ARCHIVE_OK);
    archive_entry_free(e);
    archive_write_free(a);
    bundle_clear(&b);
}

AT_TEST(test_script_and_trace_query_agree_on_damaged_archives)
{
    (void)state;
    size_t len = 0;
    char *bytes = tu_read_file(good, &len);
    assert_non_null(bytes);
    assert_int_equal(tu_write_file(scratch, bytes, len / 2), 0);
    same_verdict("the archive cut in half", scratch, pub, NULL, 4, "truncated", 0);
    assert_int_equal(tu_write_file(scratch, bytes, 700), 0);
    same_verdict("the archive cut inside a header", scratch, pub, NULL, 4, NULL, 0);
    assert_int_equal(tu_write_file(scratch, "not a tar archive at all", 24), 0);
    same_verdict("not an archive", scratch, pub, NULL, 4, NULL, 0);
    free(bytes);
    save_with_duplicate(BUNDLE_EVENTS_JSON, "{}\n", 3);
    same_verdict("events.jsonl twice", scratch, pub, NULL, 4, "appears twice", 0);
    char *missing = lf_path(dir, "missing.tar");
    same_verdict("no such bundle", missing, pub, NULL, 3, NULL, 0);
    same_verdict("a directory", dir, pub, NULL, 4, NULL, 0);
    free(missing);
}

AT_TEST(test_script_checks_consistency_proofs_trace_query_leaves_unread)
{
    (void)state;
    /* A consistency line nobody asked about with --prior: trace-query does not read it, the
     * script checks every line (docs/ledger.md). */
    bundle b;
    bf_load(good, &b);
    bundle_file *c = file_of(&b, BUNDLE_CONSISTENCY);
    uint8_t *at = memmem(c->data, c->len, "\"proof\":[\"", 10);
    assert_non_null(at);
    at[10] = at[10] == '0' ? '1' : '0';
    reseal(&b, collector_key);
    bf_save(&b, scratch);
    char *err = NULL;
    assert_int_equal(run_query(scratch, pub, NULL, NULL, NULL), 0);
    assert_int_equal(run_script(scratch, pub, NULL, NULL, &err), 4);
    assert_non_null(strstr(err, "consistency.jsonl: consistency: line 1"));
    free(err);
}

AT_TEST(test_script_usage_errors_exit_2)
{
    (void)state;
    char *argv[] = {SCRIPT, good, NULL}, *err = NULL;
    assert_int_equal(run(argv, NULL, &err), 2);
    assert_non_null(strstr(err, "--key"));
    free(err);
    char *both[] = {SCRIPT, good, "--key", pub, "--trust-bundle-key", NULL};
    assert_int_equal(run(both, NULL, NULL), 2);
    char *none[] = {SCRIPT, NULL};
    assert_int_equal(run(none, NULL, NULL), 2);
}

AT_TEST_GROUP(setup, teardown);
