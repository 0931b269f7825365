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

#endif
