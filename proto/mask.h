/*
 * mask.h - the secret masker of libtraceproto.
 *
 * Responsibility: find secrets (cloud keys, tokens, private keys, JWTs,
 * passwords in URLs, high-entropy values assigned to secret-looking names)
 * in text and replace each masked span by "[REDACTED:<rule>]"; apply it to
 * every string field of an event, refusing events whose exact (indexed)
 * fields hold a secret. Both the shim (before an event leaves the process)
 * and the collector (again, before an event is stored) call it.
 *
 * Rules: one table (mask_rules.c, `rules[]`), one row per rule with its name, its
 * detector and true/false-positive fixtures; tp_mask_rules() exposes it so
 * that tests walk every row. Every detector is a hand-written forward scanner:
 * no regular expressions, no backtracking. Total work is linear in the input
 * (tp_mask_text_ex reports it so tests can assert it).
 *
 * JSON escapes: text is scanned twice. First an "unescaped view" in which
 * every JSON string escape (\" \\ \/ \b \f \n \r \t \uXXXX, surrogate pairs)
 * is decoded, so that a secret split by an escape ("ghp_\u0041...",
 * "postgres://u:p\u0040host") is still found; each view byte maps back to the
 * raw bytes it came from and the whole raw span (escapes included) is masked.
 * Then the raw text itself is scanned. One level of escaping is decoded;
 * deeper nesting is seen through the raw pass only. The two passes repeat
 * (at most three more times) while they find something, as a mask can
 * reveal a match to either pass.
 *
 * Failure contract: a function here that returns an error (TP_ENOMEM, or
 * TP_EINVAL for a refused event) may
 * leave an event partially masked. The caller must then withhold the event
 * (never forward or store it) and count it.
 *
 * Ownership: outputs are malloc'd and owned by the caller.
 * Threading: reentrant, no global mutable state.
 */
#ifndef AGENTTRAIL_MASK_H
#define AGENTTRAIL_MASK_H

#include <stddef.h>
#include <stdint.h>

#include "traceproto.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Flags for tp_mask_text_ex. */
enum {
    /* The text is JSON text (tool_call.arguments): valid JSON stays valid
     * (as tp_event_validate judges it). When masking the text as text would
     * break it (a private key block spanning two strings, or one without
     * END), the document is parsed and every string masked on its own
     * (object members whose name looks secret and whose string value looks
     * random are masked whole), then written back compactly; if that finds
     * nothing, the text is returned unchanged. A document that cannot be
     * rewritten faithfully (duplicate keys, integers past 64 bits) becomes
     * one JSON string holding its text-masked form. Text that is not valid
     * JSON to begin with is masked as text. */
    TP_MASK_JSON = 1 << 0,
    /* Skip the unescaped view (raw pass only). For tests and benchmarks. */
    TP_MASK_RAW_ONLY = 1 << 1,
};

/* One rule of the table. Fixtures are NULL-terminated lists: every string of
 * `positives` contains exactly one secret this rule masks; no rule masks any
 * string of `negatives`. */
typedef struct tp_mask_scan tp_mask_scan; /* internal scanner state */
typedef struct tp_mask_rule {
    const char *name;        /* as in "[REDACTED:<name>]" */
    const char *description; /* for people */
    const char *const *positives;
    const char *const *negatives;
    /* The detector (internal): when a secret starts at position i of the
     * scanned text, sets [*ms, *me) to the bytes to mask and returns 1. */
    int (*detect)(tp_mask_scan *sc, size_t i, size_t *ms, size_t *me);
    /* The bytes a match can start with (internal); NULL: any identifier byte. */
    const char *first;
    /* (internal) When not NULL, a match never starts right after a byte of
     * this class (the detector checks it too): the scanner skips the call. */
    int (*left)(int);
} tp_mask_rule;

/* The table. Returns the rows and their number in *n. Static storage. */
const tp_mask_rule *tp_mask_rules(size_t *n);

/* Masks `len` bytes at `in` (need not be NUL-terminated; may contain NUL).
 * On success *out is a malloc'd NUL-terminated copy with every secret
 * replaced (the caller frees it), *out_len its length (may be NULL), and
 * *count the number of masked spans (may be NULL). When nothing is found the
 * copy equals the input. Returns 0, TP_EINVAL (NULL in/out with len > 0),
 * TP_ENOMEM (nothing is returned: the caller withholds the text). */
int tp_mask_text(const char *in, size_t len, char **out, size_t *out_len, unsigned *count);

/* As tp_mask_text with TP_MASK_* `flags`; *work (may be NULL) receives the
 * number of scanner steps taken, which is O(len): tests assert it stays
 * under a small constant times len on adversarial input. */
int tp_mask_text_ex(const char *in, size_t len, unsigned flags, char **out, size_t *out_len,
                    unsigned *count, uint64_t *work);

/* How tp_mask_event treats a string field of the event. */
enum {
    TP_FIELD_MASK = 1,      /* secrets are masked, the event is kept */
    TP_FIELD_MASK_JSON = 2, /* masked with TP_MASK_JSON (tool_call.arguments) */
    TP_FIELD_EXACT = 3,     /* indexed and stored exactly: a secret refuses the event */
    TP_FIELD_COLLECTOR = 4, /* set by the collector, never from a client: not read */
};

/* One row of the field table: the field's path ("tool_call.name",
 * "attributes.key", "context_ids") and its TP_FIELD_* class. */
typedef struct tp_mask_field {
    const char *path;
    int cls;
} tp_mask_field;

/* The field table (mask_event.c), one row per string field of TraceEvent
 * and of the messages it holds. Static storage; *n receives the rows. */
const tp_mask_field *tp_mask_fields(size_t *n);

/* tp_mask_event, the masker applied to a whole event, is public: traceproto.h. */

#ifdef __cplusplus
}
#endif
#endif
