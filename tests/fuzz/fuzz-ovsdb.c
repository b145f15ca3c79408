/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: OVSDB reply parsing (RFC 7047 replies, transact results,
 * the bridge/port listing) on arbitrary JSON text. */
#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/ovs.h"
#include "net/ovsdb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct json_tokener *tok = json_tokener_new();
    struct json_object *msg, *result = NULL;
    struct ovs_bridge_info *list = NULL;
    struct sl_err err = ERR_INIT;
    size_t n = 0, failed;

    msg = json_tokener_parse_ex(tok, (const char *)data, (int)size);
    json_tokener_free(tok);
    if (!msg)
        return 0;
    if (ovs_msg_check_reply(msg, 1, &result, &err) == 0 && result) {
        ovs_txn_check(result, 3, &failed, &err);
        if (ovs_parse_list(result, &list, &n, &err) == 0)
            ovs_br_list_free(list, n);
    }
    /* The same parsers on the raw value too (a result is any JSON). */
    ovs_txn_check(msg, 1, &failed, &err);
    if (ovs_parse_list(msg, &list, &n, &err) == 0)
        ovs_br_list_free(list, n);
    json_object_put(msg);
    return 0;
}
