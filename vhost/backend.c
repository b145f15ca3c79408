/* SPDX-License-Identifier: Apache-2.0 */
#include "vhost/backend.h"
#include "log.h"
#include "mem.h"
#include "vq-int.h"
#include "msg.h"
#include "core/log.h"
#include "core/usock.h"
#include "core/util.h"

#include <fcntl.h>
#include <inttypes.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>

#define PF(x) (1ull << (x))

/* Protocol features every device gets; devices add e.g. CONFIG. */
#define GENERIC_PROTOCOL_FEATURES \
    (PF(VU_PF_MQ) | PF(VU_PF_REPLY_ACK) | PF(VU_PF_INFLIGHT_SHMFD) | \
     PF(VU_PF_CONFIGURE_MEM_SLOTS) | PF(VU_PF_STATUS) | PF(VU_PF_BACKEND_REQ))

struct vu_dev {
    char *name;
    char *socket_path;
    const struct vu_dev_ops *ops;
    void *ctx;
    struct uloop **loops;
    unsigned nloops, first_loop;

    int listen_fd;
    int conn_fd;
    int backend_fd;        /* backend request channel (SET_BACKEND_REQ_FD) */
    int timer_fd;          /* bounds the time one message may take */
    bool timer_armed;
    unsigned msg_timeout_ms;
    bool packed;           /* VIRTIO_F_RING_PACKED offered */
    vu_queue_cb on_queue;  /* vu_dev_config.on_queue */
    void *on_queue_arg;
    struct vu_msg_rx rx;   /* the message arriving on conn_fd */
    int send_err;          /* a reply could not go out: drop the connection */

    bool owner;
    uint64_t features;     /* acked */
    bool features_set;
    uint64_t protocol_features;
    uint8_t status;
    volatile bool broken;
    struct vu_mem mem;

    void *inflight_base;
    size_t inflight_len;
    int inflight_guard;
    struct vu_log log;     /* SET_LOG_BASE (migration), or empty */

    unsigned num_queues;
    unsigned queue_num_reply;
    uint64_t offered;      /* device features (config) */
    uint64_t offered_protocol;
    struct vq vqs[VU_MAX_QUEUES];
    struct log_ratelimit rl;
    _Alignas(max_align_t) unsigned char priv[];   /* device model state */
};

static uint64_t offered_features(const struct vu_dev *dev)
{
    return dev->offered | (1ull << VU_F_PROTOCOL_FEATURES) |
           (dev->packed ? 1ull << VIRTIO_F_RING_PACKED : 0);
}

static uint64_t offered_protocol_features(const struct vu_dev *dev)
{
    /* INFLIGHT_SHMFD with either ring layout: the region takes the
     * layout of the features acked when it is mapped (inflight_map). */
    return GENERIC_PROTOCOL_FEATURES | dev->offered_protocol;
}

const char *vu_dev_name(const struct vu_dev *dev)
{
    return dev->name;
}

bool vu_dev_broken(const struct vu_dev *dev)
{
    return dev->broken;
}

unsigned vu_dev_num_queues(const struct vu_dev *dev)
{
    return dev->num_queues;
}

const struct vq *vu_dev_queue(const struct vu_dev *dev, unsigned i)
{
    return i < dev->num_queues ? &dev->vqs[i] : NULL;
}

/* ---- queue lifecycle -------------------------------------------------- */

static void queue_stop(struct vu_dev *dev, struct vq *vq)
{
    if (!vq->running)
        return;
    vq_stop(vq);
    if (dev->ops->queue_fini)
        dev->ops->queue_fini(dev->ctx, vq);
    if (dev->on_queue)
        dev->on_queue(dev->on_queue_arg, vq->index, false);
}

static void queue_broken_cb(struct vq *vq);

static int queue_maybe_start(struct vu_dev *dev, struct vq *vq)
{
    int r;

    if (vq->running || !vq->kicked || !vq->addr_set || !vq->num || !dev->mem.n)
        return 0;
    vq->mem = &dev->mem;
    vq->event_idx = dev->features & (1ull << VIRTIO_RING_F_EVENT_IDX);
    vq->indirect = dev->features & (1ull << VIRTIO_RING_F_INDIRECT_DESC);
    vq->packed = dev->features & (1ull << VIRTIO_F_RING_PACKED);
    vq->log = (dev->features & (1ull << VU_F_LOG_ALL)) && dev->log.bits ? &dev->log : NULL;
    vq->loop = dev->loops[(dev->first_loop + vq->index) % dev->nloops];
    vq->on_broken = queue_broken_cb;
    r = dev->ops->queue_init(dev->ctx, vq, dev->features);
    if (r < 0)
        return r;
    /* Before the first request is taken: the program may have to fence
     * other writers of the device's storage first. */
    if (dev->on_queue)
        dev->on_queue(dev->on_queue_arg, vq->index, true);
    /* queue_init may have replaced priv; keep a way back to the device. */
    r = vq_start(vq);
    if (r < 0) {
        if (dev->ops->queue_fini)
            dev->ops->queue_fini(dev->ctx, vq);
        if (dev->on_queue)
            dev->on_queue(dev->on_queue_arg, vq->index, false);
    }
    return r;
}

/* Device pointer for the broken callback: vqs[] is embedded in vu_dev. */
static struct vu_dev *vq_dev(struct vq *vq)
{
    return container_of(vq - vq->index, struct vu_dev, vqs[0]);
}

static void queue_broken_cb(struct vq *vq)
{
    struct vu_dev *dev = vq_dev(vq);

    dev->broken = true;
    log_warn("%s: device needs reset (guest error on queue %u)", dev->name, vq->index);
}

/* Stop the running queues, run @fn, restart those that were running. Used
 * for changes the workers must not see half-done (memory table). */
static int with_queues_paused(struct vu_dev *dev, int (*fn)(struct vu_dev *, struct vu_msg *),
                              struct vu_msg *msg)
{
    bool was[VU_MAX_QUEUES];
    int r, r2;

    for (unsigned i = 0; i < dev->num_queues; i++) {
        was[i] = dev->vqs[i].running;
        queue_stop(dev, &dev->vqs[i]);
    }
    r = fn(dev, msg);
    for (unsigned i = 0; i < dev->num_queues; i++) {
        /* Also queues whose kick came before any memory. */
        if (!was[i] && !dev->vqs[i].kicked)
            continue;
        r2 = queue_maybe_start(dev, &dev->vqs[i]);
        if (r2 < 0) {
            log_warn("%s: queue %u cannot restart after memory change: %s",
                     dev->name, i, strerror(-r2));
            if (r == 0)
                r = r2;
        }
    }
    return r;
}

