/*
 * http.c - trace-collector's HTTP endpoint on libmicrohttpd (see http.h, docs/http.md).
 *
 * Owns: the daemons (one per distinct address of --otlp-http / --http), the per-request
 * state (route, format, the body: http_body.c, which keeps it under --otlp-max-body and
 * inflates gzip as it arrives), the in-flight count of OTLP requests and the budget their
 * bodies share (--otlp-max-inflight-bytes). What the body
 * means is ingest.c's.
 *
 * Invariants: every answer is counted in metrics by status; an OTLP request counts in
 * `inflight` from its first call to its completion callback.
 * Threading: the access handler runs on the connection's own thread
 * (MHD_USE_THREAD_PER_CONNECTION), so it may block in ingest_handle; shared state is the
 * atomic in-flight count and what metrics.h and ingest.h make thread-safe.
 */
#include "http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_body.h"
#include "log.h"

#define RETRY_AFTER_429_S 1
#define RETRY_AFTER_503_S 5

enum { ROUTE_METRICS = 1, ROUTE_HEALTH, ROUTE_TRACES };

/* One daemon's view: whether it serves OTLP. */
typedef struct http_site {
    http_server *h;
    int otlp;
} http_site;

struct http_server {
    struct MHD_Daemon *d[2];
    http_site site[2]; /* the access handler's argument of each daemon */
    const collector_config *cfg;
    metrics *m;
    ingest *g;
    atomic_int inflight;
    http_budget budget; /* --otlp-max-inflight-bytes: the bodies in flight together */
};

typedef struct request {
    int route;
    int counted; /* holds a slot of inflight */
    otlp_format fmt;
    int started; /* body initialised */
    http_body body;
} request;

/* ---- addresses ------------------------------------------------------------ */

int http_addr_parse(const char *s, http_addr *out, char *why, size_t whylen)
{
    http_addr a;
    memset(&a, 0, sizeof a);
    char host[128] = "127.0.0.1";
    const char *port = s, *colon = strrchr(s, ':');
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (!end || end[1] != ':' || (size_t)(end - s - 1) >= sizeof host) {
            snprintf(why, whylen, "expected [IPV6]:PORT");
            return -1;
        }
        memcpy(host, s + 1, (size_t)(end - s - 1));
        host[end - s - 1] = 0;
        port = end + 2;
    } else if (colon) {
        if ((size_t)(colon - s) >= sizeof host) {
            snprintf(why, whylen, "address too long");
            return -1;
        }
        if (colon > s) {
            memcpy(host, s, (size_t)(colon - s));
            host[colon - s] = 0;
        }
        port = colon + 1;
    }
    uint64_t p = 0;
    if (!*port || strspn(port, "0123456789") != strlen(port) || at_parse_size(port, &p) != 0 ||
        p > 65535) {
        snprintf(why, whylen, "expected ADDR:PORT, :PORT or PORT with PORT 0..65535");
        return -1;
    }
    if (strcmp(host, "localhost") == 0) snprintf(host, sizeof host, "127.0.0.1");
    struct sockaddr_in *v4 = (struct sockaddr_in *)&a.ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&a.ss;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)p);
        a.len = sizeof *v4;
        a.loopback = (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)p);
        a.len = sizeof *v6;
        a.loopback = IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr);
    } else {
        snprintf(why, whylen, "\"%s\" is not an IPv4 or IPv6 address (nor localhost)", host);
        return -1;
    }
    if (out) *out = a;
    return 0;
}

/* ---- answers --------------------------------------------------------------- */

