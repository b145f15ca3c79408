/* SPDX-License-Identifier: Apache-2.0 */
/* guestio: a small static I/O tool the integration tests run inside the
 * guest (and on the host, to check backing files). It writes and verifies a
 * reproducible pseudo-random pattern with O_DIRECT, and issues the block
 * ioctls busybox lacks (BLKZEROOUT) so every virtio-blk request type is hit.
 *
 *   guestio fill    DEV SEED [OFF LEN]   write the pattern
 *   guestio verify  DEV SEED [OFF LEN]   read back and compare
 *   guestio zero    DEV OFF LEN          check the range reads as zeroes
 *   guestio discard DEV OFF LEN          BLKDISCARD
 *   guestio zeroout DEV OFF LEN          BLKZEROOUT (WRITE_ZEROES)
 *   guestio flush   DEV                  fsync (FLUSH)
 *   guestio loop    DEV SEED             fill forever (until killed)
 *   guestio size    DEV                  print the size in bytes
 *   guestio rate    DEV BS SECS WARM     write BS-byte blocks (O_DIRECT, one at
 *                                        a time, wrapping round) for WARM + SECS
 *                                        seconds; print the rate of the last
 *                                        SECS, timed from the completion of the
 *                                        last write before it to the last write
 *   guestio serve PORT IDLE              TCP streams for NIC rate limits, the
 *                                        guest's half: listen on PORT and do
 *                                        what each connection's first line
 *                                        asks ("tx SECS", "rx WARM", "quit");
 *                                        give up after IDLE seconds without one
 *   guestio stream ADDR PORT tx SECS WARM
 *                                        the host's half: the server transmits
 *                                        for WARM + SECS seconds; print the
 *                                        received rate after the first WARM
 *   guestio stream ADDR PORT rx SECS WARM
 *                                        transmit to the server for WARM + SECS
 *                                        seconds; print the rate it received
 *   guestio stream ADDR PORT quit        the server exits 0
 *
 * The pattern of each 4 KiB block depends only on SEED and the block's
 * index, so any range can be checked on its own. Exit 0 ok, 1 mismatch or
 * I/O error, 2 usage. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BLK 4096u
#define CHUNK (1024u * 1024u)

static void pattern(uint64_t seed, uint64_t block, uint8_t *buf)
{
    uint64_t x = seed * 0x9e3779b97f4a7c15ull ^ (block + 1) * 0xbf58476d1ce4e5b9ull;
    for (unsigned i = 0; i < BLK; i += 8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        memcpy(buf + i, &x, 8);
    }
}

static uint64_t dev_size(int fd)
{
    struct stat st;
    uint64_t size = 0;

    if (fstat(fd, &st) < 0)
        return 0;
    if (S_ISBLK(st.st_mode)) {
        if (ioctl(fd, BLKGETSIZE64, &size) < 0)
            return 0;
        return size;
    }
    return (uint64_t)st.st_size;
}

static int open_dev(const char *path, int flags)
{
    int fd = open(path, flags | O_DIRECT);
    if (fd < 0 && errno == EINVAL)
        fd = open(path, flags);   /* tmpfs and friends */
    if (fd < 0)
        fprintf(stderr, "guestio: %s: %s\n", path, strerror(errno));
    return fd;
}

static uint64_t num(const char *s)
{
    char *end;
    uint64_t v = strtoull(s, &end, 0);
    if (*end) {
        fprintf(stderr, "guestio: bad number '%s'\n", s);
        exit(2);
    }
    return v;
}

static int fill_or_verify(const char *path, uint64_t seed, uint64_t off, uint64_t len,
                          int verify, int forever)
{
    uint8_t *buf, *expect;
    int fd = open_dev(path, verify ? O_RDONLY : O_RDWR);
    uint64_t pass = 0;

    if (fd < 0)
        return 1;
    if (len == 0)
        len = dev_size(fd) - off;
    if (off % BLK || len % BLK) {
        fprintf(stderr, "guestio: offset and length must be multiples of %u\n", BLK);
        return 2;
    }
    if (posix_memalign((void **)&buf, BLK, CHUNK) || posix_memalign((void **)&expect, BLK, BLK))
        return 1;
    do {
        for (uint64_t pos = off; pos < off + len;) {
            size_t n = (size_t)(off + len - pos < CHUNK ? off + len - pos : CHUNK);
            ssize_t r;
            if (!verify) {
                for (size_t b = 0; b < n; b += BLK)
                    pattern(seed + pass, (pos + b) / BLK, buf + b);
                r = pwrite(fd, buf, n, (off_t)pos);
            } else {
                r = pread(fd, buf, n, (off_t)pos);
            }
            if (r != (ssize_t)n) {
                fprintf(stderr, "guestio: %s at %" PRIu64 ": %s\n", verify ? "read" : "write",
                        pos, r < 0 ? strerror(errno) : "short transfer");
                return 1;
            }
            if (verify) {
                for (size_t b = 0; b < n; b += BLK) {
                    pattern(seed, (pos + b) / BLK, expect);
                    if (memcmp(buf + b, expect, BLK)) {
                        fprintf(stderr, "guestio: %s: mismatch in block at byte %" PRIu64 "\n",
                                path, pos + b);
                        return 1;
                    }
                }
            }
            pos += n;
        }
        if (forever) {
            printf("guestio: pass %" PRIu64 " written\n", pass);
            fflush(stdout);
            pass++;
        }
    } while (forever);
    close(fd);
    return 0;
}

