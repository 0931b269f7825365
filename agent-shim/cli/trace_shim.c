/*
 * trace_shim.c - the trace-shim program.
 *
 *   trace-shim --dry-run [OPTIONS] [FILE...]   judge and print canonical events
 *   trace-shim [OPTIONS] [FILE...]             send to a collector (shim_send.c)
 *   trace-shim keygen --hmac -o FILE           make an organisation HMAC key
 *
 * Responsibility: command line, key loading, and the output of --dry-run.
 * Reading, judging and reporting lines is jsonl_source.c's, shared by every
 * mode; sending plugs in as run_send(). Options come from one table
 * (common/opt.c) that drives parsing, --help, --man and config keys alike.
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
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "atcommon.h"
#include "jsonl_source.h"
#include "shim_send.h"
#include "traceproto.h"
#include "text_term.h"

#define EXIT_REJECTED 1
#define EXIT_USAGE 2
#define EXIT_TIMEOUT 3
#define EXIT_LOST 4
#define KEY_ENV "AGENTTRAIL_HMAC_KEY_FILE"

typedef struct shim_config {
    bool dry_run;
    const char *key_file;
    jsonl_options judge;
    uint8_t key[TP_HMAC_KEY_LEN];
    shim_send_options send;
    const char *server_key_file, *client_key_file;
    char server_key[41], client_key[41]; /* Z85 */
} shim_config;

/* The options table (common/opt.c): parsing, --help, the man page, config keys. Sizes are
 * at_parse_size's (N, NK, NM, NG); every limit is at least 1. The defaults of the limits are
 * libtraceproto's (jsonl_options_default), said in the help text. */
#define SHIM(m) AT_OPT_AT(shim_config, m)
#define STRING_ROW(n, m, mv, h) AT_OPT_STRING_ROW(shim_config, n, m, mv, h)
#define FLAG_ROW(n, m, h) AT_OPT_FLAG_ROW(shim_config, n, m, h)
/* The row of option `n`, the limit `m` (a size, at least 1): its help `h` says the default. */
#define LIMIT_ROW(n, m, h)                                                                         \
    {                                                                                              \
        .name = n, .kind = AT_OPT_SIZE, SHIM(judge.limits.m), .metavar = "N", .min = 1, .help = h  \
    }

static const at_opt options[] = {
    FLAG_ROW("dry-run", dry_run,
             "judge each line and print the event as it would be sent, as canonical JSON, on "
             "stdout; send nothing"),
    STRING_ROW("hmac-key-file", key_file, "FILE",
               "the organisation key that prompt.text is hashed with (64 hex digits; default: "
               "$" KEY_ENV "); make one with `trace-shim keygen --hmac -o FILE`"),
    FLAG_ROW("keep-prompt-text", judge.keep_prompt_text,
             "keep prompt.text beside its HMAC instead of dropping it"),
    FLAG_ROW("lenient", judge.lenient,
             "unknown top-level fields are warnings (and dropped) instead of errors"),
    LIMIT_ROW("max-event-bytes", event_max,
              "largest line and encoded event (default 1 MiB; when sending, at most 16320K: what "
              "one batch holds)"),
    LIMIT_ROW("max-patch-bytes", patch_max, "largest diff.patch (default 1 MiB)"),
    LIMIT_ROW("max-arguments-bytes", arguments_max,
              "largest tool_call.arguments (default 256 KiB)"),
    LIMIT_ROW("max-string-bytes", string_max, "largest other string (default 64 KiB)"),
    LIMIT_ROW("max-context-ids", context_ids_max, "most context_ids entries (default 1024)"),
    LIMIT_ROW("max-attributes", attributes_max, "most attributes entries (default 64)"),
    {.name = "endpoint",
     .kind = AT_OPT_LIST,
     SHIM(send.endpoints),
     .metavar = "E",
     .count_off = offsetof(shim_config, send.nendpoints),
     .max = TRACESHIM_MAX_ENDPOINTS - 1,
     .expect = "too many --endpoint (at most 7)",
     .help = "collector to send to, tcp://HOST:PORT or ipc://PATH, repeatable (default "
             "tcp://127.0.0.1:7600)"},
    STRING_ROW("spool-dir", send.spool_dir, "DIR",
               "where unacked events wait for the next run (default: $AGENTTRAIL_SPOOL_DIR, else "
               "./agenttrail-spool)"),
    {.name = "timeout",
     .kind = AT_OPT_UINT,
     SHIM(send.timeout_s),
     .metavar = "SECONDS",
     .min = 1,
     .max = 86400,
     .expect = "needs whole seconds, 1 to 86400",
     .help = "wait this long for the acks at the end (default 30)"},
    STRING_ROW("follow", send.follow, "FILE",
               "tail FILE as it grows (log shipping) until SIGINT or SIGTERM"),
    STRING_ROW("server-key", server_key_file, "FILE",
               "the collector's CURVE public key (NAME.pub of trace-collector keygen --curve)"),
    STRING_ROW("client-key", client_key_file, "FILE",
               "this shim's CURVE secret key (NAME.key, mode 0600); its NAME.pub goes in the "
               "collector's --allow file"),
    {.name = "help", .letter = 'h', .kind = AT_OPT_HELP, .help = "print this help and exit"},
    {.name = "version",
     .letter = 'V',
     .kind = AT_OPT_VERSION,
     .help = "print the version and exit"},
    {.name = "man", .kind = AT_OPT_MAN, .help = "print the man page (roff)"},
    {.name = NULL},
};

