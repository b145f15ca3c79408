/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the descriptor-chain walker and used-ring updates over a
 * synthetic guest memory whose descriptor table and avail ring come from the
 * input. Input: [u8 flags][u16 queue size][memory bytes...]. Flags: 1
 * indirect, 2 event index, 4 packed ring (descriptor ring at 0, driver and
 * device event areas right after it), 8 packed ring starting at wrap 0,
 * 16 a packed inflight region (the vhost-user packed layout) from the bytes
 * at INFLIGHT_OFF of the memory image, 32 that region marked initialised
 * for this queue size (version 1, desc_num) so the restore path runs: a
 * malformed region must be refused, a sound one resubmitted. */
#include <linux/virtio_ring.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/log.h"
#include "core/uloop.h"
#include "mem.h"         /* vhost/ private */
#include "vq-int.h"      /* vhost/ private: struct vq */
#include "../../vhost/vq_packed.h"   /* vq_packed_start/free: no loop here */

#define MEM_SIZE (128 * 1024)
#define INFLIGHT_OFF 8192   /* past the largest descriptor ring and event areas */
#define ALIGN_UP_4K(x) (((x) + 4095u) & ~4095u)

static struct vu_mem vmem;
static uint8_t *mem;
static struct uloop *loop;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    struct vu_mem_region_desc d = { .guest_phys_addr = 0, .memory_size = MEM_SIZE,
                                    .userspace_addr = 0x10000000, .mmap_offset = 0 };
    int fd = memfd_create("fuzz-vq", MFD_CLOEXEC);
    (void)argc; (void)argv;
    log_init("fuzz", false, LOG_LVL_ERR);
    if (fd < 0 || ftruncate(fd, MEM_SIZE) < 0 || vu_mem_add(&vmem, &d, fd) < 0)
        abort();
    mem = vmem.r[0].hva;
    close(fd);
    if (uloop_create(64, &loop) < 0)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct iovec iov[64];
    struct vq_inflight_region_packed *ifl = NULL;
    struct vq vq;
    struct vq_elem e = { .iov = iov };
    uint16_t num;

    if (size < 3)
        return 0;
    memcpy(&num, data + 1, 2);
    num = (uint16_t)(num % 256 + 1);
    memset(mem, 0, MEM_SIZE);
    memcpy(mem, data + 3, size - 3 < MEM_SIZE ? size - 3 : MEM_SIZE);

    vq_init(&vq, 0);
    vq.num = num;
    vq.mem = &vmem;
    vq.loop = loop;
    vq.indirect = data[0] & 1;
    vq.event_idx = data[0] & 2;
    if (data[0] & 4) {
        vq.packed = true;
        vq.desc_uva = 0x10000000;
        vq.avail_uva = 0x10000000 + 16u * num;
        vq.used_uva = vq.avail_uva + 4;
        vq.base = data[0] & 8 ? 0 : 0x80008000u;
        if (data[0] & 16) {
            size_t sz = vq_inflight_packed_queue_size(num);
            ifl = aligned_alloc(64, sz);
            if (!ifl)
                abort();
            memcpy(ifl, mem + INFLIGHT_OFF, sz);
            if (data[0] & 32) {
                ifl->version = 1;
                ifl->desc_num = num;
            }
            vq.ifl_packed = ifl;
        }
        if (vq_packed_start(&vq) < 0) {
            if (!ifl)
                abort();
            free(ifl);   /* refused: a malformed region */
            return 0;
        }
    }
    /* Ring layout: descriptors at 0, avail at 16*num, used page-aligned after. */
    vq.desc = (struct vring_desc *)mem;
    vq.avail = (struct vring_avail *)(mem + 16u * num);
    vq.used = (struct vring_used *)(mem + ALIGN_UP_4K(16u * num + 6u + 2u * num));
    vq.running = true;
    vq.enabled = true;
    for (int i = 0; i < 2 * num + 8; i++) {
        int r = vq_pop(&vq, &e, 64);
        if (r <= 0)
            break;
        /* Touch every byte the walker handed out: it must be mapped. */
        for (unsigned k = 0; k < (unsigned)e.out_num + e.in_num; k++) {
            volatile uint8_t *p = iov[k].iov_base;
            if (iov[k].iov_len)
                (void)p[0], (void)p[iov[k].iov_len - 1];
        }
        vq_push(&vq, e.head, (uint32_t)iov_size(iov + e.out_num, e.in_num));
    }
    vq_packed_free(&vq);
    free(vq.resubmit);
    free(ifl);
    return 0;
}
