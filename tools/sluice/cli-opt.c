/* SPDX-License-Identifier: Apache-2.0 */
/* The verb-table dispatcher of every `sluice` noun (cli.h): one getopt_long
 * scanner, the option values, the generated --help texts, --quiet and the
 * success line. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/opts.h"

/* Set by the global -q/--quiet and by a verb's --quiet / -q. */
bool cli_quiet;

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

bool cli_is_help(const char *arg)
{
    return !strcmp(arg, "-h") || !strcmp(arg, "--help");
}

/* --- values --------------------------------------------------------------- */

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

uint64_t cli_uint(const struct cli_args *a, int key, uint64_t dflt)
{
    uint64_t v = dflt;

    for (size_t i = 0; i < a->ngiven; i++)
        if (a->given[i].key == key)
            v = a->given[i].num;
    return v;
}

/* --- help texts, generated from the table ---------------------------------- */

static void verb_line(const struct cli_verb *v, char *buf, size_t len)
{
    if (v->sub)
        snprintf(buf, len, "%s <verb> ...", v->name);
    else
        snprintf(buf, len, "%s%s%s", v->name, v->args && *v->args ? " " : "",
                 v->args ? v->args : "");
}

/* @text's lines, each indented by @indent. */
static void print_indented(FILE *f, const char *text, int indent)
{
    while (text && *text) {
        size_t n = strcspn(text, "\n");
        fprintf(f, "%*s%.*s\n", indent, "", (int)n, text);
        text += n + (text[n] == '\n');
    }
}

static void noun_help(const struct cli_verbs *t, const char *path, FILE *f)
{
    char line[160];
    int w = 0;

    for (const struct cli_verb *v = t->verbs; v->name; v++) {
        verb_line(v, line, sizeof(line));
        int len = (int)strlen(line);
        if (len > w && len <= 40)
            w = len;
    }
    fprintf(f, "usage: sluice %s <verb> [args] [-q|--quiet]\n\n", path);
    for (const struct cli_verb *v = t->verbs; v->name; v++) {
        verb_line(v, line, sizeof(line));
        if ((int)strlen(line) > w)
            fprintf(f, "  %s\n  %-*s %s\n", line, w, "", v->summary);
        else
            fprintf(f, "  %-*s %s\n", w, line, v->summary);
        print_indented(f, v->help, 6);
    }
    fprintf(f, "\nOptions and arguments mix in any order; '--' ends the options.\n"
               "-q, --quiet: print nothing on success (errors and warnings still go to "
               "stderr).\n'sluice %s VERB --help' shows a verb's options.\n", path);
    if (t->footer)
        fprintf(f, "\n%s", t->footer);
}

static const struct cli_option *find_key(const struct cli_verbs *t, int key)
{
    for (const struct cli_option *o = t->options; o && o->name; o++)
        if (o->key == key)
            return o;
    return NULL;
}

