/* SPDX-License-Identifier: Apache-2.0 */
/* Private to storage/: the drivers and helpers they share. */
#ifndef SLUICE_STORAGE_POOL_INT_H
#define SLUICE_STORAGE_POOL_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "core/util.h"
#include "storage/pool.h"

#define ALIGN_UP_512(x) ALIGN_UP((uint64_t)(x), 512)

/* The driver interface. Every member is mandatory unless marked; each
 * returns 0 or a negative errno from the list in storage/pool.h and, on
 * failure, may say why in @err (core/err.h; NULL: nobody asks). Names passed
 * in were validated by pool_check_name(); sizes are > 0. */
struct pool_ops {
    const char *type;                 /* "lvm-thin", "dir", "rbd" */
    enum pool_type type_id;
    /* Is the driver usable on this machine? 0, -ENODEV (with the reason in @err). */
    int (*available)(struct sl_err *err);
    /* Create pool @p->name (not yet known to any driver). */
    int (*create)(const struct pool_create_params *p, struct sl_err *err);
    /* Look up pool @name; on success fill @pool->priv (driver-owned, freed
     * by close). -ENOENT when this driver has no such pool. */
    int (*open)(struct pool *pool, const char *name, struct sl_err *err);
    /* Free @pool->priv. May be NULL. */
    void (*close)(struct pool *pool);
    /* Append the names of this driver's pools to *@names (malloc'd array of
     * malloc'd strings, *@n entries). */
    int (*list)(char ***names, size_t *n, struct sl_err *err);
    int (*info)(struct pool *pool, struct pool_info *out, struct sl_err *err);
    /* Remove the pool and its volumes (pool_destroy() checked that none is in
     * use, and that there are none unless with force). */
    int (*destroy)(struct pool *pool, bool force, struct sl_err *err);
    /* Volumes: *@out is a malloc'd array the caller frees. */
    int (*vol_list)(struct pool *pool, struct vol_info **out, size_t *n, struct sl_err *err);
    int (*vol_info)(struct pool *pool, const char *vol, struct vol_info *out, struct sl_err *err);
    int (*vol_create)(struct pool *pool, const char *vol, uint64_t size, struct sl_err *err);
    /* Grow; shrink only with @force (else -EINVAL). */
    int (*vol_resize)(struct pool *pool, const char *vol, uint64_t size, bool force, struct sl_err *err);
    /* Read-only snapshot @dst of @src. */
    int (*vol_snapshot)(struct pool *pool, const char *src, const char *dst,
                        pool_progress_cb cb, void *opaque, struct sl_err *err);
    /* Writable clone @dst of @src (a volume or a snapshot). */
    int (*vol_clone)(struct pool *pool, const char *src, const char *dst,
                     pool_progress_cb cb, void *opaque, struct sl_err *err);
    int (*vol_rename)(struct pool *pool, const char *vol, const char *newname, struct sl_err *err);
    /* -EBUSY when in use unless @force. */
    int (*vol_delete)(struct pool *pool, const char *vol, bool force, struct sl_err *err);
    /* Make the volume's data reachable (activate) and put its path in @path. */
    int (*vol_activate)(struct pool *pool, const char *vol, char path[PATH_MAX], struct sl_err *err);
    /* 1 in use, 0 not, or -errno. */
    int (*vol_in_use)(struct pool *pool, const char *vol, struct sl_err *err);
    /* Optional (NULL: nothing to do). @vol's content was replaced wholesale
     * (import with force): it is no longer the origin of anything. */
    void (*vol_replaced)(struct pool *pool, const char *vol);
    /* Optional (NULL: the driver never returns -ESTALE). For pool @name
     * whose open() failed (but not -ENOENT): fill @out->location and
     * @out->problem and return 0 to have it listed as broken; else -errno
     * (-EBUSY: it opens after all). */
    int (*broken)(const char *name, struct pool_info *out, struct sl_err *err);
    /* Optional. Remove the record of pool @name that open() reports
     * -ESTALE for. 0, -ENOENT (no record), -EBUSY (the pool is fine). */
    int (*forget)(const char *name, struct sl_err *err);
    /* Optional, for volumes without a path to open (rbd); NULL: import and
     * export open vol_activate()'s path. Copy @len bytes of @fd (read
     * with pread; @len 0: a stream read to its end, the volume grown to
     * what came) into @vol, which reads as zeroes when @fresh. */
    int (*vol_import_fd)(struct pool *pool, const char *vol, int fd, uint64_t len, bool fresh,
                         pool_progress_cb cb, void *opaque, struct sl_err *err);
    /* Copy @vol into @fd: a new empty regular file when @fresh (written
     * sparse, its size set), a pipe when @stream (written in order). */
    int (*vol_export_fd)(struct pool *pool, const char *vol, int fd, bool fresh, bool stream,
                         pool_progress_cb cb, void *opaque, struct sl_err *err);
    /* Optional (rbd only): pool_volume_rbd(). */
    int (*vol_rbd)(struct pool *pool, const char *vol, struct pool_vol_rbd *out,
                   struct sl_err *err);
};

struct pool {
    char name[POOL_NAME_MAX + 1];
    const struct pool_ops *ops;
    void *priv;
};


/* The registered drivers, NULL-terminated: dir, lvm-thin, rbd. */
extern const struct pool_ops *const pool_drivers[];
extern const struct pool_ops pool_rbd_ops;
extern const struct pool_ops pool_lvm_thin_ops;
extern const struct pool_ops pool_dir_ops;

/* Copy @len bytes from @src to @dst (both at offset 0), skipping blocks that
 * read as zero. @dst_zeroed: the destination already reads as zeroes (a new
 * sparse file or thin volume), so zero blocks are simply skipped; otherwise a
 * regular file gets a hole punched and a block device BLKZEROOUT. Holes of
 * @src (SEEK_DATA) are skipped without reading. Returns 0 or -errno. */
int pool_copy_fd(int src, int dst, uint64_t len, bool dst_zeroed, pool_progress_cb cb,
                 void *opaque);

/* Size of a regular file or block device open as @fd. 0 or -errno. */
int pool_fd_size(int fd, uint64_t *size);

/* 1 when another open file description holds a flock() on @path, 0 when
 * not, -errno. */
int pool_path_locked(const char *path);

/* Directory of the dir-pool registry: $SLUICE_STATE_DIR/pools, default
 * /var/lib/sluice/pools. */
const char *pool_registry_dir(char *buf, size_t len);

/* The entries of directory @dir that are valid pool names (records of one
 * pool type), into *@names (*@n of them; free each and the array). A
 * missing directory is no pool; an entry that cannot be copied is left out. */
int pool_record_names(const char *dir, char ***names, size_t *n);

#endif
