#!/usr/bin/env python3
"""ONNX graph of a bit-ts ResNetV2 for the JS-peers bench (bench/js-peers.ts), exported with Debian's
python3-torch 1.13 (/usr/bin/python3): builds the network of bench/torch_peer.py (the same architecture as
src/models), loads bit-ts's parameters in parameter order (every shape checked), standardizes the conv weights
once (inference: the peers get plain convs, as a deployed model would), and writes opset-13 ONNX.

The stem's zero padding before the max pool is written as two Concats with zero blocks, not as a Pad: onnxruntime's
basic-level PadFusion (onnxruntime PR 18136, 2023; still in 1.30) folds a constant-0 Pad into the following MaxPool's `pads`, and
MaxPool pads with -inf, so every border window whose values are all negative changed (ORT's logits were 1.8e-2 off
ours and PyTorch's with graph optimizations on, 6.9e-5 with them disabled; with the Concats 6.4e-5 at any level).

  /usr/bin/python3 bench/onnx_export.py DIR   (DIR holds meta.json and weights.f32 written by bench/js-peers.ts;
                                               writes DIR/model.onnx)"""
import json, os, sys
import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_peer import StdConv, resnetv2  # noqa: E402

d = sys.argv[1]
meta = json.load(open(os.path.join(d, "meta.json")))
flat = np.fromfile(os.path.join(d, "weights.f32"), dtype=np.float32)
m = resnetv2(meta["classes"], tuple(meta["units"]), meta["base"], meta["groups"]).eval()
params = list(m.parameters())
if len(params) != len(meta["shapes"]):
    sys.exit(f"onnx_export: {len(params)} torch parameters, bit-ts has {len(meta['shapes'])}")
off = 0
with torch.no_grad():
    for i, (p, shape) in enumerate(zip(params, meta["shapes"])):
        if list(p.shape) != shape:
            sys.exit(f"onnx_export: parameter {i} ({meta['names'][i]}) is {list(p.shape)} in torch, {shape} in bit-ts")
        n = int(np.prod(shape))
        p.copy_(torch.from_numpy(flat[off:off + n].reshape(shape)))
        off += n
    for mod in m.modules():
        if isinstance(mod, StdConv):
            w = mod.weight
            v, mu = torch.var_mean(w, dim=[1, 2, 3], keepdim=True, unbiased=False)
            w.copy_((w - mu) / torch.sqrt(v + meta["wsEps"]))
            mod.__class__ = nn.Conv2d


class ZeroPad1(nn.Module):
    """ConstantPad2d(1, 0.0) as Concats with zero blocks (see the header: a Pad would be fused into the MaxPool)."""

    def forward(self, x):
        n, c, h, w = x.shape
        zr = torch.zeros(n, c, 1, w, dtype=x.dtype)
        x = torch.cat([zr, x, zr], 2)
        zc = torch.zeros(n, c, h + 2, 1, dtype=x.dtype)
        return torch.cat([zc, x, zc], 3)


if not (isinstance(m[1], nn.ConstantPad2d) and m[1].padding == (1, 1, 1, 1) and m[1].value == 0.0):
    sys.exit(f"onnx_export: expected the stem's ConstantPad2d(1, 0.0) at index 1, found {m[1]}")
m[1] = ZeroPad1()
x = torch.zeros(meta["batch"], 3, meta["px"], meta["px"])
torch.onnx.export(m, x, os.path.join(d, "model.onnx"), opset_version=13, input_names=["x"], output_names=["logits"])
print(json.dumps({"ok": True, "torch": torch.__version__}))
