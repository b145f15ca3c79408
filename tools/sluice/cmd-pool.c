/* SPDX-License-Identifier: Apache-2.0 */
/* `sluice pool ...` and `sluice vol ...`: storage pools and volumes
 * (storage/pool.h), each noun one verb table for cli_dispatch(). Usage
 * errors, invalid names and sizes exit 2; everything the library refuses
 * exits 1 with `sluice: <object>: <reason>`. Each verb that changes
 * something prints one line on success (none under --quiet). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cli.h"
#include "core/io.h"
#include "core/opts.h"
#include "storage/pool.h"

enum { OPT_TYPE = 1, OPT_PV, OPT_VG, OPT_PATH, OPT_SIZE, OPT_AUTOEXTEND, OPT_JSON, OPT_FORCE,
       OPT_CEPH_POOL, OPT_CEPH_CONF, OPT_CEPH_ID };

static const struct cli_option options[] = {
    { "type", "TYPE", OPT_TYPE, "lvm-thin, dir or rbd" },
    { "pv", "DEVICE", OPT_PV, "lvm-thin: a physical volume of a new volume group (repeatable)" },
    { "vg", "VG", OPT_VG, "lvm-thin: the existing volume group to hold the thin pool" },
    { "path", "DIR", OPT_PATH, "dir: the directory of the volumes (created when missing)" },
    { "size", "SIZE", OPT_SIZE, "bytes or 512M, 20G, 1T" },
    { "autoextend", "T[:P]", OPT_AUTOEXTEND,
      "lvm-thin: grow by P% (default 20) past T% (50-99) data use; 'off'" },
    { "ceph-pool", "POOL", OPT_CEPH_POOL, "rbd: the Ceph pool holding the images" },
    { "ceph-conf", "PATH", OPT_CEPH_CONF,
      "rbd: the cluster's ceph.conf (default: $CEPH_CONF, /etc/ceph/ceph.conf)" },
    { "ceph-id", "USER", OPT_CEPH_ID, "rbd: the cephx user without 'client.' (default: admin)" },
    { "json", NULL, OPT_JSON, "print JSON" },
    { "force", NULL, OPT_FORCE, "see the verb" },
    { NULL },
};

/* ---------------------------------------------------------------------------
 * Output helpers. */

static void human(uint64_t b, char *buf, size_t len)
{
    static const char units[] = "BKMGTP";
    double v = (double)b;
    int u = 0;

    while (v >= 1024 && u < 5) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, len, "%" PRIu64 "B", b);
    else if (v == (double)(uint64_t)v)
        snprintf(buf, len, "%.0f%c", v, units[u]);
    else
        snprintf(buf, len, "%.1f%c", v, units[u]);
}

static int fail(const char *object, int err, const struct sl_err *why)
{
    const char *d = err_isset(why) ? why->msg : NULL, *cat = NULL;

    switch (-err) {
    case EEXIST: cat = "name taken"; break;
    case ENOSPC: cat = "pool out of space"; break;
    case EBUSY: cat = "volume in use"; break;
    case EPERM: case EACCES: cat = "missing privileges"; break;
    case ENODEV: cat = "LVM or device-mapper not available"; break;
    case ENOTEMPTY: cat = "pool not empty"; break;
    case EINVAL: cat = "invalid argument"; break;
    case EROFS: cat = "volume is read-only"; break;
    default: break;
    }
    if (!d)
        return cli_fail(object, "%s", cat ? (err == -EPERM || err == -EACCES ?
                                             "missing privileges (run as root)" :
                                             err == -ENODEV ? pool_strerror(err) : cat)
                                          : pool_strerror(err));
    if (!cat || !strncmp(d, cat, strlen(cat)) ||
        (err == -EINVAL && (!strncmp(d, "invalid", 7) || !strncmp(d, "shrinking", 9))))
        return cli_fail(object, "%s", d);
    return cli_fail(object, "%s: %s", cat, d);
}


/* A progress bar on stderr when it is a terminal. */
struct progress {
    const char *label;
    bool tty;
    bool open;          /* a bar is drawn and its line not ended */
    int last_pct;
    int64_t last_ms;
};

static void progress_cb(void *opaque, uint64_t done, uint64_t total)
{
    struct progress *p = opaque;
    int64_t now = now_ms();
    char a[16], b[16];
    int pct = total ? (int)(done * 100 / total) : 100;

    if (!p->tty)
        return;
    if (pct == p->last_pct || (now - p->last_ms < 100 && done != total))
        return;
    p->last_pct = pct;
    p->last_ms = now;
    human(done, a, sizeof(a));
    human(total, b, sizeof(b));
    int bar = pct * 30 / 100;
    fprintf(stderr, "\r%s [%.*s%*s] %3d%% %s/%s", p->label, bar,
            "##############################", 30 - bar, "", pct, a, b);
    p->open = done < total;
    if (!p->open)
        fputc('\n', stderr);
    fflush(stderr);
}

