"""Adafactor's and Muon's element-wise passes against the streaming probe of each pass's own
byte shape, as the median of paired ratios (as bench/roof_ratio.py does for the element-wise
rules): each repetition times the pass and then, back to back, the probe that reads and writes
the same streams per element (``_core.pass_probe`` / ``_core.stream_probe``, on the same
threads), and takes probe_time / pass_time. The bandwidth of this shared machine drifts by
±10 % within a run; paired ratios cancel it, separate medians do not.

    python bench/matrix_roof.py [--pairs 25] [--threads 1 2] [--only adafactor muon]
                                [--out bench/results/matrix_roof.json]

Passes and their probes (float32 params and state):
  Adafactor (``_core.adafactor_step_timed``: the wall time of each of the step's three passes)
    pass 1  read p, g → ‖p‖², row sums, column sums of g²  8 B/elem  probe 'read' [p, g]
    pass 2  read g → ‖U‖²                                   4 B/elem  probe 'read' [g]
    pass 3  read p, g, write p                              12 B/elem stream_probe([p], g)
    step    the three passes and the small state between  24 B/elem  the three probes' sum
  Muon (``_core.muon_momentum`` / ``_core.muon_apply``; update as bfloat16 bits, fastoptim.torch's)
    momentum  read g, read/write B, write u (2 B)           14 B/elem probe 'rw_out' [B, g, u16]
    apply     read u (2 B), read/write θ                    10 B/elem probe 'half_rw' [θ, u16]
  and with the update as float32 values (the NumPy API):
    momentum  16 B/elem probe 'rw_out' [B, g, u32];  apply 12 B/elem stream_probe([θ], u32)
Prints per case, pass and thread count the median ratio (100 %: the pass runs at the roof of
its byte shape), its interquartile range and the pass's median time.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import fastoptim as fo
from fastoptim import _core
from fastoptim.benchmark.report import write_json

ADAFACTOR_CASES = {
    "4096x4096": [(4096, 4096)],
    # four transformer layers of width 512 (bench/adafactor.py's case): 48 tensors, 12.6M
    "transformer d=512 x4": [(1536, 512), (1536,), (512, 512), (512,), (2048, 512), (2048,), (512, 2048), (512,),
                             (512,), (512,), (512,), (512,)] * 4,
    # wide and short: few rows, many columns
    "16x1048576": [(16, 1 << 20)],
}
MUON_CASES = {
    "4096x4096": [(4096, 4096)],
    "1024x1024": [(1024, 1024)],
    # one transformer block of width 768 (bench/muon.py's case): 4 matrices, 7.1M
    "block-768": [(2304, 768), (768, 768), (3072, 768), (768, 3072)],
}


def paired(kernel, probe, pairs: int):
    """kernel() returns its own time(s) in seconds (a tuple for several passes) or None (timed
    here); probe() is a list of probes, one per pass. Returns the per-pass lists of ratios and times."""
    for _ in range(2):  # warm up: pages touched, state allocated
        kernel()
        for p in probe:
            p()
    ratios: list[list[float]] = [[] for _ in probe]
    times: list[list[float]] = [[] for _ in probe]
    for _ in range(pairs):
        t0 = time.perf_counter()
        own = kernel()
        t1 = time.perf_counter()
        ks = own if own is not None else (t1 - t0,)
        for j, p in enumerate(probe):
            t2 = time.perf_counter()
            p()
            t3 = time.perf_counter()
            ratios[j].append((t3 - t2) / ks[j])
            times[j].append(ks[j])
    return ratios, times


def row_of(case, kind, label, threads, n, bpe, ratios, times):
    q1, med, q3 = np.percentile(ratios, [25, 50, 75])
    row = {"rule": kind, "case": case, "pass": label, "threads": threads, "elements": n, "bytes_per_element": bpe,
           "median_ms": float(np.median(times) * 1e3), "pct_of_probe_median": float(med * 100),
           "pct_of_probe_q1": float(q1 * 100), "pct_of_probe_q3": float(q3 * 100),
           "pct_of_probe_min": float(min(ratios) * 100), "pct_of_probe_max": float(max(ratios) * 100),
           "pairs": len(ratios)}
    print(f"{kind:9s} {case:22s} {label:18s} thr={threads} {row['median_ms']:8.3f} ms  {med * 100:5.1f}% of probe "
          f"(IQR {q1 * 100:.1f}-{q3 * 100:.1f}, range {min(ratios) * 100:.0f}-{max(ratios) * 100:.0f})", flush=True)
    return row


def adafactor_rows(case, shapes, threads, pairs):
    rng = np.random.default_rng(0)
    params = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    grads = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    rows_, cols_, vars_ = [], [], []
    for s in shapes:
        if len(s) >= 2:
            rows_.append(np.zeros(s[:-1] + (1,), np.float32))
            cols_.append(np.zeros(s[:-2] + (1, s[-1]), np.float32))
            vars_.append(None)
        else:
            rows_.append(None)
            cols_.append(None)
            vars_.append(np.zeros(s, np.float32))
    counter = np.zeros(1, np.int64)
    hyper = (1e-2, -0.8, float(np.finfo(np.float32).eps), 1e-3, 1.0, 0.0, False)
    k = len(shapes)

    def step():
        return _core.adafactor_step_timed(params, grads, rows_, cols_, vars_, [counter] * k, [hyper], [0] * k)

    n = sum(int(np.prod(s)) for s in shapes)
    a, b, c = (rng.standard_normal(n).astype(np.float32) for _ in range(3))
    probes = [lambda: _core.pass_probe("read", [a, b]), lambda: _core.pass_probe("read", [b]),
              lambda: _core.stream_probe([c], b)]
    ratios, times = paired(step, probes, pairs)
    out = [row_of(case, "adafactor", f"pass {j + 1}", threads, n, bpe, ratios[j], times[j])
           for j, bpe in enumerate((8, 4, 12))]

    # the whole step (three passes and the state update between) against the three probes in a row
    def all_probes():
        for p in probes:
            p()

    ratios, times = paired(lambda: (step(), None)[1], [all_probes], pairs)
    out.append(row_of(case, "adafactor", "step", threads, n, 24, ratios[0], times[0]))
    return out


def muon_rows(case, shapes, threads, pairs):
    rng = np.random.default_rng(0)
    params = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    grads = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    bufs = [np.zeros(s, np.float32) for s in shapes]
    n = sum(int(np.prod(s)) for s in shapes)
    a, g = rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32)
    return [row for kind, dtype in (("bf16 bits", np.uint16), ("f32 values", np.float32))
            for row in muon_kind_rows(case, shapes, threads, pairs, params, grads, bufs, a, g, kind, dtype)]


def muon_kind_rows(case, shapes, threads, pairs, params, grads, bufs, a, g, kind, dtype):
    n = a.size
    upd = [np.zeros(s, dtype) for s in shapes]
    o = np.zeros(n, dtype)
    ones, negs = [1.0] * len(shapes), [-1e-9] * len(shapes)
    out = []
    ratios, times = paired(lambda: _core.muon_momentum(bufs, grads, upd, 0.95, True),
                           [lambda: _core.pass_probe("rw_out", [a, g, o])], pairs)
    out.append(row_of(case, "muon", f"momentum ({kind})", threads, n, 14 if dtype is np.uint16 else 16,
                      ratios[0], times[0]))
    apply_probe = (lambda: _core.pass_probe("half_rw", [a, o])) if dtype is np.uint16 else \
        (lambda: _core.stream_probe([a], o))
    ratios, times = paired(lambda: _core.muon_apply(params, upd, ones, negs), [apply_probe], pairs)
    out.append(row_of(case, "muon", f"apply ({kind})", threads, n, 10 if dtype is np.uint16 else 12,
                      ratios[0], times[0]))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=25)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--only", nargs="+", default=["adafactor", "muon"], choices=["adafactor", "muon"])
    ap.add_argument("--cases", nargs="+", default=None, help="case names to run (default: all)")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "matrix_roof.json"))
    args = ap.parse_args()
    print(f"# isa {fo.active_isa()}, {args.pairs} pairs per point")
    rows = []
    for threads in args.threads:
        fo.set_num_threads(threads)
        if "adafactor" in args.only:
            for case, shapes in ADAFACTOR_CASES.items():
                if args.cases is None or case in args.cases:
                    rows += adafactor_rows(case, shapes, threads, args.pairs)
        if "muon" in args.only:
            for case, shapes in MUON_CASES.items():
                if args.cases is None or case in args.cases:
                    rows += muon_rows(case, shapes, threads, args.pairs)
    write_json(args.out, rows=rows, pairs=args.pairs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
