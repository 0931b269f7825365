/*
 * test_query_export.c - where `trace-query export` writes, with the real program on a real
 * signed store (tests/support/ledger_fixture.c): a symlink, a FIFO, a directory and (as root)
 * a device node given as -o are refused with exit 2 and left as they were; an existing
 * regular file is refused without --force and replaced with it; -o - writes the same bytes
 * to stdout; an export that matches no event writes nothing and exits 1 unless
 * --allow-empty; no temporary file is left behind; a progress line is drawn on stderr only
 * when stderr is a terminal (run under a pseudo-terminal with util-linux `script`).
 *
 * Owns: a temp directory with the store and the targets. Single-threaded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <dirent.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "at_test.h"
#include "ledger_fixture.h"
#include "query_fixture.h"
#include "testutil.h"

static char *dir, *store, *pub;
static cp_key *key;

/* Runs export of workflow `wf` to `target` with the extra flags (NULL-terminated). */
static int export_wf(const char *wf, const char *target, char **out, size_t *out_len, char **err,
                     const char *flag1, const char *flag2)
{
    char *tq = tu_bin("trace-query");
    char *argv[16] = {tq,         "--store", store,          "export", "--workflow",
                      (char *)wf, "-o",      (char *)target, "--who",  "auditor@example.com"};
    int n = 10;
    if (flag1) argv[n++] = (char *)flag1;
    if (flag2) argv[n++] = (char *)flag2;
    argv[n] = NULL;
    int rc = tu_run(argv, NULL, out, out_len, err);
    free(tq);
    return rc;
}

static void expect_refused(const char *target, const char *flag, const char *needle)
{
    char *err = NULL;
    int rc = export_wf("wf-1", target, NULL, NULL, &err, flag, NULL);
    if (rc != 2 || !strstr(err, needle))
        fail_msg("export -o %s: exit %d, wanted 2 saying \"%s\"; stderr: %s", target, rc, needle,
                 err ? err : "");
    free(err);
}

/* No FILE.tmp-* is left in the directory. */
static void assert_no_temporary_file(void)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strstr(e->d_name, ".tmp-")) fail_msg("left behind: %s", e->d_name);
    closedir(d);
}

