/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for net/ovsdb.c and net/ovs.c: JSON-RPC message building,
 * reply and transaction-result checking (malformed cases included), the
 * vswitch transactions, list parsing, and the client against a fake
 * ovsdb-server on a unix socket (echo, split messages, errors, garbage,
 * timeouts, closed connections). */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "core/usock.h"
#include "net/ovs.h"
#include "net/ovsdb.h"

static struct json_object *parse(const char *s)
{
    struct json_object *o = json_tokener_parse(s);
    assert_non_null(o);
    return o;
}

static const char *plain(struct json_object *o)
{
    return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
}

static void test_request(void **state)
{
    struct json_object *m = ovs_msg_request(7, "list_dbs", NULL);

    (void)state;
    assert_string_equal(plain(m), "{\"method\":\"list_dbs\",\"params\":[],\"id\":7}");
    json_object_put(m);

    struct json_object *t = ovs_txn_new();
    assert_int_equal(ovs_txn_nops(t), 0);
    assert_int_equal(ovs_txn_add(t, parse("{\"op\":\"comment\",\"comment\":\"x\"}")), 0);
    assert_int_equal(ovs_txn_nops(t), 1);
    m = ovs_msg_request(1, "transact", t);
    assert_string_equal(plain(m), "{\"method\":\"transact\",\"params\":[\"Open_vSwitch\","
                                  "{\"op\":\"comment\",\"comment\":\"x\"}],\"id\":1}");
    json_object_put(m);

    /* Value helpers. */
    const char *k[] = { "a", "b" }, *v[] = { "1", "2" };
    m = ovs_json_map(k, v, 2);
    assert_string_equal(plain(m), "[\"map\",[[\"a\",\"1\"],[\"b\",\"2\"]]]");
    json_object_put(m);
    m = ovs_json_map(NULL, NULL, 0);
    assert_string_equal(plain(m), "[\"map\",[]]");
    json_object_put(m);
    m = ovs_cond("_uuid", "==", ovs_json_uuid("u-1"));
    assert_string_equal(plain(m), "[\"_uuid\",\"==\",[\"uuid\",\"u-1\"]]");
    json_object_put(m);
    m = ovs_json_named_uuid("p");
    assert_string_equal(plain(m), "[\"named-uuid\",\"p\"]");
    json_object_put(m);
}

static void test_check_reply(void **state)
{
    struct json_object *r, *m;
    struct sl_err e = ERR_INIT;
    const char *err = e.msg;

    (void)state;
    m = parse("{\"id\":3,\"result\":[1,2],\"error\":null}");
    assert_int_equal(ovs_msg_check_reply(m, 3, &r, &e), 0);
    assert_string_equal(plain(r), "[1,2]");
    /* Wrong id. */
    assert_int_equal(ovs_msg_check_reply(m, 4, &r, &e), -EPROTO);
    assert_null(r);
    json_object_put(m);

    /* Server error: string, or object with details. */
    m = parse("{\"id\":3,\"result\":null,\"error\":\"unknown database\"}");
    assert_int_equal(ovs_msg_check_reply(m, 3, &r, &e), -EREMOTEIO);
    assert_string_equal(err, "unknown database");
    json_object_put(m);
    m = parse("{\"id\":3,\"result\":null,\"error\":{\"error\":\"syntax error\",\"details\":\"bad op\"}}");
    assert_int_equal(ovs_msg_check_reply(m, 3, &r, &e), -EREMOTEIO);
    assert_string_equal(err, "syntax error: bad op");
    json_object_put(m);

    /* Malformed replies. */
    static const char *const bad[] = {
        "[1,2,3]",                                      /* not an object */
        "\"hello\"",
        "{\"result\":[],\"error\":null}",               /* no id */
        "{\"id\":\"3\",\"result\":[],\"error\":null}",   /* id of the wrong type */
        "{\"id\":-3,\"result\":[],\"error\":null}",
        "{\"id\":3,\"result\":[]}",                     /* no error member */
        "{\"id\":3,\"error\":null}",                    /* no result member */
        "{\"id\":3,\"result\":null,\"error\":null}",    /* neither */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        m = parse(bad[i]);
        err_clear(&e);
        assert_int_equal(ovs_msg_check_reply(m, 3, &r, &e), -EPROTO);
        assert_null(r);
        assert_true(strstr(err, "malformed") != NULL);
        json_object_put(m);
    }
    assert_int_equal(ovs_msg_check_reply(NULL, 3, &r, NULL), -EPROTO);
}

