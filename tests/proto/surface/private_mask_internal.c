/*
 * private_mask_internal.c - a consumer of libtraceproto that reaches for a private header
 * (mask_internal.h); test_proto_surface builds it and expects the build to fail: the header is not
 * reachable without traceproto_internal.
 */
#include "traceproto.h"
#include "mask_internal.h"

int main(void)
{
    return 0;
}
