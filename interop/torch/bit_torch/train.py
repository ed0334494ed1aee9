"""Train an export folder's model with its recipe, under DistributedDataParallel.

    torchrun --nproc_per_node N -m bit_torch.train EXPORT_DIR --out RUN_DIR        (any modern torch)
    python3 -m bit_torch.launch --nproc 2 -- EXPORT_DIR --out RUN_DIR               (no torchrun needed)

Ranks read RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT (what torchrun sets); backend gloo on CPUs,
nccl on GPUs (--backend). The recipe's batch_size is the GLOBAL batch: each of W ranks takes a contiguous
B/W slice of every global batch, and DDP averages the gradients, so one step equals one single-process step on
the whole batch up to float summation order (GroupNorm has no batch statistics; BatchNorm without sync does).
--fixed trains on the exact batches bit-ts wrote (batches.safetensors, MixUp already applied); otherwise the
data.json members are read and augmented here. Rank 0 writes RUN_DIR/metrics.jsonl (bit-ts's schema),
latest.safetensors (a bit-ts training checkpoint: weights, momentum, metadata) and result.json.
"""

import argparse
import json
import os
import time

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

from . import CHECKPOINT_FORMAT
from .data import Split, TorchDataset, apply, epoch_order, load_data_json
from .model import ResNetV2, load_weights, state_numpy
from .recipe import check_recipe, loss_fn, lr_at, make_optimizer
from .safetensors_io import read_safetensors, write_safetensors


def parse(argv=None):
    p = argparse.ArgumentParser(prog="bit_torch.train", description=__doc__.split("\n\n")[0])
    p.add_argument("export_dir")
    p.add_argument("--out", required=True, help="run folder (metrics.jsonl, latest.safetensors, result.json)")
    p.add_argument("--fixed", action="store_true", help="train on EXPORT_DIR/batches.safetensors")
    p.add_argument("--steps", type=int, default=0, help="stop after this many steps (0: the recipe's)")
    p.add_argument("--data-dir", default=None, help="where the data lives on this machine (default: data.json's)")
    p.add_argument("--backend", default=None, help="gloo | nccl (default: nccl with CUDA, else gloo)")
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes per rank")
    p.add_argument("--threads", type=int, default=0, help="torch threads per rank (0: cores / ranks)")
    p.add_argument("--no-eval", action="store_true", help="skip the final evaluation")
    return p.parse_args(argv)


def read_json(path):
    with open(path) as f:
        return json.load(f)