static void progress_init(struct progress *p, const char *label)
{
    memset(p, 0, sizeof(*p));
    p->label = label;
    p->tty = isatty(2);
    p->last_pct = -1;
}

/* After the copy, also a failed one: end the bar's line before any message. */
static void progress_end(struct progress *p)
{
    if (p->open)
        fputc('\n', stderr);
    p->open = false;
}

static void print_json(struct json_object *o)
{
    puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                               JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
}

static struct json_object *u64(uint64_t v)
{
    return json_object_new_int64((int64_t)v);
}

static struct json_object *pool_json(const struct pool_info *pi, const struct vol_info *vols,
                                     size_t nv, bool names)
{
    struct json_object *o = json_object_new_object();
    bool ok = !pi->problem[0];

    json_object_object_add(o, "name", json_object_new_string(pi->name));
    json_object_object_add(o, "type", json_object_new_string(pool_type_name(pi->type)));
    json_object_object_add(o, "state", json_object_new_string(ok ? "ok" : "missing"));
    json_object_object_add(o, "problem", ok ? NULL : json_object_new_string(pi->problem));
    json_object_object_add(o, "location", json_object_new_string(pi->location));
    json_object_object_add(o, "size_bytes", u64(pi->size_bytes));
    json_object_object_add(o, "used_bytes", u64(pi->used_bytes));
    json_object_object_add(o, "free_bytes", u64(pi->free_bytes));
    json_object_object_add(o, "provisioned_bytes", u64(pi->provisioned_bytes));
    json_object_object_add(o, "metadata_size_bytes",
                           pi->has_metadata ? u64(pi->metadata_size_bytes) : NULL);
    json_object_object_add(o, "metadata_used_bytes",
                           pi->has_metadata ? u64(pi->metadata_used_bytes) : NULL);
    json_object_object_add(o, "volumes", json_object_new_int((int)pi->volumes));
    json_object_object_add(o, "active", json_object_new_boolean(pi->active));
    if (pi->autoextend_threshold) {
        struct json_object *ae = json_object_new_object();
        json_object_object_add(ae, "threshold_percent",
                               json_object_new_int((int)pi->autoextend_threshold));
        json_object_object_add(ae, "extend_percent",
                               json_object_new_int((int)pi->autoextend_percent));
        json_object_object_add(o, "autoextend", ae);
    } else {
        json_object_object_add(o, "autoextend", pi->type == POOL_TYPE_DIR ? NULL :
                               json_object_new_boolean(false));
    }
    if (names) {
        struct json_object *arr = json_object_new_array();
        for (size_t i = 0; i < nv; i++)
            json_object_array_add(arr, json_object_new_string(vols[i].name));
        json_object_object_add(o, "volume_names", arr);
    }
    return o;
}

static struct json_object *vol_json(const struct vol_info *vi)
{
    struct json_object *o = json_object_new_object();

    json_object_object_add(o, "name", json_object_new_string(vi->name));
    json_object_object_add(o, "pool", json_object_new_string(vi->pool));
    json_object_object_add(o, "size_bytes", u64(vi->size_bytes));
    json_object_object_add(o, "used_bytes", u64(vi->used_bytes));
    json_object_object_add(o, "path", json_object_new_string(vi->path));
    json_object_object_add(o, "origin", vi->origin[0] ? json_object_new_string(vi->origin) : NULL);
    json_object_object_add(o, "readonly", json_object_new_boolean(vi->readonly));
    /* sluice makes only snapshots read-only; one stays a snapshot after its
     * origin is gone (origin null). */
    json_object_object_add(o, "snapshot", json_object_new_boolean(vi->readonly));
    json_object_object_add(o, "active", json_object_new_boolean(vi->active));
    json_object_object_add(o, "in_use", json_object_new_boolean(vi->in_use));
    return o;
}

/* Thin overcommit is allowed (lvm-thin and dir alike); say so when the
 * volumes' sizes add up past what the pool can hold. */
static void warn_overcommit(struct pool *pool)
{
    struct sl_err err = ERR_INIT;
    struct pool_info pi;
    char p[16], c[16];

    if (pool_get_info(pool, &pi, &err) < 0 || !pi.size_bytes || pi.provisioned_bytes <= pi.size_bytes)
        return;
    human(pi.provisioned_bytes, p, sizeof(p));
    human(pi.size_bytes, c, sizeof(c));
    cli_warn(pi.name, "volumes provisioned %s exceed the pool's capacity %s (thin overcommit: "
             "writes fail once the %s is full)", p, c,
             pi.type == POOL_TYPE_DIR ? "file system" : "pool");
}

