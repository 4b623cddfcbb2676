"""Large-buffer step speed of every rule vs the streaming roof and torch.optim fused.

For N float32 elements (default 10M) and 1..all threads: fastoptim's step, the C++ streaming
probe with the rule's memory shape (same threads, same split), and torch.optim's
fused=True step (where it exists) in the same process on the same data. Prints medians and
writes bench/results/roofline.json.

    python bench/roofline.py [--n 10000000] [--threads 1 2] [--budget 1.0]
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

import fastoptim as fo
from fastoptim.benchmark.contenders import fastoptim_step, probe_step, set_threads, torch_available, torch_step
from fastoptim.benchmark.report import write_json
from fastoptim.benchmark.rules import RULES
from fastoptim.benchmark.timing import measure_interleaved
from fastoptim.cli import size_type


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=size_type, default=10_000_000, help="elements (10000, 1e4 or 10k)")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, os.cpu_count() or 1])
    ap.add_argument("--budget", type=float, default=3.0, help="seconds of repeats per rule and thread count")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "roofline.json"))
    args = ap.parse_args()

    rng = np.random.default_rng(0)
    params = [rng.standard_normal(args.n).astype(np.float32)]
    grads = [rng.standard_normal(args.n).astype(np.float32) * 1e-3]
    has_torch = torch_available()
    rows = []
    print(f"# {args.n:,} float32 elements; isa={fo.active_isa()}; torch={has_torch}")
    print(f"{'rule':28s}{'thr':>4s}{'B/el':>6s}{'ours ms':>9s}{'GB/s':>7s}{'probe GB/s':>11s}"
          f"{'% probe':>8s}{'torch ms':>9s}{'speedup':>8s}")
    for threads in args.threads:
        set_threads(threads)
        for rule in RULES:
            nbytes = rule.bytes_per_element * args.n
            contenders = {"ours": fastoptim_step(rule, params, grads), "probe": probe_step(rule, args.n)}
            tstep = torch_step(rule, params, grads, "fused") if has_torch else None
            if tstep:
                contenders["torch_fused"] = tstep
            timed = measure_interleaved(contenders, budget_s=args.budget)
            ours, roof, peer = timed["ours"], timed["probe"], timed.get("torch_fused")
            row = {
                "rule": rule.label, "threads": threads, "n": args.n, "bytes_per_element": rule.bytes_per_element,
                "ours": ours.as_dict(), "probe": roof.as_dict(), "torch_fused": peer.as_dict() if peer else None,
                "ours_gbps": nbytes / ours.median_s / 1e9, "probe_gbps": nbytes / roof.median_s / 1e9,
                "pct_of_probe": roof.median_s / ours.median_s * 100,
                "speedup_vs_torch_fused": (peer.median_s / ours.median_s) if peer else None,
            }
            rows.append(row)
            torch_ms = f"{peer.median_s * 1e3:9.2f}" if peer else f"{'n/a':>9s}"
            speed = f"{row['speedup_vs_torch_fused']:7.2f}x" if peer else f"{'':8s}"
            print(f"{rule.label:28s}{threads:4d}{rule.bytes_per_element:6d}{ours.median_s * 1e3:9.2f}"
                  f"{row['ours_gbps']:7.1f}{row['probe_gbps']:11.1f}{row['pct_of_probe']:7.1f}%{torch_ms}{speed}",
                  flush=True)
    write_json(args.out, torch=has_torch, rows=rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
