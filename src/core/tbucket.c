/* SPDX-License-Identifier: Apache-2.0 */
#include "core/tbucket.h"
#include "core/opts.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NS_PER_S 1000000000ull
#define NS_PER_MS 1000000ull
/* Keeps tat far from overflow: a debt longer than this is clamped (a 2 GiB
 * request at 1 byte/s would otherwise owe 68 years). */
#define COST_NS_MAX (NS_PER_S * 3600ull * 24ull * 365ull)

const char *const tb_kind_names[TB_KINDS] = {
    "iops", "iops-read", "iops-write", "bps", "bps-read", "bps-write",
};

void tb_limits_init(struct tb_limits *l)
{
    memset(l, 0, sizeof(*l));
    l->burst_ms = TB_BURST_MS_DEFAULT;
}

bool tb_limits_any(const struct tb_limits *l)
{
    for (unsigned k = 0; k < TB_KINDS; k++)
        if (l->rate[k])
            return true;
    return false;
}

/* "1", "0.5", "2.25", "0.001": seconds to ms. */
static int parse_seconds_ms(const char *s, uint64_t *ms)
{
    const char *dot = strchr(s, '.');
    char whole[24];
    uint64_t w, f = 0;
    size_t wl = dot ? (size_t)(dot - s) : strlen(s);
    int r;

    if (wl == 0 || wl >= sizeof(whole))
        return -EINVAL;
    memcpy(whole, s, wl);
    whole[wl] = 0;
    r = parse_uint(whole, 0, TB_BURST_MS_MAX / 1000, &w);
    if (r < 0)
        return r;
    if (dot) {
        size_t fl = strlen(dot + 1);
        if (fl == 0 || fl > 3)
            return -EINVAL;
        r = parse_uint(dot + 1, 0, 999, &f);
        if (r < 0)
            return r;
        for (; fl < 3; fl++)
            f *= 10;
    }
    *ms = w * 1000 + f;
    return *ms >= 1 && *ms <= TB_BURST_MS_MAX ? 0 : -ERANGE;
}

int tb_limits_from_opts(struct opts *o, struct tb_limits *l, unsigned *given, const char **bad)
{
    struct tb_limits n = *l;
    unsigned cnt = 0;
    const char *v;
    int r;

    for (unsigned k = 0; k < TB_KINDS; k++) {
        v = opts_get(o, tb_kind_names[k]);
        if (!v)
            continue;
        cnt++;
        if (k >= TB_BPS)
            r = *v ? parse_size(v, &n.rate[k]) : -EINVAL;
        else
            r = parse_uint(v, 0, UINT32_MAX, &n.rate[k]);
        if (r < 0) {
            if (bad)
                *bad = tb_kind_names[k];
            return r;
        }
    }
    v = opts_get(o, "burst");
    if (v) {
        cnt++;
        r = parse_seconds_ms(v, &n.burst_ms);
        if (r < 0) {
            if (bad)
                *bad = "burst";
            return r;
        }
    }
    *l = n;
    if (given)
        *given = cnt;
    return 0;
}

/* ---- the buckets -------------------------------------------------------- */

static uint64_t max_u64(uint64_t a, uint64_t b)
{
    return a > b ? a : b;
}

/* Time @units take to refill at @rate a second. */
static uint64_t cost_ns(uint64_t units, uint64_t rate)
{
    unsigned __int128 c = (unsigned __int128)units * NS_PER_S / rate;
    return c > COST_NS_MAX ? COST_NS_MAX : (uint64_t)c;
}

static bool kind_applies(unsigned k, bool write)
{
    return k == TB_IOPS || k == TB_BPS ||
           k == (write ? TB_IOPS_WRITE : TB_IOPS_READ) ||
           k == (write ? TB_BPS_WRITE : TB_BPS_READ);
}

void tb_init(struct tb_state *s, const struct tb_limits *l, uint64_t now)
{
    s->lim = *l;
    if (s->lim.burst_ms == 0)
        s->lim.burst_ms = TB_BURST_MS_DEFAULT;
    for (unsigned k = 0; k < TB_KINDS; k++)
        s->tat[k] = now;
    s->last_ns = now;
}

/* The clock went backwards: keep each bucket's debt (tat beyond the
 * latest time seen) and count no time as passed. */
static void clock_seen(struct tb_state *s, uint64_t now)
{
    if (now < s->last_ns) {
        for (unsigned k = 0; k < TB_KINDS; k++)
            s->tat[k] = now + (s->tat[k] > s->last_ns ? s->tat[k] - s->last_ns : 0);
    }
    s->last_ns = now;
}

