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

/* Add the (key, value) pairs of @ap, @first being the first key, to @o
 * (NULL: its allocation failed). A NULL value makes the whole object NULL
 * (allocation failure propagates); then @o and every value are put. */
static struct json_object *add_pairs(struct json_object *o, const char *first, va_list ap)
{
    bool ok = o != NULL;

    for (const char *k = first; k; k = va_arg(ap, const char *)) {
        struct json_object *v = va_arg(ap, struct json_object *);
        if (!v)
            ok = false;
        if (ok)
            json_object_object_add(o, k, v);
        else
            json_object_put(v);
    }
    if (!ok) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

/* Build an operation object from (key, value) pairs (add_pairs()). */
static struct json_object *op(const char *name, const char *table, ...)
{
    struct json_object *o = json_object_new_object();
    va_list ap;

    if (o) {
        json_object_object_add(o, "op", str(name));
        json_object_object_add(o, "table", str(table));
    }
    va_start(ap, table);
    o = add_pairs(o, va_arg(ap, const char *), ap);
    va_end(ap);
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

/* A row object from (key, value) pairs (add_pairs()). */
static struct json_object *row(const char *first, ...)
{
    struct json_object *o;
    va_list ap;

    va_start(ap, first);
    o = add_pairs(json_object_new_object(), first, ap);
    va_end(ap);
    return o;
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
            int r = fn(json_object_array_get_idx(elems, i), arg);
            if (r != 0)     /* a stop value, or an error */
                return r;
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
    struct json_object *o = json_object_array_get_idx(result, i), *rows;

    if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, "rows", &rows) ||
        !json_object_is_type(rows, json_type_array))
        return NULL;
    return rows;
}

/* Member @name of row @r if it has type @type. */
static struct json_object *member(struct json_object *o, const char *name, enum json_type type)
{
    struct json_object *v;

    if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, name, &v) ||
        !json_object_is_type(v, type))
        return NULL;
    return v;
}

static const char *row_uuid(struct json_object *o)
{
    struct json_object *v;
    return json_object_object_get_ex(o, "_uuid", &v) ? ovs_value_uuid(v) : NULL;
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
        struct json_object *o = json_object_array_get_idx(rows, i);
        const char *u = row_uuid(o);
        if (u && !strcmp(u, uuid))
            return o;
    }
    return NULL;
}

struct port_walk {
    struct json_object *ports, *ifaces;
    struct ovs_bridge_info *b;
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
    int r;

    if (!uuid)
        return -EPROTO;
    prow = find_row(w->ports, uuid);
    if (!prow)
        return 0;   /* a dangling reference cannot happen in one snapshot; skip */
    name = member(prow, "name", json_type_string);
    if (!name)
        return -EPROTO;
    if (json_object_object_get_ex(prow, "interfaces", &ifaces)) {
        r = ovs_value_set_foreach(ifaces, first_uuid_cb, &iface_uuid);
        if (r < 0)
            return r;
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
            (r = parse_map(ext, &p->ext, &p->n_ext)) < 0)
            return r;
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
                   struct sl_err *err)
{
    struct json_object *brows, *prows, *irows;
    struct ovs_bridge_info *v = NULL;
    size_t cnt = 0;
    int r = 0;

