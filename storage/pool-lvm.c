/* SPDX-License-Identifier: Apache-2.0 */
/* The `lvm-thin` pool driver. LVM metadata is the only store of truth:
 *
 *   pool NAME     thin-pool LV named NAME, tagged "sluice.pool", in VG NAME
 *                 (created with --pv; the VG is tagged "sluice.vg" and is
 *                 removed with the pool) or in an existing VG (--vg VG).
 *                 Found by `lvs @sluice.pool`: the pool's name is the thin
 *                 pool LV's name, unique among sluice pools.
 *   volume VOL    thin LV named VOL in the pool's VG, pool_lv = NAME, tagged
 *                 "sluice.vol". Snapshots: thin snapshots, read-only (-pr),
 *                 activation skip off. Clones: writable thin snapshots.
 *   autoextend    an LVM metadata profile "sluice-autoextend-T-P" attached
 *                 to the thin pool (lv_profile); its file in
 *                 /etc/lvm/profile is rewritten from the name when missing.
 *
 * Commands go through lvm_run() (JSON reports); live usage and open counts
 * through libdevmapper (lvm_dm_*). In use: device-mapper open count > 0. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pool-int.h"
#include "lvm.h"

#define TAG_POOL "sluice.pool"
#define TAG_VOL "sluice.vol"
#define TAG_VG "sluice.vg"
#define PROFILE_DIR "/etc/lvm/profile"
#define PROFILE_FMT "sluice-autoextend-%u-%u"

struct lvm_pool {
    char vg[LVM_NAME_MAX];
    char lv[LVM_NAME_MAX];
};

static struct lvm_pool *priv(struct pool *p)
{
    return p->priv;
}

static int need_root(struct sl_err *err)
{
    if (geteuid() != 0) {
        return err_set(err, -EPERM, "missing privileges: LVM needs root");
    }
    return 0;
}

static int lvm_thin_available(struct sl_err *err)
{
    static const char *const bins[] = { "/sbin/lvm", "/usr/sbin/lvm", NULL };
    const char *env = getenv("SLUICE_LVM");
    bool bin = env && *env && access(env, X_OK) == 0;

    for (size_t i = 0; !bin && !(env && *env) && bins[i]; i++)
        bin = access(bins[i], X_OK) == 0;
    if (!bin) {
        return err_set(err, -ENODEV, "LVM not available: the lvm command is not installed "
                        "(use a dir pool: sluice pool create NAME --type dir --path DIR)");
    }
    if (access("/sys/class/misc/device-mapper", F_OK) < 0 &&
        access("/dev/mapper/control", F_OK) < 0) {
        return err_set(err, -ENODEV, "device-mapper not available in this kernel "
                        "(use a dir pool: sluice pool create NAME --type dir --path DIR)");
    }
    return 0;
}

/* Run an lvm command; its failure's reason goes to the caller's @err.
 * RUN_QUIET: for cleanup after a failure, which keeps the first reason. */
#define RUN(...) lvm_run((const char *const[]){ __VA_ARGS__, NULL }, NULL, err)
#define RUN_QUIET(...) lvm_run((const char *const[]){ __VA_ARGS__, NULL }, NULL, NULL)

static int lv_get(const char *vg, const char *lv, struct lvm_lv *out, struct sl_err *err)
{
    char sel[LVM_NAME_MAX * 2 + 2];
    struct lvm_lv *rows;
    size_t n;
    int r;

    snprintf(sel, sizeof(sel), "%s/%s", vg, lv);
    r = lvm_lvs(sel, &rows, &n, err);
    if (r < 0)
        return r;
    r = -ENOENT;
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(rows[i].name, lv) && !strcmp(rows[i].vg, vg)) {
            *out = rows[i];
            r = 0;
            break;
        }
    }
    free(rows);
    return r;
}

static int vg_get(const char *vg, struct lvm_vg *out, struct sl_err *err)
{
    struct lvm_vg *rows;
    size_t n;
    int r = lvm_vgs(vg, &rows, &n, err);

    if (r < 0)
        return r;
    r = -ENOENT;
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(rows[i].name, vg)) {
            *out = rows[i];
            r = 0;
        }
    }
    free(rows);
    return r;
}

