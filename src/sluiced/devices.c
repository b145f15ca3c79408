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
#include "rbd-ops.h"
#include "sluiced.h"
#include "net/attach.h"
#include "net/shaper.h"
#include "net/tap.h"
#include "storage/bdev.h"
#include "storage/pool.h"
#include "vhost/blk.h"
#include "vhost/net.h"

#include <fcntl.h>
#include <limits.h>
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
    struct rbd_disk *rbd;  /* rbd=POOL/IMAGE (rbd-ops.h) */
    struct vnet *net;
    struct tap *tap;
    bool attached;         /* the tap is a port of @network */
    struct net_spec network;
    struct net_shape shape;   /* the tap's rate limits (zeroes: none) */
    bool shaped;              /* tc objects may be there: clear them */
    struct evloop *el;
    struct mirror_dev md;  /* the I/O ops' context; mirror jobs */
    struct nbd_server *nbd;   /* exported there as @id (incoming) */
    /* blk: the I/O limits the queues take from, the device's own or its
     * group's (then @group is set) */
    struct tb_limiter *limiter;
    struct qos_group *group;
    bool recorded;         /* in the state file */
    bool cmdline;          /* from --blk/--net (its spec is the command line) */
    char *unavailable;     /* recorded but not served: why (device_keep_unavailable) */
};

static int state_write(struct sluiced *s, const struct device *skip, struct sl_err *err);

/* Devices with group=NAME share one limiter (QEMU throttle groups). A group
 * lives until sluiced exits: its limits stay for the next device to join. */
