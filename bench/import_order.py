"""fastoptim beside torch in one process, whatever the import order: fastoptim's Adam step
(NumPy API, 1M float32 elements) and torch's matmul (512x512 float32), each timed with the
other library imported first, at the same thread count (default: all cores). fastoptim has
no OpenMP runtime of its own (its pool idles asleep after 200 µs), so the order should not
matter. Writes bench/results/import_order.json.

    python bench/import_order.py [--threads N]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from fastoptim.benchmark.report import write_json

CHILD = r"""
import statistics, sys, time
order = sys.argv[1]
if order == "fastoptim first":
    import fastoptim as fo
    import torch
else:
    import torch
    import fastoptim as fo
import numpy as np
n = int(sys.argv[2])
fo.set_num_threads(n)
torch.set_num_threads(n)
rng = np.random.default_rng(0)
p = rng.standard_normal(1_000_000).astype(np.float32)
g = rng.standard_normal(p.size).astype(np.float32)
opt = fo.Adam([p], lr=1e-3)
a, b = torch.randn(512, 512), torch.randn(512, 512)

def median_us(fn, reps):
    fn()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts) * 1e6

step, mm = [], []
for _ in range(5):  # interleaved: each library right after the other ran
    step.append(median_us(lambda: opt.step([g]), 50))
    mm.append(median_us(lambda: torch.mm(a, b), 50))
print(statistics.median(step), statistics.median(mm))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "import_order.json"))
    args = ap.parse_args()
    rows = []
    for order in ("fastoptim first", "torch first"):
        out = subprocess.run([sys.executable, "-c", CHILD, order, str(args.threads)], capture_output=True,
                             text=True, timeout=600, check=True)
        step_us, mm_us = map(float, out.stdout.split())
        rows.append({"order": order, "threads": args.threads, "fastoptim_adam_1M_us": step_us,
                     "torch_mm_512_us": mm_us})
        print(f"{order:16s} threads={args.threads}  fastoptim Adam 1M: {step_us:8.1f} µs   "
              f"torch mm 512: {mm_us:8.1f} µs", flush=True)
    write_json(args.out, rows=rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
