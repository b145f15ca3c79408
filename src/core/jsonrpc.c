/* SPDX-License-Identifier: Apache-2.0 */
#include "core/jsonrpc.h"
#include "core/log.h"
#include "core/util.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

#define MAX_LINE (1u << 20)

struct jrpc_method {
    char *name;
    jrpc_method_cb cb;
    void *ctx;
    struct jrpc_method *next;
};

struct jrpc_conn {
    struct jrpc_server *s;
    int fd;
    char *buf;
    size_t len, cap;
    struct jrpc_conn *next;
};

struct jrpc_server {
    struct evloop *el;
    char *path;
    int fd;
    struct jrpc_method *methods;
    struct jrpc_conn *conns;
};

static int unix_addr(const char *path, struct sockaddr_un *sa)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa->sun_path))
        return -ENAMETOOLONG;
    strcpy(sa->sun_path, path);
    return 0;
}

static void conn_close(struct jrpc_conn *c)
{
    struct jrpc_conn **pp;

    for (pp = &c->s->conns; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    evloop_del(c->s->el, c->fd);
    close(c->fd);
    free(c->buf);
    free(c);
}

static struct json_object *error_obj(int code, const char *msg, const char *data)
{
    struct json_object *e = json_object_new_object();
    json_object_object_add(e, "code", json_object_new_int(code));
    json_object_object_add(e, "message", json_object_new_string(msg));
    if (data)
        json_object_object_add(e, "data", json_object_new_string(data));
    return e;
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return neg_errno();
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Handle one line; returns the response (NULL for a notification). */
static struct json_object *handle(struct jrpc_server *s, const char *line)
{
    struct json_object *req, *id = NULL, *m, *params = NULL, *resp, *result = NULL;
    struct json_tokener *tok = json_tokener_new();
    enum json_tokener_error jerr;
    const char *name;
    char *errmsg = NULL;
    int r;

    req = json_tokener_parse_ex(tok, line, (int)strlen(line));
    jerr = json_tokener_get_error(tok);
    json_tokener_free(tok);
    resp = json_object_new_object();
    json_object_object_add(resp, "jsonrpc", json_object_new_string("2.0"));
    if (!req || jerr != json_tokener_success) {
        json_object_object_add(resp, "error", error_obj(JRPC_PARSE_ERROR, "parse error", NULL));
        json_object_object_add(resp, "id", NULL);
        json_object_put(req);
        return resp;
    }
    if (json_object_is_type(req, json_type_object))
        json_object_object_get_ex(req, "id", &id);
    json_object_object_add(resp, "id", id ? json_object_get(id) : NULL);
    if (!json_object_is_type(req, json_type_object) ||
        !json_object_object_get_ex(req, "method", &m) ||
        !json_object_is_type(m, json_type_string)) {
        json_object_object_add(resp, "error", error_obj(JRPC_INVALID_REQUEST, "invalid request", NULL));
        json_object_put(req);
        return resp;
    }
    json_object_object_get_ex(req, "params", &params);
    name = json_object_get_string(m);
    for (struct jrpc_method *me = s->methods; me; me = me->next) {
        if (strcmp(me->name, name))
            continue;
        r = me->cb(me->ctx, params, &result, &errmsg);
        if (r < 0) {
            json_object_object_add(resp, "error",
                error_obj(r == -EINVAL ? JRPC_INVALID_PARAMS : JRPC_SERVER_ERROR,
                          errmsg ? errmsg : strerror(-r), strerrorname_np(-r)));
            free(errmsg);
            json_object_put(result);
        } else {
            json_object_object_add(resp, "result", result);
        }
        goto out;
    }
    json_object_object_add(resp, "error", error_obj(JRPC_METHOD_NOT_FOUND, "method not found", name));
out:
    if (!id) {   /* notification: no response */
        json_object_put(resp);
        resp = NULL;
    }
    json_object_put(req);
    return resp;
}

static void conn_event(void *arg, uint32_t events)
{
    struct jrpc_conn *c = arg;
    ssize_t n;

    if (c->cap - c->len < 4096) {
        size_t ncap = c->cap ? c->cap * 2 : 8192;
        char *nb;
        if (ncap > MAX_LINE + 4096 || !(nb = realloc(c->buf, ncap))) {
            log_warn("control: request too large; closing connection");
            conn_close(c);
            return;
        }
        c->buf = nb;
        c->cap = ncap;
    }
    n = recv(c->fd, c->buf + c->len, c->cap - c->len - 1, 0);
    if (n <= 0) {
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            return;
        conn_close(c);
        return;
    }
    (void)events;
    c->len += (size_t)n;
    c->buf[c->len] = '\0';
    char *nl;
    while ((nl = memchr(c->buf, '\n', c->len))) {
        *nl = '\0';
        struct json_object *resp = handle(c->s, c->buf);
        size_t rest = c->len - (size_t)(nl + 1 - c->buf);
        memmove(c->buf, nl + 1, rest);
        c->len = rest;
        c->buf[c->len] = '\0';
        if (resp) {
            const char *out = json_object_to_json_string_ext(resp, JSON_C_TO_STRING_PLAIN);
            int r = send_all(c->fd, out, strlen(out));
            if (r == 0)
                r = send_all(c->fd, "\n", 1);
            json_object_put(resp);
            if (r < 0) {
                conn_close(c);
                return;
            }
        }
    }
}

int jrpc_server_adopt(struct jrpc_server *s, int fd)
{
    struct jrpc_conn *c = calloc(1, sizeof(*c));
    int r;

    if (!c) {
        close(fd);
        return -ENOMEM;
    }
    c->s = s;
    c->fd = fd;
    r = evloop_add(s->el, fd, EPOLLIN, conn_event, c);
    if (r < 0) {
        close(fd);
        free(c);
        return r;
    }
    c->next = s->conns;
    s->conns = c;
    return 0;
}

static void listen_event(void *arg, uint32_t events)
{
    struct jrpc_server *s = arg;
    int fd;
    (void)events;

    fd = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd >= 0)
        jrpc_server_adopt(s, fd);
}

int jrpc_server_create(struct evloop *el, const char *path, struct jrpc_server **out)
{
    struct sockaddr_un sa;
    struct jrpc_server *s;
    struct stat st;
    mode_t old;
    int r;

    if (!path) {
        s = calloc(1, sizeof(*s));
        if (!s)
            return -ENOMEM;
        s->el = el;
        s->fd = -1;
        *out = s;
        return 0;
    }
    r = unix_addr(path, &sa);
    if (r < 0)
        return r;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return -EADDRINUSE;
        unlink(path);
    }
    s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->el = el;
    s->fd = -1;
    s->path = strdup(path);
    if (!s->path) {
        r = -ENOMEM;
        goto err;
    }
    s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s->fd < 0) {
        r = neg_errno();
        goto err;
    }
    old = umask(0177);
    r = bind(s->fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (r < 0 || listen(s->fd, 16) < 0) {
        r = neg_errno();
        goto err;
    }
    r = evloop_add(el, s->fd, EPOLLIN, listen_event, s);
    if (r < 0)
        goto err;
    *out = s;
    return 0;
err:
    if (s->fd >= 0) {
        close(s->fd);
        unlink(path);
    }
    free(s->path);
    free(s);
    return r;
}

