/* SPDX-License-Identifier: Apache-2.0 */
/* sluiced: the vhost-user backend daemon. One process, many devices; a
 * control thread (this one) runs the vhost-user sockets and the JSON-RPC
 * control socket, worker threads run the virtqueues and their I/O on one
 * io_uring each. */
#include <getopt.h>
#include <limits.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>
#ifdef SLUICE_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "core/jsonrpc.h"
#include "core/log.h"
#include "core/sandbox.h"
#include "core/usock.h"
#include "core/util.h"
#include "nbd-server.h"
#include "sluiced.h"
#include "storage/pool.h"

#define RING_ENTRIES 1024

static struct sluiced g = { .gid = -1, .ctl_gid = -1 };
static int sigfd = -1;
/* Why the default state folder is not used (logged once set-up is done). */
static struct sl_err state_skipped = ERR_INIT;

/* Tell systemd (Type=notify) how far sluiced is: READY=1 once every socket
 * listens and the sandbox is on, STOPPING=1 when it starts to shut down.
 * Without $NOTIFY_SOCKET (not started by systemd) it does nothing. */
static void notify_systemd(const char *state)
{
#ifdef SLUICE_HAVE_SYSTEMD
    int r = sd_notify(0, state);
    if (r < 0)
        log_warn("sd_notify: %s", strerror(-r));
#else
    (void)state;
#endif
}

static void signal_event(void *arg, uint32_t events)
{
    struct signalfd_siginfo si;
    (void)arg;
    (void)events;

    if (read(sigfd, &si, sizeof(si)) == sizeof(si))
        log_info("signal %u: shutting down", si.ssi_signo);
    notify_systemd("STOPPING=1");
    evloop_stop(g.el);
}

