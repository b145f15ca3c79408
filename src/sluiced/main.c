/* SPDX-License-Identifier: Apache-2.0 */
/* sluiced: the vhost-user backend daemon. One process, many devices; a
 * control thread (this one) runs the vhost-user sockets and the JSON-RPC
 * control socket, worker threads run the virtqueues and their I/O on one
 * io_uring each. */
#include <getopt.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "core/jsonrpc.h"
#include "core/log.h"
#include "core/sandbox.h"
#include "core/usock.h"
#include "core/util.h"
#include "sluiced.h"

#define RING_ENTRIES 1024

static struct sluiced g = { .gid = -1, .ctl_gid = -1 };
static int sigfd = -1;

static void signal_event(void *arg, uint32_t events)
{
    struct signalfd_siginfo si;
    (void)arg;
    (void)events;

    if (read(sigfd, &si, sizeof(si)) == sizeof(si))
        log_info("signal %u: shutting down", si.ssi_signo);
    evloop_stop(g.el);
}

static void usage(FILE *f)
{
    fprintf(f,
"usage: sluiced [options] [--blk SPEC]... [--net SPEC]... [--control PATH]\n"
"\n"
"Serve virtio devices over vhost-user sockets.\n"
"\n"
"  --blk socket=PATH,path=FILE|DEVICE|volume=POOL/VOL|null=SIZE[,readonly][,queues=N][,serial=ID][,direct=on|off][,packed=on|off][,poll=on|off][,id=NAME]\n"
"                      a block device: listen on PATH, serve FILE, DEVICE or a pool volume\n"
"  --net socket=PATH,bridge=BR|hostonly=NET|ovs=BR[,db=unix:P]|tap=NAME[,mac=MAC][,queues=N][,mtu=N][,packed=on|off][,id=NAME]\n"
"                      a network device: a tap (sl-ID-0) attached where given\n"
"  --control PATH      JSON-RPC 2.0 control socket (device.add/remove/list/stats)\n"
"  --workers N         worker threads (each owns one io_uring; default: CPUs, max 8)\n"
"  --poll-us N         after work, a worker polls its queues up to N us (adaptive)\n"
"                      before it sleeps; 0: never poll (default 100)\n"
"  --group NAME        vhost-user sockets are mode 0660 with this group (default\n"
"                      0600, owner only)\n"
"  --control-group NAME the control socket is mode 0660 with this group (default\n"
"                      0600); its members can add devices serving any path\n"
"  --seccomp MODE      enforce (default: a system call outside the allowlist is\n"
"                      logged and fails with EPERM), kill (logged, then exit), off\n"
"  --syslog            log to syslog instead of stderr\n"
"  --verbose           log debug messages\n"
"  -h, --help          this help\n"
"  --version           print the version\n"
"\n"
"A socket path that another process listens on, or that is not a socket, is\n"
"refused; a stale socket file (nobody listening) is replaced.\n"
"Exit status: 0 after SIGTERM/SIGINT, 1 on failure, 2 on usage errors.\n");
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "blk", required_argument, NULL, 'b' },
        { "net", required_argument, NULL, 'n' },
        { "control", required_argument, NULL, 'c' },
        { "workers", required_argument, NULL, 'w' },
        { "poll-us", required_argument, NULL, 'P' },
        { "group", required_argument, NULL, 'g' },
        { "control-group", required_argument, NULL, 'G' },
        { "seccomp", required_argument, NULL, 'S' },
        { "syslog", no_argument, NULL, 's' },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { 0 }
    };
    const char *specs[MAX_DEVICES], *control = NULL;
    enum device_type types[MAX_DEVICES];
    struct device_spec sp[MAX_DEVICES];
    struct jrpc_server *ctl = NULL;
    unsigned nblk = 0, nsp = 0;
    long workers = 0;
    uint64_t poll_us = ULOOP_POLL_MAX_NS_DEFAULT / 1000;
    bool use_syslog = false, verbose = false;
    enum sandbox_mode sandbox = sandbox_default_mode();
    sigset_t mask;
    int c, status = 1;

    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'b':
        case 'n':
            if (nblk == MAX_DEVICES) {
                fprintf(stderr, "sluiced: too many devices (max %d)\n", MAX_DEVICES);
                return 2;
            }
            types[nblk] = c == 'b' ? DEV_BLK : DEV_NET;
            specs[nblk++] = optarg;
            break;
        case 'c':
            control = optarg;
            break;
        case 'g':
        case 'G': {
            /* A name that must exist on this machine, like a file: a
             * failure (1), not a usage error. */
            struct group *gr = getgrnam(optarg);
            if (!gr) {
                fprintf(stderr, "sluiced: --%s %s: no such group\n", c == 'g' ? "group" : "control-group",
                        optarg);
                return 1;
            }
            *(c == 'g' ? &g.gid : &g.ctl_gid) = (int)gr->gr_gid;
            break;
        }
        case 'w': {
            char *end;
            workers = strtol(optarg, &end, 10);
            if (*end || workers < 1 || workers > MAX_WORKERS) {
                fprintf(stderr, "sluiced: --workers: expected a number from 1 to %d\n", MAX_WORKERS);
                return 2;
            }
            break;
        }
        case 'P': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (!*optarg || *end || v < 0 || v > 1000000) {
                fprintf(stderr, "sluiced: --poll-us: expected a number of microseconds from 0 to 1000000\n");
                return 2;
            }
            poll_us = (uint64_t)v;
            break;
        }
        case 'S':
            if (sandbox_parse_mode(optarg, &sandbox) < 0) {
                fprintf(stderr, "sluiced: --seccomp: expected enforce, kill or off, not '%s'\n", optarg);
                return 2;
            }
            break;
        case 's': use_syslog = true; break;
        case 'v': verbose = true; break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("sluiced %s\n", SLUICE_VERSION); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "sluiced: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    log_init("sluiced", use_syslog, verbose ? LOG_LVL_DEBUG : LOG_LVL_INFO);
    if (nblk == 0 && !control) {
        fprintf(stderr, "sluiced: nothing to serve (give --blk/--net, or --control to add devices later)\n");
        usage(stderr);
        return 2;
    }
    if (control) {
        struct sockaddr_un sa;
        int r = usock_addr(control, &sa);
        if (r < 0) {
            fprintf(stderr, "sluiced: --control '%s': %s\n", control, usock_strerror(r));
            return 2;
        }
    }
    if (g.ctl_gid >= 0 && !control) {
        fprintf(stderr, "sluiced: --control-group goes with --control\n");
        return 2;
    }
    /* Every check before anything is touched: specs (usage errors), then
     * the socket paths (taken by another process: a failure). */
    for (nsp = 0; nsp < nblk; nsp++) {
        struct sl_err err = ERR_INIT;
        int r = device_parse(types[nsp], specs[nsp], &sp[nsp], &err);
        if (r < 0) {
            fprintf(stderr, "sluiced: --%s %s: %s\n", types[nsp] == DEV_BLK ? "blk" : "net",
                    specs[nsp], err_msg(&err, r));
            status = 2;
            goto out_specs;
        }
    }
    for (unsigned i = 0; i < nblk; i++) {
        const char *what = sp[i].socket, *why = NULL;
        if (control && !strcmp(sp[i].socket, control))
            why = "also the control socket";
        for (unsigned j = 0; j < i && !why; j++) {
            if (!strcmp(sp[i].socket, sp[j].socket)) {
                why = "the socket of two devices";
            } else if (sp[i].id && sp[j].id && !strcmp(sp[i].id, sp[j].id)) {
                what = sp[i].id;
                why = "the id of two devices";
            }
        }
        if (why) {
            fprintf(stderr, "sluiced: %s: %s\n", what, why);
            status = 2;
            goto out_specs;
        }
    }
    for (unsigned i = 0; i <= nblk; i++) {
        const char *path = i == 0 ? control : sp[i - 1].socket;
        int r = path ? usock_check(path) : 0;
        if (r < 0) {
            fprintf(stderr, "sluiced: %s: %s\n", path, usock_strerror(r));
            goto out_specs;
        }
    }
    if (workers == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        workers = n < 1 ? 1 : n > 8 ? 8 : n;
    }

    /* Devices added later by name need LVM's commands: a helper process
     * forked now (one thread, nothing open) runs them outside the sandbox. */
    if (control && sandbox != SANDBOX_OFF) {
        int r = storage_helper_start();
        if (r < 0) {
            log_err("cannot start the storage helper: %s", strerror(-r));
            goto out_specs;
        }
    }

    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGPIPE);
    /* Block before starting threads so they inherit the mask. */
    pthread_sigmask(SIG_BLOCK, &mask, NULL);
    sigdelset(&mask, SIGPIPE);
    sigfd = signalfd(-1, &mask, SFD_CLOEXEC);
    if (sigfd < 0 || evloop_create(&g.el) < 0) {
        log_err("cannot set up the control loop: %m");
        goto out;
    }
    evloop_add(g.el, sigfd, EPOLLIN, signal_event, NULL);
    for (long i = 0; i < workers; i++) {
        char name[16];
        snprintf(name, sizeof(name), "sluiced-w%ld", i);
        int r = uloop_thread_start(name, RING_ENTRIES, &g.workers[i]);
        if (r < 0) {
            log_err("cannot start worker %ld (io_uring): %s", i, strerror(-r));
            goto out;
        }
        g.nworkers++;
        uloop_set_poll_max_ns(g.workers[i], poll_us * 1000);
    }
    /* The control socket first: it marks this instance as the owner. */
    if (control) {
        int r = jrpc_server_create(g.el, control, &ctl);
        if (r < 0) {
            fprintf(stderr, "sluiced: %s: %s\n", control, usock_strerror(r));
            goto out;
        }
        g.control = control;
        r = control_register(ctl, &g);
        if (r == 0 && (r = usock_share(control, g.ctl_gid)) < 0)
            fprintf(stderr, "sluiced: %s: cannot set its group: %s\n", control, strerror(-r));
        else if (r < 0)
            fprintf(stderr, "sluiced: --control %s: %s\n", control, strerror(-r));
        if (r < 0)
            goto out;
        log_info("control socket on %s", control);
    }
    for (unsigned i = 0; i < nblk; i++) {
        struct sl_err err = ERR_INIT;
        int r = device_start(&g, &sp[i], NULL, &err);
        if (r < 0) {
            fprintf(stderr, "sluiced: --%s %s: %s\n", types[i] == DEV_BLK ? "blk" : "net",
                    specs[i], err_msg(&err, r));
            goto out;
        }
    }
    /* Set-up is done: from here on only the allowlist's system calls. */
    int sr = sandbox_install(SANDBOX_SLUICED, sandbox);
    if (sr < 0) {
        log_err("cannot install the seccomp filter: %s", strerror(-sr));
        goto out;
    }
    log_info("ready: %u worker%s%s%s", g.nworkers, g.nworkers == 1 ? "" : "s",
             control ? ", control socket " : "", control ? control : "");
    if (evloop_run(g.el) < 0)
        log_err("control loop failed: %m");
    else
        status = 0;
out:
    jrpc_server_destroy(ctl);
    devices_destroy_all(&g);
    for (unsigned i = 0; i < g.nworkers; i++)
        uloop_thread_stop(g.workers[i]);
    evloop_destroy(g.el);
    close_fd(&sigfd);
    storage_helper_stop();
    if (status == 0)
        log_info("stopped");
out_specs:
    for (unsigned i = 0; i < nsp; i++)
        device_spec_free(&sp[i]);
    return status;
}
