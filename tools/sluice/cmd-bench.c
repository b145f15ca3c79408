/* SPDX-License-Identifier: Apache-2.0 */
/* sluice bench blk|net|boot: benchmarks of sluice against peers from the
 * same run. The work is done by sluice-bench (tools/bench/sluice-bench.py),
 * which drives sluice-blkbench (the vhost-user-blk frontend benchmark
 * driver), qemu-storage-daemon, fio and DPDK testpmd; this noun finds it
 * and execs it with the same arguments.
 *
 * Where sluice-bench is looked for: $SLUICE_BENCH, else next to this
 * binary's build directory (BUILD/tools/bench/sluice-bench), else the
 * install's libexec (PREFIX/libexec/sluice/sluice-bench). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static void usage(FILE *f)
{
    fprintf(f,
        "usage: sluice bench <blk|net|boot> [--quick] [--output DIR] [--json] [options]\n"
        "\n"
        "  blk    sluiced vs qemu-storage-daemon vs fio io_uring on the backing itself\n"
        "  net    sluiced vs DPDK's vhost PMD, testpmd virtio_user as the frontend\n"
        "  boot   sluice-vmm boot time and memory\n"
        "\n"
        "'sluice bench <blk|net> --help' lists the options. Results go to\n"
        "DIR/<date>-<name>.json and .svg (DIR defaults to ./results).\n");
}

/* Directory of the running executable, into @buf. */
static int self_dir(char *buf, size_t len)
{
    ssize_t n = readlink("/proc/self/exe", buf, len - 1);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    char *slash = strrchr(buf, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    return 0;
}

static const char *find_driver(char *buf, size_t len)
{
    const char *env = getenv("SLUICE_BENCH");
    if (env && *env)
        return env;
    char dir[PATH_MAX];
    if (self_dir(dir, sizeof(dir)) < 0)
        return NULL;
    static const char *const rel[] = {
        "../bench/sluice-bench",             /* build tree: BUILD/tools/sluice/sluice */
        "../libexec/sluice/sluice-bench",    /* installed: PREFIX/bin/sluice */
        "../lib/sluice/sluice-bench",
    };
    for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
        if (snprintf(buf, len, "%s/%s", dir, rel[i]) >= (int)len)
            continue;
        if (access(buf, X_OK) == 0)
            return buf;
    }
    return NULL;
}

int cmd_bench(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (cli_is_help(argv[1])) {
        usage(stdout);
        return EXIT_OK;
    }
    if (strcmp(argv[1], "blk") && strcmp(argv[1], "net") && strcmp(argv[1], "boot"))
        return cli_usage("bench", "unknown benchmark '%s' (blk, net, boot)", argv[1]);

    char path[PATH_MAX];
    const char *drv = find_driver(path, sizeof(path));
    if (!drv)
        return cli_fail("bench", "sluice-bench not found (set $SLUICE_BENCH, or build tools/bench)");
    /* argv[0] of the driver is its own path; the rest is ours after "bench". */
    char **av = calloc((size_t)argc + 1, sizeof(char *));
    if (!av)
        return cli_fail("bench", "%s", strerror(ENOMEM));
    av[0] = (char *)drv;
    for (int i = 1; i < argc; i++)
        av[i] = argv[i];
    av[argc] = NULL;
    execv(drv, av);
    int err = errno;
    free(av);
    return cli_fail("bench", "%s: %s", drv, strerror(err));
}
