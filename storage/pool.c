/* SPDX-License-Identifier: Apache-2.0 */
/* Pools: names, sizes, error text, driver dispatch, import/export, and the
 * entry points sluiced uses (resolve, in-use, claim). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/name.h"
#include "core/opts.h"
#include "lvm.h"
#include "pool-int.h"
#include "storage/pool.h"

const struct pool_ops *const pool_drivers[] = {
    &pool_dir_ops,
    &pool_lvm_thin_ops,
    &pool_rbd_ops,
    NULL,
};

/* ---------------------------------------------------------------------------
 * Errors. */

const char *pool_strerror(int err)
{
    switch (err < 0 ? -err : err) {
    case ENOENT: return "not found";
    case EEXIST: return "name taken";
    case EINVAL: return "invalid argument";
    case ERANGE: return "size out of range";
    case ENOSPC: return "pool out of space";
    case EBUSY: return "volume in use (use --force to override)";
    case ENOTEMPTY: return "pool is not empty (use --force to delete its volumes too)";
    case EPERM:
    case EACCES: return "missing privileges (run as root)";
    case ENODEV: return "LVM or device-mapper not available "
                        "(use a dir pool: sluice pool create NAME --type dir --path DIR)";
    case EROFS: return "volume is read-only";
    case ESTALE: return "pool is broken (its storage is gone)";
    case EFBIG: return "larger than the file system allows for one file";
    case EIO: return "I/O or command failure";
    case ETIMEDOUT: return "Ceph cluster did not answer (timed out)";
    case EHOSTUNREACH: return "Ceph cluster unreachable";
    default: return strerror(err < 0 ? -err : err);
    }
}

const char *pool_type_name(enum pool_type t)
{
    switch (t) {
    case POOL_TYPE_LVM_THIN: return "lvm-thin";
    case POOL_TYPE_DIR: return "dir";
    case POOL_TYPE_RBD: return "rbd";
    default: return NULL;
    }
}

enum pool_type pool_type_parse(const char *name)
{
    if (name && !strcmp(name, "lvm-thin"))
        return POOL_TYPE_LVM_THIN;
    if (name && !strcmp(name, "dir"))
        return POOL_TYPE_DIR;
    if (name && !strcmp(name, "rbd"))
        return POOL_TYPE_RBD;
    return POOL_TYPE_NONE;
}

/* ---------------------------------------------------------------------------
 * Names and sizes. */

int pool_check_name(const char *name, struct sl_err *err)
{
    /* Substrings LVM reserves for its hidden sub-volumes. */
    static const char *const reserved[] = {
        "_cdata", "_cmeta", "_corig", "_cpool", "_cvol", "_wcorig", "_mimage",
        "_mlog", "_pmspare", "_rimage", "_rmeta", "_tdata", "_tmeta", "_tpool",
        "_vdata", "_vorigin", "_iorig", "_imeta", NULL,
    };
    /* What LVM accepts for a VG or LV name, and a file name too. */
    static const struct name_rules rules = {
        .max = POOL_NAME_MAX, .extra = "_.+-", .not_first = "-.",
        .allowed_text = "letters, digits, _ . + -",
    };

    if (name_check(name, &rules, err) < 0)
        return -EINVAL;   /* too long too: the callers' usage error */
    if (!strncmp(name, "snapshot", 8) || !strncmp(name, "pvmove", 6)) {
        return err_set(err, -EINVAL, "invalid name: prefix reserved by LVM");
    }
    for (size_t i = 0; reserved[i]; i++) {
        if (strstr(name, reserved[i])) {
            return err_set(err, -EINVAL, "invalid name: '%s' is reserved by LVM", reserved[i]);
        }
    }
    return 0;
}

int pool_parse_size(const char *s, uint64_t *out, struct sl_err *err)
{
    uint64_t x;
    int r = parse_size(s, &x);

    if (r == -ERANGE || (r == 0 && x > (1ull << 50))) {
        return err_set(err, -ERANGE, "invalid size '%s': too large (at most 1P)", s);
    }
    if (r < 0) {
        return err_set(err, -EINVAL, "invalid size '%s' (examples: 512M, 20G, 1T)", s ? s : "");
    }
    if (x == 0) {
        return err_set(err, -EINVAL, "invalid size '%s': must not be zero", s);
    }
    *out = ALIGN_UP_512(x);
    return 0;
}

