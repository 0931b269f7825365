/*
 * verify.c - `trace-query verify`: checks a compliance bundle offline, or a whole store.
 *
 * Responsibility: `verify FILE` reads the bundle and runs bundle_verify (query/bundle.c);
 * `verify --store DIR` recomputes the Merkle tree from every stored event, compares it with
 * the stored leaf hashes, the stored nodes and every kept checkpoint (signature, root,
 * consistency with the one before), then runs the store's index check (ts_check).
 * Either way the first failure is named and the exit code is 4.
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

enum { VOPT_KEY = 1000, VOPT_PRIOR, VOPT_STORE };

static const qopt verify_opts[] = {
    {"key", "FILE", VOPT_KEY,
     "the collector's public key (PEM or verifier line) to check signatures against"},
    {"prior", "FILE", VOPT_PRIOR, "a checkpoint kept from before: check the log only grew"},
    {"store", "DIR", VOPT_STORE, "verify a whole store instead of a bundle"},
    {"help", NULL, QOPT_HELP, "this help"},
    {NULL, NULL, 0, NULL},
};

static const char verify_help[] =
    "usage: trace-query verify BUNDLE [--key FILE] [--prior CHECKPOINT]\n"
    "       trace-query verify --store DIR [--key FILE]\n"
    "\n"
    "BUNDLE: checks, offline, the manifest signature, every file's SHA-256, the checkpoint\n"
    "signature, every event's leaf hash and inclusion proof against the checkpoint, that the\n"
    "JSON events are the stored bytes decoded and, with --prior, that the log only grew\n"
    "since a checkpoint kept from before. Without --key the bundle's own pub.pem is used:\n"
    "compare it with the key you were given.\n"
    "--store: recomputes the whole Merkle tree from the stored events and checks it against\n"
    "the stored leaf hashes and nodes and every kept checkpoint (signature, root, consistency\n"
    "with the previous one), then the indexes. Without --key the public half of\n"
    "DIR/checkpoint.key is used when readable.\n"
    "Exit 0: verified; 4: the first failure is printed (file, event, check); 3: unreadable.\n"
    "\n"
    "examples:\n"
    "  trace-query verify INC-2041.bundle.tar --key collector.pub.pem\n"
    "  trace-query verify --store /var/lib/agenttrail --key collector.pub.pem\n";

typedef struct vargs {
    const char *file, *key, *prior, *store;
    int help;
} vargs;

static int parse(const qctx *ctx, int argc, char **argv, vargs *v)
{
    memset(v, 0, sizeof *v);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const qopt *o = NULL;
        const char *val = NULL;
        if (strncmp(a, "--", 2) == 0) {
            const char *eq = strchr(a + 2, '=');
            size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
            for (const qopt *p = verify_opts; p->name; p++)
                if (strlen(p->name) == len && strncmp(p->name, a + 2, len) == 0) o = p;
            if (!o) {
                qerr(ctx, "verify", "unknown option %s (see trace-query verify --help)", a);
                return QEXIT_USAGE;
            }
            if (o->arg) {
                val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
                if (!val || !*val) {
                    qerr(ctx, "verify", "--%s needs %s (see trace-query verify --help)", o->name,
                         o->arg);
                    return QEXIT_USAGE;
                }
            }
        } else if (!v->file) {
            v->file = a;
            continue;
        } else {
            qerr(ctx, "verify", "one bundle at a time: unexpected %s", a);
            return QEXIT_USAGE;
        }
        switch (o->id) {
        case VOPT_KEY:
            v->key = val;
            break;
        case VOPT_PRIOR:
            v->prior = val;
            break;
        case VOPT_STORE:
            v->store = val;
            break;
        default:
            v->help = 1;
            break;
        }
    }
    if (!v->help && v->file && v->store) {
        qerr(ctx, "verify", "give a bundle or --store, not both");
        return QEXIT_USAGE;
    }
    return 0;
}

/* Reads a small text file (a checkpoint). */
static char *slurp(const char *path, size_t *len)
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

static void progress(void *ctx, uint64_t done, uint64_t total)
{
    const qctx *q = ctx;
    fprintf(q->err, "\rverify: %llu/%llu events", (unsigned long long)done,
            (unsigned long long)total);
    if (done == total) fputc('\n', q->err);
}