static void inflight_unmap(struct vu_dev *dev)
{
    for (unsigned i = 0; i < dev->num_queues; i++) {
        dev->vqs[i].ifl = NULL;
        dev->vqs[i].ifl_packed = NULL;
        dev->vqs[i].ifl_num = 0;
    }
    vu_mem_guard_remove(dev->inflight_guard);
    dev->inflight_guard = -1;
    if (dev->inflight_base)
        munmap(dev->inflight_base, dev->inflight_len);
    dev->inflight_base = NULL;
    dev->inflight_len = 0;
}

static void reset_state(struct vu_dev *dev)
{
    for (unsigned i = 0; i < dev->num_queues; i++) {
        struct vq *vq = &dev->vqs[i];
        queue_stop(dev, vq);
        close_fd(&vq->kick_fd);
        close_fd(&vq->call_fd);
        close_fd(&vq->err_fd);
        free(vq->resubmit);
        /* Counters live as long as the device, across frontends. */
        struct vq_stats keep = vq->stats;
        vq_init(vq, i);
        vq->stats = keep;
        vq->dev_broken = &dev->broken;
    }
    vu_mem_clear(&dev->mem);
    inflight_unmap(dev);
    vu_log_unmap(&dev->log);
    close_fd(&dev->backend_fd);
    dev->owner = false;
    dev->features = 0;
    dev->features_set = false;
    dev->protocol_features = 0;
    dev->status = 0;
    dev->broken = false;
}

/* ---- create / socket -------------------------------------------------- */

int vu_dev_create(const struct vu_dev_config *cfg, struct vu_dev **out)
{
    struct vu_dev *dev;

    if (!cfg->ops || !cfg->ops->queue_init || !cfg->loops || !cfg->nloops ||
        cfg->num_queues == 0 || cfg->num_queues > VU_MAX_QUEUES ||
        (cfg->priv_size && cfg->ctx) || cfg->priv_size > SIZE_MAX - sizeof(*dev))
        return -EINVAL;
    dev = calloc(1, sizeof(*dev) + cfg->priv_size);
    if (!dev)
        return -ENOMEM;
    dev->listen_fd = dev->conn_fd = dev->backend_fd = dev->timer_fd = -1;
    dev->inflight_guard = -1;
    dev->log.guard = -1;
    dev->name = strdup(cfg->name ? cfg->name : "vhost-user");
    dev->socket_path = cfg->socket_path ? strdup(cfg->socket_path) : NULL;
    if (!dev->name || (cfg->socket_path && !dev->socket_path)) {
        vu_dev_destroy(dev);
        return -ENOMEM;
    }
    dev->ops = cfg->ops;
    dev->ctx = cfg->priv_size ? (void *)dev->priv : cfg->ctx;
    dev->offered = cfg->features;
    dev->offered_protocol = cfg->protocol_features;
    dev->loops = cfg->loops;
    dev->nloops = cfg->nloops;
    dev->first_loop = cfg->first_loop;
    dev->num_queues = cfg->num_queues;
    dev->queue_num_reply = cfg->queue_num_reply;
    dev->msg_timeout_ms = cfg->msg_timeout_ms ? cfg->msg_timeout_ms : VU_MSG_TIMEOUT_MS;
    dev->packed = cfg->packed;
    dev->on_queue = cfg->on_queue;
    dev->on_queue_arg = cfg->on_queue_arg;
    dev->mem.owner = dev->name;
    dev->mem.broken = &dev->broken;
    dev->rl.burst = 20;
    dev->rl.interval_ms = 1000;
    for (unsigned i = 0; i < dev->num_queues; i++) {
        vq_init(&dev->vqs[i], i);
        dev->vqs[i].dev_broken = &dev->broken;
    }
    *out = dev;
    return 0;
}

int vu_dev_create_model(const struct vu_dev_config *prog, const struct vu_model *m,
                        struct vu_dev **out)
{
    struct vu_dev_config cfg = *prog;

    cfg.ops = m->ops;
    cfg.ctx = NULL;
    cfg.priv_size = m->priv_size;
    cfg.features = m->features;
    cfg.protocol_features = m->protocol_features;
    cfg.num_queues = m->num_queues;
    cfg.queue_num_reply = m->queue_num_reply;
    return vu_dev_create(&cfg, out);
}

void vu_dev_destroy(struct vu_dev *dev)
{
    if (!dev)
        return;
    vu_dev_disconnect(dev);
    usock_close(dev->socket_path, &dev->listen_fd);
    free(dev->name);
    free(dev->socket_path);
    free(dev);
}

void *vu_dev_priv(struct vu_dev *dev)
{
    return dev->ctx == dev->priv ? dev->priv : NULL;
}

uint64_t vu_dev_features(const struct vu_dev *dev)
{
    return dev->offered;
}

int vu_dev_listen(struct vu_dev *dev)
{
    if (!dev->socket_path)
        return -EINVAL;
    return usock_listen(dev->socket_path, 4, 0, &dev->listen_fd);
}

int vu_dev_listen_fd(const struct vu_dev *dev)
{
    return dev->listen_fd;
}

int vu_dev_conn_fd(const struct vu_dev *dev)
{
    return dev->conn_fd;
}

int vu_dev_timer_fd(const struct vu_dev *dev)
{
    return dev->timer_fd;
}

int vu_dev_attach(struct vu_dev *dev, int fd)
{
    int flags;

    if (dev->conn_fd >= 0)
        return -EBUSY;
    /* The control thread serves every device: it never waits on one
     * frontend, neither for a message's bytes nor for room for a reply. */
    flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        goto fail;
    dev->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (dev->timer_fd < 0)
        goto fail;
    dev->timer_armed = false;
    vu_msg_rx_reset(&dev->rx);
    dev->conn_fd = fd;
    return 0;

fail:
    return neg_errno();
}

