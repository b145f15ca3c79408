/* SPDX-License-Identifier: Apache-2.0 */
/* The CLI's shared parts: error and warning lines, and the verb-table
 * dispatcher on the one getopt_long scanner, cli_opt_next() (cli-opt.c,
 * which also holds --quiet and the success line, cli_done()). */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli-opt.h"

static void vreport(const char *object, const char *prefix, const char *fmt, va_list ap)
{
    fprintf(stderr, "sluice: %s: %s", object, prefix);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

int cli_fail(const char *object, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(object, "", fmt, ap);
    va_end(ap);
    return EXIT_FAIL;
}

int cli_usage(const char *object, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(object, "", fmt, ap);
    va_end(ap);
    return EXIT_USAGE;
}

void cli_warn(const char *object, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(object, "warning: ", fmt, ap);
    va_end(ap);
}

bool cli_is_help(const char *arg)
{
    return !strcmp(arg, "-h") || !strcmp(arg, "--help");
}

static bool is_quiet(const char *arg)
{
    return !strcmp(arg, "-q") || !strcmp(arg, "--quiet");
}

const char *cli_opt(const struct cli_args *a, int key)
{
    const char *v = NULL;

    for (size_t i = 0; i < a->ngiven; i++)
        if (a->given[i].key == key)
            v = a->given[i].value;
    return v;
}

bool cli_flag(const struct cli_args *a, int key)
{
    return cli_opt(a, key) != NULL;
}

const char *cli_opt_nth(const struct cli_args *a, int key, size_t n)
{
    for (size_t i = 0; i < a->ngiven; i++)
        if (a->given[i].key == key && n-- == 0)
            return a->given[i].value;
    return NULL;
}

void cli_help(const struct cli_verbs *t, FILE *f)
{
    char line[128];
    int w = 0;

    for (const struct cli_verb *v = t->verbs; v->name; v++) {
        int len = snprintf(line, sizeof(line), "%s %s", v->name, v->args ? v->args : "");
        if (len > w && len <= 40)
            w = len;
    }
    fprintf(f, "usage: sluice %s <verb> [args] [-q|--quiet]\n\n", t->noun);
    for (const struct cli_verb *v = t->verbs; v->name; v++) {
        int len = snprintf(line, sizeof(line), "%s %s", v->name, v->args ? v->args : "");
        if (len > w)
            fprintf(f, "  %s\n  %-*s %s\n", line, w, "", v->summary);
        else
            fprintf(f, "  %-*s %s\n", w, line, v->summary);
    }
    fprintf(f, "\nOptions and arguments mix in any order; '--' ends the options.\n"
               "-q, --quiet: print nothing on success (errors and warnings still go to "
               "stderr).\n");
    if (t->footer)
        fprintf(f, "%s", t->footer);
}

static const struct cli_option *find_key(const struct cli_verbs *t, int key)
{
    for (const struct cli_option *o = t->options; o->name; o++)
        if (o->key == key)
            return o;
    return NULL;
}

static bool verb_takes(const struct cli_verb *v, int key)
{
    for (const int *k = v->opts; k && *k; k++)
        if (*k == key)
            return true;
    return false;
}

enum { KEY_BASE = 256 };

/* Parse the verb's arguments (argv[0] is the verb) into @a. Returns 0, or an
 * exit status after printing the usage error; *@help set for -h/--help. */
static int parse(const struct cli_verbs *t, const struct cli_verb *v, int argc, char **argv,
                 struct cli_args *a, bool *help)
{
    struct option lo[CLI_OPT_KEY_MAX + 3];
    size_t n = 0;
    int c;

    for (const struct cli_option *o = t->options; o->name && n < CLI_OPT_KEY_MAX; o++)
        lo[n++] = (struct option){ o->name, o->value ? required_argument : no_argument, NULL,
                                   KEY_BASE + o->key };
    lo[n++] = (struct option){ "help", no_argument, NULL, 'h' };
    lo[n++] = (struct option){ "quiet", no_argument, NULL, 'q' };
    lo[n] = (struct option){ NULL, 0, NULL, 0 };

    cli_opt_reset();
    while ((c = cli_opt_next(argc, argv, "hq", lo, a->object)) != -1) {
        if (c == '?')
            return EXIT_USAGE;      /* cli_opt_next() said why */
        if (c == 'h') {
            *help = true;
            continue;
        }
        if (c == 'q') {
            cli_quiet = true;
            continue;
        }
        const struct cli_option *o = find_key(t, c - KEY_BASE);
        if (!o)
            return cli_usage(a->object, "unknown option %s", cli_opt_name(lo, c));
        if (!verb_takes(v, o->key))
            return cli_usage(a->object, "option --%s does not apply here", o->name);
        if (a->ngiven == sizeof(a->given) / sizeof(a->given[0]))
            return cli_usage(a->object, "too many options");
        a->given[a->ngiven].key = o->key;
        a->given[a->ngiven].value = o->value ? optarg : "";
        a->ngiven++;
    }
    /* getopt_long moved the positionals, in order, behind the options. */
    for (int i = optind; i < argc; i++)
        a->pos[a->npos++] = argv[i];
    return 0;
}

int cli_dispatch(const struct cli_verbs *t, int argc, char **argv)
{
    const struct cli_verb *v;
    struct cli_args a;
    bool help = false;
    int r;

    while (argc > 1 && is_quiet(argv[1])) {
        cli_quiet = true;
        argc--;
        argv++;
    }
    if (argc < 2) {
        cli_help(t, stderr);
        return EXIT_USAGE;
    }
    if (cli_is_help(argv[1])) {
        cli_help(t, stdout);
        return EXIT_OK;
    }
    for (v = t->verbs; v->name; v++)
        if (!strcmp(argv[1], v->name))
            break;
    if (!v->name)
        return cli_usage(argv[1], "unknown %s verb (try 'sluice %s --help')", t->noun, t->noun);

    memset(&a, 0, sizeof(a));
    a.noun = t;
    a.verb = v;
    snprintf(a.object, sizeof(a.object), "%s %s", t->noun, v->name);
    a.pos = calloc((size_t)argc, sizeof(*a.pos));
    if (!a.pos)
        return cli_fail(a.object, "out of memory");
    r = parse(t, v, argc - 1, argv + 1, &a, &help);
    if (r == 0 && help) {
        printf("usage: sluice %s %s %s\n\n", t->noun, v->name, v->args ? v->args : "");
        cli_help(t, stdout);
        r = EXIT_OK;
    } else if (r == 0 && (a.npos < v->min_pos || (v->max_pos >= 0 && a.npos > v->max_pos))) {
        r = cli_usage(a.object, "expected %s", v->args && *v->args ? v->args : "no arguments");
    } else if (r == 0) {
        r = v->run(&a);
    }
    free(a.pos);
    return r;
}
