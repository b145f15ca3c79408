/* SPDX-License-Identifier: Apache-2.0 */
/* storage/pool.c: names, sizes, "POOL/VOL" specs, error text. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "storage/pool.h"

static void test_names_ok(void **state)
{
    static const char *const good[] = { "tank", "vm-100-disk-0", "a", "disk0.raw", "x_y+z",
        "0abc", "A.B-C", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_int_equal(pool_check_name(good[i]), 0);
}

static void test_names_bad(void **state)
{
    static const char *const bad[] = { "", "-x", ".hidden", "a b", "a/b", "é", "a:b", "a@b",
        "snapshot1", "pvmove0", "x_tmeta", "x_tdata", "pool_tpool", "a_rimage_1", "x_pmspare",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "a\nb" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(pool_check_name(bad[i]), -EINVAL);
        assert_non_null(pool_error_detail());
        assert_non_null(strstr(pool_error_detail(), "invalid name"));
    }
    assert_int_equal(pool_check_name(NULL), -EINVAL);
}

static void test_sizes(void **state)
{
    uint64_t x;

    assert_int_equal(pool_parse_size("512M", &x), 0);
    assert_int_equal(x, 512ull << 20);
    assert_int_equal(pool_parse_size("20G", &x), 0);
    assert_int_equal(x, 20ull << 30);
    assert_int_equal(pool_parse_size("1T", &x), 0);
    assert_int_equal(x, 1ull << 40);
    assert_int_equal(pool_parse_size("1t", &x), 0);
    assert_int_equal(x, 1ull << 40);
    assert_int_equal(pool_parse_size("4GiB", &x), 0);
    assert_int_equal(x, 4ull << 30);
    assert_int_equal(pool_parse_size("1000", &x), 0);
    assert_int_equal(x, 1024);       /* rounded up to 512 */
    assert_int_equal(pool_parse_size("1P", &x), 0);
    assert_int_equal(x, 1ull << 50);
}

static void test_sizes_bad(void **state)
{
    uint64_t x = 7;

    assert_int_equal(pool_parse_size("0", &x), -EINVAL);
    assert_int_equal(pool_parse_size("", &x), -EINVAL);
    assert_int_equal(pool_parse_size("-1G", &x), -EINVAL);
    assert_int_equal(pool_parse_size("12X", &x), -EINVAL);
    assert_int_equal(pool_parse_size("1.5G", &x), -EINVAL);
    assert_int_equal(pool_parse_size("G", &x), -EINVAL);
    assert_int_equal(pool_parse_size("10 G", &x), -EINVAL);
    assert_int_equal(pool_parse_size(NULL, &x), -EINVAL);
    assert_non_null(strstr(pool_error_detail(), "invalid size"));
    assert_int_equal(pool_parse_size("2P", &x), -ERANGE);
    assert_int_equal(pool_parse_size("99999999999999999999", &x), -ERANGE);
    assert_int_equal(pool_parse_size("17179869184G", &x), -ERANGE);
    assert_int_equal(x, 7);
}

static void test_spec(void **state)
{
    char p[POOL_NAME_MAX + 1], v[POOL_NAME_MAX + 1];

    assert_int_equal(pool_parse_spec("tank/disk0", p, v), 0);
    assert_string_equal(p, "tank");
    assert_string_equal(v, "disk0");
    assert_int_equal(pool_parse_spec("tank", p, v), -EINVAL);
    assert_int_equal(pool_parse_spec("/disk0", p, v), -EINVAL);
    assert_int_equal(pool_parse_spec("tank/", p, v), -EINVAL);
    assert_int_equal(pool_parse_spec("a/b/c", p, v), -EINVAL);
    assert_int_equal(pool_parse_spec("tank/bad name", p, v), -EINVAL);
    assert_int_equal(pool_parse_spec("-t/disk", p, v), -EINVAL);
    assert_int_equal(pool_parse_spec(NULL, p, v), -EINVAL);
}

static void test_types_and_errors(void **state)
{
    assert_int_equal(pool_type_parse("lvm-thin"), POOL_TYPE_LVM_THIN);
    assert_int_equal(pool_type_parse("dir"), POOL_TYPE_DIR);
    assert_int_equal(pool_type_parse("lvm"), POOL_TYPE_NONE);
    assert_string_equal(pool_type_name(POOL_TYPE_DIR), "dir");
    assert_string_equal(pool_strerror(-EEXIST), "name taken");
    assert_string_equal(pool_strerror(-ENOSPC), "pool out of space");
    assert_non_null(strstr(pool_strerror(-ENODEV), "dir pool"));
    assert_non_null(strstr(pool_strerror(-EBUSY), "in use"));
    pool_set_detail("x %d", 1);
    assert_string_equal(pool_error_detail(), "x 1");
    pool_clear_detail();
    assert_null(pool_error_detail());
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