int vu_dev_accept(struct vu_dev *dev)
{
    int fd = accept4(dev->listen_fd, NULL, NULL, SOCK_CLOEXEC), r;

    if (fd < 0)
        return neg_errno();
    r = vu_dev_attach(dev, fd);
    if (r == -EBUSY)
        log_warn("%s: refusing a second frontend connection", dev->name);
    else if (r < 0)
        log_warn("%s: cannot take the frontend connection: %s", dev->name, strerror(-r));
    if (r < 0) {
        close(fd);
        return r;
    }
    log_info("%s: frontend connected", dev->name);
    return fd;
}

void vu_dev_disconnect(struct vu_dev *dev)
{
    if (!dev)
        return;
    reset_state(dev);
    vu_msg_rx_reset(&dev->rx);
    close_fd(&dev->timer_fd);
    dev->timer_armed = false;
    if (dev->conn_fd >= 0) {
        close_fd(&dev->conn_fd);
        log_info("%s: frontend disconnected", dev->name);
    }
}

/* ---- replies ---------------------------------------------------------- */

static int reply(struct vu_dev *dev, const struct vu_msg *req, const void *payload,
                 uint32_t size, const int *fds, unsigned nfds)
{
    struct vu_hdr h = {
        .request = req->hdr.request,
        .flags = VU_VERSION | VU_FLAG_REPLY,
        .size = size,
    };
    /* A frontend that leaves its replies unread until the socket is full
     * gets -EAGAIN here, and is dropped. */
    int r = vu_msg_send_nowait(dev->conn_fd, &h, payload, fds, nfds);

    if (r < 0 && !dev->send_err)
        dev->send_err = r;
    return r;
}

static int reply_u64(struct vu_dev *dev, const struct vu_msg *req, uint64_t v)
{
    return reply(dev, req, &v, sizeof(v), NULL, 0);
}

/* The empty reply a refused query gets (for GET_CONFIG the protocol's error
 * reply). Returns the send error, else @r. */
static int reply_empty(struct vu_dev *dev, const struct vu_msg *req, int r)
{
    return reply(dev, req, NULL, 0, NULL, 0) ?: r;
}

/* ---- message handlers ------------------------------------------------- */

/* Take ownership of the message's fd at @i. */
static int take_fd(struct vu_msg *msg, unsigned i)
{
    int fd = msg->fds[i];
    msg->fds[i] = -1;
    return fd;
}

static struct vq *msg_vq(struct vu_dev *dev, uint32_t index)
{
    return index < dev->num_queues ? &dev->vqs[index] : NULL;
}

static int features_apply(struct vu_dev *dev, struct vu_msg *msg)
{
    dev->features = msg->p.u64;
    return 0;
}

static int h_set_features(struct vu_dev *dev, struct vu_msg *msg)
{
    uint64_t f = msg->p.u64;

    if (f & ~offered_features(dev))
        return -EINVAL;
    /* Multi-queue virtio-net frontends (QEMU) run one vhost device per
     * queue pair on the same connection; each sends the same features. */
    if (dev->features_set && f == dev->features)
        return 0;
    /* Migration turns dirty logging on and off under running queues: they
     * drain and restart with vq->log set or cleared, so every write after
     * the reply is logged (and none is half-logged). */
    if (dev->features_set && (f ^ dev->features) == 1ull << VU_F_LOG_ALL)
        return with_queues_paused(dev, features_apply, msg);
    for (unsigned i = 0; i < dev->num_queues; i++)
        if (dev->vqs[i].running)
            return -EBUSY;
    dev->features = f;
    dev->features_set = true;
    dev->broken = false;
    return 0;
}

/* Unsealed regions are accepted (DPDK's and hugetlbfs memory cannot be
 * sealed) and guarded against SIGBUS like every region (vhost/mem.h). */
static void log_mem_seals(const struct vu_dev *dev)
{
    unsigned sealed = 0;

    for (unsigned i = 0; i < dev->mem.n; i++)
        sealed += dev->mem.r[i].sealed;
    log_info("%s: guest memory: %u region%s, %u sealed against shrinking", dev->name,
             dev->mem.n, dev->mem.n == 1 ? "" : "s", sealed);
}

static int mem_table_apply(struct vu_dev *dev, struct vu_msg *msg)
{
    const struct vu_mem_table *t = &msg->p.mem;
    struct vu_mem fresh = { .owner = dev->mem.owner, .broken = dev->mem.broken };
    int r;

    for (unsigned i = 0; i < t->nregions; i++) {
        r = vu_mem_add(&fresh, &t->regions[i], msg->fds[i]);
        if (r < 0) {
            vu_mem_clear(&fresh);
            return r;
        }
    }
    vu_mem_clear(&dev->mem);
    dev->mem = fresh;
    log_mem_seals(dev);
    return 0;
}

static int h_set_mem_table(struct vu_dev *dev, struct vu_msg *msg)
{
    const struct vu_mem_table *t = &msg->p.mem;

    if (t->nregions == 0 || t->nregions > VU_MAX_FDS ||
        msg->hdr.size < offsetof(struct vu_mem_table, regions) + t->nregions * sizeof(t->regions[0]) ||
        msg->nfds != t->nregions)
        return -EINVAL;
    return with_queues_paused(dev, mem_table_apply, msg);
}

static int mem_add_apply(struct vu_dev *dev, struct vu_msg *msg)
{
    int r = vu_mem_add(&dev->mem, &msg->p.mem_reg.region, msg->fds[0]);

    if (r == 0)
        log_mem_seals(dev);
    return r;
}

static int mem_rem_apply(struct vu_dev *dev, struct vu_msg *msg)
{
    return vu_mem_remove(&dev->mem, &msg->p.mem_reg.region);
}

/* Bytes of a ring's three parts for @vq->num entries: the descriptor ring,
 * the driver area and the device area (virtio 1.2 sections 2.7 and 2.8;
 * the split rings' areas end with used_event / avail_event). */
static void ring_part_sizes(const struct vq *vq, uint64_t len[3])
{
    uint64_t n = vq->num;

    if (vq->packed) {
        len[0] = sizeof(struct vring_packed_desc) * n;
        len[1] = len[2] = sizeof(struct vring_packed_desc_event);
        return;
    }
    len[0] = sizeof(struct vring_desc) * n;
    len[1] = sizeof(struct vring_avail) + sizeof(__virtio16) * (n + 1);
    len[2] = sizeof(struct vring_used) + sizeof(struct vring_used_elem) * n + sizeof(__virtio16);
}

