/*
 * bench_proto.c - what the event codec costs, per event and per MB, on the
 * real sample events of ../shared/data.
 *
 * Baseline, measured in the same run on the same lines: jansson parsing each
 * line into a tree and freeing it (json_loadb + json_decref), the least any
 * JSON reader built on jansson pays. Then each codec step: tp_event_from_json
 * (parse + every field rule), tp_event_to_json (canonical writer),
 * tp_event_pack, tp_event_unpack (decode + tp_event_validate), and
 * tp_event_prepare + tp_event_validate (ids, time, prompt HMAC, secret mask).
 * Each step runs ROUNDS times over all lines; the best round is reported.
 *
 * Usage: bench-proto [FILE.jsonl...]   (default: every JSONL file in ../shared/data)
 * Prints a table, then as the last line one JSON object of the figures.
 */
#include <glob.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_common.h"
#include "traceproto.h"

#define ROUNDS 3

typedef struct corpus {
    char **line;
    size_t *len;
    size_t n, bytes;
    tp_event **ev;
    uint8_t **packed;
    size_t *packed_len;
    size_t packed_bytes;
} corpus;

static void add_file(corpus *c, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "bench-proto: cannot read %s\n", path);
        exit(1);
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t r;
    while ((r = getline(&line, &cap, f)) > 0) {
        size_t n = (size_t)r;
        if (line[n - 1] == '\n') n--;
        if (n == 0) continue;
        c->line = realloc(c->line, (c->n + 1) * sizeof *c->line);
        c->len = realloc(c->len, (c->n + 1) * sizeof *c->len);
        if (!c->line || !c->len) bench_die("out of memory", NULL);
        c->line[c->n] = malloc(n);
        if (!c->line[c->n]) bench_die("out of memory", NULL);
        memcpy(c->line[c->n], line, n);
        c->len[c->n++] = n;
        c->bytes += n;
    }
    free(line);
    fclose(f);
}

typedef struct step {
    const char *name;
    double best_s;
} step;

static double run_jansson(corpus *c)
{
    double t = bench_now_s();
    for (size_t i = 0; i < c->n; i++) {
        json_error_t e;
        json_t *v = json_loadb(c->line[i], c->len[i], JSON_REJECT_DUPLICATES, &e);
        if (!v) bench_die("jansson refused a sample line", NULL);
        json_decref(v);
    }
    return bench_now_s() - t;
}

static double run_from_json(corpus *c)
{
    double t = bench_now_s();
    for (size_t i = 0; i < c->n; i++) {
        tp_event_destroy(&c->ev[i]);
        at_error err;
        if (tp_event_from_json(c->line[i], c->len[i], NULL, 0, &c->ev[i], &err, NULL) != TP_OK)
            bench_die("tp_event_from_json refused a sample line", NULL);
    }
    return bench_now_s() - t;
}

static double run_to_json(corpus *c)
{
    double t = bench_now_s();
    for (size_t i = 0; i < c->n; i++) {
        char *s = tp_event_to_json(c->ev[i], NULL);
        if (!s) bench_die("out of memory", NULL);
        free(s);
    }
    return bench_now_s() - t;
}

static double run_pack(corpus *c)
{
    double t = bench_now_s();
    c->packed_bytes = 0;
    for (size_t i = 0; i < c->n; i++) {
        free(c->packed[i]);
        if (tp_event_pack(c->ev[i], &c->packed[i], &c->packed_len[i]) != TP_OK)
            bench_die("out of memory", NULL);
        c->packed_bytes += c->packed_len[i];
    }
    return bench_now_s() - t;
}

static double run_unpack(corpus *c)
{
    double t = bench_now_s();
    for (size_t i = 0; i < c->n; i++) {
        tp_event *ev = NULL;
        at_error err;
        if (tp_event_unpack(c->packed[i], c->packed_len[i], NULL, &ev, &err) != TP_OK)
            bench_die("tp_event_unpack refused a packed sample", NULL);
        tp_event_destroy(&ev);
    }
    return bench_now_s() - t;
}

