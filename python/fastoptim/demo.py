"""``fastoptim demo``: every optimizer of the textbook on a real data set, side by side.

Trains the same seeded MLP with batch gradient descent, stochastic gradient descent,
mini-batch SGD, SGD with momentum, Adagrad, RMSprop, Adam and AdamW on a data set bundled
with scikit-learn (so it loads offline). Each method first runs a short learning-rate sweep
and then trains at the best rate it found (``sweep=False``: at its fixed default rate). Prints
a table (final loss, accuracy, time per optimizer step, optimizer memory, the state format in
effect), writes the histories as strict JSON and charts of the loss curves and of the sweep.
"""

from __future__ import annotations

import math
import os
import textwrap
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _core
from .data import train_test_split
from .models import MLP
from .optimizer import Optimizer
from .optional import require
from .outputs import prepare_dir, write_json
from .quantized_state import Quantized8
from .rule_classes import CLASSES
from .runtime import active_isa, get_num_threads
from .training import History, SweepResult, fit, lr_sweep

DATASETS = ("digits", "iris", "wine", "breast_cancer")
STATE_BITS = (32, 16, 8)
PARAM_DTYPES = ("float32", "float16", "bfloat16")
FIXED_LR_NOTE = "fixed per method, chosen for digits at 20 epochs"
SWEEP_LRS = [float(v) for v in np.geomspace(1e-4, 10.0, 11)]
SWEEP_EPOCHS = 2
CHART_FILES = ("loss_curves.png", "lr_sweep.png")


@dataclass(frozen=True)
class Method:
    name: str
    batch_size: int | None
    lr: float  # the fixed default rate (sweep=False, or when every swept rate diverged)
    make: Any  # (params, lr, **state options) -> Optimizer
    keeps_state: bool = True
    state8: bool = True  # the rule has 8-bit block-wise state


def _make(cls: str, **fixed: Any) -> Any:
    return lambda p, lr, **kw: CLASSES[cls](p, lr=lr, **fixed, **kw)


METHODS = [
    Method("batch GD", None, 0.5, _make("SGD"), keeps_state=False),
    Method("SGD", 1, 0.01, _make("SGD"), keeps_state=False),
    Method("mini-batch SGD", 32, 0.1, _make("SGD"), keeps_state=False),
    Method("SGD + momentum", 32, 0.02, _make("SGD", momentum=0.9)),
    Method("Adagrad", 32, 0.05, _make("Adagrad"), state8=False),
    Method("RMSprop", 32, 0.001, _make("RMSprop")),
    Method("Adam", 32, 0.001, _make("Adam")),
    Method("AdamW", 32, 0.001, _make("AdamW", weight_decay=1e-2)),
]
"""The textbook's methods: what ``fastoptim demo`` runs by default."""


def _registered_methods() -> list[Method]:
    """Every other optimizer class of the rule registry (NAdam, RAdam, ...), mini-batches of 32
    at torch's default lr."""
    from .rules import class_variants

    taken = {m.name for m in METHODS}
    out = []
    for d, v in class_variants():
        if v.name in taken:
            continue
        lr = v.defaults.get("lr", d.arg("lr").default)
        formats = _core.rule_spec(d.rule)["formats"]
        out.append(Method(v.name, 32, lr, _make(v.name), keeps_state=bool(d.buffers), state8="block8" in formats))
    return out


ALL_METHODS = {m.name: m for m in [*METHODS, *_registered_methods()]}
"""Every method ``--methods`` can name: the textbook's, then every registered optimizer class."""

# One look per method in every chart: colour, line style and marker all differ, so curves that
# coincide (Adam and AdamW often do) still show both.
_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf",
           "#bcbd22", "#7f7f7f", "#393b79", "#637939", "#8c6d31", "#843c39"]
_LINESTYLES = ["-", "--", "-.", ":"]
_MARKERS = ["o", "s", "^", "v", "D", "P", "h", "<", ">", "X", "*", "p", "d", "H"]
METHOD_STYLE = {name: {"color": _COLORS[i % len(_COLORS)], "linestyle": _LINESTYLES[i % 4],
                       "marker": _MARKERS[i % len(_MARKERS)]}
                for i, name in enumerate(ALL_METHODS)}


