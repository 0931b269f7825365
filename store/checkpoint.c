/*
 * checkpoint.c - C2SP checkpoints in signed notes, Ed25519 keys and key
 * files (see checkpoint.h and docs/ledger.md).
 *
 * Owns: cp_key (an OpenSSL EVP_PKEY plus its raw public key). OpenSSL is
 * included here only; its failures become CP_ECRYPTO.
 *
 * Invariants: the parser reads only [note, note+len), needs no NUL, never
 * allocates, and accepts exactly the grammar of docs/ledger.md: anything
 * else is CP_EFORMAT with a reason. The signed bytes are the body exactly
 * as received, never a re-rendering of it.
 *
 * Threading: reentrant; no global state.
 */
#include "checkpoint.h"
#include "atcommon.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct cp_key {
    EVP_PKEY *pkey;
    uint8_t pub[CP_PUB_LEN];
    int has_private;
};

/* The signature line prefix: U+2014 EM DASH and a space. */
static const char SIG_PREFIX[] = "\xe2\x80\x94 ";
#define SIG_PREFIX_LEN 4

static const at_code_name cp_errors[] = {
    {CP_OK, "success"},
    {CP_EFORMAT, "malformed checkpoint, note or key text"},
    {CP_ECRYPTO, "cryptographic library failure"},
    {CP_EIO, "file read or write error"},
    {CP_EKEY, "not a usable Ed25519 key"},
    {CP_EVERIFY, "signature verification failed"},
    {CP_ENOMEM, "out of memory"},
    {CP_EEXIST, "key file already exists"},
};

const char *cp_strerror(int code)
{
    return at_code_text(cp_errors, sizeof cp_errors / sizeof cp_errors[0], code,
                        "unknown checkpoint error");
}

/* ---- base64 ------------------------------------------------------------ */

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t cp_base64_encode(const uint8_t *in, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n) v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n) v |= in[i + 2];
        out[o++] = B64[(v >> 18) & 63];
        out[o++] = B64[(v >> 12) & 63];
        out[o++] = i + 1 < n ? B64[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? B64[v & 63] : '=';
    }
    out[o] = 0;
    return o;
}

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

int cp_base64_decode(const char *in, size_t len, uint8_t *out, size_t max, size_t *outlen)
{
    *outlen = 0;
    if (len % 4) return CP_EFORMAT;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 4) {
        int last = i + 4 == len;
        int pad = 0;
        if (last && in[i + 3] == '=') pad = in[i + 2] == '=' ? 2 : 1;
        int v[4];
        for (int j = 0; j < 4 - pad; j++)
            if ((v[j] = b64_value(in[i + j])) < 0) return CP_EFORMAT;
        for (int j = 4 - pad; j < 4; j++)
            v[j] = 0;
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | v[3];
        /* Canonical form only: the bits under the padding must be zero. */
        if ((pad == 1 && (w & 0xff)) || (pad == 2 && (w & 0xffff))) return CP_EFORMAT;
        size_t nbytes = 3 - (size_t)pad;
        if (o + nbytes > max) return CP_EFORMAT;
        out[o++] = (uint8_t)(w >> 16);
        if (nbytes > 1) out[o++] = (uint8_t)(w >> 8);
        if (nbytes > 2) out[o++] = (uint8_t)w;
    }
    *outlen = o;
    return 0;
}

/* ---- keys ---------------------------------------------------------------- */

static int key_from_pkey(EVP_PKEY *pkey, int has_private, cp_key **out)
{
    *out = NULL;
    if (!EVP_PKEY_is_a(pkey, "ED25519")) {
        EVP_PKEY_free(pkey);
        return CP_EKEY;
    }
    cp_key *k = calloc(1, sizeof *k);
    if (!k) {
        EVP_PKEY_free(pkey);
        return CP_ENOMEM;
    }
    size_t publen = CP_PUB_LEN;
    if (EVP_PKEY_get_raw_public_key(pkey, k->pub, &publen) != 1 || publen != CP_PUB_LEN) {
        EVP_PKEY_free(pkey);
        free(k);
        return CP_ECRYPTO;
    }
    k->pkey = pkey;
    k->has_private = has_private;
    *out = k;
    return 0;
}