static void test_txn_check(void **state)
{
    struct json_object *r;
    size_t failed = 99;
    struct sl_err e = ERR_INIT;
    const char *err = e.msg;

    (void)state;
    r = parse("[{\"uuid\":[\"uuid\",\"x\"]},{\"count\":1}]");
    assert_int_equal(ovs_txn_check(r, 2, &failed, &e), 0);
    /* Too few results for the operations. */
    assert_int_equal(ovs_txn_check(r, 3, &failed, &e), -EPROTO);
    json_object_put(r);

    /* Operation 1 failed; the following results are null. */
    r = parse("[{},{\"error\":\"timed out\",\"details\":\"wait\"},null]");
    assert_int_equal(ovs_txn_check(r, 3, &failed, &e), -EREMOTEIO);
    assert_int_equal(failed, 1);
    assert_string_equal(err, "timed out: wait");
    json_object_put(r);

    /* Commit error in the extra element. */
    r = parse("[{},{},{\"error\":\"constraint violation\"}]");
    assert_int_equal(ovs_txn_check(r, 2, &failed, &e), -EREMOTEIO);
    assert_int_equal(failed, 2);
    assert_string_equal(err, "constraint violation");
    json_object_put(r);

    /* Malformed: not an array, too many, non-object, null without an error,
     * extra element without an error. */
    static const struct { const char *s; size_t nops; } bad[] = {
        { "{\"a\":1}", 1 },
        { "[{},{},{},{}]", 2 },
        { "[{},5]", 2 },
        { "[{},null]", 2 },
        { "[null,{}]", 2 },
        { "[{},{},{}]", 2 },
        { "[]", 1 },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        r = parse(bad[i].s);
        assert_int_equal(ovs_txn_check(r, bad[i].nops, &failed, &e), -EPROTO);
        json_object_put(r);
    }
    assert_int_equal(ovs_txn_check(NULL, 0, NULL, NULL), -EPROTO);
}

/* The op named @name at index @i of txn @t (params[0] is the db name). */
static struct json_object *op_at(struct json_object *t, size_t i, const char *name)
{
    struct json_object *o = json_object_array_get_idx(t, i + 1), *v;

    assert_non_null(o);
    assert_true(json_object_object_get_ex(o, "op", &v));
    assert_string_equal(json_object_get_string(v), name);
    return o;
}

static const char *member_str(struct json_object *o, const char *path)
{
    /* "row.name" style paths over objects. */
    char buf[128], *save, *tok;
    struct json_object *cur = o;

    snprintf(buf, sizeof(buf), "%s", path);
    for (tok = strtok_r(buf, ".", &save); tok; tok = strtok_r(NULL, ".", &save))
        if (!json_object_object_get_ex(cur, tok, &cur))
            return NULL;
    return json_object_is_type(cur, json_type_string) ? json_object_get_string(cur) : plain(cur);
}