/* A running ring has a part in the region REM_MEM_REG names. */
static bool ring_in_region(const struct vu_dev *dev, const struct vu_mem_region_desc *d)
{
    for (unsigned i = 0; i < dev->num_queues; i++) {
        const struct vq *vq = &dev->vqs[i];
        const uint64_t uva[3] = { vq->desc_uva, vq->avail_uva, vq->used_uva };
        uint64_t len[3];

        if (!vq->running)
            continue;
        ring_part_sizes(vq, len);
        for (unsigned k = 0; k < 3; k++) {
            const struct vu_mem_region *part = vu_mem_uva_region(&dev->mem, uva[k], len[k]);
            if (part && part->gpa == d->guest_phys_addr && part->size == d->memory_size)
                return true;
        }
    }
    return false;
}

static int log_base_apply(struct vu_dev *dev, struct vu_msg *msg)
{
    struct vu_log fresh;
    int r = vu_log_map(&fresh, msg->fds[0], msg->p.log.mmap_size, msg->p.log.mmap_offset,
                       dev->name, &dev->broken);

    if (r < 0)
        return r;
    vu_log_unmap(&dev->log);
    dev->log = fresh;
    return 0;
}

/* SET_LOG_BASE: the dirty bitmap, which must cover the memory table. A new
 * one replaces the old (the frontend grows it with its memory); while
 * logging, the queues drain and restart on the new one. A refused log
 * leaves the old one in place. */
static int h_set_log_base(struct vu_dev *dev, struct vu_msg *msg)
{
    uint64_t need = vu_log_size_needed(&dev->mem);

    if (!(offered_protocol_features(dev) & PF(VU_PF_LOG_SHMFD)))
        return -EOPNOTSUPP;
    if (msg->p.log.mmap_size < need) {
        log_warn("%s: dirty log of %" PRIu64 " bytes cannot cover guest memory (%" PRIu64
                 " needed); refused", dev->name, msg->p.log.mmap_size, need);
        return -EINVAL;
    }
    if (dev->features & (1ull << VU_F_LOG_ALL))
        return with_queues_paused(dev, log_base_apply, msg);
    return log_base_apply(dev, msg);
}

static int h_set_vring_num(struct vu_dev *dev, struct vu_msg *msg)
{
    struct vq *vq = msg_vq(dev, msg->p.state.index);

    bool packed = dev->features & (1ull << VIRTIO_F_RING_PACKED);

    /* Split rings: a power of two (virtio 1.2, 2.7); packed rings any size. */
    if (!vq || msg->p.state.num == 0 || msg->p.state.num > VQ_MAX_SIZE ||
        (!packed && (msg->p.state.num & (msg->p.state.num - 1))))
        return -EINVAL;
    if (vq->running)
        return -EBUSY;
    vq->num = (uint16_t)msg->p.state.num;
    return 0;
}

static int h_set_vring_addr(struct vu_dev *dev, struct vu_msg *msg)
{
    const struct vu_vring_addr *a = &msg->p.addr;
    struct vq *vq = msg_vq(dev, a->index);

    if (!vq)
        return -EINVAL;
    /* Migration sends the running ring's addresses again with the log flag
     * (VHOST_VRING_F_LOG): no change here, since writes are logged by the
     * guest-physical address the memory table gives, log_guest_addr unused. */
    if (vq->running && a->desc_user_addr == vq->desc_uva &&
        a->avail_user_addr == vq->avail_uva && a->used_user_addr == vq->used_uva)
        return 0;
    if (vq->running)
        return -EBUSY;
    vq->desc_uva = a->desc_user_addr;
    vq->avail_uva = a->avail_user_addr;
    vq->used_uva = a->used_user_addr;
    vq->addr_set = true;
    return queue_maybe_start(dev, vq);
}

static int h_set_vring_base(struct vu_dev *dev, struct vu_msg *msg)
{
    struct vq *vq = msg_vq(dev, msg->p.state.index);

    /* Packed rings: both positions with their wrap counters (checked
     * against the size at start); split rings: a 16-bit index. */
    if (!vq || (!(dev->features & (1ull << VIRTIO_F_RING_PACKED)) && msg->p.state.num > UINT16_MAX))
        return -EINVAL;
    if (vq->running)
        return -EBUSY;
    vq->base = msg->p.state.num;
    log_debug("%s: virtqueue %u: base 0x%08x set", dev->name, vq->index, vq->base);
    return 0;
}

static int h_get_vring_base(struct vu_dev *dev, struct vu_msg *msg)
{
    struct vq *vq = msg_vq(dev, msg->p.state.index);
    struct vu_vring_state st;

    if (!vq)
        return reply_empty(dev, msg, -EINVAL);
    queue_stop(dev, vq);
    vq->kicked = false;
    close_fd(&vq->kick_fd);
    close_fd(&vq->call_fd);
    st.index = vq->index;
    st.num = vq->base;
    log_debug("%s: virtqueue %u: stopped at base 0x%08x (device totals: %" PRIu64 " kicks, %"
              PRIu64 " chains)", dev->name, vq->index, vq->base, vq->stats.kicks, vq->stats.elems);
    return reply(dev, msg, &st, sizeof(st), NULL, 0);
}

/* Kick, call and err fds are read and written 8 bytes at a time by the
 * workers: anything but an eventfd (a file, /dev/null, a pipe or socket
 * whose peer closed) would make them spin or fill a disk. */
static bool is_eventfd(int fd)
{
    char path[64], target[32];
    ssize_t n;

    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    n = readlink(path, target, sizeof(target) - 1);
    if (n < 0)
        return false;
    target[n] = 0;
    return !strcmp(target, "anon_inode:[eventfd]");
}

/* SET_VRING_KICK/CALL/ERR: index in bits 0-7, bit 8 = no fd. */
static int vring_fd_msg(struct vu_dev *dev, struct vu_msg *msg, struct vq **vqp, int *fd)
{
    uint64_t v = msg->p.u64;
    bool nofd = v & VU_VRING_NOFD_MASK;

    if (v & ~(uint64_t)(VU_VRING_IDX_MASK | VU_VRING_NOFD_MASK))
        return -EINVAL;
    *vqp = msg_vq(dev, (uint32_t)(v & VU_VRING_IDX_MASK));
    if (!*vqp || msg->nfds != (nofd ? 0u : 1u))
        return -EINVAL;
    if (!nofd && !is_eventfd(msg->fds[0])) {
        log_warn("%s: %s for queue %u: the fd is not an eventfd; refused", dev->name,
                 vu_request_name(msg->hdr.request), (*vqp)->index);
        return -EBADF;
    }
    *fd = nofd ? -1 : take_fd(msg, 0);
    return 0;
}