static int zero_check(const char *path, uint64_t off, uint64_t len)
{
    uint8_t *buf;
    int fd = open_dev(path, O_RDONLY);

    if (fd < 0 || posix_memalign((void **)&buf, BLK, CHUNK))
        return 1;
    for (uint64_t pos = off; pos < off + len;) {
        size_t n = (size_t)(off + len - pos < CHUNK ? off + len - pos : CHUNK);
        if (pread(fd, buf, n, (off_t)pos) != (ssize_t)n) {
            fprintf(stderr, "guestio: read at %" PRIu64 ": %s\n", pos, strerror(errno));
            return 1;
        }
        for (size_t i = 0; i < n; i++)
            if (buf[i]) {
                fprintf(stderr, "guestio: %s: non-zero byte at %" PRIu64 "\n", path, pos + i);
                return 1;
            }
        pos += n;
    }
    return 0;
}

static int range_ioctl(const char *path, unsigned long req, const char *name,
                       uint64_t off, uint64_t len)
{
    uint64_t range[2] = { off, len };
    int fd = open(path, O_RDWR);

    if (fd < 0 || ioctl(fd, req, range) < 0) {
        fprintf(stderr, "guestio: %s %s: %s\n", name, path, strerror(errno));
        return 1;
    }
    close(fd);
    return 0;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A rate limiter's view: requests complete when the limiter lets them, so
 * the rate is counted between completions, never from a start that may
 * fall inside a burst. */
static int rate(const char *path, uint64_t bs, double secs, double warm)
{
    int fd = open_dev(path, O_RDWR);
    uint8_t *buf;
    uint64_t size, off = 0, ops = 0;
    double t0, t_begin = 0, t_last = 0, now;

    if (fd < 0)
        return 1;
    size = dev_size(fd);
    if (bs == 0 || bs % 512 || size < bs || posix_memalign((void **)&buf, BLK, bs))
        return 2;
    memset(buf, 0x5a, bs);
    t0 = mono_s();
    for (;;) {
        if (off + bs > size)
            off = 0;
        if (pwrite(fd, buf, bs, (off_t)off) != (ssize_t)bs) {
            fprintf(stderr, "guestio: rate %s: write at %" PRIu64 ": %s\n", path, off, strerror(errno));
            return 1;
        }
        off += bs;
        now = mono_s();
        if (now - t0 < warm) {
            t_begin = now;
            continue;
        }
        if (!t_begin)
            t_begin = t0;
        if (now - t0 >= warm + secs)
            break;
        ops++;
        t_last = now;
    }
    if (!ops || t_last <= t_begin) {
        printf("rate %s: no writes measured\n", path);
        return 1;
    }
    printf("rate %s: bytes/s=%.0f ops/s=%.1f ops=%" PRIu64 " secs=%.3f\n", path,
           (double)(ops * bs) / (t_last - t_begin), (double)ops / (t_last - t_begin), ops,
           t_last - t_begin);
    return 0;
}

/* ---- TCP streams (NIC rate limits) --------------------------------------
 * The receiver measures: bytes read after the first WARM seconds of the
 * stream, from the completion of the last read before that mark to the last
 * read (so a shaper's initial burst does not count). A stalled stream fails
 * after STREAM_TIMEOUT seconds instead of hanging the test. */
#define STREAM_BUF (64u * 1024u)
#define STREAM_TIMEOUT 20

static int sock_timeouts(int fd)
{
    struct timeval tv = { .tv_sec = STREAM_TIMEOUT };

    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0) {
        fprintf(stderr, "guestio: setsockopt: %s\n", strerror(errno));
        return -1;
    }
    return 0;
}

