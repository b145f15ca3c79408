/* SPDX-License-Identifier: Apache-2.0 */
/* hostile: a malicious vhost-user frontend. It attacks one sluiced device
 * socket with malformed traffic and checks, case by case, that sluiced
 * answers with an error or drops that connection, and is still there:
 *
 *   hostile SOCKET SLUICED-PID
 *
 * Prints "ok: ..." per case; exit 0 when every case behaved, 1 otherwise. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "vhost/msg.h"

static const char *sock_path;
static pid_t victim;
static int failures;
static int memfd = -1;

#define UVA 0x7f0000000000ull
#define MEM (1u << 20)

static void check(int cond, const char *what)
{
    printf("%s: %s\n", cond ? "ok" : "FAIL", what);
    if (!cond)
        failures++;
    if (kill(victim, 0) != 0) {
        printf("FAIL: sluiced died after: %s\n", what);
        exit(1);
    }
}

static int conn(void)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct timeval tv = { .tv_sec = 10 };

    strncpy(sa.sun_path, sock_path, sizeof(sa.sun_path) - 1);
    for (int i = 0; i < 100; i++) {
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
            break;
        usleep(50000);
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

static int send_msg(int fd, uint32_t req, uint32_t flags, const void *p, uint32_t size,
                    const int *fds, unsigned nfds)
{
    struct vu_hdr h = { .request = req, .flags = flags, .size = size };
    return vu_msg_send(fd, &h, p, fds, nfds);
}

/* Request with REPLY_ACK; returns the ack value, or -1 when the connection
 * dropped / no answer. */
static long ack(int fd, uint32_t req, const void *p, uint32_t size, const int *fds, unsigned nfds)
{
    struct vu_msg m;
    if (send_msg(fd, req, VU_VERSION | VU_FLAG_NEED_REPLY, p, size, fds, nfds) < 0)
        return -1;
    if (vu_msg_recv(fd, &m) < 0)
        return -1;
    vu_msg_close_fds(&m);
    return (long)m.p.u64;
}

/* A query; returns the reply size or -1. */
static long query(int fd, uint32_t req, const void *p, uint32_t size, struct vu_msg *m)
{
    if (send_msg(fd, req, VU_VERSION, p, size, NULL, 0) < 0)
        return -1;
    if (vu_msg_recv(fd, m) < 0)
        return -1;
    vu_msg_close_fds(m);
    return m->hdr.size;
}

static int closed(int fd)
{
    char c;
    struct pollfd p = { .fd = fd, .events = POLLIN };
    if (poll(&p, 1, 3000) <= 0)
        return 0;
    return recv(fd, &c, 1, MSG_DONTWAIT) == 0;
}

/* Connect and negotiate protocol features with REPLY_ACK, then SET_OWNER. */
static int session(void)
{
    int fd = conn();
    struct vu_msg m;
    uint64_t pf = (1ull << VU_PF_REPLY_ACK) | (1ull << VU_PF_MQ) | (1ull << VU_PF_CONFIG);
    query(fd, VU_GET_FEATURES, NULL, 0, &m);
    query(fd, VU_GET_PROTOCOL_FEATURES, NULL, 0, &m);
    send_msg(fd, VU_SET_PROTOCOL_FEATURES, VU_VERSION, &pf, 8, NULL, 0);
    return fd;
}

