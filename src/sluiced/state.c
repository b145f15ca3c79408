/* SPDX-License-Identifier: Apache-2.0 */
/* sluiced's state folder: the lock and devices.json (state.h). */
#include <fcntl.h>
#include <json-c/json.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/io.h"
#include "core/util.h"
#include "state.h"

#define STATE_TMP STATE_FILE ".tmp"
#define STATE_LOCK "lock"

struct state {
    char *dir;
    int dirfd;
    int lockfd;
    bool frozen;
};

/* mkdir @path (@mode), and the folders above it first (0755) when missing. */
static int make_dir(const char *path, mode_t mode)
{
    char parent[PATH_MAX];
    int r;

    if (mkdir(path, mode) == 0 || errno == EEXIST)
        return 0;
    if (errno != ENOENT || strlen(path) >= sizeof(parent))
        return neg_errno();
    strcpy(parent, path);
    r = mkdir_p(dirname(parent), 0755);
    if (r < 0)
        return r;
    return mkdir(path, mode) == 0 || errno == EEXIST ? 0 : neg_errno();
}

/* Take DIR/lock; write our pid into it. */
static int take_lock(struct state *st, struct sl_err *err)
{
    char pid[32] = "";
    ssize_t n;

    st->lockfd = openat(st->dirfd, STATE_LOCK, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (st->lockfd < 0) {
        int r = neg_errno();
        return err_set(err, r, "%s/" STATE_LOCK ": %s", st->dir, strerror(-r));
    }
    if (flock(st->lockfd, LOCK_EX | LOCK_NB) < 0) {
        int r = neg_errno();
        if (r != -EWOULDBLOCK)
            return err_set(err, r, "%s/" STATE_LOCK ": cannot lock it: %s", st->dir, strerror(-r));
        n = pread(st->lockfd, pid, sizeof(pid) - 1, 0);
        pid[n > 0 ? n : 0] = 0;
        pid[strcspn(pid, "\n")] = 0;
        return err_set(err, -EBUSY, "%s: in use by another sluiced%s%s%s", st->dir,
                       *pid ? " (pid " : "", pid, *pid ? ")" : "");
    }
    n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(st->lockfd, 0) < 0 || pwrite(st->lockfd, pid, (size_t)n, 0) != n) {
        int r = neg_errno();
        return err_set(err, r, "%s/" STATE_LOCK ": %s", st->dir, strerror(-r));
    }
    return 0;
}

int state_open(const char *dir, struct state **out, struct sl_err *err)
{
    struct state *st;
    int r;

    *out = NULL;
    st = calloc(1, sizeof(*st));
    if (!st || !(st->dir = strdup(dir))) {
        free(st);
        return err_set(err, -ENOMEM, "out of memory");
    }
    st->dirfd = st->lockfd = -1;
    r = make_dir(dir, 0700);
    if (r < 0) {
        err_set(err, r, "%s: cannot create it: %s", dir, strerror(-r));
        goto err;
    }
    st->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (st->dirfd < 0) {
        r = neg_errno();
        err_set(err, r, "%s: %s", dir, strerror(-r));
        goto err;
    }
    r = take_lock(st, err);
    if (r < 0)
        goto err;
    *out = st;
    return 0;
err:
    state_close(st);
    return r;
}

void state_close(struct state *st)
{
    if (!st)
        return;
    close_fd(&st->lockfd);    /* closing drops the lock */
    close_fd(&st->dirfd);
    free(st->dir);
    free(st);
}

const char *state_dir(const struct state *st)
{
    return st->dir;
}

void state_freeze(struct state *st)
{
    st->frozen = true;
}

bool state_frozen(const struct state *st)
{
    return st->frozen;
}

void state_recs_free(struct state_rec *recs, unsigned n)
{
    for (unsigned i = 0; recs && i < n; i++) {
        free(recs[i].id);
        free(recs[i].spec);
    }
    free(recs);
}

void state_groups_free(struct state_group *groups, unsigned n)
{
    for (unsigned i = 0; groups && i < n; i++) {
        free(groups[i].name);
        free(groups[i].spec);
    }
    free(groups);
}

/* devices.json's bytes, NUL-terminated, into *buf (malloc'ed). -ENOENT
 * when there is none, -EFBIG over STATE_MAX_BYTES. */
