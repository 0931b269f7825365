/*
 * test_proto_surface.c - the surfaces of libtraceproto and libtraceshim: a consumer that links
 * them sees one public header each (traceproto.h, traceshim.h), and none of the private
 * headers of proto/ and agent-shim/lib/. Each probe of tests/proto/surface/ is built with the
 * real build (cmake --build --target surface_<probe>); the public probe must build, every
 * private probe must fail because its header is not found.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "at_test.h"
#include "testutil.h"

/* Builds target surface_<probe>; returns the exit status, the output in *out (malloc'd). */
static int build_probe(const char *probe, char **out)
{
    char target[96];
    snprintf(target, sizeof target, "surface_%s", probe);
    char *argv[] = {AGENTTRAIL_CMAKE, "--build", AGENTTRAIL_BUILD_DIR, "--target", target, NULL};
    char *err = NULL;
    int rc = tu_run(argv, NULL, out, NULL, &err);
    size_t n = strlen(*out) + strlen(err) + 1;
    char *all = malloc(n + 1);
    assert_non_null(all);
    snprintf(all, n + 1, "%s\n%s", *out, err);
    free(*out);
    free(err);
    *out = all;
    return rc;
}

AT_TEST(test_a_consumer_of_the_public_headers_builds)
{
    (void)state;
    char *out = NULL;
    int rc = build_probe("public", &out);
    if (rc != 0) fprintf(stderr, "%s\n", out);
    assert_int_equal(rc, 0);
    free(out);
}

/* The private headers, by library: none is reachable through traceproto or traceshim. */
static const char *const private_headers[] = {
    "mask",  "text_term",    "term_progress", "proto_internal", "mask_internal",
    "spool", "shim_monitor", "shim_replay",   "shim_internal",
};

AT_TEST(test_no_private_header_is_reachable_by_a_consumer)
{
    (void)state;
    for (size_t i = 0; i < sizeof private_headers / sizeof private_headers[0]; i++) {
        char probe[64], header[64];
        snprintf(probe, sizeof probe, "private_%s", private_headers[i]);
        snprintf(header, sizeof header, "%s.h", private_headers[i]);
        char *out = NULL;
        int rc = build_probe(probe, &out);
        if (rc == 0 || !strstr(out, header) || !strstr(out, "No such file"))
            fail_msg("%s: built (status %d) or failed for another reason than a missing %s:\n%s",
                     probe, rc, header, out);
        free(out);
    }
}
