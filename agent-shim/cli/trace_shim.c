/*
 * trace_shim.c - the trace-shim program.
 *
 *   trace-shim --dry-run [OPTIONS] [FILE...]   judge and print canonical events
 *   trace-shim [OPTIONS] [FILE...]             send to a collector (shim_send.c)
 *   trace-shim keygen --hmac -o FILE           make an organisation HMAC key
 *
 * Responsibility: command line, key loading, and the output of --dry-run.
 * Reading, judging and reporting lines is jsonl_source.c's, shared by every
 * mode; sending plugs in as run_send(). Options come from one table that
 * drives getopt_long and --help alike.
 *
 * Exit status: 0 every line valid (and, sending, acked); 1 a line was
 * rejected (the valid ones are still printed or sent); 2 usage error,
 * unusable key file, unreadable input, output error, or a line needed the
 * HMAC key and none was configured, --max-event-bytes above what can be
 * spooled and delivered (sending); 3 (sending) not every event was acked
 * within --timeout: the rest waits in the spool for the next run; 4
 * (sending) events were lost: dropped because the spool could not take them
 * (disk full...), found damaged in the spool, or set aside as too big for
 * the collector; 4 wins over 3 and 1.
 *
 * Threading: single-threaded program.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "jsonl_source.h"
#include "shim_send.h"
#include "traceproto.h"
#include "text_term.h"

#define EXIT_REJECTED 1
#define EXIT_USAGE 2
#define EXIT_TIMEOUT 3
#define EXIT_LOST 4
#define KEY_ENV "AGENTTRAIL_HMAC_KEY_FILE"

enum opt_id {
    OPT_DRY_RUN = 256,
    OPT_KEY_FILE,
    OPT_KEEP_TEXT,
    OPT_LENIENT,
    OPT_MAX_EVENT,
    OPT_MAX_PATCH,
    OPT_MAX_ARGUMENTS,
    OPT_MAX_STRING,
    OPT_MAX_CONTEXT_IDS,
    OPT_MAX_ATTRIBUTES,
    OPT_ENDPOINT,
    OPT_SPOOL_DIR,
    OPT_TIMEOUT,
    OPT_FOLLOW,
    OPT_SERVER_KEY,
    OPT_CLIENT_KEY,
    OPT_HELP = 'h',
    OPT_VERSION = 'V',
};

typedef struct shim_option {
    const char *name;
    int id;
    const char *arg; /* NULL: takes no argument */
    const char *help;
    size_t limit_offset; /* for the limits options: offset in tp_limits, else SIZE_MAX */
} shim_option;

#define NO_LIMIT ((size_t)-1)

