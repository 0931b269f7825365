/*
 * shim_send.c - trace-shim's send mode (see shim_send.h).
 *
 * Owns: the libtraceshim client for the run and, with --follow, the followed
 * file. Invariants: a line is emitted only after jsonl judged it valid; the
 * summary counts each line once. Threading: single-threaded; the signal
 * handlers only set a flag.
 */
#include "shim_send.h"
#include "spool.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "term_progress.h"
#include "text_term.h"

static volatile sig_atomic_t g_stop;

static void on_stop(int sig)
{
    (void)sig;
    g_stop = 1;
}

static int emit_event(traceshim *s, tp_event *ev, const char *where, jsonl_stats *st)
{
    int rc = traceshim_emit_take(s, &ev);
    if (rc != 0) {
        tp_term_printf(stderr, "trace-shim: %s: not sent: %s", where, traceshim_strerror(rc));
        st->rejected++;
    }
    return rc;
}

static void log_line(void *ctx, const char *line)
{
    (void)ctx;
    tp_term_printf(stderr, "trace-shim: %s", line);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {0, (long)ms * 1000000L};
    nanosleep(&ts, NULL);
}

/* Tails `path`: complete lines are judged and emitted; at the end of the
 * file, waits for more; a truncated or replaced file is read again from its
 * start. Ends on SIGINT/SIGTERM. */
static int follow_file(traceshim *s, const char *path, const jsonl_options *judge, jsonl_stats *st)
{
    FILE *f = NULL;
    char *line = NULL;
    size_t cap = 0;
    unsigned long long lineno = 0;
    struct stat cur;
    while (!g_stop) {
        if (!f) {
            f = fopen(path, "r");
            if (!f) {
                if (errno != ENOENT) {
                    tp_term_printf(stderr, "%s: cannot read: %s", path, strerror(errno));
                    st->unreadable++;
                    break;
                }
                sleep_ms(200); /* not there yet */
                continue;
            }
            fstat(fileno(f), &cur);
            lineno = 0;
        }
        off_t at = ftello(f);
        ssize_t len = getline(&line, &cap, f);
        if (len > 0 && line[len - 1] == '\n') {
            lineno++;
            line[--len] = 0;
            if (len == 0) continue;
            st->lines++;
            tp_event *ev = NULL;
            at_error err = {{0}}, warn = {{0}};
            int rc = (size_t)len > judge->limits.event_max
                         ? (at_error_set(&err, "-", "encoded event is %zd bytes; at most %zu", len,
                                         judge->limits.event_max),
                            TP_ETOOBIG)
                         : jsonl_judge_line(line, (size_t)len, judge, &ev, &err, &warn);
            if (warn.where[0]) {
                st->warnings++;
                tp_term_printf(stderr, "%s:%llu: %s: warning: %s", path, lineno, warn.where,
                               warn.what);
            }
            if (rc != TP_OK) {
                st->rejected++;
                if (rc == TP_EKEY) st->key_missing++;
                tp_term_printf(stderr, "%s:%llu: %s: %s", path, lineno,
                               err.where[0] ? err.where : "-", err.what);
                continue;
            }
            char where[64 + 4096];
            snprintf(where, sizeof where, "%s:%llu", path, lineno);
            if (emit_event(s, ev, where, st) == 0) st->accepted++;
            continue;
        }
        /* End of file, or a partial last line: wait for the writer. */
        clearerr(f);
        fseeko(f, at, SEEK_SET);
        sleep_ms(100);
        struct stat now, byname;
        if (fstat(fileno(f), &now) == 0 && now.st_size < at) { /* truncated */
            fseeko(f, 0, SEEK_SET);
            lineno = 0;
        } else if (stat(path, &byname) == 0 &&
                   (byname.st_ino != cur.st_ino || byname.st_dev != cur.st_dev) &&
                   now.st_size == at) { /* rotated: finish the old one, then the new */
            fclose(f);
            f = NULL;
        }
    }
    if (f) fclose(f);
    free(line);
    return 0;
}

typedef unsigned long long ull;

/* The summary line and what became of the events not acked. Every event
 * sent (emitted here, or recovered from an earlier run's spool) is acked,
 * rejected, waiting in the spool, dropped or lost; the last two are said. */
