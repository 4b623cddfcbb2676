"""Each ISA copy of the kernels really is vectorized: step time per ISA on an in-cache buffer.

One thread, N float32 elements small enough for every stream to stay in L2 (default 16384),
each ISA forced in turn and timed interleaved with the others. A vectorized copy is several
times faster than the scalar-width baseline (SSE2, 4 lanes) would allow a non-vectorized one,
and the wider copies beat baseline. Writes bench/results/isa_speed.json.

    python bench/isa_speed.py [--n 16384]
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

import fastoptim as fo
from fastoptim.benchmark.contenders import OURS, set_threads
from fastoptim.benchmark.report import write_json
from fastoptim.benchmark.rules import RULES
from fastoptim.benchmark.timing import measure_interleaved
from fastoptim.cli import size_type


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=size_type, default=16384, help="elements (10000, 1e4 or 10k)")
    ap.add_argument("--budget", type=float, default=1.0)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "isa_speed.json"))
    args = ap.parse_args()
    set_threads(1)
    default = fo.active_isa()
    isas = fo.supported_isas()
    rng = np.random.default_rng(0)
    rows = []
    print(f"# {args.n} float32 elements, 1 thread; ns per element (median), speed-up vs baseline")
    print(f"{'rule':28s}" + "".join(f"{i:>10s}" for i in isas) + "".join(f"{'x ' + i:>12s}" for i in isas[1:]))
    for rule in RULES:
        params = [rng.standard_normal(args.n).astype(np.float32)]
        grads = [rng.standard_normal(args.n).astype(np.float32) * 1e-3]
        opt = OURS[rule.name](params, **rule.kwargs)

        def on(isa: str, opt=opt, grads=grads):
            def step() -> None:
                fo.use_isa(isa)
                opt.step(grads)
            return step
        timed = measure_interleaved({i: on(i) for i in isas}, budget_s=args.budget, batch=20)
        fo.use_isa(default)
        ns = {i: timed[i].median_s / args.n * 1e9 for i in isas}
        rows.append({"rule": rule.label, "n": args.n, "ns_per_element": ns,
                     "speedup_vs_baseline": {i: ns["baseline"] / ns[i] for i in isas}})
        print(f"{rule.label:28s}" + "".join(f"{ns[i]:10.3f}" for i in isas)
              + "".join(f"{ns['baseline'] / ns[i]:11.2f}x" for i in isas[1:]), flush=True)
    write_json(args.out, rows=rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
