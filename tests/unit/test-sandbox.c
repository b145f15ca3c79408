/* SPDX-License-Identifier: Apache-2.0 */
/* The seccomp allowlist (src/core/sandbox.c), installed for real in a
 * forked child per case (a filter cannot be taken off again): calls outside
 * the list are blocked and logged by name, calls on it still work. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <linux/fs.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <unistd.h>
#include <cmocka.h>
#include <linux/io_uring.h>
#include <sys/syscall.h>

#include "core/log.h"
#include "core/sandbox.h"

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZER_BUILD 1
#else
#define SANITIZER_BUILD 0
#endif

/* Run @fn in a child whose stderr is captured into @log; returns the raw
 * wait status. */
static int in_child(void (*fn)(void), char *log, size_t size)
{
    int p[2], st = 0;
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(p[1], 2);
        close(p[0]);
        log_init("test", false, LOG_LVL_INFO);
        fn();
        _exit(0);
    }
    close(p[1]);
    size_t n = 0;
    ssize_t r;
    while (n < size - 1 && (r = read(p[0], log + n, size - 1 - n)) > 0)
        n += (size_t)r;
    log[n] = 0;
    close(p[0]);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return st;
}

#define CHECK(cond) do { if (!(cond)) { fprintf(stderr, "check failed: %s\n", #cond); _exit(1); } } while (0)

static void *thread_fn(void *arg) { return arg; }

static void enforce_case(void)
{
    CHECK(sandbox_install(SANDBOX_SLUICED, SANDBOX_ENFORCE) == 0);
    /* Denied: exec, packet sockets, a fork. */
    char *argv[] = { "/bin/true", NULL };
    errno = 0;
    CHECK(execve("/bin/true", argv, NULL) == -1 && errno == EPERM);
    errno = 0;
    CHECK(socket(AF_PACKET, SOCK_RAW, 0) == -1 && errno == EPERM);
    if (!SANITIZER_BUILD) {
        errno = 0;
        CHECK(fork() == -1 && errno == EPERM);
    }
    /* Allowed: files, unix sockets, threads (clone3 falls back to clone). */
    int fd = open("/dev/null", O_RDWR);
    CHECK(fd >= 0 && write(fd, "x", 1) == 1);
    close(fd);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    close(fd);
    pthread_t t;
    void *res = NULL;
    CHECK(pthread_create(&t, NULL, thread_fn, (void *)0x5) == 0);
    CHECK(pthread_join(t, &res) == 0 && res == (void *)0x5);
    struct io_uring_params p = { 0 };
    fd = (int)syscall(__NR_io_uring_setup, 4, &p);
    CHECK(fd >= 0);
    close(fd);
    /* ioctl by request number: TIOCSTI (push input into a terminal) and the
     * VMM's KVM_RUN are refused with EPERM before any driver sees them;
     * listed requests reach the driver (/dev/null answers ENOTTY). */
    fd = open("/dev/null", O_RDWR);
    CHECK(fd >= 0);
    char c = 'x';
    errno = 0;
    CHECK(ioctl(fd, TIOCSTI, &c) == -1 && errno == EPERM);
    errno = 0;
    CHECK(ioctl(fd, KVM_RUN, 0) == -1 && errno == EPERM);
    uint64_t size;
    errno = 0;
    CHECK(ioctl(fd, BLKGETSIZE64, &size) == -1 && errno == ENOTTY);
    struct ifreq ifr = { 0 };
    errno = 0;
    CHECK(ioctl(fd, TUNSETIFF, &ifr) == -1 && errno != EPERM);
    int pfd[2];
    CHECK(pipe(pfd) == 0);
    errno = 0;
    CHECK(isatty(pfd[0]) == 0 && errno == ENOTTY);     /* TCGETS */
    close(pfd[0]);
    close(pfd[1]);
    close(fd);
}

