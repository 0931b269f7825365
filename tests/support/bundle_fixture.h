/*
 * bundle_fixture.h - compliance bundles opened, changed and written back by the tests that
 * tamper with them (test_bundle, test_verify_script). Every function fails the running
 * cmocka test on error, naming it.
 */
#ifndef AGENTTRAIL_TESTS_BUNDLE_FIXTURE_H
#define AGENTTRAIL_TESTS_BUNDLE_FIXTURE_H

#include "bundle.h"

/* Reads the bundle at `path` into *b (initialised here). */
void bf_load(const char *path, bundle *b);

/* Writes *b to `path` and clears it. */
void bf_save(bundle *b, const char *path);

/* Seals the content files of *b again with `k`: manifest (with `query` and `who`),
 * signature, SHA256SUMS, pub.pem (k's) and VERIFY.txt are made anew, as an intruder holding
 * k would. */
void bf_reseal(bundle *b, const cp_key *k, const char *query, const char *who);

#endif
