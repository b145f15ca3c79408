/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for src/core/tbucket.c: token buckets against a fake clock. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <setjmp.h>
#include <cmocka.h>

#include "core/opts.h"
#include "core/tbucket.h"

#define MS 1000000ull
#define S  1000000000ull
#define T0 (100000 * S)      /* a clock far from zero */

static struct tb_limits lim(unsigned kind, uint64_t rate, uint64_t burst_ms)
{
    struct tb_limits l;

    tb_limits_init(&l);
    l.rate[kind] = rate;
    if (burst_ms)
        l.burst_ms = burst_ms;
    return l;
}

/* Admit requests back to back at @now + the waits tb_take() asks for, over
 * @span ns from a full bucket; returns how many got in. */
static uint64_t run_for(struct tb_state *s, uint64_t *now, uint64_t span, bool write, uint64_t bytes)
{
    uint64_t end = *now + span, n = 0;

    for (;;) {
        uint64_t w = tb_take(s, *now, write, bytes);
        if (w) {
            if (*now + w >= end)
                break;
            *now += w;
            continue;
        }
        n++;
    }
    *now = end;
    return n;
}

static void test_burst_then_rate(void **state)
{
    struct tb_limits l = lim(TB_IOPS, 100, 0);   /* burst 1 s: 100 requests */
    struct tb_state s;
    uint64_t now = T0;

    (void)state;
    tb_init(&s, &l, now);
    for (unsigned i = 0; i < 100; i++)
        assert_int_equal(tb_take(&s, now, false, 4096), 0);
    /* Empty: the next one needs 1/100 s. */
    assert_int_equal(tb_take(&s, now, false, 4096), 10 * MS);
    assert_int_equal(tb_take(&s, now + 10 * MS - 1, false, 4096), 1);
    assert_int_equal(tb_take(&s, now + 10 * MS, false, 4096), 0);
    /* Steady state: 10 s bring 1000 more, not a burst's worth extra. */
    now += 20 * MS;
    assert_int_equal(run_for(&s, &now, 10 * S, true, 0), 1000);
}

static void test_refill_after_idle(void **state)
{
    struct tb_limits l = lim(TB_BPS, 2 << 20, 1000);   /* 2 MiB/s, 1 s burst */
    struct tb_state s;
    uint64_t now = T0;

    (void)state;
    tb_init(&s, &l, now);
    assert_int_equal(tb_take(&s, now, true, 2 << 20), 0);
    assert_int_equal(tb_take(&s, now, true, 1 << 20), S / 2);
    /* Half a second: 1 MiB back. */
    now += S / 2;
    assert_int_equal(tb_take(&s, now, true, 1 << 20), 0);
    assert_true(tb_take(&s, now, true, 1) > 0);
    /* A long idle time refills the bucket only to its size. */
    now += 3600 * S;
    assert_int_equal(tb_take(&s, now, true, 2 << 20), 0);
    assert_true(tb_take(&s, now, true, 512) > 0);
    /* Reads and writes share bps; read bytes are not limited by bps-write. */
    l = lim(TB_BPS_WRITE, 1 << 20, 1000);
    tb_init(&s, &l, now);
    assert_int_equal(tb_take(&s, now, true, 1 << 20), 0);
    assert_true(tb_take(&s, now, true, 4096) > 0);
    assert_int_equal(tb_take(&s, now, false, 64 << 20), 0);
}

static void test_large_request_debt(void **state)
{
    /* 1 MiB writes against 256 KiB/s with a 1 s burst: each waits for a
     * full bucket and leaves a debt, so the rate holds. */
    struct tb_limits l = lim(TB_BPS, 256 << 10, 1000);
    struct tb_state s;
    uint64_t now = T0;

    (void)state;
    tb_init(&s, &l, now);
    assert_int_equal(tb_take(&s, now, true, 1 << 20), 0);
    /* 768 KiB below zero: 4 s until full again. */
    assert_int_equal(tb_take(&s, now, true, 1 << 20), 4 * S);
    /* A zero-byte request (flush) also waits while the bucket is below
     * zero, 3 s. */
    assert_int_equal(tb_take(&s, now + 2 * S, true, 0), S);
    assert_int_equal(tb_take(&s, now + 3 * S, true, 0), 0);
    now += 4 * S;
    /* 40 s at 256 KiB/s: 10 MiB, one request of slack for the first. */
    assert_int_equal(run_for(&s, &now, 40 * S, true, 1 << 20), 10);
}

