/* SPDX-License-Identifier: Apache-2.0 */
/* mac_parse: see core/mac.h. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/mac.h"

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int mac_parse(const char *s, uint8_t mac[6], struct sl_err *err)
{
    uint8_t m[6];
    bool zero = true;

    for (int i = 0; s && i < 6; i++, s += 3) {
        int hi = hexval(s[0]), lo = hi < 0 ? -1 : hexval(s[1]);
        if (lo < 0 || s[2] != (i < 5 ? ':' : '\0')) {
            s = NULL;
            break;
        }
        m[i] = (uint8_t)(hi << 4 | lo);
        zero = zero && !m[i];
    }
    if (!s)
        return err_set(err, -EINVAL, "must look like 52:54:00:12:34:56");
    if (m[0] & 1)
        return err_set(err, -EINVAL, "is a multicast address; a NIC needs a unicast one "
                       "(first byte even, e.g. 52:54:00:12:34:56)");
    if (zero)
        return err_set(err, -EINVAL, "is all zeroes; a NIC needs a unicast address");
    for (int i = 0; i < 6; i++)
        mac[i] = m[i];
    return 0;
}
