/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the option-string and size parsers that sluiced, sluice-vmm
 * and sluice share (QEMU-style key=value lists, sizes, network specs). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/opts.h"
#include "net/attach.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    struct net_spec ns;
    struct opts o;
    uint64_t v;
    bool b;

    memcpy(s, data, size);
    s[size] = '\0';
    if (opts_parse(s, &o, NULL) == 0) {
        opts_get(&o, "socket");
        opts_get_bool(&o, "readonly", &b);
        opts_get_uint(&o, "queues", 1, 64, &v);
        opts_unused(&o);
        opts_free(&o);
    }
    if (parse_size(s, &v) == 0) {
        char buf[32];
        format_size(v, buf, sizeof(buf));
    }
    net_spec_parse(s, &ns, NULL);
    free(s);
    return 0;
}