int pool_parse_spec(const char *spec, char pool[POOL_NAME_MAX + 1], char vol[POOL_NAME_MAX + 1], struct sl_err *err)
{
    const char *slash = spec ? strchr(spec, '/') : NULL;
    size_t plen;
    int r;

    if (!slash || strchr(slash + 1, '/')) {
        return err_set(err, -EINVAL, "invalid volume '%s': expected POOL/VOL", spec ? spec : "");
    }
    plen = (size_t)(slash - spec);
    if (plen > POOL_NAME_MAX || plen == 0) {
        return err_set(err, -EINVAL, "invalid volume '%s': expected POOL/VOL", spec);
    }
    memcpy(pool, spec, plen);
    pool[plen] = '\0';
    r = pool_check_name(pool, err);
    if (r < 0)
        return r;
    r = pool_check_name(slash + 1, err);
    if (r < 0)
        return r;
    snprintf(vol, POOL_NAME_MAX + 1, "%s", slash + 1);
    return 0;
}

int pool_rbd_check(const char *ceph_pool, const char *ceph_id, struct sl_err *err)
{
    static const struct name_rules pool_rules = {
        .max = POOL_RBD_POOL_MAX, .extra = NULL, .forbidden = "/@:",
        .allowed_text = "printable characters but / @ :",
    };
    static const struct name_rules id_rules = {
        .max = POOL_RBD_ID_MAX, .extra = "_.-", .allowed_text = "letters, digits, _ . -",
    };
    struct sl_err why = ERR_INIT;

    if (name_check(ceph_pool ? ceph_pool : "", &pool_rules, &why) < 0)
        return err_set(err, -EINVAL, "invalid Ceph pool '%s': %s", ceph_pool ? ceph_pool : "",
                       why.msg);
    if (ceph_id && name_check(ceph_id, &id_rules, &why) < 0)
        return err_set(err, -EINVAL, "invalid Ceph id '%s' (the user without 'client.'): %s",
                       ceph_id, why.msg);
    return 0;
}

const char *pool_state_root(void)
{
    const char *st = getenv("SLUICE_STATE_DIR");
    return st && *st ? st : "/var/lib/sluice";
}

const char *pool_registry_dir(char *buf, size_t len)
{
    snprintf(buf, len, "%s/pools", pool_state_root());
    return buf;
}

int pool_record_names(const char *dir, char ***names, size_t *n)
{
    struct dirent *de;
    char **arr = NULL;
    size_t count = 0;
    DIR *d;

    *names = NULL;
    *n = 0;
    d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : -errno;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' || pool_check_name(de->d_name, NULL) < 0)
            continue;
        char **a = realloc(arr, (count + 1) * sizeof(*arr));
        if (!a)
            break;
        arr = a;
        arr[count] = strdup(de->d_name);
        if (arr[count])
            count++;
    }
    closedir(d);
    *names = arr;
    *n = count;
    return 0;
}

/* ---------------------------------------------------------------------------
 * Pools. */

void pool_cache_reports(bool on)
{
    lvm_cache_reports(on);
}

int pool_open(const char *name, struct pool **out, struct sl_err *err)
{
    struct sl_err why = ERR_INIT;
    struct pool *p;
    int r, first_err = 0;

    r = pool_check_name(name, err);
    if (r < 0)
        return r;
    p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    snprintf(p->name, sizeof(p->name), "%s", name);
    for (size_t i = 0; pool_drivers[i]; i++) {
        const struct pool_ops *ops = pool_drivers[i];
        struct sl_err e = ERR_INIT;

        if (ops->available(NULL) < 0) {
            if (!first_err)
                first_err = -ENODEV;
            continue;
        }
        r = ops->open(p, name, &e);
        if (r == 0) {
            p->ops = ops;
            *out = p;
            return 0;
        }
        /* The first real failure (-ESTALE: a broken record) is the reason. */
        if (r != -ENOENT && (!first_err || first_err == -ENODEV)) {
            first_err = r;
            why = e;
        }
    }
    free(p);
    if (first_err && first_err != -ENODEV) {
        if (err)
            *err = why;
        return first_err;
    }
    /* Not found anywhere; an unavailable LVM is only worth a hint. */
    if (first_err == -ENODEV)
        return err_set(err, -ENOENT, "unknown pool (LVM or device-mapper not available here: "
                       "only dir pools can be found)");
    return err_set(err, -ENOENT, "unknown pool");
}

