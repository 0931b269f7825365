/*
 * query_fixture.h - what the trace-query tests share: stores built from the shared sample
 * data with the store library (no collector needed), the same data parsed independently with
 * jansson, and running the real trace-query program.
 *
 * Ownership: every returned pointer is malloc'd (or a new jansson reference) and owned by
 * the caller. Threading: single-threaded tests.
 */
#ifndef AGENTTRAIL_TESTS_QUERY_FIXTURE_H
#define AGENTTRAIL_TESTS_QUERY_FIXTURE_H

#include <jansson.h>
#include <stddef.h>

/* Builds a new store in a temp directory from ../shared/<rel> (e.g. "data/swe-agent.jsonl"):
 * every line parsed with tp_event_from_json, prepared with a test HMAC key and appended with
 * ts_append in groups. Returns the store directory (a new temp directory: tu_rmtree it when done).
 * Aborts on any failure, naming the line. */
char *qf_build_store(const char *rel);

/* Appends `n` events given as JSON lines (EVENTS.md form) to the store at `dir`, prepared as
 * qf_build_store prepares them, in one transaction per 512. Aborts on any failure. */
void qf_store_append(const char *dir, const char *const *lines, size_t n);

/* The same from any JSON-lines file (e.g. one a test wrote). */
char *qf_build_store_path(const char *path);

/* The same file parsed with jansson: an array of objects (json_decref when done). */
json_t *qf_load_events(const char *rel);

/* Runs trace-query with the NULL-terminated arguments; stdout and stderr captured (either
 * may be NULL to discard). Returns the exit status. */
int qf_query(char **out, char **err, ...);

/* Columns a line of text takes on a terminal, counted as trace-query counts them: one per
 * code point. */
size_t qf_columns(const char *s);

/* Splits text into lines in place: returns a malloc'd array of *n pointers. */
char **qf_lines(char *text, size_t *n);

/* The cursor of the next page in find's stderr ("next: CURSOR"): copied into `cursor` (of `cap`
 * bytes; fails the test when empty or too long) and 1, or 0 when there is no next page. */
int qf_next_cursor(const char *err, char *cursor, size_t cap);

/* The two sample data sets most query tests read, set up once per test group (cmocka group
 * setup and teardown): qf_setup_all builds a store of data/swe-agent.jsonl and one of
 * data/tau.jsonl and loads their parsed input (qf.swe, qf.tau); qf_setup_swe and qf_setup_tau
 * only one of the two. Each unsets COLUMNS (the tests see no terminal width). qf_teardown
 * removes and frees all of it. */
typedef struct qf_data {
    char *swe_store, *tau_store;
    json_t *swe, *tau;
} qf_data;
extern qf_data qf;
int qf_setup_all(void **state);
int qf_setup_swe(void **state);
int qf_setup_tau(void **state);
int qf_teardown(void **state);

#endif
