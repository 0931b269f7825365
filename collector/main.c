/*
 * main.c - trace-collector: options, signals, and the serving loop.
 *
 * Owns: the process: parses the options table (options.c), installs the
 * SIGTERM/SIGINT handlers that ask the loop to stop, runs it (server.c) and,
 * with --otlp-http / --http, the HTTP endpoint (http.c, ingest.c) beside it.
 * Threading: the main thread serves; the handlers only set a flag; the
 * HTTP threads hand their events to the main thread (ingest.h).
 * Exit status: 0 after a clean stop, 2 usage error, 3 store or socket error.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "http.h"
#include "ingest.h"
#include "log.h"
#include "metrics.h"
#include "options.h"
#include "server.h"
#include "signer.h"

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void on_hangup(int sig)
{
    (void)sig;
    collector_request_reload();
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "keygen") == 0) {
        int k = signer_keygen_main(argc - 1, argv + 1); /* -1: --curve, a transport key */
        return k >= 0 ? k : auth_keygen_main(argc - 1, argv + 1);
    }
    collector_config cfg;
    int rc = collector_options_parse(argc, argv, &cfg);
    if (rc != 0) return rc > 0 ? 0 : 2;
    clog_set_level(cfg.log_level);
    if (cfg.print_public_key) {
        char path[4096], err[AT_ERROR_TEXT_LEN] = "";
        if (!cfg.signing_key) signer_default_key_path(cfg.store_dir, path, sizeof path);
        at_error e = {0};
        if (signer_print_public_key(cfg.signing_key ? cfg.signing_key : path, NULL, stdout, &e) !=
            0) {
            fprintf(stderr, "trace-collector: --print-public-key: %s\n",
                    at_error_format(&e, err, sizeof err));
            return 3;
        }
        return 0;
    }

    /* No SA_RESTART: a signal interrupts zmq_poll and the loop sees the flag. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_hangup;
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    metrics *m = metrics_create();
    collector *c = NULL;
    ingest *g = NULL;
    http_server *h = NULL;
    rc = m ? collector_open(&cfg, m, &c) : 3;
    if (rc == 0 && cfg.otlp_http) rc = ingest_open(&cfg, collector_zmq_context(c), m, &g);
    if (rc == 0) rc = http_start(&cfg, m, g, &h);
    if (rc == 0) {
        clog_line(CLOG_INFO, "ready (group commit: %zu events, %zu bytes, %zu ms)",
                  cfg.group_events, cfg.group_bytes, cfg.group_ms);
        rc = collector_run(c, &g_stop);
    }
    /* HTTP requests still waiting give up (503) once the loop is gone; their DEALERs
     * close before the context does. */
    ingest_stop(g);
    http_stop(&h);
    ingest_close(&g);
    collector_close(&c);
    metrics_destroy(&m);
    clog_line(CLOG_INFO, "stopped");
    return rc;
}
