/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for vmm/pci.c and vmm/virtio_pci.c: configuration mechanism #1,
 * BAR sizing, capabilities, the virtio-pci common config state machine and
 * MSI-X routing. KVM is faked (the host ops record routes, irqfds and
 * ioeventfds); the backend is a real vblk vu_dev on a socketpair, so feature
 * negotiation and DRIVER_OK really start its queue. */
#include <errno.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "core/log.h"
#include "harness.h"
#include "vmm/pci.h"
#include "vmm/virtio_pci.h"

#define F(x) (1ull << (x))

/* ---- a fake KVM ---------------------------------------------------------- */
struct fake {
    unsigned next_gsi;
    uint64_t route_addr[64];
    uint32_t route_data[64];
    int irqfd_gsi[64];          /* by fd: bound GSI or -1 */
    uint64_t ioev[64];          /* by fd: registered address or 0 */
};

static int f_gsi(void *ctx, unsigned *gsi) { struct fake *f = ctx; *gsi = f->next_gsi++; return 0; }
static int f_route(void *ctx, unsigned gsi, uint64_t a, uint32_t d)
{
    struct fake *f = ctx;
    f->route_addr[gsi] = a;
    f->route_data[gsi] = d;
    return 0;
}
static int f_irqfd(void *ctx, int fd, unsigned gsi, bool assign)
{
    struct fake *f = ctx;
    f->irqfd_gsi[fd] = assign ? (int)gsi : -1;
    return 0;
}
static int f_ioev(void *ctx, int fd, uint64_t addr, bool assign)
{
    struct fake *f = ctx;
    f->ioev[fd] = assign ? addr : 0;
    return 0;
}

/* ---- the backend ---------------------------------------------------------- */
static struct uloop *g_loop;
static struct h_dev g_h;
static atomic_bool g_stop;
static pthread_t g_thr;

static void *backend(void *arg)
{
    (void)arg;
    while (!atomic_load(&g_stop)) {
        struct pollfd p = { .fd = vu_dev_conn_fd(g_h.dev), .events = POLLIN };
        if (p.fd < 0 || poll(&p, 1, 50) <= 0)
            continue;
        if (vu_dev_process(g_h.dev) < 0)
            vu_dev_disconnect(g_h.dev);
    }
    return NULL;
}

/* ---- helpers ---------------------------------------------------------------- */
static struct kvm_pci bus;
static struct fake fk;
static struct kvm_vpci *vd;
static int slot;
static uint64_t bar;

static uint32_t conf_read(unsigned s, unsigned off, unsigned len)
{
    uint32_t a = 0x80000000u | (s << 11) | (off & 0xfc), v = 0;
    kvm_pci_pio(&bus, KVM_PCI_CONF_ADDR, (uint8_t *)&a, 4, true);
    kvm_pci_pio(&bus, (uint16_t)(KVM_PCI_CONF_DATA + (off & 3)), (uint8_t *)&v, len, false);
    return v;
}

static void conf_write(unsigned s, unsigned off, unsigned len, uint32_t v)
{
    uint32_t a = 0x80000000u | (s << 11) | (off & 0xfc);
    kvm_pci_pio(&bus, KVM_PCI_CONF_ADDR, (uint8_t *)&a, 4, true);
    kvm_pci_pio(&bus, (uint16_t)(KVM_PCI_CONF_DATA + (off & 3)), (uint8_t *)&v, len, true);
}

static uint32_t mr(uint64_t off, unsigned len)
{
    uint32_t v = 0;
    assert_true(kvm_pci_mmio(&bus, bar + off, (uint8_t *)&v, len, false));
    return v;
}

static void mw(uint64_t off, unsigned len, uint32_t v)
{
    assert_true(kvm_pci_mmio(&bus, bar + off, (uint8_t *)&v, len, true));
}