static int sock_addr(const char *addr, const char *port, struct sockaddr_in *sa)
{
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)num(port));
    if (inet_pton(AF_INET, addr, &sa->sin_addr) != 1) {
        fprintf(stderr, "guestio: bad IPv4 address '%s'\n", addr);
        return -1;
    }
    return 0;
}

/* Send for SECS seconds, then half-close. */
static int stream_send(int fd, double secs)
{
    static uint8_t buf[STREAM_BUF];
    double t0 = mono_s();

    memset(buf, 0x5a, sizeof(buf));
    while (mono_s() - t0 < secs) {
        if (send(fd, buf, sizeof(buf), MSG_NOSIGNAL) < 0) {
            fprintf(stderr, "guestio: send: %s\n", strerror(errno));
            return 1;
        }
    }
    if (shutdown(fd, SHUT_WR) < 0) {
        fprintf(stderr, "guestio: shutdown: %s\n", strerror(errno));
        return 1;
    }
    return 0;
}

/* Receive until the peer half-closes; write the rate line to OUT
 * ("bits/s=N bytes=N secs=S"). */
static int stream_recv(int fd, double warm, char *out, size_t outlen)
{
    static uint8_t buf[STREAM_BUF];
    double t0 = 0, t_begin = 0, t_last = 0, now;
    uint64_t bytes = 0;

    for (;;) {
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n < 0) {
            fprintf(stderr, "guestio: recv: %s\n", strerror(errno));
            return 1;
        }
        if (n == 0)
            break;
        now = mono_s();
        if (!t0)
            t0 = now;
        if (now - t0 < warm) {
            t_begin = now;
            continue;
        }
        if (!t_begin)
            t_begin = t0;
        bytes += (uint64_t)n;
        t_last = now;
    }
    if (!bytes || t_last <= t_begin) {
        fprintf(stderr, "guestio: no stream measured (%" PRIu64 " bytes)\n", bytes);
        return 1;
    }
    snprintf(out, outlen, "bits/s=%.0f bytes=%" PRIu64 " secs=%.3f",
             (double)bytes * 8 / (t_last - t_begin), bytes, t_last - t_begin);
    return 0;
}

/* The connection's first line, at most LEN - 1 bytes, without its '\n'. */
static int read_line(int fd, char *line, size_t len)
{
    size_t i = 0;

    while (i + 1 < len) {
        ssize_t n = recv(fd, line + i, 1, 0);
        if (n <= 0)
            return -1;
        if (line[i] == '\n')
            break;
        i++;
    }
    line[i] = 0;
    return 0;
}

static int serve(const char *port, double idle)
{
    struct sockaddr_in sa;
    int one = 1, lfd = socket(AF_INET, SOCK_STREAM, 0);

    if (lfd < 0 || sock_addr("0.0.0.0", port, &sa) < 0 ||
        setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 4) < 0) {
        fprintf(stderr, "guestio: listen on %s: %s\n", port, strerror(errno));
        return 1;
    }
    printf("guestio: listening on %s\n", port);
    fflush(stdout);
    for (;;) {
        struct pollfd p = { .fd = lfd, .events = POLLIN };
        char line[64], res[128];
        double a, b;
        int fd, r = 0;

        if (poll(&p, 1, (int)(idle * 1000)) <= 0) {
            fprintf(stderr, "guestio: no connection for %.0f s\n", idle);
            return 1;
        }
        fd = accept(lfd, NULL, NULL);
        if (fd < 0 || sock_timeouts(fd) < 0 || read_line(fd, line, sizeof(line)) < 0) {
            fprintf(stderr, "guestio: accept: %s\n", strerror(errno));
            if (fd >= 0)
                close(fd);
            continue;
        }
        if (!strcmp(line, "quit")) {
            close(fd);
            return 0;
        }
        if (sscanf(line, "tx %lf", &a) == 1) {
            r = stream_send(fd, a);
            while (!r && recv(fd, res, sizeof(res), 0) > 0)
                ;                       /* until the host has read it all */
        } else if (sscanf(line, "rx %lf", &b) == 1) {
            r = stream_recv(fd, b, res, sizeof(res));
            if (!r) {
                size_t len = strlen(res);
                res[len++] = '\n';
                r = send(fd, res, len, MSG_NOSIGNAL) == (ssize_t)len ? 0 : 1;
            }
        } else {
            fprintf(stderr, "guestio: bad request '%s'\n", line);
        }
        printf("guestio: %s: %s\n", line, r ? "failed" : "done");
        fflush(stdout);
        close(fd);
    }
}

