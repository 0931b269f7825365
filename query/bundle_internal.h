/*
 * bundle_internal.h - what bundle.c (writing, sealing) and bundle_verify.c (verification)
 * share: the SHA-256 of every file and the SHA256SUMS text made from them, so that sealing
 * and verifying compute them one way.
 */
#ifndef AGENTTRAIL_QUERY_BUNDLE_INTERNAL_H
#define AGENTTRAIL_QUERY_BUNDLE_INTERNAL_H

#include "bundle.h"

/* Lowercase hex SHA-256 of each file of a bundle, by index. */
typedef char bundle_file_hashes[BUNDLE_MAX_FILES][65];

/* Fills hex[i] with the SHA-256 of b->files[i]. 0 or BUNDLE_ECRYPTO (OpenSSL failed). */
int bundle_hash_files(const bundle *b, bundle_file_hashes hex);

/* The SHA256SUMS text of the summed files (see bundle.c: summed), sorted by name, appended to
 * *out. 0, or BUNDLE_ENOMEM (*out has failed). */
int bundle_sums_text(const bundle *b, bundle_file_hashes hex, at_buf *out);

#endif
