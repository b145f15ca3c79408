/* SPDX-License-Identifier: Apache-2.0 */
/* OVSDB client: JSON-RPC 1.0 over a unix stream socket (RFC 7047), with
 * json-c. Two ways to use it:
 *
 *  - blocking: ovs_client_call() / ovs_client_transact() send a request and
 *    wait (with a timeout) for its reply, answering the server's "echo"
 *    requests meanwhile. For the CLI and start-up code.
 *  - event loop: ovs_client_call_async() sends and registers a callback;
 *    the program watches ovs_client_fd() for input and calls
 *    ovs_client_process() when it is readable.
 *
 * A client is not thread-safe. Peer input never aborts the process: a
 * malformed message marks the client broken (-EPROTO from then on).
 *
 * Message building and reply checking are plain functions on json-c objects
 * so they can be tested without a server. */
#ifndef SLUICE_NET_OVSDB_H
#define SLUICE_NET_OVSDB_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#include <json-c/json.h>

/* Where the CLI and net_attach() look for ovsdb-server when not told. */
#define OVS_DEFAULT_DB "unix:/var/run/openvswitch/db.sock"
/* Environment variable overriding the default. */
#define OVS_DB_ENV "SLUICE_OVSDB"
/* The database of Open vSwitch's schema. */
#define OVS_DB_NAME "Open_vSwitch"

/* @db if non-NULL, else $SLUICE_OVSDB if set and non-empty, else
 * OVS_DEFAULT_DB. Never NULL. */
const char *ovs_db_resolve(const char *db);

/* Parse "unix:PATH" or a bare absolute "PATH" into @path (@len bytes).
 * Returns 0, -EINVAL (other transports such as tcp: or ssl:, empty path),
 * -ENAMETOOLONG (longer than a sockaddr_un path). */
int ovs_db_path(const char *db, char *path, size_t len);

/* ---- Messages (no I/O) ---- */

/* {"method": @method, "params": @params, "id": @id}. Takes ownership of
 * @params (NULL: empty array). Returns NULL only on allocation failure. */
struct json_object *ovs_msg_request(uint64_t id, const char *method, struct json_object *params);

/* Check a reply object @msg for request @id. On success *result (borrowed
 * from @msg) is its "result" member. Returns 0, -EPROTO (not an object,
 * missing or mistyped members, wrong id), -EREMOTEIO (the server returned an
 * error; its text goes to @err). @err (may be NULL) receives a description
 * of any failure (core/err.h). */
int ovs_msg_check_reply(struct json_object *msg, uint64_t id, struct json_object **result,
                        struct sl_err *err);

/* Check the result of a "transact" of @nops operations: an array with one
 * object per operation, plus possibly one more holding a commit error
 * (RFC 7047 4.1.3). Returns 0, -EPROTO (malformed), or -EREMOTEIO when an
 * operation failed: *failed_op (may be NULL) is its index (== @nops for a
 * commit error) and @err receives "error: details". */
int ovs_txn_check(struct json_object *result, size_t nops, size_t *failed_op,
                  struct sl_err *err);

/* Transaction parameters: ["Open_vSwitch", op...]. Append operations with
 * ovs_txn_add() (takes ownership). Returns NULL on allocation failure. */
struct json_object *ovs_txn_new(void);
int ovs_txn_add(struct json_object *txn, struct json_object *op);
/* Number of operations in @txn. */
size_t ovs_txn_nops(struct json_object *txn);

/* ["uuid", U] / ["named-uuid", N] / ["set", [...]] (takes ownership) /
 * ["map", [[k, v], ...]] from parallel string arrays. NULL on ENOMEM. */
struct json_object *ovs_json_uuid(const char *uuid);
struct json_object *ovs_json_named_uuid(const char *name);
struct json_object *ovs_json_set(struct json_object *elems);
struct json_object *ovs_json_map(const char *const *keys, const char *const *values, size_t n);

/* A condition [column, function, value] (takes ownership of @value). */
struct json_object *ovs_cond(const char *column, const char *function, struct json_object *value);

/* ---- Client ---- */

struct ovs_client;

/* Reply callback (must not destroy the client): @err is 0 (then @result is the borrowed "result", valid
 * during the call only), -EREMOTEIO (server error, @errmsg says which),
 * -EPROTO, -EPIPE (connection lost), -ECANCELED (client destroyed). */
typedef void (*ovs_reply_cb)(void *arg, int err, struct json_object *result, const char *errmsg);

/* Connect to @db (see ovs_db_resolve(); NULL: the default). Returns 0,
 * -ENOENT (no socket: ovsdb-server not running there), -ECONNREFUSED (stale
 * socket), -EACCES, -EINVAL/-ENAMETOOLONG (bad address), -ENOMEM, -errno. */
int ovs_client_create(const char *db, struct ovs_client **out);
/* Fail pending async calls with -ECANCELED, close, free. NULL-safe. */
void ovs_client_destroy(struct ovs_client *c);

/* The socket to watch for EPOLLIN (non-blocking). */
int ovs_client_fd(const struct ovs_client *c);
/* Text of the last error on @c ("" when none); valid until the next call. */
const char *ovs_client_error(const struct ovs_client *c);
/* Replace that text (printf format; the old text may be an argument). */
void ovs_client_set_error(struct ovs_client *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Send @method(@params) (ownership of @params taken, also on failure); @cb
 * runs from ovs_client_process() or ovs_client_call(). Returns 0, -EPIPE,
 * -EPROTO (client broken), -ETIMEDOUT (socket not writable for 5 s), -ENOMEM. */
int ovs_client_call_async(struct ovs_client *c, const char *method, struct json_object *params,
                          ovs_reply_cb cb, void *arg);

/* Read what is available, answer echo requests, dispatch replies. Returns 0,
 * -EPIPE (server closed; pending calls were failed), -EPROTO (malformed
 * input; client broken, pending calls failed), -errno. */
int ovs_client_process(struct ovs_client *c);

/* Blocking call: send and wait up to @timeout_ms (<= 0: 5000) for the reply.
 * On 0, *result is a new reference the caller must json_object_put().
 * Returns 0, -ETIMEDOUT, -EREMOTEIO (server error), -EPROTO, -EPIPE, -errno;
 * ovs_client_error() describes failures. */
int ovs_client_call(struct ovs_client *c, const char *method, struct json_object *params,
                    int timeout_ms, struct json_object **result);

/* "transact" @txn (owned) and check it with ovs_txn_check(). On 0, *result
 * (if non-NULL) holds the per-operation results (json_object_put() it). On
 * -EREMOTEIO, *failed_op (if non-NULL) is the failing operation's index.
 * Returns the codes of ovs_client_call() and ovs_txn_check(). */
int ovs_client_transact(struct ovs_client *c, struct json_object *txn, int timeout_ms,
                        struct json_object **result, size_t *failed_op);

#endif
