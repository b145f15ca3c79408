/* SPDX-License-Identifier: Apache-2.0 */
/* Reading and writing vhost-user messages (header, payload, SCM_RIGHTS fds). */
#ifndef SLUICE_VHOST_MSG_H
#define SLUICE_VHOST_MSG_H

#include "vhost/proto.h"

/* Read one message from @fd. Received fds land in msg->fds (msg->nfds of
 * them); the caller owns them (vu_msg_close_fds()). Returns 0; -ECONNRESET on
 * orderly EOF before a header; -EPROTO for a payload larger than any message
 * or a truncated message; -EMSGSIZE when more than VU_MAX_FDS fds came (the
 * message is still read whole and its fds closed); or another -errno. */
int vu_msg_recv(int fd, struct vu_msg *msg);

/* Send @hdr with @hdr->size payload bytes from @payload and @nfds fds.
 * Returns 0 or -errno. */
int vu_msg_send(int fd, const struct vu_hdr *hdr, const void *payload,
                const int *fds, unsigned nfds);

/* Close every fd still held in @msg (entries set to -1 are skipped). */
void vu_msg_close_fds(struct vu_msg *msg);

#endif
