/* SPDX-License-Identifier: Apache-2.0 */
/* Whole-buffer I/O on stream sockets, a monotonic clock and mkdir -p: the one copy
 * of each for the tree (programs, modules, tests and bench drivers). */
#ifndef SLUICE_CORE_IO_H
#define SLUICE_CORE_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* Monotonic time (CLOCK_MONOTONIC, a vDSO call: no system call). */
static inline uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline int64_t now_ms(void)
{
    return (int64_t)(now_ns() / 1000000u);
}

/* Send all @len bytes of @buf on socket @fd (MSG_NOSIGNAL: a closed peer
 * is -EPIPE, not SIGPIPE). On a non-blocking socket, waits for room up to
 * @timeout_ms in all (negative: no limit). Returns 0, -ETIMEDOUT or the
 * -errno of send()/poll(). */
int send_all(int fd, const void *buf, size_t len, int timeout_ms);

/* Receive exactly @len bytes into @buf from socket @fd, waiting up to
 * @timeout_ms in all (negative: no limit). Returns 0, -ECONNRESET (the peer
 * closed the stream before @len bytes came), -ETIMEDOUT or the -errno of
 * recv()/poll(). */
int recv_all(int fd, void *buf, size_t len, int timeout_ms);

/* mkdir @path and every missing folder above it (@mode each); one that
 * exists is fine. Returns 0, -ENAMETOOLONG or the -errno of mkdir(). */
int mkdir_p(const char *path, mode_t mode);

#endif
