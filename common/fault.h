/*
 * fault.h - allocation and I/O fault injection (private; the AGENTTRAIL_FAULTS build only).
 *
 * Owns the counting wrappers that make the N-th allocation, the N-th write/fsync/rename of the
 * store and spool code, or the N-th LMDB write call fail, and their arming. In a build with
 * -DAGENTTRAIL_FAULTS=ON the root CMakeLists.txt force-includes this header
 * (`-include common/fault.h`) into every source of the project's own libraries and programs
 * (not tests, not benchmarks), so that:
 *   - malloc, calloc, realloc, strdup, strndup          -> counted as AT_FAULT_ALLOC
 *     (also jansson's allocator, and protobuf-c's for the unpack calls that pass NULL);
 *   - write, pwrite, fsync, fdatasync, rename           -> counted as AT_FAULT_IO, only in the
 *     sources compiled with AT_FAULT_IO_HOOKS (store/, the spool, common/file.c);
 *   - mdb_put, mdb_cursor_put, mdb_del, mdb_txn_commit  -> counted as AT_FAULT_LMDB (store/).
 * A failing allocation returns NULL; a failing write/pwrite sets ENOSPC, a failing
 * fsync/fdatasync/rename EIO (nothing is written or renamed); a failing mdb_put,
 * mdb_cursor_put or mdb_del returns MDB_MAP_FULL (the transaction stays usable, unlike in
 * LMDB, so code that ignored the error would go on and be caught), a failing mdb_txn_commit
 * aborts the transaction and returns EIO, as LMDB does.
 * In any other build this header declares nothing and maps nothing: the release build has no
 * hooks at all.
 *
 * Arming. at_fault_arm(kind, n) makes the n-th call of that kind from now fail, once (one-shot:
 * the calls after it succeed again, so the test sees how the code recovers); n = 0 disarms.
 * It also resets that kind's counter, which at_fault_count reads: a test first runs an operation
 * armed with 0 to count its calls, then runs it again for each n up to the count. Real
 * processes are armed from the environment, read once at start-up: AGENTTRAIL_FAULT_ALLOC=N,
 * AGENTTRAIL_FAULT_IO=N, AGENTTRAIL_FAULT_LMDB=N; AGENTTRAIL_FAULT_REPORT=path makes the
 * process write "alloc=A io=I lmdb=L fired=F\n" (the calls it made, and how many faults fired)
 * to path at exit. Counters are atomic: the collector's threads share them.
 */
#ifndef AGENTTRAIL_FAULT_H
#define AGENTTRAIL_FAULT_H
#ifdef AGENTTRAIL_FAULTS

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

enum at_fault_kind { AT_FAULT_ALLOC, AT_FAULT_IO, AT_FAULT_LMDB, AT_FAULT_KINDS };

/* The n-th call of kind from now fails once; 0 disarms. Resets the kind's counter. */
void at_fault_arm(int kind, unsigned long n);
/* Calls of kind since it was last armed (or since start-up). */
unsigned long at_fault_count(int kind);
/* How many armed faults have fired since start-up (0 or 1 per arming). */
unsigned long at_fault_fired(void);
/* Disarms every kind and resets every counter. */
void at_fault_reset(void);
/* 1 when the next call of kind must fail (counts the call); used by the wrappers below. */
int at_fault_hit(int kind);

void *at_fault_malloc(size_t n);
void *at_fault_calloc(size_t n, size_t size);
void *at_fault_realloc(void *p, size_t n);
char *at_fault_strdup(const char *s);
char *at_fault_strndup(const char *s, size_t n);
ssize_t at_fault_write(int fd, const void *buf, size_t n);
ssize_t at_fault_pwrite(int fd, const void *buf, size_t n, off_t off);
int at_fault_fsync(int fd);
int at_fault_fdatasync(int fd);
int at_fault_rename(const char *from, const char *to);

#ifdef AT_FAULT_MAP /* set with the forced include: tests that include this header map nothing */
#undef strdup
#undef strndup
#define malloc(n) at_fault_malloc(n)
#define calloc(n, s) at_fault_calloc(n, s)
#define realloc(p, n) at_fault_realloc(p, n)
#define strdup(s) at_fault_strdup(s)
#define strndup(s, n) at_fault_strndup(s, n)

#ifdef AT_FAULT_IO_HOOKS
#include <errno.h>
#include <lmdb.h>
#define write(fd, b, n) at_fault_write(fd, b, n)
#define pwrite(fd, b, n, o) at_fault_pwrite(fd, b, n, o)
#define fsync(fd) at_fault_fsync(fd)
#define fdatasync(fd) at_fault_fdatasync(fd)
#define rename(a, b) at_fault_rename(a, b)
#define mdb_put(t, d, k, v, f) (at_fault_hit(AT_FAULT_LMDB) ? MDB_MAP_FULL : mdb_put(t, d, k, v, f))
#define mdb_del(t, d, k, v) (at_fault_hit(AT_FAULT_LMDB) ? MDB_MAP_FULL : mdb_del(t, d, k, v))
#define mdb_cursor_put(c, k, v, f)                                                                 \
    (at_fault_hit(AT_FAULT_LMDB) ? MDB_MAP_FULL : mdb_cursor_put(c, k, v, f))
#define mdb_txn_commit(t)                                                                          \
    (at_fault_hit(AT_FAULT_LMDB) ? (mdb_txn_abort(t), EIO) : mdb_txn_commit(t))
#endif

#if __has_include(<protobuf-c/protobuf-c.h>)
#include <protobuf-c/protobuf-c.h>
/* protobuf-c's default allocator is its own; unpack calls that pass NULL get the counting one. */
ProtobufCAllocator *at_fault_pbc_allocator(void);
#define protobuf_c_message_unpack(d, a, n, p)                                                      \
    protobuf_c_message_unpack(d, (a) ? (a) : at_fault_pbc_allocator(), n, p)
#define protobuf_c_message_free_unpacked(m, a)                                                     \
    protobuf_c_message_free_unpacked(m, (a) ? (a) : at_fault_pbc_allocator())
#endif
#endif /* AT_FAULT_MAP */

#endif /* AGENTTRAIL_FAULTS */
#endif
