"""One forward and backward of an export's model on given inputs, for the equality tests.

    python3 -m bit_torch.check EXPORT_DIR INPUT.safetensors OUT.safetensors

INPUT holds `x` [N,3,H,W] float32 and `y` [N] int32; OUT gets `logits`, `loss` ([1], mean cross-entropy)
and `grad/<name>` for every parameter (bit-ts/timm names).
"""

import json
import os
import sys

import torch
import torch.nn.functional as F

from .model import ResNetV2, load_weights
from .safetensors_io import read_safetensors, write_safetensors


def main(argv):
    ex, inp, out = argv
    with open(os.path.join(ex, "plan.json")) as f:
        plan = json.load(f)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    model = ResNetV2(plan)
    load_weights(model, read_safetensors(os.path.join(ex, "model.safetensors"))[0])
    model.train()
    t, _ = read_safetensors(inp)
    x = torch.from_numpy(t["x"])
    y = torch.from_numpy(t["y"].astype("int64"))
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    loss.backward()
    res = {"logits": logits.detach().numpy(), "loss": loss.detach().reshape(1).numpy()}
    for n, p in model.named_parameters():
        res[f"grad/{n}"] = p.grad.numpy()
    write_safetensors(out, res)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
