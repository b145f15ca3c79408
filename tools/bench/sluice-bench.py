#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""sluice-bench: the benchmarks behind `sluice bench blk|net|boot|migrate`.

Every bench runs sluice and a peer in the same invocation, interleaved
(the order of the systems alternates from one repetition to the next, so
machine drift hits both), reports medians with min and max over the
repetitions (warm-up excluded), and the ratios sluiced/peer. It writes
OUTPUT/<date>-<name>.json (machine, versions, every command, raw samples)
and OUTPUT/<date>-<name>.svg (gnuplot). No figure is compared with a
threshold: a bench fails only when a number could not be measured.
"""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.realpath(__file__))
SRC = "@SOURCE_ROOT@"
if SRC.startswith("@"):                      # run from the source tree
    SRC = os.path.dirname(os.path.dirname(HERE))
# The installed copy (meson install: PREFIX/LIBEXECDIR/sluice) is configured
# with no source tree and the install's sbin: blk and net work from there;
# boot and blk --lab need the source tree's guest kit and lab VM.
SBINDIR = "@SBINDIR@"
if SBINDIR.startswith("@"):
    SBINDIR = ""
BACKEND_CPU = "0"      # backends (sluiced, qemu-storage-daemon, DPDK vhost) run here
FRONTEND_CPU = "1"     # the driver / fio / the frontend testpmd run here
NCPU = os.cpu_count() or 1
if NCPU < 2:
    BACKEND_CPU = FRONTEND_CPU = "0"

COMMANDS = []          # every command run, for the JSON record
VERBOSE = False


def say(msg):
    print(f"sluice bench: {msg}", file=sys.stderr, flush=True)


def die(msg, code=1):
    print(f"sluice: bench: {msg}", file=sys.stderr)
    sys.exit(code)


def record(argv):
    COMMANDS.append(" ".join(argv))


def run(argv, **kw):
    record(argv)
    if VERBOSE:
        say("$ " + " ".join(argv))
    return subprocess.run(argv, **kw)


def find_exe(name, env, rel, installed=""):
    """An executable: $env, else next to this script (build tree / libexec),
    else REL from the build tree, else INSTALLED (an installed copy's own
    folder for it), else PATH."""
    if os.environ.get(env):
        return os.environ[env]
    cands = [os.path.join(HERE, name), os.path.normpath(os.path.join(HERE, rel))]
    if installed:
        cands.append(os.path.join(installed, name))
    for cand in cands:
        if os.access(cand, os.X_OK):
            return cand
    return shutil.which(name)


def sluiced_exe():
    return find_exe("sluiced", "SLUICED", "../../src/sluiced/sluiced", SBINDIR)


def blkbench_exe():
    return find_exe("sluice-blkbench", "SLUICE_BLKBENCH", "sluice-blkbench")


def pktgen_exe():
    return find_exe("sluice-pktgen", "SLUICE_PKTGEN", "sluice-pktgen")


def first_line(argv):
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except Exception:
        return None


def dpkg_version(pkg):
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg],
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or None
    except Exception:
        return None


def machine():
    cpu = None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = None
    try:
        with open("/proc/meminfo") as f:
            mem = int(f.readline().split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return {
        "hostname": socket.gethostname(), "kernel": platform.release(),
        "arch": platform.machine(), "cpu_model": cpu, "cpus": NCPU,
        "mem_kib": mem, "os": first_line(["sh", "-c", ". /etc/os-release; echo $PRETTY_NAME"]),
        "loadavg_start": open("/proc/loadavg").read().split()[:3],
        "pinning": {"backend_cpu": BACKEND_CPU, "frontend_cpu": FRONTEND_CPU},
    }


def git_rev():
    try:
        out = subprocess.run(["git", "-C", SRC, "describe", "--always", "--dirty"],
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or None
    except Exception:
        return None


def median_min_max(vals):
    vals = [v for v in vals if v is not None]
    if not vals:
        return None, None, None
    return statistics.median(vals), min(vals), max(vals)


def out_paths(args, name):
    os.makedirs(args.output, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y-%m-%d-%H%M%S")
    base = os.path.join(args.output, f"{stamp}-{name}")
    return base + ".json", base + ".svg", base


def wait_socket(path, proc, what, secs=10, log=None):
    t = time.time()
    while time.time() - t < secs:
        if os.path.exists(path):
            return
        if proc.poll() is not None:
            tail = ""
            if log:
                with open(log) as f:
                    tail = ": " + f.read().strip()[-400:]
            die(f"{what} exited at start (status {proc.returncode}){tail}")
        time.sleep(0.02)
    die(f"{what}: {path} did not appear")


def stop(proc):
    if proc and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def gnuplot_chart(svg, base, title, ylabel, groups, systems, logscale):
    """groups: [(label, {system: (med, min, max)})]. A clustered bar chart
    with min-max error bars. Returns the chart path or None."""
    gp = shutil.which("gnuplot")
    script = os.path.join(HERE, "bench.gnuplot")
    if not gp or not os.path.exists(script):
        say("gnuplot not found: no chart (apt-get install gnuplot-nox)")
        return None
    dat = base + ".dat"
    with open(dat, "w") as f:
        f.write("# label " + " ".join(f"{s}_med {s}_min {s}_max" for s in systems) + "\n")
        for label, vals in groups:
            row = [label]
            for s in systems:
                m = vals.get(s)
                row += [f"{m[0]:.6g}", f"{m[1]:.6g}", f"{m[2]:.6g}"] if m else ["NaN"] * 3
            f.write(" ".join(row) + "\n")
    argv = [gp, "-e", f"datafile='{dat}'; outfile='{svg}'; charttitle='{title}'; "
            f"ylab='{ylabel}'; nsys={len(systems)}; sysnames='{' '.join(systems)}'; uselog={1 if logscale else 0}; "
            f"width={max(800, 60 * len(groups) * len(systems) // 2 + 200)}", script]
    r = run(argv, capture_output=True, text=True)
    if r.returncode != 0:
        say("gnuplot failed: " + r.stderr.strip()[-300:])
        return None
    return svg


# ---------------------------------------------------------------- blk ----

# name -> (rw, bs, rwmix_read, qd, queues)
def blk_workloads(quick, nq):
    wl = []
    def add(kind, bs, qd, queues=1):
        rw, mix = {"randread": ("randread", 100), "randwrite": ("randwrite", 0),
                   "randrw70": ("randrw", 70), "seqread": ("read", 100),
                   "seqwrite": ("write", 0)}[kind]
        name = f"{kind}-{bs // 1024}k-qd{qd}" + (f"-q{queues}" if queues > 1 else "")
        wl.append({"name": name, "rw": rw, "bs": bs, "rwmix_read": mix, "qd": qd, "queues": queues})
    if quick:
        add("randread", 4096, 1)
        add("randread", 4096, 32)
        add("randrw70", 4096, 32)
        add("seqread", 131072, 8)
        return wl
    for qd in (1, 16, 128):
        add("randread", 4096, qd)
    for qd in (1, 16, 128):
        add("randwrite", 4096, qd)
    for qd in (16, 128):
        add("randrw70", 4096, qd)
    add("seqread", 131072, 8)
    add("seqwrite", 131072, 8)
    if nq > 1:
        add("randread", 4096, 128, nq)
    return wl


def fio_direct(wl, target, size, direct, t, warm):
    rw = {"randread": "randread", "randwrite": "randwrite", "randrw": "randrw",
          "read": "read", "write": "write"}[wl["rw"]]
    argv = ["taskset", "-c", FRONTEND_CPU, "fio", "--name=direct", f"--filename={target}",
            "--ioengine=io_uring", f"--direct={1 if direct else 0}", f"--rw={rw}",
            f"--bs={wl['bs']}", f"--iodepth={wl['qd']}", f"--numjobs={wl['queues']}",
            "--group_reporting", f"--size={size}", "--time_based",
            f"--runtime={t}", f"--ramp_time={warm}", "--output-format=json",
            "--randrepeat=0", "--norandommap", "--thread"]
    if rw == "randrw":
        argv.append(f"--rwmixread={wl['rwmix_read']}")
    r = run(argv, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("fio: " + (r.stderr or r.stdout).strip()[-300:])
    j = json.loads(r.stdout[r.stdout.index("{"):])
    job = j["jobs"][0]
    iops = job["read"]["iops"] + job["write"]["iops"]
    bw = (job["read"]["bw_bytes"] + job["write"]["bw_bytes"]) / 1048576.0
    # latency percentiles: of the direction that did most of the I/O
    d = job["read"] if job["read"]["total_ios"] >= job["write"]["total_ios"] else job["write"]
    pct = d["clat_ns"].get("percentile", {})
    def p(k):
        v = pct.get(k)
        return v / 1000.0 if v else None
    runtime_s = job["job_runtime"] / 1000.0 if job.get("job_runtime") else t
    cpu = (job["usr_cpu"] + job["sys_cpu"]) / 100.0 * runtime_s
    return {"iops": iops, "bw_mib_s": bw, "lat_p50_us": p("50.000000"),
            "lat_p99_us": p("99.000000"), "lat_p999_us": p("99.900000"),
            "backend_cpu_s": cpu, "seconds": runtime_s}


def blkbench_argv(wl, sock, pid, t, warm, poll, packed=False):
    argv = ["taskset", "-c", FRONTEND_CPU, blkbench_exe(), "--socket", sock, "--rw", wl["rw"],
            "--bs", str(wl["bs"]), "--qd", str(wl["qd"]), "--queues", str(wl["queues"]),
            "--rwmix-read", str(wl["rwmix_read"]), "--time", str(t), "--warmup", str(warm),
            "--backend-pid", str(pid)]
    if poll:
        argv.append("--poll")
    if packed:
        argv.append("--packed")
    return argv


def blkbench(wl, sock, pid, t, warm, poll, packed=False):
    argv = blkbench_argv(wl, sock, pid, t, warm, poll, packed)
    r = run(argv, capture_output=True, text=True, timeout=t + warm + 60)
    if r.returncode != 0:
        raise RuntimeError("sluice-blkbench: " + r.stderr.strip()[-300:])
    return json.loads(r.stdout)


# rbd backing: an image in an existing Ceph cluster ($CEPH_CONF, pool
# $CEPH_POOL or "rbd"; tests/cephlib.sh's ceph_start gives a private one).
# "direct" there is `rbd bench` (librbd without any vhost-user) on the
# same image.
RBD_MAX_SIZE = 256 << 20     # a test cluster's memstore holds 1 GiB


def rbd_backing(size, tmpdirs):
    conf = os.environ.get("CEPH_CONF")
    if not conf or not shutil.which("rbd"):
        die("the rbd backing needs a Ceph cluster: set CEPH_CONF (and CEPH_POOL, default rbd); "
            "tests/cephlib.sh's ceph_start starts a private one", 2)
    pool = os.environ.get("CEPH_POOL", "rbd")
    image = f"sluice-bench-{os.getpid()}"
    size = min(size, RBD_MAX_SIZE)
    r = run(["rbd", "create", f"{pool}/{image}", "--size", f"{size >> 20}M"], capture_output=True, text=True)
    if r.returncode != 0:
        die(f"rbd create {pool}/{image}: {r.stderr.strip()[-300:]}")
    tmpdirs.append(("rbd", f"{pool}/{image}"))
    # written out in full, so reads reach the OSD (librbd answers reads of
    # objects its object map says do not exist without asking)
    r = run(["rbd", "bench", "--io-type", "write", "--io-pattern", "seq", "--io-size", "4M",
             "--io-threads", "4", "--io-total", str(size), f"{pool}/{image}"], capture_output=True, text=True)
    if r.returncode != 0:
        die(f"rbd bench (fill): {r.stderr.strip()[-300:]}")
    return (f"rbd image {pool}/{image} ({size >> 20} MiB, {conf})", f"rbd:{pool}/{image}", False, size)


def rbd_bench(wl, image, t, warm):
    """`rbd bench` on the image for warm + t seconds; IOPS from its
    per-second progress lines (cumulative ops at each elapsed second) after
    the warm-up. Its CPU time stands in for the backend's."""
    io_type, pattern = {"randread": ("read", "rand"), "randwrite": ("write", "rand"),
                        "randrw": ("readwrite", "rand"), "read": ("read", "seq"),
                        "write": ("write", "seq")}[wl["rw"]]
    argv = ["taskset", "-c", FRONTEND_CPU, "rbd", "bench", "--io-type", io_type, "--io-pattern", pattern,
            "--io-size", str(wl["bs"]), "--io-threads", str(wl["qd"] * wl["queues"]),
            "--io-total", str(1 << 50), image]
    if io_type == "readwrite":
        argv += ["--rw-mix-read", str(wl["rwmix_read"])]
    record(argv)
    out = tempfile.TemporaryFile(mode="w+")
    p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    # its first line may come late (a write waits for the image's lock)
    time.sleep(warm + t + 2.5)
    p.send_signal(signal.SIGINT)
    _, _, ru = os.wait4(p.pid, 0)
    p.returncode = 0
    out.seek(0)
    rows = []
    for line in out:
        f = line.split()
        if len(f) >= 3 and f[0].isdigit() and f[1].isdigit():
            rows.append((int(f[0]), int(f[1]), float(f[2])))
    w = [r for r in rows if r[0] >= max(1, round(warm))]
    if len(w) < 2:
        w = rows
    if not w:
        raise RuntimeError("rbd bench: no progress line")
    if len(w) == 1:
        secs, iops = 1, w[0][2]
    else:
        secs = w[-1][0] - w[0][0]
        iops = (w[-1][1] - w[0][1]) / secs
    return {"iops": iops, "bw_mib_s": iops * wl["bs"] / 1048576.0, "lat_p50_us": None,
            "lat_p99_us": None, "lat_p999_us": None,
            "backend_cpu_s": (ru.ru_utime + ru.ru_stime) * secs / (rows[-1][0] or 1), "seconds": secs}


