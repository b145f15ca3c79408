/* SPDX-License-Identifier: Apache-2.0 */
/* The fixture the virtqueue unit tests share (test-vq.c for split rings,
 * test-vq-packed.c for packed ones): guest RAM (a memfd) mapped through a
 * vu_mem, a queue's kick/call/err eventfds and the queue itself; and the
 * worker loop their test groups run on (test-blk.c's too). Every helper
 * fails the running cmocka test on misuse. */
#ifndef SLUICE_TEST_VQFX_H
#define SLUICE_TEST_VQFX_H

#include <stdint.h>

#include "core/uloop.h"
#include "guest.h"
#include "mem.h"         /* vhost/ private */
#include "vq-int.h"      /* vhost/ private: struct vq */

struct vqfx {
    struct guest g;
    struct vu_mem mem;
    struct vq vq;
    int kick, call, err;    /* a test may close call and set it to -1 */
    unsigned broken_cbs;    /* on_broken calls (written on the worker) */
};

/* The test group's worker loop (vqfx_group_setup). */
extern struct uloop *g_loop;

/* cmocka group setup/teardown: start and stop g_loop. */
int vqfx_group_setup(void **state);
int vqfx_group_teardown(void **state);

/* Guest RAM of @size bytes at @gpa / @uva, all of it in x->mem, and the
 * three eventfds (non-blocking). */
void vqfx_create(struct vqfx *x, const char *name, uint64_t size, uint64_t gpa, uint64_t uva);
/* (Re)initialise x->vq as a backend does before vq_start, ring addresses
 * and format aside: the fds, the memory, @loop, @handle, @priv and an
 * on_broken that counts into x->broken_cbs. */
void vqfx_configure(struct vqfx *x, struct uloop *loop, vq_handle_cb handle, void *priv);
/* Stop the queue when it runs (the test gives back its chains first),
 * close the fds, unmap and free. */
void vqfx_destroy(struct vqfx *x);

/* vq_start must succeed and the queue run. */
void vqfx_start(struct vqfx *x);
/* A guest buffer of @len bytes filled with pattern(@seed); its gpa. */
uint64_t vqfx_gbuf(struct vqfx *x, uint32_t len, uint32_t seed);
/* The device's view (the vq's mapping) of guest address @gpa. */
void *vqfx_hva(struct vqfx *x, uint64_t gpa);

#endif
