/* SPDX-License-Identifier: Apache-2.0 */
/* OVSDB JSON-RPC client (RFC 7047) over a unix socket, with json-c. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "core/io.h"
#include "core/usock.h"
#include "core/util.h"
#include "net/ovsdb.h"

#define OVS_DEFAULT_TIMEOUT_MS 5000
#define OVS_MAX_MSG (64u << 20)   /* refuse a single message larger than this */

/* ---- Addresses ---- */

const char *ovs_db_resolve(const char *db)
{
    const char *env;

    if (db && *db)
        return db;
    env = getenv(OVS_DB_ENV);
    return env && *env ? env : OVS_DEFAULT_DB;
}

int ovs_db_path(const char *db, char *path, size_t len)
{
    struct sockaddr_un sun;
    const char *p;

    if (!db)
        return -EINVAL;
    if (!strncmp(db, "unix:", 5))
        p = db + 5;
    else if (db[0] == '/')
        p = db;
    else
        return -EINVAL;
    if (!*p)
        return -EINVAL;
    if (strlen(p) >= sizeof(sun.sun_path) || strlen(p) >= len)
        return -ENAMETOOLONG;
    snprintf(path, len, "%s", p);
    return 0;
}

/* ---- Messages ---- */

struct json_object *ovs_msg_request(uint64_t id, const char *method, struct json_object *params)
{
    struct json_object *m = json_object_new_object();

    if (!params)
        params = json_object_new_array();
    if (!m || !params) {
        json_object_put(m);
        json_object_put(params);
        return NULL;
    }
    json_object_object_add(m, "method", json_object_new_string(method));
    json_object_object_add(m, "params", params);
    json_object_object_add(m, "id", json_object_new_uint64(id));
    return m;
}

/* True when @v is an integer JSON value equal to @id. */
static bool id_matches(struct json_object *v, uint64_t id)
{
    if (!v || !json_object_is_type(v, json_type_int))
        return false;
    errno = 0;
    uint64_t got = json_object_get_uint64(v);
    return !errno && got == id && json_object_get_int64(v) >= 0;
}

/* Describe an OVSDB error value: a string or {"error": s, "details": s}. */
static void describe_error(struct json_object *e, struct sl_err *err)
{
    struct json_object *k, *d;

    if (json_object_is_type(e, json_type_string)) {
        err_set(err, -EREMOTEIO, "%s", json_object_get_string(e));
    } else if (json_object_is_type(e, json_type_object) &&
               json_object_object_get_ex(e, "error", &k) &&
               json_object_is_type(k, json_type_string)) {
        if (json_object_object_get_ex(e, "details", &d) && json_object_is_type(d, json_type_string))
            err_set(err, -EREMOTEIO, "%s: %s", json_object_get_string(k), json_object_get_string(d));
        else
            err_set(err, -EREMOTEIO, "%s", json_object_get_string(k));
    } else {
        err_set(err, -EREMOTEIO, "error %s",
               json_object_to_json_string_ext(e, JSON_C_TO_STRING_PLAIN));
    }
}

int ovs_msg_check_reply(struct json_object *msg, uint64_t id, struct json_object **result,
                        struct sl_err *err)
{
    struct json_object *jid, *res = NULL, *e = NULL;
    bool has_res, has_err;

    *result = NULL;
    if (!msg || !json_object_is_type(msg, json_type_object))
        return err_set(err, -EPROTO, "malformed reply: not a JSON object");
    if (!json_object_object_get_ex(msg, "id", &jid) || !id_matches(jid, id))
        return err_set(err, -EPROTO, "malformed reply: missing or unexpected id");
    has_res = json_object_object_get_ex(msg, "result", &res);
    has_err = json_object_object_get_ex(msg, "error", &e);
    if (!has_res || !has_err)
        return err_set(err, -EPROTO, "malformed reply: needs both \"result\" and \"error\"");
    if (e) {   /* non-null */
        describe_error(e, err);
        return -EREMOTEIO;
    }
    if (!res)
        return err_set(err, -EPROTO, "malformed reply: null result without an error");
    *result = res;
    return 0;
}

int ovs_txn_check(struct json_object *result, size_t nops, size_t *failed_op,
                  struct sl_err *err)
{
    size_t n;