def is_blockdev(path):
    import stat
    return stat.S_ISBLK(os.stat(path).st_mode)


def odirect_ok(path):
    """True when the file system of PATH takes O_DIRECT (tmpfs does since
    Linux 6.6)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
    except OSError:
        return False
    os.close(fd)
    return True


def make_backing(kind, size, tmpdirs):
    """-> (description, path or None, direct_io): direct_io is what the
    backends use (tmpfs: the page cache is the file, so off)."""
    if kind == "null":
        return "null (sluiced null=, qemu-storage-daemon null-co read-zeroes=on, fio on /dev/zero)", None, False
    if kind == "tmpfs":
        d = tempfile.mkdtemp(prefix="sluice-bench-", dir="/dev/shm")
        direct = False
    elif kind == "disk":
        d = tempfile.mkdtemp(prefix="sluice-bench-", dir=os.environ.get("SLUICE_BENCH_DISKDIR", "/var/tmp"))
        direct = True
    elif kind == "lvm":
        return lvm_backing(size, tmpdirs)
    elif kind == "rbd":
        return rbd_backing(size, tmpdirs)
    else:
        die(f"unknown backing '{kind}'", 2)
    tmpdirs.append(d)
    path = os.path.join(d, "disk.img")
    # written out in full, so reads hit real blocks, not holes
    r = run(["dd", "if=/dev/zero", f"of={path}", "bs=1M", f"count={size >> 20}",
             "conv=fsync", "status=none"])
    if r.returncode != 0:
        die(f"cannot create {path}")
    st = os.statvfs(d)
    return f"{kind} file {path} ({size >> 20} MiB)", path, direct


def lvm_backing(size, tmpdirs):
    """Inside the lab VM: a thin LV in a thin pool on a loop device."""
    lvmconf = ("activation{udev_sync=0 udev_rules=0 verify_udev_operations=1} "
               "devices{obtain_device_list_from_udev=0}")
    d = tempfile.mkdtemp(prefix="sluice-bench-lvm-")
    tmpdirs.append(d)
    img = os.path.join(d, "pv.img")
    run(["truncate", "-s", str(size * 2 + (256 << 20)), img], check=True)
    loop = run(["losetup", "-f", "--show", img], capture_output=True, text=True, check=True).stdout.strip()
    vg = f"slbench{os.getpid()}"
    cfg = ["--config", lvmconf]
    run(["pvcreate", "-q", *cfg, loop], check=True, capture_output=True)
    run(["vgcreate", "-q", *cfg, vg, loop], check=True, capture_output=True)
    run(["lvcreate", "-q", *cfg, "--type", "thin-pool", "-L", f"{(size >> 20) + 64}m", "-n", "pool", vg],
        check=True, capture_output=True)
    run(["lvcreate", "-q", *cfg, "-V", f"{size >> 20}m", "--thin", "-n", "vol", f"{vg}/pool"],
        check=True, capture_output=True)
    dev = f"/dev/mapper/{vg}-vol"
    run(["dd", "if=/dev/zero", f"of={dev}", "bs=1M", f"count={size >> 20}", "oflag=direct", "status=none"])
    tmpdirs.append(("lvm", vg, loop, cfg))
    return f"LVM thin volume {dev} on a loop device (inside the lab VM)", dev, True


def cleanup_tmp(tmpdirs):
    for d in reversed(tmpdirs):
        if isinstance(d, tuple) and d[0] == "rbd":
            subprocess.run(["rbd", "rm", "--no-progress", d[1]], capture_output=True)
        elif isinstance(d, tuple):
            _, vg, loop, cfg = d
            subprocess.run(["vgremove", "-qff", *cfg, vg], capture_output=True)
            subprocess.run(["losetup", "-d", loop], capture_output=True)
        else:
            shutil.rmtree(d, ignore_errors=True)


# Noisy neighbour: one sluiced worker serves two null devices, A unlimited
# and driven at QD128, B limited to NOISY_IOPS and driven at the same time.
NOISY_IOPS = 5000
NOISY_BURST = 0.05     # bucket of 250 requests: drained within the warm-up
NOISY_A = {"name": "randread-4k-qd128", "rw": "randread", "bs": 4096, "rwmix_read": 100,
           "qd": 128, "queues": 1}
NOISY_B = {"name": "randread-4k-qd32", "rw": "randread", "bs": 4096, "rwmix_read": 100,
           "qd": 32, "queues": 1}


def bench_noisy(args, reps, t, warm, work, procs):
    """A's IOPS alone and with B running; B's achieved rate against its
    limit. Returns the JSON section (medians, min, max, raw samples)."""
    size = 256 << 20
    a_sock = os.path.join(work, "noisy-a.sock")
    b_sock = os.path.join(work, "noisy-b.sock")
    limit = f"iops={NOISY_IOPS},burst={NOISY_BURST}"
    s_argv = ["taskset", "-c", BACKEND_CPU, sluiced_exe(), "--workers", "1",
              "--blk", f"socket={a_sock},null={size},id=noisy-a",
              "--blk", f"socket={b_sock},null={size},id=noisy-b,{limit}"]
    if args.poll_us is not None:
        s_argv[4:4] = ["--poll-us", str(args.poll_us)]
    record(s_argv)
    s_log = open(os.path.join(work, "sluiced-noisy.log"), "w")
    sp = subprocess.Popen(s_argv, stdout=s_log, stderr=subprocess.STDOUT)
    procs.append(sp)
    wait_socket(a_sock, sp, "sluiced", log=s_log.name)
    wait_socket(b_sock, sp, "sluiced", log=s_log.name)
    alone, with_b, b_rate, samples = [], [], [], []
    for rep in range(reps):
        # alternate which comes first, as the other benches do
        for phase in (("alone", "with-b") if rep % 2 == 0 else ("with-b", "alone")):
            try:
                if phase == "alone":
                    m = blkbench(NOISY_A, a_sock, sp.pid, t, warm, args.poll)
                    alone.append(m["iops"])
                    samples.append({"rep": rep, "device": "a", "phase": phase, **m})
                    continue
                # B starts first and measures a little longer, so it runs
                # through all of A's warm-up and measured interval.
                b_argv = blkbench_argv(NOISY_B, b_sock, sp.pid, t + warm, warm, args.poll)
                record(b_argv)
                bp = subprocess.Popen(b_argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True)
                try:
                    ma = blkbench(NOISY_A, a_sock, sp.pid, t, warm, args.poll)
                    out, err = bp.communicate(timeout=t + 2 * warm + 60)
                finally:
                    stop(bp)
                if bp.returncode != 0:
                    raise RuntimeError("sluice-blkbench (B): " + err.strip()[-300:])
                mb = json.loads(out)
            except (RuntimeError, subprocess.TimeoutExpired, ValueError) as e:
                die(f"noisy {phase}: {e}")
            with_b.append(ma["iops"])
            b_rate.append(mb["iops"])
            samples.append({"rep": rep, "device": "a", "phase": phase, **ma})
            samples.append({"rep": rep, "device": "b", "phase": phase, **mb})
        if VERBOSE:
            say(f"noisy rep {rep}: A alone {alone[-1]:.0f}, with B {with_b[-1]:.0f}, "
                f"B {b_rate[-1]:.0f} IOPS (limit {NOISY_IOPS})")
    stop(sp)
    a0, a1, b = median_min_max(alone), median_min_max(with_b), median_min_max(b_rate)
    return {"backing": "null", "workers": 1, "repetitions": reps,
            "a": {"workload": NOISY_A["name"], "limit": None,
                  "iops_alone": a0[0], "iops_alone_min": a0[1], "iops_alone_max": a0[2],
                  "iops_with_b": a1[0], "iops_with_b_min": a1[1], "iops_with_b_max": a1[2],
                  "with_b_vs_alone": a1[0] / a0[0] if a0[0] and a1[0] else None},
            "b": {"workload": NOISY_B["name"], "limit": limit, "limit_iops": NOISY_IOPS,
                  "iops": b[0], "iops_min": b[1], "iops_max": b[2],
                  "vs_limit": b[0] / NOISY_IOPS if b[0] else None},
            "samples": samples}


def noisy_table(n):
    a, b = n["a"], n["b"]
    headers = ["noisy neighbour (null, 1 worker)", "device", "IOPS", "min", "max", "ratio"]
    rows = [[f"A {a['workload']}", "unlimited, alone", fmt(a["iops_alone"]),
             fmt(a["iops_alone_min"]), fmt(a["iops_alone_max"]), ""],
            [f"A {a['workload']}", "unlimited, B running", fmt(a["iops_with_b"]),
             fmt(a["iops_with_b_min"]), fmt(a["iops_with_b_max"]),
             f"with/alone {fmt(a['with_b_vs_alone'], 2)}"],
            [f"B {b['workload']}", b["limit"], fmt(b["iops"]), fmt(b["iops_min"]),
             fmt(b["iops_max"]), f"achieved/limit {fmt(b['vs_limit'], 2)}"]]
    return headers, rows


def bench_blk(args):
    if os.geteuid() != 0:
        say("note: not root; pinning and /proc of other users' processes may fail")
    for exe, what in [(sluiced_exe(), "sluiced"), (blkbench_exe(), "sluice-blkbench")]:
        if not exe:
            die(f"{what} not found (build the tree, or set $SLUICED / $SLUICE_BLKBENCH)")
    qsd = shutil.which("qemu-storage-daemon")
    if not qsd:
        die("qemu-storage-daemon not found (apt-get install qemu-system-common)")
    if not shutil.which("fio"):
        die("fio not found (apt-get install fio)")
    quick = args.quick
    reps = args.reps or (1 if quick else 3)
    t = args.time or (1.0 if quick else 2.0)
    warm = args.warmup if args.warmup is not None else (0.3 if quick else 0.5)
    size = (256 << 20) if quick else (1 << 30)
    nq = args.queues or min(NCPU, 4)
    backings = args.backing or (["null", "tmpfs"] if quick else ["null", "tmpfs", "disk"])
    if args.lab_inner:
        backings = ["lvm"]
    wls = blk_workloads(quick, nq)
    # the noisy-neighbour section runs on null backing, beside it
    run_noisy = "null" in backings and not args.lab_inner
    if args.workloads:
        names = args.workloads.split(",")
        run_noisy = run_noisy and "noisy" in names
        wls = [w for w in wls if w["name"] in names]
        if not wls and not run_noisy:
            die("no such workload", 2)
    noisy = None
    # sluiced-packed: the same sluiced process, a second device with
    # packed=on, driven with packed virtqueues (VIRTIO_F_RING_PACKED).
    systems = ["sluiced", "sluiced-packed", "qemu-storage-daemon", "direct"]
    results, samples, notes = [], [], []
    fio_modes = {}
    tmpdirs = []
    work = tempfile.mkdtemp(prefix="sluice-bench-sock-")
    tmpdirs.append(work)
    procs = []
    started = time.time()
    try:
        for backing in backings if wls else []:
            bsize = size
            desc, path, direct, *rest = make_backing(backing, size, tmpdirs)
            if rest:
                bsize = rest[0]
            rbd = path is not None and path.startswith("rbd:")
            say(f"backing: {desc}")
            s_sock = os.path.join(work, f"sluiced-{backing}.sock")
            p_sock = os.path.join(work, f"sluiced-packed-{backing}.sock")
            q_sock = os.path.join(work, f"qsd-{backing}.sock")
            if rbd:
                dspec = f"queues={nq},rbd={path[4:]},ceph-conf={os.environ['CEPH_CONF']}"
            else:
                dspec = f"queues={nq}," + (f"null={size}" if path is None else
                                           f"path={path},direct={'on' if direct else 'off'}")
            s_argv = ["taskset", "-c", BACKEND_CPU, sluiced_exe(), "--workers", "1",
                      "--blk", f"socket={s_sock},{dspec}",
                      "--blk", f"socket={p_sock},{dspec},packed=on,id=packed"]
            # fio: O_DIRECT wherever the backing takes it (disk; tmpfs on
            # Linux 6.6 and later); /dev/zero (null) does not.
            fio_dio = path is not None and not rbd and odirect_ok(path)
            fio_modes[backing] = fio_dio
            if args.poll_us is not None:
                s_argv[4:4] = ["--poll-us", str(args.poll_us)]
            if rbd:
                rpool, rimage = path[4:].split("/")
                blockdev = (f"driver=rbd,node-name=n,pool={rpool},image={rimage},"
                            f"conf={os.environ['CEPH_CONF']}")
            elif path is None:
                blockdev = f"driver=null-co,node-name=n,size={size},read-zeroes=on"
            else:
                blockdev = (f"driver={'host_device' if is_blockdev(path) else 'file'},node-name=n,"
                            f"filename={path},cache.direct={'on' if direct else 'off'},aio=io_uring")
            q_argv = ["taskset", "-c", BACKEND_CPU, qsd, "--blockdev", blockdev, "--export",
                      f"type=vhost-user-blk,id=e,node-name=n,addr.type=unix,addr.path={q_sock},"
                      f"writable=on,num-queues={nq}"]
            record(s_argv)
            s_log = open(os.path.join(work, f"sluiced-{backing}.log"), "w")
            sp = subprocess.Popen(s_argv, stdout=s_log, stderr=subprocess.STDOUT)
            procs.append(sp)
            record(q_argv)
            q_log = open(os.path.join(work, f"qsd-{backing}.log"), "w")
            qp = subprocess.Popen(q_argv, stdout=q_log, stderr=subprocess.STDOUT)
            procs.append(qp)
            wait_socket(s_sock, sp, "sluiced", log=s_log.name)
            wait_socket(p_sock, sp, "sluiced", log=s_log.name)
            wait_socket(q_sock, qp, "qemu-storage-daemon", log=q_log.name)
            # the pid whose CPU counts is the backend itself, not taskset (it execs)
            target = path if path is not None else "/dev/zero"
            per = {(w["name"], s): [] for w in wls for s in systems}
            for rep in range(reps):
                order = systems[rep % len(systems):] + systems[:rep % len(systems)]
                for w in wls:
                    for s in order:
                        try:
                            if s == "sluiced":
                                m = blkbench(w, s_sock, sp.pid, t, warm, args.poll)
                            elif s == "sluiced-packed":
                                m = blkbench(w, p_sock, sp.pid, t, warm, args.poll, packed=True)
                            elif s == "qemu-storage-daemon":
                                m = blkbench(w, q_sock, qp.pid, t, warm, args.poll)
                            elif rbd:
                                m = rbd_bench(w, path[4:], t, warm)
                            else:
                                m = fio_direct(w, target, bsize, fio_dio, t, warm)
                        except (RuntimeError, subprocess.TimeoutExpired, ValueError) as e:
                            die(f"{backing} {w['name']} {s}: {e}")
                        per[(w["name"], s)].append(m)
                        samples.append({"backing": backing, "workload": w["name"], "system": s,
                                        "rep": rep, **m})
                        if VERBOSE:
                            say(f"{backing} {w['name']} {s}: {m['iops']:.0f} IOPS")
                say(f"{backing}: repetition {rep + 1}/{reps} done ({time.time() - started:.0f} s)")
            stop(sp)
            stop(qp)
            for w in wls:
                for s in systems:
                    ms = per[(w["name"], s)]
                    iops = median_min_max([m["iops"] for m in ms])
                    cpu = median_min_max([m["backend_cpu_s"] for m in ms])
                    secs = statistics.median([m["seconds"] for m in ms])
                    e = {"system": s, "workload": w["name"], "backing": backing,
                         "rw": w["rw"], "bs": w["bs"], "qd": w["qd"], "queues": w["queues"],
                         "iops": iops[0], "iops_min": iops[1], "iops_max": iops[2],
                         "bw_mib_s": statistics.median([m["bw_mib_s"] for m in ms]),
                         "lat_p50_us": median_min_max([m["lat_p50_us"] for m in ms])[0],
                         "lat_p99_us": median_min_max([m["lat_p99_us"] for m in ms])[0],
                         "lat_p999_us": median_min_max([m["lat_p999_us"] for m in ms])[0],
                         "backend_cpu_s": cpu[0], "seconds": secs, "repetitions": len(ms)}
                    if cpu[0]:
                        e["iops_per_backend_core"] = iops[0] * secs / cpu[0]
                    # the price of an I/O, polling included
                    per_io = [m["backend_cpu_s"] * 1e6 / (m["iops"] * m["seconds"])
                              for m in ms if m.get("backend_cpu_s") and m.get("iops")]
                    e["backend_cpu_us_per_io"] = median_min_max(per_io)[0]
                    results.append(e)
        if run_noisy:
            noisy = bench_noisy(args, reps, t, warm, work, procs)
            say(f"noisy neighbour done ({time.time() - started:.0f} s)")
    finally:
        for p in procs:
            stop(p)
        cleanup_tmp(tmpdirs)

    # ratios
    ratios = []
    idx = {(r["backing"], r["workload"], r["system"]): r for r in results}
    for backing in backings:
        for w in wls:
            s = idx[(backing, w["name"], "sluiced")]
            pk = idx[(backing, w["name"], "sluiced-packed")]
            q = idx[(backing, w["name"], "qemu-storage-daemon")]
            d = idx[(backing, w["name"], "direct")]
            def ratio(a, b):
                return a / b if a and b else None
            ratios.append({"backing": backing, "workload": w["name"],
                           "sluiced_vs_qsd": ratio(s["iops"], q["iops"]),
                           "sluiced_vs_direct": ratio(s["iops"], d["iops"]),
                           "sluiced_packed_vs_qsd": ratio(pk["iops"], q["iops"]),
                           "sluiced_packed_vs_direct": ratio(pk["iops"], d["iops"]),
                           "packed_vs_split": ratio(pk["iops"], s["iops"]),
                           "p99_sluiced_vs_qsd": ratio(s["lat_p99_us"], q["lat_p99_us"]),
                           "iops_per_core_sluiced_vs_qsd": ratio(s.get("iops_per_backend_core"),
                                                                 q.get("iops_per_backend_core")),
                           "cpu_per_io_sluiced_vs_qsd": ratio(s.get("backend_cpu_us_per_io"),
                                                              q.get("backend_cpu_us_per_io"))})
    if noisy:
        notes.append(f"noisy neighbour: one sluiced (--workers 1, null backing) with device A unlimited "
                     f"({NOISY_A['name']}) and device B at {noisy['b']['limit']} ({NOISY_B['name']}), both "
                     "driven by sluice-blkbench at the same time; A is measured alone and with B running")
    if args.lab_inner:
        notes.append("measured inside the lab VM (QEMU TCG emulation): not comparable with host figures")
    notes.append("sluiced and qemu-storage-daemon are driven by sluice-blkbench (vhost/ frontend, "
                 f"{'polling' if args.poll else 'eventfd kicks and calls'}); direct is fio io_uring on the "
                 "backing itself in the driver's place (for null: /dev/zero, buffered)")
    if any(b != "rbd" for b in backings):
        notes.append("direct: fio --ioengine=io_uring " + ", ".join(
            f"{b}: --direct={1 if fio_modes.get(b) else 0}" for b in backings if b != "rbd"))
    if "rbd" in backings:
        notes.append("rbd: sluiced rbd=POOL/IMAGE and qemu-storage-daemon driver=rbd on the same image "
                     f"(filled first, {RBD_MAX_SIZE >> 20} MiB at most), librbd's default cache for both; "
                     "direct is `rbd bench` on it (librbd alone, --io-threads = QD x queues; IOPS from its "
                     "per-second progress after the warm-up; no latency figures)")
    notes.append("sluiced-packed: the same sluiced process, a second device with packed=on, "
                 "driven with packed virtqueues (sluice-blkbench --packed); sluiced is split rings")
    notes.append("direct: backend_cpu_s is fio's own CPU time (usr+sys), since there is no backend process")
    notes.append("CPU us/IO: backend CPU time (all threads, from /proc) per completed I/O, polling "
                 "included; CPU/IO s/q below 1 means sluiced spends less per I/O than qemu-storage-daemon")
    if not args.poll:
        notes.append("eventfd mode: the driver sleeps in poll() on a non-blocking call eventfd when its "
                     "used ring is empty, for both backends alike (qemu-storage-daemon sets O_NONBLOCK on "
                     "the call fd it is given; a blocking read() would silently turn into a busy poll for it "
                     "alone)")
    config = {"quick": quick, "repetitions": reps, "seconds": t, "warmup_s": warm,
              "size_bytes": size, "queues_max": nq, "backings": backings,
              "fio_direct": fio_modes,
              "mode": "poll" if args.poll else "eventfd", "systems": systems,
              "sluiced_poll_us": args.poll_us}
    versions = {"sluice": git_rev(), "sluiced": first_line([sluiced_exe(), "--version"]),
                "qemu-storage-daemon": first_line([qsd, "--version"]),
                "fio": first_line(["fio", "--version"]), "kernel": platform.release()}
    headers = ["workload", "system", "IOPS", "min", "max", "MiB/s", "p50 us", "p99 us",
               "p99.9 us", "be CPU s", "CPU us/IO", "IOPS/core"]
    rows = []
    for backing in backings:
        rows.append([f"[{backing}]"])
        for w in wls:
            for s in systems:
                r = idx[(backing, w["name"], s)]
                rows.append([w["name"], s, fmt(r["iops"]), fmt(r["iops_min"]), fmt(r["iops_max"]),
                             fmt(r["bw_mib_s"]), fmt(r["lat_p50_us"]), fmt(r["lat_p99_us"]),
                             fmt(r["lat_p999_us"]), fmt(r["backend_cpu_s"], 2),
                             fmt(r.get("backend_cpu_us_per_io"), 2),
                             fmt(r.get("iops_per_backend_core"))])
            ra = next(x for x in ratios if x["backing"] == backing and x["workload"] == w["name"])
            rows.append(["", "ratio", f"sluiced/qsd {fmt(ra['sluiced_vs_qsd'], 2)}",
                         f"sluiced/direct {fmt(ra['sluiced_vs_direct'], 2)}",
                         f"packed/split {fmt(ra['packed_vs_split'], 2)}",
                         f"packed/qsd {fmt(ra['sluiced_packed_vs_qsd'], 2)}", "",
                         f"p99 s/q {fmt(ra['p99_sluiced_vs_qsd'], 2)}", "", "",
                         f"CPU/IO s/q {fmt(ra['cpu_per_io_sluiced_vs_qsd'], 2)}",
                         f"per-core s/q {fmt(ra['iops_per_core_sluiced_vs_qsd'], 2)}"])
    groups = [(f"{b}:{w['name']}", {s: (idx[(b, w['name'], s)]["iops"], idx[(b, w['name'], s)]["iops_min"],
                                         idx[(b, w['name'], s)]["iops_max"]) for s in systems})
              for b in backings for w in wls]
    config["noisy"] = bool(noisy)
    extra = [noisy_table(noisy)] if noisy else []
    return finish(args, "blk", results, ratios, samples, config, versions, notes, headers, rows,
                  groups, systems, "IOPS (median, min-max bars)", True, started,
                  extra_doc={"noisy": noisy} if noisy else None, extra_tables=extra)


def fmt(v, nd=None):
    if v is None:
        return "-"
    if nd is not None:
        return f"{v:.{nd}f}"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 100:
        return f"{v:.0f}"
    return f"{v:.3g}"


def print_table(headers, rows, f):
    table = [headers] + rows
    widths = [max(len(str(r[i])) for r in table if i < len(r) and len(r) > 1) for i in range(len(headers))]
    for r in table:
        if len(r) == 1:
            print(r[0], file=f)
            continue
        print("  ".join(str(c).rjust(widths[i]) if i >= 2 else str(c).ljust(widths[i])
                        for i, c in enumerate(r)).rstrip(), file=f)


def finish(args, name, results, ratios, samples, config, versions, notes, headers, rows,
           groups, systems, ylabel, logscale, started, extra_doc=None, extra_tables=()):
    jpath, svg, base = out_paths(args, name)
    title = f"sluice bench {name} ({'quick' if config.get('quick') else 'full'}, {platform.node()})"
    chart = gnuplot_chart(svg, base, title, ylabel, groups, systems, logscale)
    doc = {"bench": name, "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
           "duration_s": round(time.time() - started, 1), "machine": machine(),
           "versions": versions, "config": config, "commands": COMMANDS, "notes": notes,
           "results": results, "ratios": ratios, "samples": samples,
           "json": jpath, "chart": chart}
    doc.update(extra_doc or {})
    with open(jpath, "w") as f:
        json.dump(doc, f, indent=1)
    if args.json:
        json.dump(doc, sys.stdout)
        print()
    else:
        print_table(headers, rows, sys.stdout)
        for h, r in extra_tables:
            print(file=sys.stdout)
            print_table(h, r, sys.stdout)
        for n in notes:
            print(f"note: {n}")
        print(f"results: {jpath}" + (f"\nchart:   {chart}" if chart else ""))
    return 0


# ---------------------------------------------------------------- net ----

def testpmd_argv(cpu, prefix, vdev, mode, size, stats=True):
    argv = ["dpdk-testpmd", "--lcores", f"0@{cpu},1@{cpu}", "--no-huge", "-m", "512",
            "--no-pci", f"--file-prefix={prefix}", "--vdev", vdev, "--log-level=*:error", "--",
            "--total-num-mbufs=32768", f"--forward-mode={mode}", "--nb-cores=1",
            "--stats-period=1"]
    if mode == "txonly":
        argv.append(f"--txpkts={size}")
    return argv


PPS_RE = re.compile(r"(Rx|Tx)-pps:\s+(\d+)")


def parse_pps(text, which):
    return [int(v) for k, v in PPS_RE.findall(text) if k == which]


def run_testpmd(argv, secs, log):
    """Run testpmd for SECS seconds (stats every second), then SIGINT."""
    record(argv)
    with open(log, "w") as f:
        p = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    return p


def finish_testpmd(p, log):
    if p.poll() is None:
        p.send_signal(signal.SIGINT)
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    with open(log) as f:
        return f.read()


def vhost_workers(pid):
    """/proc paths of the kernel's vhost-net workers for PID: threads of PID
    named vhost-* (kernel 6.4 on), or kernel threads named vhost-<PID>."""
    def comm(path):
        try:
            with open(f"{path}/comm") as f:
                return f.read().strip()
        except OSError:
            return ""
    try:
        own = [f"/proc/{pid}/task/{t}" for t in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        return []
    found = [p for p in own if comm(p).startswith("vhost-")]
    if not found:
        found = [f"/proc/{p}" for p in os.listdir("/proc") if p.isdigit() and
                 comm(f"/proc/{p}") == f"vhost-{pid}"]
    return found


def task_cpu_ns(pid, vhost=False):
    """CPU time (ns) so far of PID's threads, or of its vhost-net workers."""
    total = 0
    try:
        paths = vhost_workers(pid) if vhost else \
            [f"/proc/{pid}/task/{t}" for t in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        return 0
    for p in paths:
        try:
            with open(f"{p}/schedstat") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


def tap_stats(ns, tap):
    r = subprocess.run(["ip", "-n", ns, "-j", "-s", "link", "show", tap], capture_output=True, text=True)
    s = json.loads(r.stdout)[0]["stats64"]
    return s["rx"]["packets"], s["rx"]["dropped"], s["tx"]["packets"], s["tx"]["dropped"]


def bench_net(args):
    if os.geteuid() != 0:
        die("net: needs root (network namespaces, taps)")
    if not shutil.which("dpdk-testpmd"):
        die("dpdk-testpmd not found (apt-get install dpdk)")
    if not sluiced_exe():
        die("sluiced not found (build the tree, or set $SLUICED)")
    quick = args.quick
    reps = args.reps or (1 if quick else 3)
    t = int(args.time or (2 if quick else 5))
    warm = 2          # one-second samples dropped once traffic flows
    sizes = [64] if quick else [64, 1500]
    wls = [{"name": f"{d}-{s}b", "dir": d, "size": s} for d in ("tx", "rx") for s in sizes]
    if args.workloads:
        names = args.workloads.split(",")
        wls = [w for w in wls if w["name"] in names] or die("no such workload", 2)
    # In the lab VM (TCG) testpmd's vhost PMD does not even come up in time;
    # the userspace limit is the host run's.
    systems = ["sluiced"] if args.lab_inner else ["sluiced", "dpdk-vhost"]
    if args.lab_inner:
        run(["modprobe", "vhost_net"])
    if os.path.exists("/dev/vhost-net"):
        systems.append("vhost-net")     # the fair peer for a tap backend
    elif args.lab_inner:
        die("net: no /dev/vhost-net in the lab VM (modprobe vhost_net failed)")
    pid = os.getpid()
    ns = f"slbench{pid}"
    tap = f"sl-bn{pid % 100000}-0"
    work = tempfile.mkdtemp(prefix="sluice-bench-net-")
    started = time.time()
    samples, notes = [], []
    per = {(w["name"], s): [] for w in wls for s in systems}
    sp = None
    try:
        run(["ip", "netns", "add", ns], check=True)
        run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        s_sock = os.path.join(work, "sluiced.sock")
        s_argv = ["nsenter", f"--net=/run/netns/{ns}", "taskset", "-c", BACKEND_CPU, sluiced_exe(),
                  "--workers", "1", "--net", f"socket={s_sock},tap={tap},id=bn{pid % 100000}"]
        record(s_argv)
        s_log = open(os.path.join(work, "sluiced.log"), "w")
        sp = subprocess.Popen(s_argv, stdout=s_log, stderr=subprocess.STDOUT)
        wait_socket(s_sock, sp, "sluiced")
        time.sleep(0.2)
        run(["ip", "netns", "exec", ns, "sysctl", "-qw", f"net.ipv6.conf.{tap}.disable_ipv6=1"])
        for rep in range(reps):
            order = systems if rep % 2 == 0 else systems[::-1]
            for w in wls:
                for s in order:
                    m = net_one(s, w, t, warm, work, ns, tap, s_sock, sp.pid, rep)
                    per[(w["name"], s)].append(m)
                    samples.append({"workload": w["name"], "system": s, "rep": rep, **m})
                    if VERBOSE:
                        say(f"{w['name']} {s}: {m['mpps']:.3f} Mpps, "
                            f"backend {fmt(m.get('cpu_ns_per_pkt'))} ns CPU/packet")
            say(f"repetition {rep + 1}/{reps} done ({time.time() - started:.0f} s)")
    finally:
        if sp:
            if sp.poll() is None:
                sp.send_signal(signal.SIGTERM)
                try:
                    sp.wait(10)
                except subprocess.TimeoutExpired:
                    sp.kill()
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)

    results, ratios = [], []
    idx = {}
    for w in wls:
        for s in systems:
            ms = per[(w["name"], s)]
            mp = median_min_max([m["mpps"] for m in ms])
            e = {"system": s, "workload": w["name"], "direction": w["dir"], "frame_bytes": w["size"],
                 "mpps": mp[0], "mpps_min": mp[1], "mpps_max": mp[2],
                 "gbps": mp[0] * w["size"] * 8 / 1000.0, "repetitions": len(ms),
                 "backend_cpu": statistics.median([m["backend_cpu"] for m in ms]),
                 "cpu_ns_per_pkt": statistics.median([m["cpu_ns_per_pkt"] for m in ms
                                                      if m["cpu_ns_per_pkt"] is not None] or [0])}
            if s == "sluiced" and w["dir"] == "tx":
                tp = median_min_max([m.get("tap_rx_mpps") for m in ms])
                e["tap_rx_mpps"] = tp[0]
                e["tap_rx_dropped"] = statistics.median([m.get("tap_rx_dropped", 0) for m in ms])
            if s == "sluiced" and w["dir"] == "rx":
                e["offered_mpps"] = median_min_max([m.get("offered_mpps") for m in ms])[0]
            results.append(e)
            idx[(w["name"], s)] = e
        a, b = idx[(w["name"], "sluiced")], idx.get((w["name"], "dpdk-vhost"))
        ra = {"workload": w["name"],
              "sluiced_vs_dpdk_vhost": a["mpps"] / b["mpps"] if b and a["mpps"] and b["mpps"] else None}
        if "vhost-net" in systems:
            v = idx[(w["name"], "vhost-net")]
            ra["sluiced_vs_vhost_net"] = a["mpps"] / v["mpps"] if a["mpps"] and v["mpps"] else None
        ratios.append(ra)
    # tap -> guest against guest -> tap, per frame size, each system
    rx_tx = {}
    for size in sizes:
        for s in systems:
            tx, rx = idx.get((f"tx-{size}b", s)), idx.get((f"rx-{size}b", s))
            if tx and rx and tx["mpps"]:
                rx_tx[f"{s}-{size}b"] = rx["mpps"] / tx["mpps"]
    if rx_tx:
        ratios.append({"workload": "rx/tx", **rx_tx})
    notes.append("frontend: dpdk-testpmd virtio_user0 (no hugepages) on CPU "
                 f"{FRONTEND_CPU}; backend (sluiced on a tap in a namespace, or testpmd net_vhost0) on CPU {BACKEND_CPU}")
    notes.append("tx = frontend txonly -> backend (Mpps the backend took off the ring); "
                 "rx = backend -> frontend rxonly (sluiced: sluice-pktgen writes frames into the tap "
                 "inside the namespace, on the backend CPU; dpdk-vhost: testpmd txonly)")
    notes.append("tap_rx_mpps: packets per second that reached the namespace through the tap "
                 "(the tap path's cost); frame sizes exclude the 4-byte FCS")
    notes.append("CPU ns/pkt: the backend's CPU time over the measured window divided by the packets "
                 "it moved (sluiced's threads; the backend testpmd, which polls a whole core; "
                 "vhost-net's vhost-<pid> kernel worker)")
    if "vhost-net" in systems:
        notes.append("vhost-net: testpmd virtio_user0,path=/dev/vhost-net,iface=TAP in the same "
                     "namespace, the kernel's vhost worker pinned to the backend CPU; rx fed by "
                     "sluice-pktgen into its tap as for sluiced")
    for k, v in rx_tx.items():
        notes.append(f"tap->guest / guest->tap {k}: {v:.2f}")
    config = {"quick": quick, "repetitions": reps, "seconds": t, "warmup_s": warm, "systems": systems}
    versions = {"sluice": git_rev(), "sluiced": first_line([sluiced_exe(), "--version"]),
                "dpdk": dpkg_version("dpdk") or dpkg_version("dpdk-dev"), "kernel": platform.release()}
    headers = ["workload", "system", "Mpps", "min", "max", "Gbit/s", "CPU ns/pkt", "tap Mpps",
               "ratio s/dpdk"] + (["ratio s/vhost-net"] if "vhost-net" in systems else [])
    rows = []
    for w in wls:
        for s in systems:
            r = idx[(w["name"], s)]
            ra = next(x for x in ratios if x["workload"] == w["name"])
            rows.append([w["name"], s, fmt(r["mpps"], 3), fmt(r["mpps_min"], 3), fmt(r["mpps_max"], 3),
                         fmt(r["gbps"], 2), fmt(r["cpu_ns_per_pkt"], 0),
                         fmt(r.get("tap_rx_mpps"), 3) if "tap_rx_mpps" in r else "",
                         fmt(ra["sluiced_vs_dpdk_vhost"], 2) if s == "sluiced" and
                         "dpdk-vhost" in systems else ""] +
                        ([fmt(ra.get("sluiced_vs_vhost_net"), 2) if s == "sluiced" else ""]
                         if "vhost-net" in systems else []))
    groups = [(w["name"], {s: (idx[(w["name"], s)]["mpps"], idx[(w["name"], s)]["mpps_min"],
                               idx[(w["name"], s)]["mpps_max"]) for s in systems}) for w in wls]
    return finish(args, "net", results, ratios, samples, config, versions, notes, headers, rows,
                  groups, systems, "Mpps (median, min-max bars)", False, started)


