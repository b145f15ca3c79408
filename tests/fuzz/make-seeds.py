#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# Writes the seed corpora of fuzz-blk and fuzz-net (corpus/blk, corpus/net):
# well-formed guest memories with rings and requests, laid out as the input
# formats at the top of fuzz-blk.c and fuzz-net.c describe. Run from anywhere:
#   tests/fuzz/make-seeds.py
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
NEXT, WRITE, INDIRECT = 1, 2, 4


class Guest:
    """64 KiB of guest memory with split rings, as the targets lay them out."""

    def __init__(self, start):
        self.m = bytearray(64 * 1024)
        self.bump = start      # buffers go after the rings

    def put(self, gpa, data):
        self.m[gpa:gpa + len(data)] = data

    def alloc(self, n, align=16):
        self.bump = (self.bump + align - 1) & ~(align - 1)
        gpa = self.bump
        self.bump += n
        return gpa

    def image(self):
        assert len(self.m) == 64 * 1024, "seed overflows guest memory"
        return bytes(self.m).rstrip(b"\0")


class Ring:
    def __init__(self, g, desc_gpa, num, base=0):
        self.g, self.desc, self.num = g, desc_gpa, num
        self.avail = desc_gpa + 16 * num
        self.next_desc = 0
        self.idx = base

    def chain(self, segs, indirect=False):
        """segs: (gpa, len, writable); returns the head."""
        descs = []
        for k, (gpa, n, w) in enumerate(segs):
            fl = (WRITE if w else 0) | (NEXT if k + 1 < len(segs) else 0)
            descs.append((gpa, n, fl))
        if indirect:
            t = self.g.alloc(16 * len(descs))
            for k, (gpa, n, fl) in enumerate(descs):
                self.g.put(t + 16 * k, struct.pack("<QIHH", gpa, n, fl, k + 1))
            descs = [(t, 16 * len(segs), INDIRECT)]
        head = self.next_desc
        for k, (gpa, n, fl) in enumerate(descs):
            i = self.next_desc + k
            self.g.put(self.desc + 16 * i, struct.pack("<QIHH", gpa, n, fl, i + 1))
        self.next_desc += len(descs)
        assert self.next_desc <= self.num, "more descriptors than the ring has"
        self.g.put(self.avail + 4 + 2 * (self.idx % self.num), struct.pack("<H", head))
        self.idx = (self.idx + 1) & 0xFFFF
        self.g.put(self.avail + 2, struct.pack("<H", self.idx))
        return head


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- fuzz-blk ------------------------------------------------------------
T_IN, T_OUT, T_FLUSH, T_GET_ID, T_DISCARD, T_WZ = 0, 1, 4, 8, 11, 13


def blk_seed(name, reqs, flags=0, num=16, sectors=64, faults=0, base=0, indirect=False,
             start=0x1400):
    """reqs: (type, sector, out bytes, in length)."""
    g = Guest(start)
    r = Ring(g, 0, num, base)
    for req in reqs:
        typ, sector, out, in_len = req[:4]
        hdr = g.alloc(16)
        g.put(hdr, struct.pack("<IIQ", typ, 0, sector))
        segs = [(hdr, 16, False)]
        if out:
            gpa = g.alloc(len(out))
            g.put(gpa, out)
            segs.append((gpa, len(out), False))
        if in_len:
            segs.append((g.alloc(in_len), in_len, True))
        st = g.alloc(1, 1)
        g.put(st, b"\xff")
        segs.append((st, 1, True))
        r.chain(segs, indirect)
    head = struct.pack("<BBBBIH", flags, num - 1, sectors, 0, faults, base)
    write("blk", name, head + g.image())


def dwz(sector, n, fl=0):
    return struct.pack("<QII", sector, n, fl)


data = bytes((i * 13 + 5) & 0xFF for i in range(1024))
blk_seed("rw", [(T_OUT, 2, data, 0), (T_IN, 2, b"", 1024), (T_IN, 63, b"", 512),
                (T_OUT, 64, data[:512], 0), (T_IN, 0, b"", 100)],
         start=0x7E00)   # buffers across the two memory regions
blk_seed("flush-getid", [(T_FLUSH, 0, b"", 0), (T_GET_ID, 0, b"", 20), (T_GET_ID, 0, b"", 8),
                         (99, 0, b"", 0)], num=16)
