#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""sluiced-systemd SLUICED: sluiced as systemd's Type=notify runs it, without
systemd. The test listens on a NOTIFY_SOCKET of its own (a datagram socket,
sd_notify's protocol) and starts sluiced with a control socket and a null=
block device:
- READY=1 arrives, and when it does both sockets already answer connect()
  (READY means serving), and so does the socket of the device recorded in
  the state folder ($SLUICE_STATE_DIR/sluiced/devices.json: restored before
  READY), and the seccomp filter is on in every thread;
- SIGTERM brings STOPPING=1, then exit 0;
- with stderr the stream $JOURNAL_STREAM names (dev:ino, as systemd sets it)
  every log line carries the journal's priority prefix (<6> info, <3> error,
  matching the level word); with a JOURNAL_STREAM that is not stderr
  (inherited, redirected) lines stay plain 'sluiced: info: ...'.
No root, no guest."""
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

SLUICED = sys.argv[1]
fails = 0


def ok(msg):
    print("ok: " + msg)


def bad(msg):
    global fails
    fails += 1
    print("FAIL: " + msg)


def probe(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def run(tmp, journal):
    """One sluiced under a notify socket; returns (messages, log text, rc)."""
    nsock = os.path.join(tmp, "notify.sock")
    ctl = os.path.join(tmp, "ctl.sock")
    dev = os.path.join(tmp, "blk.sock")
    kept = os.path.join(tmp, "kept.sock")
    state = os.path.join(tmp, "state", "sluiced")
    os.makedirs(state, exist_ok=True)
    with open(os.path.join(state, "devices.json"), "w") as f:
        f.write('{"version": 1, "devices": [{"id": "kept", "type": "blk", '
                '"spec": "socket=%s,null=1M"}]}' % kept)
    for p in (nsock, ctl, dev, kept):
        if os.path.exists(p):
            os.unlink(p)
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ns.bind(nsock)
    ns.settimeout(10)
    logpath = os.path.join(tmp, "sluiced-%s.log" % journal)
    log = open(logpath, "w")
    env = dict(os.environ, NOTIFY_SOCKET=nsock, SLUICE_STATE_DIR=os.path.join(tmp, "state"))
    env.pop("JOURNAL_STREAM", None)
    st = os.fstat(log.fileno())
    if journal == "match":
        env["JOURNAL_STREAM"] = "%d:%d" % (st.st_dev, st.st_ino)
    elif journal == "other":
        env["JOURNAL_STREAM"] = "%d:%d" % (st.st_dev, st.st_ino + 1)
    p = subprocess.Popen([SLUICED, "--control", ctl, "--workers", "1",
                          "--blk", "socket=%s,null=64M" % dev],
                         env=env, stdout=subprocess.DEVNULL, stderr=log)
    msgs = []
    try:
        data = ns.recv(4096).decode()
        msgs.append(data)
        if "READY=1" in data.split("\n"):
            if probe(ctl) and probe(dev) and probe(kept):
                ok("%s: READY=1 after the sockets (and the recorded device's) listen" % journal)
            else:
                bad("%s: READY=1 before the sockets answer" % journal)
            seccomp = []
            with open(logpath) as f:
                if "seccomp filter off (the default in sanitizer builds)" in f.read():
                    seccomp = None
            for t in [] if seccomp is None else os.listdir("/proc/%d/task" % p.pid):
                with open("/proc/%d/task/%s/status" % (p.pid, t)) as f:
                    seccomp += [l.split()[1] for l in f if l.startswith("Seccomp:")]
            if seccomp is None:
                print("note: %s: sanitizer build, no seccomp filter to check" % journal)
            elif seccomp and all(v == "2" for v in seccomp):
                ok("%s: at READY=1 all %d threads are under the filter" % (journal, len(seccomp)))
            else:
                bad("%s: at READY=1 seccomp states %s" % (journal, seccomp))
        else:
            bad("%s: first message %r is not READY=1" % (journal, data))
        p.send_signal(signal.SIGTERM)
        msgs.append(ns.recv(4096).decode())
    except socket.timeout:
        bad("%s: no notification within 10 s (got %r)" % (journal, msgs))
        p.kill()
    rc = p.wait(timeout=30)
    ns.close()
    log.close()
    return msgs, open(logpath).read(), rc


with tempfile.TemporaryDirectory() as tmp:
    for journal in ("match", "none", "other"):
        msgs, text, rc = run(tmp, journal)
        if len(msgs) == 2 and "STOPPING=1" in msgs[1].split("\n"):
            ok("%s: STOPPING=1 on SIGTERM" % journal)
        else:
            bad("%s: no STOPPING=1 after SIGTERM: %r" % (journal, msgs))
        if rc == 0:
            ok("%s: exit 0 after SIGTERM" % journal)
        else:
            bad("%s: exit %d; log:\n%s" % (journal, rc, text))
        if "denied" in text:
            bad("%s: seccomp denial in the log:\n%s" % (journal, text))
        lines = [l for l in text.splitlines() if l]
        if not lines:
            bad("%s: no log lines" % journal)
            continue
        if journal == "match":
            prio = {"error": 3, "warning": 4, "info": 6, "debug": 7}
            wrong = [l for l in lines
                     if not (m := re.match(r"<(\d)>(error|warning|info|debug): ", l))
                     or prio[m.group(2)] != int(m.group(1))]
            if wrong:
                bad("journal stream: lines without their priority prefix: %r" % wrong)
            else:
                ok("journal stream: %d lines, each with its <N> prefix" % len(lines))
        else:
            wrong = [l for l in lines if not l.startswith("sluiced: ")]
            if wrong:
                bad("%s: lines not plain 'sluiced: ...': %r" % (journal, wrong))
            else:
                ok("%s: %d plain lines" % (journal, len(lines)))
print("%s" % ("FAILED: %d" % fails if fails else "all ok"))
sys.exit(1 if fails else 0)
