/* SPDX-License-Identifier: Apache-2.0 */
/* The `dir` pool driver: a directory of sparse raw files.
 *
 *   DIR/.sluice-pool        marker: {"name":"NAME","type":"dir"} (truth)
 *   DIR/VOL.raw             a volume (mode 0600; snapshots 0400)
 *   xattr user.sluice.origin on a snapshot or clone: its source's name, and
 *   user.sluice.origin-ino: the source file's inode number. The origin is
 *                           shown while NAME.raw still is that file; rename
 *                           rewrites it, delete and import --force of the
 *                           origin remove it.
 *   $SLUICE_STATE_DIR/pools/NAME -> DIR   registry (a symlink; an index only:
 *                           `pool create NAME --type dir --path DIR` on a
 *                           directory whose marker names NAME re-registers it)
 *
 * Snapshots and clones are reflinks (FICLONE) where the file system allows,
 * else full sparse copies. A volume is in use while another open file
 * description holds a flock() on it (sluiced: pool_volume_claim()). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <json-c/json.h>

#include "pool-int.h"
#include "core/io.h"

#define MARKER ".sluice-pool"
#define SUFFIX ".raw"
#define ORIGIN_XATTR "user.sluice.origin"
#define ORIGIN_INO_XATTR "user.sluice.origin-ino"

struct dir_pool {
    char dir[PATH_MAX];
};

static struct dir_pool *priv(struct pool *p)
{
    return p->priv;
}

static int dir_available(struct sl_err *err)
{
    return 0;
}

/* Read DIR's marker; copy the pool name. 0, -ENOENT (no marker), -EINVAL. */
static int read_marker(const char *dir, char name[POOL_NAME_MAX + 1])
{
    char path[PATH_MAX + 32];
    struct json_object *root, *v;
    int r = 0;

    snprintf(path, sizeof(path), "%s/" MARKER, dir);
    if (access(path, F_OK) < 0)
        return -errno;
    root = json_object_from_file(path);
    if (!root)
        return -EINVAL;
    if (!json_object_object_get_ex(root, "name", &v) || !json_object_is_type(v, json_type_string) ||
        pool_check_name(json_object_get_string(v), NULL) < 0)
        r = -EINVAL;
    else
        snprintf(name, POOL_NAME_MAX + 1, "%s", json_object_get_string(v));
    json_object_put(root);
    return r;
}