blk_seed("discard-wz", [(T_DISCARD, 0, dwz(8, 8), 0), (T_WZ, 0, dwz(16, 4, 1), 0),
                        (T_WZ, 0, dwz(0, 1, 2), 0), (T_DISCARD, 0, dwz(0, 1) + dwz(2, 1), 0),
                        (T_DISCARD, 0, dwz(60, 8), 0), (T_DISCARD, 0, dwz(0, 1, 1), 0)], num=32)
blk_seed("readonly", [(T_OUT, 0, data[:512], 0), (T_IN, 0, b"", 512),
                      (T_DISCARD, 0, dwz(0, 1), 0), (T_FLUSH, 0, b"", 0)], flags=1, num=16)
blk_seed("indirect-wrap", [(T_OUT, 1, data, 0), (T_IN, 1, b"", 1024), (T_GET_ID, 0, b"", 20)],
         flags=2 | 4, num=4, base=0xFFFE, indirect=True)
blk_seed("faults", [(T_OUT, 0, data, 0), (T_IN, 0, b"", 1024), (T_FLUSH, 0, b"", 0),
                    (T_WZ, 0, dwz(0, 2), 0), (T_IN, 4, b"", 512)],
         flags=32, num=16, faults=0b1110010011100100)


# ---- fuzz-net ------------------------------------------------------------
MRG, V1, TSO, IND, EVIDX, NO_RX, NO_TX, DISC = 1, 2, 4, 8, 16, 32, 64, 128
TX_GPA = 8192


def net_seed(name, flags, rx_chains=(), tx_chains=(), pkts=(), rx_num=16, tx_num=4, mtu=0,
             rx_base=0, tx_base=0, indirect=False, alias=False):
    """rx_chains: lists of writable lengths; tx_chains: lists of (bytes, writable).
    alias: every receive chain uses the same buffers (for 64 KiB packets)."""
    g = Guest(0x3100)
    rx = Ring(g, 0, rx_num, rx_base)
    shared = None
    for lens in rx_chains:
        if alias:
            shared = shared or [g.alloc(n) for n in lens]
            bufs = shared
        else:
            bufs = [g.alloc(n) for n in lens]
        rx.chain([(b, n, True) for b, n in zip(bufs, lens)], indirect)
    tx = Ring(g, TX_GPA, tx_num, tx_base)
    for segs in tx_chains:
        laid = []
        for b, w in segs:
            gpa = g.alloc(len(b))
            g.put(gpa, b)
            laid.append((gpa, len(b), w))
        tx.chain(laid, indirect)
    lens = b"".join(struct.pack("<I", n)[:3] for n in pkts).ljust(21, b"\0")
    head = struct.pack("<BBBBHHB", flags, rx_num - 1, tx_num - 1, mtu, rx_base, tx_base,
                       len(pkts)) + lens + b"\0\0"
    assert len(head) == 32
    write("net", name, head + g.image())


frame = bytes((i * 3) & 0xFF for i in range(1514))
vhdr = bytes(12)
net_seed("rx-mrg", MRG | V1 | NO_TX, rx_chains=[[512]] * 16, pkts=[12 + 60, 12 + 1514, 0, 5, 1000])
net_seed("rx-legacy", NO_TX, rx_chains=[[10, 1518]] * 6, pkts=[10 + 60, 10 + 1518, 2000])
net_seed("tx", V1 | IND | NO_RX, indirect=True, tx_chains=[[(vhdr, False), (frame[:60], False)],
                                      [(vhdr + frame, False)],
                                      [(vhdr[:4], False)],
                                      [(vhdr, False), (bytes(64), True)]])
net_seed("gso-both", MRG | V1 | TSO, rx_chains=[[1100, 1100]] * 32, rx_num=64,
         tx_chains=[[(vhdr, False), (frame, False)]] * 2, tx_num=4, pkts=[12 + 65000, 12 + 60], alias=True)
net_seed("indirect-evidx-disconnect", MRG | V1 | IND | EVIDX | DISC, rx_chains=[[12, 800]] * 4,
         rx_num=4, tx_chains=[[(vhdr, False), (frame[:200], False)]], tx_num=1,
         pkts=[12 + 100, 12 + 1500], rx_base=0xFFFF, tx_base=0xFFFE, mtu=10, indirect=True)
