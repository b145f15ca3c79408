/* SPDX-License-Identifier: Apache-2.0 */
/* The `rbd` pool driver: the images of one Ceph pool, through librados and
 * librbd (their C APIs; no `rbd` command).
 *
 * Where the pool lives (every host sees the same pool):
 *   Ceph pool metadata key "sluice.pool" = NAME   (rbd_pool_metadata_set on
 *       the Ceph pool: the truth; a Ceph pool holds at most one sluice pool)
 *   $SLUICE_STATE_DIR/rbd-pools/NAME   this host's record of how to reach
 *       it, like a libvirt pool XML: {"name","type":"rbd","ceph_pool",
 *       "ceph_conf","ceph_id"}. `pool create NAME --type rbd --ceph-pool P`
 *       on a second host finds the key naming NAME and only writes the
 *       record (adopts the pool, volumes and all).
 *
 * Volumes are the pool's RBD images (format 2). A snapshot volume is an
 * RBD snapshot IMAGE@SNAP; its volume name is SNAP (names are unique across
 * images and snapshots). A clone is a layered clone (clone format 2) of a
 * protected snapshot: of the snapshot named, or, for a clone of an image,
 * of a hidden snapshot ".sluice-clone-DST.N" (N: the first number free;
 * never listed; removed with the last clone made from it). used_bytes
 * counts the objects that hold data (rbd_diff_iterate2, whole objects,
 * without the parent's). A volume is in use while a client watches its
 * header (sluiced's librbd does while it has the image open; the CLI's own
 * read-only opens do not watch). Deleting a volume that has snapshots or
 * clones is refused; `pool delete --force` removes every image of the Ceph
 * pool (snapshots and clones too), its key and the record, never the Ceph
 * pool itself. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>
#include <rados/librados.h>
#include <rbd/librbd.h>

#include "core/io.h"
#include "pool-int.h"

#define META_KEY "sluice.pool"
#define HIDDEN_PREFIX ".sluice-clone-"
#define HIDDEN_MAX (sizeof(HIDDEN_PREFIX) + POOL_NAME_MAX + 4)  /* PREFIX DST.N */
#define COPY_CHUNK (4u << 20)     /* one default RBD object: the copy buffer */
#define TIMEOUT_S "10"            /* cluster unreachable: fail after this */

struct rbd_pool {
    char ceph_pool[POOL_RBD_POOL_MAX + 1];
    char conf[PATH_MAX];
    char id[POOL_RBD_ID_MAX + 1];
    rados_t cluster;
    rados_ioctx_t io;
    bool connected;
};

/* librados and librbd are loaded on first use (dlopen), not linked: every
 * program with pools (the CLI, sluiced) would otherwise load and initialise
 * those large C++ libraries on each start, rbd pools or not (measured: 5 ms
 * and 3 MiB for `sluice --help` without them, 28 ms and 21 MiB with). */
#define LIB_FNS(X) \
    X(rados_cluster_stat) \
    X(rados_conf_get) \
    X(rados_conf_read_file) \
    X(rados_conf_set) \
    X(rados_connect) \
    X(rados_create) \
    X(rados_ioctx_create) \
    X(rados_ioctx_destroy) \
    X(rados_shutdown) \
    X(rbd_clone3) \
    X(rbd_close) \
    X(rbd_create4) \
    X(rbd_diff_iterate2) \
    X(rbd_flush) \
    X(rbd_get_parent) \
    X(rbd_get_size) \
    X(rbd_image_options_create) \
    X(rbd_image_options_destroy) \
    X(rbd_image_options_set_uint64) \
    X(rbd_image_spec_list_cleanup) \
    X(rbd_linked_image_spec_cleanup) \
    X(rbd_linked_image_spec_list_cleanup) \
    X(rbd_list2) \
    X(rbd_list_children3) \
    X(rbd_open) \
    X(rbd_open_read_only) \
    X(rbd_pool_metadata_get) \
    X(rbd_pool_metadata_remove) \
    X(rbd_pool_metadata_set) \
    X(rbd_read2) \
    X(rbd_remove) \
    X(rbd_rename) \
    X(rbd_resize2) \
    X(rbd_snap_create) \
    X(rbd_snap_is_protected) \
    X(rbd_snap_list) \
    X(rbd_snap_list_end) \
    X(rbd_snap_protect) \
    X(rbd_snap_remove) \
    X(rbd_snap_rename) \
    X(rbd_snap_set) \
    X(rbd_snap_spec_cleanup) \
    X(rbd_snap_unprotect) \
    X(rbd_watchers_list) \
    X(rbd_watchers_list_cleanup) \
    X(rbd_write2) \
    X(rbd_write_zeroes) \

static struct {
#define LIB_PTR(f) __typeof__(f) *f;
    LIB_FNS(LIB_PTR)
#undef LIB_PTR
} lib;
static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static char lib_error[256];