def net_one(system, w, t, warm, work, ns, tap, s_sock, s_pid, rep):
    size = w["size"]
    fe_mode = "txonly" if w["dir"] == "tx" else "rxonly"
    pid = os.getpid()
    fe_log = os.path.join(work, f"fe-{system}-{w['name']}-{rep}.log")
    secs = warm + t
    be = None
    gen = None
    if system == "dpdk-vhost":
        sock = os.path.join(work, f"vhost-{w['name']}-{rep}.sock")
        be_log = os.path.join(work, f"be-{w['name']}-{rep}.log")
        be_mode = "rxonly" if w["dir"] == "tx" else "txonly"
        be = run_testpmd(testpmd_argv(BACKEND_CPU, f"slbbe{pid}", f"net_vhost0,iface={sock},queues=1",
                                      be_mode, size), secs, be_log)
        wait_socket(sock, be, "testpmd (net_vhost0)")
    elif system == "vhost-net":
        sock = None
        tap = f"sl-vh{pid % 100000}"     # testpmd creates it in the namespace
    else:
        sock = s_sock
    if sock:
        fe = run_testpmd(testpmd_argv(FRONTEND_CPU, f"slbfe{pid}", f"virtio_user0,path={sock},queues=1",
                                      fe_mode, size), secs, fe_log)
    else:
        fe = run_testpmd(["nsenter", f"--net=/run/netns/{ns}"] +
                         testpmd_argv(FRONTEND_CPU, f"slbfe{pid}",
                                      f"virtio_user0,path=/dev/vhost-net,iface={tap},queues=1",
                                      fe_mode, size), secs, fe_log)
    res = {}
    which = "Tx" if w["dir"] == "tx" else "Rx"

    def samples_now():
        with open(fe_log) as f:
            pps = parse_pps(f.read(), which)
        while pps and pps[0] == 0:       # before the device came up / traffic began
            pps.pop(0)
        return pps

    def wait_samples(n, limit):
        t_end = time.time() + limit
        while time.time() < t_end:
            if len(samples_now()) >= n:
                return True
            if fe.poll() is not None:
                return False
            time.sleep(0.05)
        return False

    # testpmd without hugepages takes seconds to start: wait for its ports
    t_end = time.time() + 60
    while time.time() < t_end and fe.poll() is None:
        with open(fe_log) as f:
            if "Port statistics" in f.read():
                break
        time.sleep(0.05)
    if system == "vhost-net":
        run(["ip", "netns", "exec", ns, "sysctl", "-qw", f"net.ipv6.conf.{tap}.disable_ipv6=1"])
        run(["ip", "-n", ns, "link", "set", tap, "up"])
        for p in vhost_workers(fe.pid):
            try:
                os.sched_setaffinity(int(os.path.basename(p)), {int(BACKEND_CPU)})
            except OSError:
                pass
    if system != "dpdk-vhost" and w["dir"] == "rx":
        time.sleep(0.5)
        gargv = ["ip", "netns", "exec", ns, "taskset", "-c", BACKEND_CPU, pktgen_exe(), tap, str(size),
                 "600"]
        record(gargv)
        gen = subprocess.Popen(gargv, stdout=subprocess.DEVNULL)
    ok = wait_samples(warm, 60)
    if system == "sluiced":
        cpu = lambda: task_cpu_ns(s_pid)
    elif system == "dpdk-vhost":
        cpu = lambda: task_cpu_ns(be.pid)
    else:
        cpu = lambda: task_cpu_ns(fe.pid, vhost=True)
    if system != "dpdk-vhost":
        s0 = tap_stats(ns, tap)
    c0 = cpu()
    t0 = time.time()
    ok = ok and wait_samples(warm + t + 1, t + 30)
    c1 = cpu()
    dt = time.time() - t0
    res["backend_cpu"] = (c1 - c0) / 1e9 / dt
    if system != "dpdk-vhost":
        s1 = tap_stats(ns, tap)
        if w["dir"] == "tx":
            res["tap_rx_mpps"] = (s1[0] - s0[0]) / dt / 1e6
            res["tap_rx_dropped"] = s1[1] - s0[1]
        else:
            res["offered_mpps"] = (s1[2] - s0[2] + s1[3] - s0[3]) / dt / 1e6
            res["tap_tx_dropped"] = s1[3] - s0[3]
    if gen:
        gen.send_signal(signal.SIGTERM)
        gen.wait()
    out = finish_testpmd(fe, fe_log)
    if be:
        finish_testpmd(be, be_log)
    pps = samples_now()[warm:warm + t]  # one sample a second; warm-up samples dropped
    if not ok or not pps or max(pps) == 0:
        die(f"net {w['name']} {system}: testpmd reported no {which} traffic (log: {out[-400:]})")
    res["mpps"] = statistics.median(pps) / 1e6
    res["pps_samples"] = pps
    res["cpu_ns_per_pkt"] = (c1 - c0) / (statistics.mean(pps) * dt) if statistics.mean(pps) else None
    return res


