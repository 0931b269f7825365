/*
 * bundle_fixture.c - bundles read, re-sealed and written back for tampering tests (see
 * bundle_fixture.h). Single-threaded, like the tests.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "bundle_fixture.h"

void bf_load(const char *path, bundle *b)
{
    at_error err = {0};
    bundle_init(b);
    if (bundle_read_file(path, b, &err) != 0) fail_msg("%s", err.what);
}

void bf_save(bundle *b, const char *path)
{
    at_error err = {0};
    if (bundle_write(b, path, &err) != 0) fail_msg("%s", err.what);
    bundle_clear(b);
}

void bf_reseal(bundle *b, const cp_key *k, const char *query, const char *who)
{
    static const char *derived[] = {BUNDLE_MANIFEST, BUNDLE_SIGNATURE, BUNDLE_SUMS, BUNDLE_PUBKEY,
                                    BUNDLE_GUIDE};
    bundle keep;
    bundle_init(&keep);
    for (size_t i = 0; i < b->n; i++) {
        int skip = 0;
        for (size_t j = 0; j < sizeof derived / sizeof derived[0]; j++)
            skip |= strcmp(b->files[i].name, derived[j]) == 0;
        if (!skip)
            assert_int_equal(
                bundle_put_copy(&keep, b->files[i].name, b->files[i].data, b->files[i].len), 0);
    }
    bundle_clear(b);
    *b = keep;
    at_error err = {0};
    if (bundle_seal(b, query, who, k, &err)) fail_msg("reseal: %s", err.what);
}
