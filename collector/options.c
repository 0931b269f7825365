/*
 * options.c - trace-collector's options table: parsing, defaults, --help.
 *
 * Owns: nothing beyond the static table; parsed values point into argv.
 * Invariants: every option has one row; defaults are applied from the rows.
 * Threading: single-threaded, at start.
 */
#include "options.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "tracestore.h"

enum kind { K_STRING, K_LIST, K_SIZE, K_LEVEL, K_FLAG };

typedef struct opt_row {
    const char *name;
    const char *arg;
    enum kind kind;
    size_t offset;
    const char *defval; /* applied before parsing; NULL: none */
    const char *help;
} opt_row;

#define OFF(f) offsetof(collector_config, f)

static const opt_row table[] = {
    {"store", "DIR", K_STRING, OFF(store_dir), NULL,
     "store directory, created if missing (default: $AGENTTRAIL_STORE or ./agenttrail-store)"},
    {"listen", "ENDPOINT", K_LIST, OFF(listen), NULL,
     "tcp://HOST:PORT or ipc://PATH to bind, repeatable (default tcp://127.0.0.1:7600)"},
    {"log-level", "LEVEL", K_LEVEL, OFF(log_level), "info", "error, warn, info or debug"},
    {"max-event-bytes", "N", K_SIZE, OFF(event_max), "1M", "largest encoded event accepted"},
    {"max-string-bytes", "N", K_SIZE, OFF(string_max), "64K", "largest plain string field"},
    {"max-batch-bytes", "N", K_SIZE, OFF(batch_max_bytes), "16M", "largest framed batch"},
    {"max-batch-events", "N", K_SIZE, OFF(batch_max_events), "4096", "most events in a batch"},
    {"group-events", "N", K_SIZE, OFF(group_events), "2048",
     "commit a group once it holds this many events"},
    {"group-bytes", "N", K_SIZE, OFF(group_bytes), "8M",
     "commit a group once its events weigh this many bytes"},
    {"group-ms", "MS", K_SIZE, OFF(group_ms), "2",
     "commit a group at the latest this long after its first batch arrived"},
    {"map-size-max", "N", K_SIZE, OFF(map_size_max), "0",
     "largest store map (0: no limit but the disk); past it batches get RETRY"},
    {"recv-hwm", "N", K_SIZE, OFF(recv_hwm), "1000",
     "batches queued per connection before the socket stops reading (back-pressure)"},
    {"curve-secret", "FILE", K_STRING, OFF(curve_secret), NULL,
     "CURVE secret key (trace-collector keygen --curve -o NAME); needs --allow"},
    {"allow", "FILE", K_STRING, OFF(allow), NULL,
     "serve only shims whose public key is listed (\"NAME KEY\" lines); reloaded on SIGHUP"},
    {"insecure", "", K_FLAG, OFF(insecure), NULL,
     "allow non-loopback --listen without CURVE (anyone who can connect can write)"},
    {"signing-key", "FILE", K_STRING, OFF(signing_key), NULL,
     "Ed25519 key signing the log's checkpoints (default STORE/checkpoint.key, created 0600 "
     "only for a new, empty log; a given FILE must exist: trace-collector keygen -o FILE)"},
    {"checkpoint-ms", "MS", K_SIZE, OFF(checkpoint_ms), "1000",
     "sign a checkpoint of the Merkle log at most this often after commits (0: every commit)"},
    {"checkpoint-entries", "N", K_SIZE, OFF(checkpoint_entries), "16384",
     "also sign at once after a commit that leaves N entries unsigned (0: only --checkpoint-ms)"},
    {"witness", "DIR", K_STRING, OFF(witness), NULL,
     "append every signed checkpoint to DIR (another disk or host; verify --witness DIR)"},
    {"print-public-key", "", K_FLAG, OFF(print_public_key), NULL,
     "print the signing key's public key (PEM, what auditors verify with) and exit"},
};
#define NROWS (sizeof table / sizeof table[0])