static void test_txn_br_add(void **state)
{
    struct json_object *t, *o;

    (void)state;
    t = ovs_txn_br_add("br0", "netdev", "root-uuid");
    assert_string_equal(json_object_get_string(json_object_array_get_idx(t, 0)), "Open_vSwitch");
    assert_int_equal(ovs_txn_nops(t), 5);
    o = op_at(t, 0, "wait");
    assert_string_equal(member_str(o, "table"), "Bridge");
    assert_string_equal(member_str(o, "where"), "[[\"name\",\"==\",\"br0\"]]");
    assert_string_equal(member_str(o, "until"), "==");
    assert_string_equal(member_str(o, "rows"), "[]");
    assert_string_equal(member_str(o, "timeout"), "0");
    o = op_at(t, 1, "insert");
    assert_string_equal(member_str(o, "table"), "Interface");
    assert_string_equal(member_str(o, "row.type"), "internal");
    o = op_at(t, 2, "insert");
    assert_string_equal(member_str(o, "row.interfaces"), "[\"named-uuid\",\"iface\"]");
    o = op_at(t, 3, "insert");
    assert_string_equal(member_str(o, "table"), "Bridge");
    assert_string_equal(member_str(o, "row.datapath_type"), "netdev");
    assert_string_equal(member_str(o, "uuid-name"), "bridge");
    o = op_at(t, 4, "mutate");
    assert_string_equal(member_str(o, "where"), "[[\"_uuid\",\"==\",[\"uuid\",\"root-uuid\"]]]");
    assert_string_equal(member_str(o, "mutations"),
                        "[[\"bridges\",\"insert\",[\"set\",[[\"named-uuid\",\"bridge\"]]]]]");
    json_object_put(t);

    /* No root row yet: insert it; default datapath: no datapath_type. */
    t = ovs_txn_br_add("br1", NULL, NULL);
    o = op_at(t, 3, "insert");
    assert_null(member_str(o, "row.datapath_type"));
    o = op_at(t, 4, "insert");
    assert_string_equal(member_str(o, "table"), "Open_vSwitch");
    json_object_put(t);
}

static void test_txn_port_add(void **state)
{
    struct ovs_kv ext[OVS_PORT_EXT_MAX];
    struct json_object *t, *o;

    (void)state;
    /* What sluiced and `sluice net ovs add-port` put on a port: the keys given. */
    assert_int_equal(ovs_port_ext(NULL, NULL, NULL, NULL, ext), 0);
    assert_int_equal(ovs_port_ext("vm1", "net0", "52:54:00:00:00:01", "lsp-a", ext), 4);
    assert_string_equal(ext[2].key, "attached-mac");
    assert_string_equal(ext[3].key, "iface-id");
    assert_string_equal(ext[3].value, "lsp-a");
    assert_int_equal(ovs_port_ext(NULL, NULL, NULL, "lsp-a", ext), 1);
    assert_string_equal(ext[0].key, "iface-id");
    assert_int_equal(ovs_iface_id_check("0b7e4f0c-3c5e-4d7a-9a43-6f1d2c0e8a11"), 0);
    assert_int_equal(ovs_iface_id_check(""), -EINVAL);
    assert_int_equal(ovs_iface_id_check(NULL), -EINVAL);
    assert_int_equal(ovs_iface_id_check("a b"), -EINVAL);
    assert_int_equal(ovs_iface_id_check("a,b"), -EINVAL);
    assert_int_equal(ovs_iface_id_check("a\x7f"), -EINVAL);
    assert_int_equal(ovs_iface_id_check("caf\xc3\xa9"), -EINVAL);

    assert_int_equal(ovs_port_ext("vm1", "net0", NULL, NULL, ext), 2);
    t = ovs_txn_port_add("br0", "tap0", ext, 2);
    assert_int_equal(ovs_txn_nops(t), 5);
    o = op_at(t, 0, "wait");
    assert_string_equal(member_str(o, "until"), "!=");
    o = op_at(t, 1, "wait");
    assert_string_equal(member_str(o, "table"), "Port");
    assert_string_equal(member_str(o, "until"), "==");
    o = op_at(t, 2, "insert");
    assert_string_equal(member_str(o, "row.name"), "tap0");
    assert_string_equal(member_str(o, "row.external_ids"),
                        "[\"map\",[[\"sluice-vm\",\"vm1\"],[\"sluice-dev\",\"net0\"]]]");
    o = op_at(t, 3, "insert");
    assert_string_equal(member_str(o, "table"), "Port");
    assert_non_null(strstr(member_str(o, "row.external_ids"), "sluice-dev"));
    o = op_at(t, 4, "mutate");
    assert_string_equal(member_str(o, "where"), "[[\"name\",\"==\",\"br0\"]]");
    json_object_put(t);
    /* OVN binds a logical switch port by the Interface's iface-id. */
    t = ovs_txn_port_add("br-int", "tap1", ext, ovs_port_ext(NULL, NULL, NULL, "lsp-b", ext));
    o = op_at(t, 2, "insert");
    assert_string_equal(member_str(o, "table"), "Interface");
    assert_string_equal(member_str(o, "row.external_ids"), "[\"map\",[[\"iface-id\",\"lsp-b\"]]]");
    json_object_put(t);
}