void tb_change(struct tb_state *s, const struct tb_limits *l, uint64_t now)
{
    struct tb_limits old = s->lim;
    __int128 old_burst = (__int128)old.burst_ms * NS_PER_MS, burst;

    clock_seen(s, now);
    s->lim = *l;
    if (s->lim.burst_ms == 0)
        s->lim.burst_ms = TB_BURST_MS_DEFAULT;
    burst = (__int128)s->lim.burst_ms * NS_PER_MS;
    for (unsigned k = 0; k < TB_KINDS; k++) {
        __int128 debt, held, nd;

        if (!old.rate[k] || !s->lim.rate[k]) {
            s->tat[k] = now;               /* starts full */
            continue;
        }
        /* Tokens held (times 1e9; below zero after a large request) at the
         * old rate and size, then as time at the new rate, capped to the
         * new size. */
        debt = s->tat[k] > now ? (__int128)(s->tat[k] - now) : 0;
        held = (old_burst - debt) * (__int128)old.rate[k];
        nd = burst - held / (__int128)s->lim.rate[k];
        if (nd < 0)
            nd = 0;
        if (nd > (__int128)COST_NS_MAX)
            nd = COST_NS_MAX;
        s->tat[k] = now + (uint64_t)nd;
    }
}

uint64_t tb_take(struct tb_state *s, uint64_t now, bool write, uint64_t bytes)
{
    uint64_t burst = s->lim.burst_ms * NS_PER_MS, wait = 0;
    uint64_t cost[TB_KINDS];

    clock_seen(s, now);
    for (unsigned k = 0; k < TB_KINDS; k++) {
        uint64_t base, need;

        if (!s->lim.rate[k] || !kind_applies(k, write))
            continue;
        cost[k] = cost_ns(k >= TB_BPS ? bytes : 1, s->lim.rate[k]);
        base = max_u64(s->tat[k], now);
        /* Admitted when the bucket holds the cost (or is full, for a cost
         * larger than the bucket): base + min(cost, burst) <= now + burst. */
        need = base + (cost[k] < burst ? cost[k] : burst);
        if (need > now + burst)
            wait = max_u64(wait, need - now - burst);
    }
    if (wait)
        return wait;
    for (unsigned k = 0; k < TB_KINDS; k++)
        if (s->lim.rate[k] && kind_applies(k, write))
            s->tat[k] = max_u64(s->tat[k], now) + cost[k];
    return 0;
}

/* ---- the limiter ------------------------------------------------------ */

int tb_limiter_create(const struct tb_limits *l, bool shared, struct tb_limiter **out)
{
    struct tb_limiter *t = calloc(1, sizeof(*t));

    if (!t)
        return -ENOMEM;
    pthread_mutex_init(&t->lock, NULL);
    t->shared = shared;
    t->next = *l;
    t->active = tb_limits_any(l);
    tb_init(&t->st, l, 0);   /* the first take sees a forward jump: full */
    *out = t;
    return 0;
}

void tb_limiter_destroy(struct tb_limiter *t)
{
    if (!t)
        return;
    pthread_mutex_destroy(&t->lock);
    free(t);
}

void tb_limiter_set(struct tb_limiter *t, const struct tb_limits *l)
{
    pthread_mutex_lock(&t->lock);
    t->next = *l;
    __atomic_store_n(&t->active, tb_limits_any(l), __ATOMIC_RELAXED);
    __atomic_add_fetch(&t->gen, 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&t->lock);
}

void tb_limiter_get(struct tb_limiter *t, struct tb_limits *out)
{
    pthread_mutex_lock(&t->lock);
    *out = t->next;
    pthread_mutex_unlock(&t->lock);
}

uint64_t tb_limiter_take(struct tb_limiter *t, uint64_t now, bool write, uint64_t bytes)
{
    unsigned gen;
    uint64_t w;

    if (t->shared)
        pthread_mutex_lock(&t->lock);
    gen = __atomic_load_n(&t->gen, __ATOMIC_ACQUIRE);
    if (gen != t->seen) {
        if (!t->shared)
            pthread_mutex_lock(&t->lock);
        tb_change(&t->st, &t->next, now);
        t->seen = gen;
        if (!t->shared)
            pthread_mutex_unlock(&t->lock);
    }
    w = tb_take(&t->st, now, write, bytes);
    if (t->shared)
        pthread_mutex_unlock(&t->lock);
    return w;
}
