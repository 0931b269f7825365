/*
 * keyring.h - the signing keys `trace-query verify` trusts for a bundle.
 *
 * Responsibility: reading a keyring file (the public keys of the collectors an auditor trusts,
 * given to them out of band) and finding a bundle's key in it. A keyring is text: SPKI PEM
 * blocks ("-----BEGIN PUBLIC KEY-----" ... "-----END PUBLIC KEY-----", as `trace-collector
 * --print-public-key` prints them) and verifier key lines ("<name>+<id>+<base64>"), one entry
 * after another; blank lines and lines starting with '#' are ignored.
 * Owns: the keys it loaded, until qkeyring_clear. Threading: single-threaded.
 */
#ifndef AGENTTRAIL_QUERY_KEYRING_H
#define AGENTTRAIL_QUERY_KEYRING_H

#include <stddef.h>

#include "atcommon.h"
#include "checkpoint.h"

typedef struct qkeyring {
    cp_key **keys;
    size_t n;
} qkeyring;

/* Loads every key of the keyring at `path` into *kr (zeroed by the caller). A file that
 * cannot be read, an entry that is not an Ed25519 public key or a file with no key at all is
 * an error with `err` naming the file and line (where: "path" or "path:line"; err may be
 * NULL). 0 or -1. */
int qkeyring_load(const char *path, qkeyring *kr, at_error *err);

/* The same for a keyring's text[0..len) (need not be NUL-terminated; a NUL byte is refused);
 * `path` names it in messages. */
int qkeyring_parse(const char *text, size_t len, const char *path, qkeyring *kr, at_error *err);

/* The keyring's key with the same public key as `k`, or NULL. Borrowed from kr. */
const cp_key *qkeyring_find(const qkeyring *kr, const cp_key *k);

/* Frees the keys; kr may be loaded halfway. */
void qkeyring_clear(qkeyring *kr);

#endif