int cp_key_generate(cp_key **out)
{
    *out = NULL;
    EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (!pkey) return CP_ECRYPTO;
    return key_from_pkey(pkey, 1, out);
}

/* Reads a whole small file (keys, notes). */
static int read_small_file(const char *path, char **buf, size_t *len, struct stat *st)
{
    *buf = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return CP_EIO;
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode) || st->st_size > CP_NOTE_MAX) {
        close(fd);
        errno = EINVAL;
        return CP_EIO;
    }
    char *b = malloc((size_t)st->st_size + 1);
    if (!b) {
        close(fd);
        return CP_ENOMEM;
    }
    size_t got = 0;
    while (got < (size_t)st->st_size) {
        ssize_t r = read(fd, b + got, (size_t)st->st_size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            free(b);
            close(fd);
            return CP_EIO;
        }
        got += (size_t)r;
    }
    close(fd);
    b[got] = 0;
    *buf = b;
    *len = got;
    return 0;
}

/* read_small_file of the key file `path`; a failure is said in *err as "PATH: cannot read
 * the WHAT: reason". */
static int read_key_file(const char *path, const char *what, char **text, size_t *len,
                         struct stat *st, at_error *err)
{
    int rc = read_small_file(path, text, len, st);
    if (rc)
        return at_errf(err, rc, "%s: cannot read the %s: %s", path, what,
                       rc == CP_EIO ? strerror(errno) : cp_strerror(rc));
    return 0;
}

int cp_key_load_private(const char *path, cp_key **out, at_error *err)
{
    *out = NULL;
    char *text;
    size_t len;
    struct stat st;
    int rc = read_key_file(path, "signing key", &text, &len, &st, err);
    if (rc) return rc;
    if (st.st_mode & 077) {
        OPENSSL_cleanse(text, len);
        free(text);
        return at_errf(err, CP_EKEY,
                       "%s: the signing key is readable by others (mode %03o): run chmod 600 %s",
                       path, (unsigned)(st.st_mode & 0777), path);
    }
    BIO *bio = BIO_new_mem_buf(text, (int)len);
    EVP_PKEY *pkey = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    OPENSSL_cleanse(text, len);
    free(text);
    if (!pkey)
        return at_errf(err, CP_EKEY,
                       "%s: not a PEM private key: make one with trace-collector keygen -o %s",
                       path, path);
    rc = key_from_pkey(pkey, 1, out);
    if (rc) return at_errf(err, rc, "%s: not an Ed25519 private key", path);
    return 0;
}

int cp_key_save_private(const cp_key *k, const char *path, at_error *err)
{
    if (!k->has_private) return at_errf(err, CP_EKEY, "no private key to save");
    BIO *bio = BIO_new(BIO_s_mem());
    if (!bio || PEM_write_bio_PrivateKey(bio, k->pkey, NULL, NULL, 0, NULL, NULL) != 1) {
        BIO_free(bio);
        return at_errf(err, CP_ECRYPTO, "%s: cannot encode the private key", path);
    }
    char *pem;
    long n = BIO_get_mem_data(bio, &pem);
    /* at_file_create: written whole in a temporary file, then linked, so that a crash never
     * leaves a half-written key; an existing file is never replaced. */
    int rc = at_file_create(path, pem, n > 0 ? (size_t)n : 0, 0600, err);
    BIO_free(bio);
    if (rc == AT_EEXIST)
        return at_errf(err, CP_EEXIST,
                       "%s: exists; a key is never overwritten: remove it first or choose "
                       "another path",
                       path);
    return rc ? CP_EIO : 0;
}

