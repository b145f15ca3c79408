/* SPDX-License-Identifier: Apache-2.0 */
/* Token buckets for I/O limits (QEMU throttle groups, libvirt <iotune>,
 * Firecracker rate limiters).
 *
 * A bucket holds up to rate * burst tokens and gains rate tokens a second;
 * a request takes its cost from it. The state is kept as a time (GCRA):
 * tat is when the bucket will be full again, so refilling costs nothing and
 * a clock value is the only input. A request costing more than the bucket
 * holds (a 1 MiB write against bps=512K) waits for a full bucket and drives
 * it below zero: over time the rate is exact, whatever the request sizes.
 *
 * tb_state and its functions are pure (no clock read, no lock): a unit test
 * drives them with a fake clock. struct tb_limiter wraps one state for the
 * datapath: limits set from any thread, taken on the worker(s). */
#ifndef SLUICE_CORE_TBUCKET_H
#define SLUICE_CORE_TBUCKET_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct opts;

/* The limits, each per second; rate 0: no limit of that kind. */
enum tb_kind {
    TB_IOPS,        /* requests, read or write */
    TB_IOPS_READ,
    TB_IOPS_WRITE,
    TB_BPS,         /* bytes, read or written */
    TB_BPS_READ,
    TB_BPS_WRITE,
    TB_KINDS
};

#define TB_BURST_MS_DEFAULT 1000u
#define TB_BURST_MS_MAX     3600000u

struct tb_limits {
    uint64_t rate[TB_KINDS];
    uint64_t burst_ms;      /* how long a full bucket lasts at the rate; >= 1 */
};

/* Option names, in enum order: "iops", "iops-read", ... "bps-write". */
extern const char *const tb_kind_names[TB_KINDS];

struct tb_state {
    struct tb_limits lim;
    uint64_t tat[TB_KINDS];  /* ns: when that bucket is full again */
    uint64_t last_ns;        /* the latest clock value seen */
};

/* No limit at all, burst the default. */
void tb_limits_init(struct tb_limits *l);
/* True when any rate is set. */
bool tb_limits_any(const struct tb_limits *l);

/* Read the limit keys of @o ("iops", "iops-read", "iops-write" as integers,
 * "bps", "bps-read", "bps-write" as sizes, "burst" as seconds with up to
 * three decimals, 0.001 to 3600; a rate of 0 removes that limit) into @l,
 * leaving the limits not named as they are. *given (NULL-able) counts the
 * keys found. Returns 0, or -EINVAL / -ERANGE with *bad (NULL-able) naming
 * the key; @l is then unchanged. */
int tb_limits_from_opts(struct opts *o, struct tb_limits *l, unsigned *given, const char **bad);

/* Start with full buckets at @now. */
void tb_init(struct tb_state *s, const struct tb_limits *l, uint64_t now);
/* New limits at @now: each bucket keeps the tokens it has (a debt stays a
 * debt), capped to the new size; a bucket that had no limit starts full. */
void tb_change(struct tb_state *s, const struct tb_limits *l, uint64_t now);
/* A request (@write, @bytes of data: 0 for a flush, discard or write-zeroes)
 * at @now. Returns 0 when admitted (its cost is taken), or how many ns from
 * @now until it would be (nothing taken). A clock that went backwards is
 * taken as no time passing; one that jumped forwards fills the buckets. */
uint64_t tb_take(struct tb_state *s, uint64_t now, bool write, uint64_t bytes);

/* One state for the datapath. Not shared: tb_limiter_take() runs on one
 * thread only and takes no lock (a new limit from tb_limiter_set() is picked
 * up through an atomic generation). Shared (a group, or a device whose
 * queues run on several workers): tb_limiter_take() takes its mutex. */
struct tb_limiter {
    pthread_mutex_t lock;
    bool shared;
    unsigned gen;             /* atomic: bumped by tb_limiter_set() */
    unsigned seen;            /* the generation st follows */
    bool active;              /* atomic: tb_limits_any(next) */
    struct tb_limits next;    /* under lock */
    struct tb_state st;       /* the taker's (under lock when shared) */
};

/* Returns 0 or -ENOMEM. */
int tb_limiter_create(const struct tb_limits *l, bool shared, struct tb_limiter **out);
void tb_limiter_destroy(struct tb_limiter *t);   /* NULL-safe */
/* Any thread; the taker applies it on its next tb_limiter_take(). */
void tb_limiter_set(struct tb_limiter *t, const struct tb_limits *l);
void tb_limiter_get(struct tb_limiter *t, struct tb_limits *out);
/* Any limit set (relaxed: a fast path may skip the bucket when false). */
static inline bool tb_limiter_active(const struct tb_limiter *t)
{
    return __atomic_load_n(&t->active, __ATOMIC_RELAXED);
}
/* tb_take() on the limiter's state, with @now from the monotonic clock. */
uint64_t tb_limiter_take(struct tb_limiter *t, uint64_t now, bool write, uint64_t bytes);

#endif
