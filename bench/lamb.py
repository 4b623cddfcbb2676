"""LAMB step time: fastoptim.torch.Lamb, the NumPy class fastoptim.Lamb and pytorch_optimizer.Lamb
(its default foreach path on CPU, and its for-loop) on the same data in the same process, timed
in interleaved repetitions (one step of each contender per round; medians over rounds), at 1 and
2 threads; and each of fastoptim's passes against the streaming probe of its own byte shape.

fastoptim's step moves 40 bytes per float32 element in two passes (Adam: 28 in one):
  pass 1 reads p, g, m, v and writes m, v (24 B): the moments and the per-tensor sums of squares
  pass 2 reads p, m, v and writes p       (16 B): u recomputed, p ← p' − step_size·trust·u
The probes (``_core.lamb_probe``) have exactly these shapes: two read-write and two read-only
streams (24 B), one read-write and two read-only (16 B). Each pass's time comes from the step
itself (``_core.lamb_step(pass_seconds=...)``), each probe runs right before or after it (the
order alternates, so that neither always inherits the other's dirty cache lines), over the
pass's own arrays (pass 1's probe updates m and v from p and g, pass 2's updates p from m and
v: the same pages, which matters by up to 8 % here), and the median of the paired ratios
probe_time/pass_time is reported. p, g, m and v start non-negative, so the probes' a = a/2 +
(x + y) keep v non-negative and every value finite.

    python bench/lamb.py [--rounds 15] [--threads 1 2] [--out bench/results/lamb.json]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import torch

import fastoptim as fo
import fastoptim.torch as fot
from fastoptim import _core
from fastoptim.lamb import lamb_hyper

OPTIONS = {"lr": 1e-3, "weight_decay": 0.01}


def cases() -> dict[str, list[tuple[int, ...]]]:
    d, ff, layers = 512, 2048, 4
    layer = [(3 * d, d), (3 * d,), (d, d), (d,), (ff, d), (ff,), (d, ff), (d,), (d,), (d,), (d,), (d,)]
    return {"one tensor of 10M": [(10_000_000,)], f"transformer ({layers} layers, d={d}, 48 tensors)": layer * layers}


def contenders(shapes: list[tuple[int, ...]], seed: int = 0) -> dict:
    from pytorch_optimizer import Lamb as PeerLamb

    rng = np.random.default_rng(seed)
    init = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    grads = [(rng.standard_normal(s) * 1e-2).astype(np.float32) for s in shapes]
    out = {}
    for name, make in [("fastoptim.torch.Lamb", lambda ps: fot.Lamb(ps, **OPTIONS)),
                       ("pytorch_optimizer foreach", lambda ps: PeerLamb(ps, **OPTIONS)),
                       ("pytorch_optimizer for-loop", lambda ps: PeerLamb(ps, foreach=False, **OPTIONS))]:
        ps = [torch.nn.Parameter(torch.tensor(x)) for x in init]
        for p, g in zip(ps, grads):
            p.grad = torch.tensor(g)
        out[name] = make(ps).step
    arrays = [x.copy() for x in init]
    opt = fo.Lamb(arrays, **OPTIONS)
    out["fastoptim.Lamb (NumPy)"] = lambda: opt.step(grads)
    return out


def pass_ratios(n: int, rounds: int) -> dict:
    """Paired ratios probe/pass for the two passes of a step over one float32 tensor of n."""
    rng = np.random.default_rng(1)
    p = np.abs(rng.standard_normal(n)).astype(np.float32)
    g = (np.abs(rng.standard_normal(n)) * 1e-2).astype(np.float32)
    m, v, norms = np.zeros(n, np.float32), np.zeros(n, np.float32), np.zeros(3, np.float32)
    counter = np.zeros(1, np.int64)
    group = {"betas": (0.9, 0.999), "eps": 1e-6, "weight_decouple": True, "fixed_decay": False,
             "grad_averaging": True, "adam": False, "adam_debias": False, "always_adapt": True, **OPTIONS}
    hyper = lamb_hyper(group, counter, False)
    secs = np.zeros(3)

    def step():
        _core.lamb_step([p], [g], [m], [v], [norms], [hyper], [0], None, secs)
        return secs[1], secs[2]

    def timed(rw, r0, r1):
        t0 = time.perf_counter()
        _core.lamb_probe(rw, r0, r1)
        return time.perf_counter() - t0

    def probes():  # pass 1's shape over its own m, v (written), p, g (read); pass 2's over p (written), m, v
        return timed([m, v], p, g), timed([p], m, v)

    for _ in range(2):
        step(), probes()
    r1s, r2s, t1s, t2s = [], [], [], []
    for i in range(rounds):
        if i % 2 == 0:
            t1, t2 = step()
            q1, q2 = probes()
        else:
            q1, q2 = probes()
            t1, t2 = step()
        r1s.append(q1 / t1)
        r2s.append(q2 / t2)
        t1s.append(t1)
        t2s.append(t2)
    return {"pass1_ms": float(np.median(t1s) * 1e3), "pass1_GBps": float(24 * n / np.median(t1s) / 1e9),
            "pass1_pct_of_probe": float(np.median(r1s) * 100),
            "pass1_pct_iqr": [float(x * 100) for x in np.percentile(r1s, [25, 75])],
            "pass2_ms": float(np.median(t2s) * 1e3), "pass2_GBps": float(16 * n / np.median(t2s) / 1e9),
            "pass2_pct_of_probe": float(np.median(r2s) * 100),
            "pass2_pct_iqr": [float(x * 100) for x in np.percentile(r2s, [25, 75])]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--pairs", type=int, default=30, help="paired probe rounds per pass")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "lamb.json"))
    args = ap.parse_args()
    rows = []
    print(f"# isa {fo.active_isa()}, float32, {args.rounds} interleaved rounds (medians), options {OPTIONS}")
    for threads in args.threads:
        fo.set_num_threads(threads)
        torch.set_num_threads(threads)
        for case, shapes in cases().items():
            steps = contenders(shapes)
            for f in steps.values():  # warm up: state allocated, pages touched
                f()
                f()
            times: dict[str, list[float]] = {k: [] for k in steps}
            for _ in range(args.rounds):
                for name, f in steps.items():
                    t0 = time.perf_counter()
                    f()
                    times[name].append(time.perf_counter() - t0)
            peer = float(np.median(times["pytorch_optimizer foreach"]))
            for name, ts in times.items():
                med = float(np.median(ts))
                rows.append({"threads": threads, "case": case, "contender": name, "median_ms": med * 1e3,
                             "speedup_vs_pytorch_optimizer": peer / med})
                print(f"thr={threads} {case:45s} {name:28s} {med * 1e3:9.2f} ms  {peer / med:6.2f}x", flush=True)
            del steps
        ratios = pass_ratios(10_000_000, args.pairs)
        rows.append({"threads": threads, "case": "passes, 10M float32", **ratios})
        print(f"thr={threads} pass 1 (24 B/elem): {ratios['pass1_ms']:.2f} ms {ratios['pass1_GBps']:.1f} GB/s "
              f"{ratios['pass1_pct_of_probe']:.1f}% of probe (IQR {ratios['pass1_pct_iqr'][0]:.1f}-"
              f"{ratios['pass1_pct_iqr'][1]:.1f});  pass 2 (16 B/elem): {ratios['pass2_ms']:.2f} ms "
              f"{ratios['pass2_GBps']:.1f} GB/s {ratios['pass2_pct_of_probe']:.1f}% of probe (IQR "
              f"{ratios['pass2_pct_iqr'][0]:.1f}-{ratios['pass2_pct_iqr'][1]:.1f})", flush=True)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"isa": fo.active_isa(), "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
