/* SPDX-License-Identifier: Apache-2.0 */
/* The one framework of the `sluice` CLI: `sluice <noun> <verb> [args]`,
 * exit 0 ok / 1 failure / 2 usage, errors on stderr as
 * `sluice: <object>: <reason>`, `--json` on every listing, `--help` on
 * every level, `--quiet` silences the one line a verb prints on success.
 *
 * Each noun lives in its own cmd-<noun>.c and describes itself with one
 * table (struct cli_verbs): its options, its verbs (name, usage, summary,
 * the options each takes, how many positionals) and, for a noun with groups
 * (`sluice net bridge create`), sub-tables. cli_dispatch() parses argv with
 * getopt_long (permuting: options and positionals in any order, `--` ends
 * the options), checks everything the table says, and generates every usage
 * text from the same table: `sluice NOUN --help` lists the verbs,
 * `sluice NOUN VERB --help` that verb's options.
 *
 * cli.c holds the error lines (cli_fail, cli_usage, cli_warn); cli-opt.c
 * everything else, so that a unit test can link a noun with cli-opt.c and
 * stub the error lines to check the reported object and reason. */
#ifndef SLUICE_TOOLS_CLI_H
#define SLUICE_TOOLS_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

/* A noun's entry point: argv[0] is the noun. Returns an exit status. */
typedef int (*cli_noun_cb)(int argc, char **argv);

struct cli_noun {
    const char *name;
    const char *summary;
    cli_noun_cb run;
};

/* Print `sluice: <object>: <reason>` to stderr; returns EXIT_FAIL. */
int cli_fail(const char *object, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Same, for usage errors; returns EXIT_USAGE. */
int cli_usage(const char *object, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* `sluice: <object>: warning: <text>` on stderr (also under --quiet). */
void cli_warn(const char *object, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* True when @arg is -h or --help. */
bool cli_is_help(const char *arg);

/* The global --quiet / -q: success lines are not printed. Set by main.c
 * (before the noun) and by cli_dispatch() wherever it is given. */
extern bool cli_quiet;
/* One success line on stdout ("bridge br0 created"), unless cli_quiet. */
void cli_done(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* --- the verb tables ------------------------------------------------------ */

/* An option of a noun: `--name`, or `--name ARG` (also `--name=ARG`) when
 * @arg names a value. @key is the noun's own number for it
 * (1..CLI_OPT_KEY_MAX), unique in the noun. With @max > 0 the value is an
 * unsigned integer in [@min, @max] (parse_uint(), core/opts.h), checked by
 * cli_dispatch() and read with cli_uint(). @help is its line in the verb's
 * --help. -h/--help and -q/--quiet are added by cli_dispatch(). */
#define CLI_OPT_KEY_MAX 63
struct cli_option {
    const char *name;
    const char *arg;       /* "N", "CIDR"; NULL: a flag */
    int key;
    const char *help;
    uint64_t min, max;
};

struct cli_args;
struct cli_verbs;

/* One verb: `sluice NOUN NAME ARGS`. @opts lists the keys of the options
 * it takes (0-terminated; NULL: none); any other option of the noun is a
 * usage error. @min_pos/@max_pos bound its positional arguments (max -1:
 * no bound); outside them cli_dispatch() prints `expected ARGS` (exit 2).
 * @run gets the parsed arguments and returns an exit status. @help (may be
 * NULL) adds lines, each indented, to both --help texts.
 * A group (`sluice net bridge ...`) has @sub instead of @run: the verb
 * names a table of its own, which shares this table's options array. */
struct cli_verb {
    const char *name;
    const char *args;      /* usage after the verb, e.g. "POOL/VOL --size SIZE" */
    const char *summary;   /* one line for --help */
    const int *opts;
    int min_pos, max_pos;
    int (*run)(struct cli_args *a);
    const struct cli_verbs *sub;
    const char *help;
};

/* A noun's (or group's) table. @noun is the object of its usage errors
 * ("pool", "bridge"). @verbs ends with a { NULL } entry. @footer (may be
 * NULL) closes the noun's --help. */
struct cli_verbs {
    const char *noun;
    const struct cli_option *options;   /* ends with { NULL } */
    const struct cli_verb *verbs;
    const char *footer;
};

/* What cli_dispatch() hands a verb. */
struct cli_args {
    const struct cli_verbs *noun;
    const struct cli_verb *verb;
    const char *object;         /* the noun, for usage errors */
    char path[48];              /* "net bridge create", for usage lines */
    char **pos;                 /* positional arguments, in order */
    int npos;
    struct { int key; const char *value; uint64_t num; } given[64];   /* in order */
    size_t ngiven;
};

/* The value of option @key (the last one given), "" for a flag, or NULL. */
const char *cli_opt(const struct cli_args *a, int key);
/* Was option @key given? */
bool cli_flag(const struct cli_args *a, int key);
/* Every value of a repeatable option @key, in order: the i-th one, or NULL. */
const char *cli_opt_nth(const struct cli_args *a, int key, size_t i);
/* The checked number of integer option @key (struct cli_option min/max), or
 * @dflt when it was not given. */
uint64_t cli_uint(const struct cli_args *a, int key, uint64_t dflt);

/* `sluice NOUN ...` (argv[0] is the noun): -h/--help at any level, options
 * before the verb (`sluice dev --control P list`) and after it, verb and
 * group lookup, then verb->run(). An unknown option, an option of another
 * verb, an option without its value (missing, empty, or itself an option:
 * "--mtu --down"), a bad integer and a wrong number of positionals are
 * usage errors (exit 2) on the noun. */
int cli_dispatch(const struct cli_verbs *t, int argc, char **argv);

/* Completion (`sluice __complete WORD... CUR`, cli-complete.c): set by
 * main.c, cli_dispatch() then hands its table to this hook, which prints the
 * candidates for the last word instead of running anything. */
extern int (*cli_complete_hook)(const struct cli_verbs *t, int argc, char **argv);
/* The hook: candidates for argv[argc - 1] in table @t (argv[0] the noun),
 * one per line; "@files"/"@dirs" for a path. Returns EXIT_OK. */
int cli_complete(const struct cli_verbs *t, int argc, char **argv);

/* Tell a running sluiced (control socket from $SLUICE_CONTROL or the
 * default) that volume POOL/VOL changed size: every device serving it
 * re-reads its size and notifies its guest. Returns how many devices were
 * told (0 when no sluiced runs). Defined in cmd-dev.c. */
int cli_refresh_volume(const char *volume);

/* Nouns (each defined in its own file). */
int cmd_pool(int argc, char **argv);
int cmd_vol(int argc, char **argv);
int cmd_net(int argc, char **argv);
int cmd_dev(int argc, char **argv);
int cmd_bench(int argc, char **argv);

#endif
