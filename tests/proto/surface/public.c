/*
 * public.c - a consumer of the two public headers only (test_proto_surface builds it): what a
 * service that links libtraceshim and libtraceproto writes. It must compile.
 */
#include "traceproto.h"
#include "traceshim.h"

int main(void)
{
    traceshim_options o;
    traceshim_options_default(&o);
    at_error err = {0};
    return tp_hmac_key_load(NULL, (uint8_t[TP_HMAC_KEY_LEN]){0}, &err) == TP_EKEY ? 0 : 1;
}
