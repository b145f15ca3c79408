/* SPDX-License-Identifier: Apache-2.0 */
/* evloop: a small epoll loop for control-plane threads (vhost-user sockets,
 * the JSON-RPC control socket, signals). The datapath uses uloop instead. */
#ifndef SLUICE_CORE_EVLOOP_H
#define SLUICE_CORE_EVLOOP_H

#include <stdint.h>

struct evloop;

/* Called with the epoll event mask (EPOLLIN, EPOLLHUP, ...). */
typedef void (*evloop_cb)(void *arg, uint32_t events);

/* Returns 0 or -errno. */
int evloop_create(struct evloop **out);
/* NULL-safe; registrations still present are dropped (fds are not closed). */
void evloop_destroy(struct evloop *el);

/* Watch @fd for @events; one registration per fd. Returns 0, -EEXIST, -errno. */
int evloop_add(struct evloop *el, int fd, uint32_t events, evloop_cb cb, void *arg);
/* Change the events watched on @fd (registered with evloop_add). Returns
 * 0, -ENOENT or -errno. */
int evloop_mod(struct evloop *el, int fd, uint32_t events);
/* Stop watching @fd (safe from inside a callback, even for another fd of the
 * same batch: its callback will not run). Returns 0 or -ENOENT. */
int evloop_del(struct evloop *el, int fd);

/* Dispatch until evloop_stop(). Returns 0 or -errno. */
int evloop_run(struct evloop *el);
void evloop_stop(struct evloop *el);

#endif
