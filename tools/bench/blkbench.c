/* SPDX-License-Identifier: Apache-2.0 */
/* sluice-blkbench: a vhost-user-blk benchmark driver. It attaches to any
 * vhost-user-blk backend socket (sluiced, qemu-storage-daemon, ...) as the
 * frontend, through vhost/frontend.h, exactly as a VMM would: one memfd of
 * "guest RAM" shared with the backend, real split rings in it, an eventfd
 * per queue for kicks and (unless polling) one for calls. One thread per
 * queue keeps QD requests in flight (closed loop) and timestamps each
 * request when it is made available and when its used entry is seen.
 *
 * Output: one JSON object on stdout (iops, bandwidth, latency percentiles,
 * the backend process's CPU time over the measured interval from /proc).
 *
 * Memory layout (guest-physical = offset in the memfd), per queue q:
 *   ring:   descriptor table (16*num), avail ring, used ring (4 KiB aligned)
 *   slots:  QD request headers (16 B) + status bytes
 *   data:   QD buffers of BS bytes, 4 KiB aligned
 * Request slot i always uses descriptors 3i (header, read-only),
 * 3i+1 (data, writable for reads) and 3i+2 (status, writable); the avail
 * entry is 3i and the used id maps back to the slot.
 * With --packed (VIRTIO_F_RING_PACKED) the ring is a packed descriptor ring
 * (16*num) followed by the driver and device event areas; each request
 * writes its three descriptors at the next ring positions with buffer id i.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "core/io.h"
#include "vhost/frontend.h"

#define ALIGN_UP(x, a) (((x) + (a) - 1) & ~((uint64_t)(a) - 1))

/* Latency histogram: log2 buckets with 2^SUB_BITS linear sub-buckets each
 * (about 3% resolution), in nanoseconds. */
#define SUB_BITS 5
#define NBUCKETS (64 << SUB_BITS)

enum rw { RW_READ, RW_WRITE, RW_RANDREAD, RW_RANDWRITE, RW_RANDRW };

struct opts {
    const char *socket;
    enum rw rw;
    unsigned rwmix_read;    /* percent reads for randrw */
    unsigned bs;
    unsigned qd;
    unsigned queues;
    double time_s, warmup_s, idle_s;
    bool poll;
    bool packed;            /* packed virtqueues */
    int backend_pid;
    int cpu;                /* pin driver threads, -1: no */
};

struct slot {
    struct virtio_blk_outhdr hdr;
};

struct queue {
    unsigned idx, num;
    struct vring_desc *desc;
    struct vring_avail *avail;
    struct vring_used *used;
    uint16_t avail_idx, last_used;
    /* packed ring: descriptor ring, event areas, positions and wrap counters */
    struct vring_packed_desc *pdesc;
    struct vring_packed_desc_event *drv_event, *dev_event;
    bool avail_wrap, used_wrap;
    int kick_fd, call_fd;
    struct slot *slots;      /* qd headers */
    uint8_t *status;         /* qd status bytes */
    uint8_t *data;           /* qd * bs */
    uint64_t slots_gpa, status_gpa, data_gpa;
    uint64_t *t0;            /* submit time per slot */
    unsigned inflight;
    uint64_t rng;
    uint64_t seq_next, seq_lo, seq_hi;
    /* results (measured interval only) */
    uint64_t ops, bytes, reads, writes, errors, kicks, waits, lat_sum;
    uint64_t hist[NBUCKETS];
    pthread_t thread;
};

static struct opts o = {
    .rw = RW_RANDREAD, .rwmix_read = 70, .bs = 4096, .qd = 1, .queues = 1,
    .time_s = 5, .warmup_s = 1, .backend_pid = 0, .cpu = -1,
};
static uint64_t capacity_bytes;
/* 0 warm-up, 1 measuring, 2 stopping */
static _Atomic int phase;

