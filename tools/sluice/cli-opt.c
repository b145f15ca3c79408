/* SPDX-License-Identifier: Apache-2.0 */
/* Option parsing and success lines shared by `sluice net` and `sluice dev`. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cli-opt.h"

/* Set by the global -q/--quiet and by a verb's --quiet / -q. */
bool cli_quiet;

void cli_opt_reset(void)
{
    optind = 0;   /* full re-initialisation: a noun may run several times */
    opterr = 0;
}

const char *cli_opt_name(const struct option *longopts, int val)
{
    static char buf[64];

    for (const struct option *o = longopts; o && o->name; o++)
        if (o->val == val) {
            snprintf(buf, sizeof(buf), "--%s", o->name);
            return buf;
        }
    snprintf(buf, sizeof(buf), "-%c", val);
    return buf;
}

static bool takes_value(const struct option *longopts, const char *shortopts, int val)
{
    const char *p;

    for (const struct option *o = longopts; o && o->name; o++)
        if (o->val == val)
            return o->has_arg == required_argument;
    p = val > 0 && val < 256 ? strchr(shortopts, val) : NULL;
    return p && p[1] == ':';
}

int cli_opt_next(int argc, char **argv, const char *shortopts, const struct option *longopts,
                 const char *object)
{
    char spec[64];
    int c;

    /* ':' first: a missing value is reported as ':', not '?'. */
    snprintf(spec, sizeof(spec), ":%s", shortopts);
    c = getopt_long(argc, argv, spec, longopts, NULL);
    if (c == ':') {
        cli_usage(object, "option %s needs a value", cli_opt_name(longopts, optopt));
        return '?';
    }
    if (c == '?') {
        /* optopt: the option's val, 0 for an unknown long option. */
        const char *arg = optind > 0 && optind <= argc ? argv[optind - 1] : "";
        if (!strncmp(arg, "--", 2) && optopt && strchr(arg, '='))
            cli_usage(object, "option %s takes no value", cli_opt_name(longopts, optopt));
        else if (!strncmp(arg, "--", 2))
            cli_usage(object, "unknown option %s", arg);
        else
            cli_usage(object, "unknown option -%c", optopt);
        return '?';
    }
    if (c != -1 && takes_value(longopts, shortopts, c) &&
        (!optarg || !*optarg || !strncmp(optarg, "--", 2))) {
        if (optarg && *optarg)
            cli_usage(object, "option %s needs a value (got the option '%s')",
                      cli_opt_name(longopts, c), optarg);
        else
            cli_usage(object, "option %s needs a value", cli_opt_name(longopts, c));
        return '?';
    }
    return c;
}

void cli_done(const char *fmt, ...)
{
    va_list ap;

    if (cli_quiet)
        return;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}
