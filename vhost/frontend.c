/* SPDX-License-Identifier: Apache-2.0 */
/* vhost-user frontend (docs/interop/vhost-user.rst, "front-end" side). */
#include "vhost/frontend.h"
#include "msg.h"
#include "core/log.h"
#include "core/usock.h"
#include "core/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#define F(x) (1ull << (x))
#define VIRTIO_F_VERSION_1_BIT 32

struct vuf_ring_state {
    bool started;
    struct vuf_vring v;
};

struct vuf {
    int fd;
    char *path;                 /* NULL: vuf_connect_fd */
    int timeout_ms;
    uint64_t dev_features;      /* as offered, PROTOCOL_FEATURES included */
    uint64_t proto;             /* negotiated protocol features */
    unsigned queue_num;
    bool features_set;
    uint64_t features;
    struct vuf_region regions[VUF_MAX_REGIONS];
    unsigned nregions;
    struct vuf_ring_state rings[VUF_MAX_QUEUES];
    /* The inflight region the backend gave (GET_INFLIGHT_FD), handed to a
     * restarted backend (SET_INFLIGHT_FD); -1 when none. */
    int inflight_fd;
    struct vu_inflight inflight;
};

static int set_timeout(int fd, int ms)
{
    struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
        return neg_errno();
    return 0;
}

static int send_msg(struct vuf *f, uint32_t req, uint32_t flags, const void *p, uint32_t size,
                    const int *fds, unsigned nfds)
{
    struct vu_hdr h = { .request = req, .flags = VU_VERSION | flags, .size = size };
    int r = vu_msg_send(f->fd, &h, p, fds, nfds);

    if (r == -EAGAIN)
        r = -ETIMEDOUT;
    return r;
}

/* Wait for the reply to @req. Fds that came with it are closed unless
 * @keep_fds (then the caller owns m->fds, also on failure: none are left). */
static int recv_reply_fds(struct vuf *f, uint32_t req, struct vu_msg *m, bool keep_fds)
{
    int r = vu_msg_recv(f->fd, m);

    if (r == -EAGAIN)
        return -ETIMEDOUT;
    if (r < 0)
        return r;
    if (m->hdr.request != req || !(m->hdr.flags & VU_FLAG_REPLY) ||
        (m->hdr.flags & VU_VERSION_MASK) != VU_VERSION) {
        vu_msg_close_fds(m);
        log_warn("vhost-user frontend: unexpected reply %s (%u) to %s",
                 vu_request_name(m->hdr.request), m->hdr.flags, vu_request_name(req));
        return -EPROTO;
    }
    if (!keep_fds)
        vu_msg_close_fds(m);
    return 0;
}

static int recv_reply(struct vuf *f, uint32_t req, struct vu_msg *m)
{
    return recv_reply_fds(f, req, m, false);
}

/* A request with no reply of its own: acked when REPLY_ACK was negotiated. */
static int request(struct vuf *f, uint32_t req, const void *p, uint32_t size,
                   const int *fds, unsigned nfds)
{
    bool ack = f->proto & F(VU_PF_REPLY_ACK);
    struct vu_msg m;
    int r;

    r = send_msg(f, req, ack ? VU_FLAG_NEED_REPLY : 0, p, size, fds, nfds);
    if (r < 0 || !ack)
        return r;
    r = recv_reply(f, req, &m);
    if (r < 0)
        return r;
    if (m.hdr.size != sizeof(uint64_t))
        return -EPROTO;
    if (m.p.u64 != 0) {
        log_warn("vhost-user frontend: backend refused %s", vu_request_name(req));
        return -EIO;
    }
    return 0;
}

static int get_u64(struct vuf *f, uint32_t req, uint64_t *out)
{
    struct vu_msg m;
    int r = send_msg(f, req, 0, NULL, 0, NULL, 0);

    if (r < 0)
        return r;
    r = recv_reply(f, req, &m);
    if (r < 0)
        return r;
    if (m.hdr.size != sizeof(uint64_t))
        return -EPROTO;
    *out = m.p.u64;
    return 0;
}