static uint64_t xrand(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static unsigned bucket_of(uint64_t v)
{
    if (v < (1u << SUB_BITS))
        return (unsigned)v;
    unsigned msb = 63 - (unsigned)__builtin_clzll(v);
    unsigned sub = (unsigned)(v >> (msb - SUB_BITS)) & ((1u << SUB_BITS) - 1);
    return ((msb - SUB_BITS + 1) << SUB_BITS) | sub;
}

/* Midpoint of a bucket, in ns. */
static double bucket_value(unsigned b)
{
    unsigned e = b >> SUB_BITS, sub = b & ((1u << SUB_BITS) - 1);
    if (e == 0)
        return sub;
    unsigned msb = e + SUB_BITS - 1;
    double lo = (double)((1ull << msb) | ((uint64_t)sub << (msb - SUB_BITS)));
    double width = (double)(1ull << (msb - SUB_BITS));
    return lo + width / 2;
}

static double percentile(const uint64_t *h, uint64_t total, double p)
{
    if (!total)
        return 0;
    uint64_t want = (uint64_t)(p / 100.0 * (double)total);
    if (want >= total)
        want = total - 1;
    uint64_t seen = 0;
    for (unsigned b = 0; b < NBUCKETS; b++) {
        seen += h[b];
        if (seen > want)
            return bucket_value(b);
    }
    return 0;
}

/* CPU time of every thread of @pid in ns: the sum of /proc/PID/task/T/schedstat
 * run times (ns resolution); falls back to utime+stime of /proc/PID/stat. */
static int64_t proc_cpu_ns(int pid)
{
    char path[64];
    int64_t sum = 0;
    bool any = false;

    snprintf(path, sizeof(path), "/proc/%d/task", pid);
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.')
                continue;
            char p2[300];
            snprintf(p2, sizeof(p2), "/proc/%d/task/%s/schedstat", pid, e->d_name);
            FILE *f = fopen(p2, "r");
            if (!f)
                continue;
            unsigned long long run;
            if (fscanf(f, "%llu", &run) == 1) {
                sum += (int64_t)run;
                any = true;
            }
            fclose(f);
        }
        closedir(d);
    }
    if (any)
        return sum;
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    unsigned long long ut, st;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (int64_t)((ut + st) * (1000000000ull / (unsigned long long)sysconf(_SC_CLK_TCK)));
}

/* Packed ring: header, data and status at the next three ring positions,
 * buffer id @i; the head's flags are written last. */
static void fill_packed(struct queue *q, unsigned i, bool write)
{
    uint64_t addr[3] = { q->slots_gpa + sizeof(struct slot) * i, q->data_gpa + (uint64_t)o.bs * i,
                         q->status_gpa + i };
    uint32_t len[3] = { sizeof(struct virtio_blk_outhdr), o.bs, 1 };
    uint16_t fl[3] = { VRING_DESC_F_NEXT, (uint16_t)(VRING_DESC_F_NEXT | (write ? 0 : VRING_DESC_F_WRITE)),
                       VRING_DESC_F_WRITE };
    uint16_t head = q->avail_idx, head_flags = 0;

    for (unsigned k = 0; k < 3; k++) {
        struct vring_packed_desc *d = &q->pdesc[q->avail_idx];
        uint16_t f = fl[k] | (q->avail_wrap ? 1u << VRING_PACKED_DESC_F_AVAIL
                                            : 1u << VRING_PACKED_DESC_F_USED);
        d->addr = addr[k];
        d->len = len[k];
        d->id = (uint16_t)i;
        if (k == 0)
            head_flags = f;
        else
            d->flags = f;
        if (++q->avail_idx == q->num) {
            q->avail_idx = 0;
            q->avail_wrap = !q->avail_wrap;
        }
    }
    __atomic_store_n(&q->pdesc[head].flags, head_flags, __ATOMIC_RELEASE);
    q->inflight++;
    q->t0[i] = now_ns();
}

/* Packed ring: the buffer id of the next used descriptor, or -1. */
static int packed_used(struct queue *q)
{
    uint16_t f = __atomic_load_n(&q->pdesc[q->last_used].flags, __ATOMIC_ACQUIRE);
    bool avail = f & (1u << VRING_PACKED_DESC_F_AVAIL), used = f & (1u << VRING_PACKED_DESC_F_USED);
    int id;

    if (avail != q->used_wrap || used != q->used_wrap)
        return -1;
    id = q->pdesc[q->last_used].id;
    q->last_used = (uint16_t)(q->last_used + 3);   /* every buffer is 3 descriptors */
    if (q->last_used >= q->num) {
        q->last_used = (uint16_t)(q->last_used - q->num);
        q->used_wrap = !q->used_wrap;
    }
    return id;
}