void pool_close(struct pool *pool)
{
    if (!pool)
        return;
    if (pool->ops && pool->ops->close)
        pool->ops->close(pool);
    free(pool);
}

int pool_create(const struct pool_create_params *p, struct pool **out, struct sl_err *err)
{
    const struct pool_ops *ops = NULL;
    struct pool *existing;
    int r;

    r = pool_check_name(p->name, err);
    if (r < 0)
        return r;
    for (size_t i = 0; pool_drivers[i]; i++)
        if (pool_drivers[i]->type_id == p->type)
            ops = pool_drivers[i];
    if (!ops)
        return err_set(err, -EINVAL, "unknown pool type (lvm-thin, dir, rbd)");
    r = ops->available(err);
    if (r < 0)
        return r;
    r = pool_open(p->name, &existing, err);
    if (r == 0) {
        r = err_set(err, -EEXIST, "a %s pool named '%s' exists", existing->ops->type, p->name);
        pool_close(existing);
        return r;
    }
    /* A broken record of the name (-ESTALE) is the driver's to replace. */
    if (r != -ENOENT && r != -ESTALE)
        return r;
    err_clear(err);
    r = ops->create(p, err);
    if (r < 0 || !out)
        return r;
    return pool_open(p->name, out, err);
}

static int cmp_pool(const void *a, const void *b)
{
    return strcmp(((const struct pool_info *)a)->name, ((const struct pool_info *)b)->name);
}

int pool_list(struct pool_info **out, size_t *n, struct sl_err *err)
{
    struct pool_info *arr = NULL;
    size_t count = 0;
    int r = 0;

    *out = NULL;
    *n = 0;
    for (size_t i = 0; pool_drivers[i]; i++) {
        const struct pool_ops *ops = pool_drivers[i];
        char **names = NULL;
        size_t nn = 0;

        if (ops->available(NULL) < 0)
            continue;
        r = ops->list(&names, &nn, err);
        if (r < 0)
            goto out_free;
        for (size_t j = 0; j < nn; j++) {
            struct pool pl = { .ops = ops };
            struct pool_info *a = NULL;
            int opened = -ENOENT;    /* not opened */

            snprintf(pl.name, sizeof(pl.name), "%s", names[j]);
            if (r == 0)
                opened = ops->open(&pl, names[j], NULL);
            /* A pool that does not open is listed when its driver says
             * why (broken() fills a problem: dir and rbd when the storage
             * is gone, rbd when the cluster does not answer). */
            if (r == 0 && (opened == 0 || (opened != -ENOENT && ops->broken))) {
                a = realloc(arr, (count + 1) * sizeof(*arr));
                if (!a)
                    r = -ENOMEM;
                else
                    arr = a;
            }
            if (a && opened == 0) {
                if (ops->info(&pl, &arr[count], NULL) == 0)
                    count++;
            } else if (a) {
                /* Listed, marked broken: the user sees it and can forget it. */
                memset(&arr[count], 0, sizeof(arr[count]));
                snprintf(arr[count].name, sizeof(arr[count].name), "%s", names[j]);
                arr[count].type = ops->type_id;
                if (ops->broken(names[j], &arr[count], NULL) == 0 && arr[count].problem[0])
                    count++;
            }
            if (opened == 0 && ops->close)
                ops->close(&pl);
            free(names[j]);
        }
        free(names);
        if (r < 0)
            goto out_free;
    }
    if (count > 1)
        qsort(arr, count, sizeof(*arr), cmp_pool);
    *out = arr;
    *n = count;
    return 0;

out_free:
    free(arr);
    return r;
}

int pool_get_info(struct pool *pool, struct pool_info *out, struct sl_err *err)
{
    memset(out, 0, sizeof(*out));
    return pool->ops->info(pool, out, err);
}

/* Whatever the driver, a pool with volumes goes only with @force, and never
 * while one of them is in use. */