# --------------------------------------------------------------- boot ----

def script_args(name, rest, runs=False):
    """The options of the benches run by a script (boot, migrate): --quick,
    --output, --json (and --runs); None on a bad one."""
    ap = argparse.ArgumentParser(prog=f"sluice bench {name}", add_help=False)
    ap.add_argument("--quick", action="store_true")
    if runs:
        ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--output", default="results")
    ap.add_argument("--json", action="store_true")
    try:
        return ap.parse_args(rest)
    except SystemExit:
        return None


def bench_boot(rest):
    """sluice bench boot: time from exec to guest init and the VMM's own memory
    (RSS minus guest RAM), sluice-vmm against QEMU booting the same kernel and
    initramfs with the same vCPUs and RAM, inside the lab VM (nested KVM: the
    host's KVM cannot run Linux at speed here). The runs alternate between the
    two VMMs; each run's line is printed as it ends. Every boot has its own time
    limit (10x the median of that VMM's good runs so far, 30 s to
    SLUICE_BENCH_BOOT_LIMIT, default 300 s); a run that hits it is killed and
    recorded as failed (reason, console tail; evidence in
    DIR/<date>-boot-evidence/), and the bench goes on. Prints medians of the good
    runs with min and max, how many runs failed, and the ratios QEMU/sluice-vmm;
    writes DIR/<date>-boot.json (failed runs under "failed"). Exits 1 when a VMM
    had no good run. No thresholds. The boots run in tools/bench/boot.sh.
    """
    # `sluice bench boot` (tools/sluice/cmd-bench.c) owns the usage text and
    # has checked these options.
    a = script_args("boot", rest, runs=True)
    if a is None:
        return 2
    runs = 1 if a.quick else a.runs
    boot_sh = os.path.join(SRC, "tools", "bench", "boot.sh")
    if not SRC or not os.access(boot_sh, os.X_OK):
        die("boot needs the source tree (tools/bench/boot.sh, the guest kit, the lab VM): "
            "run the build tree's sluice")
    stamp = datetime.datetime.now().strftime("%Y-%m-%d-%H%M%S")
    os.makedirs(a.output, exist_ok=True)
    evid = os.path.abspath(os.path.join(a.output, stamp + "-boot-evidence"))
    cmd = [boot_sh, str(runs), evid]
    env = dict(os.environ, SLUICE_SRC=SRC)
    # The sluice-vmm of this build tree (SLUICE_VMM or SLUICE_BUILD choose
    # another; boot.sh defaults to SLUICE_SRC/build).
    vmm = os.path.normpath(os.path.join(HERE, "../../src/sluice-vmm/sluice-vmm"))
    if "SLUICE_VMM" not in env and "SLUICE_BUILD" not in env and os.access(vmm, os.X_OK):
        env["SLUICE_VMM"] = vmm
    # Each run's line is shown as the lab VM prints it (its stderr goes
    # straight to ours); --json keeps stdout for the document.
    samples = {"sluice-vmm": [], "qemu": []}
    failed = {"sluice-vmm": [], "qemu": []}
    tail, last = [], None
    show = sys.stderr if a.json else sys.stdout
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True, bufsize=1)
    for line in p.stdout:
        show.write(line)
        show.flush()
        tail = (tail + [line])[-40:]
        m = re.match(r"run (\d+) (sluice-vmm|qemu):\s+boot (\d+) ms, total (\d+) ms, vmm (\d+|-) KiB", line)
        if m:
            samples[m.group(2)].append({"run": int(m.group(1)), "boot_ms": int(m.group(3)),
                                        "total_ms": int(m.group(4)),
                                        "rss_kib": None if m.group(5) == "-" else int(m.group(5))})
            continue
        m = re.match(r"run (\d+) (sluice-vmm|qemu): FAILED \((.*)\)$", line)
        if m:
            last = {"run": int(m.group(1)), "failed": True, "reason": m.group(3), "console_tail": []}
            failed[m.group(2)].append(last)
            continue
        m = re.match(r"  console: (.*)$", line)
        if m and last:
            last["console_tail"].append(m.group(1))
    rc = p.wait()
    if os.path.isdir(evid) and not os.listdir(evid):
        os.rmdir(evid)
    none = [s for s in samples if not samples[s]]
    if none:
        for s in none:
            print(f"sluice: bench boot: no good run for {s} ({len(failed[s])} failed)", file=sys.stderr)
        if rc != 0 and not any(failed.values()):
            print(f"sluice: bench boot: the lab run failed (status {rc})", file=sys.stderr)
        return 1
    if rc != 0:
        print(f"sluice: bench boot: the lab run failed (status {rc}); figures of the runs that ended are kept",
              file=sys.stderr)
    results = []
    for system, s in samples.items():
        r = {"system": system, "workload": "boot-2cpu-512m", "good_runs": len(s),
             "failed_runs": len(failed[system])}
        for k in ("boot_ms", "total_ms", "rss_kib"):
            v = [x[k] for x in s if x[k] is not None]   # RSS: "-" when missed
            r[k] = statistics.median(v) if v else None
            r[k + "_min"], r[k + "_max"] = (min(v), max(v)) if v else (None, None)
        results.append(r)
    sl, qe = results
    ratios = {k: (qe[k] / sl[k] if sl[k] and qe[k] is not None else None)
              for k in ("boot_ms", "total_ms", "rss_kib")}
    doc = {"name": "boot", "date": datetime.datetime.now().isoformat(timespec="seconds"),
           "machine": {"host": platform.node(), "kernel": platform.release(), "cpus": os.cpu_count(),
                       "note": "inside the lab VM (QEMU TCG, nested KVM): seconds are emulated"},
           "commands": [" ".join(cmd)], "runs": runs, "samples": samples,
           "failed": failed, "evidence": evid if os.path.isdir(evid) else None, "results": results,
           "ratios_qemu_over_sluice_vmm": ratios}
    path = os.path.join(a.output, stamp + "-boot.json")
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
    if a.json:
        print(json.dumps(doc, indent=1))
        return 1 if rc != 0 else 0
    print(f"{'median of good runs':<24}{'sluice-vmm':>14}{'qemu':>14}{'qemu/sluice':>13}")
    for k, label, unit, div in (("boot_ms", "exec to guest init", "ms", 1), ("total_ms", "exec to exit", "ms", 1),
                                ("rss_kib", "VMM memory (RSS-RAM)", "MiB", 1024)):
        fmt = lambda x, w: f"{x / div:>{w}.1f}" if x is not None else f"{'-':>{w}}"
        print(f"{label:<24}{fmt(sl[k], 11)} {unit:<3}{fmt(qe[k], 10)} {unit:<3}"
              f"{ratios[k] if ratios[k] is not None else float('nan'):>12.2f}")
    print(f"{'good / failed runs':<24}{len(samples['sluice-vmm']):>10} / {len(failed['sluice-vmm']):<2}"
          f"{len(samples['qemu']):>10} / {len(failed['qemu']):<2}")
    for system in failed:
        for f in failed[system]:
            print(f"failed: run {f['run']} {system}: {f['reason']}")
    print(f"(lab VM, nested KVM; min/max and raw samples in {path})")
    return 1 if rc != 0 else 0


