/* SPDX-License-Identifier: Apache-2.0 */
/* Open vSwitch bridges and ports over OVSDB (RFC 7047). */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "net/link.h"
#include "net/ovs.h"

/* ---- Building operations ---- */

static struct json_object *str(const char *s)
{
    return json_object_new_string(s);
}

/* [[column, "==", value]] */
static struct json_object *where_eq(const char *column, struct json_object *value)
{
    struct json_object *w = json_object_new_array();
    struct json_object *c = ovs_cond(column, "==", value);

    if (!w || !c) {
        json_object_put(w);
        json_object_put(c);
        return NULL;
    }
    json_object_array_add(w, c);
    return w;
}

static struct json_object *columns(const char *first, ...)
{
    struct json_object *a = json_object_new_array();
    va_list ap;

    va_start(ap, first);
    for (const char *c = first; a && c; c = va_arg(ap, const char *))
        json_object_array_add(a, str(c));
    va_end(ap);
    return a;
}

/* Build an operation object from (key, value) pairs; NULL values make the
 * whole op NULL (allocation failure propagates). */
static struct json_object *op(const char *name, const char *table, ...)
{
    struct json_object *o = json_object_new_object();
    bool ok = o != NULL;
    va_list ap;

    if (ok) {
        json_object_object_add(o, "op", str(name));
        json_object_object_add(o, "table", str(table));
    }
    va_start(ap, table);
    for (const char *k = va_arg(ap, const char *); k; k = va_arg(ap, const char *)) {
        struct json_object *v = va_arg(ap, struct json_object *);
        if (!v)
            ok = false;
        if (ok)
            json_object_object_add(o, k, v);
        else
            json_object_put(v);
    }
    va_end(ap);
    if (!ok) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

static struct json_object *op_select(const char *table, struct json_object *where,
                                     struct json_object *cols)
{
    return op("select", table, "where", where, "columns", cols, (char *)NULL);
}

/* Fails at once ("timed out") unless the rows matching @where are (until
 * "==") or are not (until "!=") none. */
static struct json_object *op_wait_none(const char *table, struct json_object *where,
                                        const char *until)
{
    return op("wait", table, "where", where, "columns", columns("name", (char *)NULL),
              "until", str(until), "rows", json_object_new_array(),
              "timeout", json_object_new_int(0), (char *)NULL);
}

static struct json_object *op_insert(const char *table, struct json_object *row,
                                     const char *uuid_name)
{
    return op("insert", table, "row", row, "uuid-name", str(uuid_name), (char *)NULL);
}

/* One mutation [column, mutator, value]. */
static struct json_object *mutations1(const char *column, const char *mutator,
                                      struct json_object *value)
{
    struct json_object *all = json_object_new_array();
    struct json_object *m = json_object_new_array();

    if (!all || !m || !value) {
        json_object_put(all);
        json_object_put(m);
        json_object_put(value);
        return NULL;
    }
    json_object_array_add(m, str(column));
    json_object_array_add(m, str(mutator));
    json_object_array_add(m, value);
    json_object_array_add(all, m);
    return all;
}

static struct json_object *set1(struct json_object *elem)
{
    struct json_object *a = json_object_new_array();

    if (!a || !elem) {
        json_object_put(a);
        json_object_put(elem);
        return NULL;
    }
    json_object_array_add(a, elem);
    return ovs_json_set(a);
}

static struct json_object *row(const char *first, ...)
{
    struct json_object *r = json_object_new_object();
    bool ok = r != NULL;
    va_list ap;

    va_start(ap, first);
    for (const char *k = first; k; k = va_arg(ap, const char *)) {
        struct json_object *v = va_arg(ap, struct json_object *);
        if (!v)
            ok = false;
        if (ok)
            json_object_object_add(r, k, v);
        else
            json_object_put(v);
    }
    va_end(ap);
    if (!ok) {
        json_object_put(r);
        return NULL;
    }
    return r;
}

static struct json_object *ext_map(const struct ovs_kv *ext, size_t n)
{
    const char **k = calloc(n + 1, sizeof(*k)), **v = calloc(n + 1, sizeof(*v));
    struct json_object *m = NULL;