static const shim_option options[] = {
    {"dry-run", OPT_DRY_RUN, NULL,
     "judge each line and print the event as it would be sent, as canonical JSON, on stdout; "
     "send nothing",
     NO_LIMIT},
    {"hmac-key-file", OPT_KEY_FILE, "FILE",
     "the organisation key that prompt.text is hashed with (64 hex digits; default: $" KEY_ENV
     "); make one with `trace-shim keygen --hmac -o FILE`",
     NO_LIMIT},
    {"keep-prompt-text", OPT_KEEP_TEXT, NULL,
     "keep prompt.text beside its HMAC instead of dropping it", NO_LIMIT},
    {"lenient", OPT_LENIENT, NULL,
     "unknown top-level fields are warnings (and dropped) instead of errors", NO_LIMIT},
    {"max-event-bytes", OPT_MAX_EVENT, "N",
     "largest line and encoded event (default 1 MiB; when sending, at most 16320K: what one "
     "batch holds)",
     offsetof(tp_limits, event_max)},
    {"max-patch-bytes", OPT_MAX_PATCH, "N", "largest diff.patch (default 1 MiB)",
     offsetof(tp_limits, patch_max)},
    {"max-arguments-bytes", OPT_MAX_ARGUMENTS, "N", "largest tool_call.arguments (default 256 KiB)",
     offsetof(tp_limits, arguments_max)},
    {"max-string-bytes", OPT_MAX_STRING, "N", "largest other string (default 64 KiB)",
     offsetof(tp_limits, string_max)},
    {"max-context-ids", OPT_MAX_CONTEXT_IDS, "N", "most context_ids entries (default 1024)",
     offsetof(tp_limits, context_ids_max)},
    {"max-attributes", OPT_MAX_ATTRIBUTES, "N", "most attributes entries (default 64)",
     offsetof(tp_limits, attributes_max)},
    {"endpoint", OPT_ENDPOINT, "E",
     "collector to send to, tcp://HOST:PORT or ipc://PATH, repeatable (default "
     "tcp://127.0.0.1:7600)",
     NO_LIMIT},
    {"spool-dir", OPT_SPOOL_DIR, "DIR",
     "where unacked events wait for the next run (default: $AGENTTRAIL_SPOOL_DIR, else "
     "./agenttrail-spool)",
     NO_LIMIT},
    {"timeout", OPT_TIMEOUT, "SECONDS", "wait this long for the acks at the end (default 30)",
     NO_LIMIT},
    {"follow", OPT_FOLLOW, "FILE", "tail FILE as it grows (log shipping) until SIGINT or SIGTERM",
     NO_LIMIT},
    {"server-key", OPT_SERVER_KEY, "FILE",
     "the collector's CURVE public key (NAME.pub of trace-collector keygen --curve)", NO_LIMIT},
    {"client-key", OPT_CLIENT_KEY, "FILE",
     "this shim's CURVE secret key (NAME.key, mode 0600); its NAME.pub goes in the collector's "
     "--allow file",
     NO_LIMIT},
    {"help", OPT_HELP, NULL, "print this help and exit", NO_LIMIT},
    {"version", OPT_VERSION, NULL, "print the version and exit", NO_LIMIT},
};
#define N_OPTIONS (sizeof options / sizeof options[0])

typedef struct shim_config {
    bool dry_run;
    const char *key_file;
    jsonl_options judge;
    uint8_t key[TP_HMAC_KEY_LEN];
    shim_send_options send;
    const char *server_key_file, *client_key_file;
    char server_key[41], client_key[41]; /* Z85 */
} shim_config;

static void print_help(FILE *out)
{
    fprintf(out,
            "usage: trace-shim --dry-run [OPTIONS] [FILE...]\n"
            "       trace-shim [OPTIONS] [FILE...]      (send to a collector)\n"
            "       trace-shim keygen --hmac -o FILE\n\n"
            "Reads trace events as JSON lines (EVENTS.md) from each FILE, or stdin when there\n"
            "is none or FILE is \"-\". Fills missing event_id, trace_id, span_id and time,\n"
            "replaces prompt.text by its HMAC-SHA256 under the organisation key, and checks\n"
            "every rule. Rejected lines go to stderr as FILE:LINE: field: problem.\n\n"
            "options:\n");
    for (size_t i = 0; i < N_OPTIONS; i++) {
        char left[64];
        snprintf(left, sizeof left, "--%s%s%s", options[i].name, options[i].arg ? " " : "",
                 options[i].arg ? options[i].arg : "");
        fprintf(out, "  %-28s %s\n", left, options[i].help);
    }
    fprintf(out,
            "\nkeygen options:\n"
            "  %-28s make an HMAC key for prompt text (the only kind for now)\n"
            "  %-28s write the key to FILE, created 0600; an existing file is never "
            "overwritten\n",
            "--hmac", "-o, --output FILE");
    fprintf(out, "\nexit status: 0 every line valid; 1 a line was rejected (valid lines are still\n"
                 "printed or sent); 2 usage error, unusable key, unreadable input, or prompt text\n"
                 "to hash with no key configured, or (sending) --max-event-bytes too big; 3 when\n"
                 "sending, not every event was acked within --timeout (the rest waits in the\n"
                 "spool and goes with the next run); 4 when sending, events were lost: dropped\n"
                 "because the spool could not take them (disk full) or found damaged in the\n"
                 "spool (each damaged record is named: segment file, byte offset), or too big\n"
                 "for the collector even alone in a batch (moved to undeliverable.spool in the\n"
                 "spool directory); 4 wins over 3 and 1.\n"
                 "Sending prints one summary line on stderr: sent (read here or recovered from\n"
                 "an earlier run's spool), acked, rejected, spooled, dropped, lost.\n");
}