int pool_destroy(struct pool *pool, bool force, struct sl_err *err)
{
    struct vol_info *vols;
    size_t n;
    int r = pool->ops->vol_list(pool, &vols, &n, err);

    if (r < 0)
        return r;
    if (n && !force)
        r = err_set(err, -ENOTEMPTY, "pool holds %zu volume%s (use --force to delete them too)",
                    n, n == 1 ? "" : "s");
    for (size_t i = 0; r == 0 && i < n; i++)
        if (vols[i].in_use)
            r = err_set(err, -EBUSY, "volume '%s' is in use", vols[i].name);
    free(vols);
    return r < 0 ? r : pool->ops->destroy(pool, force, err);
}

int pool_forget(const char *name, struct sl_err *err)
{
    int r = pool_check_name(name, err);

    if (r < 0)
        return r;
    for (size_t i = 0; pool_drivers[i]; i++) {
        const struct pool_ops *ops = pool_drivers[i];
        if (!ops->forget || ops->available(NULL) < 0)
            continue;
        r = ops->forget(name, err);
        if (r != -ENOENT)
            return r;
    }
    return err_set(err, -ENOENT, "unknown pool");
}

/* ---------------------------------------------------------------------------
 * Volumes. */

enum { VOL_WRITABLE = 1 };

/* The opening of every volume verb: @vol (unless NULL) must exist, its
 * info goes to @vi (unless NULL), and with VOL_WRITABLE it must not be
 * read-only (a snapshot: -EROFS); @dst (unless NULL) is a name that must
 * not exist yet (-EEXIST). Names are checked first (-EINVAL). */
static int vol_prepare(struct pool *pool, const char *vol, const char *dst, unsigned flags,
                       struct vol_info *vi, struct sl_err *err)
{
    struct vol_info own;
    int r;

    if (!vi)
        vi = &own;
    if (vol) {
        r = pool_check_name(vol, err);
        if (r < 0)
            return r;
        memset(vi, 0, sizeof(*vi));
        r = pool->ops->vol_info(pool, vol, vi, err);
        if (r == -ENOENT)
            return err_set(err, r, "unknown volume");
        if (r < 0)
            return r;
        if ((flags & VOL_WRITABLE) && vi->readonly)
            return err_set(err, -EROFS, "volume is read-only (a snapshot of %s): clone it for a "
                           "writable copy", vi->origin[0] ? vi->origin : "a deleted volume");
    }
    if (dst) {
        r = pool_check_name(dst, err);
        if (r < 0)
            return r;
        r = pool->ops->vol_info(pool, dst, &own, err);
        if (r == 0)
            return err_set(err, -EEXIST, "volume '%s' exists", dst);
        if (r != -ENOENT)
            return r;
        err_clear(err);
    }
    return 0;
}

/* -EBUSY, with @hint after "volume in use", while @vol is in use. */
static int refuse_in_use(struct pool *pool, const char *vol, const char *hint,
                         struct sl_err *err)
{
    int r = pool->ops->vol_in_use(pool, vol, err);

    if (r > 0)
        return err_set(err, -EBUSY, "volume in use%s", hint);
    return r;
}

static int cmp_vol(const void *a, const void *b)
{
    return strcmp(((const struct vol_info *)a)->name, ((const struct vol_info *)b)->name);
}

int pool_vol_list(struct pool *pool, struct vol_info **out, size_t *n, struct sl_err *err)
{
    int r = pool->ops->vol_list(pool, out, n, err);

    if (r == 0 && *n > 1)
        qsort(*out, *n, sizeof(**out), cmp_vol);
    return r;
}

int pool_vol_info(struct pool *pool, const char *vol, struct vol_info *out, struct sl_err *err)
{
    return vol_prepare(pool, vol, NULL, 0, out, err);
}

int pool_vol_create(struct pool *pool, const char *vol, uint64_t size, struct sl_err *err)
{
    int r = vol_prepare(pool, NULL, vol, 0, NULL, err);

    if (r < 0)
        return r;
    if (size == 0)
        return -EINVAL;
    return pool->ops->vol_create(pool, vol, size, err);
}

int pool_vol_resize(struct pool *pool, const char *vol, uint64_t size, bool force,
                    struct sl_err *err)
{
    int r = vol_prepare(pool, vol, NULL, VOL_WRITABLE, NULL, err);

    if (r < 0)
        return r;
    if (size == 0)
        return -EINVAL;
    return pool->ops->vol_resize(pool, vol, size, force, err);
}