int cp_key_public_pem(const cp_key *k, char **pem, size_t *len)
{
    *pem = NULL;
    BIO *bio = BIO_new(BIO_s_mem());
    if (!bio || PEM_write_bio_PUBKEY(bio, k->pkey) != 1) {
        BIO_free(bio);
        return CP_ECRYPTO;
    }
    char *data;
    long n = BIO_get_mem_data(bio, &data);
    char *p = malloc((size_t)n + 1);
    if (!p) {
        BIO_free(bio);
        return CP_ENOMEM;
    }
    memcpy(p, data, (size_t)n);
    p[n] = 0;
    BIO_free(bio);
    *pem = p;
    if (len) *len = (size_t)n;
    return 0;
}

void cp_key_public_raw(const cp_key *k, uint8_t out[CP_PUB_LEN])
{
    memcpy(out, k->pub, CP_PUB_LEN);
}

void cp_key_fingerprint(const cp_key *k, char out[CP_FINGERPRINT_LEN])
{
    /* The DER SubjectPublicKeyInfo of an Ed25519 key (RFC 8410): this prefix, then the key. */
    static const uint8_t spki_prefix[12] = {0x30, 0x2a, 0x30, 0x05, 0x06, 0x03,
                                            0x2b, 0x65, 0x70, 0x03, 0x21, 0x00};
    uint8_t der[sizeof spki_prefix + CP_PUB_LEN], md[AT_SHA256_LEN];
    memcpy(der, spki_prefix, sizeof spki_prefix);
    memcpy(der + sizeof spki_prefix, k->pub, CP_PUB_LEN);
    memcpy(out, "SHA256:", 8);
    if (at_sha256(der, sizeof der, md) != 0) {
        memcpy(out + 7, "(unavailable)", 14);
        return;
    }
    at_hex_encode(md, sizeof md, out + 7);
}

int cp_key_has_private(const cp_key *k)
{
    return k->has_private;
}

void cp_key_id(const cp_key *k, const char *name, uint8_t out[4])
{
    static const uint8_t sep[2] = {'\n', 0x01};
    const void *parts[] = {name, sep, k->pub};
    const size_t lens[] = {strlen(name), sizeof sep, CP_PUB_LEN};
    uint8_t md[AT_SHA256_LEN];
    if (at_sha256_parts(parts, lens, 3, md) == 0)
        memcpy(out, md, 4);
    else
        memset(out, 0, 4); /* OpenSSL failed: an id no signature line carries */
}

int cp_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n >= CP_ORIGIN_MAX) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c <= 0x20 || c >= 0x7f || c == '+') return 0;
    }
    return 1;
}

int cp_key_vkey(const cp_key *k, const char *name, char *out, size_t outlen)
{
    if (!cp_name_valid(name)) return CP_EFORMAT;
    uint8_t id[4], typed[1 + CP_PUB_LEN];
    char b64[64];
    cp_key_id(k, name, id);
    typed[0] = 0x01;
    memcpy(typed + 1, k->pub, CP_PUB_LEN);
    cp_base64_encode(typed, sizeof typed, b64);
    int n = snprintf(out, outlen, "%s+%02x%02x%02x%02x+%s", name, id[0], id[1], id[2], id[3], b64);
    return n < 0 || (size_t)n >= outlen ? CP_EFORMAT : 0;
}

