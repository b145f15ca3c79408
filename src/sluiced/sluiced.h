/* SPDX-License-Identifier: Apache-2.0 */
/* sluiced internals: the device registry (devices.c) and the JSON-RPC
 * control methods (control.c), wired together by main.c. */
#ifndef SLUICED_H
#define SLUICED_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/evloop.h"
#include "core/uloop.h"

#define MAX_DEVICES 256
#define MAX_WORKERS 64

enum device_type { DEV_BLK, DEV_NET };

struct device;

struct sluiced {
    struct evloop *el;
    struct uloop *workers[MAX_WORKERS];
    unsigned nworkers;
    struct device *devs[MAX_DEVICES];
    unsigned next_loop;
    unsigned next_id;
    int gid;               /* --group: sockets 0660 with this group; -1: 0600 */
};

/* Resolve pool volume @spec (POOL/VOL) to its path (*path, malloc'ed):
 * through the storage helper once storage_helper_start() has forked it
 * (the sandbox forbids exec, and LVM is driven by its commands), else
 * here. Returns 0, or -errno with *why (malloc'ed) saying why. */
int volume_resolve(const char *spec, char **path, char **why);
/* Fork the storage helper. Call before any thread starts. */
int storage_helper_start(void);
void storage_helper_stop(void);

/* Give the socket file @path to s->gid with mode 0660 (no-op without
 * --group). Returns 0 or -errno. */
int socket_share(const struct sluiced *s, const char *path);

/* Parse @spec (the text after --blk / --net) and start serving the device;
 * *out (if non-NULL) points at it. On failure returns -errno and sets *err to
 * a malloc'd reason. */
int device_add(struct sluiced *s, enum device_type type, const char *spec,
               struct device **out, char **err);
/* Stop serving (waits for in-flight I/O) and remove the socket. Returns 0 or
 * -ENOENT. */
int device_remove(struct sluiced *s, const char *id);
void devices_destroy_all(struct sluiced *s);
/* Re-read the backing size (after the file or volume grew or shrank) and
 * notify the frontend. Returns 0, -EOPNOTSUPP (not a block device) or
 * -errno; *size_out is the new size in bytes. */
int device_refresh(struct device *d, uint64_t *size_out);
/* Find by id or socket path; NULL when absent. */
struct device *device_find(struct sluiced *s, const char *id);
/* JSON descriptions for the control socket. */
struct json_object *device_describe(const struct device *d);
struct json_object *device_stats_json(const struct device *d);

/* Register the control methods on @srv. */
struct jrpc_server;
int control_register(struct jrpc_server *srv, struct sluiced *s);

#endif
