/* SPDX-License-Identifier: Apache-2.0 */
/* sluice dev: devices of a running sluiced, through its JSON-RPC control
 * socket (--control PATH, env SLUICE_CONTROL, default /run/sluice/sluiced.sock). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/jsonrpc.h"

#define DEFAULT_CONTROL "/run/sluice/sluiced.sock"
#define TIMEOUT_MS 30000

static void usage(FILE *f)
{
    fprintf(f,
"usage: sluice dev <verb> [--control PATH] [--json]\n"
"\n"
"  sluice dev list [--json]            devices sluiced serves\n"
"  sluice dev add blk|net SPEC         start serving (SPEC as for sluiced --blk/--net)\n"
"  sluice dev remove ID                stop serving (ID or socket path)\n"
"  sluice dev stats ID [--json]        request counters\n"
"  sluice dev refresh ID               re-read the backing size, tell the guest\n"
"\n"
"The control socket is --control PATH, else $SLUICE_CONTROL, else " DEFAULT_CONTROL ".\n");
}

static int call(const char *control, const char *method, struct json_object *params,
                struct json_object **result)
{
    char *err = NULL;
    int r = jrpc_call(control, method, params, TIMEOUT_MS, result, &err);

    json_object_put(params);
    if (r == 0)
        return EXIT_OK;
    if (r == -EREMOTEIO) {
        cli_fail("sluiced", "%s", err ? err : "request failed");
        free(err);
        return EXIT_FAIL;
    }
    if (r == -ENOENT || r == -ECONNREFUSED)
        return cli_fail(control, "sluiced is not running (no control socket)");
    if (r == -EACCES)
        return cli_fail(control, "permission denied (run as root or a member of the socket's group)");
    return cli_fail(control, "%s", strerror(-r));
}

static void print_list(struct json_object *a)
{
    printf("%-12s %-4s %-9s %s\n", "ID", "TYPE", "STATE", "SOCKET");
    for (size_t i = 0; i < json_object_array_length(a); i++) {
        struct json_object *d = json_object_array_get_idx(a, i), *v;
        const char *id = "", *type = "", *sock = "";
        bool conn = false, broken = false;
        if (json_object_object_get_ex(d, "id", &v)) id = json_object_get_string(v);
        if (json_object_object_get_ex(d, "type", &v)) type = json_object_get_string(v);
        if (json_object_object_get_ex(d, "socket", &v)) sock = json_object_get_string(v);
        if (json_object_object_get_ex(d, "connected", &v)) conn = json_object_get_boolean(v);
        if (json_object_object_get_ex(d, "broken", &v)) broken = json_object_get_boolean(v);
        printf("%-12s %-4s %-9s %s\n", id, type,
               broken ? "broken" : conn ? "connected" : "listening", sock);
    }
}

static void print_object(struct json_object *o)
{
    json_object_object_foreach(o, key, val)
        printf("%-14s %s\n", key, json_object_get_string(val));
}

int cli_refresh_volume(const char *volume)
{
    const char *control = getenv("SLUICE_CONTROL");
    struct json_object *list = NULL;
    char *err = NULL;
    int n = 0;

    if (!control || !*control)
        control = DEFAULT_CONTROL;
    /* No sluiced running: nobody to tell. */
    if (jrpc_call(control, "device.list", NULL, TIMEOUT_MS, &list, &err) < 0) {
        free(err);
        return 0;
    }
    for (size_t i = 0; i < json_object_array_length(list); i++) {
        struct json_object *d = json_object_array_get_idx(list, i), *v, *id, *res = NULL;
        if (!json_object_object_get_ex(d, "volume", &v) || !v ||
            strcmp(json_object_get_string(v), volume) || !json_object_object_get_ex(d, "id", &id))
            continue;
        struct json_object *params = json_object_new_object();
        json_object_object_add(params, "id", json_object_get(id));
        if (jrpc_call(control, "device.refresh", params, TIMEOUT_MS, &res, &err) < 0) {
            cli_fail(volume, "resized, but sluiced device %s was not told: %s",
                     json_object_get_string(id), err ? err : "no reply");
            free(err);
            err = NULL;
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
        { "help", no_argument, NULL, 'h' },
        { 0 }
    };
    const char *control = getenv("SLUICE_CONTROL");
    struct json_object *result = NULL, *params;
    bool json = false;
    const char *verb;
    int c, rc;

    if (!control || !*control)
        control = DEFAULT_CONTROL;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': control = optarg; break;
        case 'j': json = true; break;
        case 'h': usage(stdout); return EXIT_OK;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    verb = argv[optind++];
    /* Options may also follow the verb, mixed with its arguments. */
    char *args[8];
    int nargs = 0;
    for (int i = optind; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            json = true;
        else if (cli_is_help(argv[i])) {
            usage(stdout);
            return EXIT_OK;
        } else if (!strcmp(argv[i], "--control") && i + 1 < argc)
            control = argv[++i];
        else if (!strncmp(argv[i], "--control=", 10))
            control = argv[i] + 10;
        else if (argv[i][0] == '-' && argv[i][1])
            return cli_usage(verb, "unknown option '%s'", argv[i]);
        else if (nargs == (int)(sizeof(args) / sizeof(args[0])))
            return cli_usage(verb, "too many arguments");
        else
            args[nargs++] = argv[i];
    }

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
            if (json)
                printf("%s\n", json_object_to_json_string_ext(result, JSON_C_TO_STRING_PRETTY));
            else {
                struct json_object *id;
                if (json_object_object_get_ex(result, "id", &id))
                    printf("%s\n", json_object_get_string(id));
            }
        }
    } else if (!strcmp(verb, "remove") || !strcmp(verb, "stats") || !strcmp(verb, "refresh")) {
        char method[32];
        if (nargs != 1)
            return cli_usage(verb, "expected one device ID");
        params = json_object_new_object();
        json_object_object_add(params, "id", json_object_new_string(args[0]));
        snprintf(method, sizeof(method), "device.%s", verb);
        rc = call(control, method, params, &result);
        if (rc == EXIT_OK && strcmp(verb, "remove")) {
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
