/*
 * ledger_fixture.c - see ledger_fixture.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ledger_fixture.h"
#include "store_fixture.h"
#include "testutil.h"

char *lf_path(const char *dir, const char *name)
{
    return tu_path(dir, name);
}

char *lf_tempdir_paths(const char *tag, ...)
{
    char *dir = tu_tempdir(tag);
    va_list ap;
    va_start(ap, tag);
    for (char **out; (out = va_arg(ap, char **)) != NULL;)
        *out = lf_path(dir, va_arg(ap, const char *));
    va_end(ap);
    return dir;
}

void lf_append(ts_store *s, uint64_t first, uint64_t n, size_t group)
{
    tp_event **ev = calloc(group, sizeof *ev);
    assert_non_null(ev);
    for (uint64_t done = 0; done < n;) {
        size_t g = n - done < group ? (size_t)(n - done) : group;
        for (size_t i = 0; i < g; i++) {
            uint64_t k = first + done + i;
            char wf[16];
            snprintf(wf, sizeof wf, "wf-%llu", (unsigned long long)(k % 3));
            ev[i] = fx_event(k, k / 10, wf, NULL, LF_T0 + k * 1000000);
        }
        fx_append_all(s, ev, g);
        fx_free(ev, g);
        done += g;
    }
    free(ev);
}

char *lf_note(const cp_key *k, const char *origin, uint64_t size, const uint8_t root[32],
              uint64_t when)
{
    cp_checkpoint c;
    memset(&c, 0, sizeof c);
    snprintf(c.origin, sizeof c.origin, "%s", origin);
    c.size = size;
    memcpy(c.root, root, 32);
    c.time_unix_nano = when;
    char *note = NULL;
    size_t len;
    assert_int_equal(cp_checkpoint_sign(&c, k, &note, &len), 0);
    return note;
}

void lf_checkpoint(ts_store *s, const cp_key *k, uint64_t when)
{
    char origin[CP_ORIGIN_MAX];
    uint64_t size;
    uint8_t root[32];
    assert_int_equal(ts_log_origin(s, origin, sizeof origin), 0);
    assert_int_equal(ts_log_size(s, &size), 0);
    assert_int_equal(ts_log_root(s, size, root), 0);
    char *note = lf_note(k, origin, size, root, when);
    assert_int_equal(ts_checkpoint_add(s, note, strlen(note)), 0);
    free(note);
}

cp_key *lf_make_store(const char *dir, uint64_t base, uint64_t n, uint64_t every,
                      const char *pub_path)
{
    ts_store *s = fx_open(dir, TS_OPEN_CREATE, NULL);
    cp_key *k = NULL;
    assert_int_equal(cp_key_generate(&k), 0);
    char *kp = lf_path(dir, "checkpoint.key");
    at_error err = {0};
    assert_int_equal(cp_key_save_private(k, kp, &err), 0);
    free(kp);
    uint64_t done = 0, when = LF_T0 + 3600000000000ull;
    while (done < n) {
        uint64_t step = n - done < every ? n - done : every;
        lf_append(s, base + done, step, 500);
        done += step;
        lf_checkpoint(s, k, when += 1000000000ull);
    }
    ts_close(&s);
    if (pub_path) {
        char *pem;
        size_t len;
        assert_int_equal(cp_key_public_pem(k, &pem, &len), 0);
        assert_int_equal(tu_write_file(pub_path, pem, len), 0);
        free(pem);
    }
    return k;
}

void lf_copy_tree(const char *from, const char *to)
{
    char cmd[8400];
    snprintf(cmd, sizeof cmd, "cp -a '%s' '%s'", from, to);
    char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    assert_int_equal(tu_run(argv, NULL, NULL, NULL, NULL), 0);
}

void lf_raw_open(lf_raw *r, const char *store)
{
    assert_int_equal(mdb_env_create(&r->env), 0);
    mdb_env_set_maxdbs(r->env, 32);
    assert_int_equal(mdb_env_open(r->env, store, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(r->env, NULL, 0, &r->txn), 0);
}

MDB_dbi lf_raw_dbi(lf_raw *r, const char *name)
{
    MDB_dbi d;
    assert_int_equal(mdb_dbi_open(r->txn, name, 0, &d), 0);
    return d;
}

void lf_raw_close(lf_raw *r)
{
    assert_int_equal(mdb_txn_commit(r->txn), 0);
    mdb_env_close(r->env);
}

void lf_be64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (56 - 8 * i));
}

void lf_drop_checkpoints(const char *store, uint64_t from)
{
    lf_raw r;
    lf_raw_open(&r, store);
    MDB_dbi d = lf_raw_dbi(&r, "log_checkpoints");
    MDB_stat st;
    assert_int_equal(mdb_stat(r.txn, d, &st), 0);
    for (uint64_t i = from; i < st.ms_entries; i++) {
        uint8_t k[8];
        lf_be64(k, i);
        MDB_val kv = {8, k};
        assert_int_equal(mdb_del(r.txn, d, &kv, NULL), 0);
    }
    lf_raw_close(&r);
}

ts_store *lf_store_as(const char *dir, const char *origin)
{
    ts_store *s = fx_open(dir, TS_OPEN_CREATE, NULL);
    ts_close(&s);
    lf_raw r;
    lf_raw_open(&r, dir);
    MDB_val k = {6, "origin"}, v = {strlen(origin), (void *)origin};
    assert_int_equal(mdb_put(r.txn, lf_raw_dbi(&r, "log_info"), &k, &v, 0), 0);
    lf_raw_close(&r);
    return fx_open(dir, 0, NULL);
}