def load_dataset(name: str) -> tuple[np.ndarray, np.ndarray, str]:
    """A classification data set bundled with scikit-learn: ``X (float32), y (int), title``."""
    if name not in DATASETS:
        raise ValueError(f"dataset: one of {DATASETS}, got {name!r}")
    datasets = require("sklearn.datasets", what="loading the demo's data sets", extra="demo", package="scikit-learn")
    bunch = getattr(datasets, f"load_{name}")()
    title = {"digits": "8x8 handwritten digits", "iris": "iris flowers", "wine": "wine cultivars",
             "breast_cancer": "breast cancer (Wisconsin)"}[name]
    return bunch.data.astype(np.float32), bunch.target.astype(np.int64), title


def standardize(X_train: np.ndarray, X_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = X_train.mean(axis=0)
    std = X_train.std(axis=0)
    std[std == 0] = 1.0
    return ((X_train - mean) / std).astype(np.float32), ((X_test - mean) / std).astype(np.float32)


def check_options(dataset: str, epochs: int, seed: int, hidden: int, state_bits: int, param_dtype: str) -> None:
    """ValueError naming the argument for any value :func:`run_demo` cannot run with."""
    if dataset not in DATASETS:
        raise ValueError(f"dataset: one of {DATASETS}, got {dataset!r}")
    for name, value, low in (("epochs", epochs, 1), ("hidden", hidden, 1), ("seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{name}: must be an int >= {low}, got {value!r}")
    if seed >= 2**32:
        raise ValueError(f"seed: must be < 2**32, got {seed}")
    if state_bits not in STATE_BITS:
        raise ValueError(f"state_bits: one of {STATE_BITS}, got {state_bits!r}")
    if param_dtype not in PARAM_DTYPES:
        raise ValueError(f"param_dtype: one of {PARAM_DTYPES}, got {param_dtype!r}")
    if state_bits == 8 and param_dtype != "float32":
        raise ValueError(f"state_bits: 8-bit state is kept for float32 params only, not with "
                         f"param_dtype={param_dtype!r}; use state_bits=16 or 32")


def require_packages(state_bits: int, param_dtype: str, plots: bool) -> None:
    """Import every optional package the options need; MissingDependency (one-line install
    hint) for the first one missing."""
    require("sklearn.datasets", what="loading the demo's data sets", extra="demo", package="scikit-learn")
    if state_bits == 16:
        require("ml_dtypes", what="keeping bfloat16 state", extra="bf16")
    if param_dtype == "bfloat16":
        require("ml_dtypes", what="training in bfloat16", extra="bf16")
    if plots:
        require("matplotlib", what="drawing charts", extra="demo")


def state_options(m: Method, state_bits: int) -> dict[str, Any]:
    """The optimizer options for the requested state format, where the method's rule has it."""
    if state_bits == 16:
        return {"state_bits": 16, "stochastic_rounding": True}
    if state_bits == 8 and m.state8:
        return {"state_bits": 8, "min_8bit_size": 0}  # the demo's tensors are small: quantize them all
    return {}


def state_in_effect(opt: Optimizer) -> str:
    """The format the optimizer's state buffers are actually kept in ("float32", "bfloat16",
    "8-bit", joined by "+" when mixed), or "none"; master weights are not state."""
    kinds: list[str] = []
    for entry in opt.state.values():
        for key, value in entry.items():
            if key in ("step", "master_param") or not isinstance(value, (np.ndarray, Quantized8)):
                continue  # the step count, masters, and scalar state (NAdam's mu_product) are no buffers
            kind = "8-bit" if isinstance(value, Quantized8) else np.dtype(value.dtype).name
            if kind not in kinds:
                kinds.append(kind)
    return "+".join(kinds) or "none"


def us_per_step(hist: History) -> float:
    """Microseconds per optimizer step: the median over epochs of each epoch's mean (the first
    step, which allocates state, and a noisy epoch do not sway it)."""
    if not hist.step_time or not hist.steps:
        return math.nan
    per_epoch = hist.steps / len(hist.step_time)
    return float(np.median(hist.step_time)) / per_epoch * 1e6


def select_methods(names: list[str] | None) -> list[Method]:
    """The methods named (any of ``ALL_METHODS``), or the textbook's; ValueError naming an unknown one."""
    if names is None:
        return list(METHODS)
    unknown = [n for n in names if n not in ALL_METHODS]
    if unknown or not names:
        raise ValueError(f"methods: unknown {unknown}; choose from {list(ALL_METHODS)}" if unknown
                         else "methods: name at least one method")
    return [ALL_METHODS[n] for n in dict.fromkeys(names)]


def run_demo(dataset: str = "digits", epochs: int = 20, out: str | None = "fastoptim-demo", seed: int = 0,
             hidden: int = 64, sweep: bool = True, plots: bool = True, progress: bool | None = None,
             verbose: bool = True, state_bits: int = 32, param_dtype: str = "float32",
             methods: list[str] | None = None) -> dict[str, Any]:
    """Run every method; return ``{"rows": [...], "histories": {...}, "sweep": {...}, "notes": [...]}``
    and write ``results.json`` (and PNG charts) into ``out`` unless it is None.

    ``sweep``: train each method at the best learning rate of a short sweep (``SWEEP_EPOCHS``
    epochs at each of ``SWEEP_LRS``, the method's batch size and state format); False: at its
    fixed rate. ``state_bits`` (16: bfloat16 with stochastic rounding, 8: block-wise 8-bit, for
    every tensor) applies to the methods whose rule keeps state in that format; the table and
    ``notes`` say where it does not. ``param_dtype`` "float16"/"bfloat16" trains the model in
    that format with float32 master weights (8-bit state needs float32 params).

    ``methods``: names from ``ALL_METHODS`` (the textbook's by default; any registered optimizer
    class, e.g. "NAdam", may be named).

    Every option is checked, the optional packages imported and ``out`` created before any
    training: ValueError naming the argument, :class:`~fastoptim.optional.MissingDependency`.
    """
    check_options(dataset, epochs, seed, hidden, state_bits, param_dtype)
    chosen = select_methods(methods)
    plots = plots and out is not None
    require_packages(state_bits, param_dtype, plots)
    if out is not None:
        try:
            prepare_dir(out)
        except ValueError as exc:
            raise ValueError(f"out: {exc}") from None
    t_start = time.perf_counter()
    X, y, title = load_dataset(dataset)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_fraction=0.2, seed=seed)
    X_train, X_test = standardize(X_train, X_test)
    n_classes = int(y.max()) + 1
    dtype: Any = np.float32 if param_dtype == "float32" else np.float16
    if param_dtype == "bfloat16":
        dtype = require("ml_dtypes", what="training in bfloat16", extra="bf16").bfloat16

    def make_model() -> MLP:
        return MLP(X.shape[1], [hidden], n_classes, activation="relu", seed=seed, dtype=dtype)

    say = print if verbose else (lambda *a, **k: None)
    say(f"fastoptim demo: {title}, {len(X_train)} train / {len(X_test)} test examples, "
        f"MLP {X.shape[1]}-{hidden}-{n_classes}, {epochs} epochs, seed {seed}")
    say(f"isa {active_isa()}, {get_num_threads()} threads, params {param_dtype}"
        + (" (float32 master weights)" if param_dtype != "float32" else "")
        + f", state bits {state_bits} requested (in effect per method: column 'state')")

    sweeps: dict[str, SweepResult] = {}
    if sweep:
        for m in chosen:
            with np.errstate(all="ignore"):
                sweeps[m.name] = lr_sweep(
                    make_model, lambda model, lr, m=m: m.make(model.params, lr, **state_options(m, state_bits)),
                    X_train, y_train, SWEEP_LRS, epochs=SWEEP_EPOCHS, batch_size=m.batch_size, seed=seed)
        say("")
        say(format_sweep_table(sweeps))

    notes: list[str] = []
    rows, histories = [], {}
    for m in chosen:
        swept = sweeps.get(m.name)
        lr, lr_from = m.lr, "fixed"
        if swept is not None:
            if all(swept.diverged):
                notes.append(f"{m.name}: every swept learning rate diverged; trained at its fixed lr {m.lr:g}")
            else:
                lr, lr_from = swept.best_lr, "sweep"
        model = make_model()
        opt: Optimizer = m.make(model.params, lr, **state_options(m, state_bits))
        t0 = time.perf_counter()
        with np.errstate(over="ignore", invalid="ignore"):
            hist: History = fit(model, opt, X_train, y_train, epochs=epochs, batch_size=m.batch_size,
                                validation=(X_test, y_test), seed=seed, progress=progress, desc=m.name)
        wall = time.perf_counter() - t0
        rows.append({"method": m.name, "batch_size": m.batch_size if m.batch_size else len(X_train),
                     "lr": lr, "lr_from": lr_from, "steps": hist.steps, "train_loss": hist.train_loss[-1],
                     "diverged": hist.diverged, "test_accuracy": model.score(X_test, y_test),
                     "us_per_step": us_per_step(hist),
                     "state": state_in_effect(opt), "state_bytes": opt.state_bytes(), "wall_s": wall,
                     "optimizer_share": hist.optimizer_share})
        histories[m.name] = hist.as_dict()
    notes += _notes(rows, sweep, state_bits, param_dtype)
    say("")
    say(f"each method trained {epochs} epochs at "
        + (f"the best lr of its sweep ({SWEEP_EPOCHS} epochs per lr)" if sweep else f"its lr ({FIXED_LR_NOTE})"))
    say(format_table(rows))
    for note in notes:
        say(textwrap.fill(note, width=100, initial_indent="note: ", subsequent_indent="      "))
    result = {"dataset": dataset, "epochs": epochs, "seed": seed, "hidden": hidden, "state_bits": state_bits,
              "param_dtype": param_dtype, "lr_from": "sweep" if sweep else "fixed", "rows": rows,
              "histories": histories, "notes": notes,
              "sweep": {m.name: {"epochs": SWEEP_EPOCHS, "batch_size": m.batch_size or len(X_train),
                                 "lrs": s.lrs, "losses": s.losses, "diverged": s.diverged,
                                 "best_lr": None if all(s.diverged) else s.best_lr}
                        for m in chosen if (s := sweeps.get(m.name)) is not None} or None}
    if out is not None:
        write_json(os.path.join(out, "results.json"), result)
        written = [os.path.join(out, "results.json")]
        if plots:
            written += write_plots(result, out, title)
        say("wrote " + ", ".join(written))
        stale = [os.path.join(out, name) for name in CHART_FILES
                 if os.path.join(out, name) not in written and os.path.exists(os.path.join(out, name))]
        if stale:
            say(f"note: {', '.join(stale)} {'is' if len(stale) == 1 else 'are'} from an earlier run, not this one")
    say(f"demo finished in {time.perf_counter() - t_start:.1f} s")
    return result


def _notes(rows: list[dict[str, Any]], sweep: bool, state_bits: int, param_dtype: str) -> list[str]:
    """What the table alone would leave a reader to guess: options that did not apply, and why
    a method trails when its learning rate was not tuned here."""
    notes = []
    if state_bits != 32:
        wanted = "bfloat16" if state_bits == 16 else "8-bit"
        stateless = [r["method"] for r in rows if r["state"] == "none"]
        other = [r for r in rows if r["state"] not in ("none", wanted)]
        if stateless:
            notes.append(f"state bits {state_bits} does not apply to {', '.join(stateless)}: plain SGD keeps no state")
        for r in other:
            notes.append(f"{r['method']} has no {wanted} state; it keeps {r['state']} state")
    if param_dtype != "float32":
        notes.append(f"params {param_dtype}: 'opt memory' includes the float32 master weights (4 B per param)")
    diverged = [r["method"] for r in rows if r["diverged"]]
    if diverged:
        notes.append(f"{', '.join(diverged)} diverged (loss not finite) at the lr shown")
    if not sweep:
        best = max(r["test_accuracy"] for r in rows)
        behind = [r for r in rows if r["test_accuracy"] < best - 0.05]
        notes.append(f"lr: {FIXED_LR_NOTE} (sweep off); on another data set or epoch count a method may "
                     "under- or overshoot at it")
        if behind:
            names = ", ".join(f"{r['method']} ({r['test_accuracy']:.2f} at lr {r['lr']:g})" for r in behind)
            notes.append(f"trailing the best test accuracy ({best:.2f}) by more than 0.05: {names}. With "
                         "a fixed lr that says more about the lr for this data set and epoch count than "
                         "about the method: without --no-sweep each method trains at the best lr of a "
                         "short sweep")
    return notes


def format_sweep_table(sweeps: dict[str, SweepResult]) -> str:
    """Training loss after the sweep's epochs at each lr (x: diverged, *: best)."""
    lrs = next(iter(sweeps.values())).lrs
    head = f"{'lr sweep':16s}" + "".join(f"{lr:>8.0e}" for lr in lrs)
    lines = [f"learning-rate sweep: training loss after {SWEEP_EPOCHS} epochs at each lr, each method at its "
             "batch size (x: diverged, *: best)", head, "-" * len(head)]
    for name, s in sweeps.items():
        best = None if all(s.diverged) else s.best_lr
        cells = "".join(f"{'x':>8s}" if d else (f"{v:7.3f}*" if lr == best else f"{v:7.3f} ")
                        for lr, v, d in zip(s.lrs, s.losses, s.diverged))
        lines.append(f"{name:16s}{cells}")
    return "\n".join(lines)


def format_table(rows: list[dict[str, Any]]) -> str:
    head = (f"{'method':16s}{'batch':>6s}{'lr':>8s}{'steps':>7s}{'train loss':>11s}{'test acc':>9s}"
            f"{'µs/step':>9s}{'opt share':>10s}  {'state':9s}{'opt memory':>11s}")
    lines = [head, "-" * len(head)]
    for r in rows:
        loss = "diverged" if not math.isfinite(r["train_loss"]) else f"{r['train_loss']:.4f}"
        lines.append(f"{r['method']:16s}{r['batch_size']:6d}{r['lr']:8.3g}{r['steps']:7d}{loss:>11s}"
                     f"{r['test_accuracy']:9.3f}{r['us_per_step']:9.2f}{r['optimizer_share'] * 100:9.1f}%  "
                     f"{r['state']:9s}{r['state_bytes']:>9,d} B")
    lines.append("µs/step: time of one optimizer step (median over epochs); opt share: its share of the time "
                 "in gradients + steps;\nstate: the format the optimizer state is kept in; opt memory: "
                 "optimizer.state_bytes()")
    return "\n".join(lines)


def _pyplot() -> Any:
    """matplotlib.pyplot with the file-only Agg backend (MissingDependency without matplotlib)."""
    matplotlib = require("matplotlib", what="drawing charts", extra="demo")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _finite_points(xs: list[float], ys: list[float | None]) -> tuple[list[float], list[float]]:
    pts = [(x, y) for x, y in zip(xs, ys) if y is not None and math.isfinite(y)]
    return [p[0] for p in pts], [p[1] for p in pts]


def coinciding_curves(curves: dict[str, list[float | None]], rtol: float = 0.02) -> dict[str, tuple[str, float]]:
    """``{name: (earlier name, fraction)}`` for curves that lie within ``rtol`` of an earlier one
    (non-finite at the same places) at ``fraction`` >= 1/2 of their points: drawn on top of
    each other there, so their labels say so."""
    def close(x: float | None, y: float | None) -> bool:
        fx, fy = x is not None and math.isfinite(x), y is not None and math.isfinite(y)
        if not (fx and fy):
            return fx == fy
        return abs(x - y) <= rtol * max(abs(x), abs(y))  # type: ignore[operator]

    same: dict[str, tuple[str, float]] = {}
    names = list(curves)
    for j, b in enumerate(names):
        for a in names[:j]:
            if len(curves[a]) == len(curves[b]) and curves[a]:
                fraction = sum(map(close, curves[a], curves[b])) / len(curves[a])
                if fraction >= 0.5 and fraction > same.get(b, ("", 0.0))[1]:
                    same[b] = (a, fraction)
    return same


def _on_top_of(name: str, same: dict[str, tuple[str, float]]) -> str:
    if name not in same:
        return ""
    other, fraction = same[name]
    return f", {'on top of' if fraction == 1 else 'mostly on top of'} {other}"


def _style(name: str, i: int) -> dict[str, Any]:
    """The method's colour, line style and marker; hollow markers that shrink with ``i`` so
    that markers of coinciding curves nest instead of hiding each other."""
    return {**METHOD_STYLE.get(name, {}), "markerfacecolor": "none", "markersize": 10 - 0.6 * i,
            "markeredgewidth": 1.3}


def loss_figure(result: dict[str, Any], title: str) -> Any:
    """The loss curves of every method on one chart (a matplotlib Figure)."""
    plt = _pyplot()

    fig, ax = plt.subplots(figsize=(8, 5))
    same = coinciding_curves({k: h["train_loss"] for k, h in result["histories"].items()})
    lr_of = {r["method"]: r["lr"] for r in result["rows"]}
    n_methods = len(result["histories"])
    for i, (name, h) in enumerate(result["histories"].items()):
        xs, ys = _finite_points(list(range(1, len(h["train_loss"]) + 1)), h["train_loss"])
        label = f"{name} (lr {lr_of.get(name, float('nan')):.2g})"
        label += _on_top_of(name, same)
        if h.get("diverged"):
            label += ", diverged"
        every = max(1, len(xs) // 10)
        ax.plot(xs, ys, label=label, linewidth=1.6, markevery=(i % every, every) if every > 1 else None,
                zorder=2 + n_methods - i, **_style(name, i))
    ax.set_yscale("log")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss (cross-entropy, whole training set)")
    ax.set_title(f"{title}: training loss by method, {result['param_dtype']} params, "
                 f"state bits {result['state_bits']} requested")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def sweep_figure(result: dict[str, Any]) -> Any:
    """The learning-rate sweep: loss after the sweep's epochs vs lr per method, the lr each
    method trained at (star), and below, a strip with one labelled row per method marking the
    rates at which it diverged."""
    plt = _pyplot()

    sweep = result["sweep"]
    names = list(sweep)
    fig, (ax, strip) = plt.subplots(2, 1, figsize=(8, 6.5), sharex=True,
                                    gridspec_kw={"height_ratios": [4, 0.25 * len(names) + 0.5]})
    same = coinciding_curves({k: s["losses"] for k, s in sweep.items()})
    for i, (name, s) in enumerate(sweep.items()):
        style = _style(name, i)
        xs, ys = _finite_points(s["lrs"], s["losses"])
        label = name + (f" ({_on_top_of(name, same)[2:]})" if name in same else "")
        if xs:
            ax.plot(xs, ys, label=label, zorder=2 + len(names) - i, **style)
        if s["best_lr"] is not None:
            best = s["losses"][s["lrs"].index(s["best_lr"])]
            ax.plot([s["best_lr"]], [best], marker="*", markersize=20 - 1.2 * i, color=style["color"],
                    linestyle="none", markeredgecolor="black", markeredgewidth=0.6, zorder=20 + i)
    ax.plot([], [], marker="*", markersize=12, color="white", markeredgecolor="black", linestyle="none",
            label="best lr (trained at)" if result.get("lr_from") == "sweep" else "best lr")
    ax.set_xscale("log")
    ax.set_yscale("log")
    epochs = next(iter(sweep.values()))["epochs"]
    ax.set_ylabel(f"training loss after {epochs} epochs")
    ax.set_title(f"learning-rate sweep: each method at its batch size, {epochs} epochs per lr")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    for row, (name, s) in enumerate(sweep.items()):
        style = METHOD_STYLE.get(name, {})
        xs = [lr for lr, d in zip(s["lrs"], s["diverged"]) if d]
        strip.plot(xs, [row] * len(xs), marker="x", markersize=8, markeredgewidth=2, linestyle="none",
                   color=style.get("color"))
    strip.set_yticks(range(len(names)), [f"{n}" for n in names], fontsize=7)
    strip.set_ylim(len(names) - 0.5, -0.5)
    strip.set_ylabel("diverged (x)", fontsize=8)
    strip.grid(True, axis="x", which="both", alpha=0.3)
    strip.set_xlabel("learning rate")
    fig.tight_layout()
    return fig


def write_plots(result: dict[str, Any], out: str, title: str) -> list[str]:
    """``loss_curves.png`` and (with a sweep) ``lr_sweep.png`` in ``out``; the paths written."""
    plt = _pyplot()
    paths = []
    figures = [("loss_curves.png", loss_figure(result, title))]
    if result["sweep"]:
        figures.append(("lr_sweep.png", sweep_figure(result)))
    for name, fig in figures:
        paths.append(os.path.join(out, name))
        fig.savefig(paths[-1], dpi=110, bbox_inches="tight")
        plt.close(fig)
    return paths
