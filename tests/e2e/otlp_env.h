/*
 * otlp_env.h - the environment of the end-to-end tests that drive real OpenTelemetry clients
 * from npm (tests/otlp/js, installed by scripts/npm-deps) against a real trace-collector
 * serving OTLP/HTTP on a free loopback port, with a real store in a temp dir: starting and
 * stopping the collector, running one agent script under node, reading the store back with
 * trace-query find --format jsonl, and scanning every file of the store for text that must not
 * be there. Single-threaded use from a test.
 */
#ifndef AGENTTRAIL_OTLP_ENV_H
#define AGENTTRAIL_OTLP_ENV_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct otlp_env {
    char *dir;
    char *node;    /* the node program found on PATH */
    char npm[512]; /* the cache folder of scripts/npm-deps: node_modules and the scripts */
    char store[512], zmq[600], log[512], owners[512];
    char addr[64];     /* 127.0.0.1:PORT, what --otlp-http takes */
    char endpoint[96]; /* http://127.0.0.1:PORT, what the agent scripts take */
    int port;
    pid_t collector; /* 0 when not running */
} otlp_env;

/* A new environment: a temp dir, a free port, an owners file naming the DRI of the services
 * and workflows of the scripts, and the npm clients installed (scripts/npm-deps into
 * $AGENTTRAIL_NPM_CACHE, default build/npm; the test fails if that fails). Returns NULL, after
 * saying why on stderr, only when node is not on PATH: the caller skips. */
otlp_env *oe_new(const char *tag);

/* Stops the collector if running, removes the directory and frees; accepts NULL; sets *e to
 * NULL. */
void oe_free(otlp_env **e);

/* Starts trace-collector --otlp-http ADDR --owners FILE (plus extra, NULL-terminated, may be
 * NULL) on the store and waits until it says ready and the port accepts connections; fails
 * the test otherwise. */
void oe_collector_start(otlp_env *e, const char *const *extra);

/* SIGTERM and wait: asserts a clean exit (0). */
void oe_collector_stop(otlp_env *e);

/* SIGKILL and wait. */
void oe_collector_kill(otlp_env *e);

/* Runs `node NPM/script ENDPOINT args...` (args NULL-terminated, may be NULL); its stdout and
 * stderr into *out / *err (malloc'd, may be NULL to discard). Returns its exit status. */
int oe_node(otlp_env *e, const char *script, const char *const *args, char **out, char **err);

/* The path of `script` in the npm cache folder (static buffer, valid until the next call). */
const char *oe_script(otlp_env *e, const char *script);

/* trace-query --store STORE then the NULL-terminated arguments; stdout in *out (malloc'd).
 * Returns the exit status; its stderr is printed when it is not 0. */
int oe_query(otlp_env *e, char **out, ...);

/* Every stored event (trace-query find --format jsonl) as a JSON array; fails the test if the
 * command fails or a line is not JSON. The caller json_decref()s it. */
json_t *oe_find(otlp_env *e);

/* The value of one sample of the running collector's GET /metrics (Prometheus text), by its
 * whole name with labels ("agenttrail_otlp_spans_total{dialect=\"genai\"}"); fails the test
 * when the request fails or the sample is absent. */
long long oe_metric(otlp_env *e, const char *sample);

/* How many files of the store directory (and the collector's log) contain `needle`. */
size_t oe_grep_store(otlp_env *e, const char *needle);

/* The string at a dotted path of an event ("tool_call.name"), or NULL. */
const char *oe_str(const json_t *ev, const char *path);

/* The integer at a dotted path ("usage.input_tokens"), or -1 when absent. */
long long oe_int(const json_t *ev, const char *path);

/* Events of kind `kind` in the array; *first the first of them (may be NULL). */
size_t oe_count_kind(const json_t *events, const char *kind, const json_t **first);

/* Sums usage.input_tokens, output_tokens, cached_tokens, cost_usd_micros over every event,
 * and asserts cached <= input on each event that has usage. */
void oe_usage_totals(const json_t *events, long long out[4]);

/* The tool_call event named `name` (NULL if none); *count how many there are. */
const json_t *oe_tool(const json_t *events, const char *name, size_t *count);

#endif