static const char list_reply[] =
    "[{\"rows\":[{\"_uuid\":[\"uuid\",\"b2\"],\"name\":\"zbr\",\"ports\":[\"uuid\",\"p3\"],"
    "\"datapath_type\":\"\",\"external_ids\":[\"map\",[]]},"
    "{\"_uuid\":[\"uuid\",\"b1\"],\"name\":\"abr\",\"ports\":[\"set\",[[\"uuid\",\"p2\"],[\"uuid\",\"p1\"]]],"
    "\"datapath_type\":\"netdev\",\"external_ids\":[\"map\",[[\"k\",\"v\"]]]}]},"
    "{\"rows\":[{\"_uuid\":[\"uuid\",\"p1\"],\"name\":\"abr\",\"interfaces\":[\"uuid\",\"i1\"]},"
    "{\"_uuid\":[\"uuid\",\"p2\"],\"name\":\"tap0\",\"interfaces\":[\"uuid\",\"i2\"]},"
    "{\"_uuid\":[\"uuid\",\"p3\"],\"name\":\"zbr\",\"interfaces\":[\"set\",[[\"uuid\",\"i3\"]]]}]},"
    "{\"rows\":[{\"_uuid\":[\"uuid\",\"i1\"],\"name\":\"abr\",\"type\":\"internal\",\"external_ids\":[\"map\",[]]},"
    "{\"_uuid\":[\"uuid\",\"i2\"],\"name\":\"tap0\",\"type\":\"\","
    "\"external_ids\":[\"map\",[[\"sluice-vm\",\"vm1\"],[\"sluice-dev\",\"net0\"]]]},"
    "{\"_uuid\":[\"uuid\",\"i3\"],\"name\":\"zbr\",\"type\":\"internal\",\"external_ids\":[\"map\",[]]}]}]";

static void test_parse_list(void **state)
{
    struct ovs_bridge_info *v;
    struct json_object *r;
    size_t n;
    struct sl_err e = ERR_INIT;
    const char *err = e.msg;

    (void)state;
    r = parse(list_reply);
    assert_int_equal(ovs_parse_list(r, &v, &n, &e), 0);
    json_object_put(r);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].name, "abr");          /* sorted */
    assert_string_equal(v[0].datapath_type, "netdev");
    assert_int_equal(v[0].n_ext, 1);
    assert_string_equal(v[0].ext[0].key, "k");
    assert_int_equal(v[0].nports, 2);
    assert_string_equal(v[0].ports[0].name, "abr");
    assert_string_equal(v[0].ports[0].type, "internal");
    assert_string_equal(v[0].ports[1].name, "tap0");
    assert_int_equal(v[0].ports[1].n_ext, 2);
    assert_string_equal(v[0].ports[1].ext[0].key, "sluice-dev");   /* sorted by key */
    assert_string_equal(v[0].ports[1].ext[0].value, "net0");
    assert_string_equal(v[0].ports[1].ext[1].value, "vm1");
    assert_string_equal(v[1].name, "zbr");
    assert_int_equal(v[1].nports, 1);                 /* a set given as an atom */
    ovs_br_list_free(v, n);

    /* Empty database. */
    r = parse("[{\"rows\":[]},{\"rows\":[]},{\"rows\":[]}]");
    assert_int_equal(ovs_parse_list(r, &v, &n, &e), 0);
    assert_int_equal(n, 0);
    assert_null(v);
    json_object_put(r);

    static const char *const bad[] = {
        "[]",
        "[{\"rows\":[]},{\"rows\":[]}]",
        "[{\"rows\":{}},{\"rows\":[]},{\"rows\":[]}]",
        "[{\"rows\":[{\"name\":\"x\",\"ports\":[\"set\",[]]}]},{\"rows\":[]},{\"rows\":[]}]",       /* no _uuid */
        "[{\"rows\":[{\"_uuid\":[\"uuid\",\"b\"],\"name\":5,\"ports\":[\"set\",[]]}]},{\"rows\":[]},{\"rows\":[]}]",
        "[{\"rows\":[{\"_uuid\":[\"uuid\",\"b\"],\"name\":\"x\",\"ports\":[\"set\",[5]]}]},{\"rows\":[]},{\"rows\":[]}]",
        "[{\"rows\":[{\"_uuid\":[\"uuid\",\"b\"],\"name\":\"x\",\"ports\":{}}]},{\"rows\":[]},{\"rows\":[]}]",
        "[{\"rows\":[{\"_uuid\":[\"uuid\",\"b\"],\"name\":\"x\",\"ports\":[\"set\",[]],"
        "\"external_ids\":[\"map\",[[\"k\"]]]}]},{\"rows\":[]},{\"rows\":[]}]",
        "[{\"rows\":[{\"_uuid\":[\"uuid\",\"b\"],\"name\":\"x\",\"ports\":[\"uuid\",\"p\"]}]},"
        "{\"rows\":[{\"_uuid\":[\"uuid\",\"p\"],\"name\":[]}]},{\"rows\":[]}]",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        r = parse(bad[i]);
        err_clear(&e);
        assert_int_equal(ovs_parse_list(r, &v, &n, &e), -EPROTO);
        assert_null(v);
        assert_int_equal(n, 0);
        assert_non_null(strstr(err, "malformed"));
        json_object_put(r);
    }
}

