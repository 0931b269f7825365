/*
 * at_test.c - the registry of self-registered tests and the shared main (contract in
 * at_test.h).
 *
 * Owns the list of entries the constructors of AT_TEST, AT_TEST_F and AT_TEST_GROUP link in
 * (sorted by file then line, so the run follows the order of definition whatever order the
 * constructors run in), and cuts it into groups for _cmocka_run_group_tests. Registration
 * allocates nothing; a run allocates one array per group and frees it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "at_test.h"

static struct at_test_entry *g_tests;

static int entry_before(const struct at_test_entry *a, const struct at_test_entry *b)
{
    int c = strcmp(a->file, b->file);
    return c < 0 || (c == 0 && a->line < b->line);
}

void at_test_register(struct at_test_entry *e)
{
    struct at_test_entry **at = &g_tests;
    while (*at && !entry_before(e, *at))
        at = &(*at)->next;
    e->next = *at;
    *at = e;
}

/* "tests/store/test_merkle.c" -> "test_merkle" into out. */
static void group_name(const char *file, char *out, size_t n)
{
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    size_t len = strcspn(base, ".");
    snprintf(out, n, "%.*s", (int)len, base);
}

/* Runs the group that starts at *at: the tests up to a group mark of their file (whose
 * fixtures the group takes; the mark is consumed), the file's end or the list's end; moves *at
 * past it and returns cmocka's count of failures. */
static int run_group(const struct at_test_entry **at)
{
    const struct at_test_entry *first = *at, *e = first;
    size_t n = 0;
    for (; e && e->test.test_func && strcmp(e->file, first->file) == 0; e = e->next)
        n++;
    const struct at_test_entry *mark =
        e && !e->test.test_func && strcmp(e->file, first->file) == 0 ? e : NULL;
    *at = mark ? mark->next : e;
    if (n == 0) return 0;
    struct CMUnitTest *tests = calloc(n, sizeof(*tests));
    if (!tests) {
        fprintf(stderr, "at_test: out of memory for %zu tests\n", n);
        return (int)n;
    }
    size_t i = 0;
    for (e = first; i < n; e = e->next)
        tests[i++] = e->test;
    char name[256];
    group_name(first->file, name, sizeof(name));
    int rc = _cmocka_run_group_tests(name, tests, n, mark ? mark->test.setup_func : NULL,
                                     mark ? mark->test.teardown_func : NULL);
    free(tests);
    return rc;
}

int at_test_run(void)
{
    long failed = 0;
    const struct at_test_entry *at = g_tests;
    while (at) {
        int rc = run_group(&at);
        failed += rc < 0 ? 1 : rc;
    }
    return failed > 255 ? 255 : (int)failed;
}

__attribute__((weak)) int main(void)
{
    return at_test_run();
}
