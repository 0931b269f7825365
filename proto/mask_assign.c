/*
 * mask_assign.c - detectors of secrets given by name: NAME=value where the
 * value looks random (generic_secret), NAME_PASSWORD=value in the shell and
 * .env form (env_password), and passwords given on a command line (curl -u
 * user:pw, mysql -pPASS, --password=PASS: cli_password); the entropy
 * measure they use.
 *
 * Owns: nothing; word lists are static and read-only.
 *
 * Invariants (linear time, see mask.c): each trigger is at the start of an
 * identifier or option and looks at a bounded window; the command context
 * of cli_password is computed forward once per scan (scan.ctx_at), passing
 * over masked spans unread (tp_mask_context_skip) so that masking again sees
 * the same commands.
 *
 * Threading: reentrant; no state.
 */
#include "mask_internal.h"

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

/* Shannon entropy in bits per byte of v[0..n), n <= VALUE_WINDOW. */
double tp_mask_shannon(scan *sc, const unsigned char *v, size_t n)
{
    unsigned char seen[256] = {0};
    for (size_t k = 0; k < n; k++) {
        STEP(sc);
        seen[v[k]]++;
    }
    double h = log2_tab[n];
    for (size_t k = 0; k < n; k++) {
        unsigned char c = seen[v[k]];
        if (c) {
            h -= (double)c / (double)n * log2_tab[c];
            seen[v[k]] = 0;
        }
    }
    return h;
}

/* Is this value (an assigned secret candidate) random-looking? Judged on
 * its first VALUE_WINDOW bytes: at least 8 bytes; three character classes
 * (lower, upper, digit, other) and >= 3.0 bits/byte of Shannon entropy, or
 * two classes, >= 20 bytes and >= 3.5 bits/byte. */
