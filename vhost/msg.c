/* SPDX-License-Identifier: Apache-2.0 */
#include "msg.h"
#include "core/util.h"

#include <string.h>
#include <sys/socket.h>

static const char *const names[VU_REQUEST_MAX] = {
    [VU_GET_FEATURES] = "GET_FEATURES",
    [VU_SET_FEATURES] = "SET_FEATURES",
    [VU_SET_OWNER] = "SET_OWNER",
    [VU_RESET_OWNER] = "RESET_OWNER",
    [VU_SET_MEM_TABLE] = "SET_MEM_TABLE",
    [VU_SET_LOG_BASE] = "SET_LOG_BASE",
    [VU_SET_LOG_FD] = "SET_LOG_FD",
    [VU_SET_VRING_NUM] = "SET_VRING_NUM",
    [VU_SET_VRING_ADDR] = "SET_VRING_ADDR",
    [VU_SET_VRING_BASE] = "SET_VRING_BASE",
    [VU_GET_VRING_BASE] = "GET_VRING_BASE",
    [VU_SET_VRING_KICK] = "SET_VRING_KICK",
    [VU_SET_VRING_CALL] = "SET_VRING_CALL",
    [VU_SET_VRING_ERR] = "SET_VRING_ERR",
    [VU_GET_PROTOCOL_FEATURES] = "GET_PROTOCOL_FEATURES",
    [VU_SET_PROTOCOL_FEATURES] = "SET_PROTOCOL_FEATURES",
    [VU_GET_QUEUE_NUM] = "GET_QUEUE_NUM",
    [VU_SET_VRING_ENABLE] = "SET_VRING_ENABLE",
    [VU_SEND_RARP] = "SEND_RARP",
    [VU_NET_SET_MTU] = "NET_SET_MTU",
    [VU_SET_BACKEND_REQ_FD] = "SET_BACKEND_REQ_FD",
    [VU_IOTLB_MSG] = "IOTLB_MSG",
    [VU_SET_VRING_ENDIAN] = "SET_VRING_ENDIAN",
    [VU_GET_CONFIG] = "GET_CONFIG",
    [VU_SET_CONFIG] = "SET_CONFIG",
    [VU_GET_INFLIGHT_FD] = "GET_INFLIGHT_FD",
    [VU_SET_INFLIGHT_FD] = "SET_INFLIGHT_FD",
    [VU_RESET_DEVICE] = "RESET_DEVICE",
    [VU_VRING_KICK] = "VRING_KICK",
    [VU_GET_MAX_MEM_SLOTS] = "GET_MAX_MEM_SLOTS",
    [VU_ADD_MEM_REG] = "ADD_MEM_REG",
    [VU_REM_MEM_REG] = "REM_MEM_REG",
    [VU_SET_STATUS] = "SET_STATUS",
    [VU_GET_STATUS] = "GET_STATUS",
};

const char *vu_request_name(uint32_t req)
{
    if (req < VU_REQUEST_MAX && names[req])
        return names[req];
    return "UNKNOWN";
}

void vu_msg_close_fds(struct vu_msg *msg)
{
    for (unsigned i = 0; i < msg->nfds; i++)
        close_fd(&msg->fds[i]);
    msg->nfds = 0;
}

void vu_msg_rx_reset(struct vu_msg_rx *rx)
{
    vu_msg_close_fds(&rx->msg);
    rx->got = 0;
    rx->too_many = false;
}

/* Keep the fds of one recvmsg (closing those beyond VU_MAX_FDS). */
static void take_fds(struct vu_msg_rx *rx, struct msghdr *mh)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t cnt = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        const int *fds = (const int *)CMSG_DATA(c);
        for (size_t i = 0; i < cnt; i++) {
            int f;
            memcpy(&f, &fds[i], sizeof(f));
            if (rx->msg.nfds < VU_MAX_FDS) {
                rx->msg.fds[rx->msg.nfds++] = f;
            } else {
                close(f);
                rx->too_many = true;
            }
        }
    }
    if (mh->msg_flags & MSG_CTRUNC)
        rx->too_many = true;
}