static void usage(FILE *f)
{
    fprintf(f,
"usage: sluiced [options] [--blk SPEC]... [--net SPEC]... [--control PATH]\n"
"\n"
"Serve virtio devices over vhost-user sockets.\n"
"\n"
"  --blk socket=PATH,path=FILE|DEVICE|volume=POOL/VOL|rbd=POOL/IMAGE|null=SIZE[,readonly][,queues=N][,serial=ID][,direct=on|off][,packed=on|off][,poll=on|off][,incoming][,id=NAME]\n"
"                      [,iops=N][,iops-read=N][,iops-write=N][,bps=SIZE][,bps-read=SIZE][,bps-write=SIZE][,burst=SECONDS][,group=NAME]\n"
"                      a block device: listen on PATH, serve FILE, DEVICE or a pool volume;\n"
"                      rbd: a Ceph RBD image through librbd [,ceph-conf=PATH][,ceph-id=USER]\n"
"                      [,lock=auto|exclusive] (exclusive: other clients' writes fail)\n"
"                      incoming: also export it over NBD as ID (a storage migration's target)\n"
"  --net socket=PATH,bridge=BR|hostonly=NET|ovs=BR[,db=unix:P][,iface-id=LSP]|tap=NAME[,mac=MAC][,queues=N][,mtu=N][,packed=on|off][,rx-rate=RATE][,tx-rate=RATE][,burst=SIZE][,id=NAME]\n"
"                      a network device: a tap (sl-ID-0) attached where given;\n"
"                      rx-rate/tx-rate: what the guest receives/sends, bits per\n"
"                      second (e.g. 100M), shaped by the kernel (tc tbf)\n"
"  --control PATH      JSON-RPC 2.0 control socket (device.add/remove/list/stats)\n"
"  --state-dir DIR     record the devices added through the control socket in\n"
"                      DIR/devices.json and serve them again at the next start\n"
"                      (default with --control: $SLUICE_STATE_DIR/sluiced, that\n"
"                      is /var/lib/sluice/sluiced; skipped with a warning when\n"
"                      it cannot be created or another sluiced holds it)\n"
"  --nbd-listen ADDR   serve the incoming devices over NBD on HOST:PORT (TCP) or\n"
"                      a unix socket PATH (with --group as the vhost-user sockets)\n"
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

/* What the command line asks for. */
struct args {
    const char *specs[MAX_DEVICES];
    enum device_type types[MAX_DEVICES];
    unsigned ndev;
    const char *control;
    const char *state_dir;
    const char *nbd_listen;
    long workers;
    uint64_t poll_us;
    bool use_syslog, verbose;
    enum sandbox_mode sandbox;
};

/* Parse the options into @a. Returns -1 to go on, or the exit status (help,
 * version, usage errors, an unknown group). */
static int parse_args(int argc, char **argv, struct args *a)
{
    static const struct option longopts[] = {
        { "blk", required_argument, NULL, 'b' },
        { "net", required_argument, NULL, 'n' },
        { "control", required_argument, NULL, 'c' },
        { "state-dir", required_argument, NULL, 'D' },
        { "nbd-listen", required_argument, NULL, 'N' },
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
    int c;

    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'b':
        case 'n':
            if (a->ndev == MAX_DEVICES) {
                fprintf(stderr, "sluiced: too many devices (max %d)\n", MAX_DEVICES);
                return 2;
            }
            a->types[a->ndev] = c == 'b' ? DEV_BLK : DEV_NET;
            a->specs[a->ndev++] = optarg;
            break;
        case 'c':
            a->control = optarg;
            break;
        case 'D':
            if (!*optarg) {
                fprintf(stderr, "sluiced: --state-dir: expected a folder\n");
                return 2;
            }
            a->state_dir = optarg;
            break;
        case 'N':
            if (!*optarg || (!strchr(optarg, '/') && !strchr(optarg, ':'))) {
                fprintf(stderr, "sluiced: --nbd-listen: expected HOST:PORT or a unix socket path\n");
                return 2;
            }
            a->nbd_listen = optarg;
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
            uint64_t v;
            if (parse_uint(optarg, 1, MAX_WORKERS, &v) < 0) {
                fprintf(stderr, "sluiced: --workers: expected a number from 1 to %d\n", MAX_WORKERS);
                return 2;
            }
            a->workers = (long)v;
            break;
        }
        case 'P':
            if (parse_uint(optarg, 0, 1000000, &a->poll_us) < 0) {
                fprintf(stderr, "sluiced: --poll-us: expected a number of microseconds from 0 to 1000000\n");
                return 2;
            }
            break;
        case 'S':
            if (sandbox_parse_mode(optarg, &a->sandbox) < 0) {
                fprintf(stderr, "sluiced: --seccomp: expected enforce, kill or off, not '%s'\n", optarg);
                return 2;
            }
            break;
        case 's': a->use_syslog = true; break;
        case 'v': a->verbose = true; break;
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
    return -1;
}

/* The checks that need no device parsed: something to serve, a usable
 * control path, --control-group only with --control. Returns -1 to go on or
 * the exit status. */
static int check_args(const struct args *a)
{
    if (a->ndev == 0 && !a->control) {
        fprintf(stderr, "sluiced: nothing to serve (give --blk/--net, or --control to add devices later)\n");
        usage(stderr);
        return 2;
    }
    if (a->control) {
        struct sockaddr_un sa;
        int r = usock_addr(a->control, &sa);
        if (r < 0) {
            fprintf(stderr, "sluiced: --control '%s': %s\n", a->control, usock_strerror(r));
            return 2;
        }
    }
    if (g.ctl_gid >= 0 && !a->control) {
        fprintf(stderr, "sluiced: --control-group goes with --control\n");
        return 2;
    }
    return -1;
}

/* Every check before anything is touched: parse the specs into @sp (usage
 * errors), then the socket paths (taken by another process: a failure).
 * *nsp counts the specs parsed, to be freed by the caller. Returns -1 to go
 * on or the exit status. */
static int check_specs(const struct args *a, struct device_spec *sp, unsigned *nsp)
{
    for (*nsp = 0; *nsp < a->ndev; (*nsp)++) {
        struct sl_err err = ERR_INIT;
        unsigned n = *nsp;
        int r = device_parse(a->types[n], a->specs[n], &sp[n], &err);
        if (r < 0) {
            fprintf(stderr, "sluiced: --%s %s: %s\n", a->types[n] == DEV_BLK ? "blk" : "net",
                    a->specs[n], err_msg(&err, r));
            return 2;
        }
    }
    for (unsigned i = 0; i < a->ndev; i++) {
        const char *what = sp[i].socket, *why = NULL;
        if (a->control && !strcmp(sp[i].socket, a->control))
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
            return 2;
        }
    }
    for (unsigned i = 0; i <= a->ndev; i++) {
        const char *path = i == 0 ? a->control : sp[i - 1].socket;
        int r = path ? usock_check(path) : 0;
        if (r < 0) {
            fprintf(stderr, "sluiced: %s: %s\n", path, usock_strerror(r));
            return 1;
        }
    }
    return -1;
}

/* The state folder: --state-dir, or with --control the default
 * $SLUICE_STATE_DIR/sluiced. An explicit one that cannot be used is a
 * failure; the default is skipped with a warning (an unprivileged sluiced,
 * a second daemon beside the one of the systemd unit). Returns -1 to go on
 * or the exit status. */
static int open_state(const struct args *a)
{
    char def[PATH_MAX];
    const char *dir = a->state_dir;
    struct sl_err err = ERR_INIT;
    int r;

    if (!dir && !a->control)
        return -1;
    if (!dir) {
        snprintf(def, sizeof(def), "%s/sluiced", pool_state_root());
        dir = def;
    }
    r = state_open(dir, &g.state, &err);
    if (r < 0 && a->state_dir) {
        fprintf(stderr, "sluiced: --state-dir %s\n", err_msg(&err, r));
        return 1;
    }
    if (r < 0)
        err_set(&state_skipped, r, "%s", err_msg(&err, r));
    return -1;
}

/* Parse the state file's records into @rsp (*nr of them; their ids point
 * into @recs, which the caller frees after them). A corrupt file (one that
 * state_load() refuses, or a record the spec parser refuses) is reported in
 * one line and kept as it is: none of its devices is served and the state
 * is frozen. Returns -1 to go on or the exit status. */
static int load_recorded(struct state_rec **recs, unsigned *nrec, struct device_spec *rsp, unsigned *nr,
                         struct state_group **groups, unsigned *ngroups)
{
    struct sl_err err = ERR_INIT;
    int r;

    *nr = 0;
    if (!g.state)
        return -1;
    r = state_load(g.state, recs, nrec, groups, ngroups, &err);
    for (unsigned i = 0; r == 0 && i < *ngroups; i++)
        if ((r = group_check((*groups)[i].name, (*groups)[i].spec, &err)) < 0)
            r = err_wrap(&err, -EBADMSG, "group %s", (*groups)[i].name);
    if (r == 0 && *nrec > MAX_DEVICES)
        r = err_set(&err, -EBADMSG, "%u devices (at most %d)", *nrec, MAX_DEVICES);
    for (unsigned i = 0; r == 0 && i < *nrec; i++) {
        struct state_rec *rec = &(*recs)[i];
        r = device_parse(rec->type, rec->spec, &rsp[i], &err);
        if (r < 0) {
            r = err_wrap(&err, -EBADMSG, "device %s", rec->id);
            break;
        }
        *nr = i + 1;
        if (rsp[i].id ? strcmp(rsp[i].id, rec->id) != 0 : !device_valid_id(rec->id))
            r = err_set(&err, -EBADMSG, "device %s: not a valid id, or not its spec's id=", rec->id);
        rsp[i].id = rec->id;
        rsp[i].recorded = true;
    }
    if (r == -EBADMSG) {
        log_err("state: %s/" STATE_FILE " is corrupt (%s): kept as it is; starting with none of its "
                "devices, and device changes are not recorded until it is repaired or removed",
                state_dir(g.state), err_msg(&err, r));
        for (unsigned i = 0; i < *nr; i++)
            device_spec_free(&rsp[i]);
        *nr = 0;
        state_groups_free(*groups, *ngroups);
        *groups = NULL;
        *ngroups = 0;
        state_freeze(g.state);
        return -1;
    }
    if (r < 0) {
        fprintf(stderr, "sluiced: --state-dir %s\n", err_msg(&err, r));
        return 1;
    }
    return -1;
}

/* A command-line device with the id of a recorded one: the same type and
 * spec (the same items in any order; id= may be left out on either side)
 * make them one device, served from the command line and kept recorded;
 * anything else is an error naming the id. Returns -1 to go on or 1. */
static int merge_recorded(const struct args *a, struct device_spec *sp, struct device_spec *rsp, unsigned *nr)
{
    for (unsigned i = 0; i < *nr;) {
        bool same = false;
        for (unsigned j = 0; j < a->ndev && !same; j++) {
            if (!sp[j].id || strcmp(sp[j].id, rsp[i].id))
                continue;
            if (sp[j].type != rsp[i].type || !opts_equal(&sp[j].o, &rsp[i].o, "id")) {
                fprintf(stderr, "sluiced: %s: --%s %s differs from the device recorded in %s/" STATE_FILE
                        " (%s %s)\n", sp[j].id, sp[j].type == DEV_BLK ? "blk" : "net", sp[j].text,
                        state_dir(g.state), rsp[i].type == DEV_BLK ? "blk" : "net", rsp[i].text);
                return 1;
            }
            sp[j].recorded = same = true;
        }
        if (!same) {
            i++;
            continue;
        }
        device_spec_free(&rsp[i]);
        memmove(&rsp[i], &rsp[i + 1], (*nr - i - 1) * sizeof(*rsp));
        (*nr)--;
    }
    return -1;
}

/* Block the signals (before any thread starts, so threads inherit the mask),
 * create the control loop with its signalfd and start the workers. Returns 0
 * or -1 (logged). */
static int start_loop_and_workers(const struct args *a)
{
    sigset_t mask;

    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &mask, NULL);
    sigdelset(&mask, SIGPIPE);
    sigfd = signalfd(-1, &mask, SFD_CLOEXEC);
    if (sigfd < 0 || evloop_create(&g.el) < 0) {
        log_err("cannot set up the control loop: %m");
        return -1;
    }
    evloop_add(g.el, sigfd, EPOLLIN, signal_event, NULL);
    for (long i = 0; i < a->workers; i++) {
        char name[16];
        snprintf(name, sizeof(name), "sluiced-w%ld", i);
        int r = uloop_thread_start(name, RING_ENTRIES, &g.workers[i]);
        if (r < 0) {
            log_err("cannot start worker %ld (io_uring): %s", i, strerror(-r));
            return -1;
        }
        g.nworkers++;
        uloop_set_poll_max_ns(g.workers[i], a->poll_us * 1000);
    }
    return 0;
}

