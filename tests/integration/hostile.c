/* SPDX-License-Identifier: Apache-2.0 */
/* hostile: a malicious vhost-user frontend. It attacks one sluiced device
 * socket with malformed traffic and checks, case by case, that sluiced
 * answers with an error or drops that connection, and is still there:
 *
 *   hostile SOCKET SLUICED-PID BYSTANDER-SOCKET CONTROL-SOCKET VICTIM-ID
 *           VICTIM-IMAGE QUIET-FILE
 *
 * While an attack holds the control thread's attention (a message stalled
 * mid-way, a backend channel never drained), a bystander device of the same
 * sluiced must serve a new frontend at once (set-up time measured) with a
 * verified write and read, and the control socket must answer. Attacks that
 * would burn CPU are measured once QUIET-FILE exists (the legitimate guest
 * is done): sluiced's CPU time over 2 s of idleness.
 *
 * HOSTILE_ONLY=shrink,slow,drip,channel,fds runs only those attacks (to
 * show one of them against an older sluiced).
 *
 * Prints "ok: ..." per case; exit 0 when every case behaved, 1 otherwise. */
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/io.h"
#include "core/jsonrpc.h"
#include "core/usock.h"
#include "vhost/frontend.h"
#include "msg.h"         /* vhost/ private */

static const char *sock_path, *bystander_path, *control_path, *victim_id, *victim_img;
static const char *quiet_file;
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
    int fd = -1;
    struct timeval tv = { .tv_sec = 10 };

    for (int i = 0; i < 100 && usock_connect(sock_path, 0, &fd) < 0; i++)
        usleep(50000);
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

/* Set-up of a new session on the bystander (connect, features, memory
 * table, one ring) in ms, or -1; then one verified 4 KiB write and read. */
