/*
 * describe.h - short human descriptions of events for trace-query's tables.
 *
 * Responsibility: one-line text for times, durations, costs, tokens and "what an event did"
 * (model, tool and status, diff paths, outcome, approval, link, note).
 * Owns: nothing; every function writes into the caller's buffer (always NUL-terminated).
 * Threading: reentrant.
 */
#ifndef AGENTTRAIL_QUERY_DESCRIBE_H
#define AGENTTRAIL_QUERY_DESCRIBE_H

#include <stddef.h>
#include <stdint.h>

#include "traceproto.h"

/* "2024-05-01 20:46:42.123" (UTC, milliseconds). */
void qdesc_time(uint64_t unix_nano, char *buf, size_t len);
/* For people, with three significant digits below a second: "420ns", "830us", "1.42ms",
 * "14.2ms", "142ms", then "1.25s", "2m05s", "1h02m". */
void qdesc_duration(uint64_t nano, char *buf, size_t len);
/* "$0.001234" for micro-USD (6 decimals, exact). */
void qdesc_cost(uint64_t micros, char *buf, size_t len);
/* Whether `ev` is a model call (prompt) without a price (usage.cost_usd_micros unset). */
int qdesc_unpriced(const tp_event *ev);
/* A sum of costs over `priced` priced events when `unpriced` model calls had no price:
 * compact (table cells): "" when neither, "unknown" when none was priced, "$0.019520", or
 * "$0.019520+?" when some were not; long (sentences): "unknown (N model calls without a
 * price)", "$0.019520", "$0.019520 and N model calls without a price". */
void qdesc_cost_sum(uint64_t micros, uint64_t priced, uint64_t unpriced, int compact, char *buf,
                    size_t len);
/* What the event did: "gpt-4o", "bash ok", "src/a.py +3 -1", "accepted by x", ... The text
 * is the stored text as is (it may hold control characters): print it through a qtable or
 * tp_term_printf, which clean it for the terminal. */
void qdesc_what(const tp_event *ev, char *buf, size_t len);
/* Tokens as "in/out" ("1200/85", "1200(+800 cached)/85"), "" when no usage. */
void qdesc_tokens(const tp_event *ev, char *buf, size_t len);
/* Status: tool status, outcome decision or approval decision; "" otherwise. */
void qdesc_status(const tp_event *ev, char *buf, size_t len);

#endif
