/*
 * test_mask.c - the secret masker (proto/mask.h): every rule's fixtures,
 * ordinary text left alone, secrets split by JSON escapes, idempotence, JSON
 * arguments kept valid, linear work on adversarial input, event fields.
 *
 * Owns: nothing shared; each test builds its own inputs.
 * Threading: single-threaded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "at_test.h"
#include "mask.h"
#include "testutil.h"

/* Masks `in`; returns the malloc'd output and the count. */
static char *mask(const char *in, unsigned flags, unsigned *count)
{
    char *out = NULL;
    size_t out_len = 0;
    uint64_t work = 0;
    int rc = tp_mask_text_ex(in, strlen(in), flags, &out, &out_len, count, &work);
    assert_int_equal(rc, 0);
    assert_non_null(out);
    assert_int_equal(strlen(out), out_len);
    return out;
}

AT_TEST(test_mask_every_rule_masks_its_positive_fixtures)
{
    (void)state;
    size_t n = 0;
    const tp_mask_rule *rules = tp_mask_rules(&n);
    assert_true(n >= 8);
    for (size_t r = 0; r < n; r++) {
        assert_non_null(rules[r].positives[0]);
        for (const char *const *p = rules[r].positives; *p; p++) {
            unsigned count = 0;
            char *out = mask(*p, 0, &count);
            char marker[64];
            snprintf(marker, sizeof marker, "[REDACTED:%s]", rules[r].name);
            if (count != 1 || !strstr(out, marker))
                fail_msg("rule %s: fixture \"%s\" gave %u masks: \"%s\"", rules[r].name, *p, count,
                         out);
            free(out);
        }
    }
}

AT_TEST(test_mask_no_rule_masks_any_negative_fixture)
{
    (void)state;
    size_t n = 0;
    const tp_mask_rule *rules = tp_mask_rules(&n);
    for (size_t r = 0; r < n; r++) {
        assert_non_null(rules[r].negatives[0]);
        for (const char *const *p = rules[r].negatives; *p; p++) {
            unsigned count = 0;
            char *out = mask(*p, 0, &count);
            if (count != 0 || strcmp(out, *p) != 0)
                fail_msg("rule %s: negative fixture \"%s\" was masked: \"%s\"", rules[r].name, *p,
                         out);
            free(out);
        }
    }
}

/* Text that looks technical but holds no secret. */
static const char *const ordinary[] = {
    "AKIAIOSFODNN7EXAMPLE",
    "aws_access_key_id=AKIAIOSFODNN7EXAMPLE",
    "commit 3f2a9c1d4b5e6f708192a3b4c5d6e7f8091a2b3c fixes the retry loop",
    "request 550e8400-e29b-41d4-a716-446655440000 timed out",
    "The quick brown fox jumps over the lazy dog; keys, tokens and secrets are words.",
    "https://github.com/agenttrail/agenttrail/pull/42#discussion_r1234567890",
    "{\"user_id\":\"james_lee_6136\",\"reservation_id\":\"EHGLP3\"}",
    "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "/usr/lib/x86_64-linux-gnu/libzmq.so.5.2.4",
    "--- a/src/token.c\n+++ b/src/token.c\n@@ -1,3 +1,4 @@\n+int token_count = 0;\n",
    "key_id=kid-2024-05 public_key=MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEabc123XYZ",
    "max_tokens=4096 temperature=0.7 top_p=0.95",
    "Use a bearer token from the vault; never paste it here.",
    "git push -u origin main && docker run -u 1000:1000 -p 8080:80 img",
    "gcc -O2 -pthread -pedantic -pipe -o x x.c; mysql -u root -p app",
    "export PGPASSWORD=$PGPASS; DB_PASSWORD=${DB_PASSWORD:-} ./run",
    "curl -u \"$USER:$TOKEN\" https://api.example.com; curl --user-agent x:yz https://a",
    "Basic usage: run with --help; basic auth is off",
    "pip install scikit-learn sk-video; hf_hub_download(repo_id='x'); npm_config_cache=/tmp",
    "da39a3ee5e6b4b0d3255bfef95601890afd80709 DA39A3EE5E6B4B0D3255BFEF95601890AFD80709",
    "src/components/HeaderMenu/DropdownItemList.tsx and src/lib/UserAccountSettings/Form",
    "TWILIO_ACCOUNT_SID=ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx sig=verified",
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg"
    "==",
    "",
};

