/*
 * describe.c - short human descriptions of events (see describe.h).
 *
 * Responsibility: the words and numbers trace-query's tables show for one event.
 * Owns: nothing. Threading: reentrant (gmtime_r).
 */
#include "describe.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

void qdesc_time(uint64_t unix_nano, char *buf, size_t len)
{
    time_t secs = (time_t)(unix_nano / 1000000000ull);
    unsigned ms = (unsigned)((unix_nano / 1000000ull) % 1000ull);
    struct tm tm;
    if (!gmtime_r(&secs, &tm)) {
        snprintf(buf, len, "%" PRIu64, unix_nano);
        return;
    }
    snprintf(buf, len, "%04d-%02d-%02d %02d:%02d:%02d.%03u", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

void qdesc_duration(uint64_t nano, char *buf, size_t len)
{
    uint64_t ms = nano / 1000000ull;
    if (nano < 1000000000ull) { /* three significant digits down to ns: 420ns, 830us, 1.42ms */
        static const char *const units[] = {"ns", "us", "ms"};
        uint64_t div = 1;
        int u = 0;
        while (nano / div >= 1000) {
            div *= 1000;
            u++;
        }
        uint64_t whole = nano / div, rest = nano % div;
        if (whole >= 100 || div == 1)
            snprintf(buf, len, "%" PRIu64 "%s", whole, units[u]);
        else if (whole >= 10)
            snprintf(buf, len, "%" PRIu64 ".%01" PRIu64 "%s", whole, rest * 10 / div, units[u]);
        else
            snprintf(buf, len, "%" PRIu64 ".%02" PRIu64 "%s", whole, rest * 100 / div, units[u]);
    } else if (ms < 60000)
        snprintf(buf, len, "%" PRIu64 ".%02" PRIu64 "s", ms / 1000, (ms % 1000) / 10);
    else if (ms < 3600000)
        snprintf(buf, len, "%" PRIu64 "m%02" PRIu64 "s", ms / 60000, (ms / 1000) % 60);
    else
        snprintf(buf, len, "%" PRIu64 "h%02" PRIu64 "m", ms / 3600000, (ms / 60000) % 60);
}

void qdesc_cost(uint64_t micros, char *buf, size_t len)
{
    snprintf(buf, len, "$%" PRIu64 ".%06" PRIu64, micros / UINT64_C(1000000),
             micros % UINT64_C(1000000));
}

int qdesc_unpriced(const tp_event *ev)
{
    return ev->has_kind && ev->kind == AGENTTRAIL__V1__KIND__PROMPT &&
           !(ev->usage && ev->usage->has_cost_usd_micros);
}

void qdesc_cost_sum(uint64_t micros, uint64_t priced, uint64_t unpriced, int compact, char *buf,
                    size_t len)
{
    buf[0] = 0;
    if (!priced && !unpriced) return;
    if (!priced) {
        if (compact)
            snprintf(buf, len, "unknown");
        else
            snprintf(buf, len, "unknown (%" PRIu64 " model calls without a price)", unpriced);
        return;
    }
    qdesc_cost(micros, buf, len);
    size_t n = strlen(buf);
    if (unpriced && compact)
        snprintf(buf + n, len - n, "+?");
    else if (unpriced)
        snprintf(buf + n, len - n, " and %" PRIu64 " model calls without a price", unpriced);
}

void qdesc_tokens(const tp_event *ev, char *buf, size_t len)
{
    buf[0] = 0;
    const Agenttrail__V1__Usage *u = ev->usage;
    if (!u || (!u->has_input_tokens && !u->has_output_tokens && !u->has_cached_tokens)) return;
    if (u->has_cached_tokens && u->cached_tokens)
        snprintf(buf, len, "%" PRIu64 "(%" PRIu64 " cached)/%" PRIu64, u->input_tokens,
                 u->cached_tokens, u->output_tokens);
    else
        snprintf(buf, len, "%" PRIu64 "/%" PRIu64, u->input_tokens, u->output_tokens);
}

void qdesc_status(const tp_event *ev, char *buf, size_t len)
{
    const char *s = NULL;
    if (ev->tool_call && ev->tool_call->has_status)
        s = tp_tool_status_name(ev->tool_call->status);
    else if (ev->outcome && ev->outcome->has_decision)
        s = tp_decision_name(ev->outcome->decision);
    else if (ev->approval && ev->approval->has_decision)
        s = tp_approval_decision_name(ev->approval->decision);
    snprintf(buf, len, "%s", s ? s : "");
}

/* Appends to buf at *off, never past len. */
static void add(char *buf, size_t len, size_t *off, const char *fmt, const char *s)
{
    if (*off >= len) return;
    int n = snprintf(buf + *off, len - *off, fmt, s);
    if (n > 0) *off += (size_t)n;
    if (*off >= len) *off = len - 1;
}

void qdesc_what(const tp_event *ev, char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = 0;
    int kind = ev->has_kind ? (int)ev->kind : 0;
    switch (kind) {
    case AGENTTRAIL__V1__KIND__PROMPT:
        if (ev->model && ev->model->name) add(buf, len, &off, "%s", ev->model->name);
        if (ev->prompt && ev->prompt->template_id)
            add(buf, len, &off, off ? " %s" : "%s", ev->prompt->template_id);
        break;
    case AGENTTRAIL__V1__KIND__RETRIEVAL:
        for (size_t i = 0; i < ev->n_context_ids; i++)
            add(buf, len, &off, i ? ",%s" : "%s", ev->context_ids[i]);
        break;
    case AGENTTRAIL__V1__KIND__TOOL_CALL:
        if (ev->tool_call && ev->tool_call->name) add(buf, len, &off, "%s", ev->tool_call->name);
        if (ev->tool_call && ev->tool_call->error)
            add(buf, len, &off, ": %s", ev->tool_call->error);
        break;
    case AGENTTRAIL__V1__KIND__DIFF:
        if (ev->diff) {
            for (size_t i = 0; i < ev->diff->n_paths; i++)
                add(buf, len, &off, i ? ",%s" : "%s", ev->diff->paths[i]);
            if (!ev->diff->n_paths && ev->diff->repo) add(buf, len, &off, "%s", ev->diff->repo);
            char n[64];
            snprintf(n, sizeof n, " +%" PRIu64 " -%" PRIu64, ev->diff->lines_added,
                     ev->diff->lines_removed);
            if (ev->diff->has_lines_added || ev->diff->has_lines_removed)
                add(buf, len, &off, "%s", n);
        }
        break;
    case AGENTTRAIL__V1__KIND__OUTCOME:
        if (ev->outcome && ev->outcome->by) add(buf, len, &off, "by %s", ev->outcome->by);
        break;
    case AGENTTRAIL__V1__KIND__APPROVAL:
        if (ev->approval) {
            if (ev->approval->checkpoint) add(buf, len, &off, "%s", ev->approval->checkpoint);
            if (ev->approval->approver)
                add(buf, len, &off, off ? " by %s" : "by %s", ev->approval->approver);
            if (ev->approval->reason) add(buf, len, &off, ": %s", ev->approval->reason);
        }
        break;
    case AGENTTRAIL__V1__KIND__INCIDENT_LINK:
        if (ev->incident) add(buf, len, &off, "%s", ev->incident);
        if (ev->link && ev->link->reason) add(buf, len, &off, ": %s", ev->link->reason);
        break;
    case AGENTTRAIL__V1__KIND__NOTE:
        if (ev->note) add(buf, len, &off, "%s", ev->note);
        break;
    default:
        break;
    }
    /* Raw stored text: the table cleans every cell for the terminal (table.c, text_term.h),
     * so newlines, escapes, C1 and bidi controls never reach it from here. */
}
