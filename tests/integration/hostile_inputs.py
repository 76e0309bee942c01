#!/usr/bin/env python3
"""hostile_inputs.py: writes the work bombs of suite 45-hostile into DIR
(stdlib only, byte by byte; the same constructions as tests/unit/test_img.c).

  zero-bomb.png   a valid 16x16 RGB PNG whose zlib stream carries 10 GiB of
                  zeros after the image's 784 bytes (about 10 MB): a 16 MiB
                  block of deflated zeros copied 640 times, an empty final
                  block and the right Adler-32 (of N zeros:
                  ((N mod 65521) << 16) | 1)
  mpx36.png       6000x6000 black RGB PNG (36 Mpx, about 105 KB)
  array19m.json   {"task":"detect","params":{"a":[0,0,0,...]}} of 19 MB
"""
import os, struct, sys, zlib

def chunk(t, d):
    c = struct.pack(">I", len(d)) + t + d
    return c + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)

def png(w, h, idat):
    out = [b"\x89PNG\r\n\x1a\n", chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))]
    for off in range(0, len(idat), 1 << 20):
        out.append(chunk(b"IDAT", idat[off:off + (1 << 20)]))
    out.append(chunk(b"IEND", b""))
    return b"".join(out)

def zero_bomb(extra):
    raw, blk = 16 * (1 + 16 * 3), 16 << 20
    c = zlib.compressobj(9, zlib.DEFLATED, -15, 9)
    head = c.compress(bytes(raw)) + c.flush(zlib.Z_SYNC_FLUSH)
    block = c.compress(bytes(blk)) + c.flush(zlib.Z_SYNC_FLUSH)
    copies = extra // blk
    total = raw + copies * blk
    adler = ((total % 65521) << 16) | 1
    idat = b"\x78\x01" + head + block * copies + b"\x01\x00\x00\xff\xff" + struct.pack(">I", adler)
    return png(16, 16, idat)

d = sys.argv[1]
os.makedirs(d, exist_ok=True)
with open(os.path.join(d, "zero-bomb.png"), "wb") as f:
    f.write(zero_bomb(10 << 30))
w = h = 6000
c = zlib.compressobj(9)
row = bytes(1 + w * 3)
idat = b"".join(c.compress(row) for _ in range(h)) + c.flush()
with open(os.path.join(d, "mpx36.png"), "wb") as f:
    f.write(png(w, h, idat))
with open(os.path.join(d, "array19m.json"), "w") as f:
    f.write('{"task":"detect","params":{"a":[' + ",".join(["0"] * (19 * 1024 * 1024 // 2 - 64)) + "]}}")
