/*
 * verify.c - `trace-query verify`: checks a compliance bundle offline, or a whole store.
 *
 * Responsibility: `verify FILE` reads the bundle and runs bundle_verify (query/bundle.c);
 * `verify --store DIR` is query/verify_store.c. Either way the first failure is named and
 * the exit code is 4.
 * Owns: nothing past the call. Threading: single-threaded.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle.h"
#include "commands.h"
#include "keyring.h"
#include "term_progress.h"
#include "verify.h"
#include "text_term.h"

/* verify's table writes into a vargs (verify.h); a file or directory may not be empty. */
#define VSTR(n, mv, m, h)                                                                          \
    {                                                                                              \
        .name = n, .kind = AT_OPT_STRING, AT_OPT_AT(vargs, m), .metavar = mv, .min = 1,            \
        .expect = "needs " mv, .help = h                                                           \
    }
#define VFLAG(n, m, h)                                                                             \
    {                                                                                              \
        .name = n, .kind = AT_OPT_FLAG, AT_OPT_AT(vargs, m), .help = h                             \
    }

static const at_opt verify_opts[] = {
    VSTR("key", "FILE", key,
         "the collector's public key (PEM or verifier line) to check signatures against"),
    VSTR("keyring", "FILE", keyring,
         "a bundle is trusted when signed by one of the public keys in FILE (PEM blocks or "
         "verifier lines, # comments)"),
    VFLAG("trust-bundle-key", trust_bundle_key,
          "a bundle without --key/--keyring: accept its own pub.pem knowingly (exit 5, not 4)"),
    VSTR("prior", "FILE", prior, "a checkpoint kept from before: check the log only grew"),
    VSTR("store", "DIR", store, "verify a whole store instead of a bundle"),
    VSTR("witness", "DIR", witness,
         "with --store: the collector's --witness DIR; every checkpoint in it must be in the log"),
    VFLAG("trust-store-key", trust_store_key,
          "with --store and no --key: accept DIR/checkpoint.key as the signing key (exit 0, not "
          "5)"),
    QO_HELP,
    QO_END,
};

static const char verify_help[] =
    "usage: trace-query verify BUNDLE (--key FILE | --keyring FILE |\n"
    "                          --trust-bundle-key) [--prior CHECKPOINT]\n"
    "       trace-query verify --store DIR --key FILE [--prior CHECKPOINT]\n"
    "                          [--witness WDIR]\n"
    "\n"
    "BUNDLE: checks, offline, the manifest signature, every file's SHA-256, the\n"
    "checkpoint signature, every event's leaf hash and inclusion proof against the\n"
    "checkpoint, that the JSON events are the stored bytes decoded and, with --prior,\n"
    "that the log only grew since a checkpoint kept from before. The signing key must\n"
    "be pinned: --key (the collector's public key, from its operator) or --keyring\n"
    "(several trusted keys). A bundle carries its own pub.pem, but anyone can re-sign\n"
    "a changed bundle with a new key: without a pinned key verify fails (exit 4) once\n"
    "every other check passed, and with --trust-bundle-key it exits 5. Every verify\n"
    "prints the key's fingerprint (SHA256:...): compare it with the one the operator\n"
    "gave you. --store: recomputes the whole Merkle tree from the stored events and\n"
    "checks it against the stored leaf hashes and nodes and every kept checkpoint\n"
    "(signature, root, consistency with the previous one), then the indexes. A log\n"
    "with no checkpoint, or with more unsigned entries after its last checkpoint than\n"
    "the collector leaves, fails (removed checkpoints). --prior and every --witness\n"
    "checkpoint must be in the store's log (same root at their size, consistent with\n"
    "the newest checkpoint): a smaller store is a rollback. Without --key the\n"
    "signatures are checked only against DIR/checkpoint.key, which anyone who can\n"
    "write DIR can replace: exit 5 unless --witness or --trust-store-key is given.\n"
    "Exit 0: verified; 4: the first failure is printed (file, event, check); 3:\n"
    "unreadable; 5: every check passed but nothing independent vouches for the key\n"
    "(--trust-bundle-key, or --store without --key).\n"
    "\n"
    "examples:\n"
    "  trace-query verify INC-2041.bundle.tar --key collector.pub.pem\n"
    "  trace-query verify INC-2041.bundle.tar --keyring trusted-collectors.pem\n"
    "  trace-query verify --store /var/lib/agenttrail --key collector.pub.pem\n"
    "  trace-query verify --store /var/lib/agenttrail --key collector.pub.pem \\\n"
    "      --witness /mnt/other-disk/agenttrail-witness \\\n"
    "      --prior last-quarter.checkpoint.txt\n";