AT_TEST(test_export_refuses_a_symlink_and_leaves_it_and_its_target)
{
    (void)state;
    char *victim = lf_path(dir, "victim.txt"), *link_path = lf_path(dir, "link.tar");
    assert_int_equal(tu_write_file(victim, "keep me\n", 8), 0);
    assert_int_equal(symlink(victim, link_path), 0);
    expect_refused(link_path, NULL, "is a symbolic link: not replaced");
    expect_refused(link_path, "--force", "is a symbolic link: not replaced");
    struct stat st;
    assert_int_equal(lstat(link_path, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    char *text = tu_read_file(victim, NULL);
    assert_string_equal(text, "keep me\n");
    free(text);
    assert_no_temporary_file();
    free(victim);
    free(link_path);
}

AT_TEST(test_export_refuses_a_fifo_a_directory_and_a_device)
{
    (void)state;
    char *fifo = lf_path(dir, "fifo.tar"), *sub = lf_path(dir, "sub.tar");
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(mkdir(sub, 0700), 0);
    expect_refused(fifo, NULL, "is a FIFO: not replaced");
    expect_refused(fifo, "--force", "is a FIFO: not replaced");
    expect_refused(sub, "--force", "is a directory: not replaced");
    struct stat st;
    assert_int_equal(lstat(fifo, &st), 0);
    assert_true(S_ISFIFO(st.st_mode));
    assert_int_equal(lstat(sub, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    if (geteuid() == 0) {
        /* /dev/full's twin: as root the old export replaced the node with a regular file. */
        char *dev = lf_path(dir, "full.tar");
        assert_int_equal(mknod(dev, S_IFCHR | 0600, makedev(1, 7)), 0);
        expect_refused(dev, "--force", "is a device: not replaced");
        assert_int_equal(lstat(dev, &st), 0);
        assert_true(S_ISCHR(st.st_mode));
        free(dev);
    }
    assert_no_temporary_file();
    free(fifo);
    free(sub);
}

AT_TEST(test_export_replaces_an_existing_file_only_with_force)
{
    (void)state;
    char *path = lf_path(dir, "old.tar");
    assert_int_equal(tu_write_file(path, "an older bundle\n", 16), 0);
    expect_refused(path, NULL, "exists: not overwritten (pass --force");
    char *text = tu_read_file(path, NULL);
    assert_string_equal(text, "an older bundle\n");
    free(text);
    char *err = NULL;
    assert_int_equal(export_wf("wf-1", path, NULL, NULL, &err, "--force", NULL), 0);
    free(err);
    char *tq = tu_bin("trace-query");
    char *ver[] = {tq, "verify", path, "--key", pub, NULL};
    assert_int_equal(tu_run(ver, NULL, NULL, NULL, NULL), 0);
    free(tq);
    assert_no_temporary_file();
    free(path);
}

AT_TEST(test_export_to_stdout_writes_the_same_bundle)
{
    (void)state;
    char *path = lf_path(dir, "file.tar"), *out = NULL, *err = NULL;
    size_t len = 0, flen = 0;
    assert_int_equal(export_wf("wf-2", path, NULL, NULL, &err, NULL, NULL), 0);
    free(err);
    assert_int_equal(export_wf("wf-2", "-", &out, &len, &err, NULL, NULL), 0);
    assert_non_null(strstr(err, "-> stdout"));
    char *file = tu_read_file(path, &flen);
    assert_int_equal(len, flen);
    assert_memory_equal(out, file, len);
    TU_FREE(file, out, err, path);
}

AT_TEST(test_export_of_nothing_writes_nothing_unless_allowed)
{
    (void)state;
    char *path = lf_path(dir, "empty.tar"), *err = NULL;
    int rc = export_wf("no-such-workflow", path, NULL, NULL, &err, NULL, NULL);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(err, "no event matches the query: nothing was written"));
    assert_non_null(strstr(err, "--allow-empty"));
    free(err);
    struct stat st;
    assert_int_equal(lstat(path, &st), -1);
    assert_int_equal(export_wf("no-such-workflow", path, NULL, NULL, &err, "--allow-empty", NULL),
                     0);
    free(err);
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_no_temporary_file();
    free(path);
}

/* On a terminal, export draws its progress over one line ("\r") and erases it before its
 * summary; into a pipe it writes no progress at all. */
AT_TEST(test_export_shows_progress_only_on_a_terminal)
{
    (void)state;
    if (access("/usr/bin/script", X_OK) != 0) skip(); /* util-linux: the pty runner */
    char *path = lf_path(dir, "progress.tar"), *err = NULL;
    assert_int_equal(export_wf("wf-1", path, NULL, NULL, &err, NULL, NULL), 0);
    assert_null(strchr(err, '\r'));
    assert_null(strstr(err, "proving"));
    assert_non_null(strstr(err, "export: "));
    free(err);
    unlink(path);

    char *tq = tu_bin("trace-query"), cmd[8192];
    snprintf(cmd, sizeof cmd, "%s --store %s export --workflow wf-1 -o %s --who a@example.com", tq,
             store, path);
    char *argv[] = {"/usr/bin/script", "-qec", cmd, "/dev/null", NULL};
    char *tty = NULL;
    assert_int_equal(tu_run(argv, NULL, &tty, NULL, NULL), 0);
    /* The line is drawn for each step, then erased ("\r", spaces, "\r") before the summary. */
    assert_non_null(strstr(tty, "\rexport: reading "));
    const char *proving = strstr(tty, "\rexport: proving ");
    assert_non_null(proving);
    assert_non_null(strstr(proving, " events (100%)"));
    const char *summary = strstr(proving, "export: 20 events, checkpoint");
    if (!summary) fail_msg("no summary after the progress line: %s", tty);
    assert_true(summary[-1] == '\r'); /* starts on the erased line */
    free(tty);
    free(tq);
    unlink(path);
    free(path);
}

static int setup(void **state)
{
    (void)state;
    dir = lf_tempdir_paths("query-export", &store, "store", &pub, "pub.pem", NULL);
    key = lf_make_store(store, 0, 60, 30, pub);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cp_key_destroy(&key);
    tu_rmtree_free(dir);
    free(store);
    free(pub);
    return 0;
}

AT_TEST_GROUP(setup, teardown);
