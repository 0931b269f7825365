/*
 * mask_detect.c - detectors of fixed-shape secrets other than vendor-prefixed
 * tokens (mask_tokens.c) and assignments (mask_assign.c): private key
 * blocks, AWS access key ids and secret access keys, GitHub and Slack
 * tokens, Slack webhook URLs, JWTs, Bearer and Basic credentials, passwords
 * in URLs, Azure SAS signatures.
 *
 * Owns: nothing. Invariants: see mask.c (linear time). Threading: reentrant.
 */
#include "mask_internal.h"

static int is_aws_body(int c)
{
    return is_upper(c) || is_digit(c);
}

/* AWS access key id: a 4-letter type prefix and 16 upper-case letters or
 * digits, a whole word. Keys ending in EXAMPLE are AWS's documentation keys. */
int tp_mask_detect_aws(scan *sc, size_t i, size_t *ms, size_t *me)
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
int tp_mask_detect_github(scan *sc, size_t i, size_t *ms, size_t *me)
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
int tp_mask_detect_slack(scan *sc, size_t i, size_t *ms, size_t *me)
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
int tp_mask_detect_private_key(scan *sc, size_t i, size_t *ms, size_t *me)
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
int tp_mask_detect_jwt(scan *sc, size_t i, size_t *ms, size_t *me)
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
int tp_mask_detect_bearer(scan *sc, size_t i, size_t *ms, size_t *me)
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
int tp_mask_detect_url_password(scan *sc, size_t i, size_t *ms, size_t *me)
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

/* A path segment made of words: letters (then digits), each capital
 * followed by a small letter ("Documents", "JohnSmith", "Project2024"). */
static int segment_is_words(const unsigned char *v, size_t len)
{
    while (len > 0 && is_digit(v[len - 1]))
        len--;
    if (len < 4) return 0;
    for (size_t k = 0; k < len; k++)
        if (!is_alpha(v[k]) || (is_upper(v[k]) && (k + 1 == len || !is_lower(v[k + 1])))) return 0;
    return 1;
}

static int segment_is_lowercase(const unsigned char *v, size_t len)
{
    size_t k = 0;
    while (k < len && is_lower(v[k]))
        k++;
    return len >= 3 && k == len;
}

/* Bare AWS secret access keys: exactly 40 of [A-Za-z0-9+/], a whole word.
 * Forty such bytes are also what a base64 fragment, a camelCase identifier
 * or a path can be, so the run must look like a random key: it mixes
 * upper, lower and digits, has >= 4.2 bits/byte of Shannon entropy (random
 * keys average 4.9; identifiers stay under 4), is no path (no leading,
 * trailing or doubled '/', no all-lowercase segment of 3+ letters between
 * slashes, not two segments made of words) and no alphabet run (at most 5
 * ascending neighbours). A run that goes on with '=' is base64 of something
 * else; AWS's documentation key (...EXAMPLEKEY) is no secret. */
static int aws_secret_looks_random(scan *sc, const unsigned char *v)
{
    int lower = 0, upper = 0, digit = 0, ascending = 0, slashes = 0, wordy = 0;
    size_t seg = 0; /* start of the current segment */
    for (size_t k = 0; k <= 40; k++) {
        STEP(sc);
        int c = k < 40 ? v[k] : '/';
        if (c == '/') {
            if (k < 40 && (k == 0 || k == 39 || v[k - 1] == '/')) return 0;
            slashes += k < 40;
            if (slashes > 0 && segment_is_lowercase(v + seg, k - seg)) return 0;
            wordy += segment_is_words(v + seg, k - seg);
            seg = k + 1;
            continue;
        }
        lower |= is_lower(c);
        upper |= is_upper(c);
        digit |= is_digit(c);
        if (k > 0 && c == v[k - 1] + 1) ascending++;
    }
    if (slashes > 0 && wordy >= 2) return 0;
    return lower && upper && digit && ascending <= 5 && tp_mask_shannon(sc, v, 40) >= 4.2;
}

int tp_mask_aws_secret_left(int c)
{
    return is_b64std(c) || c == '_' || c == '-' || c == '.';
}

