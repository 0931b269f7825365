/*
 * options.h - trace-collector's configuration and its one options table.
 *
 * The table in options.c drives parsing, defaults, --help, the man page
 * (--man) and the config-file keys (common/opt.c), so adding an option is one
 * row there plus its field here.
 * Threading: parsed once in main before anything starts.
 */
#ifndef AGENTTRAIL_COLLECTOR_OPTIONS_H
#define AGENTTRAIL_COLLECTOR_OPTIONS_H

#include <stddef.h>
#include <stdio.h>

#define COLLECTOR_MAX_LISTEN 16

typedef struct collector_config {
    const char *store_dir;                    /* --store */
    const char *listen[COLLECTOR_MAX_LISTEN]; /* --listen, repeatable */
    int nlisten;
    int log_level;             /* --log-level */
    size_t event_max;          /* --max-event-bytes */
    size_t string_max;         /* --max-string-bytes */
    size_t batch_max_bytes;    /* --max-batch-bytes */
    size_t batch_max_events;   /* --max-batch-events */
    size_t group_events;       /* --group-events */
    size_t group_bytes;        /* --group-bytes */
    size_t group_ms;           /* --group-ms */
    size_t map_size_max;       /* --map-size-max */
    size_t recv_hwm;           /* --recv-hwm */
    const char *curve_secret;  /* --curve-secret (collector/auth.h) */
    const char *allow;         /* --allow: allowlist of shim public keys */
    int insecure;              /* --insecure: non-loopback --listen without CURVE */
    const char *signing_key;   /* --signing-key (NULL: STORE/checkpoint.key) */
    size_t checkpoint_ms;      /* --checkpoint-ms: at most one checkpoint per interval */
    size_t checkpoint_entries; /* --checkpoint-entries: sign at once past this many unsigned */
    const char *witness;       /* --witness DIR: every checkpoint appended there too */
    int print_public_key;      /* --print-public-key: print it and exit */
    const char *otlp_http;     /* --otlp-http ADDR:PORT: OTLP/HTTP receiver (+ metrics, health) */
    const char *http;          /* --http ADDR:PORT: metrics and health only */
    const char *owners;        /* --owners FILE: DRI of OTLP spans by workflow or service */
    const char *hmac_key_file; /* --hmac-key-file (NULL: STORE/otlp-hmac.key) */
    size_t otlp_max_body;      /* --otlp-max-body: largest request body, once inflated */
    size_t otlp_max_inflight;  /* --otlp-max-inflight: OTLP requests at once, more get 429 */
    size_t otlp_max_inflight_bytes; /* --otlp-max-inflight-bytes: their bodies together */
} collector_config;

/* Fills defaults, then parses argv. Returns 0 to run, 1 when --help,
 * --version or --man was printed (exit 0), -1 on a usage error (message printed to
 * stderr; exit 2). */
int collector_options_parse(int argc, char **argv, collector_config *cfg);

/* Prints the usage text generated from the table. */
void collector_options_help(FILE *out);

/* The table and its texts, for at_opt_set_key (a config file) and at_opt_man. */
struct at_opt_prog;
const struct at_opt_prog *collector_options_prog(void);

#endif