    if (failed_op)
        *failed_op = 0;
    if (!result || !json_object_is_type(result, json_type_array))
        return err_set(err, -EPROTO, "malformed transact reply: result is not an array");
    /* One element per operation; after a failed operation the rest are null
     * (or absent); one extra element holds a commit error. */
    n = json_object_array_length(result);
    if (n > nops + 1)
        return err_set(err, -EPROTO, "malformed transact reply: %zu results for %zu operations", n, nops);
    for (size_t i = 0; i < n; i++) {
        struct json_object *o = json_object_array_get_idx(result, i), *e;

        if (!o)
            return err_set(err, -EPROTO, "malformed transact reply: operation %zu has no result", i);
        if (!json_object_is_type(o, json_type_object))
            return err_set(err, -EPROTO, "malformed transact reply: result %zu is not an object", i);
        if (json_object_object_get_ex(o, "error", &e) && e) {
            if (failed_op)
                *failed_op = i;
            describe_error(o, err);
            return -EREMOTEIO;
        }
    }
    if (n != nops)
        return err_set(err, -EPROTO, "malformed transact reply: %zu results for %zu operations", n, nops);
    return 0;
}

struct json_object *ovs_txn_new(void)
{
    struct json_object *t = json_object_new_array();

    if (t && json_object_array_add(t, json_object_new_string(OVS_DB_NAME))) {
        json_object_put(t);
        return NULL;
    }
    return t;
}

int ovs_txn_add(struct json_object *txn, struct json_object *op)
{
    if (!op)
        return -ENOMEM;
    if (json_object_array_add(txn, op)) {
        json_object_put(op);
        return -ENOMEM;
    }
    return 0;
}

size_t ovs_txn_nops(struct json_object *txn)
{
    size_t n = json_object_array_length(txn);
    return n ? n - 1 : 0;
}

static struct json_object *pair(const char *tag, struct json_object *v)
{
    struct json_object *a = json_object_new_array();

    if (!a || !v) {
        json_object_put(a);
        json_object_put(v);
        return NULL;
    }
    json_object_array_add(a, json_object_new_string(tag));
    json_object_array_add(a, v);
    return a;
}

struct json_object *ovs_json_uuid(const char *uuid)
{
    return pair("uuid", json_object_new_string(uuid));
}

struct json_object *ovs_json_named_uuid(const char *name)
{
    return pair("named-uuid", json_object_new_string(name));
}

struct json_object *ovs_json_set(struct json_object *elems)
{
    return pair("set", elems);
}

struct json_object *ovs_json_map(const char *const *keys, const char *const *values, size_t n)
{
    struct json_object *pairs = json_object_new_array();

    for (size_t i = 0; pairs && i < n; i++) {
        struct json_object *kv = json_object_new_array();
        if (!kv) {
            json_object_put(pairs);
            return NULL;
        }
        json_object_array_add(kv, json_object_new_string(keys[i]));
        json_object_array_add(kv, json_object_new_string(values[i]));
        json_object_array_add(pairs, kv);
    }
    return pair("map", pairs);
}

struct json_object *ovs_cond(const char *column, const char *function, struct json_object *value)
{
    struct json_object *c = json_object_new_array();

    if (!c || !value) {
        json_object_put(c);
        json_object_put(value);
        return NULL;
    }
    json_object_array_add(c, json_object_new_string(column));
    json_object_array_add(c, json_object_new_string(function));
    json_object_array_add(c, value);
    return c;
}

/* ---- Client ---- */

struct pending {
    uint64_t id;
    ovs_reply_cb cb;
    void *arg;
    struct pending *next;
};

struct ovs_client {
    int fd;
    bool broken;
    uint64_t next_id;
    struct json_tokener *tok;
    struct pending *pending;
    size_t partial;   /* bytes of the message being parsed, so far */
    char err[512];
};

void ovs_client_set_error(struct ovs_client *c, const char *fmt, ...)
{
    char tmp[sizeof(c->err)];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    memcpy(c->err, tmp, sizeof(tmp));
}

int ovs_client_create(const char *db, struct ovs_client **out)
{
    struct sockaddr_un sun;
    struct ovs_client *c;
    int r;

    *out = NULL;
    r = ovs_db_path(ovs_db_resolve(db), sun.sun_path, sizeof(sun.sun_path));
    if (r < 0)
        return r;
    c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->next_id = 1;
    c->fd = -1;
    /* A unix stream connect completes or fails at once (EAGAIN: backlog full). */
    r = usock_connect(sun.sun_path, SOCK_NONBLOCK, &c->fd);
    if (r < 0)
        goto err;
    c->tok = json_tokener_new_ex(64);
    if (!c->tok) {
        r = -ENOMEM;
        goto err;
    }
    *out = c;
    return 0;
err:
    ovs_client_destroy(c);
    return r;
}

