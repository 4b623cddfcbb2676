"""``fastoptim demo``: every optimizer of the textbook on a real data set, side by side.

Trains the same seeded MLP with batch gradient descent, stochastic gradient descent,
mini-batch SGD, SGD with momentum, Adagrad, RMSprop, Adam and AdamW on a data set bundled
with scikit-learn (so it loads offline), prints a table, writes the histories as JSON and,
when matplotlib is installed, a chart of the loss curves and one of the learning-rate sweep.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from .adagrad import Adagrad
from .adam import Adam, AdamW
from .data import train_test_split
from .models import MLP
from .optimizer import Optimizer
from .quantized_state import bfloat16_dtype
from .rmsprop import RMSprop
from .runtime import active_isa, get_num_threads
from .schedules import lr_sweep
from .sgd import SGD
from .training import History, fit

DATASETS = ("digits", "iris", "wine", "breast_cancer")


@dataclass(frozen=True)
class Method:
    name: str
    batch_size: int | None
    lr: float
    make: Any  # (params, lr) -> Optimizer


METHODS = [  # make(params, lr, **state options)
    Method("batch GD", None, 0.5, lambda p, lr, **kw: SGD(p, lr=lr, **kw)),
    Method("SGD", 1, 0.01, lambda p, lr, **kw: SGD(p, lr=lr, **kw)),
    Method("mini-batch SGD", 32, 0.1, lambda p, lr, **kw: SGD(p, lr=lr, **kw)),
    Method("SGD + momentum", 32, 0.02, lambda p, lr, **kw: SGD(p, lr=lr, momentum=0.9, **kw)),
    Method("Adagrad", 32, 0.05, lambda p, lr, **kw: Adagrad(p, lr=lr, **kw)),
    Method("RMSprop", 32, 0.001, lambda p, lr, **kw: RMSprop(p, lr=lr, **kw)),
    Method("Adam", 32, 0.001, lambda p, lr, **kw: Adam(p, lr=lr, **kw)),
    Method("AdamW", 32, 0.001, lambda p, lr, **kw: AdamW(p, lr=lr, weight_decay=1e-2, **kw)),
]


def load_dataset(name: str) -> tuple[np.ndarray, np.ndarray, str]:
    """A classification data set bundled with scikit-learn: ``X (float32), y (int), title``."""
    if name not in DATASETS:
        raise ValueError(f"dataset: one of {DATASETS}, got {name!r}")
    try:
        from sklearn import datasets
    except ImportError as exc:
        raise RuntimeError("the demo's data sets ship with scikit-learn: pip install 'fastoptim[demo]' "
                           "(or pip install scikit-learn)") from exc
    bunch = getattr(datasets, f"load_{name}")()
    title = {"digits": "8x8 handwritten digits", "iris": "iris flowers", "wine": "wine cultivars",
             "breast_cancer": "breast cancer (Wisconsin)"}[name]
    return bunch.data.astype(np.float32), bunch.target.astype(np.int64), title


def standardize(X_train: np.ndarray, X_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = X_train.mean(axis=0)
    std = X_train.std(axis=0)
    std[std == 0] = 1.0
    return ((X_train - mean) / std).astype(np.float32), ((X_test - mean) / std).astype(np.float32)


def run_demo(dataset: str = "digits", epochs: int = 20, out: str | None = "fastoptim-demo", seed: int = 0,
             hidden: int = 64, sweep: bool = True, plots: bool = True, progress: bool | None = None,
             verbose: bool = True, state_bits: int = 32, param_dtype: str = "float32") -> dict[str, Any]:
    """Run every method; return ``{"rows": [...], "histories": {...}, "sweep": {...}}`` and write
    ``results.json`` (and PNG charts) into ``out`` unless it is None.

    ``state_bits`` (16: bfloat16 with stochastic rounding, 8: block-wise 8-bit, for every tensor)
    applies to the methods that support it (Adagrad has no 8-bit state and keeps 32);
    ``param_dtype`` "float16"/"bfloat16" trains the model in that format with float32 masters."""
    t_start = time.perf_counter()
    X, y, title = load_dataset(dataset)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_fraction=0.2, seed=seed)
    X_train, X_test = standardize(X_train, X_test)
    n_classes = int(y.max()) + 1

    dtype = {"float32": np.float32, "float16": np.float16, "bfloat16": bfloat16_dtype()}[param_dtype]
    if dtype is None:
        raise RuntimeError("bfloat16 params need ml_dtypes: pip install 'fastoptim[bf16]'")

    def make_model() -> MLP:
        return MLP(X.shape[1], [hidden], n_classes, activation="relu", seed=seed, dtype=dtype)

    def state_options(m: Method) -> dict[str, Any]:
        """The requested state format, where the method's rule supports it."""
        if state_bits == 32 or (state_bits == 8 and m.name == "Adagrad"):
            return {}
        if state_bits == 16:
            return {"state_bits": 16, "stochastic_rounding": True}
        return {"state_bits": 8, "min_8bit_size": 0}  # the demo's tensors are small: quantize them all

    say = print if verbose else (lambda *a, **k: None)
    say(f"fastoptim demo: {title}, {len(X_train)} train / {len(X_test)} test examples, "
        f"MLP {X.shape[1]}-{hidden}-{n_classes}, {epochs} epochs, seed {seed}, "
        f"isa {active_isa()}, {get_num_threads()} threads, params {param_dtype}, state {state_bits}-bit")
    rows, histories = [], {}
    for m in METHODS:
        model = make_model()
        opt: Optimizer = m.make(model.params, m.lr, **state_options(m))
        t0 = time.perf_counter()
        hist: History = fit(model, opt, X_train, y_train, epochs=epochs, batch_size=m.batch_size,
                            validation=(X_test, y_test), seed=seed, progress=progress, desc=m.name)
        wall = time.perf_counter() - t0
        rows.append({"method": m.name, "batch_size": m.batch_size if m.batch_size else len(X_train),
                     "lr": m.lr, "steps": hist.steps, "train_loss": hist.train_loss[-1],
                     "test_accuracy": model.score(X_test, y_test), "wall_s": wall,
                     "optimizer_share": hist.optimizer_share})
        histories[m.name] = hist.as_dict()
    say("")
    say(format_table(rows))
    sweep_result = None
    if sweep:
        lrs = [float(v) for v in np.geomspace(1e-4, 10.0, 11)]
        sweep_result = {}
        for name, make in [("mini-batch SGD", lambda model, lr: SGD(model.params, lr=lr)),
                           ("Adam", lambda model, lr: Adam(model.params, lr=lr))]:
            with np.errstate(all="ignore"):
                res = lr_sweep(make_model, make, X_train, y_train, lrs, epochs=2, batch_size=32, seed=seed)
            sweep_result[name] = {"lrs": res.lrs, "losses": res.losses, "best_lr": res.best_lr}
            say(f"learning-rate sweep, {name} (2 epochs, batch 32): best lr {res.best_lr:.3g}; "
                + ", ".join(f"{lr:.0e}:{'diverged' if math.isinf(v) else f'{v:.3f}'}"
                            for lr, v in zip(res.lrs, res.losses)))
    result = {"dataset": dataset, "epochs": epochs, "seed": seed, "hidden": hidden, "state_bits": state_bits,
              "param_dtype": param_dtype, "rows": rows,
              "histories": histories, "sweep": sweep_result}
    if out is not None:
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "results.json"), "w") as f:
            json.dump(result, f, indent=1)
        written = [os.path.join(out, "results.json")]
        if plots:
            written += write_plots(result, out, title)
        say("wrote " + ", ".join(written))
    say(f"demo finished in {time.perf_counter() - t_start:.1f} s")
    return result


