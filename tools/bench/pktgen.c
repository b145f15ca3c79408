/* SPDX-License-Identifier: Apache-2.0 */
/* sluice-pktgen IFNAME SIZE SECONDS: send Ethernet frames of SIZE bytes
 * (broadcast, ethertype 0x88b5, local experimental) into IFNAME as fast as
 * the kernel takes them, in batches of 64 with sendmmsg on an AF_PACKET
 * socket that bypasses the qdisc. Used by `sluice bench net` to feed a
 * sluiced tap (the tap -> frontend direction). Prints
 * {"sent":N,"seconds":S,"pps":P} on stdout. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/io.h"

#define BATCH 64

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: sluice-pktgen IFNAME SIZE SECONDS\n");
        return 2;
    }
    unsigned size = (unsigned)atoi(argv[2]);
    double secs = atof(argv[3]);
    if (size < 60 || size > 9000 || secs <= 0) {
        fprintf(stderr, "sluice-pktgen: SIZE 60-9000, SECONDS > 0\n");
        return 2;
    }
    int ifindex = (int)if_nametoindex(argv[1]);
    if (!ifindex) {
        fprintf(stderr, "sluice-pktgen: %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    int s = socket(AF_PACKET, SOCK_RAW, 0);
    if (s < 0) {
        fprintf(stderr, "sluice-pktgen: socket: %s\n", strerror(errno));
        return 1;
    }
    int one = 1;
    setsockopt(s, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
    struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_ifindex = ifindex,
                               .sll_protocol = htons(0x88b5), .sll_halen = 6 };
    memset(sll.sll_addr, 0xff, 6);

    static uint8_t frame[9000];
    memset(frame, 0xff, 6);
    memcpy(frame + 6, "\x02\x00\x00\x00\x00\x01", 6);
    frame[12] = 0x88;
    frame[13] = 0xb5;
    struct iovec iov[BATCH];
    struct mmsghdr msgs[BATCH];
    memset(msgs, 0, sizeof(msgs));
    for (int i = 0; i < BATCH; i++) {
        iov[i].iov_base = frame;
        iov[i].iov_len = size;
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        msgs[i].msg_hdr.msg_name = &sll;
        msgs[i].msg_hdr.msg_namelen = sizeof(sll);
    }
    uint64_t sent = 0, fails = 0;
    double t0 = ((double)now_ns() / 1e9), t = t0;
    while (t - t0 < secs) {
        int n = sendmmsg(s, msgs, BATCH, 0);
        if (n > 0)
            sent += (uint64_t)n;
        else if (errno == ENOBUFS || errno == EAGAIN)
            fails++;
        else {
            fprintf(stderr, "sluice-pktgen: sendmmsg: %s\n", strerror(errno));
            return 1;
        }
        t = ((double)now_ns() / 1e9);
    }
    printf("{\"sent\":%llu,\"seconds\":%.6f,\"pps\":%.1f,\"enobufs\":%llu}\n",
           (unsigned long long)sent, t - t0, (double)sent / (t - t0), (unsigned long long)fails);
    return 0;
}
