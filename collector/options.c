/*
 * options.c - trace-collector's options table: parsing, defaults, --help and the man page,
 * all through the one engine (common/opt.c).
 *
 * Owns: nothing beyond the static table; parsed values point into argv.
 * Invariants: every option has one row; defaults are applied from the rows. Sizes are
 * at_parse_size's (N, NK, NM, NG; "0" is a size): the limits that must be positive say so by
 * their row's minimum. The --*-ms options are whole milliseconds (digits, no suffix).
 * Threading: single-threaded, at start.
 */
#include "options.h"

#include <string.h>

#include "atcommon.h"
#include "http.h"
#include "log.h"
#include "tracestore.h"

static int set_level(void *cfg, const at_opt *o, const char *v, at_error *err)
{
    int l = clog_level_parse(v);
    if (l < 0) return at_errf(err, AT_EINVAL, "expected error, warn, info or debug");
    memcpy((char *)cfg + o->off, &l, sizeof l);
    return AT_OK;
}

#define CFG(m) AT_OPT_AT(collector_config, m)
#define POSITIVE .min = 1

static const at_opt table[] = {
    {.name = "store",
     .kind = AT_OPT_STRING,
     CFG(store_dir),
     .metavar = "DIR",
     .help = "store directory, created if missing (default: $AGENTTRAIL_STORE or "
             "./agenttrail-store)"},
    {.name = "listen",
     .kind = AT_OPT_LIST,
     CFG(listen),
     .metavar = "ENDPOINT",
     .count_off = offsetof(collector_config, nlisten),
     .max = COLLECTOR_MAX_LISTEN,
     .expect = "at most 16 --listen",
     .help = "tcp://HOST:PORT or ipc://PATH to bind, repeatable (default tcp://127.0.0.1:7600)"},
    {.name = "log-level",
     .kind = AT_OPT_CALL,
     CFG(log_level),
     .fn = set_level,
     .def = "info",
     .metavar = "LEVEL",
     .help = "error, warn, info or debug"},
    {.name = "max-event-bytes",
     .kind = AT_OPT_SIZE,
     CFG(event_max),
     .def = "1M",
     .metavar = "N",
     POSITIVE,
     .help = "largest encoded event accepted"},
    {.name = "max-string-bytes",
     .kind = AT_OPT_SIZE,
     CFG(string_max),
     .def = "64K",
     .metavar = "N",
     .help = "largest plain string field"},
    {.name = "max-batch-bytes",
     .kind = AT_OPT_SIZE,
     CFG(batch_max_bytes),
     .def = "16M",
     .metavar = "N",
     POSITIVE,
     .help = "largest framed batch"},
    {.name = "max-batch-events",
     .kind = AT_OPT_SIZE,
     CFG(batch_max_events),
     .def = "4096",
     .metavar = "N",
     POSITIVE,
     .help = "most events in a batch"},
    {.name = "group-events",
     .kind = AT_OPT_SIZE,
     CFG(group_events),
     .def = "2048",
     .metavar = "N",
     .help = "commit a group once it holds this many events"},
    {.name = "group-bytes",
     .kind = AT_OPT_SIZE,
     CFG(group_bytes),
     .def = "8M",
     .metavar = "N",
     .help = "commit a group once its events weigh this many bytes"},
    {.name = "group-ms",
     .kind = AT_OPT_UINT,
     CFG(group_ms),
     .def = "2",
     .metavar = "MS",
     .help = "commit a group at the latest this long after its first batch arrived"},
    {.name = "map-size-max",
     .kind = AT_OPT_SIZE,
     CFG(map_size_max),
     .def = "0",
     .metavar = "N",
     .help = "largest store map (0: no limit but the disk); past it batches get RETRY"},
    {.name = "recv-hwm",
     .kind = AT_OPT_SIZE,
     CFG(recv_hwm),
     .def = "1000",
     .metavar = "N",
     .help = "batches queued per connection before the socket stops reading (back-pressure)"},
    {.name = "curve-secret",
     .kind = AT_OPT_STRING,
     CFG(curve_secret),
     .metavar = "FILE",
     .help = "CURVE secret key (trace-collector keygen --curve -o NAME); needs --allow"},
    {.name = "allow",
     .kind = AT_OPT_STRING,
     CFG(allow),
     .metavar = "FILE",
     .help = "serve only shims whose public key is listed (\"NAME KEY\" lines); reloaded on "
             "SIGHUP"},
    {.name = "insecure",
     .kind = AT_OPT_FLAG,
     CFG(insecure),
     .help = "allow non-loopback --listen without CURVE (anyone who can connect can write)"},
    {.name = "signing-key",
     .kind = AT_OPT_STRING,
     CFG(signing_key),
     .metavar = "FILE",
     .help = "Ed25519 key signing the log's checkpoints (default STORE/checkpoint.key, created "
             "0600 only for a new, empty log; a given FILE must exist: trace-collector keygen "
             "-o FILE)"},
    {.name = "checkpoint-ms",
     .kind = AT_OPT_UINT,
     CFG(checkpoint_ms),
     .def = "1000",
     .metavar = "MS",
     .help = "sign a checkpoint of the Merkle log at most this often after commits (0: every "
             "commit)"},
    {.name = "checkpoint-entries",
     .kind = AT_OPT_SIZE,
     CFG(checkpoint_entries),
     .def = "16384",
     .metavar = "N",
     .help = "also sign at once after a commit that leaves N entries unsigned (0: only "
             "--checkpoint-ms)"},
    {.name = "witness",
     .kind = AT_OPT_STRING,
     CFG(witness),
     .metavar = "DIR",
     .help = "append every signed checkpoint to DIR (another disk or host; verify --witness "
             "DIR)"},
    {.name = "otlp-http",
     .kind = AT_OPT_STRING,
     CFG(otlp_http),
     .metavar = "ADDR:PORT",
     .help = "serve OTLP/HTTP (POST /v1/traces), /metrics and /healthz there (PORT or :PORT: "
             "127.0.0.1; 4318 is the usual port; no authentication: keep it on loopback)"},
    {.name = "http",
     .kind = AT_OPT_STRING,
     CFG(http),
     .metavar = "ADDR:PORT",
     .help = "serve /metrics and /healthz there (the --otlp-http server serves them too)"},
    {.name = "owners",
     .kind = AT_OPT_STRING,
     CFG(owners),
     .metavar = "FILE",
     .help = "DRI of OTLP spans that name none: \"workflow:GLOB OWNER\" or \"service:GLOB "
             "OWNER\" lines, the last match wins (docs/otlp.md)"},
    {.name = "hmac-key-file",
     .kind = AT_OPT_STRING,
     CFG(hmac_key_file),
     .metavar = "FILE",
     .help = "organisation HMAC key reducing OTLP prompt and message content (default "
             "STORE/otlp-hmac.key, created 0600 on first start)"},
    {.name = "otlp-max-body",
     .kind = AT_OPT_SIZE,
     CFG(otlp_max_body),
     .def = "16M",
     .metavar = "N",
     POSITIVE,
     .help = "largest OTLP request body once inflated (gzip); larger get 413"},
    {.name = "otlp-max-inflight",
     .kind = AT_OPT_UINT,
     CFG(otlp_max_inflight),
     .def = "64",
     .metavar = "N",
     POSITIVE,
     .help = "OTLP requests served at once; more get 429 with Retry-After"},
    {.name = "print-public-key",
     .kind = AT_OPT_FLAG,
     CFG(print_public_key),
     .key = "",
     .flags = AT_OPT_NOCONFIG,
     .help = "print the signing key's public key (PEM, what auditors verify with) and exit"},
    {.name = "help", .letter = 'h', .kind = AT_OPT_HELP, .help = "this text"},
    {.name = "version", .kind = AT_OPT_VERSION, .help = "print the version"},
    {.name = "man", .kind = AT_OPT_MAN, .help = "print the man page (roff)"},
    {.name = NULL},
};