    if (k && v) {
        for (size_t i = 0; i < n; i++) {
            k[i] = ext[i].key;
            v[i] = ext[i].value;
        }
        m = ovs_json_map(k, v, n);
    }
    free(k);
    free(v);
    return m;
}

/* Add @o to @txn; on failure drop @txn. Returns @txn or NULL. */
static struct json_object *txn_add(struct json_object *txn, struct json_object *o)
{
    if (!txn)
        return NULL;
    if (ovs_txn_add(txn, o)) {
        json_object_put(txn);
        return NULL;
    }
    return txn;
}

/* Operation indexes in ovs_txn_br_add(). */
enum { BRADD_WAIT_ABSENT, BRADD_IFACE, BRADD_PORT, BRADD_BRIDGE, BRADD_ROOT };

struct json_object *ovs_txn_br_add(const char *br, const char *datapath_type,
                                   const char *ovs_root_uuid)
{
    struct json_object *t = ovs_txn_new();
    struct json_object *brrow;

    t = txn_add(t, op_wait_none("Bridge", where_eq("name", str(br)), "=="));
    t = txn_add(t, op_insert("Interface", row("name", str(br), "type", str("internal"),
                                              (char *)NULL), "iface"));
    t = txn_add(t, op_insert("Port", row("name", str(br),
                                         "interfaces", ovs_json_named_uuid("iface"),
                                         (char *)NULL), "port"));
    if (datapath_type && *datapath_type)
        brrow = row("name", str(br), "ports", ovs_json_named_uuid("port"),
                    "datapath_type", str(datapath_type), (char *)NULL);
    else
        brrow = row("name", str(br), "ports", ovs_json_named_uuid("port"), (char *)NULL);
    t = txn_add(t, op_insert("Bridge", brrow, "bridge"));
    if (ovs_root_uuid)
        t = txn_add(t, op("mutate", "Open_vSwitch",
                          "where", where_eq("_uuid", ovs_json_uuid(ovs_root_uuid)),
                          "mutations", mutations1("bridges", "insert",
                                                  set1(ovs_json_named_uuid("bridge"))),
                          (char *)NULL));
    else
        t = txn_add(t, op("insert", "Open_vSwitch",
                          "row", row("bridges", set1(ovs_json_named_uuid("bridge")),
                                     (char *)NULL), (char *)NULL));
    return t;
}

enum { PADD_WAIT_BR, PADD_WAIT_PORT, PADD_IFACE, PADD_PORT, PADD_MUTATE };

struct json_object *ovs_txn_port_add(const char *br, const char *port,
                                     const struct ovs_kv *ext, size_t n_ext)
{
    struct json_object *t = ovs_txn_new();

    t = txn_add(t, op_wait_none("Bridge", where_eq("name", str(br)), "!="));
    t = txn_add(t, op_wait_none("Port", where_eq("name", str(port)), "=="));
    t = txn_add(t, op_insert("Interface", row("name", str(port), "external_ids",
                                              ext_map(ext, n_ext), (char *)NULL), "iface"));
    t = txn_add(t, op_insert("Port", row("name", str(port),
                                         "interfaces", ovs_json_named_uuid("iface"),
                                         "external_ids", ext_map(ext, n_ext),
                                         (char *)NULL), "port"));
    t = txn_add(t, op("mutate", "Bridge", "where", where_eq("name", str(br)),
                      "mutations", mutations1("ports", "insert",
                                              set1(ovs_json_named_uuid("port"))),
                      (char *)NULL));
    return t;
}

struct json_object *ovs_txn_list(void)
{
    struct json_object *t = ovs_txn_new();

