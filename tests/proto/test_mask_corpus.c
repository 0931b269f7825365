/*
 * test_mask_corpus.c - the masker through the real path, measured: 38 secret
 * formats x every string field of an event x two forms (bare and after
 * NAME=), each a JSON line through tp_event_from_json -> tp_event_prepare
 * (prompt text kept) -> tp_event_validate -> tp_event_to_json; and every
 * event of the sample data (../shared/data) through the masker, counting what
 * changes.
 *
 * Prints the detection rate per format and per field, and the changed events
 * of the sample data with the rule and the text around each marker (read
 * them: docs/security.md explains every one). Asserts 100% detection, that
 * exact fields refuse (naming the field and the rule) and others mask, and
 * the sample-data figure.
 *
 * The secrets below are fake values of each format's documented shape.
 *
 * Owns: nothing shared. Threading: single-threaded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <glob.h>
#include <jansson.h>

#include "at_test.h"
#include "mask.h"
#include "testutil.h"
#include "traceproto.h"

typedef struct secret_format {
    const char *name;
    const char *text; /* as it would appear: the secret and the words it comes with */
    const char *leak; /* what must not survive (NULL: the whole text) */
} secret_format;

static const secret_format formats[] = {
    {"aws access key id", "AKIAUJZDE8GXD6NCF10E", NULL},
    {"aws secret access key (bare)", "TqaLB6a2kzg9y1H/C2+TciaGEBrJp7qVR3O8AF4S", NULL},
    {"github ghp_", "ghp_TVi1cct93gvvV9W8Z12SzSVYwWWKtAVnNMjL", NULL},
    {"github github_pat_",
     "github_pat_11PF91DHODZDOC9IS0J8HT_"
     "J0RlgLKOmxgJTeKdNnFRIBXuDL7DxtpYlSXpfKtHF4vUCsMehGAkWvj7FAc",
     NULL},
    {"git remote with token",
     "https://x-access-token:ghp_TVi1cct93gvvV9W8Z12SzSVYwWWKtAVnNMjL@github.com/acme/api.git",
     "TVi1cct93gvvV9W8Z12SzSVYwWWKtAVnNMjL"},
    {"gitlab glpat-", "glpat-smSL3d394G_DRmD0UnJC", NULL},
    {"slack bot token", "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", NULL},
    {"slack webhook",
     "https://hooks.slack.com/services/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",
     "m1YGnymB3XeRqj99eKwDOqFk"},
    {"stripe sk_live_", "sk_live_51Nz7QpLq2Xv9RtYb8WcMdKfJ3aHsT0uVxE", NULL},
    {"stripe rk_live_", "rk_live_cC5SLt0iDpfJiqzuthKqyGC1", NULL},
    {"openai sk-proj-",
     "sk-proj-DxTzGPfzCHbqBBNnlgSHZL6yjQ9HrlLo_3NSdiRR2zNowzTYAuetZprHq7_"
     "7YC8NkCLnVGJt0QT3BlbkFJo83FtNdXGhtKvKA71RzfvXZtiwXzut7v5OBD1n",
     NULL},
    {"openai classic sk-", "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", NULL},
    {"anthropic sk-ant-",
     "sk-ant-api03-h3Eo_lP0SZ1xjrwvPc_SPWYGuzFuaSH4qhhZRp0zwYc-fipCOv1yyN0n3erdp-"
     "nMQE4A4bBPsffAEWS8Gye1lN8ntfOutAA",
     NULL},
    {"npm npm_", "npm_UNNDSu2eIxmh61etVbuf0zQVgYPuHaHFm5r2", NULL},
    {"hugging face hf_", "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", NULL},
    {"google AIza", "AIzahZ6UV4d7izmqdzEicXcvEBgNDqBGta0wp-k", NULL},
    {"sendgrid SG.", "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", NULL},
    {"shopify shpat_", "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", NULL},
    {"shopify shpss_", "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", NULL},
    {"digitalocean dop_v1_",
     "dop_v1_68db126a1fae2faf8b7dc24f11bb1cd78c737a3071ca30d2f2c88b68c19e5a80", NULL},
    {"digitalocean doo_v1_",
     "doo_v1_1f84225c32aa93cef0a2f9c2b1c99c59279b6c5e3edba7f064a18fd190efd5d7", NULL},
    {"twilio SK", "SKd2620ccd0095777ccc77e45a17ba30f7", NULL},
    {"twilio AC", "AC410e9fea1d6d85d0a4b8899aa4534206", NULL},
    {"rsa private key",
     "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAx4fakeZ3VS5JJ\n-----END RSA PRIVATE "
     "KEY-----",
     "MIIEowIBAAKCAQEAx4fakeZ3VS5JJ"},
    {"openssh private key",
     "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAfake\n-----END OPENSSH PRIVATE "
     "KEY-----",
     "b3BlbnNzaC1rZXktdjEAfake"},
    {"jwt",
     "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
     "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
     "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"},
    {"authorization bearer", "Authorization: Bearer 8f2kQ9zLx0Vb7mN3pR5tW1yC",
     "8f2kQ9zLx0Vb7mN3pR5tW1yC"},
    {"authorization basic",
     "Authorization: Basic ZGVwbG95OlhrOW1QMnZMN3FSNA==", "ZGVwbG95OlhrOW1QMnZMN3FSNA"},
    {"url password", "postgres://admin:S3cr3tPass@db.internal:5432/app", "S3cr3tPass"},
    {"azure sas sig=",
     "https://acct.blob.core.windows.net/c/"
     "f?sv=2022-11-02&sp=r&sig=26Oc4N9TlVuF2gMr9Fqn6tknA6qw10GdDkgINJ0QZuY%3D",
     "26Oc4N9TlVuF2gMr9Fqn6tknA6qw10GdDkgINJ0QZuY"},
    {"DB_PASSWORD=", "DB_PASSWORD=Winter2024!", "Winter2024!"},
    {"PGPASSWORD=", "PGPASSWORD=s3cr3t-pg-pass psql -h db app", "s3cr3t-pg-pass"},
    {"PASSWD=", "SMTP_PASSWD=hunter22x", "hunter22x"},
    {"curl -u", "curl -u deploy:Tr0ub4dor3 https://api.internal/v1", "Tr0ub4dor3"},
    {"curl --user", "curl --user admin:Summer2025? https://api.internal/v1", "Summer2025?"},
    {"mysql -p", "mysql -h db -uroot -pMyS3cretPw app", "MyS3cretPw"},
    {"mysql --password=", "mysqldump --password=DumpPw_2024 app", "DumpPw_2024"},
    {"generic api_key=", "api_key=a4eC39HqLyjWDarjtT1zdp7dc", "a4eC39HqLyjWDarjtT1zdp7dc"},
};
#define NFORMATS (sizeof formats / sizeof *formats)

