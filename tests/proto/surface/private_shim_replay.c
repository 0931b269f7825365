/*
 * private_shim_replay.c - a consumer of libtraceshim that reaches for a private header
 * (shim_replay.h); test_proto_surface builds it and expects the build to fail: the header is not
 * reachable without traceshim_internal.
 */
#include "traceshim.h"
#include "shim_replay.h"

int main(void)
{
    return 0;
}