static void test_iops_kinds(void **state)
{
    struct tb_limits l;
    struct tb_state s;
    uint64_t now = T0;

    (void)state;
    tb_limits_init(&l);
    l.rate[TB_IOPS_READ] = 10;
    l.rate[TB_IOPS] = 15;
    tb_init(&s, &l, now);
    for (unsigned i = 0; i < 10; i++)
        assert_int_equal(tb_take(&s, now, false, 0), 0);
    assert_true(tb_take(&s, now, false, 0) > 0);      /* read limit */
    for (unsigned i = 0; i < 5; i++)
        assert_int_equal(tb_take(&s, now, true, 0), 0);
    assert_true(tb_take(&s, now, true, 0) > 0);       /* total limit */
    /* A refused request takes nothing: total still empty, not below. */
    assert_int_equal(tb_take(&s, now + S / 15, true, 0), 0);
}

static void test_live_change(void **state)
{
    struct tb_limits l = lim(TB_IOPS, 100, 0), l2;
    struct tb_state s;
    uint64_t now = T0;

    (void)state;
    tb_init(&s, &l, now);
    for (unsigned i = 0; i < 100; i++)
        assert_int_equal(tb_take(&s, now, true, 0), 0);
    /* Empty at 100/s; at 1000/s the next one is due after 1 ms, not 10. */
    l2 = lim(TB_IOPS, 1000, 0);
    tb_change(&s, &l2, now);
    assert_int_equal(tb_take(&s, now, true, 0), MS);
    now += 5 * S;
    assert_int_equal(run_for(&s, &now, S, true, 0), 1000 + 999);   /* full, then 1 a ms */
    /* Down to 10/s: a full 1000-token bucket is capped to 10 tokens. */
    l = lim(TB_IOPS, 10, 0);
    now += 5 * S;
    tb_change(&s, &l, now);
    assert_int_equal(run_for(&s, &now, S - 1, true, 0), 10 + 9);
    /* A bigger rate keeps the tokens held: 10 of 100, not a full bucket. */
    now += 10 * S;
    l2 = lim(TB_IOPS, 100, 0);
    tb_change(&s, &l2, now);
    assert_int_equal(run_for(&s, &now, 1, true, 0), 10);
    /* Full after a second; half empty, then 50 tokens at 200/s too. */
    now += S;
    for (unsigned i = 0; i < 50; i++)
        assert_int_equal(tb_take(&s, now, true, 0), 0);
    l2 = lim(TB_IOPS, 200, 0);
    tb_change(&s, &l2, now);
    assert_int_equal(run_for(&s, &now, 1, true, 0), 50);
    /* Removing a limit admits everything; setting it again starts full. */
    l2 = lim(TB_BPS, 1 << 20, 0);
    tb_change(&s, &l2, now);
    assert_int_equal(tb_take(&s, now, true, 1 << 20), 0);
    assert_true(tb_take(&s, now, true, 1 << 20) > 0);
    tb_limits_init(&l2);
    tb_change(&s, &l2, now);
    assert_int_equal(tb_take(&s, now, true, 1 << 30), 0);
    /* A longer burst keeps the tokens held, it does not fill the bucket. */
    l2 = lim(TB_IOPS, 10, 1000);
    tb_change(&s, &l2, now);
    assert_int_equal(run_for(&s, &now, 1, true, 0), 10);
    l2 = lim(TB_IOPS, 10, 10000);
    tb_change(&s, &l2, now);
    assert_true(tb_take(&s, now, true, 0) > 0);
}

static void test_clock_jumps(void **state)
{
    struct tb_limits l = lim(TB_IOPS, 10, 0);
    struct tb_state s;
    uint64_t now = T0;

    (void)state;
    tb_init(&s, &l, now);
    for (unsigned i = 0; i < 12; i++)
        tb_take(&s, now + i * 10 * MS, true, 0);
    /* 10 taken at once, then one more after 100 ms: due at +200 ms. */
    assert_int_equal(tb_take(&s, now + 110 * MS, true, 0), 90 * MS);
    /* Backwards by an hour: still 90 ms to wait, not an hour and more. */
    now -= 3600 * S;
    assert_int_equal(tb_take(&s, now, true, 0), 90 * MS);
    assert_int_equal(tb_take(&s, now + 90 * MS, true, 0), 0);
    /* Forwards by a day: a full bucket, no more. */
    now += 24 * 3600 * S;
    assert_int_equal(run_for(&s, &now, 1, true, 0), 10);
    /* Back to a clock near zero (a fresh limiter's first take). */
    tb_init(&s, &l, 0);
    assert_int_equal(tb_take(&s, 5, true, 0), 0);
}