static int stream(const char *addr, const char *port, const char *dir, double secs, double warm)
{
    struct sockaddr_in sa;
    char line[64], res[128];
    int fd, r;
    ssize_t n;

    if (sock_addr(addr, port, &sa) < 0)
        return 2;
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || sock_timeouts(fd) < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        fprintf(stderr, "guestio: connect to %s:%s: %s\n", addr, port, strerror(errno));
        return 1;
    }
    if (!strcmp(dir, "quit"))
        snprintf(line, sizeof(line), "quit\n");
    else if (!strcmp(dir, "tx"))
        snprintf(line, sizeof(line), "tx %.3f\n", warm + secs);
    else
        snprintf(line, sizeof(line), "rx %.3f\n", warm);
    if (send(fd, line, strlen(line), MSG_NOSIGNAL) != (ssize_t)strlen(line)) {
        fprintf(stderr, "guestio: send: %s\n", strerror(errno));
        return 1;
    }
    if (!strcmp(dir, "quit"))
        return 0;
    if (!strcmp(dir, "tx")) {
        r = stream_recv(fd, warm, res, sizeof(res));
    } else {
        r = stream_send(fd, warm + secs);
        if (!r) {
            n = read_line(fd, res, sizeof(res)) < 0 ? -1 : (ssize_t)strlen(res);
            if (n <= 0) {
                fprintf(stderr, "guestio: no rate from %s\n", addr);
                r = 1;
            }
        }
    }
    if (!r)
        printf("stream %s: %s\n", dir, res);
    close(fd);
    return r;
}

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : "";

    if (argc == 4 && (!strcmp(cmd, "fill") || !strcmp(cmd, "verify")))
        return fill_or_verify(argv[2], num(argv[3]), 0, 0, cmd[0] == 'v', 0);
    if (argc == 6 && (!strcmp(cmd, "fill") || !strcmp(cmd, "verify")))
        return fill_or_verify(argv[2], num(argv[3]), num(argv[4]), num(argv[5]), cmd[0] == 'v', 0);
    if (argc == 6 && !strcmp(cmd, "rate"))
        return rate(argv[2], num(argv[3]), strtod(argv[4], NULL), strtod(argv[5], NULL));
    if (argc == 4 && !strcmp(cmd, "loop"))
        return fill_or_verify(argv[2], num(argv[3]), 0, 0, 0, 1);
    if (argc == 5 && !strcmp(cmd, "zero"))
        return zero_check(argv[2], num(argv[3]), num(argv[4]));
    if (argc == 5 && !strcmp(cmd, "discard"))
        return range_ioctl(argv[2], BLKDISCARD, "discard", num(argv[3]), num(argv[4]));
    if (argc == 5 && !strcmp(cmd, "zeroout"))
        return range_ioctl(argv[2], BLKZEROOUT, "zeroout", num(argv[3]), num(argv[4]));
    if (argc == 3 && !strcmp(cmd, "flush")) {
        int fd = open(argv[2], O_RDWR);
        if (fd < 0 || fsync(fd) < 0) {
            fprintf(stderr, "guestio: flush %s: %s\n", argv[2], strerror(errno));
            return 1;
        }
        return 0;
    }
    if (argc == 3 && !strcmp(cmd, "size")) {
        int fd = open(argv[2], O_RDONLY);
        if (fd < 0)
            return 1;
        printf("%" PRIu64 "\n", dev_size(fd));
        return 0;
    }
    if (argc == 4 && !strcmp(cmd, "serve"))
        return serve(argv[2], strtod(argv[3], NULL));
    if (argc == 5 && !strcmp(cmd, "stream") && !strcmp(argv[4], "quit"))
        return stream(argv[2], argv[3], argv[4], 0, 0);
    if (argc == 7 && !strcmp(cmd, "stream") && (!strcmp(argv[4], "tx") || !strcmp(argv[4], "rx")))
        return stream(argv[2], argv[3], argv[4], strtod(argv[5], NULL), strtod(argv[6], NULL));
    fprintf(stderr, "usage: guestio fill|verify DEV SEED [OFF LEN] | zero|discard|zeroout DEV OFF LEN"
                    " | flush DEV | loop DEV SEED | size DEV | rate DEV BS SECS WARM"
                    " | serve PORT IDLE | stream ADDR PORT tx|rx SECS WARM | stream ADDR PORT quit\n");
    return 2;
}
