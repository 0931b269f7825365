/*
 * test_spool_faults.c - what trace-shim and libtraceshim do when the spool
 * is damaged or full, when an event is too big, and when the collector
 * refuses the shim's key, as users run them: real trace-shim and
 * trace-collector processes on ipc:// in a temp dir, a real store, spool
 * segments damaged on disk, a real small tmpfs (skipped when it cannot be
 * mounted, i.e. not root).
 *
 * Proves: one flipped byte in record k loses exactly that record (named by
 * segment file and byte offset), the rest of the segment is stored, exit 4
 * and "lost 1"; a length of 0xFFFFFFFF in the first record likewise; a full
 * file system gives "dropped N", a clear error, exit 4, and what was spooled
 * is delivered by the next run; --max-event-bytes above what a batch holds
 * is a usage error and the library refuses a too big event at emit; acked
 * never exceeds sent (a replay run counts what it recovered); a refused
 * CURVE key is said as such.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "at_test.h"
#include "pipeline_util.h"
#include "spool.h"
#include "testutil.h"
#include "traceshim.h"

typedef pu_shim_env env;

static int mounted; /* the spool is a tmpfs of this test */

static int setup(void **state)
{
    *state = pu_shim_env_new("spoolfault");
    return 0;
}

static int teardown(void **state)
{
    pu_shim_env *e = *state;
    if (mounted) umount2(e->spool, MNT_DETACH);
    mounted = 0;
    pu_shim_env_free(&e);
    return 0;
}

/* n valid lines with event ids 1..n. */
static void write_lines(const char *path, int n)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 1; i <= n; i++)
        fprintf(f,
                "{\"event_id\":\"%032x\",\"kind\":\"note\",\"workflow\":\"spool-faults\","
                "\"dri\":\"dri@example.com\",\"note\":\"line %d of the spool fault test\"}\n",
                i, i);
    fclose(f);
}

static int run_shim(env *e, const char *input, const char *timeout, char **err)
{
    return pu_shim_run(e, input, timeout, err);
}

static uint64_t stored(env *e)
{
    return pu_store_total(e->store);
}

/* Sorted segment file names of the spool (up to max). */
static int segments(const char *dir, char names[][64], int max)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL && n < max)
        if (strncmp(de->d_name, "seg-", 4) == 0 && strlen(de->d_name) < 64)
            snprintf(names[n++], 64, "%.63s", de->d_name);
    closedir(d);
    qsort(names, (size_t)n, 64, (int (*)(const void *, const void *))strcmp);
    return n;
}

/* Reads the spool file at path whole (it must be there) with *c at its start; the
 * caller frees the bytes. */
static uint8_t *read_spool_file(const char *path, spool_cursor *c)
{
    size_t len = 0;
    uint8_t *data = (uint8_t *)tu_read_file(path, &len);
    assert_non_null(data);
    spool_cursor_init(c, data, len);
    return data;
}

/* Finds record k (0-based, counted across the segments in order): its
 * segment's path and the offset of its header. */
static void find_record(env *e, int k, char *path, size_t plen, size_t *at)
{
    char names[64][64];
    int nseg = segments(e->spool, names, 64), seen = 0;
    for (int i = 0; i < nseg; i++) {
        snprintf(path, plen, "%.511s/%.63s", e->spool, names[i]);
        spool_cursor c;
        uint8_t *data = read_spool_file(path, &c);
        spool_damage d;
        const uint8_t *rec;
        size_t rl, off;
        while (spool_cursor_next(&c, &rec, &rl, &off, &d) == 1) {
            if (seen++ == k) {
                *at = off;
                free(data);
                return;
            }
        }
        free(data);
    }
    fail_msg("record %d not found in %d segments", k, nseg);
}

/* Overwrites `n` bytes at `at` of file `path`. */
static void patch_file(const char *path, size_t at, const void *bytes, size_t n)
{
    size_t len = 0;
    char *data = tu_read_file(path, &len);
    assert_non_null(data);
    assert_true(at + n <= len);
    memcpy(data + at, bytes, n);
    assert_int_equal(tu_write_file(path, data, len), 0);
    free(data);
}

static long long field(const char *text, const char *key)
{
    const char *p = strstr(text, key);
    return p ? strtoll(p + strlen(key), NULL, 10) : -1;
}