static int lvm_pool_open(struct pool *pool, const char *name, struct sl_err *err)
{
    struct lvm_lv *rows;
    struct lvm_pool *lp = NULL;
    size_t n;
    int r = need_root(err);

    if (r < 0)
        return r;
    r = lvm_lvs("@" TAG_POOL, &rows, &n, err);
    if (r < 0)
        return r;
    r = -ENOENT;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(rows[i].name, name) || strcmp(rows[i].segtype, "thin-pool"))
            continue;
        lp = calloc(1, sizeof(*lp));
        if (!lp) {
            r = -ENOMEM;
            break;
        }
        snprintf(lp->vg, sizeof(lp->vg), "%s", rows[i].vg);
        snprintf(lp->lv, sizeof(lp->lv), "%s", rows[i].name);
        pool->priv = lp;
        r = 0;
        break;
    }
    free(rows);
    return r;
}

static void lvm_pool_close(struct pool *pool)
{
    free(pool->priv);
    pool->priv = NULL;
}

static int lvm_pool_list(char ***names, size_t *n, struct sl_err *err)
{
    struct lvm_lv *rows;
    size_t nr, count = 0;
    char **arr;
    int r = need_root(err);

    *names = NULL;
    *n = 0;
    if (r < 0)
        return r;
    r = lvm_lvs("@" TAG_POOL, &rows, &nr, err);
    if (r < 0)
        return r;
    arr = calloc(nr ? nr : 1, sizeof(*arr));
    if (!arr) {
        free(rows);
        return -ENOMEM;
    }
    for (size_t i = 0; i < nr; i++) {
        if (strcmp(rows[i].segtype, "thin-pool") || pool_check_name(rows[i].name, NULL) < 0)
            continue;
        arr[count] = strdup(rows[i].name);
        if (arr[count])
            count++;
    }
    free(rows);
    err_clear(err);
    *names = arr;
    *n = count;
    return 0;
}

/* --- autoextend profiles ------------------------------------------------ */

static int profile_write(unsigned thr, unsigned pct, struct sl_err *err)
{
    char path[PATH_MAX];
    FILE *f;

    snprintf(path, sizeof(path), PROFILE_DIR "/" PROFILE_FMT ".profile", thr, pct);
    if (access(path, F_OK) == 0)
        return 0;
    f = fopen(path, "w");
    if (!f) {
        int r = -errno;
        return err_set(err, r, "%s: %s", path, strerror(-r));
    }
    fprintf(f, "# written by sluice; the name carries the values (see lv_profile)\n"
               "activation {\n\tthin_pool_autoextend_threshold=%u\n"
               "\tthin_pool_autoextend_percent=%u\n}\n", thr, pct);
    if (fclose(f) != 0)
        return -EIO;
    return 0;
}

static bool profile_parse(const char *profile, unsigned *thr, unsigned *pct)
{
    char tail;
    return sscanf(profile, PROFILE_FMT "%c", thr, pct, &tail) == 2;
}

static int set_autoextend(const char *vg, const char *lv, unsigned thr, unsigned pct, struct sl_err *err)
{
    char sel[LVM_NAME_MAX * 2 + 2], prof[64];
    int r;

    if (thr && (thr < 50 || thr > 99)) {
        return err_set(err, -EINVAL, "autoextend threshold must be 50-99 (percent)");
    }
    if (!pct)
        pct = 20;
    snprintf(sel, sizeof(sel), "%s/%s", vg, lv);
    if (!thr)
        return RUN("lvchange", "-q", "--detachprofile", sel);
    snprintf(prof, sizeof(prof), PROFILE_FMT, thr, pct);
    r = profile_write(thr, pct, err);
    if (r < 0)
        return r;
    return RUN("lvchange", "-q", "--metadataprofile", prof, sel);
}

/* --- pools ---------------------------------------------------------------- */

static uint64_t round_up(uint64_t x, uint64_t a)
{
    return a ? (x + a - 1) / a * a : x;
}

/* --pv DEVICE...: check that no volume group of the pool's name exists and
 * that each device is a block device, then vgcreate it. Returns 0 or
 * -errno (with detail). */
