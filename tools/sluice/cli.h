/* SPDX-License-Identifier: Apache-2.0 */
/* Shared conventions of the `sluice` CLI: `sluice <noun> <verb> [args]`,
 * exit 0 ok / 1 failure / 2 usage, errors on stderr as
 * `sluice: <object>: <reason>`, `--json` on every listing, `--help` on
 * every level. Each noun lives in its own cmd-<noun>.c. */
#ifndef SLUICE_TOOLS_CLI_H
#define SLUICE_TOOLS_CLI_H

#include <stdbool.h>

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
/* True when argv[i] is -h or --help. */
bool cli_is_help(const char *arg);

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
