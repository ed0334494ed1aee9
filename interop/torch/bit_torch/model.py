"""The ResNetV2-BiT of a bit-ts plan.json, in PyTorch, with bit-ts's (timm's) state-dict names.

The plan lists every layer: the stem conv (7x7/2 pad 3), the stem pool (zero pad 1, then max pool 3x3/2:
the stem output can be negative, so zero and -inf padding differ), every pre-activation bottleneck unit with
its norms and convs in parameter order (a `downsample.conv` projection where the plan has one), the final norm
and the head (a plain 1x1 conv with bias). Weight standardization: per output filter, mean and BIASED
variance over (Cin, kh, kw), eps inside the sqrt (plan ws.eps: 1e-10 as the official BiT code). GroupNorm:
plan norm.groups and eps. BatchNorm (the Table-4 ablation): torch's BatchNorm2d, optionally with ghost
statistics per `ghost_batch` images, as bit-ts's BatchNorm2d does. Nothing here is inferred from a model
name: change the plan, and the network follows.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import PLAN_FORMAT


class StdConv2d(nn.Conv2d):
    """Conv2d whose weight is standardized per output filter on every forward (no learnable gain)."""

    def __init__(self, cin, cout, k, stride, pad, eps, bias=False):
        super().__init__(cin, cout, k, stride=stride, padding=pad, bias=bias)
        self.eps = eps

    def forward(self, x):
        w = self.weight
        mean = w.mean(dim=(1, 2, 3), keepdim=True)
        var = (w - mean).pow(2).mean(dim=(1, 2, 3), keepdim=True)
        w = (w - mean) / torch.sqrt(var + self.eps)
        return F.conv2d(x, w, self.bias, self.stride, self.padding)


class GhostBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d with training statistics per micro-batch of `ghost` images (simulated devices)."""

    def __init__(self, c, eps, momentum, ghost):
        super().__init__(c, eps=eps, momentum=momentum)
        self.ghost = ghost

    def forward(self, x):
        g = self.ghost
        if not self.training or g <= 0 or x.shape[0] == g:
            return super().forward(x)
        n, c, h, w = x.shape
        if n % g:
            raise ValueError(f"GhostBatchNorm2d: batch {n} is not a multiple of the ghost batch {g}")
        x5 = x.reshape(n // g, g, c, h, w)
        mean = x5.mean(dim=(1, 3, 4), keepdim=True)
        xc = x5 - mean
        var = xc.pow(2).mean(dim=(1, 3, 4), keepdim=True)
        y = xc * torch.rsqrt(var + self.eps)
        y = y * self.weight.reshape(1, 1, c, 1, 1) + self.bias.reshape(1, 1, c, 1, 1)
        with torch.no_grad():
            per = g * h * w
            m = self.momentum
            self.running_mean.mul_(1 - m).add_(mean.mean(dim=0).reshape(c), alpha=m)
            self.running_var.mul_(1 - m).add_(var.mean(dim=0).reshape(c) * per / (per - 1), alpha=m)
            self.num_batches_tracked += 1
        return y.reshape(n, c, h, w)


def _norm(plan, c):
    n = plan["norm"]
    if n["kind"] == "gn":
        return nn.GroupNorm(n["groups"], c, eps=n["eps"])
    if n["kind"] == "bn":
        return GhostBatchNorm2d(c, n["eps"], n["momentum"], n.get("ghost_batch", 0))
    raise ValueError(f"plan: unknown norm kind {n['kind']!r}")


def _conv(plan, c):
    ws = plan["ws"]
    if ws["enabled"]:
        return StdConv2d(c["cin"], c["cout"], c["k"], c["stride"], c["pad"], ws["eps"])
    return nn.Conv2d(c["cin"], c["cout"], c["k"], stride=c["stride"], padding=c["pad"], bias=False)


class _Holder(nn.Module):
    """A module that only names its children (stem, downsample, head): `<name>.conv`, `<name>.fc`."""


class Unit(nn.Module):
    """Pre-activation bottleneck: p = relu(norm1(x)); shortcut = downsample.conv(p) or x;
    h = conv1(p); h = conv2(relu(norm2(h))); h = conv3(relu(norm3(h))); out = h + shortcut."""

    def __init__(self, plan, unit):
        super().__init__()
        for layer in unit["layers"]:
            if layer["kind"] == "norm":
                setattr(self, layer["name"], _norm(plan, layer["c"]))
            elif layer["name"] == "downsample.conv":
                self.downsample = _Holder()
                self.downsample.conv = _conv(plan, layer)
            else:
                setattr(self, layer["name"], _conv(plan, layer))
        if not hasattr(self, "downsample"):
            self.downsample = None

    def forward(self, x):
        p = F.relu(self.norm1(x))
        shortcut = self.downsample.conv(p) if self.downsample is not None else x
        h = self.conv1(p)
        h = self.conv2(F.relu(self.norm2(h)))
        h = self.conv3(F.relu(self.norm3(h)))
        return h + shortcut


class Stage(nn.Module):
    def __init__(self, units):
        super().__init__()
        self.blocks = nn.ModuleList(units)

    def forward(self, x):
        for b in self.blocks:
            x = b(x)
        return x


class ResNetV2(nn.Module):
    """The network of a plan: [N, 3, H, W] -> logits [N, classes] (or pooled features without a head)."""

    def __init__(self, plan):
        super().__init__()
        if plan.get("format") != PLAN_FORMAT:
            raise ValueError(f"plan format {plan.get('format')!r}, expected {PLAN_FORMAT!r}")
        self.plan = plan
        self.stem = _Holder()
        self.stem.conv = _conv(plan, plan["stem"])
        n_stages = 1 + max(u["stage"] for u in plan["units"])
        stages = [[] for _ in range(n_stages)]
        for u in plan["units"]:
            stages[u["stage"]].append(Unit(plan, u))
        self.stages = nn.ModuleList([Stage(s) for s in stages])
        self.norm = _norm(plan, plan["final_norm"]["c"])
        self.head = _Holder()
        h = plan["head"]
        self.head.fc = nn.Conv2d(h["cin"], h["cout"], 1, bias=True) if h else None
        self._check_names()

    def _check_names(self):
        want = [(n, list(s)) for n, s in self.plan["parameters"]]
        got = [(n, list(p.shape)) for n, p in self.named_parameters()]
        if want != got:
            diff = next((i for i, (a, b) in enumerate(zip(want, got)) if a != b), min(len(want), len(got)))
            raise ValueError(f"plan parameters differ from the built model at #{diff}: "
                             f"{want[diff:diff + 1]} vs {got[diff:diff + 1]} ({len(want)} vs {len(got)})")

    def forward_features(self, x):
        x = self.stem.conv(x)
        p = self.plan["stem_pool"]
        x = F.pad(x, (p["pad"],) * 4, value=0.0)
        x = F.max_pool2d(x, p["k"], p["stride"])
        for s in self.stages:
            x = s(x)
        return F.relu(self.norm(x))

    def forward(self, x):
        y = F.adaptive_avg_pool2d(self.forward_features(x), 1)
        if self.head.fc is not None:
            y = self.head.fc(y)
        return torch.flatten(y, 1)


def load_weights(model, tensors):
    """Load a bit-ts/timm-named state dict (numpy arrays) into `model`; every parameter must be present."""
    sd = model.state_dict()
    missing = [n for n in sd if n not in tensors and not n.endswith("num_batches_tracked")]
    if missing:
        raise KeyError(f"weights lack {len(missing)} entries of the model, e.g. {missing[0]!r}")
    new = {}
    for n, ref in sd.items():
        if n not in tensors:
            new[n] = ref
            continue
        a = torch.from_numpy(tensors[n].copy()).to(ref.dtype)
        if list(a.shape) != list(ref.shape):
            raise ValueError(f"weight {n!r} has shape {list(a.shape)}, the model {list(ref.shape)}")
        new[n] = a
    model.load_state_dict(new)


def state_numpy(model):
    """The state dict as float32 numpy arrays (bit-ts checkpoints are float32 throughout)."""
    return {n: t.detach().cpu().to(torch.float32).numpy() for n, t in model.state_dict().items()}