static void test_db_address(void **state)
{
    char path[108];

    (void)state;
    unsetenv(OVS_DB_ENV);
    assert_string_equal(ovs_db_resolve(NULL), OVS_DEFAULT_DB);
    setenv(OVS_DB_ENV, "unix:/tmp/x.sock", 1);
    assert_string_equal(ovs_db_resolve(NULL), "unix:/tmp/x.sock");
    assert_string_equal(ovs_db_resolve("unix:/y"), "unix:/y");
    setenv(OVS_DB_ENV, "", 1);
    assert_string_equal(ovs_db_resolve(""), OVS_DEFAULT_DB);
    unsetenv(OVS_DB_ENV);

    assert_int_equal(ovs_db_path("unix:/run/db.sock", path, sizeof(path)), 0);
    assert_string_equal(path, "/run/db.sock");
    assert_int_equal(ovs_db_path("/run/db.sock", path, sizeof(path)), 0);
    assert_int_equal(ovs_db_path("tcp:127.0.0.1:6640", path, sizeof(path)), -EINVAL);
    assert_int_equal(ovs_db_path("unix:", path, sizeof(path)), -EINVAL);
    assert_int_equal(ovs_db_path("relative.sock", path, sizeof(path)), -EINVAL);
    char longp[200];
    memset(longp, 'a', sizeof(longp));
    memcpy(longp, "unix:/", 6);
    longp[sizeof(longp) - 1] = 0;
    assert_int_equal(ovs_db_path(longp, path, sizeof(path)), -ENAMETOOLONG);
}

/* ---- A fake ovsdb-server ---- */

struct fake {
    char dir[48], sock[96];
    int lfd;
    pthread_t thr;
    /* Script: for each request received, send the chunks of replies[i]
     * (split at '|'; "%ID%" is replaced by the request's id). NULL: close. */
    const char *const *replies;
    size_t nreplies;
    const char *greeting;   /* sent right after accept, before any request */
    char got[8][1024];      /* requests received, verbatim */
    size_t ngot;
};

static void send_str(int fd, const char *s)
{
    size_t len = strlen(s);
    while (len) {
        ssize_t n = write(fd, s, len);
        if (n <= 0)
            return;
        s += n;
        len -= (size_t)n;
    }
}

static void send_script(int fd, const char *script, long id)
{
    char buf[4096], idbuf[32], *p, *save;

    snprintf(idbuf, sizeof(idbuf), "%ld", id);
    /* substitute %ID% */
    const char *s = script;
    size_t o = 0;
    while (*s && o < sizeof(buf) - 32) {
        if (!strncmp(s, "%ID%", 4)) {
            o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s", idbuf);
            s += 4;
        } else {
            buf[o++] = *s++;
        }
    }
    buf[o] = 0;
    for (p = strtok_r(buf, "|", &save); p; p = strtok_r(NULL, "|", &save)) {
        send_str(fd, p);
        usleep(20000);   /* separate segments */
    }
}

