/* SPDX-License-Identifier: Apache-2.0 */
/* LVM commands (fork/exec, JSON reports parsed with json-c) and
 * device-mapper status (libdevmapper). See lvm.h (private to storage/). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>
#include <libdevmapper.h>

#include "lvm.h"
#include "storage/pool.h"

/* ---------------------------------------------------------------------------
 * Report parsing. */

static void copy_str(char *dst, size_t len, const char *src)
{
    snprintf(dst, len, "%s", src ? src : "");
}

/* A field as text: LVM 2.03's "json" gives strings, "json_std" numbers. */
static const char *field_str(struct json_object *row, const char *key)
{
    struct json_object *v;
    if (!json_object_object_get_ex(row, key, &v) || !v)
        return "";
    return json_object_get_string(v);
}

static uint64_t field_u64(struct json_object *row, const char *key)
{
    const char *s = field_str(row, key);
    char *end;
    unsigned long long x;

    if (!*s)
        return 0;
    errno = 0;
    x = strtoull(s, &end, 10);
    if (errno || (*end && *end != '.'))
        return 0;
    return x;
}

static double field_percent(struct json_object *row, const char *key)
{
    const char *s = field_str(row, key);
    char *end;
    double d;

    if (!*s)
        return -1;
    d = strtod(s, &end);
    return end == s ? -1 : d;
}

typedef int (*row_cb)(struct json_object *row, void *dst);

/* Walk report[*][@section][*], calling @cb on a new zeroed element of
 * *@arr (element size @elem). */
static int parse_rows(const char *json, const char *section, size_t elem, void **arr,
                      size_t *n, row_cb cb)
{
    struct json_object *root, *report;
    size_t count = 0, cap = 0;
    char *out = NULL;
    int r = 0;

    *arr = NULL;
    *n = 0;
    root = json_tokener_parse(json ? json : "");
    if (!root)
        return -EINVAL;
    if (!json_object_object_get_ex(root, "report", &report) ||
        !json_object_is_type(report, json_type_array)) {
        r = -EINVAL;
        goto out_put;
    }
    for (size_t i = 0; i < json_object_array_length(report); i++) {
        struct json_object *sec = json_object_array_get_idx(report, i), *rows;
        if (!json_object_object_get_ex(sec, section, &rows) ||
            !json_object_is_type(rows, json_type_array))
            continue;
        for (size_t j = 0; j < json_object_array_length(rows); j++) {
            struct json_object *row = json_object_array_get_idx(rows, j);
            if (!json_object_is_type(row, json_type_object))
                continue;
            if (count == cap) {
                size_t ncap = cap ? cap * 2 : 8;
                char *p = realloc(out, ncap * elem);
                if (!p) {
                    r = -ENOMEM;
                    goto out_free;
                }
                out = p;
                cap = ncap;
            }
            memset(out + count * elem, 0, elem);
            r = cb(row, out + count * elem);
            if (r < 0)
                goto out_free;
            count++;
        }
    }
    *arr = out;
    *n = count;
    json_object_put(root);
    return 0;

out_free:
    free(out);
out_put:
    json_object_put(root);
    return r;
}

static int lv_row(struct json_object *row, void *dst)
{
    struct lvm_lv *lv = dst;

    copy_str(lv->vg, sizeof(lv->vg), field_str(row, "vg_name"));
    copy_str(lv->name, sizeof(lv->name), field_str(row, "lv_name"));
    copy_str(lv->attr, sizeof(lv->attr), field_str(row, "lv_attr"));
    copy_str(lv->tags, sizeof(lv->tags), field_str(row, "lv_tags"));
    copy_str(lv->pool_lv, sizeof(lv->pool_lv), field_str(row, "pool_lv"));
    copy_str(lv->origin, sizeof(lv->origin), field_str(row, "origin"));
    copy_str(lv->segtype, sizeof(lv->segtype), field_str(row, "segtype"));
    copy_str(lv->path, sizeof(lv->path), field_str(row, "lv_path"));
    copy_str(lv->profile, sizeof(lv->profile), field_str(row, "lv_profile"));
    lv->size = field_u64(row, "lv_size");
    lv->metadata_size = field_u64(row, "lv_metadata_size");
    lv->data_percent = field_percent(row, "data_percent");
    lv->metadata_percent = field_percent(row, "metadata_percent");
    lv->active = !strcmp(field_str(row, "lv_active"), "active");
    lv->readonly = !strcmp(field_str(row, "lv_permissions"), "read-only");
    return 0;
}