int tp_mask_high_entropy(scan *sc, const unsigned char *v, size_t len)
{
    if (len < 8) return 0;
    size_t n = len < VALUE_WINDOW ? len : VALUE_WINDOW;
    int lower = 0, upper = 0, digit = 0, other = 0;
    for (size_t k = 0; k < n; k++) { /* steps counted by tp_mask_shannon's pass */
        int c = v[k];
        lower |= is_lower(c);
        upper |= is_upper(c);
        digit |= is_digit(c);
        other |= !is_alnum(c);
    }
    double h = tp_mask_shannon(sc, v, n);
    int classes = lower + upper + digit + other;
    if (classes >= 3 && h >= 3.0) return 1;
    return classes >= 2 && len >= 20 && h >= 3.5;
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

int tp_mask_name_is_secret(const unsigned char *name, size_t len)
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

/* End of the name of class `cls` at i, or 0 when it is longer than `max`
 * bytes (names are short: the scan of a trigger stays bounded). */
static size_t name_end(scan *sc, size_t i, int (*cls)(int), size_t max)
{
    size_t j = i;
    while (j < sc->n && cls(sc->s[j])) {
        STEP(sc);
        if (++j - i > max) return 0;
    }
    return j;
}

/* Generic assignments: NAME=value, NAME: value, "NAME": "value" (also with
 * escaped quotes) where NAME looks secret and value looks random. Only the
 * value is masked. A value that another rule recognises is left to it. */
DETECTOR(tp_mask_detect_generic)
{
    STEP(sc);
    if (!is_ident(sc->s[i]) || !starts_run(sc, i, is_ident)) return 0;
    size_t j = name_end(sc, i, is_ident, 128); /* no name is longer; no trigger inside */
    if (!j) return 0;
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
    if (!tp_mask_name_is_secret(sc->s + i, name_end - i)) return 0;
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
    if (!tp_mask_high_entropy(sc, sc->s + j, e - j > VALUE_WINDOW ? VALUE_WINDOW : e - j)) return 0;
    if (tp_mask_detect_specific(sc, j)) return 0;
    if (e - j > VALUE_WINDOW) e = run_end(sc, e, is_value_char);
    *ms = j;
    *me = e;
    return 1;
}

/* ---- env_password ------------------------------------------------------ */

static int is_env_name(int c)
{
    return is_upper(c) || is_digit(c) || c == '_';
}

/* Shell and .env names of passwords: ...PASSWORD, ...PASSWD, ..._PASS,
 * ..._PWD, ...PASSPHRASE, PASS (not PWD: that is the working directory). */
static int env_name_is_password(const unsigned char *s, size_t n)
{
    static const char *const suffixes[] = {"PASSWORD", "PASSWD", "_PASS", "_PWD", "PASSPHRASE"};
    for (size_t k = 0; k < sizeof suffixes / sizeof *suffixes; k++) {
        size_t l = strlen(suffixes[k]);
        if (n >= l && memcmp(s + n - l, suffixes[k], l) == 0) return 1;
    }
    return n == 4 && memcmp(s, "PASS", 4) == 0;
}

/* A value that stands for a password rather than being one: a variable, a
 * template, a mask, a marker, or a switch word (ALLOW_EMPTY_PASSWORD=yes). */
static int is_placeholder(const unsigned char *v, size_t len)
{
    static const char *const words[] = {"true", "false", "yes",   "no",       "none",     "null",
                                        "nil",  "empty", "unset", "required", "optional", "random"};
    if (len == 0 || strchr("$<{%*[", v[0])) return 1;
    for (size_t w = 0; w < sizeof words / sizeof *words; w++) {
        size_t l = strlen(words[w]);
        int same = l == len;
        for (size_t k = 0; same && k < l; k++)
            same = to_lower(v[k]) == words[w][k];
        if (same) return 1;
    }
    return 0;
}

/* A value from j: quoted ('...', "...", \"...\" up to the same quote, with
 * no control byte or marker inside) or a run of value bytes; at most 128
 * bytes. Sets [*vs, *ve). */
static int read_value(scan *sc, size_t j, size_t *vs, size_t *ve)
{
    if (j >= sc->n) return 0;
    size_t q = 0; /* length of the opening quote */
    int qc = 0;
    if (sc->s[j] == '"' || sc->s[j] == '\'') {
        q = 1;
        qc = sc->s[j];
    } else if (sc->s[j] == '\\' && j + 1 < sc->n && sc->s[j + 1] == '"') {
        q = 2;
        qc = '"';
    }
    if (q == 0) {
        size_t e = j;
        while (e < sc->n && is_value_char(sc->s[e]) && e - j < 128) {
            STEP(sc);
            e++;
        }
        *vs = j;
        *ve = e;
        return e > j;
    }
    for (size_t e = j + q; e < sc->n && e - j < 128; e++) {
        STEP(sc);
        int c = sc->s[e];
        /* Control bytes end no password; a marker inside means the quote
         * is another's (masking shortened the text in between). */
        if (c < 0x20 || c == 0x7f || (q == 1 && c == '\\')) return 0;
        if (c == '[' && has_at(sc, e, REDACTED_PREFIX)) return 0;
        if (c == qc && (q == 1 || sc->s[e - 1] == '\\')) {
            *vs = j + q;
            *ve = q == 2 ? e - 1 : e;
            return *ve > *vs;
        }
    }
    return 0;
}

/* DB_PASSWORD=..., PGPASSWORD=..., MYSQL_PWD=..., "SMTP_PASSWORD: ..." in
 * upper-case environment names: the value is a password whatever its
 * entropy (4+ bytes, not a placeholder). Lower-case names stay with the
 * generic rule, which asks for a random-looking value. */
DETECTOR(tp_mask_detect_env_password)
{
    STEP(sc);
    if (!is_upper(sc->s[i]) || !starts_run(sc, i, is_word)) return 0;
    size_t j = name_end(sc, i, is_env_name, 64);
    if (!j) return 0;
    if (j >= sc->n || is_word(sc->s[j]) || !env_name_is_password(sc->s + i, j - i)) return 0;
    if (sc->s[j] == '=')
        j++;
    else if (sc->s[j] == ':')
        j = skip_blanks(sc, j + 1, 8);
    else
        return 0;
    size_t vs, ve;
    if (j >= sc->n || sc->s[j] == '=' || !read_value(sc, j, &vs, &ve)) return 0;
    if (ve - vs < 4 || is_placeholder(sc->s + vs, ve - vs)) return 0;
    *ms = vs;
    *me = ve;
    return 1;
}

/* ---- cli_password ------------------------------------------------------ */

/* The command word at k (a word start): curl, or mysql and its tools. */
static int command_word(scan *sc, size_t k)
{
    size_t e = k;
    while (e < sc->n && (is_lower(sc->s[e]) || sc->s[e] == '-') && e - k < 16) {
        STEP(sc);
        e++;
    }
    if (e < sc->n && is_ident(sc->s[e])) return CMD_NONE;
    size_t len = e - k;
    if (len == 4 && memcmp(sc->s + k, "curl", 4) == 0) return CMD_CURL;
    if ((len >= 5 && memcmp(sc->s + k, "mysql", 5) == 0) ||
        (len >= 7 && memcmp(sc->s + k, "mariadb", 7) == 0))
        return CMD_MYSQL;
    return CMD_NONE;
}

/* Brings the command context forward to i: a command ends at a newline,
 * ';', '|' or '&'; the command word is the last curl/mysql word seen since.
 * Positions arrive in increasing order within one scan. */
static int command_at(scan *sc, size_t i)
{
    if (i < sc->ctx_at) return CMD_NONE;
    for (size_t k = sc->ctx_at; k < i; k++) {
        STEP(sc);
        int c = sc->s[k];
        if (c == '\n' || c == ';' || c == '|' || c == '&') {
            sc->ctx_cmd = CMD_NONE;
        } else if ((c == 'c' || c == 'm') &&
                   (k == 0 || k == sc->ctx_word || !is_ident(sc->s[k - 1]))) {
            int w = command_word(sc, k);
            if (w != CMD_NONE) sc->ctx_cmd = w;
        }
    }
    sc->ctx_at = i;
    return sc->ctx_cmd;
}

void tp_mask_context_skip(scan *sc, size_t ms, size_t me)
{
    if (ms > sc->ctx_at) command_at(sc, ms);
    if (me > sc->ctx_at) {
        sc->ctx_at = me;
        sc->ctx_word = me; /* after the marker's ']' */
    }
}

/* After an option name at k: '=', blanks, or a JSON/shell array step
 * (", " between two quoted words). Returns where its value starts, or k. */
static size_t option_gap(scan *sc, size_t k)
{
    if (k >= sc->n) return k;
    if (sc->s[k] == '=') return k + 1;
    size_t b = skip_blanks(sc, k, 8);
    if (b > k) return b;
    int q = sc->s[k];
    if ((q == '"' || q == '\'') && k + 1 < sc->n && sc->s[k + 1] == ',') {
        size_t t = skip_blanks(sc, k + 2, 8);
        if (t < sc->n && sc->s[t] == q) return t; /* the value is the next quoted word */
    }
    return k;
}

/* A password value at [vs, ve): 3+ bytes, not a placeholder, not an option. */
static int is_password_value(scan *sc, size_t vs, size_t ve)
{
    return ve - vs >= 3 && sc->s[vs] != '-' && !is_placeholder(sc->s + vs, ve - vs);
}

/* curl -u/--user user:password: the password after the first ':'. */
static int curl_user(scan *sc, size_t k, size_t *ms, size_t *me)
{
    size_t vs, ve;
    if (!read_value(sc, k, &vs, &ve)) return 0;
    size_t colon = vs;
    while (colon < ve && sc->s[colon] != ':') {
        STEP(sc);
        colon++;
    }
    if (colon == vs || colon >= ve || sc->s[vs] == '$') return 0;
    for (size_t u = vs; u < colon; u++)
        if (is_space(sc->s[u])) return 0; /* a user name has no blanks */
    if (!is_password_value(sc, colon + 1, ve)) return 0;
    int digits = 1;
    for (size_t d = colon + 1; d < ve && digits; d++)
        digits = is_digit(sc->s[d]); /* uid:gid, host:port */
    if (digits) return 0;
    *ms = colon + 1;
    *me = ve;
    return 1;
}

/* Passwords on a command line: --password=PASS / --password PASS /
 * --passwd=PASS anywhere; -pPASS (attached) in a mysql/mariadb command;
 * -u/--user user:PASS in a curl command. Only the password is masked. */
DETECTOR(tp_mask_detect_cli_password)
{
    STEP(sc);
    if (sc->s[i] != '-') return 0;
    if (i > 0 && i != sc->fresh) {
        int p = sc->s[i - 1];
        if (!is_space(p) && p != '"' && p != '\'') return 0;
    }
    int cmd = command_at(sc, i);
    size_t vs, ve, k;
    if (has_at(sc, i, "--password") || has_at(sc, i, "--passwd")) {
        k = i + (sc->s[i + 7] == 'o' ? 10 : 8); /* --password or --passwd */
        size_t v = option_gap(sc, k);
        if (v == k || !read_value(sc, v, &vs, &ve) || !is_password_value(sc, vs, ve)) return 0;
    } else if (cmd == CMD_MYSQL && has_at(sc, i, "-p") && i + 2 < sc->n &&
               !is_space(sc->s[i + 2])) {
        if (!read_value(sc, i + 2, &vs, &ve) || !is_password_value(sc, vs, ve)) return 0;
    } else if (cmd == CMD_CURL && (has_at(sc, i, "-u") || has_at(sc, i, "--user"))) {
        k = i + (sc->s[i + 1] == 'u' ? 2 : 6);
        if (sc->s[i + 1] == '-' && k < sc->n && is_ident(sc->s[k])) return 0; /* --user-agent */
        return curl_user(sc, option_gap(sc, k), ms, me);
    } else {
        return 0;
    }
    *ms = vs;
    *me = ve;
    return 1;
}
