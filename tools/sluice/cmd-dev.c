/* SPDX-License-Identifier: Apache-2.0 */
/* sluice dev: devices of a running sluiced, through its JSON-RPC control
 * socket (--control PATH, env SLUICE_CONTROL, default /run/sluice/sluiced.sock). */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "core/jsonrpc.h"

#define DEFAULT_CONTROL "/run/sluice/sluiced.sock"
#define TIMEOUT_MS 30000

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
        bool conn = false, broken = false, unavail = false;
        if (json_object_object_get_ex(d, "connected", &v)) conn = json_object_get_boolean(v);
        if (json_object_object_get_ex(d, "broken", &v)) broken = json_object_get_boolean(v);
        if (json_object_object_get_ex(d, "unavailable", &v) && v) unavail = true;
        printf("%-*s %-4s %-9s %s\n", iw, str_member(d, "id"), str_member(d, "type"),
               unavail ? "unserved" : broken ? "broken" : conn ? "connected" : "listening",
               str_member(d, "socket"));
        if (unavail)
            printf("%-*s   %s\n", iw, "", str_member(d, "unavailable"));
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

/* A nested object on one line: its set members as "k=v", or "none" when
 * only a burst (which means nothing alone: the I/O limits) is set. */
static void print_members(const char *key, struct json_object *o)
{
    bool any = false;

    json_object_object_foreach(o, k, v)
        any = any || (v && strncmp(k, "burst", 5));
    printf("%-14s", key);
    if (!any) {
        printf(" none\n");
        return;
    }
    json_object_object_foreach(o, k2, v2)
        if (v2)
            printf(" %s=%s", k2, json_object_get_string(v2));
    printf("\n");
}

