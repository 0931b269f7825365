/*
 * verify_store.c - `trace-query verify --store DIR [--key PUB] [--prior CP] [--witness WDIR]`.
 *
 * Responsibility: recomputes the Merkle tree from every stored event and checks it against
 * the stored leaf hashes and nodes, every checkpoint kept in the store and every checkpoint
 * kept outside it (--prior, the witness records): each must be signed by the key, name the
 * store's log, be a prefix of the log with the same root and be consistent with the store's
 * newest checkpoint. A store smaller than such a checkpoint is a rollback, a newer one
 * missing from the store means checkpoints were removed, a log without any checkpoint or
 * with more unsigned entries than the collector ever leaves (log_info tail_max) means
 * checkpoints were removed too. Then the index check (ts_check).
 * Trust: signatures checked only against DIR/checkpoint.key prove nothing to someone who
 * suspects DIR, so without --key, --witness or --trust-store-key a store that passes every
 * check exits QEXIT_UNTRUSTED (5), not 0 (docs/ledger.md).
 * Owns: the checkpoints and roots of one run. Threading: single-threaded.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint.h"
#include "crash.h"
#include "verify.h"
#include "text_term.h"

/* A checkpoint kept in the store. */
typedef struct vcp {
    cp_checkpoint cp;
} vcp;

typedef struct vstore {
    const qctx *ctx;
    const vargs *v;
    const char *dir;
    ts_store *s;
    cp_key *k;
    int key_given; /* --key */
    char origin[CP_ORIGIN_MAX];
    uint64_t size;
    vcp *cps; /* the store's, oldest first */
    uint64_t ncp;
    uint64_t nwitness; /* witness records checked */
    int witness_torn;
    uint64_t *sizes; /* every checkpoint size, ascending, unique */
    uint8_t (*roots)[32];
    size_t nsizes;
} vstore;

