/*
 * canary.c - the fake secrets of every masking rule (one per rule, plus the JSON-only forms),
 * the events that carry them in every masked field, and the scan for what must never be stored
 * or emitted (canary.h). Shared by the security and the fault-injection tests.
 *
 * Owns: nothing shared. Threading: single-threaded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "canary.h"

/* One fake secret per rule (and the JSON and escaped forms), with a piece
 * of it that must never be stored. */
typedef struct canary {
    const char *rule;
    const char *secret; /* as text */
    const char *needle; /* must not appear anywhere once stored */
} canary;

static const canary canaries[] = {
    {"aws_access_key", "AKIAQ7CANARY2AWS5KEY", "CANARY2AWS5KEY"},
    {"github_token", "ghp_CanaryGithubToken0123456789abcdefXY", "CanaryGithubToken"},
    {"github_token", "github_pat_11CANARYPAT0_abcdefghijklmnopqrstuvwxyz0123", "CANARYPAT0"},
    {"slack_token", "xoxb-123456789012-9876543210987-CanarySlackTokenValue",
     "CanarySlackTokenValue"},
    {"private_key",
     "-----BEGIN RSA PRIVATE KEY-----\nMIIECanaryPrivateKeyMaterial0123\n-----END RSA PRIVATE "
     "KEY-----",
     "CanaryPrivateKeyMaterial"},
    {"jwt", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjYW5hcnkifQ.CanaryJwtSignature0123456789",
     "CanaryJwtSignature"},
    {"bearer_token", "Authorization: Bearer CanaryBearer0123456789abcdef", "CanaryBearer0123"},
    {"url_password", "postgres://admin:CanaryUrlPass99@db.internal/app", "CanaryUrlPass99"},
    {"env_password", "DB_PASSWORD=CanaryGeneric#9xQ2mZ7", "CanaryGeneric#9xQ2mZ7"},
    {"generic_secret", "client_secret=CanaryClient#9xQ2mZ7", "CanaryClient#9xQ2mZ7"},
    {"stripe_key", "sk_live_CanaryStripe0123456789abcd", "CanaryStripe0123"},
    {"anthropic_key", "sk-ant-api03-CanaryAnthropic0123456789abcdefghijklmnop",
     "CanaryAnthropic0123"},
    {"openai_key", "sk-proj-CanaryOpenAI0123456789abcdefghijklmnopqrst", "CanaryOpenAI0123"},
    {"aws_secret_key", "Canary9AwsSecret/Kq7Xz2+Lw8Rv5Tn3Hb6Jm1p", "Canary9AwsSecret/Key"},
    {"basic_auth",
     "Authorization: Basic Y2FuYXJ5OkNhbmFyeUJhc2ljUHc=", "Y2FuYXJ5OkNhbmFyeUJhc2ljUHc"},
    {"slack_webhook", "https://hooks.slack.com/services/T0CANARY1/B0CANARY2/CanaryWebhook0123456",
     "CanaryWebhook0123456"},
    {"cli_password", "curl -u deploy:CanaryCurlPw77 https://api.internal", "CanaryCurlPw77"},
};
#define NCANARIES (sizeof canaries / sizeof *canaries)

/* Needles of the JSON-only forms in tool_call.arguments. */
static const char *const json_needles[] = {"CanaryJsonKey_4eC39", "anaryEscapedToken0123"};

/* ---- events carrying the canaries -------------------------------------- */

/* Appends s to buf as JSON string content. */
static size_t json_put(char *buf, size_t cap, size_t o, const char *s)
{
    for (; *s && o + 8 < cap; s++) {
        if (*s == '"' || *s == '\\') {
            buf[o++] = '\\';
            buf[o++] = *s;
        } else if (*s == '\n') {
            buf[o++] = '\\';
            buf[o++] = 'n';
        } else {
            buf[o++] = *s;
        }
    }
    buf[o] = 0;
    return o;
}

/* The lines that carry a canary in a long field: $W stands for the workflow, $S for
 * the secret and $A for the arguments text holding it (both as JSON string content). */
static const char *const long_fields[] = {
    "{\"kind\":\"note\",\"workflow\":\"$W\",\"dri\":\"sec@example.com\",\"note\":\"see $S\"}",
    "{\"kind\":\"tool_call\",\"workflow\":\"$W\",\"dri\":\"sec@example.com\",\"tool_call\":{"
    "\"name\":\"shell\",\"arguments\":\"$A\",\"status\":\"error\",\"error\":\"$S\"}}",
    "{\"kind\":\"diff\",\"workflow\":\"$W\",\"dri\":\"sec@example.com\",\"diff\":{\"repo\":\"r\","
    "\"patch\":\"+$S\\n\"},\"attributes\":{\"cfg\":\"$S\"}}",
    "{\"kind\":\"approval\",\"workflow\":\"$W\",\"dri\":\"sec@example.com\",\"approval\":{"
    "\"checkpoint\":\"release\",\"approver\":\"a\",\"decision\":\"denied\",\"reason\":\"$S\"}}",
};

