/* SPDX-License-Identifier: Apache-2.0 */
/* Pools: names, sizes, error text, driver dispatch, import/export, and the
 * entry points sluiced uses (resolve, in-use, claim). */
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

#include "core/opts.h"
#include "pool-int.h"
#include "storage/pool.h"

const struct pool_ops *const pool_drivers[] = {
    &pool_dir_ops,
    &pool_lvm_thin_ops,
    NULL,
};

/* ---------------------------------------------------------------------------
 * Errors. */

static __thread char detail[512];

void pool_clear_detail(void)
{
    detail[0] = '\0';
}

void pool_set_detail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
}

const char *pool_error_detail(void)
{
    return detail[0] ? detail : NULL;
}

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
    default: return strerror(err < 0 ? -err : err);
    }
}

const char *pool_type_name(enum pool_type t)
{
    switch (t) {
    case POOL_TYPE_LVM_THIN: return "lvm-thin";
    case POOL_TYPE_DIR: return "dir";
    default: return NULL;
    }
}

enum pool_type pool_type_parse(const char *name)
{
    if (name && !strcmp(name, "lvm-thin"))
        return POOL_TYPE_LVM_THIN;
    if (name && !strcmp(name, "dir"))
        return POOL_TYPE_DIR;
    return POOL_TYPE_NONE;
}

/* ---------------------------------------------------------------------------
 * Names and sizes. */

int pool_check_name(const char *name)
{
    /* Substrings LVM reserves for its hidden sub-volumes. */
    static const char *const reserved[] = {
        "_cdata", "_cmeta", "_corig", "_cpool", "_cvol", "_wcorig", "_mimage",
        "_mlog", "_pmspare", "_rimage", "_rmeta", "_tdata", "_tmeta", "_tpool",
        "_vdata", "_vorigin", "_iorig", "_imeta", NULL,
    };
    size_t len;

    if (!name || !*name) {
        pool_set_detail("invalid name: empty");
        return -EINVAL;
    }
    len = strlen(name);
    if (len > POOL_NAME_MAX) {
        pool_set_detail("invalid name: longer than %d characters", POOL_NAME_MAX);
        return -EINVAL;
    }
    if (name[0] == '-' || name[0] == '.') {
        pool_set_detail("invalid name: must not start with '%c'", name[0]);
        return -EINVAL;
    }
    for (const char *p = name; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '+' || c == '-')) {
            pool_set_detail("invalid name: character '%c' (allowed: letters, digits, _ . + -)",
                            c);
            return -EINVAL;
        }
    }
    if (!strncmp(name, "snapshot", 8) || !strncmp(name, "pvmove", 6)) {
        pool_set_detail("invalid name: prefix reserved by LVM");
        return -EINVAL;
    }
    for (size_t i = 0; reserved[i]; i++) {
        if (strstr(name, reserved[i])) {
            pool_set_detail("invalid name: '%s' is reserved by LVM", reserved[i]);
            return -EINVAL;
        }
    }
    return 0;
}

int pool_parse_size(const char *s, uint64_t *out)
{
    uint64_t x;
    int r = parse_size(s, &x);

    if (r == -ERANGE || (r == 0 && x > (1ull << 50))) {
        pool_set_detail("invalid size '%s': too large (at most 1P)", s);
        return -ERANGE;
    }
    if (r < 0) {
        pool_set_detail("invalid size '%s' (examples: 512M, 20G, 1T)", s ? s : "");
        return -EINVAL;
    }
    if (x == 0) {
        pool_set_detail("invalid size '%s': must not be zero", s);
        return -EINVAL;
    }
    *out = ALIGN_UP_512(x);
    return 0;
}

int pool_parse_spec(const char *spec, char pool[POOL_NAME_MAX + 1], char vol[POOL_NAME_MAX + 1])
{
    const char *slash = spec ? strchr(spec, '/') : NULL;
    size_t plen;
    int r;

    if (!slash || strchr(slash + 1, '/')) {
        pool_set_detail("invalid volume '%s': expected POOL/VOL", spec ? spec : "");
        return -EINVAL;
    }
    plen = (size_t)(slash - spec);
    if (plen > POOL_NAME_MAX || plen == 0) {
        pool_set_detail("invalid volume '%s': expected POOL/VOL", spec);
        return -EINVAL;
    }
    memcpy(pool, spec, plen);
    pool[plen] = '\0';
    r = pool_check_name(pool);
    if (r < 0)
        return r;
    r = pool_check_name(slash + 1);
    if (r < 0)
        return r;
    snprintf(vol, POOL_NAME_MAX + 1, "%s", slash + 1);
    return 0;
}

