/* SPDX-License-Identifier: Apache-2.0 */
/* The VMM on the host's real /dev/kvm (slow emulation here, but real KVM):
 * a tiny 64-bit program, entered in long mode through the VMM's own page
 * tables and GDT exactly like a kernel, writes to the serial port and powers
 * the VM off through the ACPI PM1a control register; the VMM must report
 * the output and exit status 0. Skipped (77) without a usable /dev/kvm. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/io.h"
#include "core/log.h"
#include "vmm/vm.h"

/* 64-bit code at 0x100000, RSI = boot_params. */
static const uint8_t prog[] = {
    0x66, 0xba, 0xf8, 0x03,             /* mov dx, 0x3f8 */
    0xb0, 'O', 0xee,                    /* mov al, 'O'; out dx, al */
    0xb0, 'K', 0xee,                    /* mov al, 'K'; out dx, al */
    0x8a, 0x86, 0x10, 0x02, 0x00, 0x00, /* mov al, [rsi + 0x210] (type_of_loader: 0) */
    0x04, '0', 0xee,                    /* add al, '0'; out dx, al */
    0x8a, 0x86, 0xe8, 0x01, 0x00, 0x00, /* mov al, [rsi + 0x1e8] (e820_entries) */
    0x04, '0', 0xee,                    /* add al, '0'; out dx, al */
    0xb0, '\n', 0xee,                   /* mov al, '\n'; out dx, al */
    0x66, 0xba, 0x04, 0x06,             /* mov dx, 0x604 (PM1a_CNT) */
    0x66, 0xb8, 0x00, 0x34,             /* mov ax, SLP_EN | SLP_TYP(5) */
    0x66, 0xef,                         /* out dx, ax */
    0xf4,                               /* hlt */
    0xeb, 0xfd,                         /* jmp hlt */
};

/* A guest that crashes: ud2 with no IDT (limit 0) is #UD, then #GP, then
 * #DF, then a triple fault (KVM_EXIT_SHUTDOWN). */
static const uint8_t crash[] = {
    0x66, 0xba, 0xf8, 0x03,             /* mov dx, 0x3f8 */
    0xb0, 'X', 0xee,                    /* mov al, 'X'; out dx, al */
    0x0f, 0x0b,                         /* ud2 */
};

/* A guest that spins: jmp to itself at 0x100007. */
static const uint8_t spin[] = {
    0x66, 0xba, 0xf8, 0x03,             /* mov dx, 0x3f8 */
    0xb0, 'S', 0xee,                    /* mov al, 'S'; out dx, al */
    0xeb, 0xfe,                         /* jmp $ */
};

/* While run() spins: ask for a state dump, then stop the VM. */
static struct kvm_vm *g_vm;
static void *dump_then_stop(void *arg)
{
    (void)arg;
    usleep(200000);
    kvm_vm_dump_request(g_vm);
    usleep(500000);
    kvm_vm_stop(g_vm);
    return NULL;
}

static int run(const uint8_t *p, size_t len, char *out, size_t outlen, int *status)
{
    struct kvm_vm_config cfg = { .raw = p, .raw_len = len, .cpus = 1, .mem_size = 32u << 20,
                                 .console = KVM_CONSOLE_FD, .console_in = -1 };
    struct kvm_vm *vm = NULL;
    struct sl_err e = ERR_INIT;
    const char *err = e.msg;
    char path[] = "/tmp/sluice-kvm-test-XXXXXX";
    int fd = mkstemp(path), r;
    ssize_t n;

    unlink(path);
    cfg.console_out = fd;
    r = kvm_vm_create(&cfg, &vm, &e);
    if (r < 0) {
        fprintf(stderr, "kvm_vm_create: %s (%s)\n", err, strerror(-r));
        close(fd);
        return r;
    }
    g_vm = vm;
    if (p == spin) {
        pthread_t t;
        pthread_create(&t, NULL, dump_then_stop, NULL);
        r = kvm_vm_run(vm, status);
        pthread_join(t, NULL);
    } else {
        r = kvm_vm_run(vm, status);
    }
    g_vm = NULL;
    kvm_vm_destroy(vm);
    n = pread(fd, out, outlen - 1, 0);
    out[n > 0 ? n : 0] = 0;
    close(fd);
    return r;
}