static int failed(const qctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int failed(const qctx *ctx, const char *fmt, ...)
{
    char msg[1400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    qerr(ctx, "verify", "FAILED: %s", msg);
    return QEXIT_VERIFY;
}

static int open_store(vstore *vs)
{
    struct stat st;
    char msg[AT_ERROR_TEXT_LEN] = "";
    at_error e = {0};
    int rc = stat(vs->dir, &st) == 0 && S_ISDIR(st.st_mode)
                 ? ts_open(vs->dir, TS_OPEN_RDONLY, NULL, &vs->s, &e)
                 : TS_ENOTFOUND;
    at_error_format(&e, msg, sizeof msg);
    char mdb[4200];
    snprintf(mdb, sizeof mdb, "%s/data.mdb", vs->dir);
    if (rc == TS_ENOTFOUND && stat(mdb, &st) == 0)
        return failed(vs->ctx, "the store %s is damaged: its data.mdb lacks what a store holds: %s",
                      vs->dir, msg);
    if (rc == TS_ENOTFOUND) {
        qerr(vs->ctx, "verify", "no store at %s (pass --store DIR)", vs->dir);
        return QEXIT_STORE;
    }
    /* A store this build cannot read is not verified: damaged, or (a schema version it does
     * not know) written by a newer release; the message says which. */
    if (rc == TS_ECORRUPT) return failed(vs->ctx, "the store %s is damaged: %s", vs->dir, msg);
    if (rc == TS_EVERSION)
        return failed(vs->ctx,
                      "the store %s cannot be verified by this build (damaged, or "
                      "written by a newer release): %s",
                      vs->dir, msg);
    if (rc) {
        qerr(vs->ctx, "verify", "cannot open the store at %s: %s", vs->dir,
             msg[0] ? msg : ts_strerror(rc));
        return QEXIT_STORE;
    }
    return 0;
}

/* The key for checkpoint signatures: --key, else the public half of DIR/checkpoint.key. */
static int load_key(vstore *vs)
{
    char err[AT_ERROR_TEXT_LEN];
    at_error e = {0};
    if (vs->v->key) {
        vs->key_given = 1;
        if (cp_key_load_public(vs->v->key, &vs->k, &e) == 0) return 0;
        /* A private key file also carries the public half. */
        if (cp_key_load_private(vs->v->key, &vs->k, &e) == 0) return 0;
        qerr(vs->ctx, "verify", "%s", at_error_format(&e, err, sizeof err));
        return QEXIT_STORE;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/checkpoint.key", vs->dir);
    if (cp_key_load_private(path, &vs->k, &e) != 0) {
        tp_term_printf(vs->ctx->err, "verify: no key (%s): checkpoint signatures are NOT checked",
                       at_error_format(&e, err, sizeof err));
        vs->k = NULL;
    }
    return 0;
}

/* Parses and (with a key) verifies a note; 0, or a message in why. */
static int check_note(const vstore *vs, const char *note, size_t len, cp_checkpoint *c,
                      const char **what, char *why, size_t whylen)
{
    cp_signature sig;
    size_t nsig;
    at_error e = {0};
    int rc = vs->k ? cp_note_verify(note, len, vs->k, c, &e)
                   : cp_note_parse(note, len, c, &sig, 1, &nsig, &e);
    at_error_format(&e, why, whylen);
    *what = rc == CP_EVERIFY ? "signature" : "format";
    if (!rc && strcmp(c->origin, vs->origin) != 0) {
        *what = "origin";
        snprintf(why, whylen, "names log %s, the store is %s", c->origin, vs->origin);
        rc = -1;
    }
    return rc;
}

/* Loads and checks every checkpoint kept in the store. */
static int load_store_checkpoints(vstore *vs)
{
    if (ts_checkpoint_count(vs->s, &vs->ncp))
        return failed(vs->ctx, "log_checkpoints: %s", ts_last_error(vs->s));
    vs->cps = calloc(vs->ncp ? vs->ncp : 1, sizeof *vs->cps);
    if (!vs->cps) return QEXIT_STORE;
    for (uint64_t i = 0; i < vs->ncp; i++) {
        char *note = NULL, why[640] = "";
        size_t len = 0;
        const char *what = NULL;
        cp_checkpoint *c = &vs->cps[i].cp;
        if (ts_checkpoint_get(vs->s, i, &note, &len))
            return failed(vs->ctx, "checkpoint %llu: unreadable: %s", (unsigned long long)i,
                          ts_last_error(vs->s));
        int bad = check_note(vs, note, len, c, &what, why, sizeof why);
        free(note);
        if (!bad && c->size > vs->size) {
            bad = 1, what = "tree size";
            snprintf(why, sizeof why, "%llu entries, the log has %llu: the log was truncated",
                     (unsigned long long)c->size, (unsigned long long)vs->size);
        } else if (!bad && i > 0 && c->size < vs->cps[i - 1].cp.size) {
            bad = 1, what = "order";
            snprintf(why, sizeof why, "smaller tree than checkpoint %llu",
                     (unsigned long long)i - 1);
        }
        if (bad)
            return failed(vs->ctx, "checkpoint %llu: %s: %s", (unsigned long long)i, what, why);
    }
    return 0;
}

/* The recomputed root at `size` (one of vs->sizes). */
static const uint8_t *root_at(const vstore *vs, uint64_t size)
{
    const uint64_t *p = bsearch(&size, vs->sizes, vs->nsizes, sizeof size, at_cmp_u64);
    return p ? vs->roots[p - vs->sizes] : NULL;
}

/* The tree from the events, at every kept checkpoint's size; *full the root of the log. */
static int recompute(vstore *vs, uint8_t full[32])
{
    size_t n = (size_t)vs->ncp;
    vs->sizes = calloc(n ? n : 1, sizeof *vs->sizes);
    vs->roots = calloc(n ? n : 1, sizeof *vs->roots);
    if (!vs->sizes || !vs->roots) return QEXIT_STORE;
    for (uint64_t i = 0; i < vs->ncp; i++)
        vs->sizes[vs->nsizes++] = vs->cps[i].cp.size; /* non-decreasing: checked on load */
    size_t u = 0;
    for (size_t i = 0; i < vs->nsizes; i++)
        if (u == 0 || vs->sizes[u - 1] != vs->sizes[i]) vs->sizes[u++] = vs->sizes[i];
    vs->nsizes = u;
    int tty = isatty(STDERR_FILENO);
    if (ts_log_recompute(vs->s, vs->nsizes, vs->sizes, vs->roots, full, NULL, NULL, NULL,
                         tty && vs->size >= 65536 ? verify_progress : NULL, (void *)vs->ctx))
        return failed(vs->ctx, "%s", ts_last_error(vs->s));
    return 0;
}

/* A consistency proof from the tree of (old) to that of (new), from the store's nodes. */
static int consistent(vstore *vs, const cp_checkpoint *old, const cp_checkpoint *new)
{
    uint8_t proof[TS_PROOF_MAX][32];
    size_t n = 0;
    return ts_log_consistency_proof(vs->s, old->size, new->size, proof, &n) == 0 &&
           ts_log_verify_consistency(old->size, new->size, old->root, new->root,
                                     (const uint8_t(*)[32])proof, n) == 0;
}

static int check_roots(vstore *vs)
{
    for (uint64_t i = 0; i < vs->ncp; i++)
        if (memcmp(root_at(vs, vs->cps[i].cp.size), vs->cps[i].cp.root, 32) != 0)
            return failed(vs->ctx,
                          "checkpoint %llu (tree size %llu): root differs from the tree "
                          "recomputed from the stored events",
                          (unsigned long long)i, (unsigned long long)vs->cps[i].cp.size);
    return 0;
}

/* One checkpoint from outside the store (`from` names it): signed by the key, of this log,
 * not beyond the log (else a rollback) nor beyond the newest kept checkpoint (else removed
 * checkpoints), the store's root at its size, consistent with the newest. Runs after
 * check_structure, so the stored nodes (ts_log_root) are the events' own tree; nothing is
 * kept per checkpoint, so a witness of years of checkpoints costs no memory. */
static int check_outside(vstore *vs, const char *from, const char *note, size_t len)
{
    cp_checkpoint c;
    char why[640] = "";
    const char *what = NULL;
    const cp_checkpoint *newest = vs->ncp ? &vs->cps[vs->ncp - 1].cp : NULL;
    uint8_t root[32];
    if (check_note(vs, note, len, &c, &what, why, sizeof why))
        return failed(vs->ctx, "%s: %s: %s", from, what, why);
    if (c.size > vs->size)
        return failed(vs->ctx,
                      "rollback: %s is a checkpoint of tree size %llu, but the store's log has "
                      "only %llu entries: the store was rolled back to an earlier copy or "
                      "truncated",
                      from, (unsigned long long)c.size, (unsigned long long)vs->size);
    if (!newest || c.size > newest->size) {
        char kept[64] = "none";
        if (newest)
            snprintf(kept, sizeof kept, "of tree size %llu", (unsigned long long)newest->size);
        return failed(vs->ctx,
                      "removed checkpoints: %s is a checkpoint of tree size %llu, but the "
                      "store's newest checkpoint is %s: checkpoints were removed from the store",
                      from, (unsigned long long)c.size, kept);
    }
    if (ts_log_root(vs->s, c.size, root) || memcmp(root, c.root, 32) != 0)
        return failed(vs->ctx,
                      "%s (tree size %llu): root differs from the store's tree at that size: "
                      "the log was rewritten since that checkpoint was signed",
                      from, (unsigned long long)c.size);
    if (!consistent(vs, &c, newest))
        return failed(vs->ctx,
                      "%s (tree size %llu): consistency with the store's newest checkpoint "
                      "(tree size %llu) fails",
                      from, (unsigned long long)c.size, (unsigned long long)newest->size);
    return 0;
}

static int witness_record(void *ctx, uint64_t seq, const char *note, size_t len)
{
    vstore *vs = ctx;
    char from[64];
    snprintf(from, sizeof from, "witness record %llu", (unsigned long long)seq);
    vs->nwitness++;
    return check_outside(vs, from, note, len);
}

/* --prior, then every witness record, read one at a time. */
static int check_external(vstore *vs)
{
    if (vs->v->prior) {
        size_t len = 0;
        char *note = verify_slurp(vs->v->prior, &len);
        if (!note) {
            qerr(vs->ctx, "verify", "%s: cannot read the prior checkpoint: %s", vs->v->prior,
                 strerror(errno));
            return QEXIT_STORE;
        }
        int rc = check_outside(vs, "the prior checkpoint", note, len);
        free(note);
        if (rc) return rc;
    }
    if (!vs->v->witness) return 0;
    char err[AT_ERROR_TEXT_LEN] = "";
    at_error e = {0};
    int rc = wt_read(vs->v->witness, vs->origin, witness_record, vs, &vs->witness_torn, &e);
    if (rc > 0) return rc;
    if (rc) return failed(vs->ctx, "%s", at_error_format(&e, err, sizeof err));
    if (vs->nwitness == 0 && vs->size > 0)
        return failed(vs->ctx, "witness %s holds no checkpoint of log %s", vs->v->witness,
                      vs->origin);
    return 0;
}

/* No checkpoint at all, or a longer unsigned tail than the collector leaves: removed. */
static int check_tail(vstore *vs)
{
    uint64_t signed_size = vs->ncp ? vs->cps[vs->ncp - 1].cp.size : 0;
    uint64_t tail = vs->size - signed_size, tail_max = 0;
    int known = ts_log_tail_max(vs->s, &tail_max) == 0;
    if (vs->size > 0 && vs->ncp == 0)
        return failed(vs->ctx,
                      "no checkpoint: the log has %llu entries and the store keeps no signed "
                      "checkpoint of it: every checkpoint was removed (or the collector never "
                      "signed one)",
                      (unsigned long long)vs->size);
    if (known && tail > tail_max)
        return failed(vs->ctx,
                      "unsigned tail: %llu entries after the last checkpoint (log indexes "
                      "%llu..%llu), more than the %llu a running collector leaves unsigned: the "
                      "latest checkpoints were removed (or the collector failed to sign: see its "
                      "log)",
                      (unsigned long long)tail, (unsigned long long)signed_size,
                      (unsigned long long)vs->size - 1, (unsigned long long)tail_max);
    if (tail > 0)
        fprintf(vs->ctx->err,
                "verify: note: %llu entries after the last checkpoint, not yet signed%s\n",
                (unsigned long long)tail,
                known ? "" : " (the store does not record the collector's bound)");
    return 0;
}

typedef struct index_problems {
    const qctx *ctx;
    int n;
} index_problems;

static void index_problem(void *c, const char *message)
{
    index_problems *p = c;
    if (p->n++ == 0) qerr(p->ctx, "verify", "FAILED: index check: %s", message);
}

/* The stored nodes, their root, successive checkpoints, then the indexes. */
static int check_structure(vstore *vs, const uint8_t full[32])
{
    uint8_t got[32];
    if (ts_log_check_nodes(vs->s, NULL, NULL)) return failed(vs->ctx, "%s", ts_last_error(vs->s));
    if (ts_log_root(vs->s, vs->size, got) || memcmp(full, got, 32) != 0)
        return failed(vs->ctx, "log_nodes: the root from the stored nodes differs from the tree "
                               "recomputed from the events");
    for (uint64_t i = 1; i < vs->ncp; i++)
        if (!consistent(vs, &vs->cps[i - 1].cp, &vs->cps[i].cp))
            return failed(vs->ctx, "checkpoints %llu and %llu: consistency proof fails",
                          (unsigned long long)i - 1, (unsigned long long)i);
    index_problems p = {vs->ctx, 0};
    int crc = ts_check(vs->s, index_problem, &p);
    if (crc || p.n) {
        if (!p.n) failed(vs->ctx, "index check: %s", ts_last_error(vs->s));
        return QEXIT_VERIFY;
    }
    return 0;
}

/* The last line, and the exit code: 0 only when the signatures were checked against a key
 * that does not come from DIR alone (--key, or the witness outside it, or the user saying
 * so with --trust-store-key). */
static int conclude(vstore *vs)
{
    const vargs *v = vs->v;
    char fp[CP_FINGERPRINT_LEN + 8] = "";
    if (vs->k) {
        memcpy(fp, ", key ", 7);
        cp_key_fingerprint(vs->k, fp + 6);
    }
    tp_term_printf(vs->ctx->out,
                   "verified: store %s, log %s: %llu events, %llu checkpoints (%s)%s%s%s, indexes",
                   vs->dir, vs->origin, (unsigned long long)vs->size, (unsigned long long)vs->ncp,
                   !vs->k          ? "signatures NOT checked"
                   : vs->key_given ? "signatures checked"
                                   : "signatures checked only against DIR/checkpoint.key",
                   fp, v->prior ? "; the prior checkpoint is in the log" : "",
                   v->witness ? "; every witness checkpoint is in the log" : "");
    if (v->witness)
        fprintf(vs->ctx->err, "verify: %llu witness checkpoints checked\n",
                (unsigned long long)vs->nwitness);
    if (vs->witness_torn)
        fprintf(vs->ctx->err, "verify: note: the witness's last record is cut short (the "
                              "collector stopped in the middle of an append); it was skipped\n");
    if (vs->k && (vs->key_given || v->witness || v->trust_store_key)) return QEXIT_OK;
    qerr(vs->ctx, "verify",
         "NOT TRUSTED: %s; anyone who can write %s can replace that key together with the "
         "checkpoints. Pass --key with the key printed by `trace-collector --print-public-key` "
         "(kept apart from the store), or --witness WDIR; --trust-store-key accepts DIR's own "
         "key (exit 5 without one of them)",
         vs->k ? "the signatures were checked only against DIR/checkpoint.key"
               : "no signature was checked",
         vs->dir);
    return QEXIT_UNTRUSTED;
}

int verify_store(const qctx *ctx, const vargs *v)
{
    vstore vs;
    memset(&vs, 0, sizeof vs);
    vs.ctx = ctx;
    vs.v = v;
    vs.dir = v->store ? v->store : ctx->store_dir;
    qcrash_store(vs.dir);
    uint8_t full[32];
    int rc = open_store(&vs);
    if (!rc) rc = load_key(&vs);
    if (!rc && (ts_log_size(vs.s, &vs.size) || ts_log_origin(vs.s, vs.origin, sizeof vs.origin)))
        rc = failed(ctx, "the store has no Merkle log: %s", ts_last_error(vs.s));
    if (!rc) rc = load_store_checkpoints(&vs);
    if (!rc) rc = recompute(&vs, full);
    if (!rc) rc = check_roots(&vs);
    if (!rc) rc = check_structure(&vs, full);
    if (!rc) rc = check_external(&vs);
    if (!rc) rc = check_tail(&vs);
    if (!rc) rc = conclude(&vs);
    free(vs.cps);
    free(vs.sizes);
    free(vs.roots);
    cp_key_destroy(&vs.k);
    ts_close(&vs.s);
    return rc;
}