static int pool_make_vg(const struct pool_create_params *p, struct sl_err *err)
{
    struct lvm_vg vg;
    int r;

    r = vg_get(p->name, &vg, err);
    if (r == 0) {
        return err_set(err, -EEXIST, "volume group '%s' exists (use --vg %s)", p->name, p->name);
    }
    if (r != -ENOENT)
        return r;
    for (size_t i = 0; i < p->n_pvs; i++) {
        struct stat st;
        if (stat(p->pvs[i], &st) < 0) {
            return err_set(err, -ENOENT, "physical volume %s: %s", p->pvs[i], strerror(errno));
        }
        if (!S_ISBLK(st.st_mode)) {
            return err_set(err, -EINVAL, "physical volume %s: not a block device", p->pvs[i]);
        }
    }
    const char **argv = calloc(p->n_pvs + 6, sizeof(*argv));
    if (!argv)
        return -ENOMEM;
    size_t k = 0;
    argv[k++] = "vgcreate";
    argv[k++] = "-q";
    argv[k++] = "--addtag";
    argv[k++] = TAG_VG;
    argv[k++] = p->name;
    for (size_t i = 0; i < p->n_pvs; i++)
        argv[k++] = p->pvs[i];
    argv[k] = NULL;
    r = lvm_run(argv, NULL, err);
    free(argv);
    return r;
}

/* --vg VG: the group must exist and have no logical volume of the pool's
 * name. Returns 0 or -errno (with detail). */
static int pool_check_vg(const struct pool_create_params *p, struct sl_err *err)
{
    struct lvm_vg vg;
    struct lvm_lv lv;
    int r;

    r = vg_get(p->vg, &vg, err);
    if (r == -ENOENT) {
        return err_set(err, -ENOENT, "unknown volume group '%s'", p->vg);
    }
    if (r < 0)
        return r;
    r = lv_get(p->vg, p->name, &lv, err);
    if (r == 0) {
        return err_set(err, -EEXIST, "volume group '%s' already has a logical volume '%s'", p->vg,
                        p->name);
    }
    if (r != -ENOENT)
        return r;
    return 0;
}

/* Create the thin pool in @vgname if there is room, set it to error when
 * full and set its autoextend policy; removed again when a later step
 * fails. Returns 0 or -errno (with detail). */
static int pool_make_thin(const struct pool_create_params *p, const char *vgname, struct sl_err *err)
{
    char sizebuf[32], sel[LVM_NAME_MAX * 2 + 2];
    struct lvm_vg vg;
    int r;

    r = vg_get(vgname, &vg, err);
    if (r < 0)
        return r;
    /* Room for the data, its metadata (about 1/1000, at least 4 MiB) and
     * LVM's spare metadata copy. */
    uint64_t ext = vg.extent_size ? vg.extent_size : 4 << 20;
    uint64_t want = p->size ? round_up(p->size, ext) : 0;
    uint64_t meta = round_up(MAX(want / 1000, (uint64_t)4 << 20), ext);
    if (vg.free < 2 * meta + ext || want + 2 * meta > vg.free) {
        return err_set(err, -ENOSPC, "pool out of space: volume group '%s' has %llu bytes free, the pool "
                        "needs %llu (data and metadata)", vgname, (unsigned long long)vg.free,
                        (unsigned long long)(want ? want + 2 * meta : 2 * meta + ext));
    }
    if (p->size) {
        snprintf(sizebuf, sizeof(sizebuf), "%llub", (unsigned long long)want);
        r = RUN("lvcreate", "-q", "--type", "thin-pool", "-L", sizebuf, "-n", p->name,
                  "--addtag", TAG_POOL, vgname);
    } else {
        r = RUN("lvcreate", "-q", "--type", "thin-pool", "-l", "100%FREE", "-n", p->name,
                  "--addtag", TAG_POOL, vgname);
    }
    if (r < 0)
        return r;
    /* Error when full: a full pool fails writes that need new blocks at once
     * (dm-thin's error_if_no_space; lvs shows lv_when_full "error") instead
     * of LVM's default of queueing them until the pool grows or dm-thin's
     * no_space_timeout (60 s) runs out. A guest on a full pool then gets
     * I/O errors (VIRTIO_BLK_S_IOERR) while sluiced and its other queues
     * keep moving, rather than every request of the device hanging. Writes
     * to blocks already mapped still succeed, and once the pool's data is
     * extended (lvextend VG/POOL, or autoextend) new writes succeed again.
     * Set with lvchange: LVM 2.03.16's lvcreate lists --errorwhenfull for
     * thin pools but rejects it ("unsupported with thin pools"). To queue
     * instead: lvchange --errorwhenfull n VG/POOL. */
    snprintf(sel, sizeof(sel), "%s/%s", vgname, p->name);
    r = RUN("lvchange", "-q", "--errorwhenfull", "y", sel);
    if (r < 0) {
        RUN_QUIET("lvremove", "-q", "-f", sel);
        return r;
    }
    if (p->autoextend_threshold) {
        r = set_autoextend(vgname, p->name, p->autoextend_threshold, p->autoextend_percent, err);
        if (r < 0) {
            snprintf(sel, sizeof(sel), "%s/%s", vgname, p->name);
            RUN_QUIET("lvremove", "-q", "-f", sel);
            return r;
        }
    }
    return 0;
}