static const char exit_status[] =
    "0 every line valid; 1 a line was rejected (valid lines are still\n"
    "printed or sent); 2 usage error, unusable key, unreadable input, or prompt text\n"
    "to hash with no key configured, or (sending) --max-event-bytes too big; 3 when\n"
    "sending, not every event was acked within --timeout (the rest waits in the\n"
    "spool and goes with the next run); 4 when sending, events were lost: dropped\n"
    "because the spool could not take them (disk full) or found damaged in the\n"
    "spool (each damaged record is named: segment file, byte offset), or too big\n"
    "for the collector even alone in a batch (moved to undeliverable.spool in the\n"
    "spool directory); 4 wins over 3 and 1.\n";

static const at_opt_section man_sections[] = {
    {"EXIT STATUS", exit_status},
    {"ENVIRONMENT",
     KEY_ENV ": the HMAC key file when --hmac-key-file is not given.\n"
             "\n"
             "AGENTTRAIL_SPOOL_DIR: the spool directory when --spool-dir is not given."},
    {"EXAMPLES",
     "  trace-shim keygen --hmac -o org.hmac.key\n"
     "  trace-shim --dry-run --hmac-key-file org.hmac.key events.jsonl\n"
     "  agent | trace-shim --hmac-key-file org.hmac.key --endpoint tcp://10.0.0.5:7600"},
    {"SEE ALSO", "trace-collector(1), trace-query(1)"},
    {NULL, NULL},
};

static char help_tail[1400];

static const at_opt_prog prog = {
    .name = "trace-shim",
    .opts = options,
    .positionals = AT_OPT_POS_STOP,
    .head = "usage: trace-shim --dry-run [OPTIONS] [FILE...]\n"
            "       trace-shim [OPTIONS] [FILE...]      (send to a collector)\n"
            "       trace-shim keygen --hmac -o FILE\n\n"
            "Reads trace events as JSON lines (EVENTS.md) from each FILE, or stdin when there\n"
            "is none or FILE is \"-\". Fills missing event_id, trace_id, span_id and time,\n"
            "replaces prompt.text by its HMAC-SHA256 under the organisation key, and checks\n"
            "every rule. Rejected lines go to stderr as FILE:LINE: field: problem.\n\n",
    .opts_title = "options:\n",
    .tail = help_tail,
    .summary = "judge trace events (JSON lines) and send them to a collector",
    .sections = man_sections,
};

/* The keygen command's table: its help is the tail of the main help. */
typedef struct keygen_args {
    int hmac;
    const char *out;
} keygen_args;

static const at_opt keygen_options[] = {
    {.name = "hmac",
     .kind = AT_OPT_FLAG,
     AT_OPT_AT(keygen_args, hmac),
     .help = "make an HMAC key for prompt text (the only kind for now)"},
    {.name = "output",
     .letter = 'o',
     .kind = AT_OPT_STRING,
     AT_OPT_AT(keygen_args, out),
     .metavar = "FILE",
     .help = "write the key to FILE, created 0600; an existing file is never overwritten"},
    {.name = "help", .letter = 'h', .kind = AT_OPT_HELP, .help = "print this help and exit"},
    {.name = NULL},
};

