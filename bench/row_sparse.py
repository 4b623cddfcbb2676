"""Row-sparse steps of an embedding table: SparseAdam, sparse Adagrad and lazy Adam from sparse
gradients (a batch of lookups, repeats included), fastoptim.torch and the NumPy API against
torch.optim's SparseAdam / Adagrad on the same table and the same gradients, at 1 and 2
threads, for several fractions of rows touched (the time should follow the rows touched, not
the table). Medians of interleaved steps, µs; the ratio is torch's median over ours.

    python bench/row_sparse.py [--rows 1000000] [--dim 64] [--fractions 0.001 0.01 0.1] [--steps 30]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

import fastoptim as fo
import fastoptim.torch as fot


def _contenders(rule: str, table: torch.Tensor) -> dict[str, tuple]:
    """label -> (step function, param the gradient is set on); each on its own copy of the table."""
    out = {}
    kw = dict(lr=1e-3) if rule != "Adagrad" else dict(lr=1e-2)
    torch_cls = {"SparseAdam": torch.optim.SparseAdam, "Adagrad": torch.optim.Adagrad}.get(rule)
    if torch_cls is not None:
        p = torch.nn.Parameter(table.clone())
        out["torch"] = (torch_cls([p], **kw).step, p)
    p = torch.nn.Parameter(table.clone())
    out["fastoptim.torch"] = (getattr(fot, rule)([p], **kw).step, p)
    arr = table.numpy().copy()
    opt = getattr(fo, rule)([arr], **kw)
    out["fastoptim (NumPy)"] = (opt.step, None)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--fractions", type=float, nargs="+", default=[0.001, 0.01, 0.1])
    ap.add_argument("--rules", nargs="+", default=["SparseAdam", "Adagrad", "Adam"])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args()
    g = torch.Generator().manual_seed(0)
    table = torch.randn(args.rows, args.dim, generator=g)
    results = []
    print(f"# {args.rows:,} x {args.dim} float32 table; µs per step (median of {args.steps}, interleaved); "
          "lookups drawn with repeats (a batch of ids)")
    for threads in args.threads:
        torch.set_num_threads(threads)
        fo.set_num_threads(threads)
        for rule in args.rules:
            for frac in args.fractions:
                lookups = max(1, int(args.rows * frac))
                contenders = _contenders(rule, table)
                times: dict[str, list[float]] = {k: [] for k in contenders}
                for i in range(args.steps + 3):
                    ids = torch.randint(0, args.rows, (lookups,), generator=g)
                    values = torch.randn(lookups, args.dim, generator=g)
                    for label, (step, p) in contenders.items():
                        if p is not None:
                            p.grad = torch.sparse_coo_tensor(ids[None], values, table.shape)
                            t = time.perf_counter()
                            step()
                        else:
                            grad = fo.RowSparse(ids.numpy(), values.numpy())
                            t = time.perf_counter()
                            step(grad)
                        if i >= 3:
                            times[label].append(time.perf_counter() - t)
                med = {k: statistics.median(v) * 1e6 for k, v in times.items()}
                ratio = med["torch"] / med["fastoptim.torch"] if "torch" in med else None
                row = "  ".join(f"{k} {v:9.1f}" for k, v in med.items())
                print(f"{threads}t {rule:10s} {lookups:8d} lookups ({frac:.1%}): {row}"
                      + (f"   torch/ours {ratio:5.1f}x" if ratio else ""))
                results.append(dict(threads=threads, rule=rule, lookups=lookups, fraction=frac, median_us=med))
    if args.json:
        args.json.write_text(json.dumps(dict(rows=args.rows, dim=args.dim, results=results), indent=1))


if __name__ == "__main__":
    main()
