/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for src/core/jsonrpc.c: the JSON-RPC 2.0 server over a
 * socketpair. The server runs its evloop on a thread of its own; the test is
 * the client, with blocking I/O on the other end. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "core/jsonrpc.h"

struct fixture {
    struct evloop *el;
    struct jrpc_server *srv;
    int stopfd;
    pthread_t thread;
    bool running;
    int cl;                 /* the client's end */
    char *buf;              /* bytes read but not yet returned as lines */
    size_t len, cap;
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
    return err_set(err, -ENOENT, "no such thing");
}

static void on_stop(void *arg, uint32_t events)
{
    struct fixture *f = arg;
    (void)events;
    evloop_stop(f->el);
}

static void *run(void *arg)
{
    struct fixture *f = arg;
    evloop_run(f->el);
    return NULL;
}

/* A new connection served by f->srv; returns the client's end (blocking,
 * 10 s timeouts so that a broken server fails the test instead of hanging). */
static int connect_pair(struct fixture *f)
{
    struct timeval tv = { .tv_sec = 10 };
    int sv[2];

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);
    assert_int_equal(jrpc_server_adopt(f->srv, sv[1]), 0);
    setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(sv[0], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    return sv[0];
}

static void start(struct fixture *f)
{
    assert_int_equal(pthread_create(&f->thread, NULL, run, f), 0);
    f->running = true;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    assert_int_equal(evloop_create(&f->el), 0);
    assert_int_equal(jrpc_server_create(f->el, NULL, &f->srv), 0);
    assert_int_equal(jrpc_register(f->srv, "echo", m_echo, NULL), 0);
    assert_int_equal(jrpc_register(f->srv, "fail", m_fail, NULL), 0);
    f->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    assert_true(f->stopfd >= 0);
    assert_int_equal(evloop_add(f->el, f->stopfd, EPOLLIN, on_stop, f), 0);
    f->cl = connect_pair(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    uint64_t one = 1;

    if (f->running) {
        assert_int_equal(write(f->stopfd, &one, sizeof(one)), (ssize_t)sizeof(one));
        pthread_join(f->thread, NULL);
    }
    jrpc_server_destroy(f->srv);
    evloop_del(f->el, f->stopfd);
    evloop_destroy(f->el);
    close(f->stopfd);
    if (f->cl >= 0)
        close(f->cl);
    free(f->buf);
    free(f);
    return 0;
}

static void send_str(int fd, const char *s)
{
    size_t n = strlen(s);
    while (n) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        assert_true(w > 0);
        s += w;
        n -= (size_t)w;
    }
}

/* The next reply line (malloc'd, without the newline), or NULL at EOF. */
static char *read_line(struct fixture *f)
{
    for (;;) {
        char *nl = f->len ? memchr(f->buf, '\n', f->len) : NULL;
        if (nl) {
            size_t n = (size_t)(nl - f->buf);
            char *line = strndup(f->buf, n);
            memmove(f->buf, nl + 1, f->len - n - 1);
            f->len -= n + 1;
            return line;
        }
        if (f->cap - f->len < 65536) {
            f->cap = f->cap ? f->cap * 2 : 1 << 20;
            f->buf = realloc(f->buf, f->cap);
            assert_non_null(f->buf);
        }
        ssize_t r = recv(f->cl, f->buf + f->len, f->cap - f->len, 0);
        if (r < 0 && errno == ECONNRESET)
            r = 0;
        assert_true(r >= 0);     /* < 0: timed out waiting for a reply */
        if (r == 0) {
            assert_int_equal(f->len, 0);  /* no half line before EOF */
            return NULL;
        }
        f->len += (size_t)r;
    }
}

/* Read one reply and check it: @code 0 means a result, else the error code;
 * @id is the expected id as JSON text ("null", "7", "\"a\""). */
static struct json_object *expect_reply(struct fixture *f, int code, const char *id)
{
    char *line = read_line(f);
    struct json_object *o, *v, *e;

    assert_non_null(line);
    o = json_tokener_parse(line);
    if (!o)
        fail_msg("reply is not JSON: %s", line);
    free(line);
    assert_true(json_object_is_type(o, json_type_object));
    assert_true(json_object_object_get_ex(o, "jsonrpc", &v));
    assert_string_equal(json_object_get_string(v), "2.0");
    assert_true(json_object_object_get_ex(o, "id", &v));
    assert_string_equal(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN), id);
    if (code) {
        assert_true(json_object_object_get_ex(o, "error", &e));
        assert_true(json_object_object_get_ex(e, "code", &v));
        assert_int_equal(json_object_get_int(v), code);
        assert_true(json_object_object_get_ex(e, "message", &v));
        assert_true(json_object_is_type(v, json_type_string));
        assert_false(json_object_object_get_ex(o, "result", NULL));
    } else {
        assert_true(json_object_object_get_ex(o, "result", NULL));
        assert_false(json_object_object_get_ex(o, "error", NULL));
    }
    return o;
}

static void expect_eof(struct fixture *f)
{
    char *line = read_line(f);
    if (line)
        fail_msg("expected the connection to close, got: %.200s", line);
}