/* N, NK or NM (KiB, MiB); 0 on success. */
static int parse_size(const char *s, size_t *out)
{
    if (!s || *s < '0' || *s > '9') return -1;
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s) return -1;
    unsigned long long mult = 1;
    if (*end == 'k' || *end == 'K')
        mult = 1024, end++;
    else if (*end == 'm' || *end == 'M')
        mult = 1024 * 1024, end++;
    if (*end || v == 0 || v > SIZE_MAX / mult) return -1;
    *out = (size_t)(v * mult);
    return 0;
}

static int usage_error(const char *fmt, const char *arg)
{
    /* arg is what was typed: cleaned with the rest (text_term.h). */
    char msg[4200];
    snprintf(msg, sizeof msg, fmt, arg);
    tp_term_printf(stderr, "trace-shim: %s; see trace-shim --help", msg);
    return EXIT_USAGE;
}

/* Parses argv into cfg; returns -1 to go on, or an exit status. */
static int parse_args(int argc, char **argv, shim_config *cfg)
{
    struct option longopts[N_OPTIONS + 1];
    for (size_t i = 0; i < N_OPTIONS; i++) {
        longopts[i].name = options[i].name;
        longopts[i].has_arg = options[i].arg ? required_argument : no_argument;
        longopts[i].flag = NULL;
        longopts[i].val = options[i].id;
    }
    memset(&longopts[N_OPTIONS], 0, sizeof longopts[N_OPTIONS]);
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "+hV", longopts, NULL)) != -1) {
        const shim_option *o = NULL;
        for (size_t i = 0; i < N_OPTIONS; i++)
            if (options[i].id == c) o = &options[i];
        if (!o) {
            const char *bad = argv[optind - 1] ? argv[optind - 1] : "?";
            if (c == ':' || (c == '?' && optopt))
                return usage_error("option %s needs an argument or is unknown", bad);
            return usage_error("unknown option %s", bad);
        }
        if (o->limit_offset != NO_LIMIT) {
            size_t v;
            if (parse_size(optarg, &v) != 0)
                return usage_error("--%s needs a positive size (N, NK or NM)", o->name);
            *(size_t *)((char *)&cfg->judge.limits + o->limit_offset) = v;
            continue;
        }
        switch (c) {
        case OPT_DRY_RUN:
            cfg->dry_run = true;
            break;
        case OPT_KEY_FILE:
            cfg->key_file = optarg;
            break;
        case OPT_KEEP_TEXT:
            cfg->judge.keep_prompt_text = 1;
            break;
        case OPT_LENIENT:
            cfg->judge.lenient = 1;
            break;
        case OPT_ENDPOINT:
            if (cfg->send.nendpoints == TRACESHIM_MAX_ENDPOINTS - 1)
                return usage_error("too many --endpoint (at most %s)", "7");
            cfg->send.endpoints[cfg->send.nendpoints++] = optarg;
            break;
        case OPT_SPOOL_DIR:
            cfg->send.spool_dir = optarg;
            break;
        case OPT_TIMEOUT: {
            size_t v;
            if (parse_size(optarg, &v) != 0 || v > 86400)
                return usage_error("--timeout needs whole seconds, 1 to 86400: %s", optarg);
            cfg->send.timeout_s = (unsigned)v;
            break;
        }
        case OPT_FOLLOW:
            cfg->send.follow = optarg;
            break;
        case OPT_SERVER_KEY:
            cfg->server_key_file = optarg;
            break;
        case OPT_CLIENT_KEY:
            cfg->client_key_file = optarg;
            break;
        case OPT_HELP:
            print_help(stdout);
            return 0;
        case OPT_VERSION:
            printf("trace-shim %s\n", AGENTTRAIL_VERSION);
            return 0;
        default:
            return usage_error("unhandled option %s", argv[optind - 1]);
        }
    }
    return -1;
}

/* Loads the key when one is configured; an unusable configured key is fatal. */
static int load_key(shim_config *cfg)
{
    const char *path = cfg->key_file;
    if (!path) {
        const char *env = getenv(KEY_ENV);
        path = env && *env ? env : NULL;
    }
    if (!path) return 0; /* none configured: only lines with prompt.text need one */
    at_error err;
    if (tp_hmac_key_load(path, cfg->key, &err) != TP_OK) {
        tp_term_printf(stderr, "trace-shim: %s: %s", err.where, err.what);
        return EXIT_USAGE;
    }
    cfg->judge.hmac_key = cfg->key;
    return 0;
}

