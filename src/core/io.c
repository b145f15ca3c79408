/* SPDX-License-Identifier: Apache-2.0 */
/* send_all / recv_all, mkdir_p: see core/io.h. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <string.h>
#include <sys/stat.h>
#include <stdbool.h>
#include <sys/socket.h>

#include "core/io.h"
#include "core/util.h"

/* Wait until @fd is ready for @events or the deadline passes (@deadline
 * negative: none). Returns 0, -ETIMEDOUT or -errno. */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        struct pollfd p = { .fd = fd, .events = events };
        int left = -1, r;

        if (deadline >= 0) {
            int64_t l = deadline - now_ms();
            if (l <= 0)
                return -ETIMEDOUT;
            left = (int)MIN(l, (int64_t)1 << 30);
        }
        r = poll(&p, 1, left);
        if (r > 0)
            return 0;
        if (r == 0)
            return -ETIMEDOUT;
        if (errno != EINTR)
            return neg_errno();
    }
}

static int xfer_all(int fd, char *p, size_t len, int timeout_ms, bool out)
{
    int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;

    while (len) {
        ssize_t n = out ? send(fd, p, len, MSG_NOSIGNAL) : recv(fd, p, len, 0);
        int r;

        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n == 0)
            return -ECONNRESET;   /* recv: end of stream */
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return neg_errno();
        r = wait_fd(fd, out ? POLLOUT : POLLIN, deadline);
        if (r < 0)
            return r;
    }
    return 0;
}

int send_all(int fd, const void *buf, size_t len, int timeout_ms)
{
    return xfer_all(fd, (char *)buf, len, timeout_ms, true);
}

int recv_all(int fd, void *buf, size_t len, int timeout_ms)
{
    return xfer_all(fd, buf, len, timeout_ms, false);
}

int mkdir_p(const char *path, mode_t mode)
{
    char buf[PATH_MAX];
    size_t len = strlen(path);

    if (len >= sizeof(buf))
        return -ENAMETOOLONG;
    memcpy(buf, path, len + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, mode) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(buf, mode) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