/* Events of ../shared/data the masker changes; each was read (docs/security.md). */
#define SAMPLE_CHANGES_EXPECTED 0

/* The JSON line of a note event with `value` in the field at `path`. */
static char *event_line(const char *path, const char *value)
{
    json_t *o = json_pack("{s:s,s:s,s:s,s:s}", "kind", "note", "workflow", "wf", "dri",
                          "dri@example.com", "note", "n");
    assert_non_null(o);
    const char *dot = strchr(path, '.');
    if (strcmp(path, "tool_call.arguments") == 0) {
        json_t *args = json_pack("{s:s}", "cmd", value);
        char *text = json_dumps(args, JSON_COMPACT);
        json_object_set_new(o, "tool_call", json_pack("{s:s}", "arguments", text));
        free(text);
        json_decref(args);
    } else if (strcmp(path, "attributes.key") == 0) {
        json_object_set_new(o, "attributes", json_pack("{s:s}", value, "v"));
    } else if (strcmp(path, "attributes.value") == 0) {
        json_object_set_new(o, "attributes", json_pack("{s:s}", "k", value));
    } else if (strcmp(path, "context_ids") == 0 || strcmp(path, "diff.paths") == 0) {
        json_t *arr = json_pack("[s,s]", "doc-1", value);
        if (dot)
            json_object_set_new(o, "diff", json_pack("{s:o}", "paths", arr));
        else
            json_object_set_new(o, path, arr);
    } else if (dot) {
        char obj[64];
        snprintf(obj, sizeof obj, "%.*s", (int)(dot - path), path);
        json_object_set_new(o, obj, json_pack("{s:s}", dot + 1, value));
    } else {
        json_object_set_new(o, path, json_string(value));
    }
    char *line = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    assert_non_null(line);
    return line;
}