/* The disk on a backend created with @o (NULL: defaults). */
static int setup_with(const struct h_opts *o)
{
    struct kvm_vpci_host host = { f_gsi, f_route, f_irqfd, f_ioev, &fk };
    struct vuf_region reg;
    struct kvm_vpci_config vc = { 0 };
    struct vuf *f;

    memset(&fk, 0, sizeof(fk));
    memset(fk.irqfd_gsi, 0xff, sizeof(fk.irqfd_gsi));
    fk.next_gsi = 24;
    h_create(&g_h, &g_loop, 1, o);
    atomic_store(&g_stop, false);
    pthread_create(&g_thr, NULL, backend, NULL);
    assert_int_equal(vuf_connect_fd(dup(g_h.sock), 2000, &f), 0);
    reg = (struct vuf_region){ .gpa = 0, .size = g_h.g.size, .hva = g_h.g.base, .fd = g_h.g.fd };
    vc.type = KVM_VPCI_BLK;
    vc.vuf = f;
    vc.regions = &reg;
    vc.nregions = 1;
    vc.max_queues = 2;
    vc.host = &host;
    vc.name = "test-disk";
    assert_int_equal(kvm_pci_init(&bus, 0xc0000000u), 0);
    assert_int_equal(kvm_vpci_create(&vc, &vd), 0);
    slot = kvm_pci_add(&bus, kvm_vpci_pci_dev(vd));
    assert_int_equal(slot, 1);
    bar = kvm_pci_bar_addr(kvm_vpci_pci_dev(vd), 0);
    assert_int_equal(bar, 0xc0000000u);
    return 0;
}

static int setup(void **state)
{
    (void)state;
    return setup_with(NULL);
}

static int setup_packed(void **state)
{
    (void)state;
    return setup_with(&(struct h_opts){ .packed = true });
}

static int teardown(void **state)
{
    (void)state;
    kvm_vpci_destroy(vd);
    kvm_pci_fini(&bus);
    atomic_store(&g_stop, true);
    pthread_join(g_thr, NULL);
    h_destroy(&g_h);
    return 0;
}

static void test_config_space(void **state)
{
    unsigned cap, found = 0;

    (void)state;
    /* Host bridge at 00:00.0, the disk at 00:01.0, nothing at 00:02.0. */
    assert_int_equal(conf_read(0, 0x0a, 2), 0x0600);
    assert_int_equal(conf_read(slot, 0, 4), 0x10421af4u);
    assert_int_equal(conf_read(2, 0, 4), 0xffffffffu);
    assert_int_equal(conf_read(slot, 0x3d, 1), 0);          /* no INTx */
    /* The address latch reads back; a disabled latch reads all ones. */
    {
        uint32_t a = 0x80000800u, b = 0;
        kvm_pci_pio(&bus, KVM_PCI_CONF_ADDR, (uint8_t *)&a, 4, true);
        kvm_pci_pio(&bus, KVM_PCI_CONF_ADDR, (uint8_t *)&b, 4, false);
        assert_int_equal(b, a);
        a = 0x800;
        kvm_pci_pio(&bus, KVM_PCI_CONF_ADDR, (uint8_t *)&a, 4, true);
        kvm_pci_pio(&bus, KVM_PCI_CONF_DATA, (uint8_t *)&b, 4, false);
        assert_int_equal(b, 0xffffffffu);
    }
    /* BAR sizing: all ones reads back the size mask; restore. */
    conf_write(slot, 0x10, 4, 0xffffffffu);
    assert_int_equal(conf_read(slot, 0x10, 4), ~(KVM_VPCI_BAR_SIZE - 1));
    assert_int_equal(kvm_pci_bar_addr(kvm_vpci_pci_dev(vd), 0), 0);  /* mid-sizing */
    conf_write(slot, 0x10, 4, (uint32_t)bar);
    assert_int_equal(conf_read(slot, 0x10, 4), bar);
    assert_int_equal(conf_read(slot, 0x14, 4), 0);          /* BAR1 unimplemented */
    /* Memory decoding off: the BAR does not decode. */
    conf_write(slot, 0x04, 2, 0);
    {
        uint32_t v;
        assert_false(kvm_pci_mmio(&bus, bar, (uint8_t *)&v, 4, false));
    }
    conf_write(slot, 0x04, 2, 0x6);
    /* Capability list: 4 virtio caps and MSI-X. */
    assert_true(conf_read(slot, 0x06, 2) & 0x10);
    for (cap = conf_read(slot, 0x34, 1); cap; cap = conf_read(slot, cap + 1, 1)) {
        unsigned id = conf_read(slot, cap, 1);
        if (id == 0x09)
            found |= 1u << conf_read(slot, cap + 3, 1);
        if (id == 0x11) {
            found |= 1u << 8;
            assert_int_equal(conf_read(slot, cap + 2, 2) & 0x7ff, 1); /* 2 vectors */
            assert_int_equal(conf_read(slot, cap + 4, 4), KVM_VPCI_MSIX);
        }
    }
    assert_int_equal(found, (1u << 1) | (1u << 2) | (1u << 3) | (1u << 4) | (1u << 8));
}

