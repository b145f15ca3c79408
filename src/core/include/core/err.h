/* SPDX-License-Identifier: Apache-2.0 */
/* The one error convention of the tree.
 *
 * A function that can fail returns 0 (or a count) on success and a negative
 * errno on failure; the variable holding it is `r` and is tested `r < 0`.
 * When the caller may want a human-readable reason beyond strerror(), the
 * function takes `struct sl_err *err` as its LAST parameter (NULL: the
 * caller does not care) and fills it on the failing path with err_set().
 * A caller that adds context uses err_wrap() ("pool p9: <inner reason>").
 * The message is one line: no program prefix, no trailing newline, no
 * trailing period. Nothing is allocated: the buffer lives with the caller
 * (usually on its stack), so error paths cannot fail themselves.
 *
 *     struct sl_err err = ERR_INIT;
 *     int r = pool_vol_create(pool, name, size, &err);
 *     if (r < 0)
 *         fprintf(stderr, "sluice: %s\n", err_msg(&err, r));
 *
 * Datapath code (per-request paths) does not format messages; it returns
 * -errno and counts. Code that handles untrusted peer input (vhost/) logs
 * the reason where it is detected and returns -errno. */
#ifndef SLUICE_CORE_ERR_H
#define SLUICE_CORE_ERR_H

#include <stdbool.h>

#define ERR_MSG_MAX 256

struct sl_err {
    char msg[ERR_MSG_MAX];
};

#define ERR_INIT { { 0 } }

/* Sets err's message (when err is not NULL) and returns r, so that a
 * failing path reads `return err_set(err, -EINVAL, "bad size '%s'", s);`. */
int err_set(struct sl_err *err, int r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes context to the message already set ("CONTEXT: inner"); when none
 * was set, the inner reason is strerror(-r). Returns r. */
int err_wrap(struct sl_err *err, int r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The message, or strerror(-r) when none was set (or err is NULL). */
const char *err_msg(const struct sl_err *err, int r);

static inline bool err_isset(const struct sl_err *err)
{
    return err && err->msg[0];
}

static inline void err_clear(struct sl_err *err)
{
    if (err)
        err->msg[0] = '\0';
}

#endif
