/*
 * bundle.c - compliance bundles: archive I/O with libarchive, contents and sealing (see
 * bundle.h and docs/ledger.md); offline verification is bundle_verify.c.
 *
 * Owns: the files of a bundle (malloc'd). libarchive and jansson are used here only.
 *
 * Invariants: writing is deterministic (sorted entries, fixed metadata, manifest keys
 * sorted by jansson); verification reads nothing outside the bundle's buffers, checks in a
 * fixed order and stops at the first failure, which it names.
 *
 * Threading: reentrant.
 */
#include "bundle.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle_internal.h"
#include "tracestore.h"

/* ---- the file set ---------------------------------------------------------------- */

void bundle_init(bundle *b)
{
    memset(b, 0, sizeof *b);
}

void bundle_clear(bundle *b)
{
    if (!b) return;
    for (size_t i = 0; i < b->n; i++)
        free(b->files[i].data);
    bundle_init(b);
}

/* A plain file name: 1..63 bytes of [A-Za-z0-9._-], not starting with '.'. */
static int name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n >= BUNDLE_MAX_NAME || name[0] == '.') return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

int bundle_put(bundle *b, const char *name, uint8_t *data, size_t len)
{
    if (!name_ok(name)) {
        free(data);
        return BUNDLE_EFORMAT;
    }
    for (size_t i = 0; i < b->n; i++)
        if (strcmp(b->files[i].name, name) == 0) {
            free(b->files[i].data);
            b->files[i].data = data;
            b->files[i].len = len;
            return 0;
        }
    if (b->n >= BUNDLE_MAX_FILES) {
        free(data);
        return BUNDLE_EFORMAT;
    }
    bundle_file *f = &b->files[b->n++];
    snprintf(f->name, sizeof f->name, "%s", name);
    f->data = data;
    f->len = len;
    return 0;
}

int bundle_put_copy(bundle *b, const char *name, const void *data, size_t len)
{
    uint8_t *p = malloc(len ? len : 1);
    if (!p) return BUNDLE_ENOMEM;
    if (len) memcpy(p, data, len);
    return bundle_put(b, name, p, len);
}

const bundle_file *bundle_get(const bundle *b, const char *name)
{
    for (size_t i = 0; i < b->n; i++)
        if (strcmp(b->files[i].name, name) == 0) return &b->files[i];
    return NULL;
}

/* ---- archive I/O ------------------------------------------------------------------- */

static int cmp_names(const void *a, const void *b)
{
    const bundle_file *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

int bundle_write_fd(const bundle *b, int fd, const char *name, at_error *err)
{
    const bundle_file *sorted[BUNDLE_MAX_FILES];
    for (size_t i = 0; i < b->n; i++)
        sorted[i] = &b->files[i];
    qsort(sorted, b->n, sizeof sorted[0], cmp_names);
    struct archive *a = archive_write_new();
    struct archive_entry *e = archive_entry_new();
    int rc = 0;
    /* The last block unpadded, as libarchive does by itself for a regular file: the same
     * bytes whether the bundle goes to a file or a pipe. */
    if (!a || !e || archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
        archive_write_add_filter_none(a) != ARCHIVE_OK ||
        archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
        archive_write_open_fd(a, fd) != ARCHIVE_OK)
        rc = BUNDLE_EIO;
    for (size_t i = 0; !rc && i < b->n; i++) {
        const bundle_file *f = sorted[i];
        archive_entry_clear(e);
        archive_entry_set_pathname(e, f->name);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_size(e, (la_int64_t)f->len);
        archive_entry_set_mtime(e, (time_t)b->mtime, 0);
        archive_entry_set_uid(e, 0);
        archive_entry_set_gid(e, 0);
        if (archive_write_header(a, e) != ARCHIVE_OK) rc = BUNDLE_EIO;
        size_t off = 0;
        while (!rc && off < f->len) {
            la_ssize_t w = archive_write_data(a, f->data + off, f->len - off);
            if (w <= 0)
                rc = BUNDLE_EIO;
            else
                off += (size_t)w;
        }
    }
    if (!rc && archive_write_close(a) != ARCHIVE_OK) rc = BUNDLE_EIO;
    if (rc)
        at_error_set(err, "", "%s: cannot write the archive: %s", name,
                     a && archive_error_string(a) ? archive_error_string(a) : strerror(errno));
    archive_entry_free(e);
    archive_write_free(a);
    return rc;
}

int bundle_write(const bundle *b, const char *path, at_error *err)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (!tmp) return BUNDLE_ENOMEM;
    snprintf(tmp, plen + 16, "%s.tmp-XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        at_error_set(err, "", "%s: cannot create a temporary file beside it: %s", path,
                     strerror(errno));
        free(tmp);
        return BUNDLE_EIO;
    }
    fchmod(fd, 0644);
    int rc = bundle_write_fd(b, fd, path, err);
    if (!rc && fsync(fd) != 0) {
        at_error_set(err, "", "%s: cannot write: %s", path, strerror(errno));
        rc = BUNDLE_EIO;
    }
    close(fd);
    if (!rc && rename(tmp, path) != 0) {
        at_error_set(err, "", "%s: cannot rename the finished archive into place: %s", path,
                     strerror(errno));
        rc = BUNDLE_EIO;
    }
    if (rc) unlink(tmp);
    free(tmp);
    return rc;
}

