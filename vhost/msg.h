/* SPDX-License-Identifier: Apache-2.0 */
/* Private to vhost/ (tests include it explicitly): reading and writing
 * vhost-user messages (header, payload, SCM_RIGHTS fds). */
#ifndef SLUICE_VHOST_MSG_H
#define SLUICE_VHOST_MSG_H

#include <stdbool.h>
#include <stddef.h>

#include "vhost/proto.h"

/* A message being received in pieces (a non-blocking reader). */
struct vu_msg_rx {
    struct vu_msg msg;
    size_t got;            /* header and payload bytes received so far */
    bool too_many;         /* more fds came than msg.fds holds */
};

/* Empty @rx: close fds it holds and forget the bytes received. */
void vu_msg_rx_reset(struct vu_msg_rx *rx);

/* Receive what has arrived of the message in @rx from @fd, never reading
 * past its end (the next message's bytes and fds stay in the socket). fds
 * may come with any piece; all are collected. @flags are recvmsg flags:
 * MSG_DONTWAIT for a non-blocking reader (returns 0 when the socket is
 * empty before the message is whole; call again when it is readable), 0 to
 * block (honouring SO_RCVTIMEO: -EAGAIN on timeout).
 * Returns 1 when rx->msg is complete (the caller owns its fds; reset @rx
 * before the next message), 0 (see above), or, with @rx reset except for
 * rx->msg.hdr: -ECONNRESET on EOF before any byte, -EPROTO for a payload
 * larger than any message or EOF inside one, -EMSGSIZE when more than
 * VU_MAX_FDS fds came (the message was read whole, its fds closed), or
 * another -errno. */
int vu_msg_rx_step(int fd, struct vu_msg_rx *rx, int flags);

/* Read one message from @fd (blocking, vu_msg_rx_step() with flags 0). Received fds land in msg->fds (msg->nfds of
 * them); the caller owns them (vu_msg_close_fds()). Returns 0; -ECONNRESET on
 * orderly EOF before a header; -EPROTO for a payload larger than any message
 * or a truncated message; -EMSGSIZE when more than VU_MAX_FDS fds came (the
 * message is still read whole and its fds closed); or another -errno. */
int vu_msg_recv(int fd, struct vu_msg *msg);

/* Send @hdr with @hdr->size payload bytes from @payload and @nfds fds.
 * Returns 0 or -errno (-EAGAIN: SO_SNDTIMEO expired). */
int vu_msg_send(int fd, const struct vu_hdr *hdr, const void *payload,
                const int *fds, unsigned nfds);
/* The same without ever waiting (MSG_DONTWAIT). Returns 0; -EAGAIN when
 * the peer's buffer is full and nothing was sent (the stream is intact);
 * -ENOBUFS when only part of the message went out (the stream is broken:
 * stop using the socket); or another -errno. */
int vu_msg_send_nowait(int fd, const struct vu_hdr *hdr, const void *payload,
                       const int *fds, unsigned nfds);

/* Close every fd still held in @msg (entries set to -1 are skipped). */
void vu_msg_close_fds(struct vu_msg *msg);

#endif
