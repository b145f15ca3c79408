/* SPDX-License-Identifier: Apache-2.0 */
/* sluice-vmm: a lean KVM VMM; disks and NICs are vhost-user devices. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mac.h"
#include "core/sandbox.h"
#include "core/opts.h"
#include "vmm/vm.h"

static struct kvm_vm *g_vm;

static void usage(FILE *f)
{
    fprintf(f,
"usage: sluice-vmm --kernel FILE [options]\n"
"  --kernel FILE          Linux bzImage (x86 64-bit boot protocol)\n"
"  --initrd FILE          initial ramdisk\n"
"  --cmdline STR          kernel command line (\"pci=lastbus=1\" is prepended)\n"
"  --cpus N               vCPUs (default 1)\n"
"  --memory SIZE          guest RAM, e.g. 512M, 2G (default 512M, at least 128M)\n"
"  --disk socket=PATH     a virtio-blk disk served by a vhost-user backend (repeatable)\n"
"  --net socket=PATH[,mac=MAC]  a virtio-net NIC served by a vhost-user backend (repeatable)\n"
"  --console stdio|socket=PATH  the serial console (default stdio)\n"
"  --seccomp MODE         enforce (default: a system call outside the allowlist is\n"
"                         logged and fails with EPERM), kill (logged, then exit), off\n"
"  --verbose              log more\n"
"  --help, --version\n"
"Exit status: 0 when the guest powers off (or reboots), 1 on failure (a file\n"
"or backend socket that cannot be used included), 2 on usage errors.\n");
}

static void on_signal(int sig)
{
    (void)sig;
    if (g_vm)
        kvm_vm_stop(g_vm);
}

/* SIGUSR2: each vCPU's state to the log (stderr), for a guest that hangs. */
static void on_dump(int sig)
{
    (void)sig;
    kvm_vm_dump_request(g_vm);
}

/* What the command line asks for; cfg's device strings point into o[]. */
struct args {
    struct kvm_vm_config cfg;
    struct opts o[2 * KVM_VM_MAX_DEVS];
    unsigned no;
    bool verbose;
    enum sandbox_mode sandbox;
};

/* --memory SIZE, rounded up to 2 MiB. Returns 0 or -EINVAL (reported). */
static int parse_memory(const char *arg, struct kvm_vm_config *cfg)
{
    uint64_t u;

    if (parse_size(arg, &u) < 0 || u == 0) {
        fprintf(stderr, "sluice-vmm: --memory: bad size '%s'\n", arg);
        return -EINVAL;
    }
    if (u < KVM_VM_MIN_MEM) {
        fprintf(stderr, "sluice-vmm: --memory: %s is too little; a Linux guest needs at least %lluM\n",
                arg, (unsigned long long)(KVM_VM_MIN_MEM >> 20));
        return -EINVAL;
    }
    cfg->mem_size = (u + (2u << 20) - 1) & ~(uint64_t)((2u << 20) - 1);
    return 0;
}

/* --disk (@c 'd') or --net (@c 'N') socket=PATH[,mac=MAC]. Returns 0 or
 * -EINVAL (reported). */
static int parse_device(int c, const char *arg, struct args *a)
{
    struct kvm_vm_config *cfg = &a->cfg;
    const char *what = c == 'd' ? "disk" : "net";
    const char *bad = NULL, *v;
    struct sl_err err = ERR_INIT;

    if (a->no == 2 * KVM_VM_MAX_DEVS || (c == 'd' ? cfg->ndisks : cfg->nnics) == KVM_VM_MAX_DEVS) {
        fprintf(stderr, "sluice-vmm: too many devices\n");
        return -EINVAL;
    }
    if (opts_parse(arg, &a->o[a->no], &bad) < 0) {
        fprintf(stderr, "sluice-vmm: --%s %s: %s\n", what, arg, bad ? bad : "malformed");
        return -EINVAL;
    }
    struct opts *o = &a->o[a->no++];
    v = opts_get(o, "socket");
    if (!v || !*v) {
        fprintf(stderr, "sluice-vmm: --%s: socket=PATH is required\n", what);
        return -EINVAL;
    }
    if (c == 'd') {
        cfg->disks[cfg->ndisks++] = v;
    } else {
        struct kvm_vm_nic *nic = &cfg->nics[cfg->nnics];
        const char *mac = opts_get(o, "mac");
        nic->socket = v;
        if (mac) {
            if (mac_parse(mac, nic->mac, &err) < 0) {
                fprintf(stderr, "sluice-vmm: --net: bad mac '%s': mac %s\n", mac, err.msg);
                return -EINVAL;
            }
        } else {
            /* Locally administered, unique enough per process and NIC. */
            unsigned pid = (unsigned)getpid();
            uint8_t def[6] = { 0x52, 0x54, 0x00, (uint8_t)(pid >> 8), (uint8_t)pid,
                               (uint8_t)cfg->nnics };
            memcpy(nic->mac, def, 6);
        }
        cfg->nnics++;
    }
    if (opts_unused(o)) {
        fprintf(stderr, "sluice-vmm: --%s: unknown option '%s'\n", what, opts_unused(o));
        return -EINVAL;
    }
    return 0;
}