/* A group: two devices taking from one limiter share its rate. */
static void test_group_shares(void **state)
{
    struct tb_limits l = lim(TB_BPS, 2 << 20, 1000);
    struct tb_limiter *g;
    uint64_t now = T0, got[2] = { 0, 0 }, next[2] = { T0, T0 };
    uint64_t end = T0 + 10 * S;

    (void)state;
    assert_int_equal(tb_limiter_create(&l, true, &g), 0);
    /* Each device submits 64 KiB writes whenever the bucket lets it. */
    while (now < end) {
        for (unsigned i = 0; i < 2; i++) {
            unsigned d = (unsigned)((now / MS + i) % 2);   /* who asks first */
            if (next[d] > now)
                continue;
            uint64_t w = tb_limiter_take(g, now, true, 64 << 10);
            if (w)
                next[d] = now + w;
            else
                got[d] += 64 << 10;
        }
        now += MS;
    }
    /* 10 s at 2 MiB/s plus the 2 MiB burst, split between the two. */
    assert_true(got[0] + got[1] >= 21 * (1 << 20) && got[0] + got[1] <= 22 * (1 << 20) + (64 << 10));
    assert_true(got[0] > 8 << 20 && got[1] > 8 << 20);
    /* A live change through the limiter reaches the taker. */
    l.rate[TB_BPS] = 1 << 30;
    tb_limiter_set(g, &l);
    assert_true(tb_limiter_active(g));
    /* The group's bucket was empty: 512 MiB at 1 GiB/s is half a second. */
    uint64_t w = tb_limiter_take(g, now, true, 512 << 20);
    assert_true(w > 0 && w <= S / 2);
    assert_int_equal(tb_limiter_take(g, now + w, true, 512 << 20), 0);
    tb_limits_init(&l);
    tb_limiter_set(g, &l);
    assert_false(tb_limiter_active(g));
    tb_limiter_destroy(g);
}

static void test_parse(void **state)
{
    struct tb_limits l;
    struct opts o;
    const char *bad = NULL;
    unsigned n = 0;

    (void)state;
    tb_limits_init(&l);
    assert_int_equal(opts_parse("iops=100,bps-write=20M,burst=0.5,path=/x", &o, NULL), 0);
    assert_int_equal(tb_limits_from_opts(&o, &l, &n, &bad), 0);
    assert_int_equal(n, 3);
    assert_int_equal(l.rate[TB_IOPS], 100);
    assert_int_equal(l.rate[TB_BPS_WRITE], 20 << 20);
    assert_int_equal(l.burst_ms, 500);
    assert_string_equal(opts_unused(&o), "path");
    opts_free(&o);
    /* Bad values name their key and change nothing. */
    static const struct { const char *s, *key; } bads[] = {
        { "iops=-1", "iops" }, { "iops=1x", "iops" }, { "bps=12Q", "bps" },
        { "bps-read=", "bps-read" }, { "burst=0", "burst" }, { "burst=1.2345", "burst" },
        { "burst=3601", "burst" }, { "burst=.5", "burst" }, { "iops-write=99999999999", "iops-write" },
    };
    for (unsigned i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
        struct tb_limits before = l;
        assert_int_equal(opts_parse(bads[i].s, &o, NULL), 0);
        assert_true(tb_limits_from_opts(&o, &l, NULL, &bad) < 0);
        assert_string_equal(bad, bads[i].key);
        assert_memory_equal(&before, &l, sizeof(l));
        opts_free(&o);
    }
    /* 0 removes one limit. */
    assert_int_equal(opts_parse("iops=0,burst=2", &o, NULL), 0);
    assert_int_equal(tb_limits_from_opts(&o, &l, NULL, NULL), 0);
    assert_int_equal(l.rate[TB_IOPS], 0);
    assert_int_equal(l.rate[TB_BPS_WRITE], 20 << 20);
    assert_int_equal(l.burst_ms, 2000);
    opts_free(&o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_then_rate),
        cmocka_unit_test(test_refill_after_idle),
        cmocka_unit_test(test_large_request_debt),
        cmocka_unit_test(test_iops_kinds),
        cmocka_unit_test(test_live_change),
        cmocka_unit_test(test_clock_jumps),
        cmocka_unit_test(test_group_shares),
        cmocka_unit_test(test_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
