/*
 * http_fixture.h - the collector's HTTP endpoint under test: a real trace-collector with
 * --otlp-http on a free loopback port (PORT 0, read back from its log), requests made by
 * curl (Debian's, a client nobody here wrote), OTLP request bodies built from the published
 * field numbers (JSON and protobuf). Single-threaded use from a test.
 */
#ifndef AGENTTRAIL_HTTP_FIXTURE_H
#define AGENTTRAIL_HTTP_FIXTURE_H

#include <stddef.h>
#include <sys/types.h>

#define HF_MAX_ARGS 32

typedef struct hf_env {
    char *dir;
    const char *args[HF_MAX_ARGS]; /* the collector's options (borrowed strings) */
    char store[512], ep[600], log[512];
    pid_t pid;
    int port;
} hf_env;

/* A collector on a new temp store with --otlp-http 127.0.0.1:0 and `extra` (NULL-terminated,
 * may be NULL). Aborts the test when it does not come up. */
hf_env *hf_start(const char *tag, const char *const *extra);
/* The same, without --otlp-http when otlp is 0 (extra must then give --http 127.0.0.1:0). */
hf_env *hf_start_with(const char *tag, int otlp, const char *const *extra);
/* Stops the collector with `sig` and starts it again on the same store and options (a new
 * port, in e->port). Returns how the old one ended (as pu_wait). */
int hf_restart(hf_env *e, int sig);
/* SIGTERM (asserting a clean exit), removes the directory; accepts NULL; sets *e to NULL. */
void hf_stop(hf_env **e);

typedef struct hf_reply {
    int code;      /* HTTP status, 0 when none came */
    int curl_exit; /* curl's exit status */
    char *headers; /* the response headers as received */
    char *body;
    size_t len;
} hf_reply;

/* curl -X METHOD http://127.0.0.1:PORT/PATH with each "Name: value" of `headers`
 * (NULL-terminated, may be NULL) and the body from file `body_file` (NULL: none). */
void hf_request(hf_env *e, hf_reply *r, const char *method, const char *path,
                const char *const *headers, const char *body_file);
/* Starts curl POSTing file `body_file` as application/json to /v1/traces without waiting:
 * the status code goes to file `out`. Returns curl's pid (pu_wait it). */
pid_t hf_post_json_async(hf_env *e, const char *body_file, const char *out);
/* The value of a response header (case-insensitive name), malloc'd, or NULL. */
char *hf_header(const hf_reply *r, const char *name);
void hf_reply_free(hf_reply *r);

/* A path in the environment's directory, malloc'd. */
char *hf_file(hf_env *e, const char *name);
/* Writes `len` bytes of `data` to file `name` of the environment; its path, malloc'd. */
char *hf_write_body(hf_env *e, const char *name, const void *data, size_t len);
/* POSTs two execute_tool spans (ids first, first+1) of trace `trace_hex` as OTLP/JSON and
 * asserts 200: the collector still stores. */
void hf_assert_stores(hf_env *e, const char *trace_hex, int first);

/* An OTLP/JSON ExportTraceServiceRequest: `n` execute_tool spans (gen_ai.tool.name "search",
 * arguments {"q":"<i>"} padded with `pad` random hex digits) of trace `trace_hex` with span ids
 * first..first+n-1, then `not_ai` plain HTTP spans; resource service.name "agent" and, unless
 * dri is NULL, agenttrail.dri. malloc'd. */
char *hf_otlp_json(const char *trace_hex, int first, int n, int not_ai, const char *dri,
                   size_t pad);
/* The same spans (without padding nor plain spans) as OTLP protobuf; *len its size. */
unsigned char *hf_otlp_protobuf(const char *trace_hex, int first, int n, const char *dri,
                                size_t *len);

/* Peak resident memory of a process (VmHWM), KiB; -1 when unreadable. */
long hf_peak_rss_kb(pid_t pid);

/* The value of sample `name` (exact text before the space, labels included) in a
 * Prometheus text body; -1 when absent. */
double hf_metric(const char *text, const char *name);

#endif
