/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for src/core/opts.c: option strings and sizes. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <cmocka.h>

#include "core/opts.h"

static void test_parse_basic(void **state)
{
    struct opts o;
    const char *bad = NULL;

    (void)state;
    assert_int_equal(opts_parse("socket=/run/a.sock,path=/x,readonly", &o, &bad), 0);
    assert_int_equal(o.n, 3);
    assert_string_equal(o.kv[0].key, "socket");
    assert_string_equal(o.kv[0].value, "/run/a.sock");
    assert_string_equal(o.kv[1].key, "path");
    assert_string_equal(o.kv[1].value, "/x");
    assert_string_equal(o.kv[2].key, "readonly");
    assert_null(o.kv[2].value);
    /* Lookups: value, "" for a bare flag, NULL when absent. */
    assert_string_equal(opts_get(&o, "path"), "/x");
    assert_string_equal(opts_get(&o, "readonly"), "");
    assert_null(opts_get(&o, "serial"));
    assert_null(opts_get(&o, "Path"));   /* keys are case-sensitive */
    opts_free(&o);
    assert_null(o.buf);
    assert_int_equal(o.n, 0);
}

static void test_parse_escapes_and_edges(void **state)
{
    struct opts o;

    (void)state;
    /* ",," inside a value is a literal comma. */
    assert_int_equal(opts_parse("path=a,,b,,,ro", &o, NULL), 0);
    assert_int_equal(o.n, 2);
    assert_string_equal(opts_get(&o, "path"), "a,b,");
    assert_string_equal(opts_get(&o, "ro"), "");
    opts_free(&o);

    /* Only the first '=' splits. */
    assert_int_equal(opts_parse("k=a=b", &o, NULL), 0);
    assert_string_equal(opts_get(&o, "k"), "a=b");
    opts_free(&o);

    /* Empty value is a value, not a flag. */
    assert_int_equal(opts_parse("k=", &o, NULL), 0);
    assert_non_null(o.kv[0].value);
    assert_string_equal(opts_get(&o, "k"), "");
    opts_free(&o);

    /* A trailing comma ends the last item; empty and NULL input are empty lists. */
    assert_int_equal(opts_parse("a=1,", &o, NULL), 0);
    assert_int_equal(o.n, 1);
    opts_free(&o);
    assert_int_equal(opts_parse("", &o, NULL), 0);
    assert_int_equal(o.n, 0);
    assert_null(opts_unused(&o));
    opts_free(&o);
    assert_int_equal(opts_parse(NULL, &o, NULL), 0);
    assert_int_equal(o.n, 0);
    opts_free(&o);
}

static void test_parse_errors(void **state)
{
    static const char *const inval[] = {
        "=x", ",a", "a=1,=2", "a,a", "a=1,b=2,a=3", "x,,y",
    };
    struct opts o;
    const char *bad;
    char many[256];

    (void)state;
    for (size_t i = 0; i < sizeof(inval) / sizeof(inval[0]); i++) {
        bad = NULL;
        assert_int_equal(opts_parse(inval[i], &o, &bad), -EINVAL);
        assert_non_null(bad);
        assert_null(o.buf);   /* freed on error */
    }
    bad = NULL;
    assert_int_equal(opts_parse("a,a", &o, &bad), -EINVAL);
    assert_string_equal(bad, "option given twice");
    assert_int_equal(opts_parse("=v", &o, &bad), -EINVAL);
    assert_string_equal(bad, "empty option name");

    /* OPTS_MAX items are fine, one more is -E2BIG. */
    many[0] = '\0';
    for (int i = 0; i < OPTS_MAX; i++)
        snprintf(many + strlen(many), sizeof(many) - strlen(many), "%sk%d=%d", i ? "," : "", i, i);
    assert_int_equal(opts_parse(many, &o, NULL), 0);
    assert_int_equal(o.n, OPTS_MAX);
    assert_string_equal(opts_get(&o, "k15"), "15");
    opts_free(&o);
    strcat(many, ",extra");
    bad = NULL;
    assert_int_equal(opts_parse(many, &o, &bad), -E2BIG);
    assert_string_equal(bad, "too many options");
}

