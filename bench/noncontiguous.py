"""What a parameter's memory layout costs fastoptim.torch's Adam step: contiguous, dense in
another order (transposed: stepped in place), and with gaps (every other column of a larger
tensor: stepped through a contiguous copy, copied in and out each step), against torch.optim's
for-loop and foreach on the same tensors. Medians of interleaved steps, µs.

    python bench/noncontiguous.py [--n 1000000] [--steps 60]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import fastoptim.torch as fot


def layouts(n: int) -> dict[str, object]:
    """Makers of a fresh tensor of each layout (each contender gets its own memory)."""
    rows = 1000
    cols = n // rows
    return {"contiguous": lambda: torch.randn(rows, cols),
            "transposed (dense)": lambda: torch.randn(cols, rows).t(),
            "every other column (gaps)": lambda: torch.randn(rows, 2 * cols)[:, ::2]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--steps", type=int, default=60)
    args = ap.parse_args()
    print(f"# Adam, {args.n:,} float32 elements, {torch.get_num_threads()} threads; µs per step (median)")
    for name, fresh in layouts(args.n).items():
        contenders = {}
        for label, make in [("fastoptim", lambda ps: fot.Adam(ps, lr=1e-3)),
                            ("torch for-loop", lambda ps: torch.optim.Adam(ps, lr=1e-3, foreach=False)),
                            ("torch foreach", lambda ps: torch.optim.Adam(ps, lr=1e-3, foreach=True))]:
            p = torch.nn.Parameter(fresh())
            p.grad = torch.empty_like(p).copy_(torch.randn(p.shape))  # as autograd makes it: the param's layout
            contenders[label] = make([p])
        times = {k: [] for k in contenders}
        for i in range(args.steps + 5):
            for label, opt in contenders.items():
                t = time.perf_counter()
                opt.step()
                if i >= 5:
                    times[label].append(time.perf_counter() - t)
        row = "  ".join(f"{k} {statistics.median(v) * 1e6:9.1f}" for k, v in times.items())
        print(f"{name:28s} {row}")


if __name__ == "__main__":
    main()
