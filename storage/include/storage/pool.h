/* SPDX-License-Identifier: Apache-2.0 */
/* Storage pools and their volumes: the `lvm-thin` driver (an LVM thin pool;
 * LVM metadata, marked with LVM tags, is the only store of truth) and the
 * `dir` driver (a directory of sparse raw files, registered under
 * ${SLUICE_STATE_DIR:-/var/lib/sluice}/pools/). Every driver fills a
 * struct pool_ops (storage/pool-int.h, private); callers use the pool_*
 * functions below, which validate names, make the checks every driver
 * shares, and dispatch.
 *
 * Error codes shared by every function here (negative errno):
 *   -ENOENT     unknown pool or volume
 *   -EEXIST     name taken
 *   -EINVAL     invalid name, size or argument (shrink without force)
 *   -EROFS      the volume is read-only (a snapshot): no verb writes it
 *   -ESTALE     the pool's record exists but its storage is gone (a dir
 *               pool whose directory or marker vanished): pool_forget()
 *   -EFBIG      larger than the file system's largest file (dir)
 *   -ENOSPC     pool (or volume group / file system) out of space
 *   -EBUSY      volume in use (sluiced serves it) or pool busy
 *   -ENOTEMPTY  pool still holds volumes
 *   -EPERM      missing privileges (LVM needs root); -EACCES from the file system
 *   -ENODEV     LVM or device-mapper not available (use a dir pool)
 *   -EIO        a command (lvm) failed; @err has its message
 *   -ETIMEDOUT, -EHOSTUNREACH  rbd: the Ceph cluster did not answer in
 *               10 s (client_mount_timeout, rados_osd_op_timeout unless
 *               ceph.conf sets them) or refused us (cephx)
 * pool_strerror() turns them into the CLI's reasons. A function that takes
 * `struct sl_err *err` (core/err.h; may be NULL) puts a more precise
 * sentence there when it fails, e.g. "invalid size '12X' (examples: ...)". */
#ifndef SLUICE_STORAGE_POOL_H
#define SLUICE_STORAGE_POOL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define POOL_NAME_MAX 64      /* pool and volume names: bytes, without NUL */

enum pool_type {
    POOL_TYPE_NONE = 0,
    POOL_TYPE_LVM_THIN,       /* "lvm-thin" */
    POOL_TYPE_DIR,            /* "dir" */
    POOL_TYPE_RBD,            /* "rbd": a Ceph pool's RBD images */
};

#define POOL_RBD_POOL_MAX 127 /* a Ceph pool name: bytes, without NUL */
#define POOL_RBD_ID_MAX 63    /* a cephx user name without "client." */

/* "lvm-thin", "dir", "rbd", or NULL. */
const char *pool_type_name(enum pool_type t);
/* Returns the type for @name, or POOL_TYPE_NONE. */
enum pool_type pool_type_parse(const char *name);

/* What pool_create() needs. Unused members are NULL/0. */
struct pool_create_params {
    const char *name;
    enum pool_type type;
    /* lvm-thin, either: */
    const char *const *pvs;   /* new VG @name on these physical volumes */
    size_t n_pvs;
    const char *vg;           /* or a thin pool in this existing VG */
    uint64_t size;            /* thin pool data size; 0: all free space */
    unsigned autoextend_threshold;  /* percent (50-99), 0: off */
    unsigned autoextend_percent;    /* grow by this percent (default 20) */
    /* dir: */
    const char *path;         /* created when missing */
    /* rbd: */
    const char *ceph_pool;    /* an existing Ceph pool (rbd pool init) */
    const char *ceph_conf;    /* NULL: librados's default ($CEPH_CONF, /etc/ceph/ceph.conf) */
    const char *ceph_id;      /* cephx user without "client."; NULL: admin */
};

struct pool_info {
    char name[POOL_NAME_MAX + 1];
    enum pool_type type;
    char location[PATH_MAX];  /* "VG/LV" or the directory */
    uint64_t size_bytes;      /* lvm: thin pool data size; dir: file system size */
    uint64_t used_bytes;      /* lvm: mapped data; dir: allocated bytes of volumes */
    uint64_t free_bytes;      /* lvm: VG free; dir: file system space available */
    uint64_t provisioned_bytes;     /* sum of the volumes' sizes (thin: may pass size) */
    bool has_metadata;        /* false for dir */
    uint64_t metadata_size_bytes;
    uint64_t metadata_used_bytes;
    unsigned volumes;
    bool active;              /* lvm: thin pool mapped; dir: always */
    unsigned autoextend_threshold;  /* 0: off */
    unsigned autoextend_percent;
    /* pool_list() only: "" for a pool that opens; else why it does not (the
     * pool is listed with only name, type and location filled). */
    char problem[PATH_MAX + 128];
};

