/* SPDX-License-Identifier: Apache-2.0 */
/* rbd_vblk_ops and the image's life: see rbd-ops.h. */
#include "rbd-ops.h"

#include <errno.h>
#include <pthread.h>
#include <rados/librados.h>
#include <rbd/librbd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"

/* ---- connections: one per (conf, id), shared by the devices ------------ */

/* The control thread and the openers (below) share the list. */
struct rbd_conn {
    char *conf, *id;       /* "" for the defaults */
    rados_t cluster;
    unsigned refs;
    double mount_timeout;  /* s: client_mount_timeout */
    struct rbd_conn *next;
};

static struct rbd_conn *conns;
static pthread_mutex_t conns_lock = PTHREAD_MUTEX_INITIALIZER;

/* Opening must not hang the control thread on a cluster that does not
 * answer: librados waits 300 s to mount and for ever for a monitor
 * command by default. The ceph.conf may set its own. */
#define OPEN_TIMEOUT_S 10.0

static int set_timeout_default(rados_t cluster, const char *key, double librados_default, double *value)
{
    char buf[64];

    if (rados_conf_get(cluster, key, buf, sizeof(buf)) == 0 && strtod(buf, NULL) != librados_default) {
        *value = strtod(buf, NULL);
        return 0;   /* set by the ceph.conf */
    }
    *value = OPEN_TIMEOUT_S;
    snprintf(buf, sizeof(buf), "%g", OPEN_TIMEOUT_S);
    return rados_conf_set(cluster, key, buf);
}

static void conn_free(struct rbd_conn *c)
{
    if (c->cluster)
        rados_shutdown(c->cluster);
    free(c->conf);
    free(c->id);
    free(c);
}

static void conn_put(struct rbd_conn *c)
{
    bool last;

    if (!c)
        return;
    pthread_mutex_lock(&conns_lock);
    last = --c->refs == 0;
    if (last)
        for (struct rbd_conn **p = &conns; *p; p = &(*p)->next)
            if (*p == c) {
                *p = c->next;
                break;
            }
    pthread_mutex_unlock(&conns_lock);
    if (last)
        conn_free(c);
}

static const char *who(const char *id)
{
    return id && *id ? id : "admin";
}

static struct rbd_conn *conn_find(const char *conf, const char *id)
{
    for (struct rbd_conn *c = conns; c; c = c->next)
        if (!strcmp(c->conf, conf) && !strcmp(c->id, id)) {
            c->refs++;
            return c;
        }
    return NULL;
}

/* Tell the waiting control thread the connection's client_mount_timeout. */
static void publish_timeout(pthread_mutex_t *lock, pthread_cond_t *cond, double *to, double value)
{
    pthread_mutex_lock(lock);
    *to = value;
    pthread_cond_signal(cond);
    pthread_mutex_unlock(lock);
}

/* The connection for (@conf, @id), made if none is up. *@mount_timeout is
 * set (publish_timeout()) as soon as it is known, before the connection is
 * tried. Runs in an opener thread. */