static void fill_request(struct queue *q, unsigned i)
{
    bool write;
    uint64_t off;
    uint64_t nblocks = capacity_bytes / o.bs;

    switch (o.rw) {
    case RW_READ:
    case RW_WRITE:
        write = o.rw == RW_WRITE;
        off = q->seq_next;
        q->seq_next += o.bs;
        if (q->seq_next + o.bs > q->seq_hi)
            q->seq_next = q->seq_lo;
        break;
    case RW_RANDREAD:
    case RW_RANDWRITE:
    case RW_RANDRW:
    default:
        if (o.rw == RW_RANDRW)
            write = (xrand(&q->rng) % 100) >= o.rwmix_read;
        else
            write = o.rw == RW_RANDWRITE;
        off = (xrand(&q->rng) % nblocks) * o.bs;
        break;
    }
    q->slots[i].hdr.type = write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN;
    q->slots[i].hdr.ioprio = 0;
    q->slots[i].hdr.sector = off >> 9;
    q->status[i] = 0xff;
    if (o.packed) {
        fill_packed(q, i, write);
        return;
    }
    q->desc[3 * i + 1].flags = VRING_DESC_F_NEXT | (write ? 0 : VRING_DESC_F_WRITE);
    q->avail->ring[q->avail_idx % q->num] = (uint16_t)(3 * i);
    q->avail_idx++;
    q->inflight++;
    q->t0[i] = now_ns();
}

static void publish_and_kick(struct queue *q)
{
    bool kick;

    if (o.packed) {
        /* No EVENT_IDX negotiated: kick unless the device disabled kicks. */
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        kick = __atomic_load_n(&q->dev_event->flags, __ATOMIC_ACQUIRE) != VRING_PACKED_EVENT_FLAG_DISABLE;
    } else {
        __atomic_store_n(&q->avail->idx, q->avail_idx, __ATOMIC_RELEASE);
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        kick = !(__atomic_load_n(&q->used->flags, __ATOMIC_ACQUIRE) & VRING_USED_F_NO_NOTIFY);
    }
    if (kick) {
        uint64_t one = 1;
        if (write(q->kick_fd, &one, sizeof(one)) < 0) {
            /* only EAGAIN (counter full) is possible: the backend is awake */
        }
        q->kicks++;
    }
}

static void *queue_thread(void *arg)
{
    struct queue *q = arg;

    if (o.cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(o.cpu, &set);
        sched_setaffinity(0, sizeof(set), &set);
    }
    for (unsigned i = 0; i < o.qd; i++)
        fill_request(q, i);
    publish_and_kick(q);

    uint64_t drain_deadline = 0;
    for (;;) {
        int ph = atomic_load_explicit(&phase, memory_order_relaxed);
        if (ph == 2) {
            if (!drain_deadline)
                drain_deadline = now_ns() + 5000000000ull;
            if (q->inflight == 0 || now_ns() > drain_deadline)
                break;
        }
        int pid = -1;
        uint16_t used_idx = 0;
        bool empty;
        if (o.packed) {
            pid = packed_used(q);
            empty = pid < 0;
        } else {
            used_idx = __atomic_load_n(&q->used->idx, __ATOMIC_ACQUIRE);
            empty = used_idx == q->last_used;
        }
        if (empty) {
            if (o.poll || ph == 2) {
                if (ph == 2)
                    usleep(10);
                else
                    __builtin_ia32_pause();
                continue;
            }
            /* Non-blocking call eventfd, as QEMU's and sluice-vmm's are:
             * take a pending interrupt, else sleep until one comes. */
            uint64_t v;
            q->waits++;
            if (read(q->call_fd, &v, sizeof(v)) >= 0)
                continue;
            if (errno != EAGAIN && errno != EINTR)
                break;
            struct pollfd cp = { .fd = q->call_fd, .events = POLLIN };
            if (poll(&cp, 1, -1) < 0 && errno != EINTR)
                break;
            continue;
        }
        bool submitted = false;
        while (o.packed ? pid >= 0 : q->last_used != used_idx) {
            unsigned i;
            /* Stamped per entry: on a packed ring a request refilled in
             * this pass is visible to the device at once and may be seen
             * used before the pass ends, after its new submit time. */
            uint64_t t = now_ns();
            if (o.packed) {
                i = (unsigned)pid;
                pid = packed_used(q);
            } else {
                i = q->used->ring[q->last_used % q->num].id / 3;
                q->last_used++;
            }
            q->inflight--;
            if (i >= o.qd)
                continue;   /* a broken backend; counted as nothing */
            if (ph == 1) {
                uint64_t lat = t - q->t0[i];
                q->hist[bucket_of(lat)]++;
                q->lat_sum += lat;
                q->ops++;
                q->bytes += o.bs;
                if (q->slots[i].hdr.type == VIRTIO_BLK_T_OUT)
                    q->writes++;
                else
                    q->reads++;
                if (q->status[i] != VIRTIO_BLK_S_OK)
                    q->errors++;
            }
            if (ph != 2) {
                fill_request(q, i);
                submitted = true;
            }
        }
        if (submitted)
            publish_and_kick(q);
    }
    return NULL;
}

