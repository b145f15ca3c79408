/* SPDX-License-Identifier: Apache-2.0 */
/* sluice dev: devices of a running sluiced, through its JSON-RPC control
 * socket (--control PATH, env SLUICE_CONTROL, default /run/sluice/sluiced.sock). */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli-opt.h"
#include "core/jsonrpc.h"

#define DEFAULT_CONTROL "/run/sluice/sluiced.sock"
#define TIMEOUT_MS 30000

static void usage(FILE *f)
{
    fprintf(f,
"usage: sluice dev <verb> [--control PATH] [--json] [--quiet]\n"
"\n"
"  sluice dev list [--json]            devices sluiced serves\n"
"  sluice dev add blk|net SPEC         start serving (SPEC as for sluiced --blk/--net)\n"
"  sluice dev remove ID                stop serving (ID or socket path)\n"
"  sluice dev stats ID [--json]        request counters\n"
"  sluice dev refresh ID               re-read the backing size, tell the guest\n"
"\n"
"The control socket is --control PATH, else $SLUICE_CONTROL, else " DEFAULT_CONTROL ".\n"
"Options go before or after the verb; --quiet (-q) drops the line 'dev remove' prints.\n");
}

static int call(const char *control, const char *method, struct json_object *params,
                struct json_object **result)
{
    struct sl_err err = ERR_INIT;
    int r = jrpc_call(control, method, params, TIMEOUT_MS, result, &err);

    json_object_put(params);
    if (r == 0)
        return EXIT_OK;
    if (r == -EREMOTEIO || r == -EINVAL) {
        /* -EINVAL: sluiced found the request itself malformed (a bad
         * spec), a usage error like any other. */
        cli_fail("sluiced", "%s", err_isset(&err) ? err.msg : "request failed");
        return r == -EINVAL ? EXIT_USAGE : EXIT_FAIL;
    }
    if (r == -ENOENT || r == -ECONNREFUSED)
        return cli_fail(control, "sluiced is not running (no control socket)");
    if (r == -EACCES)
        return cli_fail(control, "permission denied (run as root or a member of the socket's group)");
    return cli_fail(control, "%s", strerror(-r));
}

static const char *str_member(struct json_object *o, const char *key)
{
    struct json_object *v;

    if (!json_object_object_get_ex(o, key, &v) || !v)
        return "";
    return json_object_get_string(v);
}

static void print_list(struct json_object *a)
{
    size_t n = json_object_array_length(a);
    int iw = 2;

    /* The columns widen for long IDs and socket paths. */
    for (size_t i = 0; i < n; i++) {
        int w = (int)strlen(str_member(json_object_array_get_idx(a, i), "id"));
        iw = w > iw ? w : iw;
    }
    printf("%-*s %-4s %-9s %s\n", iw, "ID", "TYPE", "STATE", "SOCKET");
    for (size_t i = 0; i < n; i++) {
        struct json_object *d = json_object_array_get_idx(a, i), *v;
        bool conn = false, broken = false;
        if (json_object_object_get_ex(d, "connected", &v)) conn = json_object_get_boolean(v);
        if (json_object_object_get_ex(d, "broken", &v)) broken = json_object_get_boolean(v);
        printf("%-*s %-4s %-9s %s\n", iw, str_member(d, "id"), str_member(d, "type"),
               broken ? "broken" : conn ? "connected" : "listening", str_member(d, "socket"));
    }
}

/* sluiced's last latency bucket (lt_us null) counts everything from 2^30 us
 * on (vhost/blk.h: VBLK_LAT_BUCKETS 32, bucket k is [2^(k-1), 2^k) us). */
#define LAT_LAST_LO_US (INT64_C(1) << 30)

/* @us as "512 us", "1.02 ms", "4.19 s". */
static void fmt_us(int64_t us, char *buf, size_t len)
{
    if (us >= 1000000)
        snprintf(buf, len, "%.3g s", (double)us / 1e6);
    else if (us >= 1000)
        snprintf(buf, len, "%.3g ms", (double)us / 1e3);
    else
        snprintf(buf, len, "%" PRId64 " us", us);
}

