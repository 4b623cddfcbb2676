"""fastoptim.torch vs torch.optim on a model with realistic tensor shapes.

Model: a stack of 6 transformer encoder layers (d_model 256, 4 heads, feed-forward 1024):
74 parameter tensors, 4.7M parameters, float32 on the CPU. Two measurements, same process:

1. optimizer step alone (gradients set once), interleaved: fastoptim.torch.Adam/AdamW/SGD
   vs torch.optim fused=True and foreach=True, at 1 and at all threads (same count for both);
2. a full training step (forward, backward, step) with each optimizer, to see the two
   OpenMP runtimes side by side (torch's own pool for forward/backward, fastoptim's for the
   step) at the same thread count.

    python bench/torch_dropin.py [--budget 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch

import fastoptim as fo
import fastoptim.torch as fot
from fastoptim.benchmark.report import write_json
from fastoptim.benchmark.timing import measure_interleaved


def build_model() -> torch.nn.Module:
    torch.manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(d_model=256, nhead=4, dim_feedforward=1024, batch_first=True)
    return torch.nn.TransformerEncoder(layer, num_layers=6, enable_nested_tensor=False)


def step_only(name: str, budget: float) -> dict:
    contenders = {}
    for label, factory in [("fastoptim", lambda ps: getattr(fot, name)(ps, lr=1e-3)),
                           ("torch_fused", lambda ps: getattr(torch.optim, name)(ps, lr=1e-3, fused=True)),
                           ("torch_foreach", lambda ps: getattr(torch.optim, name)(ps, lr=1e-3, foreach=True))]:
        model = build_model()
        params = list(model.parameters())
        for p in params:
            p.grad = torch.randn_like(p) * 1e-3
        contenders[label] = factory(params).step
    timed = measure_interleaved(contenders, budget_s=budget, batch=1)
    return {k: v.median_s * 1e6 for k, v in timed.items()}


def train_step(budget: float) -> dict:
    """Whole training step (ms), and the optimizer step inside it (µs), timed right after
    torch's backward pass, when torch's own OpenMP threads may still be spinning."""
    x = torch.randn(8, 64, 256)
    contenders, inner = {}, {}
    for label, factory in [("fastoptim", lambda ps: fot.Adam(ps, lr=1e-4)),
                           ("torch_fused", lambda ps: torch.optim.Adam(ps, lr=1e-4, fused=True))]:
        model = build_model()
        opt = factory(list(model.parameters()))
        inner[label] = []

        def step(model=model, opt=opt, times=inner[label]) -> None:
            opt.zero_grad()
            model(x).square().mean().backward()
            t0 = time.perf_counter()
            opt.step()
            times.append(time.perf_counter() - t0)
        contenders[label] = step
    timed = measure_interleaved(contenders, budget_s=budget, batch=1, settle=0)
    out = {f"{k}_train_ms": v.median_s * 1e3 for k, v in timed.items()}
    out.update({f"{k}_step_in_loop_us": statistics.median(v) * 1e6 for k, v in inner.items()})
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, os.cpu_count() or 2])
    ap.add_argument("--budget", type=float, default=2.0)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "torch_dropin.json"))
    args = ap.parse_args()
    model = build_model()
    n_tensors = len(list(model.parameters()))
    n_params = sum(p.numel() for p in model.parameters())
    print(f"# 6-layer transformer encoder: {n_tensors} tensors, {n_params:,} float32 params; torch {torch.__version__}")
    rows = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        fo.set_num_threads(threads)
        for name in ("Adam", "AdamW", "SGD"):
            us = step_only(name, args.budget)
            rows.append({"kind": "step", "optimizer": name, "threads": threads, "us": us})
            print(f"step  {name:6s} thr={threads}  " + "  ".join(f"{k}={v:8.0f} µs" for k, v in us.items())
                  + f"  fused/fastoptim={us['torch_fused'] / us['fastoptim']:.2f}x", flush=True)
        tr = train_step(args.budget * 2)
        rows.append({"kind": "train_step", "optimizer": "Adam", "threads": threads, "times": tr})
        print(f"train Adam   thr={threads}  " + "  ".join(f"{k}={v:.2f}" for k, v in tr.items()), flush=True)
    write_json(args.out, torch=str(torch.__version__), tensors=n_tensors, params=n_params, rows=rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