static void usage(FILE *f)
{
    fprintf(f,
        "usage: sluice-blkbench --socket PATH [options]\n"
        "  --rw randread|randwrite|randrw|read|write   pattern (default randread)\n"
        "  --rwmix-read PCT    reads in randrw (default 70)\n"
        "  --bs BYTES          request size (default 4096)\n"
        "  --qd N              requests in flight per queue, 1-256 (default 1)\n"
        "  --queues N          virtqueues, one driver thread each (default 1)\n"
        "  --time S            measured seconds (default 5)\n"
        "  --warmup S          seconds run before measuring (default 1)\n"
        "  --poll              poll the used rings (no call eventfds, interrupts suppressed)\n"
        "  --packed            packed virtqueues (VIRTIO_F_RING_PACKED)\n"
        "  --idle S            after the run, stay connected with the rings started and\n"
        "                      idle for S seconds; report the backend's CPU time then\n"
        "  --backend-pid PID   report this process's CPU time (from /proc)\n"
        "  --cpu N             pin the driver threads to CPU N\n"
        "Prints one JSON object.\n");
}

static int parse_args(int argc, char **argv)
{
    static const struct option lo[] = {
        { "socket", required_argument, NULL, 's' },
        { "rw", required_argument, NULL, 'r' },
        { "rwmix-read", required_argument, NULL, 'm' },
        { "bs", required_argument, NULL, 'b' },
        { "qd", required_argument, NULL, 'q' },
        { "queues", required_argument, NULL, 'n' },
        { "time", required_argument, NULL, 't' },
        { "warmup", required_argument, NULL, 'w' },
        { "poll", no_argument, NULL, 'p' },
        { "packed", no_argument, NULL, 'K' },
        { "idle", required_argument, NULL, 'i' },
        { "backend-pid", required_argument, NULL, 'P' },
        { "cpu", required_argument, NULL, 'c' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int c;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 's': o.socket = optarg; break;
        case 'r':
            if (!strcmp(optarg, "randread")) o.rw = RW_RANDREAD;
            else if (!strcmp(optarg, "randwrite")) o.rw = RW_RANDWRITE;
            else if (!strcmp(optarg, "randrw")) o.rw = RW_RANDRW;
            else if (!strcmp(optarg, "read")) o.rw = RW_READ;
            else if (!strcmp(optarg, "write")) o.rw = RW_WRITE;
            else return -1;
            break;
        case 'm': o.rwmix_read = (unsigned)atoi(optarg); break;
        case 'b': o.bs = (unsigned)strtoul(optarg, NULL, 0); break;
        case 'q': o.qd = (unsigned)atoi(optarg); break;
        case 'n': o.queues = (unsigned)atoi(optarg); break;
        case 't': o.time_s = atof(optarg); break;
        case 'w': o.warmup_s = atof(optarg); break;
        case 'p': o.poll = true; break;
        case 'K': o.packed = true; break;
        case 'i': o.idle_s = atof(optarg); break;
        case 'P': o.backend_pid = atoi(optarg); break;
        case 'c': o.cpu = atoi(optarg); break;
        case 'h': usage(stdout); exit(0);
        default: return -1;
        }
    }
    if (!o.socket || o.qd < 1 || o.qd > 256 || o.queues < 1 || o.queues > VUF_MAX_QUEUES ||
        o.bs < 512 || o.bs % 512 || o.bs > (4u << 20) || o.rwmix_read > 100 || o.time_s <= 0 ||
        o.warmup_s < 0 || o.idle_s < 0 || optind != argc)
        return -1;
    return 0;
}