static int h_set_vring_kick(struct vu_dev *dev, struct vu_msg *msg)
{
    struct vq *vq;
    int fd, r;

    r = vring_fd_msg(dev, msg, &vq, &fd);
    if (r < 0)
        return r;
    if (fd < 0)
        return -EOPNOTSUPP;   /* polling mode is not offered */
    queue_stop(dev, vq);
    close_fd(&vq->kick_fd);
    vq->kick_fd = fd;
    vq->kicked = true;
    if (!(dev->features & (1ull << VU_F_PROTOCOL_FEATURES)))
        vq->enabled = true;
    return queue_maybe_start(dev, vq);
}

static int h_set_vring_call(struct vu_dev *dev, struct vu_msg *msg)
{
    struct vq *vq;
    int fd, r;

    r = vring_fd_msg(dev, msg, &vq, &fd);
    if (r < 0)
        return r;
    vq_set_call_fd(vq, fd);
    return 0;
}

static int h_set_vring_err(struct vu_dev *dev, struct vu_msg *msg)
{
    struct vq *vq;
    int fd, r;

    r = vring_fd_msg(dev, msg, &vq, &fd);
    if (r < 0)
        return r;
    close_fd(&vq->err_fd);
    vq->err_fd = fd;
    return 0;
}

static int h_set_vring_enable(struct vu_dev *dev, struct vu_msg *msg)
{
    struct vq *vq = msg_vq(dev, msg->p.state.index);

    if (!vq || msg->p.state.num > 1)
        return -EINVAL;
    vq_set_enabled(vq, msg->p.state.num == 1);
    return 0;
}

/* SEND_RARP: the first 6 bytes are the guest's MAC. */
static int h_send_rarp(struct vu_dev *dev, struct vu_msg *msg)
{
    if (!dev->ops->send_rarp || !(offered_protocol_features(dev) & PF(VU_PF_RARP)))
        return -EOPNOTSUPP;
    return dev->ops->send_rarp(dev->ctx, msg->p.raw);
}

/* GET/SET_CONFIG: the range lies in the config space, and the message
 * carries the config header and exactly the range's bytes. */
static bool config_msg_ok(const struct vu_msg *msg)
{
    const struct vu_config *c = &msg->p.config;

    return c->size <= VU_MAX_CONFIG_SIZE && c->offset <= VU_MAX_CONFIG_SIZE - c->size &&
           msg->hdr.size == VU_CONFIG_HDR_SIZE + c->size;
}

static int h_get_config(struct vu_dev *dev, struct vu_msg *msg)
{
    struct vu_config *c = &msg->p.config;
    struct vu_config out;
    int r;

    if (!dev->ops->get_config || !config_msg_ok(msg))
        /* A zero-length reply is the protocol's GET_CONFIG error. */
        return reply_empty(dev, msg, -EINVAL);
    memset(&out, 0, sizeof(out));
    out.offset = c->offset;
    out.size = c->size;
    out.flags = c->flags;
    r = dev->ops->get_config(dev->ctx, c->offset, out.region, c->size);
    if (r < 0)
        return reply_empty(dev, msg, r);
    return reply(dev, msg, &out, VU_CONFIG_HDR_SIZE + c->size, NULL, 0);
}

static int h_set_config(struct vu_dev *dev, struct vu_msg *msg)
{
    struct vu_config *c = &msg->p.config;

    if (!dev->ops->set_config || !config_msg_ok(msg))
        return -EINVAL;
    return dev->ops->set_config(dev->ctx, c->offset, c->region, c->size);
}

/* Bytes per queue of the inflight region: the vhost-user packed layout
 * when VIRTIO_F_RING_PACKED is acked (frontends send SET_FEATURES before
 * GET/SET_INFLIGHT_FD, as QEMU's vhost_dev_prepare_inflight does), else the
 * split one. */
static bool inflight_packed(const struct vu_dev *dev)
{
    return dev->features & (1ull << VIRTIO_F_RING_PACKED);
}

static uint64_t inflight_queue_size(const struct vu_dev *dev, uint16_t qsize)
{
    return inflight_packed(dev) ? vq_inflight_packed_queue_size(qsize)
                                : vq_inflight_queue_size(qsize);
}

static int inflight_map(struct vu_dev *dev, int fd, uint64_t size, uint64_t offset,
                        uint16_t nq, uint16_t qsize)
{
    uint64_t per_q = inflight_queue_size(dev, qsize), end;
    struct stat st;
    void *base;
    int guard;

    if (nq == 0 || nq > dev->num_queues || qsize == 0 || qsize > VQ_MAX_SIZE ||
        size != per_q * nq || add_overflows_u64(offset, size, &end) || end > SIZE_MAX)
        return -EINVAL;
    if (fstat(fd, &st) < 0)
        return neg_errno();
    if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size < end)
        return -EINVAL;
    for (unsigned i = 0; i < dev->num_queues; i++)
        if (dev->vqs[i].running)
            return -EBUSY;
    base = mmap(NULL, (size_t)end, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED)
        return neg_errno();
    /* The frontend holds this file too and may shrink it. */
    guard = vu_mem_guard_add(base, (size_t)end, dev->name, &dev->broken);
    if (guard < 0) {
        munmap(base, (size_t)end);
        return guard;
    }
    inflight_unmap(dev);
    dev->inflight_base = base;
    dev->inflight_len = (size_t)end;
    dev->inflight_guard = guard;
    for (unsigned i = 0; i < nq; i++) {
        void *q = (uint8_t *)base + offset + i * per_q;
        dev->vqs[i].ifl_num = qsize;
        if (inflight_packed(dev))
            dev->vqs[i].ifl_packed = q;
        else
            dev->vqs[i].ifl = q;
    }
    return 0;
}

