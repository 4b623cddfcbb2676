"""Where a second thread starts to pay: step time vs size at 1 and at N threads.

For each size (log-spaced) and rule, the step is timed with 1 thread and with N threads
forced on (the size threshold disabled), interleaved. The crossover, per thread, is the
measured basis of fastoptim's min_elements_per_thread. Writes
bench/results/thread_threshold.json and, with matplotlib, thread_threshold.png.

    python bench/thread_threshold.py [--rules adam sgd] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

import fastoptim as fo
from fastoptim import _core
from fastoptim.benchmark.contenders import OURS
from fastoptim.benchmark.report import write_json
from fastoptim.benchmark.rules import RULES_BY_LABEL
from fastoptim.benchmark.timing import measure_interleaved
from fastoptim.cli import size_type


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rules", nargs="+", default=["sgd", "adam"], choices=sorted(RULES_BY_LABEL))
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--sizes", type=size_type, nargs="+",
                    default=[int(x) for x in np.geomspace(4096, 2**22, 16).round(-2)])
    ap.add_argument("--budget", type=float, default=0.6)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "thread_threshold.json"))
    args = ap.parse_args()
    saved = _core.get_min_elements_per_thread()
    rng = np.random.default_rng(0)
    rows = []
    print(f"# µs per step (median), 1 vs {args.threads} threads forced on; isa={fo.active_isa()}")
    for label in args.rules:
        rule = RULES_BY_LABEL[label]
        print(f"{label:10s}{'n':>10s}{'1 thr':>10s}{f'{args.threads} thr':>10s}{'ratio':>8s}")
        for n in args.sizes:
            params = [rng.standard_normal(n).astype(np.float32)]
            grads = [rng.standard_normal(n).astype(np.float32) * 1e-3]
            opt = OURS[rule.name](params, **rule.kwargs)

            def with_threads(t: int, opt=opt, grads=grads):
                def step() -> None:
                    fo.set_num_threads(t)
                    opt.step(grads)
                return step
            _core.set_min_elements_per_thread(1)
            batch = max(1, 20000 // n)
            timed = measure_interleaved({"1": with_threads(1), "n": with_threads(args.threads)},
                                        budget_s=args.budget, batch=batch)
            one, many = timed["1"].median_s * 1e6, timed["n"].median_s * 1e6
            rows.append({"rule": label, "n": n, "us_1_thread": one, "us_n_threads": many, "threads": args.threads})
            print(f"{'':10s}{n:10d}{one:10.2f}{many:10.2f}{one / many:8.2f}", flush=True)
    _core.set_min_elements_per_thread(saved)
    write_json(args.out, rows=rows)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("# matplotlib not installed: no plot")
        return 0
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label in args.rules:
        r = [x for x in rows if x["rule"] == label]
        ax.loglog([x["n"] for x in r], [x["us_1_thread"] for x in r], "o-", label=f"{label}, 1 thread")
        ax.loglog([x["n"] for x in r], [x["us_n_threads"] for x in r], "s--", label=f"{label}, {args.threads} threads")
    ax.set_xlabel("elements (float32)")
    ax.set_ylabel("µs per step (median)")
    ax.set_title("fastoptim step time vs size")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    png = os.path.splitext(args.out)[0] + ".png"
    fig.savefig(png, dpi=110, bbox_inches="tight")
    print(f"# wrote {args.out} and {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