static void test_unused(void **state)
{
    struct opts o;
    bool b;
    uint64_t u = 0;

    (void)state;
    assert_int_equal(opts_parse("socket=s,path=p,readonly,queues=2,bogus=1", &o, NULL), 0);
    assert_string_equal(opts_unused(&o), "socket");
    opts_get(&o, "socket");
    assert_string_equal(opts_unused(&o), "path");
    opts_get(&o, "path");
    assert_int_equal(opts_get_bool(&o, "readonly", &b), 0);
    assert_int_equal(opts_get_uint(&o, "queues", 1, 64, &u), 0);
    /* Looking up an absent key marks nothing. */
    assert_null(opts_get(&o, "serial"));
    assert_string_equal(opts_unused(&o), "bogus");
    opts_get(&o, "bogus");
    assert_null(opts_unused(&o));
    opts_free(&o);
}

/* opts_equal(): the same items in any order; a bare flag is not "=on";
 * the skipped key may differ or be missing on one side. */
static void test_equal(void **state)
{
    static const struct {
        const char *a, *b;
        bool same;
    } cases[] = {
        { "socket=s,path=p", "path=p,socket=s", true },
        { "socket=s,path=p,readonly", "readonly,socket=s,path=p", true },
        { "socket=s,path=p,id=x", "socket=s,path=p", true },       /* id skipped */
        { "socket=s,path=p,id=x", "id=y,socket=s,path=p", true },
        { "socket=s,path=p", "socket=s,path=q", false },
        { "socket=s,path=p", "socket=s,path=p,readonly", false },
        { "socket=s,path=p,readonly", "socket=s,path=p,readonly=on", false },
        { "socket=s,serial=", "socket=s,serial", false },
        { "socket=a,,b", "socket=a,,b", true },
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct opts a, b;
        assert_int_equal(opts_parse(cases[i].a, &a, NULL), 0);
        assert_int_equal(opts_parse(cases[i].b, &b, NULL), 0);
        if (opts_equal(&a, &b, "id") != cases[i].same || opts_equal(&b, &a, "id") != cases[i].same)
            fail_msg("'%s' vs '%s': expected %s", cases[i].a, cases[i].b, cases[i].same ? "equal" : "different");
        opts_free(&a);
        opts_free(&b);
    }
    /* Without a skipped key, id counts too. */
    struct opts a, b;
    assert_int_equal(opts_parse("socket=s,id=x", &a, NULL), 0);
    assert_int_equal(opts_parse("socket=s", &b, NULL), 0);
    assert_false(opts_equal(&a, &b, NULL));
    assert_true(opts_equal(&a, &a, NULL));
    opts_free(&a);
    opts_free(&b);
}

/* opts_merge(): same-named keys replaced in place, new ones at the end,
 * a ',' in a value doubled so that the result parses back. */
static void test_merge(void **state)
{
    static const struct {
        const char *base, *changes, *want;
    } cases[] = {
        { "socket=s,null=1M,iops=100", "iops=50,bps=1M", "socket=s,null=1M,iops=50,bps=1M" },
        { "socket=s,readonly", "iops=0", "socket=s,readonly,iops=0" },
        { "socket=a,,b,iops=1", "burst=0.5", "socket=a,,b,iops=1,burst=0.5" },
        { "", "rx-rate=1M", "rx-rate=1M" },
        { "socket=s", "", "socket=s" },
        { "socket=s,serial=", "serial=x,,y", "socket=s,serial=x,,y" },
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct opts b, c, m, w;
        char *out = (char *)"unset";
        assert_int_equal(opts_parse(cases[i].base, &b, NULL), 0);
        assert_int_equal(opts_parse(cases[i].changes, &c, NULL), 0);
        assert_int_equal(opts_merge(&b, &c, &out), 0);
        assert_string_equal(out, cases[i].want);
        assert_int_equal(opts_parse(out, &m, NULL), 0);
        assert_int_equal(opts_parse(cases[i].want, &w, NULL), 0);
        assert_true(opts_equal(&m, &w, NULL));
        free(out);
        opts_free(&b);
        opts_free(&c);
        opts_free(&m);
        opts_free(&w);
    }
    /* More than OPTS_MAX items together: refused, nothing returned. */
    char big[OPTS_MAX * 8] = "", more[] = "x=1,y=2";
    for (unsigned i = 0; i < OPTS_MAX - 1; i++)
        snprintf(big + strlen(big), sizeof(big) - strlen(big), "%sk%u=1", i ? "," : "", i);
    struct opts b, c;
    char *out = (char *)"unset";
    assert_int_equal(opts_parse(big, &b, NULL), 0);
    assert_int_equal(opts_parse(more, &c, NULL), 0);
    assert_int_equal(opts_merge(&b, &c, &out), -E2BIG);
    assert_null(out);
    opts_free(&b);
    opts_free(&c);
}

