/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for src/sluiced/rbd-ops.c without a cluster: the rbd= and
 * pool-target parsers, and opening against a monitor nobody answers for
 * (the open gives up after client_mount_timeout with one line, through the
 * opener thread) or with a conf that cannot be read. The I/O path is the
 * integration test blk-qemu-rbd's (a real one-node cluster). */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "core/io.h"
#include "core/util.h"
#include "rbd-ops.h"

static void test_parse_name(void **state)
{
    char pool[128], image[128], big[300];
    (void)state;

    assert_int_equal(rbd_parse_name("rbd/disk", pool, image), 0);
    assert_string_equal(pool, "rbd");
    assert_string_equal(image, "disk");
    static const char *const bad[] = { "", "rbd", "/disk", "rbd/", "rbd/a/b", "rbd/disk@snap", "a@b/c" };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        assert_int_equal(rbd_parse_name(bad[i], pool, image), -EINVAL);
    memset(big, 'p', sizeof(big));
    big[128] = '/';
    big[129] = 'i';
    big[130] = 0;
    assert_int_equal(rbd_parse_name(big, pool, image), -EINVAL);   /* pool of 128 bytes */
}

static void test_parse_target(void **state)
{
    struct rbd_disk_spec s;
    char buf[256];
    (void)state;

    assert_int_equal(rbd_parse_target("rbd:rbd/v1", buf, sizeof(buf), &s), 0);
    assert_string_equal(s.pool, "rbd");
    assert_string_equal(s.image, "v1");
    assert_null(s.snap);
    assert_null(s.conf);
    assert_null(s.id);
    assert_int_equal(rbd_parse_target("rbd:p/v1@s1:conf=/etc/ceph/c.conf:id=lab", buf, sizeof(buf), &s), 0);
    assert_string_equal(s.pool, "p");
    assert_string_equal(s.image, "v1");
    assert_string_equal(s.snap, "s1");
    assert_string_equal(s.conf, "/etc/ceph/c.conf");
    assert_string_equal(s.id, "lab");
    assert_int_equal(rbd_parse_target("rbd:p/v1:id=lab", buf, sizeof(buf), &s), 0);
    assert_string_equal(s.id, "lab");
    assert_null(s.conf);
    assert_int_equal(rbd_parse_target("/dev/vg/lv", buf, sizeof(buf), &s), -ENOENT);
    static const char *const bad[] = { "rbd:", "rbd:p", "rbd:p/", "rbd:/v", "rbd:p/a/b", "rbd:p/v@",
                                       "rbd:p/v:conf=", "rbd:p/v:id=", "rbd:p/v:x=1" };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        assert_int_equal(rbd_parse_target(bad[i], buf, sizeof(buf), &s), -EINVAL);
    assert_int_equal(rbd_parse_target("rbd:p/v1:conf=/a/long/path", buf, 8, &s), -EINVAL);
}

static char conf[64];

static int write_conf(const char *extra)
{
    FILE *f;
    int fd;

    snprintf(conf, sizeof(conf), "/tmp/test-rbd-ops.XXXXXX");
    fd = mkstemp(conf);
    if (fd < 0 || !(f = fdopen(fd, "w")))
        return -1;
    /* A monitor address nobody listens on (port 9, discard), no cephx. */
    fprintf(f, "[global]\nmon host = [v2:127.0.0.1:9]\nauth client required = none\n"
               "log file = /dev/null\n%s", extra);
    fclose(f);
    return 0;
}

static void test_open_unreachable_times_out(void **state)
{
    struct rbd_disk_spec spec = { .pool = "rbd", .image = "disk", .conf = conf };
    struct sl_err err = ERR_INIT;
    struct rbd_disk *d = NULL;
    struct evloop *el;
    int64_t t0;
    (void)state;

    assert_int_equal(write_conf("client mount timeout = 1\n"), 0);
    assert_int_equal(evloop_create(&el), 0);
    t0 = now_ms();
    int r = rbd_disk_open(&spec, el, NULL, NULL, &d, &err);
    int64_t took = now_ms() - t0;
    unlink(conf);
    assert_int_equal(r, -ETIMEDOUT);
    assert_null(d);
    /* The conf's timeout, not librados's 300 s nor our 10 s default. */
    assert_true(took >= 900 && took < 5000);
    assert_non_null(strstr(err.msg, "timed out"));
    assert_null(strchr(err.msg, '\n'));
    evloop_destroy(el);
}

static void test_open_bad_conf(void **state)
{
    struct rbd_disk_spec spec = { .pool = "rbd", .image = "disk", .conf = "/nonexistent/ceph.conf" };
    struct sl_err err = ERR_INIT;
    struct rbd_disk *d = NULL;
    struct evloop *el;
    (void)state;

    assert_int_equal(evloop_create(&el), 0);
    assert_int_equal(rbd_disk_open(&spec, el, NULL, NULL, &d, &err), -ENOENT);
    assert_null(d);
    assert_string_equal(err.msg, "ceph: cannot read /nonexistent/ceph.conf: No such file or directory");
    evloop_destroy(el);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_name),
        cmocka_unit_test(test_parse_target),
        cmocka_unit_test(test_open_unreachable_times_out),
        cmocka_unit_test(test_open_bad_conf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
