/*
 * test_fault_checkpoint.c - checkpoints under faults: a new key pair saved to a key file, a
 * checkpoint signed with it, the note appended to a witness file; with the N-th allocation or
 * the N-th write/fsync/rename failing for every N.
 *
 * Proves, for each N: the failure is a CP_E* code or the witness's -1 (no crash, no leak);
 * the key file is complete (it loads, and is the key that was made) or absent, reported
 * saved only when complete, and nothing else is left in the directory; a note reported
 * signed verifies; the witness holds the note whole or not at all, never a torn record.
 *
 * Owns: a temp directory per run. Threading: single-threaded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <unistd.h>

#include <cmocka.h>

#include "at_test.h"
#include "checkpoint.h"
#include "fault_sweep.h"
#include "testutil.h"

#define ORIGIN "faults.example/log"

typedef struct cp_ctx {
    char *dir;
    uint8_t pub[CP_PUB_LEN];
    int made, saved, signed_ok, witnessed;
    char *note;
    size_t len;
} cp_ctx;

static void setup_run(void *arg)
{
    cp_ctx *c = arg;
    c->dir = tu_tempdir("fault-checkpoint");
    c->made = c->saved = c->signed_ok = c->witnessed = 0;
    c->note = NULL;
}

static void teardown_run(void *arg)
{
    cp_ctx *c = arg;
    free(c->note);
    tu_rmtree_free(c->dir);
}

static int run_checkpoint(void *arg)
{
    cp_ctx *c = arg;
    cp_key *k = NULL;
    at_error ebuf = {0};
    int rc = cp_key_generate(&k);
    if (rc != 0) return rc;
    c->made = 1;
    cp_key_public_raw(k, c->pub);
    char *path = tu_path(c->dir, "checkpoint.key");
    rc = cp_key_save_private(k, path, &ebuf);
    free(path);
    c->saved = rc == 0;
    cp_checkpoint cp;
    memset(&cp, 0, sizeof cp);
    snprintf(cp.origin, sizeof cp.origin, "%s", ORIGIN);
    cp.size = 3;
    memset(cp.root, 0xab, sizeof cp.root);
    cp.time_unix_nano = 1700000000000000000ull;
    if (rc == 0) rc = cp_checkpoint_sign(&cp, k, &c->note, &c->len);
    c->signed_ok = rc == 0;
    if (rc == 0) {
        char *wdir = tu_path(c->dir, "witness");
        rc = wt_append(wdir, ORIGIN, c->note, c->len, &ebuf);
        free(wdir);
        c->witnessed = rc == 0;
    }
    cp_key_destroy(&k);
    return rc;
}

typedef struct seen {
    const cp_ctx *c;
    int records, same;
} seen;

static int on_record(void *arg, uint64_t seq, const char *note, size_t len)
{
    seen *s = arg;
    (void)seq;
    s->records++;
    s->same += len == s->c->len && memcmp(note, s->c->note, len) == 0;
    return 0;
}

static void check_key_file(cp_ctx *c, unsigned long n)
{
    char *path = tu_path(c->dir, "checkpoint.key");
    at_error ebuf = {0};
    cp_key *k = NULL;
    int there = access(path, F_OK) == 0;
    if (c->saved && !there) fail_msg("N=%lu: the key was reported saved but is absent", n);
    if (there) {
        if (cp_key_load_private(path, &k, &ebuf) != 0)
            fail_msg("N=%lu: a half-written key file is left: %s", n, ebuf.what);
        uint8_t pub[CP_PUB_LEN];
        cp_key_public_raw(k, pub);
        assert_memory_equal(pub, c->pub, CP_PUB_LEN);
        if (!c->saved) fail_msg("N=%lu: the key file is complete but was reported failed", n);
        cp_key_destroy(&k);
    }
    free(path);
    DIR *d = opendir(c->dir);
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] == '.' && strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            fail_msg("N=%lu: a temporary file is left: %s", n, e->d_name);
    closedir(d);
}

static void check_checkpoint(void *arg, int rc, unsigned long n)
{
    cp_ctx *c = arg;
    if (rc > 0) fail_msg("N=%lu: failed with %d", n, rc);
    check_key_file(c, n);
    if (!c->signed_ok) return;
    cp_key *pub = NULL;
    char *path = tu_path(c->dir, "checkpoint.key");
    at_error ebuf = {0};
    assert_int_equal(cp_key_load_private(path, &pub, &ebuf), 0);
    free(path);
    cp_checkpoint got;
    if (cp_note_verify(c->note, c->len, pub, &got, &ebuf) != 0)
        fail_msg("N=%lu: a note reported signed does not verify: %s", n, ebuf.what);
    cp_key_destroy(&pub);
    char *wdir = tu_path(c->dir, "witness");
    seen s = {.c = c};
    int torn = 0;
    int wrc = wt_read(wdir, ORIGIN, on_record, &s, &torn, &ebuf);
    free(wdir);
    if (torn) fail_msg("N=%lu: the witness holds a torn record", n);
    if (c->witnessed && (wrc != 0 || s.records != 1 || s.same != 1))
        fail_msg("N=%lu: the note was reported witnessed but is not there whole", n);
    if (wrc == 0 && s.records != s.same) fail_msg("N=%lu: the witness holds another note", n);
}

static cp_ctx g_ctx;
static const ft_op checkpoint_op =
    FT_OP(200, setup_run, run_checkpoint, check_checkpoint, teardown_run, &g_ctx);

AT_TEST(test_every_checkpoint_allocation_fails_cleanly)
{
    (void)state;
    ft_sweep_as(&checkpoint_op, AT_FAULT_ALLOC, "key save + sign + witness, allocations");
}

AT_TEST(test_every_key_and_witness_write_fails_without_a_half_written_file)
{
    (void)state;
    ft_sweep_as(&checkpoint_op, AT_FAULT_IO, "key save + sign + witness, writes");
}
