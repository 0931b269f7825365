/*
 * test_code_text.c - at_code_text (common/code_text.c): a code's words from its library's
 * table, or the caller's fallback for a code the table does not have.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "at_test.h"
#include "atcommon.h"

AT_TEST(a_code_gives_its_row_else_the_fallback)
{
    (void)state;
    static const at_code_name t[] = {{0, "success"}, {-7, "seven"}, {-9, "nine"}};
    assert_string_equal(at_code_text(t, 3, -7, "unknown"), "seven");
    assert_string_equal(at_code_text(t, 3, 0, "unknown"), "success");
    assert_string_equal(at_code_text(t, 3, -8, "unknown"), "unknown");
    assert_string_equal(at_code_text(t, 2, -9, "none"), "none"); /* only n rows are read */
    assert_string_equal(at_code_text(NULL, 0, 0, "empty"), "empty");
}
