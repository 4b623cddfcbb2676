"""Overhead-bound steps: many small tensors and tiny models, fastoptim vs torch.optim.

Contenders, interleaved in one process on the same data and thread count:
  * fastoptim over a list of separate arrays (one C++ call per step),
  * fastoptim over a FlatParams arena (one kernel call over one buffer),
  * fastoptim.torch's drop-in Adam over torch tensors, torch.optim fused=True and
    foreach=True (when torch is installed).
Cases: 40 arrays of 50x50 (100k params), 1k params in one array, and 10M params with
max_grad_norm (vs torch clip_grad_norm_ + fused step). Writes bench/results/small_models.json.

    python bench/small_models.py [--threads 1 2]
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

import fastoptim as fo
from fastoptim.benchmark.contenders import fastoptim_torch_step, set_threads, torch_available, torch_step
from fastoptim.benchmark.report import write_json
from fastoptim.benchmark.rules import RULES_BY_LABEL
from fastoptim.benchmark.timing import measure_interleaved

ADAM = RULES_BY_LABEL["adam"]


def case(name: str, shapes: list[tuple[int, ...]], threads: int, budget: float, clip: float | None = None,
         with_torch: bool = True) -> dict:
    rng = np.random.default_rng(0)
    params = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    grads = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    step_kw = {} if clip is None else {"max_grad_norm": clip}
    separate = fo.Adam([p.copy() for p in params], **ADAM.kwargs)
    flat = fo.FlatParams([p.copy() for p in params])
    for view, g in zip(flat.grads, grads):
        view[...] = g
    arena = fo.Adam(flat, **ADAM.kwargs)
    contenders = {"fastoptim_list": lambda: separate.step(grads, **step_kw),
                  "fastoptim_flat": lambda: arena.step(**step_kw)}
    if with_torch and torch_available():
        if clip is None:
            contenders["fastoptim_torch"] = fastoptim_torch_step(ADAM, params, grads)
        for mode in ("fused", "foreach"):
            contenders[f"torch_{mode}"] = torch_step(ADAM, params, grads, mode, max_grad_norm=clip)
    numel = sum(p.size for p in params)
    batch = max(1, 200_000 // numel)
    timed = measure_interleaved(contenders, budget_s=budget, batch=batch)
    us = {k: v.median_s * 1e6 for k, v in timed.items()}
    row = {"case": name, "threads": threads, "tensors": len(shapes), "numel": numel, "clip": clip,
           "us_per_step": us, "timings": {k: v.as_dict() for k, v in timed.items()}}
    if "torch_fused" in us:
        row["speedup_flat_vs_torch_fused"] = us["torch_fused"] / us["fastoptim_flat"]
        row["speedup_list_vs_torch_fused"] = us["torch_fused"] / us["fastoptim_list"]
    cells = "  ".join(f"{k}={v:9.2f}" for k, v in us.items())
    extra = (f"  flat {row['speedup_flat_vs_torch_fused']:.1f}x, list {row['speedup_list_vs_torch_fused']:.1f}x"
             " vs torch fused" if "torch_fused" in us else "")
    print(f"{name:22s} thr={threads}  µs/step: {cells}{extra}", flush=True)
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, os.cpu_count() or 2])
    ap.add_argument("--budget", type=float, default=2.0)
    ap.add_argument("--skip-large", action="store_true", help="leave out the 10M clip case")
    ap.add_argument("--no-torch", action="store_true",
                    help="fastoptim alone: torch is not imported, so its OpenMP pool never runs beside ours")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "small_models.json"))
    args = ap.parse_args()
    rows = []
    with_torch = not args.no_torch
    if args.no_torch and args.out.endswith("small_models.json"):
        args.out = args.out.replace("small_models.json", "small_models_no_torch.json")
    print(f"# Adam, float32, isa={fo.active_isa()}, torch={torch_available() if with_torch else 'not used'}")
    for threads in args.threads:
        if with_torch:
            set_threads(threads)
        else:
            fo.set_num_threads(threads)
        rows.append(case("40 x (50x50)", [(50, 50)] * 40, threads, args.budget, with_torch=with_torch))
        rows.append(case("1k in one array", [(1000,)], threads, args.budget, with_torch=with_torch))
        if not args.skip_large:
            rows.append(case("10M + max_grad_norm", [(10_000_000,)], threads, args.budget * 2, clip=1.0,
                             with_torch=with_torch))
    write_json(args.out, torch=torch_available() if with_torch else None, rows=rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
