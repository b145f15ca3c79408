/* SPDX-License-Identifier: Apache-2.0 */
/* The devices sluiced serves: parsing of --blk specs, the storage glue that
 * fills the virtio-blk I/O ops, and the vhost-user socket handling on the
 * control loop. */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mac.h"
#include "core/opts.h"
#include "core/usock.h"
#include "core/util.h"
#include "mirror.h"
#include "nbd-server.h"
#include "sluiced.h"
#include "net/attach.h"
#include "net/tap.h"
#include "storage/bdev.h"
#include "storage/pool.h"
#include "vhost/blk.h"
#include "vhost/net.h"

#include <fcntl.h>
#include <linux/virtio_net.h>

struct device {
    char *id;
    enum device_type type;
    char *spec;
    char *socket;
    char *path;
    char *volume;          /* POOL/VOL when served by volume name */
    bool readonly;
    unsigned queues;
    struct vu_dev *vu;
    struct vblk *blk;
    struct bdev *bd;
    struct vnet *net;
    struct tap *tap;
    bool attached;         /* the tap is a port of @network */
    struct net_spec network;
    struct evloop *el;
    struct mirror_dev md;  /* the I/O ops' context; mirror jobs */
    struct nbd_server *nbd;   /* exported there as @id (incoming) */
};

/* ---- block I/O ops: storage/ bdev behind the virtio-blk model --------- */

/* bdev_vblk_ops (bdev-ops.c) for files and block devices; null=: */
/* null=SIZE: reads return zeroes, writes are dropped; for measuring the
 * backend's own overhead (like qemu-storage-daemon's null-co). */
static int null_rw(void *ctx, struct uloop *loop, struct uloop_op *done, bool write,
                   const struct iovec *iov, unsigned iovcnt, uint64_t offset)
{
    size_t n = 0;
    (void)ctx;
    (void)offset;
    for (unsigned i = 0; i < iovcnt; i++) {
        if (!write)
            memset(iov[i].iov_base, 0, iov[i].iov_len);
        n += iov[i].iov_len;
    }
    uloop_post(loop, done, (int)n);
    return 0;
}

static int null_flush(void *ctx, struct uloop *loop, struct uloop_op *done)
{
    (void)ctx;
    uloop_post(loop, done, 0);
    return 0;
}

static int null_range(void *ctx, struct uloop *loop, struct uloop_op *done,
                      uint64_t offset, uint64_t len)
{
    (void)offset;
    (void)len;
    return null_flush(ctx, loop, done);
}

static int null_zeroes(void *ctx, struct uloop *loop, struct uloop_op *done,
                       uint64_t offset, uint64_t len, bool unmap)
{
    (void)unmap;
    return null_range(ctx, loop, done, offset, len);
}

static const struct vblk_ops null_ops = {
    .rw = null_rw,
    .flush = null_flush,
    .discard = null_range,
    .write_zeroes = null_zeroes,
};

/* ---- packet ops: a net/ tap behind the virtio-net model ---------------- */

static int tap_queue_fd(void *ctx, unsigned pair)
{
    return tap_fd(ctx, pair);
}

static int tap_configure(void *ctx, uint64_t features, unsigned hdr_len)
{
    unsigned off = 0;
    int r;

    if (features & (1ull << VIRTIO_NET_F_GUEST_CSUM)) {
        off |= TUN_F_CSUM;
        if (features & (1ull << VIRTIO_NET_F_GUEST_TSO4))
            off |= TUN_F_TSO4;
        if (features & (1ull << VIRTIO_NET_F_GUEST_TSO6))
            off |= TUN_F_TSO6;
        if (features & (1ull << VIRTIO_NET_F_GUEST_ECN))
            off |= TUN_F_TSO_ECN;
    }
    r = tap_set_vnet_hdr_size(ctx, (int)hdr_len);
    return r < 0 ? r : tap_set_offload(ctx, off);
}

static const struct vnet_ops tap_ops = {
    .queue_fd = tap_queue_fd,
    .configure = tap_configure,
};

/* ---- vhost-user sockets on the control loop --------------------------- */

static void conn_drop(struct device *d)
{
    evloop_del(d->el, vu_dev_conn_fd(d->vu));
    evloop_del(d->el, vu_dev_timer_fd(d->vu));
    vu_dev_disconnect(d->vu);
}