static void verb_help(const struct cli_verbs *t, const struct cli_verb *v, const char *path,
                      FILE *f)
{
    char opt[64];

    fprintf(f, "usage: sluice %s%s%s\n\n%s\n", path, v->args && *v->args ? " " : "",
            v->args ? v->args : "", v->summary);
    print_indented(f, v->help, 2);
    fprintf(f, "\noptions:\n");
    for (const int *k = v->opts; k && *k; k++) {
        const struct cli_option *o = find_key(t, *k);
        snprintf(opt, sizeof(opt), "--%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
        fprintf(f, "  %-22s %s\n", opt, o->help ? o->help : "");
    }
    fprintf(f, "  %-22s %s\n  %-22s %s\n", "-q, --quiet", "print nothing on success",
            "-h, --help", "this text");
    fprintf(f, "\n'sluice %.*s --help' lists every verb:", (int)(strrchr(path, ' ') - path), path);
    for (const struct cli_verb *o = t->verbs; o->name; o++)
        fprintf(f, " %s%s", o->name, o[1].name ? "," : "");
    fputc('\n', f);
}

/* --- the scanner ----------------------------------------------------------- */

enum { KEY_BASE = 256 };

/* The spelling of option @val for messages: "--mtu", or "-q". */
static const char *opt_name(const struct option *lo, int val)
{
    static char buf[64];

    for (const struct option *o = lo; o->name; o++)
        if (o->val == val) {
            snprintf(buf, sizeof(buf), "--%s", o->name);
            return buf;
        }
    snprintf(buf, sizeof(buf), "-%c", val);
    return buf;
}

/* One option the scanner found, checked and stored in @a. Returns 0 or
 * EXIT_USAGE (said why). */
static int take(const struct cli_verbs *t, const struct option *lo, int c, struct cli_args *a)
{
    const struct cli_option *o = find_key(t, c - KEY_BASE);
    uint64_t num = 0;

    if (o->arg && (!optarg || !*optarg || !strncmp(optarg, "--", 2))) {
        if (optarg && *optarg)
            return cli_usage(t->noun, "option %s needs a value (got the option '%s')",
                             opt_name(lo, c), optarg);
        return cli_usage(t->noun, "option %s needs a value", opt_name(lo, c));
    }
    if (o->max && parse_uint(optarg, o->min, o->max, &num) < 0)
        return cli_usage(t->noun, "%s must be %llu..%llu", opt_name(lo, c),
                         (unsigned long long)o->min, (unsigned long long)o->max);
    if (a->ngiven == sizeof(a->given) / sizeof(a->given[0]))
        return cli_usage(t->noun, "too many options");
    a->given[a->ngiven].key = o->key;
    a->given[a->ngiven].value = o->arg ? optarg : "";
    a->given[a->ngiven].num = num;
    a->ngiven++;
    return 0;
}

/* getopt_long over argv (argv[0] is the noun or the verb) with @t's options
 * plus -h and -q. @leading: stop at the first positional and return its
 * index (argc when there is none): the options before a verb. Otherwise
 * permute, appending every positional to a->pos, and return 0. Returns -1
 * after a usage error was printed. */
static int scan(const struct cli_verbs *t, int argc, char **argv, bool leading,
                struct cli_args *a, bool *help)
{
    struct option lo[CLI_OPT_KEY_MAX + 3];
    size_t n = 0;
    int c;

    for (const struct cli_option *o = t->options; o && o->name && n < CLI_OPT_KEY_MAX; o++)
        lo[n++] = (struct option){ o->name, o->arg ? required_argument : no_argument, NULL,
                                   KEY_BASE + o->key };
    lo[n++] = (struct option){ "help", no_argument, NULL, 'h' };
    lo[n++] = (struct option){ "quiet", no_argument, NULL, 'q' };
    lo[n] = (struct option){ NULL, 0, NULL, 0 };

    optind = 0;   /* full re-initialisation: a noun may run several times */
    opterr = 0;
    /* '+': stop at the verb; ':' first: a missing value is reported as ':'. */
    while ((c = getopt_long(argc, argv, leading ? "+:hq" : ":hq", lo, NULL)) != -1) {
        if (c == ':') {
            cli_usage(t->noun, "option %s needs a value", opt_name(lo, optopt));
            return -1;
        }
        if (c == '?') {
            /* optopt: the option's val, 0 for an unknown long option. */
            const char *arg = optind > 0 && optind <= argc ? argv[optind - 1] : "";
            if (!strncmp(arg, "--", 2) && optopt && strchr(arg, '='))
                cli_usage(t->noun, "option %s takes no value", opt_name(lo, optopt));
            else if (!strncmp(arg, "--", 2))
                cli_usage(t->noun, "unknown option %s", arg);
            else
                cli_usage(t->noun, "unknown option -%c", optopt);
            return -1;
        }
        if (c == 'h')
            *help = true;
        else if (c == 'q')
            cli_quiet = true;
        else if (take(t, lo, c, a))
            return -1;
    }
    if (leading)
        return optind;
    for (int i = optind; i < argc; i++)
        a->pos[a->npos++] = argv[i];
    return 0;
}

static bool verb_takes(const struct cli_verb *v, int key)
{
    for (const int *k = v->opts; k && *k; k++)
        if (*k == key)
            return true;
    return false;
}

/* The verb @v of @t, argv[0] being its name. */
static int run_verb(const struct cli_verbs *t, const struct cli_verb *v, int argc, char **argv,
                    struct cli_args *a, bool help)
{
    if (scan(t, argc, argv, false, a, &help) < 0)
        return EXIT_USAGE;
    if (help) {
        verb_help(t, v, a->path, stdout);
        return EXIT_OK;
    }
    for (size_t i = 0; i < a->ngiven; i++)
        if (!verb_takes(v, a->given[i].key))
            return cli_usage(t->noun, "option --%s does not apply here (usage: sluice %s %s)",
                             find_key(t, a->given[i].key)->name, a->path, v->args);
    if (a->npos > v->max_pos && v->max_pos == 0)
        return cli_usage(t->noun, "unexpected argument '%s' (usage: sluice %s %s)", a->pos[0],
                         a->path, v->args);
    if (a->npos < v->min_pos || (v->max_pos >= 0 && a->npos > v->max_pos))
        return cli_usage(t->noun, "expected %s", v->args);
    return v->run(a);
}

/* Table @t, argv[0] being its noun (or group) name. */
static int run_table(const struct cli_verbs *t, int argc, char **argv, struct cli_args *a,
                     bool help)
{
    const struct cli_verb *v;
    size_t plen = strlen(a->path);
    int i = scan(t, argc, argv, true, a, &help);

    if (i < 0)
        return EXIT_USAGE;
    if (i >= argc) {
        noun_help(t, a->path, help ? stdout : stderr);
        return help ? EXIT_OK : EXIT_USAGE;
    }
    for (v = t->verbs; v->name; v++)
        if (!strcmp(argv[i], v->name))
            break;
    if (!v->name)
        return cli_usage(t->noun, "unknown verb '%s' (unknown %s verb, try 'sluice %s --help')",
                         argv[i], t->noun, a->path);
    snprintf(a->path + plen, sizeof(a->path) - plen, " %s", v->name);
    a->noun = t;
    a->verb = v;
    a->object = t->noun;
    if (v->sub)
        return run_table(v->sub, argc - i, argv + i, a, help);
    return run_verb(t, v, argc - i, argv + i, a, help);
}

int (*cli_complete_hook)(const struct cli_verbs *t, int argc, char **argv);

int cli_dispatch(const struct cli_verbs *t, int argc, char **argv)
{
    struct cli_args *a;
    int r;

    if (cli_complete_hook)
        return cli_complete_hook(t, argc, argv);
    a = calloc(1, sizeof(*a));
    if (!a || !(a->pos = calloc((size_t)argc + 1, sizeof(*a->pos)))) {
        free(a);
        return cli_fail(t->noun, "out of memory");
    }
    snprintf(a->path, sizeof(a->path), "%s", t->noun);
    a->object = t->noun;
    r = run_table(t, argc, argv, a, false);
    free(a->pos);
    free(a);
    return r;
}
