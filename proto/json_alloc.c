/*
 * json_alloc.c - the jansson allocator of libtraceproto: the allocator jansson had before
 * (libc's, or the one an application set), and a per-thread flag set when it returns NULL
 * (json_alloc.h says why).
 *
 * Owns: the two saved allocator functions (set once, under pthread_once) and the per-thread
 * flag. Threading: safe from any thread.
 */
#include <pthread.h>
#include <stddef.h>

#include <jansson.h>

#include "json_alloc.h"

static pthread_once_t install_once = PTHREAD_ONCE_INIT;
static json_malloc_t prev_malloc;
static json_free_t prev_free;
static _Thread_local int failed;

static void *watched_malloc(size_t n)
{
    void *p = prev_malloc(n);
    if (!p) failed = 1;
    return p;
}

static void install(void)
{
    json_get_alloc_funcs(&prev_malloc, &prev_free);
    json_set_alloc_funcs(watched_malloc, prev_free);
}

void tp_json_watch(void)
{
    pthread_once(&install_once, install);
    failed = 0;
}

int tp_json_failed(void)
{
    return failed;
}
