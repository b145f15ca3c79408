/* SPDX-License-Identifier: Apache-2.0 */
/* The seccomp allowlist of sluiced and sluice-vmm (see core/sandbox.h). */
#include <errno.h>
#include <linux/fs.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <linux/sched.h>
#include <linux/sockios.h>
#include <seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "core/log.h"
#include "core/sandbox.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZER_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(undefined_behavior_sanitizer)
#define SANITIZER_BUILD 1
#endif
#endif
#ifndef SANITIZER_BUILD
#define SANITIZER_BUILD 0
#endif

#define P_D (1u << SANDBOX_SLUICED)
#define P_V (1u << SANDBOX_VMM)
#define P_ALL (P_D | P_V)

/* Calls allowed without argument checks, and the profiles that need them.
 * What is missing on purpose: execve/execveat, fork-like clone, ptrace
 * (outside sanitizer builds), mount and namespaces, module and kexec
 * loading, bpf, keyctl, perf_event_open, process_vm_*, reboot, swap,
 * setuid-family calls, personality. */
static const struct {
    const char *name;
    unsigned profiles;
} allowed[] = {
    /* I/O on descriptors */
    { "read", P_ALL }, { "write", P_ALL }, { "readv", P_ALL }, { "writev", P_ALL },
    { "pread64", P_ALL }, { "pwrite64", P_ALL }, { "preadv", P_ALL }, { "pwritev", P_ALL },
    { "preadv2", P_ALL }, { "pwritev2", P_ALL }, { "lseek", P_ALL }, { "close", P_ALL },
    { "close_range", P_ALL }, { "fcntl", P_ALL }, { "dup", P_ALL },
    { "dup2", P_ALL }, { "dup3", P_ALL }, { "pipe2", P_ALL },
    { "fsync", P_D }, { "fdatasync", P_D }, { "fallocate", P_D }, { "ftruncate", P_ALL },
    { "flock", P_D }, { "sendfile", P_D },
    /* files (devices added at run time open their files and sockets) */
    { "openat", P_ALL }, { "open", P_ALL }, { "newfstatat", P_ALL }, { "fstat", P_ALL },
    { "stat", P_ALL }, { "lstat", P_ALL }, { "statx", P_ALL }, { "statfs", P_ALL },
    { "fstatfs", P_ALL }, { "getdents64", P_ALL }, { "readlink", P_ALL },
    { "readlinkat", P_ALL }, { "access", P_ALL }, { "faccessat", P_ALL },
    { "faccessat2", P_ALL }, { "unlink", P_ALL }, { "unlinkat", P_ALL }, { "rename", P_D },
    { "renameat", P_D }, { "chmod", P_ALL }, { "fchmod", P_ALL }, { "fchmodat", P_ALL },
    { "chown", P_ALL }, { "fchown", P_ALL }, { "fchownat", P_ALL }, { "umask", P_ALL },
    { "getcwd", P_ALL },
    /* memory */
    { "mmap", P_ALL }, { "munmap", P_ALL }, { "mremap", P_ALL }, { "mprotect", P_ALL },
    { "madvise", P_ALL }, { "brk", P_ALL }, { "memfd_create", P_ALL },
    /* sockets (socket() itself is checked by family below) */
    { "socketpair", P_ALL }, { "bind", P_ALL }, { "listen", P_ALL }, { "accept", P_ALL },
    { "accept4", P_ALL }, { "connect", P_ALL }, { "getsockname", P_ALL },
    { "getpeername", P_ALL }, { "setsockopt", P_ALL }, { "getsockopt", P_ALL },
    { "sendmsg", P_ALL }, { "recvmsg", P_ALL }, { "sendto", P_ALL }, { "recvfrom", P_ALL },
    { "sendmmsg", P_ALL }, { "recvmmsg", P_ALL }, { "shutdown", P_ALL },
    /* waiting */
    /* epoll_create: librados's messenger (EpollDriver) when a Ceph
     * cluster is connected at run time (sluiced --blk rbd=, device.add). */
    { "epoll_create", P_D }, { "epoll_create1", P_ALL }, { "epoll_ctl", P_ALL }, { "epoll_wait", P_ALL },
    { "epoll_pwait", P_ALL }, { "epoll_pwait2", P_ALL }, { "poll", P_ALL }, { "ppoll", P_ALL },
    { "select", P_ALL }, { "pselect6", P_ALL }, { "eventfd2", P_ALL }, { "signalfd4", P_ALL },
    { "timerfd_create", P_ALL }, { "timerfd_settime", P_ALL }, { "timerfd_gettime", P_ALL },
    { "io_uring_setup", P_D }, { "io_uring_enter", P_D }, { "io_uring_register", P_D },
    /* threads, signals, time */
    { "futex", P_ALL }, { "set_robust_list", P_ALL }, { "get_robust_list", P_ALL },
    { "rseq", P_ALL }, { "set_tid_address", P_ALL }, { "exit", P_ALL }, { "exit_group", P_ALL },
    { "gettid", P_ALL }, { "getpid", P_ALL }, { "getppid", P_ALL }, { "getuid", P_ALL },
    { "geteuid", P_ALL }, { "getgid", P_ALL }, { "getegid", P_ALL }, { "getgroups", P_ALL },
    { "tgkill", P_ALL }, { "tkill", P_ALL }, { "wait4", P_D },
    { "rt_sigaction", P_ALL }, { "rt_sigprocmask", P_ALL }, { "rt_sigreturn", P_ALL },
    { "rt_sigtimedwait", P_ALL }, { "sigaltstack", P_ALL }, { "restart_syscall", P_ALL },
    { "clock_gettime", P_ALL }, { "clock_getres", P_ALL }, { "clock_nanosleep", P_ALL },
    { "nanosleep", P_ALL }, { "gettimeofday", P_ALL }, { "time", P_ALL },
    { "getrandom", P_ALL }, { "sched_yield", P_ALL }, { "sched_getaffinity", P_ALL },
    { "sched_setaffinity", P_ALL }, { "prctl", P_ALL }, { "uname", P_ALL },
    { "sysinfo", P_ALL }, { "getrusage", P_ALL }, { "prlimit64", P_ALL },
    { "getrlimit", P_ALL }, { "membarrier", P_ALL },
};