# ------------------------------------------------------------ migrate ----

def bench_migrate(rest):
    """sluice bench migrate: storage migration's mirror throughput against the
    raw copy limit (nbdcopy of the same file to the same target, loopback
    TCP; targets: a second sluiced's incoming device and qemu-nbd), and
    shared-storage live migration of a TCG guest (downtime and total time
    from QMP query-migrate) with its disk on sluiced and on
    qemu-storage-daemon's vhost-user-blk export ("n/a" with QEMU's reason
    when a backend cannot migrate). One run of each; writes
    DIR/<date>-migrate.json. The work is done by tools/bench/migrate.sh.
    """
    a = script_args("migrate", rest)
    if a is None:
        return 2
    sh = os.path.join(SRC, "tools", "bench", "migrate.sh")
    if not SRC or not os.access(sh, os.X_OK):
        die("migrate needs the source tree (tools/bench/migrate.sh, the guest kit): run the build tree's sluice")
    env = dict(os.environ, SLUICE_SRC=SRC)
    build = os.path.normpath(os.path.join(HERE, "..", ".."))
    if "SLUICE_BUILD" not in env and os.access(os.path.join(build, "src", "sluiced", "sluiced"), os.X_OK):
        env["SLUICE_BUILD"] = build
    cmd = [sh] + (["--quick"] if a.quick else [])
    record(cmd)
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, text=True)
    mirror, nbdcopy, migr = {}, {}, []
    for line in p.stdout.splitlines():
        m = re.match(r"(mirror|nbdcopy) (\S+): (\d+) bytes in (\d+) ms$", line)
        if m:
            (mirror if m.group(1) == "mirror" else nbdcopy)[m.group(2)] = (int(m.group(3)), int(m.group(4)))
            continue
        m = re.match(r"migrate (\S+): downtime (\d+) ms, total (\d+) ms, setup (\d+) ms, rounds (\d+)$", line)
        if m:
            migr.append({"backend": m.group(1), "downtime_ms": int(m.group(2)), "total_ms": int(m.group(3)),
                         "setup_ms": int(m.group(4)), "rounds": int(m.group(5))})
            continue
        m = re.match(r"migrate (\S+): n/a \((.*)\)$", line)
        if m:
            migr.append({"backend": m.group(1), "na": m.group(2)})
    if p.returncode != 0:
        die(f"migrate: tools/bench/migrate.sh failed (status {p.returncode})", 1)

    def mib_s(b, ms):
        return b / (1 << 20) / (ms / 1000) if ms > 0 else None
    copies = []
    for t in mirror:
        (b, ms), (nb, nms) = mirror[t], nbdcopy.get(t, (0, 0))
        r = {"target": t, "bytes": b, "mirror_ms": ms, "mirror_mib_s": mib_s(b, ms),
             "nbdcopy_ms": nms or None, "nbdcopy_mib_s": mib_s(nb, nms) if nms else None}
        r["mirror_over_nbdcopy"] = (r["mirror_mib_s"] / r["nbdcopy_mib_s"]
                                    if r["mirror_mib_s"] and r["nbdcopy_mib_s"] else None)
        copies.append(r)
    if not copies or not migr:
        die("migrate: no figures came out", 1)
    stamp = datetime.datetime.now().strftime("%Y-%m-%d-%H%M%S")
    os.makedirs(a.output, exist_ok=True)
    doc = {"name": "migrate", "date": datetime.datetime.now().isoformat(timespec="seconds"),
           "machine": {"host": platform.node(), "kernel": platform.release(), "cpus": os.cpu_count()},
           "commands": COMMANDS, "quick": a.quick, "mirror": copies, "migrate": migr}
    path = os.path.join(a.output, stamp + "-migrate.json")
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
    if a.json:
        print(json.dumps(doc, indent=1))
        return 0
    mib = copies[0]["bytes"] >> 20
    print(f"{'mirror of ' + str(mib) + ' MiB (loopback TCP)':<34}{'mirror':>10}{'nbdcopy':>10}{'mirror/nbdcopy':>16}")
    for r in copies:
        nb = f"{r['nbdcopy_mib_s']:>10.0f}" if r["nbdcopy_mib_s"] else f"{'-':>10}"
        ratio = f"{r['mirror_over_nbdcopy']:>16.2f}" if r["mirror_over_nbdcopy"] else f"{'-':>16}"
        print(f"{'  to ' + r['target'] + ' (MiB/s)':<34}{r['mirror_mib_s']:>10.0f}{nb}{ratio}")
    print(f"{'live migration (shared storage)':<34}{'downtime':>10}{'total':>10}{'setup':>8}{'rounds':>8}")
    for r in migr:
        if "na" in r:
            print(f"{'  ' + r['backend']:<34}  n/a ({r['na']})")
        else:
            print(f"{'  ' + r['backend'] + ' (ms)':<34}{r['downtime_ms']:>10}{r['total_ms']:>10}"
                  f"{r['setup_ms']:>8}{r['rounds']:>8}")
    print(f"(TCG guest, 1 vCPU; one run each; {path})")
    return 0