struct vol_info {
    char name[POOL_NAME_MAX + 1];
    char pool[POOL_NAME_MAX + 1];
    uint64_t size_bytes;
    uint64_t used_bytes;      /* lvm: mapped bytes; dir: allocated bytes */
    char path[PATH_MAX];      /* block device or file holding the data */
    /* The volume this snapshot or clone was taken from, under its current
     * name; "" when none, or once that volume was deleted (or, dir pools,
     * overwritten by an import with force). */
    char origin[POOL_NAME_MAX + 1];
    bool readonly;            /* a snapshot */
    bool active;              /* lvm: mapped; dir: always */
    bool in_use;              /* served (open count > 0 / lock held) */
};

/* Progress of a long copy: @done of @total bytes. May be NULL. */
typedef void (*pool_progress_cb)(void *opaque, uint64_t done, uint64_t total);

struct pool;

/* An open pool (opaque; storage/pool-int.h). */
struct pool;

/* --- names, sizes, errors ---------------------------------------------- */

/* A pool or volume name: 1-64 bytes of [A-Za-z0-9_.+-], not starting with
 * '-' or '.', not "snapshot"/"pvmove" prefixed and without LVM's reserved
 * "_t"-style suffixes. Returns 0 or -EINVAL (the reason in @err). */
int pool_check_name(const char *name, struct sl_err *err);
/* parse_size() plus: not zero, at most 1P, rounded up to 512 bytes.
 * Returns 0, -EINVAL or -ERANGE. */
int pool_parse_size(const char *s, uint64_t *out, struct sl_err *err);
/* Split "POOL/VOL" into checked names. Returns 0 or -EINVAL. */
int pool_parse_spec(const char *spec, char pool[POOL_NAME_MAX + 1], char vol[POOL_NAME_MAX + 1], struct sl_err *err);
/* Reason for the CLI: "unknown pool", "name taken"... never NULL. */
const char *pool_strerror(int err);

/* --- pools -------------------------------------------------------------- */

/* For a short-lived process (the CLI): keep LVM's report answers until this
 * process changes LVM itself, instead of running `lvs` again for each
 * question (lvm_cache_reports in storage/lvm.h). Never in a daemon. */
void pool_cache_reports(bool on);

/* Create a pool; -EEXIST when any driver knows the name. With @out non-NULL
 * the new pool is opened too. */
int pool_create(const struct pool_create_params *p, struct pool **out, struct sl_err *err);
/* Open pool @name (dir registry first, then LVM). -ENOENT, -EINVAL,
 * -ESTALE (its record is there, its storage gone: see pool_forget). */
int pool_open(const char *name, struct pool **out, struct sl_err *err);
/* NULL-safe. */
void pool_close(struct pool *pool);
/* Info of every pool known (drivers that are not available are skipped),
 * broken ones too: those have a non-empty problem. *@out is malloc'd. */
int pool_list(struct pool_info **out, size_t *n, struct sl_err *err);
int pool_get_info(struct pool *pool, struct pool_info *out, struct sl_err *err);
/* Delete the pool (then close it yourself). -ENOTEMPTY unless @force. */
int pool_destroy(struct pool *pool, bool force, struct sl_err *err);
/* Remove the record of a broken pool @name (one pool_open() reports
 * -ESTALE for: a dir pool's registry entry whose directory or marker is
 * gone). Returns 0, -ENOENT (no such record), -EBUSY (the pool opens: use
 * pool_destroy), -errno. */
int pool_forget(const char *name, struct sl_err *err);
/* lvm-thin only: LVM grows the thin pool by @percent (default 20) when its
 * data use passes @threshold percent (50-99; 0 turns it off). Stored as an
 * LVM metadata profile attached to the pool; LVM's dmeventd monitoring does
 * the growing. Returns 0, -EOPNOTSUPP (dir pool), -EINVAL, -EPERM, -EIO. */
int pool_set_autoextend(struct pool *pool, unsigned threshold, unsigned percent, struct sl_err *err);

/* --- volumes ------------------------------------------------------------ */

int pool_vol_list(struct pool *pool, struct vol_info **out, size_t *n, struct sl_err *err);
int pool_vol_info(struct pool *pool, const char *vol, struct vol_info *out, struct sl_err *err);
int pool_vol_create(struct pool *pool, const char *vol, uint64_t size, struct sl_err *err);
/* -EROFS for a read-only volume. */
int pool_vol_resize(struct pool *pool, const char *vol, uint64_t size, bool force, struct sl_err *err);
int pool_vol_snapshot(struct pool *pool, const char *src, const char *dst,
                      pool_progress_cb cb, void *opaque, struct sl_err *err);
