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

/* A timer on the loop (a timerfd, read before @cb runs): created disarmed.
 * Destroy timers before their loop. */
struct evloop_timer;

/* Returns 0, -ENOMEM or -errno. */
int evloop_timer_create(struct evloop *el, evloop_cb cb, void *arg, struct evloop_timer **out);
/* Run the callback @ms milliseconds from now, then every @period_ms (0: only
 * once); @ms 0 disarms. Replaces the previous setting. Returns 0 or -errno. */
int evloop_timer_set(struct evloop_timer *t, unsigned ms, unsigned period_ms);
/* NULL-safe; safe from inside a callback, its own included. */
void evloop_timer_destroy(struct evloop_timer *t);

/* Dispatch until evloop_stop(). Returns 0 or -errno. */
int evloop_run(struct evloop *el);
void evloop_stop(struct evloop *el);

#endif
