/* SPDX-License-Identifier: Apache-2.0 */
/* Shared conventions of the `sluice` CLI: `sluice <noun> <verb> [args]`,
 * exit 0 ok / 1 failure / 2 usage, errors on stderr as
 * `sluice: <object>: <reason>`, `--json` on every listing, `--help` on
 * every level, `--quiet` silences the one line a verb prints on success.
 * Each noun lives in its own cmd-<noun>.c and describes its verbs with one
 * table (struct cli_verbs) that cli_dispatch() parses with cli_opt_next()
 * (cli-opt.h: the getopt_long scanner, --quiet and cli_done()). */
#ifndef SLUICE_TOOLS_CLI_H
#define SLUICE_TOOLS_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "cli-opt.h"

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
/* True when argv[i] is -h or --help. */
bool cli_is_help(const char *arg);

/* --- one verb table per noun, on cli_opt_next() ------------------------- */

/* An option of a noun: `--name` or `--name VALUE` (also `--name=VALUE`).
 * @key is the noun's own number for it (1..CLI_OPT_KEY_MAX), unique in the
 * noun. -h/--help and -q/--quiet are added by cli_dispatch(). */
#define CLI_OPT_KEY_MAX 63
struct cli_option {
    const char *name;
    bool value;
    int key;
};

struct cli_args;

/* One verb: `sluice NOUN NAME ARGS`. @opts lists the keys of the options
 * it takes (0-terminated; NULL: none); any other option of the noun is a
 * usage error. @min_pos/@max_pos bound its positional arguments (max -1:
 * no bound); outside them cli_dispatch() prints `expected ARGS` (exit 2).
 * @run gets the parsed arguments and returns an exit status. */
struct cli_verb {
    const char *name;
    const char *args;      /* usage after the verb, e.g. "POOL/VOL --size SIZE" */
    const char *summary;   /* one line for --help */
    const int *opts;
    int min_pos, max_pos;
    int (*run)(struct cli_args *a);
};

/* A noun's table. @verbs ends with a { NULL } entry. @footer (may be NULL)
 * closes its --help. */
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
    char object[48];            /* "NOUN VERB", for usage errors */
    char **pos;                 /* positional arguments, in order */
    int npos;
    struct { int key; const char *value; } given[64];   /* options, in order */
    size_t ngiven;
};

/* The value of option @key (the last one given), "" for a flag, or NULL. */
const char *cli_opt(const struct cli_args *a, int key);
/* Was option @key given? */
bool cli_flag(const struct cli_args *a, int key);
/* Every value of a repeatable option @key, in order: the i-th one, or NULL. */
const char *cli_opt_nth(const struct cli_args *a, int key, size_t i);

/* `sluice NOUN ...` (argv[0] is the noun): -h/--help at any level, verb
 * lookup, cli_opt_next() over the verb's arguments (options and positionals
 * in any order, `--` ends options), then verb->run(). An unknown option, an
 * option of another verb, an option without its value (see cli_opt_next)
 * and a wrong number of positionals are usage errors (exit 2). */
int cli_dispatch(const struct cli_verbs *t, int argc, char **argv);
/* The noun's --help, generated from its table. */
void cli_help(const struct cli_verbs *t, FILE *f);

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
