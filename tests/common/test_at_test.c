/*
 * test_at_test.c - the registry every test program uses (tests/support/at_test.h), through
 * at_test_run itself: tests run in the order of their lines, whatever order they were
 * registered in (an entry registered from main, after every constructor, with the smallest
 * line runs first); a group mark gives the tests above it its fixtures, a test below it none;
 * per-test fixtures run around their test only; at_test_run counts a failing test, and a
 * group whose setup fails as one failure, running none of its tests.
 *
 * The file's own main runs the registry and checks the trace of what ran and the count it
 * returned: the one test failing on purpose and cmocka's report of the failing group setup are
 * expected in the output.
 */
#include <stdio.h>
#include <string.h>

#include "at_test.h"

static char g_ran[32];
static size_t g_n;

static void ran(char c)
{
    if (g_n + 1 < sizeof(g_ran)) g_ran[g_n++] = c;
}

static int g_group_value = 42;

static int group_setup(void **state)
{
    *state = &g_group_value;
    ran('S');
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    ran('T');
    return 0;
}

static int each_setup(void **state)
{
    (void)state;
    ran('s');
    return 0;
}

static int each_teardown(void **state)
{
    (void)state;
    ran('t');
    return 0;
}

static int failing_setup(void **state)
{
    (void)state;
    ran('F');
    return -1;
}

static void registered_late(void **state)
{
    assert_ptr_equal(*state, &g_group_value);
    ran('0');
}

AT_TEST(group_state_reaches_the_tests_above_the_mark)
{
    assert_ptr_equal(*state, &g_group_value);
    ran('1');
}

AT_TEST_F(per_test_fixtures_run_around_their_test, each_setup, each_teardown)
{
    (void)state;
    ran('2');
}

AT_TEST(a_failing_test_is_counted)
{
    (void)state;
    ran('3');
    fail_msg("failing on purpose: at_test_run must count this test");
}

AT_TEST_GROUP(group_setup, group_teardown);

AT_TEST(a_test_below_the_mark_has_no_group_state)
{
    assert_null(*state);
    ran('4');
}

AT_TEST_GROUP(NULL, NULL);

AT_TEST(a_test_of_a_group_whose_setup_fails_never_runs)
{
    (void)state;
    ran('5');
}

AT_TEST_GROUP(failing_setup, NULL);

int main(void)
{
    static struct at_test_entry late = {
        {"registered_late_with_the_smallest_line", registered_late, NULL, NULL, NULL},
        __FILE__,
        1,
        NULL};
    at_test_register(&late);
    int rc = at_test_run();
    const char *want = "S01s2t3T4F";
    printf("# ran \"%s\" (want \"%s\"), at_test_run returned %d (want 2)\n", g_ran, want, rc);
    return strcmp(g_ran, want) == 0 && rc == 2 ? 0 : 1;
}