static double run_prepare(corpus *c)
{
    static const uint8_t key[TP_HMAC_KEY_LEN] = {42};
    /* Prepare changes the event; work on fresh parses, timing only prepare+validate. */
    double total = 0;
    for (size_t i = 0; i < c->n; i++) {
        tp_event *ev = NULL;
        at_error err;
        if (tp_event_from_json(c->line[i], c->len[i], NULL, 0, &ev, &err, NULL) != TP_OK)
            bench_die("tp_event_from_json refused a sample line", NULL);
        double t = bench_now_s();
        if (tp_event_prepare(ev, key, 0, &err) != TP_OK || tp_event_validate(ev, NULL, &err))
            bench_die("a sample line failed prepare/validate", NULL);
        total += bench_now_s() - t;
        tp_event_destroy(&ev);
    }
    return total;
}

int main(int argc, char **argv)
{
    bench_set_name("bench-proto");
    corpus c = {0};
    if (argc > 1) {
        for (int i = 1; i < argc; i++)
            add_file(&c, argv[i]);
    } else {
        glob_t g;
        if (glob(AGENTTRAIL_SHARED_DIR "/data/*.jsonl", 0, NULL, &g) != 0)
            bench_die("no ../shared/data/*.jsonl", NULL);
        for (size_t i = 0; i < g.gl_pathc; i++)
            add_file(&c, g.gl_pathv[i]);
        globfree(&g);
    }
    c.ev = calloc(c.n, sizeof *c.ev);
    c.packed = calloc(c.n, sizeof *c.packed);
    c.packed_len = calloc(c.n, sizeof *c.packed_len);
    if (!c.ev || !c.packed || !c.packed_len) bench_die("out of memory", NULL);

    step steps[] = {{"jansson parse (baseline)", 1e9}, {"tp_event_from_json", 1e9},
                    {"tp_event_to_json", 1e9},         {"tp_event_pack", 1e9},
                    {"tp_event_unpack+validate", 1e9}, {"prepare+validate (HMAC, mask)", 1e9}};
    double (*fn[])(corpus *) = {run_jansson, run_from_json, run_to_json,
                                run_pack,    run_unpack,    run_prepare};
    for (int r = 0; r < ROUNDS; r++)
        for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
            double t = fn[s](&c);
            if (t < steps[s].best_s) steps[s].best_s = t;
        }

    double base = steps[0].best_s;
    printf(
        "bench-proto: %zu events, %.1f MB of JSON, %.1f MB packed (%.0f%% of JSON); best of %d\n",
        c.n, (double)c.bytes / 1e6, (double)c.packed_bytes / 1e6,
        100.0 * (double)c.packed_bytes / (double)c.bytes, ROUNDS);
    printf("%-32s %12s %12s %10s %12s\n", "step", "events/s", "MB/s (JSON)", "us/event",
           "x baseline");
    for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
        double t = steps[s].best_s;
        printf("%-32s %12.0f %12.1f %10.2f %12.2f\n", steps[s].name, (double)c.n / t,
               (double)c.bytes / 1e6 / t, t * 1e6 / (double)c.n, t / base);
    }
    printf("{\"events\":%zu,\"json_bytes\":%zu,\"packed_bytes\":%zu,"
           "\"baseline_jansson_parse_eps\":%.0f,\"from_json_eps\":%.0f,\"to_json_eps\":%.0f,"
           "\"pack_eps\":%.0f,\"unpack_validate_eps\":%.0f,\"prepare_validate_eps\":%.0f,"
           "\"from_json_vs_baseline\":%.2f}\n",
           c.n, c.bytes, c.packed_bytes, (double)c.n / base, (double)c.n / steps[1].best_s,
           (double)c.n / steps[2].best_s, (double)c.n / steps[3].best_s,
           (double)c.n / steps[4].best_s, (double)c.n / steps[5].best_s, steps[1].best_s / base);

    for (size_t i = 0; i < c.n; i++) {
        free(c.line[i]);
        free(c.packed[i]);
        tp_event_destroy(&c.ev[i]);
    }
    free(c.line);
    free(c.len);
    free(c.ev);
    free(c.packed);
    free(c.packed_len);
    return 0;
}
