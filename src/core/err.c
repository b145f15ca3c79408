/* SPDX-License-Identifier: Apache-2.0 */
/* The tree's error detail: see core/err.h. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"

int err_set(struct sl_err *err, int r, const char *fmt, ...)
{
    va_list ap;

    if (!err)
        return r;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    return r;
}

int err_wrap(struct sl_err *err, int r, const char *fmt, ...)
{
    char inner[ERR_MSG_MAX];
    size_t n;
    va_list ap;

    if (!err)
        return r;
    snprintf(inner, sizeof(inner), "%s", err_msg(err, r));
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    n = strlen(err->msg);
    if (n + 2 < sizeof(err->msg)) {
        memcpy(err->msg + n, ": ", 3);
        n += 2;
        size_t room = sizeof(err->msg) - n - 1, len = strlen(inner);
        if (len > room)
            len = room;
        memcpy(err->msg + n, inner, len);
        err->msg[n + len] = '\0';
    }
    return r;
}

const char *err_msg(const struct sl_err *err, int r)
{
    if (err && err->msg[0])
        return err->msg;
    return strerror(r < 0 ? -r : r);
}
