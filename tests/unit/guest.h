/* SPDX-License-Identifier: Apache-2.0 */
/* Test helpers: a synthetic guest (a real memfd the test maps itself, shared
 * with the code under test through vu_mem_add or SET_MEM_TABLE) and the
 * driver half of a split virtqueue laid out in it. Every helper fails the
 * running cmocka test on misuse. */
#ifndef SLUICE_TEST_GUEST_H
#define SLUICE_TEST_GUEST_H

#include <linux/virtio_ring.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vhost/proto.h"
#include "vhost/vq.h"

struct guest {
    int fd;            /* the memfd: guest RAM */
    uint8_t *base;     /* the test's own mapping of all of it */
    uint64_t size;
    uint64_t gpa;      /* guest-physical address of byte 0 */
    uint64_t uva;      /* frontend-virtual address of byte 0 */
    uint64_t next;     /* bump allocator (offset) */
};

/* Create @size bytes of guest RAM (zeroed) at @gpa / @uva. */
void guest_create(struct guest *g, const char *name, uint64_t size, uint64_t gpa, uint64_t uva);
void guest_destroy(struct guest *g);
/* The test's pointer to guest-physical @gpa (must be inside). */
void *guest_ptr(const struct guest *g, uint64_t gpa);
/* Allocate @size bytes aligned to @align; returns the gpa. */
uint64_t guest_alloc(struct guest *g, uint64_t size, uint64_t align);
/* A region descriptor for bytes [@off, @off+@size) of the memfd. */
struct vu_mem_region_desc guest_region(const struct guest *g, uint64_t off, uint64_t size);

/* The driver side of a split ring in guest memory. */
struct tring {
    struct guest *g;
    uint16_t num;
    uint64_t desc_gpa, avail_gpa, used_gpa;
    struct vring_desc *desc;
    struct vring_avail *avail;
    struct vring_used *used;
    uint16_t avail_idx;    /* driver's shadow of avail->idx */
};

/* Allocate a ring of @num entries in @g (zeroed). */
void tring_init(struct tring *r, struct guest *g, uint16_t num);
/* Frontend-virtual addresses of the three parts (what SET_VRING_ADDR carries). */
uint64_t tring_desc_uva(const struct tring *r);
uint64_t tring_avail_uva(const struct tring *r);
uint64_t tring_used_uva(const struct tring *r);
/* Write descriptor @i. */
void tring_desc(struct tring *r, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
                uint16_t next);
/* Put @head in the next avail slot and publish the new index. */
void tring_avail(struct tring *r, uint16_t head);
/* Set avail->idx directly (for malicious indices). */
void tring_set_avail_idx(struct tring *r, uint16_t idx);
uint16_t tring_used_idx(const struct tring *r);
struct vring_used_elem tring_used(const struct tring *r, uint16_t i);
/* EVENT_IDX words: used_event (driver -> device) and avail_event (device -> driver). */
volatile uint16_t *tring_used_event(struct tring *r);
volatile uint16_t *tring_avail_event(struct tring *r);

/* Run vq_stop(@vq) on a new thread *@t; return once the stop has begun on
 * the queue's loop and its kick read is gone (the test fails after 2 s).
 * pthread_join(*@t) waits for the stop to complete. */
void vq_stop_begin(struct vq *vq, pthread_t *t);

/* Number of open file descriptors of this process. */
int count_open_fds(void);
/* True when /proc/self/maps has a mapping whose path contains @needle. */
bool mapped(const char *needle);
/* How many mappings' paths contain @needle. */
int count_mappings(const char *needle);
/* Read an eventfd: wait up to @timeout_ms for it to become readable, return the
 * counter (0 when nothing arrived). */
uint64_t eventfd_wait(int fd, int timeout_ms);
/* A temporary file of @size bytes filled with pattern(@seed); path in @path. */
int make_temp_file(char *path, size_t pathlen, uint64_t size, uint32_t seed);
/* The byte the pattern has at @off for @seed. */
uint8_t pattern_byte(uint32_t seed, uint64_t off);
void pattern_fill(uint8_t *buf, size_t len, uint32_t seed, uint64_t off);

#endif