static unsigned msix_cap(void)
{
    for (unsigned cap = conf_read(slot, 0x34, 1); cap; cap = conf_read(slot, cap + 1, 1))
        if (conf_read(slot, cap, 1) == 0x11)
            return cap;
    fail();
    return 0;
}

static void test_state_machine(void **state)
{
    uint64_t feat;
    unsigned q0_kick_addr;
    uint64_t cap = 0;

    (void)state;
    /* Features: the backend's, filtered. */
    mw(VIRTIO_PCI_COMMON_DFSELECT, 4, 0);
    feat = mr(VIRTIO_PCI_COMMON_DF, 4);
    mw(VIRTIO_PCI_COMMON_DFSELECT, 4, 1);
    feat |= (uint64_t)mr(VIRTIO_PCI_COMMON_DF, 4) << 32;
    assert_true(feat & F(VIRTIO_F_VERSION_1));
    assert_false(feat & F(VIRTIO_BLK_F_CONFIG_WCE));
    assert_int_equal(feat, kvm_vpci_features(vd));
    assert_int_equal(mr(VIRTIO_PCI_COMMON_NUMQ, 2), 1);
    /* Device config comes from the backend. */
    cap = mr(KVM_VPCI_DEVCFG, 4) | (uint64_t)mr(KVM_VPCI_DEVCFG + 4, 4) << 32;
    assert_int_equal(cap, g_h.size / 512);

    mw(VIRTIO_PCI_COMMON_STATUS, 1, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
    /* Without VERSION_1, FEATURES_OK does not stick. */
    mw(VIRTIO_PCI_COMMON_GFSELECT, 4, 0);
    mw(VIRTIO_PCI_COMMON_GF, 4, 0);
    mw(VIRTIO_PCI_COMMON_STATUS, 1, 0x0b);
    assert_false(mr(VIRTIO_PCI_COMMON_STATUS, 1) & VIRTIO_CONFIG_S_FEATURES_OK);
    mw(VIRTIO_PCI_COMMON_GFSELECT, 4, 1);
    mw(VIRTIO_PCI_COMMON_GF, 4, 1);                  /* VERSION_1 */
    mw(VIRTIO_PCI_COMMON_STATUS, 1, 0x0b);
    assert_true(mr(VIRTIO_PCI_COMMON_STATUS, 1) & VIRTIO_CONFIG_S_FEATURES_OK);

    /* Queue 0 at the harness's ring; vector 0. */
    mw(VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
    assert_int_equal(mr(VIRTIO_PCI_COMMON_Q_SIZE, 2), KVM_VPCI_QUEUE_MAX);
    mw(VIRTIO_PCI_COMMON_Q_SIZE, 2, 100);            /* not a power of two: ignored */
    assert_int_equal(mr(VIRTIO_PCI_COMMON_Q_SIZE, 2), KVM_VPCI_QUEUE_MAX);
    mw(VIRTIO_PCI_COMMON_Q_SIZE, 2, H_QNUM);
    mw(VIRTIO_PCI_COMMON_Q_DESCLO, 4, (uint32_t)g_h.r.desc_gpa);
    mw(VIRTIO_PCI_COMMON_Q_DESCHI, 4, 0);
    mw(VIRTIO_PCI_COMMON_Q_AVAILLO, 4, (uint32_t)g_h.r.avail_gpa);
    mw(VIRTIO_PCI_COMMON_Q_USEDLO, 4, (uint32_t)g_h.r.used_gpa);
    mw(VIRTIO_PCI_COMMON_Q_MSIX, 2, 0);
    assert_int_equal(mr(VIRTIO_PCI_COMMON_Q_MSIX, 2), 0);
    mw(VIRTIO_PCI_COMMON_Q_MSIX, 2, 7);              /* no such vector */
    assert_int_equal(mr(VIRTIO_PCI_COMMON_Q_MSIX, 2), 0xffff);
    mw(VIRTIO_PCI_COMMON_Q_MSIX, 2, 0);
    q0_kick_addr = mr(VIRTIO_PCI_COMMON_Q_NOFF, 2) * KVM_VPCI_NOTIFY_MUL;
    mw(VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
    mw(VIRTIO_PCI_COMMON_STATUS, 1, 0x0f);           /* DRIVER_OK */
    assert_int_equal(mr(VIRTIO_PCI_COMMON_STATUS, 1), 0x0f);
    /* The backend runs the queue; the notify address is an ioeventfd. */
    for (int i = 0; i < 100 && !vu_dev_queue(g_h.dev, 0)->running; i++)
        usleep(10000);
    assert_true(vu_dev_queue(g_h.dev, 0)->running);
    {
        int found = 0;
        for (int fd = 0; fd < 64; fd++)
            if (fk.ioev[fd] == bar + KVM_VPCI_NOTIFY + q0_kick_addr)
                found++;
        assert_int_equal(found, 1);
    }
    /* Vector 0 masked: no irqfd yet. MSI-X on, program and unmask it. */
    {
        unsigned mc = msix_cap();
        int bound = 0;
        conf_write(slot, mc + 2, 2, 0x8000);
        mw(KVM_VPCI_MSIX + 0, 4, 0xfee01000u);
        mw(KVM_VPCI_MSIX + 4, 4, 0);
        mw(KVM_VPCI_MSIX + 8, 4, 0x4041);
        for (int fd = 0; fd < 64; fd++)
            bound += fk.irqfd_gsi[fd] >= 0;
        assert_int_equal(bound, 0);
        mw(KVM_VPCI_MSIX + 12, 4, 0);                /* unmask */
        assert_int_equal(fk.route_addr[24], 0xfee01000u);
        assert_int_equal(fk.route_data[24], 0x4041);
        for (int fd = 0; fd < 64; fd++)
            bound += fk.irqfd_gsi[fd] == 24;
        assert_int_equal(bound, 1);
        assert_int_equal(mr(KVM_VPCI_MSIX + 8, 4), 0x4041);
        /* Function mask unbinds, clearing it binds again. */
        conf_write(slot, mc + 2, 2, 0xc000);
        bound = 0;
        for (int fd = 0; fd < 64; fd++)
            bound += fk.irqfd_gsi[fd] >= 0;
        assert_int_equal(bound, 0);
        conf_write(slot, mc + 2, 2, 0x8000);
        /* A BAR move follows with the ioeventfd. */
        conf_write(slot, 0x10, 4, 0xd0000000u);
        bar = 0xd0000000u;
        bound = 0;
        for (int fd = 0; fd < 64; fd++)
            bound += fk.ioev[fd] == bar + KVM_VPCI_NOTIFY + q0_kick_addr;
        assert_int_equal(bound, 1);
    }
    /* Reset: status 0, the backend's queue stops, irqfds unbound. */
    mw(VIRTIO_PCI_COMMON_STATUS, 1, 0);
    assert_int_equal(mr(VIRTIO_PCI_COMMON_STATUS, 1), 0);
    assert_false(vu_dev_queue(g_h.dev, 0)->running);
    assert_int_equal(mr(VIRTIO_PCI_COMMON_Q_ENABLE, 2), 0);
    for (int fd = 0; fd < 64; fd++) {
        assert_int_equal(fk.irqfd_gsi[fd], -1);
        assert_int_equal(fk.ioev[fd], 0);
    }
}

/* A backend offering packed rings: the transport offers VIRTIO_F_RING_PACKED
 * (bit 34), takes a queue size that is no power of two once the driver
 * accepted it, and the backend's queue runs packed at the descriptor ring
 * and event areas the driver gave. */
static void test_packed(void **state)
{
    uint64_t desc = h_alloc(&g_h, 16 * 100, 16), drv = h_alloc(&g_h, 4, 4),
             dev = h_alloc(&g_h, 4, 4);
    const struct vq *vq;

    (void)state;
    assert_true(kvm_vpci_features(vd) & F(VIRTIO_F_RING_PACKED));
    mw(VIRTIO_PCI_COMMON_DFSELECT, 4, 1);
    assert_true(mr(VIRTIO_PCI_COMMON_DF, 4) & (1u << (VIRTIO_F_RING_PACKED - 32)));
    mw(VIRTIO_PCI_COMMON_STATUS, 1, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
    mw(VIRTIO_PCI_COMMON_GFSELECT, 4, 1);
    mw(VIRTIO_PCI_COMMON_GF, 4, 1u | 1u << (VIRTIO_F_RING_PACKED - 32));
    mw(VIRTIO_PCI_COMMON_STATUS, 1, 0x0b);
    assert_true(mr(VIRTIO_PCI_COMMON_STATUS, 1) & VIRTIO_CONFIG_S_FEATURES_OK);
    mw(VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
    mw(VIRTIO_PCI_COMMON_Q_SIZE, 2, 100);
    assert_int_equal(mr(VIRTIO_PCI_COMMON_Q_SIZE, 2), 100);
    mw(VIRTIO_PCI_COMMON_Q_DESCLO, 4, (uint32_t)desc);
    mw(VIRTIO_PCI_COMMON_Q_DESCHI, 4, 0);
    mw(VIRTIO_PCI_COMMON_Q_AVAILLO, 4, (uint32_t)drv);
    mw(VIRTIO_PCI_COMMON_Q_USEDLO, 4, (uint32_t)dev);
    mw(VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
    mw(VIRTIO_PCI_COMMON_STATUS, 1, 0x0f);
    assert_int_equal(mr(VIRTIO_PCI_COMMON_STATUS, 1), 0x0f);
    vq = vu_dev_queue(g_h.dev, 0);
    for (int i = 0; i < 100 && !vq->running; i++)
        usleep(10000);
    assert_true(vq->running);
    assert_true(vq->packed);
    assert_int_equal(vq->num, 100);
    assert_true(vq->desc_uva == desc - g_h.g.gpa + (uint64_t)(uintptr_t)g_h.g.base);
    assert_true(vq->avail_uva == drv - g_h.g.gpa + (uint64_t)(uintptr_t)g_h.g.base);
    assert_true(vq->used_uva == dev - g_h.g.gpa + (uint64_t)(uintptr_t)g_h.g.base);
    assert_true(vq->base == 0x80008000u);
    mw(VIRTIO_PCI_COMMON_STATUS, 1, 0);
    assert_false(vq->running);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_config_space, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_machine, setup, teardown),
        cmocka_unit_test_setup_teardown(test_packed, setup_packed, teardown),
    };
    int r;

    log_init("test-pci", false, LOG_LVL_ERR);
    assert_int_equal(uloop_thread_start("test-w0", 64, &g_loop), 0);
    r = cmocka_run_group_tests(tests, NULL, NULL);
    uloop_thread_stop(g_loop);
    return r;
}
