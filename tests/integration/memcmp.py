#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# memcmp.py SRC DST [--pattern SEED0:SEED1:BLOCKS] [NAME=GPA:LEN ...]:
# compare two guest RAM dumps (QMP pmemsave of the same range on the
# migration's source and destination, both stopped) page by page (4 KiB).
# Prints one line per differing page (the first 40): its guest-physical
# address, what it holds, how many bytes differ and where, and the first
# differing bytes on each side. What a page holds:
#   ring NAME   it overlaps a named range (the virtqueue rings)
#   data ...    its source copy is guestio's pattern of block B for a seed
#               in [SEED0, SEED1] (a block I/O buffer: the device's reads
#               land in such pages, the guest's CPU fills them for writes)
#   other       neither (kernel or user memory only the guest's CPU writes)
# The last line counts them: "N of M pages differ (R ring, D data, O
# other)". Exit 0 when equal, 1 when not.
import struct
import sys

PAGE = 4096
M64 = (1 << 64) - 1


def first_word(seed, block):
    # guestio.c pattern(): the first 8 bytes of block @block for @seed
    x = (seed * 0x9e3779b97f4a7c15 ^ (block + 1) * 0xbf58476d1ce4e5b9) & M64
    x ^= (x << 13) & M64
    x ^= x >> 7
    x ^= (x << 17) & M64
    return x


def main():
    args = sys.argv[1:]
    src, dst = args[0], args[1]
    ranges, index = [], {}
    rest = args[2:]
    while rest:
        a = rest.pop(0)
        if a == "--pattern":
            s0, s1, nb = (int(v, 0) for v in rest.pop(0).split(":"))
            for seed in range(s0, s1 + 1):
                for b in range(nb):
                    index[first_word(seed, b)] = (seed, b)
            continue
        name, span = a.split("=", 1)
        gpa, ln = span.split(":")
        ranges.append((name, int(gpa, 0), int(ln, 0)))
    diff, kinds = 0, {"ring": 0, "data": 0, "other": 0}
    with open(src, "rb") as fs, open(dst, "rb") as fd:
        pg = 0
        while True:
            a, b = fs.read(PAGE), fd.read(PAGE)
            if not a and not b:
                break
            if a != b:
                diff += 1
                gpa = pg * PAGE
                rings = [n for n, g, ln in ranges if g < gpa + PAGE and gpa < g + ln]
                pat = index.get(struct.unpack_from("<Q", a)[0]) if len(a) >= 8 else None
                if rings:
                    kinds["ring"] += 1
                    what = "ring " + ",".join(rings)
                elif pat:
                    kinds["data"] += 1
                    what = "data (seed %d block %d)" % pat
                else:
                    kinds["other"] += 1
                    what = "other"
                if diff <= 40:
                    idx = [i for i in range(min(len(a), len(b))) if a[i] != b[i]]
                    first = idx[0] if idx else 0
                    print("page 0x%09x %s: %d bytes differ at +0x%x..+0x%x; src %s dst %s%s" % (
                        gpa, what, len(idx), first, idx[-1] if idx else 0,
                        a[first:first + 16].hex(), b[first:first + 16].hex(),
                        "; dst page all zero" if not any(b) else ""))
            pg += 1
    print("%d of %d pages differ (%d ring, %d data, %d other)" % (
        diff, pg, kinds["ring"], kinds["data"], kinds["other"]))
    return 1 if diff else 0


sys.exit(main())