static int h_get_inflight_fd(struct vu_dev *dev, struct vu_msg *msg)
{
    struct vu_inflight in = msg->p.inflight, out;
    uint64_t size;
    int fd, r;

    if (in.num_queues == 0 || in.num_queues > dev->num_queues ||
        in.queue_size == 0 || in.queue_size > VQ_MAX_SIZE)
        return reply_empty(dev, msg, -EINVAL);
    size = inflight_queue_size(dev, in.queue_size) * in.num_queues;
    fd = memfd_create("sluice-inflight", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0) {
        r = neg_errno();
        return reply_empty(dev, msg, r);
    }
    /* Sealed: the frontend gets this fd and must not shrink it under us. */
    if (ftruncate(fd, (off_t)size) < 0 ||
        fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
        r = neg_errno();
        close(fd);
        return reply_empty(dev, msg, r);
    }
    r = inflight_map(dev, fd, size, 0, in.num_queues, in.queue_size);
    if (r < 0) {
        close(fd);
        return reply_empty(dev, msg, r);
    }
    memset(&out, 0, sizeof(out));
    out.mmap_size = size;
    out.mmap_offset = 0;
    out.num_queues = in.num_queues;
    out.queue_size = in.queue_size;
    r = reply(dev, msg, &out, sizeof(out), &fd, 1);
    close(fd);
    return r;
}

static int h_set_inflight_fd(struct vu_dev *dev, struct vu_msg *msg)
{
    const struct vu_inflight *in = &msg->p.inflight;

    return inflight_map(dev, msg->fds[0], in->mmap_size, in->mmap_offset,
                        in->num_queues, in->queue_size);
}

static int h_set_backend_req_fd(struct vu_dev *dev, struct vu_msg *msg)
{
    close_fd(&dev->backend_fd);
    dev->backend_fd = take_fd(msg, 0);
    return 0;
}

static int h_get_features(struct vu_dev *dev, struct vu_msg *msg)
{
    return reply_u64(dev, msg, offered_features(dev));
}

static int h_get_protocol_features(struct vu_dev *dev, struct vu_msg *msg)
{
    return reply_u64(dev, msg, offered_protocol_features(dev));
}

static int h_set_protocol_features(struct vu_dev *dev, struct vu_msg *msg)
{
    if (msg->p.u64 & ~offered_protocol_features(dev))
        return -EINVAL;
    dev->protocol_features = msg->p.u64;
    return 0;
}

static int h_set_owner(struct vu_dev *dev, struct vu_msg *msg)
{
    (void)msg;
    dev->owner = true;
    return 0;
}

/* RESET_OWNER and RESET_DEVICE: the session (protocol features, backend
 * channel) survives; RESET_DEVICE keeps the owner too. */
static int h_reset(struct vu_dev *dev, struct vu_msg *msg)
{
    uint64_t pf = dev->protocol_features;
    int bfd = dev->backend_fd;

    dev->backend_fd = -1;
    reset_state(dev);
    dev->protocol_features = pf;
    dev->backend_fd = bfd;
    dev->owner = msg->hdr.request == VU_RESET_DEVICE;
    return 0;
}

static int h_get_queue_num(struct vu_dev *dev, struct vu_msg *msg)
{
    return reply_u64(dev, msg, dev->queue_num_reply ? dev->queue_num_reply : dev->num_queues);
}

static int h_get_max_mem_slots(struct vu_dev *dev, struct vu_msg *msg)
{
    return reply_u64(dev, msg, VU_MAX_MEM_SLOTS);
}

static int h_add_mem_reg(struct vu_dev *dev, struct vu_msg *msg)
{
    /* The same region again (another vhost device of a multi-queue
     * frontend): count a reference, nothing to map. */
    int r = vu_mem_ref(&dev->mem, &msg->p.mem_reg.region, msg->fds[0]);

    if (r != -ENOENT)
        return r;
    return with_queues_paused(dev, mem_add_apply, msg);
}

static int h_rem_mem_reg(struct vu_dev *dev, struct vu_msg *msg)
{
    if (vu_mem_unref(&dev->mem, &msg->p.mem_reg.region) == 0)
        return 0;   /* still referenced */
    /* Refused while a running ring lies in it: stop the ring first
     * (GET_VRING_BASE). */
    if (ring_in_region(dev, &msg->p.mem_reg.region))
        return -EBUSY;
    return with_queues_paused(dev, mem_rem_apply, msg);
}

static int h_set_status(struct vu_dev *dev, struct vu_msg *msg)
{
    /* NEEDS_RESET is the device's to set (vu_dev_broken()): the bit is
     * dropped, not refused, since a frontend that adds a status bit writes
     * back what GET_STATUS said (QEMU's read-modify-write). */
    if (msg->p.u64 > UINT8_MAX)
        return -EINVAL;
    dev->status = (uint8_t)(msg->p.u64 & ~VIRTIO_CONFIG_S_NEEDS_RESET);
    return 0;
}

static int h_get_status(struct vu_dev *dev, struct vu_msg *msg)
{
    return reply_u64(dev, msg, dev->status | (dev->broken ? VIRTIO_CONFIG_S_NEEDS_RESET : 0));
}

/* ---- the request table ------------------------------------------------ */

/* One row per request the backend serves, in the order of QEMU's
 * docs/interop/vhost-user.rst ("Front-end message types"); the request's
 * name is vu_request_name(). vu_dev_process() checks a message against its
 * row before the handler sees it: the payload size (at least, or exactly,
 * @size bytes), the fd count, and SET_OWNER first where @owner says so. A
 * request with a @reply always gets one, an empty one when refused, and no
 * REPLY_ACK besides; the handler sends it. Requests without a row are
 * answered EOPNOTSUPP. */
struct vu_req_row {
    uint32_t size;                 /* payload bytes */
    bool exact;                    /* exactly @size; else at least @size */
    bool owner;                    /* refused (EPERM) before SET_OWNER */
    bool reply;                    /* the frontend waits for a reply */
    uint8_t fds_min, fds_max;      /* fds the message carries */
    int (*handle)(struct vu_dev *dev, struct vu_msg *msg);
};

#define U64 sizeof(uint64_t)
#define STATE sizeof(struct vu_vring_state)
#define EXACT(n) .size = (n), .exact = true
#define AT_LEAST(n) .size = (n)
#define FDS(lo, hi) .fds_min = (lo), .fds_max = (hi)

