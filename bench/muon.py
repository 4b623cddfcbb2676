"""Muon step time: fastoptim.torch.Muon vs torch.optim.Muon, and fastoptim.Muon (NumPy API), on
the same shapes and data in one process, at 1 and 2 threads (torch's and fastoptim's pools set
alike); medians of interleaved repetitions (each repetition times every contender once).

    python bench/muon.py [--repeat 15] [--out bench/results/muon.json]

Also reports the element-wise passes alone (fastoptim's momentum and apply kernels on the same
buffers) as GB/s of their minimum traffic: float32 momentum pass 4+4+4+2 B/element (read G,
read/write B, write the bfloat16 update), apply pass 2+4+4 B/element.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch

import fastoptim as fo
import fastoptim.torch as fot
from fastoptim import _core

CASES = {
    "1024x1024": [(1024, 1024)],
    "4096x1024": [(4096, 1024)],
    # one transformer block of width 768: attention in/out and the MLP's two matrices
    "block-768": [(2304, 768), (768, 768), (3072, 768), (768, 3072)],
}


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def bench_case(shapes, repeat: int) -> dict[str, float]:
    rng = np.random.default_rng(0)
    init = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    grads = [rng.standard_normal(s).astype(np.float32) for s in shapes]

    def torch_opt(cls):
        ps = [torch.nn.Parameter(torch.from_numpy(p.copy())) for p in init]
        for p, g in zip(ps, grads):
            p.grad = torch.from_numpy(g.copy())
        return cls(ps, lr=0.02)

    t_ref, t_ours = torch_opt(torch.optim.Muon), torch_opt(fot.Muon)
    np_params = [p.copy() for p in init]
    np_opt = fo.Muon(np_params, lr=0.02)
    bufs = [np.zeros_like(p) for p in init]
    upd = [np.empty(p.shape, np.uint16) for p in init]
    contenders = {
        "torch.optim.Muon": t_ref.step,
        "fastoptim.torch.Muon": t_ours.step,
        "fastoptim.Muon (NumPy)": lambda: np_opt.step(grads),
        "momentum pass": lambda: _core.muon_momentum(bufs, grads, upd, 0.95, True),
        "apply pass": lambda: _core.muon_apply(np_params, upd, [1.0] * len(init), [-1e-9] * len(init)),
    }
    for fn in contenders.values():  # warm up (state, workspaces, plans)
        fn()
    times: dict[str, list[float]] = {k: [] for k in contenders}
    for _ in range(repeat):
        for name, fn in contenders.items():
            times[name].append(timed(fn))
    out = {name: statistics.median(v) * 1e3 for name, v in times.items()}
    n = sum(p.size for p in init)
    out["momentum pass GB/s"] = 14 * n / (out["momentum pass"] * 1e-3) / 1e9
    out["apply pass GB/s"] = 10 * n / (out["apply pass"] * 1e-3) / 1e9
    out["streaming probe GB/s"] = probe_gbs(n)
    return out


def probe_gbs(n: int) -> float:
    """fastoptim's streaming probe (one read-only stream, two read-write) on n float32 elements."""
    g = np.ones(n, np.float32)
    a, b = np.zeros(n, np.float32), np.zeros(n, np.float32)
    times = [timed(lambda: _core.stream_probe([a, b], g)) for _ in range(7)]
    return 20 * n / statistics.median(times) / 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    results = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        fo.set_num_threads(threads)
        for label, shapes in CASES.items():
            r = bench_case(shapes, args.repeat)
            results.append({"case": label, "threads": threads, **r})
            print(f"{label:10s} {threads} thr | torch {r['torch.optim.Muon']:8.2f} ms | fastoptim.torch "
                  f"{r['fastoptim.torch.Muon']:8.2f} ms | NumPy API {r['fastoptim.Muon (NumPy)']:8.2f} ms | "
                  f"momentum pass {r['momentum pass']:.3f} ms ({r['momentum pass GB/s']:.1f} GB/s), apply "
                  f"{r['apply pass']:.3f} ms ({r['apply pass GB/s']:.1f} GB/s), "
                  f"probe {r['streaming probe GB/s']:.1f} GB/s",
                  flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"repeat": args.repeat, "info": fo.info(), "torch": torch.__version__, "results": results}, f,
                      indent=1)


if __name__ == "__main__":
    main()