static void report(const traceshim_counters *c, const jsonl_stats *st, int frc, unsigned timeout,
                   const char *dir, int *delivery)
{
    /* A damaged span of unknown size held at least one event. */
    tp_term_printf(
        stderr,
        "trace-shim: sent %llu, acked %llu, rejected %llu, spooled %llu, dropped %llu, lost "
        "%s%llu (lines: %llu read, %llu refused here; %llu refused by the collector; %llu "
        "already stored; %llu recovered from the spool of an earlier run)",
        (ull)(c->emitted + c->recovered), (ull)c->acked, (ull)(st->rejected + c->rejected),
        (ull)c->spooled, (ull)c->dropped, c->lost_spans ? "at least " : "",
        (ull)(c->lost + c->lost_spans), (ull)st->lines, (ull)st->rejected, (ull)c->rejected,
        (ull)c->duplicates, (ull)c->recovered);
    if (c->dropped)
        tp_term_printf(
            stderr,
            "trace-shim: %llu event(s) dropped: the spool %s could not take them (see the "
            "errors above); they wait nowhere",
            (ull)c->dropped, dir);
    if (c->lost || c->lost_spans)
        tp_term_printf(
            stderr,
            "trace-shim: %llu event(s) lost to damaged spool records in %s, and %llu damaged "
            "span(s) of unknown size (see the errors above)",
            (ull)c->lost, dir, (ull)c->lost_spans);
    if (c->set_aside)
        tp_term_printf(
            stderr,
            "trace-shim: %llu event(s) too big for the collector, alone in a batch: moved to "
            "%s/" SPOOL_ASIDE_NAME ", never resent",
            (ull)c->set_aside, dir);
    if (frc != 0) {
        tp_term_printf(
            stderr,
            "trace-shim: delivery not complete after %u s: what was not acked%s waits in %s "
            "and is sent by the next run (%s)",
            timeout, c->dropped || c->lost ? " and not dropped or lost" : "", dir,
            c->auth_refused       ? "the collector refused this shim's key (not on its allowlist?)"
            : c->handshake_failed ? "the CURVE handshake failed: a wrong --server-key, or CURVE "
                                    "on one side only?"
                                  : "is trace-collector running?");
        *delivery = SHIM_SEND_TIMEOUT;
    } else if (c->rejected) {
        *delivery = SHIM_SEND_REJECTED;
    }
    if (c->dropped || c->lost || c->lost_spans || c->set_aside) *delivery = SHIM_SEND_LOST;
}

int shim_send_run(const shim_send_options *o, const jsonl_options *judge, const char *const *files,
                  size_t n, jsonl_stats *stats, int *delivery)
{
    memset(stats, 0, sizeof *stats);
    *delivery = SHIM_SEND_DELIVERED;
    traceshim_options so;
    traceshim_options_default(&so);
    for (int i = 0; i < o->nendpoints && i < TRACESHIM_MAX_ENDPOINTS - 1; i++)
        so.endpoints[i] = o->endpoints[i];
    const char *env = getenv("AGENTTRAIL_SPOOL_DIR");
    so.spool_dir = o->spool_dir ? o->spool_dir : env && *env ? env : "agenttrail-spool";
    so.hmac_key = judge->hmac_key;
    so.keep_prompt_text = judge->keep_prompt_text;
    so.limits = &judge->limits;
    so.overflow = TRACESHIM_OVERFLOW_BLOCK; /* a file can wait; nothing is dropped */
    so.curve_server_key = o->curve_server_key;
    so.curve_secret_key = o->curve_secret_key;
    so.log = log_line;
    traceshim *s = NULL;
    at_error err = {0};
    int rc = traceshim_create(&so, &s, &err);
    if (rc != 0) {
        tp_term_printf(stderr, "trace-shim: %s", err.what);
        return 2;
    }
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    if (o->follow) {
        follow_file(s, o->follow, judge, stats);
    } else {
        jsonl_source *src = NULL;
        if (jsonl_source_open(&src, files, n, judge) != TP_OK) {
            fprintf(stderr, "trace-shim: out of memory\n");
            traceshim_close(&s, 0);
            return 2;
        }
        tp_event *ev = NULL;
        const char *where = NULL;
        jsonl_stats mine = {0};
        /* A big file on a terminal: how far the sending is (stderr a tty only). */
        tp_progress pg;
        tp_progress_start(&pg, stderr);
        for (uint64_t k = 1; !g_stop && jsonl_source_next(src, &ev, &where) == 1; k++) {
            emit_event(s, ev, where, &mine);
            if (pg.f && k % 256 == 0) tp_progress_update(&pg, "trace-shim: sent", k, 0);
        }
        tp_progress_end(&pg);
        *stats = *jsonl_source_stats(src);
        stats->accepted -= mine.rejected;
        stats->rejected += mine.rejected;
        jsonl_source_destroy(&src);
    }
    unsigned timeout = o->timeout_s ? o->timeout_s : 30;
    int frc = traceshim_flush(s, (int)(timeout * 1000u));
    traceshim_counters c;
    traceshim_counters_get(s, &c);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", so.spool_dir);
    traceshim_close(&s, 0);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    report(&c, stats, frc, timeout, dir, delivery);
    return 0;
}