class Ctx:
    def __init__(self, args):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local = int(os.environ.get("LOCAL_RANK", "0"))
        cuda = torch.cuda.is_available()
        self.backend = args.backend or ("nccl" if cuda else "gloo")
        self.device = torch.device(f"cuda:{self.local}" if self.backend == "nccl" else "cpu")
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        if self.world > 1:
            dist.init_process_group(self.backend, rank=self.rank, world_size=self.world)
        threads = args.threads or max(1, (os.cpu_count() or 1) // self.world)
        torch.set_num_threads(threads)

    def mean(self, v):
        t = torch.tensor([float(v)], dtype=torch.float64, device=self.device)
        if self.world > 1:
            dist.all_reduce(t)
        return t.item() / self.world

    def close(self):
        if self.world > 1:
            dist.barrier()
            dist.destroy_process_group()


def fixed_batches(path):
    t, meta = read_safetensors(path)
    info = json.loads(meta["bit_ts_fixed"])
    out = []
    for k in range(info["steps"]):
        yb = t.get(f"labels_b/{k}")
        out.append((t[f"images/{k}"], t[f"labels_a/{k}"], yb, info["lambdas"][k], info["epochs"][k]))
    return out, info


def streaming_batches(export, recipe, data, ctx, steps, workers):
    """Global batch b of epoch e -> this rank's slice, as (images, labels, None, lam, epoch) after MixUp."""
    split = Split(data, "train")
    ds = TorchDataset(split, recipe["augment"]["train"], recipe["seed"])
    B = recipe["batch_size"]
    lb = B // ctx.world
    alpha = recipe["mixup"]["alpha"]

    def keys():
        step, epoch = 0, 0
        while step < steps:
            order = epoch_order(len(split), B, recipe["seed"], epoch, recipe["shuffle"], recipe["drop_last"])
            for pos, idx in enumerate(order):
                if step >= steps:
                    return
                mine = idx[ctx.rank * lb:(ctx.rank + 1) * lb]
                yield [(epoch, pos * B + ctx.rank * lb + j, i) for j, i in enumerate(mine)]
                step += 1
            epoch += 1

    per_epoch = len(epoch_order(len(split), B, recipe["seed"], 0, recipe["shuffle"], recipe["drop_last"]))
    loader = torch.utils.data.DataLoader(ds, batch_sampler=keys(), num_workers=workers)
    for step, (x, y) in enumerate(loader):
        epoch = step // per_epoch
        lam = 1.0
        yb = None
        if alpha > 0:
            g = np.random.default_rng([recipe["seed"], step, ctx.rank])
            lam = float(np.random.default_rng([recipe["seed"], step]).beta(alpha, alpha))
            perm = torch.from_numpy(g.permutation(x.shape[0]))
            x = lam * x + (1 - lam) * x[perm]
            yb = y[perm]
        yield x, y, yb, lam, epoch


def evaluate(model, data, recipe, device):
    split = Split(data, "val")
    spec = recipe["augment"]["eval"]
    bs = recipe["eval_batch_size"]
    model.eval()
    correct1 = correct5 = 0
    total_loss = 0.0
    n = len(split)
    with torch.no_grad():
        for a in range(0, n, bs):
            idx = range(a, min(n, a + bs))
            x = torch.from_numpy(np.stack([apply(spec, split.image(i), None) for i in idx])).to(device)
            y = torch.tensor([split.labels[i] for i in idx], device=device)
            logits = model(x)
            total_loss += F.cross_entropy(logits, y, reduction="sum").item()
            k = min(5, logits.shape[1])
            top = logits.topk(k, dim=1).indices
            correct1 += (top[:, 0] == y).sum().item()
            correct5 += (top == y[:, None]).any(dim=1).sum().item()
    model.train()
    return {"top1": 100.0 * correct1 / n, "top5": 100.0 * correct5 / n, "loss": total_loss / n, "count": n}


def save_checkpoint(path, model, opt, names, meta):
    tensors = state_numpy(model)
    for name, p in names:
        st = opt.state.get(p, {})
        buf = st.get("momentum_buffer")
        if buf is not None:
            tensors[f"optimizer.momentum/{name}"] = buf.detach().cpu().to(torch.float32).numpy()
    write_safetensors(path, tensors, {"bit_ts": json.dumps(meta)})


def main(argv=None):
    args = parse(argv)
    ctx = Ctx(args)
    ex = args.export_dir
    plan = read_json(os.path.join(ex, "plan.json"))
    recipe = read_json(os.path.join(ex, "recipe.json"))
    check_recipe(recipe)
    torch.manual_seed(recipe["seed"])
    model = ResNetV2(plan)
    load_weights(model, read_safetensors(os.path.join(ex, "model.safetensors"))[0])
    model.to(ctx.device).train()
    names = list(model.named_parameters())
    opt = make_optimizer(model, recipe)
    net = model
    if ctx.world > 1:
        ids = [ctx.device.index] if ctx.device.type == "cuda" else None
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
    data = load_data_json(os.path.join(ex, "data.json"), args.data_dir) if os.path.exists(
        os.path.join(ex, "data.json")) else None

    if args.fixed:
        batches, info = fixed_batches(os.path.join(ex, "batches.safetensors"))
        steps = len(batches) if not args.steps else min(args.steps, len(batches))
        source = iter(batches[:steps])
    else:
        steps = args.steps or recipe["steps"]
        source = streaming_batches(ex, recipe, data, ctx, steps, args.workers)
    B = recipe["batch_size"]
    if B % ctx.world:
        raise ValueError(f"global batch {B} is not divisible by {ctx.world} ranks")
    smoothing = recipe["loss"]["label_smoothing"]
    os.makedirs(args.out, exist_ok=True)
    metrics = open(os.path.join(args.out, "metrics.jsonl"), "w") if ctx.rank == 0 else None
    losses, lrs = [], []
    t0 = time.time()
    epoch = 0
    for step in range(steps):
        x, ya, yb, lam, epoch = next(source)
        x = torch.as_tensor(x)
        ya = torch.as_tensor(np.asarray(ya), dtype=torch.long)
        yb = None if yb is None else torch.as_tensor(np.asarray(yb), dtype=torch.long)
        if args.fixed:  # the whole global batch was written; this rank takes its slice
            lb = x.shape[0] // ctx.world
            sl = slice(ctx.rank * lb, (ctx.rank + 1) * lb)
            x, ya = x[sl], ya[sl]
            yb = None if yb is None else yb[sl]
        x, ya = x.to(ctx.device), ya.to(ctx.device)
        yb = None if yb is None else yb.to(ctx.device)
        lr = lr_at(recipe, step)
        for g in opt.param_groups:
            g["lr"] = lr
        ts = time.time()
        loss = loss_fn(net(x), ya, yb, lam, smoothing)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        mean_loss = ctx.mean(loss.item())
        losses.append(mean_loss)
        lrs.append(lr)
        if metrics:
            rec = {"type": "train", "step": step + 1, "epoch": epoch, "loss": mean_loss, "lr": lr,
                   "images_per_s": B / max(1e-6, time.time() - ts), "time_s": time.time() - t0}
            metrics.write(json.dumps(rec) + "\n")
            metrics.flush()
    result = {"world_size": ctx.world, "steps": steps, "losses": losses, "lrs": lrs, "eval": None}
    if ctx.rank == 0:
        ev = None
        if data is not None and data.get("val") and not args.no_eval:
            ev = evaluate(model, data, recipe, ctx.device)
            metrics.write(json.dumps({"type": "eval", "step": steps, "epoch": epoch, "top1": ev["top1"],
                                      "top5": ev["top5"], "loss": ev["loss"]}) + "\n")
            print(f"eval step {steps}: Top_1_Accuracy {ev['top1'] / 100:.4f} Top_5_Accuracy "
                  f"{ev['top5'] / 100:.4f} loss {ev['loss']:.4f} ({ev['count']} images)", flush=True)
        metrics.close()
        result["eval"] = ev
        meta = dict(recipe["checkpoint_meta"])
        meta.update({"format": CHECKPOINT_FORMAT, "step": steps, "epoch": epoch, "optimizerStep": steps,
                     "bestTop1": ev["top1"] if ev else None,
                     "best": {"step": steps, "top1": ev["top1"]} if ev else None,
                     "reason": f"final (bit_torch, {ctx.world} ranks, {ctx.backend})"})
        save_checkpoint(os.path.join(args.out, "latest.safetensors"), model, opt, names, meta)
        tmp = os.path.join(args.out, "result.json.tmp")
        with open(tmp, "w") as f:
            json.dump(result, f)
        os.replace(tmp, os.path.join(args.out, "result.json"))
        print(f"trained {steps} steps on {ctx.world} rank(s) ({ctx.backend}); losses {losses[0]:.6f} .. "
              f"{losses[-1]:.6f}; wrote {args.out}/latest.safetensors", flush=True)
    ctx.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