static int width(int w, const char *s)
{
    int len = (int)strlen(s);
    return len > w ? len : w;
}

/* ---------------------------------------------------------------------------
 * sluice pool */

/* "off", or THRESHOLD[:PERCENT]: threshold 50-99, percent 1-1000 (20). */
static int parse_autoextend(const char *s, unsigned *thr, unsigned *pct)
{
    const char *colon = strchr(s, ':');
    uint64_t t, p = 20;
    char tbuf[16];

    if (!strcmp(s, "off")) {
        *thr = 0;
        *pct = 0;
        return 0;
    }
    if (snprintf(tbuf, sizeof(tbuf), "%.*s", colon ? (int)(colon - s) : (int)strlen(s), s) >=
            (int)sizeof(tbuf) ||
        parse_uint(tbuf, 50, 99, &t) < 0 || (colon && parse_uint(colon + 1, 1, 1000, &p) < 0))
        return -EINVAL;
    *thr = (unsigned)t;
    *pct = (unsigned)p;
    return 0;
}

static void print_pool_text(const struct pool_info *pi, const struct vol_info *vols, size_t nv)
{
    char s[16], u[16], f[16], ms[16], mu[16];

    human(pi->size_bytes, s, sizeof(s));
    human(pi->used_bytes, u, sizeof(u));
    human(pi->free_bytes, f, sizeof(f));
    printf("name:      %s\ntype:      %s\nlocation:  %s\n", pi->name, pool_type_name(pi->type),
           pi->location);
    printf("size:      %s (%" PRIu64 " bytes)\nused:      %s (%" PRIu64 " bytes, %.1f%%)\n", s,
           pi->size_bytes, u, pi->used_bytes,
           pi->size_bytes ? 100.0 * (double)pi->used_bytes / (double)pi->size_bytes : 0.0);
    printf("free:      %s (%s)\n", f, pi->type == POOL_TYPE_DIR ? "file system" :
                                     pi->type == POOL_TYPE_RBD ? "Ceph cluster, raw" :
                                     "volume group");
    if (pi->has_metadata) {
        human(pi->metadata_size_bytes, ms, sizeof(ms));
        human(pi->metadata_used_bytes, mu, sizeof(mu));
        printf("metadata:  %s used of %s\n", mu, ms);
        if (pi->autoextend_threshold)
            printf("autoextend: by %u%% past %u%%\n", pi->autoextend_percent,
                   pi->autoextend_threshold);
        else
            printf("autoextend: off\n");
        printf("active:    %s\n", pi->active ? "yes" : "no");
    }
    human(pi->provisioned_bytes, s, sizeof(s));
    printf("provisioned: %s (%" PRIu64 " bytes, sum of volume sizes%s)\n", s,
           pi->provisioned_bytes, pi->provisioned_bytes > pi->size_bytes ? ", overcommitted" : "");
    printf("volumes:   %u\n", pi->volumes);
    for (size_t i = 0; i < nv; i++)
        printf("  %s\n", vols[i].name);
}


static int pool_create_cmd(struct cli_args *a)
{
    struct sl_err err = ERR_INIT;
    struct pool_create_params p = { 0 };
    const char *name = a->pos[0], *type = cli_opt(a, OPT_TYPE);
    const char *size = cli_opt(a, OPT_SIZE), *ae = cli_opt(a, OPT_AUTOEXTEND);
    const char *pvs[32];
    size_t npv = 0;
    int r;

    if (pool_check_name(name, &err) < 0)
        return cli_usage(name, "%s", err.msg);
    if (!type)
        return cli_usage(name, "--type lvm-thin, dir or rbd is required");
    p.type = pool_type_parse(type);
    if (p.type == POOL_TYPE_NONE)
        return cli_usage(name, "unknown pool type '%s' (lvm-thin, dir, rbd)", type);
    p.ceph_pool = cli_opt(a, OPT_CEPH_POOL);
    p.ceph_conf = cli_opt(a, OPT_CEPH_CONF);
    p.ceph_id = cli_opt(a, OPT_CEPH_ID);
    if (p.type != POOL_TYPE_RBD && (p.ceph_pool || p.ceph_conf || p.ceph_id))
        return cli_usage(name, "--ceph-pool, --ceph-conf and --ceph-id are for rbd pools");
    while ((pvs[npv] = cli_opt_nth(a, OPT_PV, npv)))
        if (++npv == sizeof(pvs) / sizeof(pvs[0]))
            return cli_usage(name, "at most %zu --pv", npv - 1);
    p.name = name;
    p.vg = cli_opt(a, OPT_VG);
    if (p.type == POOL_TYPE_RBD) {
        if (npv || p.vg || size || ae || cli_flag(a, OPT_PATH))
            return cli_usage(name, "--pv, --vg, --size, --autoextend and --path are not for "
                             "rbd pools");
        if (!p.ceph_pool)
            return cli_usage(name, "an rbd pool needs --ceph-pool POOL");
        if (pool_rbd_check(p.ceph_pool, p.ceph_id, &err) < 0)
            return cli_usage(name, "%s", err.msg);
    } else if (p.type == POOL_TYPE_LVM_THIN) {
        if (cli_flag(a, OPT_PATH))
            return cli_usage(name, "--path is for dir pools");
        if (!npv == !p.vg)
            return cli_usage(name, "an lvm-thin pool needs either --pv DEVICE... or --vg VG");
        p.pvs = npv ? pvs : NULL;
        p.n_pvs = npv;
        if (size && pool_parse_size(size, &p.size, &err) < 0)
            return cli_usage(name, "%s", err.msg);
        if (ae && parse_autoextend(ae, &p.autoextend_threshold, &p.autoextend_percent) < 0)
            return cli_usage(name, "invalid --autoextend '%s' (THRESHOLD[:PERCENT], "
                             "threshold 50-99)", ae);
    } else {
        p.path = cli_opt(a, OPT_PATH);
        if (!p.path)
            return cli_usage(name, "a dir pool needs --path DIR");
        if (npv || p.vg || size || ae)
            return cli_usage(name, "--pv, --vg, --size and --autoextend are for lvm-thin pools");
    }
    r = pool_create(&p, NULL, &err);
    if (r < 0)
        return fail(name, r, &err);
    cli_done("pool %s created (%s)", name, type);
    return EXIT_OK;
}