static int conn_get(const char *conf, const char *id, pthread_mutex_t *lock, pthread_cond_t *cond,
                    double *mount_timeout, struct rbd_conn **out, struct sl_err *err)
{
    struct rbd_conn *c, *other;
    double mon_timeout, mt;
    int r;

    conf = conf ? conf : "";
    id = id ? id : "";
    pthread_mutex_lock(&conns_lock);
    c = conn_find(conf, id);
    pthread_mutex_unlock(&conns_lock);
    if (c) {
        publish_timeout(lock, cond, mount_timeout, c->mount_timeout);
        *out = c;
        return 0;
    }
    c = calloc(1, sizeof(*c));
    if (!c || !(c->conf = strdup(conf)) || !(c->id = strdup(id))) {
        if (c)
            free(c->conf);
        free(c);
        return err_set(err, -ENOMEM, "out of memory");
    }
    r = rados_create(&c->cluster, *id ? id : NULL);
    if (r < 0) {
        c->cluster = NULL;
        err_set(err, r, "ceph: cannot create a cluster handle for client.%s: %s", who(id), strerror(-r));
        goto fail;
    }
    /* NULL: librados's own search ($CEPH_CONF, /etc/ceph/ceph.conf, ...). */
    r = rados_conf_read_file(c->cluster, *conf ? conf : NULL);
    if (r < 0) {
        err_set(err, r, "ceph: cannot read %s: %s", *conf ? conf : "the default ceph.conf", strerror(-r));
        goto fail;
    }
    if ((r = set_timeout_default(c->cluster, "client_mount_timeout", 300, &mt)) < 0 ||
        (r = set_timeout_default(c->cluster, "rados_mon_op_timeout", 0, &mon_timeout)) < 0) {
        err_set(err, r, "ceph: cannot set the timeouts: %s", strerror(-r));
        goto fail;
    }
    c->mount_timeout = mt;
    publish_timeout(lock, cond, mount_timeout, mt);
    r = rados_connect(c->cluster);
    if (r < 0) {
        err_set(err, r, "ceph: cannot connect as client.%s%s%s: %s", who(id), *conf ? " with " : "", conf,
                r == -ETIMEDOUT ? "no answer from the monitors (timed out)" : strerror(-r));
        goto fail;
    }
    pthread_mutex_lock(&conns_lock);
    other = conn_find(conf, id);   /* another opener was quicker */
    if (!other) {
        c->refs = 1;
        c->next = conns;
        conns = c;
    }
    pthread_mutex_unlock(&conns_lock);
    if (other) {
        conn_free(c);
        c = other;
    }
    *out = c;
    return 0;
fail:
    conn_free(c);
    return r;
}

/* ---- images ------------------------------------------------------------ */

struct rbd_disk {
    char *key;             /* "POOL/IMAGE CONF": who waits for whose close */
    struct rbd_disk *next_closing;
    struct rbd_conn *conn;
    rados_ioctx_t io;
    rbd_image_t image;
    uint64_t watch;
    bool watching;
    int efd;               /* the header watch -> the control loop */
    struct evloop *el;
    void (*on_change)(void *arg);
    void *arg;
};

int rbd_parse_name(const char *s, char pool[128], char image[128])
{
    const char *slash = strchr(s, '/');

    if (!slash || slash == s || !slash[1] || (size_t)(slash - s) >= 128 || strlen(slash + 1) >= 128 ||
        strchr(slash + 1, '/') || strchr(s, '@'))
        return -EINVAL;
    memcpy(pool, s, (size_t)(slash - s));
    pool[slash - s] = 0;
    strcpy(image, slash + 1);
    return 0;
}

int rbd_parse_target(const char *target, char *buf, size_t len, struct rbd_disk_spec *out)
{
    char *p, *slash;

    if (strncmp(target, "rbd:", 4))
        return -ENOENT;
    if (strlen(target + 4) >= len)
        return -EINVAL;
    strcpy(buf, target + 4);
    memset(out, 0, sizeof(*out));
    /* The pool driver writes :conf= before :id= (a cephx id has no ':'). */
    if ((p = strstr(buf, ":id="))) {
        *p = 0;
        out->id = p + 4;
    }
    if ((p = strstr(buf, ":conf="))) {
        *p = 0;
        out->conf = p + 6;
    }
    if ((p = strchr(buf, '@'))) {
        *p = 0;
        out->snap = p + 1;
    }
    slash = strchr(buf, '/');
    if (!slash || slash == buf || !slash[1] || strchr(slash + 1, '/') || strchr(buf, ':') ||
        (out->snap && !*out->snap) || (out->conf && !*out->conf) || (out->id && !*out->id))
        return -EINVAL;
    *slash = 0;
    out->pool = buf;
    out->image = slash + 1;
    return 0;
}

/* librbd's thread, after the image's header changed: only wake the control
 * loop (librbd must not be re-entered from its own notification). */
