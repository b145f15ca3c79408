/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for src/sluiced/nbd-server.c: the NBD handshake and requests,
 * well-formed and hostile, over a socketpair to nbd_server_serve() running
 * in a thread, with a memfd as the export. */
#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "core/io.h"
#include "nbd-server.h"

#define SIZE (1u << 20)
#define IHAVEOPT 0x49484156454F5054ull
#define REP_MAGIC 0x0003e889045565a9ull

struct fx {
    struct nbd_server *s;
    int fd;          /* the export's memfd */
    int sv[2];       /* sv[0]: the test (client); sv[1]: the server */
    pthread_t t;
    int result;
    bool running;
};

static void *serve(void *arg)
{
    struct fx *f = arg;
    f->result = nbd_server_serve(f->s, f->sv[1]);
    shutdown(f->sv[1], SHUT_RDWR);
    return NULL;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(nbd_server_create(&f->s), 0);
    f->fd = memfd_create("nbd-export", 0);
    assert_true(f->fd >= 0);
    assert_int_equal(ftruncate(f->fd, SIZE), 0);
    assert_int_equal(nbd_server_export(f->s, "disk", f->fd, SIZE, false), 0);
    assert_int_equal(nbd_server_export(f->s, "ro", f->fd, SIZE, true), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, f->sv), 0);
    assert_int_equal(pthread_create(&f->t, NULL, serve, f), 0);
    f->running = true;
    *state = f;
    return 0;
}

/* Wait for the server's verdict on the connection. */
static int finish(struct fx *f)
{
    if (f->running) {
        pthread_join(f->t, NULL);
        f->running = false;
    }
    return f->result;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    shutdown(f->sv[0], SHUT_RDWR);
    finish(f);
    close(f->sv[0]);
    close(f->sv[1]);
    close(f->fd);
    nbd_server_destroy(f->s);
    free(f);
    return 0;
}

static void send_buf(struct fx *f, const void *p, size_t n)
{
    assert_int_equal(send_all(f->sv[0], p, n, 2000), 0);
}

static void recv_buf(struct fx *f, void *p, size_t n)
{
    assert_int_equal(recv_all(f->sv[0], p, n, 2000), 0);
}

static void put32(uint8_t *p, uint32_t v) { v = htobe32(v); memcpy(p, &v, 4); }
static void put16(uint8_t *p, uint16_t v) { v = htobe16(v); memcpy(p, &v, 2); }
static void send32(struct fx *f, uint32_t v) { v = htobe32(v); send_buf(f, &v, 4); }
static void send64(struct fx *f, uint64_t v) { v = htobe64(v); send_buf(f, &v, 8); }
static void send16(struct fx *f, uint16_t v) { v = htobe16(v); send_buf(f, &v, 2); }
static uint16_t recv16(struct fx *f) { uint16_t v; recv_buf(f, &v, 2); return be16toh(v); }
static uint32_t recv32(struct fx *f) { uint32_t v; recv_buf(f, &v, 4); return be32toh(v); }
static uint64_t recv64(struct fx *f) { uint64_t v; recv_buf(f, &v, 8); return be64toh(v); }

/* Greeting in, client flags out. */
static void greet(struct fx *f, uint32_t cflags)
{
    assert_int_equal(recv64(f), 0x4e42444d41474943ull);
    assert_int_equal(recv64(f), IHAVEOPT);
    assert_int_equal(recv16(f), 3);   /* FIXED_NEWSTYLE | NO_ZEROES */
    send32(f, cflags);
}

static void option(struct fx *f, uint32_t opt, const void *data, uint32_t len)
{
    send64(f, IHAVEOPT);
    send32(f, opt);
    send32(f, len);
    if (len)
        send_buf(f, data, len);
}

/* One option reply header; returns its type, *len its data length. */
static uint32_t opt_reply(struct fx *f, uint32_t opt, uint32_t *len)
{
    assert_int_equal(recv64(f), REP_MAGIC);
    assert_int_equal(recv32(f), opt);
    uint32_t type = recv32(f);
    *len = recv32(f);
    return type;
}

