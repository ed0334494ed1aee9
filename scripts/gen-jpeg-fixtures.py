#!/usr/bin/env python3
"""PIL-decoded pixels for the JPEG decoder test (run offline; the outputs are committed).

Usage: /usr/bin/python3 scripts/gen-jpeg-fixtures.py   (needs Pillow built on libjpeg-turbo, e.g. Debian's
python3-pil; writes test/fixtures/jpeg/*.jpg and test/fixtures/jpeg/expected.json)

1. Encodes a deterministic synthetic picture (gradients, edges, coloured noise) with PIL in the layouts that
   decoders disagree on: 4:2:0 / 4:2:2 / 4:4:4 chroma, progressive, optimized Huffman,
   grayscale, odd sizes (chroma planes not a multiple of the MCU), and stores each file with PIL's RGB decode
   (base64 of the raw HWC bytes).
2. For the shared data tars (../shared/data, never copied here): the SHA-256 of PIL's RGB decode of the first
   members of each tar, by member name, so the test can check identical pixels where the tars exist.
"""
import base64, hashlib, io, json, os, random, tarfile
import PIL
from PIL import Image, features

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "test", "fixtures", "jpeg")
SHARED = os.path.join(ROOT, "..", "shared", "data")
os.makedirs(OUT, exist_ok=True)


def picture(w, h, seed):
    rnd = random.Random(seed)
    im = Image.new("RGB", (w, h))
    px = im.load()
    for y in range(h):
        for x in range(w):
            edge = 200 if (x // 5 + y // 7) % 2 else 30
            px[x, y] = (
                (x * 255 // max(1, w - 1) + rnd.randrange(40)) % 256,
                (edge + rnd.randrange(30)) % 256,
                (y * 255 // max(1, h - 1) ^ rnd.randrange(64)) % 256,
            )
    return im


CASES = [
    ("q75-420-32x32", (32, 32), dict(quality=75, subsampling=2)),
    ("q90-444-17x13", (17, 13), dict(quality=90, subsampling=0)),
    ("q80-422-33x21", (33, 21), dict(quality=80, subsampling=1)),
    ("q75-420-progressive-31x29", (31, 29), dict(quality=75, subsampling=2, progressive=True)),
    ("q85-420-optimized-64x48", (64, 48), dict(quality=85, subsampling=2, optimize=True)),
    ("q70-420-odd-7x5", (7, 5), dict(quality=70, subsampling=2)),
    ("q95-gray-20x15", (20, 15), dict(quality=95, gray=True)),
]

expected = {
    "pillow": PIL.__version__,
    "libjpeg_turbo": features.version("libjpeg_turbo"),
    "fixtures": [],
    "shared": {},
}
for i, (name, (w, h), opts) in enumerate(CASES):
    im = picture(w, h, i)
    if opts.pop("gray", False):
        im = im.convert("L")
    path = os.path.join(OUT, f"{name}.jpg")
    im.save(path, "JPEG", **opts)
    rgb = Image.open(path).convert("RGB")
    raw = rgb.tobytes()
    expected["fixtures"].append(
        {"file": f"{name}.jpg", "width": rgb.width, "height": rgb.height, "rgb_base64": base64.b64encode(raw).decode()}
    )

for tar_name, count in [("cifar10/train.tar", 200), ("imagenette/train.tar", 20), ("tiny-imagenet/train.tar", 50)]:
    p = os.path.join(SHARED, tar_name)
    if not os.path.exists(p):
        print(f"skip {p}: not found")
        continue
    rows = []
    with tarfile.open(p) as tf:
        for m in tf:
            if not m.isfile() or not m.name.lower().endswith((".jpg", ".jpeg")):
                continue
            rgb = Image.open(io.BytesIO(tf.extractfile(m).read())).convert("RGB")
            rows.append({"member": m.name, "width": rgb.width, "height": rgb.height,
                         "sha256": hashlib.sha256(rgb.tobytes()).hexdigest()})
            if len(rows) == count:
                break
    expected["shared"][tar_name] = rows

with open(os.path.join(OUT, "expected.json"), "w") as f:
    json.dump(expected, f, indent=1)
print("wrote", OUT, {k: len(v) for k, v in expected["shared"].items()}, len(expected["fixtures"]), "fixtures")
