#!/usr/bin/env python3
"""Golden forward/backward fixture for the ResNetV2-BiT of src/models/resnet-v2.ts.

An independent PyTorch (float64) implementation of the spec's architecture (shared/spec/bit-reference.md,
section 1) written with torch.nn.functional only: StdConv 7x7/2 stem, zero pad 1 + max pool 3x3/2,
pre-activation bottlenecks (projection reads the pre-activated input, stride on the 3x3), GN -> ReLU ->
global average pool -> 1x1 conv with bias. Tiny config: units [1,1,1,1], base width 3, 3 GN groups, 3 classes,
input [2, 3, 16, 16] (spatial 16 -> 8 -> 4 -> 4, 2, 1, 1). Weights are drawn from a seeded numpy generator, rounded to float32 and written as
safetensors (by hand: 8-byte LE header length + JSON header + raw little-endian f32) under timm's state-dict
names; logits, the input gradient and the stem weight gradient of sum(logits * R) for a fixed R go to JSON.

Run: python3 scripts/gen-model-fixtures.py  (needs torch and numpy; writes test/fixtures/models/).
"""

import json
import os
import struct

import numpy as np
import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "models")
CFG = {
    "blockUnits": [1, 1, 1, 1],
    "widthFactor": 1,
    "baseWidth": 3,
    "gnGroups": 3,
    "numClasses": 3,
    "wsEps": 1e-10,
}
INPUT_SHAPE = [2, 3, 16, 16]


def param_shapes(cfg):
    """[(name, shape)] in our namedParameters order (timm names)."""
    base, wf, classes = cfg["baseWidth"], cfg["widthFactor"], cfg["numClasses"]
    stem = base * wf
    out = [("stem.conv.weight", [stem, 3, 7, 7])]
    cin = stem
    for s, units in enumerate(cfg["blockUnits"]):
        cmid = base * 2**s * wf
        cout = 4 * cmid
        stride = 1 if s == 0 else 2
        for u in range(units):
            p = f"stages.{s}.blocks.{u}"
            c = cin if u == 0 else cout
            out += [(f"{p}.norm1.weight", [c]), (f"{p}.norm1.bias", [c]), (f"{p}.conv1.weight", [cmid, c, 1, 1])]
            out += [(f"{p}.norm2.weight", [cmid]), (f"{p}.norm2.bias", [cmid])]
            out += [(f"{p}.conv2.weight", [cmid, cmid, 3, 3])]
            out += [(f"{p}.norm3.weight", [cmid]), (f"{p}.norm3.bias", [cmid]), (f"{p}.conv3.weight", [cout, cmid, 1, 1])]
            if u == 0 and (stride != 1 or c != cout):
                out += [(f"{p}.downsample.conv.weight", [cout, c, 1, 1])]
        cin = cout
    out += [("norm.weight", [cin]), ("norm.bias", [cin])]
    out += [("head.fc.weight", [classes, cin, 1, 1]), ("head.fc.bias", [classes])]
    return out


def make_weights(cfg, rng):
    w = {}
    for name, shape in param_shapes(cfg):
        if ".conv" in name:
            v = rng.standard_normal(shape) * 0.5 + 0.3  # an offset: WS must remove each filter's mean
        elif name.startswith("head.fc"):
            v = rng.standard_normal(shape) * 0.2
        elif name.endswith(".weight"):  # GN gamma
            v = 1.0 + 0.2 * rng.standard_normal(shape)
        else:  # GN beta
            v = 0.1 * rng.standard_normal(shape)
        w[name] = np.asarray(v, dtype=np.float32)
    return w


def std_conv(x, w, eps, stride=1, padding=0):
    m = w.mean(dim=(1, 2, 3), keepdim=True)
    v = w.var(dim=(1, 2, 3), keepdim=True, unbiased=False)
    return F.conv2d(x, (w - m) / torch.sqrt(v + eps), stride=stride, padding=padding)


