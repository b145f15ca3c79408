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

int main(int argc, char **argv)
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
    struct kvm_vm_config cfg = { .cpus = 1, .mem_size = 512ull << 20,
                                 .console = KVM_CONSOLE_STDIO };
    struct opts o[2 * KVM_VM_MAX_DEVS];
    unsigned no = 0;
    bool verbose = false;
    enum sandbox_mode sandbox = sandbox_default_mode();
    struct sl_err err = ERR_INIT;
    int c, r, status = 1;

    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        const char *bad = NULL, *v;
        uint64_t u;
        switch (c) {
        case 'k': cfg.kernel = optarg; break;
        case 'i': cfg.initrd = optarg; break;
        case 'c': cfg.cmdline = optarg; break;
        case 'n': {
            char *end;
            unsigned long n = strtoul(optarg, &end, 10);
            if (*end || n == 0 || n > KVM_VM_MAX_CPUS) {
                fprintf(stderr, "sluice-vmm: --cpus: must be 1..%u\n", KVM_VM_MAX_CPUS);
                goto out_usage;
            }
            cfg.cpus = (unsigned)n;
            break;
        }
        case 'm':
            if (parse_size(optarg, &u) < 0 || u == 0) {
                fprintf(stderr, "sluice-vmm: --memory: bad size '%s'\n", optarg);
                goto out_usage;
            }
            if (u < KVM_VM_MIN_MEM) {
                fprintf(stderr, "sluice-vmm: --memory: %s is too little; a Linux guest needs at least %lluM\n",
                        optarg, (unsigned long long)(KVM_VM_MIN_MEM >> 20));
                goto out_usage;
            }
            cfg.mem_size = (u + (2u << 20) - 1) & ~(uint64_t)((2u << 20) - 1);
            break;
        case 'd':
        case 'N':
            if (no == 2 * KVM_VM_MAX_DEVS || (c == 'd' ? cfg.ndisks : cfg.nnics) == KVM_VM_MAX_DEVS) {
                fprintf(stderr, "sluice-vmm: too many devices\n");
                goto out_usage;
            }
            if (opts_parse(optarg, &o[no], &bad) < 0) {
                fprintf(stderr, "sluice-vmm: --%s %s: %s\n", c == 'd' ? "disk" : "net", optarg,
                        bad ? bad : "malformed");
                goto out_usage;
            }
            v = opts_get(&o[no++], "socket");
            if (!v || !*v) {
                fprintf(stderr, "sluice-vmm: --%s: socket=PATH is required\n", c == 'd' ? "disk" : "net");
                goto out_usage;
            }
            if (c == 'd') {
                cfg.disks[cfg.ndisks++] = v;
            } else {
                struct kvm_vm_nic *nic = &cfg.nics[cfg.nnics];
                const char *mac = opts_get(&o[no - 1], "mac");
                nic->socket = v;
                if (mac) {
                    if (mac_parse(mac, nic->mac, &err) < 0) {
                        fprintf(stderr, "sluice-vmm: --net: bad mac '%s': mac %s\n", mac, err.msg);
                        goto out_usage;
                    }
                } else {
                    /* Locally administered, unique enough per process and NIC. */
                    unsigned pid = (unsigned)getpid();
                    uint8_t def[6] = { 0x52, 0x54, 0x00, (uint8_t)(pid >> 8), (uint8_t)pid,
                                       (uint8_t)cfg.nnics };
                    memcpy(nic->mac, def, 6);
                }
                cfg.nnics++;
            }
            if (opts_unused(&o[no - 1])) {
                fprintf(stderr, "sluice-vmm: --%s: unknown option '%s'\n", c == 'd' ? "disk" : "net",
                        opts_unused(&o[no - 1]));
                goto out_usage;
            }
            break;
        case 'C':
            if (!strcmp(optarg, "stdio")) {
                cfg.console = KVM_CONSOLE_STDIO;
            } else if (!strncmp(optarg, "socket=", 7) && optarg[7]) {
                cfg.console = KVM_CONSOLE_SOCKET;
                cfg.console_path = optarg + 7;
            } else {
                fprintf(stderr, "sluice-vmm: --console: stdio or socket=PATH\n");
                goto out_usage;
            }
            break;
        case 'v': verbose = true; break;
        case 'S':
            if (sandbox_parse_mode(optarg, &sandbox) < 0) {
                fprintf(stderr, "sluice-vmm: --seccomp: expected enforce, kill or off, not '%s'\n", optarg);
                goto out_usage;
            }
            break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("sluice-vmm %s\n", SLUICE_VERSION); return 0;
        default: usage(stderr); goto out_usage;
        }
    }
    if (optind < argc || !cfg.kernel) {
        if (optind < argc)
            fprintf(stderr, "sluice-vmm: unexpected argument '%s'\n", argv[optind]);
        else
            fprintf(stderr, "sluice-vmm: --kernel is required\n");
        usage(stderr);
        goto out_usage;
    }
    /* An empty file name is a usage error; a name of a missing or unreadable
     * file is a failure (1), found when the VM is built. */
    if (!*cfg.kernel || (cfg.initrd && !*cfg.initrd)) {
        fprintf(stderr, "sluice-vmm: --%s: a file name is required\n", !*cfg.kernel ? "kernel" : "initrd");
        goto out_usage;
    }
    log_init("sluice-vmm", false, verbose ? LOG_LVL_DEBUG : LOG_LVL_WARN);
    signal(SIGPIPE, SIG_IGN);
    /* Harmless (nothing to dump) while the VM is being built. */
    signal(SIGUSR2, on_dump);

    r = kvm_vm_create(&cfg, &g_vm, &err);
    if (r < 0) {
        fprintf(stderr, "sluice-vmm: %s\n", err_msg(&err, r));
        goto out;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    /* The VM is built and its backends connected: from here on (vCPU
     * threads included) only the allowlist's system calls. */
    r = sandbox_install(SANDBOX_VMM, sandbox);
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
    for (unsigned i = 0; i < no; i++)
        opts_free(&o[i]);
    return r < 0 ? 1 : status;
out_usage:
    for (unsigned i = 0; i < no; i++)
        opts_free(&o[i]);
    return 2;
}
