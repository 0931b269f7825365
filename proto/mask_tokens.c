/*
 * mask_tokens.c - detectors of vendor tokens with a fixed prefix: Stripe,
 * OpenAI, Anthropic, GitLab, npm, Hugging Face, Google API keys, SendGrid,
 * Shopify, DigitalOcean, Twilio.
 *
 * Responsibility: one shape table per vendor (prefixes, body character
 * class, body length, character classes the body must mix) and one detector
 * that reads any shape. The table rows are what the vendors document today;
 * lengths are left open upwards where vendors have grown them before.
 *
 * Owns: nothing; the shapes are static and read-only.
 *
 * Invariants (linear time, see mask.c): a shape fires only where no byte of
 * [A-Za-z0-9_-] precedes it, and every body class is a subset of that set,
 * so a body run is scanned once by each rule. Prefixes start with a letter
 * and contain '_' or '-' or are two capitals (Twilio, a whole word).
 *
 * Threading: reentrant; no state.
 */
#include "mask_internal.h"

static int is_hex(int c)
{
    return is_hex_lower(c) || (c >= 'A' && c <= 'F');
}

/* Classes a body must hold at least one byte of. */
enum { NEED_LOWER = 1, NEED_UPPER = 2, NEED_DIGIT = 4, NEED_LETTER = 8 };

typedef struct token_shape {
    const char *const *prefixes; /* NULL-terminated */
    int (*body)(int);            /* the body's character class */
    size_t min, max;             /* body length; max 0: open */
    unsigned need;               /* NEED_* */
} token_shape;

#define PREFIXES(...)                                                                              \
    (const char *const[])                                                                          \
    {                                                                                              \
        __VA_ARGS__, NULL                                                                          \
    }

static int body_mixes(scan *sc, size_t b, size_t e, unsigned need)
{
    unsigned have = 0;
    for (size_t k = b; k < e && k < b + VALUE_WINDOW && (have & need) != need; k++) {
        STEP(sc);
        int c = sc->s[k];
        have |= is_lower(c) ? NEED_LOWER | NEED_LETTER : 0;
        have |= is_upper(c) ? NEED_UPPER | NEED_LETTER : 0;
        have |= is_digit(c) ? NEED_DIGIT : 0;
    }
    return (have & need) == need;
}

/* Tries each shape at i; the first whose prefix is there decides. */
static int detect_shapes(scan *sc, size_t i, const token_shape *shapes, size_t nshapes, size_t *ms,
                         size_t *me)
{
    STEP(sc);
    if (!starts_run(sc, i, is_b64url)) return 0;
    for (size_t t = 0; t < nshapes; t++) {
        const token_shape *sh = &shapes[t];
        for (const char *const *p = sh->prefixes; *p; p++) {
            STEP(sc);
            if (!has_at(sc, i, *p)) continue;
            size_t b = i + strlen(*p), e = run_end(sc, b, sh->body);
            if (e - b < sh->min || (sh->max && e - b > sh->max)) break;
            /* A whole token: no letter or digit runs on past the body. */
            if (e < sc->n && is_b64url(sc->s[e]) && sh->body != is_b64url) break;
            if (!body_mixes(sc, b, e, sh->need)) break;
            *ms = i;
            *me = e;
            return 1;
        }
    }
    return 0;
}

#define SHAPES(name, ...)                                                                          \
    static const token_shape name##_shapes[] = {__VA_ARGS__};                                      \
    DETECTOR(tp_mask_detect_##name)                                                                \
    {                                                                                              \
        return detect_shapes(sc, i, name##_shapes, sizeof name##_shapes / sizeof *name##_shapes,   \
                             ms, me);                                                              \
    }

/* Stripe secret and restricted keys (sk_live_, rk_live_, and test mode). The
 * publishable pk_ keys are public by design. */
SHAPES(stripe, {PREFIXES("sk_live_", "sk_test_", "rk_live_", "rk_test_"), is_alnum, 20, 0,
                NEED_DIGIT | NEED_LETTER})

/* Anthropic API and admin keys: sk-ant-api03-..., sk-ant-admin01-... */
SHAPES(anthropic, {PREFIXES("sk-ant-"), is_b64url, 32, 0, NEED_DIGIT | NEED_LETTER})

/* OpenAI: project, service-account and admin keys (sk-proj-, sk-svcacct-,
 * sk-admin-), then the classic sk- + 32..64 letters and digits mixing case
 * and digits (48 today, T3BlbkFJ in the middle). */
SHAPES(openai,
       {PREFIXES("sk-proj-", "sk-svcacct-", "sk-admin-"), is_b64url, 32, 0,
        NEED_DIGIT | NEED_LETTER},
       {PREFIXES("sk-"), is_alnum, 32, 64, NEED_LOWER | NEED_UPPER | NEED_DIGIT})

/* GitLab personal, deploy, runner, trigger, feed, OAuth-app, CI-build and
 * incoming-mail tokens. */
SHAPES(gitlab,
       {PREFIXES("glpat-", "gldt-", "glrt-", "glptt-", "glft-", "glsoat-", "glcbt-", "glimt-"),
        is_b64url, 20, 0, NEED_LETTER})

/* npm access tokens: npm_ + 36 letters and digits. */
SHAPES(npm, {PREFIXES("npm_"), is_alnum, 36, 36, NEED_LETTER})

/* Hugging Face user access tokens: hf_ + 34 letters (30..40 accepted, mixed
 * case); hf_hub_download and other identifiers are words, not tokens. */
SHAPES(huggingface, {PREFIXES("hf_"), is_alnum, 30, 40, NEED_LOWER | NEED_UPPER})

/* Google API keys: AIza + 35 of [A-Za-z0-9_-], 39 in all. */
SHAPES(google, {PREFIXES("AIza"), is_b64url, 35, 35, 0})

/* Shopify admin API, shared-secret, custom-app and partner tokens: 32 hex. */
SHAPES(shopify, {PREFIXES("shpat_", "shpss_", "shpca_", "shppa_"), is_hex, 32, 32, 0})

/* DigitalOcean personal, OAuth and refresh tokens: 64 lowercase hex. */
SHAPES(digitalocean, {PREFIXES("dop_v1_", "doo_v1_", "dor_v1_"), is_hex_lower, 64, 64, 0})

/* Twilio API key (SK) and account (AC) SIDs: two capitals and 32 lowercase
 * hex, a whole word. */
SHAPES(twilio, {PREFIXES("SK", "AC"), is_hex_lower, 32, 32, NEED_LETTER})

/* SendGrid API keys: SG.<22 of [A-Za-z0-9_-]>.<43 of them> (16..32 and
 * 30..64 accepted). */
DETECTOR(tp_mask_detect_sendgrid)
{
    STEP(sc);
    if (sc->s[i] != 'S' || !has_at(sc, i, "SG.") || !starts_run(sc, i, is_b64url)) return 0;
    size_t a = run_end(sc, i + 3, is_b64url);
    if (a - (i + 3) < 16 || a - (i + 3) > 32 || a >= sc->n || sc->s[a] != '.') return 0;
    size_t b = run_end(sc, a + 1, is_b64url);
    if (b - (a + 1) < 30 || b - (a + 1) > 64) return 0;
    *ms = i;
    *me = b;
    return 1;
}
