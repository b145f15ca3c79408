/* SPDX-License-Identifier: Apache-2.0 */
/* The KVM VM: memory, vCPUs, exits, platform devices, event thread. */
#include "vmm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/usock.h"
#include "core/util.h"
#include "vhost/frontend.h"
#include "vmm/acpi.h"
#include "vmm/boot.h"
#include "vmm/cpuid.h"
#include "vmm/pci.h"
#include "vmm/serial.h"
#include "vmm/virtio_pci.h"

#define FIRST_MSI_GSI 24
#define MAX_GSI 1024
/* There is no PCI root bridge in the DSDT: "lastbus=1" makes Linux scan bus 0
 * through configuration mechanism #1 anyway (pcibios_fixup_peer_bridges). */
#define PLATFORM_CMDLINE "pci=lastbus=1"

enum vm_state { RUNNING, POWEROFF, RESET, FAILED, STOPPED };

struct vcpu {
    struct kvm_vm *vm;
    unsigned id;
    int fd;
    struct kvm_run *run;
    pthread_t thr;
    bool started;
    atomic_bool dump_req;         /* the event thread asks for a state dump */
    _Atomic uint64_t exits;       /* KVM_RUN returns, for the dump */
    _Atomic uint32_t last_exit;   /* its last exit reason */
};

struct kvm_vm {
    int kvm, fd;
    size_t run_size;
    struct kvm_guest_mem mem;
    int memfd;
    unsigned ncpus;
    struct vcpu cpus[KVM_VM_MAX_CPUS];
    struct kvm_boot_entry entry;

    pthread_mutex_t gsi_lock;
    unsigned next_gsi;
    struct kvm_irq_routing_entry msi[MAX_GSI - FIRST_MSI_GSI];
    bool msi_used[MAX_GSI - FIRST_MSI_GSI];

    struct kvm_pci pci;
    bool pci_ready;
    struct kvm_vpci *vdev[2 * KVM_VM_MAX_DEVS];
    bool vdev_lost[2 * KVM_VM_MAX_DEVS];
    unsigned nvdev;
    struct kvm_vpci_host host;

    struct kvm_serial *serial;
    int con_in, con_out, con_listen, con_client;
    bool own_con_fds;
    char *con_path;
    uint8_t cmos_idx;

    int stop_fd;
    int dump_fd;                  /* kvm_vm_dump_request() */
    _Atomic int state;
    atomic_bool quit;
};

static int xioctl(int fd, unsigned long req, void *arg)
{
    int r = ioctl(fd, req, arg);
    return r < 0 ? -errno : r;
}

/* ---- the end of the VM -------------------------------------------------- */

static void vm_end(struct kvm_vm *vm, int state)
{
    int expect = RUNNING;

    if (atomic_compare_exchange_strong(&vm->state, &expect, state))
        (void)eventfd_write(vm->stop_fd, 1);
}

void kvm_vm_stop(struct kvm_vm *vm)
{
    vm_end(vm, STOPPED);
}

void kvm_vm_dump_request(struct kvm_vm *vm)
{
    if (vm && vm->dump_fd >= 0)
        (void)eventfd_write(vm->dump_fd, 1);
}

/* ---- interrupt routing -------------------------------------------------- */

/* The whole table: the irqchip pins (what KVM sets up by default: GSI n is
 * IOAPIC pin n, and PIC pin n for n < 16) and the MSI routes. Lock held. */
static int commit_routes(struct kvm_vm *vm)
{
    size_t n = 0, max = 16 + 24 + (MAX_GSI - FIRST_MSI_GSI);
    struct kvm_irq_routing *t = calloc(1, sizeof(*t) + max * sizeof(t->entries[0]));
    int r;

    if (!t)
        return -ENOMEM;
    for (unsigned g = 0; g < 16; g++) {
        if (g == 2)
            continue;
        t->entries[n++] = (struct kvm_irq_routing_entry){
            .gsi = g, .type = KVM_IRQ_ROUTING_IRQCHIP,
            .u.irqchip = { .irqchip = g < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE,
                           .pin = g % 8 } };
    }
    for (unsigned g = 0; g < 24; g++)
        t->entries[n++] = (struct kvm_irq_routing_entry){
            .gsi = g, .type = KVM_IRQ_ROUTING_IRQCHIP,
            .u.irqchip = { .irqchip = KVM_IRQCHIP_IOAPIC, .pin = g } };
    for (unsigned i = 0; i < MAX_GSI - FIRST_MSI_GSI; i++)
        if (vm->msi_used[i] && vm->msi[i].type == KVM_IRQ_ROUTING_MSI)
            t->entries[n++] = vm->msi[i];
    t->nr = (uint32_t)n;
    r = xioctl(vm->fd, KVM_SET_GSI_ROUTING, t);
    free(t);
    return r < 0 ? r : 0;
}

static int host_gsi_alloc(void *ctx, unsigned *gsi)
{
    struct kvm_vm *vm = ctx;
    int r = -ENOSPC;

    pthread_mutex_lock(&vm->gsi_lock);
    if (vm->next_gsi < MAX_GSI) {
        *gsi = vm->next_gsi++;
        vm->msi_used[*gsi - FIRST_MSI_GSI] = true;
        r = 0;
    }
    pthread_mutex_unlock(&vm->gsi_lock);
    return r;
}