void collector_options_help(FILE *out)
{
    fprintf(out, "usage: trace-collector [OPTION]...\n"
                 "       trace-collector keygen --curve -o NAME\n"
                 "       trace-collector keygen [-o FILE]   (checkpoint signing key)\n"
                 "Receives event batches from trace-shim and libtraceshim over ZeroMQ, validates\n"
                 "them, commits them to the store in groups and acks each batch once durable.\n\n");
    for (size_t i = 0; i < NROWS; i++) {
        char left[64];
        snprintf(left, sizeof left, "--%s %s", table[i].name, table[i].arg);
        fprintf(out, "  %-26s %s", left, table[i].help);
        if (table[i].defval && table[i].kind != K_STRING) fprintf(out, " [%s]", table[i].defval);
        fputc('\n', out);
    }
    fprintf(out, "  %-26s %s\n  %-26s %s\n", "--help", "this text", "--version",
            "print the version");
    fprintf(out, "\nSizes take K, M or G suffixes (powers of 1024). Exit status: 0 after a clean\n"
                 "stop (SIGTERM/SIGINT), 2 usage error, 3 store or socket error.\n");
}

static int parse_size(const char *s, size_t *out)
{
    char *end = NULL;
    errno = 0;
    if (*s == '-' || *s == 0) return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s) return -1;
    unsigned long long mul = 1;
    if (*end == 'K' || *end == 'k')
        mul = 1ull << 10;
    else if (*end == 'M' || *end == 'm')
        mul = 1ull << 20;
    else if (*end == 'G' || *end == 'g')
        mul = 1ull << 30;
    else if (*end != 0)
        return -1;
    if (mul != 1 && end[1] != 0) return -1;
    if (v > (unsigned long long)SIZE_MAX / mul) return -1;
    *out = (size_t)(v * mul);
    return 0;
}

static int apply(const opt_row *r, const char *val, collector_config *cfg)
{
    char *field = (char *)cfg + r->offset;
    switch (r->kind) {
    case K_STRING:
        *(const char **)field = val;
        return 0;
    case K_LIST:
        if (cfg->nlisten == COLLECTOR_MAX_LISTEN) {
            fprintf(stderr, "trace-collector: --%s: at most %d\n", r->name, COLLECTOR_MAX_LISTEN);
            return -1;
        }
        cfg->listen[cfg->nlisten++] = val;
        return 0;
    case K_SIZE:
        if (parse_size(val, (size_t *)field) != 0) {
            fprintf(stderr,
                    "trace-collector: --%s %s: expected a non-negative integer with an "
                    "optional K, M or G suffix\n",
                    r->name, val);
            return -1;
        }
        return 0;
    case K_FLAG:
        *(int *)field = 1;
        return 0;
    case K_LEVEL: {
        int l = clog_level_parse(val);
        if (l < 0) {
            fprintf(stderr, "trace-collector: --%s %s: expected error, warn, info or debug\n",
                    r->name, val);
            return -1;
        }
        *(int *)field = l;
        return 0;
    }
    }
    return -1;
}

int collector_options_parse(int argc, char **argv, collector_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < NROWS; i++)
        if (table[i].defval && apply(&table[i], table[i].defval, cfg) != 0) return -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            collector_options_help(stdout);
            return 1;
        }
        if (strcmp(a, "--version") == 0) {
            printf("trace-collector %s\n", AGENTTRAIL_VERSION);
            return 1;
        }
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "trace-collector: %s: unexpected argument (see --help)\n", a);
            return -1;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const opt_row *r = NULL;
        for (size_t k = 0; k < NROWS; k++)
            if (strlen(table[k].name) == nlen && strncmp(table[k].name, name, nlen) == 0)
                r = &table[k];
        if (!r) {
            fprintf(stderr, "trace-collector: %s: unknown option (see --help)\n", a);
            return -1;
        }
        const char *val = r->kind == K_FLAG ? "1" : eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!val) {
            fprintf(stderr, "trace-collector: --%s: needs %s\n", r->name, r->arg);
            return -1;
        }
        if (apply(r, val, cfg) != 0) return -1;
    }
    if (!cfg->store_dir) cfg->store_dir = ts_default_dir();
    if (cfg->nlisten == 0) cfg->listen[cfg->nlisten++] = "tcp://127.0.0.1:7600";
    if (cfg->group_events == 0) cfg->group_events = 1;
    if (!cfg->curve_secret != !cfg->allow) {
        fprintf(stderr, "trace-collector: --curve-secret and --allow go together: CURVE serves "
                        "only the keys the allowlist names\n");
        return -1;
    }
    if (cfg->batch_max_events == 0 || cfg->batch_max_bytes == 0 || cfg->event_max == 0) {
        fprintf(stderr, "trace-collector: limits must be positive\n");
        return -1;
    }
    return 0;
}
