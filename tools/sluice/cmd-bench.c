/* SPDX-License-Identifier: Apache-2.0 */
/* sluice bench blk|net|boot|migrate: benchmarks of sluice against peers from the
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

enum {
    OPT_QUICK = 1, OPT_OUTPUT, OPT_JSON, OPT_REPS, OPT_TIME, OPT_WARMUP, OPT_WORKLOADS,
    OPT_VERBOSE, OPT_BACKING, OPT_QUEUES, OPT_POLL, OPT_POLL_US, OPT_LAB, OPT_RUNS,
};

static const struct cli_option options[] = {
    { "quick", NULL, OPT_QUICK, "a few seconds per bench, for CI (checks only that numbers came out)" },
    { "output", "DIR", OPT_OUTPUT, "where <date>-<name>.json and .svg go (default: results)" },
    { "json", NULL, OPT_JSON, "print the JSON document instead of the table" },
    { "reps", "N", OPT_REPS, "repetitions (default 3, quick 1)", 1, 1000 },
    { "time", "S", OPT_TIME, "measured seconds per run (blk 2, net 5; quick 1 / 3)" },
    { "warmup", "S", OPT_WARMUP, "seconds before each measurement (default 0.5)" },
    { "workloads", "A,B", OPT_WORKLOADS, "only these workloads (names as in the output)" },
    { "verbose", NULL, OPT_VERBOSE, "print every command and sample" },
    { "backing", "LIST", OPT_BACKING, "null,tmpfs,disk,rbd (default null,tmpfs,disk; quick: null,tmpfs; "
      "rbd: an image in the cluster of $CEPH_CONF, pool $CEPH_POOL or rbd)" },
    { "queues", "N", OPT_QUEUES, "the multi-queue case (default min(CPUs, 4))", 1, 64 },
    { "poll", NULL, OPT_POLL, "the driver polls the used rings instead of waiting for calls" },
    { "poll-us", "N", OPT_POLL_US, "sluiced's --poll-us (its workers' maximum polling window)",
      0, 1000000 },
    { "lab", NULL, OPT_LAB, "blk: also the LVM thin volume case inside the lab VM; net: sluiced "
      "against vhost-net inside the lab VM (TCG-emulated: not comparable to the host's figures)" },
    { "runs", "N", OPT_RUNS, "boots per VMM (default 3)", 1, 1000 },
    { NULL },
};

/* Exec sluice-bench with the verb and the options as given: it reads the
 * values, this table checked them and owns the usage text. */
static int bench_exec(struct cli_args *a)
{
    char path[PATH_MAX], **av;
    const char *drv = find_driver(path, sizeof(path));
    size_t n = 0;

    if (!drv)
        return cli_fail("bench", "sluice-bench not found (set $SLUICE_BENCH, or build tools/bench)");
    av = calloc(2 * a->ngiven + 3, sizeof(*av));
    if (!av)
        return cli_fail("bench", "%s", strerror(ENOMEM));
    av[n++] = (char *)drv;
    av[n++] = (char *)a->verb->name;
    for (size_t i = 0; i < a->ngiven; i++) {
        const struct cli_option *o = options;
        while (o->key != a->given[i].key)
            o++;
        if (asprintf(&av[n++], "--%s", o->name) < 0)
            return cli_fail("bench", "%s", strerror(ENOMEM));
        if (o->arg)
            av[n++] = (char *)a->given[i].value;
    }
    execv(drv, av);
    return cli_fail("bench", "%s: %s", drv, strerror(errno));
}

int cmd_bench(int argc, char **argv)
{
    static const int blk[] = { OPT_QUICK, OPT_OUTPUT, OPT_JSON, OPT_REPS, OPT_TIME, OPT_WARMUP,
                               OPT_WORKLOADS, OPT_VERBOSE, OPT_BACKING, OPT_QUEUES, OPT_POLL,
                               OPT_POLL_US, OPT_LAB, 0 };
    static const int net[] = { OPT_QUICK, OPT_OUTPUT, OPT_JSON, OPT_REPS, OPT_TIME, OPT_WARMUP,
                               OPT_WORKLOADS, OPT_VERBOSE, OPT_LAB, 0 };
    static const int boot[] = { OPT_QUICK, OPT_RUNS, OPT_OUTPUT, OPT_JSON, 0 };
    static const int migrate[] = { OPT_QUICK, OPT_OUTPUT, OPT_JSON, 0 };
    static const struct cli_verb verbs[] = {
        { "blk", "[--quick] [--output DIR] [--json] [--backing null,tmpfs,disk,rbd] [--poll] [--lab]",
          "sluiced vs qemu-storage-daemon vs fio io_uring on the backing itself", blk, 0, 0,
          bench_exec, NULL,
          "sluiced with split and packed virtqueues; qemu-storage-daemon's vhost-user-blk\n"
          "export, both driven by the vhost/ frontend; fio directly on the backing\n"
          "(O_DIRECT where it takes it): 4 KiB random read/write/70-30, 128 KiB\n"
          "sequential, QD 1-128, 1-N queues. With null backing also the noisy\n"
          "neighbour (workload name noisy): one worker, device A unlimited at QD128\n"
          "alone and beside device B at iops=5000; B's rate against its limit.\n"
          "With rbd backing: sluiced rbd= against qemu-storage-daemon driver=rbd\n"
          "and `rbd bench` on the same image" },
        { "net", "[--quick] [--output DIR] [--json] [--lab]",
          "sluiced vs DPDK's vhost PMD, testpmd virtio_user as the frontend", net, 0, 0,
          bench_exec, NULL,
          "64 B and 1500 B frames both ways; sluiced's tap path; Mpps, Gbit/s,\n"
          "backend CPU ns per packet, tap->guest / guest->tap. With /dev/vhost-net,\n"
          "also the kernel's vhost-net on a tap (the fair peer); --lab: again inside\n"
          "the lab VM, which has vhost_net" },
        { "boot", "[--quick] [--runs N] [--output DIR] [--json]",
          "sluice-vmm boot time and memory", boot, 0, 0, bench_exec },
        { "migrate", "[--quick] [--output DIR] [--json]",
          "mirror throughput vs nbdcopy; live-migration downtime vs qemu-storage-daemon", migrate, 0, 0,
          bench_exec, NULL,
          "storage migration: `sluice dev mirror` of a 1 GiB allocated file (quick: 32 MiB)\n"
          "to a second sluiced and to qemu-nbd over loopback TCP, beside nbdcopy of the\n"
          "same file to the same target (the raw copy limit); shared-storage live\n"
          "migration of a TCG guest writing its disk: QMP query-migrate downtime and\n"
          "total time, its disk on sluiced and on qemu-storage-daemon" },
        { NULL },
    };
    static const struct cli_verbs table = {
        "bench", options, verbs,
        "Results go to DIR/<date>-<name>.json and .svg (DIR defaults to ./results).\n",
    };
    return cli_dispatch(&table, argc, argv);
}
