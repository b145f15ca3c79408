/* SPDX-License-Identifier: Apache-2.0 */
/* Small helpers shared by every module: checked arithmetic, array sizes,
 * container_of, errno-returning syscall wrappers. */
#ifndef SLUICE_CORE_UTIL_H
#define SLUICE_CORE_UTIL_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define container_of(ptr, type, member) \
    ((type *)(void *)((char *)(ptr) - offsetof(type, member)))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define ALIGN_UP(x, a) (((x) + (a) - 1) & ~((__typeof__(x))(a) - 1))
#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* Checked arithmetic: return true on overflow (result unspecified then). */
static inline bool add_overflows_u64(uint64_t a, uint64_t b, uint64_t *res)
{
    return __builtin_add_overflow(a, b, res);
}
static inline bool mul_overflows_u64(uint64_t a, uint64_t b, uint64_t *res)
{
    return __builtin_mul_overflow(a, b, res);
}

/* True when all @len bytes at @p are zero (true for 0 bytes). */
static inline bool mem_is_zero(const void *p, size_t len)
{
    const unsigned char *b = p;

    /* The first byte, then the buffer against itself shifted by one. */
    return len == 0 || (b[0] == 0 && !memcmp(b, b + 1, len - 1));
}

/* True when [off, off+len) lies inside [0, size) without overflow. */
static inline bool range_within(uint64_t off, uint64_t len, uint64_t size)
{
    uint64_t end;
    return !add_overflows_u64(off, len, &end) && end <= size;
}

/* close() that keeps errno and accepts -1. */
static inline void close_fd(int *fd)
{
    if (*fd >= 0) {
        int saved = errno;
        close(*fd);
        errno = saved;
        *fd = -1;
    }
}

/* Returns the negative errno of the last failed libc call (never 0). */
static inline int neg_errno(void)
{
    return errno ? -errno : -EIO;
}

#endif
