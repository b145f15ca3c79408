/* SPDX-License-Identifier: Apache-2.0 */
/* sluiced: the vhost-user backend daemon. One process, many devices; a
 * control thread (this one) runs the vhost-user sockets, worker threads run
 * the virtqueues and their I/O on one io_uring each. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "core/evloop.h"
#include "core/log.h"
#include "core/opts.h"
#include "core/uloop.h"
#include "core/util.h"
#include "storage/bdev.h"
#include "vhost/blk.h"

#define MAX_DEVICES 256
#define MAX_WORKERS 64
#define RING_ENTRIES 1024

struct device {
    struct vblk *blk;
    struct vu_dev *vu;
    struct bdev *bd;
    char *socket;
    struct evloop *el;
};

static struct {
    struct evloop *el;
    struct uloop *workers[MAX_WORKERS];
    unsigned nworkers;
    struct device devs[MAX_DEVICES];
    unsigned ndevs;
    unsigned next_loop;
    int sigfd;
} g = { .sigfd = -1 };

/* ---- block I/O ops: storage/ bdev behind the virtio-blk model --------- */

static int io_rw(void *ctx, struct uloop *loop, struct uloop_op *done, bool write,
                 const struct iovec *iov, unsigned iovcnt, uint64_t offset)
{
    return bdev_rw(ctx, loop, done, write, iov, iovcnt, offset);
}

static int io_flush(void *ctx, struct uloop *loop, struct uloop_op *done)
{
    return bdev_flush(ctx, loop, done);
}

static int io_discard(void *ctx, struct uloop *loop, struct uloop_op *done,
                      uint64_t offset, uint64_t len)
{
    return bdev_discard(ctx, loop, done, offset, len);
}

static int io_write_zeroes(void *ctx, struct uloop *loop, struct uloop_op *done,
                           uint64_t offset, uint64_t len, bool unmap)
{
    return bdev_write_zeroes(ctx, loop, done, offset, len, unmap);
}

static const struct vblk_ops bdev_ops = {
    .rw = io_rw,
    .flush = io_flush,
    .discard = io_discard,
    .write_zeroes = io_write_zeroes,
};

/* ---- connection handling ---------------------------------------------- */

static void conn_event(void *arg, uint32_t events)
{
    struct device *d = arg;
    int fd = vu_dev_conn_fd(d->vu);
    int r;

    if (events & EPOLLIN) {
        r = vu_dev_process(d->vu);
        if (r == 0)
            return;
    }
    evloop_del(d->el, fd);
    vu_dev_disconnect(d->vu);
}

static void listen_event(void *arg, uint32_t events)
{
    struct device *d = arg;
    int fd;
    (void)events;

    fd = vu_dev_accept(d->vu);
    if (fd < 0)
        return;
    if (evloop_add(d->el, fd, EPOLLIN, conn_event, d) < 0) {
        log_err("%s: cannot watch the connection", d->socket);
        vu_dev_disconnect(d->vu);
    }
}

static void signal_event(void *arg, uint32_t events)
{
    struct signalfd_siginfo si;
    (void)arg;
    (void)events;

    if (read(g.sigfd, &si, sizeof(si)) == sizeof(si))
        log_info("signal %u: shutting down", si.ssi_signo);
    evloop_stop(g.el);
}

/* ---- devices ---------------------------------------------------------- */

static int usage_error(const char *what, const char *spec, const char *why)
{
    fprintf(stderr, "sluiced: --%s %s: %s\n", what, spec, why);
    return -EINVAL;
}

static int add_blk(const char *spec)
{
    struct device *d = &g.devs[g.ndevs];
    struct vblk_config bc = { 0 };
    struct vu_dev_config vc = { 0 };
    const char *sock, *path, *serial, *bad = NULL, *unknown;
    uint64_t queues = 1;
    bool ro = false, direct = true;
    struct opts o;
    int r;

    if (g.ndevs == MAX_DEVICES)
        return usage_error("blk", spec, "too many devices");
    r = opts_parse(spec, &o, &bad);
    if (r < 0)
        return usage_error("blk", spec, bad);
    sock = opts_get(&o, "socket");
    path = opts_get(&o, "path");
    serial = opts_get(&o, "serial");
    if (opts_get_bool(&o, "readonly", &ro) < 0) {
        r = usage_error("blk", spec, "readonly takes on or off");
        goto out;
    }
    if (opts_get(&o, "direct") && opts_get_bool(&o, "direct", &direct) < 0) {
        r = usage_error("blk", spec, "direct takes on or off");
        goto out;
    }
    if (opts_get_uint(&o, "queues", 1, VU_MAX_QUEUES, &queues) < 0) {
        r = usage_error("blk", spec, "queues must be a number from 1 to 64");
        goto out;
    }
    if ((unknown = opts_unused(&o))) {
        fprintf(stderr, "sluiced: --blk %s: unknown option '%s'\n", spec, unknown);
        r = -EINVAL;
        goto out;
    }
    if (!sock || !*sock) {
        r = usage_error("blk", spec, "socket=PATH is required");
        goto out;
    }
    if (!path || !*path) {
        r = usage_error("blk", spec, "path=FILE|DEVICE is required");
        goto out;
    }
    if (serial && strlen(serial) > 20) {
        r = usage_error("blk", spec, "serial is at most 20 characters");
        goto out;
    }
    r = bdev_open(path, (ro ? BDEV_RDONLY : 0) | (direct ? 0 : BDEV_NO_DIRECT), &d->bd);
    if (r < 0) {
        fprintf(stderr, "sluiced: %s: %s\n", path,
                r == -EINVAL ? "not a regular file or block device, or empty" : strerror(-r));
        goto out;
    }
    bc.capacity = bdev_get_info(d->bd)->size;
    bc.blk_size = bdev_get_info(d->bd)->logical_block;
    bc.readonly = ro;
    bc.num_queues = (unsigned)queues;
    bc.serial = serial;
    bc.io = &bdev_ops;
    bc.io_ctx = d->bd;
    vc.name = sock;
    vc.socket_path = sock;
    vc.loops = g.workers;
    vc.nloops = g.nworkers;
    vc.first_loop = g.next_loop;
    g.next_loop += (unsigned)queues;
    r = vblk_create(&bc, &vc, &d->blk);
    if (r < 0) {
        fprintf(stderr, "sluiced: %s: cannot create device: %s\n", sock, strerror(-r));
        goto out;
    }
    d->vu = vblk_vu_dev(d->blk);
    d->el = g.el;
    d->socket = strdup(sock);
    r = vu_dev_listen(d->vu);
    if (r < 0) {
        fprintf(stderr, "sluiced: %s: cannot listen: %s\n", sock, strerror(-r));
        goto out;
    }
    r = evloop_add(g.el, vu_dev_listen_fd(d->vu), EPOLLIN, listen_event, d);
    if (r < 0)
        goto out;
    log_info("%s: serving %s (%llu bytes%s%s, %u queue%s)", sock, path,
             (unsigned long long)bc.capacity, ro ? ", read-only" : "",
             bdev_get_info(d->bd)->direct ? ", O_DIRECT" : "",
             bc.num_queues, bc.num_queues > 1 ? "s" : "");
    g.ndevs++;
out:
    if (r < 0) {
        vblk_destroy(d->blk);
        bdev_close(d->bd);
        free(d->socket);
        memset(d, 0, sizeof(*d));
    }
    opts_free(&o);
    return r;
}