int main(void)
{
    char out[256];
    uint64_t t0, t1;
    int status = -1, r;

    log_init("test-kvm", false, LOG_LVL_WARN);
    if (access("/dev/kvm", R_OK | W_OK) != 0) {
        printf("SKIP: no /dev/kvm\n");
        return 77;
    }
    t0 = now_ns();
    r = run(prog, sizeof(prog), out, sizeof(out), &status);
    t1 = now_ns();
    if (r == -ENOTSUP) {
        printf("SKIP: /dev/kvm lacks a capability\n");
        return 77;
    }
    printf("program run: r=%d status=%d output=\"%s\" in %.1f ms\n", r, status, out,
           (double)(t1 - t0) / 1e6);
    /* type_of_loader of a raw program is 0; the e820 map of 32 MiB has 4 entries. */
    if (r != 0 || status != 0 || strcmp(out, "OK04\n") != 0) {
        printf("FAIL: expected status 0 and \"OK04\\n\"\n");
        return 1;
    }
    /* A triple fault is a crashed guest: status 1, not a reboot's 0. */
    status = -1;
    r = run(crash, sizeof(crash), out, sizeof(out), &status);
    printf("triple fault: r=%d status=%d output=\"%s\"\n", r, status, out);
    if (r != 0 || status != 1 || strcmp(out, "X") != 0) {
        printf("FAIL: expected status 1 and \"X\" for a guest that triple-faults\n");
        return 1;
    }
    /* A state dump of a spinning guest (what SIGUSR2 asks sluice-vmm for):
     * the vCPU logs its registers, here rip at the jmp. */
    {
        char log[4096];
        char lpath[] = "/tmp/sluice-kvm-log-XXXXXX";
        int lfd = mkstemp(lpath), saved = dup(STDERR_FILENO);
        ssize_t n;

        unlink(lpath);
        fflush(stderr);
        dup2(lfd, STDERR_FILENO);
        status = -1;
        r = run(spin, sizeof(spin), out, sizeof(out), &status);
        fflush(stderr);
        dup2(saved, STDERR_FILENO);
        close(saved);
        n = pread(lfd, log, sizeof(log) - 1, 0);
        log[n > 0 ? n : 0] = 0;
        close(lfd);
        printf("state dump: r=%d status=%d output=\"%s\"\n%s", r, status, out, log);
        if (r != 0 || status != 1 || strcmp(out, "S") != 0 || !strstr(log, "vcpu0 state (asked)") ||
            !strstr(log, "vcpu0 regs: rip=0000000000100007")) {
            printf("FAIL: expected a stopped VM (status 1) and vcpu0's state with rip=100007\n");
            return 1;
        }
    }
    /* Clear errors for the user. */
    {
        struct kvm_vm_config cfg = { .kernel = "/etc/os-release", .cpus = 1,
                                     .mem_size = 256u << 20, .console = KVM_CONSOLE_FD,
                                     .console_in = -1, .console_out = -1 };
        struct kvm_vm *vm = NULL;
        struct sl_err e = ERR_INIT;
        const char *err = e.msg;

        r = kvm_vm_create(&cfg, &vm, &e);
        printf("not a bzImage: %d \"%s\"\n", r, err);
        if (r != -ENOEXEC || !strstr(err, "not a bzImage"))
            return 1;
        cfg.kernel = "/nonexistent/vmlinuz";
        r = kvm_vm_create(&cfg, &vm, &e);
        printf("missing kernel: %d \"%s\"\n", r, err);
        if (r != -ENOENT)
            return 1;
        cfg.kvm_path = "/nonexistent/kvm";
        r = kvm_vm_create(&cfg, &vm, &e);
        printf("missing /dev/kvm: %d \"%s\"\n", r, err);
        if (r != -ENOENT || !strstr(err, "/nonexistent/kvm"))
            return 1;
        cfg.kvm_path = NULL;
        cfg.kernel = "/etc/os-release";
        cfg.mem_size = 64u << 20;
        r = kvm_vm_create(&cfg, &vm, &e);
        printf("too little memory: %d \"%s\"\n", r, err);
        if (r != -ENOMEM)
            return 1;
    }
    printf("ok\n");
    return 0;
}
