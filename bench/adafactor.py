"""Adafactor step time: fastoptim.torch.Adafactor, the NumPy class fastoptim.Adafactor and
torch.optim.Adafactor (for-loop, foreach) on the same data in the same process, timed in
interleaved repetitions (one step of each contender per round; medians over rounds), at 1 and
2 threads; and the bandwidth of fastoptim's step against the streaming probe.

fastoptim's step over a float32 matrix moves 24 bytes per element (pass 1 reads p and g, pass 2
reads g, pass 3 reads p and g and writes p; the row/column state is O(R + C)); a vector's step
40 (its variance is read and written in pass 1 and read in passes 2 and 3). The probe
(``_core.stream_probe`` with one read-write and one read-only stream) moves 12 bytes per element;
the ratio of the two GB/s figures says how close the three passes run to the memory roof.

    python bench/adafactor.py [--repeat 9] [--threads 1 2] [--out bench/results/adafactor.json]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

import fastoptim as fo
import fastoptim.torch as fot
from fastoptim import _core


def cases() -> dict[str, list[tuple[int, ...]]]:
    d, ff, layers = 512, 2048, 4
    layer = [(3 * d, d), (3 * d,), (d, d), (d,), (ff, d), (ff,), (d, ff), (d,), (d,), (d,), (d,), (d,)]
    return {"one 4096x4096 matrix": [(4096, 4096)], f"transformer ({layers} layers, d={d})": layer * layers}


def bytes_per_step(shapes: list[tuple[int, ...]], itemsize: int = 4) -> int:
    return sum(int(np.prod(s)) * itemsize * (6 if len(s) >= 2 else 10) for s in shapes)


def contenders(shapes, seed=0):
    rng = np.random.default_rng(seed)
    init = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    grads = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    out = {}
    for name, make in [("fastoptim.torch", lambda ps: fot.Adafactor(ps)),
                       ("torch for-loop", lambda ps: torch.optim.Adafactor(ps, foreach=False)),
                       ("torch foreach", lambda ps: torch.optim.Adafactor(ps, foreach=True))]:
        ps = [torch.nn.Parameter(torch.tensor(x)) for x in init]
        for p, g in zip(ps, grads):
            p.grad = torch.tensor(g)
        out[name] = make(ps).step
    arrays = [x.copy() for x in init]
    opt = fo.Adafactor(arrays)
    out["fastoptim (NumPy)"] = lambda: opt.step(grads)
    return out


def probe(n: int):
    a, g = np.ones(n, np.float32), np.ones(n, np.float32)
    return lambda: _core.stream_probe([a], g)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=9)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    results = []
    for case, shapes in cases().items():
        n = sum(int(np.prod(s)) for s in shapes)
        for threads in args.threads:
            fo.set_num_threads(threads)
            torch.set_num_threads(threads)
            steps = contenders(shapes)
            steps["probe (12 B/elem)"] = probe(n)
            for f in steps.values():  # warm up: state allocated, pages touched
                f()
            times: dict[str, list[float]] = {k: [] for k in steps}
            for _ in range(args.repeat):
                for k, f in steps.items():
                    t0 = time.perf_counter()
                    f()
                    times[k].append(time.perf_counter() - t0)
            med = {k: float(np.median(v)) for k, v in times.items()}
            gbs = bytes_per_step(shapes) / med["fastoptim.torch"] / 1e9
            probe_gbs = 12 * n / med["probe (12 B/elem)"] / 1e9
            row = {"case": case, "elements": n, "threads": threads, "median_ms": {k: v * 1e3 for k, v in med.items()},
                   "fastoptim_gb_s": gbs, "probe_gb_s": probe_gbs, "pct_of_probe": 100 * gbs / probe_gbs}
            results.append(row)
            print(f"{case} ({n / 1e6:.1f}M), {threads} thread(s):")
            for k, v in med.items():
                speed = "" if k.startswith("probe") else f"  ({med['torch for-loop'] / v:5.1f}x torch for-loop, " \
                    f"{med['torch foreach'] / v:5.1f}x foreach)"
                print(f"  {k:20s} {v * 1e3:9.2f} ms{speed}")
            print(f"  fastoptim.torch {gbs:.1f} GB/s, probe {probe_gbs:.1f} GB/s: {row['pct_of_probe']:.0f}% of probe")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"repeat": args.repeat, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