#define BY_MEM (64u << 10)
#define BY_Q 8
static long bystander_io(unsigned round)
{
    int memfd_by = memfd_create("hostile-bystander", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    int kick = eventfd(0, EFD_CLOEXEC), call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    struct vuf *f = NULL;
    uint8_t *g = MAP_FAILED;
    long setup = -1;
    int64_t t0 = now_ms();

    if (memfd_by < 0 || kick < 0 || call < 0 || ftruncate(memfd_by, BY_MEM) < 0 ||
        fcntl(memfd_by, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0)
        goto out;
    g = mmap(NULL, BY_MEM, PROT_READ | PROT_WRITE, MAP_SHARED, memfd_by, 0);
    if (g == MAP_FAILED)
        goto out;
    struct vuf_region reg = { .gpa = 0, .size = BY_MEM, .hva = g, .fd = memfd_by, .offset = 0 };
    struct vuf_vring v = { .num = BY_Q, .desc_gpa = 0, .avail_gpa = 1024, .used_gpa = 4096,
                           .base = 0, .kick_fd = kick, .call_fd = call };
    if (vuf_connect(bystander_path, 2000, &f) < 0 ||
        vuf_set_features(f, 1ull << VIRTIO_F_VERSION_1) < 0 ||
        vuf_set_mem_table(f, &reg, 1) < 0 || vuf_vring_start(f, 0, &v) < 0)
        goto out;
    setup = (long)(now_ms() - t0);

    /* Request i: header at 8K, data at 16K, status at 12K. */
    struct vring_desc *desc = (struct vring_desc *)g;
    struct vring_avail *avail = (struct vring_avail *)(g + 1024);
    struct vring_used *used = (struct vring_used *)(g + 4096);
    struct virtio_blk_outhdr *hdr = (struct virtio_blk_outhdr *)(g + 8192);
    uint8_t *status = g + 12288, *data = g + 16384, want[4096];
    for (unsigned k = 0; k < sizeof(want); k++)
        want[k] = (uint8_t)(k * 7 + round * 13 + 1);
    for (unsigned op = 0; op < 2; op++) {
        hdr->type = op == 0 ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN;
        hdr->ioprio = 0;
        hdr->sector = (uint64_t)(round % 64) * 8;
        if (op == 0)
            memcpy(data, want, sizeof(want));
        else
            memset(data, 0, sizeof(want));
        *status = 0xff;
        desc[0] = (struct vring_desc){ 8192, sizeof(*hdr), VRING_DESC_F_NEXT, 1 };
        desc[1] = (struct vring_desc){ 16384, 4096, (uint16_t)(VRING_DESC_F_NEXT | (op ? VRING_DESC_F_WRITE : 0)), 2 };
        desc[2] = (struct vring_desc){ 12288, 1, VRING_DESC_F_WRITE, 0 };
        avail->ring[op % BY_Q] = 0;
        __atomic_store_n(&avail->idx, (uint16_t)(op + 1), __ATOMIC_RELEASE);
        uint64_t one = 1;
        if (write(kick, &one, 8) != 8)
            goto fail;
        int64_t end = now_ms() + 5000;
        while (__atomic_load_n(&used->idx, __ATOMIC_ACQUIRE) != op + 1 && now_ms() < end) {
            struct pollfd p = { .fd = call, .events = POLLIN };
            poll(&p, 1, 50);
            (void)!read(call, &one, 8);
        }
        if (__atomic_load_n(&used->idx, __ATOMIC_ACQUIRE) != op + 1 || *status != VIRTIO_BLK_S_OK)
            goto fail;
    }
    if (memcmp(data, want, sizeof(want)))
        goto fail;
    goto out;
fail:
    setup = -1;
out:
    vuf_destroy(f);
    if (g != MAP_FAILED)
        munmap(g, BY_MEM);
    if (memfd_by >= 0)
        close(memfd_by);
    if (kick >= 0)
        close(kick);
    if (call >= 0)
        close(call);
    return setup;
}

/* The control socket answers device.list; returns the time in ms or -1. */
static long control_answers(void)
{
    struct json_object *res = NULL;
    int64_t t0 = now_ms();
    int r = jrpc_call(control_path, "device.list", NULL, 3000, &res, NULL);

    json_object_put(res);
    return r < 0 ? -1 : (long)(now_ms() - t0);
}

/* While an attack holds on: the other device and the control socket are
 * served at once. "At once" is 500 ms here, on a loaded shared machine
 * running a TCG guest; the figures are printed. */
#define PROMPT_MS 500
static void others_served(const char *during)
{
    static unsigned round;
    char what[256];
    long by = bystander_io(++round), ctl = control_answers();

    snprintf(what, sizeof(what), "during %s: another device set up in %ld ms and did verified I/O; "
             "control socket answered in %ld ms", during, by, ctl);
    check(by >= 0 && by < PROMPT_MS && ctl >= 0 && ctl < PROMPT_MS, what);
}

/* sluiced's CPU use (percent of one core) over @ms. */
static double cpu_percent(int ms)
{
    char path[64], buf[1024];
    unsigned long long t[2];

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)victim);
    for (int k = 0; k < 2; k++) {
        FILE *fp = fopen(path, "r");
        unsigned long long ut = 0, st = 0;
        char *p;
        if (!fp || !fgets(buf, sizeof(buf), fp)) {
            if (fp)
                fclose(fp);
            return 100.0;
        }
        fclose(fp);
        p = strrchr(buf, ')');
        /* After ") ": state(3) ... utime(14) stime(15). */
        if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
            return 100.0;
        t[k] = ut + st;
        if (k == 0)
            usleep((useconds_t)ms * 1000);
    }
    return 100.0 * (double)(t[1] - t[0]) / (double)sysconf(_SC_CLK_TCK) / (ms / 1000.0);
}

/* Wait (at most 10 minutes) until the legitimate guest is done. */
static void wait_quiet(void)
{
    struct stat st;
    for (int i = 0; i < 6000 && stat(quiet_file, &st) != 0; i++)
        usleep(100000);
}

/* A full session on the victim with an unsealed memfd of @size bytes and
 * queue 0 laid out at @ring (gpa = offset); the ring is started with
 * @kickfd. Returns the connection and *mem, the memfd. */