/* ioctl: only these request numbers (checked by value, as Firecracker
 * does), those the daemons issue once the filter is on: devices added at run
 * time (block size and discard; tap set-up and interface flags, MTU, MAC),
 * the VMM's run loop (KVM_RUN, interrupts, routes, ioeventfds, the state
 * dump). libnl and libdevmapper speak netlink or run in the storage helper,
 * forked before the filter. TCGETS is isatty() in stdio. Any other request
 * (TIOCSTI, KVM_SET_USER_MEMORY_REGION, ...) is denied. */
static const struct {
    unsigned long req;
    unsigned profiles;
} ioctls[] = {
    { TCGETS, P_ALL },
    /* block devices (storage/bdev.c, storage/pool.c) */
    { BLKGETSIZE64, P_D }, { BLKSSZGET, P_D }, { BLKDISCARD, P_D },
    /* taps (net/tap.c) */
    { TUNSETIFF, P_D }, { TUNSETVNETHDRSZ, P_D }, { TUNSETOFFLOAD, P_D }, { TUNSETQUEUE, P_D },
    { TUNSETPERSIST, P_D }, { TUNSETOWNER, P_D }, { TUNSETGROUP, P_D },
    { SIOCGIFFLAGS, P_D }, { SIOCSIFFLAGS, P_D }, { SIOCSIFMTU, P_D }, { SIOCSIFHWADDR, P_D },
    { SIOCGIFNAME, P_D },            /* if_indextoname() (net/link.c: a port's master) */
    /* KVM once the VM is built (vmm/vm.c) */
    { KVM_RUN, P_V }, { KVM_IRQ_LINE, P_V }, { KVM_SET_GSI_ROUTING, P_V }, { KVM_IRQFD, P_V },
    { KVM_IOEVENTFD, P_V }, { KVM_GET_REGS, P_V }, { KVM_GET_SREGS, P_V },
    { KVM_GET_VCPU_EVENTS, P_V }, { KVM_GET_MP_STATE, P_V },
};

/* Sanitizer runtimes: LeakSanitizer stops the world with a fork-like clone
 * and ptrace at exit; the symbolizer reads /proc. */
static const char *const sanitizer_extra[] = {
    "ptrace", "clone", "wait4", "waitid", "kill", "process_vm_readv", "pipe", "getpgid",
};

/* Names of system calls by number, made before the filter goes on (the
 * SIGSYS handler cannot call into libseccomp: it allocates). */
#define NAME_MAX_NR 512
static char names[NAME_MAX_NR][24];
static enum sandbox_mode trap_mode;

/* Append decimal @v to @p (of size @n, NUL-terminated). */
static void append_uint(char *p, size_t n, unsigned long v)
{
    char tmp[24];
    size_t i = 0, j = strlen(p);
    do {
        tmp[i++] = (char)('0' + v % 10);
        v /= 10;
    } while (v && i < sizeof(tmp));
    while (i && j + 1 < n)
        p[j++] = tmp[--i];
    p[j] = 0;
}

/* SIGSYS from the filter: log without allocating, then fail the call with
 * EPERM or end the process. */