static int vg_row(struct json_object *row, void *dst)
{
    struct lvm_vg *vg = dst;

    copy_str(vg->name, sizeof(vg->name), field_str(row, "vg_name"));
    copy_str(vg->tags, sizeof(vg->tags), field_str(row, "vg_tags"));
    vg->size = field_u64(row, "vg_size");
    vg->free = field_u64(row, "vg_free");
    vg->extent_size = field_u64(row, "vg_extent_size");
    vg->pv_count = (unsigned)field_u64(row, "pv_count");
    vg->lv_count = (unsigned)field_u64(row, "lv_count");
    return 0;
}

static int pv_row(struct json_object *row, void *dst)
{
    struct lvm_pv *pv = dst;

    copy_str(pv->name, sizeof(pv->name), field_str(row, "pv_name"));
    copy_str(pv->vg, sizeof(pv->vg), field_str(row, "vg_name"));
    pv->size = field_u64(row, "pv_size");
    pv->free = field_u64(row, "pv_free");
    return 0;
}

int lvm_parse_lvs(const char *json, struct lvm_lv **out, size_t *n)
{
    return parse_rows(json, "lv", sizeof(**out), (void **)out, n, lv_row);
}

int lvm_parse_vgs(const char *json, struct lvm_vg **out, size_t *n)
{
    return parse_rows(json, "vg", sizeof(**out), (void **)out, n, vg_row);
}

int lvm_parse_pvs(const char *json, struct lvm_pv **out, size_t *n)
{
    return parse_rows(json, "pv", sizeof(**out), (void **)out, n, pv_row);
}

bool lvm_has_tag(const char *tags, const char *tag)
{
    size_t len = strlen(tag);

    for (const char *p = tags; p && *p;) {
        const char *end = strchr(p, ',');
        size_t l = end ? (size_t)(end - p) : strlen(p);
        if (l == len && !memcmp(p, tag, len))
            return true;
        p = end ? end + 1 : NULL;
    }
    return false;
}

/* ---------------------------------------------------------------------------
 * Running lvm. */

static const char *lvm_binary(void)
{
    static const char *const cands[] = { "/sbin/lvm", "/usr/sbin/lvm" };
    const char *env = getenv("SLUICE_LVM");

    if (env && *env)
        return env;
    for (size_t i = 0; i < sizeof(cands) / sizeof(cands[0]); i++)
        if (access(cands[i], X_OK) == 0)
            return cands[i];
    return "lvm";
}

struct buf {
    char *p;
    size_t len, cap;
};

static int buf_read(struct buf *b, int fd)
{
    if (b->cap - b->len < 4096) {
        size_t ncap = b->cap ? b->cap * 2 : 16384;
        char *p = realloc(b->p, ncap);
        if (!p)
            return -ENOMEM;
        b->p = p;
        b->cap = ncap;
    }
    ssize_t got = read(fd, b->p + b->len, b->cap - b->len - 1);
    if (got < 0)
        return errno == EINTR ? 1 : -errno;
    b->len += (size_t)got;
    b->p[b->len] = '\0';
    return got > 0;
}

/* -EIO, the last non-empty line of @s (trimmed) saying why. */
static int detail_from_stderr(const char *cmd, const char *s, struct sl_err *err)
{
    const char *best = NULL, *p = s;
    size_t bestlen = 0;

    while (p && *p) {
        const char *end = strchrnul(p, '\n');
        const char *a = p;
        while (a < end && (*a == ' ' || *a == '\t'))
            a++;
        /* LVM's warnings about inherited descriptors are noise, and so is
         * the "Run `lvcreate --help' for more information." after a usage
         * error: the line before it says what was wrong. */
        if (end > a && strncmp(a, "File descriptor", 15) && strncmp(a, "WARNING", 7) &&
            strncmp(a, "Run `", 5)) {
            best = a;
            bestlen = (size_t)(end - a);
        }
        p = *end ? end + 1 : NULL;
    }
    if (best)
        return err_set(err, -EIO, "%s: %.*s", cmd, (int)bestlen, best);
    return err_set(err, -EIO, "%s failed", cmd);
}

