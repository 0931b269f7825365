/*
 * test_error_size.c - at_error holds a long path and a long message whole (where 256 bytes,
 * what 1024), and AT_ERROR_TEXT_LEN holds both formatted: messages naming deep paths used to
 * be cut at 128/384 bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "at_test.h"
#include "atcommon.h"

AT_TEST(a_long_path_and_message_are_kept_whole)
{
    (void)state;
    char where[250], what[1000];
    memset(where, 'w', sizeof where - 1);
    where[sizeof where - 1] = 0;
    memset(what, 'x', sizeof what - 1);
    what[sizeof what - 1] = 0;
    at_error e;
    at_error_set(&e, where, "%s", what);
    assert_string_equal(e.where, where);
    assert_string_equal(e.what, what);
    char buf[AT_ERROR_TEXT_LEN];
    at_error_format(&e, buf, sizeof buf);
    assert_int_equal(strlen(buf), strlen(where) + 2 + strlen(what));
    assert_int_equal(at_errf(&e, -1, "%s", what), -1);
    assert_string_equal(e.what, what);
}