static void header_changed(void *arg)
{
    struct rbd_disk *d = arg;
    uint64_t one = 1;

    if (write(d->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        log_warn("rbd: cannot signal a header change: %m");
}

static void efd_event(void *arg, uint32_t events)
{
    struct rbd_disk *d = arg;
    uint64_t n;
    (void)events;

    if (read(d->efd, &n, sizeof(n)) == sizeof(n) && d->on_change)
        d->on_change(d->arg);
}

/* ---- closing: in a closer thread ----------------------------------------
 * rbd_close flushes librbd's cache and, like the header's unwatch and the
 * connection's shutdown, waits for a cluster that may not answer: a closer
 * thread does it, so that the control thread (every device's vhost-user
 * messages and the control socket) goes on. An open of the same image
 * waits in its opener until the close is done (the image's exclusive lock
 * is released by then), and sluiced's exit waits for every close. */
static pthread_mutex_t closers_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t closers_done = PTHREAD_COND_INITIALIZER;
static struct rbd_disk *closing;

static char *disk_key(const struct rbd_disk_spec *spec)
{
    char *k = NULL;

    if (asprintf(&k, "%s/%s %s", spec->pool, spec->image, spec->conf ? spec->conf : "") < 0)
        return NULL;
    return k;
}

/* *@t plus @secs (>= 0), normalised: a deadline for the timed waits. */
static void add_seconds(struct timespec *t, double secs)
{
    uint64_t ns = (uint64_t)(secs * 1e9);

    t->tv_sec += (time_t)(ns / 1000000000u);
    t->tv_nsec += (long)(ns % 1000000000u);
    if (t->tv_nsec >= 1000000000) {
        t->tv_sec++;
        t->tv_nsec -= 1000000000;
    }
}

/* Everything of @d that talks to the cluster (disk_free() then frees it). */
static void disk_release(struct rbd_disk *d)
{
    if (d->watching)
        rbd_update_unwatch(d->image, d->watch);
    if (d->image)
        rbd_close(d->image);
    if (d->efd >= 0)
        close(d->efd);
    if (d->io)
        rados_ioctx_destroy(d->io);
    conn_put(d->conn);
}

static void disk_free(struct rbd_disk *d)
{
    free(d->key);
    free(d);
}

static bool closing_has(const char *key)
{
    for (struct rbd_disk *d = closing; d; d = d->next_closing)
        if (!key || (d->key && !strcmp(d->key, key)))
            return true;
    return false;
}

/* Until no close of @key (NULL: of any image) runs. */
static void closing_wait(const char *key)
{
    pthread_mutex_lock(&closers_lock);
    while (closing_has(key))
        pthread_cond_wait(&closers_done, &closers_lock);
    pthread_mutex_unlock(&closers_lock);
}

static void *closer_run(void *arg)
{
    struct rbd_disk *d = arg;

    disk_release(d);
    pthread_mutex_lock(&closers_lock);
    for (struct rbd_disk **p = &closing; *p; p = &(*p)->next_closing)
        if (*p == d) {
            *p = d->next_closing;
            break;
        }
    pthread_cond_broadcast(&closers_done);
    pthread_mutex_unlock(&closers_lock);
    disk_free(d);
    return NULL;
}

void rbd_disk_close_wait(void)
{
    closing_wait(NULL);
}

/* Opening runs in a thread of its own (an opener): the control thread
 * waits for it at most twice the connection's client_mount_timeout (the
 * connection, then the image's open: OSD requests wait for ever by default,
 * and a timeout there would fail guest I/O), then gives up; the opener
 * finishes alone and closes what it opened. */
struct opener {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done, abandoned;
    struct opener *next;           /* in @waiting, once abandoned */
    double mount_timeout;          /* 0: not known yet */
    int r;
    struct sl_err err;
    struct rbd_disk *d;
    struct rbd_disk_spec spec;     /* strings: */
    char *pool, *image, *conf, *id, *snap;
};

/* The openers the control thread gave up on and that still wait for their
 * cluster: each holds a thread and a connection. A second open of the same
 * image (a retried `dev add`) is refused while one waits, and at most
 * MAX_WAITING wait in all. */
#define MAX_WAITING 16
static pthread_mutex_t waiting_lock = PTHREAD_MUTEX_INITIALIZER;
static struct opener *waiting;

static bool same_str(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

/* 0, or -EBUSY / -EAGAIN with @err saying why. */
static int waiting_check(const struct rbd_disk_spec *spec, struct sl_err *err)
{
    unsigned n = 0;
    int r = 0;

    pthread_mutex_lock(&waiting_lock);
    for (struct opener *o = waiting; o; o = o->next) {
        n++;
        if (same_str(o->pool, spec->pool) && same_str(o->image, spec->image) && same_str(o->conf, spec->conf) &&
            same_str(o->id, spec->id) && same_str(o->snap, spec->snap))
            r = err_set(err, -EBUSY, "rbd image %s/%s: an earlier open of it still waits for the cluster "
                        "(given up on, not ended); try again once the cluster answers", spec->pool, spec->image);
    }
    if (!r && n >= MAX_WAITING)
        r = err_set(err, -EAGAIN, "rbd image %s/%s: %u earlier opens still wait for clusters that do not "
                    "answer; try again once they do", spec->pool, spec->image, n);
    pthread_mutex_unlock(&waiting_lock);
    return r;
}

static void waiting_remove(struct opener *o)
{
    pthread_mutex_lock(&waiting_lock);
    for (struct opener **p = &waiting; *p; p = &(*p)->next)
        if (*p == o) {
            *p = o->next;
            break;
        }
    pthread_mutex_unlock(&waiting_lock);
}

static void opener_free(struct opener *o)
{
    pthread_mutex_destroy(&o->lock);
    pthread_cond_destroy(&o->cond);
    free(o->pool);
    free(o->image);
    free(o->conf);
    free(o->id);
    free(o->snap);
    free(o);
}

static char *dup_or_null(const char *s, bool *ok)
{
    char *c = s ? strdup(s) : NULL;

    if (s && !c)
        *ok = false;
    return c;
}

/* Connection, pool, image, lock: everything that may wait for the cluster. */
static int open_image(struct opener *o, struct rbd_disk *d, struct sl_err *err)
{
    const struct rbd_disk_spec *spec = &o->spec;
    int r = conn_get(spec->conf, spec->id, &o->lock, &o->cond, &o->mount_timeout, &d->conn, err);

    if (r < 0)
        return r;
    /* After the connection (the control thread knows its timeout by then):
     * a close of this image still going on ends first. */
    closing_wait(d->key);
    r = rados_ioctx_create(d->conn->cluster, spec->pool, &d->io);
    if (r < 0) {
        d->io = NULL;
        return err_set(err, r, "ceph pool %s: %s", spec->pool,
                       r == -ENOENT ? "no such pool" : strerror(-r));
    }
    r = spec->readonly || spec->snap ? rbd_open_read_only(d->io, spec->image, &d->image, spec->snap)
                                     : rbd_open(d->io, spec->image, &d->image, NULL);
    if (r < 0) {
        d->image = NULL;
        return err_set(err, r, "rbd image %s/%s%s%s: %s", spec->pool, spec->image, spec->snap ? "@" : "",
                       spec->snap ? spec->snap : "", r == -ENOENT ? "no such image" : strerror(-r));
    }
    if (spec->exclusive && (r = rbd_lock_acquire(d->image, RBD_LOCK_MODE_EXCLUSIVE)) < 0) {
        /* -EINVAL: no exclusive-lock feature; -EROFS/-EBUSY: another
         * client keeps it (its own lock=exclusive, or an rbd lock). */
        r = r == -EINVAL ? -EOPNOTSUPP : r == -EROFS ? -EBUSY : r;
        return err_set(err, r, "rbd image %s/%s: %s", spec->pool, spec->image,
                       r == -EOPNOTSUPP ? "lock=exclusive needs the image's exclusive-lock feature" :
                       r == -EBUSY ? "its exclusive lock is held by another client" : strerror(-r));
    }
    return 0;
}

static void *opener_run(void *arg)
{
    struct opener *o = arg;
    struct sl_err err = ERR_INIT;
    int r = open_image(o, o->d, &err);

    pthread_mutex_lock(&o->lock);
    if (o->abandoned) {
        pthread_mutex_unlock(&o->lock);
        log_warn("rbd image %s/%s: %s after the control thread gave up: closed again", o->pool, o->image,
                 r < 0 ? err_msg(&err, r) : "opened");
        disk_release(o->d);
        disk_free(o->d);
        waiting_remove(o);
        opener_free(o);
        return NULL;
    }
    o->r = r;
    o->err = err;
    o->done = true;
    pthread_cond_signal(&o->cond);
    pthread_mutex_unlock(&o->lock);
    return NULL;
}

/* Run an opener for @d and wait for it. When it takes too long,
 * *@abandoned is set and the opener owns @d from then on. */
static int open_wait(const struct rbd_disk_spec *spec, struct rbd_disk *d, bool *abandoned,
                     struct sl_err *err)
{
    struct opener *o;
    pthread_condattr_t ca;
    pthread_attr_t ta;
    struct timespec t0, now, until;
    bool ok = true;
    pthread_t t;
    int r;

    if ((r = waiting_check(spec, err)) < 0)
        return r;
    if (!(o = calloc(1, sizeof(*o))))
        return err_set(err, -ENOMEM, "out of memory");
    o->spec = *spec;
    o->spec.pool = o->pool = dup_or_null(spec->pool, &ok);
    o->spec.image = o->image = dup_or_null(spec->image, &ok);
    o->spec.conf = o->conf = dup_or_null(spec->conf, &ok);
    o->spec.id = o->id = dup_or_null(spec->id, &ok);
    o->spec.snap = o->snap = dup_or_null(spec->snap, &ok);
    o->d = d;
    pthread_mutex_init(&o->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&o->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (!ok) {
        opener_free(o);
        return err_set(err, -ENOMEM, "out of memory");
    }
    pthread_attr_init(&ta);
    pthread_attr_setdetachstate(&ta, PTHREAD_CREATE_DETACHED);
    r = -pthread_create(&t, &ta, opener_run, o);
    pthread_attr_destroy(&ta);
    if (r < 0) {
        opener_free(o);
        return err_set(err, r, "cannot start a thread: %s", strerror(-r));
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pthread_mutex_lock(&o->lock);
    for (;;) {
        /* Until the opener knows the timeout, the default one. */
        double limit = 2 * (o->mount_timeout > 0 ? o->mount_timeout : OPEN_TIMEOUT_S);

        if (o->done)
            break;
        until = t0;
        add_seconds(&until, limit);
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec > until.tv_sec || (now.tv_sec == until.tv_sec && now.tv_nsec >= until.tv_nsec)) {
            o->abandoned = *abandoned = true;
            pthread_mutex_lock(&waiting_lock);
            o->next = waiting;
            waiting = o;
            pthread_mutex_unlock(&waiting_lock);
            pthread_mutex_unlock(&o->lock);
            return err_set(err, -ETIMEDOUT, "rbd image %s/%s: the cluster did not answer within %g s "
                           "(timed out)", spec->pool, spec->image, limit);
        }
        pthread_cond_timedwait(&o->cond, &o->lock, &until);
    }
    pthread_mutex_unlock(&o->lock);
    r = o->r;
    if (r < 0)
        err_set(err, r, "%s", err_msg(&o->err, r));
    opener_free(o);
    return r;
}

int rbd_disk_open(const struct rbd_disk_spec *spec, struct evloop *el,
                  void (*on_change)(void *arg), void *arg, struct rbd_disk **out,
                  struct sl_err *err)
{
    struct rbd_disk *d = calloc(1, sizeof(*d));
    bool abandoned = false;
    int r;

    if (!d || !(d->key = disk_key(spec))) {
        free(d);
        return err_set(err, -ENOMEM, "out of memory");
    }
    d->efd = -1;
    r = open_wait(spec, d, &abandoned, err);
    if (abandoned)
        return r;   /* the opener closes @d when it is done */
    if (r < 0)
        goto fail;
    d->el = el;
    d->on_change = on_change;
    d->arg = arg;
    d->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (d->efd < 0) {
        r = -errno;
        err_set(err, r, "eventfd: %s", strerror(-r));
        goto fail;
    }
    r = evloop_add(el, d->efd, EPOLLIN, efd_event, d);
    if (r < 0) {
        err_set(err, r, "cannot watch the eventfd: %s", strerror(-r));
        close(d->efd);
        d->efd = -1;
        goto fail;
    }
    r = rbd_update_watch(d->image, &d->watch, header_changed, d);
    if (r < 0) {
        err_set(err, r, "rbd image %s/%s: cannot watch its header: %s", spec->pool, spec->image,
                strerror(-r));
        goto fail;
    }
    d->watching = true;
    *out = d;
    return 0;
fail:
    rbd_disk_close(d);
    return r;
}

/* Is @d still closing? (closers_lock held) */
static bool is_closing(const struct rbd_disk *d)
{
    for (const struct rbd_disk *c = closing; c; c = c->next_closing)
        if (c == d)
            return true;
    return false;
}

void rbd_disk_close(struct rbd_disk *d)
{
    double limit = d && d->conn && d->conn->mount_timeout > 0 ? d->conn->mount_timeout : OPEN_TIMEOUT_S;
    char key[300];
    struct timespec until;
    pthread_attr_t ta;
    pthread_t t;
    bool late = false;
    int r;

    if (!d)
        return;
    snprintf(key, sizeof(key), "%s", d->key ? d->key : "?");
    key[strcspn(key, " ")] = 0;                 /* POOL/IMAGE */
    /* The control loop stops reading the header's eventfd now; the watch
     * callback may still write to it until the closer has unwatched. */
    if (d->efd >= 0 && d->el)
        evloop_del(d->el, d->efd);
    pthread_mutex_lock(&closers_lock);
    d->next_closing = closing;
    closing = d;
    pthread_mutex_unlock(&closers_lock);
    pthread_attr_init(&ta);
    pthread_attr_setdetachstate(&ta, PTHREAD_CREATE_DETACHED);
    r = pthread_create(&t, &ta, closer_run, d);
    pthread_attr_destroy(&ta);
    if (r != 0) {
        closer_run(d);     /* no thread: close here, waiting */
        return;
    }
    /* A cluster that answers: closed when this returns (a `vol delete`
     * right after a removal finds no watcher left). One that does not:
     * the control thread waits client_mount_timeout, then goes on. */
    clock_gettime(CLOCK_REALTIME, &until);
    add_seconds(&until, limit);
    pthread_mutex_lock(&closers_lock);
    while (is_closing(d) && !late)
        late = pthread_cond_timedwait(&closers_done, &closers_lock, &until) == ETIMEDOUT;
    late = late && is_closing(d);
    pthread_mutex_unlock(&closers_lock);
    if (late)
        log_warn("rbd image %s: the cluster did not answer the close within %g s: it goes on in the "
                 "background (the image's next open waits for it)", key, limit);
}

int rbd_disk_size(struct rbd_disk *d, uint64_t *size)
{
    return rbd_get_size(d->image, size);
}

/* ---- I/O: librbd's completions handed to the worker -------------------- */

/* In struct vblk_io's priv from the call until the callback runs. */
struct rbd_req {
    struct uloop *loop;
    uint64_t len;          /* a write: the bytes to report; others 0 */
    bool read;             /* report librbd's count (short past the end) */
};
_Static_assert(sizeof(struct rbd_req) <= VBLK_IO_PRIV_BYTES, "rbd_req fits vblk_io.priv");

static struct rbd_req *req_of(struct uloop_op *done)
{
    return (struct rbd_req *)(void *)container_of(done, struct vblk_io, op)->priv;
}

/* librbd's finisher thread: the result goes to the queue's worker. */
static void aio_done(rbd_completion_t c, void *arg)
{
    struct uloop_op *done = arg;
    struct rbd_req *rq = req_of(done);
    ssize_t res = rbd_aio_get_return_value(c);

    rbd_aio_release(c);
    /* librbd reports the bytes read (holes read as zeroes; fewer past the
     * end, after a shrink this host has not seen yet: vblk fails the
     * request then), 0 for the others. */
    uloop_post_remote(rq->loop, done, res < 0 || rq->read ? (int)res : (int)rq->len);
}

static int req_start(struct uloop *loop, struct uloop_op *done, uint64_t len, bool read,
                     rbd_completion_t *c)
{
    struct rbd_req *rq = req_of(done);

    rq->loop = loop;
    rq->len = len;
    rq->read = read;
    return rbd_aio_create_completion(done, aio_done, c);
}

/* The call did not start (it returned an error): librbd will not call back. */
static int req_failed(rbd_completion_t c, int r)
{
    rbd_aio_release(c);
    return r;
}

static int io_rw(void *ctx, struct uloop *loop, struct uloop_op *done, bool write,
                 const struct iovec *iov, unsigned iovcnt, uint64_t offset)
{
    struct rbd_disk *d = ctx;
    rbd_completion_t c;
    uint64_t len = 0;
    int r;

    for (unsigned i = 0; i < iovcnt; i++)
        len += iov[i].iov_len;
    if (len > INT32_MAX)
        return -EINVAL;
    r = req_start(loop, done, len, !write, &c);
    if (r < 0)
        return r;
    /* Straight from and into the guest's buffers. */
    r = write ? rbd_aio_writev(d->image, iov, (int)iovcnt, offset, c)
              : rbd_aio_readv(d->image, iov, (int)iovcnt, offset, c);
    return r < 0 ? req_failed(c, r) : 0;
}

static int io_flush(void *ctx, struct uloop *loop, struct uloop_op *done)
{
    struct rbd_disk *d = ctx;
    rbd_completion_t c;
    int r = req_start(loop, done, 0, false, &c);

    if (r < 0)
        return r;
    r = rbd_aio_flush(d->image, c);
    return r < 0 ? req_failed(c, r) : 0;
}

static int io_discard(void *ctx, struct uloop *loop, struct uloop_op *done,
                      uint64_t offset, uint64_t len)
{
    struct rbd_disk *d = ctx;
    rbd_completion_t c;
    int r = req_start(loop, done, 0, false, &c);

    if (r < 0)
        return r;
    r = rbd_aio_discard(d->image, offset, len, c);
    return r < 0 ? req_failed(c, r) : 0;
}

static int io_write_zeroes(void *ctx, struct uloop *loop, struct uloop_op *done,
                           uint64_t offset, uint64_t len, bool unmap)
{
    struct rbd_disk *d = ctx;
    rbd_completion_t c;
    int r = req_start(loop, done, 0, false, &c);

    if (r < 0)
        return r;
    /* Without unmap the range stays allocated (written zeroes). */
    r = rbd_aio_write_zeroes(d->image, offset, len, c,
                             unmap ? 0 : RBD_WRITE_ZEROES_FLAG_THICK_PROVISION, 0);
    return r < 0 ? req_failed(c, r) : 0;
}

const struct vblk_ops rbd_vblk_ops = {
    .rw = io_rw,
    .flush = io_flush,
    .discard = io_discard,
    .write_zeroes = io_write_zeroes,
};