/* NBD_OPT_GO @name asking for the block size; returns the export's size. */
static uint64_t go(struct fx *f, const char *name, uint16_t *flags)
{
    uint8_t d[64];
    uint32_t n = (uint32_t)strlen(name), len, bs[3];
    uint64_t size = 0;
    uint32_t t;

    put32(d, n);
    memcpy(d + 4, name, n);
    put16(d + 4 + n, 1);
    put16(d + 6 + n, 3);   /* NBD_INFO_BLOCK_SIZE */
    option(f, 7, d, 8 + n);
    while ((t = opt_reply(f, 7, &len)) == 3) {
        uint16_t info = recv16(f);
        if (info == 0) {
            assert_int_equal(len, 12);
            size = recv64(f);
            *flags = recv16(f);
        } else {
            assert_int_equal(info, 3);
            assert_int_equal(len, 14);
            recv_buf(f, bs, sizeof(bs));
            assert_int_equal(be32toh(bs[2]), NBD_SRV_MAX_REQUEST);
        }
    }
    assert_int_equal(t, 1);   /* ACK */
    assert_int_equal(len, 0);
    return size;
}

static void request(struct fx *f, uint16_t flags, uint16_t type, uint64_t cookie, uint64_t off, uint32_t len)
{
    send32(f, 0x25609513u);
    send16(f, flags);
    send16(f, type);
    send64(f, cookie);
    send64(f, off);
    send32(f, len);
}

/* A simple reply for @cookie; returns its error. */
static uint32_t reply(struct fx *f, uint64_t cookie)
{
    assert_int_equal(recv32(f), 0x67446698u);
    uint32_t err = recv32(f);
    assert_int_equal(recv64(f), cookie);
    return err;
}

static void connect_go(struct fx *f, const char *name)
{
    uint16_t flags = 0;
    greet(f, 3);
    assert_int_equal(go(f, name, &flags), SIZE);
    assert_true(flags & 1);   /* HAS_FLAGS */
}

/* Write, read back, flush, zero, trim, disconnect: the happy path. */
static void test_roundtrip(void **state)
{
    struct fx *f = *state;
    uint8_t w[8192], r[8192];

    for (size_t i = 0; i < sizeof(w); i++)
        w[i] = (uint8_t)(i * 7 + 1);
    connect_go(f, "disk");
    request(f, 0, 1, 11, 4096, sizeof(w));
    send_buf(f, w, sizeof(w));
    assert_int_equal(reply(f, 11), 0);
    request(f, 0, 0, 12, 4096, sizeof(r));
    assert_int_equal(reply(f, 12), 0);
    recv_buf(f, r, sizeof(r));
    assert_memory_equal(w, r, sizeof(w));
    assert_int_equal(pread(f->fd, r, sizeof(r), 4096), (ssize_t)sizeof(r));
    assert_memory_equal(w, r, sizeof(w));
    request(f, 0, 3, 13, 0, 0);                 /* FLUSH */
    assert_int_equal(reply(f, 13), 0);
    request(f, 0, 6, 14, 4096, 4096);           /* WRITE_ZEROES */
    assert_int_equal(reply(f, 14), 0);
    request(f, 1, 4, 15, 8192, 4096);           /* TRIM, FUA */
    assert_int_equal(reply(f, 15), 0);
    assert_int_equal(pread(f->fd, r, 8192, 4096), 8192);
    for (size_t i = 0; i < 8192; i++)
        assert_int_equal(r[i], 0);
    request(f, 0, 2, 16, 0, 0);                 /* DISC */
    assert_int_equal(finish(f), 0);
}

/* Out of range, too large, unknown: an error reply, the connection lives. */
static void test_bad_requests_get_errors(void **state)
{
    struct fx *f = *state;
    uint8_t w[512] = { 1 };

    connect_go(f, "disk");
    request(f, 0, 0, 1, SIZE - 512, 1024);            /* read past the end */
    assert_int_equal(reply(f, 1), 22);
    request(f, 0, 0, 2, UINT64_MAX - 100, 512);       /* offset overflow */
    assert_int_equal(reply(f, 2), 22);
    request(f, 0, 0, 3, 0, NBD_SRV_MAX_REQUEST + 1);  /* read too large */
    assert_int_equal(reply(f, 3), 22);
    request(f, 0, 1, 4, SIZE, sizeof(w));             /* write past the end */
    send_buf(f, w, sizeof(w));
    assert_int_equal(reply(f, 4), 28);
    request(f, 0, 6, 5, SIZE - 4096, 8192);           /* zeroes past the end */
    assert_int_equal(reply(f, 5), 22);
    request(f, 0, 99, 6, 0, 512);                     /* unknown command */
    assert_int_equal(reply(f, 6), 22);
    request(f, 0x8000, 3, 7, 0, 0);                   /* unknown flag */
    assert_int_equal(reply(f, 7), 22);
    request(f, 0, 0, 8, 0, 512);                      /* still serving */
    assert_int_equal(reply(f, 8), 0);
    recv_buf(f, w, sizeof(w));
    request(f, 0, 2, 9, 0, 0);
    assert_int_equal(finish(f), 0);
}

