/* SPDX-License-Identifier: Apache-2.0 */
#include "vhost/msg.h"
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

static int read_full(int fd, void *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = recv(fd, (char *)buf + done, len - done, 0);
        if (n == 0)
            return -EPROTO;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return neg_errno();
        }
        done += (size_t)n;
    }
    return 0;
}

int vu_msg_recv(int fd, struct vu_msg *msg)
{
    char control[CMSG_SPACE(sizeof(int) * VU_MAX_FDS * 2)];
    struct iovec iov = { &msg->hdr, sizeof(msg->hdr) };
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1,
        .msg_control = control, .msg_controllen = sizeof(control),
    };
    bool too_many = false;
    struct cmsghdr *c;
    ssize_t n;
    int r;

    msg->nfds = 0;
    do {
        n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return neg_errno();
    if (n == 0)
        return -ECONNRESET;
    for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t cnt = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        int *fds = (int *)CMSG_DATA(c);
        for (size_t i = 0; i < cnt; i++) {
            int f;
            memcpy(&f, &fds[i], sizeof(f));
            if (msg->nfds < VU_MAX_FDS)
                msg->fds[msg->nfds++] = f;
            else {
                close(f);
                too_many = true;
            }
        }
    }
    if (mh.msg_flags & MSG_CTRUNC)
        too_many = true;
    if ((size_t)n < sizeof(msg->hdr)) {
        r = read_full(fd, (char *)&msg->hdr + n, sizeof(msg->hdr) - (size_t)n);
        if (r < 0)
            goto err;
    }
    if (msg->hdr.size > sizeof(msg->p)) {
        r = -EPROTO;
        goto err;
    }
    memset(&msg->p, 0, sizeof(msg->p));
    r = read_full(fd, &msg->p, msg->hdr.size);
    if (r < 0)
        goto err;
    if (too_many) {
        r = -EMSGSIZE;
        goto err;
    }
    return 0;

err:
    vu_msg_close_fds(msg);
    return r;
}

int vu_msg_send(int fd, const struct vu_hdr *hdr, const void *payload,
                const int *fds, unsigned nfds)
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
        ssize_t n = sendmsg(fd, &mh, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
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