static int read_archive(struct archive *a, bundle *b, at_error *err)
{
    struct archive_entry *e;
    uint64_t total = 0;
    int r;
    while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
        const char *name = archive_entry_pathname(e);
        if (!name || !name_ok(name)) {
            at_error_set(err, "", "archive entry \"%.64s\": not a bundle file name",
                         name ? name : "");
            return BUNDLE_EFORMAT;
        }
        if (archive_entry_filetype(e) != AE_IFREG) {
            at_error_set(err, "", "%s: not a regular file", name);
            return BUNDLE_EFORMAT;
        }
        if (bundle_get(b, name)) {
            at_error_set(err, "", "%s: appears twice in the archive", name);
            return BUNDLE_EFORMAT;
        }
        la_int64_t size = archive_entry_size(e);
        if (!archive_entry_size_is_set(e) || size < 0 || (uint64_t)size > BUNDLE_MAX_FILE_BYTES ||
            total + (uint64_t)size > BUNDLE_MAX_FILE_BYTES) {
            at_error_set(err, "", "%s: size missing or over the limit of %llu bytes", name,
                         (unsigned long long)BUNDLE_MAX_FILE_BYTES);
            return BUNDLE_EFORMAT;
        }
        total += (uint64_t)size;
        /* One byte more, always 0: text files (manifest, checkpoint) can be read as strings. */
        uint8_t *data = malloc((size_t)size + 1);
        if (!data) return BUNDLE_ENOMEM;
        data[size] = 0;
        size_t got = 0;
        while (got < (size_t)size) {
            la_ssize_t n = archive_read_data(a, data + got, (size_t)size - got);
            if (n <= 0) {
                free(data);
                at_error_set(err, "", "%s: truncated in the archive", name);
                return BUNDLE_EFORMAT;
            }
            got += (size_t)n;
        }
        int rc = bundle_put(b, name, data, got);
        if (rc) {
            at_error_set(err, "", "more than %d files in the archive", BUNDLE_MAX_FILES);
            return rc;
        }
    }
    if (r != ARCHIVE_EOF) {
        at_error_set(err, "", "not a readable tar archive: %s",
                     archive_error_string(a) ? archive_error_string(a) : "unknown error");
        return BUNDLE_EFORMAT;
    }
    return 0;
}

static struct archive *reader_new(void)
{
    struct archive *a = archive_read_new();
    if (!a) return NULL;
    archive_read_support_format_tar(a);
    archive_read_support_filter_none(a);
    return a;
}