/* Read one complete JSON message from @fd into @out. Returns its "id" or -1. */
static long read_msg(int fd, char *out, size_t len)
{
    struct json_tokener *tok = json_tokener_new();
    struct json_object *o = NULL, *id;
    size_t used = 0;
    long rid = -1;

    while (!o && used < len - 1) {
        char c;
        if (read(fd, &c, 1) != 1)
            break;
        out[used++] = c;
        o = json_tokener_parse_ex(tok, &c, 1);
    }
    out[used] = 0;
    if (o && json_object_object_get_ex(o, "id", &id) && json_object_is_type(id, json_type_int))
        rid = (long)json_object_get_int64(id);
    json_object_put(o);
    json_tokener_free(tok);
    return o ? rid : -2;
}

static void *fake_main(void *arg)
{
    struct fake *f = arg;
    int fd = accept(f->lfd, NULL, NULL);

    if (fd < 0)
        return NULL;
    if (f->greeting)
        send_script(fd, f->greeting, 0);
    for (size_t i = 0; i < f->nreplies; i++) {
        long id = read_msg(fd, f->got[f->ngot < 8 ? f->ngot : 7], sizeof(f->got[0]));
        if (id == -2)
            break;
        f->ngot++;
        if (id == -1) {   /* not a request with an integer id: our echo reply */
            i--;
            continue;
        }
        if (!f->replies[i]) {   /* hang up */
            close(fd);
            return NULL;
        }
        send_script(fd, f->replies[i], id);
    }
    /* Keep the connection open until the client goes away. */
    char c;
    while (read(fd, &c, 1) > 0)
        ;
    close(fd);
    return NULL;
}

static void fake_start(struct fake *f, const char *const *replies, size_t n, const char *greeting)
{
    memset(f, 0, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/sluice-ovsdb-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->sock, sizeof(f->sock), "%s/db.sock", f->dir);
    assert_int_equal(usock_listen(f->sock, 4, 0, &f->lfd), 0);
    f->replies = replies;
    f->nreplies = n;
    f->greeting = greeting;
    assert_int_equal(pthread_create(&f->thr, NULL, fake_main, f), 0);
}

static void fake_stop(struct fake *f)
{
    pthread_join(f->thr, NULL);
    close(f->lfd);
    unlink(f->sock);
    rmdir(f->dir);
}

static char *db_of(struct fake *f)
{
    static char buf[160];
    snprintf(buf, sizeof(buf), "unix:%s", f->sock);
    return buf;
}

static void test_client_basic(void **state)
{
    /* An echo request first, then the reply split over three segments and
     * followed by a notification in the same segment. */
    static const char *const replies[] = {
        "{\"method\":\"echo\",\"params\":[\"ping\"],\"id\":\"echo\"}"
        "{\"id\":%ID%,\"res|ult\":[\"Open_vSw|itch\"],\"error\":null}\n"
        "{\"method\":\"update\",\"params\":[null,{}],\"id\":null}",
        "{\"id\":%ID%,\"result\":null,\"error\":\"unknown method\"}",
    };
    struct ovs_client *c;
    struct json_object *r;
    struct fake f;

    (void)state;
    fake_start(&f, replies, 2, NULL);
    assert_int_equal(ovs_client_create(db_of(&f), &c), 0);
    assert_true(ovs_client_fd(c) >= 0);
    assert_int_equal(ovs_client_call(c, "list_dbs", NULL, 2000, &r), 0);
    assert_string_equal(plain(r), "[\"Open_vSwitch\"]");
    json_object_put(r);
    assert_int_equal(ovs_client_call(c, "frobnicate", NULL, 2000, &r), -EREMOTEIO);
    assert_null(r);
    assert_string_equal(ovs_client_error(c), "unknown method");
    ovs_client_destroy(c);
    fake_stop(&f);
    assert_int_equal(f.ngot, 3);   /* list_dbs, the echo reply, frobnicate */
    assert_non_null(strstr(f.got[0], "\"method\":\"list_dbs\""));
    assert_non_null(strstr(f.got[1], "\"result\":[\"ping\"]"));
    assert_non_null(strstr(f.got[1], "\"id\":\"echo\""));
}