static void fail_pending(struct ovs_client *c, int err)
{
    while (c->pending) {
        struct pending *p = c->pending;
        c->pending = p->next;
        if (p->cb)
            p->cb(p->arg, err, NULL, c->err);
        free(p);
    }
}

void ovs_client_destroy(struct ovs_client *c)
{
    if (!c)
        return;
    snprintf(c->err, sizeof(c->err), "client closed");
    fail_pending(c, -ECANCELED);
    if (c->tok)
        json_tokener_free(c->tok);
    close_fd(&c->fd);
    free(c);
}

int ovs_client_fd(const struct ovs_client *c)
{
    return c->fd;
}

const char *ovs_client_error(const struct ovs_client *c)
{
    return c->err;
}

static void mark_broken(struct ovs_client *c, int err)
{
    c->broken = true;
    fail_pending(c, err);
}

static int send_msg_text(struct ovs_client *c, const char *buf, size_t len)
{
    int r = send_all(c->fd, buf, len, OVS_DEFAULT_TIMEOUT_MS);

    if (r == -ETIMEDOUT) {
        snprintf(c->err, sizeof(c->err), "timed out sending to ovsdb-server");
    } else if (r < 0) {
        snprintf(c->err, sizeof(c->err), "connection to ovsdb-server lost: %s", strerror(-r));
        mark_broken(c, -EPIPE);
        r = -EPIPE;
    }
    return r;
}
static int send_msg(struct ovs_client *c, struct json_object *msg)
{
    const char *s;
    int r;

    if (!msg)
        return -ENOMEM;
    s = json_object_to_json_string_ext(msg, JSON_C_TO_STRING_PLAIN);
    r = s ? send_msg_text(c, s, strlen(s)) : -ENOMEM;
    json_object_put(msg);
    return r;
}

int ovs_client_call_async(struct ovs_client *c, const char *method, struct json_object *params,
                          ovs_reply_cb cb, void *arg)
{
    struct pending *p;
    struct json_object *msg;
    uint64_t id;
    int r;

    if (c->broken) {
        json_object_put(params);
        snprintf(c->err, sizeof(c->err), "connection to ovsdb-server unusable after an earlier error");
        return -EPROTO;
    }
    p = calloc(1, sizeof(*p));
    if (!p) {
        json_object_put(params);
        return -ENOMEM;
    }
    id = c->next_id++;
    msg = ovs_msg_request(id, method, params);
    if (!msg) {
        free(p);
        return -ENOMEM;
    }
    r = send_msg(c, msg);
    if (r < 0) {
        free(p);
        return r;
    }
    p->id = id;
    p->cb = cb;
    p->arg = arg;
    /* Append: replies usually come in order. */
    struct pending **pp = &c->pending;
    while (*pp)
        pp = &(*pp)->next;
    *pp = p;
    return 0;
}

/* Handle one complete message from the server. Returns 0 or -EPROTO. */
static int handle_msg(struct ovs_client *c, struct json_object *msg)
{
    struct json_object *method, *id, *params, *result;
    struct pending **pp, *p;

    if (!json_object_is_type(msg, json_type_object)) {
        snprintf(c->err, sizeof(c->err), "malformed message from ovsdb-server: not an object");
        return -EPROTO;
    }
    if (json_object_object_get_ex(msg, "method", &method)) {
        /* A request or notification from the server. */
        if (!json_object_is_type(method, json_type_string)) {
            snprintf(c->err, sizeof(c->err), "malformed request from ovsdb-server");
            return -EPROTO;
        }
        if (!strcmp(json_object_get_string(method), "echo") &&
            json_object_object_get_ex(msg, "id", &id) && id) {
            struct json_object *o = json_object_new_object();
            if (!o)
                return 0;
            json_object_object_get_ex(msg, "params", &params);
            json_object_object_add(o, "result",
                                   params ? json_object_get(params) : json_object_new_array());
            json_object_object_add(o, "error", NULL);
            json_object_object_add(o, "id", json_object_get(id));
            send_msg(c, o);
        }
        return 0;   /* notifications ("update", "locked", ...) are ignored */
    }
    if (!json_object_object_get_ex(msg, "id", &id) || !id ||
        !json_object_is_type(id, json_type_int)) {
        snprintf(c->err, sizeof(c->err), "malformed reply from ovsdb-server: bad id");
        return -EPROTO;
    }
    for (pp = &c->pending; *pp; pp = &(*pp)->next)
        if (id_matches(id, (*pp)->id))
            break;
    if (!*pp)
        return 0;   /* a reply to nothing we asked: ignore */
    p = *pp;
    *pp = p->next;
    struct sl_err e = ERR_INIT;
    int r = ovs_msg_check_reply(msg, p->id, &result, &e);
    if (r < 0)
        ovs_client_set_error(c, "%s", e.msg);
    if (p->cb)
        p->cb(p->arg, r, result, c->err);
    free(p);
    return r == -EPROTO ? -EPROTO : 0;
}