static void lib_load(void)
{
    /* librbd's dependencies (librados) are searched by dlsym too. */
    void *h = dlopen("librbd.so.1", RTLD_NOW | RTLD_LOCAL);

    if (!h) {
        snprintf(lib_error, sizeof(lib_error), "%s", dlerror());
        return;
    }
#define LIB_SYM(f)                                                              \
    if (!lib_error[0] && !(*(void **)&lib.f = dlsym(h, #f)))                    \
        snprintf(lib_error, sizeof(lib_error), "librbd.so.1: no symbol %s", #f);
    LIB_FNS(LIB_SYM)
#undef LIB_SYM
}

/* 0, or -ENOPKG when librbd1/librados2 are missing (the reason in @err). */
static int lib_need(struct sl_err *err)
{
    pthread_once(&lib_once, lib_load);
    if (lib_error[0])
        return err_set(err, -ENOPKG, "rbd pools need librbd1 and librados2: %s", lib_error);
    return 0;
}

static struct rbd_pool *priv(struct pool *p)
{
    return p->priv;
}

static int rbd_available(struct sl_err *err)
{
    return 0;
}

/* ---------------------------------------------------------------------------
 * The local record. */

static int record_path(const char *name, char *buf, size_t len)
{
    if ((size_t)snprintf(buf, len, "%s/rbd-pools/%s", pool_state_root(), name) >= len)
        return -ENAMETOOLONG;
    return 0;
}

static int str_field(struct json_object *root, const char *key, char *out, size_t len)
{
    struct json_object *v;

    if (!json_object_object_get_ex(root, key, &v) || !json_object_is_type(v, json_type_string) ||
        (size_t)json_object_get_string_len(v) >= len)
        return -EINVAL;
    snprintf(out, len, "%s", json_object_get_string(v));
    return 0;
}

/* 0, -ENOENT (no record), -EINVAL (unreadable). */
static int read_record(const char *name, struct rbd_pool *rp)
{
    char path[PATH_MAX];
    struct json_object *root;
    int r = record_path(name, path, sizeof(path));

    if (r < 0)
        return r;
    if (access(path, F_OK) < 0)
        return -errno;
    root = json_object_from_file(path);
    if (!root)
        return -EINVAL;
    r = str_field(root, "ceph_pool", rp->ceph_pool, sizeof(rp->ceph_pool));
    if (r == 0)
        r = str_field(root, "ceph_conf", rp->conf, sizeof(rp->conf));
    if (r == 0)
        r = str_field(root, "ceph_id", rp->id, sizeof(rp->id));
    json_object_put(root);
    return r;
}

static int write_record(const char *name, const struct rbd_pool *rp)
{
    char path[PATH_MAX], tmp[PATH_MAX + 8], dir[PATH_MAX];
    struct json_object *root = json_object_new_object();
    int r;

    if (!root)
        return -ENOMEM;
    json_object_object_add(root, "name", json_object_new_string(name));
    json_object_object_add(root, "type", json_object_new_string("rbd"));
    json_object_object_add(root, "ceph_pool", json_object_new_string(rp->ceph_pool));
    json_object_object_add(root, "ceph_conf", json_object_new_string(rp->conf));
    json_object_object_add(root, "ceph_id", json_object_new_string(rp->id));
    snprintf(dir, sizeof(dir), "%s/rbd-pools", pool_state_root());
    r = mkdir_p(dir, 0755);
    if (r == 0)
        r = record_path(name, path, sizeof(path));
    if (r == 0) {
        snprintf(tmp, sizeof(tmp), "%s.tmp", path);
        if (json_object_to_file_ext(tmp, root, JSON_C_TO_STRING_PLAIN) < 0)
            r = access(dir, W_OK) < 0 ? -errno : -EIO;
        else if (rename(tmp, path) < 0)
            r = -errno;
        if (r < 0)
            unlink(tmp);
    }
    json_object_put(root);
    return r;
}

/* ---------------------------------------------------------------------------
 * The cluster. */

static void disconnect(struct rbd_pool *rp)
{
    if (!rp->connected)
        return;
    lib.rados_ioctx_destroy(rp->io);
    lib.rados_shutdown(rp->cluster);
    rp->connected = false;
}

/* Set @opt to @val unless ceph.conf gave it a value other than @dflt. */
static void conf_default(rados_t c, const char *opt, double dflt, const char *val)
{
    char buf[64];

    if (lib.rados_conf_get(c, opt, buf, sizeof(buf)) < 0 || strtod(buf, NULL) == dflt)
        lib.rados_conf_set(c, opt, val);
}

/* Connect to the cluster of @rp and open its Ceph pool. -ENOENT: no such
 * Ceph pool (the cluster answered); anything else: the cluster is not
 * reachable or refuses us (the reason in @err). */
static int connect_pool(struct rbd_pool *rp, struct sl_err *err)
{
    rados_t c;
    int r;

    r = lib_need(err);
    if (r < 0)
        return r;
    r = lib.rados_create(&c, rp->id[0] ? rp->id : NULL);
    if (r < 0)
        return err_set(err, r, "librados: %s", strerror(-r));
    /* Errors come back to us: librados prints nothing on stderr. */
    lib.rados_conf_set(c, "log_to_stderr", "false");
    lib.rados_conf_set(c, "err_to_stderr", "false");
    lib.rados_conf_set(c, "log_file", "");
    r = lib.rados_conf_read_file(c, rp->conf[0] ? rp->conf : NULL);
    if (r < 0) {
        err_set(err, r, "cannot read the Ceph configuration %s: %s",
                rp->conf[0] ? rp->conf : "($CEPH_CONF or /etc/ceph/ceph.conf)", strerror(-r));
        goto out_shutdown;
    }
    /* An unreachable cluster is an error after seconds, not a hang (ceph.conf
     * may set other values). */
    conf_default(c, "client_mount_timeout", 300, TIMEOUT_S);
    conf_default(c, "rados_mon_op_timeout", 0, TIMEOUT_S);
    conf_default(c, "rados_osd_op_timeout", 0, TIMEOUT_S);
    r = lib.rados_connect(c);
    if (r < 0) {
        /* No answer, or cephx refused us (no key for the user, a wrong
         * key, missing caps). */
        bool denied = r == -EACCES || r == -EPERM || r == -ENOENT;
        err_set(err, denied ? -EACCES : r == -ETIMEDOUT ? r : -EHOSTUNREACH,
                "cannot %s the Ceph cluster (%s as client.%s): %s",
                denied ? "log in to" : "reach",
                rp->conf[0] ? rp->conf : "default ceph.conf", rp->id[0] ? rp->id : "admin",
                r == -ENOENT ? "no key for this user in the keyring" : strerror(-r));
        r = denied ? -EACCES : r == -ETIMEDOUT ? r : -EHOSTUNREACH;
        goto out_shutdown;
    }
    r = lib.rados_ioctx_create(c, rp->ceph_pool, &rp->io);
    if (r < 0) {
        if (r == -ENOENT)
            err_set(err, r, "no Ceph pool '%s' in the cluster", rp->ceph_pool);
        else
            err_set(err, r, "Ceph pool '%s': %s", rp->ceph_pool, strerror(-r));
        goto out_shutdown;
    }
    rp->cluster = c;
    rp->connected = true;
    return 0;

out_shutdown:
    lib.rados_shutdown(c);
    return r;
}

/* The sluice pool the Ceph pool holds, into @name ("" none). */
static int read_meta(struct rbd_pool *rp, char name[POOL_NAME_MAX + 1], struct sl_err *err)
{
    char buf[256];
    size_t len = sizeof(buf);
    int r = lib.rbd_pool_metadata_get(rp->io, META_KEY, buf, &len);

    name[0] = '\0';
    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return err_set(err, r, "Ceph pool '%s': reading its metadata: %s", rp->ceph_pool,
                       strerror(-r));
    len = MIN(len, (size_t)POOL_NAME_MAX);
    memcpy(name, buf, len);
    name[len] = '\0';
    return 0;
}

/* Open the record of @name and the cluster. -ENOENT: no record; -ESTALE:
 * the record is there, the Ceph pool or its key is not (@problem says
 * which); other: the cluster is unreachable. */
static int check_pool(const char *name, struct rbd_pool *rp, char *problem, size_t plen,
                      struct sl_err *err)
{
    char holder[POOL_NAME_MAX + 1];
    struct sl_err own = ERR_INIT;
    int r = read_record(name, rp);

    if (!err)
        err = &own;     /* the reason goes to @problem anyway */
    if (r == -ENOENT)
        return r;
    if (r < 0) {
        snprintf(problem, plen, "its record %s/rbd-pools/%s is unreadable", pool_state_root(),
                 name);
        return -ESTALE;
    }
    r = connect_pool(rp, err);
    if (r == -ENOENT) {
        snprintf(problem, plen, "Ceph pool '%s' is gone", rp->ceph_pool);
        return -ESTALE;
    }
    if (r < 0) {
        snprintf(problem, plen, "%s", err_isset(err) ? err->msg : strerror(-r));
        return r;
    }
    r = read_meta(rp, holder, err);
    if (r == 0 && strcmp(holder, name)) {
        if (holder[0])
            snprintf(problem, plen, "Ceph pool '%s' now holds sluice pool '%s'", rp->ceph_pool,
                     holder);
        else
            snprintf(problem, plen, "Ceph pool '%s' no longer holds it (its " META_KEY
                     " metadata is gone)", rp->ceph_pool);
        r = -ESTALE;
    }
    if (r < 0)
        disconnect(rp);
    return r;
}

/* The last pool that did not open in this process, so that broken() (pool
 * list) does not wait for an unreachable cluster a second time. */
static struct {
    char name[POOL_NAME_MAX + 1];
    char ceph_pool[POOL_RBD_POOL_MAX + 1];
    char problem[PATH_MAX + 128];
    int r;
} last_failure;

static int rbd_open_pool(struct pool *pool, const char *name, struct sl_err *err)
{
    char problem[PATH_MAX + 128];
    struct rbd_pool *rp = calloc(1, sizeof(*rp));
    int r;

    if (!rp)
        return -ENOMEM;
    r = check_pool(name, rp, problem, sizeof(problem), err);
    if (r < 0 && r != -ENOENT) {
        snprintf(last_failure.name, sizeof(last_failure.name), "%s", name);
        snprintf(last_failure.ceph_pool, sizeof(last_failure.ceph_pool), "%s", rp->ceph_pool);
        snprintf(last_failure.problem, sizeof(last_failure.problem), "%s", problem);
        last_failure.r = r;
    }
    if (r == -ESTALE)
        err_set(err, r, "pool is broken: %s ('sluice pool delete %s' removes its record)",
                problem, name);
    if (r < 0) {
        free(rp);
        return r;
    }
    pool->priv = rp;
    return 0;
}

static void rbd_close_pool(struct pool *pool)
{
    if (!pool->priv)
        return;
    disconnect(priv(pool));
    free(pool->priv);
    pool->priv = NULL;
}

/* Broken: the Ceph pool or its key is gone (-ESTALE), or the cluster does
 * not answer. */
static int rbd_broken(const char *name, struct pool_info *out, struct sl_err *err)
{
    struct rbd_pool rp = { .connected = false };
    int r;

    if (last_failure.r && !strcmp(last_failure.name, name)) {
        snprintf(rp.ceph_pool, sizeof(rp.ceph_pool), "%s", last_failure.ceph_pool);
        snprintf(out->problem, sizeof(out->problem), "%s", last_failure.problem);
        r = last_failure.r;
    } else {
        r = check_pool(name, &rp, out->problem, sizeof(out->problem), err);
    }
    if (r == 0) {
        disconnect(&rp);
        return -EBUSY;
    }
    if (r == -ENOENT || r == -ENOMEM || !out->problem[0])
        return r;
    snprintf(out->location, sizeof(out->location), "rbd:%s", rp.ceph_pool);
    return 0;
}

static int rbd_forget(const char *name, struct sl_err *err)
{
    char problem[PATH_MAX + 128], path[PATH_MAX];
    struct rbd_pool rp = { .connected = false };
    int r = check_pool(name, &rp, problem, sizeof(problem), err);

    if (r == 0) {
        disconnect(&rp);
        return err_set(err, -EBUSY, "pool %s is fine: delete it with 'sluice pool delete'", name);
    }
    if (r != -ESTALE)
        return r;
    r = record_path(name, path, sizeof(path));
    if (r == 0 && unlink(path) < 0)
        r = -errno;
    return r;
}

static int rbd_list_pools(char ***names, size_t *n, struct sl_err *err)
{
    char dir[PATH_MAX];

    snprintf(dir, sizeof(dir), "%s/rbd-pools", pool_state_root());
    return pool_record_names(dir, names, n);
}

static int rbd_create_pool(const struct pool_create_params *p, struct sl_err *err)
{
    struct rbd_pool rp = { .connected = false };
    char holder[POOL_NAME_MAX + 1];
    struct stat st;
    int r;

    if (!p->ceph_pool || !*p->ceph_pool)
        return err_set(err, -EINVAL, "an rbd pool needs --ceph-pool POOL");
    if (p->pvs || p->vg || p->size || p->autoextend_threshold || p->path)
        return err_set(err, -EINVAL, "--pv, --vg, --size, --autoextend and --path are not for "
                       "rbd pools");
    r = pool_rbd_check(p->ceph_pool, p->ceph_id, err);
    if (r < 0)
        return r;
    if (p->ceph_conf && *p->ceph_conf) {
        if (stat(p->ceph_conf, &st) < 0)
            return err_set(err, -errno == -ENOENT ? -ENOENT : -errno, "%s: %s", p->ceph_conf,
                           strerror(errno));
        if (!realpath(p->ceph_conf, rp.conf))
            return -errno;
    }
    snprintf(rp.ceph_pool, sizeof(rp.ceph_pool), "%s", p->ceph_pool);
    snprintf(rp.id, sizeof(rp.id), "%s", p->ceph_id ? p->ceph_id : "");
    r = connect_pool(&rp, err);
    if (r < 0)
        return r;
    r = read_meta(&rp, holder, err);
    if (r < 0)
        goto out;
    if (holder[0] && strcmp(holder, p->name)) {
        r = err_set(err, -EEXIST, "Ceph pool '%s' already holds sluice pool '%s'",
                    p->ceph_pool, holder);
        goto out;
    }
    if (!holder[0]) {
        r = lib.rbd_pool_metadata_set(rp.io, META_KEY, p->name);
        if (r < 0) {
            err_set(err, r, "Ceph pool '%s': writing its metadata: %s", p->ceph_pool,
                    strerror(-r));
            goto out;
        }
    }
    /* else: the Ceph pool already is pool NAME (made on another host):
     * record it here too, volumes and all. */
    r = write_record(p->name, &rp);
    if (r < 0) {
        err_set(err, r, "cannot write the pool record under %s: %s", pool_state_root(),
                strerror(-r));
        if (!holder[0])
            lib.rbd_pool_metadata_remove(rp.io, META_KEY);
    }
out:
    disconnect(&rp);
    return r;
}

/* ---------------------------------------------------------------------------
 * Images and snapshots. */

/* The pool's image names (malloc'd array of malloc'd strings). */
static int list_images(struct rbd_pool *rp, char ***out, size_t *n)
{
    rbd_image_spec_t *specs = NULL;
    size_t max = 64;
    char **names;
    int r;

    *out = NULL;
    *n = 0;
    for (;;) {
        rbd_image_spec_t *s = realloc(specs, max * sizeof(*specs));
        if (!s) {
            free(specs);
            return -ENOMEM;
        }
        specs = s;
        r = lib.rbd_list2(rp->io, specs, &max);
        if (r != -ERANGE)
            break;
    }
    if (r < 0) {
        free(specs);
        return r;
    }
    names = calloc(max ? max : 1, sizeof(*names));
    if (!names)
        r = -ENOMEM;
    for (size_t i = 0; r == 0 && i < max; i++) {
        names[i] = strdup(specs[i].name);
        if (!names[i])
            r = -ENOMEM;
    }
    lib.rbd_image_spec_list_cleanup(specs, max);
    free(specs);
    if (r < 0) {
        for (size_t i = 0; names && i < max; i++)
            free(names[i]);
        free(names);
        return r;
    }
    *out = names;
    *n = max;
    return 0;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* Snapshots of @img: *@snaps (rbd_snap_list_end + free), *@n. */
static int list_snaps(rbd_image_t img, rbd_snap_info_t **snaps, int *n)
{
    int max = 16, r;
    rbd_snap_info_t *s = NULL;

    for (;;) {
        rbd_snap_info_t *g = realloc(s, ((size_t)max + 1) * sizeof(*s));
        if (!g) {
            free(s);
            return -ENOMEM;
        }
        s = g;
        /* librbd returns 0 without writing the terminator when the image
         * has vanished under it (-ENOENT inside): an empty list then. */
        memset(s, 0, ((size_t)max + 1) * sizeof(*s));
        r = lib.rbd_snap_list(img, s, &max);
        if (r != -ERANGE)
            break;
    }
    if (r < 0) {
        free(s);
        return r;
    }
    *snaps = s;
    *n = r;
    return 0;
}

static void free_snaps(rbd_snap_info_t *snaps)
{
    if (!snaps)
        return;
    lib.rbd_snap_list_end(snaps);
    free(snaps);
}

/* The image holding snapshot @snap: its name into @image. -ENOENT. */
static int find_snap(struct rbd_pool *rp, const char *snap, char image[POOL_NAME_MAX + 1])
{
    char **names;
    size_t n;
    int r = list_images(rp, &names, &n);

    if (r < 0)
        return r;
    r = -ENOENT;
    for (size_t i = 0; r == -ENOENT && i < n; i++) {
        rbd_image_t img;
        rbd_snap_info_t *snaps;
        int ns;

        if (lib.rbd_open_read_only(rp->io, names[i], &img, NULL) < 0)
            continue;
        if (list_snaps(img, &snaps, &ns) == 0) {
            for (int j = 0; j < ns; j++)
                if (!strcmp(snaps[j].name, snap)) {
                    snprintf(image, POOL_NAME_MAX + 1, "%s", names[i]);
                    r = 0;
                }
            free_snaps(snaps);
        }
        lib.rbd_close(img);
    }
    free_names(names, n);
    return r;
}

/* Where volume @vol is: an image (@snap "") or snapshot @snap of @image. */
static int locate(struct rbd_pool *rp, const char *vol, char image[POOL_NAME_MAX + 1],
                  char snap[POOL_NAME_MAX + 1])
{
    rbd_image_t img;
    int r = lib.rbd_open_read_only(rp->io, vol, &img, NULL);

    snap[0] = '\0';
    if (r == 0) {
        lib.rbd_close(img);
        snprintf(image, POOL_NAME_MAX + 1, "%s", vol);
        return 0;
    }
    if (r != -ENOENT)
        return r;
    r = find_snap(rp, vol, image);
    if (r == 0)
        snprintf(snap, POOL_NAME_MAX + 1, "%s", vol);
    return r;
}

static int add_used(uint64_t off, size_t len, int exists, void *arg)
{
    if (exists)
        *(uint64_t *)arg += len;
    return 0;
}

static void target(const struct rbd_pool *rp, const char *image, const char *snap, char *buf,
                   size_t len)
{
    /* A conf path that does not fit PATH_MAX with the rest is cut off;
     * sluiced takes struct pool_vol_rbd (pool_volume_rbd) anyway. */
    int n = snprintf(buf, len, "rbd:%s/%s%s%s", rp->ceph_pool, image, snap[0] ? "@" : "", snap);

    if (n > 0 && (size_t)n < len && rp->conf[0])
        n += snprintf(buf + n, len - (size_t)n, ":conf=%.*s", (int)(len - (size_t)n), rp->conf);
    if (n > 0 && (size_t)n < len && rp->id[0])
        snprintf(buf + n, len - (size_t)n, ":id=%s", rp->id);
}

/* Clients other than this one watching @img's header. */
static int watchers(rbd_image_t img)
{
    rbd_image_watcher_t w[16];
    size_t n = 16;
    int r = lib.rbd_watchers_list(img, w, &n);

    if (r < 0)
        return r == -ERANGE ? 1 : r;
    lib.rbd_watchers_list_cleanup(w, n);
    return (int)n;
}

static int fill_vol(struct pool *pool, rbd_image_t img, const char *image, const char *snap,
                    uint64_t snap_size, struct vol_info *vi)
{
    struct rbd_pool *rp = priv(pool);
    rbd_linked_image_spec_t pimg;
    rbd_snap_spec_t psnap;
    uint64_t size = snap_size;
    int r;

    memset(vi, 0, sizeof(*vi));
    snprintf(vi->name, sizeof(vi->name), "%s", snap[0] ? snap : image);
    snprintf(vi->pool, sizeof(vi->pool), "%s", pool->name);
    target(rp, image, snap, vi->path, sizeof(vi->path));
    vi->active = true;
    if (snap[0]) {
        vi->readonly = true;
        snprintf(vi->origin, sizeof(vi->origin), "%s", image);
        r = lib.rbd_snap_set(img, snap);
        if (r < 0)
            return r;
    } else {
        r = lib.rbd_get_size(img, &size);
        if (r < 0)
            return r;
        r = watchers(img);
        vi->in_use = r > 0;
        if (lib.rbd_get_parent(img, &pimg, &psnap) == 0) {
            snprintf(vi->origin, sizeof(vi->origin), "%s",
                     psnap.name[0] == '.' ? pimg.image_name : psnap.name);
            lib.rbd_linked_image_spec_cleanup(&pimg);
            lib.rbd_snap_spec_cleanup(&psnap);
        }
    }
    vi->size_bytes = size;
    r = lib.rbd_diff_iterate2(img, NULL, 0, size, 0, 1, add_used, &vi->used_bytes);
    if (snap[0])
        lib.rbd_snap_set(img, NULL);
    return r < 0 ? r : 0;
}

static int rbd_vol_info(struct pool *pool, const char *vol, struct vol_info *out,
                        struct sl_err *err)
{
    struct rbd_pool *rp = priv(pool);
    char image[POOL_NAME_MAX + 1], snap[POOL_NAME_MAX + 1];
    rbd_snap_info_t *snaps = NULL;
    rbd_image_t img;
    uint64_t ssize = 0;
    int r, ns = 0;

    if (vol[0] == '.')
        return -ENOENT;
    r = locate(rp, vol, image, snap);
    if (r < 0)
        return r;
    r = lib.rbd_open_read_only(rp->io, image, &img, NULL);
    if (r < 0)
        return r;
    if (snap[0] && (r = list_snaps(img, &snaps, &ns)) == 0) {
        for (int j = 0; j < ns; j++)
            if (!strcmp(snaps[j].name, snap))
                ssize = snaps[j].size;
        free_snaps(snaps);
    }
    if (r == 0)
        r = fill_vol(pool, img, image, snap, ssize, out);
    lib.rbd_close(img);
    return r;
}

static int rbd_vol_list(struct pool *pool, struct vol_info **out, size_t *n, struct sl_err *err)
{
    struct rbd_pool *rp = priv(pool);
    struct vol_info *arr = NULL;
    size_t count = 0, ni;
    char **names;
    int r = list_images(rp, &names, &ni);

    *out = NULL;
    *n = 0;
    if (r < 0)
        return err_set(err, r, "Ceph pool '%s': listing images: %s", rp->ceph_pool,
                       strerror(-r));
    for (size_t i = 0; r == 0 && i < ni; i++) {
        rbd_snap_info_t *snaps = NULL;
        rbd_image_t img;
        int ns = 0;

        if (pool_check_name(names[i], NULL) < 0)
            continue;     /* not a name sluice can address */
        if (lib.rbd_open_read_only(rp->io, names[i], &img, NULL) < 0)
            continue;     /* removed meanwhile */
        r = list_snaps(img, &snaps, &ns);
        struct vol_info *a = r == 0 ? realloc(arr, (count + 1 + (size_t)ns) * sizeof(*arr)) : arr;
        if (r == 0 && !a)
            r = -ENOMEM;
        if (r == 0) {
            arr = a;
            if (fill_vol(pool, img, names[i], "", 0, &arr[count]) == 0)
                count++;
            for (int j = 0; j < ns; j++)
                if (pool_check_name(snaps[j].name, NULL) == 0 &&
                    fill_vol(pool, img, names[i], snaps[j].name, snaps[j].size, &arr[count]) == 0)
                    count++;
        }
        free_snaps(snaps);
        lib.rbd_close(img);
    }
    free_names(names, ni);
    if (r < 0) {
        free(arr);
        return r;
    }
    *out = arr;
    *n = count;
    return 0;
}

static int rbd_info(struct pool *pool, struct pool_info *out, struct sl_err *err)
{
    struct rbd_pool *rp = priv(pool);
    struct rados_cluster_stat_t st;
    struct vol_info *vols;
    size_t n;
    int r;

    memset(out, 0, sizeof(*out));
    snprintf(out->name, sizeof(out->name), "%s", pool->name);
    out->type = POOL_TYPE_RBD;
    snprintf(out->location, sizeof(out->location), "rbd:%s", rp->ceph_pool);
    r = lib.rados_cluster_stat(rp->cluster, &st);
    if (r < 0)
        return err_set(err, r, "Ceph cluster usage: %s", strerror(-r));
    out->size_bytes = st.kb * 1024;
    out->free_bytes = st.kb_avail * 1024;
    out->active = true;
    r = rbd_vol_list(pool, &vols, &n, err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++) {
        out->used_bytes += vols[i].used_bytes;
        if (!vols[i].readonly)
            out->provisioned_bytes += vols[i].size_bytes;
    }
    out->volumes = (unsigned)n;
    free(vols);
    return 0;
}

static int rbd_vol_create(struct pool *pool, const char *vol, uint64_t size, struct sl_err *err)
{
    rbd_image_options_t opts;
    int r;

    lib.rbd_image_options_create(&opts);
    lib.rbd_image_options_set_uint64(opts, RBD_IMAGE_OPTION_FORMAT, 2);
    r = lib.rbd_create4(priv(pool)->io, vol, size, opts);
    lib.rbd_image_options_destroy(opts);
    if (r < 0 && r != -EEXIST)
        err_set(err, r, "creating RBD image %s: %s", vol, strerror(-r));
    return r;
}

/* librbd calls a resize's progress function unconditionally. */
static int no_progress(uint64_t done, uint64_t total, void *opaque)
{
    return 0;
}

static int rbd_vol_resize(struct pool *pool, const char *vol, uint64_t size, bool force,
                          struct sl_err *err)
{
    rbd_image_t img;
    uint64_t cur;
    int r = lib.rbd_open(priv(pool)->io, vol, &img, NULL);

    if (r < 0)
        return r;
    r = lib.rbd_get_size(img, &cur);
    if (r == 0 && size < cur && !force)
        r = err_set(err, -EINVAL, "shrinking from %llu to %llu bytes loses data (use --force)",
                    (unsigned long long)cur, (unsigned long long)size);
    else if (r == 0 && size != cur && (r = lib.rbd_resize2(img, size, true, no_progress, NULL)) < 0)
        err_set(err, r, "resizing RBD image %s: %s", vol, strerror(-r));
    lib.rbd_close(img);
    return r;
}

static int rbd_vol_snapshot(struct pool *pool, const char *src, const char *dst,
                            pool_progress_cb cb, void *opaque, struct sl_err *err)
{
    char image[POOL_NAME_MAX + 1], snap[POOL_NAME_MAX + 1];
    rbd_image_t img;
    int r = locate(priv(pool), src, image, snap);

    if (r < 0)
        return r;
    if (snap[0])
        return err_set(err, -EINVAL, "invalid source: %s is a snapshot (clone it, then "
                       "snapshot the clone)", src);
    r = lib.rbd_open(priv(pool)->io, image, &img, NULL);
    if (r < 0)
        return r;
    r = lib.rbd_snap_create(img, dst);
    if (r < 0)
        err_set(err, r, "snapshot of RBD image %s: %s", image, strerror(-r));
    lib.rbd_close(img);
    return r;
}

/* Children of snapshot @snap of the open image @img: how many, and the
 * first one's name into @first. */
static int children(rbd_image_t img, const char *snap, char first[POOL_NAME_MAX + 1])
{
    rbd_linked_image_spec_t c[16];
    size_t n = 16;
    int r = lib.rbd_snap_set(img, snap);

    if (r == 0)
        r = lib.rbd_list_children3(img, c, &n);
    lib.rbd_snap_set(img, NULL);
    if (r == -ERANGE) {
        snprintf(first, POOL_NAME_MAX + 1, "(many)");
        return 16;
    }
    if (r < 0)
        return r;
    first[0] = '\0';
    if (n)
        snprintf(first, POOL_NAME_MAX + 1, "%s", c[0].image_name);
    lib.rbd_linked_image_spec_list_cleanup(c, n);
    return (int)n;
}

/* Remove snapshot @snap of @img: unprotected first. -EBUSY with clones. */
static int snap_remove(rbd_image_t img, const char *snap, struct sl_err *err)
{
    char first[POOL_NAME_MAX + 1];
    int prot = 0, r = children(img, snap, first);

    if (r > 0)
        return err_set(err, -EBUSY, "volume in use by its clone%s %s (delete %s first)",
                       r > 1 ? "s" : "", first, r > 1 ? "them" : "it");
    if (r < 0)
        return r;
    r = lib.rbd_snap_is_protected(img, snap, &prot);
    if (r == 0 && prot)
        r = lib.rbd_snap_unprotect(img, snap);
    if (r == 0)
        r = lib.rbd_snap_remove(img, snap);
    if (r < 0 && !err_isset(err))
        err_set(err, r, "removing RBD snapshot %s: %s", snap, strerror(-r));
    return r;
}

static int rbd_vol_clone(struct pool *pool, const char *src, const char *dst,
                         pool_progress_cb cb, void *opaque, struct sl_err *err)
{
    struct rbd_pool *rp = priv(pool);
    char image[POOL_NAME_MAX + 1], snap[HIDDEN_MAX];
    rbd_image_options_t opts;
    rbd_image_t img;
    bool hidden = false;
    int prot = 0, r = locate(rp, src, image, snap);

    if (r < 0)
        return r;
    r = lib.rbd_open(rp->io, image, &img, NULL);
    if (r < 0)
        return r;
    if (!snap[0]) {
        /* A clone of an image: of a snapshot made for it (the name may be
         * taken by that of an earlier clone DST, since renamed). */
        for (int i = 0; i < 100; i++) {
            snprintf(snap, sizeof(snap), HIDDEN_PREFIX "%s.%d", dst, i);
            r = lib.rbd_snap_create(img, snap);
            if (r != -EEXIST)
                break;
        }
        if (r < 0) {
            err_set(err, r, "snapshot of RBD image %s: %s", image, strerror(-r));
            goto out_close;
        }
        hidden = true;
    }
    r = lib.rbd_snap_is_protected(img, snap, &prot);
    if (r == 0 && !prot)
        r = lib.rbd_snap_protect(img, snap);
    if (r < 0) {
        err_set(err, r, "protecting RBD snapshot %s@%s: %s", image, snap, strerror(-r));
        goto out_snap;
    }
    lib.rbd_image_options_create(&opts);
    lib.rbd_image_options_set_uint64(opts, RBD_IMAGE_OPTION_FORMAT, 2);
    lib.rbd_image_options_set_uint64(opts, RBD_IMAGE_OPTION_CLONE_FORMAT, 2);
    r = lib.rbd_clone3(rp->io, image, snap, rp->io, dst, opts);
    lib.rbd_image_options_destroy(opts);
    if (r < 0)
        err_set(err, r, "cloning RBD snapshot %s@%s: %s", image, snap, strerror(-r));
out_snap:
    if (r < 0 && hidden)
        snap_remove(img, snap, NULL);
out_close:
    lib.rbd_close(img);
    if (cb && r == 0)
        cb(opaque, 1, 1);
    return r;
}

static int rbd_vol_rename(struct pool *pool, const char *vol, const char *newname,
                          struct sl_err *err)
{
    struct rbd_pool *rp = priv(pool);
    char image[POOL_NAME_MAX + 1], snap[POOL_NAME_MAX + 1];
    rbd_image_t img;
    int r = locate(rp, vol, image, snap);

    if (r < 0)
        return r;
    if (!snap[0]) {
        r = lib.rbd_rename(rp->io, vol, newname);
    } else if ((r = lib.rbd_open(rp->io, image, &img, NULL)) == 0) {
        r = lib.rbd_snap_rename(img, snap, newname);
        lib.rbd_close(img);
    }
    if (r < 0)
        err_set(err, r, "renaming %s: %s", vol, strerror(-r));
    return r;
}

/* After clone @vol is gone: its parent's hidden snapshot goes too once no
 * clone is left on it. */
static void drop_hidden_parent(struct rbd_pool *rp, const char *pimage, const char *psnap)
{
    char first[POOL_NAME_MAX + 1];
    rbd_image_t img;

    if (strncmp(psnap, HIDDEN_PREFIX, strlen(HIDDEN_PREFIX)) ||
        lib.rbd_open(rp->io, pimage, &img, NULL) < 0)
        return;
    if (children(img, psnap, first) == 0)
        snap_remove(img, psnap, NULL);
    lib.rbd_close(img);
}

/* Delete image @vol: its hidden snapshots go with it; user snapshots or
 * clones refuse (-EBUSY) unless @purge (pool delete --force). */
static int delete_image(struct rbd_pool *rp, const char *vol, bool purge, struct sl_err *err)
{
    char pimage[POOL_NAME_MAX + 1] = "", psnap[HIDDEN_MAX] = "";
    char first[POOL_NAME_MAX + 1];
    rbd_linked_image_spec_t pi;
    rbd_snap_spec_t ps;
    rbd_snap_info_t *snaps;
    rbd_image_t img;
    int ns, r = lib.rbd_open(rp->io, vol, &img, NULL);

    if (r < 0)
        return r;
    r = list_snaps(img, &snaps, &ns);
    if (r < 0)
        goto out_close;
    /* Refuse before changing anything. */
    for (int j = 0; r == 0 && j < ns; j++) {
        int c = children(img, snaps[j].name, first);
        if (c > 0)
            r = err_set(err, -EBUSY, "volume in use by its clone%s %s (delete %s first)",
                        c > 1 ? "s" : "", first, c > 1 ? "them" : "it");
        else if (c == 0 && !purge && snaps[j].name[0] != '.')
            r = err_set(err, -EBUSY, "volume in use by its snapshot %s (delete it first)",
                        snaps[j].name);
        else if (c < 0)
            r = c;
    }
    for (int j = 0; r == 0 && j < ns; j++)
        r = snap_remove(img, snaps[j].name, err);
    free_snaps(snaps);
    if (r < 0)
        goto out_close;
    if (lib.rbd_get_parent(img, &pi, &ps) == 0) {
        snprintf(pimage, sizeof(pimage), "%s", pi.image_name);
        snprintf(psnap, sizeof(psnap), "%s", ps.name);
        lib.rbd_linked_image_spec_cleanup(&pi);
        lib.rbd_snap_spec_cleanup(&ps);
    }
    lib.rbd_close(img);
    r = lib.rbd_remove(rp->io, vol);
    if (r < 0)
        return r == -EBUSY ? err_set(err, r, "volume in use (an RBD client has it open)")
                           : err_set(err, r, "removing RBD image %s: %s", vol, strerror(-r));
    if (pimage[0])
        drop_hidden_parent(rp, pimage, psnap);
    return 0;

out_close:
    lib.rbd_close(img);
    return r;
}

static int rbd_vol_delete(struct pool *pool, const char *vol, bool force, struct sl_err *err)
{
    struct rbd_pool *rp = priv(pool);
    char image[POOL_NAME_MAX + 1], snap[POOL_NAME_MAX + 1];
    rbd_image_t img;
    int r = locate(rp, vol, image, snap);

    if (r < 0)
        return r;
    if (!snap[0])
        return delete_image(rp, vol, false, err);
    r = lib.rbd_open(rp->io, image, &img, NULL);
    if (r < 0)
        return r;
    r = snap_remove(img, snap, err);
    lib.rbd_close(img);
    return r;
}

static int rbd_vol_activate(struct pool *pool, const char *vol, char path[PATH_MAX],
                            struct sl_err *err)
{
    char image[POOL_NAME_MAX + 1], snap[POOL_NAME_MAX + 1];
    int r = locate(priv(pool), vol, image, snap);

    if (r == 0)
        target(priv(pool), image, snap, path, PATH_MAX);
    return r;
}

static int rbd_vol_in_use(struct pool *pool, const char *vol, struct sl_err *err)
{
    rbd_image_t img;
    int r = lib.rbd_open_read_only(priv(pool)->io, vol, &img, NULL);

    if (r == -ENOENT)
        return 0;     /* a snapshot: never served writable */
    if (r < 0)
        return r;
    r = watchers(img);
    lib.rbd_close(img);
    return r < 0 ? r : r > 0;
}

static int rbd_vol_rbd(struct pool *pool, const char *vol, struct pool_vol_rbd *out,
                       struct sl_err *err)
{
    struct rbd_pool *rp = priv(pool);
    int r = locate(rp, vol, out->image, out->snap);

    if (r < 0)
        return r;
    snprintf(out->conf, sizeof(out->conf), "%s", rp->conf);
    snprintf(out->id, sizeof(out->id), "%s", rp->id);
    snprintf(out->pool, sizeof(out->pool), "%s", rp->ceph_pool);
    return 0;
}

static int rbd_destroy(struct pool *pool, bool force, struct sl_err *err)
{
    struct rbd_pool *rp = priv(pool);
    char path[PATH_MAX], **names;
    size_t n, left;
    int r;

    /* pool_destroy() counted the volumes vol_list() shows; images it does
     * not show (names sluice refuses, images it cannot open) still belong
     * to someone: without --force they keep the pool. */
    if (!force) {
        r = list_images(rp, &names, &n);
        if (r < 0)
            return r;
        free_names(names, n);
        if (n)
            return err_set(err, -ENOTEMPTY, "Ceph pool %s holds %zu RBD image%s (use --force to delete them too)",
                           rp->ceph_pool, n, n == 1 ? "" : "s");
    }
    /* Clones before their parents: pass after pass while images go. */
    do {
        r = list_images(rp, &names, &n);
        if (r < 0)
            return r;
        left = n;
        for (size_t i = 0; i < n; i++)
            if (delete_image(rp, names[i], true, NULL) == 0)
                left--;
        free_names(names, n);
    } while (left && left < n);
    if (left)
        return err_set(err, -EBUSY, "%zu RBD image%s could not be removed (in use?)", left,
                       left == 1 ? "" : "s");
    r = lib.rbd_pool_metadata_remove(rp->io, META_KEY);
    if (r < 0 && r != -ENOENT)
        return err_set(err, r, "Ceph pool '%s': removing its metadata: %s", rp->ceph_pool,
                       strerror(-r));
    r = record_path(pool->name, path, sizeof(path));
    if (r == 0 && unlink(path) < 0 && errno != ENOENT)
        r = -errno;
    return r;
}

/* ---------------------------------------------------------------------------
 * Import and export: a bounded buffer of one RBD object. */

static int read_full(int fd, char *buf, size_t len, uint64_t off, bool stream, size_t *got)
{
    *got = 0;
    while (*got < len) {
        ssize_t k = stream ? read(fd, buf + *got, len - *got)
                           : pread(fd, buf + *got, len - *got, (off_t)(off + *got));
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -errno;
        if (k == 0)
            break;
        *got += (size_t)k;
    }
    return 0;
}

static int write_full(int fd, const char *buf, size_t len, uint64_t off, bool stream)
{
    while (len) {
        ssize_t k = stream ? write(fd, buf, len) : pwrite(fd, buf, len, (off_t)off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -errno;
        buf += k;
        off += (uint64_t)k;
        len -= (size_t)k;
    }
    return 0;
}

static int rbd_vol_import_fd(struct pool *pool, const char *vol, int fd, uint64_t len,
                             bool fresh, pool_progress_cb cb, void *opaque, struct sl_err *err)
{
    bool stream = len == 0;
    uint64_t off = 0, size = 0, orig;
    rbd_image_t img;
    char *buf;
    int r = lib.rbd_open(priv(pool)->io, vol, &img, NULL);

    if (r < 0)
        return r;
    r = lib.rbd_get_size(img, &size);
    orig = size;
    buf = malloc(COPY_CHUNK);
    if (!buf)
        r = -ENOMEM;
    if (cb)
        cb(opaque, 0, len);
    while (r == 0 && (stream || off < len)) {
        size_t got;
        r = read_full(fd, buf, stream ? COPY_CHUNK : (size_t)MIN(COPY_CHUNK, len - off), off,
                      stream, &got);
        if (r < 0) {
            err_set(err, r, "reading the source: %s", strerror(-r));
            break;
        }
        if (got == 0) {
            if (!stream)
                r = err_set(err, -EIO, "the source is shorter than it said");
            break;
        }
        if (off + got > size) {
            /* A stream: grow ahead by doubling (at least 64 MiB). */
            uint64_t want = MAX(ALIGN_UP(off + got, 512), MIN(size * 2, size + (1ull << 30)));
            want = MAX(want, 64ull << 20);
            r = lib.rbd_resize2(img, want, false, no_progress, NULL);
            if (r < 0)
                break;
            size = want;
        }
        /* Per 64 KiB block: write data; zero blocks are skipped on a new
         * volume and written as zeroes on an old one. */
        for (size_t b = 0; r == 0 && b < got;) {
            size_t e = b, bl = MIN((size_t)65536, got - b);
            bool z = mem_is_zero(buf + b, bl);
            while (e < got && mem_is_zero(buf + e, MIN((size_t)65536, got - e)) == z)
                e += MIN((size_t)65536, got - e);
            ssize_t w = z ? (fresh ? 0 : lib.rbd_write_zeroes(img, off + b, e - b, 0, 0))
                          : lib.rbd_write2(img, off + b, e - b, buf + b, 0);
            if (w < 0)
                r = (int)w;
            b = e;
        }
        if (r < 0) {
            err_set(err, r, "writing RBD image %s: %s", vol, strerror(-r));
            break;
        }
        off += got;
        if (cb)
            cb(opaque, off, stream ? off : len);
    }
    /* A stream sets the final size: what came in (at least the old size). */
    if (r == 0 && stream) {
        uint64_t final = ALIGN_UP_512(off ? off : 512);
        if (!fresh)
            final = MAX(final, orig);
        if (final != size)
            r = lib.rbd_resize2(img, final, true, no_progress, NULL);
    }
    if (r == 0 && (r = lib.rbd_flush(img)) < 0)
        err_set(err, r, "flushing RBD image %s: %s", vol, strerror(-r));
    free(buf);
    lib.rbd_close(img);
    return r;
}

static int rbd_vol_export_fd(struct pool *pool, const char *vol, int fd, bool fresh,
                             bool stream, pool_progress_cb cb, void *opaque, struct sl_err *err)
{
    char image[POOL_NAME_MAX + 1], snap[POOL_NAME_MAX + 1];
    uint64_t off = 0, size = 0;
    rbd_image_t img;
    char *buf;
    int r = locate(priv(pool), vol, image, snap);

    if (r < 0)
        return r;
    r = lib.rbd_open_read_only(priv(pool)->io, image, &img, snap[0] ? snap : NULL);
    if (r < 0)
        return r;
    r = lib.rbd_get_size(img, &size);
    buf = malloc(COPY_CHUNK);
    if (!buf)
        r = -ENOMEM;
    if (r == 0 && !stream && fresh && ftruncate(fd, (off_t)size) < 0)
        r = -errno;
    if (cb)
        cb(opaque, 0, size);
    while (r == 0 && off < size) {
        size_t n = (size_t)MIN((uint64_t)COPY_CHUNK, size - off);
        ssize_t got = lib.rbd_read2(img, off, n, buf, 0);
        if (got < 0 || (size_t)got != n) {
            r = got < 0 ? (int)got : -EIO;
            err_set(err, r, "reading RBD image %s: %s", vol, strerror(-r));
            break;
        }
        if (fresh && !stream) {
            /* A new sparse file: only data blocks are written. */
            for (size_t b = 0; r == 0 && b < n; b += 65536) {
                size_t bl = MIN((size_t)65536, n - b);
                if (!mem_is_zero(buf + b, bl))
                    r = write_full(fd, buf + b, bl, off + b, false);
            }
        } else {
            r = write_full(fd, buf, n, off, stream);
        }
        if (r < 0) {
            err_set(err, r, "writing the destination: %s", strerror(-r));
            break;
        }
        off += n;
        if (cb)
            cb(opaque, off, size);
    }
    if (r == 0 && !stream && fsync(fd) < 0 && errno != EINVAL)
        r = -errno;
    free(buf);
    lib.rbd_close(img);
    return r;
}

const struct pool_ops pool_rbd_ops = {
    .type = "rbd",
    .type_id = POOL_TYPE_RBD,
    .available = rbd_available,
    .create = rbd_create_pool,
    .open = rbd_open_pool,
    .close = rbd_close_pool,
    .list = rbd_list_pools,
    .info = rbd_info,
    .destroy = rbd_destroy,
    .vol_list = rbd_vol_list,
    .vol_info = rbd_vol_info,
    .vol_create = rbd_vol_create,
    .vol_resize = rbd_vol_resize,
    .vol_snapshot = rbd_vol_snapshot,
    .vol_clone = rbd_vol_clone,
    .vol_rename = rbd_vol_rename,
    .vol_delete = rbd_vol_delete,
    .vol_activate = rbd_vol_activate,
    .vol_in_use = rbd_vol_in_use,
    .broken = rbd_broken,
    .forget = rbd_forget,
    .vol_import_fd = rbd_vol_import_fd,
    .vol_export_fd = rbd_vol_export_fd,
    .vol_rbd = rbd_vol_rbd,
};
