/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for option parsing in net/: network specs, interface names,
 * addresses, tap and host-only names; and the `sluice net` CLI's argument
 * handling (tools/sluice/cmd-net.c, with the cli_* helpers stubbed so the
 * reported object and reason can be checked). Nothing here needs root: every
 * case fails or finishes before touching the kernel. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sched.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "cli.h"
#include "net/attach.h"
#include "net/hostonly.h"
#include "net/link.h"
#include "net/ovs.h"
#include "net/ovsdb.h"
#include "net/shaper.h"
#include "net/tap.h"

/* ---- cli_* stubs (tools/sluice/main.c has the real ones and main()) ---- */

static char last_object[64], last_reason[512];

static void record(const char *object, const char *fmt, va_list ap)
{
    snprintf(last_object, sizeof(last_object), "%s", object);
    vsnprintf(last_reason, sizeof(last_reason), fmt, ap);
}

int cli_fail(const char *object, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    record(object, fmt, ap);
    va_end(ap);
    return EXIT_FAIL;
}

int cli_usage(const char *object, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    record(object, fmt, ap);
    va_end(ap);
    return EXIT_USAGE;
}

/* Run `sluice net ARGS...` (NULL-terminated) and return its exit status. */
static int run(const char *first, ...)
{
    char *argv[32];
    int argc = 0;
    va_list ap;

    last_object[0] = last_reason[0] = 0;
    argv[argc++] = (char *)"net";
    va_start(ap, first);
    for (const char *a = first; a && argc < 31; a = va_arg(ap, const char *))
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    fflush(stdout);
    return cmd_net(argc, argv);
}

/* ---- library parsers ---- */

/* Rate-limit options (net/shaper.h): parsing, the checks, the default
 * bucket, the ifb name; and a tap that does not exist is refused before any
 * tc object is made. */