/* A verifier key line: name+hexid+base64(0x01||key). */
static int parse_vkey(const char *text, size_t len, cp_key **out)
{
    while (len && (text[len - 1] == '\n' || text[len - 1] == '\r'))
        len--;
    const char *p1 = memchr(text, '+', len);
    if (!p1) return CP_EKEY;
    const char *p2 = memchr(p1 + 1, '+', len - (size_t)(p1 + 1 - text));
    if (!p2 || p2 - p1 != 9 || (size_t)(p1 - text) >= CP_ORIGIN_MAX ||
        memchr(text, 0, (size_t)(p1 - text)))
        return CP_EKEY;
    char name[CP_ORIGIN_MAX];
    memcpy(name, text, (size_t)(p1 - text));
    name[p1 - text] = 0;
    if (!cp_name_valid(name)) return CP_EKEY;
    uint8_t id[4];
    for (int i = 0; i < 4; i++) {
        unsigned v = 0;
        for (int j = 0; j < 2; j++) {
            char c = p1[1 + 2 * i + j];
            int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
            if (d < 0) return CP_EKEY;
            v = v * 16 + (unsigned)d;
        }
        id[i] = (uint8_t)v;
    }
    uint8_t typed[1 + CP_PUB_LEN];
    size_t n;
    if (cp_base64_decode(p2 + 1, len - (size_t)(p2 + 1 - text), typed, sizeof typed, &n) ||
        n != sizeof typed || typed[0] != 0x01)
        return CP_EKEY;
    EVP_PKEY *pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, typed + 1, CP_PUB_LEN);
    if (!pkey) return CP_EKEY;
    int rc = key_from_pkey(pkey, 0, out);
    if (rc) return rc;
    uint8_t want[4];
    cp_key_id(*out, name, want);
    if (memcmp(want, id, 4) != 0) {
        cp_key_destroy(out);
        return CP_EKEY;
    }
    return 0;
}

int cp_key_parse_public(const char *text, size_t len, cp_key **out)
{
    *out = NULL;
    if (len > CP_NOTE_MAX) return CP_EKEY;
    if (len >= 11 && memcmp(text, "-----BEGIN ", 11) == 0) {
        BIO *bio = BIO_new_mem_buf(text, (int)len);
        EVP_PKEY *pkey = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
        BIO_free(bio);
        if (!pkey) return CP_EKEY;
        return key_from_pkey(pkey, 0, out);
    }
    return parse_vkey(text, len, out);
}

int cp_key_load_public(const char *path, cp_key **out, at_error *err)
{
    *out = NULL;
    char *text;
    size_t len;
    struct stat st;
    int rc = read_key_file(path, "public key", &text, &len, &st, err);
    if (rc) return rc;
    rc = cp_key_parse_public(text, len, out);
    free(text);
    if (rc)
        return at_errf(err, rc,
                       "%s: not an Ed25519 public key (PEM \"PUBLIC KEY\" or a verifier key line); "
                       "export one with trace-collector --print-public-key",
                       path);
    return 0;
}

int cp_key_sign(const cp_key *k, const void *msg, size_t len, uint8_t sig[CP_SIG_LEN])
{
    if (!k->has_private) return CP_EKEY;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    size_t siglen = CP_SIG_LEN;
    int ok = c && EVP_DigestSignInit(c, NULL, NULL, NULL, k->pkey) == 1 &&
             EVP_DigestSign(c, sig, &siglen, msg, len) == 1 && siglen == CP_SIG_LEN;
    EVP_MD_CTX_free(c);
    return ok ? 0 : CP_ECRYPTO;
}

int cp_key_verify(const cp_key *k, const void *msg, size_t len, const uint8_t *sig, size_t sig_len)
{
    if (sig_len != CP_SIG_LEN) return CP_EVERIFY;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = c && EVP_DigestVerifyInit(c, NULL, NULL, NULL, k->pkey) == 1 &&
             EVP_DigestVerify(c, sig, sig_len, msg, len) == 1;
    EVP_MD_CTX_free(c);
    return ok ? 0 : CP_EVERIFY;
}

void cp_key_destroy(cp_key **k)
{
    if (!k || !*k) return;
    EVP_PKEY_free((*k)->pkey);
    free(*k);
    *k = NULL;
}

/* ---- checkpoints and notes ------------------------------------------------ */

size_t cp_checkpoint_body(const cp_checkpoint *c, char *out, size_t outlen)
{
    if (!cp_name_valid(c->origin)) return 0;
    char root[48];
    cp_base64_encode(c->root, 32, root);
    int n =
        c->time_unix_nano
            ? snprintf(out, outlen, "%s\n%llu\n%s\ntime_unix_nano %llu\n", c->origin,
                       (unsigned long long)c->size, root, (unsigned long long)c->time_unix_nano)
            : snprintf(out, outlen, "%s\n%llu\n%s\n", c->origin, (unsigned long long)c->size, root);
    return n < 0 || (size_t)n >= outlen ? 0 : (size_t)n;
}