static int host_msi_route(void *ctx, unsigned gsi, uint64_t addr, uint32_t data)
{
    struct kvm_vm *vm = ctx;
    int r;

    if (gsi < FIRST_MSI_GSI || gsi >= MAX_GSI)
        return -EINVAL;
    pthread_mutex_lock(&vm->gsi_lock);
    vm->msi[gsi - FIRST_MSI_GSI] = (struct kvm_irq_routing_entry){
        .gsi = gsi, .type = KVM_IRQ_ROUTING_MSI,
        .u.msi = { .address_lo = (uint32_t)addr, .address_hi = (uint32_t)(addr >> 32),
                   .data = data } };
    r = commit_routes(vm);
    pthread_mutex_unlock(&vm->gsi_lock);
    return r;
}

static int host_irqfd(void *ctx, int fd, unsigned gsi, bool assign)
{
    struct kvm_vm *vm = ctx;
    struct kvm_irqfd i = { .fd = (uint32_t)fd, .gsi = gsi,
                           .flags = assign ? 0 : KVM_IRQFD_FLAG_DEASSIGN };

    return xioctl(vm->fd, KVM_IRQFD, &i);
}

static int host_ioeventfd(void *ctx, int fd, uint64_t addr, bool assign)
{
    struct kvm_vm *vm = ctx;
    struct kvm_ioeventfd e = { .addr = addr, .len = 2, .fd = fd,
                               .flags = assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN };

    return xioctl(vm->fd, KVM_IOEVENTFD, &e);
}

/* ---- console ------------------------------------------------------------ */

static void serial_irq(void *ctx, int level)
{
    struct kvm_vm *vm = ctx;
    struct kvm_irq_level l = { .irq = KVM_COM1_IRQ, .level = (uint32_t)level };

    (void)xioctl(vm->fd, KVM_IRQ_LINE, &l);
}

static void serial_out(void *ctx, const uint8_t *buf, size_t len)
{
    struct kvm_vm *vm = ctx;
    int fd = vm->con_listen >= 0 ? vm->con_client : vm->con_out;

    if (fd >= 0 && write(fd, buf, len) < 0 && vm->con_listen >= 0 && errno != EAGAIN) {
        /* The console client went away: keep running without one. */
        close_fd(&vm->con_client);
    }
}

/* ---- port I/O and MMIO -------------------------------------------------- */

static void pio(struct kvm_vm *vm, uint16_t port, uint8_t *data, unsigned len, bool write)
{
    uint16_t v16 = 0;

    if (port >= KVM_COM1_PORT && port < KVM_COM1_PORT + 8 && len == 1) {
        kvm_serial_io(vm->serial, port - KVM_COM1_PORT, data, write);
        return;
    }
    if (port == KVM_RESET_PORT && len == 1) {
        if (write && (data[0] & 0x04)) {
            log_info("guest reset (port 0xcf9)");
            vm_end(vm, RESET);
        } else if (!write) {
            data[0] = 0;
        }
        return;
    }
    if (kvm_pci_pio(&vm->pci, port, data, len, write))
        return;
    switch (port) {
    case 0x64:                               /* i8042 command/status */
        if (write && data[0] == 0xfe) {
            log_info("guest reset (i8042)");
            vm_end(vm, RESET);
        } else if (!write) {
            data[0] = 0;                     /* no data, input buffer empty */
        }
        return;
    case 0x60:
        if (!write)
            data[0] = 0;
        return;
    case KVM_ACPI_PM1A_CNT:
        if (write) {
            memcpy(&v16, data, MIN(len, 2u));
            if ((v16 & KVM_ACPI_SLP_EN) && KVM_ACPI_SLP_TYP(v16) == KVM_ACPI_S5) {
                log_info("guest powered off");
                vm_end(vm, POWEROFF);
            }
        } else {
            memset(data, 0, len);
            data[0] = 1;                     /* SCI_EN: ACPI mode */
        }
        return;
    case 0x70:
        if (write)
            vm->cmos_idx = data[0] & 0x7f;
        else
            data[0] = vm->cmos_idx;
        return;
    case 0x71:                               /* a CMOS with a valid, stopped clock */
        if (!write)
            data[0] = vm->cmos_idx == 0x0d ? 0x80 : vm->cmos_idx == 0x0b ? 0x02 : 0;
        return;
    default:
        if (port >= KVM_ACPI_PM1A_EVT && port < KVM_ACPI_PM1A_EVT + 4) {
            if (!write)
                memset(data, 0, len);
            return;
        }
        if (!write)
            memset(data, 0xff, len);         /* nothing there */
        return;
    }
}

static void mmio(struct kvm_vm *vm, uint64_t addr, uint8_t *data, unsigned len, bool write)
{
    if (kvm_pci_mmio(&vm->pci, addr, data, len, write))
        return;
    if (!write)
        memset(data, 0xff, len);
}

/* ---- vCPUs -------------------------------------------------------------- */

static void sig_noop(int sig) { (void)sig; }

