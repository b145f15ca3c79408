/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for src/core/mac.c: the one MAC rule of sluiced, sluice-vmm
 * and net/ (xx:xx:xx:xx:xx:xx, either case, unicast, not zero). */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <setjmp.h>
#include <cmocka.h>

#include "core/mac.h"

static void test_valid(void **state)
{
    static const uint8_t want[6] = { 0x52, 0x54, 0x00, 0xab, 0xcd, 0xef };
    uint8_t m[6];
    (void)state;
    assert_int_equal(mac_parse("52:54:00:ab:cd:ef", m, NULL), 0);
    assert_memory_equal(m, want, 6);
    memset(m, 0, sizeof(m));
    assert_int_equal(mac_parse("52:54:00:AB:Cd:eF", m, NULL), 0);
    assert_memory_equal(m, want, 6);
    assert_int_equal(mac_parse("02:00:00:00:00:01", m, NULL), 0);
}

static void test_bad_form(void **state)
{
    static const char *const bad[] = {
        "", "zz", "52:54:00:12:34", "52:54:00:12:34:56:", "52:54:00:12:34:56:78",
        "52:54:0:12:34:56", "5:54:00:12:34:56", "52-54-00-12-34-56", "525400123456",
        "52:54:00:12:34:5g", " 52:54:00:12:34:56", "52:54:00:12:34:56 ", "52:54:00:12:34:567",
        "152:54:00:12:34:56", "0x52:54:00:12:34:56", "+2:54:00:12:34:56",
    };
    uint8_t m[6] = { 9, 9, 9, 9, 9, 9 };
    struct sl_err err = ERR_INIT;
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err_clear(&err);
        assert_int_equal(mac_parse(bad[i], m, &err), -EINVAL);
        assert_string_equal(err.msg, "must look like 52:54:00:12:34:56");
    }
    assert_int_equal(mac_parse(NULL, m, NULL), -EINVAL);
    for (int i = 0; i < 6; i++)
        assert_int_equal(m[i], 9);     /* untouched on failure */
}

static void test_multicast_and_zero(void **state)
{
    uint8_t m[6];
    struct sl_err err = ERR_INIT;
    (void)state;
    assert_int_equal(mac_parse("01:00:5e:00:00:01", m, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "multicast"));
    assert_null(strchr(err.msg, '\n'));
    assert_int_equal(mac_parse("FF:FF:FF:FF:FF:FF", m, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "multicast"));
    assert_int_equal(mac_parse("00:00:00:00:00:00", m, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "zero"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_bad_form),
        cmocka_unit_test(test_multicast_and_zero),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