static void test_shape(void **state)
{
    struct sl_err err = ERR_INIT;
    struct net_shape sh = { 0 };
    char a[IFNAMSIZ], b[IFNAMSIZ];
    (void)state;

    assert_int_equal(net_shape_option(&sh, "tx-rate", "20M", &err), 1);
    assert_int_equal(net_shape_option(&sh, "rx-rate", "1500kbit", &err), 1);
    assert_int_equal(net_shape_option(&sh, "burst", "256K", &err), 1);
    assert_true(sh.tx_bps == 20000000 && sh.rx_bps == 1500000 && sh.burst == 256 * 1024);
    assert_int_equal(net_shape_option(&sh, "mtu", "1500", &err), 0);
    assert_int_equal(net_shape_option(&sh, "tx-rate", "20Mbps", &err), -EINVAL);
    assert_non_null(strstr(err.msg, "tx-rate"));
    assert_int_equal(net_shape_option(&sh, "burst", "", &err), -EINVAL);
    assert_int_equal(net_shape_option(&sh, "rx-rate", NULL, &err), -EINVAL);
    assert_true(sh.tx_bps == 20000000 && sh.rx_bps == 1500000 && sh.burst == 256 * 1024);
    assert_int_equal(net_shape_check(&sh, &err), 0);

    struct net_shape bad[] = {
        { .rx_bps = 7999 }, { .tx_bps = 16000000001ull }, { .burst = (64 << 20) + 1 },
        { .rx_bps = 8000, .burst = 10001 },   /* over 10 s at 1000 bytes/s */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(net_shape_check(&bad[i], &err), -EINVAL);
    struct net_shape edge = { .rx_bps = 8000, .tx_bps = 16000000000ull, .burst = 10000 };
    assert_int_equal(net_shape_check(&edge, &err), 0);

    /* Default bucket: 10 ms at the rate, >= 16 KiB, >= one frame. */
    struct net_shape d = { 0 };
    assert_int_equal(net_shape_burst(&d, 20000000, 1500), 25000);
    assert_int_equal(net_shape_burst(&d, 1000000, 1500), 16384);
    assert_int_equal(net_shape_burst(&d, 1000000, 65000), 65018);
    assert_int_equal(net_shape_burst(&sh, 1000000, 65000), 256 * 1024);

    net_shaper_ifb_name("sl-vm1-0", a, sizeof(a));
    net_shaper_ifb_name("sl-vm2-0", b, sizeof(b));
    assert_int_equal(strlen(a), IFNAMSIZ - 1);
    assert_memory_equal(a, "sl-ifb-", 7);
    assert_string_not_equal(a, b);
    net_shaper_ifb_name("sl-vm1-0", b, sizeof(b));
    assert_string_equal(a, b);

    assert_int_equal(net_shaper_set("sl-no-such-tap", &sh, &err), -ENODEV);
    assert_int_equal(net_shaper_set("sl-no-such-tap", &bad[0], &err), -EINVAL);
}

static void test_spec_parse(void **state)
{
    struct net_spec s;
    struct sl_err e = ERR_INIT;

    (void)state;
    assert_int_equal(net_spec_parse("bridge=br0", &s, &e), 0);
    assert_int_equal(s.kind, NET_KIND_BRIDGE);
    assert_string_equal(s.target, "br0");
    assert_string_equal(s.db, "");
    assert_int_equal(net_spec_parse("hostonly=lab", &s, NULL), 0);
    assert_int_equal(s.kind, NET_KIND_HOSTONLY);
    assert_string_equal(s.target, "lab");
    assert_int_equal(net_spec_parse("ovs=ovsbr0", &s, NULL), 0);
    assert_int_equal(s.kind, NET_KIND_OVS);
    assert_int_equal(net_spec_parse("ovs=ovsbr0,db=unix:/run/ovs/db.sock", &s, NULL), 0);
    assert_string_equal(s.db, "unix:/run/ovs/db.sock");
    assert_int_equal(net_spec_parse("db=/x.sock,ovs=b", &s, NULL), 0);   /* any order */
    assert_string_equal(s.target, "b");
    assert_string_equal(s.iface_id, "");
    /* OVN: the logical switch port the interface is bound to. */
    assert_int_equal(net_spec_parse("ovs=br-int,iface-id=lsp-a", &s, &e), 0);
    assert_string_equal(s.target, "br-int");
    assert_string_equal(s.iface_id, "lsp-a");
    assert_int_equal(net_spec_parse("iface-id=0b7e4f0c-3c5e-4d7a-9a43-6f1d2c0e8a11,db=unix:/x,ovs=b", &s, &e), 0);
    assert_string_equal(s.iface_id, "0b7e4f0c-3c5e-4d7a-9a43-6f1d2c0e8a11");
    assert_string_equal(s.db, "unix:/x");

    static const char *const invalid[] = {
        "bridge=br0,iface-id=lsp", "hostonly=h,iface-id=lsp", "iface-id=lsp", "ovs=b,iface-id=",
        "ovs=b,iface-id", "ovs=b,iface-id=a b", "ovs=b,iface-id=a,,b", "ovs=b,iface-id=a\tb",
        "", "br0", "bridge", "bridge=", "bridge=br0,ovs=b", "bridge=a,bridge=b",
        "bridge=br0,db=unix:/x", "ovs=b,db=tcp:1.2.3.4:6640", "ovs=b,db=", "ovs=b,mtu=9000",
        "bridge=a/b", "bridge=has space", "hostonly=a:b", "tap=tap0",
    };
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        err_clear(&e);
        assert_int_equal(net_spec_parse(invalid[i], &s, &e), -EINVAL);
        assert_true(err_isset(&e));
    }
    assert_int_equal(net_spec_parse(NULL, &s, &e), -EINVAL);
    assert_int_equal(net_spec_parse("bridge=0123456789abcdef", &s, &e), -ENAMETOOLONG);
    /* sh- + 13 bytes is too long for a host-only bridge. */
    assert_int_equal(net_spec_parse("hostonly=0123456789abc", &s, &e), -ENAMETOOLONG);
    assert_int_equal(net_spec_parse("hostonly=0123456789ab", &s, &e), 0);
    char id[OVS_IFACE_ID_MAX + 32];
    int n = snprintf(id, sizeof(id), "ovs=b,iface-id=");
    memset(id + n, 'x', OVS_IFACE_ID_MAX - 1);
    id[n + OVS_IFACE_ID_MAX - 1] = 0;
    assert_int_equal(net_spec_parse(id, &s, &e), 0);
    assert_int_equal(strlen(s.iface_id), OVS_IFACE_ID_MAX - 1);
    strcat(id, "x");
    assert_int_equal(net_spec_parse(id, &s, &e), -ENAMETOOLONG);
    assert_string_equal(e.msg, "iface-id= must name a logical switch port (" OVS_IFACE_ID_RULE ")");
}