    t = txn_add(t, op_select("Bridge", json_object_new_array(),
                             columns("_uuid", "name", "ports", "datapath_type", "external_ids",
                                     (char *)NULL)));
    t = txn_add(t, op_select("Port", json_object_new_array(),
                             columns("_uuid", "name", "interfaces", (char *)NULL)));
    t = txn_add(t, op_select("Interface", json_object_new_array(),
                             columns("_uuid", "name", "type", "external_ids", (char *)NULL)));
    return t;
}

/* ---- Values ---- */

const char *ovs_value_uuid(struct json_object *v)
{
    struct json_object *tag, *u;

    if (!json_object_is_type(v, json_type_array) || json_object_array_length(v) != 2)
        return NULL;
    tag = json_object_array_get_idx(v, 0);
    u = json_object_array_get_idx(v, 1);
    if (!json_object_is_type(tag, json_type_string) || strcmp(json_object_get_string(tag), "uuid") ||
        !json_object_is_type(u, json_type_string))
        return NULL;
    return json_object_get_string(u);
}

/* True when @v is ["<tag>", <array>]. */
static bool tagged_array(struct json_object *v, const char *tag, struct json_object **elems)
{
    struct json_object *t, *e;

    if (!json_object_is_type(v, json_type_array) || json_object_array_length(v) != 2)
        return false;
    t = json_object_array_get_idx(v, 0);
    e = json_object_array_get_idx(v, 1);
    if (!json_object_is_type(t, json_type_string) || strcmp(json_object_get_string(t), tag) ||
        !json_object_is_type(e, json_type_array))
        return false;
    *elems = e;
    return true;
}

int ovs_value_set_foreach(struct json_object *v, int (*fn)(struct json_object *elem, void *arg),
                          void *arg)
{
    struct json_object *elems;

    if (tagged_array(v, "set", &elems)) {
        for (size_t i = 0; i < json_object_array_length(elems); i++) {
            int rc = fn(json_object_array_get_idx(elems, i), arg);
            if (rc)
                return rc;
        }
        return 0;
    }
    /* An atom: string, number, boolean, or ["uuid", U]. */
    if (!v || json_object_is_type(v, json_type_object) ||
        (json_object_is_type(v, json_type_array) && !ovs_value_uuid(v)))
        return -EPROTO;
    return fn(v, arg);
}

static int kv_cmp(const void *a, const void *b)
{
    return strcmp(((const struct ovs_kv *)a)->key, ((const struct ovs_kv *)b)->key);
}

static void kv_free(struct ovs_kv *kv, size_t n)
{
    for (size_t i = 0; kv && i < n; i++) {
        free(kv[i].key);
        free(kv[i].value);
    }
    free(kv);
}

/* Parse a string->string map value. Returns 0, -EPROTO, -ENOMEM. */
static int parse_map(struct json_object *v, struct ovs_kv **out, size_t *n)
{
    struct json_object *pairs;
    struct ovs_kv *kv;
    size_t cnt;

    *out = NULL;
    *n = 0;
    if (!tagged_array(v, "map", &pairs))
        return -EPROTO;
    cnt = json_object_array_length(pairs);
    if (!cnt)
        return 0;
    kv = calloc(cnt, sizeof(*kv));
    if (!kv)
        return -ENOMEM;
    for (size_t i = 0; i < cnt; i++) {
        struct json_object *p = json_object_array_get_idx(pairs, i), *k, *val;
        if (!json_object_is_type(p, json_type_array) || json_object_array_length(p) != 2 ||
            !json_object_is_type(k = json_object_array_get_idx(p, 0), json_type_string) ||
            !json_object_is_type(val = json_object_array_get_idx(p, 1), json_type_string)) {
            kv_free(kv, i);
            return -EPROTO;
        }
        kv[i].key = strdup(json_object_get_string(k));
        kv[i].value = strdup(json_object_get_string(val));
        if (!kv[i].key || !kv[i].value) {
            kv_free(kv, i + 1);
            return -ENOMEM;
        }
    }
    qsort(kv, cnt, sizeof(*kv), kv_cmp);
    *out = kv;
    *n = cnt;
    return 0;
}

/* ---- Parsing the list result ---- */

/* The "rows" array of select result @i. */
static struct json_object *rows_of(struct json_object *result, size_t i)
{
    struct json_object *r = json_object_array_get_idx(result, i), *rows;

    if (!json_object_is_type(r, json_type_object) || !json_object_object_get_ex(r, "rows", &rows) ||
        !json_object_is_type(rows, json_type_array))
        return NULL;
    return rows;
}

/* Member @name of row @r if it has type @type. */
static struct json_object *member(struct json_object *r, const char *name, enum json_type type)
{
    struct json_object *v;

