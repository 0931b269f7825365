/*
 * mask.c - the secret masker (see mask.h for the contract).
 *
 * Responsibility: the rule table, one hand-written scanner per rule, the
 * unescaped JSON view and its map back to raw bytes, and the masking of the
 * free-text fields of an event.
 *
 * Owns: nothing beyond each call; the rule table is static and read-only.
 *
 * Invariants:
 *  - Linear time. The main loop visits each position once and asks each rule
 *    whether a secret starts there. A rule's trigger is O(1) (a fixed prefix
 *    and a left boundary); when it fires it scans forward over a run of its
 *    own character set. Every left boundary is "the previous byte is not in
 *    the run's character set", so a scan never restarts inside a run another
 *    scan of the same rule has covered; the generic rule, whose value runs
 *    may overlap, looks at no more than VALUE_WINDOW bytes per trigger.
 *    Scanner steps are counted (scan.work) and tests assert the bound.
 *  - Masked spans never overlap in the output and start and end on the
 *    boundaries of whole escape sequences and whole UTF-8 characters, so valid
 *    UTF-8 (and a JSON string's content) stays valid.
 *  - Masked text masks to itself: no rule matches "[REDACTED:<rule>]".
 *
 * Threading: reentrant; the only global state is a byte-class table filled
 * once under pthread_once.
 */
#include "mask.h"

#include <assert.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- scanning state -------------------------------------------------- */

typedef struct tp_mask_scan {
    const unsigned char *s; /* the text being scanned (raw or view) */
    size_t n;
    uint64_t work; /* scanner steps, for the linear-time bound */
    size_t fresh;  /* end of the last match: a run may start there, as it will
                      after the marker's ']' once masked */
} scan;

typedef struct span {
    size_t start, end; /* [start, end) in raw bytes */
    unsigned rule;
} span;

typedef struct spans {
    span *v;
    size_t n, cap;
    unsigned count; /* detections (merged spans still count each) */
} spans;

#define STEP(sc) ((sc)->work++)
#define VALUE_WINDOW 64 /* bytes of an assigned value judged for entropy */
#define REDACTED_PREFIX "[REDACTED:"