/* The typed seam: a spec made from parts (as sluiced does) equals the one
 * parsed from its string form, and prints back as that string. */
static void test_spec_make_format(void **state)
{
    static const char *const forms[] = { "bridge=br0", "hostonly=lab", "ovs=ovsbr0",
                                         "ovs=b,db=unix:/run/ovs/db.sock", "ovs=br-int,iface-id=lsp-a",
                                         "ovs=b,db=unix:/run/ovs/db.sock,iface-id=vm1.net0" };
    struct net_spec a, b;
    struct sl_err e = ERR_INIT;
    char buf[NET_SPEC_STRLEN];

    (void)state;
    assert_int_equal(net_spec_make(NET_KIND_OVS, "b", "unix:/run/ovs/db.sock", NULL, &a, &e), 0);
    assert_int_equal(net_spec_parse("db=unix:/run/ovs/db.sock,ovs=b", &b, &e), 0);
    assert_memory_equal(&a, &b, sizeof(a));
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        assert_int_equal(net_spec_parse(forms[i], &a, &e), 0);
        assert_int_equal(net_spec_format(&a, buf, sizeof(buf)), 0);
        assert_string_equal(buf, forms[i]);
    }
    assert_int_equal(net_spec_format(&a, buf, 8), -ENAMETOOLONG);
    /* Each wrong part, with a reason. */
    assert_int_equal(net_spec_make(NET_KIND_BRIDGE, "a/b", NULL, NULL, &a, &e), -EINVAL);
    assert_string_equal(e.msg, "invalid network name");
    assert_int_equal(net_spec_make(NET_KIND_BRIDGE, "", NULL, NULL, &a, &e), -EINVAL);
    assert_int_equal(net_spec_make(NET_KIND_BRIDGE, "0123456789abcdef", NULL, NULL, &a, &e), -ENAMETOOLONG);
    assert_int_equal(net_spec_make(NET_KIND_BRIDGE, "br0", "unix:/x", NULL, &a, &e), -EINVAL);
    assert_string_equal(e.msg, "db= applies to ovs= only");
    assert_int_equal(net_spec_make(NET_KIND_OVS, "b", "tcp:1.2.3.4:6640", NULL, &a, &e), -EINVAL);
    assert_int_equal(net_spec_make(NET_KIND_BRIDGE, "br0", NULL, "lsp", &a, &e), -EINVAL);
    assert_string_equal(e.msg, "iface-id= applies to ovs= only");
    assert_int_equal(net_spec_make(NET_KIND_OVS, "b", NULL, "", &a, &e), -EINVAL);
    assert_int_equal(net_spec_make(NET_KIND_OVS, "b", NULL, "lsp", &a, &e), 0);
    assert_string_equal(a.iface_id, "lsp");
    assert_int_equal(net_spec_make((enum net_kind)7, "b", NULL, NULL, &a, &e), -EINVAL);
}

