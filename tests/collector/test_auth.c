/*
 * test_auth.c - CURVE keys, the allowlist and the ZAP handler (collector/auth.h)
 * with real ZeroMQ sockets on loopback: a ROUTER with curve_server and the
 * handler, DEALER clients with and without the right keys.
 *
 * Also the files: allowlists with unsafe modes, another owner and a FIFO,
 * secret keys where a public key is wanted, through the API and through the
 * real trace-collector and trace-shim programs (which must refuse, not hang).
 *
 * Owns: a temp directory per test (keys, allowlist), one ZeroMQ context per
 * test. Every "refused" check runs beside an allowed client that is served,
 * so a dead server cannot pass for a refusing one.
 * Threading: the test thread plus the ZAP handler thread under test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include <cmocka.h>

#include "at_test.h"
#include "auth.h"
#include "testutil.h"

typedef struct fixture {
    char *dir;
    char allow[512];
    char server_key[512], server_pub[512];
    char a_key[512], a_pub[512];
    char b_key[512], b_pub[512];
    void *ctx, *router;
    auth_zap *zap;
    char endpoint[128];
    int lines_logged;
} fixture;

static void path_in(const fixture *fx, char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", fx->dir, name);
}

static void keygen(fixture *fx, const char *name, char *keyp, char *pubp)
{
    char base[400];
    at_error err = {0};
    path_in(fx, base, sizeof base, name);
    int rc = auth_keygen_curve(base, &err);
    if (rc != 0) fail_msg("keygen %s: %s", base, err.what);
    snprintf(keyp, 512, "%s.key", base);
    snprintf(pubp, 512, "%s.pub", base);
}

static void load(const char *path, int secret, char z85[41])
{
    at_error err = {0};
    if (auth_key_load(path, secret, z85, &err) != 0) fail_msg("%s", err.what);
}

static void write_allow(fixture *fx, const char *const *names, const char *const *pubs, size_t n)
{
    char text[4096];
    size_t o = (size_t)snprintf(text, sizeof text, "# shims allowed to send\n\n");
    for (size_t k = 0; k < n; k++) {
        char z[41];
        load(pubs[k], 0, z);
        o += (size_t)snprintf(text + o, sizeof text - o, "%s %s  # added by test\n", names[k], z);
    }
    assert_int_equal(tu_write_file(fx->allow, text, o), 0);
}

static void count_log(void *ctx, int level, const char *msg)
{
    fixture *fx = ctx;
    (void)level;
    fx->lines_logged++;
    fprintf(stderr, "# log: %s\n", msg);
}

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    fx->dir = tu_tempdir("auth");
    path_in(fx, fx->allow, sizeof fx->allow, "allow.txt");
    keygen(fx, "server", fx->server_key, fx->server_pub);
    keygen(fx, "shim-a", fx->a_key, fx->a_pub);
    keygen(fx, "shim-b", fx->b_key, fx->b_pub);
    const char *names[] = {"shim-a"};
    const char *pubs[] = {fx->a_pub};
    write_allow(fx, names, pubs, 1);
    fx->ctx = zmq_ctx_new();
    assert_non_null(fx->ctx);
    at_error err = {0};
    if (auth_zap_start(fx->ctx, fx->allow, count_log, fx, &fx->zap, &err) != 0)
        fail_msg("auth_zap_start: %s", err.what);
    fx->router = zmq_socket(fx->ctx, ZMQ_ROUTER);
    char sec[41];
    load(fx->server_key, 1, sec);
    int one = 1, linger = 0;
    assert_int_equal(zmq_setsockopt(fx->router, ZMQ_CURVE_SERVER, &one, sizeof one), 0);
    assert_int_equal(zmq_setsockopt(fx->router, ZMQ_CURVE_SECRETKEY, sec, 40), 0);
    assert_int_equal(zmq_setsockopt(fx->router, ZMQ_LINGER, &linger, sizeof linger), 0);
    if (auth_zap_watch(fx->zap, fx->router, &err) != 0) fail_msg("watch: %s", err.what);
    assert_int_equal(zmq_bind(fx->router, "tcp://127.0.0.1:*"), 0);
    size_t len = sizeof fx->endpoint;
    assert_int_equal(zmq_getsockopt(fx->router, ZMQ_LAST_ENDPOINT, fx->endpoint, &len), 0);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    zmq_close(fx->router);
    auth_zap_stop(&fx->zap);
    assert_null(fx->zap);
    auth_zap_stop(&fx->zap); /* idempotent */
    zmq_ctx_term(fx->ctx);
    tu_rmtree_free(fx->dir);
    free(fx);
    return 0;
}