int bundle_read_file(const char *path, bundle *b, at_error *err)
{
    struct archive *a = reader_new();
    if (!a) return BUNDLE_ENOMEM;
    int rc;
    if (archive_read_open_filename(a, path, 65536) != ARCHIVE_OK) {
        struct stat st;
        rc = stat(path, &st) != 0 ? BUNDLE_EIO : BUNDLE_EFORMAT;
        at_error_set(err, "", "%s: %s", path,
                     rc == BUNDLE_EIO ? strerror(errno) : archive_error_string(a));
    } else {
        at_error inner = {0};
        rc = read_archive(a, b, &inner);
        if (rc) at_error_set(err, "", "%s: %s", path, inner.what);
    }
    archive_read_free(a);
    if (rc) bundle_clear(b);
    return rc;
}

int bundle_read_memory(const void *buf, size_t len, bundle *b, at_error *err)
{
    struct archive *a = reader_new();
    if (!a) return BUNDLE_ENOMEM;
    int rc;
    if (archive_read_open_memory(a, buf, len) != ARCHIVE_OK) {
        at_error_set(err, "", "not a readable tar archive");
        rc = BUNDLE_EFORMAT;
    } else {
        rc = read_archive(a, b, err);
    }
    archive_read_free(a);
    if (rc) bundle_clear(b);
    return rc;
}

/* ---- contents ------------------------------------------------------------------------- */

int bundle_put_buf(bundle *b, const char *name, at_buf *buf)
{
    if (buf->failed) {
        at_buf_free(buf);
        return BUNDLE_ENOMEM;
    }
    size_t len = 0;
    char *data = at_buf_take(buf, &len); /* NUL-terminated beyond len, as read files are */
    return data ? bundle_put(b, name, (uint8_t *)data, len) : BUNDLE_ENOMEM;
}

static int buf_status(const at_buf *bb)
{
    return bb->failed ? BUNDLE_ENOMEM : 0;
}

int bundle_events_bin_append(at_buf *bb, uint64_t log_index, const uint8_t *bytes, size_t len)
{
    uint8_t h[12];
    for (int i = 0; i < 8; i++)
        h[i] = (uint8_t)(log_index >> (56 - 8 * i));
    for (int i = 0; i < 4; i++)
        h[8 + i] = (uint8_t)((uint32_t)len >> (24 - 8 * i));
    at_buf_put(bb, h, sizeof h);
    at_buf_put(bb, bytes, len);
    return buf_status(bb);
}

/* ["hex","hex",...]} and a newline. */
static int hash_list(at_buf *bb, const uint8_t (*proof)[32], size_t n)
{
    at_buf_putc(bb, '[');
    for (size_t i = 0; i < n; i++) {
        char item[70];
        at_hex_encode(proof[i], 32, item + 1);
        item[0] = '"';
        item[65] = '"';
        if (i) at_buf_putc(bb, ',');
        at_buf_put(bb, item, 66);
    }
    at_buf_put(bb, "]}\n", 3);
    return buf_status(bb);
}

int bundle_proof_line_append(at_buf *bb, uint64_t log_index, const uint8_t leaf[32],
                             const uint8_t (*proof)[32], size_t n)
{
    char hex[65];
    at_hex_encode(leaf, 32, hex);
    at_buf_printf(bb, "{\"log_index\":%llu,\"leaf_hash\":\"%s\",\"proof\":",
                  (unsigned long long)log_index, hex);
    return hash_list(bb, proof, n);
}

int bundle_consistency_line_append(at_buf *bb, uint64_t old_size, const uint8_t old_root[32],
                                   uint64_t new_size, const uint8_t (*proof)[32], size_t n)
{
    char hex[65];
    at_hex_encode(old_root, 32, hex);
    at_buf_printf(bb, "{\"old_size\":%llu,\"old_root\":\"%s\",\"new_size\":%llu,\"proof\":",
                  (unsigned long long)old_size, hex, (unsigned long long)new_size);
    return hash_list(bb, proof, n);
}

