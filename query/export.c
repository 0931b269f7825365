/*
 * export.c - `trace-query export`: a signed compliance bundle of the events matching a query
 * (docs/ledger.md, "Bundle").
 *
 * Responsibility: runs the query on the read-only store, takes the latest signed checkpoint,
 * and fills a bundle (query/bundle.c) with the events' stored bytes and canonical JSON, each
 * event's inclusion proof to that checkpoint, consistency proofs from every earlier kept
 * checkpoint, then seals it with the collector's key and writes it: to -o FILE by the rules
 * of outfile.h (never through a symlink, FIFO or device; an existing file only with
 * --force), or to stdout with -o -. A query that matches no event writes nothing and fails
 * (exit 1) unless --allow-empty.
 * Owns: the events' bytes for the duration of the run (all of them: a 100k-event export
 * holds ~100 MB).
 * Invariants: the output depends only on the store's state, the query and --who: events in
 * log order, checkpoint time as the manifest's "when" and the archive's mtimes.
 * Threading: single-threaded.
 */
#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "bundle.h"
#include "commands.h"
#include "html_page.h" /* qhtml_check_output: the -o FILE check of every command */
#include "outfile.h"
#include "term_progress.h"
#include "text_term.h"

static const at_opt export_opts[] = {
    QOPT_FILTERS,
    QO_OUTPUT("the bundle to write (- for stdout when it is not a terminal); required"),
    QO_FLAG("force", force, "replace FILE if it is an existing regular file"),
    QO_FLAG("allow-empty", allow_empty,
            "write a bundle even when no event matches (it proves nothing about an incident)"),
    QO_STR("key", "FILE", key,
           "the collector's signing key (default: STORE/checkpoint.key) to sign the manifest"),
    QO_STR("who", "NAME", who, "who exports, for the manifest (default: user@host)"),
    QO_STR("prior", "CHECKPOINT", prior,
           "an auditor's earlier checkpoint: include the consistency proof from it"),
    QO_HELP,
    QO_END,
};

static const char export_help[] =
    "usage: trace-query [--store DIR] export (--incident ID | --trace TRACE_ID |\n"
    "                   FILTERS) -o FILE [--force] [--allow-empty] [--key FILE]\n"
    "                   [--who NAME] [--prior CHECKPOINT]\n"
    "\n"
    "Writes a compliance bundle: a tar archive of the matching events (canonical JSON\n"
    "and stored bytes), each event's inclusion proof in the store's Merkle log, the\n"
    "latest signed checkpoint, consistency proofs from the last 64 earlier\n"
    "checkpoints and from --prior (a checkpoint the auditor kept), a manifest with\n"
    "the SHA-256 of every file signed with the collector's key, the public key and\n"
    "VERIFY.txt. The same store state and query give the same bytes. Check it with\n"
    "trace-query verify. FILE is written through a temporary file beside it and never\n"
    "replaces a symlink, FIFO, device or directory (exit 2); an existing file only\n"
    "with --force (else exit 2). When no event matches, nothing is written and the\n"
    "exit status is 1, unless --allow-empty.\n"
    "\n"
    "examples:\n"
    "  trace-query export --incident INC-2041 -o INC-2041.bundle.tar\n"
    "  trace-query export --trace 4bf92f3577b34da6a3ce929d0e0e4736 -o - \\\n"
    "    | ssh vault 'cat > b.tar'\n"
    "  trace-query verify INC-2041.bundle.tar --key collector.pub.pem\n";

typedef struct exported {
    uint64_t log_index;
    uint8_t *bytes;
    size_t len;
    char *json; /* canonical JSON of the stored bytes, no newline */
    size_t jlen;
} exported;

static int by_log_index(const void *a, const void *b)
{
    const exported *x = a, *y = b;
    return x->log_index < y->log_index ? -1 : x->log_index > y->log_index;
}