static int lvm_pool_create(const struct pool_create_params *p, struct sl_err *err)
{
    const char *vgname = p->pvs ? p->name : p->vg;
    int r = need_root(err);

    if (r < 0)
        return r;
    if (p->path) {
        return err_set(err, -EINVAL, "--path is for dir pools");
    }
    if ((p->n_pvs > 0) == (p->vg != NULL)) {
        return err_set(err, -EINVAL, "an lvm-thin pool needs either --pv DEVICE... or --vg VG");
    }
    if (p->autoextend_threshold && (p->autoextend_threshold < 50 || p->autoextend_threshold > 99)) {
        return err_set(err, -EINVAL, "autoextend threshold must be 50-99 (percent)");
    }
    r = p->n_pvs ? pool_make_vg(p, err) : pool_check_vg(p, err);
    if (r < 0)
        return r;
    r = pool_make_thin(p, vgname, err);
    if (r < 0 && p->n_pvs) {
        /* The volume group was made above: remove it again. */
        RUN_QUIET("vgremove", "-q", "-f", p->name);
        for (size_t i = 0; i < p->n_pvs; i++)
            RUN_QUIET("pvremove", "-q", p->pvs[i]);
    }
    return r;
}

static int fill_vol(struct pool *pool, const struct lvm_lv *lv, struct vol_info *vi, struct sl_err *err)
{
    struct lvm_thin_status ts;

    memset(vi, 0, sizeof(*vi));
    snprintf(vi->name, sizeof(vi->name), "%.*s", POOL_NAME_MAX, lv->name);
    snprintf(vi->pool, sizeof(vi->pool), "%s", pool->name);
    snprintf(vi->path, sizeof(vi->path), "/dev/%s/%s", lv->vg, lv->name);
    snprintf(vi->origin, sizeof(vi->origin), "%.*s", POOL_NAME_MAX, lv->origin);
    vi->size_bytes = lv->size;
    vi->readonly = lv->readonly;
    vi->active = lv->active;
    if (lv->active && lvm_dm_thin_status(lv->vg, lv->name, &ts) == 0) {
        vi->used_bytes = ts.mapped_bytes;
        vi->in_use = ts.open_count > 0;
    } else if (lv->data_percent >= 0) {
        vi->used_bytes = (uint64_t)(lv->data_percent * (double)lv->size / 100.0);
    }
    return 0;
}

static bool is_our_vol(struct pool *pool, const struct lvm_lv *lv)
{
    return !strcmp(lv->segtype, "thin") && !strcmp(lv->pool_lv, priv(pool)->lv) &&
           lvm_has_tag(lv->tags, TAG_VOL);
}

static int lvm_vol_list(struct pool *pool, struct vol_info **out, size_t *n, struct sl_err *err)
{
    struct lvm_lv *rows;
    struct vol_info *arr;
    size_t nr, count = 0;
    int r;

    *out = NULL;
    *n = 0;
    r = lvm_lvs(priv(pool)->vg, &rows, &nr, err);
    if (r < 0)
        return r;
    arr = calloc(nr ? nr : 1, sizeof(*arr));
    if (!arr) {
        free(rows);
        return -ENOMEM;
    }
    for (size_t i = 0; i < nr; i++)
        if (is_our_vol(pool, &rows[i]) && pool_check_name(rows[i].name, NULL) == 0)
            fill_vol(pool, &rows[i], &arr[count++], err);
    free(rows);
    *out = arr;
    *n = count;
    return 0;
}