static const char GUIDE[] =
    "AgentTrail compliance bundle\n"
    "============================\n"
    "\n"
    "This archive holds trace events exported from an AgentTrail store, with the proof that\n"
    "each of them is in the store's append-only Merkle log (RFC 9162) at the position given,\n"
    "under a checkpoint signed by the collector's Ed25519 key.\n"
    "\n"
    "Files\n"
    "  manifest.json      the export: query, who exported it, when (the checkpoint's signing\n"
    "                     time), tool and version, log origin, counts, and the SHA-256 of\n"
    "                     every other file but manifest.sig\n"
    "  manifest.sig       Ed25519 signature of manifest.json (64 raw bytes)\n"
    "  pub.pem            the collector's public key, as carried by the bundle. Trust it only\n"
    "                     if it equals the key you obtained from the log's operator.\n"
    "  checkpoint.txt     the signed checkpoint (C2SP tlog-checkpoint in a signed note): log\n"
    "                     origin, tree size, base64 root hash, signing time, signature\n"
    "  events.jsonl       the events as canonical JSON lines, in log order\n"
    "  events.bin         the events' stored bytes, in log order: per event an 8-byte\n"
    "                     big-endian log index, a 4-byte big-endian length, the bytes\n"
    "  proofs.jsonl       per event: log index, leaf hash = SHA-256(0x00 || stored bytes),\n"
    "                     inclusion proof (hex, deepest first) to the checkpoint's root\n"
    "  consistency.jsonl  consistency proofs from earlier checkpoints of the log to this one\n"
    "  SHA256SUMS         the SHA-256 of the files above, for sha256sum -c\n"
    "  VERIFY.txt         this guide\n"
    "\n"
    "1. Everything, with the tool (offline, no store needed)\n"
    "\n"
    "     trace-query verify BUNDLE.tar --key OPERATOR-KEY.pem [--prior OLD-CHECKPOINT.txt]\n"
    "\n"
    "   OPERATOR-KEY.pem is the collector's public key as its operator gave it to you (not\n"
    "   this bundle's pub.pem: whoever changed a bundle can sign it again with a new key);\n"
    "   --keyring FILE takes several. It checks the manifest signature, every file hash,\n"
    "   the checkpoint signature, every event's leaf hash and inclusion proof, that each\n"
    "   JSON line is its stored bytes decoded, and with --prior that the log only grew\n"
    "   since a checkpoint you kept, and prints the key's fingerprint (SHA256:...).\n"
    "   Exit 0: verified. Exit 4: the first failure is named (file, event, check), or no\n"
    "   key was given; --trust-bundle-key uses pub.pem and exits 5, not 0.\n"
    "\n"
    "2. Everything, without AgentTrail: Python 3 and openssl only\n"
    "\n"
    "     agenttrail-verify-bundle BUNDLE.tar --key OPERATOR-KEY.pem [--prior OLD.txt]\n"
    "\n"
    "   is scripts/agenttrail-verify-bundle of the AgentTrail source: take it from there (a\n"
    "   release you trust), not from whoever gave you this bundle; it is not inside the\n"
    "   bundle for that reason. It makes the checks of step 1 with its own code (the JSON\n"
    "   lines against the stored bytes with a decoder of the event schema) and every\n"
    "   consistency proof, and prints the key's fingerprint. --key is required; with\n"
    "   --trust-bundle-key it uses the bundle's pub.pem instead and exits 5, not 0.\n"
    "   Exit 0: verified. Exit 4: the first failure is named, as in step 1.\n"
    "\n"
    "3. The signature and the file hashes with openssl and sha256sum alone\n"
    "\n"
    "     mkdir bundle && tar -xf BUNDLE.tar -C bundle && cd bundle\n"
    "     cp /path/to/the/key/you/were/given.pem pub.pem    # or keep the bundle's copy\n"
    "     openssl pkeyutl -verify -pubin -inkey pub.pem -rawin -in manifest.json -sigfile "
    "manifest.sig\n"
    "     sha256sum -c SHA256SUMS\n"
    "     sha256sum SHA256SUMS\n"
    "\n"
    "   openssl must print \"Signature Verified Successfully\", sha256sum -c must print OK\n"
    "   for every file, and the last hash must equal the one listed for \"SHA256SUMS\" under\n"
    "   \"files\" in manifest.json (which the signature covers).\n"
    "\n"
    "The proofs themselves (leaf hashes, inclusion and consistency proofs) follow RFC 9162\n"
    "section 2.1 and can be recomputed by any implementation of it; see docs/ledger.md.\n";