static void test_names(void **state)
{
    char buf[32];

    (void)state;
    assert_int_equal(net_name_check("br0"), 0);
    assert_int_equal(net_name_check("sl-net0-0"), 0);
    assert_int_equal(net_name_check("0123456789abcde"), 0);        /* 15 bytes */
    assert_int_equal(net_name_check("0123456789abcdef"), -ENAMETOOLONG);
    assert_int_equal(net_name_check(""), -EINVAL);
    assert_int_equal(net_name_check(NULL), -EINVAL);
    assert_int_equal(net_name_check("."), -EINVAL);
    assert_int_equal(net_name_check(".."), -EINVAL);
    assert_int_equal(net_name_check("a/b"), -EINVAL);
    assert_int_equal(net_name_check("a:1"), -EINVAL);
    assert_int_equal(net_name_check("a b"), -EINVAL);
    assert_int_equal(net_name_check("a\tb"), -EINVAL);
    assert_int_equal(net_name_check("\xc3\xa9"), -EINVAL);

    assert_int_equal(tap_make_name("net0", 0, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "sl-net0-0");
    assert_int_equal(tap_make_name("abcdefghi", 12, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "sl-abcdefghi-12");
    assert_int_equal(tap_make_name("abcdefghij", 12, buf, sizeof(buf)), -ENAMETOOLONG);
    assert_int_equal(tap_make_name("net0", 0, buf, 5), -ENAMETOOLONG);
    assert_int_equal(tap_make_name("", 0, buf, sizeof(buf)), -EINVAL);
    assert_int_equal(tap_make_name("a/b", 0, buf, sizeof(buf)), -EINVAL);

    assert_int_equal(hostonly_bridge_name("lab", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "sh-lab");
    assert_int_equal(hostonly_bridge_name("0123456789ab", buf, sizeof(buf)), 0);
    assert_int_equal(hostonly_bridge_name("0123456789abc", buf, sizeof(buf)), -ENAMETOOLONG);
    assert_int_equal(hostonly_bridge_name("", buf, sizeof(buf)), -EINVAL);
    assert_int_equal(hostonly_bridge_name("a/b", buf, sizeof(buf)), -EINVAL);
}

static void test_cidr(void **state)
{
    int fam = 0;

    (void)state;
    assert_int_equal(net_cidr_check("10.0.0.1/24", &fam), 0);
    assert_int_equal(fam, AF_INET);
    assert_int_equal(net_cidr_check("10.0.0.1/32", NULL), 0);
    assert_int_equal(net_cidr_check("10.0.0.1/0", NULL), 0);
    assert_int_equal(net_cidr_check("fd00::1/64", &fam), 0);
    assert_int_equal(fam, AF_INET6);
    assert_int_equal(net_cidr_check("fd00::1/128", NULL), 0);
    static const char *const bad[] = {
        "10.0.0.1", "10.0.0.1/", "10.0.0.1/33", "10.0.0.1/-1", "10.0.0.1/24x", "10.0.0/24",
        "/24", "fd00::1/129", "host/24", "10.0.0.1/ 24", "", "10.0.0.1/+4",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(net_cidr_check(bad[i], NULL), -EINVAL);
    assert_int_equal(net_cidr_check(NULL, NULL), -EINVAL);
}

static void test_tap_open_args(void **state)
{
    struct tap *t = (struct tap *)1;

    (void)state;
    assert_int_equal(tap_open(NULL, 0, 0, &t), -EINVAL);
    assert_null(t);
    assert_int_equal(tap_open(NULL, TAP_MAX_QUEUES + 1, 0, &t), -EINVAL);
    assert_int_equal(tap_open(NULL, 1, 1u << 7, &t), -EINVAL);
    assert_int_equal(tap_open("a/b", 1, 0, &t), -EINVAL);
    assert_int_equal(tap_open("0123456789abcdef", 1, 0, &t), -ENAMETOOLONG);
    tap_close(NULL);
}

/* ---- the CLI ---- */

static void test_cli_help(void **state)
{
    (void)state;
    assert_int_equal(run("--help", NULL), EXIT_OK);
    assert_int_equal(run(NULL), EXIT_USAGE);
    for (size_t i = 0; i < 4; i++) {
        static const char *const groups[] = { "bridge", "hostonly", "ovs", "tap" };
        assert_int_equal(run(groups[i], "--help", NULL), EXIT_OK);
        assert_int_equal(run(groups[i], "-h", NULL), EXIT_OK);
        assert_int_equal(run(groups[i], NULL), EXIT_USAGE);
        assert_int_equal(run(groups[i], "frob", NULL), EXIT_USAGE);
        assert_string_equal(last_object, groups[i]);
        assert_non_null(strstr(last_reason, "unknown verb 'frob'"));
    }
    assert_int_equal(run("bridge", "create", "--help", NULL), EXIT_OK);
    assert_int_equal(run("ovs", "list", "--help", NULL), EXIT_OK);
    assert_int_equal(run("attach", "--help", NULL), EXIT_OK);
    assert_int_equal(run("frob", NULL), EXIT_USAGE);
    assert_string_equal(last_object, "net");
}

static void test_cli_usage_errors(void **state)
{
    (void)state;
    /* Wrong number of positional arguments. */
    assert_int_equal(run("bridge", "create", NULL), EXIT_USAGE);
    assert_int_equal(run("bridge", "create", "a", "b", NULL), EXIT_USAGE);
    assert_int_equal(run("bridge", "add-port", "br0", NULL), EXIT_USAGE);
    assert_int_equal(run("bridge", "list", "extra", NULL), EXIT_USAGE);
    assert_int_equal(run("ovs", "add-port", "br0", NULL), EXIT_USAGE);
    assert_int_equal(run("attach", "tap0", NULL), EXIT_USAGE);
    /* Unknown options, missing values, options of another verb. */
    assert_int_equal(run("bridge", "list", "--frob", NULL), EXIT_USAGE);
    assert_non_null(strstr(last_reason, "unknown option --frob"));
    assert_int_equal(run("bridge", "create", "br0", "--mtu", NULL), EXIT_USAGE);
    assert_non_null(strstr(last_reason, "needs a value"));
    assert_int_equal(run("bridge", "delete", "br0", "--json", NULL), EXIT_USAGE);
    assert_non_null(strstr(last_reason, "does not apply"));
    assert_int_equal(run("bridge", "list", "--db", "unix:/x", NULL), EXIT_USAGE);
    assert_int_equal(run("tap", "create", "t0", "--vm", "x", NULL), EXIT_USAGE);
    /* Bad values. */
    assert_int_equal(run("bridge", "create", "br0", "--mtu", "12", NULL), EXIT_USAGE);
    assert_int_equal(run("bridge", "create", "br0", "--mtu", "9k", NULL), EXIT_USAGE);
    assert_int_equal(run("bridge", "create", "br0", "--mtu", "70000", NULL), EXIT_USAGE);
    assert_int_equal(run("bridge", "create", "br0", "--addr", "10.0.0.1", NULL), EXIT_USAGE);
    assert_string_equal(last_object, "br0");
    assert_int_equal(run("tap", "create", "t0", "--queues", "0", NULL), EXIT_USAGE);
    assert_int_equal(run("tap", "create", "t0", "--queues", "65", NULL), EXIT_USAGE);
    assert_int_equal(run("tap", "create", "t0", "--user", "no-such-user-sluice", NULL), EXIT_USAGE);
    assert_int_equal(run("bridge", "set", "br0", "--up", "--down", NULL), EXIT_USAGE);
    assert_int_equal(run("bridge", "set", "br0", NULL), EXIT_USAGE);
    assert_non_null(strstr(last_reason, "nothing to set"));
    /* Host-only: --addr required, IPv4 only, name length. */
    assert_int_equal(run("hostonly", "create", "lab", NULL), EXIT_USAGE);
    assert_int_equal(run("hostonly", "create", "lab", "--addr", "fd00::1/64", NULL), EXIT_USAGE);
    assert_non_null(strstr(last_reason, "IPv4"));
    assert_int_equal(run("hostonly", "create", "averyveryverylongname", "--addr", "10.0.0.1/24",
                         NULL), EXIT_USAGE);
    /* Attach specs. */
    assert_int_equal(run("attach", "tap0", "switch=br0", NULL), EXIT_USAGE);
    assert_int_equal(run("attach", "tap0", "bridge=br0", "--db", "unix:/x", NULL), EXIT_USAGE);
    assert_non_null(strstr(last_reason, "ovs= only"));
    assert_int_equal(run("detach", "tap0", "bridge=br0", "--vm", "x", NULL), EXIT_USAGE);
    assert_int_equal(run("attach", "bad/name", "bridge=br0", NULL), EXIT_USAGE);
    /* Options may follow positional arguments (GNU style), and the parser
     * is reusable within one process. */
    assert_int_equal(run("ovs", "--db", "tcp:1.2.3.4:6640", "list", NULL), EXIT_USAGE);
    assert_int_equal(run("ovs", "list", "--db", "tcp:1.2.3.4:6640", NULL), EXIT_USAGE);
    assert_string_equal(last_object, "ovs");
    assert_non_null(strstr(last_reason, "unix:PATH"));
}

/* Run `sluice net` with the @n arguments of @v (NULLs are skipped). */
static int run_v(const char *const *v, size_t n)
{
    char *argv[32];
    int argc = 0;

    last_object[0] = last_reason[0] = 0;
    argv[argc++] = (char *)"net";
    for (size_t i = 0; i < n && argc < 31; i++)
        if (v[i])
            argv[argc++] = (char *)v[i];
    argv[argc] = NULL;
    fflush(stdout);
    return cmd_net(argc, argv);
}

/* Every option that takes a value, on every verb that takes it: missing at
 * the end, followed by another option, or empty, it is a usage error that
 * names the option (before, "--mtu --down" took "--down" as the MTU, and
 * "--vm --dev x" took "--dev" as the VM). */
static void test_cli_missing_values(void **state)
{
    static const struct {
        const char *argv[4];   /* group, verb and positional arguments */
        const char *opts[6];   /* the verb's options that take a value */
    } verbs[] = {
        { { "bridge", "create", "br0" }, { "--mtu", "--addr" } },
        { { "bridge", "set", "br0" }, { "--mtu", "--addr", "--del-addr" } },
        { { "hostonly", "create", "lab" }, { "--addr", "--mtu" } },
        { { "ovs", "create", "ob0" }, { "--datapath", "--db" } },
        { { "ovs", "delete", "ob0" }, { "--db" } },
        { { "ovs", "list" }, { "--db" } },
        { { "ovs", "show", "ob0" }, { "--db" } },
        { { "ovs", "add-port", "ob0", "p0" }, { "--vm", "--dev", "--mac", "--db" } },
        { { "ovs", "del-port", "ob0", "p0" }, { "--db" } },
        { { "tap", "create", "t0" }, { "--queues", "--user", "--group", "--mtu" } },
        { { "tap", "set", "t0" }, { "--mtu" } },
        { { "attach", "sl-nosuch-0", "bridge=nosuchbr" }, { "--vm", "--dev", "--mac", "--db" } },
        { { "detach", "sl-nosuch-0", "ovs=nosuchbr" }, { "--db" } },
    };
    char want[64], eq[64];
    size_t checked = 0;

    (void)state;
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
        for (size_t k = 0; verbs[i].opts[k]; k++) {
            const char *o = verbs[i].opts[k];
            snprintf(want, sizeof(want), "option %s needs a value", o);
            snprintf(eq, sizeof(eq), "%s=", o);
            /* At the end; followed by another option; "--opt="; "--opt ''";
             * and before the positional arguments, followed by an option. */
            const char *tails[4][2] = { { o, NULL }, { o, "--json" }, { eq, NULL }, { o, "" } };
            for (size_t t = 0; t < 5; t++) {
                const char *v[8] = { verbs[i].argv[0], verbs[i].argv[1] };
                if (t < 4) {
                    v[2] = verbs[i].argv[2], v[3] = verbs[i].argv[3];
                    v[4] = tails[t][0], v[5] = tails[t][1];
                } else {
                    v[2] = o, v[3] = "--json", v[4] = verbs[i].argv[2], v[5] = verbs[i].argv[3];
                }
                int rc = run_v(v, 6);
                if (rc != EXIT_USAGE || !strstr(last_reason, want))
                    fail_msg("net %s %s %s %s %s %s: exit %d, '%s: %s'", v[0], v[1],
                             v[2] ? v[2] : "", v[3] ? v[3] : "", v[4] ? v[4] : "",
                             v[5] ? v[5] : "", rc, last_object, last_reason);
                checked++;
            }
        }
    }
    assert_int_equal(checked, 5 * 27);   /* 27 (verb, option) pairs */
}

/* Invalid and too long names are usage errors (exit 2) for every group,
 * reported as `sluice: NAME: invalid name (...)`. BAD marks where the bad
 * name goes. */
static void test_cli_invalid_names(void **state)
{
    static const char BAD[] = "<bad>";
    static const char *const bad[] = { "a/b", "a:b", "has space", "0123456789abcdef" };
    static const char *const cmds[][4] = {
        { "bridge", "create", BAD }, { "bridge", "delete", BAD }, { "bridge", "show", BAD },
        { "bridge", "set", BAD, "--up" }, { "bridge", "add-port", "br0", BAD },
        { "bridge", "del-port", BAD, "p0" },
        { "tap", "create", BAD }, { "tap", "delete", BAD }, { "tap", "set", BAD, "--up" },
        { "hostonly", "delete", BAD }, { "hostonly", "show", BAD },
        { "hostonly", "create", BAD, "--addr=10.9.0.1/24" },
        { "ovs", "create", BAD }, { "ovs", "delete", BAD }, { "ovs", "show", BAD },
        { "ovs", "add-port", "ob0", BAD }, { "ovs", "del-port", BAD, "p0" },
        { "attach", BAD, "bridge=br0" }, { "detach", BAD, "bridge=br0" },
    };

    (void)state;
    for (size_t c = 0; c < sizeof(cmds) / sizeof(cmds[0]); c++) {
        for (size_t b = 0; b < sizeof(bad) / sizeof(bad[0]); b++) {
            const char *v[4];
            for (int k = 0; k < 4; k++)
                v[k] = cmds[c][k] == BAD ? bad[b] : cmds[c][k];
            int rc = run_v(v, 4);
            if (rc != EXIT_USAGE || strcmp(last_object, bad[b]) ||
                !strstr(last_reason, "invalid name"))
                fail_msg("net %s %s %s %s: exit %d, '%s: %s'", v[0], v[1], v[2], v[3] ? v[3] : "",
                         rc, last_object, last_reason);
        }
    }
    /* Host-only names are at most 12 bytes (the bridge is sh-NAME). */
    assert_int_equal(run("hostonly", "delete", "0123456789abc", NULL), EXIT_USAGE);
    assert_non_null(strstr(last_reason, "at most 12 bytes"));
    assert_int_equal(run("bridge", "create", "", NULL), EXIT_USAGE);
    assert_non_null(strstr(last_reason, "invalid name"));
}

/* Host addresses of host-only networks: the network and broadcast addresses,
 * /31 and /32, and non-unicast addresses are refused before anything is
 * made; overlapping subnets are found by net_cidr_overlap(). */
static void test_hostonly_addr(void **state)
{
    struct sl_err e = ERR_INIT;
    const char *err = e.msg;
    struct net_cidr a, b;

    (void)state;
    static const char *const bad[] = {
        "10.77.0.0/24", "10.77.0.255/24", "10.77.0.3/30", "10.77.0.4/30", "10.0.0.0/8",
        "10.77.0.1/31", "10.77.0.1/32", "10.77.0.1/7", "127.0.0.2/24", "0.1.2.3/24",
        "224.0.0.1/24", "255.255.255.254/24", "10.77.0.1", "bogus/24",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err_clear(&e);
        if (hostonly_check_addr(bad[i], &e) != -EINVAL || !err[0])
            fail_msg("%s accepted (%s)", bad[i], err);
    }
    assert_int_equal(hostonly_check_addr("10.77.0.0/24", &e), -EINVAL);
    assert_non_null(strstr(err, "network address of 10.77.0.0/24"));
    assert_int_equal(hostonly_check_addr("10.77.0.255/24", &e), -EINVAL);
    assert_non_null(strstr(err, "broadcast address of 10.77.0.0/24"));
    assert_int_equal(hostonly_check_addr("fd00::1/64", &e), -EAFNOSUPPORT);
    assert_int_equal(run("hostonly", "create", "lab", "--addr", "10.77.0.255/24", NULL), EXIT_USAGE);
    assert_non_null(strstr(last_reason, "broadcast address"));

    assert_int_equal(net_cidr_parse("10.77.0.1/24", &a), 0);
    assert_int_equal(net_cidr_parse("10.77.5.1/16", &b), 0);
    assert_true(net_cidr_overlap(&a, &b));
    assert_true(net_cidr_overlap(&b, &a));
    assert_int_equal(net_cidr_parse("10.78.0.1/24", &b), 0);
    assert_false(net_cidr_overlap(&a, &b));
    assert_int_equal(net_cidr_parse("10.77.0.129/25", &b), 0);
    assert_true(net_cidr_overlap(&a, &b));
    assert_int_equal(net_cidr_parse("10.77.1.1/23", &b), 0);   /* 10.77.0.0/23 */
    assert_true(net_cidr_overlap(&a, &b));
    assert_int_equal(net_cidr_parse("10.77.0.1/25", &a), 0);
    assert_int_equal(net_cidr_parse("10.77.0.129/25", &b), 0);
    assert_false(net_cidr_overlap(&a, &b));
    assert_int_equal(net_cidr_parse("fd00::1/64", &b), 0);
    assert_false(net_cidr_overlap(&a, &b));
}

static void test_cli_quiet(void **state)
{
    (void)state;
    cli_quiet = false;
    /* Accepted by every verb, before or after its arguments. */
    assert_int_equal(run("bridge", "create", "a/b", "--quiet", NULL), EXIT_USAGE);
    assert_non_null(strstr(last_reason, "invalid name"));
    assert_true(cli_quiet);
    cli_quiet = false;
    assert_int_equal(run("tap", "delete", "-q", "a/b", NULL), EXIT_USAGE);
    assert_non_null(strstr(last_reason, "invalid name"));
    assert_true(cli_quiet);
    cli_quiet = false;
    assert_int_equal(run("--quiet", "bridge", "create", "a/b", NULL), EXIT_USAGE);
    assert_non_null(strstr(last_reason, "invalid name"));
    assert_true(cli_quiet);
    cli_quiet = false;
}

static void test_cli_ovs_no_server(void **state)
{
    (void)state;
    /* --db, then $SLUICE_OVSDB, then the default. */
    assert_int_equal(run("ovs", "list", "--db", "unix:/nonexistent/sluice/db.sock", NULL), EXIT_FAIL);
    assert_string_equal(last_object, "ovs");
    assert_non_null(strstr(last_reason, "cannot connect to ovsdb-server at unix:/nonexistent/sluice/db.sock"));
    assert_non_null(strstr(last_reason, "is ovsdb-server running?"));

    setenv(OVS_DB_ENV, "unix:/nonexistent/env/db.sock", 1);
    assert_int_equal(run("ovs", "create", "br0", NULL), EXIT_FAIL);
    assert_non_null(strstr(last_reason, "/nonexistent/env/db.sock"));
    assert_int_equal(run("attach", "tap0", "ovs=br0", NULL), EXIT_FAIL);
    assert_string_equal(last_object, "ovs");
    assert_non_null(strstr(last_reason, "/nonexistent/env/db.sock"));
    /* The spec's db= wins over the environment, --db over both. */
    assert_int_equal(run("detach", "tap0", "ovs=br0,db=unix:/nonexistent/spec.sock", NULL), EXIT_FAIL);
    assert_non_null(strstr(last_reason, "/nonexistent/spec.sock"));
    assert_int_equal(run("detach", "tap0", "ovs=br0,db=unix:/nonexistent/spec.sock",
                         "--db", "unix:/nonexistent/opt.sock", NULL), EXIT_FAIL);
    assert_non_null(strstr(last_reason, "/nonexistent/opt.sock"));
    unsetenv(OVS_DB_ENV);
}

int main(void)
{
    /* As root, whatever the CLI reaches in the kernel happens in a private
     * network namespace, never on the host's links. */
    if (geteuid() == 0 && unshare(CLONE_NEWNET) < 0) {
        perror("unshare(CLONE_NEWNET)");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_parse),
        cmocka_unit_test(test_spec_make_format),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_cidr),
        cmocka_unit_test(test_tap_open_args),
        cmocka_unit_test(test_cli_help),
        cmocka_unit_test(test_cli_usage_errors),
        cmocka_unit_test(test_cli_missing_values),
        cmocka_unit_test(test_cli_invalid_names),
        cmocka_unit_test(test_hostonly_addr),
        cmocka_unit_test(test_cli_quiet),
        cmocka_unit_test(test_cli_ovs_no_server),
        cmocka_unit_test(test_shape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