static int pool_list_cmd(struct cli_args *a)
{
    struct sl_err err = ERR_INIT;
    struct pool_info *pools;
    size_t n;
    int r, wn = 4;

    r = pool_list(&pools, &n, &err);
    if (r < 0)
        return fail("pool list", r, &err);
    for (size_t i = 0; i < n; i++)
        if (pools[i].problem[0])
            cli_warn(pools[i].name, "%s ('sluice pool delete %s' removes its entry)",
                     pools[i].problem, pools[i].name);
    if (cli_flag(a, OPT_JSON)) {
        struct json_object *arr = json_object_new_array();
        for (size_t i = 0; i < n; i++)
            json_object_array_add(arr, pool_json(&pools[i], NULL, 0, false));
        print_json(arr);
        free(pools);
        return EXIT_OK;
    }
    for (size_t i = 0; i < n; i++)
        wn = width(wn, pools[i].name);
    printf("%-*s %-9s %8s %8s %8s %5s  %s\n", wn, "NAME", "TYPE", "SIZE", "USED", "META",
           "VOLS", "LOCATION");
    for (size_t i = 0; i < n; i++) {
        const struct pool_info *pi = &pools[i];
        char s[16] = "-", u[16] = "-", m[16] = "-", v[16] = "-";
        if (!pi->problem[0]) {
            human(pi->size_bytes, s, sizeof(s));
            human(pi->used_bytes, u, sizeof(u));
            snprintf(v, sizeof(v), "%u", pi->volumes);
        }
        if (pi->has_metadata && pi->metadata_size_bytes)
            snprintf(m, sizeof(m), "%.1f%%", 100.0 * (double)pi->metadata_used_bytes /
                                                 (double)pi->metadata_size_bytes);
        printf("%-*s %-9s %8s %8s %8s %5s  %s%s\n", wn, pi->name, pool_type_name(pi->type), s, u,
               m, v, pi->location[0] ? pi->location : "-", pi->problem[0] ? " (missing)" : "");
    }
    free(pools);
    return EXIT_OK;
}

/* Open pool @name. Returns EXIT_OK or an exit status (error printed). */
static int open_pool(const char *name, struct pool **pool, struct sl_err *err)
{
    int r;

    if (pool_check_name(name, err) < 0)
        return cli_usage(name, "%s", err->msg);
    r = pool_open(name, pool, err);
    if (r < 0)
        return fail(name, r, err);
    return EXIT_OK;
}

static int pool_info_cmd(struct cli_args *a)
{
    struct sl_err err = ERR_INIT;
    struct pool_info pi;
    struct vol_info *vols = NULL;
    struct pool *pool;
    size_t nv = 0;
    int r;

    if ((r = open_pool(a->pos[0], &pool, &err)) != EXIT_OK)
        return r;
    r = pool_get_info(pool, &pi, &err);
    if (r == 0)
        r = pool_vol_list(pool, &vols, &nv, &err);
    pool_close(pool);
    if (r < 0) {
        free(vols);
        return fail(a->pos[0], r, &err);
    }
    if (cli_flag(a, OPT_JSON))
        print_json(pool_json(&pi, vols, nv, true));
    else
        print_pool_text(&pi, vols, nv);
    free(vols);
    return EXIT_OK;
}

