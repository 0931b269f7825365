/*
 * fault.c - the counting wrappers of fault.h and their arming (the AGENTTRAIL_FAULTS build).
 *
 * Owns three counters and three armed numbers (one per kind), the number of faults fired,
 * the environment arming read once at start-up, and the exit report. It undoes the mapping of
 * the forced include, so that the names below reach the C library, not the wrappers. In any
 * other build this file compiles to nothing.
 */
#ifdef AGENTTRAIL_FAULTS
#include "fault.h"
#undef malloc
#undef calloc
#undef realloc
#undef strdup
#undef strndup
#undef write
#undef pwrite
#undef fsync
#undef fdatasync
#undef rename
#undef protobuf_c_message_unpack
#undef protobuf_c_message_free_unpacked

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>

#include "atcommon.h"

static unsigned long g_count[AT_FAULT_KINDS];
static unsigned long g_armed[AT_FAULT_KINDS];
static unsigned long g_fired;
static int g_stack; /* AGENTTRAIL_FAULT_STACK=1: print where each fault fires (ASan builds) */

/* Present in sanitizer builds only. */
extern void __sanitizer_print_stack_trace(void) __attribute__((weak));

static const char *const g_env[AT_FAULT_KINDS] = {
    [AT_FAULT_ALLOC] = "AGENTTRAIL_FAULT_ALLOC",
    [AT_FAULT_IO] = "AGENTTRAIL_FAULT_IO",
    [AT_FAULT_LMDB] = "AGENTTRAIL_FAULT_LMDB",
};

void at_fault_arm(int kind, unsigned long n)
{
    if (kind < 0 || kind >= AT_FAULT_KINDS) return;
    __atomic_store_n(&g_armed[kind], n, __ATOMIC_SEQ_CST);
    __atomic_store_n(&g_count[kind], 0, __ATOMIC_SEQ_CST);
}

unsigned long at_fault_count(int kind)
{
    if (kind < 0 || kind >= AT_FAULT_KINDS) return 0;
    return __atomic_load_n(&g_count[kind], __ATOMIC_SEQ_CST);
}

unsigned long at_fault_fired(void)
{
    return __atomic_load_n(&g_fired, __ATOMIC_SEQ_CST);
}

void at_fault_reset(void)
{
    for (int k = 0; k < AT_FAULT_KINDS; k++)
        at_fault_arm(k, 0);
}

int at_fault_hit(int kind)
{
    unsigned long n = __atomic_add_fetch(&g_count[kind], 1, __ATOMIC_SEQ_CST);
    if (n != __atomic_load_n(&g_armed[kind], __ATOMIC_SEQ_CST)) return 0;
    __atomic_add_fetch(&g_fired, 1, __ATOMIC_SEQ_CST);
    if (g_stack && __sanitizer_print_stack_trace) {
        fprintf(stderr, "agenttrail fault: call %lu of kind %d fails here:\n", n, kind);
        __sanitizer_print_stack_trace();
    }
    return 1;
}

/* ---- allocation -------------------------------------------------------------------------- */

void *at_fault_malloc(size_t n)
{
    return at_fault_hit(AT_FAULT_ALLOC) ? NULL : malloc(n);
}

void *at_fault_calloc(size_t n, size_t size)
{
    return at_fault_hit(AT_FAULT_ALLOC) ? NULL : calloc(n, size);
}

void *at_fault_realloc(void *p, size_t n)
{
    return at_fault_hit(AT_FAULT_ALLOC) ? NULL : realloc(p, n);
}

char *at_fault_strdup(const char *s)
{
    return at_fault_hit(AT_FAULT_ALLOC) ? NULL : strdup(s);
}

char *at_fault_strndup(const char *s, size_t n)
{
    return at_fault_hit(AT_FAULT_ALLOC) ? NULL : strndup(s, n);
}

#if __has_include(<protobuf-c/protobuf-c.h>)
static void *pbc_alloc(void *data, size_t n)
{
    (void)data;
    return at_fault_malloc(n);
}

static void pbc_free(void *data, void *p)
{
    (void)data;
    free(p);
}

static ProtobufCAllocator g_pbc = {pbc_alloc, pbc_free, NULL};

ProtobufCAllocator *at_fault_pbc_allocator(void)
{
    return &g_pbc;
}
#endif

/* ---- I/O --------------------------------------------------------------------------------- */

static int io_fail(int e)
{
    errno = e;
    return -1;
}

ssize_t at_fault_write(int fd, const void *buf, size_t n)
{
    return at_fault_hit(AT_FAULT_IO) ? io_fail(ENOSPC) : write(fd, buf, n);
}

ssize_t at_fault_pwrite(int fd, const void *buf, size_t n, off_t off)
{
    return at_fault_hit(AT_FAULT_IO) ? io_fail(ENOSPC) : pwrite(fd, buf, n, off);
}

int at_fault_fsync(int fd)
{
    return at_fault_hit(AT_FAULT_IO) ? io_fail(EIO) : fsync(fd);
}

int at_fault_fdatasync(int fd)
{
    return at_fault_hit(AT_FAULT_IO) ? io_fail(EIO) : fdatasync(fd);
}

int at_fault_rename(const char *from, const char *to)
{
    return at_fault_hit(AT_FAULT_IO) ? io_fail(EIO) : rename(from, to);
}

/* ---- start-up and exit ------------------------------------------------------------------- */

/* jansson is linked by every program that has JSON; a weak reference keeps libtracecommon
 * free of it. Its allocations are counted from start-up on. */
extern void json_set_alloc_funcs(void *(*m)(size_t), void (*f)(void *)) __attribute__((weak));

static unsigned long env_number(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v) return 0;
    uint64_t n = 0;
    return at_parse_u64(v, strlen(v), ULONG_MAX, &n) ? 0 : (unsigned long)n;
}

__attribute__((constructor)) static void fault_start(void)
{
    for (int k = 0; k < AT_FAULT_KINDS; k++)
        g_armed[k] = env_number(g_env[k]);
    g_stack = env_number("AGENTTRAIL_FAULT_STACK") != 0;
    if (json_set_alloc_funcs) json_set_alloc_funcs(at_fault_malloc, free);
}

__attribute__((destructor)) static void fault_report(void)
{
    const char *path = getenv("AGENTTRAIL_FAULT_REPORT");
    if (!path || !*path) return;
    FILE *f = fopen(path, "w");
    if (!f) return;
    fprintf(f, "alloc=%lu io=%lu lmdb=%lu fired=%lu\n", at_fault_count(AT_FAULT_ALLOC),
            at_fault_count(AT_FAULT_IO), at_fault_count(AT_FAULT_LMDB), at_fault_fired());
    fclose(f);
}
#else
typedef int at_fault_unused; /* ISO C: a translation unit is not empty */
#endif
