/* SPDX-License-Identifier: Apache-2.0 */
/* `sluice pool ...` and `sluice vol ...`: storage pools and volumes
 * (storage/pool.h). Invalid names and sizes are usage errors (exit 2);
 * everything the library refuses exits 1 with `sluice: <object>: <reason>`. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cli.h"
#include "storage/pool.h"

#define MAX_PVS 32

struct args {
    const char *verb;
    const char *type, *vg, *path, *size_str, *autoextend;
    const char *pvs[MAX_PVS];
    size_t n_pvs;
    bool json, force, help;
    char *pos[4];
    int npos;
};

enum { OPT_TYPE = 1000, OPT_PV, OPT_VG, OPT_PATH, OPT_SIZE, OPT_JSON, OPT_FORCE,
       OPT_AUTOEXTEND };

/* Parse argv (argv[0] is the verb) accepting the options in @allowed (a
 * string of OPT_ letters: t p v P s j f a). Returns 0 or an exit status. */
static int parse(int argc, char **argv, const char *allowed, const char *object, struct args *a)
{
    static const struct option longopts[] = {
        { "type", required_argument, NULL, OPT_TYPE },
        { "pv", required_argument, NULL, OPT_PV },
        { "vg", required_argument, NULL, OPT_VG },
        { "path", required_argument, NULL, OPT_PATH },
        { "size", required_argument, NULL, OPT_SIZE },
        { "json", no_argument, NULL, OPT_JSON },
        { "force", no_argument, NULL, OPT_FORCE },
        { "autoextend", required_argument, NULL, OPT_AUTOEXTEND },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    static const char letters[] = "tpvPsjfa";
    int c;

    memset(a, 0, sizeof(*a));
    a->verb = argv[0];
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
        if (c == 'h') {
            a->help = true;
            return 0;
        }
        if (c == '?' || c == ':')
            return cli_usage(object, "%s: unknown option or missing value '%s'", a->verb,
                             argv[optind - 1]);
        char letter = letters[c - OPT_TYPE];
        if (!strchr(allowed, letter))
            return cli_usage(object, "%s: option '%s' does not apply here", a->verb,
                             argv[optind - 1]);
        switch (c) {
        case OPT_TYPE: a->type = optarg; break;
        case OPT_VG: a->vg = optarg; break;
        case OPT_PATH: a->path = optarg; break;
        case OPT_SIZE: a->size_str = optarg; break;
        case OPT_JSON: a->json = true; break;
        case OPT_FORCE: a->force = true; break;
        case OPT_AUTOEXTEND: a->autoextend = optarg; break;
        case OPT_PV:
            if (a->n_pvs == MAX_PVS)
                return cli_usage(object, "at most %d --pv", MAX_PVS);
            a->pvs[a->n_pvs++] = optarg;
            break;
        }
        /* Options may follow positionals: collect those and go on. */
    }
    for (int i = optind; i < argc; i++) {
        if (a->npos == 4)
            return cli_usage(object, "%s: too many arguments", a->verb);
        a->pos[a->npos++] = argv[i];
    }
    return 0;
}

/* Positionals interleaved with options: getopt's "+" stops at the first
 * positional, so parse() is called on a copy reordered options-first. */
static int parse_any_order(int argc, char **argv, const char *allowed, const char *object,
                           struct args *a)
{
    static const char *const with_value[] = { "--type", "--pv", "--vg", "--path", "--size",
                                              "--autoextend", NULL };
    char **v = calloc((size_t)argc + 1, sizeof(*v));
    char **posv = calloc((size_t)argc + 1, sizeof(*posv));
    int n = 0, np = 0, ret;

    if (!v || !posv) {
        free(v);
        free(posv);
        return cli_fail(object, "out of memory");
    }
    v[n++] = argv[0];
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--")) {
            for (i++; i < argc; i++)
                posv[np++] = argv[i];
            break;
        }
        if (argv[i][0] == '-' && argv[i][1]) {
            v[n++] = argv[i];
            bool takes = false;
            for (size_t k = 0; with_value[k]; k++)
                takes |= !strcmp(argv[i], with_value[k]);
            if (takes && i + 1 < argc)
                v[n++] = argv[++i];
        } else {
            posv[np++] = argv[i];
        }
    }
    v[n++] = "--";
    for (int i = 0; i < np; i++)
        v[n++] = posv[i];
    ret = parse(n, v, allowed, object, a);
    free(v);
    free(posv);
    return ret;
}

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

