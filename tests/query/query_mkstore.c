/*
 * query_mkstore.c - a development aid: builds a store from a file under ../shared/ exactly
 * as the trace-query tests do (query_fixture.c) and prints its directory, for trying
 * trace-query by hand and for regenerating golden files:
 *   build/<dir>/tests/bin/query_mkstore data/swe-agent.jsonl
 * Single-threaded.
 */
#include <stdio.h>
#include <stdlib.h>

#include "query_fixture.h"

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: query_mkstore REL_PATH_UNDER_SHARED (e.g. data/tau.jsonl)\n");
        return 2;
    }
    char *dir = qf_build_store(argv[1]);
    printf("%s\n", dir);
    free(dir);
    return 0;
}
