#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# qmp.py SOCKET COMMAND [JSON-ARGUMENTS]: run one QMP command on the QEMU
# monitor at SOCKET (a -qmp unix:...,server=on socket) and print its
# "return" value as JSON on one line. Exit 1 when QEMU answers an error.
import json
import socket
import sys

s = socket.socket(socket.AF_UNIX)
s.settimeout(30)
s.connect(sys.argv[1])
f = s.makefile("rw")


def answer():
    while True:
        line = f.readline()
        if not line:
            sys.exit("qmp: connection closed")
        m = json.loads(line)
        if "event" not in m:
            return m


def run(cmd, args=None):
    msg = {"execute": cmd}
    if args is not None:
        msg["arguments"] = args
    f.write(json.dumps(msg) + "\n")
    f.flush()
    return answer()


answer()                       # the greeting
run("qmp_capabilities")
m = run(sys.argv[2], json.loads(sys.argv[3]) if len(sys.argv) > 3 else None)
if "error" in m:
    print("qmp: %s: %s" % (sys.argv[2], m["error"].get("desc", m["error"])), file=sys.stderr)
    sys.exit(1)
print(json.dumps(m["return"]))