static int setup_cpuid(struct kvm_vm *vm, struct vcpu *c)
{
    struct kvm_cpuid2 *cpuid;
    unsigned n = 256;
    int r;

    for (;;) {
        cpuid = calloc(1, sizeof(*cpuid) + n * sizeof(cpuid->entries[0]));
        if (!cpuid)
            return -ENOMEM;
        cpuid->nent = n;
        r = xioctl(vm->kvm, KVM_GET_SUPPORTED_CPUID, cpuid);
        if (r != -E2BIG)
            break;
        free(cpuid);
        n *= 2;
    }
    if (r == 0) {
        kvm_cpuid_filter(cpuid, c->id, vm->ncpus,
                         ioctl(vm->kvm, KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER) > 0);
        r = xioctl(c->fd, KVM_SET_CPUID2, cpuid);
    }
    free(cpuid);
    return r < 0 ? r : 0;
}

static int setup_msrs(struct vcpu *c)
{
    struct {
        struct kvm_msrs h;
        struct kvm_msr_entry e[4];
    } m;
    int r;

    memset(&m, 0, sizeof(m));
    m.e[0] = (struct kvm_msr_entry){ .index = 0x1a0, .data = 1 };        /* MISC_ENABLE: fast strings */
    m.e[1] = (struct kvm_msr_entry){ .index = 0x2ff, .data = 0x806 };    /* MTRR default: on, WB */
    /* The TSC is left to KVM, which keeps the vCPUs' TSCs synchronised. */
    m.h.nmsrs = 2;
    r = xioctl(c->fd, KVM_SET_MSRS, &m);
    if (r < 0)
        return r;
    return 0;   /* some MSRs may be refused (r < nmsrs): not fatal */
}

static int setup_bsp(struct kvm_vm *vm, struct vcpu *c)
{
    struct kvm_sregs s;
    struct kvm_regs regs;
    struct kvm_fpu fpu;
    struct kvm_segment code = { .base = 0, .limit = 0xffffffff, .selector = KVM_BOOT_CS,
                                .type = 11, .present = 1, .dpl = 0, .db = 0, .s = 1,
                                .l = 1, .g = 1 };
    struct kvm_segment data = code;
    int r;

    if ((r = xioctl(c->fd, KVM_GET_SREGS, &s)) < 0)
        return r;
    data.selector = KVM_BOOT_DS;
    data.type = 3;
    data.l = 0;
    data.db = 1;
    s.cs = code;
    s.ds = s.es = s.fs = s.gs = s.ss = data;
    s.tr = (struct kvm_segment){ .selector = 0x20, .limit = 0xfff, .type = 11, .present = 1 };
    s.gdt.base = KVM_GDT_ADDR;
    s.gdt.limit = 5 * 8 - 1;
    s.idt.base = 0;
    s.idt.limit = 0;
    s.cr0 = 0x80000031ull;          /* PG, NE, ET, PE */
    s.cr3 = KVM_PML4_ADDR;
    s.cr4 = 0x20;                   /* PAE */
    s.efer = 0x500;                 /* LMA, LME */
    if ((r = xioctl(c->fd, KVM_SET_SREGS, &s)) < 0)
        return r;
    memset(&regs, 0, sizeof(regs));
    regs.rflags = 2;
    regs.rip = vm->entry.rip;
    regs.rsi = vm->entry.rsi;
    if ((r = xioctl(c->fd, KVM_SET_REGS, &regs)) < 0)
        return r;
    memset(&fpu, 0, sizeof(fpu));
    fpu.fcw = 0x37f;
    fpu.mxcsr = 0x1f80;
    return xioctl(c->fd, KVM_SET_FPU, &fpu);
}

static const char *exit_name(uint32_t reason)
{
    switch (reason) {
    case KVM_EXIT_IO: return "IO";
    case KVM_EXIT_MMIO: return "MMIO";
    case KVM_EXIT_HLT: return "HLT";
    case KVM_EXIT_SHUTDOWN: return "SHUTDOWN";
    case KVM_EXIT_INTR: return "INTR";
    case KVM_EXIT_SYSTEM_EVENT: return "SYSTEM_EVENT";
    case KVM_EXIT_FAIL_ENTRY: return "FAIL_ENTRY";
    case KVM_EXIT_INTERNAL_ERROR: return "INTERNAL_ERROR";
    default: return "other";
    }
}

/* Log the vCPU's state (its own thread: KVM's vCPU ioctls wait for KVM_RUN
 * to return). @why says what asked. */