int pool_vol_snapshot(struct pool *pool, const char *src, const char *dst,
                      pool_progress_cb cb, void *opaque, struct sl_err *err)
{
    int r = vol_prepare(pool, src, dst, 0, NULL, err);

    return r < 0 ? r : pool->ops->vol_snapshot(pool, src, dst, cb, opaque, err);
}

int pool_vol_clone(struct pool *pool, const char *src, const char *dst,
                   pool_progress_cb cb, void *opaque, struct sl_err *err)
{
    int r = vol_prepare(pool, src, dst, 0, NULL, err);

    return r < 0 ? r : pool->ops->vol_clone(pool, src, dst, cb, opaque, err);
}

int pool_vol_rename(struct pool *pool, const char *vol, const char *newname, struct sl_err *err)
{
    int r = vol_prepare(pool, vol, newname, 0, NULL, err);

    /* sluiced holds the volume by name: it would keep serving, and later
     * refresh, a name that no longer exists. */
    if (r == 0)
        r = refuse_in_use(pool, vol, " (sluiced serves it under its current name): remove "
                          "the device first", err);
    return r < 0 ? r : pool->ops->vol_rename(pool, vol, newname, err);
}

int pool_vol_delete(struct pool *pool, const char *vol, bool force, struct sl_err *err)
{
    int r = vol_prepare(pool, vol, NULL, 0, NULL, err);

    if (r == 0 && !force)
        r = refuse_in_use(pool, vol, " (served by sluiced?); use --force to delete anyway", err);
    return r < 0 ? r : pool->ops->vol_delete(pool, vol, force, err);
}

/* ---------------------------------------------------------------------------
 * Copying. */

int pool_fd_size(int fd, uint64_t *size)
{
    struct stat st;

    if (fstat(fd, &st) < 0)
        return -errno;
    if (S_ISREG(st.st_mode)) {
        *size = (uint64_t)st.st_size;
        return 0;
    }
    if (S_ISBLK(st.st_mode)) {
        if (ioctl(fd, BLKGETSIZE64, size) < 0)
            return -errno;
        return 0;
    }
    return -EINVAL;
}

static int zero_range(int fd, bool blk, uint64_t off, uint64_t len)
{
    if (blk) {
        uint64_t range[2] = { off, len };
        if (ioctl(fd, BLKZEROOUT, range) < 0)
            return -errno;
        return 0;
    }
    if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0)
        return 0;
    /* No hole punching: write zeroes. */
    static const char zeros[65536];
    while (len) {
        size_t n = len < sizeof(zeros) ? (size_t)len : sizeof(zeros);
        ssize_t w = pwrite(fd, zeros, n, (off_t)off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        off += (uint64_t)w;
        len -= (uint64_t)w;
    }
    return 0;
}

int pool_copy_fd(int src, int dst, uint64_t len, bool dst_zeroed, pool_progress_cb cb,
                 void *opaque)
{
    enum { CHUNK = 1 << 20 };
    struct stat dst_st;
    char *buf;
    uint64_t off = 0;
    int r = 0;

    if (fstat(dst, &dst_st) < 0)
        return -errno;
    bool blk = S_ISBLK(dst_st.st_mode);
    if (posix_memalign((void **)&buf, 4096, CHUNK))
        return -ENOMEM;
    if (cb)
        cb(opaque, 0, len);
    while (off < len) {
        /* Skip the source's holes without reading them. */
        off_t data = lseek(src, (off_t)off, SEEK_DATA);
        if (data < 0 && errno == ENXIO)
            data = (off_t)len;        /* only a hole up to the end */
        if (data >= 0 && (uint64_t)data > off) {
            uint64_t hole_end = MIN((uint64_t)data, len);
            if (!dst_zeroed) {
                r = zero_range(dst, blk, off, hole_end - off);
                if (r < 0)
                    goto out;
            }
            off = hole_end;
            if (cb)
                cb(opaque, off, len);
            continue;
        }
        size_t n = (size_t)MIN((uint64_t)CHUNK, len - off);
        ssize_t got = pread(src, buf, n, (off_t)off);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            r = -errno;
            goto out;
        }
        if (got == 0) {
            r = -EIO;   /* source shorter than it said */
            goto out;
        }
        n = (size_t)got;
        /* Per 64 KiB block: write data, skip (or zero) zero blocks. */
        for (size_t b = 0; b < n;) {
            size_t bl = MIN((size_t)65536, n - b);
            bool z = mem_is_zero(buf + b, bl);
            size_t e = b + bl;
            while (e < n) {
                size_t bl2 = MIN((size_t)65536, n - e);
                if (mem_is_zero(buf + e, bl2) != z)
                    break;
                e += bl2;
            }
            if (z) {
                if (!dst_zeroed) {
                    r = zero_range(dst, blk, off + b, e - b);
                    if (r < 0)
                        goto out;
                }
            } else {
                for (size_t w = b; w < e;) {
                    ssize_t k = pwrite(dst, buf + w, e - w, (off_t)(off + w));
                    if (k < 0) {
                        if (errno == EINTR)
                            continue;
                        r = -errno;
                        goto out;
                    }
                    w += (size_t)k;
                }
            }
            b = e;
        }
        off += n;
        if (cb)
            cb(opaque, off, len);
    }
    if (fsync(dst) < 0 && errno != EINVAL)
        r = -errno;