AT_TEST(test_mask_leaves_ordinary_text_alone)
{
    (void)state;
    for (size_t k = 0; k < sizeof ordinary / sizeof *ordinary; k++) {
        unsigned count = 0;
        char *out = mask(ordinary[k], 0, &count);
        if (count != 0 || strcmp(out, ordinary[k]) != 0)
            fail_msg("ordinary text was masked: \"%s\" -> \"%s\"", ordinary[k], out);
        free(out);
    }
}

/* Real agent runs from ../shared/data carry no secrets: masking them must
 * change (almost) nothing. Each hit is printed so a new false positive is
 * easy to see; the bound is one hit per thousand lines. */
AT_TEST(test_mask_rarely_fires_on_real_agent_runs)
{
    (void)state;
    const char *files[] = {"data/tau2.jsonl", "data/swe-agent.jsonl"};
    size_t lines = 0, hits = 0;
    for (size_t f = 0; f < 2; f++) {
        char *path = tu_shared(files[f]);
        size_t len = 0;
        char *text = tu_read_file(path, &len);
        free(path);
        if (!text) continue;
        char *line = text;
        while (line < text + len && lines < 5000) {
            char *nl = memchr(line, '\n', (size_t)(text + len - line));
            size_t ll = nl ? (size_t)(nl - line) : (size_t)(text + len - line);
            char *out = NULL;
            unsigned count = 0;
            assert_int_equal(tp_mask_text(line, ll, &out, NULL, &count), 0);
            if (count > 0) {
                const char *m = strstr(out, "[REDACTED:");
                fprintf(stderr, "# %s:%zu: %u hit(s) near: %.80s\n", files[f], lines + 1, count,
                        m ? (m > out + 40 ? m - 40 : out) : out);
            }
            hits += count;
            free(out);
            lines++;
            line = nl ? nl + 1 : text + len;
        }
        free(text);
    }
    assert_true(lines > 100);
    fprintf(stderr, "# %zu lines of real runs, %zu masks\n", lines, hits);
    assert_true(hits * 1000 <= lines);
}

/* The secrets below are split by one level of JSON escaping, as they are
 * inside tool_call.arguments or inside a JSON string in a note. */
