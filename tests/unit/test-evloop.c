/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for src/core/evloop.c: fd callbacks and timers. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "core/evloop.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

struct ctx {
    struct evloop *el;
    struct evloop_timer *t;
    int fires, stop_after;
    double at[8];
    int efd;
    bool destroy_in_cb;
};

static void tick(void *arg, uint32_t events)
{
    struct ctx *c = arg;

    assert_true(events & EPOLLIN);
    if (c->fires < 8)
        c->at[c->fires] = now_ms();
    if (++c->fires >= c->stop_after) {
        if (c->destroy_in_cb) {
            evloop_timer_destroy(c->t);
            c->t = NULL;
        } else {
            assert_int_equal(evloop_timer_set(c->t, 0, 0), 0);
        }
        evloop_stop(c->el);
    }
}

/* A one-shot timer fires once, after its delay. */
static void test_timer_once(void **state)
{
    struct ctx c = { .stop_after = 1 };
    double t0;
    (void)state;

    assert_int_equal(evloop_create(&c.el), 0);
    assert_int_equal(evloop_timer_create(c.el, tick, &c, &c.t), 0);
    t0 = now_ms();
    assert_int_equal(evloop_timer_set(c.t, 50, 0), 0);
    assert_int_equal(evloop_run(c.el), 0);
    assert_int_equal(c.fires, 1);
    assert_true(c.at[0] - t0 >= 49.0);
    evloop_timer_destroy(c.t);
    evloop_destroy(c.el);
}

/* A periodic timer fires again and again until disarmed; destroying it in
 * its own callback is safe. */
static void test_timer_periodic(void **state)
{
    struct ctx c = { .stop_after = 3, .destroy_in_cb = true };
    double t0;
    (void)state;

    assert_int_equal(evloop_create(&c.el), 0);
    assert_int_equal(evloop_timer_create(c.el, tick, &c, &c.t), 0);
    t0 = now_ms();
    assert_int_equal(evloop_timer_set(c.t, 20, 30), 0);
    assert_int_equal(evloop_run(c.el), 0);
    assert_int_equal(c.fires, 3);
    assert_null(c.t);
    assert_true(c.at[2] - t0 >= 20.0 + 2 * 30.0 - 1.0);
    evloop_destroy(c.el);
}

static void stop_on_efd(void *arg, uint32_t events)
{
    struct ctx *c = arg;
    eventfd_t v;
    (void)events;

    assert_int_equal(eventfd_read(c->efd, &v), 0);
    evloop_stop(c->el);
}

static void must_not_fire(void *arg, uint32_t events)
{
    (void)arg;
    (void)events;
    fail_msg("a disarmed timer fired");
}

/* A timer set to 0 does not fire; a pending expiry is dropped. */
static void test_timer_disarm(void **state)
{
    struct ctx c = { 0 };
    struct evloop_timer *t;
    (void)state;

    assert_int_equal(evloop_create(&c.el), 0);
    c.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    assert_true(c.efd >= 0);
    assert_int_equal(evloop_add(c.el, c.efd, EPOLLIN, stop_on_efd, &c), 0);
    assert_int_equal(evloop_timer_create(c.el, must_not_fire, NULL, &t), 0);
    assert_int_equal(evloop_timer_set(t, 10, 10), 0);
    usleep(30000);                       /* expired, not yet dispatched */
    assert_int_equal(evloop_timer_set(t, 0, 10), 0);
    assert_int_equal(eventfd_write(c.efd, 1), 0);
    assert_int_equal(evloop_run(c.el), 0);
    usleep(30000);
    assert_int_equal(eventfd_write(c.efd, 1), 0);
    assert_int_equal(evloop_run(c.el), 0);
    evloop_timer_destroy(t);
    evloop_timer_destroy(NULL);
    assert_int_equal(evloop_del(c.el, c.efd), 0);
    assert_int_equal(evloop_del(c.el, c.efd), -ENOENT);
    close(c.efd);
    evloop_destroy(c.el);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timer_once),
        cmocka_unit_test(test_timer_periodic),
        cmocka_unit_test(test_timer_disarm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