/* Messages are read as they arrive (never waiting for the rest of one). */
static void conn_event(void *arg, uint32_t events)
{
    struct device *d = arg;

    if ((events & EPOLLIN) && vu_dev_process(d->vu) == 0)
        return;
    conn_drop(d);
}

/* A message that did not arrive whole in time. */
static void timer_event(void *arg, uint32_t events)
{
    struct device *d = arg;
    (void)events;

    if (vu_dev_timeout(d->vu) < 0)
        conn_drop(d);
}

/* A frontend that reconnects at once (QEMU's reconnect=, a restarted VMM)
 * may knock before the hang-up of its previous connection has been seen in
 * this loop: finish the old connection first (its last messages, then the
 * disconnect) instead of refusing the new one. */
static void reap_dead_conn(struct device *d)
{
    int fd = vu_dev_conn_fd(d->vu);
    struct pollfd p = { .fd = fd, .events = POLLIN | POLLRDHUP };

    if (fd < 0 || poll(&p, 1, 0) <= 0 || !(p.revents & (POLLHUP | POLLRDHUP | POLLERR | POLLNVAL)))
        return;
    for (int i = 0; i < 4096 && vu_dev_process(d->vu) == 0; i++)
        ;
    conn_drop(d);
}

static void listen_event(void *arg, uint32_t events)
{
    struct device *d = arg;
    int fd;
    (void)events;

    reap_dead_conn(d);
    fd = vu_dev_accept(d->vu);
    if (fd < 0)
        return;
    if (evloop_add(d->el, fd, EPOLLIN, conn_event, d) < 0 ||
        evloop_add(d->el, vu_dev_timer_fd(d->vu), EPOLLIN, timer_event, d) < 0) {
        log_err("%s: cannot watch the connection", d->id);
        conn_drop(d);
    }
}

/* ---- registry --------------------------------------------------------- */

static void device_free(struct device *d)
{
    if (!d)
        return;
    if (d->vu) {
        if (vu_dev_conn_fd(d->vu) >= 0)
            evloop_del(d->el, vu_dev_conn_fd(d->vu));
        if (vu_dev_timer_fd(d->vu) >= 0)
            evloop_del(d->el, vu_dev_timer_fd(d->vu));
        if (vu_dev_listen_fd(d->vu) >= 0)
            evloop_del(d->el, vu_dev_listen_fd(d->vu));
    }
    if (d->nbd)
        nbd_server_unexport(d->nbd, d->id);
    mirror_dev_stop(&d->md);
    /* Destroy disconnects: queues stop once their in-flight I/O is done;
     * the device model (d->blk or d->net) goes with its vu_dev. */
    vu_dev_destroy(d->vu);
    bdev_close(d->bd);
    if (d->attached) {
        struct sl_err err = ERR_INIT;
        int r = net_detach(&d->network, tap_name(d->tap), &err);
        if (r < 0)
            log_warn("%s: detaching %s: %s", d->id, tap_name(d->tap), err_msg(&err, r));
    }
    tap_close(d->tap);
    free(d->id);
    free(d->spec);
    free(d->socket);
    free(d->path);
    free(d->volume);
    free(d);
}

struct device *device_find(struct sluiced *s, const char *id)
{
    for (unsigned i = 0; i < MAX_DEVICES; i++) {
        struct device *d = s->devs[i];
        if (d && (!strcmp(d->id, id) || !strcmp(d->socket, id)))
            return d;
    }
    return NULL;
}

