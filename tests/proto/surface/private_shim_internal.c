/*
 * private_shim_internal.c - a consumer of libtraceshim that reaches for a private header
 * (shim_internal.h); test_proto_surface builds it and expects the build to fail: the header is not
 * reachable without traceshim_internal.
 */
#include "traceshim.h"
#include "shim_internal.h"

int main(void)
{
    return 0;
}