const char *bundle_guide_text(void)
{
    return GUIDE;
}

/* ---- sealing ---------------------------------------------------------------------------- */

/* Lowercase hex SHA-256 of data. 0 or BUNDLE_ECRYPTO. */
static int sha256_hex(const uint8_t *data, size_t len, char out[65])
{
    uint8_t md[AT_SHA256_LEN];
    if (at_sha256(data, len, md) != AT_OK) return BUNDLE_ECRYPTO;
    at_hex_encode(md, sizeof md, out);
    return 0;
}

/* The files SHA256SUMS lists: everything but the manifest, its signature and itself. */
static int summed(const char *name)
{
    return strcmp(name, BUNDLE_MANIFEST) && strcmp(name, BUNDLE_SIGNATURE) &&
           strcmp(name, BUNDLE_SUMS);
}

/* The SHA-256 of every file, hex, in the order of b->files: each file hashed once. */
int bundle_hash_files(const bundle *b, bundle_file_hashes hex)
{
    for (size_t i = 0; i < b->n; i++)
        if (sha256_hex(b->files[i].data, b->files[i].len, hex[i])) return BUNDLE_ECRYPTO;
    return 0;
}

/* SHA256SUMS from the files' hashes (sorted by name). */
int bundle_sums_text(const bundle *b, bundle_file_hashes hex, at_buf *out)
{
    size_t order[BUNDLE_MAX_FILES], n = 0;
    for (size_t i = 0; i < b->n; i++)
        if (summed(b->files[i].name)) order[n++] = i;
    for (size_t i = 1; i < n; i++)
        for (size_t j = i;
             j > 0 && strcmp(b->files[order[j - 1]].name, b->files[order[j]].name) > 0; j--) {
            size_t t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    for (size_t i = 0; i < n; i++)
        at_buf_printf(out, "%s  %s\n", hex[order[i]], b->files[order[i]].name);
    return buf_status(out);
}

static size_t count_lines(const bundle_file *f)
{
    size_t n = 0;
    const uint8_t *p = f ? f->data : NULL, *end = f ? f->data + f->len : NULL;
    while (p && p < end && (p = memchr(p, '\n', (size_t)(end - p)))) {
        n++;
        p++;
    }
    return n;
}

int bundle_seal(bundle *b, const char *query_json, const char *exported_by, const cp_key *k,
                at_error *err)
{
    const bundle_file *cpf = bundle_get(b, BUNDLE_CHECKPOINT);
    cp_checkpoint cp;
    cp_signature sig;
    size_t nsig;
    if (!cpf || cp_note_parse((const char *)cpf->data, cpf->len, &cp, &sig, 1, &nsig, NULL)) {
        at_error_set(err, "", "checkpoint.txt missing or malformed");
        return BUNDLE_EFORMAT;
    }
    b->mtime = cp.time_unix_nano / 1000000000u;
    int rc = bundle_put_copy(b, BUNDLE_GUIDE, GUIDE, strlen(GUIDE));
    char *pem = NULL;
    size_t pemlen = 0;
    if (!rc && cp_key_public_pem(k, &pem, &pemlen)) rc = BUNDLE_ECRYPTO;
    if (!rc) rc = bundle_put(b, BUNDLE_PUBKEY, (uint8_t *)pem, pemlen);
    at_buf sums = {0};
    bundle_file_hashes hex;
    if (!rc) rc = bundle_hash_files(b, hex);
    if (!rc) rc = bundle_sums_text(b, hex, &sums);
    if (!rc) rc = bundle_put_buf(b, BUNDLE_SUMS, &sums);
    /* SHA256SUMS itself, and a manifest left from an earlier seal, get (re)hashed. */
    for (size_t i = 0; !rc && i < b->n; i++)
        if (!strcmp(b->files[i].name, BUNDLE_SUMS))
            rc = sha256_hex(b->files[i].data, b->files[i].len, hex[i]);
    if (rc) {
        at_buf_free(&sums);
        at_error_set(err, "", "cannot assemble the bundle: %s",
                     rc == BUNDLE_ENOMEM    ? "out of memory"
                     : rc == BUNDLE_ECRYPTO ? "SHA-256 failed"
                                            : "bad content");
        return rc;
    }

    json_error_t jerr;
    json_t *query = json_loads(query_json, JSON_REJECT_DUPLICATES, &jerr);
    if (!query || !json_is_object(query)) {
        json_decref(query);
        at_error_set(err, "", "the query is not a JSON object");
        return BUNDLE_EFORMAT;
    }
    char root64[48], when[40];
    cp_base64_encode(cp.root, 32, root64);
    if (cp.time_unix_nano)
        tp_time_format_rfc3339(cp.time_unix_nano, when, sizeof when);
    else
        snprintf(when, sizeof when, "unknown");
    json_t *files = json_object();
    for (size_t i = 0; files && i < b->n; i++) {
        if (!strcmp(b->files[i].name, BUNDLE_MANIFEST) ||
            !strcmp(b->files[i].name, BUNDLE_SIGNATURE))
            continue;
        json_object_set_new(files, b->files[i].name, json_string(hex[i]));
    }
    json_t *m = json_pack(
        "{s:s, s:o, s:s, s:s, s:s, s:{s:s, s:I, s:s, s:s}, s:{s:I, s:I}, s:o}", "format",
        BUNDLE_FORMAT, "query", query, "exported_by", exported_by ? exported_by : "unknown", "when",
        when, "tool", "trace-query " AGENTTRAIL_VERSION, "checkpoint", "origin", cp.origin, "size",
        (json_int_t)cp.size, "root", root64, "time", when, "counts", "events",
        (json_int_t)count_lines(bundle_get(b, BUNDLE_PROOFS)), "consistency_proofs",
        (json_int_t)count_lines(bundle_get(b, BUNDLE_CONSISTENCY)), "files", files);
    char *text = m ? json_dumps(m, JSON_SORT_KEYS | JSON_INDENT(2)) : NULL;
    json_decref(m);
    if (!text) {
        at_error_set(err, "", "cannot write the manifest");
        return BUNDLE_ENOMEM;
    }
    size_t tlen = strlen(text);
    uint8_t *mdata = malloc(tlen + 1);
    if (!mdata) {
        free(text);
        return BUNDLE_ENOMEM;
    }
    memcpy(mdata, text, tlen);
    mdata[tlen++] = '\n';
    free(text);
    uint8_t *sigb = malloc(CP_SIG_LEN);
    if (!sigb || cp_key_sign(k, mdata, tlen, sigb)) {
        free(mdata);
        free(sigb);
        at_error_set(err, "", "cannot sign the manifest: the key has no private half?");
        return BUNDLE_ECRYPTO;
    }
    rc = bundle_put(b, BUNDLE_MANIFEST, mdata, tlen);
    if (!rc)
        rc = bundle_put(b, BUNDLE_SIGNATURE, sigb, CP_SIG_LEN);
    else
        free(sigb);
    return rc;
}
