#!/usr/bin/env python3
"""PyTorch peer for bench/run.ts: reads a JSON list of cases on stdin, prints one JSON object per case with
the median steady time in ms (after a warm-up call). Uses the machine's PyTorch (CPU), all its threads unless
BENCH_THREADS is set. Cases: sgemm, conv_fwd, conv_gi, conv_gw, gn_fwd, gn_bwd, ws_fwd, ws_bwd, r50_step."""
import json, os, sys, time
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
    def __init__(self, cin, cout, cmid, stride):
        super().__init__()
        self.gn1 = nn.GroupNorm(32, cin); self.conv1 = StdConv(cin, cmid, 1, bias=False)
        self.gn2 = nn.GroupNorm(32, cmid); self.conv2 = StdConv(cmid, cmid, 3, stride=stride, padding=1, bias=False)
        self.gn3 = nn.GroupNorm(32, cmid); self.conv3 = StdConv(cmid, cout, 1, bias=False)
        self.down = StdConv(cin, cout, 1, stride=stride, bias=False) if (stride != 1 or cin != cout) else None
    def forward(self, x):
        p = F.relu(self.gn1(x))
        sc = self.down(p) if self.down is not None else x
        h = self.conv1(p); h = self.conv2(F.relu(self.gn2(h))); h = self.conv3(F.relu(self.gn3(h)))
        return h + sc

def r50x1(num_classes):
    layers = [StdConv(3, 64, 7, stride=2, padding=3, bias=False), nn.ConstantPad2d(1, 0.0), nn.MaxPool2d(3, 2)]
    cin = 64
    for b, (n, cmid, s) in enumerate([(3, 64, 1), (4, 128, 2), (6, 256, 2), (3, 512, 2)]):
        for u in range(n):
            layers.append(Unit(cin, cmid * 4, cmid, s if u == 0 else 1)); cin = cmid * 4
    layers += [nn.GroupNorm(32, cin), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Conv2d(cin, num_classes, 1), nn.Flatten()]
    return nn.Sequential(*layers)

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
    if k == "r50_step":
        torch.manual_seed(0)
        m = r50x1(c["classes"]); opt = torch.optim.SGD(m.parameters(), lr=0.003, momentum=0.9)
        x = torch.randn(c["batch"], 3, c["px"], c["px"]); y = torch.randint(0, c["classes"], (c["batch"],))
        def step():
            opt.zero_grad(); F.cross_entropy(m(x), y).backward(); opt.step()
        return timeit(step, reps)
    raise ValueError(k)

cases = json.load(sys.stdin)
print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads()}), flush=True)
for c in cases:
    print(json.dumps({"id": c["id"], "ms": run(c)}), flush=True)