static const at_opt_section man_sections[] = {
    {"EXIT STATUS", "0 after a clean stop (SIGTERM or SIGINT); 2 usage error; 3 store or socket "
                    "error. SIGHUP reloads the --allow file."},
    {"FILES", "STORE/checkpoint.key\n"
              "the default signing key of the log's checkpoints (mode 0600).\n"
              "\n"
              "STORE/otlp-hmac.key\n"
              "the default HMAC key of OTLP prompt content (mode 0600), with --otlp-http.\n"
              "\n"
              "STORE/\n"
              "the LMDB store: events, indexes, the Merkle log and its checkpoints."},
    {"SECURITY", "The OTLP/HTTP receiver and /metrics have no authentication: anyone who can "
                 "reach the address can write events. They bind 127.0.0.1 unless told otherwise; a "
                 "non-loopback address is served with a warning in the log."},
    {"ENVIRONMENT", "AGENTTRAIL_STORE: the store directory when --store is not given."},
    {"EXAMPLES", "  trace-collector --store /var/lib/agenttrail --listen tcp://127.0.0.1:7600\n"
                 "  trace-collector keygen --curve -o collector\n"
                 "  trace-collector --curve-secret collector.key --allow shims.allow \\\n"
                 "      --listen tcp://0.0.0.0:7600\n"
                 "  trace-collector --store /var/lib/agenttrail --otlp-http 4318 \\\n"
                 "      --owners /etc/agenttrail/owners\n"
                 "  trace-collector --store /var/lib/agenttrail --print-public-key \\\n"
                 "      > collector.pub.pem"},
    {"SEE ALSO", "trace-shim(1), trace-query(1)"},
    {NULL, NULL},
};