static int pool_set_cmd(struct cli_args *a)
{
    struct sl_err err = ERR_INIT;
    const char *ae = cli_opt(a, OPT_AUTOEXTEND);
    unsigned thr, pct;
    struct pool *pool;
    int r;

    if (!ae)
        return cli_usage(a->object, "expected NAME --autoextend THRESHOLD[:PERCENT]|off");
    if (parse_autoextend(ae, &thr, &pct) < 0)
        return cli_usage(a->pos[0], "invalid --autoextend '%s' (THRESHOLD[:PERCENT], "
                         "threshold 50-99, or off)", ae);
    if ((r = open_pool(a->pos[0], &pool, &err)) != EXIT_OK)
        return r;
    r = pool_set_autoextend(pool, thr, pct, &err);
    pool_close(pool);
    if (r < 0)
        return fail(a->pos[0], r, &err);
    if (thr)
        cli_done("pool %s: autoextend by %u%% past %u%% data use", a->pos[0], pct ? pct : 20, thr);
    else
        cli_done("pool %s: autoextend off", a->pos[0]);
    return EXIT_OK;
}

static int pool_delete_cmd(struct cli_args *a)
{
    struct sl_err err = ERR_INIT;
    const char *name = a->pos[0];
    struct pool *pool;
    int r;

    if (pool_check_name(name, &err) < 0)
        return cli_usage(name, "%s", err.msg);
    r = pool_open(name, &pool, &err);
    if (r == -ESTALE) {
        /* Its storage is gone: only the record is left to remove. */
        r = pool_forget(name, &err);
        if (r < 0)
            return fail(name, r, &err);
        cli_done("pool %s: entry of the missing pool removed", name);
        return EXIT_OK;
    }
    if (r < 0)
        return fail(name, r, &err);
    r = pool_destroy(pool, cli_flag(a, OPT_FORCE), &err);
    pool_close(pool);
    if (r < 0)
        return fail(name, r, &err);
    cli_done("pool %s deleted", name);
    return EXIT_OK;
}

int cmd_pool(int argc, char **argv)
{
    static const int create_opts[] = { OPT_TYPE, OPT_PV, OPT_VG, OPT_PATH, OPT_SIZE,
                                       OPT_AUTOEXTEND, OPT_CEPH_POOL, OPT_CEPH_CONF,
                                       OPT_CEPH_ID, 0 };
    static const int json[] = { OPT_JSON, 0 };
    static const int set_opts[] = { OPT_AUTOEXTEND, 0 };
    static const int force[] = { OPT_FORCE, 0 };
    static const struct cli_verb verbs[] = {
        { "create", "NAME --type lvm-thin|dir|rbd ...", "a pool, in one of four forms:",
          create_opts, 1, 1, pool_create_cmd, NULL,
          "create NAME --type lvm-thin --pv DEVICE [--pv DEVICE]... [--size SIZE] [--autoextend T[:P]]\n"
          "    new volume group NAME holding thin pool NAME\n"
          "create NAME --type lvm-thin --vg VG [--size SIZE] [--autoextend T[:P]]\n"
          "    thin pool NAME in an existing volume group\n"
          "create NAME --type dir --path DIR\n"
          "    a directory of sparse raw files\n"
          "create NAME --type rbd --ceph-pool POOL [--ceph-conf PATH] [--ceph-id USER]\n"
          "    the RBD images of an existing Ceph pool (librbd); the pool's name is\n"
          "    kept in the Ceph pool too: the same command on another host adopts it" },
        { "list", "[--json]", "every pool (a broken one is shown as missing)",
          json, 0, 0, pool_list_cmd },
        { "info", "NAME [--json]", "size, used, provisioned, metadata used, volumes", json, 1, 1,
          pool_info_cmd },
        { "set", "NAME --autoextend T[:P]|off", "lvm-thin: grow by P% (20) past T% data use",
          set_opts, 1, 1, pool_set_cmd },
        { "delete", "NAME [--force]",
          "--force: its volumes too (a missing pool: its entry)", force, 1, 1,
          pool_delete_cmd },
        { NULL },
    };
    static const struct cli_verbs table = {
        "pool", options, verbs,
        "SIZE: bytes or 512M, 20G, 1T. Without --size a thin pool takes all free space.\n",
    };
    return cli_dispatch(&table, argc, argv);
}

/* ---------------------------------------------------------------------------
 * sluice vol */

struct volref {
    char pool[POOL_NAME_MAX + 1];
    char vol[POOL_NAME_MAX + 1];
    struct pool *p;
    struct sl_err err;
};