int vu_msg_rx_step(int fd, struct vu_msg_rx *rx, int flags)
{
    const size_t hdr_len = sizeof(rx->msg.hdr);
    char control[CMSG_SPACE(sizeof(int) * VU_MAX_FDS * 2)];
    int r;

    if (rx->got == 0)
        rx->msg.nfds = 0;
    for (;;) {
        struct iovec iov;
        struct msghdr mh = {
            .msg_iov = &iov, .msg_iovlen = 1,
            .msg_control = control, .msg_controllen = sizeof(control),
        };
        ssize_t n;

        if (rx->got < hdr_len) {
            iov.iov_base = (char *)&rx->msg.hdr + rx->got;
            iov.iov_len = hdr_len - rx->got;
        } else {
            size_t pgot = rx->got - hdr_len;
            if (rx->msg.hdr.size > sizeof(rx->msg.p)) {
                r = -EPROTO;
                goto err;
            }
            if (pgot == rx->msg.hdr.size)
                break;
            iov.iov_base = (char *)&rx->msg.p + pgot;
            iov.iov_len = rx->msg.hdr.size - pgot;
        }
        n = recvmsg(fd, &mh, flags | MSG_CMSG_CLOEXEC);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if ((errno == EAGAIN || errno == EWOULDBLOCK) && (flags & MSG_DONTWAIT))
                return 0;
            r = neg_errno();
            goto err;
        }
        take_fds(rx, &mh);
        if (n == 0) {
            r = rx->got ? -EPROTO : -ECONNRESET;
            goto err;
        }
        if (rx->got < hdr_len && rx->got + (size_t)n >= hdr_len)
            memset(&rx->msg.p, 0, sizeof(rx->msg.p));
        rx->got += (size_t)n;
    }
    if (rx->too_many) {
        r = -EMSGSIZE;
        goto err;
    }
    return 1;

err:
    vu_msg_rx_reset(rx);
    return r;
}

int vu_msg_recv(int fd, struct vu_msg *msg)
{
    struct vu_msg_rx rx = { .got = 0 };
    int r = vu_msg_rx_step(fd, &rx, 0);

    *msg = rx.msg;
    return r < 0 ? r : 0;
}

static int send_flags(int fd, const struct vu_hdr *hdr, const void *payload,
                      const int *fds, unsigned nfds, int flags)
{
    char control[CMSG_SPACE(sizeof(int) * VU_MAX_FDS)];
    struct iovec iov[2] = {
        { (void *)hdr, sizeof(*hdr) },
        { (void *)payload, hdr->size },
    };
    struct msghdr mh = { .msg_iov = iov, .msg_iovlen = hdr->size ? 2 : 1 };
    size_t total = sizeof(*hdr) + hdr->size, done = 0;

    if (nfds > VU_MAX_FDS)
        return -EINVAL;
    if (nfds) {
        struct cmsghdr *c;
        memset(control, 0, sizeof(control));
        mh.msg_control = control;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
    }
    while (done < total) {
        ssize_t n = sendmsg(fd, &mh, MSG_NOSIGNAL | flags);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (done && (errno == EAGAIN || errno == EWOULDBLOCK) && (flags & MSG_DONTWAIT))
                return -ENOBUFS;
            return neg_errno();
        }
        done += (size_t)n;
        if (done >= total)
            break;
        /* Partial write: resend the rest without fds. */
        mh.msg_control = NULL;
        mh.msg_controllen = 0;
        while (n > 0) {
            size_t take = MIN((size_t)n, mh.msg_iov->iov_len);
            mh.msg_iov->iov_base = (char *)mh.msg_iov->iov_base + take;
            mh.msg_iov->iov_len -= take;
            n -= (ssize_t)take;
            if (mh.msg_iov->iov_len == 0) {
                mh.msg_iov++;
                mh.msg_iovlen--;
            }
        }
    }
    return 0;
}

int vu_msg_send(int fd, const struct vu_hdr *hdr, const void *payload,
                const int *fds, unsigned nfds)
{
    return send_flags(fd, hdr, payload, fds, nfds, 0);
}

int vu_msg_send_nowait(int fd, const struct vu_hdr *hdr, const void *payload,
                       const int *fds, unsigned nfds)
{
    return send_flags(fd, hdr, payload, fds, nfds, MSG_DONTWAIT);
}
