/*
 * bench_ledger.c - bench-ledger: the cost and speed of the Merkle log, its proofs and the
 * compliance bundles, each against a baseline measured in the same run.
 *
 *   bench-ledger [--events N] [--incident-every K] [--ab-events M] [--group G] [--seed S]
 *                [--input FILE] [--proofs P] [--min-level L] [--dir DIR] [--keep]
 *
 * 1. Ingest cost of the log: the first M events (default 200k) are appended in groups of G
 *    to two stores, alternating group by group so that both see the same disk and cache
 *    state: one with the ledger hook (what ships), one with it removed
 *    (ts_internal_set_append_hook NULL). Target: the log costs <= 10% of the ingest rate.
 *    The rest of the N events (default 1M) go to both, timed for neither. Every K-th event
 *    (default 10: 100k of 1M) gets incident INC-BENCH; events are stamped with a received
 *    time as the collector would, so both stores keep the same bytes. The ledger store's
 *    node layout is the default one (TS_NODE_MIN_LEVEL) unless --min-level L chooses
 *    another; the store without the hook gets the layout of every node (level >= 1), filled
 *    by the catch-up of its next read-write open: the baseline. Then the bytes per event of
 *    both log_nodes (their pages in use, from mdb_stat).
 * 2. Proofs: P random inclusion proofs (default 200k) from the store, then verified; against
 *    the target of 100k/s; the same proofs from the baseline store, batch by batch in turn,
 *    compared hash by hash; one call per proof; consistency proofs between random sizes.
 * 3. verify --store: the real `trace-query verify --store` over all N events, as a process,
 *    against raw SHA-256 (OpenSSL, one pass over a buffer of the same stored bytes) in the
 *    same run. Target: the verify's bytes/s >= 25% of raw SHA-256's. The hash-only phase
 *    (read every stored event, leaf hash, tree; what verify does before the index check) is
 *    timed in-process too.
 * 4. Export and verify of the incident: `trace-query export --incident INC-BENCH` against
 *    `trace-query find --incident INC-BENCH --format jsonl` (target: <= 3x), and the bundle's
 *    `trace-query verify`.
 * Prints a table, then as its last line one JSON object of the figures.
 *
 * Owns its temp directory (removed unless --keep). Single-threaded (the programs it runs
 * are separate processes).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "bench_common.h"
#include "checkpoint.h"
#include "ledger.h"
#include "merkle.h"
#include "store_internal.h"
#include "tracestore.h"

#ifndef AGENTTRAIL_SHARED_DIR
#define AGENTTRAIL_SHARED_DIR "../shared"
#endif
#ifndef AGENTTRAIL_BIN_DIR
#define AGENTTRAIL_BIN_DIR "."
#endif

typedef struct opts {
    uint64_t events, incident_every, ab_events, seed, proofs, min_level;
    size_t group;
    const char *input, *dir;
    int keep;
} opts;

/* CPU seconds of the finished children (this process's: bench_cpu_s): the machine is shared,
 * so the figures are judged on CPU time (wall time is printed too). */
static double children_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: bench-ledger [--events N] [--incident-every K] [--ab-events M] "
            "[--group G] [--seed S] [--input FILE] [--proofs P] [--min-level L] [--dir DIR] "
            "[--keep]\n");
    exit(2);
}