struct qos_group {
    char *name;
    struct tb_limiter *lim;
    bool recorded;         /* set through group.set: its limits are in the state file */
    struct qos_group *next;
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
    if (!d->group)
        tb_limiter_destroy(d->limiter);
    bdev_close(d->bd);
    rbd_disk_close(d->rbd);
    if (d->attached) {
        struct sl_err err = ERR_INIT;
        int r = net_detach(&d->network, tap_name(d->tap), &err);
        if (r < 0)
            log_warn("%s: detaching %s: %s", d->id, tap_name(d->tap), err_msg(&err, r));
    }
    if (d->shaped) {
        struct sl_err err = ERR_INIT;
        int r = net_shaper_clear(tap_name(d->tap), &err);
        if (r < 0)
            log_warn("%s: removing the rate limits: %s", d->id, err_msg(&err, r));
    }
    tap_close(d->tap);
    free(d->id);
    free(d->spec);
    free(d->socket);
    free(d->path);
    free(d->volume);
    free(d->unavailable);
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

bool device_valid_id(const char *id)
{
    if (!*id || strlen(id) > 64)
        return 0;
    for (const char *p = id; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.'))
            return 0;
    return 1;
}

/* The I/O limit keys of @o into @l (tb_limits_from_opts()), with the error
 * a user reads. */
static int parse_limits(struct opts *o, struct tb_limits *l, unsigned *given, struct sl_err *err)
{
    const char *bad = NULL;
    int r = tb_limits_from_opts(o, l, given, &bad);

    if (r == 0)
        return 0;
    if (!strcmp(bad, "burst"))
        return err_set(err, -EINVAL, "burst takes seconds from 0.001 to 3600 (e.g. 1, 0.5), not '%s'",
                       opts_get(o, bad));
    return err_set(err, -EINVAL, "%s takes %s per second (0: no limit), not '%s'", bad,
                   strncmp(bad, "bps", 3) ? "a number of requests up to 4294967295" :
                   "a size (e.g. 20M)", opts_get(o, bad));
}

static int parse_blk(struct device_spec *sp, struct sl_err *err)
{
    struct opts *o = &sp->o;
    int r;

    sp->path = opts_get(o, "path");
    sp->volume = opts_get(o, "volume");
    sp->null = opts_get(o, "null");
    sp->serial = opts_get(o, "serial");
    sp->rbd = opts_get(o, "rbd");
    sp->ceph_conf = opts_get(o, "ceph-conf");
    sp->ceph_id = opts_get(o, "ceph-id");
    const char *lock = opts_get(o, "lock");
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
    tb_limits_init(&sp->limits);
    r = parse_limits(o, &sp->limits, &sp->limit_keys, err);
    if (r < 0)
        return r;
    sp->group = opts_get(o, "group");
    if (sp->group && !device_valid_id(sp->group))
        return err_set(err, -EINVAL, "group must be 1-64 letters, digits, '-', '_' or '.'");
    if (opts_unused(o))
        return err_set(err, -EINVAL, "unknown option '%s'", opts_unused(o));
    if (!!sp->path + !!sp->volume + !!sp->null + !!sp->rbd > 1)
        return err_set(err, -EINVAL, "give one of path=, volume=, null=, rbd=");
    if (sp->rbd) {
        char pool[128], image[128];
        if (rbd_parse_name(sp->rbd, pool, image) < 0)
            return err_set(err, -EINVAL, "rbd=POOL/IMAGE needs a pool and an image name, not '%s'", sp->rbd);
        if (opts_get(o, "direct"))
            return err_set(err, -EINVAL, "direct= goes with path= or volume= (librbd does its own caching)");
        if (lock && strcmp(lock, "auto") && strcmp(lock, "exclusive"))
            return err_set(err, -EINVAL, "lock takes auto or exclusive, not '%s'", lock);
        sp->rbd_exclusive = lock && !strcmp(lock, "exclusive");
        if (sp->rbd_exclusive && sp->readonly)
            return err_set(err, -EINVAL, "lock=exclusive is for a writer, not a readonly device");
    } else if (sp->ceph_conf || sp->ceph_id || lock) {
        return err_set(err, -EINVAL, "ceph-conf=, ceph-id= and lock= go with rbd=");
    }
    if (sp->ceph_conf && !*sp->ceph_conf)
        return err_set(err, -EINVAL, "ceph-conf needs a path");
    if (sp->ceph_id && !*sp->ceph_id)
        return err_set(err, -EINVAL, "ceph-id needs a cephx user name (e.g. admin)");
    if (sp->null && (parse_size(sp->null, &sp->null_size) < 0 || sp->null_size == 0 ||
                     sp->null_size % 512))
        return err_set(err, -EINVAL, "null=SIZE needs a size that is a multiple of 512 (e.g. 1G)");
    if (!sp->null && !sp->rbd && (sp->path ? !*sp->path : !sp->volume || !*sp->volume))
        return err_set(err, -EINVAL, "path=FILE|DEVICE, volume=POOL/VOL, rbd=POOL/IMAGE or null=SIZE is required");
    if (sp->serial && strlen(sp->serial) > 20)
        return err_set(err, -EINVAL, "serial is at most 20 characters");
    if (sp->incoming && (sp->null || sp->rbd))
        return err_set(err, -EINVAL, "incoming needs path= or volume= (the NBD export writes there)");
    return 0;
}

/* The rate-limit keys of a net spec (rx-rate=, tx-rate=, burst=) into @sh,
 * checked; *n (if non-NULL) counts those given. Returns 0 or -EINVAL. */
static int shape_opts(struct opts *o, struct net_shape *sh, unsigned *n, struct sl_err *err)
{
    static const char *const keys[] = { "rx-rate", "tx-rate", "burst" };

    for (unsigned i = 0; i < 3; i++) {
        const char *v = opts_get(o, keys[i]);
        if (v && net_shape_option(sh, keys[i], v, err) < 0)
            return -EINVAL;
        if (v && n)
            (*n)++;
    }
    return net_shape_check(sh, err);
}

static int parse_net(struct device_spec *sp, struct sl_err *err)
{
    struct opts *o = &sp->o;
    const char *target = NULL, *db = opts_get(o, "db"), *iface_id = opts_get(o, "iface-id");
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
    if (shape_opts(o, &sp->shape, NULL, err) < 0)
        return -EINVAL;
    if (opts_unused(o))
        return err_set(err, -EINVAL, "unknown option '%s'", opts_unused(o));
    if (kinds > 1)
        return err_set(err, -EINVAL, "give one of bridge=, hostonly=, ovs=");
    if (!kinds && !sp->tap)
        return err_set(err, -EINVAL, "give bridge=BR, hostonly=NET, ovs=BR or tap=NAME");
    if (db && (!kinds || kind != NET_KIND_OVS))
        return err_set(err, -EINVAL, "db= goes with ovs=");
    if (iface_id && (!kinds || kind != NET_KIND_OVS))
        return err_set(err, -EINVAL, "iface-id= goes with ovs=");
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
        if (net_spec_make(kind, target, db, iface_id, &sp->net, &ne) < 0)
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
    if (sp->id && !device_valid_id(sp->id)) {
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

/* ---- I/O limits ---------------------------------------------------------- */

static struct qos_group *group_find(struct sluiced *s, const char *name)
{
    for (struct qos_group *g = s->groups; g; g = g->next)
        if (!strcmp(g->name, name))
            return g;
    return NULL;
}

static int group_get(struct sluiced *s, const char *name, struct qos_group **out)
{
    struct qos_group *g = group_find(s, name);
    struct tb_limits none;
    int r;

    if (g) {
        *out = g;
        return 0;
    }
    g = calloc(1, sizeof(*g));
    if (!g || !(g->name = strdup(name)))
        goto nomem;
    tb_limits_init(&none);
    /* Its members may run on any worker: the bucket takes a lock. */
    r = tb_limiter_create(&none, true, &g->lim);
    if (r < 0)
        goto nomem;
    g->next = s->groups;
    s->groups = g;
    *out = g;
    return 0;
nomem:
    if (g)
        free(g->name);
    free(g);
    return -ENOMEM;
}

static void groups_destroy(struct sluiced *s)
{
    while (s->groups) {
        struct qos_group *g = s->groups;
        s->groups = g->next;
        tb_limiter_destroy(g->lim);
        free(g->name);
        free(g);
    }
}

/* The queues of every device taking from @lim look at what waits again. */
static void limits_changed(struct sluiced *s, const struct tb_limiter *lim)
{
    for (unsigned i = 0; i < MAX_DEVICES; i++)
        if (s->devs[i] && s->devs[i]->limiter == lim && s->devs[i]->blk)
            vblk_limits_changed(s->devs[i]->blk);
}

/* A new block device's limiter: its group's (the spec's limits, if any,
 * become the group's) or its own, shared when its queues run on several
 * workers. */
static int limits_attach(struct sluiced *s, struct device *d, const struct device_spec *sp,
                         struct sl_err *err)
{
    int r;

    if (sp->group) {
        r = group_get(s, sp->group, &d->group);
        if (r < 0)
            return err_set(err, r, "out of memory");
        d->limiter = d->group->lim;
        if (sp->limit_keys) {
            tb_limiter_set(d->limiter, &sp->limits);
            limits_changed(s, d->limiter);
        }
        return 0;
    }
    r = tb_limiter_create(&sp->limits, sp->queues > 1 && s->nworkers > 1, &d->limiter);
    return r < 0 ? err_set(err, r, "out of memory") : 0;
}

static int set_blk(struct sluiced *s, struct device *d, struct opts *o, struct sl_err *err)
{
    struct tb_limits l;
    unsigned n = 0;
    int r;

    tb_limiter_get(d->limiter, &l);
    r = parse_limits(o, &l, &n, err);
    if (r < 0)
        return r;
    if (opts_get(o, "group"))
        return err_set(err, -EINVAL, "group is chosen when the device is added");
    if (opts_unused(o))
        return err_set(err, -EINVAL, "unknown option '%s' for a block device", opts_unused(o));
    if (!n)
        return err_set(err, -EINVAL, "nothing to set (iops=, iops-read=, iops-write=, bps=, "
                       "bps-read=, bps-write=, burst=)");
    tb_limiter_set(d->limiter, &l);
    limits_changed(s, d->limiter);
    return 0;
}

/* A network device's settings: the tap's rate limits (net/shaper.h); keys
 * not given keep their value. On a failure in the kernel the old limits are
 * put back. */
static int set_net(struct sluiced *s, struct device *d, struct opts *o, struct sl_err *err)
{
    static const char *const blk_only[] = { "group" };
    struct sl_err ignored = ERR_INIT;
    struct net_shape sh = d->shape;
    unsigned n = 0;
    int r;
    (void)s;

    for (unsigned k = 0; k < TB_KINDS + 1; k++) {
        const char *key = k < TB_KINDS ? tb_kind_names[k] : blk_only[k - TB_KINDS];
        if (opts_get(o, key))
            return err_set(err, -EINVAL, "%s is a block device limit; %s is a network device", key, d->id);
    }
    r = shape_opts(o, &sh, &n, err);
    if (r < 0)
        return r;
    if (opts_unused(o))
        return err_set(err, -EINVAL, "unknown option '%s' for a network device", opts_unused(o));
    if (!n)
        return err_set(err, -EINVAL, "nothing to set (rx-rate=, tx-rate=, burst=)");
    d->shaped = true;
    r = net_shaper_set(tap_name(d->tap), &sh, err);
    if (r < 0) {
        net_shaper_set(tap_name(d->tap), &d->shape, &ignored);
        return r;
    }
    d->shape = sh;
    return 0;
}

/* The spec a restart gives @d after the set @o: its spec with @o's keys
 * put in (*out malloc'ed), a key set to 0 kept as 0 (no limit). */
static int merged_spec(const struct device *d, const struct opts *o, char **out, struct sl_err *err)
{
    struct opts base;
    int r = opts_parse(d->spec, &base, NULL);

    if (r == 0) {
        r = opts_merge(&base, o, out);
        opts_free(&base);
    }
    if (r == -E2BIG)
        return err_set(err, r, "the device's spec would have more than %d options", OPTS_MAX);
    return r < 0 ? err_set(err, r, "out of memory") : 0;
}

int device_set(struct sluiced *s, struct device *d, const char *spec, struct sl_err *err)
{
    /* Only a device added through the control socket has a record of its
     * own; a command-line device's spec is the command line. */
    bool own = s->state && d->recorded && !d->cmdline;
    /* A member's set changes its group's limits: a recorded group's record
     * follows. */
    bool record = own || (s->state && d->group && d->group->recorded);
    struct net_shape old_shape = d->shape;
    struct tb_limits old_limits;
    char *merged = NULL, *old_spec;
    bool applied;
    struct opts o;
    const char *bad = NULL;
    int r;

    r = opts_parse(spec, &o, &bad);
    if (r < 0)
        return err_set(err, r == -ENOMEM ? r : -EINVAL, "%s", bad ? bad : strerror(-r));
    if (d->limiter)
        tb_limiter_get(d->limiter, &old_limits);
    switch (d->type) {
    case DEV_BLK:
        r = set_blk(s, d, &o, err);
        break;
    case DEV_NET:
        r = set_net(s, d, &o, err);
        break;
    default:
        r = err_set(err, -EINVAL, "nothing to set");
        break;
    }
    applied = r == 0;
    if (r == 0 && record && (!own || (r = merged_spec(d, &o, &merged, err)) == 0)) {
        old_spec = d->spec;
        if (own)
            d->spec = merged;
        r = state_write(s, NULL, err);
        if (r == -EROFS) {
            log_warn("%s: set %s not recorded (lost at a restart): %s", d->id, spec, err_msg(err, r));
            err_clear(err);
            r = 0;
        } else if (r < 0) {
            err_wrap(err, r, "cannot record the change");
            if (r == -EINVAL)   /* this machine's failure, not the request's */
                r = -EIO;
        }
        if (r < 0 || !own) {
            d->spec = old_spec;
            old_spec = merged;
        }
        free(old_spec);
    }
    if (r < 0 && applied && d->type == DEV_BLK) {
        /* Undone: the limits in force before. */
        tb_limiter_set(d->limiter, &old_limits);
        limits_changed(s, d->limiter);
    } else if (r < 0 && applied && d->type == DEV_NET) {
        struct sl_err ignored = ERR_INIT;
        if (net_shaper_set(tap_name(d->tap), &old_shape, &ignored) == 0)
            d->shape = old_shape;
    }
    if (r == 0)
        log_info("%s: set %s", d->id, spec);
    opts_free(&o);
    return r;
}

/* The limit keys of group spec @spec into @l (which holds the limits to
 * start from): limit keys only, at least one. Returns 0, -EINVAL or
 * -ENOMEM with @err saying why. */
static int group_parse(const char *spec, struct tb_limits *l, struct sl_err *err)
{
    struct opts o;
    const char *bad = NULL;
    unsigned n = 0;
    int r;

    r = opts_parse(spec, &o, &bad);
    if (r < 0)
        return err_set(err, r == -ENOMEM ? r : -EINVAL, "%s", bad ? bad : strerror(-r));
    r = parse_limits(&o, l, &n, err);
    if (r == 0 && opts_unused(&o))
        r = err_set(err, -EINVAL, "unknown option '%s' for a group", opts_unused(&o));
    if (r == 0 && !n)
        r = err_set(err, -EINVAL, "nothing to set (iops=, iops-read=, iops-write=, bps=, "
                    "bps-read=, bps-write=, burst=)");
    opts_free(&o);
    return r;
}

int group_check(const char *name, const char *spec, struct sl_err *err)
{
    struct tb_limits l;

    if (!device_valid_id(name))
        return err_set(err, -EINVAL, "group must be 1-64 letters, digits, '-', '_' or '.'");
    tb_limits_init(&l);
    return group_parse(spec, &l, err);
}

/* Set group @name's limits from @spec; @record: mark it recorded and
 * rewrite the state file (a failure there undoes the change). */
static int group_apply(struct sluiced *s, const char *name, const char *spec, bool record,
                       struct sl_err *err)
{
    struct qos_group *g = group_find(s, name);
    struct tb_limits l, old;
    bool was_recorded;
    int r;

    if (!device_valid_id(name))
        return err_set(err, -EINVAL, "group must be 1-64 letters, digits, '-', '_' or '.'");
    if (g)
        tb_limiter_get(g->lim, &l);
    else
        tb_limits_init(&l);
    old = l;
    r = group_parse(spec, &l, err);
    if (r < 0)
        return r;
    if (!g && (r = group_get(s, name, &g)) < 0)
        return err_set(err, r, "out of memory");
    tb_limiter_set(g->lim, &l);
    limits_changed(s, g->lim);
    was_recorded = g->recorded;
    if (record && s->state && !state_frozen(s->state)) {
        g->recorded = true;
        r = state_write(s, NULL, err);
        if (r < 0) {
            err_wrap(err, r, "cannot record the change");
            g->recorded = was_recorded;
            tb_limiter_set(g->lim, &old);
            limits_changed(s, g->lim);
            return r == -EINVAL ? -EIO : r;
        }
    } else if (record && s->state) {
        log_warn("group %s: set %s not recorded (lost at a restart): %s/" STATE_FILE " is corrupt",
                 name, spec, state_dir(s->state));
    }
    if (!record)
        g->recorded = true;     /* restored from the state file */
    log_info("group %s: set %s", name, spec);
    return 0;
}

int group_set(struct sluiced *s, const char *name, const char *spec, struct sl_err *err)
{
    return group_apply(s, name, spec, true, err);
}

int group_restore(struct sluiced *s, const char *name, const char *spec, struct sl_err *err)
{
    return group_apply(s, name, spec, false, err);
}

/* @lim's limits as a group spec group_parse() reads back: the rates set and
 * the burst ("iops=50,bps=1048576,burst=1.000"); all of them fit in
 * GROUP_SPEC_MAX bytes (6 * 32 + 15). */
#define GROUP_SPEC_MAX 256
static void limits_format(struct tb_limiter *lim, char *buf, size_t len)
{
    struct tb_limits l;
    size_t k = 0;

    tb_limiter_get(lim, &l);
    buf[0] = 0;
    for (unsigned i = 0; i < TB_KINDS && k < len; i++)
        if (l.rate[i])
            k += (size_t)snprintf(buf + k, len - k, "%s=%llu,", tb_kind_names[i],
                                  (unsigned long long)l.rate[i]);
    if (k < len)
        snprintf(buf + k, len - k, "burst=%llu.%03llu", (unsigned long long)(l.burst_ms / 1000),
                 (unsigned long long)(l.burst_ms % 1000));
}

static struct json_object *limits_json(struct tb_limiter *lim)
{
    struct json_object *o = json_object_new_object();
    struct tb_limits l;

    tb_limiter_get(lim, &l);
    for (unsigned k = 0; k < TB_KINDS; k++)
        json_object_object_add(o, tb_kind_names[k],
                               l.rate[k] ? json_object_new_int64((int64_t)l.rate[k]) : NULL);
    json_object_object_add(o, "burst_s", json_object_new_double((double)l.burst_ms / 1000.0));
    return o;
}

struct json_object *groups_json(struct sluiced *s)
{
    struct json_object *a = json_object_new_array();

    for (struct qos_group *g = s->groups; g; g = g->next) {
        struct json_object *o = json_object_new_object(), *m = json_object_new_array();
        json_object_object_add(o, "name", json_object_new_string(g->name));
        json_object_object_add(o, "limits", limits_json(g->lim));
        for (unsigned i = 0; i < MAX_DEVICES; i++)
            if (s->devs[i] && s->devs[i]->group == g)
                json_object_array_add(m, json_object_new_string(s->devs[i]->id));
        json_object_object_add(o, "members", m);
        json_object_array_add(a, o);
    }
    return a;
}

/* A block device's backing changed size from @old to @size: logged, and a
 * connected frontend told (CONFIG_CHANGE_MSG) to re-read the config. */
static int capacity_changed(struct device *d, uint64_t old, uint64_t size)
{
    log_info("%s: capacity %llu -> %llu bytes", d->id, (unsigned long long)old,
             (unsigned long long)size);
    return vblk_set_capacity(d->blk, size);
}

/* The image's size now; when it changed, the frontend is told
 * (CONFIG_CHANGE_MSG). Returns 0 or -errno. */
static int rbd_refresh(struct device *d, uint64_t *size_out)
{
    uint64_t old = vblk_capacity(d->blk);
    int r = rbd_disk_size(d->rbd, size_out);

    if (r < 0)
        return r;
    *size_out -= *size_out % 512;   /* the guest counts sectors */
    return *size_out == old ? 0 : capacity_changed(d, old, *size_out);
}

/* On the control loop after the image's header changed (rbd-ops.h): a
 * resize on any host reaches the guest. */
static void rbd_changed(void *arg)
{
    struct device *d = arg;
    uint64_t size;
    int r;

    if (!d->blk)
        return;   /* still opening */
    r = rbd_refresh(d, &size);
    if (r < 0)
        log_warn("%s: cannot re-read the image's size: %s", d->id, strerror(-r));
}

/* Open the image of rbd=POOL/IMAGE, or of an rbd pool's volume (@target:
 * pool_volume_resolve()'s "rbd:..." string; a snapshot is served
 * read-only). */
static int open_rbd(struct device *d, const struct device_spec *sp, const char *target,
                    struct vblk_config *bc, struct sl_err *err)
{
    struct rbd_disk_spec rs = { .conf = sp->ceph_conf, .id = sp->ceph_id,
                                .exclusive = sp->rbd_exclusive };
    char pool[128], image[128], buf[PATH_MAX + 512];
    uint64_t size;
    int r;

    if (target) {
        if (rbd_parse_target(target, buf, sizeof(buf), &rs) < 0)
            return err_set(err, -EINVAL, "volume %s: cannot parse its target '%s'", d->volume, target);
        d->readonly = d->readonly || rs.snap;
    } else if (rbd_parse_name(sp->rbd, pool, image) < 0) {
        return err_set(err, -EINVAL, "rbd=POOL/IMAGE needs a pool and an image name");
    } else {
        rs.pool = pool;
        rs.image = image;
    }
    rs.readonly = d->readonly;
    r = rbd_disk_open(&rs, d->el, rbd_changed, d, &d->rbd, err);
    if (r < 0)
        return r;
    if (asprintf(&d->path, "rbd:%s/%s%s%s", rs.pool, rs.image, rs.snap ? "@" : "", rs.snap ? rs.snap : "") < 0) {
        d->path = NULL;
        return err_set(err, -ENOMEM, "out of memory");
    }
    r = rbd_disk_size(d->rbd, &size);
    if (r < 0)
        return err_set(err, r, "%s: cannot read its size: %s", d->path, strerror(-r));
    if (size < 512)
        return err_set(err, -EINVAL, "%s: empty", d->path);
    bc->capacity = size - size % 512;
    bc->blk_size = 512;
    bc->io = &rbd_vblk_ops;
    bc->io_ctx = d->rbd;
    return 0;
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
    if (sp->rbd || (resolved && !strncmp(resolved, "rbd:", 4))) {
        /* rbd=, or a volume of an rbd pool (storage/pool.h). */
        r = open_rbd(d, sp, resolved, &bc, err);
        free(resolved);
        if (r < 0)
            return r;
    } else if (sp->null) {
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
        /* parse_blk refuses incoming with null= and rbd=; a volume= that
         * resolved to an rbd pool has no file for the export either (the
         * destination of a shared RBD image needs no incoming copy). */
        if (!d->bd)
            return err_set(err, -EINVAL, "incoming needs path= or a file or LVM volume (the NBD export writes there), not an rbd volume");
        if (!s->nbd_listening)
            return err_set(err, -EINVAL, "incoming needs sluiced --nbd-listen ADDR");
        r = nbd_server_export(s->nbd, d->id, bdev_fd(d->bd), bdev_get_info(d->bd)->size, sp->readonly);
        if (r < 0)
            return err_set(err, r, "cannot export it over NBD: %s", strerror(-r));
        d->nbd = s->nbd;
    }
    r = limits_attach(s, d, sp, err);
    if (r < 0)
        return r;
    bc.limiter = d->limiter;
    bc.readonly = d->readonly;
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
    if (sp->shape.rx_bps || sp->shape.tx_bps) {
        d->shaped = true;
        r = net_shaper_set(tap_name(d->tap), &sp->shape, err);
        if (r < 0)
            return err_wrap(err, r, "rate limit");
        d->shape = sp->shape;
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

/* The first free registry slot, or MAX_DEVICES when none is. */
static unsigned free_slot(const struct sluiced *s)
{
    unsigned slot;

    for (slot = 0; slot < MAX_DEVICES && s->devs[slot]; slot++)
        ;
    return slot;
}

int device_start(struct sluiced *s, const struct device_spec *sp, struct device **out, struct sl_err *err)
{
    struct device *d = NULL;
    const char *id = sp->id;
    unsigned slot, n = s->next_id;
    char idbuf[32], network[NET_SPEC_STRLEN];
    int r;

    if ((slot = free_slot(s)) == MAX_DEVICES)
        return err_set(err, -ENOSPC, "too many devices (at most %d)", MAX_DEVICES);
    if (!id) {
        /* The next number whose id is free (restored devices keep theirs). */
        do
            snprintf(idbuf, sizeof(idbuf), "%s%u", sp->type == DEV_BLK ? "blk" : "net", n++);
        while (device_find(s, idbuf));
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
    d->recorded = sp->recorded;
    d->cmdline = sp->cmdline;
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
    s->next_id = sp->id ? s->next_id + 1 : n;
    if (out)
        *out = d;
    d = NULL;
out:
    device_free(d);
    return r;
}

int device_keep_unavailable(struct sluiced *s, const struct device_spec *sp, const char *why)
{
    struct device *d;
    unsigned slot;

    if (!sp->id || device_find(s, sp->id) || device_find(s, sp->socket))
        return -EEXIST;
    if ((slot = free_slot(s)) == MAX_DEVICES)
        return -ENOSPC;
    d = calloc(1, sizeof(*d));
    if (!d || !(d->id = strdup(sp->id)) || !(d->spec = strdup(sp->text)) ||
        !(d->socket = strdup(sp->socket)) || !(d->unavailable = strdup(why))) {
        device_free(d);
        return -ENOMEM;
    }
    d->type = sp->type;
    d->recorded = true;
    s->devs[slot] = d;
    return 0;
}

const char *device_unavailable(const struct device *d)
{
    return d->unavailable;
}

/* Take @d out of the registry (not freed). */
static void device_unlink(struct sluiced *s, struct device *d)
{
    for (unsigned i = 0; i < MAX_DEVICES; i++)
        if (s->devs[i] == d)
            s->devs[i] = NULL;
}

/* Replace the state file with the recorded devices, in registry order, but
 * @skip (NULL: none). Returns 0 (also without a state), -EROFS (frozen) or
 * -errno, @err saying why. */
static int state_write(struct sluiced *s, const struct device *skip, struct sl_err *err)
{
    struct state_rec recs[MAX_DEVICES];
    struct state_group *gs = NULL;
    unsigned n = 0, ng = 0, cap = 0;
    int r;

    if (!s->state)
        return 0;
    for (unsigned i = 0; i < MAX_DEVICES; i++) {
        struct device *d = s->devs[i];
        if (d && d->recorded && d != skip)
            recs[n++] = (struct state_rec){ .id = d->id, .type = d->type, .spec = d->spec };
    }
    for (struct qos_group *g = s->groups; g; g = g->next)
        cap += g->recorded;
    if (cap && !(gs = calloc(cap, sizeof(*gs) + GROUP_SPEC_MAX)))
        return err_set(err, -ENOMEM, "out of memory");
    for (struct qos_group *g = s->groups; g; g = g->next) {
        if (!g->recorded)
            continue;
        /* The specs live after the array, GROUP_SPEC_MAX bytes each. */
        char *spec = (char *)(gs + cap) + GROUP_SPEC_MAX * ng;
        limits_format(g->lim, spec, GROUP_SPEC_MAX);
        gs[ng++] = (struct state_group){ .name = g->name, .spec = spec };
    }
    r = state_save(s->state, recs, n, gs, ng, err);
    free(gs);
    return r;
}

int device_add(struct sluiced *s, enum device_type type, const char *spec,
               struct device **out, struct sl_err *err)
{
    struct device_spec sp;
    struct device *d = NULL;
    int r;

    r = device_parse(type, spec, &sp, err);
    if (r < 0)
        return r;
    sp.recorded = s->state && !state_frozen(s->state);
    r = device_start(s, &sp, &d, err);
    device_spec_free(&sp);
    if (r == 0 && s->state) {
        r = state_write(s, NULL, err);
        if (r == -EROFS) {
            log_warn("%s: not recorded (does not survive a restart): %s", d->id, err_msg(err, r));
            err_clear(err);
            r = 0;
        } else if (r < 0) {
            err_wrap(err, r, "cannot record the device");
            device_unlink(s, d);
            device_free(d);
        }
    }
    if (r == 0 && out)
        *out = d;
    /* The spec parsed: whatever fails now is this machine's, not the
     * request's, and must not read as "invalid params" (-EINVAL). */
    return r == -EINVAL ? -EIO : r;
}

int device_remove(struct sluiced *s, const char *id, struct sl_err *err)
{
    struct device *d = device_find(s, id);
    int r;

    if (!d)
        return -ENOENT;
    /* Forgotten first: a device the state file cannot forget stays served
     * (else it would come back at the next start). */
    if (d->recorded && (r = state_write(s, d, err)) < 0 && r != -EROFS)
        return err_wrap(err, r, "cannot remove it from the state");
    device_unlink(s, d);
    log_info("%s: removed", d->id);
    device_free(d);
    return 0;
}

int device_refresh(struct sluiced *s, struct device *d, uint64_t *size_out, struct sl_err *err)
{
    uint64_t old;
    int r;

    if (d->type == DEV_BLK && d->rbd) {
        r = rbd_refresh(d, size_out);
        return r < 0 ? err_set(err, r, "cannot re-read the image's size: %s", strerror(-r)) : 0;
    }
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
    /* Nothing of the record changed (the size is the backing's), but the
     * state file is rewritten on every change the control socket makes. */
    if (d->recorded) {
        struct sl_err serr = ERR_INIT;
        int sr = state_write(s, NULL, &serr);
        if (sr < 0 && sr != -EROFS)
            log_warn("%s: state: %s", d->id, err_msg(&serr, sr));
    }
    return capacity_changed(d, old, *size_out);
}

void devices_destroy_all(struct sluiced *s)
{
    for (unsigned i = 0; i < MAX_DEVICES; i++) {
        device_free(s->devs[i]);
        s->devs[i] = NULL;
    }
    rbd_disk_close_wait();     /* librbd's cache flushed before exit */
    groups_destroy(s);
}

struct json_object *device_describe(const struct device *d)
{
    struct json_object *o = json_object_new_object();

    json_object_object_add(o, "id", json_object_new_string(d->id));
    json_object_object_add(o, "type", json_object_new_string(d->type == DEV_BLK ? "blk" : "net"));
    json_object_object_add(o, "socket", json_object_new_string(d->socket));
    json_object_object_add(o, "spec", json_object_new_string(d->spec));
    if (d->unavailable) {
        json_object_object_add(o, "connected", json_object_new_boolean(false));
        json_object_object_add(o, "broken", json_object_new_boolean(false));
        json_object_object_add(o, "recorded", json_object_new_boolean(true));
        json_object_object_add(o, "unavailable", json_object_new_string(d->unavailable));
        return o;
    }
    json_object_object_add(o, "connected", json_object_new_boolean(vu_dev_conn_fd(d->vu) >= 0));
    json_object_object_add(o, "broken", json_object_new_boolean(vu_dev_broken(d->vu)));
    json_object_object_add(o, "queues", json_object_new_int((int)d->queues));
    json_object_object_add(o, "recorded", json_object_new_boolean(d->recorded));
    if (d->type == DEV_NET) {
        char network[NET_SPEC_STRLEN];
        net_spec_format(&d->network, network, sizeof(network));
        json_object_object_add(o, "tap", json_object_new_string(tap_name(d->tap)));
        json_object_object_add(o, "network", d->attached ? json_object_new_string(network) : NULL);
        /* Bits per second and bytes; null: no limit, the default bucket. */
        json_object_object_add(o, "rx_rate", d->shape.rx_bps ? json_object_new_int64((int64_t)d->shape.rx_bps) : NULL);
        json_object_object_add(o, "tx_rate", d->shape.tx_bps ? json_object_new_int64((int64_t)d->shape.tx_bps) : NULL);
        json_object_object_add(o, "burst", d->shape.burst ? json_object_new_int64((int64_t)d->shape.burst) : NULL);
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
        /* I/O limits: the configured ones (null: none), the group, the
         * time some request waited for tokens, the requests waiting now. */
        json_object_object_add(o, "limits", limits_json(d->limiter));
        json_object_object_add(o, "group", d->group ? json_object_new_string(d->group->name) : NULL);
        json_object_object_add(o, "throttled_ms", json_object_new_int64((int64_t)(st.throttled_ns / 1000000u)));
        json_object_object_add(o, "waiting", json_object_new_int64((int64_t)st.waiting));
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
