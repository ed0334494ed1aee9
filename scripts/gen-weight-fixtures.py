#!/usr/bin/env python3
"""Generate the small NPZ fixtures for test/models/weights with numpy (an independent writer).

Purpose: the TypeScript NPZ reader and the BiT name mapping are checked against files numpy wrote itself.
Outputs (test/fixtures/weights/):
  bit-tiny.npz             np.savez (stored) of a tiny ResNetV2-BiT with official `resnet/...` names, HWIO
  bit-tiny-compressed.npz  the same arrays through np.savez_compressed (deflate)
  npy-dtypes.npz           f2 f4 f8 i1 i2 i4 i8 u1 b1 arrays, a scalar, a Fortran-order array, a v2.0 and a
                           v3.0 header member (written with zipfile + numpy.lib.format)
  big-endian.npz           one '>f4' member (must be rejected)
  expected.json            per array: shape, dtype, sum, sum of squares, weighted sum, first values; for
                           kernels also the weighted sum and samples after the HWIO->OIHW transpose
Invariants: deterministic (fixed seed); total size stays well under 200 KB. Run: python3 scripts/gen-weight-fixtures.py
"""

import io
import json
import os
import zipfile

import numpy as np

OUT = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "weights")
rng = np.random.default_rng(1234)

STEM = 8
UNITS = [2, 1, 1, 1]
CMID = [2, 4, 8, 16]
CLASSES = 5


def build_bit():
    w = {}
    w["resnet/root_block/standardized_conv2d/kernel"] = rng.standard_normal((7, 7, 3, STEM)).astype(np.float32)
    cin = STEM
    for b in range(4):
        cmid, cout = CMID[b], 4 * CMID[b]
        for u in range(UNITS[b]):
            p = f"resnet/block{b + 1}/unit{u + 1:02d}"
            ci = cin if u == 0 else cout
            w[f"{p}/a/group_norm/gamma"] = (1 + 0.1 * rng.standard_normal(ci)).astype(np.float32)
            w[f"{p}/a/group_norm/beta"] = (0.1 * rng.standard_normal(ci)).astype(np.float32)
            w[f"{p}/a/standardized_conv2d/kernel"] = rng.standard_normal((1, 1, ci, cmid)).astype(np.float32)
            w[f"{p}/b/group_norm/gamma"] = (1 + 0.1 * rng.standard_normal(cmid)).astype(np.float32)
            w[f"{p}/b/group_norm/beta"] = (0.1 * rng.standard_normal(cmid)).astype(np.float32)
            w[f"{p}/b/standardized_conv2d/kernel"] = rng.standard_normal((3, 3, cmid, cmid)).astype(np.float32)
            w[f"{p}/c/group_norm/gamma"] = (1 + 0.1 * rng.standard_normal(cmid)).astype(np.float32)
            w[f"{p}/c/group_norm/beta"] = (0.1 * rng.standard_normal(cmid)).astype(np.float32)
            w[f"{p}/c/standardized_conv2d/kernel"] = rng.standard_normal((1, 1, cmid, cout)).astype(np.float32)
            if u == 0:
                w[f"{p}/a/proj/standardized_conv2d/kernel"] = rng.standard_normal((1, 1, ci, cout)).astype(np.float32)
        cin = cout
    w["resnet/group_norm/gamma"] = (1 + 0.1 * rng.standard_normal(cin)).astype(np.float32)
    w["resnet/group_norm/beta"] = (0.1 * rng.standard_normal(cin)).astype(np.float32)
    w["resnet/head/conv2d/kernel"] = rng.standard_normal((1, 1, cin, CLASSES)).astype(np.float32)
    w["resnet/head/conv2d/bias"] = rng.standard_normal(CLASSES).astype(np.float32)
    return w


def stats(a):
    flat = np.ascontiguousarray(a).reshape(-1)
    f64 = flat.astype(np.float64)
    weights = (np.arange(flat.size) % 13 + 1).astype(np.float64)
    return {
        "shape": list(a.shape),
        "dtype": str(a.dtype),
        "sum": float(f64.sum()),
        "sumsq": float((f64 * f64).sum()),
        "wsum": float((f64 * weights).sum()),
        "first": [float(x) for x in f64[:4]],
        "last": float(f64[-1]) if flat.size else None,
    }


def write_member(zf, name, arr, version):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, version=version)
    zf.writestr(name + ".npy", buf.getvalue())


def main():
    os.makedirs(OUT, exist_ok=True)
    bit = build_bit()
    np.savez(os.path.join(OUT, "bit-tiny.npz"), **bit)
    np.savez_compressed(os.path.join(OUT, "bit-tiny-compressed.npz"), **bit)

    expected = {"bit": {}, "dtypes": {}}
    for k, a in bit.items():
        e = stats(a)
        if a.ndim == 4:
            oihw = np.ascontiguousarray(a.transpose(3, 2, 0, 1))
            e["oihw"] = stats(oihw)
            idx = [tuple(int(rng.integers(0, d)) for d in oihw.shape) for _ in range(3)]
            e["oihw_samples"] = [[*i, float(oihw[i])] for i in idx]
        expected["bit"][k] = e

    dt = {
        "f2": (rng.standard_normal((3, 4)) * 3).astype(np.float16),
        "f4": rng.standard_normal((2, 3, 4)).astype(np.float32),
        "f8": rng.standard_normal(5).astype(np.float64),
        "i1": rng.integers(-128, 127, (6,)).astype(np.int8),
        "i2": rng.integers(-30000, 30000, (2, 2)).astype(np.int16),
        "i4": rng.integers(-(2**31), 2**31 - 1, (4,)).astype(np.int32),
        "i8": np.array([-(2**40), 7, 2**33 + 1], dtype=np.int64),
        "u1": np.arange(250, 256, dtype=np.uint8),
        "b1": np.array([True, False, True]),
        "scalar": np.float32(2.5),
        "fortran": np.asfortranarray(np.arange(24, dtype=np.float32).reshape(2, 3, 4)),
        "empty": np.zeros((0, 3), dtype=np.float32),
    }
    with zipfile.ZipFile(os.path.join(OUT, "npy-dtypes.npz"), "w", zipfile.ZIP_STORED) as zf:
        for k, a in dt.items():
            write_member(zf, k, np.asarray(a), None)
            e = stats(np.asarray(a).astype(np.float64))
            e["dtype"] = str(np.asarray(a).dtype)
            e["fortran_order"] = bool(np.isfortran(np.asarray(a)) and np.asarray(a).ndim > 1)
            expected["dtypes"][k] = e
        write_member(zf, "v2", dt["f4"], (2, 0))
        write_member(zf, "v3", dt["f4"], (3, 0))
        expected["dtypes"]["v2"] = expected["dtypes"]["f4"]
        expected["dtypes"]["v3"] = expected["dtypes"]["f4"]
    with zipfile.ZipFile(os.path.join(OUT, "big-endian.npz"), "w", zipfile.ZIP_STORED) as zf:
        write_member(zf, "be", np.arange(4, dtype=">f4"), None)

    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
