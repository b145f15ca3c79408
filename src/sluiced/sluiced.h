/* SPDX-License-Identifier: Apache-2.0 */
/* sluiced internals: the device registry (devices.c) and the JSON-RPC
 * control methods (control.c), wired together by main.c. */
#ifndef SLUICED_H
#define SLUICED_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "core/evloop.h"
#include "core/opts.h"
#include "core/tbucket.h"
#include "core/uloop.h"
#include "net/attach.h"
#include "net/shaper.h"
#include "state.h"

#define MAX_DEVICES 256
#define MAX_WORKERS 64

struct device;
struct qos_group;

struct sluiced {
    struct evloop *el;
    struct uloop *workers[MAX_WORKERS];
    unsigned nworkers;
    struct device *devs[MAX_DEVICES];
    unsigned next_loop;
    unsigned next_id;
    int gid;               /* --group: vhost-user sockets 0660 with this group; -1: 0600 */
    int ctl_gid;           /* --control-group: the same for the control socket */
    const char *control;   /* the control socket's path, or NULL */
    struct nbd_server *nbd;   /* exports the incoming devices */
    bool nbd_listening;       /* --nbd-listen given */
    struct qos_group *groups; /* I/O limit groups (group=NAME), until exit */
    struct state *state;      /* --state-dir (state.h), or NULL: nothing recorded */
};

/* A --blk/--net spec, parsed and checked: what device_start() needs. The
 * strings point into @o. */
struct device_spec {
    enum device_type type;
    char *text;            /* the spec as given */
    struct opts o;
    const char *socket, *id;
    uint64_t queues;
    bool packed;           /* offer VIRTIO_F_RING_PACKED (net: default on; blk: off,
                            * since packed rings have no inflight tracking) */
    /* blk */
    const char *path, *volume, *null, *serial;
    const char *rbd, *ceph_conf, *ceph_id;   /* rbd=POOL/IMAGE, ceph-conf=, ceph-id= */
    bool rbd_exclusive;                      /* lock=exclusive (rbd-ops.h) */
    uint64_t null_size;
    bool readonly, direct, poll;   /* poll: poll=on|off (default on) */
    bool incoming;         /* exported over NBD (sluiced --nbd-listen) as the
                            * target of a storage migration */
    struct tb_limits limits;   /* iops=, bps=, ..., burst= */
    unsigned limit_keys;       /* how many of those keys were given */
    const char *group;         /* group=NAME: share the group's limits */
    /* net */
    const char *tap, *mac;
    bool attach;           /* attach the tap to @net (bridge=, hostonly=, ovs=) */
    struct net_spec net;
    uint8_t mac_addr[6];
    uint64_t mtu;
    struct net_shape shape;   /* rx-rate=, tx-rate=, burst= */
    bool recorded;         /* kept in the state file (device.add, restored) */
    bool cmdline;          /* given on the command line (--blk/--net) */
};

/* Resolve pool volume @spec (POOL/VOL) to its path (*path, malloc'ed):
 * through the storage helper once storage_helper_start() has forked it
 * (the sandbox forbids exec, and LVM is driven by its commands), else
 * here. Returns 0, or -errno with *why (malloc'ed) saying why. */
int volume_resolve(const char *spec, char **path, char **why);
/* Fork the storage helper. Call before any thread starts. */
int storage_helper_start(void);
void storage_helper_stop(void);

/* True when @id is a valid device id: 1-64 letters, digits, '-', '_', '.'. */
bool device_valid_id(const char *id);
/* Parse and check @spec (the text after --blk / --net) without touching
 * anything. Returns 0, -EINVAL (the spec is wrong: a usage error, @err says
 * why) or -ENOMEM. Free with device_spec_free(). */
int device_parse(enum device_type type, const char *spec, struct device_spec *sp, struct sl_err *err);
void device_spec_free(struct device_spec *sp);
/* Start serving the device of @sp; *out (if non-NULL) points at it. Its
 * socket path must not be another device's, the control socket, a socket
 * another process listens on (-EADDRINUSE) or something else than a socket
 * (-ENOTSOCK). On failure returns -errno, sets @err to the reason, and
 * leaves nothing behind. */
int device_start(struct sluiced *s, const struct device_spec *sp, struct device **out, struct sl_err *err);
/* A recorded device that device_start() could not start at sluiced's start
 * (its file, volume or image gone, its bridge missing): kept in the
 * registry, unserved, so that the other devices start, its id and socket
 * stay taken, and its record stays in the state file until `device.remove`
 * forgets it. @why is device_start()'s error. Returns 0, or -EEXIST (its id
 * or socket is another device's: a corrupt state file), -ENOSPC, -ENOMEM. */
