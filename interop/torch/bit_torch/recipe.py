"""The training recipe of a recipe.json: learning rate per step, SGD parameter groups, the loss.

Schedule: {"kind": "hyperrule", "base_lr", "boundaries": [warmup, d1, d2, d3, total]} is computed here with the
official rule (step < warmup: base*step/warmup; else base / 10^k, k = #{d in d1..d3 : d < step}); any other
bit-ts scheduler travels as {"kind": "table", "lr": [lr of step 0, 1, ...]}. `lr_samples` ([step, lr] pairs
that bit-ts computed) are checked at start, so a schedule that drifted from bit-ts's fails loudly.
Optimizer: SGD with momentum as torch.optim.SGD (bit-ts's update is the same formula); with
filter_bias_and_bn, tensors of ndim <= 1 and names ending in '.bias' get no weight decay (timm's rule, as
bit-ts's noDecayGroups). Loss: softmax cross-entropy with label smoothing; MixUp: lam*CE(y_a) + (1-lam)*CE(y_b).
"""

import torch
import torch.nn.functional as F

from . import RECIPE_FORMAT


def check_recipe(recipe):
    if recipe.get("format") != RECIPE_FORMAT:
        raise ValueError(f"recipe format {recipe.get('format')!r}, expected {RECIPE_FORMAT!r}")
    for step, want in recipe["schedule"].get("lr_samples", []):
        got = lr_at(recipe, step)
        if abs(got - want) > 1e-12 * max(1.0, abs(want)):
            raise ValueError(f"recipe schedule: lr({step}) = {got} here, {want} in bit-ts")


def lr_at(recipe, step):
    s = recipe["schedule"]
    if s["kind"] == "hyperrule":
        w, d1, d2, d3, _total = s["boundaries"]
        base = s["base_lr"]
        if step < w:
            return base * step / w
        k = sum(1 for d in (d1, d2, d3) if d < step)
        return base / 10 ** k
    if s["kind"] == "table":
        table = s["lr"]
        return table[min(step, len(table) - 1)]
    raise ValueError(f"recipe: unknown schedule kind {s['kind']!r}")


def param_groups(model, recipe):
    o = recipe["optimizer"]
    named = list(model.named_parameters())
    if not o["filter_bias_and_bn"]:
        return [{"params": [p for _, p in named], "weight_decay": o["weight_decay"]}]
    skip = [p for n, p in named if p.ndim <= 1 or n.endswith(".bias")]
    decay = [p for n, p in named if not (p.ndim <= 1 or n.endswith(".bias"))]
    return [{"params": decay, "weight_decay": o["weight_decay"]}, {"params": skip, "weight_decay": 0.0}]


def make_optimizer(model, recipe):
    o = recipe["optimizer"]
    if o["name"] != "sgd":
        raise ValueError(f"recipe: optimizer {o['name']!r} is not supported (sgd)")
    return torch.optim.SGD(param_groups(model, recipe), lr=0.0, momentum=o["momentum"],
                           dampening=o.get("dampening", 0.0), nesterov=o["nesterov"])


def loss_fn(logits, ya, yb=None, lam=1.0, smoothing=0.0):
    """Mean softmax cross-entropy; with yb, MixUp's lam*CE(ya) + (1-lam)*CE(yb)."""
    la = F.cross_entropy(logits, ya, label_smoothing=smoothing)
    if yb is None or lam >= 1.0:
        return la
    return lam * la + (1.0 - lam) * F.cross_entropy(logits, yb, label_smoothing=smoothing)