def format_table(rows: list[dict[str, Any]]) -> str:
    head = f"{'method':16s}{'batch':>7s}{'lr':>8s}{'steps':>8s}{'train loss':>12s}{'test acc':>10s}" \
           f"{'wall s':>8s}{'opt share':>11s}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['method']:16s}{r['batch_size']:7d}{r['lr']:8.3g}{r['steps']:8d}{r['train_loss']:12.4f}"
                     f"{r['test_accuracy']:10.3f}{r['wall_s']:8.2f}{r['optimizer_share'] * 100:10.1f}%")
    return "\n".join(lines)


def write_plots(result: dict[str, Any], out: str, title: str) -> list[str]:
    """Loss curves of all methods on one chart, and the learning-rate sweep; [] without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    paths = []
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for name, h in result["histories"].items():
        ax.plot(range(1, len(h["train_loss"]) + 1), h["train_loss"], marker=".", label=name)
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss (cross-entropy)")
    ax.set_title(f"{title}: training loss by method")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    paths.append(os.path.join(out, "loss_curves.png"))
    fig.savefig(paths[-1], dpi=110, bbox_inches="tight")
    plt.close(fig)
    if result["sweep"]:
        fig, ax = plt.subplots(figsize=(7.5, 4.8))
        for name, s in result["sweep"].items():
            finite = [(lr, v) for lr, v in zip(s["lrs"], s["losses"]) if math.isfinite(v)]
            if finite:
                ax.plot(*zip(*finite), marker="o", label=name)
            for lr, v in zip(s["lrs"], s["losses"]):
                if not math.isfinite(v):
                    ax.axvline(lr, color="red", alpha=0.15)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("training loss after 2 epochs")
        ax.set_title("learning-rate sweep (red: diverged)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        paths.append(os.path.join(out, "lr_sweep.png"))
        fig.savefig(paths[-1], dpi=110, bbox_inches="tight")
        plt.close(fig)
    return paths