static int write_marker(const char *dir, const char *name)
{
    char path[PATH_MAX + 32], tmp[PATH_MAX + 40];
    struct json_object *root = json_object_new_object();
    int r = 0;

    if (!root)
        return -ENOMEM;
    json_object_object_add(root, "name", json_object_new_string(name));
    json_object_object_add(root, "type", json_object_new_string("dir"));
    snprintf(path, sizeof(path), "%s/" MARKER, dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    if (json_object_to_file_ext(tmp, root, JSON_C_TO_STRING_PLAIN) < 0) {
        r = access(dir, W_OK) < 0 ? -errno : -EIO;
        if (r == -EIO)
            r = -EACCES;
    } else if (rename(tmp, path) < 0) {
        r = -errno;
        unlink(tmp);
    }
    json_object_put(root);
    return r;
}

static int registry_path(const char *name, char *buf, size_t len)
{
    char reg[PATH_MAX];
    pool_registry_dir(reg, sizeof(reg));
    if ((size_t)snprintf(buf, len, "%s/%s", reg, name) >= len)
        return -ENAMETOOLONG;
    return 0;
}

/* Registry entry of pool @name: its directory in @target. 0 when it holds
 * the pool; -ENOENT when there is no entry; -ESTALE when the entry is
 * there but the directory or its marker is not (@problem says which). */
static int check_entry(const char *name, char target[PATH_MAX], char *problem, size_t plen, struct sl_err *err)
{
    char link[PATH_MAX], mname[POOL_NAME_MAX + 1];
    struct stat st;
    ssize_t n;
    int r;

    r = registry_path(name, link, sizeof(link));
    if (r < 0)
        return r;
    n = readlink(link, target, PATH_MAX - 1);
    if (n < 0)
        return errno == ENOENT || errno == ENOTDIR || errno == EINVAL ? -ENOENT : -errno;
    target[n] = '\0';
    if (stat(target, &st) < 0 || !S_ISDIR(st.st_mode)) {
        snprintf(problem, plen, "directory %s is gone", target);
        return -ESTALE;
    }
    r = read_marker(target, mname);
    if (r == -ENOENT)
        snprintf(problem, plen, "%s holds no pool marker (" MARKER " is gone)", target);
    else if (r < 0)
        snprintf(problem, plen, "%s/" MARKER " is unreadable: %s", target, strerror(-r));
    else if (strcmp(mname, name))
        snprintf(problem, plen, "%s now holds pool '%s'", target, mname);
    else
        return 0;
    return -ESTALE;
}

static int dir_open(struct pool *pool, const char *name, struct sl_err *err)
{
    char target[PATH_MAX], problem[PATH_MAX + 64];
    struct dir_pool *dp;
    int r;

    r = check_entry(name, target, problem, sizeof(problem), err);
    if (r == -ESTALE)
        err_set(err, r, "pool is broken: %s ('sluice pool delete %s' removes its entry)",
                        problem, name);
    if (r < 0)
        return r;
    dp = calloc(1, sizeof(*dp));
    if (!dp)
        return -ENOMEM;
    snprintf(dp->dir, sizeof(dp->dir), "%s", target);
    pool->priv = dp;
    return 0;
}

static int dir_broken(const char *name, struct pool_info *out, struct sl_err *err)
{
    char target[PATH_MAX];
    int r = check_entry(name, target, out->problem, sizeof(out->problem), err);

    if (r == 0)
        return -EBUSY;
    if (r != -ESTALE)
        return r;
    snprintf(out->location, sizeof(out->location), "%s", target);
    return 0;
}

static int dir_forget(const char *name, struct sl_err *err)
{
    char target[PATH_MAX], problem[PATH_MAX + 64], link[PATH_MAX];
    int r = check_entry(name, target, problem, sizeof(problem), err);

    if (r == 0) {
        return err_set(err, -EBUSY, "pool %s is fine: delete it with 'sluice pool delete'", name);
    }
    if (r != -ESTALE)
        return r;
    r = registry_path(name, link, sizeof(link));
    if (r == 0 && unlink(link) < 0)
        r = -errno;
    return r;
}

static void dir_close(struct pool *pool)
{
    free(pool->priv);
    pool->priv = NULL;
}

static int dir_list(char ***names, size_t *n, struct sl_err *err)
{
    char reg[PATH_MAX];

    int r = pool_record_names(pool_registry_dir(reg, sizeof(reg)), names, n);

    if (r == 0)
        err_clear(err);
    return r;
}

static int dir_create(const struct pool_create_params *p, struct sl_err *err)
{
    char real[PATH_MAX], link[PATH_MAX], reg[PATH_MAX], mname[POOL_NAME_MAX + 1];
    bool made_dir, made_marker = false;
    struct stat st;
    int r;

    if (!p->path || !*p->path) {
        return err_set(err, -EINVAL, "a dir pool needs --path DIR");
    }
    if (p->pvs || p->vg || p->size || p->autoextend_threshold) {
        return err_set(err, -EINVAL, "--pv, --vg, --size and --autoextend are for lvm-thin pools");
    }
    made_dir = stat(p->path, &st) < 0;
    if (!made_dir && !S_ISDIR(st.st_mode)) {
        return err_set(err, -ENOTDIR, "%s is not a directory", p->path);
    }
    r = mkdir_p(p->path, 0755);
    if (r < 0) {
        return err_set(err, r, "%s: %s", p->path, strerror(-r));
    }
    if (!realpath(p->path, real)) {
        r = -errno;
        goto out_dir;
    }
    r = read_marker(real, mname);
    if (r == 0 && strcmp(mname, p->name)) {
        return err_set(err, -EEXIST, "%s already holds dir pool '%s'", real, mname);
    }
    if (r == -ENOENT) {
        r = write_marker(real, p->name);
        if (r < 0) {
            err_set(err, r, "%s: cannot write the pool marker: %s", real, strerror(-r));
            goto out_dir;
        }
        made_marker = true;
    } else if (r < 0) {
        return err_set(err, r, "%s/" MARKER ": %s", real, strerror(-r));
    }
    /* else: the directory already is pool NAME (its registry entry was
     * lost): register it again, volumes and all. */
    r = mkdir_p(pool_registry_dir(reg, sizeof(reg)), 0755);
    if (r < 0) {
        err_set(err, r, "registry %s: %s", reg, strerror(-r));
        goto out_marker;
    }
    r = registry_path(p->name, link, sizeof(link));
    if (r < 0)
        goto out_marker;
    unlink(link);   /* a stale entry (it did not open) */
    if (symlink(real, link) < 0) {
        r = -errno;
        err_set(err, r, "registry %s: %s", link, strerror(errno));
        goto out_marker;
    }
    return 0;

out_marker:
    if (made_marker) {
        char marker[PATH_MAX + 32];
        snprintf(marker, sizeof(marker), "%s/" MARKER, real);
        unlink(marker);
    }
out_dir:
    if (made_dir)
        rmdir(p->path);   /* only the last component, and only when empty */
    return r;
}

static int vol_path(struct pool *pool, const char *vol, char *buf, size_t len)
{
    if ((size_t)snprintf(buf, len, "%s/%s" SUFFIX, priv(pool)->dir, vol) >= len)
        return -ENAMETOOLONG;
    return 0;
}

/* Is @origin (recorded on the file at @path) still the file it was? Its
 * NAME.raw must exist and, when the inode was recorded, be that inode. */
static bool origin_alive(struct pool *pool, const char *path, const char *origin)
{
    char opath[PATH_MAX], ino[32];
    struct stat st;
    ssize_t n;

    if (pool_check_name(origin, NULL) < 0 || vol_path(pool, origin, opath, sizeof(opath)) < 0 ||
        stat(opath, &st) < 0 || !S_ISREG(st.st_mode))
        return false;
    n = getxattr(path, ORIGIN_INO_XATTR, ino, sizeof(ino) - 1);
    if (n <= 0)
        return true;    /* recorded by an older sluice: the name alone */
    ino[n] = '\0';
    return strtoull(ino, NULL, 10) == (unsigned long long)st.st_ino;
}

/* Every volume whose origin is @vol now names @newname, or (NULL) none. */
static void relink_children(struct pool *pool, const char *vol, const char *newname)
{
    char path[PATH_MAX], origin[POOL_NAME_MAX + 1];
    struct dirent *de;
    DIR *d = opendir(priv(pool)->dir);

    if (!d)
        return;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len <= strlen(SUFFIX) || strcmp(de->d_name + len - strlen(SUFFIX), SUFFIX) ||
            (size_t)snprintf(path, sizeof(path), "%s/%s", priv(pool)->dir, de->d_name) >=
                sizeof(path))
            continue;
        ssize_t n = getxattr(path, ORIGIN_XATTR, origin, sizeof(origin) - 1);
        if (n <= 0)
            continue;
        origin[n] = '\0';
        if (strcmp(origin, vol))
            continue;
        /* Best effort: root may always; a user only on a writable file. */
        if (newname) {
            setxattr(path, ORIGIN_XATTR, newname, strlen(newname), 0);
        } else {
            removexattr(path, ORIGIN_XATTR);
            removexattr(path, ORIGIN_INO_XATTR);
        }
    }
    closedir(d);
}