static int valid_id(const char *id)
{
    if (!*id || strlen(id) > 64)
        return 0;
    for (const char *p = id; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.'))
            return 0;
    return 1;
}

static int parse_blk(struct device_spec *sp, struct sl_err *err)
{
    struct opts *o = &sp->o;

    sp->path = opts_get(o, "path");
    sp->volume = opts_get(o, "volume");
    sp->null = opts_get(o, "null");
    sp->serial = opts_get(o, "serial");
    sp->direct = true;
    sp->poll = true;
    sp->queues = 1;
    if (opts_get_bool(o, "readonly", &sp->readonly) < 0)
        return err_set(err, -EINVAL, "readonly takes on or off");
    if (opts_get(o, "direct") && opts_get_bool(o, "direct", &sp->direct) < 0)
        return err_set(err, -EINVAL, "direct takes on or off");
    if (opts_get_uint(o, "queues", 1, VU_MAX_QUEUES, &sp->queues) < 0)
        return err_set(err, -EINVAL, "queues must be a number from 1 to %d", VU_MAX_QUEUES);
    /* Off by default: packed rings keep their requests across a restart
     * too (the packed inflight layout), but that path is younger than the
     * split ring's and gains nothing measured yet; sluice-vmm takes packed
     * rings whenever offered, QEMU only with its own packed=on. */
    sp->packed = false;
    if (opts_get(o, "packed") && opts_get_bool(o, "packed", &sp->packed) < 0)
        return err_set(err, -EINVAL, "packed takes on or off");
    if (opts_get(o, "poll") && opts_get_bool(o, "poll", &sp->poll) < 0)
        return err_set(err, -EINVAL, "poll takes on or off");
    if (opts_get_bool(o, "incoming", &sp->incoming) < 0)
        return err_set(err, -EINVAL, "incoming takes on or off");
    if (opts_unused(o))
        return err_set(err, -EINVAL, "unknown option '%s'", opts_unused(o));
    if (!!sp->path + !!sp->volume + !!sp->null > 1)
        return err_set(err, -EINVAL, "give one of path=, volume=, null=");
    if (sp->null && (parse_size(sp->null, &sp->null_size) < 0 || sp->null_size == 0 ||
                     sp->null_size % 512))
        return err_set(err, -EINVAL, "null=SIZE needs a size that is a multiple of 512 (e.g. 1G)");
    if (!sp->null && (sp->path ? !*sp->path : !sp->volume || !*sp->volume))
        return err_set(err, -EINVAL, "path=FILE|DEVICE, volume=POOL/VOL or null=SIZE is required");
    if (sp->serial && strlen(sp->serial) > 20)
        return err_set(err, -EINVAL, "serial is at most 20 characters");
    if (sp->incoming && sp->null)
        return err_set(err, -EINVAL, "incoming needs path= or volume= (the NBD export writes there)");
    return 0;
}

static int parse_net(struct device_spec *sp, struct sl_err *err)
{
    struct opts *o = &sp->o;
    const char *target = NULL, *db = opts_get(o, "db");
    enum net_kind kind = NET_KIND_BRIDGE;
    int kinds = 0;

    /* bridge=, hostonly=, ovs=: the keys are the kinds' names. */
    for (enum net_kind k = NET_KIND_BRIDGE; k <= NET_KIND_OVS; k++)
        if (opts_get(o, net_attach_ops_get(k)->name)) {
            kinds++;
            kind = k;
            target = opts_get(o, net_attach_ops_get(k)->name);
        }
    sp->tap = opts_get(o, "tap");
    sp->mac = opts_get(o, "mac");
    sp->queues = 1;
    if (opts_get_uint(o, "queues", 1, VU_MAX_QUEUES / 2, &sp->queues) < 0)
        return err_set(err, -EINVAL, "queues (pairs) must be a number from 1 to %d", VU_MAX_QUEUES / 2);
    if (opts_get_uint(o, "mtu", 68, 65535, &sp->mtu) < 0)
        return err_set(err, -EINVAL, "mtu must be a number from 68 to 65535");
    sp->packed = true;
    if (opts_get(o, "packed") && opts_get_bool(o, "packed", &sp->packed) < 0)
        return err_set(err, -EINVAL, "packed takes on or off");
    if (opts_unused(o))
        return err_set(err, -EINVAL, "unknown option '%s'", opts_unused(o));
    if (kinds > 1)
        return err_set(err, -EINVAL, "give one of bridge=, hostonly=, ovs=");
    if (!kinds && !sp->tap)
        return err_set(err, -EINVAL, "give bridge=BR, hostonly=NET, ovs=BR or tap=NAME");
    if (db && (!kinds || kind != NET_KIND_OVS))
        return err_set(err, -EINVAL, "db= goes with ovs=");
    if (sp->mac) {
        struct sl_err me = ERR_INIT;
        if (mac_parse(sp->mac, sp->mac_addr, &me) < 0)
            return err_set(err, -EINVAL, "mac %s", me.msg);
    }
    if (sp->tap && (!*sp->tap || strlen(sp->tap) >= IFNAMSIZ))
        return err_set(err, -EINVAL, "tap name must be 1 to %d characters", IFNAMSIZ - 1);
    if (!sp->tap && sp->id) {
        char name[IFNAMSIZ];
        if (tap_make_name(sp->id, 0, name, sizeof(name)) < 0)
            return err_set(err, -EINVAL, "id '%s' too long for a tap name (at most 9 characters)", sp->id);
    }
    /* The network, checked and typed once: net_attach() takes it as is. */
    sp->attach = kinds > 0;
    if (sp->attach) {
        struct sl_err ne = ERR_INIT;
        if (net_spec_make(kind, target, db, &sp->net, &ne) < 0)
            return err_set(err, -EINVAL, "%s=%s: %s", net_attach_ops_get(kind)->name, target,
                           ne.msg);
    }
    return 0;
}

int device_parse(enum device_type type, const char *spec, struct device_spec *sp, struct sl_err *err)
{
    struct sockaddr_un sa;
    const char *bad = NULL;
    int r;

    memset(sp, 0, sizeof(*sp));
    sp->type = type;
    sp->text = strdup(spec);
    if (!sp->text)
        return err_set(err, -ENOMEM, "out of memory");
    r = opts_parse(spec, &sp->o, &bad);
    if (r < 0) {
        err_set(err, r == -ENOMEM ? r : -EINVAL, "%s", bad ? bad : strerror(-r));
        goto err;
    }
    sp->socket = opts_get(&sp->o, "socket");
    sp->id = opts_get(&sp->o, "id");
    if (!sp->socket || !*sp->socket) {
        r = err_set(err, -EINVAL, "socket=PATH is required");
        goto err;
    }
    if ((r = usock_addr(sp->socket, &sa)) < 0) {
        r = err_set(err, -EINVAL, "socket=%s: %s", sp->socket, usock_strerror(r));
        goto err;
    }
    if (sp->id && !valid_id(sp->id)) {
        r = err_set(err, -EINVAL, "id must be 1-64 letters, digits, '-', '_' or '.'");
        goto err;
    }
    r = type == DEV_BLK ? parse_blk(sp, err) : parse_net(sp, err);
    if (r < 0)
        goto err;
    return 0;
err:
    device_spec_free(sp);
    return r;
}

void device_spec_free(struct device_spec *sp)
{
    opts_free(&sp->o);
    free(sp->text);
    sp->text = NULL;
}

/* The program's part of a device's vhost-user config, the same for both
 * device models: its name and socket, the worker loops its queues go round
 * from the next one in turn, the ring format offered. */
/* A block device's frontend starts or stops a queue. The first start on an
 * incoming device is the migration's switch-over: the guest now runs here,
 * so its NBD export ends before the queue serves a request (a late write of
 * the old source would corrupt the guest's disk). A mirror of this device
 * reads the count (mirror.h). */
static void blk_queue_event(void *arg, unsigned index, bool running)
{
    struct device *d = arg;

    (void)index;
    if (!running) {
        atomic_fetch_sub(&d->md.frontend_queues, 1);
        return;
    }
    atomic_fetch_add(&d->md.frontend_queues, 1);
    if (d->nbd) {
        nbd_server_unexport(d->nbd, d->id);
        d->nbd = NULL;
        log_info("%s: the frontend started the device: its NBD export ended", d->id);
    }
}

static void vu_config(struct sluiced *s, const struct device *d,
                      const struct device_spec *sp, struct vu_dev_config *vc)
{
    vc->name = d->id;
    vc->socket_path = d->socket;
    vc->loops = s->workers;
    vc->nloops = s->nworkers;
    vc->first_loop = s->next_loop;
    vc->packed = sp->packed;
}

static int start_blk(struct sluiced *s, struct device *d, const struct device_spec *sp, struct sl_err *err)
{
    struct vblk_config bc = { 0 };
    struct vu_dev_config vc = { 0 };
    const char *path = sp->path;
    char *resolved = NULL;
    int r;

    if (sp->volume) {
        /* A pool volume by name: activated if needed, resolved to its
         * block device or file. */
        char *why = NULL;
        r = volume_resolve(sp->volume, &resolved, &why);
        if (r < 0) {
            err_set(err, r, "volume %s: %s", sp->volume, why ? why : strerror(-r));
            free(why);
            return r;
        }
        path = resolved;
        d->volume = strdup(sp->volume);
    }
    d->readonly = sp->readonly;
    d->queues = (unsigned)sp->queues;
    if (sp->null) {
        d->path = strdup("null");
        bc.capacity = sp->null_size;
        bc.blk_size = 512;
        bc.io = &null_ops;
    } else {
        r = bdev_open(path, (sp->readonly ? BDEV_RDONLY : 0) | (sp->direct ? 0 : BDEV_NO_DIRECT), &d->bd);
        if (r < 0) {
            err_set(err, r, "%s: %s", path,
                   r == -EINVAL ? "not a regular file or block device, or empty" : strerror(-r));
            free(resolved);
            return r;
        }
        d->path = strdup(path);
        free(resolved);
        /* `sluice vol delete` sees a served volume as in use. */
        if (d->volume && (r = pool_volume_claim(bdev_fd(d->bd))) < 0)
            return err_set(err, r, "volume %s: cannot lock it: %s", d->volume, strerror(-r));
        bc.capacity = bdev_get_info(d->bd)->size;
        bc.blk_size = bdev_get_info(d->bd)->logical_block;
        d->md.id = d->id;
        d->md.bd = d->bd;
        d->md.loops = s->workers;
        d->md.nloops = s->nworkers;
        bc.io = &mirror_vblk_ops;
        bc.io_ctx = &d->md;
    }
    if (!d->path)
        return err_set(err, -ENOMEM, "out of memory");
    if (sp->incoming) {
        if (!s->nbd_listening)
            return err_set(err, -EINVAL, "incoming needs sluiced --nbd-listen ADDR");
        r = nbd_server_export(s->nbd, d->id, bdev_fd(d->bd), bdev_get_info(d->bd)->size, sp->readonly);
        if (r < 0)
            return err_set(err, r, "cannot export it over NBD: %s", strerror(-r));
        d->nbd = s->nbd;
    }
    bc.readonly = sp->readonly;
    bc.no_poll = !sp->poll;
    bc.num_queues = (unsigned)sp->queues;
    bc.serial = sp->serial;
    vu_config(s, d, sp, &vc);
    vc.on_queue = blk_queue_event;
    vc.on_queue_arg = d;
    r = vblk_create(&bc, &vc, &d->blk);
    if (r < 0)
        return err_set(err, r, "cannot create the device: %s", strerror(-r));
    d->vu = vblk_vu_dev(d->blk);
    s->next_loop += (unsigned)sp->queues;
    return 0;
}

static int start_net(struct sluiced *s, struct device *d, const struct device_spec *sp, struct sl_err *err)
{
    struct vnet_config nc = { 0 };
    struct vu_dev_config vc = { 0 };
    char name[IFNAMSIZ];
    int r;

    if (sp->tap)
        snprintf(name, sizeof(name), "%s", sp->tap);
    else if (tap_make_name(d->id, 0, name, sizeof(name)) < 0)
        return err_set(err, -EINVAL, "id '%s' too long for a tap name (at most 9 characters)", d->id);
    r = tap_open(name, (unsigned)sp->queues, 0, &d->tap);
    if (r < 0)
        return err_set(err, r, "tap %s: %s", name, strerror(-r));
    /* io_uring waits for packets on a blocking fd; on a non-blocking one it
     * would hand back -EAGAIN. */
    for (unsigned q = 0; q < sp->queues; q++) {
        int fd = tap_fd(d->tap, q), fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
            r = neg_errno();
            return err_set(err, r, "tap %s: queue %u: cannot make it blocking: %s", name, q, strerror(-r));
        }
    }
    if (sp->mtu && (r = tap_set_mtu(d->tap, (unsigned)sp->mtu)) < 0)
        return err_set(err, r, "tap %s: mtu: %s", name, strerror(-r));
    if ((r = tap_set_up(d->tap, true)) < 0)
        return err_set(err, r, "tap %s: up: %s", name, strerror(-r));
    if (sp->attach) {
        struct net_owner owner = { .dev = d->id, .mac = sp->mac };
        r = net_attach(&sp->net, tap_name(d->tap), &owner, err);
        if (r < 0)
            return err_wrap(err, r, "attaching %s", tap_name(d->tap));
        d->network = sp->net;
        d->attached = true;
    }
    d->queues = (unsigned)sp->queues;
    nc.queue_pairs = (unsigned)sp->queues;
    nc.has_mac = sp->mac != NULL;
    memcpy(nc.mac, sp->mac_addr, sizeof(nc.mac));
    nc.mtu = (uint16_t)sp->mtu;
    nc.io = &tap_ops;
    nc.io_ctx = d->tap;
    vu_config(s, d, sp, &vc);
    r = vnet_create(&nc, &vc, &d->net);
    if (r < 0)
        return err_set(err, r, "cannot create the device: %s", strerror(-r));
    d->vu = vnet_vu_dev(d->net);
    s->next_loop += 2 * (unsigned)sp->queues;
    d->path = strdup(tap_name(d->tap));
    return d->path ? 0 : err_set(err, -ENOMEM, "out of memory");
}