static const at_opt_prog prog = {
    .name = "trace-collector",
    .opts = table,
    .positionals = AT_OPT_POS_NONE,
    .head = "usage: trace-collector [OPTION]...\n"
            "       trace-collector keygen --curve -o NAME\n"
            "       trace-collector keygen [-o FILE]   (checkpoint signing key)\n"
            "Receives event batches from trace-shim and libtraceshim over ZeroMQ, validates\n"
            "them, commits them to the store in groups and acks each batch once durable.\n"
            "With --otlp-http it also takes OpenTelemetry (OTLP/HTTP) GenAI spans.\n\n",
    .tail = "\nSizes take K, M or G suffixes (powers of 1024; 0 is a size). Exit status: 0\n"
            "after a clean stop (SIGTERM/SIGINT), 2 usage error, 3 store or socket error.\n",
    .summary = "receive trace events over ZeroMQ, validate them and store them durably",
    .sections = man_sections,
};

const at_opt_prog *collector_options_prog(void)
{
    return &prog;
}

void collector_options_help(FILE *out)
{
    at_opt_help(&prog, out);
}

/* The rules between options, once every one is read. */
static int check(collector_config *cfg)
{
    if (!cfg->store_dir) cfg->store_dir = ts_default_dir();
    if (cfg->nlisten == 0) cfg->listen[cfg->nlisten++] = "tcp://127.0.0.1:7600";
    if (cfg->group_events == 0) cfg->group_events = 1;
    if (!cfg->curve_secret != !cfg->allow) {
        fprintf(stderr, "trace-collector: --curve-secret and --allow go together: CURVE serves "
                        "only the keys the allowlist names\n");
        return -1;
    }
    if (!cfg->otlp_http && (cfg->owners || cfg->hmac_key_file)) {
        fprintf(stderr, "trace-collector: --owners and --hmac-key-file are for OTLP spans: give "
                        "--otlp-http ADDR:PORT too\n");
        return -1;
    }
    const char *addrs[2][2] = {{"otlp-http", cfg->otlp_http}, {"http", cfg->http}};
    for (int i = 0; i < 2; i++) {
        char why[256];
        if (addrs[i][1] && http_addr_parse(addrs[i][1], NULL, why, sizeof why) != 0) {
            fprintf(stderr, "trace-collector: --%s %s: %s\n", addrs[i][0], addrs[i][1], why);
            return -1;
        }
    }
    return 0;
}

int collector_options_parse(int argc, char **argv, collector_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    at_opt_result res;
    at_error err;
    at_error_clear(&err);
    int rc = at_opt_parse(&prog, argc, argv, cfg, &res, &err);
    at_opt_done(&res);
    if (rc != AT_OK) {
        char msg[AT_ERROR_TEXT_LEN];
        fprintf(stderr, "trace-collector: %s\n", at_error_format(&err, msg, sizeof msg));
        return -1;
    }
    return at_opt_answer(&prog, &res, AGENTTRAIL_VERSION, stdout) ? 1 : check(cfg);
}
