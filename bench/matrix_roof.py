"""Adafactor's and Muon's element-wise passes against the streaming probe of each pass's own
byte shape, as the median of paired ratios (as bench/roof_ratio.py does for the element-wise
rules): each repetition times the pass and, back to back, the probe that reads and writes the
same streams per element (``_core.pass_probe`` / ``_core.stream_probe``, on the same threads),
and takes probe_time / pass_time. The bandwidth of this shared machine drifts by ±10 % within a
run; paired ratios cancel it, separate medians do not.

Two biases are removed as well. The probe runs over the pass's own memory: the tensors of a
case are views into one flat buffer per stream, and the probe streams those flat buffers (two
sets of equal-sized arrays in different pages differ by up to 8 % in streaming speed here,
4 KiB pages landing differently in DRAM). And the order alternates, pass first in even pairs,
probe first in odd ones, so that neither always inherits the other's dirty cache lines.

    python bench/matrix_roof.py [--pairs 25] [--threads 1 2] [--only adafactor muon]
                                [--out bench/results/matrix_roof.json]

Passes and their probes (float32 params and state):
  Adafactor (``_core.adafactor_step_timed``: the wall time of each of the step's three passes)
    pass 1  read p, g → ‖p‖², row sums, column sums of g²  8 B/elem  probe 'read' [p, g]
    pass 2  read g → ‖U‖²                                   4 B/elem  probe 'read' [g]
    pass 3  read p, g, write p                              12 B/elem stream_probe([p], g)
    step    the three passes and the small state between  24 B/elem  the three probes' sum
  and, for the cases of one matrix, pass 3 "+columns": against the probe of the same streams
  including the vector of 1/√col_var it reads beside every row (``pass_probe`` 'rw_cols' [p, g,
  w], blocks and threads as the step's): a wide matrix's rows push that vector out of L1
  between two uses, so every row reads it again from L2 (16 KiB per row of 4096 columns), a
  stream the byte count leaves out. (Passes 1 and 2 read their column vectors once per group of
  rows side by side, so a per-row probe would not be their streams; they have none.)
  Muon (``_core.muon_momentum`` / ``_core.muon_apply``; update as bfloat16 bits, fastoptim.torch's)
    momentum  read g, read/write B, write u (2 B)           14 B/elem probe 'rw_out' [B, g, u16]
    apply     read u (2 B), read/write θ                    10 B/elem probe 'half_rw' [θ, u16]
  and with the update as float32 values (the NumPy API):
    momentum  16 B/elem probe 'rw_out' [B, g, u32];  apply 12 B/elem stream_probe([θ], u32)
The probes write into the buffers they stream (a = a/2 + g stays bounded), which the passes
then read: the values stay finite, and the timing does not depend on them.
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
    here); probe() is a list of probes, one per pass. The pass runs first in even pairs, the
    probes first in odd ones. Returns the per-pass lists of ratios and times."""
    for _ in range(2):  # warm up: pages touched, state allocated
        kernel()
        for p in probe:
            p()

    def run_kernel():
        t0 = time.perf_counter()
        own = kernel()
        t1 = time.perf_counter()
        return own if own is not None else (t1 - t0,)

    def run_probes():
        out = []
        for p in probe:
            t2 = time.perf_counter()
            p()
            out.append(time.perf_counter() - t2)
        return out

    ratios: list[list[float]] = [[] for _ in probe]
    times: list[list[float]] = [[] for _ in probe]
    for i in range(pairs):
        if i % 2 == 0:
            ks = run_kernel()
            ps = run_probes()
        else:
            ps = run_probes()
            ks = run_kernel()
        for j in range(len(probe)):
            ratios[j].append(ps[j] / ks[j])
            times[j].append(ks[j])
    return ratios, times


def flat_views(shapes, dtype, fill=None):
    """One flat buffer and the tensors of `shapes` as views into it, in order: the pass runs
    over the views, its probe over the flat buffer (the same pages)."""
    n = sum(int(np.prod(s)) for s in shapes)
    flat = np.zeros(n, dtype) if fill is None else fill(n).astype(dtype)
    views, o = [], 0
    for s in shapes:
        k = int(np.prod(s))
        views.append(flat[o:o + k].reshape(s))
        o += k
    return flat, views


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
    p_flat, params = flat_views(shapes, np.float32, rng.standard_normal)
    g_flat, grads = flat_views(shapes, np.float32, rng.standard_normal)
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

    n = p_flat.size
    probes = [lambda: _core.pass_probe("read", [p_flat, g_flat]), lambda: _core.pass_probe("read", [g_flat]),
              lambda: _core.stream_probe([p_flat], g_flat)]
    ratios, times = paired(step, probes, pairs)
    out = [row_of(case, "adafactor", f"pass {j + 1}", threads, n, bpe, ratios[j], times[j])
           for j, bpe in enumerate((8, 4, 12))]

    # the whole step (three passes and the state update between) against the three probes in a row
    def all_probes():
        for p in probes:
            p()

    ratios, times = paired(lambda: (step(), None)[1], [all_probes], pairs)
    out.append(row_of(case, "adafactor", "step", threads, n, 24, ratios[0], times[0]))

    # One matrix: pass 3 against the probe of the same streams including the vector of
    # 1/√col_var it reads beside every row, which the byte count leaves out.
    if len(shapes) == 1 and len(shapes[0]) == 2:
        cols = shapes[0][1]
        w = np.ones(cols, np.float32)
        ratios, times = paired(lambda: (step()[2],), [lambda: _core.pass_probe("rw_cols", [p_flat, g_flat, w, cols])],
                               pairs)
        out.append(row_of(case, "adafactor", "pass 3 +columns", threads, n, 12, ratios[0], times[0]))
    return out


def muon_rows(case, shapes, threads, pairs):
    rng = np.random.default_rng(0)
    p_flat, params = flat_views(shapes, np.float32, rng.standard_normal)
    g_flat, grads = flat_views(shapes, np.float32, rng.standard_normal)
    b_flat, bufs = flat_views(shapes, np.float32)
    return [row for kind, dtype in (("bf16 bits", np.uint16), ("f32 values", np.float32))
            for row in muon_kind_rows(case, shapes, threads, pairs, (p_flat, params), (g_flat, grads),
                                      (b_flat, bufs), kind, dtype)]


def muon_kind_rows(case, shapes, threads, pairs, params, grads, bufs, kind, dtype):
    (p_flat, ps), (g_flat, gs), (b_flat, bs) = params, grads, bufs
    u_flat, us = flat_views(shapes, dtype)
    n = p_flat.size
    ones, negs = [1.0] * len(shapes), [-1e-9] * len(shapes)
    out = []
    ratios, times = paired(lambda: _core.muon_momentum(bs, gs, us, 0.95, True),
                           [lambda: _core.pass_probe("rw_out", [b_flat, g_flat, u_flat])], pairs)
    out.append(row_of(case, "muon", f"momentum ({kind})", threads, n, 14 if dtype is np.uint16 else 16,
                      ratios[0], times[0]))
    apply_probe = (lambda: _core.pass_probe("half_rw", [p_flat, u_flat])) if dtype is np.uint16 else \
        (lambda: _core.stream_probe([p_flat], u_flat))
    ratios, times = paired(lambda: _core.muon_apply(ps, us, ones, negs), [apply_probe], pairs)
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
    ap.add_argument("--isa", default=None, help="kernel copy to run (fo.supported_isas(); default: the widest)")
    args = ap.parse_args()
    if args.isa:
        fo.use_isa(args.isa)
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
