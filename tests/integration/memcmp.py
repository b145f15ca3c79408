#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# memcmp.py SRC DST [NAME=GPA:LEN ...]: compare two guest RAM dumps (QMP
# pmemsave of the same range on the migration's source and destination,
# both stopped) page by page (4 KiB). Prints one line per differing page:
# its guest-physical address, what it holds when it lies in one of the
# named ranges (virtqueue rings), how many bytes differ and where, and the
# first differing bytes on each side. Exit 0 when equal, 1 when not.
import sys

PAGE = 4096


def main():
    src, dst = sys.argv[1], sys.argv[2]
    ranges = []
    for a in sys.argv[3:]:
        name, span = a.split("=", 1)
        gpa, ln = span.split(":")
        ranges.append((name, int(gpa, 0), int(ln, 0)))
    diff = 0
    with open(src, "rb") as fs, open(dst, "rb") as fd:
        pg = 0
        while True:
            a, b = fs.read(PAGE), fd.read(PAGE)
            if not a and not b:
                break
            if a != b:
                diff += 1
                if diff <= 40:
                    idx = [i for i in range(min(len(a), len(b))) if a[i] != b[i]]
                    gpa = pg * PAGE
                    what = [n for n, g, ln in ranges if g < gpa + PAGE and gpa < g + ln]
                    first = idx[0] if idx else 0
                    print("page 0x%09x%s: %d bytes differ at +0x%x..+0x%x; src %s dst %s%s" % (
                        gpa, " (" + ",".join(what) + ")" if what else "", len(idx), first,
                        idx[-1] if idx else 0, a[first:first + 16].hex(), b[first:first + 16].hex(),
                        "; src page all zero" if not any(a) else
                        "; dst page all zero" if not any(b) else ""))
            pg += 1
    print("%d of %d pages differ" % (diff, pg))
    return 1 if diff else 0


sys.exit(main())