static const struct vu_req_row vu_requests[VU_REQUEST_MAX] = {
    [VU_GET_FEATURES]          = { EXACT(0),    .reply = true,  .handle = h_get_features },
    [VU_SET_FEATURES]          = { EXACT(U64),  .owner = true,  .handle = h_set_features },
    [VU_SET_OWNER]             = { EXACT(0),                    .handle = h_set_owner },
    [VU_RESET_OWNER]           = { EXACT(0),                    .handle = h_reset },
    /* nregions descriptions follow, one fd each (checked by the handler). */
    [VU_SET_MEM_TABLE]         = { AT_LEAST(offsetof(struct vu_mem_table, regions) +
                                   sizeof(struct vu_mem_region_desc)),
                                   .owner = true, FDS(1, VU_MAX_FDS), .handle = h_set_mem_table },
    /* Answered even without NEED_REPLY (always_acked()). */
    [VU_SET_LOG_BASE]          = { EXACT(sizeof(struct vu_log_area)), .owner = true, FDS(1, 1),
                                   .handle = h_set_log_base },
    [VU_SET_VRING_NUM]         = { EXACT(STATE), .owner = true, .handle = h_set_vring_num },
    [VU_SET_VRING_ADDR]        = { EXACT(sizeof(struct vu_vring_addr)), .owner = true,
                                   .handle = h_set_vring_addr },
    [VU_SET_VRING_BASE]        = { EXACT(STATE), .owner = true, .handle = h_set_vring_base },
    [VU_GET_VRING_BASE]        = { EXACT(STATE), .owner = true, .reply = true,
                                   .handle = h_get_vring_base },
    /* An fd unless the payload's NOFD bit is set (checked by the handler). */
    [VU_SET_VRING_KICK]        = { EXACT(U64),  .owner = true, FDS(0, 1), .handle = h_set_vring_kick },
    [VU_SET_VRING_CALL]        = { EXACT(U64),  .owner = true, FDS(0, 1), .handle = h_set_vring_call },
    [VU_SET_VRING_ERR]         = { EXACT(U64),  .owner = true, FDS(0, 1), .handle = h_set_vring_err },
    [VU_GET_PROTOCOL_FEATURES] = { EXACT(0),    .reply = true,  .handle = h_get_protocol_features },
    [VU_SET_PROTOCOL_FEATURES] = { EXACT(U64),                  .handle = h_set_protocol_features },
    [VU_GET_QUEUE_NUM]         = { EXACT(0),    .reply = true,  .handle = h_get_queue_num },
    [VU_SET_VRING_ENABLE]      = { EXACT(STATE), .owner = true, .handle = h_set_vring_enable },
    [VU_SEND_RARP]             = { EXACT(U64),  .owner = true,  .handle = h_send_rarp },
    [VU_SET_BACKEND_REQ_FD]    = { EXACT(0),    FDS(1, 1),      .handle = h_set_backend_req_fd },
    /* Header and config bytes (the header's size field, checked by the
     * handler). */
    [VU_GET_CONFIG]            = { AT_LEAST(VU_CONFIG_HDR_SIZE), .reply = true,
                                   .handle = h_get_config },
    [VU_SET_CONFIG]            = { AT_LEAST(VU_CONFIG_HDR_SIZE), .owner = true,
                                   .handle = h_set_config },
    /* The trailing padding is optional (QEMU sends it). */
    [VU_GET_INFLIGHT_FD]       = { AT_LEAST(offsetof(struct vu_inflight, padding)), .owner = true,
                                   .reply = true, .handle = h_get_inflight_fd },
    [VU_SET_INFLIGHT_FD]       = { AT_LEAST(offsetof(struct vu_inflight, padding)), .owner = true,
                                   FDS(1, 1), .handle = h_set_inflight_fd },
    [VU_RESET_DEVICE]          = { EXACT(0),                    .handle = h_reset },
    [VU_GET_MAX_MEM_SLOTS]     = { EXACT(0),    .reply = true,  .handle = h_get_max_mem_slots },
    [VU_ADD_MEM_REG]           = { EXACT(sizeof(struct vu_single_mem_region)), .owner = true,
                                   FDS(1, 1), .handle = h_add_mem_reg },
    /* No fd is due; one is accepted and closed unused, as the
     * specification allows for older frontends. */
    [VU_REM_MEM_REG]           = { EXACT(sizeof(struct vu_single_mem_region)), .owner = true,
                                   FDS(0, 1), .handle = h_rem_mem_reg },
    [VU_SET_STATUS]            = { EXACT(U64),  .owner = true,  .handle = h_set_status },
    [VU_GET_STATUS]            = { EXACT(0),    .reply = true,  .handle = h_get_status },
};

#undef U64
#undef STATE
#undef EXACT
#undef AT_LEAST
#undef FDS

/* The checks every request gets from its row. */
static int check_request(const struct vu_dev *dev, const struct vu_req_row *row,
                         const struct vu_msg *msg)
{
    if (row->exact ? msg->hdr.size != row->size : msg->hdr.size < row->size)
        return -EINVAL;
    if (msg->nfds < row->fds_min || msg->nfds > row->fds_max)
        return -EINVAL;
    if (row->owner && !dev->owner)
        return -EPERM;
    return 0;
}

/* --verbose: the message sequence of each device (the ring state a request
 * carries), to tell a frontend's sequence from a backend's reaction. */
static void trace_request(const struct vu_dev *dev, const struct vu_msg *msg)
{
    const union vu_payload *p = &msg->p;
    uint32_t req = msg->hdr.request;

    switch (req) {
    case VU_SET_VRING_NUM:
    case VU_SET_VRING_BASE:
    case VU_GET_VRING_BASE:
    case VU_SET_VRING_ENABLE:
        log_debug("%s: %s queue %u num %u", dev->name, vu_request_name(req), p->state.index,
                  p->state.num);
        break;
    case VU_SET_VRING_ADDR:
        log_debug("%s: %s queue %u desc 0x%" PRIx64 " avail 0x%" PRIx64 " used 0x%" PRIx64,
                  dev->name, vu_request_name(req), p->addr.index, p->addr.desc_user_addr,
                  p->addr.avail_user_addr, p->addr.used_user_addr);
        break;
    case VU_SET_VRING_KICK:
    case VU_SET_VRING_CALL:
    case VU_SET_VRING_ERR:
    case VU_SET_FEATURES:
    case VU_SET_STATUS:
        log_debug("%s: %s 0x%" PRIx64, dev->name, vu_request_name(req), p->u64);
        break;
    case VU_ADD_MEM_REG:
    case VU_REM_MEM_REG:
        log_debug("%s: %s guest 0x%" PRIx64 " size 0x%" PRIx64 " uva 0x%" PRIx64, dev->name,
                  vu_request_name(req), p->mem_reg.region.guest_phys_addr,
                  p->mem_reg.region.memory_size, p->mem_reg.region.userspace_addr);
        break;
    case VU_SET_MEM_TABLE:
        for (uint32_t i = 0; i < p->mem.nregions && i < VU_MAX_FDS; i++)
            log_debug("%s: %s region %u guest 0x%" PRIx64 " size 0x%" PRIx64 " uva 0x%" PRIx64,
                      dev->name, vu_request_name(req), i, p->mem.regions[i].guest_phys_addr,
                      p->mem.regions[i].memory_size, p->mem.regions[i].userspace_addr);
        break;
    default:
        log_debug("%s: %s", dev->name, vu_request_name(req));
    }
}