/* "latency": [{"lt_us": 1, "count": n}, ..., {"lt_us": null, "count": n}]
 * (the non-empty power-of-two buckets) as one line per bucket: its range,
 * count, share and a bar. */
static void print_latency(struct json_object *h)
{
    size_t n = json_object_array_length(h);
    int64_t total = 0, max = 0;

    printf("latency:%s\n", n ? "" : " -");
    for (size_t i = 0; i < n; i++) {
        struct json_object *c;
        int64_t cnt = json_object_object_get_ex(json_object_array_get_idx(h, i), "count", &c) ?
                      json_object_get_int64(c) : 0;
        total += cnt;
        max = cnt > max ? cnt : max;
    }
    for (size_t i = 0; i < n; i++) {
        struct json_object *b = json_object_array_get_idx(h, i), *lt, *c;
        int64_t hi = json_object_object_get_ex(b, "lt_us", &lt) && lt ? json_object_get_int64(lt) : 0;
        int64_t cnt = json_object_object_get_ex(b, "count", &c) ? json_object_get_int64(c) : 0;
        char lo_s[24], hi_s[24], label[64];
        int bar = max ? (int)(30 * cnt / max) : 0;

        fmt_us(hi ? hi / 2 : LAT_LAST_LO_US, lo_s, sizeof(lo_s));
        fmt_us(hi, hi_s, sizeof(hi_s));
        if (!hi)
            snprintf(label, sizeof(label), ">= %s", lo_s);
        else if (hi == 1)
            snprintf(label, sizeof(label), "< %s", hi_s);
        else
            snprintf(label, sizeof(label), "%s - %s", lo_s, hi_s);
        printf("  %-20s %12" PRId64 " %5.1f%%  %.*s\n", label, cnt,
               total ? 100.0 * (double)cnt / (double)total : 0.0, bar,
               "##############################");
    }
}

/* "queues": [{"index": 0, "kicks": .., ...}] as a table, one row a queue. */
static void print_table(const char *key, struct json_object *arr)
{
    size_t n = json_object_array_length(arr);
    struct json_object *first = n ? json_object_array_get_idx(arr, 0) : NULL;

    printf("%s:%s\n", key, n ? "" : " -");
    if (!first || !json_object_is_type(first, json_type_object)) {
        for (size_t i = 0; i < n; i++)
            printf("  %s\n", json_object_get_string(json_object_array_get_idx(arr, i)));
        return;
    }
    printf(" ");
    json_object_object_foreach(first, k, v0) {
        (void)v0;
        char up[32];
        size_t j;
        for (j = 0; k[j] && j < sizeof(up) - 1; j++)
            up[j] = (char)toupper((unsigned char)k[j]);
        up[j] = 0;
        printf(" %12s", up);
    }
    printf("\n");
    for (size_t i = 0; i < n; i++) {
        printf(" ");
        json_object_object_foreach(json_object_array_get_idx(arr, i), k2, v) {
            (void)k2;
            printf(" %12s", v ? json_object_get_string(v) : "-");
        }
        printf("\n");
    }
}

/* Scalars as "key  value" lines first, then arrays, readable. */
static void print_object(struct json_object *o)
{
    json_object_object_foreach(o, key, val)
        if (!json_object_is_type(val, json_type_array))
            printf("%-14s %s\n", key, val ? json_object_get_string(val) : "-");
    json_object_object_foreach(o, akey, aval) {
        if (!json_object_is_type(aval, json_type_array))
            continue;
        if (!strcmp(akey, "latency"))
            print_latency(aval);
        else
            print_table(akey, aval);
    }
}