int cp_checkpoint_sign(const cp_checkpoint *c, const cp_key *k, char **note, size_t *len)
{
    *note = NULL;
    char body[CP_ORIGIN_MAX + 128];
    size_t blen = cp_checkpoint_body(c, body, sizeof body);
    if (!blen) return CP_EFORMAT;
    uint8_t sigbuf[4 + CP_SIG_LEN];
    cp_key_id(k, c->origin, sigbuf);
    int rc = cp_key_sign(k, body, blen, sigbuf + 4);
    if (rc) return rc;
    char b64[128];
    cp_base64_encode(sigbuf, sizeof sigbuf, b64);
    size_t cap = blen + 1 + SIG_PREFIX_LEN + strlen(c->origin) + 1 + strlen(b64) + 2;
    char *p = malloc(cap);
    if (!p) return CP_ENOMEM;
    int n = snprintf(p, cap, "%s\n%s%s %s\n", body, SIG_PREFIX, c->origin, b64);
    if (n < 0 || (size_t)n >= cap) {
        free(p);
        return CP_EFORMAT;
    }
    *note = p;
    if (len) *len = (size_t)n;
    return 0;
}

/* The next line [p, nl) of [p, end): returns the position after its '\n',
 * or NULL when there is no newline. */
static const char *next_line(const char *p, const char *end, size_t *linelen)
{
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl) return NULL;
    *linelen = (size_t)(nl - p);
    return nl + 1;
}

static int text_ok(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c < 0x20 || c == 0x7f) return 0;
    }
    return 1;
}

/* A note's number: decimal, canonical (no leading zero), at most 2^63-1. 0 or -1. */
static int parse_note_number(const char *p, size_t n, uint64_t *out)
{
    if (n > 1 && p[0] == '0') return -1;
    return at_parse_u64(p, n, (UINT64_C(1) << 63) - 1, out) ? -1 : 0;
}

/* Finds the body's end: the last "\n\n" of the note. */
static const char *find_separator(const char *note, size_t len)
{
    for (size_t i = len; i >= 2; i--)
        if (note[i - 1] == '\n' && note[i - 2] == '\n') return note + i - 1;
    return NULL;
}

