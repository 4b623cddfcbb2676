"""8-bit block-wise optimizer state: speed, bytes and memory on 10M elements, and training
quality of the demo's MLP, each against float32 state, in one run.

1. 10M params: fastoptim Adam with float32 state, with state_bits=8, with float16 params
   (float32 masters and state), with bfloat16 state (stochastic rounding), and
   torch.optim.Adam(fused=True), interleaved, at 1 and all threads, in --repeat independent
   runs (the DRAM bandwidth of a shared machine drifts between runs; the float32 step's time
   shows it); minimum bytes moved per element (28, 16.03, 28, 20) and state memory.
2. The demo's digits MLP (64-64-10) trained 20 epochs, batch 32, same seed, with Adam, AdamW,
   SGD+momentum and RMSprop: float32, 8-bit state (min_8bit_size=0: every tensor 8-bit), and
   float16 / bfloat16 params with float32 master weights: final training loss, test accuracy,
   optimizer memory (state, plus masters in mixed precision).

    python bench/state8.py [--budget 3] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

import fastoptim as fo
from fastoptim.benchmark.contenders import set_threads, torch_available, torch_step
from fastoptim.benchmark.report import write_json
from fastoptim.benchmark.rules import RULES_BY_LABEL
from fastoptim.benchmark.timing import measure_interleaved
from fastoptim.cli import size_type
from fastoptim.data import train_test_split
from fastoptim.demo import load_dataset, standardize
from fastoptim.quantized_state import bfloat16_dtype


def speed(n: int, threads: int, budget: float) -> dict:
    rng = np.random.default_rng(0)
    params = [rng.standard_normal(n).astype(np.float32)]
    grads = [(rng.standard_normal(n) * 1e-3).astype(np.float32)]
    fp32 = fo.Adam([params[0].copy()], lr=1e-3)
    q8 = fo.Adam([params[0].copy()], lr=1e-3, state_bits=8)
    half = fo.Adam([params[0].astype(np.float16)], lr=1e-3)  # float32 masters and state
    half_grads = [grads[0].astype(np.float16)]
    contenders = {"fastoptim_fp32": lambda: fp32.step(grads), "fastoptim_8bit": lambda: q8.step(grads),
                  "fastoptim_f16_params": lambda: half.step(half_grads)}
    if bfloat16_dtype() is not None:
        b16 = fo.Adam([params[0].copy()], lr=1e-3, state_bits=16, stochastic_rounding=True)
        contenders["fastoptim_bf16_state"] = lambda: b16.step(grads)
    if torch_available():
        contenders["torch_fused_fp32"] = torch_step(RULES_BY_LABEL["adam"], params, grads, "fused")
    timed = measure_interleaved(contenders, budget_s=budget)
    ms = {k: v.median_s * 1e3 for k, v in timed.items()}
    fp32.step(grads)
    q8.step(grads)
    bytes_per_element = {"fp32": 28, "8bit": 12 + 4 + 8 / 256, "f16_params": 8 + 2 + 2 + 16, "bf16_state": 20}
    return {"n": n, "threads": threads, "ms": ms, "bytes_per_element": bytes_per_element,
            "state_bytes": {"fp32": fp32.state_bytes(), "8bit": q8.state_bytes()},
            "speedup_8bit_vs_torch_fused": ms.get("torch_fused_fp32", float("nan")) / ms["fastoptim_8bit"],
            "speedup_8bit_vs_fp32": ms["fastoptim_fp32"] / ms["fastoptim_8bit"]}


def quality(epochs: int, seed: int) -> list[dict]:
    X, y, _ = load_dataset("digits")
    Xtr, Xte, ytr, yte = train_test_split(X, y, 0.2, seed=seed)
    Xtr, Xte = standardize(Xtr, Xte)
    rows = []
    modes = [("float32", np.float32, 32), ("8-bit state", np.float32, 8), ("float16 params", np.float16, 32)]
    if bfloat16_dtype() is not None:
        modes.append(("bfloat16 state", np.float32, 16))
        modes.append(("bf16 state, SR", np.float32, "16sr"))
    try:
        import ml_dtypes

        modes.append(("bfloat16 params", ml_dtypes.bfloat16, 32))
    except ImportError:
        print("# ml_dtypes not installed: no bfloat16 rows")
    for name, make in [("Adam", lambda p, **k: fo.Adam(p, lr=1e-3, **k)),
                       ("AdamW", lambda p, **k: fo.AdamW(p, lr=1e-3, **k)),
                       ("SGD+momentum", lambda p, **k: fo.SGD(p, lr=0.02, momentum=0.9, **k)),
                       ("RMSprop", lambda p, **k: fo.RMSprop(p, lr=1e-3, **k))]:
        for mode, dtype, bits in modes:
            model = fo.models.MLP(64, [64], 10, seed=seed, dtype=dtype)
            opt = make(model.params, state_bits=16 if bits == "16sr" else bits, min_8bit_size=0,
                       stochastic_rounding=bits == "16sr")
            hist = fo.fit(model, opt, Xtr, ytr, epochs=epochs, batch_size=32, seed=seed, progress=False)
            rows.append({"optimizer": name, "mode": mode, "train_loss": hist.train_loss[-1],
                         "test_accuracy": model.score(Xte, yte), "state_bytes": opt.state_bytes()})
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=size_type, default=10_000_000, help="elements (10000, 1e4 or 10k)")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, os.cpu_count() or 2])
    ap.add_argument("--budget", type=float, default=3.0)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=5,
                    help="independent interleaved runs per thread count (this machine's DRAM bandwidth drifts)")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "state8.json"))
    args = ap.parse_args()
    speeds = []
    for t in args.threads:
        set_threads(t)
        ratios = []
        for run in range(args.repeat):
            r = speed(args.n, t, args.budget)
            r["run"] = run
            speeds.append(r)
            ratios.append(r["speedup_8bit_vs_torch_fused"])
            share = r["state_bytes"]["8bit"] / r["state_bytes"]["fp32"]
            # The float32 step moves 28 B/element: its time gives the DRAM bandwidth of this run.
            fp32_gbs = 28 * args.n / (r["ms"]["fastoptim_fp32"] * 1e-3) / 1e9
            print(f"{args.n:,} el, {t} thr, run {run}: " + "  ".join(f"{k}={v:.2f} ms" for k, v in r["ms"].items())
                  + f"  8bit vs torch fused {r['speedup_8bit_vs_torch_fused']:.2f}x,"
                  f" vs fp32 {r['speedup_8bit_vs_fp32']:.2f}x; fp32 at {fp32_gbs:.0f} GB/s;"
                  f" state {share:.1%} of fp32", flush=True)
        print(f"# {t} thr: 8bit vs torch fused, median of {len(ratios)} runs {np.median(ratios):.2f}x"
              f" (min {min(ratios):.2f}x, max {max(ratios):.2f}x)", flush=True)
    rows = quality(args.epochs, seed=0)
    print(f"{'optimizer':14s}{'mode':>17s}{'train loss':>12s}{'test acc':>10s}{'state bytes':>13s}")
    for r in rows:
        print(f"{r['optimizer']:14s}{r['mode']:>17s}{r['train_loss']:12.4f}{r['test_accuracy']:10.3f}"
              f"{r['state_bytes']:13d}")
    write_json(args.out, speed=speeds, quality=rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