/* Scalars as "key  value" lines first, then arrays, readable. */
static void print_object(struct json_object *o)
{
    json_object_object_foreach(o, key, val) {
        if (json_object_is_type(val, json_type_object))
            print_members(key, val);
        else if (!json_object_is_type(val, json_type_array))
            printf("%-14s %s\n", key, val ? json_object_get_string(val) : "-");
    }
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

enum { OPT_CONTROL = 1, OPT_JSON, OPT_TO, OPT_DETACH, OPT_TIMEOUT };

/* The control socket: --control, else $SLUICE_CONTROL, else the default. */
static const char *control_of(const struct cli_args *a)
{
    const char *control = cli_opt(a, OPT_CONTROL);

    if (!control)
        control = getenv("SLUICE_CONTROL");
    return control && *control ? control : DEFAULT_CONTROL;
}

/* Print a reply: JSON with --json, else as @text does. */
static void print_reply(const struct cli_args *a, struct json_object *result,
                        void (*text)(struct json_object *))
{
    if (cli_flag(a, OPT_JSON))
        printf("%s\n", json_object_to_json_string_ext(result, JSON_C_TO_STRING_PRETTY));
    else
        text(result);
}

static void print_id(struct json_object *result)
{
    printf("%s\n", str_member(result, "id"));
}

static int dev_list(struct cli_args *a)
{
    struct json_object *result = NULL;
    int r = call(control_of(a), "device.list", NULL, &result);

    if (r == EXIT_OK)
        print_reply(a, result, print_list);
    json_object_put(result);
    return r;
}

static int dev_add(struct cli_args *a)
{
    struct json_object *result = NULL, *params;
    int r;

    if (strcmp(a->pos[0], "blk") && strcmp(a->pos[0], "net"))
        return cli_usage("dev add", "expected 'blk SPEC' or 'net SPEC'");
    params = json_object_new_object();
    json_object_object_add(params, "type", json_object_new_string(a->pos[0]));
    json_object_object_add(params, "spec", json_object_new_string(a->pos[1]));
    r = call(control_of(a), "device.add", params, &result);
    /* The ID is the command's output (scripts read it), even with --quiet. */
    if (r == EXIT_OK)
        print_reply(a, result, print_id);
    json_object_put(result);
    return r;
}

/* remove, stats, refresh: device.VERB {"id": ID}. */
static int dev_by_id(struct cli_args *a)
{
    struct json_object *result = NULL, *params = json_object_new_object();
    char method[32];
    int r;

    json_object_object_add(params, "id", json_object_new_string(a->pos[0]));
    snprintf(method, sizeof(method), "device.%s", a->verb->name);
    r = call(control_of(a), method, params, &result);
    if (r == EXIT_OK && !strcmp(a->verb->name, "remove"))
        cli_done("device %s removed", a->pos[0]);
    else if (r == EXIT_OK)
        print_reply(a, result, print_object);
    json_object_put(result);
    return r;
}

/* The KEY=VALUE arguments from @first on, joined with ',' (one spec). */
static char *join_spec(const struct cli_args *a, int first)
{
    size_t len = 1;
    char *spec;

    for (int i = first; i < a->npos; i++)
        len += strlen(a->pos[i]) + 1;
    spec = calloc(1, len);
    if (!spec)
        return NULL;
    for (int i = first; i < a->npos; i++) {
        if (i > first)
            strcat(spec, ",");
        strcat(spec, a->pos[i]);
    }
    return spec;
}

/* sluice dev set ID KEY=VALUE...: device.set; group-set NAME KEY=VALUE...:
 * group.set. */
static int dev_set(struct cli_args *a)
{
    bool group = !strcmp(a->verb->name, "group-set");
    struct json_object *result = NULL, *params;
    char *spec = join_spec(a, 1);
    int r;

    if (!spec)
        return cli_fail("dev", "out of memory");
    params = json_object_new_object();
    json_object_object_add(params, group ? "name" : "id", json_object_new_string(a->pos[0]));
    json_object_object_add(params, "spec", json_object_new_string(spec));
    r = call(control_of(a), group ? "group.set" : "device.set", params, &result);
    if (r == EXIT_OK)
        cli_done("%s %s: %s", group ? "group" : "device", a->pos[0], spec);
    free(spec);
    json_object_put(result);
    return r;
}

static void print_groups(struct json_object *a)
{
    for (size_t i = 0; i < json_object_array_length(a); i++) {
        struct json_object *g = json_object_array_get_idx(a, i), *lim, *mem;
        printf("%s:", str_member(g, "name"));
        if (json_object_object_get_ex(g, "limits", &lim)) {
            json_object_object_foreach(lim, k, v)
                if (v)
                    printf(" %s=%s", k, json_object_get_string(v));
        }
        printf("  members:");
        if (json_object_object_get_ex(g, "members", &mem))
            for (size_t j = 0; j < json_object_array_length(mem); j++)
                printf(" %s", json_object_get_string(json_object_array_get_idx(mem, j)));
        printf("\n");
    }
}

static int dev_groups(struct cli_args *a)
{
    struct json_object *result = NULL;
    int r = call(control_of(a), "group.list", NULL, &result);

    if (r == EXIT_OK)
        print_reply(a, result, print_groups);
    json_object_put(result);
    return r;
}

/* ---- mirror: storage migration, the source side ------------------------ */

static int64_t int_member(struct json_object *o, const char *key)
{
    struct json_object *v;

    return json_object_object_get_ex(o, key, &v) && v ? json_object_get_int64(v) : 0;
}

/* @b as "512 MiB" (binary units). */
static void fmt_bytes(double b, char *buf, size_t len)
{
    static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    unsigned u = 0;

    while (b >= 1024 && u < 4) {
        b /= 1024;
        u++;
    }
    snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", b, units[u]);
}

/* One progress line: [#####.....] copied / total  rate  ETA  phase. */
static void print_progress(struct json_object *st, bool tty)
{
    int64_t done = int_member(st, "bytes_copied"), total = int_member(st, "bytes_total");
    int64_t rate = int_member(st, "rate_bytes_per_s");
    char bar[31], d[16], t[16], r[16];
    int fill = total > 0 ? (int)(30 * (double)(done < total ? done : total) / (double)total) : 0;

    for (int i = 0; i < 30; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[30] = '\0';
    fmt_bytes((double)done, d, sizeof(d));
    fmt_bytes((double)total, t, sizeof(t));
    fmt_bytes((double)rate, r, sizeof(r));
    fprintf(stderr, "%s[%s] %s / %s  %s/s  ETA %llds  %s%s", tty ? "\r" : "", bar, d, t, r,
            rate > 0 && total > done ? (long long)((total - done) / rate) : 0LL,
            str_member(st, "phase"), tty ? "\033[K" : "\n");
}

static bool phase_is(struct json_object *st, const char *phase)
{
    return !strcmp(str_member(st, "phase"), phase);
}

static struct json_object *id_params(const char *id)
{
    struct json_object *params = json_object_new_object();

    json_object_object_add(params, "id", json_object_new_string(id));
    return params;
}

/* A well-formed target: the check sluiced makes too (mirror_uri_check). */
static bool nbd_uri_ok(const char *uri)
{
    return (!strncmp(uri, "nbd://", 6) && uri[6] && uri[6] != '/') ||
           (!strncmp(uri, "nbd+unix:///", 12) && strstr(uri, "socket="));
}

/* sluice dev mirror ID --to URI: start, then follow until synced (exit 0)
 * or failed (exit 1); --detach returns once started. */
static int dev_mirror(struct cli_args *a)
{
    const char *to = cli_opt(a, OPT_TO), *control = control_of(a);
    struct json_object *params, *st = NULL;
    bool tty = isatty(2) && !cli_quiet && !cli_flag(a, OPT_JSON);
    uint64_t last_line = (uint64_t)time(NULL);   /* without a tty: a line every 5 s */
    int r;

    if (!to)
        return cli_usage("dev mirror", "--to nbd://HOST:PORT/NAME (or nbd+unix:///NAME?socket=PATH) is required");
    if (!nbd_uri_ok(to))
        return cli_usage("dev mirror", "--to: expected nbd://HOST[:PORT]/NAME or nbd+unix:///NAME?socket=PATH, not '%s'", to);
    params = id_params(a->pos[0]);
    json_object_object_add(params, "to", json_object_new_string(to));
    if (cli_opt(a, OPT_TIMEOUT))
        json_object_object_add(params, "timeout_ms", json_object_new_int64((int64_t)cli_uint(a, OPT_TIMEOUT, 30) * 1000));
    r = call(control, "device.mirror", params, &st);
    while (r == EXIT_OK && !cli_flag(a, OPT_DETACH) && !phase_is(st, "synced") &&
           !phase_is(st, "failed") && !phase_is(st, "cancelled") && !phase_is(st, "completed")) {
        struct timespec ts = { 0, 250000000 };
        uint64_t now = (uint64_t)time(NULL);
        if (tty || (!cli_quiet && !cli_flag(a, OPT_JSON) && now >= last_line + 5)) {
            print_progress(st, tty);
            last_line = now;
        }
        nanosleep(&ts, NULL);
        json_object_put(st);
        st = NULL;
        r = call(control, "device.mirror-status", id_params(a->pos[0]), &st);
    }
    if (r != EXIT_OK) {
        json_object_put(st);
        return r;
    }
    if (tty) {
        print_progress(st, tty);
        fputc('\n', stderr);
    }
    if (cli_flag(a, OPT_JSON))
        printf("%s\n", json_object_to_json_string_ext(st, JSON_C_TO_STRING_PRETTY));
    if (phase_is(st, "failed") || phase_is(st, "cancelled"))
        r = cli_fail(a->pos[0], "mirror to %s %s%s%s", to, str_member(st, "phase"),
                     phase_is(st, "failed") ? ": " : "", phase_is(st, "failed") ? str_member(st, "error") : "");
    else if (!cli_flag(a, OPT_JSON))
        cli_done("%s: mirror to %s %s", a->pos[0], to, str_member(st, "phase"));
    json_object_put(st);
    return r;
}

/* sluice dev mirror-cancel ID: ask, then wait until the job has stopped. */
static int dev_mirror_cancel(struct cli_args *a)
{
    struct json_object *st = NULL;
    int r = call(control_of(a), "device.mirror-cancel", id_params(a->pos[0]), &st);

    for (int i = 0; r == EXIT_OK && i < 600; i++) {
        struct timespec ts = { 0, 100000000 };
        json_object_put(st);
        st = NULL;
        r = call(control_of(a), "device.mirror-status", id_params(a->pos[0]), &st);
        if (r != EXIT_OK || phase_is(st, "cancelled") || phase_is(st, "failed") ||
            phase_is(st, "completed"))
            break;
        nanosleep(&ts, NULL);
    }
    if (r == EXIT_OK)
        cli_done("%s: mirror %s", a->pos[0], str_member(st, "phase"));
    json_object_put(st);
    return r;
}

int cmd_dev(int argc, char **argv)
{
    static const struct cli_option options[] = {
        { "control", "PATH", OPT_CONTROL,
          "the control socket (else $SLUICE_CONTROL, else " DEFAULT_CONTROL ")" },
        { "json", NULL, OPT_JSON, "print the reply as JSON" },
        { "to", "URI", OPT_TO, "the mirror's target: nbd://HOST:PORT/NAME or nbd+unix:///NAME?socket=PATH" },
        { "detach", NULL, OPT_DETACH, "return once the mirror has started" },
        { "timeout", "SEC", OPT_TIMEOUT, "fail the mirror when the target leaves a request unanswered this long (default 30)",
          1, 3600 },
        { NULL },
    };
    static const int both[] = { OPT_CONTROL, OPT_JSON, 0 };
    static const int mirror[] = { OPT_CONTROL, OPT_JSON, OPT_TO, OPT_DETACH, OPT_TIMEOUT, 0 };
    static const struct cli_verb verbs[] = {
        { "list", "[--json]", "devices sluiced serves", both, 0, 0, dev_list },
        { "add", "blk|net SPEC [--json]", "start serving (SPEC as for sluiced --blk/--net)",
          both, 2, 2, dev_add, NULL, "prints the new device's ID" },
        { "remove", "ID", "stop serving (ID or socket path)", both, 1, 1, dev_by_id },
        { "stats", "ID [--json]", "request counters, I/O limits, time throttled, requests waiting",
          both, 1, 1, dev_by_id },
        { "set", "ID KEY=VALUE...", "change a running device: I/O limits of a block device, rate limits of a net device",
          both, 2, -1, dev_set, NULL,
          "block devices: iops=N iops-read=N iops-write=N (requests a second),\n"
          "bps=SIZE bps-read=SIZE bps-write=SIZE (bytes a second, e.g. 20M),\n"
          "burst=SECONDS (default 1); 0 removes a limit; on a device of a group\n"
          "they set the group's limits. Effective within one refill period.\n"
          "net devices: rx-rate=RATE tx-rate=RATE (bits a second, e.g. 100M; rx is\n"
          "what the guest receives, tx what it sends; 0: no limit), burst=SIZE\n"
          "(bytes; 0: 10 ms at the rate, at least 16K); keys not given keep their value." },
        { "group-set", "NAME KEY=VALUE...", "set the I/O limits a group of block devices shares",
          both, 2, -1, dev_set, NULL,
          "the keys of 'dev set'; devices join with group=NAME in their spec" },
        { "groups", "[--json]", "I/O limit groups: limits and members", both, 0, 0, dev_groups },
        { "refresh", "ID [--json]", "re-read the backing size, tell the guest", both, 1, 1,
          dev_by_id },
        { "mirror", "ID --to URI [--timeout SEC] [--detach] [--json]",
          "copy a block device to an NBD export while the guest runs (storage migration)",
          mirror, 1, 1, dev_mirror, NULL,
          "follows the copy (bytes/total, rate, ETA) until the copies are in sync:\n"
          "from then on every guest write goes to both; exit 1 if the mirror fails" },
        { "mirror-status", "ID [--json]", "the mirror's phase (copy, catch-up, synced, completed, failed), bytes, rate",
          both, 1, 1, dev_by_id },
        { "mirror-cancel", "ID", "stop the mirror; the source device is left as it is", both, 1, 1,
          dev_mirror_cancel },
        { NULL },
    };
    static const struct cli_verbs table = {
        "dev", options, verbs,
        "Every verb takes --control PATH, before or after the verb.\n",
    };
    return cli_dispatch(&table, argc, argv);
}