/* The exit status once every input is read. */
static int finish(const jsonl_stats *st)
{
    if (st->key_missing) {
        fprintf(stderr,
                "trace-shim: %llu line(s) carry prompt.text and no HMAC key is configured; make "
                "one with `trace-shim keygen --hmac -o FILE`, then pass --hmac-key-file FILE or "
                "set " KEY_ENV "\n",
                (unsigned long long)st->key_missing);
        return EXIT_USAGE;
    }
    if (st->unreadable) return EXIT_USAGE;
    return st->rejected ? EXIT_REJECTED : 0;
}

static int run_dry_run(const shim_config *cfg, const char *const *files, size_t n)
{
    jsonl_source *src = NULL;
    if (jsonl_source_open(&src, files, n, &cfg->judge) != TP_OK) {
        fprintf(stderr, "trace-shim: out of memory\n");
        return EXIT_USAGE;
    }
    tp_event *ev = NULL;
    bool out_failed = false;
    while (jsonl_source_next(src, &ev, NULL) == 1) {
        size_t len = 0;
        char *json = tp_event_to_json(ev, &len);
        tp_event_destroy(&ev);
        if (!json) {
            fprintf(stderr, "trace-shim: out of memory writing an event\n");
            out_failed = true;
            break;
        }
        if (fwrite(json, 1, len, stdout) != len || putchar('\n') == EOF) out_failed = true;
        free(json);
        if (out_failed) break;
    }
    if (fflush(stdout) != 0) out_failed = true;
    if (out_failed)
        tp_term_printf(stderr, "trace-shim: cannot write to stdout: %s", strerror(errno));
    int status = out_failed ? EXIT_USAGE : finish(jsonl_source_stats(src));
    jsonl_source_destroy(&src);
    return status;
}

/* Sending to a collector (shim_send.c): the same judgement and messages as
 * --dry-run; exit 3 when delivery did not complete within --timeout. */
static int run_send(const shim_config *cfg, const char *const *files, size_t n)
{
    size_t most = traceshim_event_max(&cfg->judge.limits);
    if (cfg->judge.limits.event_max > most) {
        char what[160];
        snprintf(what, sizeof what, "%zu bytes is above %zu (%zuK)", cfg->judge.limits.event_max,
                 most, most / 1024);
        return usage_error("--max-event-bytes %s, the largest event one batch to the collector "
                           "holds and the spool can keep (--dry-run takes any size)",
                           what);
    }
    jsonl_stats st;
    int delivery = 0;
    if (shim_send_run(&cfg->send, &cfg->judge, files, n, &st, &delivery) != 0) return EXIT_USAGE;
    int status = finish(&st);
    if (status == EXIT_USAGE) return status;
    if (delivery == SHIM_SEND_LOST) return EXIT_LOST;
    if (delivery == SHIM_SEND_TIMEOUT) return EXIT_TIMEOUT;
    return delivery == SHIM_SEND_REJECTED ? EXIT_REJECTED : status;
}

static int keygen(int argc, char **argv)
{
    static const struct option kopts[] = {{"hmac", no_argument, NULL, 'k'},
                                          {"output", required_argument, NULL, 'o'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    bool hmac = false;
    const char *out = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:h", kopts, NULL)) != -1) {
        switch (c) {
        case 'k':
            hmac = true;
            break;
        case 'o':
            out = optarg;
            break;
        case 'h':
            print_help(stdout);
            return 0;
        default:
            return usage_error("keygen: bad option %s", argv[optind - 1]);
        }
    }
    if (!hmac || !out || optind != argc)
        return usage_error("%s", "usage: trace-shim keygen --hmac -o FILE");
    uint8_t key[TP_HMAC_KEY_LEN];
    if (tp_id_random(key, sizeof key) != TP_OK) {
        fprintf(stderr, "trace-shim: keygen: no random bytes from OpenSSL\n");
        return EXIT_USAGE;
    }
    char hex[2 * TP_HMAC_KEY_LEN + 2];
    at_hex_encode(key, sizeof key, hex);
    hex[2 * TP_HMAC_KEY_LEN] = '\n';
    hex[2 * TP_HMAC_KEY_LEN + 1] = 0;
    int fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        if (errno == EEXIST)
            tp_term_printf(stderr,
                           "trace-shim: %s exists; refusing to overwrite a key (every event hashed "
                           "with it would stop matching); remove it first to replace it",
                           out);
        else
            tp_term_printf(stderr, "trace-shim: cannot create %s: %s", out, strerror(errno));
        return EXIT_USAGE;
    }
    size_t len = strlen(hex);
    bool ok = write(fd, hex, len) == (ssize_t)len && fsync(fd) == 0;
    int e = errno;
    if (close(fd) != 0) ok = false;
    memset(hex, 0, sizeof hex);
    memset(key, 0, sizeof key);
    if (!ok) {
        tp_term_printf(stderr, "trace-shim: cannot write %s: %s", out, strerror(e));
        unlink(out);
        return EXIT_USAGE;
    }
    tp_term_printf(stderr,
                   "trace-shim: wrote a new HMAC key to %s (mode 0600); every shim of the "
                   "organisation must use the same key",
                   out);
    return 0;
}

