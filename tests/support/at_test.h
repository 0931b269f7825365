/*
 * at_test.h - tests that register themselves: the cmocka tests of a file are defined with
 * AT_TEST and run by a shared main, so no test can be written and left out of a hand-kept list.
 *
 * Owns the registry of a test program (one static entry per test and per group mark, linked by
 * constructors before main) and the shared main. Every cmocka test program links it
 * (agenttrail_add_test in tests/CMakeLists.txt links the static library at_test).
 *
 * Contract:
 *   AT_TEST(name) { ... }                  defines static void name(void **state) and registers
 *                                          it, without per-test fixtures;
 *   AT_TEST_F(name, setup, teardown) { }   the same with per-test fixtures (what
 *                                          cmocka_unit_test_setup_teardown gave); either may be
 *                                          NULL; both must be declared before the test;
 *   AT_TEST_GROUP(setup, teardown);        at file scope, below the tests it closes: the tests
 *                                          of the file defined above it (and below the mark
 *                                          before it, if any) run as one group, by one
 *                                          _cmocka_run_group_tests with these group fixtures
 *                                          (either may be NULL). Tests below a file's last mark
 *                                          (all of them, in a file without one) form a group
 *                                          without fixtures. A file with group fixtures ends
 *                                          with its AT_TEST_GROUP, where main was.
 *   at_test_run()                          runs every registered test: the groups in order,
 *                                          each's tests in the order they are defined in the
 *                                          file (by line; not the order constructors run in),
 *                                          each group named after its file ("test_merkle").
 *                                          Returns 0 when all passed, else the number of tests
 *                                          that failed or errored, plus one for a group whose
 *                                          setup failed (as cmocka counts: its tests do not
 *                                          run), at most 255: an exit status.
 *   main                                   at_test.c defines a weak int main(void) that returns
 *                                          at_test_run(). A file whose main does more (skips,
 *                                          frees what its tests kept, reads the environment)
 *                                          defines its own int main(void), which wins, and
 *                                          calls at_test_run() where it ran the group.
 *
 * Registration allocates nothing (each entry is a static of the test's file, linked into a
 * list sorted by file and line), so the fault sweeps' counters see nothing of it; at_test_run
 * allocates one array of CMUnitTest per group with the libc allocator (the fault hooks are
 * compiled into the parts only, never into tests) and frees it before it returns.
 * Single-threaded: constructors and at_test_run run on the main thread.
 *
 * Example:
 *   AT_TEST(test_store_append_gives_consecutive_log_indexes)
 *   {
 *       ...
 *   }
 *
 *   AT_TEST_GROUP(setup, teardown);
 */
#ifndef AGENTTRAIL_AT_TEST_H
#define AGENTTRAIL_AT_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* One registered test (test.test_func set) or group mark (test.test_func NULL, closing the
 * group of the tests above it). */
struct at_test_entry {
    struct CMUnitTest test;     /* name, function and per-test fixtures; or, for a group
                                   mark, test.setup_func/teardown_func are the group's */
    const char *file;           /* __FILE__ of the definition */
    int line;                   /* __LINE__ of the definition: the order of the run */
    struct at_test_entry *next; /* the registry's list, sorted by file then line */
};

/* Links e into the registry (called by the constructors the macros define; allocates nothing).
 * e must live until at_test_run returns (the macros make it a static). */
void at_test_register(struct at_test_entry *e);

/* Runs every registered test, as the contract above says; returns 0 or the failures (<= 255). */
int at_test_run(void);

#define AT_TEST_CAT2(a, b) a##b
#define AT_TEST_CAT(a, b) AT_TEST_CAT2(a, b)

#define AT_TEST_ENTRY(id, name, fn, setup, teardown)                                               \
    static struct at_test_entry AT_TEST_CAT(at_test_entry_, id) = {                                \
        {name, fn, setup, teardown, NULL}, __FILE__, __LINE__, NULL};                              \
    __attribute__((constructor)) static void AT_TEST_CAT(at_test_register_, id)(void)              \
    {                                                                                              \
        at_test_register(&AT_TEST_CAT(at_test_entry_, id));                                        \
    }

#define AT_TEST_F(fname, setup, teardown)                                                          \
    static void fname(void **state);                                                               \
    AT_TEST_ENTRY(fname, #fname, fname, setup, teardown)                                           \
    static void fname(void **state)

#define AT_TEST(fname) AT_TEST_F(fname, NULL, NULL)

#define AT_TEST_GROUP(setup, teardown)                                                             \
    AT_TEST_ENTRY(AT_TEST_CAT(group_, __LINE__), "group", NULL, setup, teardown)                   \
    struct at_test_entry

#endif
