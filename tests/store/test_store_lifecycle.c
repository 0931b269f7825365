/*
 * test_store_lifecycle.c - opening, creating, locking, versions, read-only.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <lmdb.h>

#include "at_test.h"
#include "store_fixture.h"
#include "testutil.h"

AT_TEST(test_store_creates_private_dir_and_files)
{
    (void)state;
    char *base = tu_tempdir("store-life");
    char dir[4096], path[4200];
    snprintf(dir, sizeof dir, "%s/new-store", base);
    ts_store *s = fx_open(dir, TS_OPEN_CREATE, NULL);
    struct stat st;
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    const char *files[] = {"data.mdb", "lock.mdb", "writer.lock"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
    }
    ts_close(&s);
    assert_null(s);
    ts_close(&s); /* idempotent */
    ts_close(NULL);
    tu_rmtree_free(base);
}

AT_TEST(test_store_open_missing_is_notfound)
{
    (void)state;
    char *base = tu_tempdir("store-life");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/absent", base);
    ts_store *s = (ts_store *)1;
    at_error err = {0};
    assert_int_equal(ts_open(dir, 0, NULL, &s, &err), TS_ENOTFOUND);
    assert_null(s);
    assert_non_null(strstr(err.what, dir));
    assert_int_equal(ts_open(dir, TS_OPEN_RDONLY, NULL, &s, &err), TS_ENOTFOUND);
    /* An empty directory is not a store either. */
    assert_int_equal(ts_open(base, 0, NULL, &s, &err), TS_ENOTFOUND);
    tu_rmtree_free(base);
}

AT_TEST(test_store_second_writer_is_locked_out)
{
    (void)state;
    char *dir;
    ts_store *s = fx_new_store("store-life", &dir);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        ts_store *t = NULL;
        at_error err = {0};
        int rc = ts_open(dir, TS_OPEN_CREATE, NULL, &t, &err);
        _exit(rc == TS_ELOCKED && strstr(err.what, "another writer") ? 0 : 1);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    ts_close(&s);
    /* Once the writer is gone, the next one gets in. */
    s = fx_open(dir, 0, NULL);
    fx_done(&s, dir);
}

AT_TEST(test_store_unknown_schema_version_is_refused)
{
    (void)state;
    char *dir;
    ts_store *s = fx_new_store("store-life", &dir);
    ts_close(&s);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi meta;
    assert_int_equal(mdb_env_create(&env), 0);
    mdb_env_set_maxdbs(env, 32);
    assert_int_equal(mdb_env_open(env, dir, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "meta", 0, &meta), 0);
    uint8_t v99[4] = {0, 0, 0, 99};
    MDB_val k = {14, "schema_version"}, v = {4, v99};
    assert_int_equal(mdb_put(txn, meta, &k, &v, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    at_error err = {0};
    assert_int_equal(ts_open(dir, 0, NULL, &s, &err), TS_EVERSION);
    assert_null(s);
    assert_non_null(strstr(err.what, "99"));
    assert_int_equal(ts_open(dir, TS_OPEN_RDONLY, NULL, &s, &err), TS_EVERSION);
    tu_rmtree_free(dir);
}

AT_TEST(test_store_read_only_refuses_appends_and_reads)
{
    (void)state;
    char *dir;
    ts_store *s = fx_new_store("store-life", &dir);
    tp_event *ev[3];
    for (int i = 0; i < 3; i++)
        ev[i] = fx_event((uint64_t)i, 1, "wf", NULL, 1000 + (uint64_t)i);
    fx_append_all(s, ev, 3);
    ts_close(&s);
    s = fx_open(dir, TS_OPEN_RDONLY, NULL);
    ts_result r[3];
    assert_int_equal(ts_append(s, ev, 3, r), TS_EREADONLY);
    tp_event *got = NULL;
    uint8_t id[16];
    fx_event_id(2, id);
    assert_int_equal(ts_get(s, id, &got), 0);
    assert_int_equal(got->time_unix_nano, 1002);
    tp_event_destroy(&got);
    ts_stats st;
    assert_int_equal(ts_stat(s, &st), 0);
    assert_int_equal(st.events, 3);
    assert_int_equal(st.traces, 1);
    ts_close(&s);
    fx_free(ev, 3);
    tu_rmtree_free(dir);
}

AT_TEST(test_store_errors_have_names)
{
    (void)state;
    int codes[] = {TS_OK,       TS_EINVAL,   TS_ENOMEM, TS_EIO,     TS_ENOTFOUND,
                   TS_EVERSION, TS_ECORRUPT, TS_EFULL,  TS_ELOCKED, TS_EREADONLY,
                   TS_ELMDB,    TS_EZSTD,    TS_EEND};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        assert_string_not_equal(ts_strerror(codes[i]), "unknown store error");
    assert_string_equal(ts_strerror(-1), "unknown store error");
}
