#!/usr/bin/env python3
"""CMYK and YCCK JPEG fixtures with PIL's RGB decode (run offline; the outputs are committed).

Usage: /usr/bin/python3 scripts/gen-cmyk-fixtures.py   (Debian's python3-pil: Pillow on libjpeg-turbo; writes
test/fixtures/jpeg/cmyk-*.jpg, ycck-*.jpg and test/fixtures/jpeg/expected-cmyk.json)

1. A deterministic synthetic picture (gradients, edges, coloured noise) converted to CMYK and saved by PIL:
   libjpeg writes an Adobe CMYK JPEG (APP14 transform 0, inverted values, as Photoshop does).
2. The same file with the Adobe transform byte set to 2: libjpeg then reads the channels as YCCK (the other
   4-channel layout found in ImageNet-style folders); the pixels differ, the file is a valid YCCK JPEG.
Each file is stored with PIL's decode converted to RGB (Image.convert('RGB')), base64 of the raw HWC bytes.
Sampling: the first two pairs are 4:4:4 (libjpeg's CMYK default, every component 1x1); the `420` / `422` files
are saved with PIL's `subsampling` 2 / 1 (component 0 at 2x2 / 2x1, the other three at 1x1, so K is subsampled
too), which exercises libjpeg's fancy h2v2 / h2v1 upsampling, its edges on odd sizes, and (3x5) the plain
replication libjpeg uses for components 2 samples wide or less); one 4:2:0 pair is progressive.
"""
import base64, io, json, os, random
from PIL import Image

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "test", "fixtures", "jpeg")


def picture(w, h, seed):
    rnd = random.Random(seed)
    im = Image.new("RGB", (w, h))
    px = im.load()
    for y in range(h):
        for x in range(w):
            edge = 220 if (x // 4 + y // 3) % 2 else 20
            px[x, y] = ((x * 255) // max(1, w - 1), (edge + rnd.randrange(40)) % 256, (y * 255) // max(1, h - 1))
    return im


def ycck(data):
    b = bytearray(data)
    i = 2
    while i + 4 < len(b):
        assert b[i] == 0xFF, "marker expected"
        m, n = b[i + 1], (b[i + 2] << 8) | b[i + 3]
        if m == 0xEE and b[i + 4:i + 9] == b"Adobe":
            b[i + 4 + 11] = 2  # transform: 0 = CMYK (or RGB), 1 = YCbCr, 2 = YCCK
            return bytes(b)
        i += 2 + n
    raise SystemExit("no Adobe marker")


fixtures = []
SPECS = {
    "cmyk-q90-23x17.jpg": (23, 17, 90, 5, {}),
    "cmyk-q75-40x32.jpg": (40, 32, 75, 6, {}),
    "cmyk-420-q85-37x27.jpg": (37, 27, 85, 7, {"subsampling": 2}),
    "cmyk-422-q80-30x19.jpg": (30, 19, 80, 8, {"subsampling": 1}),
    "cmyk-420-q90-3x5.jpg": (3, 5, 90, 9, {"subsampling": 2}),
    "cmyk-420-progressive-q80-26x22.jpg": (26, 22, 80, 10, {"subsampling": 2, "progressive": True}),
}
for name, (w, h, q, seed, extra) in SPECS.items():
    buf = io.BytesIO()
    picture(w, h, seed).convert("CMYK").save(buf, "JPEG", quality=q, **extra)
    files = {name: buf.getvalue(), name.replace("cmyk", "ycck"): ycck(buf.getvalue())}
    for fname, data in files.items():
        with open(os.path.join(OUT, fname), "wb") as f:
            f.write(data)
        im = Image.open(io.BytesIO(data))
        assert im.mode == "CMYK", (fname, im.mode)
        rgb = im.convert("RGB")
        fixtures.append({"file": fname, "width": w, "height": h, "rgb_base64": base64.b64encode(rgb.tobytes()).decode()})

with open(os.path.join(OUT, "expected-cmyk.json"), "w") as f:
    json.dump({"pillow": Image.__version__, "fixtures": fixtures}, f, indent=1)
    f.write("\n")
print("\n".join(x["file"] for x in fixtures))