static int fill_vol(struct pool *pool, const char *vol, const char *path, const struct stat *st,
                    struct vol_info *vi, struct sl_err *err)
{
    ssize_t n;

    memset(vi, 0, sizeof(*vi));
    snprintf(vi->name, sizeof(vi->name), "%s", vol);
    snprintf(vi->pool, sizeof(vi->pool), "%s", pool->name);
    snprintf(vi->path, sizeof(vi->path), "%s", path);
    vi->size_bytes = (uint64_t)st->st_size;
    vi->used_bytes = (uint64_t)st->st_blocks * 512;
    vi->readonly = !(st->st_mode & 0222);
    vi->active = true;
    n = getxattr(path, ORIGIN_XATTR, vi->origin, sizeof(vi->origin) - 1);
    vi->origin[n > 0 ? n : 0] = '\0';
    if (vi->origin[0] && !origin_alive(pool, path, vi->origin))
        vi->origin[0] = '\0';
    vi->in_use = pool_path_locked(path) > 0;
    return 0;
}

static int dir_vol_info(struct pool *pool, const char *vol, struct vol_info *out, struct sl_err *err)
{
    char path[PATH_MAX];
    struct stat st;
    int r = vol_path(pool, vol, path, sizeof(path));

    if (r < 0)
        return r;
    if (stat(path, &st) < 0)
        return -errno;
    if (!S_ISREG(st.st_mode))
        return -ENOENT;
    return fill_vol(pool, vol, path, &st, out, err);
}