/* Handle one message. Returns 0 or -errno, the result the frontend learns
 * through REPLY_ACK; sets *replied when the request has a reply of its own
 * (sent here or by the handler, also on failure), which replaces the ack. */
static int dispatch(struct vu_dev *dev, struct vu_msg *msg, bool *replied)
{
    uint32_t req = msg->hdr.request;
    const struct vu_req_row *row = req < VU_REQUEST_MAX ? &vu_requests[req] : NULL;
    int r;

    *replied = false;
    trace_request(dev, msg);
    if (!row || !row->handle)
        return -EOPNOTSUPP;
    *replied = row->reply;
    r = check_request(dev, row, msg);
    if (r < 0)
        /* A refused query still gets its (empty) reply: the frontend is
         * blocked reading it. */
        return row->reply ? reply_empty(dev, msg, r) : r;
    return row->handle(dev, msg);
}

/* SET_LOG_BASE with LOG_SHMFD gets its result as a u64 reply whether or
 * not NEED_REPLY is set: the frontend waits for one (QEMU's
 * vhost_user_set_log_base), and a failure is reported in it. */
static bool always_acked(const struct vu_dev *dev, const struct vu_msg *msg)
{
    return msg->hdr.request == VU_SET_LOG_BASE && (dev->protocol_features & PF(VU_PF_LOG_SHMFD));
}

static void timer_set(struct vu_dev *dev, bool on)
{
    struct itimerspec its = { { 0, 0 }, { 0, 0 } };

    if (dev->timer_armed == on || dev->timer_fd < 0)
        return;
    if (on) {
        its.it_value.tv_sec = dev->msg_timeout_ms / 1000;
        its.it_value.tv_nsec = (long)(dev->msg_timeout_ms % 1000) * 1000000L;
    }
    if (timerfd_settime(dev->timer_fd, 0, &its, NULL) == 0)
        dev->timer_armed = on;
}

int vu_dev_timeout(struct vu_dev *dev)
{
    uint64_t n;

    if (dev->timer_fd < 0 || read(dev->timer_fd, &n, sizeof(n)) != sizeof(n) ||
        !dev->timer_armed)
        return 0;
    dev->timer_armed = false;
    if (dev->rx.got == 0)
        return 0;
    log_warn("%s: a vhost-user message did not arrive whole within %u ms (%zu bytes came); "
             "dropping the frontend", dev->name, dev->msg_timeout_ms, dev->rx.got);
    return -ETIMEDOUT;
}

int vu_dev_process(struct vu_dev *dev)
{
    struct vu_msg *msg = &dev->rx.msg;
    bool replied;
    int r;

    r = vu_msg_rx_step(dev->conn_fd, &dev->rx, MSG_DONTWAIT);
    if (r == 0) {
        /* Part of a message: the rest has msg_timeout_ms from its first
         * byte, however it is dripped. */
        timer_set(dev, dev->rx.got > 0);
        return 0;
    }
    timer_set(dev, false);
    if (r == -ECONNRESET)
        return r;
    if (r == -EMSGSIZE) {
        if (log_ratelimit_ok(&dev->rl))
            log_warn("%s: %s carried too many fds; rejected", dev->name,
                     vu_request_name(msg->hdr.request));
        replied = false;
        goto ack;
    }
    if (r < 0) {
        log_warn("%s: bad vhost-user message: %s", dev->name, strerror(-r));
        return r;
    }
    if ((msg->hdr.flags & VU_VERSION_MASK) != VU_VERSION) {
        log_warn("%s: unsupported vhost-user version %u", dev->name,
                 msg->hdr.flags & VU_VERSION_MASK);
        vu_msg_rx_reset(&dev->rx);
        return -EPROTO;
    }
    dev->send_err = 0;
    r = dispatch(dev, msg, &replied);
    vu_msg_rx_reset(&dev->rx);
    if (r < 0 && r != dev->send_err && log_ratelimit_ok(&dev->rl))
        log_warn("%s: %s failed: %s", dev->name, vu_request_name(msg->hdr.request),
                 strerror(-r));
    if (replied)
        goto sent;
ack:
    if ((msg->hdr.flags & VU_FLAG_NEED_REPLY) || always_acked(dev, msg))
        reply_u64(dev, msg, r < 0 ? (uint64_t)-r : 0);
sent:
    if (dev->send_err) {
        /* A frontend that is gone (killed mid-session) is an ordinary
         * disconnect; one that does not read its replies is worth a warning. */
        if (dev->send_err == -EPIPE || dev->send_err == -ECONNRESET)
            log_info("%s: frontend gone before its reply was sent", dev->name);
        else
            log_warn("%s: cannot send a reply: %s; dropping the frontend", dev->name,
                     strerror(-dev->send_err));
        return dev->send_err;
    }
    return 0;
}

int vu_dev_config_changed(struct vu_dev *dev)
{
    struct vu_hdr h = {
        .request = VU_BACKEND_CONFIG_CHANGE_MSG,
        .flags = VU_VERSION,
        .size = 0,
    };

    int r;

    if (dev->backend_fd < 0 || !(dev->protocol_features & PF(VU_PF_BACKEND_REQ)))
        return -ENOTCONN;
    /* No REPLY_ACK asked: nothing to wait for, and the send never waits. */
    r = vu_msg_send_nowait(dev->backend_fd, &h, NULL, NULL, 0);
    if (r == -EAGAIN) {
        log_warn("%s: the frontend does not read its backend channel; "
                 "config change notification dropped", dev->name);
        return 0;
    }
    if (r < 0) {
        log_warn("%s: backend channel broken (%s); closed", dev->name, strerror(-r));
        close_fd(&dev->backend_fd);
        return 0;
    }
    return 0;
}