/* Spools `n` events with no collector (exit 3), damages the spool with
 * `damage`, replays into a fresh collector: returns the replay's stderr. */
static char *spool_damage_replay(env *e, int n, void (*damage)(env *e), int want_exit)
{
    write_lines(e->input, n);
    char *err = NULL;
    assert_int_equal(run_shim(e, e->input, "1", &err), 3);
    free(err);
    damage(e);
    pid_t c = pu_collector_start(e->store, e->ep, e->log, NULL);
    int rc = run_shim(e, "/dev/null", "30", &err);
    if (rc != want_exit) fail_msg("replay: exit %d, wanted %d: %s", rc, want_exit, err);
    assert_int_equal(pu_kill_wait(c, SIGTERM), 0);
    /* acked <= sent: what the run recovered from the spool counts as sent. */
    assert_true(field(err, ", acked ") <= field(err, "trace-shim: sent "));
    assert_true(field(err, "trace-shim: sent ") > 0);
    return err;
}

static size_t flipped_at;
static char flipped_seg[600];

static void flip_a_byte_in_record_1000(env *e)
{
    find_record(e, 1000, flipped_seg, sizeof flipped_seg, &flipped_at);
    size_t len = 0;
    char *data = tu_read_file(flipped_seg, &len);
    uint8_t b = (uint8_t)(data[flipped_at + 30] ^ 0x20); /* in its payload */
    free(data);
    patch_file(flipped_seg, flipped_at + 30, &b, 1);
}

AT_TEST_F(test_a_flipped_byte_loses_one_record_and_the_rest_is_stored, setup, teardown)
{
    env *e = *state;
    char *err = spool_damage_replay(e, 5000, flip_a_byte_in_record_1000, 4);
    char want[700];
    snprintf(want, sizeof want, "%s: byte %zu: record payload fails its CRC", flipped_seg,
             flipped_at);
    if (!strstr(err, want)) fail_msg("no \"%s\" in: %s", want, err);
    assert_non_null(strstr(err, "events lost: 1;"));
    assert_non_null(strstr(err, "acked 4999,"));
    assert_non_null(strstr(err, "lost 1 "));
    free(err);
    assert_int_equal(stored(e), 4999);
}

static void length_ffffffff_in_the_first_record(env *e)
{
    find_record(e, 0, flipped_seg, sizeof flipped_seg, &flipped_at);
    const uint8_t ff[4] = {0xFF, 0xFF, 0xFF, 0xFF};
    patch_file(flipped_seg, flipped_at + 4, ff, 4);
}

AT_TEST_F(test_length_ffffffff_in_the_first_record_loses_only_it, setup, teardown)
{
    env *e = *state;
    char *err = spool_damage_replay(e, 2000, length_ffffffff_in_the_first_record, 4);
    char want[700];
    snprintf(want, sizeof want, "%s: byte %zu: record header unreadable", flipped_seg, flipped_at);
    if (!strstr(err, want)) fail_msg("no \"%s\" in: %s", want, err);
    assert_non_null(strstr(err, "events lost: unknown"));
    assert_non_null(strstr(err, "acked 1999,"));
    assert_non_null(strstr(err, ", lost at least 1 ("));
    free(err);
    assert_int_equal(stored(e), 1999);
}

AT_TEST_F(test_a_full_spool_file_system_counts_dropped_events_and_exits_4, setup, teardown)
{
    env *e = *state;
    assert_int_equal(mkdir(e->spool, 0700), 0);
    if (mount("tmpfs", e->spool, "tmpfs", 0, "size=256k,mode=0700") != 0) {
        fprintf(stderr, "SKIP: cannot mount a small tmpfs for the spool (%s; needs root)\n",
                strerror(errno));
        skip();
    }
    mounted = 1;
    write_lines(e->input, 4000); /* ~150 bytes each: ~600 KB, more than 256 KiB */
    char *err = NULL;
    int rc = run_shim(e, e->input, "1", &err);
    if (rc != 4) fail_msg("full spool: exit %d, wanted 4: %s", rc, err);
    long long spooled = field(err, ", spooled "), dropped = field(err, ", dropped ");
    assert_true(dropped > 0);
    assert_int_equal(spooled + dropped, 4000);
    assert_non_null(strstr(err, "No space left on device"));
    assert_non_null(strstr(err, "event(s) dropped: the spool"));
    assert_null(strstr(err, "what was not acked waits")); /* never claims they all wait */
    free(err);
    /* What was spooled is whole: the next run delivers all of it. */
    pid_t c = pu_collector_start(e->store, e->ep, e->log, NULL);
    rc = run_shim(e, "/dev/null", "30", &err);
    if (rc != 0) fail_msg("replay: exit %d: %s", rc, err);
    assert_int_equal(field(err, ", acked "), spooled);
    free(err);
    assert_int_equal(pu_kill_wait(c, SIGTERM), 0);
    assert_int_equal(stored(e), (uint64_t)spooled);
}