static void test_get_bool(void **state)
{
    static const char *const yes[] = { "on", "yes", "true", "1", "ON", "Yes", "TRUE" };
    static const char *const no[] = { "off", "no", "false", "0", "OFF", "No", "False" };
    static const char *const inval[] = { "2", "maybe", "onn", "o", " 1", "01" };
    struct opts o;
    char buf[64];
    bool b;

    (void)state;
    assert_int_equal(opts_parse("flag", &o, NULL), 0);
    b = false;
    assert_int_equal(opts_get_bool(&o, "flag", &b), 0);
    assert_true(b);
    b = true;
    assert_int_equal(opts_get_bool(&o, "absent", &b), 0);
    assert_false(b);
    opts_free(&o);

    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        snprintf(buf, sizeof(buf), "f=%s", yes[i]);
        assert_int_equal(opts_parse(buf, &o, NULL), 0);
        b = false;
        assert_int_equal(opts_get_bool(&o, "f", &b), 0);
        assert_true(b);
        opts_free(&o);
    }
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        snprintf(buf, sizeof(buf), "f=%s", no[i]);
        assert_int_equal(opts_parse(buf, &o, NULL), 0);
        b = true;
        assert_int_equal(opts_get_bool(&o, "f", &b), 0);
        assert_false(b);
        opts_free(&o);
    }
    for (size_t i = 0; i < sizeof(inval) / sizeof(inval[0]); i++) {
        snprintf(buf, sizeof(buf), "f=%s", inval[i]);
        assert_int_equal(opts_parse(buf, &o, NULL), 0);
        assert_int_equal(opts_get_bool(&o, "f", &b), -EINVAL);
        opts_free(&o);
    }
}

static void test_get_uint(void **state)
{
    struct opts o;
    uint64_t u;

    (void)state;
    assert_int_equal(opts_parse("q=12,z=0,big=18446744073709551615,over=18446744073709551616,"
                                "neg=-1,plus=+5,sp= 5,tail=12x,empty=,flag,hex=0x10", &o, NULL), 0);
    u = 7;
    assert_int_equal(opts_get_uint(&o, "absent", 0, 100, &u), 0);
    assert_int_equal(u, 7);   /* unchanged */
    assert_int_equal(opts_get_uint(&o, "q", 1, 64, &u), 0);
    assert_int_equal(u, 12);
    assert_int_equal(opts_get_uint(&o, "q", 12, 12, &u), 0);   /* inclusive bounds */
    assert_int_equal(opts_get_uint(&o, "q", 13, 64, &u), -ERANGE);
    assert_int_equal(opts_get_uint(&o, "q", 1, 11, &u), -ERANGE);
    assert_int_equal(opts_get_uint(&o, "z", 1, 64, &u), -ERANGE);
    assert_int_equal(opts_get_uint(&o, "z", 0, 64, &u), 0);
    assert_int_equal(u, 0);
    assert_int_equal(opts_get_uint(&o, "big", 0, UINT64_MAX, &u), 0);
    assert_true(u == UINT64_MAX);
    u = 3;
    assert_int_equal(opts_get_uint(&o, "over", 0, UINT64_MAX, &u), -ERANGE);
    assert_int_equal(opts_get_uint(&o, "neg", 0, UINT64_MAX, &u), -EINVAL);
    assert_int_equal(opts_get_uint(&o, "plus", 0, UINT64_MAX, &u), -EINVAL);
    assert_int_equal(opts_get_uint(&o, "sp", 0, UINT64_MAX, &u), -EINVAL);
    assert_int_equal(opts_get_uint(&o, "tail", 0, UINT64_MAX, &u), -EINVAL);
    assert_int_equal(opts_get_uint(&o, "empty", 0, UINT64_MAX, &u), -EINVAL);
    assert_int_equal(opts_get_uint(&o, "flag", 0, UINT64_MAX, &u), -EINVAL);
    assert_int_equal(opts_get_uint(&o, "hex", 0, UINT64_MAX, &u), -EINVAL);
    assert_int_equal(u, 3);   /* no failure wrote it */
    opts_free(&o);
}