def forward(cfg, P, x):
    eps, g = cfg["wsEps"], cfg["gnGroups"]
    y = std_conv(x, P["stem.conv.weight"], eps, stride=2, padding=3)
    y = F.pad(y, (1, 1, 1, 1), value=0.0)
    y = F.max_pool2d(y, 3, 2)
    for s, units in enumerate(cfg["blockUnits"]):
        for u in range(units):
            p = f"stages.{s}.blocks.{u}"
            stride = (1 if s == 0 else 2) if u == 0 else 1
            pre = F.relu(F.group_norm(y, g, P[f"{p}.norm1.weight"], P[f"{p}.norm1.bias"], 1e-5))
            sc = y
            if f"{p}.downsample.conv.weight" in P:
                sc = std_conv(pre, P[f"{p}.downsample.conv.weight"], eps, stride=stride)
            h = std_conv(pre, P[f"{p}.conv1.weight"], eps)
            h = F.relu(F.group_norm(h, g, P[f"{p}.norm2.weight"], P[f"{p}.norm2.bias"], 1e-5))
            h = std_conv(h, P[f"{p}.conv2.weight"], eps, stride=stride, padding=1)
            h = F.relu(F.group_norm(h, g, P[f"{p}.norm3.weight"], P[f"{p}.norm3.bias"], 1e-5))
            h = std_conv(h, P[f"{p}.conv3.weight"], eps)
            y = h + sc
    y = F.relu(F.group_norm(y, g, P["norm.weight"], P["norm.bias"], 1e-5))
    y = y.mean(dim=(2, 3), keepdim=True)
    y = F.conv2d(y, P["head.fc.weight"], P["head.fc.bias"])
    return y.flatten(1)


def write_safetensors(path, tensors):
    header, chunks, off = {}, [], 0
    for name, a in tensors.items():
        b = np.ascontiguousarray(a, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        chunks.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for c in chunks:
            f.write(c)


def main():
    rng = np.random.default_rng(20240607)
    weights = make_weights(CFG, rng)
    # noise plus a ramp: a standardized filter answers a ramp with a constant of either sign, so some stem
    # channels are negative everywhere and the max pool's ZERO padding (not -inf) decides border outputs
    ramp = 0.4 * (np.arange(INPUT_SHAPE[2])[:, None] + np.arange(INPUT_SHAPE[3])[None, :])
    x = np.asarray(rng.standard_normal(INPUT_SHAPE) + ramp, dtype=np.float32)
    P = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in weights.items()}
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    logits = forward(CFG, P, xt)
    r = np.asarray(rng.standard_normal(list(logits.shape)), dtype=np.float32)
    (logits * torch.tensor(r, dtype=torch.float64)).sum().backward()

    os.makedirs(OUT, exist_ok=True)
    write_safetensors(os.path.join(OUT, "tiny-resnetv2.safetensors"), weights)

    def g9(v):
        return float(f"{float(v):.9g}")  # float32 precision is all the test needs; keeps the JSON small

    def flat(t):
        return [g9(v) for v in np.asarray(t.detach().numpy(), dtype=np.float64).ravel()]

    golden = {
        "generator": f"scripts/gen-model-fixtures.py, torch {torch.__version__}, float64 functional reference",
        "config": CFG,
        "inputShape": INPUT_SHAPE,
        "input": [g9(v) for v in x.ravel()],
        "logitsShape": list(logits.shape),
        "logits": flat(logits),
        "gradWeights": [g9(v) for v in r.ravel()],
        "inputGrad": flat(xt.grad),
        "stemWeightGrad": flat(P["stem.conv.weight"].grad),
        "normWeightGrad": flat(P["norm.weight"].grad),
    }
    with open(os.path.join(OUT, "tiny-resnetv2.golden.json"), "w") as f:
        json.dump(golden, f)
    print("wrote", OUT, "logits", flat(logits))


if __name__ == "__main__":
    main()