static int is_digit(int c)
{
    return c >= '0' && c <= '9';
}
static int is_upper(int c)
{
    return c >= 'A' && c <= 'Z';
}
static int is_lower(int c)
{
    return c >= 'a' && c <= 'z';
}
static int is_alpha(int c)
{
    return is_upper(c) || is_lower(c);
}
static int is_alnum(int c)
{
    return is_alpha(c) || is_digit(c);
}
static int is_word(int c)
{
    return is_alnum(c) || c == '_';
}
static int is_b64url(int c)
{
    return is_alnum(c) || c == '_' || c == '-';
}
static int is_ident(int c)
{
    return is_alnum(c) || c == '_' || c == '-' || c == '.';
}
static int is_space(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
static int to_lower(int c)
{
    return is_upper(c) ? c - 'A' + 'a' : c;
}

/* Does the text at i start with `lit` (case-sensitive)? */
static int has_at(const scan *sc, size_t i, const char *lit)
{
    size_t k = strlen(lit);
    return i <= sc->n && sc->n - i >= k && memcmp(sc->s + i, lit, k) == 0;
}

static int has_at_nocase(const scan *sc, size_t i, const char *lit)
{
    size_t k = strlen(lit);
    if (i > sc->n || sc->n - i < k) return 0;
    for (size_t j = 0; j < k; j++)
        if (to_lower(sc->s[i + j]) != lit[j]) return 0;
    return 1;
}

/* Left boundary: position i is not preceded by a byte of class `cls`. */
static int starts_run(const scan *sc, size_t i, int (*cls)(int))
{
    return i == 0 || i == sc->fresh || !cls(sc->s[i - 1]);
}

/* End of the run of class `cls` from i. */
static size_t run_end(scan *sc, size_t i, int (*cls)(int))
{
    while (i < sc->n && cls(sc->s[i])) {
        STEP(sc);
        i++;
    }
    return i;
}

/* ---- entropy ---------------------------------------------------------- */

/* log2(k) for k = 0..64 (0 for k = 0). */
static const double log2_tab[VALUE_WINDOW + 1] = {
    0.000000, 0.000000, 1.000000, 1.584963, 2.000000, 2.321928, 2.584963, 2.807355, 3.000000,
    3.169925, 3.321928, 3.459432, 3.584963, 3.700440, 3.807355, 3.906891, 4.000000, 4.087463,
    4.169925, 4.247928, 4.321928, 4.392317, 4.459432, 4.523562, 4.584963, 4.643856, 4.700440,
    4.754888, 4.807355, 4.857981, 4.906891, 4.954196, 5.000000, 5.044394, 5.087463, 5.129283,
    5.169925, 5.209453, 5.247928, 5.285402, 5.321928, 5.357552, 5.392317, 5.426265, 5.459432,
    5.491853, 5.523562, 5.554589, 5.584963, 5.614710, 5.643856, 5.672425, 5.700440, 5.727920,
    5.754888, 5.781360, 5.807355, 5.832890, 5.857981, 5.882643, 5.906891, 5.930737, 5.954196,
    5.977280, 6.000000};

/* Is this value (an assigned secret candidate) random-looking? Judged on
 * its first VALUE_WINDOW bytes: at least 8 bytes; three character classes
 * (lower, upper, digit, other) and >= 3.0 bits/byte of Shannon entropy, or
 * two classes, >= 20 bytes and >= 3.5 bits/byte. */
static int high_entropy(scan *sc, const unsigned char *v, size_t len)
{
    if (len < 8) return 0;
    size_t n = len < VALUE_WINDOW ? len : VALUE_WINDOW;
    unsigned char seen[256] = {0};
    int lower = 0, upper = 0, digit = 0, other = 0;
    for (size_t k = 0; k < n; k++) {
        STEP(sc);
        int c = v[k];
        seen[c]++;
        lower |= is_lower(c);
        upper |= is_upper(c);
        digit |= is_digit(c);
        other |= !is_alnum(c);
    }
    double h = log2_tab[n];
    for (size_t k = 0; k < n; k++) {
        unsigned char c = seen[v[k]];
        if (c) {
            h -= (double)c / (double)n * log2_tab[c];
            seen[v[k]] = 0;
        }
    }
    int classes = lower + upper + digit + other;
    if (classes >= 3 && h >= 3.0) return 1;
    return classes >= 2 && len >= 20 && h >= 3.5;
}

/* ---- the detectors ---------------------------------------------------- */

static int is_aws_body(int c)
{
    return is_upper(c) || is_digit(c);
}

/* AWS access key id: a 4-letter type prefix and 16 upper-case letters or
 * digits, a whole word. Keys ending in EXAMPLE are AWS's documentation keys. */
static int detect_aws(scan *sc, size_t i, size_t *ms, size_t *me)
{
    static const char *const prefixes[] = {"AKIA", "ASIA", "AGPA", "AIDA", "AROA",
                                           "AIPA", "ANPA", "ANVA", "ABIA", "ACCA"};
    STEP(sc);
    if (sc->s[i] != 'A' || !starts_run(sc, i, is_alnum) || sc->n - i < 20) return 0;
    int known = 0;
    for (size_t p = 0; p < sizeof prefixes / sizeof *prefixes && !known; p++)
        known = memcmp(sc->s + i, prefixes[p], 4) == 0;
    if (!known) return 0;
    for (size_t k = i + 4; k < i + 20; k++) {
        STEP(sc);
        if (!is_aws_body(sc->s[k])) return 0;
    }
    if (i + 20 < sc->n && is_alnum(sc->s[i + 20])) return 0;
    if (memcmp(sc->s + i + 13, "EXAMPLE", 7) == 0) return 0;
    *ms = i;
    *me = i + 20;
    return 1;
}

/* GitHub tokens: ghp_ gho_ ghu_ ghs_ ghr_ and 30+ letters/digits (36 today),
 * or github_pat_ and 22+ letters, digits or underscores. */
static int detect_github(scan *sc, size_t i, size_t *ms, size_t *me)
{
    STEP(sc);
    if (sc->s[i] != 'g' || !starts_run(sc, i, is_word)) return 0;
    size_t e;
    if (has_at(sc, i, "github_pat_")) {
        e = run_end(sc, i + 11, is_word);
        if (e - (i + 11) < 22) return 0;
    } else if (sc->n - i >= 4 && sc->s[i + 1] == 'h' && sc->s[i + 3] == '_' && sc->s[i + 2] &&
               strchr("pousr", sc->s[i + 2])) {
        e = run_end(sc, i + 4, is_alnum);
        if (e - (i + 4) < 30) return 0;
    } else {
        return 0;
    }
    *ms = i;
    *me = e;
    return 1;
}

static int is_slack_body(int c)
{
    return is_alnum(c) || c == '-';
}

/* Slack tokens: xox[abpors]- and 10+ letters, digits or dashes, some digits. */
static int detect_slack(scan *sc, size_t i, size_t *ms, size_t *me)
{
    STEP(sc);
    if (sc->s[i] != 'x' || !starts_run(sc, i, is_slack_body) || !has_at(sc, i, "xox") ||
        sc->n - i < 5 || !sc->s[i + 3] || !strchr("abpors", sc->s[i + 3]) || sc->s[i + 4] != '-')
        return 0;
    size_t e = run_end(sc, i + 5, is_slack_body);
    if (e - (i + 5) < 10) return 0;
    int digits = 0;
    for (size_t k = i + 5; k < e && !digits; k++) {
        STEP(sc);
        digits = is_digit(sc->s[k]);
    }
    if (!digits) return 0;
    *ms = i;
    *me = e;
    return 1;
}

/* Finds "-----" within `limit` bytes from i; returns its position or n. */
static size_t find_dashes(scan *sc, size_t i, size_t limit)
{
    size_t stop = sc->n - i > limit ? i + limit : sc->n;
    for (size_t k = i; k < stop; k++) {
        STEP(sc);
        if (sc->s[k] == '\n') break;
        if (has_at(sc, k, "-----")) return k;
    }
    return sc->n;
}

/* Private key blocks: "-----BEGIN <label> PRIVATE KEY...-----" up to the
 * matching "-----END ...-----". Without an END the block runs to the end of
 * the text: a truncated key is still a secret. */
static int detect_private_key(scan *sc, size_t i, size_t *ms, size_t *me)
{
    STEP(sc);
    if (sc->s[i] != '-' || !has_at(sc, i, "-----BEGIN ")) return 0;
    size_t h = find_dashes(sc, i + 11, 64);
    if (h == sc->n) return 0;
    int private_label = 0;
    for (size_t k = i + 11; k + 11 <= h && !private_label; k++) {
        STEP(sc);
        private_label = has_at(sc, k, "PRIVATE KEY");
    }
    if (!private_label) return 0;
    size_t e = sc->n;
    for (size_t k = h + 5; k < sc->n; k++) {
        STEP(sc);
        if (sc->s[k] == '-' && has_at(sc, k, "-----END ")) {
            size_t t = find_dashes(sc, k + 9, 64);
            e = t == sc->n ? k + 9 : t + 5;
            break;
        }
    }
    *ms = i;
    *me = e;
    return 1;
}

static int is_jwt_char(int c)
{
    return is_b64url(c) || c == '.';
}

/* JWTs: eyJ<header>.eyJ<payload>.<signature> (base64url segments). */
static int detect_jwt(scan *sc, size_t i, size_t *ms, size_t *me)
{
    STEP(sc);
    if (sc->s[i] != 'e' || !has_at(sc, i, "eyJ") || !starts_run(sc, i, is_jwt_char)) return 0;
    size_t a = run_end(sc, i, is_b64url);
    if (a - i < 10 || a >= sc->n || sc->s[a] != '.' || !has_at(sc, a + 1, "eyJ")) return 0;
    size_t b = run_end(sc, a + 1, is_b64url);
    if (b - (a + 1) < 10 || b >= sc->n || sc->s[b] != '.') return 0;
    *ms = i;
    *me = run_end(sc, b + 1, is_b64url);
    return 1;
}

static int is_bearer_char(int c)
{
    return is_alnum(c) || (c && strchr("._~+/=-", c));
}

/* Bearer tokens: the word "bearer" (any case), blanks, and a credential of
 * 16+ token characters mixing at least two of lower, upper and digits. Only
 * the credential is masked. */
static int detect_bearer(scan *sc, size_t i, size_t *ms, size_t *me)
{
    STEP(sc);
    if (to_lower(sc->s[i]) != 'b' || !starts_run(sc, i, is_alpha) ||
        !has_at_nocase(sc, i, "bearer"))
        return 0;
    size_t t = i + 6, blanks = 0;
    while (t < sc->n && (sc->s[t] == ' ' || sc->s[t] == '\t') && blanks < 8) {
        STEP(sc);
        t++;
        blanks++;
    }
    if (blanks == 0) return 0;
    size_t e = run_end(sc, t, is_bearer_char);
    if (e - t < 16) return 0;
    int lower = 0, upper = 0, digit = 0;
    for (size_t k = t; k < e && k < t + VALUE_WINDOW; k++) {
        STEP(sc);
        lower |= is_lower(sc->s[k]);
        upper |= is_upper(sc->s[k]);
        digit |= is_digit(sc->s[k]);
    }
    if (lower + upper + digit < 2) return 0;
    *ms = t;
    *me = e;
    return 1;
}

static int ends_authority(int c)
{
    return c == '/' || c == '?' || c == '#' || c == '@' || c == '"' || c == '\'' || c == '<' ||
           c == '>' || c == '\\' || c == '`' || is_space(c) || c < 0x20;
}

/* Passwords in URLs: scheme://user:password@host. The whole user-info
 * ("user:password") is masked: a user part may itself be a token
 * (https://ghp_...:x-oauth-basic@github.com), and the scan resumes after the
 * masked span. The trigger is the ':' of "://" after a scheme character. */
static int detect_url_password(scan *sc, size_t i, size_t *ms, size_t *me)
{
    STEP(sc);
    if (sc->s[i] != ':' || i == 0 || !is_alnum(sc->s[i - 1]) || !has_at(sc, i, "://")) return 0;
    size_t colon = 0, k = i + 3;
    while (k < sc->n && !ends_authority(sc->s[k])) {
        STEP(sc);
        if (sc->s[k] == ':' && !colon) colon = k;
        /* A marker's ':' is no password separator (masked text masks to itself). */
        if (sc->s[k] == '[' && has_at(sc, k, REDACTED_PREFIX)) return 0;
        k++;
    }
    if (k >= sc->n || sc->s[k] != '@' || !colon || colon + 1 >= k) return 0;
    if (has_at(sc, i + 3, REDACTED_PREFIX)) return 0;
    *ms = i + 3;
    *me = k;
    return 1;
}

/* Names whose assigned value is a secret when it looks random: the name (an
 * identifier) ends with one of these words, the whole name or after a
 * separator (_ - .) or a lower-to-upper camelCase step. */
typedef struct word {
    const char *w;
    size_t n;
} word;
#define WORD(s)                                                                                    \
    {                                                                                              \
        s, sizeof s - 1                                                                            \
    }
static const word secret_words[] = {
    WORD("password"),    WORD("passwd"), WORD("pwd"),       WORD("pass"),      WORD("passphrase"),
    WORD("secret"),      WORD("token"),  WORD("key"),       WORD("apikey"),    WORD("credential"),
    WORD("credentials"), WORD("auth"),   WORD("accesskey"), WORD("secretkey"),
};
/* Names that end with a secret word but name no secret. */
static const word public_names[] = {
    WORD("public_key"),      WORD("publickey"),     WORD("pubkey"),
    WORD("public-key"),      WORD("sort_key"),      WORD("primary_key"),
    WORD("foreign_key"),     WORD("partition_key"), WORD("cache_key"),
    WORD("idempotency_key"), WORD("keep_key"),      WORD("next_token"),
    WORD("page_token"),      WORD("max_token"),     WORD("continuation_token"),
};

/* Does name end with w (case-insensitive)? */
static int ends_with(const unsigned char *name, size_t len, const word *w)
{
    if (w->n > len) return 0;
    for (size_t j = 0; j < w->n; j++)
        if (to_lower(name[len - w->n + j]) != w->w[j]) return 0;
    return 1;
}

static int name_is_secret(const unsigned char *name, size_t len)
{
    /* Every secret word ends in one of these letters: most names stop here. */
    if (len == 0 || !strchr("dsetnylh", to_lower(name[len - 1]))) return 0;
    int secret = 0;
    for (size_t w = 0; w < sizeof secret_words / sizeof *secret_words && !secret; w++) {
        if (!ends_with(name, len, &secret_words[w])) continue;
        size_t at = len - secret_words[w].n;
        int before = at ? name[at - 1] : 0;
        secret = at == 0 || before == '_' || before == '-' || before == '.' ||
                 (is_upper(name[at]) && (is_lower(before) || is_digit(before)));
    }
    for (size_t p = 0; secret && p < sizeof public_names / sizeof *public_names; p++)
        if (public_names[p].n == len && ends_with(name, len, &public_names[p])) secret = 0;
    return secret;
}

static int is_value_char(int c)
{
    return c >= 0x21 && c != 0x7f && !strchr("\"'\\,;&{}[]()<>`", c);
}

static int detect_specific(scan *sc, size_t i);

/* Generic assignments: NAME=value, NAME: value, "NAME": "value" (also with
 * escaped quotes) where NAME looks secret and value looks random. Only the
 * value is masked. A value that another rule recognises is left to it. */
static int detect_generic(scan *sc, size_t i, size_t *ms, size_t *me)
{
    STEP(sc);
    if (!is_ident(sc->s[i]) || !starts_run(sc, i, is_ident)) return 0;
    size_t j = i;
    while (j < sc->n && is_ident(sc->s[j])) {
        STEP(sc);
        if (++j - i > 128) return 0; /* no name is that long; no trigger inside */
    }
    size_t name_end = j;
    if (j + 1 < sc->n && sc->s[j] == '\\' && sc->s[j + 1] == '"')
        j += 2;
    else if (j < sc->n && (sc->s[j] == '"' || sc->s[j] == '\''))
        j++;
    for (int b = 0; b < 8 && j < sc->n && (sc->s[j] == ' ' || sc->s[j] == '\t'); b++, j++)
        STEP(sc);
    if (j >= sc->n || (sc->s[j] != '=' && sc->s[j] != ':')) return 0;
    j++;
    if (j < sc->n && sc->s[j] == '=') return 0; /* a comparison, not an assignment */
    /* The name is judged only now: most words are not followed by = or :. */
    if (!name_is_secret(sc->s + i, name_end - i)) return 0;
    for (int b = 0; b < 8 && j < sc->n && (sc->s[j] == ' ' || sc->s[j] == '\t'); b++, j++)
        STEP(sc);
    if (j + 1 < sc->n && sc->s[j] == '\\' && sc->s[j + 1] == '"')
        j += 2;
    else if (j < sc->n && (sc->s[j] == '"' || sc->s[j] == '\''))
        j++;
    if (j >= sc->n) return 0;
    /* Value runs of different triggers may overlap ("key=x/key=x/..."), so
     * only a bounded window is judged; a long value whose head looks random
     * is masked whole, and the scan then resumes after it. */
    size_t e = j;
    while (e < sc->n && is_value_char(sc->s[e]) && e - j <= VALUE_WINDOW) {
        STEP(sc);
        e++;
    }
    if (!high_entropy(sc, sc->s + j, e - j > VALUE_WINDOW ? VALUE_WINDOW : e - j)) return 0;
    if (detect_specific(sc, j)) return 0;
    if (e - j > VALUE_WINDOW) e = run_end(sc, e, is_value_char);
    *ms = j;
    *me = e;
    return 1;
}

/* ---- the table -------------------------------------------------------- */

#define LIST(...)                                                                                  \
    (const char *const[])                                                                          \
    {                                                                                              \
        __VA_ARGS__, NULL                                                                          \
    }

/* Order matters only between rules that fire at the same position; the
 * generic rule is last and defers to the others. */
static const tp_mask_rule rules[] = {
    {"private_key", "PEM/OpenSSH private key blocks, BEGIN to END (or to the end of the text)",
     LIST("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAfakefakefake0Z3VS5JJ\n-----END RSA "
          "PRIVATE KEY-----",
          "key:\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAAfake"),
     LIST("-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC "
          "KEY-----",
          "-----BEGIN CERTIFICATE-----", "-----BEGIN "),
     detect_private_key, "-"},
    {"aws_access_key", "AWS access key ids (AKIA, ASIA, ...) other than AWS's EXAMPLE keys",
     LIST("aws_access_key_id = AKIAZ3MPLEK3YT0TEST1", "creds ASIAQWERTYUIOP234567 expire"),
     LIST("AKIAIOSFODNN7EXAMPLE", "AKIA is the prefix of long-term keys",
          "AKIAZ3MPLEK3YT0TEST12345"),
     detect_aws, "A"},
    {"github_token", "GitHub tokens: ghp_ gho_ ghu_ ghs_ ghr_ github_pat_",
     LIST("token ghp_0123456789abcdefghijABCDEFGHIJ012345 end",
          "gho_0123456789abcdefghijABCDEFGHIJ012345",
          "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJ"),
     LIST("ghp_short", "the ghp_ prefix marks a personal token", "github_pat_x"), detect_github,
     "g"},
    {"slack_token", "Slack tokens xoxa- xoxb- xoxp- xoxo- xoxr- xoxs-",
     LIST("xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"),
     LIST("xoxo-hugs-and-kisses", "xoxb-", "xoxb-abcdefghijkl"), detect_slack, "x"},
    {"jwt", "JSON Web Tokens eyJ<header>.eyJ<payload>.<signature>",
     LIST("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkZha2UifQ."
          "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"),
     LIST("eyJ", "eyJhbGciOiJIUzI1NiJ9 alone", "eyJhbGciOiJIUzI1NiJ9.notajwt.x"), detect_jwt, "e"},
    {"bearer_token", "credentials after the word Bearer",
     LIST("Authorization: Bearer 8f2kQ9zLx0Vb7mN3pR5tW1yC"),
     LIST("the bearer of bad news", "Bearer authentication scheme", "Bearer <token>"),
     detect_bearer, "bB"},
    {"url_password", "passwords in URLs scheme://user:password@host",
     LIST("postgres://admin:S3cr3tPass@db.internal:5432/app", "redis://:hunter2@cache:6379",
          "https://ghp_0123456789abcdefghijABCDEFGHIJ012345:x-oauth-basic@github.com/o/r"),
     LIST("https://example.com:8443/path", "https://user@example.com/", "mailto:a@example.com",
          "http://[::1]:8080/"),
     detect_url_password, ":"},
    {"generic_secret",
     "high-entropy values assigned to secret-looking names (key=, secret=, password=, token=, "
     "\"api_key\": \"...\")",
     LIST("DB_PASSWORD=Xk9#mP2vL7qR4wZ", "{\"api_key\": \"sk_live_4eC39HqLyjWDarjtT1zdp7dc\"}",
          "client_secret: 9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d", "apiKey=AbC123xYz789QwE456"),
     LIST("password=hunter2", "token_count=12345", "key=value", "sort_key=created_at_desc",
          "monkey=Xk9mP2vL7qR4wZ8s", "password: ${DB_PASSWORD}", "max_tokens=4096",
          "password == Xk9#mP2vL7qR4wZ"),
     detect_generic, NULL},
};

#define NRULES (sizeof rules / sizeof *rules)

const tp_mask_rule *tp_mask_rules(size_t *n)
{
    if (n) *n = NRULES;
    return rules;
}

/* Does any rule but the generic one match at i? */
static int detect_specific(scan *sc, size_t i)
{
    size_t ms, me;
    for (size_t r = 0; r + 1 < NRULES; r++)
        if (rules[r].detect(sc, i, &ms, &me)) return 1;
    return 0;
}

/* ---- spans, views, output --------------------------------------------- */

static int spans_add(spans *sp, size_t start, size_t end, unsigned rule)
{
    sp->count++;
    if (sp->n > 0 && start < sp->v[sp->n - 1].end) {
        /* Two view matches inside one escape sequence: merge. */
        if (end > sp->v[sp->n - 1].end) sp->v[sp->n - 1].end = end;
        return 0;
    }
    if (sp->n == sp->cap) {
        size_t cap = sp->cap ? sp->cap * 2 : 8;
        span *v = realloc(sp->v, cap * sizeof *v);
        if (!v) return TP_ENOMEM;
        sp->v = v;
        sp->cap = cap;
    }
    sp->v[sp->n++] = (span){start, end, rule};
    return 0;
}

/* Which rules may start at a byte: every detector's first test is on the
 * byte itself, so most positions need no call at all. Filled once. */
static uint32_t first[256];
#define GENERIC_BIT (1u << (NRULES - 1)) /* the generic rule is the table's last row */
static pthread_once_t first_once = PTHREAD_ONCE_INIT;

static void first_init(void)
{
    assert(rules[NRULES - 1].detect == detect_generic);
    for (int c = 0; c < 256; c++)
        for (unsigned r = 0; r < NRULES; r++) {
            const char *f = rules[r].first;
            if (f ? (c && strchr(f, c) != NULL) : is_ident(c)) first[c] |= 1u << r;
        }
}

/* Runs every rule over the scan text. `map` (NULL for the raw text) gives
 * the raw start of each view byte; `rawlen` is the raw length. */
static int scan_all(scan *sc, const size_t *map, size_t rawlen, spans *sp)
{
    pthread_once(&first_once, first_init);
    size_t i = 0;
    while (i < sc->n) {
        STEP(sc);
        size_t ms = 0, me = 0;
        unsigned hit = NRULES;
        uint32_t may = first[sc->s[i]];
        /* The generic rule starts only where an identifier starts. */
        if (i > 0 && i != sc->fresh && is_ident(sc->s[i - 1])) may &= ~GENERIC_BIT;
        while (may && hit == NRULES) {
            unsigned r = (unsigned)__builtin_ctz(may);
            may &= may - 1;
            if (rules[r].detect(sc, i, &ms, &me)) hit = r;
        }
        if (hit == NRULES) {
            i++;
            continue;
        }
        if (me <= ms) { /* no detector returns an empty span; be safe */
            i++;
            continue;
        }
        size_t rs = ms, re = me;
        if (map) {
            rs = map[ms];
            /* The end of the raw escape holding view byte me-1. */
            size_t k = me;
            while (k < sc->n && map[k] == map[me - 1]) {
                STEP(sc);
                k++;
            }
            re = k < sc->n ? map[k] : rawlen;
        }
        if (spans_add(sp, rs, re, hit) != 0) return TP_ENOMEM;
        i = me > i ? me : i + 1;
        sc->fresh = me;
    }
    return 0;
}

static int hexval(int c)
{
    if (is_digit(c)) return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static long hex4(const unsigned char *p, size_t avail)
{
    if (avail < 4) return -1;
    long v = 0;
    for (int k = 0; k < 4; k++) {
        int h = hexval(p[k]);
        if (h < 0) return -1;
        v = v * 16 + h;
    }
    return v;
}

static size_t utf8_put(unsigned long cp, unsigned char *o)
{
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xc0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xe0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (unsigned char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (unsigned char)(0xf0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (unsigned char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Decodes one level of JSON string escapes. The view is never longer than
 * the raw text (every escape is at least as long as what it decodes to). */
static int view_build(const unsigned char *in, size_t len, unsigned char **view, size_t **map,
                      size_t *vlen)
{
    unsigned char *v = malloc(len ? len : 1);
    size_t *m = calloc(len ? len : 1, sizeof *m);
    if (!v || !m) {
        free(v);
        free(m);
        return TP_ENOMEM;
    }
    size_t i = 0, o = 0;
    while (i < len) {
        size_t start = i, used = 1, put = 0;
        unsigned char tmp[4];
        if (in[i] == '\\' && i + 1 < len) {
            static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
            const char *f = in[i + 1] ? strchr(from, in[i + 1]) : NULL;
            long cp;
            if (f) {
                tmp[0] = (unsigned char)to[f - from];
                put = 1;
                used = 2;
            } else if (in[i + 1] == 'u' && (cp = hex4(in + i + 2, len - i - 2)) >= 0) {
                if (cp >= 0xd800 && cp <= 0xdbff) {
                    long lo = (i + 7 < len && in[i + 6] == '\\' && in[i + 7] == 'u')
                                  ? hex4(in + i + 8, len - i - 8)
                                  : -1;
                    if (lo >= 0xdc00 && lo <= 0xdfff) {
                        put = utf8_put(0x10000 + (((unsigned long)cp - 0xd800) << 10) +
                                           ((unsigned long)lo - 0xdc00),
                                       tmp);
                        used = 12;
                    }
                } else if (cp < 0xdc00 || cp > 0xdfff) {
                    put = utf8_put((unsigned long)cp, tmp);
                    used = 6;
                }
            }
        }
        if (put == 0) { /* not an escape: the byte as is */
            tmp[0] = in[i];
            put = 1;
            used = 1;
        }
        for (size_t k = 0; k < put; k++) {
            v[o] = tmp[k];
            m[o] = start;
            o++;
        }
        i += used;
    }
    *view = v;
    *map = m;
    *vlen = o;
    return 0;
}

/* Writes `in` with every span replaced by its marker; malloc'd. */
static char *apply_spans(const char *in, size_t len, const spans *sp, size_t *out_len)
{
    size_t total = len;
    for (size_t k = 0; k < sp->n; k++)
        total += strlen(REDACTED_PREFIX) + strlen(rules[sp->v[k].rule].name) + 1;
    char *out = malloc(total + 1);
    if (!out) return NULL;
    size_t o = 0, at = 0;
    for (size_t k = 0; k < sp->n; k++) {
        memcpy(out + o, in + at, sp->v[k].start - at);
        o += sp->v[k].start - at;
        o += (size_t)snprintf(out + o, total + 1 - o, "%s%s]", REDACTED_PREFIX,
                              rules[sp->v[k].rule].name);
        at = sp->v[k].end;
    }
    memcpy(out + o, in + at, len - at);
    o += len - at;
    out[o] = 0;
    if (out_len) *out_len = o;
    return out;
}

/* One pass: over the unescaped view (`use_view`) or the raw text. */
static int mask_pass(const char *in, size_t len, int use_view, char **out, size_t *out_len,
                     unsigned *count, uint64_t *work)
{
    spans sp = {0};
    unsigned char *view = NULL;
    size_t *map = NULL, vlen = len;
    int rc = 0;
    if (use_view) {
        rc = view_build((const unsigned char *)in, len, &view, &map, &vlen);
        if (rc != 0) return rc;
    }
    scan sc = {use_view ? view : (const unsigned char *)in, vlen, 0, 0};
    rc = scan_all(&sc, map, len, &sp);
    *work += sc.work + (use_view ? len : 0);
    free(view);
    free(map);
    if (rc == 0) {
        *out = apply_spans(in, len, &sp, out_len);
        if (!*out) rc = TP_ENOMEM;
        *count += sp.count;
    }
    free(sp.v);
    return rc;
}

/* ---- JSON documents ----------------------------------------------------- */

static int mask_json_value(json_t *v, unsigned *count, uint64_t *work);

static int mask_json_string(json_t *s, unsigned *count, uint64_t *work)
{
    char *m = NULL;
    size_t ml = 0;
    unsigned c = 0;
    uint64_t w = 0;
    int rc = tp_mask_text_ex(json_string_value(s), json_string_length(s), 0, &m, &ml, &c, &w);
    *work += w;
    if (rc != 0) return rc;
    if (c > 0) {
        *count += c;
        if (json_string_setn_nocheck(s, m, ml) != 0) rc = TP_ENOMEM;
    }
    free(m);
    return rc;
}

static int mask_json_object(json_t *obj, unsigned *count, uint64_t *work)
{
    const char *key;
    json_t *val;
    void *tmp;
    /* Keys first: a key holding a secret is replaced by a masked key. */
    json_object_foreach_safe(obj, tmp, key, val)
    {
        size_t kl = strlen(key);
        char *mk = NULL;
        unsigned c = 0;
        uint64_t w = 0;
        if (tp_mask_text_ex(key, kl, 0, &mk, NULL, &c, &w) != 0) return TP_ENOMEM;
        *work += w;
        if (c > 0) {
            json_incref(val);
            *count += c;
            int bad = json_object_del(obj, key) != 0 || json_object_set_new(obj, mk, val) != 0;
            free(mk);
            if (bad) return TP_ENOMEM;
        } else {
            free(mk);
        }
    }
    json_object_foreach(obj, key, val)
    {
        scan sc = {(const unsigned char *)key, strlen(key), 0, 0};
        if (json_is_string(val) && name_is_secret(sc.s, sc.n) &&
            strncmp(json_string_value(val), REDACTED_PREFIX, strlen(REDACTED_PREFIX)) != 0 &&
            high_entropy(&sc, (const unsigned char *)json_string_value(val),
                         json_string_length(val))) {
            char marker[64];
            snprintf(marker, sizeof marker, "%sgeneric_secret]", REDACTED_PREFIX);
            if (json_string_set(val, marker) != 0) return TP_ENOMEM;
            (*count)++;
        } else {
            int rc = mask_json_value(val, count, work);
            if (rc != 0) return rc;
        }
        *work += sc.work;
    }
    return 0;
}

static int mask_json_value(json_t *v, unsigned *count, uint64_t *work)
{
    if (json_is_string(v)) return mask_json_string(v, count, work);
    if (json_is_array(v)) {
        for (size_t k = 0; k < json_array_size(v); k++) {
            int rc = mask_json_value(json_array_get(v, k), count, work);
            if (rc != 0) return rc;
        }
        return 0;
    }
    if (json_is_object(v)) return mask_json_object(v, count, work);
    return 0;
}

/* Valid JSON text as tp_event_validate judges tool_call.arguments. */
static int json_valid(const char *text, size_t len)
{
    json_error_t e;
    json_t *j =
        json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &e);
    json_decref(j);
    return j != NULL;
}

/* The fallback for valid JSON text whose text mask broke it (see
 * TP_MASK_JSON). `in` is parsed and each string masked on its own, then
 * written back compactly; when that finds nothing (the text mask matched
 * only across strings), `in` is returned as it was. A document jansson
 * cannot rewrite faithfully (duplicate keys, integers past 64 bits) becomes
 * one JSON string holding the text-masked version `masked`. */
static int mask_json_document(const char *in, size_t len, const char *masked, size_t mlen,
                              char **out, size_t *out_len, unsigned *count, uint64_t *work)
{
    json_error_t e;
    json_t *root =
        json_loadb(in, len, JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &e);
    unsigned c = *count;
    int rc = 0;
    if (root) {
        c = 0;
        rc = mask_json_value(root, &c, work);
        if (rc == 0 && c == 0) {
            json_decref(root);
            *out = malloc(len + 1);
            if (!*out) return TP_ENOMEM;
            memcpy(*out, in, len);
            (*out)[len] = 0;
            if (out_len) *out_len = len;
            *count = 0;
            return 0;
        }
    } else {
        root = json_stringn_nocheck(masked, mlen);
        if (!root) return TP_ENOMEM;
    }
    char *text =
        rc == 0 ? json_dumps(root, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER) : NULL;
    json_decref(root);
    if (rc != 0) return rc;
    if (!text) return TP_ENOMEM;
    /* json_dumps memory comes from jansson's allocator (malloc by default). */
    *out = text;
    if (out_len) *out_len = strlen(text);
    *count = c;
    return 0;
}

/* ---- public ----------------------------------------------------------- */

int tp_mask_text_ex(const char *in, size_t len, unsigned flags, char **out, size_t *out_len,
                    unsigned *count, uint64_t *work)
{
    if (!out || (!in && len > 0)) return TP_EINVAL;
    *out = NULL;
    if (!in) in = "";
    unsigned c = 0;
    uint64_t w = 0;
    char *a = NULL, *b = NULL;
    size_t al = len, bl = 0;
    int rc = 0;
    const char *src = in;
    if (!(flags & TP_MASK_RAW_ONLY) && memchr(in, '\\', len)) {
        rc = mask_pass(in, len, 1, &a, &al, &c, &w);
        if (rc != 0) return rc;
        src = a;
    }
    rc = mask_pass(src, al, 0, &b, &bl, &c, &w);
    free(a);
    if (rc != 0) return rc;
    /* A marker can shorten a line enough to reveal a match across it (a PEM
     * header that fits its window once a token inside it is masked), so raw
     * passes repeat while they find something, a bounded number of times. */
    for (int round = 0; round < 3 && c > 0; round++) {
        unsigned more = 0;
        char *r = NULL;
        size_t rl = 0;
        rc = mask_pass(b, bl, 0, &r, &rl, &more, &w);
        if (rc != 0) {
            free(b);
            return rc;
        }
        free(b);
        b = r;
        bl = rl;
        c += more;
        if (more == 0) break;
    }
    /* Only JSON that was valid must stay valid: other text keeps its text mask. */
    if ((flags & TP_MASK_JSON) && c > 0 && !json_valid(b, bl) && json_valid(in, len)) {
        char *d = NULL;
        size_t dl = 0;
        rc = mask_json_document(in, len, b, bl, &d, &dl, &c, &w);
        free(b);
        if (rc != 0) return rc;
        b = d;
        bl = dl;
    }
    *out = b;
    if (out_len) *out_len = bl;
    if (count) *count = c;
    if (work) *work = w;
    return 0;
}

int tp_mask_text(const char *in, size_t len, char **out, size_t *out_len, unsigned *count)
{
    return tp_mask_text_ex(in, len, 0, out, out_len, count, NULL);
}

/* Masks one NUL-terminated string field in place; adds to *total. */
static int mask_field(char **field, unsigned flags, unsigned *total)
{
    if (!field || !*field || !**field) return 0;
    char *m = NULL;
    unsigned c = 0;
    int rc = tp_mask_text_ex(*field, strlen(*field), flags, &m, NULL, &c, NULL);
    if (rc != 0) return rc;
    if (c == 0) {
        free(m);
        return 0;
    }
    free(*field);
    *field = m;
    *total += c;
    return 0;
}

int tp_mask_event(tp_event *ev, unsigned *count)
{
    if (!ev) return TP_EINVAL;
    unsigned total = 0;
    int rc = 0;
    if (ev->tool_call) {
        rc = mask_field(&ev->tool_call->arguments, TP_MASK_JSON, &total);
        if (rc == 0) rc = mask_field(&ev->tool_call->error, 0, &total);
    }
    if (rc == 0 && ev->prompt) rc = mask_field(&ev->prompt->text, 0, &total);
    if (rc == 0 && ev->diff) rc = mask_field(&ev->diff->patch, 0, &total);
    if (rc == 0) rc = mask_field(&ev->note, 0, &total);
    for (size_t k = 0; rc == 0 && k < ev->n_attributes; k++)
        if (ev->attributes[k]) rc = mask_field(&ev->attributes[k]->value, 0, &total);
    if (rc == 0 && ev->approval) rc = mask_field(&ev->approval->reason, 0, &total);
    if (rc == 0 && ev->link) rc = mask_field(&ev->link->reason, 0, &total);
    if (total > 0) {
        uint64_t sum = (uint64_t)(ev->has_redactions ? ev->redactions : 0) + total;
        ev->redactions = sum > UINT32_MAX ? UINT32_MAX : (uint32_t)sum;
        ev->has_redactions = 1;
    }
    if (count) *count = total;
    return rc;
}
