/*
 * mask.c - the secret masker (see mask.h for the contract).
 *
 * Responsibility: the scanning loop that asks every rule of the table
 * (mask_rules.c) at each position, the unescaped JSON view and its map back
 * to raw bytes, the spans and the output, and JSON documents that must stay
 * valid (TP_MASK_JSON). Detectors live in mask_detect.c, mask_tokens.c and
 * mask_assign.c; the fields of an event in mask_event.c.
 *
 * Owns: nothing beyond each call.
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
#include "json_alloc.h"
#include "mask_internal.h"

#include <assert.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- spans ------------------------------------------------------------ */

typedef struct span {
    size_t start, end; /* [start, end) in raw bytes */
    unsigned rule;
} span;

typedef struct spans {
    span *v;
    size_t n, cap;
    unsigned count; /* detections (merged spans still count each) */
} spans;

static int spans_add(spans *sp, size_t start, size_t end, unsigned rule)
{
    sp->count++;
    if (sp->n > 0 && start < sp->v[sp->n - 1].end) {
        /* Two view matches inside one escape sequence: merge. */
        if (end > sp->v[sp->n - 1].end) sp->v[sp->n - 1].end = end;
        return 0;
    }
    if (at_grow((void **)&sp->v, &sp->cap, sp->n + 1, sizeof *sp->v, 8)) return TP_ENOMEM;
    sp->v[sp->n++] = (span){start, end, rule};
    return 0;
}

/* Which rules may start at a byte: every detector's first test is on the
 * byte itself, so most positions need no call at all. Filled once. */
static uint64_t first[256];
static uint64_t not_after[256];   /* rules that cannot start right after this byte */
static const tp_mask_rule *rules; /* the table (mask_rules.c) */
static size_t nrules;
static pthread_once_t first_once = PTHREAD_ONCE_INIT;

