"""The ``fastoptim`` command line: ``info``, ``demo``, ``bench``."""

from __future__ import annotations

import argparse
import json
import sys


def _cmd_info(args: argparse.Namespace) -> int:
    from .runtime import info

    data = info()
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        width = max(map(len, data))
        for k, v in data.items():
            print(f"{k:<{width}}  {v}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    try:
        run_demo(dataset=args.dataset, epochs=args.epochs, out=None if args.no_output else args.out,
                 seed=args.seed, hidden=args.hidden, sweep=not args.no_sweep, plots=not args.no_plots,
                 progress=False if args.no_progress else None, state_bits=args.state_bits,
                 param_dtype=args.param_dtype)
    except RuntimeError as exc:
        print(f"fastoptim demo: {exc}", file=sys.stderr)
        return 2
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    import os

    from .benchmark import report
    from .benchmark.suite import QUICK, BenchConfig, run

    cfg = BenchConfig()
    if args.quick:
        cfg.rules, cfg.sizes, cfg.budget = QUICK["rules"], QUICK["sizes"], QUICK["budget"]
    for name in ("rules", "sizes", "threads", "dtypes", "peers", "budget"):
        value = getattr(args, name)
        if value is not None:
            setattr(cfg, name, value)
    result = run(cfg)
    print()
    print(report.table(result))
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "bench.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=1)
    with open(os.path.join(args.out, "bench.md"), "w") as f:
        f.write(report.markdown(result) + "\n")
    written = [path, os.path.join(args.out, "bench.md")]
    if not args.no_plots:
        written += report.plots(result, args.out)
    print("wrote " + ", ".join(written))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fastoptim", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("info", help="version, ISA, threads, compiler and flags")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_cmd_info)

    from .demo import DATASETS

    p = sub.add_parser("demo", help="train an MLP with every optimizer of the textbook on real data")
    p.add_argument("--dataset", choices=DATASETS, default="digits")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--out", default="fastoptim-demo", help="folder for results.json and PNG charts")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--hidden", type=int, default=64, help="hidden units of the MLP")
    p.add_argument("--no-sweep", action="store_true", help="skip the learning-rate sweep")
    p.add_argument("--no-plots", action="store_true", help="write no PNG charts")
    p.add_argument("--no-output", action="store_true", help="write nothing, print only")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--state-bits", type=int, choices=[32, 16, 8], default=32,
                   help="optimizer state: float32, bfloat16 (stochastic rounding) or 8-bit block-wise")
    p.add_argument("--param-dtype", choices=["float32", "float16", "bfloat16"], default="float32",
                   help="train the model in this format (16-bit: float32 master weights)")
    p.set_defaults(func=_cmd_demo)

    from .benchmark.rules import RULES_BY_LABEL
    from .benchmark.suite import PEERS

    p = sub.add_parser("bench", help="micro-benchmarks vs the streaming roof and the peers")
    p.add_argument("--quick", action="store_true", help="a small grid that finishes in under a minute")
    p.add_argument("--rules", nargs="+", choices=sorted(RULES_BY_LABEL))
    p.add_argument("--sizes", nargs="+", type=int, help="elements per step (default 1e3 ... 1e8)")
    p.add_argument("--threads", nargs="+", type=int, help="thread counts (default 1 and all cores)")
    p.add_argument("--dtypes", nargs="+", choices=["float32", "float64"])
    p.add_argument("--peers", nargs="+", choices=PEERS)
    p.add_argument("--budget", type=float, help="seconds of timing per point")
    p.add_argument("--out", default="fastoptim-bench", help="folder for bench.json, bench.md and charts")
    p.add_argument("--no-plots", action="store_true")
    p.set_defaults(func=_cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
