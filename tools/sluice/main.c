/* SPDX-License-Identifier: Apache-2.0 */
/* sluice: the admin CLI. Dispatches `sluice <noun> ...` to cmd-<noun>.c. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "storage/pool.h"

static const struct cli_noun nouns[] = {
#ifdef SLUICE_HAVE_POOL
    { "pool", "LVM thin and directory pools", cmd_pool },
    { "vol", "volumes in pools", cmd_vol },
#endif
#ifdef SLUICE_HAVE_NET
    { "net", "bridges, host-only networks, Open vSwitch, taps", cmd_net },
#endif
#ifdef SLUICE_HAVE_DEV
    { "dev", "devices of a running sluiced (control socket)", cmd_dev },
#endif
#ifdef SLUICE_HAVE_BENCH
    { "bench", "benchmarks against peers", cmd_bench },
#endif
    { NULL, NULL, NULL },
};

static void usage(FILE *f)
{
    fprintf(f, "usage: sluice [-q|--quiet] <noun> <verb> [args] [--json]\n\nnouns:\n");
    for (const struct cli_noun *n = nouns; n->name; n++)
        fprintf(f, "  %-8s %s\n", n->name, n->summary);
    fprintf(f, "\n'sluice <noun> --help' describes a noun's verbs.\n");
}

/* `sluice __complete WORD... CUR` (hidden; the bash completion calls it):
 * the candidates for CUR, the last word, one per line. */
static int complete(int argc, char **argv)
{
    int i = 1;

    while (i < argc - 1 && (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet")))
        i++;
    if (i >= argc)
        return EXIT_OK;
    if (i == argc - 1) {
        static const char *const opts[] = { "--quiet", "--help", "--version", NULL };
        const char *cur = argv[i];
        for (const struct cli_noun *n = nouns; n->name; n++)
            if (!strncmp(n->name, cur, strlen(cur)))
                printf("%s\n", n->name);
        for (size_t k = 0; cur[0] == '-' && opts[k]; k++)
            if (!strncmp(opts[k], cur, strlen(cur)))
                printf("%s\n", opts[k]);
        return EXIT_OK;
    }
    for (const struct cli_noun *n = nouns; n->name; n++)
        if (!strcmp(n->name, argv[i])) {
            cli_complete_hook = cli_complete;
            return n->run(argc - i, argv + i);
        }
    return EXIT_OK;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "__complete"))
        return complete(argc - 1, argv + 1);
    while (argc > 1 && (!strcmp(argv[1], "-q") || !strcmp(argv[1], "--quiet"))) {
        cli_quiet = true;
        argc--;
        argv++;
    }
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (cli_is_help(argv[1])) {
        usage(stdout);
        return EXIT_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("sluice %s\n", SLUICE_VERSION);
        return EXIT_OK;
    }
    /* One command is a few seconds at most: LVM's reports need not be
     * asked again until the command changes LVM itself. */
    pool_cache_reports(true);
    for (const struct cli_noun *n = nouns; n->name; n++)
        if (!strcmp(n->name, argv[1]))
            return n->run(argc - 1, argv + 1);
    return cli_usage(argv[1], "unknown command (try 'sluice --help')");
}
