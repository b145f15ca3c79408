/* SPDX-License-Identifier: Apache-2.0 */
#include "vqfx.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "core/util.h"

struct uloop *g_loop;

int vqfx_group_setup(void **state)
{
    (void)state;
    return uloop_thread_start(program_invocation_short_name, 256, &g_loop);
}

int vqfx_group_teardown(void **state)
{
    (void)state;
    uloop_thread_stop(g_loop);
    return 0;
}

void vqfx_create(struct vqfx *x, const char *name, uint64_t size, uint64_t gpa, uint64_t uva)
{
    struct vu_mem_region_desc d;

    guest_create(&x->g, name, size, gpa, uva);
    d = guest_region(&x->g, 0, size);
    assert_int_equal(vu_mem_add(&x->mem, &d, x->g.fd), 0);
    x->kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    x->call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    x->err = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    assert_true(x->kick >= 0 && x->call >= 0 && x->err >= 0);
}

static void count_broken(struct vq *vq)
{
    container_of(vq, struct vqfx, vq)->broken_cbs++;
}

void vqfx_configure(struct vqfx *x, struct uloop *loop, vq_handle_cb handle, void *priv)
{
    vq_init(&x->vq, 0);
    x->vq.kick_fd = x->kick;
    x->vq.call_fd = x->call;
    x->vq.err_fd = x->err;
    x->vq.mem = &x->mem;
    x->vq.loop = loop;
    x->vq.handle = handle;
    x->vq.on_broken = count_broken;
    x->vq.priv = priv;
}

void vqfx_destroy(struct vqfx *x)
{
    if (x->vq.running)
        vq_stop(&x->vq);
    free(x->vq.resubmit);
    close(x->kick);
    if (x->call >= 0)
        close(x->call);
    close(x->err);
    vu_mem_clear(&x->mem);
    guest_destroy(&x->g);
}

void vqfx_start(struct vqfx *x)
{
    /* A test that hands the queue an inflight region sized it for the
     * ring, as the frontend's GET_INFLIGHT_FD queue_size does. */
    if ((x->vq.ifl || x->vq.ifl_packed) && !x->vq.ifl_num)
        x->vq.ifl_num = x->vq.num;
    assert_int_equal(vq_start(&x->vq), 0);
    assert_true(x->vq.running);
}

uint64_t vqfx_gbuf(struct vqfx *x, uint32_t len, uint32_t seed)
{
    uint64_t gpa = guest_alloc(&x->g, len, 16);

    pattern_fill(guest_ptr(&x->g, gpa), len, seed, 0);
    return gpa;
}

void *vqfx_hva(struct vqfx *x, uint64_t gpa)
{
    return vu_mem_gpa_range(&x->mem, gpa, 1);
}