struct size_case {
    const char *s;
    uint64_t v;
};

/* The one integer parser (CLI options, tools): digits only, inclusive
 * bounds, *out untouched on error. */
static void test_parse_uint(void **state)
{
    static const char *const bad[] = { "", "x", "-1", "+1", " 1", "1 ", "1x", "0x10", "1.5", "1k" };
    uint64_t u = 7;

    (void)state;
    assert_int_equal(parse_uint("0", 0, 10, &u), 0);
    assert_int_equal(u, 0);
    assert_int_equal(parse_uint("10", 0, 10, &u), 0);
    assert_int_equal(u, 10);
    assert_int_equal(parse_uint("007", 0, 10, &u), 0);
    assert_int_equal(u, 7);
    assert_int_equal(parse_uint("18446744073709551615", 0, UINT64_MAX, &u), 0);
    assert_true(u == UINT64_MAX);
    u = 5;
    assert_int_equal(parse_uint("18446744073709551616", 0, UINT64_MAX, &u), -ERANGE);
    assert_int_equal(parse_uint("11", 0, 10, &u), -ERANGE);
    assert_int_equal(parse_uint("0", 1, 10, &u), -ERANGE);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (parse_uint(bad[i], 0, UINT64_MAX, &u) != -EINVAL)
            fail_msg("'%s' accepted", bad[i]);
    assert_int_equal(parse_uint(NULL, 0, 10, &u), -EINVAL);
    assert_int_equal(u, 5);
}

static void test_parse_size_ok(void **state)
{
    const struct size_case ok[] = {
        { "0", 0 },
        { "512", 512 },
        { "1B", 1 },
        { "1b", 1 },
        { "4k", 4096 },
        { "4K", 4096 },
        { "1KB", 1024 },
        { "1KiB", 1024 },
        { "512M", 512ull << 20 },
        { "512m", 512ull << 20 },
        { "20G", 20ull << 30 },
        { "1T", 1ull << 40 },
        { "1GiB", 1ull << 30 },
        { "1gib", 1ull << 30 },
        { "1GIB", 1ull << 30 },
        { "3GB", 3ull << 30 },
        { "2P", 2ull << 50 },
        { "0G", 0 },
        { "007M", 7ull << 20 },
        { "18446744073709551615", UINT64_MAX },
        { "16383P", 16383ull << 50 },
        { "17179869183G", 17179869183ull << 30 },
    };
    uint64_t v;

    (void)state;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        v = 12345;
        if (parse_size(ok[i].s, &v) != 0)
            fail_msg("parse_size(\"%s\") failed", ok[i].s);
        if (v != ok[i].v)
            fail_msg("parse_size(\"%s\") = %llu, want %llu", ok[i].s,
                     (unsigned long long)v, (unsigned long long)ok[i].v);
    }
}

static void test_parse_rate(void **state)
{
    const struct size_case ok[] = {
        { "0", 0 }, { "1500000", 1500000 }, { "100M", 100000000 }, { "100m", 100000000 },
        { "100mbit", 100000000 }, { "100MBIT", 100000000 }, { "20k", 20000 },
        { "2G", 2000000000ull }, { "3T", 3000000000000ull }, { "64bit", 64 },
        { "18446744T", 18446744000000000000ull }, { "18446744073709551615", UINT64_MAX },
    };
    static const char *const inval[] = {
        "", "M", "-1", "+1", " 1", "1 ", "1.5M", "1MM", "1Mb", "1Mbps", "1P", "1KiB", "0x10", "1bitx",
    };
    uint64_t v;

    (void)state;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        v = 12345;
        if (parse_rate(ok[i].s, &v) != 0 || v != ok[i].v)
            fail_msg("parse_rate(\"%s\") = %llu, want %llu", ok[i].s,
                     (unsigned long long)v, (unsigned long long)ok[i].v);
    }
    for (size_t i = 0; i < sizeof(inval) / sizeof(inval[0]); i++) {
        v = 7;
        if (parse_rate(inval[i], &v) != -EINVAL || v != 7)
            fail_msg("parse_rate(\"%s\") accepted", inval[i]);
    }
    assert_int_equal(parse_rate(NULL, &v), -EINVAL);
    assert_int_equal(parse_rate("18446745T", &v), -ERANGE);
    assert_int_equal(parse_rate("99999999999999999999999", &v), -ERANGE);
}

