/*
 * pipeline_util.h - helpers for the pipeline fault tests: run trace-collector
 * and test-pipeline-driver as real processes, wait for them, read a store
 * back and check the set of stored event ids.
 * Single-threaded use from a test.
 */
#ifndef AGENTTRAIL_PIPELINE_UTIL_H
#define AGENTTRAIL_PIPELINE_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Starts trace-collector on `store` listening on `endpoint`, stderr to
 * `log` (appended); extra args NULL-terminated (may be NULL). Waits until it
 * logs "ready" (up to 10 s) and returns its pid; returns the pid anyway if
 * it exited (then pu_wait gives its status). */
pid_t pu_collector_start(const char *store, const char *endpoint, const char *log,
                         const char *const *extra);

/* Starts a program (argv[0] a path) with stdout to `out` and stderr to
 * `err` (either may be NULL: /dev/null). Returns the pid. */
pid_t pu_spawn(char *const argv[], const char *out, const char *err);

/* Waits for pid: exit status 0..255, or 128+signal. */
int pu_wait(pid_t pid);

/* Sends sig and waits: the status as pu_wait. */
int pu_kill_wait(pid_t pid, int sig);

/* Waits until `path` contains `needle` (up to timeout_ms). 1 found, 0 not. */
int pu_wait_for_text(const char *path, const char *needle, int timeout_ms);

/* Reads "key=value" (an unsigned number) from a driver's output; -1 if absent. */
long long pu_field(const char *text, const char *key);

/* Reads the whole store and counts events per (tag, n) for tags in
 * [1, ntags] and n < count: out lost and duplicated over that set, and the
 * total number of events in the store. Returns 0 or a TS_E* code. */
int pu_set_check(const char *store, uint32_t ntags, uint64_t count, uint64_t *lost,
                 uint64_t *duplicated, uint64_t *total);

/* A TCP port on 127.0.0.1 free right now (bound to port 0, read back, closed). */
int pu_free_port(void);

/* Waits until a TCP connect to 127.0.0.1:port succeeds (up to timeout_ms). 1 yes, 0 no. */
int pu_wait_for_port(int port, int timeout_ms);

/* Sleeps ms milliseconds. */
void pu_sleep_ms(int ms);

/* A temp directory for a test running trace-shim against a collector on
 * ipc:// in it: the paths of the store, the endpoint, the collector's log,
 * the spool, an input file and a stderr file, and of trace-shim. */
typedef struct pu_shim_env {
    char *dir, *shim;
    char store[512], ep[600], log[512], spool[512], input[512], err[512];
} pu_shim_env;

/* A new environment (directory created, nothing in it). Aborts on failure. */
pu_shim_env *pu_shim_env_new(const char *tag);

/* Removes the directory and frees; accepts NULL; sets *e to NULL. */
void pu_shim_env_free(pu_shim_env **e);

/* Runs trace-shim --endpoint EP --spool-dir SPOOL --timeout T INPUT; its
 * stderr into *err (malloc'd). Returns the exit status (as tu_run). */
int pu_shim_run(pu_shim_env *e, const char *input, const char *timeout, char **err);

/* Events in the store (pu_set_check's total); aborts on a store error. */
uint64_t pu_store_total(const char *store);

#endif
