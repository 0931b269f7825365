/*
 * signer.c - the collector's checkpoint signer (see signer.h).
 *
 * Owns: the cp_key and the pending state (log grew since the last checkpoint, time of the
 * last checkpoint). Invariants: a checkpoint is signed only for a size the store reports as
 * committed, and ts_checkpoint_add refuses one whose root is not the log's, so a kept
 * checkpoint is always consistent with every earlier one.
 * Threading: the store's writing thread only.
 */
#include "signer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "checkpoint.h"
#include "atcommon.h"

struct signer {
    ts_store *s;
    cp_key *key;
    char origin[CP_ORIGIN_MAX];
    uint64_t interval_ms;
    uint64_t entries; /* sign at once when this many entries are unsigned (0: never) */
    const char *witness;
    uint64_t signed_size; /* tree size of the latest kept checkpoint (UINT64_MAX: none) */
    uint64_t last_ms;     /* when this signer last signed (0: never) */
    int pending;
    uint64_t count;
};

void signer_default_key_path(const char *store_dir, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/%s", store_dir, SIGNER_KEY_FILE);
}

/* The tree size of the latest kept checkpoint, UINT64_MAX when none. */
static int latest_size(signer *g, uint64_t *size, at_error *err)
{
    char *note = NULL;
    size_t len = 0;
    int rc = ts_checkpoint_get(g->s, UINT64_MAX, &note, &len);
    if (rc == TS_ENOTFOUND) {
        *size = UINT64_MAX;
        return 0;
    }
    if (rc) return at_errf(err, -1, "reading the latest checkpoint: %s", ts_last_error(g->s));
    cp_checkpoint c;
    cp_signature sig;
    size_t n;
    rc = cp_note_parse(note, len, &c, &sig, 1, &n, NULL);
    free(note);
    if (rc) return at_errf(err, -1, "the latest checkpoint in the store is malformed");
    *size = c.size;
    return 0;
}

/* Appends the latest kept checkpoint to the witness (when there is one and a checkpoint). */
static int witness_latest(signer *g, at_error *err)
{
    if (!g->witness) return 0;
    char *note = NULL;
    size_t len = 0;
    int rc = ts_checkpoint_get(g->s, UINT64_MAX, &note, &len);
    if (rc == TS_ENOTFOUND) return 0;
    if (rc) return at_errf(err, -1, "reading the latest checkpoint: %s", ts_last_error(g->s));
    at_error why = {0};
    char whybuf[AT_ERROR_TEXT_LEN];
    rc = wt_append(g->witness, g->origin, note, len, &why);
    free(note);
    if (rc)
        return at_errf(err, -1,
                       "%s: the checkpoint is kept in the store but NOT in the witness; the next "
                       "checkpoint is appended again",
                       at_error_format(&why, whybuf, sizeof whybuf));
    return 0;
}

/* Signs and keeps a checkpoint of the committed log if it grew. 1 signed, 0 nothing new. */
static int sign_if_grown(signer *g, uint64_t now_ms, at_error *err)
{
    uint64_t size;
    uint8_t root[32];
    if (ts_log_size(g->s, &size) || ts_log_root(g->s, size, root))
        return at_errf(err, -1, "reading the log: %s", ts_last_error(g->s));
    g->pending = 0;
    if (size == g->signed_size || size == 0) return 0; /* nothing new, or nothing yet */
    cp_checkpoint c;
    memset(&c, 0, sizeof c);
    memcpy(c.origin, g->origin, sizeof c.origin);
    c.size = size;
    memcpy(c.root, root, 32);
    c.time_unix_nano = tp_now_unix_nano();
    char *note = NULL;
    size_t len = 0;
    if (cp_checkpoint_sign(&c, g->key, &note, &len)) {
        g->pending = 1;
        return at_errf(err, -1, "signing a checkpoint failed (OpenSSL); will try again");
    }
    int rc = ts_checkpoint_add(g->s, note, len);
    free(note);
    if (rc) {
        g->pending = 1;
        return at_errf(err, -1, "keeping a checkpoint failed: %s; will try again",
                       ts_last_error(g->s));
    }
    g->signed_size = size;
    g->last_ms = now_ms;
    g->count++;
    return witness_latest(g, err) ? -1 : 1;
}

/* Whether the key file may be created: only at the default path, for a new, empty log. */
static int may_create_key(signer *g, const char *path, int explicit_path, at_error *err)
{
    uint64_t size = 0, ncp = 0;
    if (ts_log_size(g->s, &size) || ts_checkpoint_count(g->s, &ncp))
        return at_errf(err, -1, "reading the log: %s", ts_last_error(g->s));
    if (explicit_path)
        return at_errf(err, -1,
                       "--signing-key %s: no such file; a given key is never created: check the "
                       "path, or make a new key with `trace-collector keygen -o %s`",
                       path, path);
    if (size > 0 || ncp > 0)
        return at_errf(err, -1,
                       "%s is missing, but the log already holds %llu entries and %llu "
                       "checkpoints signed with it: restore the key file from your backup (or "
                       "pass --signing-key FILE). A new key would make every earlier checkpoint "
                       "unverifiable, so none is made",
                       path, (unsigned long long)size, (unsigned long long)ncp);
    return 0;
}