const char *pool_registry_dir(char *buf, size_t len)
{
    const char *st = getenv("SLUICE_STATE_DIR");
    snprintf(buf, len, "%s/pools", st && *st ? st : "/var/lib/sluice");
    return buf;
}

/* ---------------------------------------------------------------------------
 * Pools. */

int pool_open(const char *name, struct pool **out)
{
    char stale[sizeof(detail)] = "";
    struct pool *p;
    int r, first_err = 0;

    pool_clear_detail();
    r = pool_check_name(name);
    if (r < 0)
        return r;
    p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    snprintf(p->name, sizeof(p->name), "%s", name);
    for (size_t i = 0; pool_drivers[i]; i++) {
        const struct pool_ops *ops = pool_drivers[i];
        if (ops->available() < 0) {
            if (!first_err)
                first_err = -ENODEV;
            continue;
        }
        r = ops->open(p, name);
        if (r == 0) {
            p->ops = ops;
            *out = p;
            pool_clear_detail();
            return 0;
        }
        if (r == -ESTALE && !stale[0])
            snprintf(stale, sizeof(stale), "%s", detail);
        if (r != -ENOENT && (!first_err || first_err == -ENODEV))
            first_err = r;
    }
    free(p);
    if (first_err == -ESTALE)
        pool_set_detail("%s", stale);
    /* Not found anywhere; an unavailable LVM is only worth a hint. */
    if (first_err && first_err != -ENODEV)
        return first_err;
    if (first_err == -ENODEV)
        pool_set_detail("unknown pool (LVM or device-mapper not available here: only dir pools "
                        "can be found)");
    else
        pool_set_detail("unknown pool");
    return -ENOENT;
}

void pool_close(struct pool *pool)
{
    if (!pool)
        return;
    if (pool->ops && pool->ops->close)
        pool->ops->close(pool);
    free(pool);
}

int pool_create(const struct pool_create_params *p, struct pool **out)
{
    const struct pool_ops *ops = NULL;
    struct pool *existing;
    int r;

    pool_clear_detail();
    r = pool_check_name(p->name);
    if (r < 0)
        return r;
    for (size_t i = 0; pool_drivers[i]; i++)
        if (pool_drivers[i]->type_id == p->type)
            ops = pool_drivers[i];
    if (!ops) {
        pool_set_detail("unknown pool type (lvm-thin, dir)");
        return -EINVAL;
    }
    r = ops->available();
    if (r < 0)
        return r;
    r = pool_open(p->name, &existing);
    if (r == 0) {
        pool_set_detail("a %s pool named '%s' exists", existing->ops->type, p->name);
        pool_close(existing);
        return -EEXIST;
    }
    /* A broken record of the name (-ESTALE) is the driver's to replace. */
    if (r != -ENOENT && r != -ESTALE)
        return r;
    pool_clear_detail();
    r = ops->create(p);
    if (r < 0 || !out)
        return r;
    return pool_open(p->name, out);
}

static int cmp_pool(const void *a, const void *b)
{
    return strcmp(((const struct pool_info *)a)->name, ((const struct pool_info *)b)->name);
}