# --------------------------------------------------------------- main ----

def main():
    global VERBOSE
    # `sluice bench` (tools/sluice/cmd-bench.c) owns the usage text and has
    # checked the options it passes here; this parser only reads them.
    argv = sys.argv[1:]
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: see 'sluice bench --help'", file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name == "boot":
        return bench_boot(rest)
    if name == "migrate":
        return bench_migrate(rest)
    if name not in ("blk", "net"):
        die(f"unknown bench '{name}' (blk, net, boot, migrate)", 2)
    ap = argparse.ArgumentParser(prog=f"sluice bench {name}", add_help=False)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--output", default="results")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--reps", type=int)
    ap.add_argument("--time", type=float)
    ap.add_argument("--warmup", type=float)
    ap.add_argument("--workloads")
    ap.add_argument("--verbose", action="store_true")
    if name == "blk":
        ap.add_argument("--backing", type=lambda s: s.split(","))
        ap.add_argument("--queues", type=int)
        ap.add_argument("--poll", action="store_true")
        ap.add_argument("--poll-us", type=int)
        ap.add_argument("--lab", action="store_true")
        ap.add_argument("--lab-inner", action="store_true", help=argparse.SUPPRESS)
    if name == "net":
        ap.add_argument("--lab", action="store_true")
        ap.add_argument("--lab-inner", action="store_true", help=argparse.SUPPRESS)
    try:
        args, extra = ap.parse_known_args(rest)
    except SystemExit:
        return 2
    if extra:
        die(f"{name}: unknown option {extra[0]}", 2)
    if (args.reps is not None and args.reps < 1) or (args.time is not None and args.time <= 0):
        die(f"{name}: --reps and --time must be positive", 2)
    VERBOSE = args.verbose
    args.output = os.path.abspath(args.output)
    if name == "blk":
        rc = bench_blk(args)
        if rc == 0 and args.lab:
            rc = blk_lab(args)
        return rc
    rc = bench_net(args)
    if rc == 0 and args.lab:
        rc = net_lab(args)
    return rc


