/* SPDX-License-Identifier: Apache-2.0 */
/* sluiced's JSON-RPC 2.0 control methods:
 *   device.add    {"type": "blk", "spec": "socket=...,path=..."} -> {"id"}
 *   device.remove {"id": ID-or-socket}                          -> null
 *                 (add, remove and refresh rewrite the state file, state.h)
 *   device.list   {}                                            -> [device...]
 *   device.stats  {"id": ID-or-socket}                          -> {counters}
 *   device.refresh {"id": ID-or-socket}     -> {"size_bytes"}: re-read the
 *                 backing size and tell the guest (volume resized)
 *   device.mirror {"id", "to": NBD URI, "timeout_ms"?: target reply timeout}
 *                                        -> {mirror status}: start a storage
 *                 migration of a block device (mirror.h)
 *   device.mirror-status {"id"}          -> {mirror status}
 *   device.mirror-cancel {"id"}          -> null: stop it, the source as is
 *   device.set    {"id", "spec": "iops=100,bps=20M"} -> null: change a running
 *                 device's settings (block: the I/O limits; see device_set())
  *   group.set     {"name", "spec": "bps=50M"}  -> null: an I/O limit group's limits
 *   group.list    {}                           -> [{"name", "limits", "members"}] */
#include <string.h>

#include "core/jsonrpc.h"
#include "core/log.h"
#include "core/util.h"
#include "sluiced.h"