static int read_file(struct state *st, char **buf)
{
    size_t len = 0, cap = 4096;
    char *b;
    int fd, r = 0;

    fd = openat(st->dirfd, STATE_FILE, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return neg_errno();
    b = malloc(cap);
    if (!b)
        r = -ENOMEM;
    while (r == 0) {
        if (len + 1 == cap) {
            char *nb = cap > STATE_MAX_BYTES ? NULL : realloc(b, cap * 2);
            if (!nb) {
                r = cap > STATE_MAX_BYTES ? -EFBIG : -ENOMEM;
                break;
            }
            b = nb;
            cap *= 2;
        }
        ssize_t n = read(fd, b + len, cap - 1 - len);
        if (n < 0 && errno != EINTR)
            r = neg_errno();
        else if (n == 0)
            break;
        else if (n > 0)
            len += (size_t)n;
    }
    close(fd);
    if (r < 0) {
        free(b);
        return r;
    }
    b[len] = 0;
    *buf = b;
    return 0;
}

static const char *get_str(struct json_object *o, const char *key)
{
    struct json_object *v;

    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

/* Check and copy the "groups" of @root (none when the key is missing).
 * Returns 0 or -EBADMSG / -ENOMEM. */
static int parse_groups(struct json_object *root, struct state_group **out, unsigned *nout,
                        struct sl_err *err)
{
    struct json_object *grps;
    struct state_group *gs;
    size_t n = 0;

    if (json_object_object_get_ex(root, "groups", &grps)) {
        if (!json_object_is_type(grps, json_type_array))
            return err_set(err, -EBADMSG, "\"groups\" is not an array");
        n = json_object_array_length(grps);
    }
    gs = calloc(n ? n : 1, sizeof(*gs));
    if (!gs)
        return err_set(err, -ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        struct json_object *o = json_object_array_get_idx(grps, i);
        const char *name = NULL, *spec = NULL;
        int r = 0;

        if (json_object_is_type(o, json_type_object)) {
            name = get_str(o, "name");
            spec = get_str(o, "spec");
        }
        if (!name || !*name || !spec)
            r = err_set(err, -EBADMSG, "group %zu: needs \"name\" and \"spec\" strings", i + 1);
        for (size_t j = 0; j < i && r == 0; j++)
            if (!strcmp(gs[j].name, name))
                r = err_set(err, -EBADMSG, "group %s: recorded twice", name);
        if (r == 0 && (!(gs[i].name = strdup(name)) || !(gs[i].spec = strdup(spec))))
            r = err_set(err, -ENOMEM, "out of memory");
        if (r < 0) {
            state_groups_free(gs, (unsigned)n);
            return r;
        }
    }
    *out = gs;
    *nout = (unsigned)n;
    return 0;
}

/* Check and copy the records of @root. Returns 0 or -EBADMSG / -ENOMEM. */
static int parse_recs(struct json_object *root, struct state_rec **out, unsigned *nout,
                      struct sl_err *err)
{
    struct json_object *v, *devs;
    struct state_rec *recs;
    size_t n;

    if (!json_object_is_type(root, json_type_object))
        return err_set(err, -EBADMSG, "not a JSON object");
    if (!json_object_object_get_ex(root, "version", &v) || !json_object_is_type(v, json_type_int))
        return err_set(err, -EBADMSG, "no \"version\"");
    if (json_object_get_int64(v) != STATE_VERSION)
        return err_set(err, -EBADMSG, "version %lld (this sluiced reads version %d)",
                       (long long)json_object_get_int64(v), STATE_VERSION);
    if (!json_object_object_get_ex(root, "devices", &devs) || !json_object_is_type(devs, json_type_array))
        return err_set(err, -EBADMSG, "no \"devices\" array");
    n = json_object_array_length(devs);
    recs = calloc(n ? n : 1, sizeof(*recs));
    if (!recs)
        return err_set(err, -ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        struct json_object *d = json_object_array_get_idx(devs, i);
        const char *id = NULL, *type = NULL, *spec = NULL;
        int r = 0;

        if (json_object_is_type(d, json_type_object)) {
            id = get_str(d, "id");
            type = get_str(d, "type");
            spec = get_str(d, "spec");
        }
        if (!id || !*id || !type || !spec)
            r = err_set(err, -EBADMSG, "device %zu: needs \"id\", \"type\" and \"spec\" strings", i + 1);
        else if (strcmp(type, "blk") && strcmp(type, "net"))
            r = err_set(err, -EBADMSG, "device %s: type must be \"blk\" or \"net\"", id);
        for (size_t j = 0; j < i && r == 0; j++)
            if (!strcmp(recs[j].id, id))
                r = err_set(err, -EBADMSG, "device %s: recorded twice", id);
        if (r == 0) {
            recs[i].type = !strcmp(type, "blk") ? DEV_BLK : DEV_NET;
            recs[i].id = strdup(id);
            recs[i].spec = strdup(spec);
            if (!recs[i].id || !recs[i].spec)
                r = err_set(err, -ENOMEM, "out of memory");
        }
        if (r < 0) {
            state_recs_free(recs, (unsigned)n);
            return r;
        }
    }
    *out = recs;
    *nout = (unsigned)n;
    return 0;
}

int state_load(struct state *st, struct state_rec **recs, unsigned *n,
               struct state_group **groups, unsigned *ngroups, struct sl_err *err)
{
    enum json_tokener_error jerr = json_tokener_success;
    struct json_object *root;
    struct state_group *gs = NULL;
    unsigned ng = 0;
    char *buf = NULL;
    int r;

    *recs = NULL;
    *n = 0;
    if (groups) {
        *groups = NULL;
        *ngroups = 0;
    }
    r = read_file(st, &buf);
    if (r == -ENOENT)
        return 0;
    if (r == -EFBIG)
        return err_set(err, -EBADMSG, "larger than %u bytes", STATE_MAX_BYTES);
    if (r < 0)
        return err_set(err, r, "%s/" STATE_FILE ": %s", st->dir, strerror(-r));
    root = json_tokener_parse_verbose(buf, &jerr);
    free(buf);
    if (!root)
        return err_set(err, -EBADMSG, "not JSON (%s)",
                       jerr == json_tokener_success ? "empty" : json_tokener_error_desc(jerr));
    r = parse_recs(root, recs, n, err);
    if (r == 0 && (r = parse_groups(root, &gs, &ng, err)) < 0) {
        state_recs_free(*recs, *n);
        *recs = NULL;
        *n = 0;
    }
    json_object_put(root);
    if (r == 0 && groups) {
        *groups = gs;
        *ngroups = ng;
    } else {
        state_groups_free(gs, ng);
    }
    return r;
}

/* Write all of @buf to @fd. */
static int write_all(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return neg_errno();
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static struct json_object *recs_json(const struct state_rec *recs, unsigned n,
                                     const struct state_group *groups, unsigned ngroups)
{
    struct json_object *root = json_object_new_object(), *devs = json_object_new_array();

    json_object_object_add(root, "version", json_object_new_int(STATE_VERSION));
    for (unsigned i = 0; i < n; i++) {
        struct json_object *d = json_object_new_object();
        json_object_object_add(d, "id", json_object_new_string(recs[i].id));
        json_object_object_add(d, "type", json_object_new_string(recs[i].type == DEV_BLK ? "blk" : "net"));
        json_object_object_add(d, "spec", json_object_new_string(recs[i].spec));
        json_object_array_add(devs, d);
    }
    json_object_object_add(root, "devices", devs);
    if (ngroups) {
        struct json_object *gs = json_object_new_array();
        for (unsigned i = 0; i < ngroups; i++) {
            struct json_object *o = json_object_new_object();
            json_object_object_add(o, "name", json_object_new_string(groups[i].name));
            json_object_object_add(o, "spec", json_object_new_string(groups[i].spec));
            json_object_array_add(gs, o);
        }
        json_object_object_add(root, "groups", gs);
    }
    return root;
}

int state_save(struct state *st, const struct state_rec *recs, unsigned n,
               const struct state_group *groups, unsigned ngroups, struct sl_err *err)
{
    struct json_object *root;
    const char *text;
    const char *step = "writing " STATE_TMP;
    int fd, r;

    if (st->frozen)
        return err_set(err, -EROFS, "%s/" STATE_FILE " is corrupt and kept as it is", st->dir);
    root = recs_json(recs, n, groups, ngroups);
    if (!root)
        return err_set(err, -ENOMEM, "out of memory");
    text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
    fd = openat(st->dirfd, STATE_TMP, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        r = neg_errno();
        goto out;
    }
    r = text ? write_all(fd, text, strlen(text)) : -ENOMEM;
    if (r == 0)
        r = write_all(fd, "\n", 1);
    if (r == 0 && fsync(fd) < 0) {
        r = neg_errno();
        step = "syncing " STATE_TMP;
    }
    if (close(fd) < 0 && r == 0)
        r = neg_errno();
    if (r == 0 && renameat(st->dirfd, STATE_TMP, st->dirfd, STATE_FILE) < 0) {
        r = neg_errno();
        step = "renaming " STATE_TMP " to " STATE_FILE;
    }
    if (r < 0) {
        unlinkat(st->dirfd, STATE_TMP, 0);
        goto out;
    }
    /* The rename is durable once the folder is. */
    if (fsync(st->dirfd) < 0) {
        r = neg_errno();
        step = "syncing the folder";
    }
out:
    json_object_put(root);
    if (r < 0)
        err_set(err, r, "%s: %s: %s", st->dir, step, strerror(-r));
    return r;
}