def net_lab(args):
    """sluiced against the kernel's vhost-net on a tap (the fair peer),
    inside the lab VM, whose kernel has the vhost_net module."""
    lab = os.path.join(SRC, "tools", "lab")
    if not os.access(lab, os.X_OK):
        die("--lab: tools/lab not found")
    say("sluiced vs vhost-net inside the lab VM (TCG-emulated; compare the systems of that run only)")
    argv = [lab, "run", "--", sys.executable, os.path.realpath(__file__), "net", "--lab-inner",
            "--output", args.output, "--reps", str(args.reps or 1)]
    for opt in ("time", "workloads"):
        if getattr(args, opt):
            argv += [f"--{opt}", str(getattr(args, opt))]
    if args.quick:
        argv.append("--quick")
    if args.json:
        argv.append("--json")
    return run(argv).returncode


def blk_lab(args):
    """The LVM thin volume case, inside the lab VM (tools/lab run)."""
    lab = os.path.join(SRC, "tools", "lab")
    if not SRC or not os.access(lab, os.X_OK):
        die("--lab needs the source tree (tools/lab): run the build tree's sluice")
    say("LVM thin volume case inside the lab VM (TCG-emulated; not comparable with the host)")
    argv = [lab, "run", "--", sys.executable, os.path.realpath(__file__), "blk", "--lab-inner",
            "--output", args.output, "--reps", str(args.reps or 1), "--time", str(args.time or 2)]
    if args.quick:
        argv.append("--quick")
    if args.json:
        argv.append("--json")
    return run(argv).returncode


if __name__ == "__main__":
    sys.exit(main())
