/* SPDX-License-Identifier: Apache-2.0 */
/* Unix stream sockets by path: the one place that binds, connects to and
 * probes them. Who owns a path owns it alone: a socket file with a live
 * listener behind it is never unlinked or rebound, only a stale one (a
 * connect is refused) is replaced, and a path that is not a socket is never
 * touched. Abstract sockets (an empty path) are not used. */
#ifndef SLUICE_CORE_USOCK_H
#define SLUICE_CORE_USOCK_H

#include <sys/socket.h>
#include <sys/un.h>

/* Fill @sa with @path. Returns 0, -EINVAL (empty path: that would be an
 * abstract socket) or -ENAMETOOLONG (does not fit sun_path). */
int usock_addr(const char *path, struct sockaddr_un *sa);

/* Connect a new stream socket (close-on-exec; @flags may add SOCK_NONBLOCK)
 * to @path; *out is the fd. Returns 0, the usock_addr() errors, or -errno of
 * socket()/connect() (-ENOENT, -ECONNREFUSED: no server). */
int usock_connect(const char *path, int flags, int *out);

/* May @path be bound? Returns 0 when it is free: absent, or a stale socket
 * file (connect() is refused); -EADDRINUSE when a process listens on it
 * (or its backlog is full); -ENOTSOCK when something that is not a socket
 * is there; the usock_addr() errors; or another -errno (-EACCES: cannot
 * tell, so not free). Never changes anything but the listener's accept
 * queue (a probe connection that is closed at once). */
int usock_check(const char *path);

/* Bind and listen on @path with mode 0600 (close-on-exec; @flags may add
 * SOCK_NONBLOCK); *out is the listening fd. A stale socket file is
 * replaced; otherwise fails as usock_check() says, without touching the
 * path. The check, the unlink and the bind run under an flock of the
 * parent folder, so two sluice processes starting at once cannot both
 * take the path. Returns 0 or -errno. */
int usock_listen(const char *path, int backlog, int flags, int *out);

/* Close the listening socket *@fd that usock_listen() made on @path (then
 * *@fd is -1) and remove the file, unless it is no longer ours: a process
 * that found the path gone and listens there now keeps it (told by the
 * credentials its listener answers with, SO_PEERCRED). NULL @path: close
 * only. */
void usock_close(const char *path, int *fd);

/* Give the socket file @path to group @gid with mode 0660; no-op when @gid
 * is negative. Returns 0 or -errno. */
int usock_share(const char *path, int gid);

/* A reason for an error of the functions above, phrased for "PATH: reason"
 * (e.g. "in use by a running process", "exists and is not a socket"). */
const char *usock_strerror(int r);

#endif
