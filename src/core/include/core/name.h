/* SPDX-License-Identifier: Apache-2.0 */
/* Names of what the programs manage (pools, volumes, interfaces, bridges,
 * OVS ports): one checker, with the rules that differ per noun as data.
 * A noun's own extra rules (LVM's reserved words, the host-only bridge's
 * prefix) stay with the noun and run after this one. */
#ifndef SLUICE_CORE_NAME_H
#define SLUICE_CORE_NAME_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

struct name_rules {
    size_t max;               /* longest name, in bytes */
    const char *extra;        /* characters allowed besides ASCII letters and
                               * digits; NULL: every printable ASCII
                               * character (0x21-0x7e) */
    const char *forbidden;    /* refused even so; NULL: none */
    const char *not_first;    /* a name must not start with one of these;
                               * NULL: no rule */
    bool no_dot_dirs;         /* "." and ".." are refused */
    const char *allowed_text; /* the allowed characters, for the message
                               * ("letters, digits, _ . + -"); NULL-able */
};

/* Check @name against @rules, in this order: NULL or empty, "." or "..",
 * length, first character, each character (the first bad one is named).
 * Returns 0, -ENAMETOOLONG (longer than rules->max) or -EINVAL, with @err
 * (may be NULL) saying why: "invalid name: <reason>". */
int name_check(const char *name, const struct name_rules *rules, struct sl_err *err);

#endif
