/* SPDX-License-Identifier: Apache-2.0 */
/* An NBD server (fixed newstyle handshake, simple replies) exporting the
 * devices sluiced serves as `incoming`: the target of a storage migration
 * (`sluice dev mirror` on the source host). The NBD protocol is
 * github.com/NetworkBlockDevice/nbd doc/proto.md.
 *
 * One thread accepts, one thread serves each connection with blocking
 * pread/pwrite/fallocate on the export's own descriptor (the device's
 * io_uring workers are not involved; Linux keeps the descriptors of one
 * file coherent). Peer input never kills the process: a malformed
 * handshake or request closes that one connection; a request out of range
 * or too large gets an NBD error reply. */
#ifndef SLUICED_NBD_SERVER_H
#define SLUICED_NBD_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"

/* Requests (READ, WRITE) carry at most this many bytes; a WRITE above it
 * closes the connection (its payload cannot be skipped safely), a READ
 * above it gets EINVAL. Reported as NBD_INFO_BLOCK_SIZE's maximum. */
#define NBD_SRV_MAX_REQUEST (32u << 20)
/* Connections served at once; more are refused (closed at once). */
#define NBD_SRV_MAX_CONNS 16
/* A handshake must be done within this time, or the connection is closed. */
#define NBD_SRV_HANDSHAKE_MS 10000
/* A request's payload, once its header came, and a reply, once sent, must
 * move within this long (a peer that stalls mid-request or never reads its
 * replies loses the connection). Between requests a connection may idle:
 * a synced mirror whose guest does not write sends nothing. */
#define NBD_SRV_IO_MS 30000

struct nbd_server;

/* An empty server: no exports, not listening. Returns 0 or -ENOMEM. */
int nbd_server_create(struct nbd_server **out);
/* Close the listener and every connection, wait for their threads, drop
 * the exports. NULL-safe. */
void nbd_server_destroy(struct nbd_server *s);
/* Other limits than NBD_SRV_HANDSHAKE_MS and NBD_SRV_IO_MS (tests), set
 * before any connection is served. */
void nbd_server_set_timeouts(struct nbd_server *s, unsigned handshake_ms, unsigned io_ms);

/* Listen on @addr: a unix socket path (anything with a '/'; bound with
 * usock_listen(), group @gid as usock_share()) or HOST:PORT on TCP (IPv6
 * as [ADDR]:PORT), and start the accept thread. Returns 0, -EINVAL (@addr
 * malformed: a usage error), -EALREADY, or -errno with @err saying why. */
int nbd_server_listen(struct nbd_server *s, const char *addr, int gid, struct sl_err *err);
/* The bound TCP port (for HOST:0), or -1. */
int nbd_server_port(const struct nbd_server *s);

/* Export @fd (duplicated; the caller keeps its own) as @name, @size bytes.
 * Returns 0, -EEXIST, -ENOSPC (too many exports) or -errno. */
int nbd_server_export(struct nbd_server *s, const char *name, int fd, uint64_t size, bool readonly);
/* Stop exporting @name: new connections no longer find it; the
 * connections served by nbd_server_listen()'s threads on it are closed,
 * and requests still arriving on others get ESHUTDOWN. Writes, trims and
 * zeroings under way are waited for: none reaches the file after this
 * returns. No-op when absent. */
void nbd_server_unexport(struct nbd_server *s, const char *name);

/* Serve one client on the connected stream socket @fd in the calling thread
 * until it disconnects or misbehaves; @fd is made non-blocking (the
 * handshake has a time limit), not closed. Returns 0 (clean
 * NBD_CMD_DISC or abort) or -errno (-EPROTO: a protocol violation). */
int nbd_server_serve(struct nbd_server *s, int fd);

#endif
