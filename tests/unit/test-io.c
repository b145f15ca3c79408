/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for src/core/io.c: send_all/recv_all on socketpairs (blocking
 * and non-blocking, a full buffer, a closed peer, a deadline) and the clock. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "core/io.h"

#define BIG (4u << 20)   /* far more than a socket buffer */

struct reader {
    int fd;
    uint8_t *buf;
    int r;
};

static void *read_big(void *arg)
{
    struct reader *rd = arg;
    usleep(20000);
    rd->r = recv_all(rd->fd, rd->buf, BIG, 5000);
    return NULL;
}

static void test_big_nonblocking(void **state)
{
    int sv[2];
    uint8_t *out = malloc(BIG), *in = calloc(1, BIG);
    struct reader rd;
    pthread_t t;
    (void)state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    for (size_t i = 0; i < BIG; i++)
        out[i] = (uint8_t)(i * 7 + 3);
    rd = (struct reader){ sv[1], in, 1 };
    assert_int_equal(pthread_create(&t, NULL, read_big, &rd), 0);
    assert_int_equal(send_all(sv[0], out, BIG, 5000), 0);
    pthread_join(t, NULL);
    assert_int_equal(rd.r, 0);
    assert_memory_equal(in, out, BIG);
    close(sv[0]);
    close(sv[1]);
    free(out);
    free(in);
}

static void test_timeouts_and_eof(void **state)
{
    int sv[2];
    uint8_t *out = malloc(BIG), b[8];
    int64_t t0;
    (void)state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    memset(out, 1, BIG);
    /* Nobody reads: the send gives up at its deadline. */
    t0 = now_ms();
    assert_int_equal(send_all(sv[0], out, BIG, 100), -ETIMEDOUT);
    assert_true(now_ms() - t0 >= 100 && now_ms() - t0 < 2000);
    /* Nothing to read: so does the receive. */
    assert_int_equal(recv_all(sv[0], b, sizeof(b), 50), -ETIMEDOUT);
    /* A short stream, then the end: -ECONNRESET. */
    close(sv[0]);
    close(sv[1]);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(send_all(sv[0], "abc", 3, -1), 0);
    shutdown(sv[0], SHUT_WR);
    assert_int_equal(recv_all(sv[1], b, sizeof(b), 1000), -ECONNRESET);
    /* A closed peer: -EPIPE, no SIGPIPE. */
    close(sv[1]);
    assert_int_equal(send_all(sv[0], "abc", 3, -1), -EPIPE);
    close(sv[0]);
    free(out);
}

static void test_clock(void **state)
{
    uint64_t a = now_ns();
    int64_t m = now_ms();
    (void)state;
    usleep(10000);
    assert_true(now_ns() - a >= 10000000u);
    assert_true(now_ms() - m >= 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_big_nonblocking),
        cmocka_unit_test(test_timeouts_and_eof),
        cmocka_unit_test(test_clock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