static void test_enforce_blocks_and_logs(void **state)
{
    char log[4096];
    (void)state;
    int st = in_child(enforce_case, log, sizeof(log));
    fprintf(stderr, "%s", log);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_non_null(strstr(log, "test: error: seccomp: denied system call execve (59); it fails with EPERM"));
    assert_non_null(strstr(log, "seccomp: denied system call socket (41)"));
    if (!SANITIZER_BUILD)
        assert_non_null(strstr(log, "seccomp: denied system call clone (56)"));
    assert_null(strstr(log, "clone3"));      /* ENOSYS, quietly */
    assert_non_null(strstr(log, "seccomp: denied system call ioctl (16, request 0x00005412)"));
    assert_non_null(strstr(log, "seccomp: denied system call ioctl (16, request 0x0000ae80)"));
    assert_null(strstr(log, "request 0x80086b"));    /* BLKGETSIZE64 allowed */
    assert_null(strstr(log, "request 0x400454ca"));  /* TUNSETIFF allowed */
    assert_null(strstr(log, "request 0x00005401"));  /* TCGETS allowed */
    assert_null(strstr(log, "open"));
}

static void kill_case(void)
{
    CHECK(sandbox_install(SANDBOX_VMM, SANDBOX_KILL) == 0);
    char *argv[] = { "/bin/true", NULL };
    execve("/bin/true", argv, NULL);
    _exit(3);    /* not reached: the filter ended the process */
}

static void test_kill_mode_ends_process(void **state)
{
    char log[4096];
    (void)state;
    int st = in_child(kill_case, log, sizeof(log));
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 159);
    assert_non_null(strstr(log, "seccomp: denied system call execve (59); exiting"));
}

static void vmm_case(void)
{
    CHECK(sandbox_install(SANDBOX_VMM, SANDBOX_ENFORCE) == 0);
    /* sluice-vmm does no block I/O: io_uring is not on its list. */
    struct io_uring_params p = { 0 };
    errno = 0;
    CHECK(syscall(__NR_io_uring_setup, 4, &p) == -1 && errno == EPERM);
    int fd = open("/dev/null", O_RDONLY);
    CHECK(fd >= 0);
    /* The KVM run loop's requests pass (ENOTTY from /dev/null); a tap's
     * and a terminal's do not. */
    errno = 0;
    CHECK(ioctl(fd, KVM_RUN, 0) == -1 && errno == ENOTTY);
    struct kvm_regs regs;
    errno = 0;
    CHECK(ioctl(fd, KVM_GET_REGS, &regs) == -1 && errno == ENOTTY);
    struct ifreq ifr = { 0 };
    errno = 0;
    CHECK(ioctl(fd, TUNSETIFF, &ifr) == -1 && errno == EPERM);
    char c = 'x';
    errno = 0;
    CHECK(ioctl(fd, TIOCSTI, &c) == -1 && errno == EPERM);
    errno = 0;
    CHECK(ioctl(fd, KVM_SET_USER_MEMORY_REGION, NULL) == -1 && errno == EPERM);
    close(fd);
}

static void test_vmm_profile(void **state)
{
    char log[4096];
    (void)state;
    int st = in_child(vmm_case, log, sizeof(log));
    fprintf(stderr, "%s", log);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_non_null(strstr(log, "seccomp: denied system call io_uring_setup (425)"));
    assert_non_null(strstr(log, "seccomp: denied system call ioctl (16, request 0x400454ca)"));
    assert_non_null(strstr(log, "seccomp: denied system call ioctl (16, request 0x00005412)"));
    assert_null(strstr(log, "request 0x0000ae80"));   /* KVM_RUN allowed */
}

static void test_parse_mode(void **state)
{
    enum sandbox_mode m;
    (void)state;
    assert_int_equal(sandbox_parse_mode("enforce", &m), 0);
    assert_int_equal(m, SANDBOX_ENFORCE);
    assert_int_equal(sandbox_parse_mode("kill", &m), 0);
    assert_int_equal(m, SANDBOX_KILL);
    assert_int_equal(sandbox_parse_mode("off", &m), 0);
    assert_int_equal(m, SANDBOX_OFF);
    assert_int_equal(sandbox_parse_mode("on", &m), -EINVAL);
    assert_int_equal(sandbox_parse_mode("", &m), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_mode),
        cmocka_unit_test(test_enforce_blocks_and_logs),
        cmocka_unit_test(test_kill_mode_ends_process),
        cmocka_unit_test(test_vmm_profile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
