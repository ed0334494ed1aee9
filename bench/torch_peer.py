#!/usr/bin/env python3
"""PyTorch peer for bench/run.ts. Two modes:
- batch (default): reads a JSON list of cases on stdin, prints one JSON object per case with the median steady
  time in ms (after a warm-up call).
- serve (--serve): one JSON command per stdin line, one JSON reply per line, so that the Node side can alternate
  rounds (ours, PyTorch, ours, PyTorch, ...) in one run: {"op": "setup", "id", ...case} builds the case and times
  its first call (first_ms, params); {"op": "time", "id", "reps"} times reps calls and returns their ms;
  {"op": "rss"} returns the peak RSS of this process so far (KiB); {"op": "drop", "id"} frees a case.
Uses the machine's PyTorch (CPU), all its threads unless BENCH_THREADS is set. Cases: sgemm, conv_fwd, conv_gi,
conv_gw, gn_fwd, gn_bwd, ws_fwd, ws_bwd, r50_step, and resnet_step (any ResNetV2-BiT: units, base, groups; the same
architecture as src/models: StdConv stem 7x7/2, zero pad 1, max pool 3x3/2, pre-activation bottlenecks with the
stride on the 3x3, projection on unit 0, GN+ReLU, global pool, 1x1 conv head with bias)."""
import json, os, resource, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F

if os.environ.get("BENCH_THREADS"):
    torch.set_num_threads(int(os.environ["BENCH_THREADS"]))

def timeit(fn, reps):
    fn()
    ts = []
    for _ in range(reps):
        t = time.perf_counter(); fn(); ts.append((time.perf_counter() - t) * 1000)
    ts.sort()
    return ts[len(ts) // 2]

class StdConv(nn.Conv2d):
    def forward(self, x):
        w = self.weight
        v, m = torch.var_mean(w, dim=[1, 2, 3], keepdim=True, unbiased=False)
        return F.conv2d(x, (w - m) / torch.sqrt(v + 1e-10), None, self.stride, self.padding)

class Unit(nn.Module):
    def __init__(self, cin, cout, cmid, stride, groups=32):
        super().__init__()
        self.gn1 = nn.GroupNorm(groups, cin); self.conv1 = StdConv(cin, cmid, 1, bias=False)
        self.gn2 = nn.GroupNorm(groups, cmid); self.conv2 = StdConv(cmid, cmid, 3, stride=stride, padding=1, bias=False)
        self.gn3 = nn.GroupNorm(groups, cmid); self.conv3 = StdConv(cmid, cout, 1, bias=False)
        self.down = StdConv(cin, cout, 1, stride=stride, bias=False) if (stride != 1 or cin != cout) else None
    def forward(self, x):
        p = F.relu(self.gn1(x))
        sc = self.down(p) if self.down is not None else x
        h = self.conv1(p); h = self.conv2(F.relu(self.gn2(h))); h = self.conv3(F.relu(self.gn3(h)))
        return h + sc

def resnetv2(num_classes, units=(3, 4, 6, 3), base=64, groups=32):
    layers = [StdConv(3, base, 7, stride=2, padding=3, bias=False), nn.ConstantPad2d(1, 0.0), nn.MaxPool2d(3, 2)]
    cin = base
    for s, n in enumerate(units):
        cmid = base * 2 ** s; stride = 1 if s == 0 else 2
        for u in range(n):
            layers.append(Unit(cin, cmid * 4, cmid, stride if u == 0 else 1, groups)); cin = cmid * 4
    layers += [nn.GroupNorm(groups, cin), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Conv2d(cin, num_classes, 1), nn.Flatten()]
    return nn.Sequential(*layers)

def r50x1(num_classes):
    return resnetv2(num_classes)

def make_step(c):
    """A training step (forward, cross-entropy, backward, SGD momentum 0.9) and the model's parameter count."""
    torch.manual_seed(0)
    if c["kind"] == "r50_step":
        m = r50x1(c["classes"])
    else:
        m = resnetv2(c["classes"], tuple(c["units"]), c["base"], c["groups"])
    opt = torch.optim.SGD(m.parameters(), lr=0.003, momentum=0.9)
    x = torch.randn(c["batch"], 3, c["px"], c["px"]); y = torch.arange(c["batch"]) % c["classes"]
    def step():
        opt.zero_grad(); F.cross_entropy(m(x), y).backward(); opt.step()
    return step, sum(p.numel() for p in m.parameters())

def make_call(c):
    """A no-argument callable for one case (the unit of time), and a parameter count (steps) or None."""
    k = c["kind"]
    if k in ("r50_step", "resnet_step"):
        return make_step(c)
    if k == "sgemm":
        n = c["n"]; a = torch.randn(n, n); b = torch.randn(n, n)
        return (lambda: a @ b), None
    if k.startswith("conv"):
        g = c["g"]
        x = torch.randn(g["n"], g["cin"], g["h"], g["w"])
        w = torch.randn(g["cout"], g["cin"], g["kh"], g["kw"])
        dy = torch.randn(g["n"], g["cout"], g["oh"], g["ow"])
        if k == "conv_fwd":
            return (lambda: F.conv2d(x, w, None, g["stride"], g["pad"])), None
        if k == "conv_gi":
            return (lambda: torch.nn.grad.conv2d_input(x.shape, w, dy, g["stride"], g["pad"])), None
        return (lambda: torch.nn.grad.conv2d_weight(x, w.shape, dy, g["stride"], g["pad"])), None
    raise ValueError(k)

def peak_rss_kib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

def serve():
    cases = {}
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads()}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        c = json.loads(line); op = c["op"]
        if op == "setup":
            fn, params = make_call(c)
            t = time.perf_counter(); fn(); first = (time.perf_counter() - t) * 1000
            cases[c["id"]] = fn
            print(json.dumps({"id": c["id"], "first_ms": first, "params": params}), flush=True)
        elif op == "time":
            fn = cases[c["id"]]; ts = []
            for _ in range(c.get("reps", 1)):
                t = time.perf_counter(); fn(); ts.append((time.perf_counter() - t) * 1000)
            print(json.dumps({"id": c["id"], "ms": ts}), flush=True)
        elif op == "rss":
            print(json.dumps({"rss_kib": peak_rss_kib()}), flush=True)
        elif op == "drop":
            cases.pop(c["id"], None)
            print(json.dumps({"id": c["id"], "dropped": True}), flush=True)
        else:
            raise ValueError(op)