static char *query_json(const qargs *a)
{
    json_t *q = json_object();
    const ts_filter *f = &a->filter;
    const struct {
        const char *k, *v;
    } strs[] = {{"workflow", f->workflow}, {"dri", f->dri},     {"incident", f->incident},
                {"service", f->service},   {"model", f->model}, {"tool", f->tool},
                {"source", f->source}};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        if (strs[i].v) json_object_set_new(q, strs[i].k, json_string(strs[i].v));
    if (a->has_trace) {
        char hex[33];
        at_hex_encode(f->trace_id, 16, hex);
        json_object_set_new(q, "trace", json_string(hex));
    }
    if (f->kind) json_object_set_new(q, "kind", json_string(tp_kind_name(f->kind)));
    if (f->outcome) json_object_set_new(q, "outcome", json_string(tp_decision_name(f->outcome)));
    char t[40];
    if (f->since) {
        tp_time_format_rfc3339(f->since, t, sizeof t);
        json_object_set_new(q, "since", json_string(t));
    }
    if (f->until) {
        tp_time_format_rfc3339(f->until, t, sizeof t);
        json_object_set_new(q, "until", json_string(t));
    }
    char *s = json_dumps(q, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(q);
    return s;
}

static void default_who(char *out, size_t outlen)
{
    const char *user = getenv("USER");
    struct passwd *pw = getpwuid(getuid());
    if (pw && pw->pw_name) user = pw->pw_name;
    char host[128] = "localhost";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = 0;
    snprintf(out, outlen, "%s@%s", user ? user : "unknown", host);
}

/* Collects the matching events' stored bytes and log indexes. */
static int collect(const qctx *ctx, ts_store *s, const ts_filter *f, tp_progress *pg,
                   exported **out, size_t *n)
{
    ts_iter *it = NULL;
    int rc = ts_query(s, f, NULL, &it);
    if (rc) {
        qerr(ctx, "export", "query failed: %s", ts_last_error(s));
        return QEXIT_STORE;
    }
    size_t cap = 0;
    exported *ev = NULL;
    int oom = at_grow((void **)&ev, &cap, 1, sizeof *ev, 1024) != 0;
    *n = 0;
    tp_limits lim = tp_limits_default();
    const uint8_t *buf;
    size_t len;
    while (!oom && (rc = ts_iter_next_stored(it, &buf, &len)) == 0) {
        tp_event *e = NULL;
        at_error err;
        if (tp_event_unpack(buf, len, &lim, &e, &err) != 0 || !e->stored ||
            !e->stored->has_log_index) {
            tp_event_destroy(&e);
            rc = TS_ECORRUPT;
            break;
        }
        if (at_grow((void **)&ev, &cap, *n + 1, sizeof *ev, 1024)) {
            tp_event_destroy(&e);
            oom = 1; /* the events collected so far are freed below */
            break;
        }
        ev[*n].log_index = e->stored->log_index;
        ev[*n].json = tp_event_to_json(e, &ev[*n].jlen);
        tp_event_destroy(&e);
        ev[*n].bytes = malloc(len ? len : 1);
        if (!ev[*n].bytes || !ev[*n].json) {
            free(ev[*n].bytes);
            free(ev[*n].json);
            break;
        }
        memcpy(ev[*n].bytes, buf, len);
        ev[*n].len = len;
        (*n)++;
        tp_progress_update(pg, "export: reading", *n, 0);
    }
    ts_iter_destroy(&it);
    tp_progress_end(pg); /* messages below start on a clean line */
    if (oom || rc != TS_EEND) {
        for (size_t i = 0; i < *n; i++) {
            free(ev[i].bytes);
            free(ev[i].json);
        }
        free(ev);
        qerr(ctx, "export", "reading the events failed: %s",
             oom ? "out of memory" : ts_last_error(s));
        return QEXIT_STORE;
    }
    qsort(ev, *n, sizeof *ev, by_log_index);
    *out = ev;
    return 0;
}

/* The events, their proofs and the consistency proofs into the bundle. */
static int fill(const qctx *ctx, ts_store *s, const cp_checkpoint *cp, const cp_checkpoint *prior,
                const exported *ev, size_t n, tp_progress *pg, bundle *b)
{
    at_buf bin = {0}, js = {0}, pr = {0}, cons = {0};
    int rc = 0;
    /* Proofs in batches: one read transaction each, shared upper nodes read once. */
    enum { BATCH = 4096 };
    uint64_t *idx = malloc(BATCH * sizeof *idx);
    uint8_t(*proofs)[TS_PROOF_MAX][32] = malloc(BATCH * sizeof *proofs);
    size_t *lens = malloc(BATCH * sizeof *lens);
    if (!idx || !proofs || !lens) rc = QEXIT_STORE;
    /* The sizes are known: reserve them, sparing the copies of growing buffers. */
    size_t bytes = 0, jbytes = 0, depth = 1;
    for (uint64_t t = cp->size; t > 1; t = (t + 1) / 2)
        depth++;
    for (size_t i = 0; i < n; i++) {
        bytes += 12 + ev[i].len;
        jbytes += ev[i].jlen + 1;
    }
    if (!rc && (at_buf_reserve(&bin, bytes + 1) || at_buf_reserve(&js, jbytes + 1) ||
                at_buf_reserve(&pr, n * (128 + 67 * depth) + 1)))
        rc = QEXIT_STORE;
    for (size_t base = 0; !rc && base < n; base += BATCH) {
        size_t m = n - base < BATCH ? n - base : BATCH;
        for (size_t i = 0; i < m; i++)
            idx[i] = ev[base + i].log_index;
        if (ts_log_inclusion_proofs(s, cp->size, m, idx, proofs, lens)) {
            tp_progress_end(pg);
            qerr(ctx, "export", "no inclusion proofs: %s", ts_last_error(s));
            rc = QEXIT_STORE;
            break;
        }
        for (size_t i = 0; !rc && i < m; i++) {
            const exported *e = &ev[base + i];
            uint8_t leaf[32];
            int hashed = ts_log_leaf_hash(e->bytes, e->len, leaf);
            at_buf_put(&js, e->json, e->jlen);
            at_buf_putc(&js, '\n');
            if (hashed || bundle_events_bin_append(&bin, e->log_index, e->bytes, e->len) ||
                js.failed ||
                bundle_proof_line_append(&pr, e->log_index, leaf, (const uint8_t(*)[32])proofs[i],
                                         lens[i]))
                rc = QEXIT_STORE;
        }
        tp_progress_update(pg, "export: proving", base + m, n);
    }
    free(idx);
    free(proofs);
    free(lens);
    /* Consistency proofs to this checkpoint: from the earlier kept checkpoints of the last
     * CONSISTENCY_MAX distinct sizes, and from the --prior checkpoint if given. */
    enum { CONSISTENCY_MAX = 64 };
    uint64_t sizes[CONSISTENCY_MAX + 1];
    uint8_t roots[CONSISTENCY_MAX + 1][32];
    size_t ns = 0;
    uint64_t count = 0;
    if (!rc && ts_checkpoint_count(s, &count)) rc = QEXIT_STORE;
    for (uint64_t seq = count; !rc && seq-- > 0 && ns < CONSISTENCY_MAX;) {
        char *note = NULL;
        size_t len = 0;
        cp_checkpoint old;
        cp_signature sig;
        size_t nsig;
        if (ts_checkpoint_get(s, seq, &note, &len)) {
            rc = QEXIT_STORE;
            break;
        }
        int bad = cp_note_parse(note, len, &old, &sig, 1, &nsig, NULL);
        free(note);
        if (bad || old.size == 0 || old.size >= cp->size || (ns && sizes[ns - 1] == old.size))
            continue;
        sizes[ns] = old.size;
        memcpy(roots[ns++], old.root, 32);
    }
    if (!rc && prior && prior->size > 0 && prior->size < cp->size) {
        int have = 0;
        for (size_t i = 0; i < ns; i++)
            have |= sizes[i] == prior->size;
        if (!have) {
            sizes[ns] = prior->size;
            memcpy(roots[ns++], prior->root, 32);
        }
    }
    /* Ascending sizes, for a stable file. */
    for (size_t i = 1; i < ns; i++)
        for (size_t j = i; j > 0 && sizes[j - 1] > sizes[j]; j--) {
            uint64_t t = sizes[j];
            sizes[j] = sizes[j - 1];
            sizes[j - 1] = t;
            uint8_t r[32];
            memcpy(r, roots[j], 32);
            memcpy(roots[j], roots[j - 1], 32);
            memcpy(roots[j - 1], r, 32);
        }
    for (size_t i = 0; !rc && i < ns; i++) {
        uint8_t proof[TS_PROOF_MAX][32];
        size_t np = 0;
        if (ts_log_consistency_proof(s, sizes[i], cp->size, proof, &np) ||
            bundle_consistency_line_append(&cons, sizes[i], roots[i], cp->size,
                                           (const uint8_t(*)[32])proof, np))
            rc = QEXIT_STORE;
    }
    if (rc) {
        at_buf_free(&bin);
        at_buf_free(&js);
        at_buf_free(&pr);
        at_buf_free(&cons);
        return rc;
    }
    /* bundle_put_buf empties each buffer, handed over or not. */
    int r = bundle_put_buf(b, BUNDLE_EVENTS_BIN, &bin) != 0;
    r |= bundle_put_buf(b, BUNDLE_EVENTS_JSON, &js) != 0;
    r |= bundle_put_buf(b, BUNDLE_PROOFS, &pr) != 0;
    r |= bundle_put_buf(b, BUNDLE_CONSISTENCY, &cons) != 0;
    return r ? QEXIT_STORE : 0;
}

static int load_checkpoint(const qctx *ctx, ts_store *s, bundle *b, cp_checkpoint *cp)
{
    char *note = NULL, origin[CP_ORIGIN_MAX];
    size_t len = 0, nsig;
    cp_signature sig;
    int rc = ts_checkpoint_get(s, UINT64_MAX, &note, &len);
    if (rc == TS_ENOTFOUND) {
        qerr(ctx, "export",
             "the store has no signed checkpoint yet: run trace-collector on it (it signs one "
             "after commits) and export again");
        return QEXIT_STORE;
    }
    if (rc || ts_log_origin(s, origin, sizeof origin) ||
        cp_note_parse(note, len, cp, &sig, 1, &nsig, NULL) || strcmp(origin, cp->origin)) {
        free(note);
        qerr(ctx, "export", "the latest checkpoint cannot be read: %s", ts_last_error(s));
        return QEXIT_STORE;
    }
    return bundle_put(b, BUNDLE_CHECKPOINT, (uint8_t *)note, len) ? QEXIT_STORE : 0;
}

/* The auditor's earlier checkpoint (--prior): its consistency proof goes in the bundle. */
static int load_prior(const qctx *ctx, ts_store *s, const char *path, const cp_checkpoint *cp,
                      cp_checkpoint *prior)
{
    FILE *f = fopen(path, "rb");
    char *text = malloc(CP_NOTE_MAX + 1), why[256] = "";
    size_t len = f && text ? fread(text, 1, CP_NOTE_MAX + 1, f) : 0;
    if (f) fclose(f);
    cp_signature sig;
    size_t nsig;
    at_error e = {0};
    int bad =
        !f || !text || len > CP_NOTE_MAX || cp_note_parse(text, len, prior, &sig, 1, &nsig, &e);
    at_error_format(&e, why, sizeof why);
    free(text);
    if (bad) {
        qerr(ctx, "export", "--prior %s: not a checkpoint: %s", path,
             why[0] ? why : strerror(errno));
        return QEXIT_USAGE;
    }
    if (strcmp(prior->origin, cp->origin) != 0 || prior->size > cp->size) {
        qerr(ctx, "export",
             "--prior %s: a checkpoint of %s at size %llu, not of this log (%s, "
             "size %llu)",
             path, prior->origin, (unsigned long long)prior->size, cp->origin,
             (unsigned long long)cp->size);
        return QEXIT_STORE;
    }
    uint8_t root[32];
    if (ts_log_root(s, prior->size, root) == 0 && memcmp(root, prior->root, 32) != 0)
        tp_term_printf(ctx->err,
                       "export: warning: --prior %s is not this log's root at size %llu: "
                       "the log was rewritten since, or the checkpoint is forged; verify "
                       "--prior will fail",
                       path, (unsigned long long)prior->size);
    return 0;
}

/* Where -o points: "-" is stdout (refused on a terminal: a tar archive would drive it),
 * a FILE by the rules of outfile.h (checked again when the bundle is done). A QEXIT code. */
static int check_output(const qctx *ctx, const char *output, int force)
{
    if (strcmp(output, "-") == 0) {
        if (!isatty(STDOUT_FILENO)) return 0;
        qerr(ctx, "export",
             "-o -: stdout is a terminal, and a bundle is a tar archive: redirect it "
             "(-o - > FILE, or into a pipe) or give -o FILE");
        return QEXIT_USAGE;
    }
    return qhtml_check_output(ctx, "export", output, force);
}

static int write_output(const qctx *ctx, const bundle *b, const char *output, int force)
{
    at_error err = {0};
    if (strcmp(output, "-") == 0) {
        fflush(ctx->out);
        if (bundle_write_fd(b, STDOUT_FILENO, "stdout", &err) == 0) return 0;
        qerr(ctx, "export", "%s", err.what);
        return QEXIT_STORE;
    }
    qoutfile o;
    int rc = qoutfile_open(&o, output, force, &err);
    if (!rc && bundle_write_fd(b, o.fd, output, &err) != 0) {
        qoutfile_abort(&o);
        rc = QEXIT_STORE;
    }
    if (!rc) rc = qoutfile_commit(&o, &err);
    if (rc) qerr(ctx, "export", "%s", err.what);
    return rc;
}

static int export_run(const qctx *ctx, int argc, char **argv)
{
    qargs a;
    int rc;
    if (qargs_begin(ctx, &qcmd_export, argc, argv, &a, &rc)) return rc;
    const char *output = a.output, *keypath = a.key, *prior_path = a.prior;
    if (!output || a.nrest > 0) {
        qerr(ctx, "export", "%s (see trace-query export --help)",
             a.nrest ? "unexpected argument" : "-o FILE is required");
        qargs_free(&a);
        return QEXIT_USAGE;
    }
    if ((rc = check_output(ctx, output, a.force)) != 0) {
        qargs_free(&a);
        return rc;
    }
    char defkey[4096];
    if (!keypath) {
        snprintf(defkey, sizeof defkey, "%s/checkpoint.key", ctx->store_dir);
        keypath = defkey;
    }
    ts_store *s = NULL;
    if ((rc = qctx_open_store(ctx, &s))) {
        qargs_free(&a);
        return rc;
    }
    cp_key *k = NULL;
    char err[AT_ERROR_TEXT_LEN];
    bundle b;
    bundle_init(&b);
    exported *ev = NULL;
    size_t n = 0;
    cp_checkpoint cp;
    at_error e = {0};
    if (cp_key_load_private(keypath, &k, &e)) {
        qerr(ctx, "export", "%s", at_error_format(&e, err, sizeof err));
        rc = QEXIT_STORE;
    }
    if (!rc) rc = load_checkpoint(ctx, s, &b, &cp);
    cp_checkpoint prior;
    if (!rc && prior_path) rc = load_prior(ctx, s, prior_path, &cp, &prior);
    tp_progress pg;
    tp_progress_start(&pg, ctx->err);
    if (!rc) rc = collect(ctx, s, &a.filter, &pg, &ev, &n);
    if (!rc && n == 0 && !a.allow_empty) {
        qerr(ctx, "export",
             "no event matches the query: nothing was written (a signed bundle of no events "
             "proves nothing about an incident; check the filters with trace-query find, or "
             "pass --allow-empty)");
        rc = QEXIT_NOTHING;
    }
    if (!rc && n && ev[n - 1].log_index >= cp.size) {
        qerr(ctx, "export",
             "event at log index %llu is newer than the latest checkpoint (tree size %llu): "
             "wait for the collector's next checkpoint and export again",
             (unsigned long long)ev[n - 1].log_index, (unsigned long long)cp.size);
        rc = QEXIT_STORE;
    }
    if (!rc) rc = fill(ctx, s, &cp, prior_path ? &prior : NULL, ev, n, &pg, &b);
    tp_progress_end(&pg);
    for (size_t i = 0; i < n; i++) {
        free(ev[i].bytes);
        free(ev[i].json);
    }
    free(ev);
    char who[256];
    if (a.who)
        snprintf(who, sizeof who, "%s", a.who);
    else
        default_who(who, sizeof who);
    char *q = rc ? NULL : query_json(&a);
    at_error serr = {0};
    if (!rc && (!q || bundle_seal(&b, q, who, k, &serr))) {
        qerr(ctx, "export", "%s", q ? serr.what : "out of memory");
        rc = QEXIT_STORE;
    }
    free(q);
    if (!rc) rc = write_output(ctx, &b, output, a.force);
    if (!rc)
        tp_term_printf(ctx->err, "export: %zu events, checkpoint of %s at tree size %llu -> %s", n,
                       cp.origin, (unsigned long long)cp.size,
                       strcmp(output, "-") == 0 ? "stdout" : output);
    bundle_clear(&b);
    cp_key_destroy(&k);
    ts_close(&s);
    qargs_free(&a);
    return rc;
}

QCMD_DEFINE(export, "write a signed compliance bundle of the matching events, with proofs");