enum { KEPT_MASKED, REFUSED_BY_MASKER, REFUSED_BY_LIMIT, LEAKED };

/* Runs one line through the real path; returns an outcome, *why the error. */
static int run_line(const char *line, const char *leak, at_error *why)
{
    static const uint8_t key[TP_HMAC_KEY_LEN] = {1, 2, 3};
    tp_event *ev = NULL;
    int rc = tp_event_from_json(line, strlen(line), NULL, 0, &ev, why, NULL);
    if (rc != 0) return REFUSED_BY_LIMIT;
    rc = tp_event_prepare(ev, key, 1, why);
    if (rc == TP_EINVAL) {
        tp_event_destroy(&ev);
        return REFUSED_BY_MASKER;
    }
    assert_int_equal(rc, 0);
    rc = tp_event_validate(ev, NULL, why);
    char *out = tp_event_to_json(ev, NULL);
    assert_non_null(out);
    int leaked = strstr(out, leak) != NULL;
    free(out);
    tp_event_destroy(&ev);
    if (rc != 0) return REFUSED_BY_LIMIT;
    return leaked ? LEAKED : KEPT_MASKED;
}

AT_TEST(test_mask_corpus_every_format_in_every_field_is_caught)
{
    (void)state;
    size_t nf = 0;
    const tp_mask_field *fields = tp_mask_fields(&nf);
    unsigned caught_by_format[NFORMATS] = {0}, caught_by_field[64] = {0};
    unsigned per_format = 0, total = 0, caught = 0, leaks = 0, wrong_class = 0, outcomes[4] = {0};
    for (size_t f = 0; f < nf; f++) {
        if (fields[f].cls == TP_FIELD_COLLECTOR) continue;
        per_format += 2;
        for (size_t s = 0; s < NFORMATS; s++)
            for (int form = 0; form < 2; form++) {
                char value[512];
                snprintf(value, sizeof value, "%s%s", form ? "CONFIG=" : "", formats[s].text);
                const char *leak = formats[s].leak ? formats[s].leak : formats[s].text;
                char *line = event_line(fields[f].path, value);
                at_error why = {{0}, {0}};
                int out = run_line(line, leak, &why);
                total++;
                outcomes[out]++;
                if (out == LEAKED) {
                    leaks++;
                    fprintf(stderr, "LEAK %s in %s: %s\n", formats[s].name, fields[f].path, line);
                } else {
                    caught++;
                    caught_by_format[s]++;
                    caught_by_field[f]++;
                }
                /* Exact fields refuse, naming themselves and the rule; others keep the event. */
                int exact = fields[f].cls == TP_FIELD_EXACT;
                if ((exact && out == KEPT_MASKED) || (!exact && out == REFUSED_BY_MASKER) ||
                    (out == REFUSED_BY_MASKER && (strcmp(why.where, fields[f].path) != 0 ||
                                                  !strstr(why.what, "looks like a secret (")))) {
                    wrong_class++;
                    fprintf(stderr, "CLASS %s in %s: outcome %d, %s: %s\n", formats[s].name,
                            fields[f].path, out, why.where, why.what);
                }
                free(line);
            }
    }
    fprintf(stderr, "# detection per format (of %u: every field, bare and after NAME=)\n",
            per_format);
    for (size_t s = 0; s < NFORMATS; s++)
        fprintf(stderr, "#   %-30s %5.1f%%\n", formats[s].name,
                100.0 * caught_by_format[s] / per_format);
    fprintf(stderr, "# detection per field (of %zu: every format, both forms)\n", 2 * NFORMATS);
    for (size_t f = 0; f < nf; f++)
        if (fields[f].cls != TP_FIELD_COLLECTOR)
            fprintf(stderr, "#   %-28s %-6s %5.1f%%\n", fields[f].path,
                    fields[f].cls == TP_FIELD_EXACT ? "exact" : "masked",
                    100.0 * caught_by_field[f] / (2 * NFORMATS));
    fprintf(stderr,
            "# %zu formats, %u cases: %u caught (%.1f%%: %u masked, %u refused by the masker, %u "
            "refused by a length limit), %u leaked, %u wrong class\n",
            NFORMATS, total, caught, 100.0 * caught / total, outcomes[KEPT_MASKED],
            outcomes[REFUSED_BY_MASKER], outcomes[REFUSED_BY_LIMIT], leaks, wrong_class);
    assert_int_equal(NFORMATS, 38);
    assert_int_equal(leaks, 0);
    assert_int_equal(wrong_class, 0);
}

