/* SPDX-License-Identifier: Apache-2.0 */
/* storage/pool.c: names, sizes, "POOL/VOL" specs, error text (core/err.h:
 * the reason in the caller's struct sl_err), and the checks pool.c makes
 * for every driver, on a dir pool in a temporary directory. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>

#include "storage/pool.h"

static void test_names_ok(void **state)
{
    static const char *const good[] = { "tank", "vm-100-disk-0", "a", "disk0.raw", "x_y+z",
        "0abc", "A.B-C", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_int_equal(pool_check_name(good[i], NULL), 0);
}

static void test_names_bad(void **state)
{
    static const char *const bad[] = { "", "-x", ".hidden", "a b", "a/b", "é", "a:b", "a@b",
        "snapshot1", "pvmove0", "x_tmeta", "x_tdata", "pool_tpool", "a_rimage_1", "x_pmspare",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "a\nb" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct sl_err err = ERR_INIT;
        assert_int_equal(pool_check_name(bad[i], &err), -EINVAL);
        assert_true(err_isset(&err));
        assert_non_null(strstr(err.msg, "invalid name"));
    }
    assert_int_equal(pool_check_name(NULL, NULL), -EINVAL);
}

static void test_sizes(void **state)
{
    uint64_t x;

    assert_int_equal(pool_parse_size("512M", &x, NULL), 0);
    assert_int_equal(x, 512ull << 20);
    assert_int_equal(pool_parse_size("20G", &x, NULL), 0);
    assert_int_equal(x, 20ull << 30);
    assert_int_equal(pool_parse_size("1T", &x, NULL), 0);
    assert_int_equal(x, 1ull << 40);
    assert_int_equal(pool_parse_size("1t", &x, NULL), 0);
    assert_int_equal(x, 1ull << 40);
    assert_int_equal(pool_parse_size("4GiB", &x, NULL), 0);
    assert_int_equal(x, 4ull << 30);
    assert_int_equal(pool_parse_size("1000", &x, NULL), 0);
    assert_int_equal(x, 1024);       /* rounded up to 512 */
    assert_int_equal(pool_parse_size("1P", &x, NULL), 0);
    assert_int_equal(x, 1ull << 50);
}

static void test_sizes_bad(void **state)
{
    uint64_t x = 7;

    assert_int_equal(pool_parse_size("0", &x, NULL), -EINVAL);
    assert_int_equal(pool_parse_size("", &x, NULL), -EINVAL);
    assert_int_equal(pool_parse_size("-1G", &x, NULL), -EINVAL);
    assert_int_equal(pool_parse_size("12X", &x, NULL), -EINVAL);
    assert_int_equal(pool_parse_size("1.5G", &x, NULL), -EINVAL);
    assert_int_equal(pool_parse_size("G", &x, NULL), -EINVAL);
    assert_int_equal(pool_parse_size("10 G", &x, NULL), -EINVAL);
    struct sl_err err = ERR_INIT;
    assert_int_equal(pool_parse_size(NULL, &x, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "invalid size"));
    assert_int_equal(pool_parse_size("2P", &x, NULL), -ERANGE);
    assert_int_equal(pool_parse_size("99999999999999999999", &x, NULL), -ERANGE);
    assert_int_equal(pool_parse_size("17179869184G", &x, NULL), -ERANGE);
    assert_int_equal(x, 7);
}

static void test_spec(void **state)
{
    char p[POOL_NAME_MAX + 1], v[POOL_NAME_MAX + 1];

    assert_int_equal(pool_parse_spec("tank/disk0", p, v, NULL), 0);
    assert_string_equal(p, "tank");
    assert_string_equal(v, "disk0");
    assert_int_equal(pool_parse_spec("tank", p, v, NULL), -EINVAL);
    assert_int_equal(pool_parse_spec("/disk0", p, v, NULL), -EINVAL);
    assert_int_equal(pool_parse_spec("tank/", p, v, NULL), -EINVAL);
    assert_int_equal(pool_parse_spec("a/b/c", p, v, NULL), -EINVAL);
    assert_int_equal(pool_parse_spec("tank/bad name", p, v, NULL), -EINVAL);
    assert_int_equal(pool_parse_spec("-t/disk", p, v, NULL), -EINVAL);
    assert_int_equal(pool_parse_spec(NULL, p, v, NULL), -EINVAL);
}