out:
    free(buf);
    return r;
}

int pool_path_locked(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    int r = 0;

    if (fd < 0)
        return -errno;
    if (flock(fd, LOCK_EX | LOCK_NB) < 0)
        r = errno == EWOULDBLOCK ? 1 : -errno;
    else
        flock(fd, LOCK_UN);
    close(fd);
    return r;
}

/* Bytes of data in @fd (a regular file's allocation, a block device's size). */
static uint64_t data_bytes(int fd, uint64_t size)
{
    struct stat st;

    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
        return MIN((uint64_t)st.st_blocks * 512, size);
    return size;
}

/* Dir pools are files on a file system that overcommit allows to fill:
 * data about to be copied in must fit what is free (plus what @vi, the
 * volume being overwritten, frees). */
static int room_for(struct pool *pool, const struct vol_info *vi, uint64_t need, struct sl_err *err)
{
    struct pool_info pi;
    int r;

    if (pool->ops->type_id != POOL_TYPE_DIR)
        return 0;     /* lvm-thin: dm-thin checks, the pool errors when full */
    r = pool_get_info(pool, &pi, err);
    if (r < 0)
        return r;
    uint64_t avail = pi.free_bytes + (vi ? vi->used_bytes : 0);
    if (need > avail)
        return err_set(err, -ENOSPC, "pool out of space: %llu bytes of data to copy, "
                       "%llu available", (unsigned long long)need, (unsigned long long)avail);
    return 0;
}

int pool_vol_import(struct pool *pool, const char *vol, const char *src, bool force,
                    pool_progress_cb cb, void *opaque, struct sl_err *err)
{
    char path[PATH_MAX];
    struct vol_info vi;
    uint64_t size;
    int sfd, dfd, r;
    bool fresh = true, stream = false;

    r = pool_check_name(vol, err);
    if (r < 0)
        return r;
    sfd = !strcmp(src, "-") ? dup(0) : open(src, O_RDONLY | O_CLOEXEC);
    if (sfd < 0) {
        r = -errno;
        return err_set(err, r, "%s: %s", src, strerror(-r));
    }
    r = pool_fd_size(sfd, &size);
    if (r < 0 && !strcmp(src, "-") && pool->ops->vol_import_fd) {
        /* A pipe: a stream of unknown size, the volume grows as it comes. */
        stream = true;
        size = 512;
        r = 0;
    } else if (r < 0 || size == 0) {
        r = err_set(err, r < 0 ? r : -EINVAL, "%s: not a non-empty file or block device%s", src,
                    !strcmp(src, "-") ? " (a pipe only into rbd pools)" : "");
        goto out_src;
    }
    r = vol_prepare(pool, vol, NULL, force ? VOL_WRITABLE : 0, &vi, err);
    if (r == 0) {
        if (!force) {
            r = err_set(err, -EEXIST, "volume '%s' exists (use --force to overwrite it)", vol);
            goto out_src;
        }
        r = refuse_in_use(pool, vol, "", err);
        if (r == 0)
            r = room_for(pool, &vi, data_bytes(sfd, size), err);
        if (r == 0 && vi.size_bytes < size && !stream)
            r = pool->ops->vol_resize(pool, vol, ALIGN_UP_512(size), false, err);
        if (r < 0)
            goto out_src;
        fresh = false;
    } else if (r == -ENOENT) {
        err_clear(err);
        r = room_for(pool, NULL, data_bytes(sfd, size), err);
        if (r == 0)
            r = pool->ops->vol_create(pool, vol, ALIGN_UP_512(size), err);
        if (r < 0)
            goto out_src;
    } else {
        goto out_src;
    }
    if (pool->ops->vol_import_fd) {
        if (!fresh && pool->ops->vol_replaced)
            pool->ops->vol_replaced(pool, vol);
        r = pool->ops->vol_import_fd(pool, vol, sfd, stream ? 0 : size, fresh, cb, opaque, err);
        goto out_vol;
    }
    r = pool->ops->vol_activate(pool, vol, path, err);
    if (r < 0)
        goto out_vol;
    dfd = open(path, O_WRONLY | O_CLOEXEC);
    if (dfd < 0) {
        r = -errno;
        err_set(err, r, "%s: %s", path, strerror(-r));
        goto out_vol;
    }
    if (!fresh && pool->ops->vol_replaced)
        pool->ops->vol_replaced(pool, vol);
    r = pool_copy_fd(sfd, dfd, size, fresh, cb, opaque);
    if (r < 0 && !err_isset(err))
        err_set(err, r, "copy failed: %s", strerror(-r));
    close(dfd);
out_vol:
    /* A volume this call made goes again; an overwritten one stays. */
    if (r < 0 && fresh)
        pool->ops->vol_delete(pool, vol, true, NULL);
out_src:
    close(sfd);
    return r;
}

