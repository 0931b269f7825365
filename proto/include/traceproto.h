/*
 * traceproto.h - the trace event shared by every part of AgentTrail.
 *
 * Owns: the in-memory event (the protobuf-c struct generated from
 * proto/trace.proto), its validation against the rules of EVENTS.md, the
 * canonical JSON form (parse and write), the framing of Batch and Ack on the
 * wire, id generation and the prompt HMAC.
 *
 * Every function here is reentrant and thread-safe unless it says otherwise;
 * none keeps global state apart from the random source of OpenSSL.
 *
 * Errors: functions return 0 on success or a negative TP_E* code. Functions
 * that judge input also fill an at_error with the field (where) and the problem (what), in
 * the words users see: "field: problem" (see at_error_format).
 *
 * Surface: this is libtraceproto's one public header (proto/include/). It includes the
 * generated trace.pb-c.h, whose folder is public for that reason only; every other header of
 * proto/ is private (CMake target traceproto_internal adds proto/ for the parts that use
 * one on purpose).
 *
 * Memory: an event (tp_event) is a protobuf-c message whose every pointer
 * was allocated with malloc; tp_event_destroy frees it all. Functions that
 * return a new event give the caller ownership.
 */
#ifndef AGENTTRAIL_TRACEPROTO_H
#define AGENTTRAIL_TRACEPROTO_H

#include <stddef.h>
#include <stdint.h>

#include "atcommon.h"
#include "trace.pb-c.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef Agenttrail__V1__TraceEvent tp_event;

/* Error codes. Numbered explicitly; never renumbered. libtraceproto's block is -1..-99
 * (the registry of disjoint blocks per library is in atcommon.h): a code in it is a TP_E*. */
enum {
    TP_OK = 0,
    TP_EINVAL = -1,  /* the input breaks a rule of EVENTS.md (see at_error) */
    TP_ENOMEM = -2,  /* out of memory */
    TP_ETOOBIG = -3, /* a configured limit was exceeded (see at_error) */
    TP_EFRAME = -4,  /* bad framing: magic, version or truncated bytes */
    TP_EDECODE = -5, /* protobuf bytes that do not decode */
    TP_EKEY = -6,    /* HMAC key file missing, unreadable or malformed */
    TP_EIO = -7,     /* read or write error (errno is kept) */
    TP_ECRYPTO = -8, /* OpenSSL failed */
};

/* A short English description of a TP_E* code; never NULL. */
const char *tp_strerror(int code);

/* What was wrong and where: the base layer's at_error (atcommon.h). Here `where` is the JSON
 * path of the field ("tool_call.name", "attributes.env", "context_ids[3]"), a protobuf field
 * unknown to the schema ("field 99", "usage: field 99"), or "-" for the line as a whole (never
 * empty, so at_error_format always writes "where: what"); `what` is a sentence fragment
 * ("required, missing"). */

/* Limits, all configurable. Defaults are those of EVENTS.md. */
typedef struct tp_limits {
    size_t event_max;        /* encoded event and JSON line, bytes: 1 MiB */
    size_t patch_max;        /* diff.patch: 1 MiB */
    size_t arguments_max;    /* tool_call.arguments: 256 KiB */
    size_t string_max;       /* any other string: 64 KiB */
    size_t context_ids_max;  /* entries: 1024 */
    size_t attributes_max;   /* entries: 64 */
    size_t batch_max_bytes;  /* framed batch: 16 MiB */
    size_t batch_max_events; /* events per batch: 4096 */
} tp_limits;

/* The defaults of EVENTS.md. */
tp_limits tp_limits_default(void);

/* Values that are keys of the store's indexes (by_workflow, by_dri,
 * by_incident) have fixed limits, well under LMDB's key limit of 511 bytes so
 * that every accepted value is indexed: workflow and link.workflow 1-128
 * bytes, dri 1-256, incident 1-256. These values also may not start or end
 * with whitespace (nor be only whitespace): "maria@x " would be another key
 * than "maria@x" to every query. */