int ovs_client_process(struct ovs_client *c)
{
    char buf[16384];

    if (c->broken)
        return -EPROTO;
    for (;;) {
        ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return 0;
        if (n <= 0) {
            snprintf(c->err, sizeof(c->err), "ovsdb-server closed the connection");
            mark_broken(c, -EPIPE);
            return -EPIPE;
        }
        size_t off = 0;
        while (off < (size_t)n) {
            struct json_object *msg =
                json_tokener_parse_ex(c->tok, buf + off, (int)((size_t)n - off));
            enum json_tokener_error jerr = json_tokener_get_error(c->tok);
            if (!msg && jerr == json_tokener_continue) {
                c->partial += (size_t)n - off;
                if (c->partial > OVS_MAX_MSG)
                    goto malformed;
                break;
            }
            if (!msg) {
                snprintf(c->err, sizeof(c->err), "malformed JSON from ovsdb-server: %s",
                         json_tokener_error_desc(jerr));
                goto broken;
            }
            off += json_tokener_get_parse_end(c->tok);
            c->partial = 0;
            json_tokener_reset(c->tok);
            int r = handle_msg(c, msg);
            json_object_put(msg);
            if (r < 0)
                goto broken;
            if (c->broken)
                return -EPIPE;
        }
    }
malformed:
    snprintf(c->err, sizeof(c->err), "message from ovsdb-server too large");
broken:
    mark_broken(c, -EPROTO);
    return -EPROTO;
}

struct sync_call {
    bool done;
    int err;
    struct json_object *result;
};

static void sync_cb(void *arg, int err, struct json_object *result, const char *errmsg)
{
    struct sync_call *s = arg;

    s->done = true;
    s->err = err;
    if (!err)
        s->result = json_object_get(result);
}

/* Forget the callback of a timed-out call so a late reply is dropped. */
static void forget(struct ovs_client *c, void *arg)
{
    for (struct pending **pp = &c->pending; *pp; pp = &(*pp)->next)
        if ((*pp)->arg == arg) {
            struct pending *p = *pp;
            *pp = p->next;
            free(p);
            return;
        }
}

int ovs_client_call(struct ovs_client *c, const char *method, struct json_object *params,
                    int timeout_ms, struct json_object **result)
{
    struct sync_call s = { 0 };
    int64_t deadline;
    int r;

    *result = NULL;
    if (timeout_ms <= 0)
        timeout_ms = OVS_DEFAULT_TIMEOUT_MS;
    c->err[0] = 0;
    r = ovs_client_call_async(c, method, params, sync_cb, &s);
    if (r < 0)
        return r;
    deadline = now_ms() + timeout_ms;
    while (!s.done) {
        struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
        int64_t left = deadline - now_ms();
        if (left <= 0) {
            forget(c, &s);
            snprintf(c->err, sizeof(c->err), "no reply from ovsdb-server within %d ms", timeout_ms);
            return -ETIMEDOUT;
        }
        r = poll(&pfd, 1, (int)left);
        if (r < 0 && errno != EINTR) {
            r = neg_errno();
            forget(c, &s);
            return r;
        }
        if (r > 0) {
            r = ovs_client_process(c);
            if (r < 0 && !s.done) {
                forget(c, &s);
                return r;
            }
        }
    }
    if (s.err)
        return s.err;
    *result = s.result;
    return 0;
}

int ovs_client_transact(struct ovs_client *c, struct json_object *txn, int timeout_ms,
                        struct json_object **result, size_t *failed_op)
{
    struct json_object *res;
    size_t nops = ovs_txn_nops(txn);
    int r;

    if (result)
        *result = NULL;
    if (failed_op)
        *failed_op = 0;
    r = ovs_client_call(c, "transact", txn, timeout_ms, &res);
    if (r < 0)
        return r;
    struct sl_err e = ERR_INIT;
    r = ovs_txn_check(res, nops, failed_op, &e);
    if (r < 0)
        ovs_client_set_error(c, "%s", e.msg);
    if (r < 0 || !result)
        json_object_put(res);
    else
        *result = res;
    return r;
}