static void test_version_required(void **state)
{
    struct fixture *f = *state;

    start(f);
    send_str(f->cl, "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[1],\"id\":1}\n");
    json_object_put(expect_reply(f, 0, "1"));
    /* No "jsonrpc" member, a wrong version, a version that is not a string. */
    send_str(f->cl, "{\"method\":\"echo\",\"params\":[1],\"id\":2}\n");
    json_object_put(expect_reply(f, JRPC_INVALID_REQUEST, "2"));
    send_str(f->cl, "{\"jsonrpc\":\"1.0\",\"method\":\"echo\",\"id\":3}\n");
    json_object_put(expect_reply(f, JRPC_INVALID_REQUEST, "3"));
    send_str(f->cl, "{\"jsonrpc\":2.0,\"method\":\"echo\",\"id\":\"a\"}\n");
    json_object_put(expect_reply(f, JRPC_INVALID_REQUEST, "\"a\""));
    /* Even without an id: an invalid request is answered (id null). */
    send_str(f->cl, "{\"method\":\"echo\"}\n");
    json_object_put(expect_reply(f, JRPC_INVALID_REQUEST, "null"));
    /* The connection is still served. */
    send_str(f->cl, "{\"jsonrpc\":\"2.0\",\"method\":\"fail\",\"id\":4}\n");
    json_object_put(expect_reply(f, JRPC_SERVER_ERROR, "4"));
}

static void test_not_an_object(void **state)
{
    struct fixture *f = *state;
    static const char *const invalid[] = {
        "null", "42", "\"text\"", "true", "[]",
        "{\"jsonrpc\":\"2.0\",\"method\":42,\"id\":1}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":3,\"id\":1}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":{}}",
    };

    start(f);
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        struct json_object *v;
        char line[256];
        snprintf(line, sizeof(line), "%s\n", invalid[i]);
        send_str(f->cl, line);
        v = expect_reply(f, JRPC_INVALID_REQUEST, i == 5 || i == 6 ? "1" : "null");
        json_object_put(v);
    }
    /* Not JSON at all, or JSON followed by more: parse errors. */
    send_str(f->cl, "{\"jsonrpc\":\n");
    json_object_put(expect_reply(f, JRPC_PARSE_ERROR, "null"));
    send_str(f->cl, "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":1} {}\n");
    json_object_put(expect_reply(f, JRPC_PARSE_ERROR, "null"));
    /* Blank lines are skipped; \r\n line ends are fine. */
    send_str(f->cl, "\n  \n{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":9}\r\n");
    json_object_put(expect_reply(f, 0, "9"));
}

static void test_notification_and_batch(void **state)
{
    struct fixture *f = *state;
    struct json_object *o;
    char *line;

    start(f);
    /* A notification gets no reply, even a failing one. */
    send_str(f->cl, "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[0]}\n"
                    "{\"jsonrpc\":\"2.0\",\"method\":\"fail\"}\n"
                    "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[1],\"id\":1}\n");
    json_object_put(expect_reply(f, 0, "1"));
    /* A batch: one array of the replies, notifications left out. */
    send_str(f->cl, "[{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[1],\"id\":1},"
                    "{\"jsonrpc\":\"2.0\",\"method\":\"echo\"}, 5,"
                    "{\"jsonrpc\":\"2.0\",\"method\":\"nope\",\"id\":2}]\n");
    line = read_line(f);
    assert_non_null(line);
    o = json_tokener_parse(line);
    free(line);
    assert_true(json_object_is_type(o, json_type_array));
    assert_int_equal(json_object_array_length(o), 3);
    assert_true(json_object_object_get_ex(json_object_array_get_idx(o, 0), "result", NULL));
    struct json_object *e, *c;
    assert_true(json_object_object_get_ex(json_object_array_get_idx(o, 1), "error", &e));
    assert_true(json_object_object_get_ex(e, "code", &c));
    assert_int_equal(json_object_get_int(c), JRPC_INVALID_REQUEST);
    assert_true(json_object_object_get_ex(json_object_array_get_idx(o, 2), "error", &e));
    assert_true(json_object_object_get_ex(e, "code", &c));
    assert_int_equal(json_object_get_int(c), JRPC_METHOD_NOT_FOUND);
    json_object_put(o);
    /* A batch of notifications only: nothing at all. */
    send_str(f->cl, "[{\"jsonrpc\":\"2.0\",\"method\":\"echo\"}]\n"
                    "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":3}\n");
    json_object_put(expect_reply(f, 0, "3"));
}