static int lvm_vol_get(struct pool *pool, const char *vol, struct lvm_lv *lv, struct sl_err *err)
{
    int r = lv_get(priv(pool)->vg, vol, lv, err);
    if (r == 0 && !is_our_vol(pool, lv))
        r = -ENOENT;
    return r;
}

static int lvm_vol_info(struct pool *pool, const char *vol, struct vol_info *out, struct sl_err *err)
{
    struct lvm_lv lv;
    int r = lvm_vol_get(pool, vol, &lv, err);
    if (r < 0)
        return r;
    return fill_vol(pool, &lv, out, err);
}

static int lvm_info(struct pool *pool, struct pool_info *out, struct sl_err *err)
{
    struct lvm_pool_status st;
    struct lvm_lv lv;
    struct lvm_vg vg;
    struct vol_info *vols;
    size_t n;
    int r;

    memset(out, 0, sizeof(*out));
    snprintf(out->name, sizeof(out->name), "%s", pool->name);
    out->type = POOL_TYPE_LVM_THIN;
    snprintf(out->location, sizeof(out->location), "%s/%s", priv(pool)->vg, priv(pool)->lv);
    out->has_metadata = true;
    r = lv_get(priv(pool)->vg, priv(pool)->lv, &lv, err);
    if (r < 0)
        return r;
    out->size_bytes = lv.size;
    out->metadata_size_bytes = lv.metadata_size;
    out->active = lv.active;
    if (lv.active && lvm_dm_pool_status(priv(pool)->vg, priv(pool)->lv, &st) == 0 && !st.failed) {
        out->used_bytes = st.data_used_blocks * st.data_block_bytes;
        out->metadata_used_bytes = st.meta_used_blocks * 4096;
        out->metadata_size_bytes = st.meta_total_blocks * 4096;
    } else {
        if (lv.data_percent >= 0)
            out->used_bytes = (uint64_t)(lv.data_percent * (double)lv.size / 100.0);
        if (lv.metadata_percent >= 0)
            out->metadata_used_bytes =
                (uint64_t)(lv.metadata_percent * (double)lv.metadata_size / 100.0);
    }
    if (profile_parse(lv.profile, &out->autoextend_threshold, &out->autoextend_percent))
        profile_write(out->autoextend_threshold, out->autoextend_percent, NULL);
    if (vg_get(priv(pool)->vg, &vg, err) == 0)
        out->free_bytes = vg.free;
    r = lvm_vol_list(pool, &vols, &n, err);
    if (r < 0)
        return r;
    out->volumes = (unsigned)n;
    for (size_t i = 0; i < n; i++)
        out->provisioned_bytes += vols[i].size_bytes;
    free(vols);
    return 0;
}

static int pool_full(struct pool *pool, struct sl_err *err)
{
    struct lvm_pool_status st;

    if (lvm_dm_pool_status(priv(pool)->vg, priv(pool)->lv, &st) < 0)
        return 0;
    if (st.out_of_data_space || (st.data_total_blocks && st.data_used_blocks >= st.data_total_blocks)) {
        return err_set(err, -ENOSPC, "pool out of space: thin pool %s/%s data is full", priv(pool)->vg,
                        priv(pool)->lv);
    }
    if (st.meta_total_blocks && st.meta_used_blocks >= st.meta_total_blocks) {
        return err_set(err, -ENOSPC, "pool out of space: thin pool %s/%s metadata is full", priv(pool)->vg,
                        priv(pool)->lv);
    }
    return 0;
}

static int name_free_in_vg(struct pool *pool, const char *vol, struct sl_err *err)
{
    struct lvm_lv lv;
    int r = lv_get(priv(pool)->vg, vol, &lv, err);

    if (r == 0) {
        return err_set(err, -EEXIST, "volume group '%s' already has a logical volume '%s'", priv(pool)->vg,
                        vol);
    }
    return r == -ENOENT ? 0 : r;
}