static const at_opt_prog keygen_prog = {
    .name = "trace-shim keygen",
    .opts = keygen_options,
    .positionals = AT_OPT_POS_NONE,
    .opts_title = "\nkeygen options:\n",
};

static void print_help(FILE *out)
{
    at_opt_help(&prog, out);
}

/* The tail of --help: keygen's options (from its table), the exit status, the summary. */
static void build_help_tail(void)
{
    FILE *f = fmemopen(help_tail, sizeof help_tail - 1, "w");
    if (!f) return;
    at_opt_help(&keygen_prog, f);
    fprintf(f, "\nexit status: %s", exit_status);
    fputs("Sending prints one summary line on stderr: sent (read here or recovered from\n"
          "an earlier run's spool), acked, rejected, spooled, dropped, lost.\n",
          f);
    fclose(f);
}

static int usage_error(const char *fmt, const char *arg)
{
    /* arg is what was typed: cleaned with the rest (text_term.h). */
    char msg[4200];
    snprintf(msg, sizeof msg, fmt, arg);
    tp_term_printf(stderr, "trace-shim: %s; see trace-shim --help", msg);
    return EXIT_USAGE;
}

/* A usage error from the engine: its message already says where to look. */
static int opt_error(const at_error *err)
{
    char msg[AT_ERROR_TEXT_LEN];
    tp_term_printf(stderr, "trace-shim: %s", at_error_format(err, msg, sizeof msg));
    return EXIT_USAGE;
}

/* Parses argv into cfg and the input files into *res; returns -1 to go on, or an exit
 * status. */
static int parse_args(int argc, char **argv, shim_config *cfg, at_opt_result *res)
{
    at_error err;
    if (at_opt_parse(&prog, argc, argv, cfg, res, &err) != AT_OK) return opt_error(&err);
    return at_opt_answer(&prog, res, AGENTTRAIL_VERSION, stdout) ? 0 : -1;
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
    keygen_args k = {0};
    at_opt_result res;
    at_error err;
    int rc = at_opt_parse(&keygen_prog, argc, argv, &k, &res, &err);
    at_opt_done(&res);
    if (rc != AT_OK) return opt_error(&err);
    if (res.help) {
        print_help(stdout);
        return 0;
    }
    if (!k.hmac || !k.out) return usage_error("%s", "usage: trace-shim keygen --hmac -o FILE");
    uint8_t key[TP_HMAC_KEY_LEN];
    if (tp_id_random(key, sizeof key) != TP_OK) {
        fprintf(stderr, "trace-shim: keygen: no random bytes from OpenSSL\n");
        return EXIT_USAGE;
    }
    char hex[2 * TP_HMAC_KEY_LEN + 2];
    at_hex_encode(key, sizeof key, hex);
    hex[2 * TP_HMAC_KEY_LEN] = '\n';
    hex[2 * TP_HMAC_KEY_LEN + 1] = 0;
    rc = at_file_create(k.out, hex, strlen(hex), 0600, &err);
    memset(hex, 0, sizeof hex);
    memset(key, 0, sizeof key);
    if (rc == AT_EEXIST) {
        tp_term_printf(stderr,
                       "trace-shim: %s exists; refusing to overwrite a key (every event hashed "
                       "with it would stop matching); remove it first to replace it",
                       k.out);
        return EXIT_USAGE;
    }
    if (rc != AT_OK) return opt_error(&err);
    tp_term_printf(stderr,
                   "trace-shim: wrote a new HMAC key to %s (mode 0600); every shim of the "
                   "organisation must use the same key",
                   k.out);
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
    build_help_tail();
    if (argc > 1 && strcmp(argv[1], "keygen") == 0) return keygen(argc - 1, argv + 1);
    shim_config cfg = {.judge = jsonl_options_default()};
    at_opt_result res;
    int status = parse_args(argc, argv, &cfg, &res);
    if (status < 0 && (status = load_key(&cfg)) == 0 && (status = load_curve_keys(&cfg)) == 0) {
        const char *const *files = (const char *const *)res.rest;
        size_t n = (size_t)res.nrest;
        status = cfg.dry_run ? run_dry_run(&cfg, files, n) : run_send(&cfg, files, n);
    }
    at_opt_done(&res);
    memset(cfg.key, 0, sizeof cfg.key);
    memset(cfg.client_key, 0, sizeof cfg.client_key);
    return status;
}
