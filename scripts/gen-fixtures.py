#!/usr/bin/env python3
"""Golden values for the engine tests, from PyTorch (run offline; the JSON output is committed).

Usage: python3 scripts/gen-fixtures.py   (needs torch; writes test/fixtures/engine/golden.json)
Cases: conv2d forward + grads for the BiT stride/padding cases, GroupNorm, weight standardization (eps 1e-10),
the stem's zero pad + 3x3/2 max-pool, and softmax cross-entropy. Inputs come from a fixed torch seed and are
stored in the fixture, so the TypeScript test needs no RNG agreement with torch.
"""
import json, os
import torch
import torch.nn.functional as F

torch.manual_seed(0)
out = {"torch_version": torch.__version__, "cases": []}

def t(x):
    return [round(float(v), 9) for v in x.detach().reshape(-1).tolist()]

def add(name, inputs, outputs):
    out["cases"].append({"name": name,
                         "inputs": {k: {"shape": list(v.shape), "data": t(v)} for k, v in inputs.items()},
                         "outputs": {k: {"shape": list(v.shape), "data": t(v)} for k, v in outputs.items()}})

for (k, s, p, h) in [(7, 2, 3, 12), (3, 1, 1, 6), (3, 2, 1, 7), (1, 1, 0, 5), (1, 2, 0, 6)]:
    x = torch.randn(2, 3, h, h, requires_grad=True)
    w = torch.randn(4, 3, k, k, requires_grad=True)
    y = F.conv2d(x, w, stride=s, padding=p)
    gy = torch.randn_like(y)
    y.backward(gy)
    add(f"conv2d_k{k}_s{s}_p{p}", {"x": x, "w": w, "gy": gy}, {"y": y, "gx": x.grad, "gw": w.grad})

x = torch.randn(2, 8, 3, 3, requires_grad=True)
g = torch.randn(8, requires_grad=True)
b = torch.randn(8, requires_grad=True)
y = F.group_norm(x, 4, g, b, eps=1e-5)
gy = torch.randn_like(y)
y.backward(gy)
add("group_norm_4", {"x": x, "gamma": g, "beta": b, "gy": gy}, {"y": y, "gx": x.grad, "ggamma": g.grad, "gbeta": b.grad})

w = torch.randn(5, 3, 3, 3, requires_grad=True)
m = w.mean(dim=[1, 2, 3], keepdim=True)
v = w.var(dim=[1, 2, 3], keepdim=True, unbiased=False)
y = (w - m) / torch.sqrt(v + 1e-10)
gy = torch.randn_like(y)
y.backward(gy)
add("weight_standardize", {"w": w, "gy": gy}, {"y": y, "gw": w.grad})

x = torch.randn(2, 3, 8, 8, requires_grad=True)
y = F.max_pool2d(F.pad(x, (1, 1, 1, 1), value=0.0), 3, 2)
gy = torch.randn_like(y)
y.backward(gy)
add("stem_pad_maxpool", {"x": x, "gy": gy}, {"y": y, "gx": x.grad})

logits = torch.randn(4, 5, requires_grad=True)
labels = torch.tensor([0, 3, 4, 1])
loss = F.cross_entropy(logits, labels)
loss.backward()
add("cross_entropy", {"logits": logits, "labels": labels.float()}, {"loss": loss.reshape(1), "glogits": logits.grad})

os.makedirs("test/fixtures/engine", exist_ok=True)
with open("test/fixtures/engine/golden.json", "w") as f:
    json.dump(out, f)
print("wrote test/fixtures/engine/golden.json with", len(out["cases"]), "cases")
