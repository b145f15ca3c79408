/* SPDX-License-Identifier: Apache-2.0 */
/* The MAC address of a NIC, parsed one way everywhere. */
#ifndef SLUICE_CORE_MAC_H
#define SLUICE_CORE_MAC_H

#include <stdint.h>

#include "core/err.h"

/* Parse @s as a NIC's MAC address: exactly "xx:xx:xx:xx:xx:xx" (two hex
 * digits per byte, either case), unicast (bit 0 of the first byte clear:
 * a multicast address cannot be a NIC's) and not all zeroes. Returns 0 or
 * -EINVAL with @err (may be NULL) saying why, phrased to follow the word
 * "mac" ("mac must look like ..."). */
int mac_parse(const char *s, uint8_t mac[6], struct sl_err *err);

#endif