/* Parse "POOL/VOL" and open the pool. Returns EXIT_OK or an exit status. */
static int open_vol(const char *spec, struct volref *vr)
{
    int r;

    if (pool_parse_spec(spec, vr->pool, vr->vol, &vr->err) < 0)
        return cli_usage(spec, "%s", vr->err.msg);
    r = pool_open(vr->pool, &vr->p, &vr->err);
    if (r < 0)
        return fail(vr->pool, r, &vr->err);
    return EXIT_OK;
}

static int vol_done(struct volref *vr, const char *object, int r)
{
    pool_close(vr->p);
    return r < 0 ? fail(object, r, &vr->err) : EXIT_OK;
}

/* The --size a verb needs, parsed: EXIT_OK or the usage error. */
static int need_size(struct cli_args *a, uint64_t *size)
{
    struct sl_err err = ERR_INIT;
    const char *s = cli_opt(a, OPT_SIZE);

    if (!s)
        return cli_usage(a->object, "expected %s", a->verb->args);
    if (pool_parse_size(s, size, &err) < 0)
        return cli_usage(a->pos[0], "%s", err.msg);
    return EXIT_OK;
}

static int vol_create_cmd(struct cli_args *a)
{
    struct volref vr = { .p = NULL };
    uint64_t size;
    int r;

    if (pool_parse_spec(a->pos[0], vr.pool, vr.vol, &vr.err) < 0)
        return cli_usage(a->pos[0], "%s", vr.err.msg);
    if ((r = need_size(a, &size)) != EXIT_OK || (r = open_vol(a->pos[0], &vr)) != EXIT_OK)
        return r;
    r = pool_vol_create(vr.p, vr.vol, size, &vr.err);
    if (r == 0) {
        cli_done("volume %s created", a->pos[0]);
        warn_overcommit(vr.p);
    }
    return vol_done(&vr, a->pos[0], r);
}

static int vol_list_cmd(struct cli_args *a)
{
    struct sl_err err = ERR_INIT;
    struct pool_info *pools = NULL;
    struct vol_info *all = NULL;
    size_t np = 0, n = 0;
    int r, wn = 6, wo = 6;

    if (a->npos == 1) {
        if (pool_check_name(a->pos[0], &err) < 0)
            return cli_usage(a->pos[0], "%s", err.msg);
        pools = calloc(1, sizeof(*pools));
        if (!pools)
            return cli_fail("vol list", "out of memory");
        snprintf(pools[0].name, sizeof(pools[0].name), "%s", a->pos[0]);
        np = 1;
    } else {
        r = pool_list(&pools, &np, &err);
        if (r < 0)
            return fail("vol list", r, &err);
    }
    /* Gather first: an error prints no half table, and columns fit. */
    for (size_t i = 0; i < np; i++) {
        struct pool *pool;
        struct vol_info *vols = NULL;
        size_t nv = 0;

        if (pools[i].problem[0]) {
            cli_warn(pools[i].name, "%s (skipped)", pools[i].problem);
            continue;
        }
        r = pool_open(pools[i].name, &pool, &err);
        if (r == 0) {
            r = pool_vol_list(pool, &vols, &nv, &err);
            pool_close(pool);
        }
        struct vol_info *grown = r == 0 && nv ? realloc(all, (n + nv) * sizeof(*all)) : all;
        if (r == 0 && nv && !grown)
            r = -ENOMEM;     /* (an empty first pool leaves all NULL: not a failure) */
        if (r < 0) {
            r = fail(pools[i].name, r, &err);
            free(vols);
            free(all);
            free(pools);
            return r;
        }
        all = grown;
        if (nv)
            memcpy(all + n, vols, nv * sizeof(*all));
        n += nv;
        free(vols);
    }
    free(pools);
    if (cli_flag(a, OPT_JSON)) {
        struct json_object *arr = json_object_new_array();
        for (size_t i = 0; i < n; i++)
            json_object_array_add(arr, vol_json(&all[i]));
        print_json(arr);
        free(all);
        return EXIT_OK;
    }
    for (size_t i = 0; i < n; i++) {
        int len = (int)(strlen(all[i].pool) + 1 + strlen(all[i].name));
        wn = len > wn ? len : wn;
        wo = width(wo, all[i].origin);
    }
    printf("%-*s %8s %8s %-*s %-5s %s\n", wn, "VOLUME", "SIZE", "USED", wo, "ORIGIN", "FLAGS",
           "PATH");
    for (size_t i = 0; i < n; i++) {
        const struct vol_info *v = &all[i];
        char s[16], u[16], full[POOL_NAME_MAX * 2 + 2], flags[8];
        human(v->size_bytes, s, sizeof(s));
        human(v->used_bytes, u, sizeof(u));
        snprintf(full, sizeof(full), "%s/%s", v->pool, v->name);
        snprintf(flags, sizeof(flags), "%c%c%c", v->readonly ? 'r' : 'w', v->active ? 'a' : '-',
                 v->in_use ? 'o' : '-');
        printf("%-*s %8s %8s %-*s %-5s %s\n", wn, full, s, u, wo,
               v->origin[0] ? v->origin : "-", flags, v->path);
    }
    free(all);
    return EXIT_OK;
}