/* Counts the markers of each rule in `text` into by_rule (indexed as the table). */
static void count_markers(const char *text, unsigned *by_rule)
{
    size_t nr = 0;
    const tp_mask_rule *rules = tp_mask_rules(&nr);
    for (const char *m = strstr(text, "[REDACTED:"); m; m = strstr(m + 1, "[REDACTED:"))
        for (size_t r = 0; r < nr; r++) {
            size_t l = strlen(rules[r].name);
            if (strncmp(m + 10, rules[r].name, l) == 0 && m[10 + l] == ']') by_rule[r]++;
        }
}

/* Prints the text around each marker of a changed event, for reading. */
static void show_change(const char *file, size_t line, const char *after)
{
    for (const char *m = strstr(after, "[REDACTED:"); m; m = strstr(m + 1, "[REDACTED:")) {
        const char *from = m - after > 60 ? m - 60 : after;
        fprintf(stderr, "# %s:%zu: ...%.100s\n", file, line, from);
    }
}

/* Every event of the sample data through the masker (as the collector does
 * after decoding): how many change, and which rules fire. The sample data
 * are real agent runs; a change is a false positive unless it is a secret. */
AT_TEST(test_mask_corpus_sample_data_changes)
{
    (void)state;
    char *pattern = tu_shared("data/*.jsonl");
    glob_t g;
    int grc = glob(pattern, 0, NULL, &g);
    free(pattern);
    if (grc != 0) skip();
    size_t nr = 0;
    tp_mask_rules(&nr);
    unsigned by_rule[64] = {0};
    size_t events = 0, unparsed = 0, changed = 0, refused = 0;
    for (size_t f = 0; f < g.gl_pathc; f++) {
        size_t len = 0;
        char *text = tu_read_file(g.gl_pathv[f], &len);
        assert_non_null(text);
        const char *base = strrchr(g.gl_pathv[f], '/') + 1;
        size_t lineno = 0;
        for (char *line = text; line < text + len;) {
            char *nl = memchr(line, '\n', (size_t)(text + len - line));
            size_t ll = nl ? (size_t)(nl - line) : (size_t)(text + len - line);
            lineno++;
            tp_event *ev = NULL;
            at_error err;
            if (ll > 0 && tp_event_from_json(line, ll, NULL, 0, &ev, &err, NULL) == 0) {
                events++;
                char *before = tp_event_to_json(ev, NULL);
                unsigned count = 0;
                int rc = tp_mask_event(ev, &count, &err);
                char *after = tp_event_to_json(ev, NULL);
                assert_true(before && after);
                if (rc != 0) {
                    refused++;
                    fprintf(stderr, "# %s:%zu: refused: %s: %s\n", base, lineno, err.where,
                            err.what);
                } else if (strcmp(before, after) != 0) {
                    changed++;
                    count_markers(after, by_rule);
                    show_change(base, lineno, after);
                }
                free(before);
                free(after);
                tp_event_destroy(&ev);
            } else if (ll > 0) {
                unparsed++;
            }
            line = nl ? nl + 1 : text + len;
        }
        free(text);
    }
    globfree(&g);
    const tp_mask_rule *rules = tp_mask_rules(NULL);
    fprintf(stderr, "# sample data: %zu events (%zu lines not parsed), %zu changed, %zu refused\n",
            events, unparsed, changed, refused);
    for (size_t r = 0; r < nr; r++)
        if (by_rule[r]) fprintf(stderr, "#   %-20s %u span(s)\n", rules[r].name, by_rule[r]);
    assert_true(events > 1000);
    /* Every change was read (docs/security.md, "False positives"). */
    assert_true(changed <= SAMPLE_CHANGES_EXPECTED);
    assert_int_equal(refused, 0);
}
