"""The ``fastoptim`` command line: ``info``, ``demo``, ``bench``.

Every value is checked before any work starts: a bad one, a missing optional package or an
output folder that cannot be written ends the command with one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from collections.abc import Callable
from typing import Any, NoReturn

DESCRIPTION = ("fastoptim: neural-network optimizer steps (every element-wise rule of torch.optim) as "
               "vectorized, multithreaded C++ kernels. Run 'fastoptim COMMAND --help' for the options "
               "of a command.")
_SUFFIXES = {"k": 10**3, "m": 10**6, "g": 10**9}


class UsageError(ValueError):
    """A command-line value the command cannot run with (exit code 2, one line)."""


class _Parser(argparse.ArgumentParser):
    """argparse with errors in one line: ``fastoptim demo: error: argument --epochs: ...``."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


class _HelpFormatter(argparse.HelpFormatter):
    """Appends each option's default to its help: ``(default: 20)``, ``(default: off)`` for a
    flag; options whose default depends on others say it in their help."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if not action.option_strings or "default" in text or action.default is argparse.SUPPRESS:
            return text
        if isinstance(action, argparse._StoreTrueAction):
            return f"{text} (default: off)"
        if action.default is not None:
            return f"{text} (default: %(default)s)"
        return text


# -- values --------------------------------------------------------------------------------------
def parse_size(text: str) -> int:
    """An element count written as ``10000``, ``1e4``, ``10k`` or ``2.5M`` (suffixes k, M, G:
    10³, 10⁶, 10⁹; case-insensitive) -> int; ValueError unless it is a whole number >= 1."""
    s = str(text).strip().replace("_", "").replace(",", "")
    scale = 1
    if s[-1:].lower() in _SUFFIXES:
        scale, s = _SUFFIXES[s[-1].lower()], s[:-1]
    number = re.fullmatch(r"[0-9]*\.?[0-9]+(e\+?[0-9]+)?", s, re.IGNORECASE)
    value = float(s) * scale if number else math.nan
    if not (math.isfinite(value) and value >= 1 and value == int(value)):
        raise ValueError(f"not a whole number of elements >= 1: {text!r} (write 10000, 1e4 or 10k)")
    return int(value)


def _typed(convert: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse type whose ValueError message is shown as is."""
    def parse(text: str) -> Any:
        try:
            return convert(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    parse.__name__ = convert.__name__
    return parse


def _int_at_least(low: int, high: int | None = None) -> Callable[[str], int]:
    def int_value(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"not an integer: {text!r}") from None
        if value < low or (high is not None and value >= high):
            raise ValueError(f"must be >= {low}" + (f" and < {high}" if high is not None else "")
                             + f", got {value}")
        return value
    return _typed(int_value)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"not a number: {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"must be a finite number > 0, got {text}")
    return value


size_type = _typed(parse_size)


def format_sizes(sizes: Any) -> str:
    """``[1000, 100000, 3000]`` -> ``"1e3 1e5 3000"``."""
    out = []
    for n in sizes:
        exp = round(math.log10(n)) if n > 0 else 0
        out.append(f"1e{exp}" if n == 10**exp and exp >= 3 else str(n))
    return " ".join(out)


# -- commands ------------------------------------------------------------------------------------
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


def _check_out(path: str) -> None:
    from .outputs import prepare_dir

    try:
        prepare_dir(path)
    except ValueError as exc:
        raise UsageError(f"argument --out: {exc}") from None


def _check_demo(args: argparse.Namespace) -> None:
    from .demo import require_packages
    from .optional import MissingDependency

    if args.state_bits == 8 and args.param_dtype != "float32":
        raise UsageError(f"--state-bits 8 keeps 8-bit state for float32 params only; with --param-dtype "
                         f"{args.param_dtype} use --state-bits 16 or 32")
    writes = not args.no_output
    try:
        require_packages(args.state_bits, args.param_dtype, plots=writes and not args.no_plots)
    except MissingDependency as exc:
        raise UsageError(str(exc) + (" (or pass --no-plots)" if "matplotlib" in str(exc) else "")) from None
    if writes:
        _check_out(args.out)


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(dataset=args.dataset, epochs=args.epochs, out=None if args.no_output else args.out,
             seed=args.seed, hidden=args.hidden, sweep=not args.no_sweep, plots=not args.no_plots,
             progress=False if args.no_progress else None, state_bits=args.state_bits,
             param_dtype=args.param_dtype, methods=args.methods)
    return 0


def _check_bench(args: argparse.Namespace) -> None:
    from .benchmark.suite import peer_availability
    from .optional import MissingDependency, require

    if args.peers is not None:  # peers asked for by name must run; the default ones may be skipped
        _, skipped = peer_availability(args.peers)
        if skipped:
            raise UsageError(f"argument --peers: {skipped[0]['peer']}: {skipped[0]['reason']}")
    if not args.no_plots:
        try:
            require("matplotlib", what="drawing charts", extra="demo")
        except MissingDependency as exc:
            raise UsageError(f"{exc} (or pass --no-plots)") from None
    _check_out(args.out)


def _cmd_bench(args: argparse.Namespace) -> int:
    from .benchmark import report
    from .benchmark.suite import QUICK, BenchConfig, run
    from .outputs import write_json

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
    path = os.path.join(args.out, "bench.json")
    write_json(path, result)
    with open(os.path.join(args.out, "bench.md"), "w") as f:
        f.write(report.markdown(result) + "\n")
    written = [path, os.path.join(args.out, "bench.md")]
    if not args.no_plots:
        written += report.plots(result, args.out)
    print("wrote " + ", ".join(written))
    return 0


# -- the parser ----------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="fastoptim", description=DESCRIPTION, formatter_class=_HelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=_Parser)
    p = sub.add_parser("info", help="version, ISA, threads, compiler and flags", formatter_class=_HelpFormatter,
                       description="Version, instruction set in use and available, threads, compiler and flags.")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_cmd_info, check=None)

    from .demo import ALL_METHODS, DATASETS, METHODS, PARAM_DTYPES, STATE_BITS

    p = sub.add_parser("demo", help="train an MLP with every optimizer of the textbook on real data",
                       formatter_class=_HelpFormatter,
                       description="Train the same MLP with batch GD, SGD, mini-batch SGD, SGD + momentum, "
                                   "Adagrad, RMSprop, Adam and AdamW on a data set bundled with scikit-learn; "
                                   "print a table and write results.json and charts.")
    p.add_argument("--dataset", choices=DATASETS, default="digits", help="data set bundled with scikit-learn")
    p.add_argument("--epochs", type=_int_at_least(1), default=20, metavar="N", help="passes over the training set")
    p.add_argument("--hidden", type=_int_at_least(1), default=64, metavar="N", help="hidden units of the MLP")
    p.add_argument("--seed", type=_int_at_least(0, 2**32), default=0, metavar="N",
                   help="seed of the train/test split, the initialization and the shuffling")
    p.add_argument("--state-bits", type=int, choices=STATE_BITS, default=32,
                   help="optimizer state: float32, bfloat16 (stochastic rounding) or 8-bit block-wise "
                        "(8: float32 params only), where the method's rule has it")
    p.add_argument("--param-dtype", choices=PARAM_DTYPES, default="float32",
                   help="train the model in this format (16-bit: float32 master weights)")
    p.add_argument("--methods", nargs="+", choices=list(ALL_METHODS), metavar="METHOD",
                   help=f"methods to train (default: the textbook's: {', '.join(m.name for m in METHODS)}); "
                        f"any of: {', '.join(repr(n) if ' ' in n else n for n in ALL_METHODS)}")
    p.add_argument("--out", default="fastoptim-demo", metavar="DIR", help="folder for results.json and PNG charts")
    p.add_argument("--no-sweep", action="store_true",
                   help="train each method at its fixed lr instead of the best lr of a short sweep")
    p.add_argument("--no-plots", action="store_true", help="write no PNG charts")
    p.add_argument("--no-output", action="store_true", help="write nothing, print only")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_demo, check=_check_demo)

    from .benchmark.rules import RULES_BY_LABEL
    from .benchmark.suite import PEERS, QUICK, BenchConfig

    defaults = BenchConfig()
    p = sub.add_parser("bench", help="micro-benchmarks vs the streaming roof and the peers",
                       formatter_class=_HelpFormatter,
                       description="Time every rule x size x thread count against the streaming roof and the "
                                   "peers, interleaved in one run; write bench.json, bench.md and charts.")
    p.add_argument("--quick", action="store_true",
                   help=f"a small grid that finishes in under a minute: rules {' '.join(QUICK['rules'])}, "
                        f"sizes {format_sizes(QUICK['sizes'])}, {QUICK['budget']} s per point")
    p.add_argument("--rules", nargs="+", choices=sorted(RULES_BY_LABEL), metavar="RULE",
                   help=f"update rules, of {' '.join(sorted(RULES_BY_LABEL))} "
                        f"(default: {' '.join(defaults.rules)})")
    p.add_argument("--sizes", nargs="+", type=size_type, metavar="N",
                   help=f"elements per step, as 10000, 1e4 or 10k (default: {format_sizes(defaults.sizes)})")
    p.add_argument("--threads", nargs="+", type=_int_at_least(1), metavar="N",
                   help=f"thread counts (default: 1 and all cores, here {' '.join(map(str, defaults.threads))})")
    p.add_argument("--dtypes", nargs="+", choices=["float32", "float64"], metavar="DTYPE",
                   help="float32 and/or float64 (default: float32)")
    p.add_argument("--peers", nargs="+", choices=PEERS, metavar="PEER",
                   help=f"peers to time, of {' '.join(PEERS)} (default: all; those not installed are "
                        "listed as skipped, while one named here must be installed)")
    p.add_argument("--budget", type=_typed(_positive_float), metavar="SECONDS",
                   help=f"seconds of timing per point (default: {defaults.budget}; --quick: {QUICK['budget']})")
    p.add_argument("--out", default="fastoptim-bench", metavar="DIR", help="folder for bench.json, bench.md and charts")
    p.add_argument("--no-plots", action="store_true", help="write no PNG charts")
    p.set_defaults(func=_cmd_bench, check=_check_bench)
    return parser


def command_parsers(parser: argparse.ArgumentParser | None = None) -> dict[str, argparse.ArgumentParser]:
    """``{command: its parser}`` (for the documentation test that compares them with README)."""
    parser = parser or build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    command = command_parsers(parser)[args.command]
    from .optional import MissingDependency

    try:
        if args.check is not None:
            args.check(args)
        return int(args.func(args))
    except (UsageError, MissingDependency) as exc:
        command.exit(2, f"{command.prog}: error: {exc}\n")


if __name__ == "__main__":
    sys.exit(main())