static int vol_info_cmd(struct cli_args *a)
{
    struct vol_info vi;
    struct volref vr = { .p = NULL };
    int r;

    if ((r = open_vol(a->pos[0], &vr)) != EXIT_OK)
        return r;
    r = pool_vol_info(vr.p, vr.vol, &vi, &vr.err);
    if (r == 0) {
        if (cli_flag(a, OPT_JSON)) {
            print_json(vol_json(&vi));
        } else {
            char s[16], u[16];
            human(vi.size_bytes, s, sizeof(s));
            human(vi.used_bytes, u, sizeof(u));
            printf("name:     %s\npool:     %s\nsize:     %s (%" PRIu64 " bytes)\n"
                   "used:     %s (%" PRIu64 " bytes)\npath:     %s\norigin:   %s\n"
                   "readonly: %s\nactive:   %s\nin use:   %s\n",
                   vi.name, vi.pool, s, vi.size_bytes, u, vi.used_bytes, vi.path,
                   vi.origin[0] ? vi.origin : "-", vi.readonly ? "yes" : "no",
                   vi.active ? "yes" : "no", vi.in_use ? "yes" : "no");
        }
    }
    return vol_done(&vr, a->pos[0], r);
}

static int vol_resize_cmd(struct cli_args *a)
{
    const char *spec = a->pos[0];
    struct vol_info vi;
    struct volref vr = { .p = NULL };
    uint64_t size;
    int r, told = 0;
    char h[16];

    if (pool_parse_spec(spec, vr.pool, vr.vol, &vr.err) < 0)
        return cli_usage(spec, "%s", vr.err.msg);
    if ((r = need_size(a, &size)) != EXIT_OK || (r = open_vol(spec, &vr)) != EXIT_OK)
        return r;
    bool in_use = pool_vol_info(vr.p, vr.vol, &vi, &vr.err) == 0 && vi.in_use;
    r = pool_vol_resize(vr.p, vr.vol, size, cli_flag(a, OPT_FORCE), &vr.err);
    if (r < 0)
        return vol_done(&vr, spec, r);
#ifdef SLUICE_HAVE_DEV
    /* A guest using the volume sees the new size without a restart. */
    told = cli_refresh_volume(spec);
#endif
    human(size, h, sizeof(h));
    if (told > 0)
        cli_done("volume %s resized to %s (%d sluiced device%s told)", spec, h, told,
                told == 1 ? "" : "s");
    else
        cli_done("volume %s resized to %s", spec, h);
    /* Resized under a user nobody could tell: say so, the resize stands. */
    if (in_use && told == 0)
        cli_warn(spec, "volume in use, but its user was not told of the new size: no sluiced "
                 "on the control socket ($SLUICE_CONTROL or the default) serves it; the "
                 "guest sees the new size after 'sluice dev refresh' or a restart");
    warn_overcommit(vr.p);
    return vol_done(&vr, spec, 0);
}

/* snapshot, clone, rename: POOL/VOL NEWNAME. */
static int vol_two_names(struct cli_args *a)
{
    const char *verb = a->verb->name;
    char dst[POOL_NAME_MAX * 2 + 2];
    struct progress pg;
    struct volref vr = { .p = NULL };
    int r;

    if (pool_parse_spec(a->pos[0], vr.pool, vr.vol, &vr.err) < 0)
        return cli_usage(a->pos[0], "%s", vr.err.msg);
    if (pool_check_name(a->pos[1], &vr.err) < 0)
        return cli_usage(a->pos[1], "%s", vr.err.msg);
    if ((r = open_vol(a->pos[0], &vr)) != EXIT_OK)
        return r;
    snprintf(dst, sizeof(dst), "%s/%s", vr.pool, a->pos[1]);
    progress_init(&pg, verb);
    if (!strcmp(verb, "snapshot"))
        r = pool_vol_snapshot(vr.p, vr.vol, a->pos[1], progress_cb, &pg, &vr.err);
    else if (!strcmp(verb, "clone"))
        r = pool_vol_clone(vr.p, vr.vol, a->pos[1], progress_cb, &pg, &vr.err);
    else
        r = pool_vol_rename(vr.p, vr.vol, a->pos[1], &vr.err);
    progress_end(&pg);
    if (r == -EEXIST) {
        pool_close(vr.p);
        return fail(dst, r, &vr.err);
    }
    if (r == 0 && !strcmp(verb, "snapshot"))
        cli_done("snapshot %s of %s created (read-only)", dst, a->pos[0]);
    else if (r == 0 && !strcmp(verb, "clone"))
        cli_done("volume %s cloned from %s", dst, a->pos[0]);
    else if (r == 0)
        cli_done("volume %s renamed to %s", a->pos[0], dst);
    if (r == 0 && strcmp(verb, "rename"))
        warn_overcommit(vr.p);
    return vol_done(&vr, a->pos[0], r);
}

