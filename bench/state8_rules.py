"""8-bit state for every rule that has it, on every ISA: float32 vs 8-bit state, 10M elements.

SGD with momentum, RMSprop and Adam, each with float32 state and with ``state_bits=8``,
interleaved in one process at the given thread count, once per instruction set this CPU
supports (``fo.use_isa``). Medians in ms; 8-bit moves 14.03 (SGD, RMSprop) or 16.03 (Adam)
bytes per element against 20 and 28 for float32.

    python bench/state8_rules.py [--n 10000000] [--threads 2] [--budget 4]
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

import fastoptim as fo
from fastoptim.benchmark.contenders import set_threads
from fastoptim.benchmark.report import write_json
from fastoptim.benchmark.timing import measure_interleaved
from fastoptim.cli import size_type


def run(n: int, budget: float) -> dict[str, float]:
    rng = np.random.default_rng(0)
    p = rng.standard_normal(n).astype(np.float32)
    g = (rng.standard_normal(n) * 1e-3).astype(np.float32)
    opts = {
        "sgd_momentum_fp32": fo.SGD([p.copy()], lr=1e-3, momentum=0.9),
        "sgd_momentum_8bit": fo.SGD([p.copy()], lr=1e-3, momentum=0.9, state_bits=8),
        "rmsprop_fp32": fo.RMSprop([p.copy()], lr=1e-3),
        "rmsprop_8bit": fo.RMSprop([p.copy()], lr=1e-3, state_bits=8),
        "adam_fp32": fo.Adam([p.copy()], lr=1e-3),
        "adam_8bit": fo.Adam([p.copy()], lr=1e-3, state_bits=8),
    }
    timed = measure_interleaved({k: (lambda o=o: o.step([g])) for k, o in opts.items()}, budget_s=budget)
    return {k: v.median_s * 1e3 for k, v in timed.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=size_type, default=10_000_000, help="elements (10000, 1e4 or 10k)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--budget", type=float, default=4.0)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "state8_rules.json"))
    args = ap.parse_args()
    set_threads(args.threads)
    results = {}
    default = fo.active_isa()
    try:
        for isa in fo.supported_isas():
            fo.use_isa(isa)
            results[isa] = ms = run(args.n, args.budget)
            print(f"{isa:9s} {args.threads} thr: " + "  ".join(f"{k}={v:.2f}" for k, v in ms.items()) + " ms",
                  flush=True)
    finally:
        fo.use_isa(default)
    write_json(args.out, n=args.n, threads=args.threads, ms=results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
