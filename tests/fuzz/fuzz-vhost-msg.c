/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the vhost-user message handler of a virtio-blk device, with
 * fds, as a hostile frontend would drive it.
 *
 * Input: [u16 n][n bytes copied into guest memory][messages...], where each
 * message is a 12-byte header and up to header.size payload bytes (fewer if
 * the input ends). Messages that carry fds in the protocol get them (memfds
 * for memory, eventfds for rings), so memory tables, rings and inflight
 * regions really get mapped; every SET_VRING_KICK is followed by a kick, so
 * rings laid out in the fuzzed guest memory are walked by the worker.
 * Hostile extras (issue 17): bits 8-9 of a KICK/CALL/ERR header's flags pick
 * the fd kind (eventfd, /dev/null, a memfd, a pipe whose writer closed),
 * which must be refused unless it is an eventfd; a header with request
 * FUZZ_SHRINK (not sent) shrinks guest memory to header.size bytes just
 * before the message that follows it is handled, under rings that may be
 * running (SIGBUS must only break the device).
 * Bit 15 of n makes the device offer packed rings (VIRTIO_F_RING_PACKED:
 * 32-bit vring bases, rings of any size, packed rings walked).
 * Invariants checked per input: the process survives, and no fd leaks. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "core/uloop.h"
#include "fuzz-frontend.h"
#include "vhost/blk.h"

#define MEM_SIZE (256 * 1024)
#define FUZZ_SHRINK 0xfffffff0u

static struct uloop *worker;
static int memfd = -1;
static uint8_t *mem;

static int null_rw(void *ctx, struct uloop *loop, struct uloop_op *done, bool write,
                   const struct iovec *iov, unsigned iovcnt, uint64_t offset)
{
    size_t n = 0;
    (void)ctx; (void)write; (void)offset;
    for (unsigned i = 0; i < iovcnt; i++)
        n += iov[i].iov_len;
    uloop_post(loop, done, (int)n);
    return 0;
}
static int null_flush(void *ctx, struct uloop *loop, struct uloop_op *done)
{
    (void)ctx;
    uloop_post(loop, done, 0);
    return 0;
}
static int null_discard(void *ctx, struct uloop *loop, struct uloop_op *done, uint64_t o, uint64_t l)
{
    (void)o; (void)l;
    return null_flush(ctx, loop, done);
}
static int null_zero(void *ctx, struct uloop *loop, struct uloop_op *done, uint64_t o, uint64_t l, bool u)
{
    (void)u;
    return null_discard(ctx, loop, done, o, l);
}
static const struct vblk_ops ops = { null_rw, null_flush, null_discard, null_zero };

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    log_init("fuzz", false, LOG_LVL_ERR);
    if (uloop_thread_start("fuzz-w", 256, &worker) < 0)
        abort();
    memfd = memfd_create("fuzz-guest", MFD_CLOEXEC);
    if (memfd < 0 || ftruncate(memfd, MEM_SIZE) < 0)
        abort();
    mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
    if (mem == MAP_FAILED)
        abort();
    return 0;
}