static int verify_bundle(const qctx *ctx, const vargs *v)
{
    char err[1024];
    cp_key *k = NULL;
    if (v->key && cp_key_load_public(v->key, &k, err, sizeof err)) {
        qerr(ctx, "verify", "%s", err);
        return QEXIT_STORE;
    }
    char *prior = NULL;
    size_t prior_len = 0;
    if (v->prior && !(prior = slurp(v->prior, &prior_len))) {
        qerr(ctx, "verify", "%s: cannot read the prior checkpoint: %s", v->prior, strerror(errno));
        cp_key_destroy(&k);
        return QEXIT_STORE;
    }
    bundle b;
    bundle_init(&b);
    int rc = bundle_read_file(v->file, &b, err, sizeof err);
    if (rc) {
        qerr(ctx, "verify", "FAILED: %s", err);
        free(prior);
        cp_key_destroy(&k);
        return rc == BUNDLE_EIO ? QEXIT_STORE : QEXIT_VERIFY;
    }
    bundle_summary sum;
    bundle_failure f;
    rc = bundle_verify(&b, k, prior, prior_len, bundle_event_json,
                       isatty(STDERR_FILENO) ? progress : NULL, (void *)ctx, &sum, &f);
    if (rc == BUNDLE_EVERIFY) {
        char msg[1024];
        qerr(ctx, "verify", "FAILED: %s", bundle_failure_format(&f, msg, sizeof msg));
        rc = QEXIT_VERIFY;
    } else if (rc) {
        qerr(ctx, "verify", "out of memory");
        rc = QEXIT_STORE;
    } else {
        fprintf(ctx->out,
                "verified: %llu events of log %s, checkpoint tree size %llu, signed by %s%s\n",
                (unsigned long long)sum.events, sum.checkpoint.origin,
                (unsigned long long)sum.checkpoint.size,
                sum.key_pinned ? "the given key" : "the bundle's pub.pem (compare it!)",
                sum.prior_checked ? "; consistent with the prior checkpoint" : "");
    }
    bundle_clear(&b);
    free(prior);
    cp_key_destroy(&k);
    return rc;
}

/* ---- --store ---------------------------------------------------------------------- */

typedef struct store_check {
    const qctx *ctx;
    int problems;
} store_check;

static void index_problem(void *c, const char *message)
{
    store_check *sc = c;
    if (sc->problems++ == 0) qerr(sc->ctx, "verify", "FAILED: index check: %s", message);
}

