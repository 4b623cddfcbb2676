"""Each rule's step time against the streaming probe of its own memory shape, as the median of
paired ratios: probe and rule are timed back to back, many times, and the ratio of each pair
is taken, so that the drift of a shared machine's memory bandwidth (which moves a separate
median of each by ±10 % within a run here) cancels out.

    python bench/roof_ratio.py [--rules nadam radam ...] [--n 1e7] [--threads 1 2] [--pairs 40]

Prints, per rule and thread count, the median of probe_time / rule_time (100 %: the rule runs
at the roof of its byte shape) with its interquartile range; writes bench/results/roof_ratio.json.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import fastoptim as fo
from fastoptim.benchmark.contenders import fastoptim_step, probe_step, set_threads
from fastoptim.benchmark.report import write_json
from fastoptim.benchmark.rules import RULES, RULES_BY_LABEL
from fastoptim.cli import size_type


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rules", nargs="+", default=[r.label for r in RULES], choices=sorted(RULES_BY_LABEL))
    ap.add_argument("--n", type=size_type, default=10_000_000)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, os.cpu_count() or 1])
    ap.add_argument("--pairs", type=int, default=40)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "roof_ratio.json"))
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    params = [rng.standard_normal(args.n).astype(np.float32)]
    grads = [rng.standard_normal(args.n).astype(np.float32) * 1e-3]
    rows = []
    print(f"# {args.n:,} float32 elements, isa {fo.active_isa()}, {args.pairs} pairs per point")
    for threads in args.threads:
        set_threads(threads)
        for label in args.rules:
            rule = RULES_BY_LABEL[label]
            ours, probe = fastoptim_step(rule, params, grads), probe_step(rule, args.n)
            for f in (ours, probe, ours, probe):  # warm up: state allocated, pages touched
                f()
            ratios, times = [], []
            for _ in range(args.pairs):
                t0 = time.perf_counter()
                ours()
                t1 = time.perf_counter()
                probe()
                t2 = time.perf_counter()
                ratios.append((t2 - t1) / (t1 - t0))
                times.append(t1 - t0)
            q1, med, q3 = np.percentile(ratios, [25, 50, 75])
            row = {"rule": label, "threads": threads, "n": args.n, "bytes_per_element": rule.bytes_per_element,
                   "median_ms": float(np.median(times) * 1e3), "pct_of_probe_median": float(med * 100),
                   "pct_of_probe_q1": float(q1 * 100), "pct_of_probe_q3": float(q3 * 100)}
            rows.append(row)
            print(f"{label:28s} thr={threads} {row['median_ms']:8.2f} ms  {med * 100:5.1f}% of probe "
                  f"(IQR {q1 * 100:.1f}-{q3 * 100:.1f})", flush=True)
    write_json(args.out, rows=rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
