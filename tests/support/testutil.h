/*
 * testutil.h - small helpers shared by the tests: temp directories, reading files, running
 * the built programs. Every test links testutil.c; the other fixtures of tests/support are
 * compiled into the tests that name them (tests/CMakeLists.txt).
 */
#ifndef AGENTTRAIL_TESTUTIL_H
#define AGENTTRAIL_TESTUTIL_H
#include <stdarg.h>
#include <stddef.h>
#include <sys/stat.h>

/* TU_FREE(a, b, ...): free() of each pointer (any of them may be NULL), in one line. */
#define TU_FREE(...)                                                                               \
    tu_free_n((void *[]){__VA_ARGS__}, sizeof((void *[]){__VA_ARGS__}) / sizeof(void *))
void tu_free_n(void *const *ptrs, size_t n);
/* TU_ASSERT_MODE(path, mode): asserts (cmocka, included by the test) that `path` exists and
 * that its permission bits are `mode`. */
#define TU_ASSERT_MODE(path, mode)                                                                 \
    do {                                                                                           \
        struct stat tu_st_;                                                                        \
        assert_int_equal(stat((path), &tu_st_), 0);                                                \
        assert_int_equal(tu_st_.st_mode & 0777, (mode));                                           \
    } while (0)
/* A new empty directory under $TMPDIR (or /tmp), 0700; malloc'd path. Aborts on failure. */
char *tu_tempdir(const char *tag);
/* Removes a directory tree (best effort). */
void tu_rmtree(const char *path);
/* tu_rmtree, then free(path): the end of a tu_tempdir or a built store (NULL is a no-op). */
void tu_rmtree_free(char *path);
/* Reads a whole file; malloc'd, NUL-terminated; *len if not NULL. NULL on error. */
char *tu_read_file(const char *path, size_t *len);
/* Writes a whole file (0600). 0 or -1. */
int tu_write_file(const char *path, const void *data, size_t len);
/* Path of a built program: $AGENTTRAIL_BIN/name (static buffer per call site is not kept:
 * returns malloc'd). */
char *tu_bin(const char *name);
/* "dir/name", malloc'd. Aborts when out of memory. */
char *tu_path(const char *dir, const char *name);
/* Path under the shared folder: $AGENTTRAIL_SHARED/rel, else ../shared/rel; malloc'd. */
char *tu_shared(const char *rel);
/* Runs argv (argv[0] a path) with stdin from `in_path` (NULL: /dev/null), stdout and stderr
 * captured into malloc'd strings (may pass NULL to discard). Returns the exit status
 * (0..255), or 128+signal, or -1 if it could not run. */
int tu_run(char *const argv[], const char *in_path, char **out, size_t *out_len, char **err);
/* tu_run of the built program `name` (tu_bin) with the arguments in `ap` up to a NULL (at most
 * 62 of them); in_path, out, out_len and err as for tu_run. */
int tu_run_va(const char *name, const char *in_path, char **out, size_t *out_len, char **err,
              va_list ap);
#endif
