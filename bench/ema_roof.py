"""The average of weights (``fo.ops.ema_``: a = lerp(a, p, 1 − decay), read p, read/write a,
12 B/element) against the streaming probe of the same streams (``_core.stream_probe([a], p)``:
a = a/2 + p) over the same arrays, as the median of paired ratios, the order alternating (as
bench/matrix_roof.py), at 1 and 2 threads.

    python bench/ema_roof.py [--n 10000000] [--pairs 31]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import fastoptim as fo
from fastoptim import _core


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10_000_000)
    ap.add_argument("--pairs", type=int, default=31)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    p = rng.standard_normal(args.n).astype(np.float32)
    a = p.copy()

    def ema():
        t = time.perf_counter()
        fo.ops.ema_([a], [p], decay=0.999)
        return time.perf_counter() - t

    def probe():
        t = time.perf_counter()
        _core.stream_probe([a], p)
        return time.perf_counter() - t

    print(f"# isa {fo.active_isa()}, float32, n={args.n}, {args.pairs} pairs")
    for threads in (1, 2):
        fo.set_num_threads(threads)
        for _ in range(3):
            ema(), probe()
        ratios, times = [], []
        for i in range(args.pairs):
            if i % 2:
                q = probe()
                k = ema()
            else:
                k = ema()
                q = probe()
            ratios.append(q / k)
            times.append(k)
        q1, med, q3 = np.percentile(ratios, [25, 50, 75])
        print(f"ema_ thr={threads}: {np.median(times) * 1e3:.2f} ms, {med * 100:.1f}% of probe "
              f"(IQR {q1 * 100:.1f}-{q3 * 100:.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