/* "lvm" (or $SLUICE_LVM), @argv, "--config" and the configuration, NULL:
 * LVM's own argv[0] dispatch runs "lvm lvcreate ...". NULL without memory. */
static const char **lvm_args(const char *bin, const char *const *argv)
{
    const char *conf = getenv("SLUICE_LVM_CONFIG");
    size_t argc = 0;

    while (argv[argc])
        argc++;
    const char **args = calloc(argc + 4, sizeof(*args));
    if (!args)
        return NULL;
    args[0] = bin;
    for (size_t i = 0; i < argc; i++)
        args[i + 1] = argv[i];
    args[argc + 1] = "--config";
    args[argc + 2] = conf && *conf ? conf : LVM_DEFAULT_CONFIG;
    args[argc + 3] = NULL;
    return args;
}

/* In the forked child: stdin from /dev/null, stdout and stderr to the pipes,
 * nothing else open, then exec; 127 when it cannot. */
static __attribute__((noreturn)) void lvm_exec_child(const char *bin, const char **args, int ofd, int efd)
{
    int nul = open("/dev/null", O_RDONLY);
    if (nul >= 0)
        dup2(nul, 0);
    dup2(ofd, 1);
    dup2(efd, 2);
    /* No inherited descriptors: LVM warns about each one. */
    for (int fd = 3; fd < 1024; fd++)
        close(fd);
    setenv("LVM_SUPPRESS_FD_WARNINGS", "1", 1);
    setenv("LC_ALL", "C", 1);
    execv(bin, (char *const *)args);
    if (!strchr(bin, '/'))
        execvp(bin, (char *const *)args);
    _exit(127);
}

/* Read the child's stdout into @ob and stderr into @eb until both end.
 * Returns 0 or -errno. */
static int lvm_read_output(int ofd, int efd, struct buf *ob, struct buf *eb)
{
    struct pollfd pfd[2] = { { ofd, POLLIN, 0 }, { efd, POLLIN, 0 } };
    int open_fds = 2, r = 0;

    while (open_fds > 0) {
        if (poll(pfd, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            r = -errno;
            break;
        }
        for (int i = 0; i < 2; i++) {
            if (pfd[i].fd < 0 || !(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            int got = buf_read(i == 0 ? ob : eb, pfd[i].fd);
            if (got < 0) {
                r = got;
                open_fds = 0;
                break;
            }
            if (got == 0) {
                pfd[i].fd = -1;
                open_fds--;
            }
        }
    }
    return r;
}

/* ---------------------------------------------------------------------------
 * The report cache (lvm_cache_reports): the JSON of one report of everything
 * per command (lvs, vgs, pvs), kept until a command that changes LVM runs.
 * With the cache on, lvm_lvs()/lvm_vgs() ask only for everything and select
 * rows themselves. A CLI command asks several questions (the pool's record,
 * the volume's row before and after a change); each answer from lvm costs a
 * process that scans every device (about 0.1 s on a host, 1-2 s in the TCG
 * lab VM). */
static const char *const report_cmds[] = { "lvs", "vgs", "pvs" };
#define NREPORTS (sizeof(report_cmds) / sizeof(report_cmds[0]))

static struct report_cache {
    bool on;
    char *json[NREPORTS];   /* per report_cmds[], or NULL */
} rcache;

static void cache_drop(void)
{
    for (size_t i = 0; i < NREPORTS; i++) {
        free(rcache.json[i]);
        rcache.json[i] = NULL;
    }
}

void lvm_cache_reports(bool on)
{
    cache_drop();
    rcache.on = on;
}

/* The index of report command @cmd in report_cmds[], or -1. */
static int report_kind(const char *cmd)
{
    for (size_t i = 0; i < NREPORTS; i++)
        if (!strcmp(cmd, report_cmds[i]))
            return (int)i;
    return -1;
}

int lvm_run(const char *const *argv, char **out, struct sl_err *err)
{
    const char *bin = lvm_binary();
    int opipe[2], epipe[2], r = 0, status;
    struct buf ob = { 0 }, eb = { 0 };
    pid_t pid;

    if (out)
        *out = NULL;
    /* Anything but a report may change what the reports say. */
    if (report_kind(argv[0]) < 0)
        cache_drop();
    const char **args = lvm_args(bin, argv);
    if (!args)
        return -ENOMEM;

    if (pipe2(opipe, O_CLOEXEC) < 0) {
        r = -errno;
        goto out_args;
    }
    if (pipe2(epipe, O_CLOEXEC) < 0) {
        r = -errno;
        goto out_opipe;
    }
    pid = fork();
    if (pid < 0) {
        r = -errno;
        goto out_epipe;
    }
    if (pid == 0)
        lvm_exec_child(bin, args, opipe[1], epipe[1]);
    close(opipe[1]);
    close(epipe[1]);
    opipe[1] = epipe[1] = -1;

    r = lvm_read_output(opipe[0], epipe[0], &ob, &eb);
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            r = r ? r : -errno;
            goto out_epipe;
        }
    }
    if (r == 0) {
        if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
            r = err_set(err, -ENODEV, "the lvm command is not installed (use a dir pool: sluice pool create NAME --type dir --path DIR)");
        } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            r = detail_from_stderr(argv[0], eb.p, err);
        }
    }
    if (r == 0 && out) {
        *out = ob.p ? ob.p : strdup("");
        ob.p = NULL;
        if (!*out)
            r = -ENOMEM;
    }