#define TP_WORKFLOW_MAX 128
#define TP_DRI_MAX 256
#define TP_INCIDENT_MAX 256

/* The attribute by which an event names the log it is meant for (a store's log origin,
 * ts_log_origin): trace-query link sets it to the origin of the store it resolved the
 * link in, and a collector writing another log refuses the event (collector/server.c).
 * It stays in the stored event as audit information. */
#define TP_ATTR_EXPECT_LOG "agenttrail.expect_log"

/* ---- the event ------------------------------------------------------- */

/* A new empty event (all fields absent). NULL when out of memory. */
tp_event *tp_event_new(void);

/* Frees an event and everything it points to; accepts NULL and *ev == NULL;
 * sets *ev to NULL. */
void tp_event_destroy(tp_event **ev);

/* A deep copy; NULL when out of memory. */
tp_event *tp_event_clone(const tp_event *ev);

/* Checks every rule of EVENTS.md that an event must satisfy once ids and
 * time are filled in (the shim's job): ids present with the right sizes and
 * not all zero (event_id included: tp_id_event never makes it), kind known,
 * required fields, per-kind requirements, enums in range, strings non-empty
 * valid UTF-8 within limits, index keys (workflow, dri, incident) within
 * their limits and without leading/trailing whitespace,
 * tool_call.arguments valid JSON text, attribute keys unique, span not its
 * own parent, integers <= 2^63-1, usage.cached_tokens <= usage.input_tokens
 * (input_tokens counts cached tokens).
 * `stored` is allowed (it is how the store hands events back).
 * Returns 0 or TP_EINVAL / TP_ETOOBIG with `err` filled. */
int tp_event_validate(const tp_event *ev, const tp_limits *lim, at_error *err);

/* ---- JSON ------------------------------------------------------------ */

/* Flags for tp_event_from_json. */
enum {
    TP_JSON_LENIENT = 1 << 0,     /* unknown top-level fields: warning, dropped */
    TP_JSON_KEEP_STORED = 1 << 1, /* keep `stored` (trusted input only: the store's own
                                     JSON); without it `stored` is checked and dropped */
};

/* Parses one JSON line (no trailing newline needed; `len` bytes, need not be
 * NUL-terminated) into a new event. Checks the JSON-level rules: one object,
 * UTF-8, no duplicate keys, known fields (any key order and whitespace
 * between tokens are accepted on input; output is canonical), types, hex ids, enum names, RFC 3339
 * `time` (converted to time_unix_nano), empty values refused, limits. It does not require ids or
 * time (the shim fills them) nor per-kind fields: call tp_event_validate
 * after filling. `stored` on input is checked and dropped (no client forges it) unless
 * TP_JSON_KEEP_STORED.
 * `warn`, if not NULL, receives a warning (unknown field under
 * TP_JSON_LENIENT; warn->where[0] == 0 when none).
 * Returns 0 and *out, or a TP_E* code with `err` filled. */
int tp_event_from_json(const char *line, size_t len, const tp_limits *lim, int flags,
                       tp_event **out, at_error *err, at_error *warn);

/* Writes the canonical JSON of an event (EVENTS.md: table order, no spaces,
 * integers as numbers, absent fields omitted, `stored` last when present)
 * without a trailing newline. Returns a malloc'd NUL-terminated string the
 * caller frees, and its length in *len if `len` is not NULL; NULL when out
 * of memory. */
char *tp_event_to_json(const tp_event *ev, size_t *len);

/* ---- binary ---------------------------------------------------------- */

/* Packs an event to protobuf bytes: malloc'd buffer, caller frees.
 * Returns 0, TP_ENOMEM. */
int tp_event_pack(const tp_event *ev, uint8_t **buf, size_t *len);

/* Unpacks untrusted protobuf bytes into a new event and validates it with
 * tp_event_validate; fields unknown to the schema, at any depth, are refused
 * (TP_EDECODE: they would be stored without being read or masked); the bytes must also be canonical
 * (exactly what tp_event_pack writes for the decoded event), so what is stored and hashed is what
 * every reader sees. Never reads outside [buf, buf+len). Returns 0 and *out, TP_ETOOBIG, TP_EDECODE
 * or TP_EINVAL with `err` filled. */
