/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for src/core/err.c: the tree's one error-detail convention. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <setjmp.h>
#include <cmocka.h>

#include "core/err.h"

static void test_set_returns_code(void **state)
{
    struct sl_err err = ERR_INIT;
    (void)state;
    assert_false(err_isset(&err));
    assert_int_equal(err_set(&err, -EINVAL, "bad size '%s'", "1x"), -EINVAL);
    assert_true(err_isset(&err));
    assert_string_equal(err_msg(&err, -EINVAL), "bad size '1x'");
    err_clear(&err);
    assert_false(err_isset(&err));
}

static void test_null_is_allowed(void **state)
{
    (void)state;
    assert_int_equal(err_set(NULL, -ENOENT, "x"), -ENOENT);
    assert_int_equal(err_wrap(NULL, -ENOENT, "y"), -ENOENT);
    assert_string_equal(err_msg(NULL, -ENOENT), strerror(ENOENT));
    assert_false(err_isset(NULL));
}

static void test_wrap(void **state)
{
    struct sl_err err = ERR_INIT;
    (void)state;
    /* No inner message: the reason is strerror. */
    err_wrap(&err, -ENOSPC, "pool %s", "p9");
    assert_string_equal(err.msg, "pool p9: No space left on device");
    err_clear(&err);
    err_set(&err, -EIO, "lvcreate: Insufficient free space");
    assert_int_equal(err_wrap(&err, -EIO, "volume %s", "v"), -EIO);
    assert_string_equal(err_msg(&err, -EIO), "volume v: lvcreate: Insufficient free space");
}

static void test_truncates(void **state)
{
    struct sl_err err = ERR_INIT;
    char big[600];
    (void)state;
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    err_set(&err, -EINVAL, "%s", big);
    assert_int_equal(strlen(err.msg), ERR_MSG_MAX - 1);
    err_wrap(&err, -EINVAL, "ctx");
    assert_int_equal(strlen(err.msg), ERR_MSG_MAX - 1);
    assert_memory_equal(err.msg, "ctx: aaa", 8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_returns_code),
        cmocka_unit_test(test_null_is_allowed),
        cmocka_unit_test(test_wrap),
        cmocka_unit_test(test_truncates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