int device_keep_unavailable(struct sluiced *s, const struct device_spec *sp, const char *why);
/* The error of a device kept by device_keep_unavailable(), else NULL. */
const char *device_unavailable(const struct device *d);
/* device_parse() and device_start() (the control socket's device.add),
 * then record the device in the state file (when sluiced has one): a
 * device that cannot be recorded is stopped again and the add fails (-EIO);
 * with a frozen (corrupt) state file it is served unrecorded, with a
 * warning. */
int device_add(struct sluiced *s, enum device_type type, const char *spec,
               struct device **out, struct sl_err *err);
/* Forget the device in the state file (when recorded), then stop serving
 * (waits for in-flight I/O) and remove the socket. Returns 0, -ENOENT, or
 * -errno when the state file cannot be written (the device is still
 * served), @err saying why. */
int device_remove(struct sluiced *s, const char *id, struct sl_err *err);
void devices_destroy_all(struct sluiced *s);   /* and the groups */
/* Re-read the backing size (after the file or volume grew or shrank) and
 * notify the frontend; rewrite the state file (a failure there is
 * logged). Returns 0, -EOPNOTSUPP (not a block device), -EBUSY
 * (a mirror runs: its copy and bitmap have the old size) or -errno, with
 * @err saying why; *size_out is the new size in bytes. */
int device_refresh(struct sluiced *s, struct device *d, uint64_t *size_out, struct sl_err *err);
/* Change a running device's settings from @spec ("iops=100,bps=20M"): block
 * devices take the I/O limit keys (core/tbucket.h; on a grouped device they
 * set the group's limits), net devices rx-rate=, tx-rate=, burst= (the
 * tap's rate limits, net/shaper.h; keys not given keep their value).
 * Effective within one refill period. A device added through the control
 * socket (recorded in the state file) has the keys put into its recorded
 * spec (same-named keys replaced, a 0 kept as 0: no limit), so that a
 * restart gives the limits in force; if the state file cannot be written
 * the change is undone and the set fails (-errno, "cannot record the
 * change"); with a frozen state file it stays live only, with a warning. A
 * command-line device's changes are live only (lost at a restart). Returns
 * 0, or -EINVAL (unknown key, bad value, a key this kind of device does not
 * take) with @err saying why; nothing is changed then. */
int device_set(struct sluiced *s, struct device *d, const char *spec, struct sl_err *err);
/* Set the limits of group @name from @spec (limit keys only), creating the
 * group if no device has joined it yet. With a state file the group is
 * recorded from then on (its limits in force, rewritten on every change,
 * also a member's device.set); if the file cannot be written the change is
 * undone and the set fails (-errno, "cannot record the change"). Returns 0,
 * -EINVAL (bad name or spec; nothing changed), -ENOMEM or -errno. */
int group_set(struct sluiced *s, const char *name, const char *spec, struct sl_err *err);
/* Check a recorded group's @name and @spec as group_set() would. Returns 0
 * or -EINVAL / -ENOMEM, @err saying why. */
int group_check(const char *name, const char *spec, struct sl_err *err);
/* Set a recorded group's limits at start (after the devices, so that they
 * win over the members' specs), keeping it recorded; the file is not
 * written. Returns as group_set(). */
int group_restore(struct sluiced *s, const char *name, const char *spec, struct sl_err *err);
/* The groups, as JSON (name, limits, members). */
struct json_object *groups_json(struct sluiced *s);
/* Find by id or socket path; NULL when absent. */
struct device *device_find(struct sluiced *s, const char *id);
/* Storage migration (mirror.h): start mirroring block device @d to the NBD
 * export @uri (connecting happens in the job's thread: its failure shows in
 * the status; @timeout_ms: mirror_start()'s); cancel it; its status (NULL: never mirrored). The errors
 * are mirror_start()'s, and -EOPNOTSUPP (not a file or volume device),
 * -ENOENT (cancel: none runs). */
int device_mirror(struct device *d, const char *uri, unsigned timeout_ms, struct sl_err *err);
int device_mirror_cancel(struct device *d, struct sl_err *err);
struct json_object *device_mirror_status(struct device *d);
/* JSON descriptions for the control socket. */
struct json_object *device_describe(const struct device *d);
struct json_object *device_stats_json(const struct device *d);

/* Register the control methods on @srv. */
struct jrpc_server;
int control_register(struct jrpc_server *srv, struct sluiced *s);

#endif