out_epipe:
    close(epipe[0]);
    if (epipe[1] >= 0)
        close(epipe[1]);
out_opipe:
    close(opipe[0]);
    if (opipe[1] >= 0)
        close(opipe[1]);
out_args:
    free(args);
    free(ob.p);
    free(eb.p);
    return r;
}

static int report(const char *cmd, const char *fields, const char *select, bool all,
                  char **json, struct sl_err *err)
{
    /* Only reports of everything are kept (all the cache's users ask). */
    int k = rcache.on && !select && !all ? report_kind(cmd) : -1;

    if (k >= 0 && rcache.json[k]) {
        *json = strdup(rcache.json[k]);
        return *json ? 0 : -ENOMEM;
    }
    const char *argv[12];
    int i = 0;

    argv[i++] = cmd;
    argv[i++] = "--reportformat";
    argv[i++] = "json";
    argv[i++] = "--units";
    argv[i++] = "b";
    argv[i++] = "--nosuffix";
    argv[i++] = "-o";
    argv[i++] = fields;
    if (all)
        argv[i++] = "-a";
    if (select)
        argv[i++] = select;
    argv[i] = NULL;
    int r = lvm_run(argv, json, err);
    /* A VG that does not exist: LVM exits 5 but the report is valid and
     * empty; callers treat it as no rows. Only a report that succeeded is
     * kept. */
    if (r == 0 && k >= 0)
        rcache.json[k] = strdup(*json);   /* no memory: asked again later */
    return r;
}

/* Does LV row @lv answer `lvs SELECT`? (SELECT: "VG", "VG/LV", "@tag") */
static bool lv_selected(const struct lvm_lv *lv, const char *select)
{
    const char *slash = strchr(select, '/');

    if (select[0] == '@')
        return lvm_has_tag(lv->tags, select + 1);
    if (!slash)
        return !strcmp(lv->vg, select);
    return strlen(lv->vg) == (size_t)(slash - select) && !strncmp(lv->vg, select, (size_t)(slash - select)) &&
           !strcmp(lv->name, slash + 1);
}

/* Keep the rows of *@arr (@n of @elem bytes) that @keep selects, in order. */
static void filter_rows(void *arr, size_t elem, size_t *n, const char *select,
                        bool (*keep)(const void *row, const char *select))
{
    size_t out = 0;

    for (size_t i = 0; i < *n; i++) {
        char *row = (char *)arr + i * elem;
        if (!keep(row, select))
            continue;
        if (out != i)
            memcpy((char *)arr + out * elem, row, elem);
        out++;
    }
    *n = out;
}

static bool lv_keep(const void *row, const char *select)
{
    return lv_selected(row, select);
}

static bool vg_keep(const void *row, const char *select)
{
    return !strcmp(((const struct lvm_vg *)row)->name, select);
}

/* With the cache on, every selection is answered from one report of
 * everything, which LVM builds at the same cost as a selected one (it reads
 * every VG's metadata either way: `lvs @tag` must). */