static void destroy_devices(void)
{
    for (unsigned i = 0; i < g.ndevs; i++) {
        struct device *d = &g.devs[i];
        /* Disconnect waits for in-flight requests, then the socket goes. */
        vblk_destroy(d->blk);
        bdev_close(d->bd);
        free(d->socket);
    }
    g.ndevs = 0;
}

/* ---- main ------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
"usage: sluiced [options] --blk SPEC [--blk SPEC]...\n"
"\n"
"Serve virtio-blk devices over vhost-user sockets.\n"
"\n"
"  --blk socket=PATH,path=FILE|DEVICE[,readonly][,queues=N][,serial=ID][,direct=on|off]\n"
"                      a block device: listen on PATH, serve FILE or DEVICE\n"
"  --workers N         worker threads (each owns one io_uring; default: CPUs, max 8)\n"
"  --syslog            log to syslog instead of stderr\n"
"  --verbose           log debug messages\n"
"  -h, --help          this help\n"
"  --version           print the version\n");
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "blk", required_argument, NULL, 'b' },
        { "workers", required_argument, NULL, 'w' },
        { "syslog", no_argument, NULL, 's' },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { 0 }
    };
    const char *blk_specs[MAX_DEVICES];
    unsigned nblk = 0;
    long workers = 0;
    bool use_syslog = false, verbose = false;
    sigset_t mask;
    int c, rc = 1;

    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'b':
            if (nblk == MAX_DEVICES) {
                fprintf(stderr, "sluiced: too many --blk devices (max %d)\n", MAX_DEVICES);
                return 2;
            }
            blk_specs[nblk++] = optarg;
            break;
        case 'w': {
            char *end;
            workers = strtol(optarg, &end, 10);
            if (*end || workers < 1 || workers > MAX_WORKERS) {
                fprintf(stderr, "sluiced: --workers: expected a number from 1 to %d\n", MAX_WORKERS);
                return 2;
            }
            break;
        }
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
    if (nblk == 0) {
        fprintf(stderr, "sluiced: no device given (use --blk)\n");
        usage(stderr);
        return 2;
    }
    log_init("sluiced", use_syslog, verbose ? LOG_LVL_DEBUG : LOG_LVL_INFO);
    if (workers == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        workers = n < 1 ? 1 : n > 8 ? 8 : n;
    }

    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGPIPE);
    /* Block before starting threads so they inherit the mask. */
    pthread_sigmask(SIG_BLOCK, &mask, NULL);
    sigdelset(&mask, SIGPIPE);
    g.sigfd = signalfd(-1, &mask, SFD_CLOEXEC);
    if (g.sigfd < 0 || evloop_create(&g.el) < 0) {
        log_err("cannot set up the control loop: %m");
        return 1;
    }
    evloop_add(g.el, g.sigfd, EPOLLIN, signal_event, NULL);
    for (long i = 0; i < workers; i++) {
        char name[16];
        snprintf(name, sizeof(name), "sluiced-w%ld", i);
        int r = uloop_thread_start(name, RING_ENTRIES, &g.workers[i]);
        if (r < 0) {
            log_err("cannot start worker %ld (io_uring): %s", i, strerror(-r));
            goto out;
        }
        g.nworkers++;
    }
    for (unsigned i = 0; i < nblk; i++)
        if (add_blk(blk_specs[i]) < 0)
            goto out;
    log_info("ready: %u device%s, %u worker%s", g.ndevs, g.ndevs == 1 ? "" : "s",
             g.nworkers, g.nworkers == 1 ? "" : "s");
    if (evloop_run(g.el) < 0)
        log_err("control loop failed: %m");
    else
        rc = 0;
out:
    destroy_devices();
    for (unsigned i = 0; i < g.nworkers; i++)
        uloop_thread_stop(g.workers[i]);
    evloop_destroy(g.el);
    close_fd(&g.sigfd);
    if (rc == 0)
        log_info("stopped");
    return rc;
}