static opts parse_args(int argc, char **argv)
{
    opts o = {.events = 1000000,
              .incident_every = 10,
              .ab_events = 200000,
              .seed = 7,
              .proofs = 200000,
              .group = 1000};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--keep")) {
            o.keep = 1;
            continue;
        }
        if (!val) usage();
        i++;
        uint64_t v = 0;
        int num = bench_parse_u64(val, &v) == 0;
        if (!strcmp(a, "--input"))
            o.input = val;
        else if (!strcmp(a, "--dir"))
            o.dir = val;
        else if (!num)
            usage();
        else if (!strcmp(a, "--events") && v > 0)
            o.events = v;
        else if (!strcmp(a, "--incident-every") && v > 0)
            o.incident_every = v;
        else if (!strcmp(a, "--ab-events"))
            o.ab_events = v;
        else if (!strcmp(a, "--seed"))
            o.seed = v;
        else if (!strcmp(a, "--proofs") && v > 0)
            o.proofs = v;
        else if (!strcmp(a, "--group") && v > 0)
            o.group = (size_t)v;
        else if (!strcmp(a, "--min-level") && v >= 1 && v <= TS_NODE_LEVEL_MAX)
            o.min_level = v;
        else
            usage();
    }
    if (o.ab_events > o.events) o.ab_events = o.events;
    return o;
}

/* Runs a command; *cpu gets its CPU seconds (user + system), *wall its wall time. */
static int run(const char *cmd, double *cpu, double *wall)
{
    double c0 = children_cpu_s(), t0 = bench_now_s();
    int rc = system(cmd);
    *wall = bench_now_s() - t0;
    *cpu = children_cpu_s() - c0;
    return rc;
}

/* Reads the next `n` JSON lines into events (incident set on every k-th). */
static size_t read_group(FILE *f, tp_event **ev, size_t n, uint64_t *seen, uint64_t every)
{
    static char *buf;
    static size_t cap;
    size_t got = 0;
    ssize_t r;
    while (got < n && (r = getline(&buf, &cap, f)) > 0) {
        while (r > 0 && (buf[r - 1] == '\n' || buf[r - 1] == '\r'))
            buf[--r] = 0;
        if (r == 0) continue;
        at_error err;
        if (tp_event_from_json(buf, (size_t)r, NULL, 0, &ev[got], &err, NULL) != 0) {
            char msg[600];
            bench_die("bad input line", at_error_format(&err, msg, sizeof msg));
        }
        /* Stamped here as the collector would, so that both stores keep the same bytes,
         * hence the same leaves and proofs. */
        if (!ev[got]->stored) {
            ev[got]->stored = malloc(sizeof *ev[got]->stored);
            if (!ev[got]->stored) bench_die("memory", "stamps");
            agenttrail__v1__stored__init(ev[got]->stored);
        }
        ev[got]->stored->has_received_unix_nano = 1;
        ev[got]->stored->received_unix_nano = ev[got]->time_unix_nano + 1000000;
        if (*seen % every == 0) {
            free(ev[got]->incident);
            ev[got]->incident = strdup("INC-BENCH");
        }
        (*seen)++;
        got++;
    }
    return got;
}

/* Bytes of the pages a table of the store uses ((branch + leaf + overflow) * page size). */
static uint64_t table_bytes(ts_store *s, const char *name)
{
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_stat st;
    if (ts_read_begin(s, &txn) || ts_internal_dbi(s, txn, name, 0, 0, &dbi) ||
        mdb_stat(txn, dbi, &st))
        bench_die(name, ts_last_error(s));
    ts_read_end(s);
    return (uint64_t)(st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages) * st.ms_psize;
}

/* Appends clones of ev to s, untimed (the baseline store keeps up with the measured one). */
static void append_copy(ts_store *s, tp_event **ev, size_t n, ts_result *res)
{
    tp_event **copy = calloc(n, sizeof *copy);
    for (size_t i = 0; i < n; i++)
        copy[i] = tp_event_clone(ev[i]);
    if (ts_append(s, copy, n, res) != 0) bench_die("ts_append", ts_last_error(s));
    for (size_t i = 0; i < n; i++)
        tp_event_destroy(&copy[i]);
    free(copy);
}

static double append_timed(ts_store *s, tp_event **ev, size_t n, ts_result *res)
{
    double t0 = bench_now_s();
    if (ts_append(s, ev, n, res) != 0) bench_die("ts_append", ts_last_error(s));
    return bench_now_s() - t0;
}