AT_TEST(test_mask_finds_secrets_split_by_json_escapes)
{
    (void)state;
    static const struct {
        const char *in, *rule, *leak;
    } cases[] = {
        {"{\"cmd\":\"echo ghp_\\u00301234567890abcdefghijABCDEFGHIJ012345\"}", "github_token",
         "abcdefghijABCDEFGHIJ"},
        {"{\"url\":\"postgres:\\/\\/admin:S3cr3tPass@db\\/app\"}", "url_password", "S3cr3tPass"},
        {"{\"dsn\":\"postgres://admin:S3cr3tPass\\u0040db/app\"}", "url_password", "S3cr3tPass"},
        {"{\"body\":\"{\\\"api_key\\\":\\\"sk_live_4eC39HqLyjWDarjtT1zdp7dc\\\"}\"}", "stripe_key",
         "4eC39HqLyjWDarjtT1zdp7dc"},
        {"{\"body\":\"{\\\"api_key\\\":\\\"a4eC39HqLyjWDarjtT1zdp7dc\\\"}\"}", "generic_secret",
         "4eC39HqLyjWDarjtT1zdp7dc"},
        {"{\"pem\":\"-----BEGIN EC PRIVATE KEY-----\\nMHcCAQEEIfakefake\\n-----END EC PRIVATE "
         "KEY-----\"}",
         "private_key", "MHcCAQEEIfakefake"},
        {"{\"k\":\"AKIA\\u005A3MPLEK3YT0TEST1\"}", "aws_access_key", "3MPLEK3YT0TEST1"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        unsigned count = 0;
        char *out = mask(cases[k].in, TP_MASK_JSON, &count);
        char marker[64];
        snprintf(marker, sizeof marker, "[REDACTED:%s]", cases[k].rule);
        if (count != 1 || !strstr(out, marker) || strstr(out, cases[k].leak))
            fail_msg("escaped secret not masked: %s -> %s (count %u)", cases[k].in, out, count);
        json_error_t e;
        json_t *j = json_loads(out, JSON_DECODE_ANY, &e);
        if (!j) fail_msg("masked JSON no longer parses: %s: %s", out, e.text);
        json_decref(j);
        free(out);
    }
}

/* Texts where a first mask creates what a second could match (found by
 * fuzz_mask): a marker's ':' inside a URL's user-info. */
static const char *const remask[] = {
    "pats:\\/\\/ub_tu0040808apiKey=AbC123z78GOiJIUzI1NiJ9.u&atjss@h",
    "s://u_apiKey=AbC123z78GOiJIUzI1NiJ9x@host/",
    "xoxb-123456789012-1234567890123-AbCdUv0Wxnt_secret: 0a8b7c6l5e4f3a2b1c0d9e8f#7a6b",
    /* Found by fuzz_mask: a quoted curl -u value read across a marker. */
    "curl -u\"PWD=oA\xff"
    "xbht-\\\"",
};

AT_TEST(test_mask_masking_masked_text_changes_nothing)
{
    (void)state;
    for (size_t k = 0; k < sizeof remask / sizeof *remask; k++) {
        unsigned c1 = 0, c2 = 0;
        char *once = mask(remask[k], 0, &c1);
        char *twice = mask(once, 0, &c2);
        if (c1 == 0 || c2 != 0 || strcmp(once, twice) != 0)
            fail_msg("\"%s\" -> \"%s\" -> \"%s\"", remask[k], once, twice);
        free(once);
        free(twice);
    }
    size_t n = 0;
    const tp_mask_rule *rules = tp_mask_rules(&n);
    for (size_t r = 0; r < n; r++) {
        for (const char *const *p = rules[r].positives; *p; p++) {
            unsigned c1 = 0, c2 = 0;
            char *once = mask(*p, 0, &c1);
            char *twice = mask(once, 0, &c2);
            if (c2 != 0 || strcmp(once, twice) != 0)
                fail_msg("rule %s: masking \"%s\" again gave \"%s\"", rules[r].name, once, twice);
            free(once);
            free(twice);
        }
    }
}

/* Found by fuzz_mask (fuzz/proto/corpus/fuzz_mask/regress-cli-password-*):
 * a command separator inside a masked span ended the curl command, so the
 * next curl -u password, read only through the unescaped view, was left in
 * clear until a second mask, where the marker no longer held the '&'. */
AT_TEST(test_mask_one_pass_masks_every_curl_password_after_a_masked_separator)
{
    (void)state;
    static const char fuzzed[] = "{\"cmd\":\"curl -u \\\"Autho -u \\\"Au\xf4"
                                 "hori2zation: BlMN3FSNA&NA==\":\"ccurl -u \\\"Autho -u \\\"Au\xf4"
                                 "hori2zation: BlMN3FSNANA==\":\"curl \x00\x00"
                                 "a\x00\x00\x05\x85@ho -u \\\"Au\xf4"
                                 "hori\\\" hurl -u \\\"Autho -u \\\"Au\xf4"
                                 "hori\\\" https://h\x94"
                                 "oks}";
    /* The same, where the raw pass masks the span holding the '&'. */
    static const char fuzzed_raw[] = "{\"cm\x00"
                                     "g\x01"
                                     "{\"cmd\":\"curl -u \\\"Autho -u \\\"Au\xf4"
                                     "hori2zatiod\":glsoat-r run -u 1000:1000 n: "
                                     "BlMN3FSNA&NA==\":\"ccurl -u \\\"Autho -u \\\"Au\xf4"
                                     "hori2zation: BlMN3FShp_shorNANA==\":\"curl \x00"
                                     "\x00"
                                     "a\x00"
                                     "\x00"
                                     "\x05"
                                     "\x85"
                                     "@hio -u \\\"Au\xf4"
                                     "hori\\\" hurlmg\" -u \\}\"Auth";
    static const char plain[] =
        "{\"cmd\":\"curl -u \\\"ann:pa&ss12\\\" -u \\\"bob:Tr0ub4dor3\\u0022\"}";
    static const struct {
        const char *in;
        size_t len;
        const char *leak[2];
    } cases[] = {
        {fuzzed, sizeof fuzzed - 1, {"BlMN3FSNA&NA==", "BlMN3FSNANA=="}},
        {fuzzed_raw, sizeof fuzzed_raw - 1, {"BlMN3FSNA&NA==", "BlMN3FShp_shorNANA=="}},
        {plain, sizeof plain - 1, {"pa&ss12", "Tr0ub4dor3"}},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        char *once = NULL, *twice = NULL;
        size_t l1 = 0, l2 = 0;
        unsigned c1 = 0, c2 = 0;
        uint64_t work = 0;
        assert_int_equal(
            tp_mask_text_ex(cases[k].in, cases[k].len, TP_MASK_JSON, &once, &l1, &c1, &work), 0);
        assert_true(work <= 64 * (uint64_t)cases[k].len + 4096);
        for (size_t s = 0; s < 2; s++)
            if (memmem(once, l1, cases[k].leak[s], strlen(cases[k].leak[s])))
                fail_msg("case %zu: \"%s\" survives one pass (count %u): %s", k, cases[k].leak[s],
                         c1, once);
        assert_int_equal(c1, 2);
        assert_int_equal(tp_mask_text_ex(once, l1, TP_MASK_JSON, &twice, &l2, &c2, NULL), 0);
        if (c2 != 0 || l1 != l2 || memcmp(once, twice, l1) != 0)
            fail_msg("case %zu: a second pass changed \"%s\" into \"%s\"", k, once, twice);
        free(once);
        free(twice);
    }
}

/* Text masking of these would cut across JSON strings; the result must
 * still parse and hold no key material. */
AT_TEST(test_mask_keeps_json_arguments_valid)
{
    (void)state;
    static const struct {
        const char *in, *leak;
    } cases[] = {
        {"{\"a\":\"-----BEGIN RSA PRIVATE KEY-----\\nMIIEfakeAAA\",\"b\":\"MIIEfakeBBB\\n-----END "
         "RSA PRIVATE KEY-----\"}",
         "MIIEfakeAAA"},
        {"{\"a\":\"-----BEGIN OPENSSH PRIVATE KEY-----\\nb3BlbnNzaC1fake\",\"n\":1.5}",
         "b3BlbnNzaC1fake"},
        {"[\"-----BEGIN PRIVATE KEY-----\",\"MIIfakeCCC\",{\"token\":\"Xk9#mP2vL7qR4wZ\"}]",
         "Xk9#mP2vL7qR4wZ"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        unsigned count = 0;
        char *out = mask(cases[k].in, TP_MASK_JSON, &count);
        json_error_t e;
        json_t *j = json_loads(out, JSON_DECODE_ANY, &e);
        if (!j) fail_msg("masked arguments no longer JSON: %s -> %s: %s", cases[k].in, out, e.text);
        json_decref(j);
        if (count == 0 || strstr(out, cases[k].leak))
            fail_msg("secret left in masked arguments: %s -> %s", cases[k].in, out);
        free(out);
    }
    /* Arguments without secrets are returned byte for byte. */
    const char *plain = "{ \"user_id\" : \"james_lee_6136\", \"n\": 1.10 }";
    unsigned count = 0;
    char *out = mask(plain, TP_MASK_JSON, &count);
    assert_int_equal(count, 0);
    assert_string_equal(out, plain);
    free(out);
}

/* 1 MiB of each adversarial pattern; the scanner's step count stays within
 * a small constant of the length (a backtracking or rescanning scanner
 * would take ~len^2/period steps). */
AT_TEST(test_mask_work_is_linear_on_adversarial_input)
{
    (void)state;
    static const char *const patterns[] = {
        "eyJ",
        "eyJ.",
        "eyJhbGciOiJIUzI1NiJ9.",
        "-----BEGIN ",
        "-----BEGIN RSA PRIVATE KEY-----",
        "-----END ",
        "ghp_",
        "github_pat_",
        "xoxb-",
        "xoxb-1",
        "AKIA",
        "key=",
        "password=x/",
        "token: ",
        "api_key=Xk9#mP2vL7qR4wZ/",
        "\"secret\":\"",
        "://",
        "a://b:",
        "a://b:c",
        "Bearer ",
        "Bearer a",
        "curl -u ",
        "curl -u a:",
        "mysql -p",
        "--password=",
        "--password ",
        "DB_PASSWORD=",
        "A_PASSWORD=\"",
        "Basic ",
        "Basic dXNlcjpwYXNz",
        "sig=",
        "sig=Ab1/",
        "hooks.slack.com/services/",
        "sk-ant-",
        "sk-proj-",
        "SG.",
        "SG.abcdefghijklmnopqrstuv.",
        "Ab1/",
        "Ab1+Cd2/Ef3",
        "AC0123456789abcdef",
        "\\u0041",
        "\\ud800",
        "\\",
        "a",
    };
#ifdef __SANITIZE_ADDRESS__
    /* Same step bound, a quarter of the bytes: -O0 with ASan is ~40x slower. */
    const size_t len = 1 << 18;
#else
    const size_t len = 1 << 20;
#endif
    uint64_t worst = 0;
    char *in = malloc(len + 1);
    assert_non_null(in);
    for (size_t p = 0; p < sizeof patterns / sizeof *patterns; p++) {
        size_t pl = strlen(patterns[p]);
        for (size_t k = 0; k < len; k++)
            in[k] = patterns[p][k % pl];
        in[len] = 0;
        /* The JSON mode differs only when escapes or quotes are present. */
        unsigned last = strpbrk(patterns[p], "\\\"") ? TP_MASK_JSON : 0;
        for (unsigned flags = 0; flags <= last; flags++) {
            char *out = NULL;
            uint64_t work = 0;
            unsigned count = 0;
            assert_int_equal(tp_mask_text_ex(in, len, flags, &out, NULL, &count, &work), 0);
            if (work > worst) worst = work;
            if (work > 64 * (uint64_t)len)
                fail_msg("pattern \"%s\": %llu steps for %zu bytes", patterns[p],
                         (unsigned long long)work, len);
            free(out);
        }
    }
    fprintf(stderr, "# worst: %.1f steps per byte\n", (double)worst / (double)len);
    free(in);
}

static char *dupstr(const char *s)
{
    char *p = strdup(s);
    assert_non_null(p);
    return p;
}

AT_TEST(test_mask_event_masks_every_free_text_field_and_counts)
{
    (void)state;
    tp_event *ev = calloc(1, sizeof *ev);
    assert_non_null(ev);
    agenttrail__v1__trace_event__init(ev);
    ev->tool_call = calloc(1, sizeof *ev->tool_call);
    ev->prompt = calloc(1, sizeof *ev->prompt);
    ev->diff = calloc(1, sizeof *ev->diff);
    ev->approval = calloc(1, sizeof *ev->approval);
    ev->link = calloc(1, sizeof *ev->link);
    ev->attributes = calloc(2, sizeof *ev->attributes);
    assert_true(ev->tool_call && ev->prompt && ev->diff && ev->approval && ev->link &&
                ev->attributes);
    agenttrail__v1__tool_call__init(ev->tool_call);
    agenttrail__v1__prompt__init(ev->prompt);
    agenttrail__v1__diff__init(ev->diff);
    agenttrail__v1__approval__init(ev->approval);
    agenttrail__v1__link__init(ev->link);
    for (int k = 0; k < 2; k++) {
        ev->attributes[k] = calloc(1, sizeof **ev->attributes);
        assert_non_null(ev->attributes[k]);
        agenttrail__v1__attribute__init(ev->attributes[k]);
    }
    ev->n_attributes = 2;
    ev->tool_call->name = dupstr("shell");
    ev->tool_call->arguments =
        dupstr("{\"cmd\":\"curl -H 'Authorization: Bearer 8f2kQ9zLx0Vb7mN3pR5tW1yC' x\"}");
    ev->tool_call->error = dupstr("auth failed for ghp_0123456789abcdefghijABCDEFGHIJ012345");
    ev->prompt->text = dupstr("use AKIAZ3MPLEK3YT0TEST1 please");
    ev->diff->patch = dupstr("+DB_PASSWORD=Xk9#mP2vL7qR4wZ\n");
    ev->note = dupstr("db at postgres://admin:S3cr3tPass@db/app");
    ev->attributes[0]->key = dupstr("env");
    ev->attributes[0]->value = dupstr("prod");
    ev->attributes[1]->key = dupstr("slack");
    ev->attributes[1]->value = dupstr("xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOp");
    ev->approval->reason = dupstr("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.sig");
    ev->link->reason = dupstr("-----BEGIN PRIVATE KEY-----\nMIIfake\n-----END PRIVATE KEY-----");
    ev->workflow = dupstr("wf");
    ev->has_redactions = 1;
    ev->redactions = 2; /* already masked upstream */

    unsigned count = 0;
    assert_int_equal(tp_mask_event(ev, &count, NULL), 0);
    assert_int_equal(count, 8);
    assert_int_equal(ev->redactions, 10);
    assert_string_equal(ev->tool_call->arguments,
                        "{\"cmd\":\"curl -H 'Authorization: Bearer [REDACTED:bearer_token]' x\"}");
    assert_string_equal(ev->tool_call->error, "auth failed for [REDACTED:github_token]");
    assert_string_equal(ev->prompt->text, "use [REDACTED:aws_access_key] please");
    assert_string_equal(ev->diff->patch, "+DB_PASSWORD=[REDACTED:env_password]\n");
    assert_string_equal(ev->note, "db at postgres://[REDACTED:url_password]@db/app");
    assert_string_equal(ev->attributes[0]->value, "prod");
    assert_string_equal(ev->attributes[1]->value, "[REDACTED:slack_token]");
    assert_string_equal(ev->approval->reason, "jwt [REDACTED:jwt]");
    assert_string_equal(ev->link->reason, "[REDACTED:private_key]");
    assert_string_equal(ev->workflow, "wf");

    /* A second pass (the collector's) finds nothing more. */
    assert_int_equal(tp_mask_event(ev, &count, NULL), 0);
    assert_int_equal(count, 0);
    assert_int_equal(ev->redactions, 10);
    agenttrail__v1__trace_event__free_unpacked(ev, NULL);
}

AT_TEST(test_mask_event_without_secrets_keeps_redactions_absent)
{
    (void)state;
    tp_event ev;
    agenttrail__v1__trace_event__init(&ev);
    char note[] = "all good";
    ev.note = note;
    unsigned count = 7;
    assert_int_equal(tp_mask_event(&ev, &count, NULL), 0);
    assert_int_equal(count, 0);
    assert_int_equal(ev.has_redactions, 0);
    assert_ptr_equal(ev.note, note);
    assert_int_equal(tp_mask_event(NULL, &count, NULL), TP_EINVAL);
}

/* Collects the path of every string field reachable from a message
 * descriptor ("tool_call.name", "attributes.key", "context_ids"). */
static void string_fields(const ProtobufCMessageDescriptor *d, const char *prefix, char paths[][64],
                          size_t *n)
{
    for (unsigned f = 0; f < d->n_fields; f++) {
        const ProtobufCFieldDescriptor *fd = &d->fields[f];
        char path[64];
        snprintf(path, sizeof path, "%s%s%s", prefix, prefix[0] ? "." : "", fd->name);
        if (fd->type == PROTOBUF_C_TYPE_STRING && *n < 64)
            snprintf(paths[(*n)++], 64, "%s", path);
        else if (fd->type == PROTOBUF_C_TYPE_MESSAGE)
            string_fields(fd->descriptor, path, paths, n);
    }
}

/* A string field added to trace.proto must be classified in the field
 * table (proto/mask_event.c) before this passes; every row names a field. */
AT_TEST(test_mask_field_table_classifies_every_string_field)
{
    (void)state;
    char paths[64][64];
    size_t n = 0, nt = 0;
    string_fields(&agenttrail__v1__trace_event__descriptor, "", paths, &n);
    const tp_mask_field *table = tp_mask_fields(&nt);
    assert_true(n > 20);
    for (size_t k = 0; k < n; k++) {
        size_t t = 0;
        while (t < nt && strcmp(table[t].path, paths[k]) != 0)
            t++;
        if (t == nt)
            fail_msg("string field \"%s\" of trace.proto is not in the field table of "
                     "proto/mask_event.c: classify it (mask, exact or collector) and say why in "
                     "docs/security.md",
                     paths[k]);
        assert_true(table[t].cls >= TP_FIELD_MASK && table[t].cls <= TP_FIELD_COLLECTOR);
    }
    for (size_t t = 0; t < nt; t++) {
        size_t k = 0;
        while (k < n && strcmp(table[t].path, paths[k]) != 0)
            k++;
        if (k == n) fail_msg("field table row \"%s\" names no field of trace.proto", table[t].path);
    }
    assert_int_equal(n, nt);
}

/* Exact fields refuse the event, naming the field and the rule, and stay
 * as they were. */
AT_TEST(test_mask_event_refuses_a_secret_in_an_exact_field)
{
    (void)state;
    static const struct {
        const char *field, *rule;
    } cases[] = {{"service", "github_token"},  {"workflow", "stripe_key"},
                 {"dri", "url_password"},      {"incident", "aws_access_key"},
                 {"model.name", "openai_key"}, {"tool_call.name", "slack_token"},
                 {"link.workflow", "jwt"}};
    static const char *const secrets[] = {"ghp_0123456789abcdefghijABCDEFGHIJ012345",
                                          "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
                                          "smtp://ops:Hunter2Pass@mail.example.com",
                                          "AKIAZ3MPLEK3YT0TEST1",
                                          "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",
                                          "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOp",
                                          "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.sig"};
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        tp_event *ev = tp_event_new();
        assert_non_null(ev);
        ev->model = calloc(1, sizeof *ev->model);
        ev->tool_call = calloc(1, sizeof *ev->tool_call);
        ev->link = calloc(1, sizeof *ev->link);
        agenttrail__v1__model__init(ev->model);
        agenttrail__v1__tool_call__init(ev->tool_call);
        agenttrail__v1__link__init(ev->link);
        char **slot[] = {&ev->service,     &ev->workflow,        &ev->dri,           &ev->incident,
                         &ev->model->name, &ev->tool_call->name, &ev->link->workflow};
        *slot[k] = strdup(secrets[k]);
        ev->note = strdup("db at postgres://admin:S3cr3tPass@db/app");
        at_error err = {{0}, {0}};
        unsigned count = 9;
        assert_int_equal(tp_mask_event(ev, &count, &err), TP_EINVAL);
        char want[256];
        snprintf(want, sizeof want,
                 "holds what looks like a secret (%s); refused: this field is indexed and stored "
                 "exactly",
                 cases[k].rule);
        assert_string_equal(err.where, cases[k].field);
        assert_string_equal(err.what, want);
        assert_string_equal(*slot[k], secrets[k]);
        tp_event_destroy(&ev);
    }
}

/* Attribute keys are masked; a random value under a secret-looking key is
 * masked whole; two keys that mask alike refuse the event. */
AT_TEST(test_mask_event_masks_attribute_keys_and_refuses_clashes)
{
    (void)state;
    tp_event *ev = tp_event_new();
    assert_non_null(ev);
    ev->attributes = calloc(2, sizeof *ev->attributes);
    assert_non_null(ev->attributes);
    static const char *const keys[] = {"ghp_0123456789abcdefghijABCDEFGHIJ012345",
                                       "ghp_9876543210abcdefghijABCDEFGHIJ012345"};
    for (int k = 0; k < 2; k++) {
        ev->attributes[k] = calloc(1, sizeof **ev->attributes);
        agenttrail__v1__attribute__init(ev->attributes[k]);
        ev->attributes[k]->key = strdup(k == 0 ? keys[0] : "env");
        ev->attributes[k]->value = strdup("v");
    }
    ev->n_attributes = 2;
    free(ev->attributes[1]->key);
    ev->attributes[1]->key = strdup("api_key");
    free(ev->attributes[1]->value);
    ev->attributes[1]->value = strdup("Xk9#mP2vL7qR4wZ");
    at_error err = {{0}, {0}};
    unsigned count = 0;
    assert_int_equal(tp_mask_event(ev, &count, &err), 0);
    assert_int_equal(count, 2);
    assert_string_equal(ev->attributes[0]->key, "[REDACTED:github_token]");
    /* A secret-looking key with a random value: the value is masked whole. */
    assert_string_equal(ev->attributes[1]->value, "[REDACTED:generic_secret]");
    free(ev->attributes[1]->key);
    ev->attributes[1]->key = strdup(keys[1]);
    free(ev->attributes[0]->key);
    ev->attributes[0]->key = strdup(keys[0]);
    assert_int_equal(tp_mask_event(ev, &count, &err), TP_EINVAL);
    assert_string_equal(err.where, "attributes");
    assert_non_null(strstr(err.what, "mask to the same key \"[REDACTED:github_token]\""));
    tp_event_destroy(&ev);
}