static void test_client_malformed(void **state)
{
    static const char *const garbage[] = { "{\"id\":%ID%,\"result\":[}" };
    static const char *const wrongtype[] = { "[1,2,3]" };
    static const char *const badtxn[] = { "{\"id\":%ID%,\"result\":{\"rows\":[]},\"error\":null}" };
    static const char *const closes[] = { NULL };
    static const char *const silent[] = { "" };
    struct ovs_client *c;
    struct json_object *r;
    struct fake f;

    (void)state;
    fake_start(&f, garbage, 1, NULL);
    assert_int_equal(ovs_client_create(db_of(&f), &c), 0);
    assert_int_equal(ovs_client_call(c, "list_dbs", NULL, 2000, &r), -EPROTO);
    assert_non_null(strstr(ovs_client_error(c), "malformed"));
    /* Broken for good. */
    assert_int_equal(ovs_client_call(c, "list_dbs", NULL, 2000, &r), -EPROTO);
    ovs_client_destroy(c);
    fake_stop(&f);

    fake_start(&f, wrongtype, 1, NULL);
    assert_int_equal(ovs_client_create(db_of(&f), &c), 0);
    assert_int_equal(ovs_client_call(c, "list_dbs", NULL, 2000, &r), -EPROTO);
    ovs_client_destroy(c);
    fake_stop(&f);

    /* A well-formed reply whose transact result is not an array. */
    fake_start(&f, badtxn, 1, NULL);
    assert_int_equal(ovs_client_create(db_of(&f), &c), 0);
    struct ovs_bridge_info *v;
    size_t n;
    assert_int_equal(ovs_br_list(c, &v, &n, 2000), -EPROTO);
    assert_non_null(strstr(ovs_client_error(c), "malformed"));
    ovs_client_destroy(c);
    fake_stop(&f);

    /* The server hangs up after the request. */
    fake_start(&f, closes, 1, NULL);
    assert_int_equal(ovs_client_create(db_of(&f), &c), 0);
    assert_int_equal(ovs_client_call(c, "list_dbs", NULL, 2000, &r), -EPIPE);
    assert_non_null(strstr(ovs_client_error(c), "closed"));
    ovs_client_destroy(c);
    fake_stop(&f);

    /* The server never answers. */
    fake_start(&f, silent, 1, NULL);
    assert_int_equal(ovs_client_create(db_of(&f), &c), 0);
    assert_int_equal(ovs_client_call(c, "list_dbs", NULL, 200, &r), -ETIMEDOUT);
    assert_non_null(strstr(ovs_client_error(c), "no reply"));
    ovs_client_destroy(c);
    fake_stop(&f);
}