static void on_sigsys(int sig, siginfo_t *si, void *uctx)
{
    ucontext_t *uc = uctx;
    char msg[160] = "seccomp: denied system call ";
    int n = si->si_syscall;
    (void)sig;

    strncat(msg, n >= 0 && n < NAME_MAX_NR && names[n][0] ? names[n] : "?", 24);
    strcat(msg, " (");
    append_uint(msg, sizeof(msg), (unsigned long)n);
    if (n == SYS_ioctl) {
        static const char hex[] = "0123456789abcdef";
        unsigned long req = (unsigned long)uc->uc_mcontext.gregs[REG_RSI] & 0xffffffffu;
        char h[] = ", request 0x00000000";
        for (int i = 0; i < 8; i++)
            h[sizeof(h) - 2 - i] = hex[(req >> (4 * i)) & 0xf];
        strcat(msg, h);
    }
    strcat(msg, trap_mode == SANDBOX_KILL ? "); exiting" : "); it fails with EPERM");
    log_from_signal(msg);
    if (trap_mode == SANDBOX_KILL)
        syscall(SYS_exit_group, 128 + SIGSYS);
    uc->uc_mcontext.gregs[REG_RAX] = -EPERM;
}

enum sandbox_mode sandbox_default_mode(void)
{
    return SANITIZER_BUILD ? SANDBOX_OFF : SANDBOX_ENFORCE;
}

int sandbox_parse_mode(const char *s, enum sandbox_mode *mode)
{
    if (!strcmp(s, "enforce"))
        *mode = SANDBOX_ENFORCE;
    else if (!strcmp(s, "kill"))
        *mode = SANDBOX_KILL;
    else if (!strcmp(s, "off"))
        *mode = SANDBOX_OFF;
    else
        return -EINVAL;
    return 0;
}

static int allow(scmp_filter_ctx ctx, const char *name)
{
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR)
        return 0;             /* not a call on this architecture */
    return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
}

int sandbox_install(enum sandbox_profile profile, enum sandbox_mode mode)
{
    struct sigaction sa;
    scmp_filter_ctx ctx;
    sigset_t set;
    int r = 0;

    if (mode == SANDBOX_OFF) {
        log_info("seccomp filter off%s", SANITIZER_BUILD ? " (the default in sanitizer builds)" : "");
        return 0;
    }
    for (int i = 0; i < NAME_MAX_NR; i++) {
        char *s = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, i);
        if (s) {
            strncpy(names[i], s, sizeof(names[i]) - 1);
            free(s);
        }
    }
    trap_mode = mode;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_sigsys;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSYS, &sa, NULL) < 0)
        return -errno;
    sigemptyset(&set);
    sigaddset(&set, SIGSYS);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);

    ctx = seccomp_init(SCMP_ACT_TRAP);
    if (!ctx)
        return -ENOMEM;
    /* One filter for every thread: workers and vCPUs already run. */
    r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
    for (size_t i = 0; r == 0 && i < sizeof(allowed) / sizeof(allowed[0]); i++)
        if (allowed[i].profiles & (1u << profile))
            r = allow(ctx, allowed[i].name);
    /* The kernel reads an ioctl request as 32 bits: compare those. */
    for (size_t i = 0; r == 0 && i < sizeof(ioctls) / sizeof(ioctls[0]); i++)
        if (ioctls[i].profiles & (1u << profile))
            r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
                                 SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, (scmp_datum_t)ioctls[i].req));
    /* Sockets of the families in use: unix (vhost-user, control, OVSDB,
     * syslog, NBD), netlink (bridges, links), inet datagram (interface
     * ioctls) and inet/inet6 streams (the mirror job's NBD client). Raw and
     * packet sockets are refused. */
    static const int families[] = { AF_UNIX, AF_NETLINK, AF_INET, AF_INET6 };
    for (size_t i = 0; r == 0 && i < sizeof(families) / sizeof(families[0]); i++)
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
                             SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)families[i]));
    /* Threads only: clone must carry CLONE_THREAD; clone3 hides its flags
     * in memory, so it fails with ENOSYS and glibc falls back to clone. */
    if (r == 0 && !SANITIZER_BUILD)
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
                             SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
    if (r == 0)
        r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
    for (size_t i = 0; r == 0 && SANITIZER_BUILD && i < sizeof(sanitizer_extra) / sizeof(sanitizer_extra[0]); i++)
        r = allow(ctx, sanitizer_extra[i]);
    if (r == 0)
        r = seccomp_load(ctx);
    seccomp_release(ctx);
    if (r < 0)
        return r;
    log_info("seccomp allowlist installed (%s)", mode == SANDBOX_KILL ? "kill" : "enforce");
    return 0;
}
