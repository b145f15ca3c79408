/* SPDX-License-Identifier: Apache-2.0 */
/* virtio-net model: header length per negotiated features, RX buffer
 * merging (how a packet spreads over receive chains), feature offer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>

#include "vhost/net.h"

static void test_hdr_len(void **state)
{
    (void)state;
    assert_int_equal(vnet_hdr_len(0), 10);
    assert_int_equal(vnet_hdr_len(1ull << VIRTIO_NET_F_MRG_RXBUF), 12);
    assert_int_equal(vnet_hdr_len(1ull << VIRTIO_F_VERSION_1), 12);
    assert_int_equal(vnet_hdr_len((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_NET_F_MRG_RXBUF)), 12);
    assert_int_equal(vnet_hdr_len(1ull << VIRTIO_NET_F_CSUM), 10);
}

static void test_rx_split_one_chain(void **state)
{
    uint32_t cap[] = { 1526, 1526 }, used[2] = { 0 };
    (void)state;
    /* Fits the first chain: one buffer, exact length. */
    assert_int_equal(vnet_rx_split(cap, 2, 74, used), 1);
    assert_int_equal(used[0], 74);
    assert_int_equal(vnet_rx_split(cap, 2, 1526, used), 1);
    assert_int_equal(used[0], 1526);
}

static void test_rx_split_merge(void **state)
{
    uint32_t cap[] = { 4096, 4096, 4096, 4096 }, used[4] = { 0 };
    (void)state;
    /* A 64 KiB GSO packet cannot fit 16 KiB: refused, nothing consumed. */
    assert_int_equal(vnet_rx_split(cap, 4, 65536 + 12, used), 0);
    /* 10000 bytes: 4096 + 4096 + 1808, num_buffers 3. */
    assert_int_equal(vnet_rx_split(cap, 4, 10000, used), 3);
    assert_int_equal(used[0], 4096);
    assert_int_equal(used[1], 4096);
    assert_int_equal(used[2], 1808);
    /* Exactly the total: all four. */
    assert_int_equal(vnet_rx_split(cap, 4, 4 * 4096, used), 4);
    assert_int_equal(used[3], 4096);
}

static void test_rx_split_uneven(void **state)
{
    uint32_t cap[] = { 12, 100, 3000 }, used[3] = { 0 };
    (void)state;
    /* A chain that holds only the header still counts as one buffer. */
    assert_int_equal(vnet_rx_split(cap, 3, 112, used), 2);
    assert_int_equal(used[0], 12);
    assert_int_equal(used[1], 100);
    assert_int_equal(vnet_rx_split(cap, 3, 113, used), 3);
    assert_int_equal(used[2], 1);
    /* Zero length uses no chain. */
    assert_int_equal(vnet_rx_split(cap, 3, 0, used), 0);
    /* No chains at all. */
    assert_int_equal(vnet_rx_split(cap, 0, 10, used), 0);
}

static int fake_fd(void *ctx, unsigned pair)
{
    (void)ctx;
    return (int)pair + 100;
}

static const struct vnet_ops fake_ops = { .queue_fd = fake_fd };

static void test_features_and_limits(void **state)
{
    struct uloop *loop = NULL;
    struct vu_dev_config vc = { .name = "n", .loops = &loop, .nloops = 1 };
    struct vnet_config nc = { .queue_pairs = 1, .io = &fake_ops };
    struct vnet *n = NULL;
    uint64_t f;
    (void)state;

    assert_int_equal(vnet_create(&nc, &vc, &n), 0);
    f = vu_dev_features(vnet_vu_dev(n));
    assert_true(f & (1ull << VIRTIO_F_VERSION_1));
    assert_true(f & (1ull << VIRTIO_NET_F_MRG_RXBUF));
    assert_true(f & (1ull << VIRTIO_NET_F_CSUM));
    assert_true(f & (1ull << VIRTIO_NET_F_GUEST_TSO4));
    assert_false(f & (1ull << VIRTIO_NET_F_MQ));      /* one pair */
    assert_false(f & (1ull << VIRTIO_NET_F_MAC));     /* no mac= */
    assert_false(f & (1ull << VIRTIO_NET_F_MTU));
    vu_dev_destroy(vnet_vu_dev(n));

    nc.queue_pairs = 4;
    nc.has_mac = true;
    nc.mtu = 9000;
    assert_int_equal(vnet_create(&nc, &vc, &n), 0);
    f = vu_dev_features(vnet_vu_dev(n));
    assert_true(f & (1ull << VIRTIO_NET_F_MQ));
    assert_true(f & (1ull << VIRTIO_NET_F_MAC));
    assert_true(f & (1ull << VIRTIO_NET_F_MTU));
    vu_dev_destroy(vnet_vu_dev(n));

    nc.queue_pairs = 0;
    assert_int_equal(vnet_create(&nc, &vc, &n), -EINVAL);
    nc.queue_pairs = 33;
    assert_int_equal(vnet_create(&nc, &vc, &n), -EINVAL);
    nc.queue_pairs = 1;
    nc.io = NULL;
    assert_int_equal(vnet_create(&nc, &vc, &n), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hdr_len),
        cmocka_unit_test(test_rx_split_one_chain),
        cmocka_unit_test(test_rx_split_merge),
        cmocka_unit_test(test_rx_split_uneven),
        cmocka_unit_test(test_features_and_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