static void test_client_ovs_errors(void **state)
{
    /* add-port: the bridge wait fails -> -ENOENT with a clear message. */
    static const char *const nobridge[] = {
        "{\"id\":%ID%,\"result\":[{\"error\":\"timed out\",\"details\":\"\"},null,null,null,null],"
        "\"error\":null}",
    };
    static const char *const portexists[] = {
        "{\"id\":%ID%,\"result\":[{},{\"error\":\"timed out\"},null,null,null],\"error\":null}",
    };
    static const char *const brexists[] = {
        "{\"id\":%ID%,\"result\":[{\"rows\":[{\"_uuid\":[\"uuid\",\"r\"]}]}],\"error\":null}",
        "{\"id\":%ID%,\"result\":[{\"error\":\"timed out\"},null,null,null,null],\"error\":null}",
    };
    static const char *const delmissing[] = {
        "{\"id\":%ID%,\"result\":[{\"rows\":[]}],\"error\":null}",
    };
    struct ovs_client *c;
    struct fake f;

    (void)state;
    fake_start(&f, nobridge, 1, NULL);
    assert_int_equal(ovs_client_create(db_of(&f), &c), 0);
    assert_int_equal(ovs_port_add(c, "nobr", "tap0", NULL, 0, 2000), -ENOENT);
    assert_string_equal(ovs_client_error(c), "bridge nobr does not exist");
    ovs_client_destroy(c);
    fake_stop(&f);
    assert_non_null(strstr(f.got[0], "\"op\":\"wait\""));

    fake_start(&f, portexists, 1, NULL);
    assert_int_equal(ovs_client_create(db_of(&f), &c), 0);
    assert_int_equal(ovs_port_add(c, "br0", "tap0", NULL, 0, 2000), -EEXIST);
    assert_string_equal(ovs_client_error(c), "port tap0 already exists");
    ovs_client_destroy(c);
    fake_stop(&f);

    fake_start(&f, brexists, 2, NULL);
    assert_int_equal(ovs_client_create(db_of(&f), &c), 0);
    assert_int_equal(ovs_br_add(c, "br0", NULL, 2000), -EEXIST);
    assert_string_equal(ovs_client_error(c), "bridge br0 already exists");
    ovs_client_destroy(c);
    fake_stop(&f);
    assert_non_null(strstr(f.got[1], "[\"_uuid\",\"==\",[\"uuid\",\"r\"]]"));

    fake_start(&f, delmissing, 1, NULL);
    assert_int_equal(ovs_client_create(db_of(&f), &c), 0);
    assert_int_equal(ovs_br_del(c, "gone", 2000), -ENOENT);
    assert_string_equal(ovs_client_error(c), "bridge gone does not exist");
    /* Names are checked before anything is sent. */
    assert_int_equal(ovs_br_del(c, "bad/name", 2000), -EINVAL);
    ovs_client_destroy(c);
    fake_stop(&f);
}

static void test_client_connect_errors(void **state)
{
    struct ovs_client *c;

    (void)state;
    assert_int_equal(ovs_client_create("unix:/nonexistent/sluice/db.sock", &c), -ENOENT);
    assert_null(c);
    assert_int_equal(ovs_client_create("tcp:127.0.0.1:6640", &c), -EINVAL);
}

struct async_state {
    int calls, err;
    char result[64];
};

static void async_cb(void *arg, int err, struct json_object *result, const char *errmsg)
{
    struct async_state *s = arg;

    s->calls++;
    s->err = err;
    if (result)
        snprintf(s->result, sizeof(s->result), "%s", plain(result));
}

static void test_client_async(void **state)
{
    static const char *const replies[] = { "{\"id\":%ID%,\"result\":{},\"error\":null}", "" };
    struct async_state s1 = { 0 }, s2 = { 0 };
    struct ovs_client *c;
    struct fake f;

    (void)state;
    fake_start(&f, replies, 2, NULL);
    assert_int_equal(ovs_client_create(db_of(&f), &c), 0);
    assert_int_equal(ovs_client_call_async(c, "get_schema", NULL, async_cb, &s1), 0);
    assert_int_equal(ovs_client_call_async(c, "get_schema", NULL, async_cb, &s2), 0);
    for (int i = 0; i < 100 && !s1.calls; i++) {
        usleep(10000);
        assert_int_equal(ovs_client_process(c), 0);
    }
    assert_int_equal(s1.calls, 1);
    assert_int_equal(s1.err, 0);
    assert_string_equal(s1.result, "{}");
    assert_int_equal(s2.calls, 0);
    /* The second stays pending until the client is destroyed. */
    ovs_client_destroy(c);
    assert_int_equal(s2.calls, 1);
    assert_int_equal(s2.err, -ECANCELED);
    fake_stop(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request),
        cmocka_unit_test(test_check_reply),
        cmocka_unit_test(test_txn_check),
        cmocka_unit_test(test_txn_br_add),
        cmocka_unit_test(test_txn_port_add),
        cmocka_unit_test(test_parse_list),
        cmocka_unit_test(test_db_address),
        cmocka_unit_test(test_client_basic),
        cmocka_unit_test(test_client_malformed),
        cmocka_unit_test(test_client_ovs_errors),
        cmocka_unit_test(test_client_connect_errors),
        cmocka_unit_test(test_client_async),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