static int lvm_vol_create(struct pool *pool, const char *vol, uint64_t size, struct sl_err *err)
{
    char sizebuf[32];
    int r;

    if ((r = need_root(err)) < 0 || (r = name_free_in_vg(pool, vol, err)) < 0 ||
        (r = pool_full(pool, err)) < 0)
        return r;
    snprintf(sizebuf, sizeof(sizebuf), "%llub", (unsigned long long)size);
    return RUN("lvcreate", "-q", "-V", sizebuf, "--thinpool", priv(pool)->lv, "-n", vol,
               "--addtag", TAG_VOL, priv(pool)->vg);
}

static int lvm_vol_resize(struct pool *pool, const char *vol, uint64_t size, bool force, struct sl_err *err)
{
    char sel[LVM_NAME_MAX * 2 + 2], sizebuf[32];
    struct lvm_lv lv;
    int r;

    if ((r = need_root(err)) < 0 || (r = lvm_vol_get(pool, vol, &lv, err)) < 0)
        return r;
    if (size < lv.size && !force) {
        return err_set(err, -EINVAL, "shrinking from %llu to %llu bytes loses data (use --force)",
                        (unsigned long long)lv.size, (unsigned long long)size);
    }
    if (size == lv.size)
        return 0;
    if (size > lv.size && (r = pool_full(pool, err)) < 0)
        return r;
    snprintf(sel, sizeof(sel), "%s/%s", priv(pool)->vg, vol);
    snprintf(sizebuf, sizeof(sizebuf), "%llub", (unsigned long long)size);
    return RUN("lvresize", "-q", "-f", "-L", sizebuf, sel);
}

static int lvm_snap(struct pool *pool, const char *src, const char *dst, bool readonly, struct sl_err *err)
{
    char sel[LVM_NAME_MAX * 2 + 2];
    int r;

    if ((r = need_root(err)) < 0 || (r = name_free_in_vg(pool, dst, err)) < 0 ||
        (r = pool_full(pool, err)) < 0)
        return r;
    snprintf(sel, sizeof(sel), "%s/%s", priv(pool)->vg, src);
    return RUN("lvcreate", "-q", "-s", "-n", dst, "-p", readonly ? "r" : "rw",
               "--setactivationskip", "n", "--addtag", TAG_VOL, sel);
}

static int lvm_vol_snapshot(struct pool *pool, const char *src, const char *dst,
                            pool_progress_cb cb, void *opaque, struct sl_err *err)
{
    return lvm_snap(pool, src, dst, true, err);
}

static int lvm_vol_clone(struct pool *pool, const char *src, const char *dst,
                         pool_progress_cb cb, void *opaque, struct sl_err *err)
{
    return lvm_snap(pool, src, dst, false, err);
}

static int lvm_vol_rename(struct pool *pool, const char *vol, const char *newname, struct sl_err *err)
{
    int r;

    if ((r = need_root(err)) < 0 || (r = name_free_in_vg(pool, newname, err)) < 0)
        return r;
    return RUN("lvrename", "-q", priv(pool)->vg, vol, newname);
}

static int lvm_vol_in_use(struct pool *pool, const char *vol, struct sl_err *err)
{
    struct lvm_thin_status ts;
    int r = lvm_dm_thin_status(priv(pool)->vg, vol, &ts);

    if (r == -ENXIO)
        return 0;
    if (r < 0)
        return r;
    return ts.open_count > 0;
}

static int lvm_vol_delete(struct pool *pool, const char *vol, bool force, struct sl_err *err)
{
    char sel[LVM_NAME_MAX * 2 + 2];
    int r;

    if ((r = need_root(err)) < 0)
        return r;
    if (lvm_vol_in_use(pool, vol, err) > 0) {
        /* The kernel does not remove an open device-mapper device. */
        return err_set(err, -EBUSY, "volume in use: its device is open (stop the sluiced device first; "
                        "--force cannot remove an open logical volume)");
    }
    snprintf(sel, sizeof(sel), "%s/%s", priv(pool)->vg, vol);
    return RUN("lvremove", "-q", "-f", sel);
}

