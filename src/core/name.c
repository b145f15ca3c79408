/* SPDX-License-Identifier: Apache-2.0 */
#include "core/name.h"

#include <errno.h>
#include <string.h>

static bool char_ok(char c, const struct name_rules *rules)
{
    if (rules->forbidden && strchr(rules->forbidden, c))
        return false;
    if (!rules->extra)
        return (unsigned char)c >= 0x21 && (unsigned char)c <= 0x7e;
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           strchr(rules->extra, c);
}

int name_check(const char *name, const struct name_rules *rules, struct sl_err *err)
{
    if (!name || !*name)
        return err_set(err, -EINVAL, "invalid name: empty");
    if (rules->no_dot_dirs && (!strcmp(name, ".") || !strcmp(name, "..")))
        return err_set(err, -EINVAL, "invalid name: '%s' is reserved", name);
    if (strlen(name) > rules->max)
        return err_set(err, -ENAMETOOLONG, "invalid name: longer than %zu characters", rules->max);
    /* Names are never empty here: strchr() never meets the terminator. */
    if (rules->not_first && strchr(rules->not_first, name[0]))
        return err_set(err, -EINVAL, "invalid name: must not start with '%c'", name[0]);
    for (const char *p = name; *p; p++) {
        if (char_ok(*p, rules))
            continue;
        if (!rules->allowed_text)
            return err_set(err, -EINVAL, "invalid name: character '%c'", *p);
        return err_set(err, -EINVAL, "invalid name: character '%c' (allowed: %s)", *p,
                       rules->allowed_text);
    }
    return 0;
}
