/* SPDX-License-Identifier: Apache-2.0 */
/* core/name.h: the one name checker, with the rules of each noun (pools and
 * volumes, interfaces) as the tree uses them. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/name.h"

static const struct name_rules lvm_like = {
    .max = 8, .extra = "_.+-", .not_first = "-.",
    .allowed_text = "letters, digits, _ . + -",
};
static const struct name_rules ifname_like = {
    .max = 15, .forbidden = "/:", .no_dot_dirs = true,
};

/* Checks @name against @rules: the return value and the message. */
static void expect(const struct name_rules *rules, const char *name, int r, const char *msg)
{
    struct sl_err err = ERR_INIT;

    assert_int_equal(name_check(name, rules, &err), r);
    assert_string_equal(err.msg, msg);
    assert_int_equal(name_check(name, rules, NULL), r);   /* err is NULL-able */
}

static void test_letters_and_extra(void **state)
{
    (void)state;
    expect(&lvm_like, "a", 0, "");
    expect(&lvm_like, "Tank_0.+-", -ENAMETOOLONG, "invalid name: longer than 8 characters");
    expect(&lvm_like, "Tk_0.+-9", 0, "");                                 /* 8 bytes */
    expect(&lvm_like, "", -EINVAL, "invalid name: empty");
    expect(&lvm_like, NULL, -EINVAL, "invalid name: empty");
    expect(&lvm_like, "-a", -EINVAL, "invalid name: must not start with '-'");
    expect(&lvm_like, ".", -EINVAL, "invalid name: must not start with '.'");
    expect(&lvm_like, "a-", 0, "");                                       /* later is fine */
    expect(&lvm_like, "a b", -EINVAL, "invalid name: character ' ' (allowed: letters, digits, _ . + -)");
    expect(&lvm_like, "a/b@", -EINVAL, "invalid name: character '/' (allowed: letters, digits, _ . + -)");
    expect(&lvm_like, "\xc3\xa9", -EINVAL,
           "invalid name: character '\xc3' (allowed: letters, digits, _ . + -)");
}

static void test_printable_minus_forbidden(void **state)
{
    (void)state;
    expect(&ifname_like, "br0", 0, "");
    expect(&ifname_like, "a@b~c!", 0, "");                         /* any printable */
    expect(&ifname_like, "0123456789abcde", 0, "");                /* 15 bytes */
    expect(&ifname_like, "0123456789abcdef", -ENAMETOOLONG, "invalid name: longer than 15 characters");
    expect(&ifname_like, ".", -EINVAL, "invalid name: '.' is reserved");
    expect(&ifname_like, "..", -EINVAL, "invalid name: '..' is reserved");
    expect(&ifname_like, ".a", 0, "");
    expect(&ifname_like, "a/b", -EINVAL, "invalid name: character '/'");
    expect(&ifname_like, "a:1", -EINVAL, "invalid name: character ':'");
    expect(&ifname_like, "a b", -EINVAL, "invalid name: character ' '");
    expect(&ifname_like, "a\tb", -EINVAL, "invalid name: character '\t'");
    expect(&ifname_like, "a\x7f", -EINVAL, "invalid name: character '\x7f'");
    /* The order of the checks: length before characters. */
    expect(&ifname_like, "a/bcdefghijklmnop", -ENAMETOOLONG, "invalid name: longer than 15 characters");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_letters_and_extra),
        cmocka_unit_test(test_printable_minus_forbidden),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
