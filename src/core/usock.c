/* SPDX-License-Identifier: Apache-2.0 */
#include "core/usock.h"
#include "core/util.h"

#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

int usock_addr(const char *path, struct sockaddr_un *sa)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    if (!path || !*path)
        return -EINVAL;
    if (strlen(path) >= sizeof(sa->sun_path))
        return -ENAMETOOLONG;
    strcpy(sa->sun_path, path);
    return 0;
}

int usock_connect(const char *path, int flags, int *out)
{
    struct sockaddr_un sa;
    int fd, r;

    r = usock_addr(path, &sa);
    if (r < 0)
        return r;
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (flags & SOCK_NONBLOCK), 0);
    if (fd < 0)
        return neg_errno();
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        r = neg_errno();
        close(fd);
        return r;
    }
    *out = fd;
    return 0;
}

int usock_check(const char *path)
{
    struct sockaddr_un sa;
    struct stat st;
    int fd, r;

    r = usock_addr(path, &sa);
    if (r < 0)
        return r;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : neg_errno();
    if (!S_ISSOCK(st.st_mode))
        return -ENOTSOCK;
    /* Non-blocking: a listener with a full backlog answers EAGAIN instead
     * of making us wait, and counts as alive. */
    r = usock_connect(path, SOCK_NONBLOCK, &fd);
    if (r == 0) {
        close(fd);
        return -EADDRINUSE;
    }
    switch (r) {
    case -ECONNREFUSED:     /* nobody listens: stale */
    case -ENOENT:           /* gone since the lstat */
        return 0;
    case -EAGAIN:           /* backlog full */
    case -EPROTOTYPE:       /* a datagram or seqpacket socket is bound there */
        return -EADDRINUSE;
    default:
        return r;
    }
}

/* flock the folder that holds @path; returns the fd to close, or -1 when it
 * cannot be locked (then the caller goes on without: the lock only narrows
 * a race between two starting processes). */
static int lock_parent(const char *path)
{
    char buf[PATH_MAX];
    int fd;

    if (strlen(path) >= sizeof(buf))
        return -1;
    strcpy(buf, path);
    fd = open(dirname(buf), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    if (flock(fd, LOCK_EX) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int usock_listen(const char *path, int backlog, int flags, int *out)
{
    struct sockaddr_un sa;
    mode_t old_mask;
    int fd = -1, lock, r;

    r = usock_addr(path, &sa);
    if (r < 0)
        return r;
    lock = lock_parent(path);
    r = usock_check(path);
    if (r < 0)
        goto out;
    if (unlink(path) < 0 && errno != ENOENT) {
        r = neg_errno();
        goto out;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (flags & SOCK_NONBLOCK), 0);
    if (fd < 0) {
        r = neg_errno();
        goto out;
    }
    old_mask = umask(0177);
    r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old_mask);
    if (r < 0) {
        r = neg_errno();
        goto out_close;
    }
    if (listen(fd, backlog) < 0) {
        r = neg_errno();
        unlink(path);           /* ours: bound just now */
        goto out_close;
    }
    *out = fd;
    r = 0;
    goto out;
out_close:
    close(fd);
out:
    close_fd(&lock);
    return r;
}

/* Is the socket file @path ours (or nobody's)? */
static bool unlink_ok(const char *path)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);
    struct stat st;
    int fd, r;
    bool ours;

    if (lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode))
        return false;
    r = usock_connect(path, SOCK_NONBLOCK, &fd);
    if (r == -ECONNREFUSED)
        return true;            /* stale */
    if (r < 0)
        return false;           /* cannot tell: leave it */
    ours = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && cred.pid == getpid();
    close(fd);
    return ours;
}

void usock_close(const char *path, int *fd)
{
    if (*fd < 0)
        return;
    if (path && unlink_ok(path))
        unlink(path);
    close_fd(fd);
}

int usock_share(const char *path, int gid)
{
    if (gid < 0)
        return 0;
    if (chown(path, (uid_t)-1, (gid_t)gid) < 0 || chmod(path, 0660) < 0)
        return neg_errno();
    return 0;
}

const char *usock_strerror(int r)
{
    switch (r) {
    case -EADDRINUSE: return "in use by a running process";
    case -ENOTSOCK: return "exists and is not a socket";
    case -EINVAL: return "a socket path is required (abstract sockets are not used)";
    case -ENAMETOOLONG: return "path too long for a unix socket (at most 107 bytes)";
    default: return strerror(-r);
    }
}
