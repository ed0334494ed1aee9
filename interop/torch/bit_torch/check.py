"""One forward and backward of an export's model on given inputs, for the equality tests.

    python3 -m bit_torch.check EXPORT_DIR INPUT.safetensors OUT.safetensors [EXPORT_DIR INPUT OUT ...]

INPUT holds `x` [N,3,H,W] float32 and `y` [N] int32; OUT gets `logits`, `loss` ([1], mean cross-entropy)
and `grad/<name>` for every parameter (bit-ts/timm names), computed in float32, and the same in float64
(`logits64`, `loss64`, `grad64/<name>`, stored as float32): the float64 values are the reference that
shows how far float32 itself is from exact on this input (deep random-init nets are ill-conditioned: torch's
own float32 gradients of R50x1's first stage differ from float64 by about 1e-2 of their largest entry).
"""

import json
import os
import sys

import torch
import torch.nn.functional as F

from .model import ResNetV2, load_weights
from .safetensors_io import read_safetensors, write_safetensors


def main(argv):
    if not argv or len(argv) % 3:
        raise SystemExit("usage: bit_torch.check EXPORT_DIR INPUT.safetensors OUT.safetensors [...]")
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    for i in range(0, len(argv), 3):
        check_one(*argv[i:i + 3])
    return 0


def check_one(ex, inp, out):
    with open(os.path.join(ex, "plan.json")) as f:
        plan = json.load(f)
    weights = read_safetensors(os.path.join(ex, "model.safetensors"))[0]
    t, _ = read_safetensors(inp)
    res = {}
    for dtype, tag in ((torch.float32, ""), (torch.float64, "64")):
        model = ResNetV2(plan)
        load_weights(model, weights)
        model.to(dtype).train()
        x = torch.from_numpy(t["x"]).to(dtype)
        y = torch.from_numpy(t["y"].astype("int64"))
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        loss.backward()
        res[f"logits{tag}"] = logits.detach().float().numpy()
        res[f"loss{tag}"] = loss.detach().reshape(1).float().numpy()
        for n, p in model.named_parameters():
            res[f"grad{tag}/{n}"] = p.grad.float().numpy()
    write_safetensors(out, res)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