int main(int argc, char **argv)
{
    struct vu_msg m;
    int fd, fd2, efd;
    uint64_t v;

    if (argc != 3) {
        fprintf(stderr, "usage: hostile SOCKET SLUICED-PID\n");
        return 2;
    }
    sock_path = argv[1];
    victim = atoi(argv[2]);
    memfd = memfd_create("hostile", MFD_CLOEXEC);
    if (memfd < 0 || ftruncate(memfd, MEM) < 0)
        return 1;
    efd = eventfd(0, EFD_CLOEXEC);

    /* Before SET_OWNER: state-changing messages are refused. */
    fd = session();
    struct { uint32_t n, pad; struct vu_mem_region_desc r[2]; } __attribute__((packed)) t = { 1, 0,
        { { 0, MEM, UVA, 0 } } };
    check(ack(fd, VU_SET_MEM_TABLE, &t, 8 + 32, &memfd, 1) > 0, "SET_MEM_TABLE before SET_OWNER refused");
    send_msg(fd, VU_SET_OWNER, VU_VERSION, NULL, 0, NULL, 0);

    /* Wrong sizes. */
    v = 1;
    check(ack(fd, VU_SET_FEATURES, &v, 4, NULL, 0) > 0, "SET_FEATURES with a 4-byte payload refused");
    check(query(fd, VU_GET_VRING_BASE, NULL, 0, &m) == 0, "GET_VRING_BASE without payload answered empty");
    t.n = 9;
    check(ack(fd, VU_SET_MEM_TABLE, &t, 8 + 32, &memfd, 1) > 0, "SET_MEM_TABLE claiming 9 regions refused");
    t.n = 1;

    /* Missing and extra fds. */
    check(ack(fd, VU_SET_MEM_TABLE, &t, 8 + 32, NULL, 0) > 0, "SET_MEM_TABLE without its fd refused");
    int three[3] = { memfd, memfd, memfd };
    check(ack(fd, VU_SET_MEM_TABLE, &t, 8 + 32, three, 3) > 0, "SET_MEM_TABLE with extra fds refused");
    v = 0;
    int two[2] = { efd, efd };
    check(ack(fd, VU_SET_VRING_KICK, &v, 8, two, 2) > 0, "SET_VRING_KICK with two fds refused");
    check(ack(fd, VU_SET_VRING_CALL, &v, 8, NULL, 0) > 0, "SET_VRING_CALL without its fd refused");

    /* Out-of-range indices. */
    struct vu_vring_state st = { 99, 128 };
    check(ack(fd, VU_SET_VRING_NUM, &st, 8, NULL, 0) > 0, "SET_VRING_NUM on queue 99 refused");
    st.index = 0;
    st.num = 4096;
    check(ack(fd, VU_SET_VRING_NUM, &st, 8, NULL, 0) > 0, "queue size 4096 refused");
    struct vu_vring_addr a = { .index = 200 };
    check(ack(fd, VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0) > 0, "SET_VRING_ADDR on queue 200 refused");
    v = 77;
    check(ack(fd, VU_SET_VRING_KICK, &v, 8, &efd, 1) > 0, "SET_VRING_KICK on queue 77 refused");

    /* Overlapping and huge regions, and a region larger than its file. */
    struct { uint32_t n, pad; struct vu_mem_region_desc r[2]; } __attribute__((packed)) t2 = { 2, 0,
        { { 0, MEM, UVA, 0 }, { 4096, MEM, UVA + 2 * MEM, 0 } } };
    int fds2[2] = { memfd, memfd };
    check(ack(fd, VU_SET_MEM_TABLE, &t2, 8 + 64, fds2, 2) > 0, "overlapping regions refused");
    t.r[0].memory_size = 1ull << 62;
    check(ack(fd, VU_SET_MEM_TABLE, &t, 8 + 32, &memfd, 1) > 0, "a 2^62-byte region refused");
    t.r[0].memory_size = 64ull << 20;
    check(ack(fd, VU_SET_MEM_TABLE, &t, 8 + 32, &memfd, 1) > 0, "a region larger than its memfd refused");
    t.r[0].memory_size = MEM;
    t.r[0].guest_phys_addr = UINT64_MAX - 100;
    check(ack(fd, VU_SET_MEM_TABLE, &t, 8 + 32, &memfd, 1) > 0, "a region wrapping around 2^64 refused");
    t.r[0].guest_phys_addr = 0;

    /* Ring addresses outside guest memory: the queue never starts. */
    check(ack(fd, VU_SET_MEM_TABLE, &t, 8 + 32, &memfd, 1) == 0, "a valid memory table accepted");
    st.index = 0;
    st.num = 8;
    check(ack(fd, VU_SET_VRING_NUM, &st, 8, NULL, 0) == 0, "queue size 8 accepted");
    a = (struct vu_vring_addr){ .index = 0, .desc_user_addr = UVA + 10 * MEM,
                                .avail_user_addr = UVA + 128, .used_user_addr = UVA + 4096 };
    ack(fd, VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
    v = 0;
    check(ack(fd, VU_SET_VRING_KICK, &v, 8, &efd, 1) > 0, "a ring outside guest memory does not start");

    /* A ring inside memory whose chain loops: the device is broken, not
     * the process; GET_STATUS reports NEEDS_RESET. */
    uint8_t *g = mmap(NULL, MEM, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
    memset(g, 0, 8192);
    struct { uint64_t addr; uint32_t len; uint16_t flags, next; } *desc = (void *)g;
    desc[0] = (typeof(*desc)){ 0x1000, 16, 1, 1 };
    desc[1] = (typeof(*desc)){ 0x1010, 16, 1, 0 };   /* 0 -> 1 -> 0 -> ... */
    uint16_t *avail = (uint16_t *)(g + 128);
    avail[1] = 1;                                     /* idx 1, ring[0] = 0 */
    a.desc_user_addr = UVA;
    check(ack(fd, VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0) == 0, "ring inside guest memory accepted");
    check(ack(fd, VU_SET_VRING_KICK, &v, 8, &efd, 1) == 0, "ring started");
    struct vu_vring_state en = { 0, 1 };
    ack(fd, VU_SET_VRING_ENABLE, &en, 8, NULL, 0);
    v = 1;
    if (write(efd, &v, 8) != 8)
        return 1;
    usleep(300000);
    check(query(fd, VU_GET_STATUS, NULL, 0, &m) == 8 && (m.p.u64 & 0x40),
          "a looping descriptor chain marks the device NEEDS_RESET");
    st.index = 0;
    check(query(fd, VU_GET_VRING_BASE, &st, 8, &m) == 8, "GET_VRING_BASE still answered on the broken device");

    /* A second frontend while one is attached is turned away. */
    fd2 = conn();
    check(closed(fd2), "a second concurrent frontend is refused");
    close(fd2);

    /* A flood of queries on one connection. */
    int answered = 0;
    for (int i = 0; i < 20000; i++)
        answered += query(fd, VU_GET_FEATURES, NULL, 0, &m) == 8;
    check(answered == 20000, "20000 queries in a row answered");

    /* Unknown request and wrong version bits. */
    check(ack(fd, 999, NULL, 0, NULL, 0) > 0, "unknown request refused");
    send_msg(fd, VU_GET_FEATURES, 0x2, NULL, 0, NULL, 0);
    check(closed(fd), "wrong protocol version drops the connection");
    close(fd);

    /* Oversized and truncated messages drop the connection. */
    fd = session();
    struct vu_hdr big = { VU_SET_OWNER, VU_VERSION, 1u << 20 };
    if (send(fd, &big, sizeof(big), MSG_NOSIGNAL) < 0)
        return 1;
    check(closed(fd), "a 1 MiB payload size drops the connection");
    close(fd);
    fd = session();
    struct vu_hdr half = { VU_SET_FEATURES, VU_VERSION, 8 };
    if (send(fd, &half, sizeof(half), MSG_NOSIGNAL) < 0 || send(fd, "abc", 3, MSG_NOSIGNAL) < 0)
        return 1;
    shutdown(fd, SHUT_WR);
    check(closed(fd), "a truncated message drops the connection");
    close(fd);

    /* Many connections opened and dropped. */
    for (int i = 0; i < 200; i++) {
        fd = conn();
        if (i % 2)
            send_msg(fd, VU_SET_OWNER, VU_VERSION, NULL, 0, &memfd, 1);
        close(fd);
    }
    check(1, "200 connections opened and dropped");

    /* Finally a well-behaved session still works on this socket. */
    fd = session();
    check(query(fd, VU_GET_FEATURES, NULL, 0, &m) == 8, "a new frontend is served after the attacks");
    close(fd);
    printf("hostile: %d failed\n", failures);
    return failures ? 1 : 0;
}