static void vcpu_dump(struct vcpu *c, const char *why)
{
    static const char *const mp[] = { "RUNNABLE", "UNINITIALIZED", "INIT_RECEIVED", "HALTED",
                                      "SIPI_RECEIVED", "STOPPED", "CHECK_STOP", "OPERATING",
                                      "LOAD" };
    struct kvm_regs g;
    struct kvm_sregs s;
    struct kvm_mp_state m = { .mp_state = ~0u };
    struct kvm_vcpu_events ev;
    uint32_t last = atomic_load(&c->last_exit);
    int rg, rs, re;

    memset(&ev, 0, sizeof(ev));
    rg = xioctl(c->fd, KVM_GET_REGS, &g);
    rs = xioctl(c->fd, KVM_GET_SREGS, &s);
    re = xioctl(c->fd, KVM_GET_VCPU_EVENTS, &ev);
    (void)xioctl(c->fd, KVM_GET_MP_STATE, &m);
    log_warn("vcpu%u state (%s): mp_state=%s exits=%llu last_exit=%s(%u)", c->id, why,
             m.mp_state < ARRAY_SIZE(mp) ? mp[m.mp_state] : "?",
             (unsigned long long)atomic_load(&c->exits), exit_name(last), last);
    if (rg == 0)
        log_warn("vcpu%u regs: rip=%016llx rsp=%016llx rflags=%08llx rax=%016llx rbx=%016llx "
                 "rcx=%016llx rdx=%016llx rsi=%016llx rdi=%016llx rbp=%016llx", c->id,
                 (unsigned long long)g.rip, (unsigned long long)g.rsp, (unsigned long long)g.rflags,
                 (unsigned long long)g.rax, (unsigned long long)g.rbx, (unsigned long long)g.rcx,
                 (unsigned long long)g.rdx, (unsigned long long)g.rsi, (unsigned long long)g.rdi,
                 (unsigned long long)g.rbp);
    if (rs == 0)
        log_warn("vcpu%u sregs: cs=%04x(dpl %u) cr0=%llx cr2=%llx cr3=%llx cr4=%llx efer=%llx "
                 "apic_base=%llx idt=%llx/%x", c->id, s.cs.selector, s.cs.dpl,
                 (unsigned long long)s.cr0, (unsigned long long)s.cr2, (unsigned long long)s.cr3,
                 (unsigned long long)s.cr4, (unsigned long long)s.efer,
                 (unsigned long long)s.apic_base, (unsigned long long)s.idt.base, s.idt.limit);
    if (re == 0)
        log_warn("vcpu%u events: exception %s nr=%u, interrupt %s nr=%u, nmi pending=%u masked=%u, "
                 "interrupt shadow=%u", c->id, ev.exception.injected ? "injected" : "none",
                 ev.exception.nr, ev.interrupt.injected ? "injected" : "none", ev.interrupt.nr,
                 ev.nmi.pending, ev.nmi.masked, ev.interrupt.shadow);
}

static void *vcpu_thread(void *arg)
{
    struct vcpu *c = arg;
    struct kvm_vm *vm = c->vm;
    struct kvm_run *run = c->run;
    char name[16];

    snprintf(name, sizeof(name), "vcpu%u", c->id);
    pthread_setname_np(pthread_self(), name);
    while (!atomic_load(&vm->quit)) {
        int r;
        if (atomic_exchange(&c->dump_req, false))
            vcpu_dump(c, "asked");
        r = ioctl(c->fd, KVM_RUN, 0);
        atomic_fetch_add(&c->exits, 1);
        if (r < 0) {
            if (errno == EINTR || errno == EAGAIN) {
                run->immediate_exit = 0;
                continue;
            }
            log_err("vcpu%u: KVM_RUN: %s", c->id, strerror(errno));
            vm_end(vm, FAILED);
            break;
        }
        atomic_store(&c->last_exit, run->exit_reason);
        switch (run->exit_reason) {
        case KVM_EXIT_IO: {
            uint8_t *p = (uint8_t *)run + run->io.data_offset;
            for (uint32_t i = 0; i < run->io.count; i++, p += run->io.size)
                pio(vm, run->io.port, p, run->io.size, run->io.direction == KVM_EXIT_IO_OUT);
            break;
        }
        case KVM_EXIT_MMIO:
            mmio(vm, run->mmio.phys_addr, run->mmio.data, run->mmio.len, run->mmio.is_write);
            break;
        case KVM_EXIT_HLT:
            /* Only without an in-kernel LAPIC; treat like the end of a program. */
            log_info("vcpu%u halted", c->id);
            vm_end(vm, POWEROFF);
            break;
        case KVM_EXIT_SHUTDOWN:
            /* A triple fault: the guest crashed (Linux reboots through the
             * ACPI reset register, port 0xcf9 or the i8042, never this way
             * while those work). A failure, not a reboot. */
            log_err("vcpu%u: triple fault: the guest crashed", c->id);
            vcpu_dump(c, "triple fault");
            vm_end(vm, FAILED);
            break;
        case KVM_EXIT_SYSTEM_EVENT:
            vm_end(vm, run->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN ? POWEROFF : RESET);
            break;
        case KVM_EXIT_INTR:
            break;
        case KVM_EXIT_FAIL_ENTRY:
            log_err("vcpu%u: entry failed, reason 0x%llx", c->id,
                    (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
            vm_end(vm, FAILED);
            break;
        case KVM_EXIT_INTERNAL_ERROR:
            log_err("vcpu%u: KVM internal error %u", c->id, run->internal.suberror);
            vm_end(vm, FAILED);
            break;
        default:
            log_err("vcpu%u: unhandled exit %u", c->id, run->exit_reason);
            vm_end(vm, FAILED);
            break;
        }
        if (atomic_load(&vm->state) != RUNNING)
            break;
    }
    return NULL;
}

/* ---- construction ------------------------------------------------------- */

static int read_file(const char *path, uint8_t **buf, size_t *len)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC), r = 0;
    size_t off = 0;

    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        r = fd < 0 ? -errno : -EINVAL;
        close(fd);
        return r;
    }
    *buf = malloc((size_t)st.st_size + 1);
    if (!*buf) {
        close(fd);
        return -ENOMEM;
    }
    while (off < (size_t)st.st_size) {
        ssize_t n = read(fd, *buf + off, (size_t)st.st_size - off);
        if (n <= 0) {
            r = n < 0 ? -errno : -EIO;
            break;
        }
        off += (size_t)n;
    }
    close(fd);
    if (r < 0) {
        free(*buf);
        *buf = NULL;
        return r;
    }
    *len = off;
    return 0;
}