/* A line longer than the limit is answered with an error, then closed. */
static void test_oversized_line(void **state)
{
    struct fixture *f = *state;
    size_t n = JRPC_MAX_LINE + 4096;
    char *big = malloc(n + 1);
    size_t off = 0;

    start(f);
    memset(big, 'x', n);
    big[n] = '\0';
    /* The server stops reading at the limit: our send may fail part way. */
    while (off < n) {
        ssize_t w = send(f->cl, big + off, n - off, MSG_NOSIGNAL);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    free(big);
    struct json_object *o = expect_reply(f, JRPC_INVALID_REQUEST, "null");
    struct json_object *e, *m;
    assert_true(json_object_object_get_ex(o, "error", &e));
    assert_true(json_object_object_get_ex(e, "message", &m));
    assert_non_null(strstr(json_object_get_string(m), "longer than"));
    json_object_put(o);
    expect_eof(f);
}

static char *make_requests(unsigned n, size_t param_len, size_t *len)
{
    char *param = malloc(param_len + 1), *buf;
    size_t cap = (size_t)n * (param_len + 96), off = 0;

    memset(param, 'p', param_len);
    param[param_len] = '\0';
    buf = malloc(cap);
    for (unsigned i = 1; i <= n; i++)
        off += (size_t)snprintf(buf + off, cap - off,
            "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[\"%s\"],\"id\":%u}\n", param, i);
    free(param);
    *len = off;
    return buf;
}

static void check_echo(struct fixture *f, unsigned id, size_t param_len)
{
    char ids[16];
    struct json_object *o, *res;

    snprintf(ids, sizeof(ids), "%u", id);
    o = expect_reply(f, 0, ids);
    assert_true(json_object_object_get_ex(o, "result", &res));
    assert_int_equal(json_object_array_length(res), 1);
    assert_int_equal(json_object_get_string_len(json_object_array_get_idx(res, 0)), param_len);
    json_object_put(o);
}

/* 5000 requests in one write, replies read only after it: all answered, in
 * order (the replies outgrow the socket buffer many times over). */
static void test_pipeline_5000(void **state)
{
    struct fixture *f = *state;
    size_t len;
    char *reqs = make_requests(5000, 200, &len);

    start(f);
    send_str(f->cl, reqs);
    free(reqs);
    for (unsigned i = 1; i <= 5000; i++)
        check_echo(f, i, 200);
    /* Still served afterwards. */
    send_str(f->cl, "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":0}\n");
    json_object_put(expect_reply(f, 0, "0"));
}

/* A client that writes far more than its unread replies may hold is told
 * why (an error after the replies it did get), then closed: never dropped
 * silently. */
static void test_flood_told(void **state)
{
    struct fixture *f = *state;
    const size_t plen = 4000;
    const unsigned n = (unsigned)(4 * JRPC_MAX_PENDING / plen);
    size_t len, off = 0;
    char *reqs = make_requests(n, plen, &len);
    unsigned got = 0;

    start(f);
    while (off < len) {
        ssize_t w = send(f->cl, reqs + off, len - off, MSG_NOSIGNAL);
        if (w <= 0)
            break;      /* EPIPE: the server stopped reading */
        off += (size_t)w;
    }
    free(reqs);
    assert_true(off < len);
    for (;;) {
        char *line = read_line(f);
        struct json_object *o, *e, *m;
        assert_non_null(line);
        o = json_tokener_parse(line);
        free(line);
        assert_non_null(o);
        if (json_object_object_get_ex(o, "error", &e)) {
            assert_true(json_object_object_get_ex(e, "message", &m));
            assert_non_null(strstr(json_object_get_string(m), "unread"));
            json_object_put(o);
            break;
        }
        got++;
        struct json_object *id;
        assert_true(json_object_object_get_ex(o, "id", &id));
        assert_int_equal(json_object_get_int(id), (int)got);
        json_object_put(o);
    }
    print_message("flood: %u of %u requests answered, then told why\n", got, n);
    assert_true(got > 0 && got < n);
    expect_eof(f);
}

/* A client that sends its requests and shuts its writing half gets every
 * reply before the close. */
static void test_half_close(void **state)
{
    struct fixture *f = *state;
    size_t len;
    char *reqs = make_requests(300, 100, &len);

    start(f);
    send_str(f->cl, reqs);
    free(reqs);
    shutdown(f->cl, SHUT_WR);
    for (unsigned i = 1; i <= 300; i++)
        check_echo(f, i, 100);
    expect_eof(f);
}

/* Past JRPC_MAX_CONNS connections a new one is told and closed; the others
 * are still served. */
static void test_connection_limit(void **state)
{
    struct fixture *f = *state;
    int fds[JRPC_MAX_CONNS];
    int saved = f->cl;

    /* The fixture's connection is the first. */
    int sv[2];

    for (unsigned i = 1; i < JRPC_MAX_CONNS; i++)
        fds[i] = connect_pair(f);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(jrpc_server_adopt(f->srv, sv[1]), -EMFILE);
    f->cl = sv[0];
    start(f);
    json_object_put(expect_reply(f, JRPC_SERVER_ERROR, "null"));
    expect_eof(f);
    close(f->cl);
    f->cl = saved;
    send_str(f->cl, "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":1}\n");
    json_object_put(expect_reply(f, 0, "1"));
    for (unsigned i = 1; i < JRPC_MAX_CONNS; i++)
        close(fds[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_version_required, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_an_object, setup, teardown),
        cmocka_unit_test_setup_teardown(test_notification_and_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oversized_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pipeline_5000, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flood_told, setup, teardown),
        cmocka_unit_test_setup_teardown(test_half_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_limit, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