static void first_init(void)
{
    rules = tp_mask_rules(&nrules);
    assert(nrules <= 64 && rules[nrules - 1].detect == tp_mask_detect_generic);
    for (int c = 0; c < 256; c++)
        for (unsigned r = 0; r < nrules; r++) {
            const char *f = rules[r].first;
            if (f ? (c && strchr(f, c) != NULL) : is_ident(c)) first[c] |= UINT64_C(1) << r;
            if (rules[r].left && rules[r].left(c)) not_after[c] |= UINT64_C(1) << r;
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
        unsigned hit = (unsigned)nrules;
        uint64_t may = first[sc->s[i]];
        /* Most rules start only at the left boundary of a run. */
        if (i > 0 && i != sc->fresh) may &= ~not_after[sc->s[i - 1]];
        while (may && hit == nrules) {
            unsigned r = (unsigned)__builtin_ctzll(may);
            may &= may - 1;
            if (rules[r].detect(sc, i, &ms, &me)) hit = r;
        }
        if (hit == nrules) {
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
        tp_mask_context_skip(sc, ms, me);
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

/* One pass: over the unescaped view (`use_view`) or the raw text. *out is
 * the masked copy, or NULL when the pass found nothing. */
static int mask_pass(const char *in, size_t len, int use_view, char **out, size_t *out_len,
                     unsigned *count, uint64_t *work, const tp_mask_rule **first_rule)
{
    spans sp = {0};
    unsigned char *view = NULL;
    size_t *map = NULL, vlen = len;
    int rc = 0;
    if (use_view) {
        rc = view_build((const unsigned char *)in, len, &view, &map, &vlen);
        if (rc != 0) return rc;
    }
    scan sc = {.s = use_view ? view : (const unsigned char *)in, .n = vlen};
    rc = scan_all(&sc, map, len, &sp);
    if (rc == 0 && sp.n > 0 && first_rule && !*first_rule) *first_rule = &rules[sp.v[0].rule];
    *work += sc.work + (use_view ? len : 0);
    free(view);
    free(map);
    *out = NULL; /* nothing found: no copy */
    if (rc == 0 && sp.n > 0) {
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
        scan sc = {.s = (const unsigned char *)key, .n = strlen(key)};
        if (json_is_string(val) && tp_mask_name_is_secret(sc.s, sc.n) &&
            strncmp(json_string_value(val), REDACTED_PREFIX, strlen(REDACTED_PREFIX)) != 0 &&
            tp_mask_high_entropy(&sc, (const unsigned char *)json_string_value(val),
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

/* Valid JSON text as tp_event_validate judges tool_call.arguments: 1, 0, or -1 when jansson
 * ran out of memory (json_alloc.h). */
static int json_valid(const char *text, size_t len)
{
    json_error_t e;
    tp_json_watch();
    json_t *j =
        json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &e);
    json_decref(j);
    return tp_json_failed() ? -1 : j != NULL;
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
    tp_json_watch();
    json_t *root =
        json_loadb(in, len, JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &e);
    if (tp_json_failed()) {
        json_decref(root);
        return TP_ENOMEM;
    }
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

/* One round: the unescaped view (unless `flags` say raw only, or there is no
 * escape), then the raw text of its result. *out is the masked copy, or NULL
 * when the round found nothing. */
static int mask_round(const char *in, size_t len, unsigned flags, char **out, size_t *out_len,
                      unsigned *count, uint64_t *work, const tp_mask_rule **first_rule)
{
    char *a = NULL, *b = NULL;
    size_t al = len, bl = 0;
    int rc = 0;
    *out = NULL;
    if (!(flags & TP_MASK_RAW_ONLY) && memchr(in, '\\', len)) {
        rc = mask_pass(in, len, 1, &a, &al, count, work, first_rule);
        if (rc != 0) return rc;
        if (!a) al = len;
    }
    rc = mask_pass(a ? a : in, al, 0, &b, &bl, count, work, first_rule);
    if (rc != 0) {
        free(a);
        return rc;
    }
    if (!b) { /* the raw pass found nothing: the view pass's result stands */
        b = a;
        bl = al;
    } else {
        free(a);
    }
    *out = b;
    *out_len = b ? bl : len;
    return 0;
}

int tp_mask_text_first(const char *in, size_t len, unsigned flags, char **out, size_t *out_len,
                       unsigned *count, uint64_t *work, const tp_mask_rule **first_rule)
{
    if (first_rule) *first_rule = NULL;
    if (!out || (!in && len > 0)) return TP_EINVAL;
    *out = NULL;
    if (!in) in = "";
    unsigned c = 0;
    uint64_t w = 0;
    char *b = NULL;
    size_t bl = 0;
    int rc = mask_round(in, len, flags, &b, &bl, &c, &w, first_rule);
    if (rc != 0) return rc;
    /* A marker can shorten a line enough to reveal a match across it (a PEM
     * header that fits its window once a token inside it is masked), and a
     * span the raw pass masks can hold what hid a match from the view pass
     * (an '&' ending a curl command), so rounds repeat while they find
     * something, a bounded number of times. */
    for (int round = 0; round < 3 && b; round++) {
        unsigned more = 0;
        char *r = NULL;
        size_t rl = 0;
        rc = mask_round(b, bl, flags, &r, &rl, &more, &w, first_rule);
        if (rc != 0) {
            free(b);
            return rc;
        }
        if (!r) break;
        free(b);
        b = r;
        bl = rl;
        c += more;
    }
    /* Only JSON that was valid must stay valid: other text keeps its text mask. */
    int vb = b && (flags & TP_MASK_JSON) ? json_valid(b, bl) : 1;
    int vin = vb == 0 ? json_valid(in, len) : 0;
    if (vb < 0 || vin < 0) {
        free(b);
        return TP_ENOMEM;
    }
    if (vb == 0 && vin == 1) {
        char *d = NULL;
        size_t dl = 0;
        rc = mask_json_document(in, len, b, bl, &d, &dl, &c, &w);
        free(b);
        if (rc != 0) return rc;
        b = d;
        bl = dl;
    }
    *out = b;
    if (out_len) *out_len = b ? bl : len;
    if (count) *count = c;
    if (work) *work = w;
    return 0;
}

int tp_mask_text_ex(const char *in, size_t len, unsigned flags, char **out, size_t *out_len,
                    unsigned *count, uint64_t *work)
{
    int rc = tp_mask_text_first(in, len, flags, out, out_len, count, work, NULL);
    if (rc == 0 && !*out) { /* nothing found: the contract is a copy */
        *out = malloc(len + 1);
        if (!*out) return TP_ENOMEM;
        if (len) memcpy(*out, in, len);
        (*out)[len] = 0;
    }
    return rc;
}
int tp_mask_text(const char *in, size_t len, char **out, size_t *out_len, unsigned *count)
{
    return tp_mask_text_ex(in, len, 0, out, out_len, count, NULL);
}