static int dir_vol_list(struct pool *pool, struct vol_info **out, size_t *n, struct sl_err *err)
{
    struct vol_info *arr = NULL;
    size_t count = 0;
    struct dirent *de;
    DIR *d = opendir(priv(pool)->dir);

    *out = NULL;
    *n = 0;
    if (!d)
        return -errno;
    while ((de = readdir(d))) {
        char name[POOL_NAME_MAX + 1];
        size_t len = strlen(de->d_name);
        if (len <= strlen(SUFFIX) || strcmp(de->d_name + len - strlen(SUFFIX), SUFFIX) ||
            len - strlen(SUFFIX) > POOL_NAME_MAX)
            continue;
        memcpy(name, de->d_name, len - strlen(SUFFIX));
        name[len - strlen(SUFFIX)] = '\0';
        if (pool_check_name(name, NULL) < 0)
            continue;
        struct vol_info *a = realloc(arr, (count + 1) * sizeof(*arr));
        if (!a) {
            closedir(d);
            free(arr);
            return -ENOMEM;
        }
        arr = a;
        if (dir_vol_info(pool, name, &arr[count], err) == 0)
            count++;
    }
    closedir(d);
    err_clear(err);
    *out = arr;
    *n = count;
    return 0;
}

static int dir_info(struct pool *pool, struct pool_info *out, struct sl_err *err)
{
    struct statvfs sv;
    struct vol_info *vols;
    size_t n;
    int r;

    memset(out, 0, sizeof(*out));
    snprintf(out->name, sizeof(out->name), "%s", pool->name);
    out->type = POOL_TYPE_DIR;
    snprintf(out->location, sizeof(out->location), "%s", priv(pool)->dir);
    if (statvfs(priv(pool)->dir, &sv) < 0)
        return -errno;
    out->size_bytes = (uint64_t)sv.f_blocks * sv.f_frsize;
    out->free_bytes = (uint64_t)sv.f_bavail * sv.f_frsize;
    out->active = true;
    r = dir_vol_list(pool, &vols, &n, err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++) {
        out->used_bytes += vols[i].used_bytes;
        out->provisioned_bytes += vols[i].size_bytes;
    }
    out->volumes = (unsigned)n;
    free(vols);
    return 0;
}

static int fs_limits(struct pool *pool, uint64_t *total, uint64_t *avail, struct sl_err *err)
{
    struct statvfs sv;
    if (statvfs(priv(pool)->dir, &sv) < 0)
        return -errno;
    *total = (uint64_t)sv.f_blocks * sv.f_frsize;
    *avail = (uint64_t)sv.f_bavail * sv.f_frsize;
    return 0;
}

/* Set the size of a sparse volume file: nothing is allocated, so thin
 * overcommit past the file system's size is allowed (the CLI warns). */