int pool_vol_clone(struct pool *pool, const char *src, const char *dst,
                   pool_progress_cb cb, void *opaque, struct sl_err *err);
/* -EBUSY while the volume is in use (sluiced knows it by its old name).
 * Snapshots and clones of @vol keep it as their origin under @newname. */
int pool_vol_rename(struct pool *pool, const char *vol, const char *newname, struct sl_err *err);
int pool_vol_delete(struct pool *pool, const char *vol, bool force, struct sl_err *err);
/* Create volume @vol with the size of @src (regular file or block device)
 * and copy @src into it, skipping zero blocks. With @force an existing
 * volume is overwritten (grown when smaller; must not be in use nor
 * read-only: -EBUSY, -EROFS). On a dir pool the data must fit the file
 * system's free space (-ENOSPC before anything is written); a volume this
 * call created is removed again when the copy fails. */
int pool_vol_import(struct pool *pool, const char *vol, const char *src, bool force,
                    pool_progress_cb cb, void *opaque, struct sl_err *err);
/* Copy volume @vol into @dst: a regular file is created (or, with @force,
 * truncated) and written sparse (zero blocks become holes); a block device
 * (only with @force) must be large enough and gets zero ranges by
 * BLKZEROOUT. An existing @dst without @force: -EEXIST. A file this call
 * created is removed again when the copy fails. */
int pool_vol_export(struct pool *pool, const char *vol, const char *dst, bool force,
                    pool_progress_cb cb, void *opaque, struct sl_err *err);

/* --- for sluiced ---------------------------------------------------------- */

/* Resolve "POOL/VOL": activate the volume if needed and return the block
 * device (lvm-thin), file (dir) or "rbd:..." target (rbd; see struct
 * pool_vol_rbd) in *@path_out (malloc'd, caller frees).
 * Returns 0, -EINVAL (bad spec), -ENOENT, -ENODEV, -EPERM, -EIO. */
int pool_volume_resolve(const char *spec, char **path_out, struct sl_err *err);
/* Where an rbd pool's volume lives, for a librados/librbd client (sluiced):
 * rados_create(id or NULL), rados_conf_read_file(conf or NULL),
 * rados_connect, rados_ioctx_create(pool), rbd_open(image) and, for a
 * snapshot volume (read-only), rbd_open_read_only(image, snap). The same
 * volume's vol_info.path and pool_volume_resolve() give it as a QEMU-style
 * target string "rbd:POOL/IMAGE[@SNAP][:conf=PATH][:id=USER]". */
struct pool_vol_rbd {
    char conf[PATH_MAX];      /* ceph.conf; "": librados's default search */
    char id[POOL_RBD_ID_MAX + 1];         /* cephx user; "": admin */
    char pool[POOL_RBD_POOL_MAX + 1];     /* the Ceph pool */
    char image[POOL_NAME_MAX + 1];        /* the RBD image */
    char snap[POOL_NAME_MAX + 1];         /* "" or the RBD snapshot (read-only) */
};
/* Fill @out for "POOL/VOL" on an rbd pool. Returns 0, -EINVAL (bad spec),
 * -ENOENT, -EMEDIUMTYPE (not an rbd pool: use pool_volume_resolve),
 * -ETIMEDOUT/-EHOSTUNREACH (cluster). */
int pool_volume_rbd(const char *spec, struct pool_vol_rbd *out, struct sl_err *err);
/* Check a Ceph pool name (1-127 bytes, no '/', '@', ':' nor spaces) and a
 * cephx id (NULL or 1-63 bytes of [A-Za-z0-9_.-]). 0 or -EINVAL. */
int pool_rbd_check(const char *ceph_pool, const char *ceph_id, struct sl_err *err);

/* Is "POOL/VOL" in use? lvm-thin: the device-mapper open count of the
 * volume is > 0; dir: another open file description holds a flock() on the
 * file (see pool_volume_claim). Returns 1, 0, or -errno as above. */
int pool_volume_in_use(const char *spec, struct sl_err *err);
/* What sluiced does after opening a volume's path (O_RDWR) as @fd: take a
 * shared flock() so that `sluice vol delete` sees it in use. A block device
 * needs nothing (the open itself counts) but the lock is harmless there.
 * Retries briefly while a CLI probe holds the lock. Returns 0, -EBUSY or
 * -errno. The lock goes away with the last descriptor of that open. */
int pool_volume_claim(int fd);

/* The root of sluice's state on this host: $SLUICE_STATE_DIR, default
 * /var/lib/sluice. The dir-pool registry is its pools/, sluiced's default
 * --state-dir its sluiced/. */
const char *pool_state_root(void);

#endif