DETECTOR(tp_mask_detect_aws_secret)
{
    STEP(sc);
    if (!starts_run(sc, i, tp_mask_aws_secret_left) || sc->n - i < 40 || !is_b64std(sc->s[i]) ||
        !is_b64std(sc->s[i + 39]) || (sc->n - i > 40 && is_b64std(sc->s[i + 40])))
        return 0; /* most runs are not 40 long: two bytes tell */
    size_t e = run_end(sc, i, is_b64std);
    if (e - i != 40) return 0;
    if (e < sc->n) {
        int c = sc->s[e];
        if (c == '=' || c == '_' || c == '-') return 0;
        if (c == '.' && e + 1 < sc->n && is_alnum(sc->s[e + 1])) return 0;
    }
    if (memcmp(sc->s + i + 30, "EXAMPLEKEY", 10) == 0) return 0; /* AWS's documentation key */
    if (!aws_secret_looks_random(sc, sc->s + i)) return 0;
    *ms = i;
    *me = e;
    return 1;
}

static int b64val(int c)
{
    if (is_upper(c)) return c - 'A';
    if (is_lower(c)) return c - 'a' + 26;
    if (is_digit(c)) return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Does the base64 text [b, e) decode (its first 192 bytes) to printable
 * text holding a ':' (user:password)? */
static int b64_is_user_pass(scan *sc, size_t b, size_t e)
{
    unsigned acc = 0, bits = 0, colon = 0, out = 0;
    for (size_t k = b; k < e && k < b + 192; k++) {
        STEP(sc);
        int v = b64val(sc->s[k]);
        if (v < 0) break; /* padding */
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            unsigned ch = (acc >> bits) & 0xff;
            if (ch < 0x20 || ch == 0x7f) return 0;
            colon |= ch == ':';
            out++;
        }
    }
    return colon && out >= 3;
}

/* Basic credentials: the word "basic" (any case), blanks, and base64 that
 * decodes to user:password, as in "Authorization: Basic dXNlcjpwYXNz". Only
 * the credential is masked. */
DETECTOR(tp_mask_detect_basic)
{
    STEP(sc);
    if (to_lower(sc->s[i]) != 'b' || !starts_run(sc, i, is_alpha) || !has_at_nocase(sc, i, "basic"))
        return 0;
    size_t t = skip_blanks(sc, i + 5, 8);
    if (t == i + 5) return 0;
    size_t e = run_end(sc, t, is_b64std);
    if (e - t < 8) return 0;
    for (int pad = 0; pad < 2 && e < sc->n && sc->s[e] == '='; pad++)
        e++;
    if (!b64_is_user_pass(sc, t, e)) return 0;
    *ms = t;
    *me = e;
    return 1;
}

static int is_hook_path(int c)
{
    return is_b64url(c) || c == '/';
}

/* Slack incoming-webhook and workflow URLs: hooks.slack.com/services/...,
 * /workflows/..., /triggers/... and 20+ path bytes. The path is masked. */
DETECTOR(tp_mask_detect_slack_webhook)
{
    static const char *const kinds[] = {"services/", "workflows/", "triggers/"};
    STEP(sc);
    if (sc->s[i] != 'h' || !starts_run(sc, i, is_ident) || !has_at(sc, i, "hooks.slack.com/"))
        return 0;
    for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
        size_t p = i + 16;
        if (!has_at(sc, p, kinds[k])) continue;
        p += strlen(kinds[k]);
        size_t e = run_end(sc, p, is_hook_path);
        if (e - p < 20) return 0;
        *ms = p;
        *me = e;
        return 1;
    }
    return 0;
}

static int is_sas_char(int c)
{
    return is_alnum(c) || c == '%' || c == '+' || c == '/' || c == '=';
}

static int sas_left(int c)
{
    return is_sas_char(c) || is_ident(c);
}

/* Azure shared access signatures: sig=<30+ of URL-encoded base64> that look
 * random, as in a SAS URL's query (?sv=...&sig=...). The value is masked. */
DETECTOR(tp_mask_detect_azure_sas)
{
    STEP(sc);
    if (sc->s[i] != 's' || !starts_run(sc, i, sas_left) || !has_at(sc, i, "sig=")) return 0;
    size_t e = run_end(sc, i + 4, is_sas_char);
    size_t len = e - (i + 4);
    if (len < 30 ||
        !tp_mask_high_entropy(sc, sc->s + i + 4, len > VALUE_WINDOW ? VALUE_WINDOW : len))
        return 0;
    *ms = i + 4;
    *me = e;
    return 1;
}
