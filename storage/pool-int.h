/* SPDX-License-Identifier: Apache-2.0 */
/* Private to storage/: the drivers and helpers they share. */
#ifndef SLUICE_STORAGE_POOL_INT_H
#define SLUICE_STORAGE_POOL_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/util.h"
#include "storage/pool.h"

#define ALIGN_UP_512(x) ALIGN_UP((uint64_t)(x), 512)

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

#endif
