/*
 * mask_internal.h - what the files of the secret masker share; not a public
 * header (mask.h is the contract).
 *
 * Files: mask.c (the scanning loop, the unescaped JSON view, spans, output,
 * JSON documents, tp_mask_text*), mask_rules.c (the rule table and its
 * fixtures), mask_detect.c (the detectors of fixed-shape tokens and
 * headers), mask_assign.c (the detectors of assignments: NAME=value,
 * command-line passwords, entropy), mask_event.c (the field table and
 * tp_mask_event).
 *
 * Owns: the scanner state (scan) and the byte classes every detector uses.
 * Invariants: see mask.c (linear time: every detector fires only at the left
 * boundary of a run of its own character set, or looks at a bounded window).
 * Threading: reentrant; no global mutable state here.
 */
#ifndef AGENTTRAIL_MASK_INTERNAL_H
#define AGENTTRAIL_MASK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mask.h"

/* The command a position belongs to, for options whose meaning depends on it
 * (curl -u user:pw, mysql -pPASS). */
enum { CMD_NONE = 0, CMD_CURL, CMD_MYSQL };

typedef struct tp_mask_scan {
    const unsigned char *s; /* the text being scanned (raw or view) */
    size_t n;
    uint64_t work;   /* scanner steps, for the linear-time bound */
    size_t fresh;    /* end of the last match: a run may start there, as it will
                        after the marker's ']' once masked */
    size_t ctx_at;   /* the command context is known up to here (mask_assign.c) */
    int ctx_cmd;     /* CMD_*: the command word of the current command */
    size_t ctx_word; /* end of the last masked span: a word may start there */
} scan;

#define STEP(sc) ((sc)->work++)
#define VALUE_WINDOW 64 /* bytes of an assigned value judged for entropy */
#define REDACTED_PREFIX "[REDACTED:"

static inline int is_digit(int c)
{
    return c >= '0' && c <= '9';
}
static inline int is_upper(int c)
{
    return c >= 'A' && c <= 'Z';
}
static inline int is_lower(int c)
{
    return c >= 'a' && c <= 'z';
}
static inline int is_alpha(int c)
{
    return is_upper(c) || is_lower(c);
}
static inline int is_alnum(int c)
{
    return is_alpha(c) || is_digit(c);
}
static inline int is_word(int c)
{
    return is_alnum(c) || c == '_';
}
static inline int is_b64url(int c)
{
    return is_alnum(c) || c == '_' || c == '-';
}
static inline int is_b64std(int c)
{
    return is_alnum(c) || c == '+' || c == '/';
}
static inline int is_ident(int c)
{
    return is_alnum(c) || c == '_' || c == '-' || c == '.';
}
static inline int is_hex_lower(int c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f');
}
static inline int is_space(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
static inline int is_blank(int c)
{
    return c == ' ' || c == '\t';
}
static inline int to_lower(int c)
{
    return is_upper(c) ? c - 'A' + 'a' : c;
}

/* Does the text at i start with `lit` (case-sensitive)? */
static inline int has_at(const scan *sc, size_t i, const char *lit)
{
    size_t k = strlen(lit);
    return i <= sc->n && sc->n - i >= k && memcmp(sc->s + i, lit, k) == 0;
}

/* Does the text at i start with `lit` (lowercase) in any case? */
static inline int has_at_nocase(const scan *sc, size_t i, const char *lit)
{
    size_t k = strlen(lit);
    if (i > sc->n || sc->n - i < k) return 0;
    for (size_t j = 0; j < k; j++)
        if (to_lower(sc->s[i + j]) != lit[j]) return 0;
    return 1;
}

/* Left boundary: position i is not preceded by a byte of class `cls`. */
static inline int starts_run(const scan *sc, size_t i, int (*cls)(int))
{
    return i == 0 || i == sc->fresh || !cls(sc->s[i - 1]);
}

/* End of the run of class `cls` from i. */
static inline size_t run_end(scan *sc, size_t i, int (*cls)(int))
{
    while (i < sc->n && cls(sc->s[i])) {
        STEP(sc);
        i++;
    }
    return i;
}

/* Blanks (space, tab) from i, at most `max`; returns the position after. */
static inline size_t skip_blanks(scan *sc, size_t i, size_t max)
{
    for (size_t b = 0; b < max && i < sc->n && is_blank(sc->s[i]); b++, i++)
        STEP(sc);
    return i;
}

/* Detectors: when a secret starts at position i, set [*ms, *me) to the bytes
 * to mask and return 1 (mask_detect.c, mask_assign.c). */
#define DETECTOR(name) int name(scan *sc, size_t i, size_t *ms, size_t *me)
DETECTOR(tp_mask_detect_private_key);
DETECTOR(tp_mask_detect_aws);
DETECTOR(tp_mask_detect_aws_secret);
DETECTOR(tp_mask_detect_github);
DETECTOR(tp_mask_detect_gitlab);
DETECTOR(tp_mask_detect_slack);
DETECTOR(tp_mask_detect_slack_webhook);
DETECTOR(tp_mask_detect_stripe);
DETECTOR(tp_mask_detect_anthropic);
DETECTOR(tp_mask_detect_openai);
DETECTOR(tp_mask_detect_npm);
DETECTOR(tp_mask_detect_huggingface);
DETECTOR(tp_mask_detect_google);
DETECTOR(tp_mask_detect_sendgrid);
DETECTOR(tp_mask_detect_shopify);
DETECTOR(tp_mask_detect_digitalocean);
DETECTOR(tp_mask_detect_twilio);
DETECTOR(tp_mask_detect_jwt);
DETECTOR(tp_mask_detect_bearer);
DETECTOR(tp_mask_detect_basic);
DETECTOR(tp_mask_detect_url_password);
DETECTOR(tp_mask_detect_azure_sas);
DETECTOR(tp_mask_detect_env_password);
DETECTOR(tp_mask_detect_cli_password);
DETECTOR(tp_mask_detect_generic);

/* The left boundary of a bare AWS secret key: no [A-Za-z0-9+/_.-] before. */
int tp_mask_aws_secret_left(int c);

/* Passes the command context (cli_password) over the masked span [ms, me):
 * its bytes are read as the marker will be, which ends no command and names
 * none, so a second mask sees the same commands (mask_assign.c). */
void tp_mask_context_skip(scan *sc, size_t ms, size_t me);

/* Does any rule but the generic one (and the command-line rule, which needs
 * positions in order) match at i? (mask_rules.c) */
int tp_mask_detect_specific(scan *sc, size_t i);

/* Shannon entropy in bits per byte of v[0..n), n <= VALUE_WINDOW. */
double tp_mask_shannon(scan *sc, const unsigned char *v, size_t n);
/* Is this value random-looking? (mask_assign.c; see there for the measure) */
int tp_mask_high_entropy(scan *sc, const unsigned char *v, size_t len);
/* Does this identifier name a secret (api_key, DB_PASSWORD, clientSecret)? */
int tp_mask_name_is_secret(const unsigned char *name, size_t len);

/* tp_mask_text_ex that also reports the rule of the first masked span
 * (*first_rule: a row of tp_mask_rules(), NULL when nothing was masked),
 * and makes no copy when nothing is found: *out is then NULL (*count 0). */
int tp_mask_text_first(const char *in, size_t len, unsigned flags, char **out, size_t *out_len,
                       unsigned *count, uint64_t *work, const tp_mask_rule **first_rule);

#endif
