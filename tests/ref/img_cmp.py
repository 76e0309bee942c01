#!/usr/bin/env python3
"""img_cmp.py A B [--max N] [--mean F]: compares two RGB images pixel by
pixel (8-bit PNG, RGB or RGBA with alpha 255 everywhere, non-interlaced; or
binary PPM P6), standard library only.  Prints one line
`max=M mean=F over=K n=N` (K: channel values differing by more than --max)
and exits 1 when a bound is exceeded or the sizes differ."""
import struct
import sys
import zlib


def read_ppm(b):
    parts, i = [], 2
    while len(parts) < 3:
        while b[i:i + 1].isspace():
            i += 1
        j = i
        while not b[j:j + 1].isspace():
            j += 1
        parts.append(int(b[i:j]))
        i = j
    w, h, mx = parts
    assert mx == 255
    return w, h, b[i + 1:i + 1 + w * h * 3]


def read_png(b):
    assert b[:8] == b'\x89PNG\r\n\x1a\n', 'not a PNG'
    i, idat, w = 8, b'', 0
    while i < len(b):
        n, t = struct.unpack('>I4s', b[i:i + 8])
        d = b[i + 8:i + 8 + n]
        if t == b'IHDR':
            w, h, depth, ct, _, _, il = struct.unpack('>IIBBBBB', d)
            assert depth == 8 and ct in (2, 6) and il == 0, 'unsupported PNG'
            bpp = 3 if ct == 2 else 4
        elif t == b'IDAT':
            idat += d
        i += 12 + n
    raw = zlib.decompress(idat)
    stride = w * bpp
    out, prev = bytearray(), bytearray(stride)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            c = prev[x - bpp] if x >= bpp else 0
            up = prev[x]
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + up) & 255
            elif f == 3:
                line[x] = (line[x] + (a + up) // 2) & 255
            elif f == 4:
                p = a + up - c
                pa, pb, pc = abs(p - a), abs(p - up), abs(p - c)
                pr = a if pa <= pb and pa <= pc else (up if pb <= pc else c)
                line[x] = (line[x] + pr) & 255
        out += line
        prev = line
    if bpp == 4:
        assert all(v == 255 for v in out[3::4]), 'PNG with transparency'
        rgb = bytearray(len(out) // 4 * 3)
        rgb[0::3], rgb[1::3], rgb[2::3] = out[0::4], out[1::4], out[2::4]
        out = rgb
    return w, h, bytes(out)


def read(path):
    b = open(path, 'rb').read()
    return read_ppm(b) if b[:2] == b'P6' else read_png(b)


def main():
    a, b = read(sys.argv[1]), read(sys.argv[2])
    mx = int(sys.argv[sys.argv.index('--max') + 1]) if '--max' in sys.argv else 255
    mean_b = float(sys.argv[sys.argv.index('--mean') + 1]) if '--mean' in sys.argv else 255.0
    if a[:2] != b[:2]:
        print('size %dx%d vs %dx%d' % (a[0], a[1], b[0], b[1]))
        return 1
    d = [abs(x - y) for x, y in zip(a[2], b[2])]
    m, mean = max(d), sum(d) / len(d)
    over = sum(1 for v in d if v > mx)
    print('max=%d mean=%.4f over=%d n=%d' % (m, mean, over, len(d)))
    return 1 if over or mean > mean_b else 0


sys.exit(main())
