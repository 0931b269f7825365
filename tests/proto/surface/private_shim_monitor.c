/*
 * private_shim_monitor.c - a consumer of libtraceshim that reaches for a private header
 * (shim_monitor.h); test_proto_surface builds it and expects the build to fail: the header is not
 * reachable without traceshim_internal.
 */
#include "traceshim.h"
#include "shim_monitor.h"

int main(void)
{
    return 0;
}