static int handshake(struct vuf *f)
{
    uint64_t feat, pf = 0, qn = 1;
    int r;

    r = set_timeout(f->fd, f->timeout_ms);
    if (r < 0)
        return r;
    f->proto = 0;
    r = send_msg(f, VU_SET_OWNER, 0, NULL, 0, NULL, 0);
    if (r < 0)
        return r;
    r = get_u64(f, VU_GET_FEATURES, &feat);
    if (r < 0)
        return r;
    if (!(feat & F(VIRTIO_F_VERSION_1_BIT))) {
        log_err("vhost-user frontend: backend does not offer VIRTIO_F_VERSION_1");
        return -EPROTO;
    }
    if (feat & F(VU_F_PROTOCOL_FEATURES)) {
        r = get_u64(f, VU_GET_PROTOCOL_FEATURES, &pf);
        if (r < 0)
            return r;
        pf &= VUF_PROTOCOL_FEATURES;
        r = send_msg(f, VU_SET_PROTOCOL_FEATURES, 0, &pf, sizeof(pf), NULL, 0);
        if (r < 0)
            return r;
        f->proto = pf;
        if (pf & F(VU_PF_MQ)) {
            r = get_u64(f, VU_GET_QUEUE_NUM, &qn);
            if (r < 0)
                return r;
            if (qn == 0 || qn > VUF_MAX_QUEUES)
                return -EPROTO;
        }
    }
    f->dev_features = feat;
    f->queue_num = (unsigned)qn;
    return 0;
}

static int create(int fd, const char *path, int timeout_ms, struct vuf **out)
{
    struct vuf *f = calloc(1, sizeof(*f));
    int r;

    if (!f) {
        close(fd);
        return -ENOMEM;
    }
    f->fd = fd;
    f->inflight_fd = -1;
    f->timeout_ms = timeout_ms > 0 ? timeout_ms : 5000;
    if (path && !(f->path = strdup(path))) {
        vuf_destroy(f);
        return -ENOMEM;
    }
    r = handshake(f);
    if (r < 0) {
        vuf_destroy(f);
        return r;
    }
    *out = f;
    return 0;
}

int vuf_connect(const char *path, int timeout_ms, struct vuf **out)
{
    int fd, r;

    if (!path || !out)
        return -EINVAL;
    r = usock_connect(path, 0, &fd);
    if (r < 0)
        return r;
    return create(fd, path, timeout_ms, out);
}

int vuf_connect_fd(int fd, int timeout_ms, struct vuf **out)
{
    if (fd < 0 || !out)
        return -EINVAL;
    return create(fd, NULL, timeout_ms, out);
}

void vuf_destroy(struct vuf *f)
{
    if (!f)
        return;
    close_fd(&f->fd);
    close_fd(&f->inflight_fd);
    free(f->path);
    free(f);
}

int vuf_fd(const struct vuf *f) { return f->fd; }
uint64_t vuf_device_features(const struct vuf *f) { return f->dev_features & ~F(VU_F_PROTOCOL_FEATURES); }
uint64_t vuf_protocol_features(const struct vuf *f) { return f->proto; }
unsigned vuf_queue_num(const struct vuf *f) { return f->queue_num; }
int vuf_inflight_fd(const struct vuf *f) { return f->inflight_fd; }

static int send_features(struct vuf *f, uint64_t features)
{
    uint64_t v = features | (f->dev_features & F(VU_F_PROTOCOL_FEATURES));

    return request(f, VU_SET_FEATURES, &v, sizeof(v), NULL, 0);
}

int vuf_set_features(struct vuf *f, uint64_t features)
{
    int r;

    if (features & ~vuf_device_features(f))
        return -EINVAL;
    r = send_features(f, features);
    if (r == 0) {
        f->features = features;
        f->features_set = true;
    }
    return r;
}

static int send_mem_table(struct vuf *f)
{
    struct vu_mem_table t;
    int fds[VUF_MAX_REGIONS];

    memset(&t, 0, sizeof(t));
    t.nregions = f->nregions;
    for (unsigned i = 0; i < f->nregions; i++) {
        t.regions[i].guest_phys_addr = f->regions[i].gpa;
        t.regions[i].memory_size = f->regions[i].size;
        t.regions[i].userspace_addr = (uint64_t)(uintptr_t)f->regions[i].hva;
        t.regions[i].mmap_offset = f->regions[i].offset;
        fds[i] = f->regions[i].fd;
    }
    /* The payload is the header plus the regions actually used. */
    return request(f, VU_SET_MEM_TABLE, &t,
                   (uint32_t)(8 + f->nregions * sizeof(struct vu_mem_region_desc)),
                   fds, f->nregions);
}

int vuf_set_mem_table(struct vuf *f, const struct vuf_region *r, unsigned n)
{
    if (n == 0 || n > VUF_MAX_REGIONS)
        return -EINVAL;
    for (unsigned i = 0; i < n; i++)
        if (r[i].size == 0 || r[i].fd < 0 || !r[i].hva)
            return -EINVAL;
    memcpy(f->regions, r, n * sizeof(*r));
    f->nregions = n;
    return send_mem_table(f);
}

