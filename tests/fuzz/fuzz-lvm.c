/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the LVM JSON report parsers and the device-mapper status
 * line parsers. The first byte picks the parser. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lvm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s;

    if (size < 1 || size > 65536)
        return 0;
    s = malloc(size);
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0';
    switch (data[0] % 6) {
    case 0: { struct lvm_lv *v = NULL; size_t n = 0; if (lvm_parse_lvs(s, &v, &n) == 0) free(v); break; }
    case 1: { struct lvm_vg *v = NULL; size_t n = 0; if (lvm_parse_vgs(s, &v, &n) == 0) free(v); break; }
    case 2: { struct lvm_pv *v = NULL; size_t n = 0; if (lvm_parse_pvs(s, &v, &n) == 0) free(v); break; }
    case 3: { struct lvm_pool_status st; lvm_parse_pool_status(s, &st); break; }
    case 4: { uint64_t b; lvm_parse_pool_table(s, &b); break; }
    default: { uint64_t m; lvm_parse_thin_status(s, &m); break; }
    }
    free(s);
    return 0;
}
