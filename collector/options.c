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
/* The rows of a number of kind `k` (AT_OPT_SIZE or AT_OPT_UINT) shown as `mv`, at least `lo`
 * (0: no minimum), with the default `d` (a string) and the help `h`: a size (N), a positive size,
 * a positive whole number and a time in milliseconds (MS); then of a string and a flag
 * (atcommon.h). */
#define NUMBER_ROW(k, mv, lo, n, m, d, h)                                                          \
    {                                                                                              \
        .name = n, .kind = k, CFG(m), .def = d, .metavar = mv, .min = lo, .help = h                \
    }
#define SIZE_ROW(n, m, d, h) NUMBER_ROW(AT_OPT_SIZE, "N", 0, n, m, d, h)
#define POSITIVE_SIZE_ROW(n, m, d, h) NUMBER_ROW(AT_OPT_SIZE, "N", 1, n, m, d, h)
#define POSITIVE_UINT_ROW(n, m, d, h) NUMBER_ROW(AT_OPT_UINT, "N", 1, n, m, d, h)
#define MS_ROW(n, m, d, h) NUMBER_ROW(AT_OPT_UINT, "MS", 0, n, m, d, h)
#define STRING_ROW(n, m, mv, h) AT_OPT_STRING_ROW(collector_config, n, m, mv, h)
#define FLAG_ROW(n, m, h) AT_OPT_FLAG_ROW(collector_config, n, m, h)

static const at_opt table[] = {
    STRING_ROW("store", store_dir, "DIR",
               "store directory, created if missing (default: $AGENTTRAIL_STORE or "
               "./agenttrail-store)"),
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
    POSITIVE_SIZE_ROW("max-event-bytes", event_max, "1M", "largest encoded event accepted"),
    SIZE_ROW("max-string-bytes", string_max, "64K", "largest plain string field"),
    POSITIVE_SIZE_ROW("max-batch-bytes", batch_max_bytes, "16M", "largest framed batch"),
    POSITIVE_SIZE_ROW("max-batch-events", batch_max_events, "4096", "most events in a batch"),
    SIZE_ROW("group-events", group_events, "2048", "commit a group once it holds this many events"),
    SIZE_ROW("group-bytes", group_bytes, "8M",
             "commit a group once its events weigh this many bytes"),
    MS_ROW("group-ms", group_ms, "2",
           "commit a group at the latest this long after its first batch arrived"),
    SIZE_ROW("map-size-max", map_size_max, "0",
             "largest store map (0: no limit but the disk); past it batches get RETRY"),
    SIZE_ROW("recv-hwm", recv_hwm, "1000",
             "batches queued per connection before the socket stops reading (back-pressure)"),
    STRING_ROW("curve-secret", curve_secret, "FILE",
               "CURVE secret key (trace-collector keygen --curve -o NAME); needs --allow"),
    STRING_ROW("allow", allow, "FILE",
               "serve only shims whose public key is listed (\"NAME KEY\" lines); reloaded on "
               "SIGHUP"),
    FLAG_ROW("insecure", insecure,
             "allow non-loopback --listen without CURVE (anyone who can connect can write)"),
    STRING_ROW("signing-key", signing_key, "FILE",
               "Ed25519 key signing the log's checkpoints (default STORE/checkpoint.key, created "
               "0600 only for a new, empty log; a given FILE must exist: trace-collector keygen "
               "-o FILE)"),
    MS_ROW("checkpoint-ms", checkpoint_ms, "1000",
           "sign a checkpoint of the Merkle log at most this often after commits (0: every "
           "commit)"),
    SIZE_ROW("checkpoint-entries", checkpoint_entries, "16384",
             "also sign at once after a commit that leaves N entries unsigned (0: only "
             "--checkpoint-ms)"),
    STRING_ROW("witness", witness, "DIR",
               "append every signed checkpoint to DIR (another disk or host; verify --witness "
               "DIR)"),
    STRING_ROW("otlp-http", otlp_http, "ADDR:PORT",
               "serve OTLP/HTTP (POST /v1/traces), /metrics and /healthz there (PORT or :PORT: "
               "127.0.0.1; 4318 is the usual port; no authentication: keep it on loopback)"),
    STRING_ROW("http", http, "ADDR:PORT",
               "serve /metrics and /healthz there (the --otlp-http server serves them too)"),
    STRING_ROW("owners", owners, "FILE",
               "DRI of OTLP spans that name none: \"workflow:GLOB OWNER\" or \"service:GLOB "
               "OWNER\" lines, the last match wins (docs/otlp.md)"),
    STRING_ROW("hmac-key-file", hmac_key_file, "FILE",
               "organisation HMAC key reducing OTLP prompt and message content (default "
               "STORE/otlp-hmac.key, created 0600 on first start)"),
    POSITIVE_SIZE_ROW("otlp-max-body", otlp_max_body, "16M",
                      "largest OTLP request body once inflated (gzip); larger get 413"),
    POSITIVE_UINT_ROW("otlp-max-inflight", otlp_max_inflight, "64",
                      "OTLP requests served at once; more get 429 with Retry-After"),
    {.name = "otlp-max-inflight-bytes",
     .kind = AT_OPT_SIZE,
     CFG(otlp_max_inflight_bytes),
     .def = "256M",
     .metavar = "N",
     .min = 1,
     .help = "bytes the OTLP requests in flight may hold together (bodies inflated, and "
             "what decoding them costs); a request that would pass it gets 429 with "
             "Retry-After",
     .man = "Bytes the OTLP requests in flight may hold together: each body reserves its "
            "inflated bytes as it grows, then what decoding it will cost (112 bytes a "
            "protobuf field or JSON value, counted before decoding), and gives them back when "
            "its request is answered; a request that would pass the budget gets 429 with "
            "Retry-After 1. Keep it well above --otlp-max-body (the largest request may "
            "reserve ~240M with the default limits), or the largest requests never fit."},
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