int vuf_get_config(struct vuf *f, uint32_t offset, void *buf, uint32_t len)
{
    struct vu_config c;
    struct vu_msg m;
    int r;

    if (!(f->proto & F(VU_PF_CONFIG)))
        return -ENOTSUP;
    if (len == 0 || len > VU_MAX_CONFIG_SIZE)
        return -EINVAL;
    memset(&c, 0, sizeof(c));
    c.offset = offset;
    c.size = len;
    r = send_msg(f, VU_GET_CONFIG, 0, &c, VU_CONFIG_HDR_SIZE + len, NULL, 0);
    if (r < 0)
        return r;
    r = recv_reply(f, VU_GET_CONFIG, &m);
    if (r < 0)
        return r;
    /* A backend signals failure with an empty payload. */
    if (m.hdr.size != VU_CONFIG_HDR_SIZE + len || m.p.config.size != len)
        return -EIO;
    memcpy(buf, m.p.config.region, len);
    return 0;
}

int vuf_get_inflight(struct vuf *f, uint16_t num_queues, uint16_t queue_size)
{
    struct vu_inflight in;
    struct vu_msg m;
    int r;

    if (!(f->proto & F(VU_PF_INFLIGHT_SHMFD)))
        return -ENOTSUP;
    if (num_queues == 0 || num_queues > VUF_MAX_QUEUES || queue_size == 0)
        return -EINVAL;
    close_fd(&f->inflight_fd);
    memset(&in, 0, sizeof(in));
    in.num_queues = num_queues;
    in.queue_size = queue_size;
    r = send_msg(f, VU_GET_INFLIGHT_FD, 0, &in, sizeof(in), NULL, 0);
    if (r < 0)
        return r;
    r = recv_reply_fds(f, VU_GET_INFLIGHT_FD, &m, true);
    if (r < 0)
        return r;
    /* A backend signals failure with an empty payload (and no fd). */
    if (m.hdr.size != sizeof(in) || m.nfds != 1 || m.p.inflight.mmap_size == 0) {
        vu_msg_close_fds(&m);
        return m.hdr.size == sizeof(in) || m.hdr.size == 0 ? -EIO : -EPROTO;
    }
    f->inflight_fd = m.fds[0];
    f->inflight = m.p.inflight;
    return 0;
}

static int send_inflight(struct vuf *f)
{
    return request(f, VU_SET_INFLIGHT_FD, &f->inflight, sizeof(f->inflight),
                   &f->inflight_fd, 1);
}

/* Frontend virtual address of [gpa, gpa+len), or 0. */
static uint64_t gpa_to_uva(const struct vuf *f, uint64_t gpa, uint64_t len)
{
    for (unsigned i = 0; i < f->nregions; i++) {
        const struct vuf_region *r = &f->regions[i];
        if (gpa >= r->gpa && gpa - r->gpa < r->size && len <= r->size - (gpa - r->gpa))
            return (uint64_t)(uintptr_t)r->hva + (gpa - r->gpa);
    }
    return 0;
}

static int start_ring(struct vuf *f, unsigned idx, const struct vuf_vring *v)
{
    struct vu_vring_state st = { .index = idx };
    struct vu_vring_addr a = { .index = idx };
    uint64_t nofd_idx = idx;
    int r;

    a.desc_user_addr = gpa_to_uva(f, v->desc_gpa, 16ull * v->num);
    a.avail_user_addr = gpa_to_uva(f, v->avail_gpa, 6ull + 2ull * v->num);
    a.used_user_addr = gpa_to_uva(f, v->used_gpa, 6ull + 8ull * v->num);
    if (!a.desc_user_addr || !a.avail_user_addr || !a.used_user_addr)
        return -EINVAL;
    st.num = v->num;
    if ((r = request(f, VU_SET_VRING_NUM, &st, sizeof(st), NULL, 0)) < 0)
        return r;
    if ((r = request(f, VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0)) < 0)
        return r;
    st.num = v->base;
    if ((r = request(f, VU_SET_VRING_BASE, &st, sizeof(st), NULL, 0)) < 0)
        return r;
    if (v->call_fd >= 0)
        r = request(f, VU_SET_VRING_CALL, &nofd_idx, sizeof(nofd_idx), &v->call_fd, 1);
    else {
        uint64_t x = idx | VU_VRING_NOFD_MASK;
        r = request(f, VU_SET_VRING_CALL, &x, sizeof(x), NULL, 0);
    }
    if (r < 0)
        return r;
    if ((r = request(f, VU_SET_VRING_KICK, &nofd_idx, sizeof(nofd_idx), &v->kick_fd, 1)) < 0)
        return r;
    if (f->dev_features & F(VU_F_PROTOCOL_FEATURES)) {
        st.num = 1;
        if ((r = request(f, VU_SET_VRING_ENABLE, &st, sizeof(st), NULL, 0)) < 0)
            return r;
    }
    return 0;
}