int lvm_lvs(const char *select, struct lvm_lv **out, size_t *n, struct sl_err *err)
{
    char *json = NULL;
    bool filter = rcache.on && select;
    const char *sel = filter ? NULL : select;
    int r = report("lvs", LVM_LV_FIELDS, sel, false, &json, err);

    *out = NULL;
    *n = 0;
    if (r == -EIO && sel && sel[0] != '@') {
        err_clear(err);
        return 0;   /* no such VG or LV: no rows */
    }
    if (r < 0)
        return r;
    r = lvm_parse_lvs(json, out, n);
    free(json);
    if (r == 0 && filter)
        filter_rows(*out, sizeof(**out), n, select, lv_keep);
    return r;
}

int lvm_vgs(const char *select, struct lvm_vg **out, size_t *n, struct sl_err *err)
{
    char *json = NULL;
    bool filter = rcache.on && select;
    const char *sel = filter ? NULL : select;
    int r = report("vgs", LVM_VG_FIELDS, sel, false, &json, err);

    *out = NULL;
    *n = 0;
    if (r == -EIO && sel) {
        err_clear(err);
        return 0;
    }
    if (r < 0)
        return r;
    r = lvm_parse_vgs(json, out, n);
    free(json);
    if (r == 0 && filter)
        filter_rows(*out, sizeof(**out), n, select, vg_keep);
    return r;
}

int lvm_pvs(const char *select, struct lvm_pv **out, size_t *n, struct sl_err *err)
{
    char *json = NULL;
    int r = report("pvs", LVM_PV_FIELDS, select, false, &json, err);

    *out = NULL;
    *n = 0;
    if (r < 0)
        return r;
    r = lvm_parse_pvs(json, out, n);
    free(json);
    return r;
}

/* ---------------------------------------------------------------------------
 * Device-mapper status. */

int lvm_parse_pool_status(const char *params, struct lvm_pool_status *st)
{
    char mode[32] = "";
    unsigned long long tid, mu, mt, du, dt;

    memset(st, 0, sizeof(*st));
    if (!params)
        return -EINVAL;
    if (!strncmp(params, "Fail", 4) || !strncmp(params, "Error", 5)) {
        st->failed = true;
        return 0;
    }
    if (sscanf(params, "%llu %llu/%llu %llu/%llu %*s %31s", &tid, &mu, &mt, &du, &dt,
               mode) != 6)
        return -EINVAL;
    if (mu > mt || du > dt)
        return -EINVAL;
    st->transaction_id = tid;
    st->meta_used_blocks = mu;
    st->meta_total_blocks = mt;
    st->data_used_blocks = du;
    st->data_total_blocks = dt;
    st->out_of_data_space = !strcmp(mode, "out_of_data_space");
    st->read_only = !strcmp(mode, "ro");
    return 0;
}

int lvm_parse_pool_table(const char *params, uint64_t *block_bytes)
{
    unsigned long long sectors;

    if (!params || sscanf(params, "%*s %*s %llu", &sectors) != 1 || sectors == 0 ||
        sectors > (1ull << 40))
        return -EINVAL;
    *block_bytes = (uint64_t)sectors * 512;
    return 0;
}

int lvm_parse_thin_status(const char *params, uint64_t *mapped_bytes)
{
    unsigned long long sectors;

    if (!params)
        return -EINVAL;
    if (!strncmp(params, "Fail", 4))
        return -EIO;
    if (sscanf(params, "%llu", &sectors) != 1 || sectors > (UINT64_MAX >> 9))
        return -EINVAL;
    *mapped_bytes = (uint64_t)sectors << 9;
    return 0;
}

static void dm_quiet(int level, const char *file, int line, int dm_errno, const char *f, ...)
{
    (void)level; (void)file; (void)line; (void)dm_errno; (void)f;
}

static void dm_setup(void)
{
    static bool done;
    if (!done) {
        dm_log_with_errno_init(dm_quiet);
        done = true;
    }
}

int lvm_dm_available(void)
{
    char ver[64];

    if (access("/sys/class/misc/device-mapper", F_OK) < 0 &&
        access("/dev/mapper/control", F_OK) < 0)
        return -ENODEV;
    dm_setup();
    if (!dm_driver_version(ver, sizeof(ver)))
        return -ENODEV;
    return 0;
}

