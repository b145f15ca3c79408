/* SPDX-License-Identifier: Apache-2.0 */
/* Option parsing and success lines shared by every noun of the CLI (pool
 * and vol through cli_dispatch() in cli.h; net and dev directly). Kept
 * apart from cli.c so a unit test can link cmd-net.c with it and stub the
 * error lines. */
#ifndef SLUICE_TOOLS_CLI_OPT_H
#define SLUICE_TOOLS_CLI_OPT_H

#include <getopt.h>
#include <stdbool.h>

/* The global --quiet / -q: success lines are not printed. Set by main.c
 * (before the noun), by cli_dispatch() and by every verb of `net` and `dev`
 * that is given --quiet / -q. */
extern bool cli_quiet;

/* getopt_long() over argv (argv[0] is the verb), permuting: options may
 * follow positional arguments, and "--" ends the options. Returns the option's
 * val, -1 at the end (positional arguments start at optind), or '?' after it
 * printed a usage error naming the option (`sluice: OBJECT: option --mtu
 * needs a value`, `unknown option --frob`). A required value that is missing,
 * empty, or is itself an option ("--mtu --down") is such an error. Reset
 * the scan with cli_opt_reset() before the first call. */
int cli_opt_next(int argc, char **argv, const char *shortopts, const struct option *longopts,
                 const char *object);
void cli_opt_reset(void);

/* The spelling of option @val for messages: "--mtu", or "-q" when it has no
 * long name. */
const char *cli_opt_name(const struct option *longopts, int val);

/* One success line on stdout ("bridge br0 created"), unless cli_quiet. */
void cli_done(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
