"""The training loop: ``fit(model, optimizer, X, y, ...)``.

Batch gradient descent (``batch_size=None``), stochastic gradient descent (``1``) and
mini-batch SGD (``k``) are the same loop over :class:`~fastoptim.data.Batches`; the model
writes gradients into its FlatParams arena and the optimizer steps it in one call.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .data import Batches
from .models.base import Model
from .optimizer import Optimizer
from .schedules import LRScheduler

Callback = Callable[[int, dict[str, float]], bool | None]


@dataclass
class History:
    """Per-epoch record of a run. ``train_loss`` is the loss on the whole training set at the
    end of each epoch; times are summed over the epoch's batches."""

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_metric: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    grad_time: list[float] = field(default_factory=list)
    step_time: list[float] = field(default_factory=list)
    epoch_time: list[float] = field(default_factory=list)
    steps: int = 0
    stopped_early: bool = False
    diverged: bool = False

    @property
    def optimizer_share(self) -> float:
        """Fraction of the training time (gradients + steps) spent in optimizer steps."""
        total = sum(self.grad_time) + sum(self.step_time)
        return sum(self.step_time) / total if total else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__} | {"optimizer_share": self.optimizer_share}


class EarlyStopping:
    """Stop when the monitored value (``"val_loss"`` or ``"train_loss"``) has not improved by
    more than ``min_delta`` for ``patience`` epochs."""

    def __init__(self, monitor: str = "val_loss", patience: int = 5, min_delta: float = 0.0) -> None:
        self.monitor, self.patience, self.min_delta = monitor, patience, min_delta
        self.best = math.inf
        self.bad_epochs = 0

    def __call__(self, epoch: int, logs: dict[str, float]) -> bool:
        value = logs[self.monitor]
        if value < self.best - self.min_delta:
            self.best, self.bad_epochs = value, 0
        else:
            self.bad_epochs += 1
        return self.bad_epochs >= self.patience


def _progress_bar(total: int, enabled: bool | None, desc: str):
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=desc, leave=False, unit="epoch")


def fit(model: Model, optimizer: Optimizer, X: np.ndarray, y: np.ndarray, *, epochs: int = 10,
        batch_size: int | None = 32, schedule: Callable[[int], float] | None = None,
        validation: tuple[np.ndarray, np.ndarray] | None = None, seed: int = 0, shuffle: bool = True,
        drop_last: bool = False, callbacks: Sequence[Callback] = (), progress: bool | None = None,
        stop_on_divergence: bool = True, desc: str = "fit", **step_kw: Any) -> History:
    """Train ``model`` with ``optimizer`` (built on ``model.params``) and return a :class:`History`.

    Args:
        epochs: passes over the training set.
        batch_size: ``None`` full batch (batch GD), ``1`` SGD, ``k`` mini-batch.
        schedule: ``factor(step)``; each group's lr is its initial lr times the factor.
        validation: ``(X_val, y_val)`` evaluated after each epoch (loss and ``model.score``).
        seed: shuffling seed (same seed, same history).
        callbacks: ``cb(epoch, logs) -> bool``; returning True stops training.
        progress: tqdm bar; ``None`` shows it only on a terminal (and when tqdm is installed).
        stop_on_divergence: stop when the training loss becomes NaN/Inf.
        **step_kw: passed to ``optimizer.step`` (e.g. ``max_grad_norm``).
    """
    if epochs < 0:
        raise ValueError(f"epochs: must be >= 0, got {epochs}")
    batches = Batches(X, y, batch_size, shuffle=shuffle, drop_last=drop_last, seed=seed)
    scheduler = LRScheduler(optimizer, schedule) if schedule is not None else None
    hist = History()
    bar = _progress_bar(epochs, progress, desc)
    clock = time.perf_counter
    try:
        for epoch in range(epochs):
            t_grad = t_step = 0.0
            start = clock()
            for xb, yb in batches:
                t0 = clock()
                model.loss_and_grad(xb, yb)
                t1 = clock()
                if scheduler is not None:
                    scheduler.step()
                optimizer.step(**step_kw)
                t_step += clock() - t1
                t_grad += t1 - t0
                hist.steps += 1
            hist.epoch_time.append(clock() - start)
            hist.grad_time.append(t_grad)
            hist.step_time.append(t_step)
            hist.lr.append(float(optimizer.param_groups[0]["lr"]))
            with np.errstate(over="ignore", invalid="ignore"):
                logs = {"train_loss": model.loss(X, y)}
                if validation is not None:
                    logs["val_loss"] = model.loss(*validation)
                    logs["val_metric"] = model.score(*validation)
            hist.train_loss.append(logs["train_loss"])
            if validation is not None:
                hist.val_loss.append(logs["val_loss"])
                hist.val_metric.append(logs["val_metric"])
            if bar is not None:
                bar.update(1)
                bar.set_postfix({k: f"{v:.4g}" for k, v in logs.items()})
            if stop_on_divergence and not math.isfinite(logs["train_loss"]):
                hist.diverged = True
                break
            stop = False
            for cb in callbacks:
                stop = bool(cb(epoch, logs)) or stop
            if stop:
                hist.stopped_early = True
                break
    finally:
        if bar is not None:
            bar.close()
    return hist