static int dm_mangle(const char *s, char **p, char *end)
{
    for (; *s; s++) {
        int reps = *s == '-' ? 2 : 1;
        for (int i = 0; i < reps; i++) {
            if (*p >= end)
                return -ENAMETOOLONG;
            *(*p)++ = *s;
        }
    }
    return 0;
}

int lvm_dm_name(const char *vg, const char *lv, const char *layer, char *buf, size_t len)
{
    char *p = buf, *end = buf + len - 1;

    if (len == 0 || dm_mangle(vg, &p, end) < 0)
        return -ENAMETOOLONG;
    if (p >= end)
        return -ENAMETOOLONG;
    *p++ = '-';
    if (dm_mangle(lv, &p, end) < 0)
        return -ENAMETOOLONG;
    if (layer) {
        if (p >= end)
            return -ENAMETOOLONG;
        *p++ = '-';
        if (dm_mangle(layer, &p, end) < 0)
            return -ENAMETOOLONG;
    }
    *p = '\0';
    return 0;
}

/* Run a STATUS or TABLE task on @name; copy the single target's type and
 * params. Returns 0, -ENXIO (no such device), -ENODEV, -EIO. */
static int dm_query(const char *name, int type, struct dm_info *info, char *target,
                    size_t tlen, char *params, size_t plen, uint64_t *sectors)
{
    struct dm_task *dmt;
    uint64_t start, length;
    char *ttype = NULL, *tparams = NULL;
    int r = 0;

    if (lvm_dm_available() < 0)
        return -ENODEV;
    dmt = dm_task_create(type);
    if (!dmt)
        return -ENOMEM;
    if (!dm_task_set_name(dmt, name) || !dm_task_run(dmt)) {
        r = -EIO;
        goto out;
    }
    if (!dm_task_get_info(dmt, info) || !info->exists) {
        r = -ENXIO;
        goto out;
    }
    start = length = 0;
    dm_get_next_target(dmt, NULL, &start, &length, &ttype, &tparams);
    if (sectors)
        *sectors = length;
    snprintf(target, tlen, "%s", ttype ? ttype : "");
    snprintf(params, plen, "%s", tparams ? tparams : "");
out:
    dm_task_destroy(dmt);
    return r;
}

int lvm_dm_pool_status(const char *vg, const char *lv, struct lvm_pool_status *st)
{
    static const char *const layers[] = { "tpool", NULL };
    char name[512], target[64], params[1024];
    struct dm_info info;
    int r = -ENXIO;

    for (size_t i = 0; i < 2; i++) {
        r = lvm_dm_name(vg, lv, layers[i], name, sizeof(name));
        if (r < 0)
            return r;
        r = dm_query(name, DM_DEVICE_STATUS, &info, target, sizeof(target), params,
                       sizeof(params), NULL);
        if (r == -ENXIO || (r == 0 && strcmp(target, "thin-pool")))
            continue;
        if (r < 0)
            return r;
        r = lvm_parse_pool_status(params, st);
        if (r < 0)
            return r;
        r = dm_query(name, DM_DEVICE_TABLE, &info, target, sizeof(target), params,
                       sizeof(params), NULL);
        if (r < 0)
            return r;
        return lvm_parse_pool_table(params, &st->data_block_bytes);
    }
    return -ENXIO;
}

int lvm_dm_thin_status(const char *vg, const char *lv, struct lvm_thin_status *st)
{
    char name[512], target[64], params[1024];
    struct dm_info info;
    int r;

    memset(st, 0, sizeof(*st));
    r = lvm_dm_name(vg, lv, NULL, name, sizeof(name));
    if (r < 0)
        return r;
    uint64_t sectors = 0;
    r = dm_query(name, DM_DEVICE_STATUS, &info, target, sizeof(target), params,
                   sizeof(params), &sectors);
    if (r < 0)
        return r;
    st->size_bytes = sectors << 9;
    st->open_count = info.open_count;
    st->readonly = info.read_only;
    if (strcmp(target, "thin"))
        return -EINVAL;
    r = lvm_parse_thin_status(params, &st->mapped_bytes);
    if (r < 0)
        return r;
    return 0;
}
