/* SPDX-License-Identifier: Apache-2.0 */
/* A KVM virtual machine: guest RAM in a memfd (shared with vhost-user
 * backends), vCPU threads, the in-kernel IOAPIC/PIC/LAPIC and PIT, the
 * platform devices (8250 console, i8042 reset, ACPI poweroff register, PCI
 * bus) and virtio-pci devices served by vhost-user backends.
 *
 * Threads: one per vCPU (KVM_RUN and the exits it handles) and the caller's
 * thread in kvm_vm_run(), which is the event thread (console input, backend
 * hang-ups and reconnection). */
#ifndef SLUICE_VMM_VM_H
#define SLUICE_VMM_VM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define KVM_VM_MAX_DEVS 8
#define KVM_VM_MAX_CPUS 64
#define KVM_VM_MIN_MEM  (128ull << 20)    /* for a Linux guest */

enum kvm_console { KVM_CONSOLE_STDIO, KVM_CONSOLE_SOCKET, KVM_CONSOLE_FD };

struct kvm_vm_nic {
    const char *socket;
    uint8_t mac[6];
};

struct kvm_vm_config {
    const char *kernel;           /* bzImage path */
    const char *initrd;           /* NULL: none */
    const char *cmdline;          /* the user's; platform options are prepended */
    const uint8_t *raw;           /* instead of a kernel: a flat 64-bit program
                                   * (tests); raw_len bytes */
    size_t raw_len;
    unsigned cpus;                /* 1..KVM_VM_MAX_CPUS */
    uint64_t mem_size;            /* bytes, multiple of 2 MiB */
    const char *disks[KVM_VM_MAX_DEVS];
    unsigned ndisks;
    struct kvm_vm_nic nics[KVM_VM_MAX_DEVS];
    unsigned nnics;
    enum kvm_console console;
    const char *console_path;     /* KVM_CONSOLE_SOCKET: listen here */
    int console_in, console_out;  /* KVM_CONSOLE_FD (in may be -1) */
    const char *kvm_path;         /* NULL: /dev/kvm */
};

struct kvm_vm;

/* Build the VM: check /dev/kvm and its capabilities, map memory, load the
 * kernel, connect every backend, create vCPUs (not yet running). On failure
 * @err gets a one-line reason for the user. Returns 0 or: -ENOENT (no
 * /dev/kvm, kernel, initrd or backend socket), -ENOTSUP (KVM lacks a
 * capability), -ENOEXEC (not a bzImage), -ENOMEM (memory too small or
 * unavailable), -ECONNREFUSED (backend not listening), -EPROTO (backend
 * misbehaves), -EINVAL (bad config) or another -errno. */
int kvm_vm_create(const struct kvm_vm_config *cfg, struct kvm_vm **out, struct sl_err *err);

/* Run until the guest powers off or resets. *status: 0 for poweroff and
 * reset (reboot through the ACPI reset register, port 0xcf9 or the i8042),
 * 1 when a vCPU failed (a triple fault: the guest crashed; a KVM internal
 * error or failed entry).
 * Returns 0 or -errno (the VM could not run). */
int kvm_vm_run(struct kvm_vm *vm, int *status);

/* Ask a running VM to stop (any thread, async-signal-safe); kvm_vm_run then
 * returns with *status 1. */
void kvm_vm_stop(struct kvm_vm *vm);

/* Ask a running VM to log each vCPU's state (registers, special registers,
 * pending events, mp_state, exit count and last exit) at warning level;
 * a vCPU that does not answer within 2 s is named. Any thread,
 * async-signal-safe (sluice-vmm calls it on SIGUSR2); NULL-safe. */
void kvm_vm_dump_request(struct kvm_vm *vm);

/* NULL-safe; safe on a half-built VM. */
void kvm_vm_destroy(struct kvm_vm *vm);

/* Guest RAM size and the VMM's own memory use are for benchmarks. */
uint64_t kvm_vm_mem_size(const struct kvm_vm *vm);

#endif