static const char *rw_name(void)
{
    static const char *n[] = { "read", "write", "randread", "randwrite", "randrw" };
    return n[o.rw];
}

static int fail(const char *what, int err)
{
    fprintf(stderr, "sluice-blkbench: %s: %s\n", what, strerror(err));
    return 1;
}

int main(int argc, char **argv)
{
    if (parse_args(argc, argv) < 0) {
        usage(stderr);
        return 2;
    }

    struct vuf *f;
    int r = vuf_connect(o.socket, 5000, &f);
    if (r < 0)
        return fail(o.socket, -r);

    uint64_t dev = vuf_device_features(f);
    if (!(dev & (1ull << VIRTIO_F_VERSION_1))) {
        fprintf(stderr, "sluice-blkbench: backend does not offer VERSION_1\n");
        return 1;
    }
    uint64_t feat = 1ull << VIRTIO_F_VERSION_1;
    if (o.queues > 1) {
        if (!(dev & (1ull << VIRTIO_BLK_F_MQ)) || vuf_queue_num(f) < o.queues) {
            fprintf(stderr, "sluice-blkbench: backend has %u queue(s), %u asked\n",
                    (dev & (1ull << VIRTIO_BLK_F_MQ)) ? vuf_queue_num(f) : 1, o.queues);
            return 1;
        }
        feat |= 1ull << VIRTIO_BLK_F_MQ;
    }
    if (o.packed) {
        if (!(dev & (1ull << VIRTIO_F_RING_PACKED))) {
            fprintf(stderr, "sluice-blkbench: backend does not offer packed rings\n");
            return 1;
        }
        feat |= 1ull << VIRTIO_F_RING_PACKED;
    }
    if ((dev & (1ull << VIRTIO_BLK_F_RO)) && o.rw != RW_READ && o.rw != RW_RANDREAD) {
        fprintf(stderr, "sluice-blkbench: the device is read-only\n");
        return 1;
    }

    struct virtio_blk_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    if ((r = vuf_get_config(f, 0, &cfg, sizeof(cfg.capacity))) < 0)
        return fail("GET_CONFIG", -r);
    capacity_bytes = cfg.capacity * 512ull;
    if (capacity_bytes < (uint64_t)o.bs * o.queues * 2) {
        fprintf(stderr, "sluice-blkbench: device too small (%" PRIu64 " bytes)\n", capacity_bytes);
        return 1;
    }

    /* Layout. */
    unsigned num = 4;
    while (num < 3 * o.qd)
        num <<= 1;
    uint64_t ring_bytes = ALIGN_UP(ALIGN_UP(16ull * num + 6 + 2ull * num, 4096) + 6 + 8ull * num, 4096);
    uint64_t slot_bytes = ALIGN_UP(sizeof(struct slot) * o.qd + o.qd, 4096);
    uint64_t data_bytes = ALIGN_UP((uint64_t)o.bs * o.qd, 4096);
    uint64_t per_q = ring_bytes + slot_bytes + data_bytes;
    uint64_t total = ALIGN_UP(per_q * o.queues, 2 << 20);

    int memfd = memfd_create("sluice-blkbench", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (memfd < 0 || ftruncate(memfd, (off_t)total) < 0 ||
        fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
        return fail("memfd", errno);
    uint8_t *mem = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, memfd, 0);
    if (mem == MAP_FAILED)
        return fail("mmap", errno);
    struct vuf_region reg = { .gpa = 0, .size = total, .hva = mem, .fd = memfd, .offset = 0 };

    if ((r = vuf_set_features(f, feat)) < 0)
        return fail("SET_FEATURES", -r);
    if ((r = vuf_set_mem_table(f, &reg, 1)) < 0)
        return fail("SET_MEM_TABLE", -r);

    struct queue *qs = calloc(o.queues, sizeof(*qs));
    if (!qs)
        return fail("calloc", ENOMEM);
    for (unsigned k = 0; k < o.queues; k++) {
        struct queue *q = &qs[k];
        uint64_t base = per_q * k;
        uint64_t avail_off = base + 16ull * num;
        uint64_t used_off = base + ALIGN_UP(16ull * num + 6 + 2ull * num, 4096);
        q->idx = k;
        q->num = num;
        q->desc = (void *)(mem + base);
        q->avail = (void *)(mem + avail_off);
        q->used = (void *)(mem + used_off);
        q->slots_gpa = base + ring_bytes;
        q->status_gpa = q->slots_gpa + sizeof(struct slot) * o.qd;
        q->data_gpa = base + ring_bytes + slot_bytes;
        q->slots = (void *)(mem + q->slots_gpa);
        q->status = mem + q->status_gpa;
        q->data = mem + q->data_gpa;
        q->t0 = calloc(o.qd, sizeof(uint64_t));
        q->rng = 0x9E3779B97F4A7C15ull * (k + 1) ^ (uint64_t)getpid();
        uint64_t span = capacity_bytes / o.queues / o.bs * o.bs;
        q->seq_lo = q->seq_next = span * k;
        q->seq_hi = q->seq_lo + span;
        for (unsigned i = 0; i < o.qd; i++) {
            struct vring_desc *d = &q->desc[3 * i];
            d[0].addr = q->slots_gpa + sizeof(struct slot) * i;
            d[0].len = sizeof(struct virtio_blk_outhdr);
            d[0].flags = VRING_DESC_F_NEXT;
            d[0].next = (uint16_t)(3 * i + 1);
            d[1].addr = q->data_gpa + (uint64_t)o.bs * i;
            d[1].len = o.bs;
            d[1].flags = VRING_DESC_F_NEXT;
            d[1].next = (uint16_t)(3 * i + 2);
            d[2].addr = q->status_gpa + i;
            d[2].len = 1;
            d[2].flags = VRING_DESC_F_WRITE;
            d[2].next = 0;
        }
        q->avail->flags = o.poll ? VRING_AVAIL_F_NO_INTERRUPT : 0;
        if (o.packed) {
            /* Same memory: the descriptor ring, then the two event areas. */
            q->pdesc = (void *)q->desc;
            q->drv_event = (void *)(mem + avail_off);
            q->dev_event = (void *)(mem + avail_off + 4);
            memset(q->pdesc, 0, 16ull * num);
            q->drv_event->off_wrap = 0;
            q->drv_event->flags = o.poll ? VRING_PACKED_EVENT_FLAG_DISABLE : VRING_PACKED_EVENT_FLAG_ENABLE;
            q->avail_wrap = q->used_wrap = true;
        }
        q->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        q->call_fd = o.poll ? -1 : eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (q->kick_fd < 0 || (!o.poll && q->call_fd < 0))
            return fail("eventfd", errno);
        struct vuf_vring v = {
            .num = (uint16_t)num, .desc_gpa = base, .avail_gpa = avail_off, .used_gpa = used_off,
            .base = 0, .kick_fd = q->kick_fd, .call_fd = q->call_fd,
        };
        if (o.packed) {
            /* Available position 0 with wrap counter 1 (used follows). */
            v.base = 0x8000;
            v.used_gpa = avail_off + 4;
        }
        if ((r = vuf_vring_start(f, k, &v)) < 0)
            return fail("vring start", -r);
    }

    struct rusage ru0, ru1;
    for (unsigned k = 0; k < o.queues; k++)
        if ((r = pthread_create(&qs[k].thread, NULL, queue_thread, &qs[k])) != 0)
            return fail("pthread_create", r);

    /* Warm-up, then the measured interval; a backend hanging up aborts. */
    struct pollfd pfd = { .fd = vuf_fd(f), .events = POLLIN | POLLRDHUP };
    if (o.warmup_s > 0 && poll(&pfd, 1, (int)(o.warmup_s * 1000)) > 0) {
        fprintf(stderr, "sluice-blkbench: backend hung up during warm-up\n");
        return 1;
    }
    int64_t cpu0 = o.backend_pid ? proc_cpu_ns(o.backend_pid) : -1;
    getrusage(RUSAGE_SELF, &ru0);
    uint64_t t0 = now_ns();
    atomic_store(&phase, 1);
    if (poll(&pfd, 1, (int)(o.time_s * 1000)) > 0) {
        fprintf(stderr, "sluice-blkbench: backend hung up\n");
        return 1;
    }
    atomic_store(&phase, 2);
    uint64_t t1 = now_ns();
    int64_t cpu1 = o.backend_pid ? proc_cpu_ns(o.backend_pid) : -1;
    getrusage(RUSAGE_SELF, &ru1);
    /* Wake threads sleeping on their call eventfd. */
    for (unsigned k = 0; k < o.queues; k++) {
        uint64_t one = 1;
        if (qs[k].call_fd >= 0 && write(qs[k].call_fd, &one, sizeof(one)) < 0) {
        }
    }
    uint64_t lat_sum = 0, ops = 0, bytes = 0, errors = 0, reads = 0, writes = 0, kicks = 0, waits = 0;
    unsigned left = 0;
    static uint64_t hist[NBUCKETS];
    for (unsigned k = 0; k < o.queues; k++) {
        pthread_join(qs[k].thread, NULL);
        ops += qs[k].ops;
        lat_sum += qs[k].lat_sum;
        bytes += qs[k].bytes;
        errors += qs[k].errors;
        reads += qs[k].reads;
        writes += qs[k].writes;
        kicks += qs[k].kicks;
        waits += qs[k].waits;
        left += qs[k].inflight;
        for (unsigned b = 0; b < NBUCKETS; b++)
            hist[b] += qs[k].hist[b];
    }
    /* Connected, rings started, nothing submitted: what does the backend
     * burn? (A polling backend must go back to sleep.) */
    double idle_cpu = -1;
    if (o.idle_s > 0) {
        fprintf(stderr, "sluice-blkbench: idle for %.1f s\n", o.idle_s);
        int64_t i0 = o.backend_pid ? proc_cpu_ns(o.backend_pid) : -1;
        if (poll(&pfd, 1, (int)(o.idle_s * 1000)) > 0) {
            fprintf(stderr, "sluice-blkbench: backend hung up while idle\n");
            return 1;
        }
        int64_t i1 = o.backend_pid ? proc_cpu_ns(o.backend_pid) : -1;
        if (i0 >= 0 && i1 >= 0)
            idle_cpu = (double)(i1 - i0) / 1e9;
    }
    for (unsigned k = 0; k < o.queues; k++)
        vuf_vring_stop(f, k, NULL);
    vuf_destroy(f);
    for (unsigned k = 0; k < o.queues; k++)
        free(qs[k].t0);
    free(qs);

    double secs = (double)(t1 - t0) / 1e9;
    double drv_cpu = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec + ru1.ru_stime.tv_sec -
                              ru0.ru_stime.tv_sec) +
                     (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec + ru1.ru_stime.tv_usec -
                              ru0.ru_stime.tv_usec) / 1e6;
    double bcpu = (cpu0 >= 0 && cpu1 >= 0) ? (double)(cpu1 - cpu0) / 1e9 : -1;
    double iops = (double)ops / secs;
    printf("{\"rw\":\"%s\",\"bs\":%u,\"qd\":%u,\"queues\":%u,\"mode\":\"%s\",\"ring_size\":%u,"
           "\"capacity_bytes\":%" PRIu64 ",\"seconds\":%.6f,\"ops\":%" PRIu64 ",\"reads\":%" PRIu64
           ",\"writes\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"iops\":%.1f,\"bw_mib_s\":%.3f,"
           "\"lat_mean_us\":%.3f,\"lat_p50_us\":%.3f,\"lat_p99_us\":%.3f,\"lat_p999_us\":%.3f,"
           "\"lat_max_us\":%.3f,\"backend_cpu_s\":%.6f,\"iops_per_backend_core\":%.1f,"
           "\"driver_cpu_s\":%.6f,\"kicks\":%" PRIu64 ",\"waits\":%" PRIu64 ",\"undrained\":%u,"
           "\"backend_cpu_us_per_io\":%.3f,\"idle_s\":%.3f,\"idle_backend_cpu_s\":%.6f}\n",
           rw_name(), o.bs, o.qd, o.queues, o.poll ? "poll" : "eventfd", num, capacity_bytes, secs,
           ops, reads, writes, errors, iops, (double)bytes / secs / 1048576.0,
           ops ? (double)lat_sum / (double)ops / 1000 : 0.0, percentile(hist, ops, 50) / 1000, percentile(hist, ops, 99) / 1000,
           percentile(hist, ops, 99.9) / 1000, percentile(hist, ops, 100) / 1000, bcpu,
           bcpu > 0 ? (double)ops / bcpu : 0.0, drv_cpu, kicks, waits, left,
           ops && bcpu >= 0 ? bcpu * 1e6 / (double)ops : 0.0, o.idle_s, idle_cpu);
    return errors ? 1 : 0;
}
