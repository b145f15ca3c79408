/* SPDX-License-Identifier: Apache-2.0 */
/* The storage helper: a child forked before the seccomp filter goes on,
 * which resolves pool volumes (POOL/VOL) to their paths for devices added
 * through the control socket. Resolving an LVM volume runs LVM's commands
 * (lvs, lvchange -ay), and the sandboxed daemon may not exec. The helper
 * takes one request at a time over a SOCK_SEQPACKET pair: the spec in, a
 * status and the path (or the error text) out; it ends when sluiced closes
 * its end (or dies). */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/log.h"
#include "sluiced.h"
#include "storage/pool.h"

#define MSG_MAX 4096

struct reply {
    int32_t status;            /* 0 or -errno */
    char text[MSG_MAX];        /* the path, or why it failed */
};

static int helper_fd = -1;
static pid_t helper_pid = -1;

static int resolve_here(const char *spec, char **path, char **why)
{
    struct sl_err err = ERR_INIT;
    int r = pool_volume_resolve(spec, path, &err);

    if (r < 0)
        *why = strdup(err_isset(&err) ? err.msg : pool_strerror(r));
    return r;
}

static void serve(int fd)
{
    static char spec[MSG_MAX];
    static struct reply rep;

    for (;;) {
        ssize_t n = recv(fd, spec, sizeof(spec) - 1, 0);
        if (n <= 0)
            _exit(0);
        spec[n] = 0;
        char *path = NULL, *why = NULL;
        memset(&rep, 0, sizeof(rep));
        rep.status = resolve_here(spec, &path, &why);
        snprintf(rep.text, sizeof(rep.text), "%s", rep.status == 0 ? path : why ? why : "out of memory");
        free(path);
        free(why);
        if (send(fd, &rep, sizeof(rep.status) + strlen(rep.text) + 1, MSG_NOSIGNAL) < 0)
            _exit(1);
    }
}

int storage_helper_start(void)
{
    int sv[2];

    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return -errno;
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(sv[0]);
        close(sv[1]);
        return -e;
    }
    if (pid == 0) {
        close(sv[0]);
        prctl(PR_SET_NAME, "sluiced-storage");
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        /* The terminal's ^C is for sluiced, which then closes our socket. */
        signal(SIGINT, SIG_IGN);
        serve(sv[1]);
    }
    close(sv[1]);
    helper_fd = sv[0];
    helper_pid = pid;
    return 0;
}

void storage_helper_stop(void)
{
    if (helper_fd < 0)
        return;
    close(helper_fd);
    helper_fd = -1;
    waitpid(helper_pid, NULL, 0);
}

int volume_resolve(const char *spec, char **path, char **why)
{
    static struct reply rep;
    ssize_t n;

    *path = *why = NULL;
    if (helper_fd < 0)
        return resolve_here(spec, path, why);
    if (strlen(spec) >= MSG_MAX) {
        *why = strdup("name too long");
        return -ENAMETOOLONG;
    }
    if (send(helper_fd, spec, strlen(spec), MSG_NOSIGNAL) < 0 ||
        (n = recv(helper_fd, &rep, sizeof(rep) - 1, 0)) < (ssize_t)sizeof(rep.status) + 1) {
        *why = strdup("the storage helper process is gone");
        return -EPIPE;
    }
    ((char *)&rep)[n] = 0;
    if (rep.status < 0) {
        *why = strdup(rep.text);
        return rep.status;
    }
    *path = strdup(rep.text);
    return *path ? 0 : -ENOMEM;
}