/* Queues `body` (malloc'd, taken; may be NULL) with its headers and counts the answer. */
static enum MHD_Result reply(struct MHD_Connection *conn, http_server *h, int status,
                             const char *ctype, void *body, size_t len, int retry_after,
                             const char *allow)
{
    struct MHD_Response *res =
        MHD_create_response_from_buffer(body ? len : 0, body ? body : (void *)"",
                                        body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!res) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(res, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    char ra[16];
    if (retry_after > 0) {
        snprintf(ra, sizeof ra, "%d", retry_after);
        MHD_add_response_header(res, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    }
    if (allow) MHD_add_response_header(res, MHD_HTTP_HEADER_ALLOW, allow);
    enum MHD_Result rc = MHD_queue_response(conn, (unsigned)status, res);
    MHD_destroy_response(res);
    metrics_add_http(h->m, status);
    return rc;
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, http_server *h, int status,
                                  const char *text, const char *allow)
{
    char *b = strdup(text);
    return reply(conn, h, status, "text/plain; charset=utf-8", b, b ? strlen(b) : 0, 0, allow);
}

static const char *format_type(otlp_format f)
{
    return f == OTLP_JSON ? "application/json" : "application/x-protobuf";
}

/* An OTLP error in the request's format (google.rpc.Status). */
static enum MHD_Result reply_status(struct MHD_Connection *conn, http_server *h, const request *r,
                                    int status, int grpc, int retry, const char *message)
{
    uint8_t *b = NULL;
    size_t len = 0;
    ingest_status_body(r->fmt, grpc, message, &b, &len);
    return reply(conn, h, status, format_type(r->fmt), b, len, retry, NULL);
}

static enum MHD_Result serve_metrics(struct MHD_Connection *conn, http_server *h)
{
    at_buf b = {0};
    if (metrics_render(h->m, &b) != 0) {
        at_buf_free(&b);
        return reply_text(conn, h, 500, "out of memory\n", NULL);
    }
    size_t len = 0;
    char *text = at_buf_take(&b, &len);
    return reply(conn, h, 200, "text/plain; version=0.0.4; charset=utf-8", text, len, 0, NULL);
}

static enum MHD_Result serve_health(struct MHD_Connection *conn, http_server *h)
{
    char why[256], line[300];
    if (metrics_healthy(h->m, why, sizeof why)) return reply_text(conn, h, 200, "ok\n", NULL);
    snprintf(line, sizeof line, "%s\n", why[0] ? why : "store not writable");
    return reply_text(conn, h, 503, line, NULL);
}

/* ---- the body ---------------------------------------------------------------- */

/* "application/json; charset=utf-8" -> OTLP_JSON; -1 for anything else. */
static int parse_type(const char *ct)
{
    if (!ct) return -1;
    size_t n = strcspn(ct, "; \t");
    if (n == 16 && strncasecmp(ct, "application/json", n) == 0) return OTLP_JSON;
    if (n == 22 && strncasecmp(ct, "application/x-protobuf", n) == 0) return OTLP_PROTOBUF;
    return -1;
}

/* ---- routing ----------------------------------------------------------------- */

/* The first call of a POST /v1/traces: the checks that need no body. Returns 1 when an
 * answer was queued. */
static int start_traces(struct MHD_Connection *conn, http_server *h, request *r,
                        enum MHD_Result *res)
{
    const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
    const char *ce = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Encoding");
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
    int fmt = parse_type(ct);
    r->fmt = fmt < 0 ? OTLP_PROTOBUF : (otlp_format)fmt;
    if (fmt < 0) {
        *res =
            reply_text(conn, h, 415,
                       "Content-Type must be application/x-protobuf or application/json\n", NULL);
        return 1;
    }
    if (ce && strcasecmp(ce, "gzip") != 0 && strcasecmp(ce, "identity") != 0) {
        *res = reply_status(conn, h, r, 415, 3, 0, "Content-Encoding must be gzip or identity");
        return 1;
    }
    int gzip = ce && strcasecmp(ce, "gzip") == 0;
    uint64_t declared = 0;
    if (cl && at_parse_size(cl, &declared) == 0 && declared > h->cfg->otlp_max_body) {
        char msg[128];
        snprintf(msg, sizeof msg, "request body of %llu bytes over %zu (--otlp-max-body)",
                 (unsigned long long)declared, h->cfg->otlp_max_body);
        *res = reply_status(conn, h, r, 413, 8, 0, msg);
        return 1;
    }
    r->counted = 1;
    if ((size_t)atomic_fetch_add(&h->inflight, 1) + 1 > h->cfg->otlp_max_inflight) {
        *res = reply_status(conn, h, r, 429, 8, RETRY_AFTER_429_S,
                            "too many requests in flight (--otlp-max-inflight); retry");
        return 1;
    }
    if (http_body_init(&r->body, gzip, h->cfg->otlp_max_body, &h->budget) != 0) {
        *res = reply_status(conn, h, r, 503, 14, 1, "collector out of memory");
        return 1;
    }
    r->started = 1;
    return 0;
}

static enum MHD_Result finish_traces(struct MHD_Connection *conn, http_server *h, request *r)
{
    int status = http_body_finish(&r->body);
    if (status == 413) return reply_status(conn, h, r, 413, 8, 0, r->body.why);
    if (status == 429) return reply_status(conn, h, r, 429, 8, RETRY_AFTER_429_S, r->body.why);
    if (status == 503) return reply_status(conn, h, r, 503, 14, RETRY_AFTER_503_S, r->body.why);
    if (status != 0) return reply_status(conn, h, r, 400, 3, 0, r->body.why);
    /* What decoding will cost, held in the budget with the body until the answer (a body
     * over OTLP_MAX_FIELDS / _JSON_VALUES is refused before it is decoded: not charged). */
    size_t n = otlp_request_values((const uint8_t *)r->body.data.data, r->body.data.len, r->fmt);
    size_t cap = r->fmt == OTLP_JSON ? OTLP_MAX_JSON_VALUES : OTLP_MAX_FIELDS;
    if (n <= cap && http_body_reserve(&r->body, n * OTLP_VALUE_COST) != 0)
        return reply_status(conn, h, r, 429, 8, RETRY_AFTER_429_S, r->body.why);
    ingest_answer a;
    ingest_handle(h->g, (const uint8_t *)r->body.data.data, r->body.data.len, r->fmt, &a);
    http_body_free(&r->body);
    return reply(conn, h, a.status, format_type(r->fmt), a.body, a.len, a.retry_after, NULL);
}

static int route_of(const char *url, int otlp)
{
    if (strcmp(url, "/metrics") == 0) return ROUTE_METRICS;
    if (strcmp(url, "/healthz") == 0) return ROUTE_HEALTH;
    if (otlp && strcmp(url, "/v1/traces") == 0) return ROUTE_TRACES;
    return 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    http_site *site = cls;
    http_server *h = site->h;
    request *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r) return MHD_NO;
        *con_cls = r;
        r->route = route_of(url, site->otlp);
        int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
        if (r->route == 0) return reply_text(conn, h, 404, "not found\n", NULL);
        if (r->route == ROUTE_TRACES && strcmp(method, "POST") != 0)
            return reply_text(conn, h, 405, "POST only\n", "POST");
        if (r->route != ROUTE_TRACES && !get)
            return reply_text(conn, h, 405, "GET only\n", "GET, HEAD");
        if (r->route == ROUTE_METRICS) return serve_metrics(conn, h);
        if (r->route == ROUTE_HEALTH) return serve_health(conn, h);
        enum MHD_Result res;
        return start_traces(conn, h, r, &res) ? res : MHD_YES;
    }
    if (*upload_data_size) {
        if (r->started) http_body_feed(&r->body, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    return r->route == ROUTE_TRACES ? finish_traces(conn, h, r) : MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    (void)toe;
    http_site *site = cls;
    request *r = *con_cls;
    if (!r) return;
    if (r->counted) atomic_fetch_sub(&site->h->inflight, 1);
    if (r->started) http_body_free(&r->body);
    free(r);
    *con_cls = NULL;
}

static void on_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    line[strcspn(line, "\n")] = 0;
    clog_line(CLOG_INFO, "http: %s", line); /* mostly clients going away */
}

/* ---- starting ------------------------------------------------------------------ */

static int start_one(http_server *h, int i, const char *text, int otlp)
{
    char why[256];
    http_addr a;
    if (http_addr_parse(text, &a, why, sizeof why) != 0) {
        clog_line(CLOG_ERROR, "http %s: %s", text, why);
        return 3;
    }
    h->site[i] = (http_site){h, otlp};
    unsigned limit = (unsigned)(h->cfg->otlp_max_inflight * 2 + 16);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_ERROR_LOG | (a.ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    /* The logger first: MHD logs options given before it on stderr by itself. */
    h->d[i] = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, &h->site[i], MHD_OPTION_EXTERNAL_LOGGER, on_log, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&a.ss, MHD_OPTION_CONNECTION_LIMIT, limit,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
        &h->site[i], MHD_OPTION_END);
    if (!h->d[i]) {
        clog_line(CLOG_ERROR, "http %s: cannot listen there (in use? give another port)", text);
        return 3;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->d[i], MHD_DAEMON_INFO_BIND_PORT);
    char host[64] = "?";
    const void *ip = a.ss.ss_family == AF_INET6
                         ? (const void *)&((struct sockaddr_in6 *)&a.ss)->sin6_addr
                         : (const void *)&((struct sockaddr_in *)&a.ss)->sin_addr;
    inet_ntop(a.ss.ss_family, ip, host, sizeof host);
    clog_line(CLOG_INFO, "http: listening on %s%s%s:%u (%s/metrics, /healthz)",
              a.ss.ss_family == AF_INET6 ? "[" : "", host, a.ss.ss_family == AF_INET6 ? "]" : "",
              di ? (unsigned)di->port : 0u, otlp ? "POST /v1/traces, " : "");
    if (!a.loopback)
        clog_line(CLOG_WARN,
                  "http %s: not a loopback address: the HTTP endpoint has no authentication; "
                  "anyone who can reach it can %s",
                  text, otlp ? "write events" : "read the metrics");
    return 0;
}

static int same_address(const char *x, const char *y)
{
    http_addr a, b;
    char why[128];
    return http_addr_parse(x, &a, why, sizeof why) == 0 &&
           http_addr_parse(y, &b, why, sizeof why) == 0 && a.len == b.len &&
           memcmp(&a.ss, &b.ss, a.len) == 0;
}

int http_start(const collector_config *cfg, metrics *m, ingest *g, http_server **out)
{
    *out = NULL;
    if (!cfg->otlp_http && !cfg->http) return 0;
    http_server *h = calloc(1, sizeof *h);
    if (!h) return 3;
    h->cfg = cfg;
    h->m = m;
    h->g = g;
    h->budget.max = cfg->otlp_max_inflight_bytes;
    int rc = 0;
    if (cfg->otlp_http) rc = start_one(h, 0, cfg->otlp_http, 1);
    if (rc == 0 && cfg->http && !(cfg->otlp_http && same_address(cfg->otlp_http, cfg->http)))
        rc = start_one(h, 1, cfg->http, 0);
    if (rc != 0) http_stop(&h);
    *out = h;
    return rc;
}

void http_stop(http_server **hp)
{
    if (!hp || !*hp) return;
    for (int i = 0; i < 2; i++)
        if ((*hp)->d[i]) MHD_stop_daemon((*hp)->d[i]);
    free(*hp);
    *hp = NULL;
}