static void test_readonly_export_refuses_writes(void **state)
{
    struct fx *f = *state;
    uint8_t w[512] = { 1 };

    connect_go(f, "ro");
    request(f, 0, 1, 1, 0, sizeof(w));
    send_buf(f, w, sizeof(w));
    assert_int_equal(reply(f, 1), 1);   /* EPERM */
    request(f, 0, 6, 2, 0, 512);
    assert_int_equal(reply(f, 2), 1);
}

/* A WRITE above the bound cannot be skipped: the connection closes. */
static void test_huge_write_closes(void **state)
{
    struct fx *f = *state;

    connect_go(f, "disk");
    request(f, 0, 1, 1, 0, 0xffffffffu);
    assert_int_equal(finish(f), -EPROTO);
}

static void test_bad_request_magic_closes(void **state)
{
    struct fx *f = *state;

    connect_go(f, "disk");
    send32(f, 0x12345678);
    send_buf(f, "0123456789012345678901234", 24);
    assert_int_equal(finish(f), -EPROTO);
}

/* A request cut short: the server sees the end of the stream. */
static void test_truncated_request(void **state)
{
    struct fx *f = *state;

    connect_go(f, "disk");
    send32(f, 0x25609513u);
    shutdown(f->sv[0], SHUT_WR);
    assert_int_equal(finish(f), -ECONNRESET);
}

static void test_bad_client_flags_close(void **state)
{
    struct fx *f = *state;

    greet(f, 0x80000001u);
    assert_int_equal(finish(f), -EPROTO);
}

static void test_not_fixed_newstyle_closes(void **state)
{
    struct fx *f = *state;

    greet(f, 0);
    assert_int_equal(finish(f), -EPROTO);
}

static void test_bad_option_magic_closes(void **state)
{
    struct fx *f = *state;

    greet(f, 3);
    send64(f, 0x1122334455667788ull);
    send32(f, 7);
    send32(f, 0);
    assert_int_equal(finish(f), -EPROTO);
}

static void test_huge_option_closes(void **state)
{
    struct fx *f = *state;

    greet(f, 3);
    send64(f, IHAVEOPT);
    send32(f, 7);
    send32(f, 1u << 30);
    assert_int_equal(finish(f), -EPROTO);
}

/* The handshake as a whole has a deadline: a client that sends one option
 * every 100 ms (each read well within the limit) is cut off once the
 * handshake's time (300 ms here) is up, instead of holding a connection
 * slot for 256 options. */
static void test_slow_handshake_closes(void **state)
{
    struct fx g = { 0 }, *f = &g;
    uint64_t t0;
    int sent = 0;

    (void)state;
    assert_int_equal(nbd_server_create(&f->s), 0);
    nbd_server_set_timeouts(f->s, 300, 300);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, f->sv), 0);
    assert_int_equal(pthread_create(&f->t, NULL, serve, f), 0);
    f->running = true;
    t0 = now_ms();
    greet(f, 3);
    for (; sent < 30; sent++) {
        uint8_t opt[16], rep[20], data[256];
        uint32_t len;
        usleep(100 * 1000);
        memcpy(opt, &(uint64_t){ htobe64(IHAVEOPT) }, 8);
        put32(opt + 8, 0x7777);   /* an unknown option: an error reply */
        put32(opt + 12, 0);
        if (send_all(f->sv[0], opt, sizeof(opt), 2000) < 0 ||
            recv_all(f->sv[0], rep, sizeof(rep), 2000) < 0)
            break;                /* closed */
        memcpy(&len, rep + 16, 4);
        len = be32toh(len);
        if (len > sizeof(data) || (len && recv_all(f->sv[0], data, len, 2000) < 0))
            break;
    }
    assert_true(finish(f) < 0);
    assert_true(sent < 10);
    assert_true(now_ms() - t0 < 2000);
    close(f->sv[0]);
    close(f->sv[1]);
    nbd_server_destroy(f->s);
}

/* Malformed GO data, an unknown export and unknown options: an error
 * reply each, then the handshake goes on to a good GO. */