def run(c):
    k = c["kind"]; reps = c.get("reps", 5)
    if k == "sgemm":
        n = c["n"]; a = torch.randn(n, n); b = torch.randn(n, n)
        return timeit(lambda: a @ b, reps)
    if k.startswith("conv"):
        g = c["g"]
        x = torch.randn(g["n"], g["cin"], g["h"], g["w"], requires_grad=(k == "conv_gw"))
        w = torch.randn(g["cout"], g["cin"], g["kh"], g["kw"])
        if k == "conv_fwd":
            return timeit(lambda: F.conv2d(x, w, None, g["stride"], g["pad"]), reps)
        dy = torch.randn(g["n"], g["cout"], g["oh"], g["ow"])
        if k == "conv_gi":
            return timeit(lambda: torch.nn.grad.conv2d_input(x.shape, w, dy, g["stride"], g["pad"]), reps)
        return timeit(lambda: torch.nn.grad.conv2d_weight(x, w.shape, dy, g["stride"], g["pad"]), reps)
    if k in ("gn_fwd", "gn_bwd"):
        x = torch.randn(c["n"], c["c"], c["hw"], requires_grad=True); gm = torch.ones(c["c"], requires_grad=True); bt = torch.zeros(c["c"], requires_grad=True)
        if k == "gn_fwd":
            with torch.no_grad():
                return timeit(lambda: F.group_norm(x, 32, gm, bt, 1e-5), reps)
        y = F.group_norm(x, 32, gm, bt, 1e-5); dy = torch.randn_like(y)
        return timeit(lambda: torch.autograd.grad(y, [x, gm, bt], dy, retain_graph=True), reps)
    if k in ("ws_fwd", "ws_bwd"):
        w = torch.randn(c["o"], c["fanIn"], requires_grad=True)
        def ws():
            v, m = torch.var_mean(w, dim=1, keepdim=True, unbiased=False)
            return (w - m) / torch.sqrt(v + 1e-10)
        if k == "ws_fwd":
            with torch.no_grad():
                return timeit(ws, reps)
        y = ws(); dy = torch.randn_like(y)
        return timeit(lambda: torch.autograd.grad(y, [w], dy, retain_graph=True), reps)
    if k in ("r50_step", "resnet_step"):
        return timeit(make_step(c)[0], reps)
    raise ValueError(k)

if __name__ == "__main__":  # bench/onnx_export.py imports the network
    if "--serve" in sys.argv:
        serve()
    else:
        cases = json.load(sys.stdin)
        print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads()}), flush=True)
        for c in cases:
            print(json.dumps({"id": c["id"], "ms": run(c)}), flush=True)
