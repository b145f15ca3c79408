/* SPDX-License-Identifier: Apache-2.0 */
#include "core/evloop.h"
#include "core/util.h"

#include <stdbool.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

struct evloop_reg {
    int fd;
    bool dead;
    evloop_cb cb;
    void *arg;
    struct evloop_reg *next;
};

struct evloop {
    int epfd;
    bool stop;
    struct evloop_reg *regs;      /* live registrations */
    struct evloop_reg *graveyard; /* freed after the current batch */
};

int evloop_create(struct evloop **out)
{
    struct evloop *el = calloc(1, sizeof(*el));
    if (!el)
        return -ENOMEM;
    el->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (el->epfd < 0) {
        int r = neg_errno();
        free(el);
        return r;
    }
    *out = el;
    return 0;
}

static void free_list(struct evloop_reg *r)
{
    while (r) {
        struct evloop_reg *n = r->next;
        free(r);
        r = n;
    }
}

void evloop_destroy(struct evloop *el)
{
    if (!el)
        return;
    free_list(el->regs);
    free_list(el->graveyard);
    close_fd(&el->epfd);
    free(el);
}

int evloop_add(struct evloop *el, int fd, uint32_t events, evloop_cb cb, void *arg)
{
    struct epoll_event ev = { .events = events };
    struct evloop_reg *r;

    for (r = el->regs; r; r = r->next)
        if (r->fd == fd)
            return -EEXIST;
    r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    r->fd = fd;
    r->cb = cb;
    r->arg = arg;
    ev.data.ptr = r;
    if (epoll_ctl(el->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        int e = neg_errno();
        free(r);
        return e;
    }
    r->next = el->regs;
    el->regs = r;
    return 0;
}

int evloop_mod(struct evloop *el, int fd, uint32_t events)
{
    for (struct evloop_reg *r = el->regs; r; r = r->next) {
        if (r->fd != fd)
            continue;
        struct epoll_event ev = { .events = events, .data.ptr = r };
        return epoll_ctl(el->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? neg_errno() : 0;
    }
    return -ENOENT;
}

int evloop_del(struct evloop *el, int fd)
{
    struct evloop_reg **pp;

    for (pp = &el->regs; *pp; pp = &(*pp)->next) {
        struct evloop_reg *r = *pp;
        if (r->fd != fd)
            continue;
        *pp = r->next;
        epoll_ctl(el->epfd, EPOLL_CTL_DEL, fd, NULL);
        r->dead = true;
        r->next = el->graveyard;
        el->graveyard = r;
        return 0;
    }
    return -ENOENT;
}

int evloop_run(struct evloop *el)
{
    struct epoll_event evs[32];

    el->stop = false;
    while (!el->stop) {
        int n = epoll_wait(el->epfd, evs, (int)ARRAY_SIZE(evs), -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return neg_errno();
        }
        for (int i = 0; i < n; i++) {
            struct evloop_reg *r = evs[i].data.ptr;
            if (!r->dead)
                r->cb(r->arg, evs[i].events);
        }
        free_list(el->graveyard);
        el->graveyard = NULL;
    }
    return 0;
}

struct evloop_timer {
    struct evloop *el;
    int fd;
    evloop_cb cb;
    void *arg;
};

static void timer_fired(void *arg, uint32_t events)
{
    struct evloop_timer *t = arg;
    uint64_t n;

    /* Clear the expiration count first: the callback may destroy @t. */
    if (read(t->fd, &n, sizeof(n)) != (ssize_t)sizeof(n))
        return;                  /* disarmed or re-set since it fired */
    t->cb(t->arg, events);
}

int evloop_timer_create(struct evloop *el, evloop_cb cb, void *arg, struct evloop_timer **out)
{
    struct evloop_timer *t = calloc(1, sizeof(*t));
    int r;

    if (!t)
        return -ENOMEM;
    *t = (struct evloop_timer){ .el = el, .cb = cb, .arg = arg };
    t->fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (t->fd < 0) {
        r = neg_errno();
        free(t);
        return r;
    }
    r = evloop_add(el, t->fd, EPOLLIN, timer_fired, t);
    if (r < 0) {
        close_fd(&t->fd);
        free(t);
        return r;
    }
    *out = t;
    return 0;
}

static struct timespec ms_ts(unsigned ms)
{
    return (struct timespec){ .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };
}

int evloop_timer_set(struct evloop_timer *t, unsigned ms, unsigned period_ms)
{
    struct itimerspec its = { .it_value = ms_ts(ms), .it_interval = ms_ts(ms ? period_ms : 0) };

    return timerfd_settime(t->fd, 0, &its, NULL) < 0 ? neg_errno() : 0;
}

void evloop_timer_destroy(struct evloop_timer *t)
{
    if (!t)
        return;
    evloop_del(t->el, t->fd);
    close_fd(&t->fd);
    free(t);
}

void evloop_stop(struct evloop *el)
{
    el->stop = true;
}