int pool_list(struct pool_info **out, size_t *n)
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

        if (ops->available() < 0)
            continue;
        r = ops->list(&names, &nn);
        if (r < 0)
            goto out_free;
        for (size_t j = 0; j < nn; j++) {
            struct pool pl = { .ops = ops };
            struct pool_info *a = NULL;
            int opened = -ENOENT;    /* not opened */

            snprintf(pl.name, sizeof(pl.name), "%s", names[j]);
            if (r == 0)
                opened = ops->open(&pl, names[j]);
            if (r == 0 && (opened == 0 || (opened == -ESTALE && ops->broken))) {
                a = realloc(arr, (count + 1) * sizeof(*arr));
                if (!a)
                    r = -ENOMEM;
                else
                    arr = a;
            }
            if (a && opened == 0) {
                if (ops->info(&pl, &arr[count]) == 0)
                    count++;
            } else if (a) {
                /* Listed, marked broken: the user sees it and can forget it. */
                memset(&arr[count], 0, sizeof(arr[count]));
                snprintf(arr[count].name, sizeof(arr[count].name), "%s", names[j]);
                arr[count].type = ops->type_id;
                if (ops->broken(names[j], &arr[count]) == 0 && arr[count].problem[0])
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

int pool_get_info(struct pool *pool, struct pool_info *out)
{
    memset(out, 0, sizeof(*out));
    return pool->ops->info(pool, out);
}

int pool_destroy(struct pool *pool, bool force)
{
    pool_clear_detail();
    return pool->ops->destroy(pool, force);
}

int pool_forget(const char *name)
{
    int r = pool_check_name(name);

    pool_clear_detail();
    if (r < 0)
        return r;
    for (size_t i = 0; pool_drivers[i]; i++) {
        const struct pool_ops *ops = pool_drivers[i];
        if (!ops->forget || ops->available() < 0)
            continue;
        r = ops->forget(name);
        if (r != -ENOENT)
            return r;
    }
    pool_set_detail("unknown pool");
    return -ENOENT;
}

/* ---------------------------------------------------------------------------
 * Volumes. */

/* Must @vol exist (fill *@out when non-NULL) or must it not? */
static int check_vol_info(struct pool *pool, const char *vol, bool must_exist,
                          struct vol_info *out)
{
    struct vol_info vi;
    int r = pool_check_name(vol);

    if (r < 0)
        return r;
    r = pool->ops->vol_info(pool, vol, out ? out : &vi);
    if (must_exist && r == -ENOENT)
        pool_set_detail("unknown volume");
    if (!must_exist) {
        if (r == 0) {
            pool_set_detail("volume '%s' exists", vol);
            return -EEXIST;
        }
        return r == -ENOENT ? 0 : r;
    }
    return r;
}

static int check_vol(struct pool *pool, const char *vol, bool must_exist)
{
    return check_vol_info(pool, vol, must_exist, NULL);
}

/* -EROFS for a read-only volume (a snapshot): nothing writes it. */
static int refuse_readonly(const struct vol_info *vi)
{
    if (!vi->readonly)
        return 0;
    pool_set_detail("volume is read-only (a snapshot of %s): clone it for a writable copy",
                    vi->origin[0] ? vi->origin : "a deleted volume");
    return -EROFS;
}

static int cmp_vol(const void *a, const void *b)
{
    return strcmp(((const struct vol_info *)a)->name, ((const struct vol_info *)b)->name);
}

int pool_vol_list(struct pool *pool, struct vol_info **out, size_t *n)
{
    int r;

    pool_clear_detail();
    r = pool->ops->vol_list(pool, out, n);
    if (r == 0 && *n > 1)
        qsort(*out, *n, sizeof(**out), cmp_vol);
    return r;
}

int pool_vol_info(struct pool *pool, const char *vol, struct vol_info *out)
{
    int r;

    pool_clear_detail();
    r = pool_check_name(vol);
    if (r < 0)
        return r;
    memset(out, 0, sizeof(*out));
    r = pool->ops->vol_info(pool, vol, out);
    if (r == -ENOENT)
        pool_set_detail("unknown volume");
    return r;
}

int pool_vol_create(struct pool *pool, const char *vol, uint64_t size)
{
    int r;

    pool_clear_detail();
    r = check_vol(pool, vol, false);
    if (r < 0)
        return r;
    if (size == 0)
        return -EINVAL;
    return pool->ops->vol_create(pool, vol, size);
}

int pool_vol_resize(struct pool *pool, const char *vol, uint64_t size, bool force)
{
    struct vol_info vi;
    int r;

    pool_clear_detail();
    r = check_vol_info(pool, vol, true, &vi);
    if (r == 0)
        r = refuse_readonly(&vi);
    if (r < 0)
        return r;
    if (size == 0)
        return -EINVAL;
    return pool->ops->vol_resize(pool, vol, size, force);
}

int pool_vol_snapshot(struct pool *pool, const char *src, const char *dst,
                      pool_progress_cb cb, void *opaque)
{
    int r;

    pool_clear_detail();
    r = check_vol(pool, src, true);
    if (r == 0)
        r = check_vol(pool, dst, false);
    if (r < 0)
        return r;
    return pool->ops->vol_snapshot(pool, src, dst, cb, opaque);
}

int pool_vol_clone(struct pool *pool, const char *src, const char *dst,
                   pool_progress_cb cb, void *opaque)
{
    int r;

    pool_clear_detail();
    r = check_vol(pool, src, true);
    if (r == 0)
        r = check_vol(pool, dst, false);
    if (r < 0)
        return r;
    return pool->ops->vol_clone(pool, src, dst, cb, opaque);
}

int pool_vol_rename(struct pool *pool, const char *vol, const char *newname)
{
    int r;

    pool_clear_detail();
    r = check_vol(pool, vol, true);
    if (r == 0)
        r = check_vol(pool, newname, false);
    if (r < 0)
        return r;
    /* sluiced holds the volume by name: it would keep serving, and later
     * refresh, a name that no longer exists. */
    r = pool->ops->vol_in_use(pool, vol);
    if (r < 0)
        return r;
    if (r > 0) {
        pool_set_detail("volume in use (sluiced serves it under its current name): "
                        "remove the device first");
        return -EBUSY;
    }
    return pool->ops->vol_rename(pool, vol, newname);
}

int pool_vol_delete(struct pool *pool, const char *vol, bool force)
{
    int r;

    pool_clear_detail();
    r = check_vol(pool, vol, true);
    if (r < 0)
        return r;
    if (!force) {
        r = pool->ops->vol_in_use(pool, vol);
        if (r < 0)
            return r;
        if (r > 0) {
            pool_set_detail("volume in use (served by sluiced?); use --force to delete anyway");
            return -EBUSY;
        }
    }
    return pool->ops->vol_delete(pool, vol, force);
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

static bool all_zero(const char *p, size_t len)
{
    /* Aligned buffer: compare words, then memcmp the rest against itself. */
    if (len == 0)
        return true;
    if (p[0])
        return false;
    return !memcmp(p, p + 1, len - 1);
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
            bool z = all_zero(buf + b, bl);
            size_t e = b + bl;
            while (e < n) {
                size_t bl2 = MIN((size_t)65536, n - e);
                if (all_zero(buf + e, bl2) != z)
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
static int room_for(struct pool *pool, const struct vol_info *vi, uint64_t need)
{
    struct pool_info pi;
    int r;

    if (pool->ops->type_id != POOL_TYPE_DIR)
        return 0;     /* lvm-thin: dm-thin checks, the pool errors when full */
    r = pool_get_info(pool, &pi);
    if (r < 0)
        return r;
    uint64_t avail = pi.free_bytes + (vi ? vi->used_bytes : 0);
    if (need > avail) {
        pool_set_detail("pool out of space: %llu bytes of data to copy, %llu available",
                        (unsigned long long)need, (unsigned long long)avail);
        return -ENOSPC;
    }
    return 0;
}

int pool_vol_import(struct pool *pool, const char *vol, const char *src, bool force,
                    pool_progress_cb cb, void *opaque)
{
    char path[PATH_MAX];
    struct vol_info vi;
    uint64_t size;
    int sfd, dfd, r;
    bool fresh = true;

    pool_clear_detail();
    r = pool_check_name(vol);
    if (r < 0)
        return r;
    sfd = open(src, O_RDONLY | O_CLOEXEC);
    if (sfd < 0) {
        r = -errno;
        pool_set_detail("%s: %s", src, strerror(errno));
        return r == -ENOENT ? -ENOENT : r;
    }
    r = pool_fd_size(sfd, &size);
    if (r < 0 || size == 0) {
        pool_set_detail("%s: not a non-empty file or block device", src);
        r = r < 0 ? r : -EINVAL;
        goto out_src;
    }
    r = pool->ops->vol_info(pool, vol, &vi);
    if (r == 0) {
        if (!force) {
            pool_set_detail("volume '%s' exists (use --force to overwrite it)", vol);
            r = -EEXIST;
            goto out_src;
        }
        r = refuse_readonly(&vi);
        if (r < 0)
            goto out_src;
        if (pool->ops->vol_in_use(pool, vol) > 0) {
            pool_set_detail("volume in use");
            r = -EBUSY;
            goto out_src;
        }
        r = room_for(pool, &vi, data_bytes(sfd, size));
        if (r < 0)
            goto out_src;
        if (vi.size_bytes < size) {
            r = pool->ops->vol_resize(pool, vol, ALIGN_UP_512(size), false);
            if (r < 0)
                goto out_src;
        }
        fresh = false;
    } else if (r == -ENOENT) {
        r = room_for(pool, NULL, data_bytes(sfd, size));
        if (r < 0)
            goto out_src;
        r = pool->ops->vol_create(pool, vol, ALIGN_UP_512(size));
        if (r < 0)
            goto out_src;
    } else {
        goto out_src;
    }
    r = pool->ops->vol_activate(pool, vol, path);
    if (r < 0)
        goto out_vol;
    dfd = open(path, O_WRONLY | O_CLOEXEC);
    if (dfd < 0) {
        r = -errno;
        pool_set_detail("%s: %s", path, strerror(errno));
        goto out_vol;
    }
    if (!fresh && pool->ops->vol_replaced)
        pool->ops->vol_replaced(pool, vol);
    r = pool_copy_fd(sfd, dfd, size, fresh, cb, opaque);
    if (r < 0 && !pool_error_detail())
        pool_set_detail("copy failed: %s", strerror(-r));
    close(dfd);
out_vol:
    /* A volume this call made goes again; an overwritten one stays. */
    if (r < 0 && fresh) {
        char saved[sizeof(detail)];
        snprintf(saved, sizeof(saved), "%s", detail);
        pool->ops->vol_delete(pool, vol, true);
        pool_set_detail("%s", saved);
    }
out_src:
    close(sfd);
    return r;
}

int pool_vol_export(struct pool *pool, const char *vol, const char *dst, bool force,
                    pool_progress_cb cb, void *opaque)
{
    char path[PATH_MAX];
    struct stat st;
    uint64_t size, dsize;
    int sfd, dfd, r;
    bool fresh, made;

    pool_clear_detail();
    r = check_vol(pool, vol, true);
    if (r < 0)
        return r;
    made = lstat(dst, &st) < 0;
    if (!force && !made) {
        pool_set_detail("%s exists (use --force to overwrite it)", dst);
        return -EEXIST;
    }
    r = pool->ops->vol_activate(pool, vol, path);
    if (r < 0)
        return r;
    sfd = open(path, O_RDONLY | O_CLOEXEC);
    if (sfd < 0) {
        r = -errno;
        pool_set_detail("%s: %s", path, strerror(errno));
        return r;
    }
    r = pool_fd_size(sfd, &size);
    if (r < 0)
        goto out_src;
    if (stat(dst, &st) == 0 && S_ISBLK(st.st_mode)) {
        dfd = open(dst, O_WRONLY | O_CLOEXEC | O_EXCL);
        if (dfd < 0) {
            r = -errno;
            pool_set_detail("%s: %s", dst, strerror(errno));
            goto out_src;
        }
        r = pool_fd_size(dfd, &dsize);
        if (r == 0 && dsize < size) {
            pool_set_detail("%s is smaller than the volume", dst);
            r = -ENOSPC;
        }
        fresh = false;
    } else {
        /* Without --force only a new file (O_EXCL: no race with another). */
        dfd = open(dst, O_WRONLY | O_CREAT | O_CLOEXEC | (force ? O_TRUNC : O_EXCL), 0644);
        if (dfd < 0) {
            r = -errno;
            if (errno == EEXIST)
                pool_set_detail("%s exists (use --force to overwrite it)", dst);
            else
                pool_set_detail("%s: %s", dst, strerror(errno));
            goto out_src;
        }
        if (ftruncate(dfd, (off_t)size) < 0) {
            r = -errno;
            pool_set_detail("%s: %s", dst, strerror(errno));
        }
        fresh = true;
    }
    if (r == 0)
        r = pool_copy_fd(sfd, dfd, size, fresh, cb, opaque);
    if (r < 0 && !pool_error_detail())
        pool_set_detail("copy failed: %s", strerror(-r));
    close(dfd);
    if (r < 0 && made)
        unlink(dst);
out_src:
    close(sfd);
    return r;
}

/* ---------------------------------------------------------------------------
 * For sluiced. */

int pool_volume_resolve(const char *spec, char **path_out)
{
    char pname[POOL_NAME_MAX + 1], vname[POOL_NAME_MAX + 1], path[PATH_MAX];
    struct pool *pool;
    int r;

    pool_clear_detail();
    r = pool_parse_spec(spec, pname, vname);
    if (r < 0)
        return r;
    r = pool_open(pname, &pool);
    if (r < 0)
        return r;
    r = check_vol(pool, vname, true);
    if (r == 0)
        r = pool->ops->vol_activate(pool, vname, path);
    if (r == 0) {
        *path_out = strdup(path);
        if (!*path_out)
            r = -ENOMEM;
    }
    pool_close(pool);
    return r;
}

int pool_volume_in_use(const char *spec)
{
    char pname[POOL_NAME_MAX + 1], vname[POOL_NAME_MAX + 1];
    struct pool *pool;
    int r;

    pool_clear_detail();
    r = pool_parse_spec(spec, pname, vname);
    if (r < 0)
        return r;
    r = pool_open(pname, &pool);
    if (r < 0)
        return r;
    r = check_vol(pool, vname, true);
    if (r == 0)
        r = pool->ops->vol_in_use(pool, vname);
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
