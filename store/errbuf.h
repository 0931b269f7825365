/*
 * errbuf.h - transitional: ts_errf forwards to at_errf (common/atcommon.h), the one error
 * carrier, and ignores the old length argument. Removed by the next change of the tree, a
 * mechanical rename of every ts_errf(err, errlen, ...) into at_errf(err, ...).
 * Owns nothing. Threading: reentrant.
 */
#ifndef AGENTTRAIL_STORE_ERRBUF_H
#define AGENTTRAIL_STORE_ERRBUF_H

#include "atcommon.h"

#define ts_errf(err, errlen, ...) at_errf(err, __VA_ARGS__)

#endif