static int vol_delete_cmd(struct cli_args *a)
{
    struct volref vr = { .p = NULL };
    int r;

    if ((r = open_vol(a->pos[0], &vr)) != EXIT_OK)
        return r;
    r = pool_vol_delete(vr.p, vr.vol, cli_flag(a, OPT_FORCE), &vr.err);
    if (r == 0)
        cli_done("volume %s deleted", a->pos[0]);
    return vol_done(&vr, a->pos[0], r);
}

static int vol_copy_cmd(struct cli_args *a)
{
    bool import = !strcmp(a->verb->name, "import"), force = cli_flag(a, OPT_FORCE);
    struct progress pg;
    struct volref vr = { .p = NULL };
    int r;

    if ((r = open_vol(a->pos[0], &vr)) != EXIT_OK)
        return r;
    progress_init(&pg, a->verb->name);
    if (import)
        r = pool_vol_import(vr.p, vr.vol, a->pos[1], force, progress_cb, &pg, &vr.err);
    else
        r = pool_vol_export(vr.p, vr.vol, a->pos[1], force, progress_cb, &pg, &vr.err);
    progress_end(&pg);
    if (r == -EEXIST && !import) {
        pool_close(vr.p);
        return cli_fail(a->pos[1], "exists (use --force to overwrite it)");
    }
    if (r == 0 && import) {
        cli_done("volume %s imported from %s", a->pos[0], a->pos[1]);
        warn_overcommit(vr.p);
    } else if (r == 0 && strcmp(a->pos[1], "-")) {
        /* (Not after an export to standard output: that is the data.) */
        cli_done("volume %s exported to %s", a->pos[0], a->pos[1]);
    }
    return vol_done(&vr, a->pos[0], r);
}

int cmd_vol(int argc, char **argv)
{
    static const int size[] = { OPT_SIZE, 0 };
    static const int size_force[] = { OPT_SIZE, OPT_FORCE, 0 };
    static const int json[] = { OPT_JSON, 0 };
    static const int force[] = { OPT_FORCE, 0 };
    static const struct cli_verb verbs[] = {
        { "create", "POOL/VOL --size SIZE", "a thin (sparse) volume", size, 1, 1,
          vol_create_cmd },
        { "list", "[POOL] [--json]", "volumes of one or every pool", json, 0, 1, vol_list_cmd },
        { "info", "POOL/VOL [--json]", "size, used, path, origin", json, 1, 1, vol_info_cmd },
        { "resize", "POOL/VOL --size SIZE [--force]",
          "grow; shrink only with --force; tells sluiced", size_force, 1, 1,
          vol_resize_cmd },
        { "snapshot", "POOL/VOL NEWNAME", "read-only snapshot", NULL, 2, 2, vol_two_names },
        { "clone", "POOL/VOL NEWNAME", "writable clone of a volume or snapshot", NULL, 2, 2,
          vol_two_names },
        { "rename", "POOL/VOL NEWNAME", "refused while the volume is in use", NULL, 2, 2,
          vol_two_names },
        { "delete", "POOL/VOL [--force]", "refuses while in use unless --force", force, 1, 1,
          vol_delete_cmd },
        { "import", "POOL/VOL FILE|- [--force]",
          "from a raw file or block device (--force: overwrite); - reads standard input "
          "(a pipe: rbd pools)", force, 2, 2,
          vol_copy_cmd },
        { "export", "POOL/VOL FILE|- [--force]",
          "to a raw file (sparse) or block device (--force: overwrite); - writes standard "
          "output (rbd pools)", force, 2, 2,
          vol_copy_cmd },
        { NULL },
    };
    static const struct cli_verbs table = {
        "vol", options, verbs,
        "\nSIZE: bytes or 512M, 20G, 1T. Volumes are thin: their sizes may add up past the\n"
        "pool's capacity (a warning says so).\n"
        "Read-only volumes (snapshots) refuse resize and import --force.\n\n"
        "FLAGS column of 'vol list', three letters:\n"
        "  r read-only (a snapshot) | w writable\n"
        "  a active (lvm-thin: mapped; dir: always) | - inactive\n"
        "  o open: in use (served by sluiced or held by another process) | - not in use\n",
    };
    return cli_dispatch(&table, argc, argv);
}