static int check_caps(struct kvm_vm *vm, struct sl_err *err)
{
    static const struct { int cap; const char *name; } caps[] = {
        { KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP" },
        { KVM_CAP_PIT2, "KVM_CAP_PIT2" },
        { KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
        { KVM_CAP_IRQFD, "KVM_CAP_IRQFD" },
        { KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD" },
        { KVM_CAP_IRQ_ROUTING, "KVM_CAP_IRQ_ROUTING" },
        { KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" },
        { KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
    };
    int v = ioctl(vm->kvm, KVM_GET_API_VERSION, 0);

    if (v != KVM_API_VERSION)
        return err_set(err, -ENOTSUP, "KVM API version %d, need %d", v, KVM_API_VERSION);
    for (size_t i = 0; i < ARRAY_SIZE(caps); i++) {
        if (ioctl(vm->kvm, KVM_CHECK_EXTENSION, caps[i].cap) <= 0)
            return err_set(err, -ENOTSUP, "/dev/kvm lacks %s", caps[i].name);
    }
    return 0;
}

static int setup_memory(struct kvm_vm *vm, uint64_t size)
{
    struct kvm_userspace_memory_region r0 = { .slot = 0 }, r1 = { .slot = 1 };
    void *p;
    int r;

    vm->memfd = memfd_create("sluice-guest-ram", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (vm->memfd < 0)
        return -errno;
    /* Sealed against resizing, as QEMU's memfd backend is: the backends we
     * hand this fd to can rely on it never shrinking under them. */
    if (ftruncate(vm->memfd, (off_t)size) < 0 ||
        fcntl(vm->memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
        return -errno;
    p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, vm->memfd, 0);
    if (p == MAP_FAILED)
        return -errno;
    kvm_guest_mem_init(&vm->mem, p, size);
    (void)madvise(p, size, MADV_MERGEABLE);
    r0.guest_phys_addr = 0;
    r0.memory_size = vm->mem.low;
    r0.userspace_addr = (uint64_t)(uintptr_t)p;
    if ((r = xioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &r0)) < 0)
        return r;
    if (size > vm->mem.low) {
        r1.guest_phys_addr = KVM_HIGH_RAM;
        r1.memory_size = size - vm->mem.low;
        r1.userspace_addr = (uint64_t)(uintptr_t)p + vm->mem.low;
        if ((r = xioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &r1)) < 0)
            return r;
    }
    return 0;
}

static int setup_console(struct kvm_vm *vm, const struct kvm_vm_config *cfg, struct sl_err *err)
{
    vm->con_in = vm->con_out = vm->con_listen = vm->con_client = -1;
    switch (cfg->console) {
    case KVM_CONSOLE_STDIO:
        vm->con_in = STDIN_FILENO;
        vm->con_out = STDOUT_FILENO;
        break;
    case KVM_CONSOLE_FD:
        vm->con_in = cfg->console_in;
        vm->con_out = cfg->console_out;
        break;
    case KVM_CONSOLE_SOCKET: {
        /* A socket another process listens on is left alone; a stale one
         * is replaced. */
        int r = usock_listen(cfg->console_path, 1, SOCK_NONBLOCK, &vm->con_listen);
        if (r < 0)
            return err_set(err, r, "console socket %s: %s",
                           cfg->console_path ? cfg->console_path : "", usock_strerror(r));
        vm->con_path = strdup(cfg->console_path);
        break;
    }
    }
    return kvm_serial_create(serial_irq, serial_out, vm, &vm->serial);
}

static int add_vdev(struct kvm_vm *vm, enum kvm_vpci_type type, const char *sock,
                    const uint8_t *mac, unsigned idx, struct sl_err *err)
{
    struct vuf_region reg[2];
    struct kvm_vpci_config vc = { 0 };
    struct vuf *f = NULL;
    char name[64];
    unsigned n = 0;
    int r;

    snprintf(name, sizeof(name), "%s%u", type == KVM_VPCI_BLK ? "disk" : "net", idx);
    r = vuf_connect(sock, 5000, &f);
    if (r < 0)
        return err_set(err, r, "%s: backend socket %s: %s", name, sock,
                       r == -EPROTO ? "the backend misbehaved" : strerror(-r));
    reg[n++] = (struct vuf_region){ .gpa = 0, .size = vm->mem.low, .hva = vm->mem.hva,
                                    .fd = vm->memfd, .offset = 0 };
    if (vm->mem.size > vm->mem.low)
        reg[n++] = (struct vuf_region){ .gpa = KVM_HIGH_RAM, .size = vm->mem.size - vm->mem.low,
                                        .hva = vm->mem.hva + vm->mem.low, .fd = vm->memfd,
                                        .offset = vm->mem.low };
    vc.type = type;
    vc.vuf = f;
    vc.regions = reg;
    vc.nregions = n;
    vc.max_queues = vm->ncpus;
    vc.host = &vm->host;
    vc.name = name;
    if (mac)
        memcpy(vc.mac, mac, 6);
    r = kvm_vpci_create(&vc, &vm->vdev[vm->nvdev]);
    if (r < 0)
        return err_set(err, r, "%s: %s: %s", name, sock, strerror(-r));
    r = kvm_pci_add(&vm->pci, kvm_vpci_pci_dev(vm->vdev[vm->nvdev]));
    vm->nvdev++;
    if (r < 0)
        return err_set(err, r, "%s: no free PCI slot", name);
    return 0;
}

static int load_guest(struct kvm_vm *vm, const struct kvm_vm_config *cfg, struct sl_err *err)
{
    uint8_t *k = NULL, *i = NULL;
    size_t klen = 0, ilen = 0;
    char *cl = NULL;
    int r;

    if (cfg->raw)
        return kvm_boot_raw(&vm->mem, cfg->raw, cfg->raw_len, &vm->entry);
    if ((r = read_file(cfg->kernel, &k, &klen)) < 0)
        return err_set(err, r, "kernel %s: %s", cfg->kernel, strerror(-r));
    if (cfg->initrd && (r = read_file(cfg->initrd, &i, &ilen)) < 0) {
        err_set(err, r, "initrd %s: %s", cfg->initrd, strerror(-r));
        goto out;
    }
    if (asprintf(&cl, "%s %s", PLATFORM_CMDLINE, cfg->cmdline ? cfg->cmdline : "") < 0) {
        r = -ENOMEM;
        cl = NULL;
        goto out;
    }
    r = kvm_boot_linux(&vm->mem, k, klen, i, ilen, cl, &vm->entry);
    switch (r) {
    case 0: break;
    case -ENOEXEC: err_set(err, r, "kernel %s: not a bzImage", cfg->kernel); break;
    case -ENOTSUP:
        err_set(err, r, "kernel %s: bzImage without the 64-bit boot protocol (2.12+)", cfg->kernel);
        break;
    case -ENAMETOOLONG: err_set(err, r, "kernel command line too long"); break;
    case -ENOMEM:
        err_set(err, r, "memory too small for the kernel and initrd (%llu MiB)",
             (unsigned long long)(vm->mem.size >> 20));
        break;
    default: err_set(err, r, "loading the kernel: %s", strerror(-r)); break;
    }
out:
    free(k);
    free(i);
    free(cl);
    return r;
}

int kvm_vm_create(const struct kvm_vm_config *cfg, struct kvm_vm **out, struct sl_err *err)
{
    const char *kvm_path = cfg->kvm_path ? cfg->kvm_path : "/dev/kvm";
    struct kvm_pit_config pit = { .flags = 0 };
    uint8_t *acpi;
    struct kvm_vm *vm;
    int r;

    if (cfg->cpus == 0 || cfg->cpus > KVM_VM_MAX_CPUS)
        return err_set(err, -EINVAL, "--cpus must be 1..%u", KVM_VM_MAX_CPUS);
    if (!cfg->raw && !cfg->kernel)
        return err_set(err, -EINVAL, "no kernel given");
    if (cfg->mem_size % (2u << 20) || (!cfg->raw && cfg->mem_size < KVM_VM_MIN_MEM) ||
        cfg->mem_size < (16u << 20))
        return err_set(err, -ENOMEM, "memory must be a multiple of 2 MiB and at least %llu MiB",
                       cfg->raw ? 16ull : (unsigned long long)(KVM_VM_MIN_MEM >> 20));
    if (cfg->ndisks > KVM_VM_MAX_DEVS || cfg->nnics > KVM_VM_MAX_DEVS)
        return err_set(err, -EINVAL, "at most %u disks and %u NICs", KVM_VM_MAX_DEVS,
                       KVM_VM_MAX_DEVS);
    vm = calloc(1, sizeof(*vm));
    if (!vm)
        return -ENOMEM;
    vm->kvm = vm->fd = vm->memfd = vm->stop_fd = vm->dump_fd = -1;
    vm->con_in = vm->con_out = vm->con_listen = vm->con_client = -1;
    vm->ncpus = cfg->cpus;
    vm->next_gsi = FIRST_MSI_GSI;
    pthread_mutex_init(&vm->gsi_lock, NULL);
    for (unsigned i = 0; i < KVM_VM_MAX_CPUS; i++)
        vm->cpus[i].fd = -1;
    atomic_store(&vm->state, RUNNING);
    vm->host = (struct kvm_vpci_host){ host_gsi_alloc, host_msi_route, host_irqfd,
                                       host_ioeventfd, vm };

    vm->kvm = open(kvm_path, O_RDWR | O_CLOEXEC);
    if (vm->kvm < 0) {
        r = -errno;
        err_set(err, r, "%s: %s", kvm_path, strerror(-r));
        goto fail;
    }
    if ((r = check_caps(vm, err)) < 0)
        goto fail;
    vm->fd = ioctl(vm->kvm, KVM_CREATE_VM, 0);
    if (vm->fd < 0) {
        r = -errno;
        err_set(err, r, "KVM_CREATE_VM: %s", strerror(-r));
        goto fail;
    }
    vm->run_size = (size_t)ioctl(vm->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    (void)ioctl(vm->fd, KVM_SET_TSS_ADDR, 0xfffbd000ul);
    {
        uint64_t idmap = 0xfffbc000ull;
        (void)ioctl(vm->fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap);
    }
    if ((r = xioctl(vm->fd, KVM_CREATE_IRQCHIP, NULL)) < 0 ||
        (r = xioctl(vm->fd, KVM_CREATE_PIT2, &pit)) < 0) {
        err_set(err, r, "in-kernel irqchip/PIT: %s", strerror(-r));
        goto fail;
    }
    if ((r = setup_memory(vm, cfg->mem_size)) < 0) {
        err_set(err, r, "guest memory (%llu MiB): %s", (unsigned long long)(cfg->mem_size >> 20),
             strerror(-r));
        goto fail;
    }
    if ((r = load_guest(vm, cfg, err)) < 0)
        goto fail;
    acpi = kvm_gpa_ptr(&vm->mem, KVM_ACPI_ADDR, KVM_ACPI_SIZE);
    if ((r = kvm_acpi_build(acpi, KVM_ACPI_SIZE, KVM_ACPI_ADDR, vm->ncpus)) < 0) {
        err_set(err, r, "ACPI tables: %s", strerror(-r));
        goto fail;
    }
    pthread_mutex_lock(&vm->gsi_lock);
    r = commit_routes(vm);
    pthread_mutex_unlock(&vm->gsi_lock);
    if (r < 0) {
        err_set(err, r, "KVM_SET_GSI_ROUTING: %s", strerror(-r));
        goto fail;
    }
    if ((r = kvm_pci_init(&vm->pci, KVM_PCI_MMIO_BASE)) < 0)
        goto fail;
    vm->pci_ready = true;
    for (unsigned i = 0; i < cfg->ndisks; i++)
        if ((r = add_vdev(vm, KVM_VPCI_BLK, cfg->disks[i], NULL, i, err)) < 0)
            goto fail;
    for (unsigned i = 0; i < cfg->nnics; i++)
        if ((r = add_vdev(vm, KVM_VPCI_NET, cfg->nics[i].socket, cfg->nics[i].mac, i, err)) < 0)
            goto fail;
    if ((r = setup_console(vm, cfg, err)) < 0)
        goto fail;
    vm->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    vm->dump_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (vm->stop_fd < 0 || vm->dump_fd < 0) {
        r = -errno;
        goto fail;
    }
    for (unsigned i = 0; i < vm->ncpus; i++) {
        struct vcpu *c = &vm->cpus[i];
        c->vm = vm;
        c->id = i;
        c->fd = ioctl(vm->fd, KVM_CREATE_VCPU, (unsigned long)i);
        if (c->fd < 0) {
            r = -errno;
            err_set(err, r, "KVM_CREATE_VCPU %u: %s", i, strerror(-r));
            goto fail;
        }
        c->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, c->fd, 0);
        if (c->run == MAP_FAILED) {
            c->run = NULL;
            r = -errno;
            goto fail;
        }
        if ((r = setup_cpuid(vm, c)) < 0 || (r = setup_msrs(c)) < 0 ||
            (i == 0 && (r = setup_bsp(vm, c)) < 0)) {
            err_set(err, r, "vCPU %u setup: %s", i, strerror(-r));
            goto fail;
        }
    }
    *out = vm;
    return 0;
fail:
    kvm_vm_destroy(vm);
    return r;
}

/* ---- event thread ------------------------------------------------------- */

static void console_input(struct kvm_vm *vm, int fd)
{
    uint8_t buf[256];
    ssize_t n = read(fd, buf, sizeof(buf));

    if (n > 0) {
        kvm_serial_input(vm->serial, buf, (size_t)n);
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        if (fd == vm->con_client)
            close_fd(&vm->con_client);
        else
            vm->con_in = -1;           /* stdin closed: no more input */
    }
}

/* A state dump was asked for: each vCPU logs its own state (kicked out of
 * KVM_RUN by SIGUSR1); one that has not answered within 2 s is named, with
 * what it last did (stuck in the kernel or in the VMM: see its thread's
 * /proc/PID/task/TID/stack). */
static void dump_vcpus(struct kvm_vm *vm)
{
    eventfd_t v;

    (void)eventfd_read(vm->dump_fd, &v);
    log_warn("state dump asked: %u vCPU(s), VM state %d", vm->ncpus, atomic_load(&vm->state));
    for (unsigned i = 0; i < vm->ncpus; i++) {
        if (!vm->cpus[i].started)
            continue;
        atomic_store(&vm->cpus[i].dump_req, true);
        vm->cpus[i].run->immediate_exit = 1;
        pthread_kill(vm->cpus[i].thr, SIGUSR1);
    }
    for (int t = 0; t < 200; t++) {
        bool all = true;
        for (unsigned i = 0; i < vm->ncpus; i++)
            all = all && !atomic_load(&vm->cpus[i].dump_req);
        if (all)
            return;
        usleep(10000);
    }
    for (unsigned i = 0; i < vm->ncpus; i++)
        if (atomic_load(&vm->cpus[i].dump_req))
            log_warn("vcpu%u did not answer within 2 s: exits=%llu, last_exit=%s(%u)", i,
                     (unsigned long long)atomic_load(&vm->cpus[i].exits),
                     exit_name(atomic_load(&vm->cpus[i].last_exit)),
                     atomic_load(&vm->cpus[i].last_exit));
}

int kvm_vm_run(struct kvm_vm *vm, int *status)
{
    struct sigaction sa = { .sa_handler = sig_noop };
    int r = 0;

    sigaction(SIGUSR1, &sa, NULL);
    for (unsigned i = 0; i < vm->ncpus; i++) {
        if ((r = -pthread_create(&vm->cpus[i].thr, NULL, vcpu_thread, &vm->cpus[i])) < 0) {
            vm_end(vm, FAILED);
            break;
        }
        vm->cpus[i].started = true;
    }
    while (atomic_load(&vm->state) == RUNNING) {
        struct pollfd p[5 + 2 * KVM_VM_MAX_DEVS];
        int idx[5 + 2 * KVM_VM_MAX_DEVS];
        int n = 0, timeout = -1;

        p[n] = (struct pollfd){ .fd = vm->stop_fd, .events = POLLIN }; idx[n++] = -1;
        p[n] = (struct pollfd){ .fd = vm->dump_fd, .events = POLLIN }; idx[n++] = -5;
        if (vm->con_listen >= 0 && vm->con_client < 0) {
            p[n] = (struct pollfd){ .fd = vm->con_listen, .events = POLLIN }; idx[n++] = -2;
        }
        if (vm->con_client >= 0) {
            p[n] = (struct pollfd){ .fd = vm->con_client, .events = POLLIN }; idx[n++] = -3;
        }
        if (vm->con_in >= 0) {
            p[n] = (struct pollfd){ .fd = vm->con_in, .events = POLLIN }; idx[n++] = -4;
        }
        for (unsigned d = 0; d < vm->nvdev; d++) {
            if (vm->vdev_lost[d]) {
                timeout = 200;
                continue;
            }
            p[n] = (struct pollfd){ .fd = kvm_vpci_backend_fd(vm->vdev[d]), .events = POLLRDHUP };
            idx[n++] = (int)d;
        }
        if (poll(p, (nfds_t)n, timeout) < 0 && errno != EINTR) {
            r = -errno;
            break;
        }
        for (int i = 0; i < n; i++) {
            if (!p[i].revents)
                continue;
            if (idx[i] == -5) {
                dump_vcpus(vm);
            } else if (idx[i] == -2) {
                vm->con_client = accept4(vm->con_listen, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
            } else if (idx[i] == -3 || idx[i] == -4) {
                console_input(vm, p[i].fd);
            } else if (idx[i] >= 0) {
                log_warn("backend of device %d hung up; reconnecting", idx[i]);
                vm->vdev_lost[idx[i]] = true;
            }
        }
        for (unsigned d = 0; d < vm->nvdev; d++) {
            if (!vm->vdev_lost[d])
                continue;
            pthread_mutex_lock(&vm->pci.lock);
            if (kvm_vpci_reconnect(vm->vdev[d]) == 0)
                vm->vdev_lost[d] = false;
            pthread_mutex_unlock(&vm->pci.lock);
        }
    }
    atomic_store(&vm->quit, true);
    for (unsigned i = 0; i < vm->ncpus; i++) {
        if (!vm->cpus[i].started)
            continue;
        vm->cpus[i].run->immediate_exit = 1;
        pthread_kill(vm->cpus[i].thr, SIGUSR1);
    }
    for (unsigned i = 0; i < vm->ncpus; i++) {
        if (vm->cpus[i].started)
            pthread_join(vm->cpus[i].thr, NULL);
        vm->cpus[i].started = false;
    }
    switch (atomic_load(&vm->state)) {
    case POWEROFF: case RESET: *status = 0; break;
    default: *status = 1; break;
    }
    return r;
}

uint64_t kvm_vm_mem_size(const struct kvm_vm *vm) { return vm->mem.size; }

void kvm_vm_destroy(struct kvm_vm *vm)
{
    if (!vm)
        return;
    for (unsigned i = 0; i < vm->nvdev; i++)
        kvm_vpci_destroy(vm->vdev[i]);
    for (unsigned i = 0; i < KVM_VM_MAX_CPUS; i++) {
        if (vm->cpus[i].run)
            munmap(vm->cpus[i].run, vm->run_size);
        close_fd(&vm->cpus[i].fd);
    }
    if (vm->pci_ready)
        kvm_pci_fini(&vm->pci);
    kvm_serial_destroy(vm->serial);
    close_fd(&vm->con_client);
    usock_close(vm->con_path, &vm->con_listen);
    free(vm->con_path);
    if (vm->mem.hva)
        munmap(vm->mem.hva, vm->mem.size);
    close_fd(&vm->memfd);
    close_fd(&vm->stop_fd);
    close_fd(&vm->dump_fd);
    close_fd(&vm->fd);
    close_fd(&vm->kvm);
    pthread_mutex_destroy(&vm->gsi_lock);
    free(vm);
}