/* Parse the options into @a. Returns -1 to go on, or the exit status (help,
 * version, usage errors). The caller frees a->o[] either way. */
static int parse_args(int argc, char **argv, struct args *a)
{
    static const struct option longopts[] = {
        { "kernel", required_argument, NULL, 'k' },
        { "initrd", required_argument, NULL, 'i' },
        { "cmdline", required_argument, NULL, 'c' },
        { "cpus", required_argument, NULL, 'n' },
        { "memory", required_argument, NULL, 'm' },
        { "disk", required_argument, NULL, 'd' },
        { "net", required_argument, NULL, 'N' },
        { "console", required_argument, NULL, 'C' },
        { "verbose", no_argument, NULL, 'v' },
        { "seccomp", required_argument, NULL, 'S' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 },
    };
    struct kvm_vm_config *cfg = &a->cfg;
    int c;

    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'k': cfg->kernel = optarg; break;
        case 'i': cfg->initrd = optarg; break;
        case 'c': cfg->cmdline = optarg; break;
        case 'n': {
            uint64_t n;
            if (parse_uint(optarg, 1, KVM_VM_MAX_CPUS, &n) < 0) {
                fprintf(stderr, "sluice-vmm: --cpus: must be 1..%u\n", KVM_VM_MAX_CPUS);
                return 2;
            }
            cfg->cpus = (unsigned)n;
            break;
        }
        case 'm':
            if (parse_memory(optarg, cfg) < 0)
                return 2;
            break;
        case 'd':
        case 'N':
            if (parse_device(c, optarg, a) < 0)
                return 2;
            break;
        case 'C':
            if (!strcmp(optarg, "stdio")) {
                cfg->console = KVM_CONSOLE_STDIO;
            } else if (!strncmp(optarg, "socket=", 7) && optarg[7]) {
                cfg->console = KVM_CONSOLE_SOCKET;
                cfg->console_path = optarg + 7;
            } else {
                fprintf(stderr, "sluice-vmm: --console: stdio or socket=PATH\n");
                return 2;
            }
            break;
        case 'v': a->verbose = true; break;
        case 'S':
            if (sandbox_parse_mode(optarg, &a->sandbox) < 0) {
                fprintf(stderr, "sluice-vmm: --seccomp: expected enforce, kill or off, not '%s'\n", optarg);
                return 2;
            }
            break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("sluice-vmm %s\n", SLUICE_VERSION); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc || !cfg->kernel) {
        if (optind < argc)
            fprintf(stderr, "sluice-vmm: unexpected argument '%s'\n", argv[optind]);
        else
            fprintf(stderr, "sluice-vmm: --kernel is required\n");
        usage(stderr);
        return 2;
    }
    /* An empty file name is a usage error; a name of a missing or unreadable
     * file is a failure (1), found when the VM is built. */
    if (!*cfg->kernel || (cfg->initrd && !*cfg->initrd)) {
        fprintf(stderr, "sluice-vmm: --%s: a file name is required\n", !*cfg->kernel ? "kernel" : "initrd");
        return 2;
    }
    return -1;
}

/* Build the VM, install the sandbox and run the guest. Returns the exit
 * status. */
static int run_vm(struct args *a)
{
    struct sl_err err = ERR_INIT;
    int r, status = 1;

    log_init("sluice-vmm", false, a->verbose ? LOG_LVL_DEBUG : LOG_LVL_WARN);
    signal(SIGPIPE, SIG_IGN);
    /* Harmless (nothing to dump) while the VM is being built. */
    signal(SIGUSR2, on_dump);

    r = kvm_vm_create(&a->cfg, &g_vm, &err);
    if (r < 0) {
        fprintf(stderr, "sluice-vmm: %s\n", err_msg(&err, r));
        goto out;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    /* The VM is built and its backends connected: from here on (vCPU
     * threads included) only the allowlist's system calls. */
    r = sandbox_install(SANDBOX_VMM, a->sandbox);
    if (r < 0) {
        fprintf(stderr, "sluice-vmm: cannot install the seccomp filter: %s\n", strerror(-r));
        goto out;
    }
    r = kvm_vm_run(g_vm, &status);
    if (r < 0) {
        fprintf(stderr, "sluice-vmm: %s\n", strerror(-r));
        status = 1;
    }
out:
    kvm_vm_destroy(g_vm);
    return r < 0 ? 1 : status;
}

int main(int argc, char **argv)
{
    struct args a = {
        .cfg = { .cpus = 1, .mem_size = 512ull << 20, .console = KVM_CONSOLE_STDIO },
        .sandbox = sandbox_default_mode(),
    };
    int status = parse_args(argc, argv, &a);

    if (status < 0)
        status = run_vm(&a);
    for (unsigned i = 0; i < a.no; i++)
        opts_free(&a.o[i]);
    return status;
}