    if (!json_object_is_type(r, json_type_object) || !json_object_object_get_ex(r, name, &v) ||
        !json_object_is_type(v, type))
        return NULL;
    return v;
}

static const char *row_uuid(struct json_object *r)
{
    struct json_object *v;
    return json_object_object_get_ex(r, "_uuid", &v) ? ovs_value_uuid(v) : NULL;
}

static void port_info_free(struct ovs_port_info *p)
{
    free(p->name);
    free(p->uuid);
    free(p->type);
    kv_free(p->ext, p->n_ext);
}

void ovs_br_list_free(struct ovs_bridge_info *list, size_t n)
{
    for (size_t i = 0; list && i < n; i++) {
        struct ovs_bridge_info *b = &list[i];
        free(b->name);
        free(b->uuid);
        free(b->datapath_type);
        kv_free(b->ext, b->n_ext);
        for (size_t j = 0; j < b->nports; j++)
            port_info_free(&b->ports[j]);
        free(b->ports);
    }
    free(list);
}

/* Find the row in @rows whose _uuid is @uuid. */
static struct json_object *find_row(struct json_object *rows, const char *uuid)
{
    for (size_t i = 0; i < json_object_array_length(rows); i++) {
        struct json_object *r = json_object_array_get_idx(rows, i);
        const char *u = row_uuid(r);
        if (u && !strcmp(u, uuid))
            return r;
    }
    return NULL;
}

struct port_walk {
    struct json_object *ports, *ifaces;
    struct ovs_bridge_info *b;
    char *err;
    size_t errlen;
};

static int first_uuid_cb(struct json_object *elem, void *arg)
{
    const char **out = arg;
    const char *u = ovs_value_uuid(elem);

    if (!u)
        return -EPROTO;
    if (!*out)
        *out = u;
    return 0;
}

static int port_cb(struct json_object *elem, void *arg)
{
    struct port_walk *w = arg;
    const char *uuid = ovs_value_uuid(elem), *iface_uuid = NULL;
    struct json_object *prow, *name, *irow = NULL, *ifaces;
    struct ovs_port_info *p;
    int rc;

    if (!uuid)
        return -EPROTO;
    prow = find_row(w->ports, uuid);
    if (!prow)
        return 0;   /* a dangling reference cannot happen in one snapshot; skip */
    name = member(prow, "name", json_type_string);
    if (!name)
        return -EPROTO;
    if (json_object_object_get_ex(prow, "interfaces", &ifaces)) {
        rc = ovs_value_set_foreach(ifaces, first_uuid_cb, &iface_uuid);
        if (rc)
            return rc;
    }
    if (iface_uuid)
        irow = find_row(w->ifaces, iface_uuid);
    p = realloc(w->b->ports, (w->b->nports + 1) * sizeof(*p));
    if (!p)
        return -ENOMEM;
    w->b->ports = p;
    p = &p[w->b->nports++];
    memset(p, 0, sizeof(*p));
    p->name = strdup(json_object_get_string(name));
    p->uuid = strdup(uuid);
    if (irow) {
        struct json_object *type = member(irow, "type", json_type_string), *ext;
        p->type = strdup(type ? json_object_get_string(type) : "");
        if (json_object_object_get_ex(irow, "external_ids", &ext) &&
            (rc = parse_map(ext, &p->ext, &p->n_ext)))
            return rc;
    } else {
        p->type = strdup("");
    }
    if (!p->name || !p->uuid || !p->type)
        return -ENOMEM;
    return 0;
}

static int port_cmp(const void *a, const void *b)
{
    return strcmp(((const struct ovs_port_info *)a)->name, ((const struct ovs_port_info *)b)->name);
}

static int bridge_cmp(const void *a, const void *b)
{
    return strcmp(((const struct ovs_bridge_info *)a)->name,
                  ((const struct ovs_bridge_info *)b)->name);
}

int ovs_parse_list(struct json_object *result, struct ovs_bridge_info **out, size_t *n,
                   char *err, size_t errlen)
{
    struct json_object *brows, *prows, *irows;
    struct ovs_bridge_info *v = NULL;
    size_t cnt = 0;
    int rc = 0;

    *out = NULL;
    *n = 0;
    if (!json_object_is_type(result, json_type_array) || json_object_array_length(result) < 3 ||
        !(brows = rows_of(result, 0)) || !(prows = rows_of(result, 1)) ||
        !(irows = rows_of(result, 2))) {
        snprintf(err, errlen, "malformed list reply: expected three select results with rows");
        return -EPROTO;
    }
    if (json_object_array_length(brows)) {
        v = calloc(json_object_array_length(brows), sizeof(*v));
        if (!v)
            return -ENOMEM;
    }
    for (size_t i = 0; i < json_object_array_length(brows); i++) {
        struct json_object *r = json_object_array_get_idx(brows, i), *name, *dp, *ports, *ext;
        const char *uuid = row_uuid(r);
        struct ovs_bridge_info *b = &v[cnt++];

        name = member(r, "name", json_type_string);
        if (!uuid || !name || !json_object_object_get_ex(r, "ports", &ports)) {
            snprintf(err, errlen, "malformed list reply: Bridge row %zu lacks _uuid, name or ports", i);
            rc = -EPROTO;
            goto fail;
        }
        dp = member(r, "datapath_type", json_type_string);
        b->name = strdup(json_object_get_string(name));
        b->uuid = strdup(uuid);
        b->datapath_type = strdup(dp ? json_object_get_string(dp) : "");
        if (!b->name || !b->uuid || !b->datapath_type) {
            rc = -ENOMEM;
            goto fail;
        }
        if (json_object_object_get_ex(r, "external_ids", &ext) &&
            (rc = parse_map(ext, &b->ext, &b->n_ext))) {
            snprintf(err, errlen, "malformed list reply: bad external_ids of bridge %s", b->name);
            goto fail;
        }
        struct port_walk w = { .ports = prows, .ifaces = irows, .b = b };
        rc = ovs_value_set_foreach(ports, port_cb, &w);
        if (rc) {
            snprintf(err, errlen, "malformed list reply: bad ports of bridge %s", b->name);
            goto fail;
        }
        if (b->nports > 1)
            qsort(b->ports, b->nports, sizeof(*b->ports), port_cmp);
    }
    if (cnt > 1)
        qsort(v, cnt, sizeof(*v), bridge_cmp);
    *out = v;
    *n = cnt;
    return 0;
fail:
    ovs_br_list_free(v, cnt);
    return rc;
}

/* ---- Operations against a server ---- */

#define client_err ovs_client_set_error

static bool is_timed_out(struct ovs_client *c)
{
    return !strncmp(ovs_client_error(c), "timed out", 9);
}

/* Select the _uuid of the rows of @table where @column == @value; first one
 * into @uuid (size 40). Returns 1 found, 0 none, or -errno. */
static int select_uuid(struct ovs_client *c, const char *table, const char *column,
                       const char *value, char *uuid, int timeout_ms)
{
    struct json_object *t = ovs_txn_new(), *res, *rows;
    const char *u;
    int rc;

    if (value)
        t = txn_add(t, op_select(table, where_eq(column, str(value)),
                                 columns("_uuid", (char *)NULL)));
    else
        t = txn_add(t, op_select(table, json_object_new_array(), columns("_uuid", (char *)NULL)));
    if (!t)
        return -ENOMEM;
    rc = ovs_client_transact(c, t, timeout_ms, &res, NULL);
    if (rc)
        return rc;
    rows = rows_of(res, 0);
    if (!rows) {
        client_err(c, "malformed select reply: no rows");
        rc = -EPROTO;
    } else if (!json_object_array_length(rows)) {
        rc = 0;
    } else if (!(u = row_uuid(json_object_array_get_idx(rows, 0))) || strlen(u) >= 40) {
        client_err(c, "malformed select reply: bad _uuid");
        rc = -EPROTO;
    } else {
        snprintf(uuid, 40, "%s", u);
        rc = 1;
    }
    json_object_put(res);
    return rc;
}

/* Bridge and port names are also kernel interface names (the bridge's
 * internal port is a netdev of the same name). */
static int check_name(struct ovs_client *c, const char *what, const char *name)
{
    int rc = net_name_check(name);

    if (rc)
        client_err(c, "invalid %s name '%s'", what, name ? name : "");
    return rc;
}

int ovs_br_add(struct ovs_client *c, const char *br, const char *datapath_type, int timeout_ms)
{
    char root[40];
    struct json_object *t;
    size_t failed;
    int rc;

    if ((rc = check_name(c, "bridge", br)))
        return rc;
    rc = select_uuid(c, "Open_vSwitch", NULL, NULL, root, timeout_ms);
    if (rc < 0)
        return rc;
    t = ovs_txn_br_add(br, datapath_type, rc ? root : NULL);
    if (!t)
        return -ENOMEM;
    rc = ovs_client_transact(c, t, timeout_ms, NULL, &failed);
    if (rc == -EREMOTEIO && failed == BRADD_WAIT_ABSENT && is_timed_out(c)) {
        client_err(c, "bridge %s already exists", br);
        return -EEXIST;
    }
    if (rc == -EREMOTEIO)
        client_err(c, "cannot add bridge %s: %.400s", br, ovs_client_error(c));
    return rc;
}

int ovs_br_del(struct ovs_client *c, const char *br, int timeout_ms)
{
    char uuid[40];
    struct json_object *t;
    int rc;

    if ((rc = check_name(c, "bridge", br)))
        return rc;
    rc = select_uuid(c, "Bridge", "name", br, uuid, timeout_ms);
    if (rc < 0)
        return rc;
    if (!rc) {
        client_err(c, "bridge %s does not exist", br);
        return -ENOENT;
    }
    t = ovs_txn_new();
    t = txn_add(t, op("mutate", "Open_vSwitch", "where", json_object_new_array(),
                      "mutations", mutations1("bridges", "delete", set1(ovs_json_uuid(uuid))),
                      (char *)NULL));
    if (!t)
        return -ENOMEM;
    rc = ovs_client_transact(c, t, timeout_ms, NULL, NULL);
    if (rc == -EREMOTEIO)
        client_err(c, "cannot delete bridge %s: %.400s", br, ovs_client_error(c));
    return rc;
}

int ovs_port_add(struct ovs_client *c, const char *br, const char *port,
                 const struct ovs_kv *ext, size_t n_ext, int timeout_ms)
{
    struct json_object *t;
    size_t failed;
    int rc;

    if ((rc = check_name(c, "bridge", br)) || (rc = check_name(c, "port", port)))
        return rc;
    for (size_t i = 0; i < n_ext; i++)
        if (!ext[i].key || !*ext[i].key || !ext[i].value) {
            client_err(c, "invalid external_ids entry");
            return -EINVAL;
        }
    t = ovs_txn_port_add(br, port, ext, n_ext);
    if (!t)
        return -ENOMEM;
    rc = ovs_client_transact(c, t, timeout_ms, NULL, &failed);
    if (rc == -EREMOTEIO && is_timed_out(c) && failed == PADD_WAIT_BR) {
        client_err(c, "bridge %s does not exist", br);
        return -ENOENT;
    }
    if (rc == -EREMOTEIO && is_timed_out(c) && failed == PADD_WAIT_PORT) {
        client_err(c, "port %s already exists", port);
        return -EEXIST;
    }
    if (rc == -EREMOTEIO)
        client_err(c, "cannot add port %s to %s: %.400s", port, br, ovs_client_error(c));
    return rc;
}

int ovs_port_del(struct ovs_client *c, const char *br, const char *port, int timeout_ms)
{
    char uuid[40];
    struct json_object *t, *where, *res = NULL, *count;
    size_t failed;
    int rc;

    if ((rc = check_name(c, "bridge", br)) || (rc = check_name(c, "port", port)))
        return rc;
    rc = select_uuid(c, "Port", "name", port, uuid, timeout_ms);
    if (rc < 0)
        return rc;
    if (!rc) {
        /* Say which is missing: the bridge or the port. */
        char bu[40];
        rc = select_uuid(c, "Bridge", "name", br, bu, timeout_ms);
        if (rc < 0)
            return rc;
        if (!rc)
            client_err(c, "bridge %s does not exist", br);
        else
            client_err(c, "port %s does not exist", port);
        return -ENOENT;
    }
    where = where_eq("name", str(br));
    if (where && json_object_array_add(where, ovs_cond("ports", "includes", ovs_json_uuid(uuid)))) {
        json_object_put(where);
        where = NULL;
    }
    t = ovs_txn_new();
    t = txn_add(t, op_wait_none("Bridge", where_eq("name", str(br)), "!="));
    t = txn_add(t, op("mutate", "Bridge", "where", where,
                      "mutations", mutations1("ports", "delete", set1(ovs_json_uuid(uuid))),
                      (char *)NULL));
    if (!t)
        return -ENOMEM;
    rc = ovs_client_transact(c, t, timeout_ms, &res, &failed);
    if (rc == -EREMOTEIO && is_timed_out(c) && failed == 0) {
        client_err(c, "bridge %s does not exist", br);
        return -ENOENT;
    }
    if (rc == -EREMOTEIO)
        client_err(c, "cannot remove port %s: %.400s", port, ovs_client_error(c));
    if (rc)
        return rc;
    count = member(json_object_array_get_idx(res, 1), "count", json_type_int);
    if (!count) {
        client_err(c, "malformed mutate reply: no count");
        rc = -EPROTO;
    } else if (json_object_get_int64(count) == 0) {
        client_err(c, "port %s is not on bridge %s", port, br);
        rc = -ENOENT;
    }
    json_object_put(res);
    return rc;
}

int ovs_br_list(struct ovs_client *c, struct ovs_bridge_info **out, size_t *n, int timeout_ms)
{
    struct json_object *t = ovs_txn_list(), *res;
    int rc;

    *out = NULL;
    *n = 0;
    if (!t)
        return -ENOMEM;
    rc = ovs_client_transact(c, t, timeout_ms, &res, NULL);
    if (rc)
        return rc;
    char err[256] = "";
    rc = ovs_parse_list(res, out, n, err, sizeof(err));
    if (rc == -EPROTO)
        client_err(c, "%s", err);
    json_object_put(res);
    return rc;
}