/* Export through the driver (rbd): into a new (or, @force, truncated)
 * regular file, written sparse, or a block device large enough. */
static int export_fd(struct pool *pool, const char *vol, const char *dst, bool force, bool made,
                     pool_progress_cb cb, void *opaque, struct sl_err *err)
{
    struct vol_info vi;
    struct stat st;
    uint64_t dsize;
    bool blk = stat(dst, &st) == 0 && S_ISBLK(st.st_mode);
    int dfd, r;

    dfd = open(dst, O_WRONLY | O_CLOEXEC | (blk ? O_EXCL : O_CREAT | (force ? O_TRUNC : O_EXCL)),
               0644);
    if (dfd < 0) {
        r = -errno;
        if (errno == EEXIST && !blk)
            return err_set(err, r, "%s exists (use --force to overwrite it)", dst);
        return err_set(err, r, "%s: %s", dst, strerror(-r));
    }
    r = blk ? pool_fd_size(dfd, &dsize) : 0;
    if (r == 0 && blk && (r = pool->ops->vol_info(pool, vol, &vi, err)) == 0 &&
        dsize < vi.size_bytes)
        r = err_set(err, -ENOSPC, "%s is smaller than the volume", dst);
    if (r == 0)
        r = pool->ops->vol_export_fd(pool, vol, dfd, !blk, false, cb, opaque, err);
    if (r < 0 && !err_isset(err))
        err_set(err, r, "copy failed: %s", strerror(-r));
    close(dfd);
    if (r < 0 && made)
        unlink(dst);
    return r;
}