/* A DEALER with the given keys (NULL key: no CURVE at all). */
static void *client(fixture *fx, const char *server_pub, const char *key_path)
{
    void *d = zmq_socket(fx->ctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(d, ZMQ_LINGER, &linger, sizeof linger);
    if (key_path) {
        char sp[41], cs[41], cp[41];
        load(server_pub, 0, sp);
        load(key_path, 1, cs);
        assert_int_equal(zmq_curve_public(cp, cs), 0);
        assert_int_equal(zmq_setsockopt(d, ZMQ_CURVE_SERVERKEY, sp, 40), 0);
        assert_int_equal(zmq_setsockopt(d, ZMQ_CURVE_PUBLICKEY, cp, 40), 0);
        assert_int_equal(zmq_setsockopt(d, ZMQ_CURVE_SECRETKEY, cs, 40), 0);
    }
    assert_int_equal(zmq_connect(d, fx->endpoint), 0);
    return d;
}

/* Serves the router for up to `ms`: echoes every message back and records
 * the User-Id of each (in arrival order, comma-separated). Returns the
 * number of messages received. */
static int serve(fixture *fx, int ms, char *users, size_t ulen)
{
    int got = 0;
    if (users && ulen) users[0] = 0;
    for (int waited = 0; waited < ms; waited += 20) {
        zmq_pollitem_t it = {fx->router, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, 20) <= 0) continue;
        zmq_msg_t id, body;
        zmq_msg_init(&id);
        zmq_msg_init(&body);
        assert_true(zmq_msg_recv(&id, fx->router, 0) >= 0);
        assert_true(zmq_msg_recv(&body, fx->router, 0) >= 0);
        const char *user = zmq_msg_gets(&body, "User-Id");
        if (users) {
            size_t o = strlen(users);
            snprintf(users + o, ulen - o, "%s%s", o ? "," : "", user ? user : "(none)");
        }
        zmq_msg_send(&id, fx->router, ZMQ_SNDMORE);
        zmq_msg_send(&body, fx->router, 0);
        zmq_msg_close(&id);
        zmq_msg_close(&body);
        got++;
    }
    return got;
}

/* Sends "ping" and waits for the echo while serving; 1 when it came back. */
static int round_trip(fixture *fx, void *d, char *users, size_t ulen)
{
    assert_int_equal(zmq_send(d, "ping", 4, ZMQ_DONTWAIT), 4);
    for (int k = 0; k < 50; k++) {
        serve(fx, 20, users ? users + strlen(users) : NULL, users ? ulen - strlen(users) : 0);
        zmq_pollitem_t it = {d, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, 0) > 0) {
            char buf[8];
            return zmq_recv(d, buf, sizeof buf, 0) == 4;
        }
    }
    return 0;
}