static int lvm_vol_activate(struct pool *pool, const char *vol, char path[PATH_MAX], struct sl_err *err)
{
    char sel[LVM_NAME_MAX * 2 + 2];
    struct lvm_lv lv;
    int r;

    if ((r = need_root(err)) < 0 || (r = lvm_vol_get(pool, vol, &lv, err)) < 0)
        return r;
    snprintf(sel, sizeof(sel), "%s/%s", priv(pool)->vg, vol);
    if (!lv.active) {
        r = RUN("lvchange", "-q", "-ay", "-K", sel);
        if (r < 0)
            return r;
    }
    snprintf(path, PATH_MAX, "/dev/%s/%s", priv(pool)->vg, vol);
    if (access(path, F_OK) < 0) {
        /* Without udev the /dev/VG link may be missing: the mapper node. */
        char name[512];
        if (lvm_dm_name(priv(pool)->vg, vol, NULL, name, sizeof(name)) == 0)
            snprintf(path, PATH_MAX, "/dev/mapper/%s", name);
        if (access(path, F_OK) < 0)
            return -ENXIO;
    }
    return 0;
}

static int lvm_destroy(struct pool *pool, bool force, struct sl_err *err)
{
    char sel[LVM_NAME_MAX * 2 + 2];
    struct vol_info *vols;
    struct lvm_vg vg;
    size_t n;
    int r;

    if ((r = need_root(err)) < 0)
        return r;
    r = lvm_vol_list(pool, &vols, &n, err);
    if (r < 0)
        return r;
    /* pool_destroy() checked: no volume in use, and volumes only with force. */
    for (size_t i = 0; i < n && r == 0; i++) {
        snprintf(sel, sizeof(sel), "%s/%s", priv(pool)->vg, vols[i].name);
        r = RUN("lvremove", "-q", "-f", sel);
    }
    free(vols);
    if (r < 0)
        return r;
    snprintf(sel, sizeof(sel), "%s/%s", priv(pool)->vg, priv(pool)->lv);
    r = RUN("lvremove", "-q", "-f", sel);
    if (r < 0)
        return r;
    /* A VG that sluice made for this pool goes too, once empty. */
    if (vg_get(priv(pool)->vg, &vg, err) == 0 && lvm_has_tag(vg.tags, TAG_VG) && vg.lv_count == 0) {
        struct lvm_pv *pvs;
        size_t np;
        if (lvm_pvs(NULL, &pvs, &np, err) < 0) {
            pvs = NULL;
            np = 0;
        }
        r = RUN("vgremove", "-q", "-f", priv(pool)->vg);
        for (size_t i = 0; r == 0 && i < np; i++)
            if (!strcmp(pvs[i].vg, priv(pool)->vg))
                RUN_QUIET("pvremove", "-q", pvs[i].name);
        free(pvs);
    }
    return r;
}

const struct pool_ops pool_lvm_thin_ops = {
    .type = "lvm-thin",
    .type_id = POOL_TYPE_LVM_THIN,
    .available = lvm_thin_available,
    .create = lvm_pool_create,
    .open = lvm_pool_open,
    .close = lvm_pool_close,
    .list = lvm_pool_list,
    .info = lvm_info,
    .destroy = lvm_destroy,
    .vol_list = lvm_vol_list,
    .vol_info = lvm_vol_info,
    .vol_create = lvm_vol_create,
    .vol_resize = lvm_vol_resize,
    .vol_snapshot = lvm_vol_snapshot,
    .vol_clone = lvm_vol_clone,
    .vol_rename = lvm_vol_rename,
    .vol_delete = lvm_vol_delete,
    .vol_activate = lvm_vol_activate,
    .vol_in_use = lvm_vol_in_use,
};

int pool_set_autoextend(struct pool *pool, unsigned threshold, unsigned percent, struct sl_err *err)
{
    int r;

    if (pool->ops != &pool_lvm_thin_ops) {
        return err_set(err, -EOPNOTSUPP, "autoextend is an lvm-thin feature");
    }
    if ((r = need_root(err)) < 0)
        return r;
    return set_autoextend(priv(pool)->vg, priv(pool)->lv, threshold, percent, err);
}