static int ring_session(uint32_t size, uint32_t ring, int kickfd, int *mem)
{
    int fd = session();
    uint64_t v;

    *mem = memfd_create("hostile-shrink", MFD_CLOEXEC);
    if (*mem < 0 || ftruncate(*mem, size) < 0)
        return fd;
    struct { uint32_t n, pad; struct vu_mem_region_desc r; } __attribute__((packed)) t = { 1, 0,
        { 0, size, UVA, 0 } };
    send_msg(fd, VU_SET_OWNER, VU_VERSION, NULL, 0, NULL, 0);
    v = 1ull << VIRTIO_F_VERSION_1 | 1ull << VU_F_PROTOCOL_FEATURES;
    ack(fd, VU_SET_FEATURES, &v, 8, NULL, 0);
    ack(fd, VU_SET_MEM_TABLE, &t, sizeof(t), mem, 1);
    struct vu_vring_state st = { 0, 8 };
    ack(fd, VU_SET_VRING_NUM, &st, 8, NULL, 0);
    struct vu_vring_addr a = { .index = 0, .desc_user_addr = UVA + ring,
                               .avail_user_addr = UVA + ring + 128, .used_user_addr = UVA + ring + 4096 };
    ack(fd, VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
    v = 0;
    ack(fd, VU_SET_VRING_KICK, &v, 8, &kickfd, 1);
    struct vu_vring_state en = { 0, 1 };
    ack(fd, VU_SET_VRING_ENABLE, &en, 8, NULL, 0);
    return fd;
}

static void attack_shrink_under_ring(void)
{
    int efd = eventfd(0, EFD_CLOEXEC), mem = -1;
    int fd = ring_session(1u << 20, 768u << 10, efd, &mem);
    struct vu_msg m;
    uint64_t one = 1;

    /* The ring lies in the upper half; the file shrinks to its lower half. */
    check(ftruncate(mem, 512u << 10) == 0, "guest memory shrunk under a running ring");
    if (write(efd, &one, 8) != 8)
        exit(1);
    usleep(500000);
    check(kill(victim, 0) == 0, "sluiced survives a ring in memory that shrank (SIGBUS)");
    check(query(fd, VU_GET_STATUS, NULL, 0, &m) == 8 && (m.p.u64 & VIRTIO_CONFIG_S_NEEDS_RESET),
          "the device whose memory shrank needs reset");
    others_served("and after a SIGBUS");
    close(fd);
    close(mem);
    close(efd);
}

static void attack_slow_header(void)
{
    int fd = conn();
    struct vu_hdr h = { VU_GET_FEATURES, VU_VERSION, 0 };
    int64_t t0 = now_ms();

    if (send(fd, &h, 6, MSG_NOSIGNAL) != 6)
        exit(1);
    usleep(100000);
    others_served("six bytes of a header and silence");
    struct pollfd p = { .fd = fd, .events = POLLIN };
    poll(&p, 1, 9000);
    char c;
    check(recv(fd, &c, 1, MSG_DONTWAIT) == 0 && now_ms() - t0 < 8000,
          "a frontend silent mid-header is dropped after the message time limit");
    close(fd);
}

static void attack_drip(void)
{
    int fd = conn();
    struct { struct vu_hdr h; uint64_t v; } __attribute__((packed)) msg = {
        { VU_SET_FEATURES, VU_VERSION, 8 }, 1ull << VIRTIO_F_VERSION_1 };
    const uint8_t *b = (const uint8_t *)&msg;
    int64_t t0 = now_ms();
    bool dropped = false;
    char c;

    for (unsigned i = 0; i < sizeof(msg) && !dropped; i++) {
        if (send(fd, b + i, 1, MSG_NOSIGNAL) != 1)
            dropped = true;
        if (i == 2)
            others_served("a message dripped one byte a second");
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, 1000) > 0 && recv(fd, &c, 1, MSG_DONTWAIT) == 0)
            dropped = true;
    }
    check(dropped && now_ms() - t0 < 8000,
          "a message dripped byte by byte is dropped within the time limit of the whole message");
    close(fd);
}

static void attack_undrained_backend_channel(void)
{
    int fd = session(), sv[2], small = 4096;
    uint64_t pf = (1ull << VU_PF_REPLY_ACK) | (1ull << VU_PF_MQ) | (1ull << VU_PF_CONFIG) |
                  (1ull << VU_PF_BACKEND_REQ);
    char junk[512] = { 0 };
    struct stat st;

    send_msg(fd, VU_SET_PROTOCOL_FEATURES, VU_VERSION, &pf, 8, NULL, 0);
    send_msg(fd, VU_SET_OWNER, VU_VERSION, NULL, 0, NULL, 0);
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        exit(1);
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    while (send(sv[1], junk, sizeof(junk), MSG_DONTWAIT | MSG_NOSIGNAL) > 0)
        ;
    check(ack(fd, VU_SET_BACKEND_REQ_FD, NULL, 0, &sv[1], 1) == 0, "a full backend channel handed over");
    close(sv[1]);
    /* A capacity change sends CONFIG_CHANGE_MSG on that channel. */
    for (int k = 0; k < 2; k++) {
        struct json_object *params = json_object_new_object(), *res = NULL;
        struct sl_err err = ERR_INIT;
        int64_t t0;
        int r;
        if (stat(victim_img, &st) < 0 || truncate(victim_img, st.st_size + (1 << 20)) < 0)
            exit(1);
        json_object_object_add(params, "id", json_object_new_string(victim_id));
        t0 = now_ms();
        r = jrpc_call(control_path, "device.refresh", params, 3000, &res, &err);
        char what[160];
        snprintf(what, sizeof(what), "device.refresh with an undrained backend channel answered (%s) in %lld ms",
                 r < 0 ? err_msg(&err, r) : "ok", (long long)(now_ms() - t0));
        check(r == 0 && now_ms() - t0 < PROMPT_MS, what);
        json_object_put(params);
        json_object_put(res);
    }
    others_served("an undrained backend channel");
    struct vu_msg m;
    check(query(fd, VU_GET_FEATURES, NULL, 0, &m) == 8, "the frontend with the full channel is still served");
    close(fd);
    close(sv[0]);
}