static void test_types_and_errors(void **state)
{
    assert_int_equal(pool_type_parse("lvm-thin"), POOL_TYPE_LVM_THIN);
    assert_int_equal(pool_type_parse("dir"), POOL_TYPE_DIR);
    assert_int_equal(pool_type_parse("lvm"), POOL_TYPE_NONE);
    assert_int_equal(pool_type_parse("rbd"), POOL_TYPE_RBD);
    assert_string_equal(pool_type_name(POOL_TYPE_DIR), "dir");
    assert_string_equal(pool_type_name(POOL_TYPE_RBD), "rbd");
    assert_non_null(strstr(pool_strerror(-ETIMEDOUT), "Ceph"));
    assert_string_equal(pool_strerror(-EEXIST), "name taken");
    assert_string_equal(pool_strerror(-ENOSPC), "pool out of space");
    assert_non_null(strstr(pool_strerror(-ENODEV), "dir pool"));
    assert_non_null(strstr(pool_strerror(-EBUSY), "in use"));
}

/* rbd pools: the Ceph pool name and cephx id are checked before any
 * cluster is contacted. */
static void test_rbd_names(void **state)
{
    struct sl_err err = ERR_INIT;
    char longname[POOL_RBD_POOL_MAX + 2];

    assert_int_equal(pool_rbd_check("rbd", NULL, NULL), 0);
    assert_int_equal(pool_rbd_check("vm-pool_1.x", "sluice", NULL), 0);
    assert_int_equal(pool_rbd_check("", NULL, NULL), -EINVAL);
    assert_int_equal(pool_rbd_check(NULL, NULL, NULL), -EINVAL);
    assert_int_equal(pool_rbd_check("a/b", NULL, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "Ceph pool"));
    assert_int_equal(pool_rbd_check("a@b", NULL, NULL), -EINVAL);
    assert_int_equal(pool_rbd_check("a:b", NULL, NULL), -EINVAL);
    assert_int_equal(pool_rbd_check("a b", NULL, NULL), -EINVAL);
    memset(longname, 'p', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    assert_int_equal(pool_rbd_check(longname, NULL, NULL), -EINVAL);
    longname[POOL_RBD_POOL_MAX] = '\0';
    assert_int_equal(pool_rbd_check(longname, NULL, NULL), 0);
    err_clear(&err);
    assert_int_equal(pool_rbd_check("rbd", "client.x y", &err), -EINVAL);
    assert_non_null(strstr(err.msg, "Ceph id"));
    assert_int_equal(pool_rbd_check("rbd", "", NULL), -EINVAL);
}

/* Each call's reason lands in the struct its caller passed (once a
 * thread-local, overwritten by the next failure), NULL is accepted, and a
 * call that succeeds leaves the caller's struct alone. */
static void test_err_per_call(void **state)
{
    struct sl_err e1 = ERR_INIT, e2 = ERR_INIT, e3 = ERR_INIT;
    char p[POOL_NAME_MAX + 1], v[POOL_NAME_MAX + 1];
    uint64_t x;

    (void)state;
    assert_int_equal(pool_check_name("", &e1), -EINVAL);
    assert_int_equal(pool_parse_size("12X", &x, &e2), -EINVAL);
    assert_int_equal(pool_parse_spec("a/b/c", p, v, &e3), -EINVAL);
    assert_string_equal(e1.msg, "invalid name: empty");
    assert_string_equal(e2.msg, "invalid size '12X' (examples: 512M, 20G, 1T)");
    assert_string_equal(e3.msg, "invalid volume 'a/b/c': expected POOL/VOL");
    assert_int_equal(pool_check_name("ok", &e1), 0);
    assert_string_equal(e1.msg, "invalid name: empty");
    assert_string_equal(err_msg(NULL, -EINVAL), "Invalid argument");
}

/* What pool.c checks before any driver runs, and pool_destroy()'s "not
 * empty" and "in use" (one place for every driver), on a dir pool. */
static void test_dir_pool_checks(void **state)
{
    char tmp[] = "/tmp/sluice-test-pool-XXXXXX", dir[64], state_dir[64], path[96];
    struct pool_create_params cp = { .type = POOL_TYPE_DIR };
    struct sl_err err = ERR_INIT;
    struct vol_info vi;
    struct pool *pool;
    int fd;

    (void)state;
    assert_non_null(mkdtemp(tmp));
    snprintf(dir, sizeof(dir), "%s/p", tmp);
    snprintf(state_dir, sizeof(state_dir), "%s/state", tmp);
    setenv("SLUICE_STATE_DIR", state_dir, 1);
    cp.name = "t1";
    cp.path = dir;
    assert_int_equal(pool_create(&cp, &pool, &err), 0);
    assert_int_equal(pool_vol_create(pool, "v", 1 << 20, &err), 0);

    assert_int_equal(pool_vol_create(pool, "v", 1 << 20, &err), -EEXIST);
    assert_string_equal(err.msg, "volume 'v' exists");
    assert_int_equal(pool_vol_info(pool, "nosuch", &vi, &err), -ENOENT);
    assert_string_equal(err.msg, "unknown volume");
    assert_int_equal(pool_vol_snapshot(pool, "v", "s", NULL, NULL, &err), 0);
    assert_int_equal(pool_vol_resize(pool, "s", 2 << 20, false, &err), -EROFS);
    assert_non_null(strstr(err.msg, "read-only (a snapshot of v)"));
    assert_int_equal(pool_vol_clone(pool, "v", "s", NULL, NULL, &err), -EEXIST);
    assert_int_equal(pool_vol_rename(pool, "v", "bad name", &err), -EINVAL);
    assert_non_null(strstr(err.msg, "invalid name"));

    assert_int_equal(pool_destroy(pool, false, &err), -ENOTEMPTY);
    assert_string_equal(err.msg, "pool holds 2 volumes (use --force to delete them too)");
    /* sluiced's claim on v: in use, for rename, delete and destroy alike. */
    snprintf(path, sizeof(path), "%s/v.raw", dir);
    fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pool_volume_claim(fd), 0);
    assert_int_equal(pool_vol_delete(pool, "v", false, &err), -EBUSY);
    assert_int_equal(pool_vol_rename(pool, "v", "w", &err), -EBUSY);
    assert_non_null(strstr(err.msg, "volume in use (sluiced serves it"));
    assert_int_equal(pool_destroy(pool, true, &err), -EBUSY);
    assert_string_equal(err.msg, "volume 'v' is in use");
    assert_int_equal(access(path, F_OK), 0);          /* nothing was removed */
    close(fd);
    assert_int_equal(pool_destroy(pool, true, &err), 0);
    pool_close(pool);
    assert_int_equal(pool_open("t1", &pool, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "unknown pool"));
    rmdir(dir);
    snprintf(path, sizeof(path), "%s/pools", state_dir);
    rmdir(path);
    rmdir(state_dir);
    rmdir(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_ok),
        cmocka_unit_test(test_names_bad),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_sizes_bad),
        cmocka_unit_test(test_spec),
        cmocka_unit_test(test_types_and_errors),
        cmocka_unit_test(test_rbd_names),
        cmocka_unit_test(test_err_per_call),
        cmocka_unit_test(test_dir_pool_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