static int fail(const char *object, int err)
{
    const char *d = pool_error_detail(), *cat = NULL;

    switch (-err) {
    case EEXIST: cat = "name taken"; break;
    case ENOSPC: cat = "pool out of space"; break;
    case EBUSY: cat = "volume in use"; break;
    case EPERM: case EACCES: cat = "missing privileges"; break;
    case ENODEV: cat = "LVM or device-mapper not available"; break;
    case ENOTEMPTY: cat = "pool not empty"; break;
    case EINVAL: cat = "invalid argument"; break;
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

struct progress {
    const char *label;
    bool tty;
    int last_pct;
    struct timespec last;
};

static void progress_cb(void *opaque, uint64_t done, uint64_t total)
{
    struct progress *p = opaque;
    struct timespec now;
    char a[16], b[16];
    int pct = total ? (int)(done * 100 / total) : 100;

    if (!p->tty)
        return;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long ms = (now.tv_sec - p->last.tv_sec) * 1000 + (now.tv_nsec - p->last.tv_nsec) / 1000000;
    if (pct == p->last_pct || (ms < 100 && done != total))
        return;
    p->last_pct = pct;
    p->last = now;
    human(done, a, sizeof(a));
    human(total, b, sizeof(b));
    int bar = pct * 30 / 100;
    fprintf(stderr, "\r%s [%.*s%*s] %3d%% %s/%s", p->label, bar,
            "##############################", 30 - bar, "", pct, a, b);
    if (done >= total)
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

static struct json_object *pool_json(const struct pool_info *pi, struct vol_info *vols, size_t nv)
{
    struct json_object *o = json_object_new_object();

    json_object_object_add(o, "name", json_object_new_string(pi->name));
    json_object_object_add(o, "type", json_object_new_string(pool_type_name(pi->type)));
    json_object_object_add(o, "location", json_object_new_string(pi->location));
    json_object_object_add(o, "size_bytes", u64(pi->size_bytes));
    json_object_object_add(o, "used_bytes", u64(pi->used_bytes));
    json_object_object_add(o, "free_bytes", u64(pi->free_bytes));
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
    if (vols) {
        struct json_object *names = json_object_new_array();
        for (size_t i = 0; i < nv; i++)
            json_object_array_add(names, json_object_new_string(vols[i].name));
        json_object_object_add(o, "volume_names", names);
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
    json_object_object_add(o, "snapshot", json_object_new_boolean(vi->readonly && vi->origin[0]));
    json_object_object_add(o, "active", json_object_new_boolean(vi->active));
    json_object_object_add(o, "in_use", json_object_new_boolean(vi->in_use));
    return o;
}

/* ---------------------------------------------------------------------------
 * sluice pool */

static void pool_help(FILE *f)
{
    fprintf(f,
        "usage: sluice pool <verb> [args]\n\n"
        "  create NAME --type lvm-thin --pv DEVICE [--pv DEVICE]... [--size SIZE] [--autoextend T[:P]]\n"
        "                                   new volume group NAME holding thin pool NAME\n"
        "  create NAME --type lvm-thin --vg VG [--size SIZE] [--autoextend T[:P]]\n"
        "                                   thin pool NAME in an existing volume group\n"
        "  create NAME --type dir --path DIR   a directory of sparse raw files\n"
        "  list [--json]                    every pool\n"
        "  info NAME [--json]               size, used, metadata used, volumes\n"
        "  set NAME --autoextend T[:P]|off  lvm-thin: grow by P%% (20) past T%% data use\n"
        "  delete NAME [--force]            --force deletes its volumes too\n\n"
        "SIZE: bytes or 512M, 20G, 1T. Without --size a thin pool takes all free space.\n");
}

static int parse_autoextend(const char *s, unsigned *thr, unsigned *pct)
{
    unsigned t, p = 20;
    char tail;

    if (!strcmp(s, "off")) {
        *thr = 0;
        *pct = 0;
        return 0;
    }
    int n = sscanf(s, "%u:%u%c", &t, &p, &tail);
    if (n == 1 && strchr(s, ':'))
        return -EINVAL;
    if ((n != 1 && n != 2) || t < 50 || t > 99 || p < 1 || p > 1000)
        return -EINVAL;
    *thr = t;
    *pct = p;
    return 0;
}

static void print_pool_text(const struct pool_info *pi, struct vol_info *vols, size_t nv)
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
    printf("free:      %s (%s)\n", f, pi->type == POOL_TYPE_DIR ? "file system" : "volume group");
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
    printf("volumes:   %u\n", pi->volumes);
    for (size_t i = 0; i < nv; i++)
        printf("  %s\n", vols[i].name);
}

static int pool_create_cmd(struct args *a)
{
    struct pool_create_params p = { 0 };
    const char *name = a->pos[0];
    int ret;

    if (a->npos != 1)
        return cli_usage("pool create", "expected NAME (see 'sluice pool --help')");
    if (pool_check_name(name) < 0)
        return cli_usage(name, "%s", pool_error_detail());
    if (!a->type)
        return cli_usage(name, "--type lvm-thin or --type dir is required");
    p.type = pool_type_parse(a->type);
    if (p.type == POOL_TYPE_NONE)
        return cli_usage(name, "unknown pool type '%s' (lvm-thin, dir)", a->type);
    p.name = name;
    if (p.type == POOL_TYPE_LVM_THIN) {
        if (a->path)
            return cli_usage(name, "--path is for dir pools");
        if (!a->n_pvs == !a->vg)
            return cli_usage(name, "an lvm-thin pool needs either --pv DEVICE... or --vg VG");
        p.pvs = a->n_pvs ? a->pvs : NULL;
        p.n_pvs = a->n_pvs;
        p.vg = a->vg;
        if (a->size_str && pool_parse_size(a->size_str, &p.size) < 0)
            return cli_usage(name, "%s", pool_error_detail());
        if (a->autoextend &&
            parse_autoextend(a->autoextend, &p.autoextend_threshold, &p.autoextend_percent) < 0)
            return cli_usage(name, "invalid --autoextend '%s' (THRESHOLD[:PERCENT], "
                             "threshold 50-99)", a->autoextend);
    } else {
        if (!a->path)
            return cli_usage(name, "a dir pool needs --path DIR");
        if (a->n_pvs || a->vg || a->size_str || a->autoextend)
            return cli_usage(name, "--pv, --vg, --size and --autoextend are for lvm-thin pools");
        p.path = a->path;
    }
    ret = pool_create(&p, NULL);
    if (ret < 0)
        return fail(name, ret);
    printf("pool %s created (%s)\n", name, a->type);
    return EXIT_OK;
}

static int pool_list_cmd(struct args *a)
{
    struct pool_info *pools;
    size_t n;
    int ret;

    if (a->npos)
        return cli_usage("pool list", "no arguments expected");
    ret = pool_list(&pools, &n);
    if (ret < 0)
        return fail("pool list", ret);
    if (a->json) {
        struct json_object *arr = json_object_new_array();
        for (size_t i = 0; i < n; i++)
            json_object_array_add(arr, pool_json(&pools[i], NULL, 0));
        print_json(arr);
    } else {
        printf("%-16s %-9s %8s %8s %8s %5s  %s\n", "NAME", "TYPE", "SIZE", "USED", "META",
               "VOLS", "LOCATION");
        for (size_t i = 0; i < n; i++) {
            char s[16], u[16], m[16] = "-";
            human(pools[i].size_bytes, s, sizeof(s));
            human(pools[i].used_bytes, u, sizeof(u));
            if (pools[i].has_metadata && pools[i].metadata_size_bytes)
                snprintf(m, sizeof(m), "%.1f%%", 100.0 * (double)pools[i].metadata_used_bytes /
                                                     (double)pools[i].metadata_size_bytes);
            printf("%-16s %-9s %8s %8s %8s %5u  %s\n", pools[i].name,
                   pool_type_name(pools[i].type), s, u, m, pools[i].volumes,
                   pools[i].location);
        }
    }
    free(pools);
    return EXIT_OK;
}

static int open_pool(const char *name, struct pool **pool)
{
    int ret;

    if (pool_check_name(name) < 0)
        return cli_usage(name, "%s", pool_error_detail());
    ret = pool_open(name, pool);
    if (ret < 0)
        return fail(name, ret);
    return EXIT_OK;
}

static int pool_info_cmd(struct args *a)
{
    struct pool_info pi;
    struct vol_info *vols = NULL;
    struct pool *pool;
    size_t nv = 0;
    int ret;

    if (a->npos != 1)
        return cli_usage("pool info", "expected NAME");
    if ((ret = open_pool(a->pos[0], &pool)) != EXIT_OK)
        return ret;
    ret = pool_get_info(pool, &pi);
    if (ret == 0)
        ret = pool_vol_list(pool, &vols, &nv);
    pool_close(pool);
    if (ret < 0) {
        free(vols);
        return fail(a->pos[0], ret);
    }
    if (a->json)
        print_json(pool_json(&pi, vols, nv));
    else
        print_pool_text(&pi, vols, nv);
    free(vols);
    return EXIT_OK;
}

static int pool_set_cmd(struct args *a)
{
    unsigned thr, pct;
    struct pool *pool;
    int ret;

    if (a->npos != 1 || !a->autoextend)
        return cli_usage("pool set", "expected NAME --autoextend THRESHOLD[:PERCENT]|off");
    if (parse_autoextend(a->autoextend, &thr, &pct) < 0)
        return cli_usage(a->pos[0], "invalid --autoextend '%s' (THRESHOLD[:PERCENT], "
                         "threshold 50-99, or off)", a->autoextend);
    if ((ret = open_pool(a->pos[0], &pool)) != EXIT_OK)
        return ret;
    ret = pool_set_autoextend(pool, thr, pct);
    pool_close(pool);
    return ret < 0 ? fail(a->pos[0], ret) : EXIT_OK;
}

static int pool_delete_cmd(struct args *a)
{
    struct pool *pool;
    int ret;

    if (a->npos != 1)
        return cli_usage("pool delete", "expected NAME");
    if ((ret = open_pool(a->pos[0], &pool)) != EXIT_OK)
        return ret;
    ret = pool_destroy(pool, a->force);
    pool_close(pool);
    if (ret < 0)
        return fail(a->pos[0], ret);
    printf("pool %s deleted\n", a->pos[0]);
    return EXIT_OK;
}

/* One verb of a noun: its name, the options it takes, its handler. */
struct verb {
    const char *verb, *opts;
    int (*run)(struct args *);
};

/* `sluice NOUN VERB ...`: help, verb lookup, option parsing, dispatch. */
static int dispatch(const char *noun, const struct verb *verbs, size_t n,
                    void (*help)(FILE *), int argc, char **argv)
{
    struct args a;

    if (argc < 2) {
        help(stderr);
        return EXIT_USAGE;
    }
    if (cli_is_help(argv[1])) {
        help(stdout);
        return EXIT_OK;
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(argv[1], verbs[i].verb))
            continue;
        char obj[32];
        snprintf(obj, sizeof(obj), "%s %s", noun, verbs[i].verb);
        int ret = parse_any_order(argc - 1, argv + 1, verbs[i].opts, obj, &a);
        if (ret)
            return ret;
        if (a.help) {
            help(stdout);
            return EXIT_OK;
        }
        return verbs[i].run(&a);
    }
    return cli_usage(argv[1], "unknown %s verb (try 'sluice %s --help')", noun, noun);
}

int cmd_pool(int argc, char **argv)
{
    static const struct verb verbs[] = {
        { "create", "tpvPsa", pool_create_cmd },
        { "list", "j", pool_list_cmd },
        { "info", "j", pool_info_cmd },
        { "set", "a", pool_set_cmd },
        { "delete", "f", pool_delete_cmd },
    };
    return dispatch("pool", verbs, sizeof(verbs) / sizeof(verbs[0]), pool_help, argc, argv);
}

/* ---------------------------------------------------------------------------
 * sluice vol */

static void vol_help(FILE *f)
{
    fprintf(f,
        "usage: sluice vol <verb> [args]\n\n"
        "  create POOL/VOL --size SIZE        a thin (sparse) volume\n"
        "  list [POOL] [--json]               volumes of one or every pool\n"
        "  info POOL/VOL [--json]             size, used, path, origin\n"
        "  resize POOL/VOL --size SIZE [--force]   grow; shrink only with --force\n"
        "  snapshot POOL/VOL NEWNAME          read-only snapshot\n"
        "  clone POOL/VOL NEWNAME             writable clone of a volume or snapshot\n"
        "  rename POOL/VOL NEWNAME\n"
        "  delete POOL/VOL [--force]          refuses while in use unless --force\n"
        "  import POOL/VOL FILE [--force]     new volume from a raw file or block device\n"
        "                                     (--force: overwrite an existing volume)\n"
        "  export POOL/VOL FILE               to a raw file (sparse) or block device\n\n"
        "SIZE: bytes or 512M, 20G, 1T.\n");
}

struct volref {
    char pool[POOL_NAME_MAX + 1];
    char vol[POOL_NAME_MAX + 1];
    struct pool *p;
};

/* Parse "POOL/VOL" and open the pool. Returns EXIT_OK or an exit status. */
static int open_vol(const char *spec, struct volref *r)
{
    int ret;

    if (pool_parse_spec(spec, r->pool, r->vol) < 0)
        return cli_usage(spec, "%s", pool_error_detail());
    ret = pool_open(r->pool, &r->p);
    if (ret < 0)
        return fail(r->pool, ret);
    return EXIT_OK;
}

static int vol_done(struct volref *r, const char *object, int ret)
{
    pool_close(r->p);
    return ret < 0 ? fail(object, ret) : EXIT_OK;
}

static int vol_create_cmd(struct args *a)
{
    struct volref r;
    uint64_t size;
    int ret;

    if (a->npos != 1 || !a->size_str)
        return cli_usage("vol create", "expected POOL/VOL --size SIZE");
    if (pool_parse_spec(a->pos[0], r.pool, r.vol) < 0)
        return cli_usage(a->pos[0], "%s", pool_error_detail());
    if (pool_parse_size(a->size_str, &size) < 0)
        return cli_usage(a->pos[0], "%s", pool_error_detail());
    if ((ret = open_vol(a->pos[0], &r)) != EXIT_OK)
        return ret;
    ret = pool_vol_create(r.p, r.vol, size);
    if (ret == 0)
        printf("volume %s created\n", a->pos[0]);
    return vol_done(&r, a->pos[0], ret);
}

static int vol_list_cmd(struct args *a)
{
    struct pool_info *pools = NULL;
    struct json_object *arr = a->json ? json_object_new_array() : NULL;
    size_t np = 0;
    int ret;

    if (a->npos > 1)
        return cli_usage("vol list", "expected at most one POOL");
    if (a->npos == 1) {
        if (pool_check_name(a->pos[0]) < 0)
            return cli_usage(a->pos[0], "%s", pool_error_detail());
        pools = calloc(1, sizeof(*pools));
        if (!pools)
            return cli_fail("vol list", "out of memory");
        snprintf(pools[0].name, sizeof(pools[0].name), "%s", a->pos[0]);
        np = 1;
    } else {
        ret = pool_list(&pools, &np);
        if (ret < 0)
            return fail("vol list", ret);
    }
    if (!a->json)
        printf("%-24s %8s %8s %-16s %-5s %s\n", "VOLUME", "SIZE", "USED", "ORIGIN", "FLAGS",
               "PATH");
    for (size_t i = 0; i < np; i++) {
        struct pool *pool;
        struct vol_info *vols;
        size_t nv;

        ret = pool_open(pools[i].name, &pool);
        if (ret == 0) {
            ret = pool_vol_list(pool, &vols, &nv);
            pool_close(pool);
        }
        if (ret < 0) {
            free(pools);
            json_object_put(arr);
            return fail(pools[i].name, ret);
        }
        for (size_t j = 0; j < nv; j++) {
            if (arr) {
                json_object_array_add(arr, vol_json(&vols[j]));
                continue;
            }
            char s[16], u[16], full[POOL_NAME_MAX * 2 + 2], flags[8];
            human(vols[j].size_bytes, s, sizeof(s));
            human(vols[j].used_bytes, u, sizeof(u));
            snprintf(full, sizeof(full), "%s/%s", vols[j].pool, vols[j].name);
            snprintf(flags, sizeof(flags), "%c%c%c", vols[j].readonly ? 'r' : 'w',
                     vols[j].active ? 'a' : '-', vols[j].in_use ? 'o' : '-');
            printf("%-24s %8s %8s %-16s %-5s %s\n", full, s, u,
                   vols[j].origin[0] ? vols[j].origin : "-", flags, vols[j].path);
        }
        free(vols);
    }
    free(pools);
    if (arr)
        print_json(arr);
    return EXIT_OK;
}

static int vol_info_cmd(struct args *a)
{
    struct vol_info vi;
    struct volref r;
    int ret;

    if (a->npos != 1)
        return cli_usage("vol info", "expected POOL/VOL");
    if ((ret = open_vol(a->pos[0], &r)) != EXIT_OK)
        return ret;
    ret = pool_vol_info(r.p, r.vol, &vi);
    if (ret == 0) {
        if (a->json) {
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
    return vol_done(&r, a->pos[0], ret);
}

static int vol_resize_cmd(struct args *a)
{
    struct volref r;
    uint64_t size;
    int ret;

    if (a->npos != 1 || !a->size_str)
        return cli_usage("vol resize", "expected POOL/VOL --size SIZE");
    if (pool_parse_spec(a->pos[0], r.pool, r.vol) < 0)
        return cli_usage(a->pos[0], "%s", pool_error_detail());
    if (pool_parse_size(a->size_str, &size) < 0)
        return cli_usage(a->pos[0], "%s", pool_error_detail());
    if ((ret = open_vol(a->pos[0], &r)) != EXIT_OK)
        return ret;
    ret = pool_vol_resize(r.p, r.vol, size, a->force);
#ifdef SLUICE_HAVE_DEV
    /* A guest using the volume sees the new size without a restart. */
    if (ret == 0)
        cli_refresh_volume(a->pos[0]);
#endif
    return vol_done(&r, a->pos[0], ret);
}

/* snapshot, clone, rename: POOL/VOL NEWNAME. */
static int vol_two_names(struct args *a, const char *verb)
{
    struct progress pg;
    struct volref r;
    int ret;

    if (a->npos != 2)
        return cli_usage(verb, "expected POOL/VOL NEWNAME");
    if (pool_parse_spec(a->pos[0], r.pool, r.vol) < 0)
        return cli_usage(a->pos[0], "%s", pool_error_detail());
    if (pool_check_name(a->pos[1]) < 0)
        return cli_usage(a->pos[1], "%s", pool_error_detail());
    if ((ret = open_vol(a->pos[0], &r)) != EXIT_OK)
        return ret;
    progress_init(&pg, verb);
    if (!strcmp(verb, "snapshot"))
        ret = pool_vol_snapshot(r.p, r.vol, a->pos[1], progress_cb, &pg);
    else if (!strcmp(verb, "clone"))
        ret = pool_vol_clone(r.p, r.vol, a->pos[1], progress_cb, &pg);
    else
        ret = pool_vol_rename(r.p, r.vol, a->pos[1]);
    if (ret == -EEXIST) {
        pool_close(r.p);
        char obj[POOL_NAME_MAX * 2 + 2];
        snprintf(obj, sizeof(obj), "%s/%s", r.pool, a->pos[1]);
        return fail(obj, ret);
    }
    return vol_done(&r, a->pos[0], ret);
}

static int vol_snapshot_cmd(struct args *a) { return vol_two_names(a, "snapshot"); }
static int vol_clone_cmd(struct args *a) { return vol_two_names(a, "clone"); }
static int vol_rename_cmd(struct args *a) { return vol_two_names(a, "rename"); }

static int vol_delete_cmd(struct args *a)
{
    struct volref r;
    int ret;

    if (a->npos != 1)
        return cli_usage("vol delete", "expected POOL/VOL");
    if ((ret = open_vol(a->pos[0], &r)) != EXIT_OK)
        return ret;
    ret = pool_vol_delete(r.p, r.vol, a->force);
    return vol_done(&r, a->pos[0], ret);
}

static int vol_copy_cmd(struct args *a, bool import)
{
    struct progress pg;
    struct volref r;
    int ret;

    if (a->npos != 2)
        return cli_usage(import ? "vol import" : "vol export", "expected POOL/VOL FILE");
    if ((ret = open_vol(a->pos[0], &r)) != EXIT_OK)
        return ret;
    progress_init(&pg, import ? "import" : "export");
    if (import)
        ret = pool_vol_import(r.p, r.vol, a->pos[1], a->force, progress_cb, &pg);
    else
        ret = pool_vol_export(r.p, r.vol, a->pos[1], progress_cb, &pg);
    return vol_done(&r, a->pos[0], ret);
}

static int vol_import_cmd(struct args *a) { return vol_copy_cmd(a, true); }
static int vol_export_cmd(struct args *a) { return vol_copy_cmd(a, false); }

int cmd_vol(int argc, char **argv)
{
    static const struct verb verbs[] = {
        { "create", "s", vol_create_cmd },
        { "list", "j", vol_list_cmd },
        { "info", "j", vol_info_cmd },
        { "resize", "sf", vol_resize_cmd },
        { "snapshot", "", vol_snapshot_cmd },
        { "clone", "", vol_clone_cmd },
        { "rename", "", vol_rename_cmd },
        { "delete", "f", vol_delete_cmd },
        { "import", "f", vol_import_cmd },
        { "export", "", vol_export_cmd },
    };
    return dispatch("vol", verbs, sizeof(verbs) / sizeof(verbs[0]), vol_help, argc, argv);
}
