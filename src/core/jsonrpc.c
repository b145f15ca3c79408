/* SPDX-License-Identifier: Apache-2.0 */
#include "core/jsonrpc.h"
#include "core/io.h"
#include "core/log.h"
#include "core/usock.h"
#include "core/util.h"

#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>

#define READ_CHUNK 65536

struct jrpc_method {
    char *name;
    jrpc_method_cb cb;
    void *ctx;
    struct jrpc_method *next;
};

/* One client. Requests are lines in @in; replies queue in @out and leave
 * as fast as the client reads them (EPOLLOUT while some are left). */
struct jrpc_conn {
    struct jrpc_server *s;
    int fd;
    char *in;
    size_t in_len, in_cap;
    char *out;
    size_t out_off, out_len, out_cap;
    uint32_t events;       /* what the evloop watches */
    bool closing;          /* no more requests: close once @out is sent */
    struct jrpc_conn *next;
};

struct jrpc_server {
    struct evloop *el;
    char *path;
    int fd;
    unsigned nconns;
    struct jrpc_method *methods;
    struct jrpc_conn *conns;
};

static void conn_close(struct jrpc_conn *c)
{
    struct jrpc_conn **pp;

    for (pp = &c->s->conns; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    c->s->nconns--;
    evloop_del(c->s->el, c->fd);
    close(c->fd);
    free(c->in);
    free(c->out);
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

/* A complete reply: {"jsonrpc":"2.0","id":@id,"error":{...}}; takes @id. */
static struct json_object *error_reply(struct json_object *id, int code, const char *msg,
                                       const char *data)
{
    struct json_object *resp = json_object_new_object();
    json_object_object_add(resp, "jsonrpc", json_object_new_string("2.0"));
    json_object_object_add(resp, "id", id);
    json_object_object_add(resp, "error", error_obj(code, msg, data));
    return resp;
}

static bool is_blank(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r';
}

static bool valid_id(struct json_object *id)
{
    return !id || json_object_is_type(id, json_type_string) ||
           json_object_is_type(id, json_type_int) || json_object_is_type(id, json_type_double);
}

/* Answer one request object (or anything that stands where one should);
 * returns the reply, NULL for a notification. */
static struct json_object *handle_one(struct jrpc_server *s, struct json_object *req)
{
    struct json_object *id = NULL, *ver, *m, *params = NULL, *resp, *result = NULL;
    bool has_id;
    const char *name;
    struct sl_err err = ERR_INIT;
    int r;

    if (!json_object_is_type(req, json_type_object))
        return error_reply(NULL, JRPC_INVALID_REQUEST, "invalid request: not an object", NULL);
    has_id = json_object_object_get_ex(req, "id", &id);
    if (!valid_id(id))
        return error_reply(NULL, JRPC_INVALID_REQUEST, "invalid request: id must be a string, number or null", NULL);
    id = json_object_get(id);
    if (!json_object_object_get_ex(req, "jsonrpc", &ver) || !json_object_is_type(ver, json_type_string) ||
        strcmp(json_object_get_string(ver), "2.0"))
        return error_reply(id, JRPC_INVALID_REQUEST, "invalid request: \"jsonrpc\": \"2.0\" is required", NULL);
    if (!json_object_object_get_ex(req, "method", &m) || !json_object_is_type(m, json_type_string))
        return error_reply(id, JRPC_INVALID_REQUEST, "invalid request: \"method\" must be a string", NULL);
    if (json_object_object_get_ex(req, "params", &params) &&
        !json_object_is_type(params, json_type_object) && !json_object_is_type(params, json_type_array))
        return error_reply(id, JRPC_INVALID_REQUEST, "invalid request: \"params\" must be an object or an array", NULL);
    name = json_object_get_string(m);
    resp = NULL;
    for (struct jrpc_method *me = s->methods; me; me = me->next) {
        if (strcmp(me->name, name))
            continue;
        r = me->cb(me->ctx, params, &result, &err);
        if (r < 0) {
            resp = error_reply(id, r == -EINVAL ? JRPC_INVALID_PARAMS : JRPC_SERVER_ERROR,
                               err_msg(&err, r), strerrorname_np(-r));
            json_object_put(result);
        } else {
            resp = json_object_new_object();
            json_object_object_add(resp, "jsonrpc", json_object_new_string("2.0"));
            json_object_object_add(resp, "id", id);
            json_object_object_add(resp, "result", result);
        }
        break;
    }
    if (!resp)
        resp = error_reply(id, JRPC_METHOD_NOT_FOUND, "method not found", name);
    if (!has_id) {   /* notification: no reply */
        json_object_put(resp);
        resp = NULL;
    }
    return resp;
}

/* Handle one line: a request or a batch (an array of requests). Returns the
 * reply, NULL when there is none (notifications). */
static struct json_object *handle(struct jrpc_server *s, char *line, size_t len)
{
    struct json_tokener *tok = json_tokener_new();
    struct json_object *req, *resp;
    enum json_tokener_error jerr;
    size_t end;

    if (!tok)
        return error_reply(NULL, JRPC_SERVER_ERROR, "out of memory", NULL);
    /* With its NUL the tokener knows that a bare number has ended. The
     * byte after the line is its newline or trailing blank: ours to use. */
    line[len] = '\0';
    req = json_tokener_parse_ex(tok, line, (int)len + 1);
    jerr = json_tokener_get_error(tok);
    end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    /* JSON null parses to a NULL object: the error code tells it apart. A
     * second value after the first is a parse error too. */
    while (jerr == json_tokener_success && end < len && is_blank(line[end]))
        end++;
    if (jerr != json_tokener_success || end < len) {
        json_object_put(req);
        return error_reply(NULL, JRPC_PARSE_ERROR, "parse error", NULL);
    }
    if (!json_object_is_type(req, json_type_array)) {
        resp = handle_one(s, req);
    } else if (json_object_array_length(req) == 0) {
        resp = error_reply(NULL, JRPC_INVALID_REQUEST, "invalid request: empty batch", NULL);
    } else {
        resp = json_object_new_array();
        for (size_t i = 0; i < json_object_array_length(req); i++) {
            struct json_object *r = handle_one(s, json_object_array_get_idx(req, i));
            if (r)
                json_object_array_add(resp, r);
        }
        if (json_object_array_length(resp) == 0) {
            json_object_put(resp);
            resp = NULL;
        }
    }
    json_object_put(req);
    return resp;
}

static void conn_watch(struct jrpc_conn *c)
{
    uint32_t ev = (c->closing ? 0 : EPOLLIN) | (c->out_len > c->out_off ? EPOLLOUT : 0);

    if (ev != c->events && evloop_mod(c->s->el, c->fd, ev) == 0)
        c->events = ev;
}

/* Queue @resp (taken) and its newline. Returns 0 or -ENOMEM. */
static int queue_reply(struct jrpc_conn *c, struct json_object *resp)
{
    size_t n;
    const char *text = json_object_to_json_string_ext(resp, JSON_C_TO_STRING_PLAIN);
    int r = 0;

    if (!text) {
        json_object_put(resp);
        return -ENOMEM;
    }
    n = strlen(text);
    if (c->out_off && c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    if (c->out_off && c->out_cap - c->out_len < n + 1) {
        /* Compact first; grow only for what is really pending. */
        memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
        c->out_len -= c->out_off;
        c->out_off = 0;
    }
    if (c->out_cap - c->out_len < n + 1) {
        size_t cap = c->out_cap ? c->out_cap : 65536;
        char *nb;
        while (cap - c->out_len < n + 1)
            cap *= 2;
        nb = realloc(c->out, cap);
        if (!nb) {
            r = -ENOMEM;
            goto out;
        }
        c->out = nb;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, text, n);
    c->out[c->out_len + n] = '\n';
    c->out_len += n + 1;
out:
    json_object_put(resp);
    return r;
}

/* Last words: queue an error (id null), read nothing more, close once the
 * queue is out. shutdown(SHUT_RD) makes a client blocked in writing more
 * requests fail with EPIPE at once, so it goes on to read the replies. */
static void conn_refuse(struct jrpc_conn *c, int code, const char *msg)
{
    log_warn("control: %s; closing the connection", msg);
    queue_reply(c, error_reply(NULL, code, msg, NULL));
    shutdown(c->fd, SHUT_RD);
    c->closing = true;
    c->in_len = 0;
}

/* Send what the socket takes. Returns 0 or -errno (the client is gone). */
static int conn_flush(struct jrpc_conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                return 0;
            return neg_errno();
        }
        c->out_off += (size_t)w;
    }
    c->out_off = c->out_len = 0;
    return 0;
}

/* Answer the complete lines in c->in. */
static void conn_process(struct jrpc_conn *c)
{
    size_t start = 0;
    char *nl;

    while (!c->closing && (nl = memchr(c->in + start, '\n', c->in_len - start))) {
        size_t len = (size_t)(nl - (c->in + start));
        char *line = c->in + start;
        struct json_object *resp;

        start += len + 1;
        while (len && is_blank(line[len - 1]))
            len--;
        if (len == 0)
            continue;
        /* Big replies to a client that reads as it writes: send first. */
        if (c->out_len - c->out_off > JRPC_MAX_PENDING && conn_flush(c) < 0) {
            c->out_off = c->out_len = c->in_len = 0;    /* gone: close */
            c->closing = true;
            return;
        }
        if (c->out_len - c->out_off > JRPC_MAX_PENDING) {
            char msg[160];
            snprintf(msg, sizeof(msg), "more than %u bytes of replies unread: read them before "
                     "sending more requests", JRPC_MAX_PENDING);
            conn_refuse(c, JRPC_SERVER_ERROR, msg);
            return;
        }
        resp = handle(c->s, line, len);
        if (resp && queue_reply(c, resp) < 0) {
            conn_refuse(c, JRPC_SERVER_ERROR, "out of memory");
            return;
        }
    }
    memmove(c->in, c->in + start, c->in_len - start);
    c->in_len -= start;
    if (c->in_len >= JRPC_MAX_LINE) {
        char msg[96];
        snprintf(msg, sizeof(msg), "invalid request: a line longer than %u bytes", JRPC_MAX_LINE);
        conn_refuse(c, JRPC_INVALID_REQUEST, msg);
    }
}

static void conn_event(void *arg, uint32_t events)
{
    struct jrpc_conn *c = arg;

    if ((events & EPOLLIN) && !c->closing) {
        if (c->in_cap - c->in_len < READ_CHUNK) {
            size_t cap = c->in_len + READ_CHUNK;
            char *nb = realloc(c->in, cap);
            if (!nb) {
                conn_refuse(c, JRPC_SERVER_ERROR, "out of memory");
                goto flush;
            }
            c->in = nb;
            c->in_cap = cap;
        }
        ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
        if (n < 0 && errno != EINTR && errno != EAGAIN) {
            conn_close(c);
            return;
        }
        if (n > 0) {
            c->in_len += (size_t)n;
            conn_process(c);
        } else if (n == 0) {
            /* The client is done writing: answer what came (a last line
             * may lack its newline), then close. */
            if (c->in_len) {
                c->in[c->in_len++] = '\n';
                conn_process(c);
            }
            c->closing = true;
        }
    } else if ((events & (EPOLLHUP | EPOLLERR)) && !(events & EPOLLOUT)) {
        conn_close(c);
        return;
    }
flush:
    if (conn_flush(c) < 0 || (c->closing && c->out_off == c->out_len)) {
        conn_close(c);
        return;
    }
    conn_watch(c);
}

int jrpc_server_adopt(struct jrpc_server *s, int fd)
{
    struct jrpc_conn *c;
    int r;

    if (s->nconns >= JRPC_MAX_CONNS) {
        char msg[128];
        struct json_object *e;
        snprintf(msg, sizeof(msg), "too many connections (at most %u)", JRPC_MAX_CONNS);
        log_warn("control: %s; refusing one", msg);
        e = error_reply(NULL, JRPC_SERVER_ERROR, msg, NULL);
        const char *text = json_object_to_json_string_ext(e, JSON_C_TO_STRING_PLAIN);
        if (text) {
            /* A fresh socket takes one short line without blocking. */
            (void)!send(fd, text, strlen(text), MSG_NOSIGNAL | MSG_DONTWAIT);
            (void)!send(fd, "\n", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        }
        json_object_put(e);
        close(fd);
        return -EMFILE;
    }
    c = calloc(1, sizeof(*c));
    if (!c) {
        close(fd);
        return -ENOMEM;
    }
    c->s = s;
    c->fd = fd;
    c->events = EPOLLIN;
    r = evloop_add(s->el, fd, EPOLLIN, conn_event, c);
    if (r < 0) {
        close(fd);
        free(c);
        return r;
    }
    c->next = s->conns;
    s->conns = c;
    s->nconns++;
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
    struct jrpc_server *s;
    int r;

    s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->el = el;
    s->fd = -1;
    if (path) {
        s->path = strdup(path);
        if (!s->path) {
            r = -ENOMEM;
            goto err;
        }
        r = usock_listen(path, 16, SOCK_NONBLOCK, &s->fd);
        if (r < 0)
            goto err;
        r = evloop_add(el, s->fd, EPOLLIN, listen_event, s);
        if (r < 0)
            goto err;
    }
    *out = s;
    return 0;
err:
    jrpc_server_destroy(s);
    return r;
}

void jrpc_server_destroy(struct jrpc_server *s)
{
    if (!s)
        return;
    while (s->conns)
        conn_close(s->conns);
    if (s->fd >= 0)
        evloop_del(s->el, s->fd);
    usock_close(s->path, &s->fd);
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

int jrpc_call(const char *path, const char *method, struct json_object *params,
              int timeout_ms, struct json_object **result, struct sl_err *err)
{
    struct json_object *req, *resp = NULL, *e, *res;
    struct json_tokener *tok = NULL;
    int64_t t0;
    char buf[65536];
    int fd, r;

    *result = NULL;
    err_clear(err);
    r = usock_connect(path, 0, &fd);
    if (r < 0)
        return r;
    req = json_object_new_object();
    json_object_object_add(req, "jsonrpc", json_object_new_string("2.0"));
    json_object_object_add(req, "method", json_object_new_string(method));
    if (params)
        json_object_object_add(req, "params", json_object_get(params));
    json_object_object_add(req, "id", json_object_new_int(1));
    const char *out = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
    r = send_all(fd, out, strlen(out), -1);
    if (r == 0)
        r = send_all(fd, "\n", 1, -1);
    json_object_put(req);
    if (r < 0)
        goto out;
    tok = json_tokener_new_ex(64);
    t0 = now_ms();
    for (;;) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        int64_t left = timeout_ms - (now_ms() - t0);
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
    if (json_object_object_get_ex(resp, "error", &e) && e) {
        struct json_object *msg, *code;
        r = json_object_object_get_ex(e, "code", &code) &&
            json_object_get_int(code) == JRPC_INVALID_PARAMS ? -EINVAL : -EREMOTEIO;
        if (json_object_object_get_ex(e, "message", &msg))
            err_set(err, r, "%s", json_object_get_string(msg));
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
