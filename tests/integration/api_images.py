#!/usr/bin/env python3
"""api_images.py: writes the images the API suite needs into DIR (stdlib
only: PNG and GIF are built byte by byte, so no image library is needed).

  ok.png       16x16 RGB, valid
  ok2.png      24x8 RGB, valid (different bytes)
  trunc.png    ok.png cut inside IDAT
  corrupt.png  ok.png with its IDAT bytes flipped (CRC kept: zlib fails)
  huge.png     a valid header declaring 60000x60000 (tiny file)
  big.png      300x300 of noise: over a 200000-byte image limit
  tiny.gif     a 1x1 GIF (recognised, unsupported)
  notimage.bin random bytes
and, for each image X, X.durl: "data:image/png;base64,...".
"""
import base64, os, random, struct, sys, zlib

def chunk(t, d):
    c = struct.pack(">I", len(d)) + t + d
    return c + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)

def png(w, h, pix, raw_idat=None):
    hdr = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    if raw_idat is None:
        rows = b"".join(b"\x00" + pix[y * w * 3:(y + 1) * w * 3] for y in range(h))
        raw_idat = zlib.compress(rows, 9)
    return hdr + chunk(b"IDAT", raw_idat) + chunk(b"IEND", b"")

d = sys.argv[1]
os.makedirs(d, exist_ok=True)
rnd = random.Random(42)
ok = png(16, 16, bytes((x * 7 + y) & 255 for y in range(16) for x in range(48)))
files = {
    "ok.png": ok,
    "ok2.png": png(24, 8, bytes((x * 3 + y * 5) & 255 for y in range(8) for x in range(72))),
    "trunc.png": ok[:len(ok) - 30],
    "huge.png": png(60000, 60000, b"", raw_idat=zlib.compress(b"\x00" * 64)),
    "big.png": png(300, 300, bytes(rnd.getrandbits(8) for _ in range(300 * 300 * 3))),
    "tiny.gif": b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01"
                b"\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;",
    "notimage.bin": bytes(rnd.getrandbits(8) for _ in range(300)),
}
# corrupt: flip the deflate payload but recompute the CRC, so libpng's
# chunk check passes and zlib itself must fail
idat = zlib.compress(bytes(16 * 49), 9)
bad = bytes([idat[0], idat[1]]) + bytes(b ^ 0x5a for b in idat[2:])
files["corrupt.png"] = png(16, 16, b"", raw_idat=bad)
for name, data in files.items():
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)
    mime = "image/gif" if name.endswith(".gif") else "image/png"
    with open(os.path.join(d, name + ".durl"), "w") as f:
        f.write("data:%s;base64,%s" % (mime, base64.b64encode(data).decode()))