AT_TEST_F(test_events_above_the_record_limit_are_refused, setup, teardown)
{
    env *e = *state;
    /* trace-shim: a size no batch can hold is a usage error, before anything is read. */
    write_lines(e->input, 1);
    char *argv[] = {e->shim, "--endpoint", e->ep, "--spool-dir", e->spool, "--max-event-bytes",
                    "200M",  e->input,     NULL};
    char *err = NULL;
    assert_int_equal(tu_run(argv, NULL, NULL, NULL, &err), 2);
    assert_non_null(strstr(err, "--max-event-bytes"));
    free(err);
    /* The library: an event packing to more than its limit is refused at emit,
     * never queued nor spooled. */
    traceshim_options o;
    traceshim_options_default(&o);
    o.endpoints[0] = e->ep;
    o.spool_dir = e->spool;
    traceshim *s = NULL;
    at_error ebuf;
    assert_int_equal(traceshim_create(&o, &s, &ebuf), 0);
    tp_event *ev = NULL;
    at_error perr;
    size_t big = 2u << 20;
    char *line = malloc(big + 200);
    int n = snprintf(line, 200,
                     "{\"kind\":\"note\",\"workflow\":\"w\",\"dri\":\"d@e.com\",\"note\":\"");
    memset(line + n, 'x', big);
    memcpy(line + n + big, "\"}", 3);
    tp_limits lim = tp_limits_default();
    lim.event_max = lim.string_max = 4u << 20;
    assert_int_equal(tp_event_from_json(line, strlen(line), &lim, 0, &ev, &perr, NULL), 0);
    free(line);
    assert_int_equal(traceshim_emit(s, ev), TRACESHIM_EEVENT);
    tp_event_destroy(&ev);
    traceshim_counters c;
    traceshim_counters_get(s, &c);
    assert_int_equal(c.emitted, 0);
    assert_int_equal(traceshim_close(&s, 0), 0);
    /* Clamped: no limit above what one batch can hold. */
    assert_true(traceshim_event_max(NULL) <= SPOOL_RECORD_MAX);
    assert_true(traceshim_event_max(NULL) < tp_limits_default().batch_max_bytes);
}