void jrpc_server_destroy(struct jrpc_server *s)
{
    if (!s)
        return;
    while (s->conns)
        conn_close(s->conns);
    if (s->fd >= 0) {
        evloop_del(s->el, s->fd);
        close(s->fd);
        unlink(s->path);
    }
    while (s->methods) {
        struct jrpc_method *m = s->methods;
        s->methods = m->next;
        free(m->name);
        free(m);
    }
    free(s->path);
    free(s);
}

int jrpc_register(struct jrpc_server *s, const char *name, jrpc_method_cb cb, void *ctx)
{
    struct jrpc_method *m;

    for (m = s->methods; m; m = m->next)
        if (!strcmp(m->name, name))
            return -EEXIST;
    m = calloc(1, sizeof(*m));
    if (!m || !(m->name = strdup(name))) {
        free(m);
        return -ENOMEM;
    }
    m->cb = cb;
    m->ctx = ctx;
    m->next = s->methods;
    s->methods = m;
    return 0;
}

static long elapsed_ms(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

int jrpc_call(const char *path, const char *method, struct json_object *params,
              int timeout_ms, struct json_object **result, char **errmsg)
{
    struct json_object *req, *resp = NULL, *err, *res;
    struct json_tokener *tok = NULL;
    struct sockaddr_un sa;
    struct timespec t0;
    char buf[65536];
    int fd, r;

    *result = NULL;
    if (errmsg)
        *errmsg = NULL;
    r = unix_addr(path, &sa);
    if (r < 0)
        return r;
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return neg_errno();
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        r = neg_errno();
        close(fd);
        return r;
    }
    req = json_object_new_object();
    json_object_object_add(req, "jsonrpc", json_object_new_string("2.0"));
    json_object_object_add(req, "method", json_object_new_string(method));
    if (params)
        json_object_object_add(req, "params", json_object_get(params));
    json_object_object_add(req, "id", json_object_new_int(1));
    const char *out = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
    r = send_all(fd, out, strlen(out));
    if (r == 0)
        r = send_all(fd, "\n", 1);
    json_object_put(req);
    if (r < 0)
        goto out;
    tok = json_tokener_new_ex(64);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        long left = timeout_ms - elapsed_ms(&t0);
        ssize_t n;

        if (left <= 0) {
            r = -ETIMEDOUT;
            goto out;
        }
        r = poll(&pfd, 1, (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            r = r < 0 ? neg_errno() : -ETIMEDOUT;
            goto out;
        }
        n = recv(fd, buf, sizeof(buf), 0);
        if (n <= 0) {
            r = n < 0 ? neg_errno() : -EPROTO;
            goto out;
        }
        /* Stop at the newline that ends the reply. */
        char *nl = memchr(buf, '\n', (size_t)n);
        resp = json_tokener_parse_ex(tok, buf, nl ? (int)(nl - buf) : (int)n);
        if (resp)
            break;
        if (json_tokener_get_error(tok) != json_tokener_continue || nl) {
            r = -EPROTO;
            goto out;
        }
    }
    if (!json_object_is_type(resp, json_type_object)) {
        r = -EPROTO;
        goto out;
    }
    if (json_object_object_get_ex(resp, "error", &err) && err) {
        struct json_object *msg;
        if (errmsg && json_object_object_get_ex(err, "message", &msg))
            *errmsg = strdup(json_object_get_string(msg));
        r = -EREMOTEIO;
        goto out;
    }
    if (!json_object_object_get_ex(resp, "result", &res)) {
        r = -EPROTO;
        goto out;
    }
    *result = json_object_get(res);
    r = 0;
out:
    json_object_put(resp);
    if (tok)
        json_tokener_free(tok);
    close(fd);
    return r;
}