    *out = NULL;
    *n = 0;
    if (!json_object_is_type(result, json_type_array) || json_object_array_length(result) < 3 ||
        !(brows = rows_of(result, 0)) || !(prows = rows_of(result, 1)) ||
        !(irows = rows_of(result, 2))) {
        return err_set(err, -EPROTO, "malformed list reply: expected three select results with rows");
    }
    if (json_object_array_length(brows)) {
        v = calloc(json_object_array_length(brows), sizeof(*v));
        if (!v)
            return -ENOMEM;
    }
    for (size_t i = 0; i < json_object_array_length(brows); i++) {
        struct json_object *o = json_object_array_get_idx(brows, i), *name, *dp, *ports, *ext;
        const char *uuid = row_uuid(o);
        struct ovs_bridge_info *b = &v[cnt++];

        name = member(o, "name", json_type_string);
        if (!uuid || !name || !json_object_object_get_ex(o, "ports", &ports)) {
            r = err_set(err, -EPROTO, "malformed list reply: Bridge row %zu lacks _uuid, name or ports", i);
            goto fail;
        }
        dp = member(o, "datapath_type", json_type_string);
        b->name = strdup(json_object_get_string(name));
        b->uuid = strdup(uuid);
        b->datapath_type = strdup(dp ? json_object_get_string(dp) : "");
        if (!b->name || !b->uuid || !b->datapath_type) {
            r = -ENOMEM;
            goto fail;
        }
        if (json_object_object_get_ex(o, "external_ids", &ext) &&
            (r = parse_map(ext, &b->ext, &b->n_ext)) < 0) {
            err_set(err, r, "malformed list reply: bad external_ids of bridge %s", b->name);
            goto fail;
        }
        struct port_walk w = { .ports = prows, .ifaces = irows, .b = b };
        r = ovs_value_set_foreach(ports, port_cb, &w);
        if (r < 0) {
            err_set(err, r, "malformed list reply: bad ports of bridge %s", b->name);
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
    return r;
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
    int r;

    if (value)
        t = txn_add(t, op_select(table, where_eq(column, str(value)),
                                 columns("_uuid", (char *)NULL)));
    else
        t = txn_add(t, op_select(table, json_object_new_array(), columns("_uuid", (char *)NULL)));
    if (!t)
        return -ENOMEM;
    r = ovs_client_transact(c, t, timeout_ms, &res, NULL);
    if (r < 0)
        return r;
    rows = rows_of(res, 0);
    if (!rows) {
        client_err(c, "malformed select reply: no rows");
        r = -EPROTO;
    } else if (!json_object_array_length(rows)) {
        r = 0;
    } else if (!(u = row_uuid(json_object_array_get_idx(rows, 0))) || strlen(u) >= 40) {
        client_err(c, "malformed select reply: bad _uuid");
        r = -EPROTO;
    } else {
        snprintf(uuid, 40, "%s", u);
        r = 1;
    }
    json_object_put(res);
    return r;
}

/* Bridge and port names are also kernel interface names (the bridge's
 * internal port is a netdev of the same name). */
static int check_name(struct ovs_client *c, const char *what, const char *name)
{
    int r = net_name_check(name);

    if (r < 0)
        client_err(c, "invalid %s name '%s'", what, name ? name : "");
    return r;
}

int ovs_br_add(struct ovs_client *c, const char *br, const char *datapath_type, int timeout_ms)
{
    char root[40];
    struct json_object *t;
    size_t failed;
    int r;

    if ((r = check_name(c, "bridge", br)) < 0)
        return r;
    r = select_uuid(c, "Open_vSwitch", NULL, NULL, root, timeout_ms);
    if (r < 0)
        return r;
    t = ovs_txn_br_add(br, datapath_type, r > 0 ? root : NULL);
    if (!t)
        return -ENOMEM;
    r = ovs_client_transact(c, t, timeout_ms, NULL, &failed);
    if (r == -EREMOTEIO && failed == BRADD_WAIT_ABSENT && is_timed_out(c)) {
        client_err(c, "bridge %s already exists", br);
        return -EEXIST;
    }
    if (r == -EREMOTEIO)
        client_err(c, "cannot add bridge %s: %.400s", br, ovs_client_error(c));
    return r;
}

int ovs_br_del(struct ovs_client *c, const char *br, int timeout_ms)
{
    char uuid[40];
    struct json_object *t;
    int r;

    if ((r = check_name(c, "bridge", br)) < 0)
        return r;
    r = select_uuid(c, "Bridge", "name", br, uuid, timeout_ms);
    if (r < 0)
        return r;
    if (r == 0) {
        client_err(c, "bridge %s does not exist", br);
        return -ENOENT;
    }
    t = ovs_txn_new();
    t = txn_add(t, op("mutate", "Open_vSwitch", "where", json_object_new_array(),
                      "mutations", mutations1("bridges", "delete", set1(ovs_json_uuid(uuid))),
                      (char *)NULL));
    if (!t)
        return -ENOMEM;
    r = ovs_client_transact(c, t, timeout_ms, NULL, NULL);
    if (r == -EREMOTEIO)
        client_err(c, "cannot delete bridge %s: %.400s", br, ovs_client_error(c));
    return r;
}

int ovs_iface_id_check(const char *id)
{
    size_t n = id ? strlen(id) : 0;

    if (!n)
        return -EINVAL;
    if (n >= OVS_IFACE_ID_MAX)
        return -ENAMETOOLONG;
    for (size_t i = 0; i < n; i++)
        if (id[i] <= ' ' || id[i] > '~' || id[i] == ',')
            return -EINVAL;
    return 0;
}

size_t ovs_port_ext(const char *vm, const char *dev, const char *mac, const char *iface_id,
                    struct ovs_kv ext[OVS_PORT_EXT_MAX])
{
    const char *const keys[OVS_PORT_EXT_MAX] = { "sluice-vm", "sluice-dev", "attached-mac", "iface-id" };
    const char *const values[OVS_PORT_EXT_MAX] = { vm, dev, mac, iface_id };
    size_t n = 0;

    for (size_t i = 0; i < OVS_PORT_EXT_MAX; i++)
        if (values[i])
            ext[n++] = (struct ovs_kv){ (char *)keys[i], (char *)values[i] };
    return n;
}

int ovs_port_add(struct ovs_client *c, const char *br, const char *port,
                 const struct ovs_kv *ext, size_t n_ext, int timeout_ms)
{
    struct json_object *t;
    size_t failed;
    int r;

    if ((r = check_name(c, "bridge", br)) < 0 || (r = check_name(c, "port", port)) < 0)
        return r;
    for (size_t i = 0; i < n_ext; i++)
        if (!ext[i].key || !*ext[i].key || !ext[i].value) {
            client_err(c, "invalid external_ids entry");
            return -EINVAL;
        }
    t = ovs_txn_port_add(br, port, ext, n_ext);
    if (!t)
        return -ENOMEM;
    r = ovs_client_transact(c, t, timeout_ms, NULL, &failed);
    if (r == -EREMOTEIO && is_timed_out(c) && failed == PADD_WAIT_BR) {
        client_err(c, "bridge %s does not exist", br);
        return -ENOENT;
    }
    if (r == -EREMOTEIO && is_timed_out(c) && failed == PADD_WAIT_PORT) {
        client_err(c, "port %s already exists", port);
        return -EEXIST;
    }
    if (r == -EREMOTEIO)
        client_err(c, "cannot add port %s to %s: %.400s", port, br, ovs_client_error(c));
    return r;
}

int ovs_port_del(struct ovs_client *c, const char *br, const char *port, int timeout_ms)
{
    char uuid[40];
    struct json_object *t, *where, *res = NULL, *count;
    size_t failed;
    int r;

    if ((r = check_name(c, "bridge", br)) < 0 || (r = check_name(c, "port", port)) < 0)
        return r;
    r = select_uuid(c, "Port", "name", port, uuid, timeout_ms);
    if (r < 0)
        return r;
    if (r == 0) {
        /* Say which is missing: the bridge or the port. */
        char bu[40];
        r = select_uuid(c, "Bridge", "name", br, bu, timeout_ms);
        if (r < 0)
            return r;
        if (r == 0)
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
    r = ovs_client_transact(c, t, timeout_ms, &res, &failed);
    if (r == -EREMOTEIO && is_timed_out(c) && failed == 0) {
        client_err(c, "bridge %s does not exist", br);
        return -ENOENT;
    }
    if (r == -EREMOTEIO)
        client_err(c, "cannot remove port %s: %.400s", port, ovs_client_error(c));
    if (r < 0)
        return r;
    count = member(json_object_array_get_idx(res, 1), "count", json_type_int);
    if (!count) {
        client_err(c, "malformed mutate reply: no count");
        r = -EPROTO;
    } else if (json_object_get_int64(count) == 0) {
        client_err(c, "port %s is not on bridge %s", port, br);
        r = -ENOENT;
    }
    json_object_put(res);
    return r;
}

int ovs_br_list(struct ovs_client *c, struct ovs_bridge_info **out, size_t *n, int timeout_ms)
{
    struct json_object *t = ovs_txn_list(), *res;
    int r;

    *out = NULL;
    *n = 0;
    if (!t)
        return -ENOMEM;
    r = ovs_client_transact(c, t, timeout_ms, &res, NULL);
    if (r < 0)
        return r;
    struct sl_err err = ERR_INIT;
    r = ovs_parse_list(res, out, n, &err);
    if (r == -EPROTO)
        client_err(c, "%s", err.msg);
    json_object_put(res);
    return r;
}