/* Reads a Z85 CURVE key file (tp_curve_key_parse: the bare key of a .pub
 * file, or "KEY secret-key" in a .key file from trace-collector keygen); a
 * regular file only (a FIFO is refused, not waited on); a secret key must not
 * be readable by group or others; where a public key is wanted (the server's,
 * --server-key) a file marked as a secret key is refused. 0 or EXIT_USAGE. */
static int load_curve_key(const char *path, int secret, char out[41])
{
    struct stat st;
    at_error why;
    int fd = tp_file_open_regular(path, &st, &why);
    if (fd < 0) {
        tp_term_printf(stderr, "trace-shim: %s", why.what);
        return EXIT_USAGE;
    }
    if (secret && (st.st_mode & 077)) {
        close(fd);
        tp_term_printf(
            stderr, "trace-shim: %s: secret key readable by group or others; chmod 600 it", path);
        return EXIT_USAGE;
    }
    char buf[512];
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    int marked = 0;
    uint8_t bin[32];
    int bad = n < 0 || (size_t)n == sizeof buf ||
              tp_curve_key_parse(buf, (size_t)n, out, &marked) != 0 || !zmq_z85_decode(bin, out);
    memset(buf, 0, sizeof buf);
    memset(bin, 0, sizeof bin);
    if (bad)
        tp_term_printf(stderr,
                       "trace-shim: %s: not a CURVE key (40 Z85 characters, from trace-collector "
                       "keygen --curve)",
                       path);
    else if (!secret && marked)
        tp_term_printf(stderr,
                       "trace-shim: %s: holds a CURVE secret key; --server-key takes the "
                       "collector's public key (the NAME.pub file keygen wrote beside it): pass "
                       "that, and keep the secret key on the collector",
                       path);
    if (!bad && !(!secret && marked)) return 0;
    memset(out, 0, 41);
    return EXIT_USAGE;
}

static int load_curve_keys(shim_config *cfg)
{
    if (!cfg->server_key_file && !cfg->client_key_file) return 0;
    if (!cfg->server_key_file || !cfg->client_key_file)
        return usage_error("%s", "--server-key and --client-key go together");
    if (load_curve_key(cfg->server_key_file, 0, cfg->server_key) ||
        load_curve_key(cfg->client_key_file, 1, cfg->client_key))
        return EXIT_USAGE;
    cfg->send.curve_server_key = cfg->server_key;
    cfg->send.curve_secret_key = cfg->client_key;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "keygen") == 0) return keygen(argc - 1, argv + 1);
    shim_config cfg = {.judge = jsonl_options_default()};
    int status = parse_args(argc, argv, &cfg);
    if (status >= 0) return status;
    status = load_key(&cfg);
    if (status == 0) status = load_curve_keys(&cfg);
    if (status) return status;
    const char *const *files = (const char *const *)(argv + optind);
    size_t n = (size_t)(argc - optind);
    status = cfg.dry_run ? run_dry_run(&cfg, files, n) : run_send(&cfg, files, n);
    memset(cfg.key, 0, sizeof cfg.key);
    memset(cfg.client_key, 0, sizeof cfg.client_key);
    return status;
}