static int set_size(int fd, const char *path, uint64_t size, struct sl_err *err)
{
    if (size > (uint64_t)INT64_MAX || ftruncate(fd, (off_t)size) < 0) {
        int e = size > (uint64_t)INT64_MAX ? EFBIG : errno;
        if (e == EFBIG || e == EINVAL)
            return err_set(err, -EFBIG, "%llu bytes is larger than the file system allows for "
                           "one file (%s)", (unsigned long long)size, path);
        return -e;
    }
    return 0;
}

static int dir_vol_create(struct pool *pool, const char *vol, uint64_t size, struct sl_err *err)
{
    char path[PATH_MAX];
    int fd, r = vol_path(pool, vol, path, sizeof(path));

    if (r < 0)
        return r;
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    r = set_size(fd, path, size, err);
    if (r < 0)
        unlink(path);
    close(fd);
    return r;
}

static int dir_vol_resize(struct pool *pool, const char *vol, uint64_t size, bool force, struct sl_err *err)
{
    char path[PATH_MAX];
    struct stat st;
    int r = vol_path(pool, vol, path, sizeof(path));

    if (r < 0)
        return r;
    if (stat(path, &st) < 0)
        return -errno;
    if (size < (uint64_t)st.st_size && !force) {
        return err_set(err, -EINVAL, "shrinking from %llu to %llu bytes loses data (use --force)",
                        (unsigned long long)st.st_size, (unsigned long long)size);
    }
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    r = set_size(fd, path, size, err);
    close(fd);
    return r;
}

/* Snapshot (@readonly) or clone @src as @dst: reflink, else sparse copy. */
static int dir_copy(struct pool *pool, const char *src, const char *dst, bool readonly,
                    pool_progress_cb cb, void *opaque, struct sl_err *err)
{
    char spath[PATH_MAX], dpath[PATH_MAX], tmp[PATH_MAX + 16];
    uint64_t total = 0, avail = 0;
    struct stat st;
    int sfd, dfd, r;

    if ((r = vol_path(pool, src, spath, sizeof(spath))) < 0 ||
        (r = vol_path(pool, dst, dpath, sizeof(dpath))) < 0)
        return r;
    snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", priv(pool)->dir, dst);
    sfd = open(spath, O_RDONLY | O_CLOEXEC);
    if (sfd < 0)
        return -errno;
    if (fstat(sfd, &st) < 0) {
        r = -errno;
        goto out_src;
    }
    unlink(tmp);
    dfd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (dfd < 0) {
        r = -errno;
        goto out_src;
    }
    if (ioctl(dfd, FICLONE, sfd) < 0) {
        /* No reflink here: a full copy, if it fits. */
        r = fs_limits(pool, &total, &avail, err);
        if (r == 0 && (uint64_t)st.st_blocks * 512 > avail) {
            r = err_set(err, -ENOSPC, "pool out of space: copying %llu allocated bytes, %llu available "
                             "(no reflink on this file system)",
                             (unsigned long long)st.st_blocks * 512, (unsigned long long)avail);
        }
        if (r == 0 && ftruncate(dfd, st.st_size) < 0)
            r = -errno;
        if (r == 0)
            r = pool_copy_fd(sfd, dfd, (uint64_t)st.st_size, true, cb, opaque);
        if (r < 0)
            goto out_unlink;
    }
    /* Where xattrs are not supported the origin is simply not recorded. */
    char ino[32];
    int ilen = snprintf(ino, sizeof(ino), "%llu", (unsigned long long)st.st_ino);
    if (fsetxattr(dfd, ORIGIN_XATTR, src, strlen(src), 0) == 0)
        fsetxattr(dfd, ORIGIN_INO_XATTR, ino, (size_t)ilen, 0);
    if (readonly && fchmod(dfd, 0400) < 0) {
        r = -errno;
        goto out_unlink;
    }
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dpath, RENAME_NOREPLACE) < 0) {
        r = -errno;
        goto out_unlink;
    }
    close(dfd);
    close(sfd);
    return 0;