int signer_open(ts_store *s, const char *store_dir, const signer_options *opt, signer **out,
                int *created, at_error *err)
{
    *out = NULL;
    if (created) *created = 0;
    char defpath[4096];
    const char *path = opt && opt->key_path ? opt->key_path : NULL;
    if (!path) {
        signer_default_key_path(store_dir, defpath, sizeof defpath);
        path = defpath;
    }
    signer *g = calloc(1, sizeof *g);
    if (!g) return at_errf(err, -1, "out of memory");
    g->s = s;
    g->interval_ms = opt ? opt->interval_ms : SIGNER_INTERVAL_MS_DEFAULT;
    g->entries = opt ? opt->entries : 0;
    g->witness = opt ? opt->witness : NULL;
    struct stat st;
    if (stat(path, &st) != 0 && errno == ENOENT) {
        if (may_create_key(g, path, opt && opt->key_path, err) || cp_key_generate(&g->key) ||
            cp_key_save_private(g->key, path, err)) {
            signer_destroy(&g);
            return -1;
        }
        if (created) *created = 1;
    } else if (cp_key_load_private(path, &g->key, err)) {
        signer_destroy(&g);
        return -1;
    }
    if (ts_log_origin(s, g->origin, sizeof g->origin)) {
        at_errf(err, -1, "the store has no log origin: %s", ts_last_error(s));
        signer_destroy(&g);
        return -1;
    }
    if (opt && opt->tail_max && ts_log_set_tail_max(s, opt->tail_max)) {
        at_errf(err, -1, "recording the checkpoint bound: %s", ts_last_error(s));
        signer_destroy(&g);
        return -1;
    }
    int signed_now = 0;
    if (latest_size(g, &g->signed_size, err) || (signed_now = sign_if_grown(g, 0, err)) < 0 ||
        (!signed_now && witness_latest(g, err))) {
        signer_destroy(&g);
        return -1;
    }
    g->last_ms = 0;
    *out = g;
    return 0;
}

int64_t signer_due_in_ms(const signer *g, uint64_t now_ms)
{
    if (!g->pending) return -1;
    if (g->last_ms == 0 || now_ms >= g->last_ms + g->interval_ms) return 0;
    return (int64_t)(g->last_ms + g->interval_ms - now_ms);
}

int signer_tick(signer *g, uint64_t now_ms, at_error *err)
{
    if (signer_due_in_ms(g, now_ms) != 0) return 0;
    return sign_if_grown(g, now_ms, err);
}

int signer_after_commit(signer *g, uint64_t now_ms, at_error *err)
{
    g->pending = 1;
    uint64_t size = 0;
    if (g->entries && ts_log_size(g->s, &size) == 0 &&
        size - (g->signed_size == UINT64_MAX ? 0 : g->signed_size) >= g->entries)
        return sign_if_grown(g, now_ms, err);
    return signer_tick(g, now_ms, err);
}

int signer_sign_now(signer *g, at_error *err)
{
    return sign_if_grown(g, g->last_ms, err);
}

uint64_t signer_count(const signer *g)
{
    return g->count;
}

void signer_destroy(signer **g)
{
    if (!g || !*g) return;
    cp_key_destroy(&(*g)->key);
    free(*g);
    *g = NULL;
}

int signer_keygen(const char *path, FILE *out, at_error *err)
{
    if (!path || !*path) return at_errf(err, -1, "keygen: -o FILE is required");
    cp_key *k = NULL;
    if (cp_key_generate(&k)) return at_errf(err, -1, "keygen: OpenSSL could not make a key");
    int rc = cp_key_save_private(k, path, err) ? -1 : 0;
    if (!rc && out) {
        char *pem = NULL;
        if (cp_key_public_pem(k, &pem, NULL) == 0) fputs(pem, out);
        free(pem);
    }
    cp_key_destroy(&k);
    return rc;
}

int signer_print_public_key(const char *path, const char *origin, FILE *out, at_error *err)
{
    cp_key *k = NULL;
    if (cp_key_load_private(path, &k, err)) return -1;
    char *pem = NULL;
    int rc = cp_key_public_pem(k, &pem, NULL) ? at_errf(err, -1, "cannot encode the key") : 0;
    if (!rc) fputs(pem, out);
    char vkey[512];
    if (!rc && origin && cp_key_vkey(k, origin, vkey, sizeof vkey) == 0) fprintf(out, "%s\n", vkey);
    free(pem);
    cp_key_destroy(&k);
    return rc;
}

int signer_keygen_main(int argc, char **argv)
{
    const char *out = NULL, *store = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--curve") == 0) return -1;
        if ((strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--output") == 0) && i + 1 < argc)
            out = argv[++i];
        else if (strcmp(argv[i], "--store") == 0 && i + 1 < argc)
            store = argv[++i];
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: trace-collector keygen [-o FILE] [--store DIR]\n"
                   "       trace-collector keygen --curve -o NAME   (transport keys)\n"
                   "Writes a new Ed25519 checkpoint signing key to FILE (PKCS#8 PEM, mode 0600;\n"
                   "default STORE/checkpoint.key, where the collector looks for it) and prints\n"
                   "its public key (PEM) for auditors. An existing file is never overwritten.\n"
                   "The collector creates this key by itself only on the first start of a new,\n"
                   "empty store; use keygen to make one ahead of time (a store filled without a\n"
                   "collector) or a new one (then start with --signing-key FILE).\n");
            return 0;
        } else {
            fprintf(stderr, "trace-collector: keygen: unexpected argument %s (see keygen --help)\n",
                    argv[i]);
            return 2;
        }
    }
    char def[4096], err[AT_ERROR_TEXT_LEN] = "";
    if (!out) {
        signer_default_key_path(store ? store : ts_default_dir(), def, sizeof def);
        out = def;
    }
    at_error e = {0};
    if (signer_keygen(out, stdout, &e) != 0) {
        fprintf(stderr, "trace-collector: keygen: %s\n", at_error_format(&e, err, sizeof err));
        return 3;
    }
    fprintf(stderr,
            "trace-collector: wrote %s (checkpoint signing key, mode 0600); its public "
            "key is above\n",
            out);
    return 0;
}