AT_TEST_F(test_auth_keygen_writes_secret_0600_and_public_pair, setup, teardown)
{
    fixture *fx = *state;
    struct stat st;
    assert_int_equal(stat(fx->a_key, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(stat(fx->a_pub, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    char sec[41], pub[41], derived[41];
    load(fx->a_key, 1, sec);
    load(fx->a_pub, 0, pub);
    assert_int_equal(zmq_curve_public(derived, sec), 0);
    assert_string_equal(derived, pub);
    /* Never overwrites a key. */
    char base[512];
    at_error err = {0};
    path_in(fx, base, sizeof base, "shim-a");
    assert_int_equal(auth_keygen_curve(base, &err), AUTH_EEXIST);
    assert_non_null(strstr(err.what, "already exists"));
    char again[41];
    load(fx->a_key, 1, again);
    assert_string_equal(again, sec);
}

/* A key pair lands whole under its names, with exact modes whatever the umask, and nothing
 * else is left in the directory (at_file_create's temporary files are gone). */
AT_TEST(test_auth_keygen_writes_exact_modes_and_leaves_no_temporary_file)
{
    (void)state;
    char *dir = tu_tempdir("keygen");
    char base[4200], key[4300], pub[4300];
    snprintf(base, sizeof base, "%s/k", dir);
    snprintf(key, sizeof key, "%s.key", base);
    snprintf(pub, sizeof pub, "%s.pub", base);
    mode_t old = umask(0077);
    at_error err = {0};
    int rc = auth_keygen_curve(base, &err);
    umask(old);
    if (rc != 0) fail_msg("keygen: %s", err.what);
    struct stat st;
    assert_int_equal(stat(key, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(stat(pub, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    char *out = NULL;
    char *argv[] = {"/bin/ls", "-A", dir, NULL};
    assert_int_equal(tu_run(argv, NULL, &out, NULL, NULL), 0);
    assert_string_equal(out, "k.key\nk.pub\n");
    free(out);
    tu_rmtree_free(dir);
}

AT_TEST_F(test_auth_secret_key_readable_by_others_is_refused, setup, teardown)
{
    fixture *fx = *state;
    assert_int_equal(chmod(fx->b_key, 0644), 0);
    char z[41];
    at_error err = {0};
    assert_int_equal(auth_key_load(fx->b_key, 1, z, &err), AUTH_EPERM);
    assert_non_null(strstr(err.what, "chmod 600"));
    /* The message names the file, never the key. */
    assert_non_null(strstr(err.what, fx->b_key));
    char bad[512];
    path_in(fx, bad, sizeof bad, "bad.key");
    assert_int_equal(tu_write_file(bad, "not a key\n", 10), 0);
    assert_int_equal(auth_key_load(bad, 1, z, &err), AUTH_EFORMAT);
    assert_non_null(strstr(err.what, "40 Z85"));
}

/* Runs a built program under timeout(1): a FIFO that blocks it shows as 124. */
static int run_bounded(char **err, const char *prog, const char *const *args)
{
    char *bin = tu_bin(prog);
    char *argv[24] = {"/usr/bin/timeout", "10", bin};
    int n = 3;
    for (int k = 0; args[k] && n < 23; k++)
        argv[n++] = (char *)args[k];
    argv[n] = NULL;
    int rc = tu_run(argv, NULL, NULL, NULL, err);
    free(bin);
    return rc;
}

static void assert_allowlist_refused(const char *path, int code, const char *why)
{
    auth_allowlist *a = NULL;
    at_error err = {0};
    alarm(10); /* a FIFO must not block */
    int rc = auth_allowlist_load(path, &a, &err);
    alarm(0);
    if (rc != code) fail_msg("%s: %d (%s), expected %d", path, rc, err.what, code);
    assert_null(a);
    assert_non_null(strstr(err.what, path));
    if (!strstr(err.what, why)) fail_msg("\"%s\" does not say \"%s\"", err.what, why);
}

AT_TEST_F(test_auth_unsafe_allowlist_files_are_refused, setup, teardown)
{
    fixture *fx = *state;
    auth_allowlist *a = NULL;
    at_error err = {0};
    assert_int_equal(auth_allowlist_load(fx->allow, &a, &err), 0); /* 0600: fine */
    auth_allowlist_destroy(&a);
    assert_int_equal(chmod(fx->allow, 0644), 0);
    assert_int_equal(auth_allowlist_load(fx->allow, &a, &err), 0);
    auth_allowlist_destroy(&a);
    assert_int_equal(chmod(fx->allow, 0666), 0);
    assert_allowlist_refused(fx->allow, AUTH_EPERM, "writable by anyone (others) (mode 0666)");
    assert_int_equal(chmod(fx->allow, 0620), 0);
    assert_allowlist_refused(fx->allow, AUTH_EPERM, "writable by its group (mode 0620)");
    assert_int_equal(chmod(fx->allow, 0644), 0);
    if (geteuid() == 0) { /* only root can give a file away */
        assert_int_equal(chown(fx->allow, 65534, 65534), 0);
        assert_allowlist_refused(fx->allow, AUTH_EPERM, "owned by uid 65534");
        assert_int_equal(chown(fx->allow, 0, 0), 0);
    }
    /* A reload from an unsafe file keeps the list that was loaded. */
    assert_int_equal(chmod(fx->allow, 0646), 0);
    assert_int_equal(auth_zap_reload(fx->zap, &err), AUTH_EPERM);
    assert_non_null(strstr(err.what, "chmod go-w"));
    assert_true(auth_zap_allows_name(fx->zap, "shim-a"));
    char fifo[512], dir[512];
    path_in(fx, fifo, sizeof fifo, "allow.fifo");
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_allowlist_refused(fifo, AUTH_EIO, "is a FIFO, not a regular file");
    path_in(fx, dir, sizeof dir, "allow.d");
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_allowlist_refused(dir, AUTH_EIO, "is a directory, not a regular file");

    /* The real collector refuses to start on them, at once. */
    char store[512], ep[600], *cerr = NULL;
    path_in(fx, store, sizeof store, "store");
    snprintf(ep, sizeof ep, "ipc://%s/c.sock", fx->dir);
    const char *args[] = {"--store",      store,     "--listen", ep,  "--curve-secret",
                          fx->server_key, "--allow", fifo,       NULL};
    assert_int_equal(run_bounded(&cerr, "trace-collector", args), 3);
    assert_non_null(strstr(cerr, "is a FIFO, not a regular file"));
    free(cerr);
    args[7] = fx->allow; /* mode 0646 */
    assert_int_equal(run_bounded(&cerr, "trace-collector", args), 3);
    assert_non_null(strstr(cerr, "(mode 0646)"));
    free(cerr);
}

AT_TEST_F(test_auth_secret_key_is_refused_where_a_public_key_is_wanted, setup, teardown)
{
    fixture *fx = *state;
    char *text = tu_read_file(fx->server_key, NULL);
    assert_non_null(strstr(text, " secret-key\n# CURVE secret key"));
    free(text);
    char z[41];
    at_error err = {0};
    assert_int_equal(auth_key_load(fx->server_key, 0, z, &err), AUTH_EFORMAT);
    assert_non_null(strstr(err.what, fx->server_key));
    assert_non_null(strstr(err.what, "holds a CURVE secret key"));
    assert_non_null(strstr(err.what, "pass the public key"));
    assert_int_equal(auth_key_load(fx->server_key, 1, z, &err), 0);
    assert_int_equal(auth_key_load(fx->server_pub, 0, z, &err), 0);
    /* A secret key file from before the marker (bare Z85) still loads as a secret. */
    char old[512], pub[41], sec[41];
    path_in(fx, old, sizeof old, "old.key");
    assert_int_equal(zmq_curve_keypair(pub, sec), 0);
    char line[48];
    snprintf(line, sizeof line, "%s\n", sec);
    assert_int_equal(tu_write_file(old, line, strlen(line)), 0);
    assert_int_equal(auth_key_load(old, 1, z, &err), 0);
    assert_string_equal(z, sec);
    /* Pasted into an allowlist, the line of a .key file is named for what it is. */
    char *line2 = tu_read_file(fx->server_key, NULL), allow[256];
    snprintf(allow, sizeof allow, "server %.51s\n", line2);
    free(line2);
    auth_allowlist *a = NULL;
    assert_int_equal(auth_allowlist_parse(allow, strlen(allow), "allow.txt", &a, &err),
                     AUTH_EFORMAT);
    assert_string_equal(err.what, "allow.txt:1: key: a CURVE secret key (the line of a .key file); "
                                  "list the public key of that shim (its .pub file) and keep the "
                                  "secret key on the shim");
    /* A FIFO as a key file is refused without blocking. */
    char fifo[512];
    path_in(fx, fifo, sizeof fifo, "server.fifo");
    assert_int_equal(mkfifo(fifo, 0600), 0);
    alarm(10);
    assert_int_equal(auth_key_load(fifo, 1, z, &err), AUTH_EIO);
    alarm(0);
    assert_non_null(strstr(err.what, "is a FIFO"));

    /* The real trace-shim: --server-key given the collector's secret key. */
    char events[512], *serr = NULL;
    path_in(fx, events, sizeof events, "events.jsonl");
    const char *line1 = "{\"kind\":\"note\",\"workflow\":\"w\",\"dri\":\"d\",\"note\":\"n\"}\n";
    assert_int_equal(tu_write_file(events, line1, strlen(line1)), 0);
    char ep[600];
    snprintf(ep, sizeof ep, "ipc://%s/none.sock", fx->dir);
    const char *args[] = {
        "--endpoint",   ep,        "--timeout", "1", "--server-key", fx->server_key,
        "--client-key", fx->a_key, events,      NULL};
    assert_int_equal(run_bounded(&serr, "trace-shim", args), 2);
    if (!strstr(serr, "holds a CURVE secret key") || !strstr(serr, "NAME.pub"))
        fail_msg("trace-shim said: %s", serr);
    free(serr);
    args[5] = fifo;
    assert_int_equal(run_bounded(&serr, "trace-shim", args), 2);
    assert_non_null(strstr(serr, "is a FIFO"));
    free(serr);
}

AT_TEST(test_auth_allowlist_parses_names_keys_and_comments)
{
    (void)state;
    char pa[41], sa[41], pb[41], sb[41];
    assert_int_equal(zmq_curve_keypair(pa, sa), 0);
    assert_int_equal(zmq_curve_keypair(pb, sb), 0);
    char text[512];
    int n =
        snprintf(text, sizeof text,
                 "# comment\n\n   \t\nbilling-agent@prod %s\r\n  support.bot_2\t%s # note", pa, pb);
    auth_allowlist *a = NULL;
    at_error err = {0};
    assert_int_equal(auth_allowlist_parse(text, (size_t)n, "allow.txt", &a, &err), 0);
    assert_int_equal(auth_allowlist_size(a), 2);
    uint8_t bin[32];
    assert_non_null(zmq_z85_decode(bin, pb));
    assert_string_equal(auth_allowlist_find_key(a, bin), "support.bot_2");
    assert_non_null(zmq_z85_decode(bin, sa)); /* a secret key is not a listed public key */
    assert_null(auth_allowlist_find_key(a, bin));
    assert_true(auth_allowlist_has_name(a, "billing-agent@prod"));
    assert_false(auth_allowlist_has_name(a, "billing-agent"));
    auth_allowlist_destroy(&a);
    assert_null(a);
    auth_allowlist_destroy(&a);
    /* An empty list is valid and admits nobody. */
    assert_int_equal(auth_allowlist_parse("", 0, "empty", &a, &err), 0);
    assert_int_equal(auth_allowlist_size(a), 0);
    auth_allowlist_destroy(&a);
}

AT_TEST(test_auth_allowlist_errors_name_file_and_line)
{
    (void)state;
    char pa[41], sa[41];
    assert_int_equal(zmq_curve_keypair(pa, sa), 0);
    char good[128];
    snprintf(good, sizeof good, "a %s\n", pa);
    static const struct {
        const char *tail, *want;
    } cases[] = {
        {"b short\n", "allow.txt:3: key: not 40 Z85"},
        {"b\n", "allow.txt:3: key: missing"},
        {"a K\n", "allow.txt:3: key: not 40"},
        {"b/c 0000000000000000000000000000000000000000\n", "allow.txt:3: name: only"},
        {"DUPKEY\n", "allow.txt:3: key: already listed for \"a\""},
        {"DUPNAME\n", "allow.txt:3: name: \"a\" is listed twice"},
        {"EXTRA\n", "allow.txt:3: extra text"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        char text[512], p2[41], s2[41];
        assert_int_equal(zmq_curve_keypair(p2, s2), 0);
        const char *tail = cases[k].tail;
        char line[256];
        if (strcmp(tail, "DUPKEY\n") == 0)
            snprintf(line, sizeof line, "b %s\n", pa);
        else if (strcmp(tail, "DUPNAME\n") == 0)
            snprintf(line, sizeof line, "a %s\n", p2);
        else if (strcmp(tail, "EXTRA\n") == 0)
            snprintf(line, sizeof line, "b %s extra\n", p2);
        else
            snprintf(line, sizeof line, "%s", tail);
        int n = snprintf(text, sizeof text, "# header\n%s%s", good, line);
        auth_allowlist *a = NULL;
        at_error err = {0};
        int rc = auth_allowlist_parse(text, (size_t)n, "allow.txt", &a, &err);
        if (rc != AUTH_EFORMAT || !strstr(err.what, cases[k].want))
            fail_msg("case %zu: rc %d, message \"%s\", wanted \"%s\"", k, rc, err.what,
                     cases[k].want);
        assert_null(a);
        /* Key material never appears in a message. */
        assert_null(strstr(err.what, pa));
        assert_null(strstr(err.what, p2));
    }
}

AT_TEST_F(test_auth_allowed_key_is_served_and_named, setup, teardown)
{
    fixture *fx = *state;
    void *a = client(fx, fx->server_pub, fx->a_key);
    char users[256] = "";
    assert_true(round_trip(fx, a, users, sizeof users));
    assert_string_equal(users, "shim-a");
    auth_counts c;
    auth_zap_counts(fx->zap, &c);
    assert_int_equal(c.accepted, 1);
    assert_int_equal(c.rejected, 0);
    zmq_close(a);
}

/* Sends from a bad client while an allowed one keeps being served; the bad
 * one's message never arrives. */
static void assert_refused_beside_allowed(fixture *fx, void *bad)
{
    void *good = client(fx, fx->server_pub, fx->a_key);
    assert_int_equal(zmq_send(bad, "evil", 4, ZMQ_DONTWAIT), 4);
    char users[256] = "";
    assert_true(round_trip(fx, good, users, sizeof users));
    /* Give the bad client time for several connection attempts. */
    size_t o = strlen(users);
    serve(fx, 600, users + o, sizeof users - o);
    assert_string_equal(users, "shim-a");
    zmq_pollitem_t it = {bad, 0, ZMQ_POLLIN, 0};
    assert_int_equal(zmq_poll(&it, 1, 0), 0);
    zmq_close(good);
}

AT_TEST_F(test_auth_unknown_key_is_refused, setup, teardown)
{
    fixture *fx = *state;
    void *b = client(fx, fx->server_pub, fx->b_key);
    assert_refused_beside_allowed(fx, b);
    auth_counts c;
    auth_zap_counts(fx->zap, &c);
    assert_true(c.rejected >= 1);
    assert_true(fx->lines_logged >= 2);
    zmq_close(b);
}

/* The client sock is refused beside an allowed one, the ZAP counts show a failed
 * handshake; closes sock. */
static void assert_handshake_refused(fixture *fx, void *sock)
{
    assert_refused_beside_allowed(fx, sock);
    auth_counts c;
    auth_zap_counts(fx->zap, &c);
    assert_true(c.handshake_failed >= 1);
    zmq_close(sock);
}

AT_TEST_F(test_auth_client_without_curve_is_refused, setup, teardown)
{
    fixture *fx = *state;
    void *plain = client(fx, NULL, NULL);
    assert_handshake_refused(fx, plain);
}

AT_TEST_F(test_auth_client_with_wrong_server_key_is_refused, setup, teardown)
{
    fixture *fx = *state;
    /* shim-a's own key, but it trusts shim-b's public key as the server's. */
    void *w = client(fx, fx->b_pub, fx->a_key);
    assert_handshake_refused(fx, w);
}

AT_TEST_F(test_auth_reload_revokes_a_key, setup, teardown)
{
    fixture *fx = *state;
    void *a = client(fx, fx->server_pub, fx->a_key);
    char users[256] = "";
    assert_true(round_trip(fx, a, users, sizeof users));
    zmq_close(a);
    /* Swap: shim-b in, shim-a out. */
    const char *names[] = {"shim-b"};
    const char *pubs[] = {fx->b_pub};
    write_allow(fx, names, pubs, 1);
    at_error err = {0};
    assert_int_equal(auth_zap_reload(fx->zap, &err), 0);
    assert_false(auth_zap_allows_name(fx->zap, "shim-a"));
    assert_true(auth_zap_allows_name(fx->zap, "shim-b"));
    void *b = client(fx, fx->server_pub, fx->b_key);
    void *a2 = client(fx, fx->server_pub, fx->a_key);
    assert_int_equal(zmq_send(a2, "late", 4, ZMQ_DONTWAIT), 4);
    users[0] = 0;
    assert_true(round_trip(fx, b, users, sizeof users));
    size_t o = strlen(users);
    serve(fx, 600, users + o, sizeof users - o);
    assert_string_equal(users, "shim-b");
    /* A broken allowlist keeps the current one. */
    assert_int_equal(tu_write_file(fx->allow, "x y\n", 4), 0);
    assert_int_equal(auth_zap_reload(fx->zap, &err), AUTH_EFORMAT);
    assert_non_null(strstr(err.what, ":1: key"));
    assert_true(auth_zap_allows_name(fx->zap, "shim-b"));
    auth_counts c;
    auth_zap_counts(fx->zap, &c);
    assert_int_equal(c.reloads, 1);
    assert_true(c.rejected >= 1);
    zmq_close(b);
    zmq_close(a2);
}

AT_TEST_F(test_auth_second_handler_in_a_context_refuses_to_start, setup, teardown)
{
    fixture *fx = *state;
    auth_zap *z2 = NULL;
    at_error err = {0};
    assert_int_equal(auth_zap_start(fx->ctx, fx->allow, NULL, NULL, &z2, &err), AUTH_EZMQ);
    assert_null(z2);
    assert_non_null(strstr(err.what, "ZAP handler"));
    /* A missing allowlist is an error too, never open access. */
    void *ctx2 = zmq_ctx_new();
    char missing[512];
    path_in(fx, missing, sizeof missing, "nope.txt");
    assert_int_equal(auth_zap_start(ctx2, missing, NULL, NULL, &z2, &err), AUTH_EIO);
    assert_null(z2);
    zmq_ctx_term(ctx2);
}

int main(void)
{
    if (!auth_curve_available()) {
        fprintf(stderr, "libzmq without CURVE: the collector refuses --allow; nothing to test\n");
        return 1;
    }
    return at_test_run();
}