/* The rules between options, once every one is read. */
static int check(const qctx *ctx, const vargs *v);

static int parse(const qctx *ctx, int argc, char **argv, vargs *v)
{
    memset(v, 0, sizeof *v);
    at_opt_prog p;
    qcmd_prog(&qcmd_verify, &p);
    at_opt_result res;
    at_error err;
    int rc = at_opt_parse(&p, argc, argv, v, &res, &err);
    if (rc) qerr(ctx, "verify", "%s", err.what);
    v->help = res.help;
    v->file = res.nrest > 0 ? res.rest[0] : NULL;
    if (!rc && res.nrest > 1) {
        qerr(ctx, "verify", "one bundle at a time: unexpected %s", res.rest[1]);
        rc = AT_EINVAL;
    }
    at_opt_done(&res);
    if (rc) return rc == AT_ENOMEM ? QEXIT_STORE : QEXIT_USAGE;
    return check(ctx, v);
}

static int check(const qctx *ctx, const vargs *v)
{
    if (!v->help && v->file && v->store) {
        qerr(ctx, "verify", "give a bundle or --store, not both");
        return QEXIT_USAGE;
    }
    if (!v->help && v->store && (v->keyring || v->trust_bundle_key)) {
        qerr(ctx, "verify", "--keyring and --trust-bundle-key go with a bundle, not --store");
        return QEXIT_USAGE;
    }
    if (!v->help && v->file && v->key && v->keyring) {
        qerr(ctx, "verify", "give --key or --keyring, not both");
        return QEXIT_USAGE;
    }
    if (!v->help && v->file && (v->witness || v->trust_store_key)) {
        qerr(ctx, "verify", "--witness and --trust-store-key go with --store, not a bundle");
        return QEXIT_USAGE;
    }
    return 0;
}

