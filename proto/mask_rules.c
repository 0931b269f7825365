/*
 * mask_rules.c - the rule table of the secret masker: one row per rule with
 * its name (the marker's), its description, true- and false-positive
 * fixtures, its detector and the bytes a match can start with.
 *
 * Fixtures are fake values of the documented shape of each format (never
 * real credentials). tests/proto/test_mask.c walks every row: each
 * positive masks exactly once under this rule, no negative is masked by
 * any rule.
 *
 * Owns: the static table. Invariants: the generic rule is the last row and
 * defers to the others (tp_mask_detect_specific); order matters only
 * between rules that fire at the same position. Threading: read-only.
 */
#include "mask_internal.h"

#define LIST(...)                                                                                  \
    (const char *const[])                                                                          \
    {                                                                                              \
        __VA_ARGS__, NULL                                                                          \
    }

/* Bytes that can start an AWS secret access key (any of [A-Za-z0-9+/]). */
#define B64STD_FIRST "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

static const tp_mask_rule rules[] = {
    {"private_key", "PEM/OpenSSH private key blocks, BEGIN to END (or to the end of the text)",
     LIST("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAfakefakefake0Z3VS5JJ\n-----END RSA "
          "PRIVATE KEY-----",
          "key:\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAAfake"),
     LIST("-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC "
          "KEY-----",
          "-----BEGIN CERTIFICATE-----", "-----BEGIN "),
     tp_mask_detect_private_key, "-"},
    {"aws_access_key", "AWS access key ids (AKIA, ASIA, ...) other than AWS's EXAMPLE keys",
     LIST("aws_access_key_id = AKIAZ3MPLEK3YT0TEST1", "creds ASIAQWERTYUIOP234567 expire"),
     LIST("AKIAIOSFODNN7EXAMPLE", "AKIA is the prefix of long-term keys",
          "AKIAZ3MPLEK3YT0TEST12345"),
     tp_mask_detect_aws, "A", is_alnum},
    {"github_token", "GitHub tokens: ghp_ gho_ ghu_ ghs_ ghr_ github_pat_",
     LIST("token ghp_0123456789abcdefghijABCDEFGHIJ012345 end",
          "gho_0123456789abcdefghijABCDEFGHIJ012345",
          "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJ"),
     LIST("ghp_short", "the ghp_ prefix marks a personal token", "github_pat_x"),
     tp_mask_detect_github, "g", is_word},
    {"gitlab_token", "GitLab tokens: glpat- gldt- glrt- glptt- glft- glsoat- glcbt- glimt-",
     LIST("GITLAB_TOKEN glpat-smSL3d394G_DRmD0UnJC", "gldt-Xq3v9LmN2pR7tW1yC8zK"),
     LIST("glpat-", "glpat-short", "the glpat- prefix"), tp_mask_detect_gitlab, "g", is_b64url},
    {"slack_token", "Slack tokens xoxa- xoxb- xoxp- xoxo- xoxr- xoxs-",
     LIST("xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"),
     LIST("xoxo-hugs-and-kisses", "xoxb-", "xoxb-abcdefghijkl"), tp_mask_detect_slack, "x"},
    {"slack_webhook", "Slack webhook URLs hooks.slack.com/services/... (workflows/, triggers/)",
     LIST("https://hooks.slack.com/services/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",
          "post to hooks.slack.com/workflows/T01ABCD2EFG/A02BCDE3FGH/412345678901234567/Xq3v"),
     LIST("https://hooks.slack.com/services/", "https://api.slack.com/messaging/webhooks",
          "hooks.slack.com/services/T0/B0"),
     tp_mask_detect_slack_webhook, "h"},
    {"stripe_key", "Stripe secret and restricted keys sk_live_ sk_test_ rk_live_ rk_test_",
     LIST("STRIPE_KEY sk_live_4eC39HqLyjWDarjtT1zdp7dc", "rk_live_cC5SLt0iDpfJiqzuthKqyGC1",
          "sk_test_0rIYM5K76t4nHm9pqvIGA4jY"),
     LIST("pk_live_4eC39HqLyjWDarjtT1zdp7dc", "sk_live_", "sk_live_short1"), tp_mask_detect_stripe,
     "rs", is_b64url},
    {"anthropic_key", "Anthropic API and admin keys sk-ant-",
     LIST("sk-ant-api03-h3Eo_lP0SZ1xjrwvPc_SPWYGuzFuaSH4qhhZRp0zwYc-fipCOv1yyN0n3erdp-"
          "nMQE4A4bBPsffAEWS8Gye1lN8ntfOutAA"),
     LIST("sk-ant-", "sk-ant-api03-short"), tp_mask_detect_anthropic, "s", is_b64url},
    {"openai_key", "OpenAI keys sk-proj- sk-svcacct- sk-admin- and classic sk- + 48",
     LIST("OPENAI_API_KEY sk-proj-DxTzGPfzCHbqBBNnlgSHZL6yjQ9HrlLo_3NSdiRR2zNowzTYAuetZprHq7_"
          "7YC8NkCLnVGJt0QT3BlbkFJo83FtNdXGhtKvKA71RzfvXZtiwXzut7v5OBD1n645e2Bs3GkNYasGMN096M",
          "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"),
     LIST("sk-learn", "pip install sk-video", "sk-abcdefghijklmnopqrstuvwxyzabcdefghij",
          "sk-proj-short"),
     tp_mask_detect_openai, "s", is_b64url},
    {"npm_token", "npm access tokens npm_ + 36",
     LIST("//registry.npmjs.org/:_authToken=npm_"
          "UNNDSu2eIxmh61etVbuf0zQVgYPuHaHFm5r2"),
     LIST("npm_config_cache", "npm_lifecycle_event", "npm_UNNDSu2eIxmh61etVbuf0zQVgYPu"),
     tp_mask_detect_npm, "n", is_b64url},
    {"huggingface_token", "Hugging Face tokens hf_ + 34 letters",
     LIST("HF_TOKEN=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"),
     LIST("hf_hub_download", "from huggingface_hub import hf_hub_url",
          "hf_abcdefghijklmnopqrstuvwxyzabcdefgh"),
     tp_mask_detect_huggingface, "h", is_b64url},
    {"google_api_key", "Google API keys AIza + 35",
     LIST("?key=AIzahZ6UV4d7izmqdzEicXcvEBgNDqBGta0wp-k"),
     LIST("AIza", "AIzahZ6UV4d7izmqdzEicXcvEBgNDqBGta0wp-kX", "AIzaShort"), tp_mask_detect_google,
     "A", is_b64url},
    {"sendgrid_key", "SendGrid API keys SG.<22>.<43>",
     LIST("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"),
     LIST("SG.", "SG.short.key", "e.g. SG.example"), tp_mask_detect_sendgrid, "S", is_b64url},
    {"shopify_token", "Shopify tokens shpat_ shpss_ shpca_ shppa_ + 32 hex",
     LIST("X-Shopify-Access-Token: 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",
          "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"),
     LIST("shpat_", "shpat_4a8e215d6ef24d5e", "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z"),
     tp_mask_detect_shopify, "s", is_b64url},
    {"digitalocean_token", "DigitalOcean tokens dop_v1_ doo_v1_ dor_v1_ + 64 hex",
     LIST("dop_v1_68db126a1fae2faf8b7dc24f11bb1cd78c737a3071ca30d2f2c88b68c19e5a80",
          "doo_v1_1f84225c32aa93cef0a2f9c2b1c99c59279b6c5e3edba7f064a18fd190efd5d7"),
     LIST("dop_v1_", "dop_v1_68db126a1fae2faf"), tp_mask_detect_digitalocean, "d", is_b64url},
    {"twilio_key", "Twilio API key and account SIDs SK/AC + 32 hex",
     LIST("TWILIO_API_KEY SKd2620ccd0095777ccc77e45a17ba30f7",
          "account AC410e9fea1d6d85d0a4b8899aa4534206"),
     LIST("ACCEPTED", "SK123", "0xAC410e9fea1d6d85d0a4b8899aa4534206",
          "AC410E9FEA1D6D85D0A4B8899AA4534206"),
     tp_mask_detect_twilio, "AS", is_b64url},
    {"aws_secret_key",
     "bare AWS secret access keys: 40 of [A-Za-z0-9+/] that look random (not a path or digest)",
     LIST("aws_secret_access_key TqaLB6a2kzg9y1H/C2+TciaGEBrJp7qVR3O8AF4S",
          "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzK8sT2rQ1d"),
     LIST("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "3f2a9c1d4b5e6f708192a3b4c5d6e7f8091a2b3c",
          "Users/JohnSmith/Documents/Project2024/ab", "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghij0123",
          "TqaLB6a2kzg9y1H/C2+TciaGEBrJp7qVR3O8AF4S==", "getUserAccountSettingsForCurrentSession1"),
     tp_mask_detect_aws_secret, B64STD_FIRST, tp_mask_aws_secret_left},
    {"jwt", "JSON Web Tokens eyJ<header>.eyJ<payload>.<signature>",
     LIST("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkZha2UifQ."
          "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"),
     LIST("eyJ", "eyJhbGciOiJIUzI1NiJ9 alone", "eyJhbGciOiJIUzI1NiJ9.notajwt.x"),
     tp_mask_detect_jwt, "e"},
    {"bearer_token", "credentials after the word Bearer",
     LIST("Authorization: Bearer 8f2kQ9zLx0Vb7mN3pR5tW1yC"),
     LIST("the bearer of bad news", "Bearer authentication scheme", "Bearer <token>"),
     tp_mask_detect_bearer, "bB", is_alpha},
    {"basic_auth", "credentials after the word Basic that decode to user:password",
     LIST("Authorization: Basic ZGVwbG95OlhrOW1QMnZMN3FSNA==", "-H 'authorization: basic "
                                                               "c3ZjLWNpOlRyMHViNGRvciYz'"),
     LIST("Basic authentication", "basic usage", "Basic dGhlIHF1aWNrIGJyb3du"),
     tp_mask_detect_basic, "bB", is_alpha},
    {"url_password", "passwords in URLs scheme://user:password@host",
     LIST("postgres://admin:S3cr3tPass@db.internal:5432/app", "redis://:hunter2@cache:6379",
          "https://ghp_0123456789abcdefghijABCDEFGHIJ012345:x-oauth-basic@github.com/o/r"),
     LIST("https://example.com:8443/path", "https://user@example.com/", "mailto:a@example.com",
          "http://[::1]:8080/"),
     tp_mask_detect_url_password, ":"},
    {"azure_sas", "Azure shared access signatures sig=...",
     LIST("https://acct.blob.core.windows.net/c/f?sv=2022-11-02&sp=r&se=2026-12-31&sig="
          "26Oc4N9TlVuF2gMr9Fqn6tknA6qw10GdDkgINJ0QZuY%3D"),
     LIST("sig=abc", "sig=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "config=26Oc4N9TlVuF2g"),
     tp_mask_detect_azure_sas, "s"},
    {"env_password", "upper-case password variables: DB_PASSWORD= PGPASSWORD= PASSWD= MYSQL_PWD=",
     LIST("DB_PASSWORD=Winter2024!", "PGPASSWORD='s3cr3t pg pass' psql -h db",
          "export SMTP_PASSWD=hunter22", "MYSQL_PWD: Tr0ub4dor"),
     LIST("DB_PASSWORD=${DB_PASSWORD}", "MYSQL_ALLOW_EMPTY_PASSWORD=yes", "PWD=/home/app",
          "DB_PASSWORD=", "PASSWORD_MIN_LENGTH=12", "ROOT_PASSWORD=<set me>"),
     tp_mask_detect_env_password, "ABCDEFGHIJKLMNOPQRSTUVWXYZ", is_word},
    {"cli_password", "passwords on command lines: curl -u user:pw, mysql -pPASS, --password=PASS",
     LIST("curl -u deploy:Tr0ub4dor3 https://api.internal/v1", "curl --user admin:Winter2024! x",
          "mysql -h db -uroot -pS3cretPass app", "mysqldump --password=S3cretPass app",
          "[\"curl\", \"-u\", \"deploy:Tr0ub4dor3\"]"),
     LIST("docker run -u 1000:1000 img", "git push -u origin main", "gcc -pthread -pedantic x.c",
          "mysql -p app", "docker login --password-stdin", "curl -u \"$USER:$PASS\" x",
          "curl --user-agent a:bcd x", "mysql --password=$MYSQL_PWD"),
     tp_mask_detect_cli_password, "-"},
    {"generic_secret",
     "high-entropy values assigned to secret-looking names (key=, secret=, password=, token=, "
     "\"api_key\": \"...\")",
     LIST("db_password=Xk9#mP2vL7qR4wZ", "{\"api_key\": \"a4eC39HqLyjWDarjtT1zdp7dc\"}",
          "client_secret: 9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d", "apiKey=AbC123xYz789QwE456"),
     LIST("password=hunter2", "token_count=12345", "key=value", "sort_key=created_at_desc",
          "monkey=Xk9mP2vL7qR4wZ8s", "password: ${DB_PASSWORD}", "max_tokens=4096",
          "password == Xk9#mP2vL7qR4wZ"),
     tp_mask_detect_generic, NULL, is_ident},
};

#define NRULES (sizeof rules / sizeof *rules)

const tp_mask_rule *tp_mask_rules(size_t *n)
{
    if (n) *n = NRULES;
    return rules;
}

int tp_mask_detect_specific(scan *sc, size_t i)
{
    size_t ms, me;
    for (size_t r = 0; r + 1 < NRULES; r++)
        if (rules[r].detect != tp_mask_detect_cli_password && rules[r].detect(sc, i, &ms, &me))
            return 1;
    return 0;
}
