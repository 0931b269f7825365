/*
 * private_mask.c - a consumer of libtraceproto that reaches for a private header (mask.h);
 * test_proto_surface builds it and expects the build to fail: the header is not reachable
 * without traceproto_internal.
 */
#include "traceproto.h"
#include "mask.h"

int main(void)
{
    return 0;
}