int main(int argc, char **argv)
{
    bench_set_name("bench-ledger");
    opts o = parse_args(argc, argv);
    char tmpl[] = "/tmp/bench-ledger-XXXXXX";
    const char *dir = o.dir;
    if (!dir && !(dir = mkdtemp(tmpl))) bench_die("mkdtemp", strerror(errno));
    mkdir(dir, 0700);
    char path[4096], cmd[16384], with[4096], without[4096], keyp[4096], pubp[4096], bundle[4096];
    snprintf(with, sizeof with, "%s/store", dir);
    snprintf(without, sizeof without, "%s/store-without-log", dir);
    snprintf(keyp, sizeof keyp, "%s/store/checkpoint.key", dir);
    snprintf(pubp, sizeof pubp, "%s/pub.pem", dir);
    snprintf(bundle, sizeof bundle, "%s/INC-BENCH.tar", dir);
    const char *input = o.input;
    if (!input) {
        snprintf(path, sizeof path, "%s/events.jsonl", dir);
        fprintf(stderr, "bench-ledger: generating %" PRIu64 " events (gen-events)\n", o.events);
        bench_generate_events(o.events, o.seed, path);
        input = path;
    }
    FILE *in = fopen(input, "r");
    if (!in) bench_die(input, strerror(errno));

    /* ---- 1. ingest with and without the log, alternating groups ---------------------- */
    ts_store *s = NULL, *bare = NULL;
    at_error err = {0};
    if (ts_open(with, TS_OPEN_CREATE, NULL, &s, &err) ||
        ts_open(without, TS_OPEN_CREATE, NULL, &bare, &err))
        bench_die("ts_open", err.what);
    ts_internal_set_append_hook(bare, NULL, NULL);
    /* Its log_nodes is filled after the ingest, in the layout that stores every node: the
     * baseline of the table's size and of the proofs. */
    if (ts_ledger_set_layout(bare, 1)) bench_die("layout", ts_last_error(bare));
    if (o.min_level && ts_ledger_set_layout(s, (unsigned)o.min_level))
        bench_die("--min-level", ts_last_error(s));
    tp_event **ev = calloc(o.group, sizeof *ev);
    ts_result *res = calloc(o.group, sizeof *res);
    uint64_t seen = 0, n = 0, ab = 0;
    double t_with = 0, t_without = 0, t_rest = 0;
    int flip = 0;
    size_t got;
    fprintf(stderr, "bench-ledger: ingesting\n");
    while ((got = read_group(in, ev, o.group, &seen, o.incident_every)) > 0) {
        if (n < o.ab_events) {
            /* Same events to both; which store goes first alternates. */
            tp_event **copy = calloc(got, sizeof *copy);
            for (size_t i = 0; i < got; i++)
                copy[i] = tp_event_clone(ev[i]);
            if (flip ^= 1) {
                t_with += append_timed(s, ev, got, res);
                t_without += append_timed(bare, copy, got, res);
            } else {
                t_without += append_timed(bare, copy, got, res);
                t_with += append_timed(s, ev, got, res);
            }
            for (size_t i = 0; i < got; i++)
                tp_event_destroy(&copy[i]);
            free(copy);
            ab += got;
        } else {
            t_rest += append_timed(s, ev, got, res);
            append_copy(bare, ev, got, res);
        }
        for (size_t i = 0; i < got; i++)
            tp_event_destroy(&ev[i]);
        n += got;
    }
    fclose(in);
    ts_close(&bare);
    /* The read-write open catches the baseline's log_nodes up: every node of level >= 1. */
    double c_catchup = bench_cpu_s();
    if (ts_open(without, 0, NULL, &bare, &err)) bench_die("ts_open", err.what);
    c_catchup = bench_cpu_s() - c_catchup;
    uint64_t nodes_b = table_bytes(s, "log_nodes"), nodes_all_b = table_bytes(bare, "log_nodes");
    double eps_with = ab ? (double)ab / t_with : 0, eps_without = ab ? (double)ab / t_without : 0;
    double log_cost = eps_without > 0 ? 1.0 - eps_with / eps_without : 0;

    /* A signed checkpoint over everything, with the key where the collector keeps it. */
    cp_key *k = NULL;
    if (cp_key_generate(&k) || cp_key_save_private(k, keyp, &err)) bench_die("key", err.what);
    char *pem;
    size_t pemlen;
    cp_key_public_pem(k, &pem, &pemlen);
    FILE *pf = fopen(pubp, "w");
    fwrite(pem, 1, pemlen, pf);
    fclose(pf);
    free(pem);
    uint64_t size = 0;
    cp_checkpoint c;
    memset(&c, 0, sizeof c);
    if (ts_log_size(s, &size) || ts_log_origin(s, c.origin, sizeof c.origin) ||
        ts_log_root(s, size, c.root))
        bench_die("log", ts_last_error(s));
    c.size = size;
    c.time_unix_nano = tp_now_unix_nano();
    char *note;
    size_t notelen;
    if (cp_checkpoint_sign(&c, k, &note, &notelen) || ts_checkpoint_add(s, note, notelen))
        bench_die("checkpoint", ts_last_error(s));
    free(note);

    /* ---- 2. proofs --------------------------------------------------------------------- */
    uint64_t *idx = malloc(o.proofs * sizeof *idx), x = o.seed * 0x9e3779b97f4a7c15ull + 1;
    if (!idx) bench_die("memory", "proofs");
    for (uint64_t i = 0; i < o.proofs; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        idx[i] = x % size;
    }
    uint8_t(*proofs)[TS_PROOF_MAX][32] = malloc(o.proofs * sizeof *proofs);
    size_t *plen = malloc(o.proofs * sizeof *plen);
    uint8_t(*leaves)[32] = malloc(o.proofs * sizeof *leaves);
    /* Both stores answer each batch of 4096 into the same warm buffers, alternating which
     * goes first; the answers are then compared hash by hash and kept, untimed. (Writing
     * straight into the 2 KB-per-proof array of all the proofs would charge the first
     * timed store for cold memory and page faults.) */
    enum { PB = 4096 };
    uint8_t(*pbuf)[TS_PROOF_MAX][32] = malloc(PB * sizeof *pbuf);
    uint8_t(*bbuf)[TS_PROOF_MAX][32] = malloc(PB * sizeof *bbuf);
    size_t *blen = malloc(PB * sizeof *blen);
    if (!idx || !proofs || !plen || !leaves || !pbuf || !bbuf || !blen)
        bench_die("memory", "proofs");
    double c_proofs = 0, c_proofs_all = 0, c0;
    for (uint64_t i = 0; i < o.proofs; i += PB) {
        size_t m = o.proofs - i < PB ? (size_t)(o.proofs - i) : PB;
        for (int turn = 0; turn < 2; turn++) {
            int sparse = turn ^ (int)((i / PB) & 1);
            c0 = bench_cpu_s();
            if (ts_log_inclusion_proofs(sparse ? s : bare, size, m, idx + i, sparse ? pbuf : bbuf,
                                        sparse ? plen + i : blen))
                bench_die("proofs", ts_last_error(sparse ? s : bare));
            *(sparse ? &c_proofs : &c_proofs_all) += bench_cpu_s() - c0;
        }
        for (size_t j = 0; j < m; j++) {
            if (blen[j] != plen[i + j] || memcmp(bbuf[j], pbuf[j], 32 * blen[j]) != 0)
                bench_die("proofs", "the sparse layout's proof differs from the baseline's");
            memcpy(proofs[i + j], pbuf[j], 32 * plen[i + j]);
        }
    }
    free(pbuf);
    free(bbuf);
    free(blen);
    uint8_t one[TS_PROOF_MAX][32];
    size_t onelen;
    double c_proofs_one = 0, c_proofs_one_all = 0;
    for (uint64_t i = 0; i < o.proofs; i += PB) {
        size_t m = o.proofs - i < PB ? (size_t)(o.proofs - i) : PB;
        for (int turn = 0; turn < 2; turn++) {
            int sparse = turn ^ (int)((i / PB) & 1);
            c0 = bench_cpu_s();
            for (size_t j = 0; j < m; j++)
                if (ts_log_inclusion_proof(sparse ? s : bare, idx[i + j], size, one, &onelen))
                    bench_die("proof", ts_last_error(sparse ? s : bare));
            *(sparse ? &c_proofs_one : &c_proofs_one_all) += bench_cpu_s() - c0;
        }
    }
    /* Consistency proofs between random sizes: the other reader of the tree. */
    uint64_t ncons = o.proofs / 4;
    double c_cons = 0, c_cons_all = 0;
    for (uint64_t i = 0; i < ncons; i += PB) {
        uint64_t m = ncons - i < PB ? ncons - i : PB;
        for (int turn = 0; turn < 2; turn++) {
            int sparse = turn ^ (int)((i / PB) & 1);
            c0 = bench_cpu_s();
            for (uint64_t j = i; j < i + m; j++) {
                uint64_t a = idx[j] + 1, b = idx[(j + 1) % o.proofs] + 1;
                if (ts_log_consistency_proof(sparse ? s : bare, a < b ? a : b, a < b ? b : a, one,
                                             &onelen))
                    bench_die("consistency proof", ts_last_error(sparse ? s : bare));
            }
            *(sparse ? &c_cons : &c_cons_all) += bench_cpu_s() - c0;
        }
    }
    ts_close(&bare);
    for (uint64_t i = 0; i < o.proofs; i++)
        ts_log_leaf(s, idx[i], leaves[i]);
    c0 = bench_cpu_s();
    for (uint64_t i = 0; i < o.proofs; i++)
        if (ts_log_verify_inclusion(leaves[i], idx[i], size, (const uint8_t(*)[32])proofs[i],
                                    plen[i], c.root))
            bench_die("proof", "does not verify");
    double c_pverify = bench_cpu_s() - c0;
    free(idx);
    free(proofs);
    free(plen);
    free(leaves);

    /* ---- 3. raw SHA-256 over the same stored bytes; the phases of verify --store ------ */
    uint64_t total = 0;
    uint8_t *all = NULL;
    size_t allcap = 0;
    for (uint64_t i = 0; i < size; i++) {
        uint8_t *b;
        size_t len;
        if (ts_get_stored_bytes(s, i, &b, &len)) bench_die("read", ts_last_error(s));
        if (total + len > allcap) {
            allcap = (total + len) * 2;
            all = realloc(all, allcap);
            if (!all) bench_die("memory", "stored bytes");
        }
        memcpy(all + total, b, len);
        total += len;
        free(b);
    }
    uint8_t md[32];
    unsigned int mdlen;
    c0 = bench_cpu_s();
    EVP_Digest(all, total, md, &mdlen, EVP_sha256(), NULL);
    double c_sha = bench_cpu_s() - c0;
    free(all);
    uint8_t full[32];
    c0 = bench_cpu_s();
    if (ts_log_recompute(s, 0, NULL, NULL, full, NULL, NULL, NULL, NULL, NULL))
        bench_die("recompute", ts_last_error(s));
    double c_tree = bench_cpu_s() - c0;
    if (memcmp(full, c.root, 32) != 0) bench_die("recompute", "root differs");
    c0 = bench_cpu_s();
    if (ts_log_check_nodes(s, NULL, NULL)) bench_die("check nodes", ts_last_error(s));
    double c_nodes = bench_cpu_s() - c0;
    c0 = bench_cpu_s();
    if (ts_check(s, NULL, NULL)) bench_die("ts_check", ts_last_error(s));
    double c_index = bench_cpu_s() - c0;
    ts_close(&s);

    double c_vstore, w_vstore, c_find, w_find, c_export, w_export, c_vbundle, w_vbundle;
    snprintf(cmd, sizeof cmd, "'%s/trace-query' verify --store '%s' --key '%s' >/dev/null",
             AGENTTRAIL_BIN_DIR, with, pubp);
    fprintf(stderr, "bench-ledger: verify --store\n");
    if (run(cmd, &c_vstore, &w_vstore) != 0) bench_die("verify --store failed", cmd);

    /* ---- 4. export and verify of the incident ------------------------------------------ */
    snprintf(cmd, sizeof cmd,
             "'%s/trace-query' --store '%s' find --incident INC-BENCH --format jsonl > "
             "'%s/find.jsonl'",
             AGENTTRAIL_BIN_DIR, with, dir);
    if (run(cmd, &c_find, &w_find) != 0) bench_die("find failed", cmd);
    snprintf(path, sizeof path, "%s/find.jsonl", dir);
    struct stat st;
    stat(path, &st);
    snprintf(cmd, sizeof cmd,
             "'%s/trace-query' --store '%s' export --incident INC-BENCH -o '%s' --who bench "
             "2>/dev/null",
             AGENTTRAIL_BIN_DIR, with, bundle);
    if (run(cmd, &c_export, &w_export) != 0) bench_die("export failed", cmd);
    struct stat bst;
    stat(bundle, &bst);
    snprintf(cmd, sizeof cmd, "'%s/trace-query' verify '%s' --key '%s' >/dev/null",
             AGENTTRAIL_BIN_DIR, bundle, pubp);
    if (run(cmd, &c_vbundle, &w_vbundle) != 0) bench_die("bundle verify failed", cmd);
    uint64_t inc = (n + o.incident_every - 1) / o.incident_every;

    double mb = (double)total / 1e6;
    double sha = mb / c_sha, vstore = mb / c_vstore, tree = mb / c_tree;
    double proofs_ps = (double)o.proofs / c_proofs;
    printf("bench-ledger: %" PRIu64 " events (%.0f stored bytes each), groups of %zu; "
           "incident of %" PRIu64 " events. Rates per CPU-second (shared machine).\n",
           n, (double)total / (double)n, o.group, inc);
    printf("%-46s %12s %12s %8s  %s\n", "figure", "measured", "baseline", "ratio", "target");
    printf("%-46s %12.0f %12.0f %8.3f  log costs <= 10%%: %.1f%%\n",
           "ingest events/s (wall), with log vs without", eps_with, eps_without,
           eps_without ? eps_with / eps_without : 0, log_cost * 100);
    unsigned lvl = o.min_level ? (unsigned)o.min_level : TS_NODE_MIN_LEVEL;
    double nodes_bpe = (double)nodes_b / (double)n, nodes_all_bpe = (double)nodes_all_b / (double)n;
    double proofs_all_ps = (double)o.proofs / c_proofs_all;
    double one_ps = (double)o.proofs / c_proofs_one,
           one_all_ps = (double)o.proofs / c_proofs_one_all;
    double cons_ps = (double)ncons / c_cons, cons_all_ps = (double)ncons / c_cons_all;
    char fig[64];
    snprintf(fig, sizeof fig, "log_nodes B/event, levels >= %u vs all", lvl);
    printf("%-46s %12.2f %12.2f %8.3f  <= 8\n", fig, nodes_bpe, nodes_all_bpe,
           nodes_all_bpe > 0 ? nodes_bpe / nodes_all_bpe : 0);
    printf("%-46s %12.3f %12s %8s  -\n", "  catch-up of every node at open, CPU s", c_catchup, "-",
           "-");
    printf("%-46s %12.0f %12.0f %8.3f  >= 100000\n", "inclusion proofs/s, batch (as export)",
           proofs_ps, proofs_all_ps, proofs_ps / proofs_all_ps);
    printf("%-46s %12.0f %12.0f %8.3f  -\n", "  one call per proof /s", one_ps, one_all_ps,
           one_ps / one_all_ps);
    printf("%-46s %12.0f %12.0f %8.3f  -\n", "  consistency proofs /s, one call each", cons_ps,
           cons_all_ps, cons_ps / cons_all_ps);
    printf("%-46s %12.0f %12s %8s  -\n", "inclusion proofs verified /s",
           (double)o.proofs / c_pverify, "-", "-");
    printf("%-46s %12.1f %12.1f %8.3f  >= 0.25\n", "verify --store hashing MB/s vs raw SHA-256",
           tree, sha, tree / sha);
    printf("%-46s %12.1f %12.1f %8.3f  -\n", "  verify --store whole program MB/s", vstore, sha,
           vstore / sha);
    printf("%-46s %12.3f %12.3f %8.3f  -\n", "  phases, CPU s: nodes check, index check", c_nodes,
           c_index, 0.0);
    printf("%-46s %12.3f %12.3f %7.2fx  <= 3x\n", "export --incident vs find --incident, CPU s",
           c_export, c_find, c_export / c_find);
    printf("%-46s %12.3f %12.3f %7.2fx  -\n", "  the same, wall s", w_export, w_find,
           w_export / w_find);
    printf("%-46s %12.3f %12s %8s  -\n", "verify of the bundle, CPU s", c_vbundle, "-", "-");
    printf("%-46s %12.1f %12.1f %8s  -\n", "bundle MB vs find jsonl MB", (double)bst.st_size / 1e6,
           (double)st.st_size / 1e6, "-");
    printf("{\"events\":%" PRIu64 ",\"group\":%zu,\"ab_events\":%" PRIu64
           ",\"nodes_min_level\":%u,\"log_nodes_bytes_per_event\":%.2f,"
           "\"log_nodes_all_levels_bytes_per_event\":%.2f,"
           "\"proofs_all_levels_per_cpu_s\":%.0f,\"proofs_one_call_all_levels_per_cpu_s\":%.0f,"
           "\"consistency_proofs_per_cpu_s\":%.0f,"
           "\"consistency_proofs_all_levels_per_cpu_s\":%.0f,\"ingest_eps_with_log\":%.0f,\"ingest_"
           "eps_without_log\":%.0f,\"log_cost\":%.4f,"
           "\"proofs_per_cpu_s\":%.0f,\"proofs_one_call_per_cpu_s\":%.0f,"
           "\"proof_verifies_per_cpu_s\":%.0f,\"stored_mb\":%.1f,\"sha256_mb_per_cpu_s\":%.1f,"
           "\"verify_store_hash_mb_per_cpu_s\":%.1f,\"verify_store_hash_vs_sha256\":%.3f,"
           "\"verify_store_cpu_s\":%.3f,\"verify_store_wall_s\":%.3f,"
           "\"verify_store_vs_sha256\":%.3f,\"nodes_check_cpu_s\":%.3f,"
           "\"index_check_cpu_s\":%.3f,\"incident_events\":%" PRIu64
           ",\"find_incident_cpu_s\":%.3f,\"export_incident_cpu_s\":%.3f,"
           "\"export_vs_find\":%.2f,\"export_vs_find_wall\":%.2f,\"verify_bundle_cpu_s\":%.3f,"
           "\"bundle_bytes\":%lld}\n",
           n, o.group, ab, lvl, nodes_bpe, nodes_all_bpe, proofs_all_ps, one_all_ps, cons_ps,
           cons_all_ps, eps_with, eps_without, log_cost, proofs_ps, one_ps,
           (double)o.proofs / c_pverify, mb, sha, tree, tree / sha, c_vstore, w_vstore,
           vstore / sha, c_nodes, c_index, inc, c_find, c_export, c_export / c_find,
           w_export / w_find, c_vbundle, (long long)bst.st_size);
    cp_key_destroy(&k);
    free(ev);
    free(res);
    if (!o.keep && !o.dir) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0) fprintf(stderr, "bench-ledger: could not remove %s\n", dir);
    }
    return 0;
}
