/*
 * private_text_term.c - a consumer of libtraceproto that reaches for a private header
 * (text_term.h); test_proto_surface builds it and expects the build to fail: the header is not
 * reachable without traceproto_internal.
 */
#include "traceproto.h"
#include "text_term.h"

int main(void)
{
    return 0;
}
