/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for src/core/uloop.c: completions posted from other threads. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <setjmp.h>
#include <cmocka.h>

#include "core/uloop.h"
#include "core/util.h"

#define POSTERS 4
#define PER_POSTER 20000

struct rpost {
    struct uloop_op op;
    unsigned poster, seq;
};

static struct {
    struct uloop *loop;
    struct rpost ops[POSTERS][PER_POSTER];
    unsigned next_seq[POSTERS];   /* loop thread */
    unsigned done, wrong_thread, out_of_order, bad_res;
    struct completion all;
} g;

static void rpost_cb(struct uloop_op *op, int res, uint32_t flags)
{
    struct rpost *p = container_of(op, struct rpost, op);
    (void)flags;

    if (!uloop_on_thread(g.loop))
        g.wrong_thread++;
    if (p->seq != g.next_seq[p->poster])
        g.out_of_order++;
    g.next_seq[p->poster] = p->seq + 1;
    if (res != (int)(p->poster * PER_POSTER + p->seq))
        g.bad_res++;
    if (++g.done == POSTERS * PER_POSTER)
        completion_done(&g.all);
}

static void *poster(void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg;

    for (unsigned i = 0; i < PER_POSTER; i++) {
        struct rpost *p = &g.ops[id][i];
        p->op.cb = rpost_cb;
        p->poster = id;
        p->seq = i;
        uloop_post_remote(g.loop, &p->op, (int)(id * PER_POSTER + i));
    }
    return NULL;
}

/* Several threads post completions to an idle loop at once: every one runs
 * exactly once, on the loop thread, with its result, in each poster's
 * order; the loop wakes for them (it sleeps in the kernel otherwise). */
static void test_post_remote_many_threads(void **state)
{
    pthread_t t[POSTERS];
    (void)state;

    memset(&g, 0, sizeof(g));
    completion_init(&g.all);
    assert_int_equal(uloop_thread_start("test-uloop", 64, &g.loop), 0);
    for (unsigned i = 0; i < POSTERS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, poster, (void *)(uintptr_t)i), 0);
    for (unsigned i = 0; i < POSTERS; i++)
        pthread_join(t[i], NULL);
    completion_wait(&g.all);
    uloop_thread_stop(g.loop);
    assert_int_equal(g.done, POSTERS * PER_POSTER);
    assert_int_equal(g.wrong_thread, 0);
    assert_int_equal(g.out_of_order, 0);
    assert_int_equal(g.bad_res, 0);
}

/* One post to a sleeping loop wakes it. */
static void test_post_remote_wakes_idle_loop(void **state)
{
    (void)state;

    memset(&g, 0, sizeof(g));
    completion_init(&g.all);
    assert_int_equal(uloop_thread_start("test-uloop", 64, &g.loop), 0);
    for (unsigned round = 0; round < 3; round++) {
        struct uloop_poll_stats st;
        /* Let the loop go to sleep in the kernel first. */
        for (int i = 0; i < 100; i++) {
            uloop_poll_stats(g.loop, &st);
            if (st.sleeps > round)
                break;
            struct timespec ts = { 0, 1000000 };
            nanosleep(&ts, NULL);
        }
        g.ops[0][round].op.cb = rpost_cb;
        g.ops[0][round].seq = round;
        uloop_post_remote(g.loop, &g.ops[0][round].op, (int)round);
        for (int i = 0; i < 2000 && __atomic_load_n(&g.done, __ATOMIC_ACQUIRE) <= round; i++) {
            struct timespec ts = { 0, 1000000 };
            nanosleep(&ts, NULL);
        }
        assert_int_equal(__atomic_load_n(&g.done, __ATOMIC_ACQUIRE), round + 1);
    }
    uloop_thread_stop(g.loop);
    assert_int_equal(g.wrong_thread + g.out_of_order + g.bad_res, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_post_remote_many_threads),
        cmocka_unit_test(test_post_remote_wakes_idle_loop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