int tp_event_unpack(const uint8_t *buf, size_t len, const tp_limits *lim, tp_event **out,
                    at_error *err);

/* ---- batches and acks on the wire (docs/wire-format.md) -------------- */

#define TP_BATCH_MAGIC "ATB"
#define TP_ACK_MAGIC "ATA"
#define TP_WIRE_VERSION 1

typedef Agenttrail__V1__Batch tp_batch;
typedef Agenttrail__V1__Ack tp_ack;

/* Frames a batch: magic, version, protobuf Batch (schema_version, shim_id,
 * seq, the events, event_count). `events[i]` are packed events
 * (tp_event_pack), borrowed. Returns 0 with a malloc'd *buf, or TP_ENOMEM. */
int tp_batch_encode(const char *shim_id, uint64_t seq, const uint8_t *const *events,
                    const size_t *event_lens, size_t n, uint8_t **buf, size_t *len);

/* Checks the frame (size limit, magic, version) and decodes the Batch
 * without decoding its events (see tp_event_unpack for each); then the
 * batch rules: schema_version current, seq present, event_count equal to
 * the number of events (a truncated frame is refused), at most
 * batch_max_events, no field unknown to the Batch schema. `lim` NULL means tp_limits_default().
 * Returns 0 and a new batch (free with tp_batch_destroy), or TP_ETOOBIG, TP_EFRAME, TP_EDECODE with
 * `err` filled. */
int tp_batch_decode(const uint8_t *buf, size_t len, const tp_limits *lim, tp_batch **out,
                    at_error *err);
void tp_batch_destroy(tp_batch **b);

/* Frames an ack. Returns 0 with a malloc'd *buf, or TP_ENOMEM. */
int tp_ack_encode(const tp_ack *ack, uint8_t **buf, size_t *len);
/* Decodes an ack frame; 0 and a new ack (tp_ack_destroy), or TP_EFRAME,
 * TP_EDECODE. */
int tp_ack_decode(const uint8_t *buf, size_t len, tp_ack **out, at_error *err);
void tp_ack_destroy(tp_ack **a);

/* ---- ids, time, names ------------------------------------------------ */

/* Fills 16 bytes: 48-bit big-endian Unix milliseconds then 80 random bits
 * (time-ordered, like UUIDv7 without version bits). 0 or TP_ECRYPTO. */
int tp_id_event(uint8_t out[16]);
/* Fills n random bytes, never all zero. 0 or TP_ECRYPTO. */
int tp_id_random(uint8_t *out, size_t n);

/* Hex: at_hex_encode / at_hex_decode of atcommon.h (lowercase, the form of ids in JSON). */

/* Nanoseconds since the Unix epoch, CLOCK_REALTIME. */
uint64_t tp_now_unix_nano(void);
/* Parses RFC 3339 ("2024-06-01T00:00:00.5Z", offsets allowed) to Unix ns.
 * 0 or TP_EINVAL. */
int tp_time_parse_rfc3339(const char *s, uint64_t *out);
/* Formats Unix ns as RFC 3339 UTC with 9 fractional digits; out >= 32. */
void tp_time_format_rfc3339(uint64_t unix_nano, char *out, size_t outlen);

/* Enum names as in JSON ("tool_call", "accepted", ...); NULL if out of
 * range. Parse functions return the value or -1. */
const char *tp_kind_name(int kind);
int tp_kind_parse(const char *name);
const char *tp_decision_name(int decision);
int tp_decision_parse(const char *name);
const char *tp_tool_status_name(int status);
int tp_tool_status_parse(const char *name);
const char *tp_approval_decision_name(int decision);
int tp_approval_decision_parse(const char *name);

/* ---- prompt HMAC ----------------------------------------------------- */