char *verify_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = malloc(CP_NOTE_MAX + 1);
    size_t n = buf ? fread(buf, 1, CP_NOTE_MAX + 1, f) : 0;
    fclose(f);
    if (!buf || n > CP_NOTE_MAX) {
        free(buf);
        errno = EFBIG;
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

void verify_progress(void *ctx, uint64_t done, uint64_t total)
{
    /* One verify per process: one progress line, started at the first call, erased at the
     * last (term_progress.h draws only on a terminal, 100 ms apart). */
    static tp_progress pg;
    static int started;
    const qctx *q = ctx;
    if (!started) tp_progress_start(&pg, q->err), started = 1; /* isatty once, not per call */
    tp_progress_update(&pg, "verify: checked", done, total);
    if (done == total) tp_progress_end(&pg);
}

/* The key a bundle must be signed by: --key, else the keyring's copy of the bundle's own
 * pub.pem (NULL: not pinned; bundle_verify then checks against pub.pem, and the verdict
 * cannot be "verified"). */
static const cp_key *pinned_key(const bundle *b, const cp_key *key, const qkeyring *kr,
                                cp_key **own)
{
    const bundle_file *pk = bundle_get(b, BUNDLE_PUBKEY);
    if (pk && cp_key_parse_public((const char *)pk->data, pk->len, own) != 0) *own = NULL;
    if (key) return key;
    return kr->n && *own ? qkeyring_find(kr, *own) : NULL;
}

/* Every check passed against `used`: verified when it was pinned; otherwise 4, or 5 when the
 * user asked to trust the bundle's own key. */
static int bundle_verdict(const qctx *ctx, const vargs *v, const bundle_summary *sum,
                          const cp_key *used, int pinned, size_t nring)
{
    char fp[CP_FINGERPRINT_LEN];
    cp_key_fingerprint(used, fp);
    const char *prior = sum->prior_checked ? "; consistent with the prior checkpoint" : "";
    if (pinned) {
        tp_term_printf(ctx->out,
                       "verified: %llu events of log %s, checkpoint tree size %llu, signed by "
                       "key %s (%s)%s",
                       (unsigned long long)sum->events, sum->checkpoint.origin,
                       (unsigned long long)sum->checkpoint.size, fp,
                       v->key ? "the given key" : "in the keyring", prior);
        return QEXIT_OK;
    }
    tp_term_printf(ctx->out,
                   "unpinned: %llu events of log %s, checkpoint tree size %llu: every check "
                   "passed against the bundle's own pub.pem, key %s%s",
                   (unsigned long long)sum->events, sum->checkpoint.origin,
                   (unsigned long long)sum->checkpoint.size, fp, prior);
    if (v->keyring) {
        qerr(ctx, "verify",
             "FAILED: signing key: %s is not one of the %zu key(s) of the keyring %s: the "
             "bundle may have been changed and signed again by someone else",
             fp, nring, v->keyring);
        return QEXIT_VERIFY;
    }
    if (v->trust_bundle_key) {
        qerr(ctx, "verify",
             "NOT TRUSTED: only the bundle vouches for key %s (--trust-bundle-key); compare "
             "the fingerprint with the one the operator gave you, or pass --key",
             fp);
        return QEXIT_UNTRUSTED;
    }
    qerr(ctx, "verify",
         "FAILED: signing key not pinned: anyone can change a bundle and sign it again with a "
         "new key and pub.pem; pass --key FILE (the collector's public key, from its operator) "
         "or --keyring FILE, or --trust-bundle-key to accept key %s knowingly (exit 5)",
         fp);
    return QEXIT_VERIFY;
}

static int verify_bundle(const qctx *ctx, const vargs *v)
{
    char err[AT_ERROR_TEXT_LEN];
    cp_key *k = NULL, *own = NULL;
    qkeyring kr = {0};
    char *prior = NULL;
    size_t prior_len = 0;
    bundle b;
    bundle_init(&b);
    int rc = QEXIT_STORE;
    at_error e = {0};
    if (v->key && cp_key_load_public(v->key, &k, &e)) {
        qerr(ctx, "verify", "%s", at_error_format(&e, err, sizeof err));
        goto out;
    }
    if (v->keyring && qkeyring_load(v->keyring, &kr, &e)) {
        qerr(ctx, "verify", "%s", at_error_format(&e, err, sizeof err));
        goto out;
    }
    if (v->prior && !(prior = verify_slurp(v->prior, &prior_len))) {
        qerr(ctx, "verify", "%s: cannot read the prior checkpoint: %s", v->prior, strerror(errno));
        goto out;
    }
    at_error berr = {0};
    rc = bundle_read_file(v->file, &b, &berr);
    if (rc) {
        qerr(ctx, "verify", "FAILED: %s", berr.what);
        rc = rc == BUNDLE_EIO ? QEXIT_STORE : QEXIT_VERIFY;
        goto out;
    }
    const cp_key *pin = pinned_key(&b, k, &kr, &own);
    bundle_summary sum;
    bundle_failure f;
    rc = bundle_verify(&b, pin, prior, prior_len, bundle_event_json,
                       isatty(STDERR_FILENO) ? verify_progress : NULL, (void *)ctx, &sum, &f);
    if (rc == BUNDLE_EVERIFY) {
        char msg[1024];
        qerr(ctx, "verify", "FAILED: %s", bundle_failure_format(&f, msg, sizeof msg));
        rc = QEXIT_VERIFY;
    } else if (rc) {
        qerr(ctx, "verify", "%s",
             rc == BUNDLE_ECRYPTO ? "OpenSSL cannot compute SHA-256" : "out of memory");
        rc = QEXIT_STORE;
    } else {
        rc = bundle_verdict(ctx, v, &sum, pin ? pin : own, pin != NULL, kr.n);
    }
out:
    bundle_clear(&b);
    free(prior);
    qkeyring_clear(&kr);
    cp_key_destroy(&own);
    cp_key_destroy(&k);
    return rc;
}

static int verify_run(const qctx *ctx, int argc, char **argv)
{
    vargs v;
    int rc = parse(ctx, argc, argv, &v);
    if (rc) return rc;
    if (v.help) {
        qcmd_print_help(ctx, &qcmd_verify, ctx->out);
        return 0;
    }
    if (v.file) return verify_bundle(ctx, &v);
    return verify_store(ctx, &v);
}

QCMD_DEFINE(verify, "check a bundle offline, or every hash and checkpoint of a store");