static const char *param_str(struct json_object *params, const char *key)
{
    struct json_object *v;

    if (!params || !json_object_is_type(params, json_type_object) ||
        !json_object_object_get_ex(params, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

static int m_add(void *ctx, struct json_object *params, struct json_object **result, struct sl_err *err)
{
    struct sluiced *s = ctx;
    const char *type = param_str(params, "type"), *spec = param_str(params, "spec");
    struct device *d;
    enum device_type t;
    int r;

    if (!type || !spec)
        return err_set(err, -EINVAL, "params must hold \"type\" and \"spec\" strings");
    if (!strcmp(type, "blk"))
        t = DEV_BLK;
    else if (!strcmp(type, "net"))
        t = DEV_NET;
    else
        return err_set(err, -EINVAL, "type must be \"blk\" or \"net\"");
    r = device_add(s, t, spec, &d, err);
    if (r < 0) {
        log_warn("device.add %s %s: %s", type, spec, err_msg(err, r));
        return r;
    }
    *result = device_describe(d);
    return 0;
}

static int m_remove(void *ctx, struct json_object *params, struct json_object **result, struct sl_err *err)
{
    const char *id = param_str(params, "id");
    int r;
    (void)result;

    if (!id)
        return err_set(err, -EINVAL, "params must hold an \"id\" string");
    r = device_remove(ctx, id, err);
    if (r == -ENOENT)
        return err_set(err, r, "no such device");
    return r;
}

static int m_list(void *ctx, struct json_object *params, struct json_object **result, struct sl_err *err)
{
    struct sluiced *s = ctx;
    struct json_object *a = json_object_new_array();
    (void)params;
    (void)err;

    for (unsigned i = 0; i < MAX_DEVICES; i++)
        if (s->devs[i])
            json_object_array_add(a, device_describe(s->devs[i]));
    *result = a;
    return 0;
}

/* *out: the device named by params' "id", served. Returns 0, -EINVAL,
 * -ENOENT or -ENODEV (recorded, but it could not start: only list and
 * remove take it). */
static int param_device(struct sluiced *s, struct json_object *params, struct device **out,
                        struct sl_err *err)
{
    const char *id = param_str(params, "id");

    if (!id)
        return err_set(err, -EINVAL, "params must hold an \"id\" string");
    *out = device_find(s, id);
    if (!*out)
        return err_set(err, -ENOENT, "no such device");
    if (device_unavailable(*out))
        return err_set(err, -ENODEV, "not served: %s (fix it and restart sluiced, or remove the device)",
                       device_unavailable(*out));
    return 0;
}

static int m_stats(void *ctx, struct json_object *params, struct json_object **result, struct sl_err *err)
{
    struct device *d;
    int r = param_device(ctx, params, &d, err);

    if (r < 0)
        return r;
    *result = device_stats_json(d);
    return 0;
}

static int m_refresh(void *ctx, struct json_object *params, struct json_object **result, struct sl_err *err)
{
    struct device *d;
    uint64_t size = 0;
    int r = param_device(ctx, params, &d, err);

    if (r < 0)
        return r;
    r = device_refresh(ctx, d, &size, err);
    if (r < 0)
        return r;
    *result = json_object_new_object();
    json_object_object_add(*result, "size_bytes", json_object_new_int64((int64_t)size));
    return 0;
}

static int m_mirror(void *ctx, struct json_object *params, struct json_object **result, struct sl_err *err)
{
    const char *to = param_str(params, "to");
    struct json_object *tv = NULL;
    int64_t timeout_ms = 0;
    struct device *d;
    int r = param_device(ctx, params, &d, err);

    if (r < 0)
        return r;
    if (!to)
        return err_set(err, -EINVAL, "params must hold a \"to\" string (an NBD URI)");
    if (json_object_object_get_ex(params, "timeout_ms", &tv)) {
        timeout_ms = json_object_is_type(tv, json_type_int) ? json_object_get_int64(tv) : -1;
        if (timeout_ms < 1 || timeout_ms > 3600000)
            return err_set(err, -EINVAL, "\"timeout_ms\" must be an integer from 1 to 3600000");
    }
    r = device_mirror(d, to, (unsigned)timeout_ms, err);
    if (r < 0) {
        log_warn("device.mirror %s: %s", param_str(params, "id"), err_msg(err, r));
        return r;
    }
    *result = device_mirror_status(d);
    return 0;
}

static int m_mirror_status(void *ctx, struct json_object *params, struct json_object **result,
                           struct sl_err *err)
{
    struct device *d;
    int r = param_device(ctx, params, &d, err);

    if (r < 0)
        return r;
    *result = device_mirror_status(d);
    if (!*result)
        return err_set(err, -ENOENT, "no mirror was started on this device");
    return 0;
}

static int m_mirror_cancel(void *ctx, struct json_object *params, struct json_object **result,
                           struct sl_err *err)
{
    struct device *d;
    int r = param_device(ctx, params, &d, err);
    (void)result;

    if (r < 0)
        return r;
    return device_mirror_cancel(d, err);
}

static int m_set(void *ctx, struct json_object *params, struct json_object **result, struct sl_err *err)
{
    const char *spec = param_str(params, "spec");
    struct device *d;
    int r = param_device(ctx, params, &d, err);
    (void)result;

    if (r < 0)
        return r;
    if (!spec)
        return err_set(err, -EINVAL, "params must hold a \"spec\" string (e.g. \"iops=100,bps=20M\")");
    return device_set(ctx, d, spec, err);
}

static int m_group_set(void *ctx, struct json_object *params, struct json_object **result,
                       struct sl_err *err)
{
    const char *name = param_str(params, "name"), *spec = param_str(params, "spec");
    (void)result;

    if (!name || !spec)
        return err_set(err, -EINVAL, "params must hold \"name\" and \"spec\" strings");
    return group_set(ctx, name, spec, err);
}

static int m_group_list(void *ctx, struct json_object *params, struct json_object **result,
                        struct sl_err *err)
{
    (void)params;
    (void)err;
    *result = groups_json(ctx);
    return 0;
}

int control_register(struct jrpc_server *srv, struct sluiced *s)
{
    int r = 0;
    r = r ?: jrpc_register(srv, "device.add", m_add, s);
    r = r ?: jrpc_register(srv, "device.remove", m_remove, s);
    r = r ?: jrpc_register(srv, "device.list", m_list, s);
    r = r ?: jrpc_register(srv, "device.stats", m_stats, s);
    r = r ?: jrpc_register(srv, "device.refresh", m_refresh, s);
    r = r ?: jrpc_register(srv, "device.mirror", m_mirror, s);
    r = r ?: jrpc_register(srv, "device.mirror-status", m_mirror_status, s);
    r = r ?: jrpc_register(srv, "device.mirror-cancel", m_mirror_cancel, s);
    r = r ?: jrpc_register(srv, "device.set", m_set, s);
    r = r ?: jrpc_register(srv, "group.set", m_group_set, s);
    r = r ?: jrpc_register(srv, "group.list", m_group_list, s);
    return r;
}
