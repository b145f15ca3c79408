/* SPDX-License-Identifier: Apache-2.0 */
/* sluiced's state folder (--state-dir): the devices added at run time,
 * recorded in DIR/devices.json so that a restarted sluiced serves them again
 * before it reports ready, and DIR/lock, held (flock) by the one sluiced
 * that uses the folder.
 *
 * devices.json: {"version": 1, "devices": [{"id": ID, "type": "blk"|"net",
 * "spec": SPEC}...], "groups": [{"name": NAME, "spec": LIMITS}...]}, SPEC as
 * given to --blk/--net or device.add (parsed on restore by the same
 * device_parse()) with the keys of later device.set calls put in, LIMITS the
 * I/O limits of a group set through group.set ("iops=50,bps=1048576,
 * burst=1.000"). "groups" may be missing (files written before it was
 * recorded): no groups. It is replaced atomically: written to
 * devices.json.tmp, fsync'ed, renamed over devices.json, and the folder
 * fsync'ed, so a crash at any point leaves the old or the new file whole. */
#ifndef SLUICED_STATE_H
#define SLUICED_STATE_H

#include <stdbool.h>

#include "core/err.h"

enum device_type { DEV_BLK, DEV_NET };

#define STATE_FILE "devices.json"
#define STATE_VERSION 1
/* The size of devices.json state_load() reads at most. */
#define STATE_MAX_BYTES (4u << 20)

/* One recorded device. Strings are owned by whoever built the array:
 * state_load() allocates them (free with state_recs_free()); the caller of
 * state_save() keeps its own. */
struct state_rec {
    char *id;
    enum device_type type;
    char *spec;
};

/* One recorded I/O limit group; strings owned as for struct state_rec. */
struct state_group {
    char *name;
    char *spec;
};

struct state;

/* Use folder @dir: create it (mode 0700, and its parent if missing) when
 * absent, and lock it (DIR/lock, flock, holding this process's pid). Returns
 * 0, -EBUSY (another process holds the lock; @err names its pid) or -errno
 * (the folder cannot be made or opened), @err saying why. */
int state_open(const char *dir, struct state **out, struct sl_err *err);
/* Unlock and close; NULL is fine. */
void state_close(struct state *st);
/* The folder given to state_open(). */
const char *state_dir(const struct state *st);

/* Read devices.json into *recs (malloc'ed, *n entries; none when the file
 * does not exist) and *groups (malloc'ed, *ngroups entries; both NULL-able:
 * the groups are checked but not returned). Returns 0, -EBADMSG (not JSON,
 * not the format above, an unknown version, an id or group name twice: @err
 * says what; *recs and *groups are NULL and the counts 0, and the file is
 * left as it is) or -errno (cannot be read). */
int state_load(struct state *st, struct state_rec **recs, unsigned *n,
               struct state_group **groups, unsigned *ngroups, struct sl_err *err);
void state_recs_free(struct state_rec *recs, unsigned n);
void state_groups_free(struct state_group *groups, unsigned n);

/* Replace devices.json with @n records and @ngroups groups (the key
 * "groups" is left out when there are none), atomically (see above). On failure
 * devices.json is the old one and no temporary file is left. Returns 0,
 * -EROFS (state_freeze() was called) or -errno, @err saying why. */
int state_save(struct state *st, const struct state_rec *recs, unsigned n,
               const struct state_group *groups, unsigned ngroups, struct sl_err *err);
/* From now on state_save() refuses (-EROFS): devices.json was found corrupt
 * and is kept for whoever looks into it. */
void state_freeze(struct state *st);
bool state_frozen(const struct state *st);

#endif