/* The key for checkpoint signatures: --key, else the public half of DIR/checkpoint.key. */
static int store_key(const qctx *ctx, const vargs *v, const char *dir, cp_key **k)
{
    char err[1024];
    if (v->key) {
        if (cp_key_load_public(v->key, k, err, sizeof err) == 0) return 0;
        /* A private key file also carries the public half. */
        if (cp_key_load_private(v->key, k, err, sizeof err) == 0) return 0;
        qerr(ctx, "verify", "%s", err);
        return QEXIT_STORE;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/checkpoint.key", dir);
    if (cp_key_load_private(path, k, err, sizeof err) != 0) {
        fprintf(ctx->err,
                "verify: no key (%s): checkpoint signatures are not checked; pass --key\n", err);
        *k = NULL;
    }
    return 0;
}

static int mismatch(const qctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int mismatch(const qctx *ctx, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    qerr(ctx, "verify", "FAILED: %s", msg);
    return QEXIT_VERIFY;
}

typedef struct kept {
    cp_checkpoint cp;
} kept;

/* Loads, parses and (with a key) verifies every kept checkpoint. */
static int load_checkpoints(const qctx *ctx, ts_store *s, const cp_key *k, const char *origin,
                            uint64_t size, kept **out, uint64_t *n)
{
    *out = NULL;
    if (ts_checkpoint_count(s, n)) return mismatch(ctx, "log_checkpoints: %s", ts_last_error(s));
    kept *c = calloc(*n ? *n : 1, sizeof *c);
    if (!c) return QEXIT_STORE;
    for (uint64_t i = 0; i < *n; i++) {
        char *note = NULL, why[640] = "";
        size_t len = 0;
        if (ts_checkpoint_get(s, i, &note, &len)) {
            free(c);
            return mismatch(ctx, "checkpoint %llu: unreadable: %s", (unsigned long long)i,
                            ts_last_error(s));
        }
        cp_signature sig;
        size_t nsig;
        int rc = k ? cp_note_verify(note, len, k, &c[i].cp, why, sizeof why)
                   : cp_note_parse(note, len, &c[i].cp, &sig, 1, &nsig, why, sizeof why);
        free(note);
        const char *what = NULL;
        if (rc == CP_EVERIFY)
            what = "signature";
        else if (rc)
            what = "format";
        else if (strcmp(c[i].cp.origin, origin) != 0)
            what = "origin",
            snprintf(why, sizeof why, "names log %s, the store is %s", c[i].cp.origin, origin);
        else if (c[i].cp.size > size)
            what = "tree size",
            snprintf(why, sizeof why, "%llu entries, the log has %llu: the log was truncated",
                     (unsigned long long)c[i].cp.size, (unsigned long long)size);
        else if (i > 0 && c[i].cp.size < c[i - 1].cp.size)
            what = "order", snprintf(why, sizeof why, "smaller tree than checkpoint %llu",
                                     (unsigned long long)i - 1);
        if (what) {
            free(c);
            return mismatch(ctx, "checkpoint %llu: %s: %s", (unsigned long long)i, what, why);
        }
    }
    *out = c;
    return 0;
}

static int verify_store(const qctx *ctx, const vargs *v)
{
    qctx sctx = *ctx;
    if (v->store) sctx.store_dir = v->store;
    ts_store *s = NULL;
    int rc = qctx_open_store(&sctx, &s);
    if (rc) return rc;
    cp_key *k = NULL;
    kept *cps = NULL;
    uint64_t size = 0, ncp = 0;
    char origin[CP_ORIGIN_MAX];
    if ((rc = store_key(ctx, v, sctx.store_dir, &k))) goto out;
    if (ts_log_size(s, &size) || ts_log_origin(s, origin, sizeof origin)) {
        rc = mismatch(ctx, "the store has no Merkle log: %s", ts_last_error(s));
        goto out;
    }
    if ((rc = load_checkpoints(ctx, s, k, origin, size, &cps, &ncp))) goto out;

    /* The tree from the events, checked against each checkpoint. */
    uint64_t *sizes = calloc(ncp ? ncp : 1, sizeof *sizes);
    uint8_t(*roots)[32] = calloc(ncp ? ncp : 1, sizeof *roots);
    uint8_t want[32], got[32];
    if (!sizes || !roots) {
        free(sizes);
        free(roots);
        rc = QEXIT_STORE;
        goto out;
    }
    for (uint64_t i = 0; i < ncp; i++)
        sizes[i] = cps[i].cp.size;
    int tty = isatty(STDERR_FILENO);
    int r = ts_log_recompute(s, ncp, sizes, roots, want, NULL, NULL, NULL,
                             tty && size >= 65536 ? progress : NULL, (void *)ctx);
    for (uint64_t i = 0; !r && i < ncp; i++)
        if (memcmp(roots[i], cps[i].cp.root, 32) != 0) {
            rc = mismatch(ctx,
                          "checkpoint %llu (tree size %llu): root differs from the tree "
                          "recomputed from the stored events",
                          (unsigned long long)i, (unsigned long long)sizes[i]);
            break;
        }
    free(sizes);
    free(roots);
    if (r) rc = mismatch(ctx, "%s", ts_last_error(s));
    if (rc) goto out;
    if (ts_log_check_nodes(s, NULL, NULL)) {
        rc = mismatch(ctx, "%s", ts_last_error(s));
        goto out;
    }
    if (ts_log_root(s, size, got) || memcmp(want, got, 32) != 0) {
        rc = mismatch(ctx, "log_nodes: the root from the stored nodes differs from the tree "
                           "recomputed from the events");
        goto out;
    }
    for (uint64_t i = 1; i < ncp; i++) {
        uint8_t proof[TS_PROOF_MAX][32];
        size_t n = 0;
        if (ts_log_consistency_proof(s, cps[i - 1].cp.size, cps[i].cp.size, proof, &n) ||
            ts_log_verify_consistency(cps[i - 1].cp.size, cps[i].cp.size, cps[i - 1].cp.root,
                                      cps[i].cp.root, (const uint8_t(*)[32])proof, n)) {
            rc = mismatch(ctx, "checkpoints %llu and %llu: consistency proof fails",
                          (unsigned long long)i - 1, (unsigned long long)i);
            goto out;
        }
    }
    store_check sc = {ctx, 0};
    int crc = ts_check(s, index_problem, &sc);
    if (crc || sc.problems) {
        if (!sc.problems) qerr(ctx, "verify", "FAILED: index check: %s", ts_last_error(s));
        rc = QEXIT_VERIFY;
        goto out;
    }
    fprintf(ctx->out, "verified: store %s, log %s: %llu events, %llu checkpoints (%s), indexes\n",
            sctx.store_dir, origin, (unsigned long long)size, (unsigned long long)ncp,
            k ? "signatures checked" : "signatures NOT checked");
out:
    free(cps);
    cp_key_destroy(&k);
    ts_close(&s);
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

const qcmd qcmd_verify = {
    .name = "verify",
    .run = verify_run,
    .summary = "check a compliance bundle offline, or every hash and checkpoint of a store",
    .help = verify_help,
    .opts = verify_opts,
};