#define TP_HMAC_KEY_LEN 32

/* Reads the organisation key file: exactly 64 hex digits, optionally one
 * trailing newline. Returns 0, or TP_EKEY with `err` saying what is wrong
 * and how to make a key. */
int tp_hmac_key_load(const char *path, uint8_t key[TP_HMAC_KEY_LEN], at_error *err);

/* HMAC-SHA256(key, msg) into out[32]. 0 or TP_ECRYPTO. */
int tp_hmac_sha256(const uint8_t *key, size_t keylen, const uint8_t *msg, size_t msglen,
                   uint8_t out[32]);

/* What the shim does to an event before it leaves the process: fills a
 * missing event_id (tp_id_event), trace_id and span_id (random), and
 * time_unix_nano (now); replaces prompt.text by its HMAC under `key` unless
 * `keep_text` (then the text is kept, and the HMAC is set as well; a kept
 * text that already has an HMAC keeps it); drops any `stored`; then masks
 * secrets in every string field (tp_mask_event, mask.h), adding to
 * `redactions`. `key` may be NULL only when no prompt.text is present.
 * Returns 0, TP_EKEY (text present and no key; err says how to make one),
 * TP_ECRYPTO, TP_EINVAL (a secret in a field that is indexed and stored
 * exactly, such as service: err names the field and the rule; withhold it),
 * TP_ENOMEM (then the event may be partly masked: withhold it). */
int tp_event_prepare(tp_event *ev, const uint8_t *key, int keep_text, at_error *err);

/* ---- the secret masker (proto/mask*.c, docs/security.md) -------------- */

/* The collector masks every event again before it stores it; this is its entry point. The
 * masker's rule and field tables and tp_mask_text (proto/mask.h) are private: tests and
 * fuzz targets reach them through traceproto_internal. */
/* Masks every string field of an event in place, as the field table says:
 * walking the protobuf-c descriptors, so a field missing from the table is
 * masked. A secret in an exact field (workflow, dri, service, incident,
 * model.name, tool_call.name, link.workflow) refuses the event: TP_EINVAL,
 * `err` (may be NULL) naming the field and the rule ("service: holds what
 * looks like a secret (github_token); refused: this field is indexed and
 * stored exactly"); so does an attribute key that masks to another key. An
 * attribute whose key looks secret and whose value looks random has its
 * value masked whole.
 * Adds the number of masked spans to ev->redactions (setting
 * has_redactions when it adds any) and sets *count (may be NULL) to it.
 * Returns 0, TP_EINVAL (refused, or ev is NULL) or TP_ENOMEM. On any error
 * some fields may be masked and others not: the caller must withhold the
 * event (never forward or store it) and count it. */
int tp_mask_event(tp_event *ev, unsigned *count, at_error *err);

/* ---- key files (proto/key_file.c, docs/security.md) ------------------- */

struct stat;

/* Opens `path` read-only without blocking (O_NONBLOCK: a FIFO does not hang
 * the caller) and refuses anything but a regular file; fills *st. Returns the
 * file descriptor (blocking again), or -1 with err (may be NULL) naming the file and
 * the reason ("allow.txt: is a FIFO, not a regular file; refused"). */
int tp_file_open_regular(const char *path, struct stat *st, at_error *err);

#define TP_CURVE_Z85_LEN 40 /* a 32-byte CURVE key as Z85 text */

/* Finds the key in the text of a CURVE key file: '#' comment lines and
 * blank lines are skipped; the one key line is "Z85 secret-key" (a secret key
 * file, *marked_secret = 1) or the 40 Z85 characters alone (a public key, or
 * a secret key file written before the marker existed). Copies the 40
 * characters to z85 (NUL-terminated); does not check the Z85 alphabet
 * (zmq_z85_decode does). 0, or -1 when there is not exactly one such line. */
int tp_curve_key_parse(const char *text, size_t len, char z85[TP_CURVE_Z85_LEN + 1],
                       int *marked_secret);

#ifdef __cplusplus
}
#endif
#endif
