/*
 * private_spool.c - a consumer of libtraceshim that reaches for a private header (spool.h);
 * test_proto_surface builds it and expects the build to fail: the header is not reachable
 * without traceshim_internal.
 */
#include "traceshim.h"
#include "spool.h"

int main(void)
{
    return 0;
}