AT_TEST_F(test_batches_too_big_for_the_collector_are_cut_and_a_lone_event_set_aside, setup,
          teardown)
{
    env *e = *state;
    /* The collector takes batches of 256 KiB (and closes connections on frames over
     * twice that, without a word); the shim assumes 16 MiB. */
    const char *cargs[] = {"--max-batch-bytes", "256K", "--max-string-bytes", "1M", NULL};
    pid_t c = pu_collector_start(e->store, e->ep, e->log, cargs);
    /* 60 events of ~65 KB emitted at once: one 3.9 MB batch, cut until it fits. */
    char *driver = tu_bin("test-pipeline-driver"), out[600], spool2[600];
    snprintf(out, sizeof out, "%s/driver.out", e->dir);
    snprintf(spool2, sizeof spool2, "%s/spool2", e->dir);
    char *dargs[] = {driver, "--endpoint",       e->ep, "--spool-dir",  spool2,  "--tag",
                     "1",    "--count",          "60",  "--note-bytes", "65000", "--batch",
                     "60",   "--ack-timeout-ms", "300", "--flush-ms",   "15000", NULL};
    assert_int_equal(pu_wait(pu_spawn(dargs, out, NULL)), 0);
    free(driver);
    char *o = tu_read_file(out, NULL);
    assert_int_equal(pu_field(o, "acked"), 60);
    free(o);
    /* One event of 600 KB can never be delivered there: set aside, not retried forever. */
    FILE *f = fopen(e->input, "w");
    assert_non_null(f);
    for (int i = 1; i <= 3; i++)
        fprintf(f, "{\"kind\":\"note\",\"workflow\":\"w\",\"dri\":\"d@e.com\",\"note\":\"%d\"}\n",
                i);
    fprintf(f, "{\"kind\":\"note\",\"workflow\":\"w\",\"dri\":\"d@e.com\",\"note\":\"");
    for (int i = 0; i < 600000; i++)
        fputc('a' + i % 26, f);
    fprintf(f, "\"}\n");
    fclose(f);
    char *argv[] = {e->shim, "--endpoint",         e->ep, "--spool-dir", e->spool, "--timeout",
                    "20",    "--max-string-bytes", "1M",  e->input,      NULL};
    char *err = NULL;
    int rc = tu_run(argv, NULL, NULL, NULL, &err);
    if (rc != 4) fail_msg("too big event: exit %d, wanted 4: %s", rc, err);
    assert_non_null(strstr(err, "moved to"));
    assert_non_null(strstr(err, SPOOL_ASIDE_NAME));
    assert_non_null(strstr(err, ", acked 3,"));
    free(err);
    /* The spool is not poisoned: the next run has nothing left to send. */
    rc = run_shim(e, "/dev/null", "10", &err);
    if (rc != 0) fail_msg("next run: exit %d: %s", rc, err);
    free(err);
    assert_int_equal(pu_kill_wait(c, SIGTERM), 0);
    assert_int_equal(stored(e), 63);
    char aside[700];
    snprintf(aside, sizeof aside, "%s/%s", e->spool, SPOOL_ASIDE_NAME);
    spool_cursor cur;
    uint8_t *data = read_spool_file(aside, &cur);
    spool_damage d;
    const uint8_t *rec;
    size_t rl;
    assert_int_equal(spool_cursor_next(&cur, &rec, &rl, NULL, &d), 1);
    assert_true(rl > 600000);
    assert_int_equal(spool_cursor_next(&cur, &rec, &rl, NULL, &d), 0);
    free(data);
}

AT_TEST_F(test_a_refused_curve_key_is_said_as_such, setup, teardown)
{
    env *e = *state;
    char base[3][600], *err = NULL;
    const char *names[3] = {"server", "allowed", "other"};
    for (int k = 0; k < 3; k++) {
        snprintf(base[k], sizeof base[k], "%s/%s", e->dir, names[k]);
        char *collector = tu_bin("trace-collector");
        char *argv[] = {collector, "keygen", "--curve", "-o", base[k], NULL};
        assert_int_equal(tu_run(argv, NULL, NULL, NULL, NULL), 0);
        free(collector);
    }
    char pubp[700], allow[600], skey[700], spub[700], okey[700];
    snprintf(pubp, sizeof pubp, "%s.pub", base[1]);
    char *pub = tu_read_file(pubp, NULL);
    assert_non_null(pub);
    snprintf(allow, sizeof allow, "%s/allow.txt", e->dir);
    char text[256];
    int n = snprintf(text, sizeof text, "allowed %.40s\n", pub);
    free(pub);
    assert_int_equal(tu_write_file(allow, text, (size_t)n), 0);
    snprintf(skey, sizeof skey, "%s.key", base[0]);
    snprintf(spub, sizeof spub, "%s.pub", base[0]);
    snprintf(okey, sizeof okey, "%s.key", base[2]);
    const char *extra[] = {"--curve-secret", skey, "--allow", allow, NULL};
    pid_t c = pu_collector_start(e->store, e->ep, e->log, extra);
    write_lines(e->input, 3);
    char *argv[] = {e->shim, "--endpoint",   e->ep, "--spool-dir",  e->spool, "--timeout",
                    "2",     "--server-key", spub,  "--client-key", okey,     e->input,
                    NULL};
    int rc = tu_run(argv, NULL, NULL, NULL, &err);
    if (rc != 3) fail_msg("refused shim: exit %d, wanted 3: %s", rc, err);
    if (!strstr(err, "the collector refused this shim's key (not on its allowlist?)"))
        fail_msg("no refusal message in: %s", err);
    assert_null(strstr(err, "is trace-collector running?"));
    free(err);
    assert_int_equal(pu_kill_wait(c, SIGTERM), 0);
}
