/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for src/core/usock.c: who may bind a unix socket path. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "core/usock.h"

static char dir[64], path[128];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/sluice-usock-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/s.sock", dir);
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];
    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* A socket file nobody listens on: bound, then closed without unlink. */
static void make_stale(const char *p)
{
    struct sockaddr_un sa;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    assert_int_equal(usock_addr(p, &sa), 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(fd);
}

static ino_t inode(const char *p)
{
    struct stat st;
    assert_int_equal(lstat(p, &st), 0);
    return st.st_ino;
}

static void test_fresh_and_stale(void **state)
{
    struct stat st;
    int fd = -1, c;

    (void)state;
    assert_int_equal(usock_check(path), 0);
    assert_int_equal(usock_listen(path, 4, 0, &fd), 0);
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0600);
    close(fd);
    /* Left behind by a process that died: replaced. */
    assert_int_equal(usock_check(path), 0);
    assert_int_equal(usock_listen(path, 4, SOCK_NONBLOCK, &fd), 0);
    assert_int_equal(usock_connect(path, 0, &c), 0);
    close(c);
    close(fd);
    /* And one that was never listened on. */
    assert_int_equal(unlink(path), 0);
    make_stale(path);
    assert_int_equal(usock_connect(path, 0, &c), -ECONNREFUSED);
    assert_int_equal(usock_listen(path, 4, 0, &fd), 0);
    close(fd);
}

static void test_live_refused(void **state)
{
    int fd, fd2 = -1, c, a;
    ino_t ino;

    (void)state;
    assert_int_equal(usock_listen(path, 4, 0, &fd), 0);
    ino = inode(path);
    assert_int_equal(usock_check(path), -EADDRINUSE);
    assert_int_equal(usock_listen(path, 4, 0, &fd2), -EADDRINUSE);
    assert_int_equal(fd2, -1);
    assert_string_equal(usock_strerror(-EADDRINUSE), "in use by a running process");
    /* The first owner still has the path: same file, and it answers. */
    assert_true(inode(path) == ino);
    assert_int_equal(usock_connect(path, 0, &c), 0);
    /* The two probes (check, listen) came first: connected, then closed. */
    for (int i = 0; i < 3; i++) {
        a = accept(fd, NULL, NULL);
        assert_true(a >= 0);
        if (i < 2)
            close(a);
    }
    assert_int_equal(write(c, "x", 1), 1);
    char b;
    assert_int_equal(read(a, &b, 1), 1);
    close(a);
    close(c);
    close(fd);
}

/* A listener whose backlog is full is alive, and the check does not wait. */
static void test_full_backlog(void **state)
{
    int fd, c[8], n = 0;

    (void)state;
    assert_int_equal(usock_listen(path, 0, 0, &fd), 0);
    while (n < 8 && usock_connect(path, SOCK_NONBLOCK, &c[n]) == 0)
        n++;
    assert_true(n < 8);
    assert_int_equal(usock_check(path), -EADDRINUSE);
    while (n)
        close(c[--n]);
    close(fd);
}

static void test_not_a_socket(void **state)
{
    char sub[160];
    int fd = -1;
    struct stat st;

    (void)state;
    fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    assert_int_equal(write(fd, "data", 4), 4);
    close(fd);
    fd = -1;
    assert_int_equal(usock_check(path), -ENOTSOCK);
    assert_int_equal(usock_listen(path, 4, 0, &fd), -ENOTSOCK);
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_size, 4);
    assert_string_equal(usock_strerror(-ENOTSOCK), "exists and is not a socket");
    snprintf(sub, sizeof(sub), "%s/d", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    assert_int_equal(usock_listen(sub, 4, 0, &fd), -ENOTSOCK);
    /* A symlink to a socket is not a socket file either. */
    snprintf(sub, sizeof(sub), "%s/l", dir);
    assert_int_equal(symlink(path, sub), 0);
    assert_int_equal(usock_check(sub), -ENOTSOCK);
}

static void test_bad_paths(void **state)
{
    char longp[200];
    struct sockaddr_un sa;
    int fd = -1;

    (void)state;
    assert_int_equal(usock_addr("", &sa), -EINVAL);
    assert_int_equal(usock_listen("", 4, 0, &fd), -EINVAL);
    assert_int_equal(usock_check(""), -EINVAL);
    assert_int_equal(usock_connect("", 0, &fd), -EINVAL);
    memset(longp, 'a', sizeof(longp) - 1);
    longp[0] = '/';
    longp[sizeof(longp) - 1] = '\0';
    assert_int_equal(usock_listen(longp, 4, 0, &fd), -ENAMETOOLONG);
    longp[sizeof(sa.sun_path) - 1] = '\0';    /* 107 bytes: fits */
    assert_int_equal(usock_addr(longp, &sa), 0);
    assert_int_equal(fd, -1);
    assert_int_equal(usock_listen("/nonexistent-sluice-dir/x.sock", 4, 0, &fd), -ENOENT);
}

static void test_share(void **state)
{
    struct stat st;
    int fd;

    (void)state;
    assert_int_equal(usock_listen(path, 4, 0, &fd), 0);
    assert_int_equal(usock_share(path, -1), 0);
    assert_int_equal(lstat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(usock_share(path, (int)getgid()), 0);
    assert_int_equal(lstat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0660);
    assert_int_equal(st.st_gid, getgid());
    close(fd);
}

/* Closing removes our own socket file, but not one another process made
 * after ours was removed by hand. */
static void test_close(void **state)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);
    struct stat st;
    int fd, fd2, c, pfd[2];
    pid_t child;
    char b;

    (void)state;
    assert_int_equal(usock_listen(path, 4, 0, &fd), 0);
    usock_close(path, &fd);
    assert_int_equal(fd, -1);
    assert_int_equal(lstat(path, &st), -1);
    usock_close(path, &fd);                     /* closed: a no-op */

    assert_int_equal(usock_listen(path, 4, 0, &fd), 0);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(pipe(pfd), 0);
    child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        if (usock_listen(path, 4, 0, &fd2) < 0)
            _exit(1);
        (void)!write(pfd[1], "r", 1);
        pause();
        _exit(0);
    }
    assert_int_equal(read(pfd[0], &b, 1), 1);
    usock_close(path, &fd);
    assert_int_equal(fd, -1);
    assert_int_equal(lstat(path, &st), 0);      /* the other one's */
    assert_int_equal(usock_connect(path, 0, &c), 0);
    assert_int_equal(getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &len), 0);
    assert_int_equal(cred.pid, child);
    close(c);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    close(pfd[0]);
    close(pfd[1]);
    /* Its owner is gone: stale, and anybody's to remove. */
    fd = -1;
    assert_int_equal(usock_listen(path, 4, 0, &fd), 0);
    usock_close(path, &fd);
    assert_int_equal(lstat(path, &st), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fresh_and_stale, setup, teardown),
        cmocka_unit_test_setup_teardown(test_live_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_backlog, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_a_socket, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_share, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