static void test_option_errors_then_go(void **state)
{
    struct fx *f = *state;
    uint8_t d[32] = { 0 };
    uint32_t len;

    greet(f, 3);
    put32(d, 1000);           /* name length beyond the data */
    option(f, 7, d, 10);
    assert_int_equal(opt_reply(f, 7, &len), 0x80000003u);
    assert_int_equal(len, 0);
    put32(d, 4);
    memcpy(d + 4, "nope", 4);
    put16(d + 8, 0);
    option(f, 7, d, 10);                      /* unknown export */
    assert_int_equal(opt_reply(f, 7, &len), 0x80000006u);
    put32(d, 4);
    memcpy(d + 4, "di\0k", 4);                /* a NUL inside the name */
    option(f, 6, d, 10);
    assert_int_equal(opt_reply(f, 6, &len), 0x80000003u);
    option(f, 8, NULL, 0);                    /* STRUCTURED_REPLY: not offered */
    assert_int_equal(opt_reply(f, 8, &len), 0x80000001u);
    option(f, 0x7777, "xy", 2);               /* unknown */
    assert_int_equal(opt_reply(f, 0x7777, &len), 0x80000001u);
    option(f, 3, NULL, 0);                    /* LIST: two exports, ACK */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(opt_reply(f, 3, &len), 2);
        uint32_t n = recv32(f);
        char name[8] = { 0 };
        assert_true(n < sizeof(name) && len == 4 + n);
        recv_buf(f, name, n);
        assert_true(!strcmp(name, "disk") || !strcmp(name, "ro"));
    }
    assert_int_equal(opt_reply(f, 3, &len), 1);
    uint16_t flags;
    assert_int_equal(go(f, "disk", &flags), SIZE);
    request(f, 0, 2, 1, 0, 0);
    assert_int_equal(finish(f), 0);
}

/* NBD_OPT_EXPORT_NAME: the old way in; an unknown name just closes. */
static void test_export_name(void **state)
{
    struct fx *f = *state;

    greet(f, 3);
    option(f, 1, "disk", 4);
    assert_int_equal(recv64(f), SIZE);
    recv16(f);   /* flags; NO_ZEROES: no padding */
    request(f, 0, 2, 1, 0, 0);
    assert_int_equal(finish(f), 0);
}

static void test_export_name_unknown_closes(void **state)
{
    struct fx *f = *state;

    greet(f, 3);
    option(f, 1, "zzz", 3);
    assert_int_equal(finish(f), -ENOENT);
}

/* An unexported device: requests on a live connection get ESHUTDOWN. */
static void test_unexport_shuts_down(void **state)
{
    struct fx *f = *state;

    uint8_t h[28], r[16];

    connect_go(f, "disk");
    nbd_server_unexport(f->s, "disk");
    /* The export's connections are shut down: a request after that is
     * answered ESHUTDOWN (108) if it got in first, else the stream is
     * closed; it never reads the disk. */
    put32(h, 0x25609513u);
    put16(h + 4, 0);
    put16(h + 6, 0);                            /* NBD_CMD_READ */
    memset(h + 8, 0, 16);
    put32(h + 24, 512);
    if (send_all(f->sv[0], h, sizeof(h), 2000) == 0 && recv_all(f->sv[0], r, sizeof(r), 2000) == 0) {
        uint32_t err;
        memcpy(&err, r + 4, 4);
        assert_int_equal(be32toh(err), 108);
    }
    shutdown(f->sv[0], SHUT_RDWR);
    finish(f);
}

/* Export names are checked; duplicates refused. */
static void test_export_table(void **state)
{
    struct fx *f = *state;

    assert_int_equal(nbd_server_export(f->s, "disk", f->fd, SIZE, false), -EEXIST);
    assert_int_equal(nbd_server_export(f->s, "", f->fd, SIZE, false), -EINVAL);
    uint32_t len;
    greet(f, 3);
    option(f, 2, NULL, 0);   /* NBD_OPT_ABORT: acknowledged, a clean end */
    assert_int_equal(opt_reply(f, 2, &len), 1);
    assert_int_equal(finish(f), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_requests_get_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readonly_export_refuses_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_huge_write_closes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_request_magic_closes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_request, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_client_flags_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_fixed_newstyle_closes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_option_magic_closes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_huge_option_closes, setup, teardown),
        cmocka_unit_test(test_slow_handshake_closes),
        cmocka_unit_test_setup_teardown(test_option_errors_then_go, setup, teardown),
        cmocka_unit_test_setup_teardown(test_export_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_export_name_unknown_closes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unexport_shuts_down, setup, teardown),
        cmocka_unit_test_setup_teardown(test_export_table, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
