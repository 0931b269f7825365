/*
 * secure_env.h - the environment shared by the security end-to-end tests
 * (secure_env.c): paths of one test's keys, store and files, the collector
 * it runs, CURVE clients and the built programs.
 */
#ifndef AGENTTRAIL_SECURE_ENV_H
#define AGENTTRAIL_SECURE_ENV_H

#include <stdint.h>
#include <sys/types.h>

#include "traceproto.h"

typedef struct env {
    char *dir;
    char path[16][512];
    pid_t collector;
} env;

enum { P_STORE, P_SOCK, P_LOG, P_ALLOW, P_SERVER, P_A, P_B, P_EVENTS, P_SPOOL, P_BUNDLE, P_HMAC };

/* The path of item k (P_*) of the environment. */
const char *P(env *e, int k);
/* The path of a built program; malloc'd. */
char *bin(const char *name);
/* Runs a built program with NULL-terminated arguments; returns its exit status, its
 * stderr in *err (may be NULL). */
int run(char **err, const char *a0, ...);
/* trace-collector keygen --curve into the environment as item k. */
void keygen(env *e, int k, const char *name);
/* The 40 Z85 characters of base.ext into out. */
void key_text(const char *base, const char *ext, char out[41]);
/* An allowlist that names only item k's public key, as `name`. */
void allow_only(env *e, int k, const char *name);
/* cmocka setup and teardown: a fresh environment (keys for server, shim-a, shim-b;
 * shim-a allowed), and its removal (the collector is killed if still running). */
int setup(void **state);
int teardown(void **state);
/* The collector's ipc endpoint (static buffer). */
char *endpoint(env *e);
/* Starts trace-collector with CURVE and the allowlist (and extra_in, NULL-terminated,
 * may be NULL); fails the test unless it says ready. */
void start_collector(env *e, const char *const *extra_in);
/* Is the collector still running? */
int collector_alive(env *e);
/* SIGTERM, and waits for a clean exit. */
void stop_collector(env *e);
/* Sends JSON lines as one batch (ids filled, no masking) on DEALER d; returns NULL (the
 * ack comes with recv_ack). */
tp_ack *send_raw_batch(void *d, const char *jsonl, uint64_t seq);
/* The next ack on d within timeout_ms, or NULL. */
tp_ack *recv_ack(void *d, int timeout_ms);
/* A DEALER connected to ep with the server key and item k's keys. */
void *curve_dealer(void *ctx, env *e, int k, const char *ep);
/* trace-shim sending the events file with item `key`'s keys; returns its exit status. */
int shim_send(env *e, int key, const char *timeout, char **err);

#endif