int cli_refresh_volume(const char *volume)
{
    const char *control = getenv("SLUICE_CONTROL");
    struct json_object *list = NULL;
    struct sl_err err = ERR_INIT;
    int n = 0;

    if (!control || !*control)
        control = DEFAULT_CONTROL;
    /* No sluiced running: nobody to tell. */
    if (jrpc_call(control, "device.list", NULL, TIMEOUT_MS, &list, NULL) < 0)
        return 0;
    for (size_t i = 0; i < json_object_array_length(list); i++) {
        struct json_object *d = json_object_array_get_idx(list, i), *v, *id, *res = NULL;
        if (!json_object_object_get_ex(d, "volume", &v) || !v ||
            strcmp(json_object_get_string(v), volume) || !json_object_object_get_ex(d, "id", &id))
            continue;
        struct json_object *params = json_object_new_object();
        json_object_object_add(params, "id", json_object_get(id));
        if (jrpc_call(control, "device.refresh", params, TIMEOUT_MS, &res, &err) < 0) {
            cli_fail(volume, "resized, but sluiced device %s was not told: %s",
                     json_object_get_string(id), err_isset(&err) ? err.msg : "no reply");
        } else {
            n++;
        }
        json_object_put(res);
        json_object_put(params);
    }
    json_object_put(list);
    return n;
}

int cmd_dev(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "control", required_argument, NULL, 'c' },
        { "json", no_argument, NULL, 'j' },
        { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },
        { 0 }
    };
    const char *control = getenv("SLUICE_CONTROL");
    struct json_object *result = NULL, *params;
    bool json = false;
    const char *verb;
    char **args;
    int c, rc, nargs;

    if (!control || !*control)
        control = DEFAULT_CONTROL;
    /* Options anywhere: before the verb, or mixed with its arguments. */
    cli_opt_reset();
    while ((c = cli_opt_next(argc, argv, "hq", longopts, "dev")) != -1) {
        switch (c) {
        case 'c': control = optarg; break;
        case 'j': json = true; break;
        case 'q': cli_quiet = true; break;
        case 'h': usage(stdout); return EXIT_OK;
        default: return EXIT_USAGE;   /* cli_opt_next() said why */
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    verb = argv[optind++];
    args = argv + optind;
    nargs = argc - optind;

    if (!strcmp(verb, "list")) {
        if (nargs)
            return cli_usage("dev list", "unexpected argument '%s'", args[0]);
        rc = call(control, "device.list", NULL, &result);
        if (rc == EXIT_OK) {
            if (json)
                printf("%s\n", json_object_to_json_string_ext(result, JSON_C_TO_STRING_PRETTY));
            else
                print_list(result);
        }
    } else if (!strcmp(verb, "add")) {
        if (nargs != 2 || (strcmp(args[0], "blk") && strcmp(args[0], "net")))
            return cli_usage("dev add", "expected 'blk SPEC' or 'net SPEC'");
        params = json_object_new_object();
        json_object_object_add(params, "type", json_object_new_string(args[0]));
        json_object_object_add(params, "spec", json_object_new_string(args[1]));
        rc = call(control, "device.add", params, &result);
        if (rc == EXIT_OK) {
            /* The ID is the command's output (scripts read it), even with --quiet. */
            if (json)
                printf("%s\n", json_object_to_json_string_ext(result, JSON_C_TO_STRING_PRETTY));
            else
                printf("%s\n", str_member(result, "id"));
        }
    } else if (!strcmp(verb, "remove") || !strcmp(verb, "stats") || !strcmp(verb, "refresh")) {
        char method[32];
        if (nargs != 1)
            return cli_usage(verb, "expected one device ID");
        params = json_object_new_object();
        json_object_object_add(params, "id", json_object_new_string(args[0]));
        snprintf(method, sizeof(method), "device.%s", verb);
        rc = call(control, method, params, &result);
        if (rc == EXIT_OK && !strcmp(verb, "remove")) {
            cli_done("device %s removed", args[0]);
        } else if (rc == EXIT_OK) {
            if (json)
                printf("%s\n", json_object_to_json_string_ext(result, JSON_C_TO_STRING_PRETTY));
            else
                print_object(result);
        }
    } else {
        return cli_usage(verb, "unknown verb (try 'sluice dev --help')");
    }
    json_object_put(result);
    return rc;
}