/* Listen on the control socket (it marks this instance as the owner) and
 * register the methods. Returns 0 or -1 (reported). */
static int start_control(const char *control, struct jrpc_server **ctl)
{
    int r = jrpc_server_create(g.el, control, ctl);
    if (r < 0) {
        fprintf(stderr, "sluiced: %s: %s\n", control, usock_strerror(r));
        return -1;
    }
    g.control = control;
    r = control_register(*ctl, &g);
    if (r == 0 && (r = usock_share(control, g.ctl_gid)) < 0)
        fprintf(stderr, "sluiced: %s: cannot set its group: %s\n", control, strerror(-r));
    else if (r < 0)
        fprintf(stderr, "sluiced: --control %s: %s\n", control, strerror(-r));
    if (r < 0)
        return -1;
    log_info("control socket on %s", control);
    return 0;
}

/* Undo what start_loop_and_workers(), start_control() and the device starts
 * did; safe on a half-done set-up. */
static void teardown(struct jrpc_server *ctl)
{
    jrpc_server_destroy(ctl);
    devices_destroy_all(&g);
    nbd_server_destroy(g.nbd);
    g.nbd = NULL;
    for (unsigned i = 0; i < g.nworkers; i++)
        uloop_thread_stop(g.workers[i]);
    evloop_destroy(g.el);
    close_fd(&sigfd);
    storage_helper_stop();
    /* Never rewritten here: what was recorded is served again next time. */
    state_close(g.state);
    g.state = NULL;
}