/* Kick and call fds that are not eventfds are refused; with the frontend
 * still connected, sluiced stays idle. */
static void attack_non_eventfds(void)
{
    int pipefd[2], sp[2], dn = open("/dev/null", O_RDWR | O_CLOEXEC), mfd = memfd_create("hostile-fd", MFD_CLOEXEC);
    int fd = session();
    uint64_t v = 0;

    if (pipe2(pipefd, O_CLOEXEC) < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
        exit(1);
    close(pipefd[1]);
    close(sp[1]);
    send_msg(fd, VU_SET_OWNER, VU_VERSION, NULL, 0, NULL, 0);
    const int bad[] = { dn, pipefd[0], sp[0], mfd };
    const char *names_[] = { "/dev/null", "a pipe whose writer closed", "a socket whose peer closed", "a memfd" };
    for (unsigned i = 0; i < 4; i++) {
        char what[128];
        snprintf(what, sizeof(what), "SET_VRING_KICK with %s refused", names_[i]);
        check(ack(fd, VU_SET_VRING_KICK, &v, 8, &bad[i], 1) > 0, what);
        snprintf(what, sizeof(what), "SET_VRING_CALL with %s refused", names_[i]);
        check(ack(fd, VU_SET_VRING_CALL, &v, 8, &bad[i], 1) > 0, what);
    }
    close(fd);

    /* Whole rings started with such kick fds, the frontend stays connected. */
    int mem[2] = { -1, -1 };
    int c1 = ring_session(1u << 20, 0, pipefd[0], &mem[0]);
    int c2 = ring_session(1u << 20, 0, dn, &mem[1]);
    wait_quiet();
    usleep(300000);
    double pct = cpu_percent(2000);
    char what[160];
    snprintf(what, sizeof(what), "sluiced idle with non-eventfd kick fds offered: %.1f %% of a core over 2 s", pct);
    check(pct < 5.0, what);
    others_served("rings offered non-eventfd kick fds");
    close(c1);
    close(c2);
    close(mem[0]);
    close(mem[1]);
    close(dn);
    close(mfd);
    close(pipefd[0]);
    close(sp[0]);
}

int main(int argc, char **argv)
{
    struct vu_msg m;
    int fd, fd2, efd;
    uint64_t v;

    if (argc != 8) {
        fprintf(stderr, "usage: hostile SOCKET SLUICED-PID BYSTANDER-SOCKET CONTROL-SOCKET "
                "VICTIM-ID VICTIM-IMAGE QUIET-FILE\n");
        return 2;
    }
    sock_path = argv[1];
    victim = atoi(argv[2]);
    bystander_path = argv[3];
    control_path = argv[4];
    victim_id = argv[5];
    victim_img = argv[6];
    quiet_file = argv[7];
    setvbuf(stdout, NULL, _IOLBF, 0);
    others_served("no attack (baseline)");
    const char *only = getenv("HOSTILE_ONLY");
    if (only) {
        if (strstr(only, "shrink"))
            attack_shrink_under_ring();
        if (strstr(only, "slow"))
            attack_slow_header();
        if (strstr(only, "drip"))
            attack_drip();
        if (strstr(only, "channel"))
            attack_undrained_backend_channel();
        if (strstr(only, "fds"))
            attack_non_eventfds();
        printf("hostile: %d failed\n", failures);
        return failures ? 1 : 0;
    }
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

    /* Issue 17: memory shrinking under a ring, stalled and dripped messages,
     * a backend channel never read, kick/call fds that are not eventfds. */
    attack_shrink_under_ring();
    attack_slow_header();
    attack_drip();
    attack_undrained_backend_channel();
    attack_non_eventfds();

    /* Finally a well-behaved session still works on this socket. */
    fd = session();
    check(query(fd, VU_GET_FEATURES, NULL, 0, &m) == 8, "a new frontend is served after the attacks");
    close(fd);
    printf("hostile: %d failed\n", failures);
    return failures ? 1 : 0;
}