int pool_vol_export(struct pool *pool, const char *vol, const char *dst, bool force,
                    pool_progress_cb cb, void *opaque, struct sl_err *err)
{
    char path[PATH_MAX];
    struct stat st;
    uint64_t size, dsize;
    int sfd, dfd, r;
    bool fresh, made;

    r = vol_prepare(pool, vol, NULL, 0, NULL, err);
    if (r < 0)
        return r;
    if (!strcmp(dst, "-")) {
        /* Standard output, in order (a pipe or a file). */
        if (!pool->ops->vol_export_fd)
            return err_set(err, -EINVAL, "export to - (standard output) is for rbd pools");
        return pool->ops->vol_export_fd(pool, vol, 1, false, true, cb, opaque, err);
    }
    made = lstat(dst, &st) < 0;
    if (!force && !made)
        return err_set(err, -EEXIST, "%s exists (use --force to overwrite it)", dst);
    if (pool->ops->vol_export_fd)
        return export_fd(pool, vol, dst, force, made, cb, opaque, err);
    r = pool->ops->vol_activate(pool, vol, path, err);
    if (r < 0)
        return r;
    sfd = open(path, O_RDONLY | O_CLOEXEC);
    if (sfd < 0) {
        r = -errno;
        return err_set(err, r, "%s: %s", path, strerror(-r));
    }
    r = pool_fd_size(sfd, &size);
    if (r < 0)
        goto out_src;
    if (stat(dst, &st) == 0 && S_ISBLK(st.st_mode)) {
        dfd = open(dst, O_WRONLY | O_CLOEXEC | O_EXCL);
        if (dfd < 0) {
            r = -errno;
            err_set(err, r, "%s: %s", dst, strerror(-r));
            goto out_src;
        }
        r = pool_fd_size(dfd, &dsize);
        if (r == 0 && dsize < size)
            r = err_set(err, -ENOSPC, "%s is smaller than the volume", dst);
        fresh = false;
    } else {
        /* Without --force only a new file (O_EXCL: no race with another). */
        dfd = open(dst, O_WRONLY | O_CREAT | O_CLOEXEC | (force ? O_TRUNC : O_EXCL), 0644);
        if (dfd < 0) {
            r = -errno;
            if (errno == EEXIST)
                err_set(err, r, "%s exists (use --force to overwrite it)", dst);
            else
                err_set(err, r, "%s: %s", dst, strerror(-r));
            goto out_src;
        }
        if (ftruncate(dfd, (off_t)size) < 0) {
            r = -errno;
            err_set(err, r, "%s: %s", dst, strerror(-r));
        }
        fresh = true;
    }
    if (r == 0)
        r = pool_copy_fd(sfd, dfd, size, fresh, cb, opaque);
    if (r < 0 && !err_isset(err))
        err_set(err, r, "copy failed: %s", strerror(-r));
    close(dfd);
    if (r < 0 && made)
        unlink(dst);
out_src:
    close(sfd);
    return r;
}

/* ---------------------------------------------------------------------------
 * For sluiced. */

/* Open the pool of "POOL/VOL" and check the volume; its name into @vname. */
static int open_spec(const char *spec, struct pool **pool, char vname[POOL_NAME_MAX + 1],
                     struct sl_err *err)
{
    char pname[POOL_NAME_MAX + 1];
    int r = pool_parse_spec(spec, pname, vname, err);

    if (r == 0)
        r = pool_open(pname, pool, err);
    if (r == 0 && (r = vol_prepare(*pool, vname, NULL, 0, NULL, err)) < 0)
        pool_close(*pool);
    return r;
}

int pool_volume_resolve(const char *spec, char **path_out, struct sl_err *err)
{
    char vname[POOL_NAME_MAX + 1], path[PATH_MAX];
    struct pool *pool;
    int r = open_spec(spec, &pool, vname, err);

    if (r < 0)
        return r;
    r = pool->ops->vol_activate(pool, vname, path, err);
    if (r == 0) {
        *path_out = strdup(path);
        if (!*path_out)
            r = -ENOMEM;
    }
    pool_close(pool);
    return r;
}

int pool_volume_rbd(const char *spec, struct pool_vol_rbd *out, struct sl_err *err)
{
    char vname[POOL_NAME_MAX + 1];
    struct pool *pool;
    int r = open_spec(spec, &pool, vname, err);

    if (r < 0)
        return r;
    memset(out, 0, sizeof(*out));
    if (!pool->ops->vol_rbd)
        r = err_set(err, -EMEDIUMTYPE, "%s is not on an rbd pool", spec);
    else
        r = pool->ops->vol_rbd(pool, vname, out, err);
    pool_close(pool);
    return r;
}

int pool_volume_in_use(const char *spec, struct sl_err *err)
{
    char vname[POOL_NAME_MAX + 1];
    struct pool *pool;
    int r = open_spec(spec, &pool, vname, err);

    if (r < 0)
        return r;
    r = pool->ops->vol_in_use(pool, vname, err);
    pool_close(pool);
    return r;
}

int pool_volume_claim(int fd)
{
    /* A CLI probe holds LOCK_EX for microseconds: retry for up to 1 s. */
    for (int i = 0; i < 100; i++) {
        if (flock(fd, LOCK_SH | LOCK_NB) == 0)
            return 0;
        if (errno != EWOULDBLOCK && errno != EINTR)
            return -errno;
        struct timespec ts = { 0, 10 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    return -EBUSY;
}