/* How many fds the protocol attaches to @req (given its payload). */
static unsigned fds_for(uint32_t req, const uint8_t *p, size_t plen)
{
    switch (req) {
    case VU_SET_MEM_TABLE: {
        uint32_t n = 0;
        if (plen >= 4)
            memcpy(&n, p, 4);
        return n > VU_MAX_FDS ? VU_MAX_FDS : n;
    }
    case VU_ADD_MEM_REG: case VU_SET_INFLIGHT_FD: case VU_SET_BACKEND_REQ_FD:
        return 1;
    case VU_SET_VRING_KICK: case VU_SET_VRING_CALL: case VU_SET_VRING_ERR: {
        uint64_t v = 0;
        memcpy(&v, p, plen < 8 ? plen : 8);
        return (v & VU_VRING_NOFD_MASK) ? 0 : 1;
    }
    default:
        return 0;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vblk_config bc = { .capacity = 1 << 20, .blk_size = 512, .num_queues = 2,
                              .serial = "fuzz", .io = &ops };
    struct vu_dev_config vc = { .name = "fuzz", .loops = &worker, .nloops = 1 };
    struct vblk *b = NULL;
    int sv[2], kick, before;
    size_t off = 0;
    uint16_t n;

    if (size < 2 || size > 8192)
        return 0;
    /* A previous input may have shrunk it. */
    if (ftruncate(memfd, MEM_SIZE) < 0)
        abort();
    before = ff_count_fds();
    memcpy(&n, data, 2);
    vc.packed = n & 0x8000;
    n &= 0x7fff;
    off = 2;
    if (n > size - off)
        n = (uint16_t)(size - off);
    memset(mem, 0, 65536);
    memcpy(mem, data + off, n);   /* n < 64 KiB < MEM_SIZE */
    off += n;

    if (vblk_create(&bc, &vc, &b) < 0)
        abort();
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        abort();
    vu_dev_attach(vblk_vu_dev(b), sv[0]);
    kick = eventfd(0, EFD_CLOEXEC);
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC), pipefd[2];
    if (devnull < 0 || pipe2(pipefd, O_CLOEXEC) < 0)
        abort();
    close(pipefd[1]);
    unsigned sent = 0, shrink_at = ~0u;
    uint32_t shrink_to = 0;

    /* Queue every message, then end the stream so the backend never waits
     * for bytes that will not come. */
    while (size - off >= sizeof(struct vu_hdr)) {
        struct vu_hdr h;
        int fds[VU_MAX_FDS];
        unsigned nf;
        size_t plen;

        memcpy(&h, data + off, sizeof(h));
        if (h.request == FUZZ_SHRINK) {
            if (shrink_at == ~0u) {
                shrink_at = sent;
                shrink_to = h.size % MEM_SIZE & ~4095u;
            }
            off += sizeof(h);
            continue;
        }
        plen = size - off - sizeof(h);
        if (plen > h.size)
            plen = h.size;
        nf = fds_for(h.request, data + off + sizeof(h), plen);
        for (unsigned i = 0; i < nf; i++) {
            bool ring_fd = h.request == VU_SET_VRING_KICK || h.request == VU_SET_VRING_CALL ||
                           h.request == VU_SET_VRING_ERR;
            const int kinds[4] = { kick, devnull, memfd, pipefd[0] };
            fds[i] = ring_fd ? kinds[(h.flags >> 8) & 3] : memfd;
        }
        struct iovec iov = { (void *)(data + off), sizeof(h) + plen };
        char ctl[CMSG_SPACE(sizeof(int) * VU_MAX_FDS)];
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
        if (nf) {
            memset(ctl, 0, sizeof(ctl));
            mh.msg_control = ctl;
            mh.msg_controllen = CMSG_SPACE(sizeof(int) * nf);
            struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
            c->cmsg_level = SOL_SOCKET;
            c->cmsg_type = SCM_RIGHTS;
            c->cmsg_len = CMSG_LEN(sizeof(int) * nf);
            memcpy(CMSG_DATA(c), fds, sizeof(int) * nf);
        }
        if (sendmsg(sv[1], &mh, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
            break;
        off += sizeof(h) + plen;
        sent++;
    }
    shutdown(sv[1], SHUT_WR);
    /* Drain replies as we go so the backend never blocks on a full socket. */
    for (int i = 0; i < 4096; i++) {
        char sink[4096];
        int r;
        /* Every message arrived whole, so call i handles message i. */
        if ((unsigned)i == shrink_at && ftruncate(memfd, shrink_to) < 0)
            abort();
        r = vu_dev_process(vblk_vu_dev(b));
        while (recv(sv[1], sink, sizeof(sink), MSG_DONTWAIT) > 0)
            ;
        uint64_t one = 1;
        if (write(kick, &one, sizeof(one)) < 0)
            abort();
        if (r < 0)
            break;
    }
    vu_dev_destroy(vblk_vu_dev(b));
    close(sv[1]);
    close(kick);
    close(devnull);
    close(pipefd[0]);
    if (ff_count_fds() != before)
        abort();   /* an fd leaked */
    return 0;
}