int main(int argc, char **argv)
{
    struct args a = {
        .poll_us = ULOOP_POLL_MAX_NS_DEFAULT / 1000,
        .sandbox = sandbox_default_mode(),
    };
    struct device_spec sp[MAX_DEVICES];
    static struct device_spec rsp[MAX_DEVICES];   /* recorded devices */
    struct state_rec *recs = NULL;
    struct state_group *groups = NULL;   /* recorded I/O limit groups */
    struct jrpc_server *ctl = NULL;
    unsigned nsp = 0, nrec = 0, nr = 0, ngroups = 0;
    int status;

    status = parse_args(argc, argv, &a);
    if (status >= 0)
        return status;
    log_init("sluiced", a.use_syslog, a.verbose ? LOG_LVL_DEBUG : LOG_LVL_INFO);
    status = check_args(&a);
    if (status >= 0)
        return status;
    status = check_specs(&a, sp, &nsp);
    if (status >= 0)
        goto out_specs;
    status = 1;
    if (a.workers == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        a.workers = n < 1 ? 1 : n > 8 ? 8 : n;
    }

    /* Devices added later by name need LVM's commands: a helper process
     * forked now (one thread, nothing open) runs them outside the sandbox. */
    if (a.control && a.sandbox != SANDBOX_OFF) {
        int r = storage_helper_start();
        if (r < 0) {
            log_err("cannot start the storage helper: %s", strerror(-r));
            goto out_specs;
        }
    }
    /* After the fork: the helper must not inherit the state's lock. */
    if ((status = open_state(&a)) >= 0 || (status = load_recorded(&recs, &nrec, rsp, &nr, &groups, &ngroups)) >= 0 ||
        (status = merge_recorded(&a, sp, rsp, &nr)) >= 0)
        goto out;
    status = 1;
    if (start_loop_and_workers(&a) < 0)
        goto out;
    if (nbd_server_create(&g.nbd) < 0)
        goto out;
    if (a.nbd_listen) {
        struct sl_err err = ERR_INIT;
        int r = nbd_server_listen(g.nbd, a.nbd_listen, g.gid, &err);
        if (r < 0) {
            fprintf(stderr, "sluiced: --nbd-listen %s: %s\n", a.nbd_listen, err_msg(&err, r));
            status = r == -EINVAL ? 2 : 1;
            goto out;
        }
        g.nbd_listening = true;
        if (nbd_server_port(g.nbd) >= 0)
            log_info("nbd: listening on %s (port %d)", a.nbd_listen, nbd_server_port(g.nbd));
        else
            log_info("nbd: listening on %s", a.nbd_listen);
    }
    if (a.control && start_control(a.control, &ctl) < 0)
        goto out;
    /* The recorded devices first: they keep their ids, and a command-line
     * device without id= takes the next free one. One that cannot start
     * (its volume gone, its bridge missing) does not keep the others from
     * their guests: it is kept unserved, its record with it, until it is
     * removed or sluiced restarts with it fixed. */
    unsigned nbad = 0;
    for (unsigned i = 0; i < nr; i++) {
        struct sl_err err = ERR_INIT;
        int r = device_start(&g, &rsp[i], NULL, &err);
        if (r < 0) {
            char why[512];
            snprintf(why, sizeof(why), "%s", err_msg(&err, r));
            r = device_keep_unavailable(&g, &rsp[i], why);
            if (r < 0) {
                fprintf(stderr, "sluiced: %s (recorded in %s/" STATE_FILE "): %s\n", rsp[i].id,
                        state_dir(g.state), why);
                goto out;
            }
            log_err("%s (recorded in %s/" STATE_FILE "): %s; not served until it is fixed and sluiced "
                    "restarts (`sluice dev remove %s` forgets it)", rsp[i].id, state_dir(g.state), why,
                    rsp[i].id);
            nbad++;
        }
    }
    if (g.state && nbad)
        log_info("state: %s, %u recorded device%s restored, %u not served", state_dir(g.state), nr - nbad,
                 nr - nbad == 1 ? "" : "s", nbad);
    else if (g.state)
        log_info("state: %s, %u recorded device%s restored", state_dir(g.state), nr, nr == 1 ? "" : "s");
    else if (err_isset(&state_skipped))
        log_warn("state: %s; devices added at run time will not survive a restart (see --state-dir)",
                 state_skipped.msg);
    for (unsigned i = 0; i < a.ndev; i++) {
        struct sl_err err = ERR_INIT;
        int r;
        sp[i].cmdline = true;
        r = device_start(&g, &sp[i], NULL, &err);
        if (r < 0) {
            fprintf(stderr, "sluiced: --%s %s: %s\n", a.types[i] == DEV_BLK ? "blk" : "net",
                    a.specs[i], err_msg(&err, r));
            goto out;
        }
    }
    /* The recorded groups' limits last: they win over their members' specs. */
    for (unsigned i = 0; i < ngroups; i++) {
        struct sl_err err = ERR_INIT;
        int r = group_restore(&g, groups[i].name, groups[i].spec, &err);
        if (r < 0) {
            fprintf(stderr, "sluiced: group %s (recorded in %s/" STATE_FILE "): %s\n", groups[i].name,
                    state_dir(g.state), err_msg(&err, r));
            goto out;
        }
    }
    /* Set-up is done: from here on only the allowlist's system calls. */
    int sr = sandbox_install(SANDBOX_SLUICED, a.sandbox);
    if (sr < 0) {
        log_err("cannot install the seccomp filter: %s", strerror(-sr));
        goto out;
    }
    log_info("ready: %u worker%s%s%s", g.nworkers, g.nworkers == 1 ? "" : "s",
             a.control ? ", control socket " : "", a.control ? a.control : "");
    notify_systemd("READY=1");
    if (evloop_run(g.el) < 0)
        log_err("control loop failed: %m");
    else
        status = 0;
out:
    teardown(ctl);
    if (status == 0)
        log_info("stopped");
out_specs:
    for (unsigned i = 0; i < nsp; i++)
        device_spec_free(&sp[i]);
    for (unsigned i = 0; i < nr; i++)
        device_spec_free(&rsp[i]);
    state_recs_free(recs, nrec);
    state_groups_free(groups, ngroups);
    return status;
}