int device_start(struct sluiced *s, const struct device_spec *sp, struct device **out, struct sl_err *err)
{
    struct device *d = NULL;
    const char *id = sp->id;
    unsigned slot;
    char idbuf[32], network[NET_SPEC_STRLEN];
    int r;

    for (slot = 0; slot < MAX_DEVICES && s->devs[slot]; slot++)
        ;
    if (slot == MAX_DEVICES)
        return err_set(err, -ENOSPC, "too many devices (at most %d)", MAX_DEVICES);
    if (!id) {
        snprintf(idbuf, sizeof(idbuf), "%s%u", sp->type == DEV_BLK ? "blk" : "net", s->next_id);
        id = idbuf;
    }
    if (device_find(s, id))
        return err_set(err, -EEXIST, "a device with id '%s' exists", id);
    if (device_find(s, sp->socket))
        return err_set(err, -EEXIST, "%s: the socket of another device", sp->socket);
    if (s->control && !strcmp(s->control, sp->socket))
        return err_set(err, -EADDRINUSE, "%s: the control socket", sp->socket);
    /* Before anything is opened or attached: a path another process owns
     * (or that is not a socket) is left alone. usock_listen() checks again
     * when it binds. */
    r = usock_check(sp->socket);
    if (r < 0)
        return err_set(err, r, "%s: %s", sp->socket, usock_strerror(r));
    d = calloc(1, sizeof(*d));
    if (!d || !(d->id = strdup(id)) || !(d->spec = strdup(sp->text)) || !(d->socket = strdup(sp->socket))) {
        r = err_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    d->type = sp->type;
    d->el = s->el;
    r = sp->type == DEV_BLK ? start_blk(s, d, sp, err) : start_net(s, d, sp, err);
    if (r < 0)
        goto out;
    r = vu_dev_listen(d->vu);
    if (r < 0) {
        r = err_set(err, r, "%s: %s", sp->socket, usock_strerror(r));
        goto out;
    }
    r = usock_share(sp->socket, s->gid);
    if (r < 0) {
        r = err_set(err, r, "%s: cannot set its group: %s", sp->socket, strerror(-r));
        goto out;
    }
    net_spec_format(&d->network, network, sizeof(network));
    r = evloop_add(s->el, vu_dev_listen_fd(d->vu), EPOLLIN, listen_event, d);
    if (r < 0) {
        r = err_set(err, r, "cannot watch the socket: %s", strerror(-r));
        goto out;
    }
    if (d->type == DEV_BLK)
        log_info("%s: serving %s on %s (%llu bytes%s%s, %u queue%s)", d->id, d->path, d->socket,
                 (unsigned long long)vblk_capacity(d->blk), d->readonly ? ", read-only" : "",
                 d->bd && bdev_get_info(d->bd)->direct ? ", O_DIRECT" : "",
                 d->queues, d->queues > 1 ? "s" : "");
    else
        log_info("%s: tap %s%s%s on %s, %u queue pair%s", d->id, tap_name(d->tap),
                 d->attached ? " on " : "", d->attached ? network : "", d->socket,
                 d->queues, d->queues > 1 ? "s" : "");
    s->devs[slot] = d;
    s->next_id++;
    if (out)
        *out = d;
    d = NULL;
out:
    device_free(d);
    return r;
}

int device_add(struct sluiced *s, enum device_type type, const char *spec,
               struct device **out, struct sl_err *err)
{
    struct device_spec sp;
    int r;

    r = device_parse(type, spec, &sp, err);
    if (r < 0)
        return r;
    r = device_start(s, &sp, out, err);
    device_spec_free(&sp);
    /* The spec parsed: whatever fails now is this machine's, not the
     * request's, and must not read as "invalid params" (-EINVAL). */
    return r == -EINVAL ? -EIO : r;
}

int device_remove(struct sluiced *s, const char *id)
{
    for (unsigned i = 0; i < MAX_DEVICES; i++) {
        struct device *d = s->devs[i];
        if (d && (!strcmp(d->id, id) || !strcmp(d->socket, id))) {
            s->devs[i] = NULL;
            log_info("%s: removed", d->id);
            device_free(d);
            return 0;
        }
    }
    return -ENOENT;
}

int device_refresh(struct device *d, uint64_t *size_out, struct sl_err *err)
{
    uint64_t old;
    int r;

    if (d->type != DEV_BLK || !d->bd)
        return -EOPNOTSUPP;
    /* A mirror copies and tracks the size it started with: writes past it
     * would never reach the target. The size changes once it has ended. */
    if (mirror_running(&d->md))
        return err_set(err, -EBUSY, "a mirror of this device is running (cancel it before resizing)");
    old = bdev_get_info(d->bd)->size;
    r = bdev_refresh_size(d->bd);
    if (r < 0)
        return r;
    *size_out = bdev_get_info(d->bd)->size;
    if (*size_out == old)
        return 0;
    log_info("%s: capacity %llu -> %llu bytes", d->id, (unsigned long long)old,
             (unsigned long long)*size_out);
    /* Tells a connected frontend (CONFIG_CHANGE_MSG) to re-read the config. */
    return vblk_set_capacity(d->blk, *size_out);
}

void devices_destroy_all(struct sluiced *s)
{
    for (unsigned i = 0; i < MAX_DEVICES; i++) {
        device_free(s->devs[i]);
        s->devs[i] = NULL;
    }
}

struct json_object *device_describe(const struct device *d)
{
    struct json_object *o = json_object_new_object();

    json_object_object_add(o, "id", json_object_new_string(d->id));
    json_object_object_add(o, "type", json_object_new_string(d->type == DEV_BLK ? "blk" : "net"));
    json_object_object_add(o, "socket", json_object_new_string(d->socket));
    json_object_object_add(o, "spec", json_object_new_string(d->spec));
    json_object_object_add(o, "connected", json_object_new_boolean(vu_dev_conn_fd(d->vu) >= 0));
    json_object_object_add(o, "broken", json_object_new_boolean(vu_dev_broken(d->vu)));
    json_object_object_add(o, "queues", json_object_new_int((int)d->queues));
    if (d->type == DEV_NET) {
        char network[NET_SPEC_STRLEN];
        net_spec_format(&d->network, network, sizeof(network));
        json_object_object_add(o, "tap", json_object_new_string(tap_name(d->tap)));
        json_object_object_add(o, "network", d->attached ? json_object_new_string(network) : NULL);
    } else {
        json_object_object_add(o, "path", json_object_new_string(d->path));
        json_object_object_add(o, "volume", d->volume ? json_object_new_string(d->volume) : NULL);
        json_object_object_add(o, "readonly", json_object_new_boolean(d->readonly));
        json_object_object_add(o, "size_bytes", json_object_new_int64((int64_t)vblk_capacity(d->blk)));
        json_object_object_add(o, "incoming", json_object_new_boolean(d->nbd != NULL));
        json_object_object_add(o, "mirror", d->bd ? mirror_status_json((struct mirror_dev *)&d->md) : NULL);
    }
    return o;
}

struct json_object *device_stats_json(const struct device *d)
{
    struct json_object *o = json_object_new_object(), *qs = json_object_new_array();

    /* Per virtqueue: kicks received, chains taken, guest interrupts sent. */
    for (unsigned i = 0; i < vu_dev_num_queues(d->vu); i++) {
        const struct vq *vq = vu_dev_queue(d->vu, i);
        struct json_object *q = json_object_new_object();
        struct vq_stats vs;
        vq_stats(vq, &vs);
        json_object_object_add(q, "index", json_object_new_int((int)i));
        json_object_object_add(q, "kicks", json_object_new_int64((int64_t)vs.kicks));
        json_object_object_add(q, "requests", json_object_new_int64((int64_t)vs.elems));
        json_object_object_add(q, "interrupts", json_object_new_int64((int64_t)vs.notifies));
        /* The ring format the queue last started with. */
        json_object_object_add(q, "ring", json_object_new_string(vq_is_packed(vq) ? "packed" : "split"));
        json_object_array_add(qs, q);
    }
    json_object_object_add(o, "queues", qs);

    json_object_object_add(o, "id", json_object_new_string(d->id));
    if (d->type == DEV_BLK) {
        struct vblk_stats st;
        vblk_stats(d->blk, &st);
        json_object_object_add(o, "reads", json_object_new_int64((int64_t)st.reads));
        json_object_object_add(o, "writes", json_object_new_int64((int64_t)st.writes));
        json_object_object_add(o, "flushes", json_object_new_int64((int64_t)st.flushes));
        json_object_object_add(o, "discards", json_object_new_int64((int64_t)st.discards));
        json_object_object_add(o, "write_zeroes", json_object_new_int64((int64_t)st.write_zeroes));
        json_object_object_add(o, "other", json_object_new_int64((int64_t)st.other));
        json_object_object_add(o, "bytes_read", json_object_new_int64((int64_t)st.bytes_read));
        json_object_object_add(o, "bytes_written", json_object_new_int64((int64_t)st.bytes_written));
        json_object_object_add(o, "errors", json_object_new_int64((int64_t)st.errors));
        /* Non-empty buckets as {"lt_us": upper bound, "count": n}. */
        struct json_object *h = json_object_new_array();
        for (unsigned i = 0; i < VBLK_LAT_BUCKETS; i++) {
            if (!st.lat_us[i])
                continue;
            struct json_object *b = json_object_new_object();
            json_object_object_add(b, "lt_us", i + 1 < VBLK_LAT_BUCKETS ?
                                   json_object_new_int64((int64_t)1 << i) : NULL);
            json_object_object_add(b, "count", json_object_new_int64((int64_t)st.lat_us[i]));
            json_object_array_add(h, b);
        }
        json_object_object_add(o, "latency", h);
    } else {
        struct vnet_stats st;
        vnet_stats(d->net, &st);
        json_object_object_add(o, "rx_packets", json_object_new_int64((int64_t)st.rx_packets));
        json_object_object_add(o, "rx_bytes", json_object_new_int64((int64_t)st.rx_bytes));
        json_object_object_add(o, "rx_dropped", json_object_new_int64((int64_t)st.rx_dropped));
        json_object_object_add(o, "tx_packets", json_object_new_int64((int64_t)st.tx_packets));
        json_object_object_add(o, "tx_bytes", json_object_new_int64((int64_t)st.tx_bytes));
        json_object_object_add(o, "tx_errors", json_object_new_int64((int64_t)st.tx_errors));
    }
    return o;
}

int device_mirror(struct device *d, const char *uri, unsigned timeout_ms, struct sl_err *err)
{
    if (d->type != DEV_BLK || !d->bd)
        return err_set(err, -EOPNOTSUPP, "only block devices on a file or volume can be mirrored");
    return mirror_start(&d->md, uri, timeout_ms, err);
}

int device_mirror_cancel(struct device *d, struct sl_err *err)
{
    if (d->type != DEV_BLK || !d->bd || mirror_cancel(&d->md) < 0)
        return err_set(err, -ENOENT, "no mirror is running");
    return 0;
}

struct json_object *device_mirror_status(struct device *d)
{
    return d->type == DEV_BLK && d->bd ? mirror_status_json(&d->md) : NULL;
}
