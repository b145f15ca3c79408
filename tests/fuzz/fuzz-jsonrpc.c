/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the JSON-RPC 2.0 server of sluiced's control socket. The
 * input is what a client writes on one connection (requests, batches,
 * garbage, over-long lines), then it stops writing; the server must answer
 * and close without crashing, leaking or hanging. Server and client end run
 * on one evloop: the client end reads the replies and stops the loop at EOF. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/jsonrpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct client {
    struct evloop *el;
    int fd;
    const uint8_t *data;
    size_t size, off;
    uint32_t events;
};

static int m_echo(void *ctx, struct json_object *params, struct json_object **result, struct sl_err *err)
{
    (void)ctx;
    (void)err;
    *result = json_object_get(params);
    return 0;
}

static int m_fail(void *ctx, struct json_object *params, struct json_object **result, struct sl_err *err)
{
    (void)ctx;
    (void)params;
    (void)result;
    return err_set(err, params ? -EINVAL : -ENOENT, "refused");
}

static void client_event(void *arg, uint32_t events)
{
    struct client *c = arg;
    char buf[65536];

    if ((events & EPOLLOUT) && c->off < c->size) {
        ssize_t w = send(c->fd, c->data + c->off, c->size - c->off, MSG_NOSIGNAL);
        if (w > 0)
            c->off += (size_t)w;
        if (w < 0 && errno != EAGAIN)
            c->off = c->size;           /* the server stopped reading */
        if (c->off == c->size) {
            shutdown(c->fd, SHUT_WR);
            c->events = EPOLLIN;
            evloop_mod(c->el, c->fd, c->events);
        }
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        ssize_t r = recv(c->fd, buf, sizeof(buf), 0);
        if (r == 0 || (r < 0 && errno != EAGAIN))
            evloop_stop(c->el);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct client c = { .data = data, .size = size, .events = EPOLLIN | EPOLLOUT };
    struct jrpc_server *srv;
    int sv[2];

    if (evloop_create(&c.el) < 0)
        abort();
    if (jrpc_server_create(c.el, NULL, &srv) < 0 ||
        jrpc_register(srv, "echo", m_echo, NULL) < 0 ||
        jrpc_register(srv, "fail", m_fail, NULL) < 0 ||
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0 ||
        jrpc_server_adopt(srv, sv[1]) < 0)
        abort();
    c.fd = sv[0];
    if (size == 0) {
        shutdown(c.fd, SHUT_WR);
        c.events = EPOLLIN;
    }
    if (evloop_add(c.el, c.fd, c.events, client_event, &c) < 0)
        abort();
    evloop_run(c.el);
    evloop_del(c.el, c.fd);
    close(c.fd);
    jrpc_server_destroy(srv);
    evloop_destroy(c.el);
    return 0;
}