/* Writes template t into buf with its $W, $S and $A filled in (see long_fields). */
static void fill(char *buf, size_t cap, const char *t, const char *workflow, const char *s,
                 const char *arg)
{
    size_t o = 0;
    for (; *t && o + 8 < cap; t++) {
        if (*t != '$') {
            buf[o++] = *t;
            continue;
        }
        t++;
        if (*t == 'W')
            o += (size_t)snprintf(buf + o, cap - o, "%s", workflow);
        else
            o = json_put(buf, cap, o, *t == 'S' ? s : arg);
    }
    buf[o] = 0;
}

/* One JSON line per canary and field, plus the JSON-only forms. Returns
 * the number of lines. `tag` goes into the workflow. */
int write_canary_events(const char *path, const char *workflow)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    int lines = 0;
    char buf[4096], arg[2048];
    for (size_t k = 0; k < NCANARIES; k++) {
        const char *s = canaries[k].secret;
        /* note, tool_call.error, diff.patch, attribute, approval.reason; the arguments
         * are JSON text holding the secret as a string value */
        fill(arg, sizeof arg, "{\"cmd\":\"run $S\"}", workflow, s, NULL);
        for (size_t t = 0; t < sizeof long_fields / sizeof *long_fields; t++) {
            fill(buf, sizeof buf, long_fields[t], workflow, s, arg);
            fprintf(f, "%s\n", buf);
        }
        size_t o;
        /* the short fields that are masked: environment, actor, context_ids,
         * model.provider, tool_call.permission_scope, diff.repo and paths,
         * outcome.by, an attribute key */
        static const char *const shorts[] = {"\"environment\":\"@\"",
                                             "\"actor\":\"@\"",
                                             "\"context_ids\":[\"@\"]",
                                             "\"model\":{\"provider\":\"@\"}",
                                             "\"tool_call\":{\"permission_scope\":\"@\"}",
                                             "\"diff\":{\"repo\":\"@\",\"paths\":[\"@\"]}",
                                             "\"outcome\":{\"by\":\"@\"}",
                                             "\"attributes\":{\"@\":\"v\"}"};
        o = (size_t)snprintf(buf, sizeof buf,
                             "{\"kind\":\"note\",\"workflow\":\"%s\",\"dri\":\"sec@example.com\","
                             "\"note\":\"n\"",
                             workflow);
        for (size_t t = 0; t < sizeof shorts / sizeof *shorts; t++) {
            buf[o++] = ',';
            for (const char *c = shorts[t]; *c; c++) {
                if (*c != '@') {
                    buf[o++] = *c;
                    continue;
                }
                o = json_put(buf, sizeof buf, o, s);
            }
        }
        fprintf(f, "%.*s}\n", (int)o, buf);
        lines += 5;
    }
    /* "key": "value" JSON form, and a token split by a JSON escape. */
    fprintf(f,
            "{\"kind\":\"tool_call\",\"workflow\":\"%s\",\"dri\":\"sec@example.com\","
            "\"tool_call\":{\"name\":\"http\",\"arguments\":\"{\\\"api_key\\\": "
            "\\\"CanaryJsonKey_4eC39HqLyjWD\\\"}\"}}\n",
            workflow);
    fprintf(f,
            "{\"kind\":\"tool_call\",\"workflow\":\"%s\",\"dri\":\"sec@example.com\","
            "\"tool_call\":{\"name\":\"sh\",\"arguments\":\"{\\\"cmd\\\":\\\"echo "
            "ghp_\\\\u0043anaryEscapedToken0123456789abcdefgh\\\"}\"}}\n",
            workflow);
    lines += 2;
    fclose(f);
    return lines;
}

int contains(const void *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    const char *h = hay;
    for (size_t i = 0; k <= n && i + k <= n; i++)
        if (h[i] == needle[0] && memcmp(h + i, needle, k) == 0) return 1;
    return 0;
}

/* Number of needles found in [p, p+n); prints each hit with `where`. */
int scan(const void *p, size_t n, const char *where)
{
    int hits = 0;
    for (size_t k = 0; k < NCANARIES; k++)
        if (contains(p, n, canaries[k].needle)) {
            fprintf(stderr, "# LEAK: %s (%s) in %s\n", canaries[k].needle, canaries[k].rule, where);
            hits++;
        }
    for (size_t k = 0; k < sizeof json_needles / sizeof *json_needles; k++)
        if (contains(p, n, json_needles[k])) {
            fprintf(stderr, "# LEAK: %s in %s\n", json_needles[k], where);
            hits++;
        }
    return hits;
}