int cp_note_parse(const char *note, size_t len, cp_checkpoint *out, cp_signature *sigs, size_t max,
                  size_t *nsigs, at_error *err)
{
    memset(out, 0, sizeof *out);
    *nsigs = 0;
    if (len > CP_NOTE_MAX)
        return at_errf(err, CP_EFORMAT, "note longer than %d bytes", CP_NOTE_MAX);
    if (len == 0 || note[len - 1] != '\n')
        return at_errf(err, CP_EFORMAT, "note does not end with a newline");
    const char *sep = find_separator(note, len);
    if (!sep) return at_errf(err, CP_EFORMAT, "no empty line before the signatures");
    const char *end = note + len, *body_end = sep; /* body = [note, sep) incl. its '\n' */

    /* Body: origin, size, root, extension lines; no empty line. */
    const char *p = note;
    size_t n;
    const char *q = next_line(p, body_end, &n);
    if (!q || n == 0 || n >= CP_ORIGIN_MAX || !text_ok(p, n))
        return at_errf(err, CP_EFORMAT, "line 1: origin missing, too long or not text");
    memcpy(out->origin, p, n);
    out->origin[n] = 0;
    if (!cp_name_valid(out->origin))
        return at_errf(err, CP_EFORMAT,
                       "line 1: origin must be printable ASCII without spaces or '+'");
    p = q;
    if (!(q = next_line(p, body_end, &n)) || parse_note_number(p, n, &out->size))
        return at_errf(err, CP_EFORMAT, "line 2: tree size must be a decimal integer");
    p = q;
    size_t rootlen;
    if (!(q = next_line(p, body_end, &n)) ||
        cp_base64_decode(p, n, out->root, sizeof out->root, &rootlen) || rootlen != 32)
        return at_errf(err, CP_EFORMAT, "line 3: root must be base64 of 32 bytes");
    p = q;
    /* The signing time, when present, is the first extension line. */
    static const char TIME_KEY[] = "time_unix_nano ";
    const size_t tk = sizeof TIME_KEY - 1;
    if (p < body_end && (q = next_line(p, body_end, &n)) && n > tk &&
        memcmp(p, TIME_KEY, tk) == 0) {
        if (parse_note_number(p + tk, n - tk, &out->time_unix_nano) || out->time_unix_nano == 0)
            return at_errf(err, CP_EFORMAT, "line 4: time_unix_nano must be a positive integer");
        p = q;
    }
    for (int line = 4; p < body_end; line++) {
        if (!(q = next_line(p, body_end, &n)) || n == 0 || !text_ok(p, n))
            return at_errf(err, CP_EFORMAT, "line %d: bad extension line", line);
        p = q;
    }

    /* Signatures: "— name base64\n" each, at least one. */
    p = sep + 1;
    if (p >= end) return at_errf(err, CP_EFORMAT, "no signature line");
    for (int line = 1; p < end; line++) {
        if (!(q = next_line(p, end, &n)) || n < SIG_PREFIX_LEN ||
            memcmp(p, SIG_PREFIX, SIG_PREFIX_LEN) != 0)
            return at_errf(err, CP_EFORMAT,
                           "signature line %d: must start with an em dash and a space", line);
        const char *name = p + SIG_PREFIX_LEN, *lend = p + n;
        const char *sp = memchr(name, ' ', (size_t)(lend - name));
        if (!sp || sp == name || (size_t)(sp - name) >= CP_ORIGIN_MAX ||
            !text_ok(name, (size_t)(sp - name)))
            return at_errf(err, CP_EFORMAT, "signature line %d: key name missing", line);
        char nm[CP_ORIGIN_MAX];
        memcpy(nm, name, (size_t)(sp - name));
        nm[sp - name] = 0;
        uint8_t raw[4 + 512];
        size_t rawlen;
        if (!cp_name_valid(nm) ||
            cp_base64_decode(sp + 1, (size_t)(lend - sp - 1), raw, sizeof raw, &rawlen) ||
            rawlen < 5)
            return at_errf(err, CP_EFORMAT, "signature line %d: bad name or base64", line);
        if (*nsigs < max) {
            cp_signature *s = &sigs[(*nsigs)++];
            memcpy(s->name, nm, sizeof s->name);
            memcpy(s->key_id, raw, 4);
            s->sig_len = rawlen - 4 <= CP_SIG_LEN ? rawlen - 4 : 0;
            memcpy(s->sig, raw + 4, s->sig_len);
        }
        p = q;
    }
    return 0;
}

int cp_note_verify(const char *note, size_t len, const cp_key *k, cp_checkpoint *out, at_error *err)
{
    cp_signature sigs[16];
    size_t nsigs;
    int rc = cp_note_parse(note, len, out, sigs, 16, &nsigs, err);
    if (rc) return rc;
    uint8_t id[4];
    cp_key_id(k, out->origin, id);
    size_t body_len = (size_t)(find_separator(note, len) - note);
    for (size_t i = 0; i < nsigs; i++) {
        if (strcmp(sigs[i].name, out->origin) != 0 || memcmp(sigs[i].key_id, id, 4) != 0) continue;
        if (cp_key_verify(k, note, body_len, sigs[i].sig, sigs[i].sig_len) == 0) return 0;
        return at_errf(err, CP_EVERIFY,
                       "signature by %s (key id %02x%02x%02x%02x) does not match the checkpoint",
                       out->origin, id[0], id[1], id[2], id[3]);
    }
    return at_errf(err, CP_EVERIFY,
                   "no signature by the given key (name %s, key id %02x%02x%02x%02x)", out->origin,
                   id[0], id[1], id[2], id[3]);
}