out_unlink:
    close(dfd);
    unlink(tmp);
out_src:
    close(sfd);
    return r;
}

static int dir_vol_snapshot(struct pool *pool, const char *src, const char *dst,
                            pool_progress_cb cb, void *opaque, struct sl_err *err)
{
    return dir_copy(pool, src, dst, true, cb, opaque, err);
}

static int dir_vol_clone(struct pool *pool, const char *src, const char *dst,
                         pool_progress_cb cb, void *opaque, struct sl_err *err)
{
    return dir_copy(pool, src, dst, false, cb, opaque, err);
}

static int dir_vol_rename(struct pool *pool, const char *vol, const char *newname, struct sl_err *err)
{
    char a[PATH_MAX], b[PATH_MAX];
    int r;

    if ((r = vol_path(pool, vol, a, sizeof(a))) < 0 ||
        (r = vol_path(pool, newname, b, sizeof(b))) < 0)
        return r;
    if (renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_NOREPLACE) < 0)
        return -errno;
    relink_children(pool, vol, newname);
    return 0;
}

static int dir_vol_delete(struct pool *pool, const char *vol, bool force, struct sl_err *err)
{
    char path[PATH_MAX];
    int r = vol_path(pool, vol, path, sizeof(path));

    if (r < 0)
        return r;
    /* A served file stays readable by its holder after the unlink. */
    if (unlink(path) < 0)
        return -errno;
    relink_children(pool, vol, NULL);
    return 0;
}

static void dir_vol_replaced(struct pool *pool, const char *vol)
{
    relink_children(pool, vol, NULL);
}

static int dir_vol_activate(struct pool *pool, const char *vol, char path[PATH_MAX], struct sl_err *err)
{
    int r = vol_path(pool, vol, path, PATH_MAX);
    if (r < 0)
        return r;
    return access(path, F_OK) < 0 ? -errno : 0;
}

static int dir_vol_in_use(struct pool *pool, const char *vol, struct sl_err *err)
{
    char path[PATH_MAX];
    int r = vol_path(pool, vol, path, sizeof(path));
    if (r < 0)
        return r;
    return pool_path_locked(path);
}

static int dir_destroy(struct pool *pool, bool force, struct sl_err *err)
{
    char path[PATH_MAX + 32], link[PATH_MAX];
    struct vol_info *vols;
    size_t n;
    int r;

    r = dir_vol_list(pool, &vols, &n, err);
    if (r < 0)
        return r;
    /* pool_destroy() checked: no volume in use, and volumes only with force. */
    for (size_t i = 0; i < n; i++) {
        if (unlink(vols[i].path) < 0 && errno != ENOENT) {
            r = -errno;
            free(vols);
            return r;
        }
    }
    free(vols);
    snprintf(path, sizeof(path), "%s/" MARKER, priv(pool)->dir);
    if (unlink(path) < 0 && errno != ENOENT)
        return -errno;
    rmdir(priv(pool)->dir);   /* only when empty: other files stay */
    r = registry_path(pool->name, link, sizeof(link));
    if (r == 0 && unlink(link) < 0 && errno != ENOENT)
        r = -errno;
    return r;
}

const struct pool_ops pool_dir_ops = {
    .type = "dir",
    .type_id = POOL_TYPE_DIR,
    .available = dir_available,
    .create = dir_create,
    .open = dir_open,
    .close = dir_close,
    .list = dir_list,
    .info = dir_info,
    .destroy = dir_destroy,
    .vol_list = dir_vol_list,
    .vol_info = dir_vol_info,
    .vol_create = dir_vol_create,
    .vol_resize = dir_vol_resize,
    .vol_snapshot = dir_vol_snapshot,
    .vol_clone = dir_vol_clone,
    .vol_rename = dir_vol_rename,
    .vol_delete = dir_vol_delete,
    .vol_activate = dir_vol_activate,
    .vol_in_use = dir_vol_in_use,
    .vol_replaced = dir_vol_replaced,
    .broken = dir_broken,
    .forget = dir_forget,
};
