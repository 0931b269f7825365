/*
 * test_http_body.c - collector/http_body.c on its own: bodies sharing a budget (over it: 429,
 * the budget given back when a body is freed or refused, also for gzip), and out of memory
 * while the body grows answered 503, never 413 (an exporter drops what is too big, and
 * retries what is unavailable). Memory is made to run out with RLIMIT_AS.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <zlib.h>
#include <cmocka.h>

#include "at_test.h"
#include "http_body.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

AT_TEST(test_bodies_share_the_budget_and_give_it_back)
{
    (void)state;
    http_budget bud = {.max = 100};
    http_body a, b;
    char data[80];
    memset(data, 'x', sizeof data);
    assert_int_equal(http_body_init(&a, 0, 1000, &bud), 0);
    assert_int_equal(http_body_init(&b, 0, 1000, &bud), 0);
    http_body_feed(&a, data, 60);
    assert_int_equal(atomic_load(&bud.used), 60);
    http_body_feed(&b, data, 30);
    http_body_feed(&b, data, 30); /* 120 in all: b is refused and gives its 30 back */
    assert_int_equal(atomic_load(&bud.used), 60);
    http_body_feed(&b, data, 10); /* dropped */
    assert_int_equal(http_body_finish(&b), 429);
    assert_non_null(strstr(b.why, "--otlp-max-inflight-bytes"));
    assert_int_equal(http_body_finish(&a), 0);
    assert_int_equal(a.data.len, 60);
    /* what decoding will cost, beyond the data */
    assert_int_equal(http_body_reserve(&a, 40), 0);
    assert_int_equal(atomic_load(&bud.used), 100);
    http_body_free(&b);
    assert_int_equal(http_body_reserve(&a, 41), -1);
    assert_int_equal(http_body_finish(&a), 429);
    assert_int_equal(atomic_load(&bud.used), 0);
    http_body_free(&a);
    assert_int_equal(atomic_load(&bud.used), 0);
    /* gzip: the inflated size is what is reserved */
    unsigned char zeros[4096] = {0}, gz[256];
    z_stream z = {0};
    assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    z.next_in = zeros;
    z.avail_in = sizeof zeros;
    z.next_out = gz;
    z.avail_out = sizeof gz;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    size_t gzlen = sizeof gz - z.avail_out;
    deflateEnd(&z);
    bud.max = 100000; /* one inflate step (64 KiB) is reserved ahead */
    assert_int_equal(http_body_init(&a, 1, 1 << 20, &bud), 0);
    http_body_feed(&a, gz, gzlen);
    assert_int_equal(http_body_finish(&a), 0);
    assert_int_equal(a.data.len, sizeof zeros);
    assert_true(atomic_load(&bud.used) >= sizeof zeros && atomic_load(&bud.used) <= 100000);
    assert_int_equal(http_body_init(&b, 1, 1 << 20, &bud), 0);
    http_body_feed(&b, gz, gzlen);
    assert_int_equal(http_body_finish(&b), 429);
    http_body_free(&b);
    http_body_free(&a);
    assert_int_equal(atomic_load(&bud.used), 0);
}

/* Without a budget (as the fuzz target runs it) a gzip body is inflated whole: the room it may
 * fill was once 0 bytes, and inflate looped on it forever. */
AT_TEST(test_gzip_body_without_a_budget_is_inflated)
{
    (void)state;
    static const char text[] = "{\"resourceSpans\":[]}";
    unsigned char gz[256];
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    z.next_in = (Bytef *)text;
    z.avail_in = sizeof text - 1;
    z.next_out = gz;
    z.avail_out = sizeof gz;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    size_t gzlen = sizeof gz - z.avail_out;
    deflateEnd(&z);
    http_body b;
    assert_int_equal(http_body_init(&b, 1, 1000, NULL), 0);
    http_body_feed(&b, gz, gzlen);
    assert_int_equal(http_body_finish(&b), 0);
    assert_int_equal(b.data.len, sizeof text - 1);
    assert_memory_equal(b.data.data, text, sizeof text - 1);
    http_body_free(&b);
}

AT_TEST(test_out_of_memory_reading_the_body_is_503_not_413)
{
    (void)state;
#ifdef UNDER_ASAN
    skip(); /* ASan reserves terabytes of address space: RLIMIT_AS cannot be used */
#else
    size_t big = (size_t)256 << 20;
    /* readable zero pages that cost no memory: what the body is fed from */
    void *src = mmap(NULL, big, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    assert_true(src != MAP_FAILED);
    http_budget bud = {.max = SIZE_MAX / 2};
    http_body b;
    assert_int_equal(http_body_init(&b, 0, (size_t)1 << 30, &bud), 0);
    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_AS, &old), 0);
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    unsigned long vm_kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmSize: %lu kB", &vm_kb) == 1) break;
    if (f) fclose(f);
    assert_true(vm_kb > 0);
    lim = old;
    lim.rlim_cur = (rlim_t)vm_kb * 1024 + ((rlim_t)64 << 20); /* 64 MiB more, not 256 */
    assert_int_equal(setrlimit(RLIMIT_AS, &lim), 0);
    http_body_feed(&b, src, big);
    int status = http_body_finish(&b);
    assert_int_equal(setrlimit(RLIMIT_AS, &old), 0);
    assert_int_equal(status, 503);
    assert_non_null(strstr(b.why, "out of memory"));
    assert_int_equal(atomic_load(&bud.used), 0); /* given back */
    http_body_free(&b);
    munmap(src, big);
#endif
}
