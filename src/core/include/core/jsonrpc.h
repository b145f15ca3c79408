/* SPDX-License-Identifier: Apache-2.0 */
/* JSON-RPC 2.0 over a unix stream socket, one JSON object per line, with
 * json-c. The server half runs on an evloop (sluiced's control socket); the
 * client half is a blocking call for the CLI. */
#ifndef SLUICE_CORE_JSONRPC_H
#define SLUICE_CORE_JSONRPC_H

#include <json-c/json.h>

#include "core/err.h"
#include "core/evloop.h"

/* Standard error codes. */
#define JRPC_PARSE_ERROR      -32700
#define JRPC_INVALID_REQUEST  -32600
#define JRPC_METHOD_NOT_FOUND -32601
#define JRPC_INVALID_PARAMS   -32602
#define JRPC_SERVER_ERROR     -32000

/* A method: on success return 0 and set *result (owned by the server; NULL
 * means JSON null). On failure return -errno and optionally set @err (never
 * NULL here; core/err.h); -EINVAL maps to "invalid params", others to a
 * server error whose data carries the errno name, and whose message is
 * @err's (strerror when unset). @params may be NULL. */
typedef int (*jrpc_method_cb)(void *ctx, struct json_object *params,
                              struct json_object **result, struct sl_err *err);

/* Server limits, per connection: a request line (without its newline); the
 * replies written but not yet read by the client (past it the client gets an
 * error and the connection closes); connections served at once. */
#define JRPC_MAX_LINE    (1u << 20)
#define JRPC_MAX_PENDING (4u << 20)
#define JRPC_MAX_CONNS   32

struct jrpc_server;

/* Listen on @path with usock_listen() (mode 0600; a stale socket is
 * replaced, a live one or a non-socket refused) and serve on @el.
 * @path NULL: no listening socket, connections come from
 * jrpc_server_adopt(). Returns 0 or -errno. */
int jrpc_server_create(struct evloop *el, const char *path, struct jrpc_server **out);
/* Serve the connected stream socket @fd (non-blocking; the server takes it,
 * and closes it on failure). Returns 0 or -errno. */
int jrpc_server_adopt(struct jrpc_server *s, int fd);
/* Closes connections, removes the socket file (unless another process
 * listens there now: usock_close()). NULL-safe. */
void jrpc_server_destroy(struct jrpc_server *s);
/* Register @name; returns 0, -EEXIST or -ENOMEM. */
int jrpc_register(struct jrpc_server *s, const char *name, jrpc_method_cb cb, void *ctx);

/* Blocking client call: connect to @path, send one request, wait up to
 * @timeout_ms for the reply. On success returns 0 and *result (caller puts
 * it). On a JSON-RPC error returns -EINVAL for "invalid params" (-32602:
 * the request itself is wrong) and -EREMOTEIO for any other, with @err
 * (may be NULL) set to the server's message.
 * Other failures: -ENOENT/-ECONNREFUSED (no server), -ETIMEDOUT, -EPROTO
 * (malformed reply), -errno. @params is not consumed. */
int jrpc_call(const char *path, const char *method, struct json_object *params,
              int timeout_ms, struct json_object **result, struct sl_err *err);

#endif