int vuf_vring_start(struct vuf *f, unsigned idx, const struct vuf_vring *v)
{
    int r;

    if (idx >= VUF_MAX_QUEUES || v->num == 0 || v->num > 32768 || (v->num & (v->num - 1)) ||
        v->kick_fd < 0)
        return -EINVAL;
    r = start_ring(f, idx, v);
    if (r == 0) {
        f->rings[idx].started = true;
        f->rings[idx].v = *v;
    }
    return r;
}

int vuf_vring_stop(struct vuf *f, unsigned idx, uint16_t *base)
{
    struct vu_vring_state st = { .index = idx };
    struct vu_msg m;
    int r;

    if (idx >= VUF_MAX_QUEUES)
        return -EINVAL;
    f->rings[idx].started = false;
    if (f->dev_features & F(VU_F_PROTOCOL_FEATURES)) {
        st.num = 0;
        (void)request(f, VU_SET_VRING_ENABLE, &st, sizeof(st), NULL, 0);
        st.num = 0;
    }
    r = send_msg(f, VU_GET_VRING_BASE, 0, &st, sizeof(st), NULL, 0);
    if (r < 0)
        return r;
    r = recv_reply(f, VU_GET_VRING_BASE, &m);
    if (r < 0)
        return r;
    if (m.hdr.size != sizeof(st))
        return -EPROTO;
    if (base)
        *base = (uint16_t)m.p.state.num;
    return 0;
}

int vuf_reset(struct vuf *f)
{
    int r = 0, e;

    for (unsigned i = 0; i < VUF_MAX_QUEUES; i++) {
        if (!f->rings[i].started)
            continue;
        e = vuf_vring_stop(f, i, NULL);
        if (e < 0 && r == 0)
            r = e;
    }
    f->features_set = false;
    /* A reset device starts with nothing in flight: the next start asks
     * for a fresh region (the backend dropped its mapping). */
    close_fd(&f->inflight_fd);
    if (f->proto & F(VU_PF_RESET_DEVICE)) {
        e = request(f, VU_RESET_DEVICE, NULL, 0, NULL, 0);
        if (e < 0 && r == 0)
            r = e;
    }
    return r;
}

/* The guest's used index of a ring (what the device last completed). */
static uint16_t used_idx(const struct vuf *f, const struct vuf_vring *v)
{
    uint64_t uva = gpa_to_uva(f, v->used_gpa + 2, 2);

    if (!uva)
        return v->base;
    return __atomic_load_n((volatile uint16_t *)(uintptr_t)uva, __ATOMIC_ACQUIRE);
}

int vuf_reconnect(struct vuf *f)
{
    uint64_t old = f->dev_features;
    int fd, r;

    if (!f->path)
        return -ENOTSUP;
    close_fd(&f->fd);
    r = usock_connect(f->path, 0, &fd);
    if (r < 0)
        return r;
    f->fd = fd;
    r = handshake(f);
    if (r < 0)
        return r;
    if (f->features_set && (f->features & ~vuf_device_features(f))) {
        log_err("vhost-user frontend: %s: restarted backend offers fewer features", f->path);
        f->dev_features = old;
        return -EPROTO;
    }
    if (f->features_set && (r = send_features(f, f->features)) < 0)
        return r;
    if (f->nregions && (r = send_mem_table(f)) < 0)
        return r;
    /* The region the dead backend kept its taken-but-not-completed chains
     * in: the new one resubmits them when each ring starts. */
    if (f->inflight_fd >= 0) {
        if (!(f->proto & F(VU_PF_INFLIGHT_SHMFD))) {
            log_err("vhost-user frontend: %s: restarted backend lost INFLIGHT_SHMFD; "
                    "requests in flight are lost", f->path);
            return -EPROTO;
        }
        if ((r = send_inflight(f)) < 0)
            return r;
    }
    for (unsigned i = 0; i < VUF_MAX_QUEUES; i++) {
        struct vuf_vring v = f->rings[i].v;
        if (!f->rings[i].started)
            continue;
        v.base = used_idx(f, &v);
        r = start_ring(f, i, &v);
        if (r < 0)
            return r;
    }
    return 0;
}