static void test_parse_size_bad(void **state)
{
    static const char *const inval[] = {
        "", "M", "G1", "-1", "+1", " 1", "1 ", "1 G", "1.5G", "1GG", "1Gi", "1iB", "1E",
        "1Q", "1GiBx", "1KBB", "0x10", "1BB", "12a", "K1",
    };
    static const char *const range[] = {
        "18446744073709551616",     /* 2^64 */
        "99999999999999999999999",
        "16384P",                   /* 2^64 bytes */
        "17179869184G",             /* 2^64 bytes */
        "16777216T",                /* 2^64 bytes */
        "18014398509481984K",       /* 2^64 bytes */
    };
    uint64_t v;

    (void)state;
    assert_int_equal(parse_size(NULL, &v), -EINVAL);
    for (size_t i = 0; i < sizeof(inval) / sizeof(inval[0]); i++) {
        v = 42;
        if (parse_size(inval[i], &v) != -EINVAL)
            fail_msg("parse_size(\"%s\") did not fail with -EINVAL", inval[i]);
        assert_int_equal(v, 42);
    }
    for (size_t i = 0; i < sizeof(range) / sizeof(range[0]); i++) {
        v = 42;
        if (parse_size(range[i], &v) != -ERANGE)
            fail_msg("parse_size(\"%s\") did not fail with -ERANGE", range[i]);
        assert_int_equal(v, 42);
    }
}

static void test_format_size(void **state)
{
    const struct { uint64_t v; const char *s; } cases[] = {
        { 0, "0" },
        { 1, "1" },
        { 512, "512" },
        { 1023, "1023" },
        { 1024, "1K" },
        { 1536, "1536" },
        { 3072, "3K" },
        { 512ull << 20, "512M" },
        { (512ull << 20) + 1024, "524289K" },
        { 20ull << 30, "20G" },
        { 1ull << 40, "1T" },
        { 1ull << 50, "1P" },
        { 1ull << 60, "1024P" },   /* P is the largest unit */
        { UINT64_MAX, "18446744073709551615" },
    };
    char buf[32];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        format_size(cases[i].v, buf, sizeof(buf));
        assert_string_equal(buf, cases[i].s);
    }
    /* Truncates safely. */
    memset(buf, 'x', sizeof(buf));
    format_size(20ull << 30, buf, 3);
    assert_string_equal(buf, "20");
    assert_int_equal(buf[3], 'x');
}

static void test_size_round_trip(void **state)
{
    const uint64_t vals[] = {
        0, 1, 511, 512, 4096, 65536, 1ull << 20, 3ull << 30, (1ull << 40) + 4096,
        7ull << 50, UINT64_MAX, UINT64_MAX - 1023,
    };
    char buf[32];
    uint64_t v;

    (void)state;
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        format_size(vals[i], buf, sizeof(buf));
        assert_int_equal(parse_size(buf, &v), 0);
        assert_true(v == vals[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_basic),
        cmocka_unit_test(test_parse_escapes_and_edges),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_unused),
        cmocka_unit_test(test_equal),
        cmocka_unit_test(test_get_bool),
        cmocka_unit_test(test_get_uint),
        cmocka_unit_test(test_parse_uint),
        cmocka_unit_test(test_parse_size_ok),
        cmocka_unit_test(test_parse_size_bad),
        cmocka_unit_test(test_parse_rate),
        cmocka_unit_test(test_format_size),
        cmocka_unit_test(test_merge),
        cmocka_unit_test(test_size_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
