"""The training loop: ``fit(model, optimizer, X, y, ...)``.

Batch gradient descent (``batch_size=None``), stochastic gradient descent (``1``) and
mini-batch SGD (``k``) are the same loop over :class:`~fastoptim.data.Batches`; the model
writes gradients into its FlatParams arena and the optimizer steps it in one call.
:func:`lr_sweep` trains briefly at each of several learning rates (the textbook's
learning-rate figure).
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
    more than ``min_delta`` for ``patience`` epochs.

    ``"val_loss"`` (the default) needs validation data: :func:`fit` refuses to start without
    ``validation=`` when this callback monitors it (see :attr:`requires_validation`)."""

    MONITORS = ("val_loss", "train_loss")

    def __init__(self, monitor: str = "val_loss", patience: int = 5, min_delta: float = 0.0) -> None:
        if monitor not in self.MONITORS:
            raise ValueError(f"monitor: one of {self.MONITORS}, got {monitor!r}")
        if isinstance(patience, bool) or not isinstance(patience, (int, np.integer)) or patience < 1:
            raise ValueError(f"patience: must be an int >= 1, got {patience!r}")
        if isinstance(min_delta, bool) or not isinstance(min_delta, (int, float, np.floating, np.integer)) \
                or not (math.isfinite(min_delta) and min_delta >= 0):
            raise ValueError(f"min_delta: must be a finite number >= 0, got {min_delta!r}")
        self.monitor, self.patience, self.min_delta = monitor, int(patience), float(min_delta)
        self.best = math.inf
        self.bad_epochs = 0

    @property
    def requires_validation(self) -> bool:
        """Whether this callback reads values that exist only with validation data."""
        return self.monitor.startswith("val_")

    def __repr__(self) -> str:
        return f"EarlyStopping(monitor={self.monitor!r}, patience={self.patience}, min_delta={self.min_delta})"

    def __call__(self, epoch: int, logs: dict[str, float]) -> bool:
        if self.monitor not in logs:
            raise ValueError(f"{self!r}: no {self.monitor!r} this epoch (logs have {sorted(logs)}); "
                             "monitoring val_loss needs fit(..., validation=(X_val, y_val))")
        value = logs[self.monitor]
        if value < self.best - self.min_delta:
            self.best, self.bad_epochs = value, 0
        else:
            self.bad_epochs += 1
        return self.bad_epochs >= self.patience


def check_fit_arguments(model: Model, optimizer: Optimizer, X: np.ndarray, y: np.ndarray,
                        validation: tuple[np.ndarray, np.ndarray] | None = None,
                        callbacks: Sequence[Callback] = ()) -> None:
    """What :func:`fit` checks before training; raises TypeError/ValueError naming the argument.

    * ``model`` is a :class:`~fastoptim.models.Model`; ``optimizer`` a fastoptim optimizer
      built on ``model.params`` (an optimizer over another model's parameters would train
      nothing of this one);
    * ``X``/``y`` (and ``validation``'s pair) match the model: ``n_features`` columns, one
      valid label or target per row;
    * every callback is callable, and those that need validation data
      (``requires_validation``, e.g. ``EarlyStopping("val_loss")``) get it.
    """
    if not isinstance(model, Model):
        raise TypeError(f"model: expected a fastoptim.models.Model, got {type(model).__name__}")
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer: expected a fastoptim optimizer such as fo.Adam(model.params), "
                        f"got {type(optimizer).__name__}")
    arena = model.params.data
    stepped = [a if isinstance(a, np.ndarray) else getattr(a, "data", a)  # an array, or a FlatParams
               for g in optimizer.param_groups for a in g["params"]]
    if not any(np.may_share_memory(a, arena) for a in stepped):
        raise ValueError("optimizer: it steps none of this model's parameters (was it built on another "
                         "model?); build it on this model's arena: fo.Adam(model.params, ...)")
    foreign = [i for i, a in enumerate(stepped) if not np.may_share_memory(a, arena)]
    if foreign:
        raise ValueError(f"optimizer: params {foreign} are not this model's (model.params); fit steps "
                         "the model's own parameters only")
    model.check_data(X, y, ("X", "y"))
    if validation is not None:
        if not isinstance(validation, (tuple, list)) or len(validation) != 2:
            raise ValueError(f"validation: expected a pair (X_val, y_val), got {type(validation).__name__}")
        model.check_data(validation[0], validation[1], ("validation[0] (X_val)", "validation[1] (y_val)"))
    if callable(callbacks) or not isinstance(callbacks, Sequence):
        raise TypeError(f"callbacks: expected a list of callables, got {type(callbacks).__name__}")
    for i, cb in enumerate(callbacks):
        if not callable(cb):
            raise TypeError(f"callbacks[{i}]: expected a callable cb(epoch, logs), got {type(cb).__name__}")
        if validation is None and getattr(cb, "requires_validation", False):
            raise ValueError(f"callbacks[{i}] ({cb!r}) needs validation data: pass validation=(X_val, y_val) "
                             "to fit, or monitor 'train_loss'")


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

    Everything is checked before the first step (:func:`check_fit_arguments`): the optimizer
    must step this model's parameters, ``X``/``y`` and ``validation`` must match the model,
    callbacks that need validation data must get it.

    Args:
        epochs: passes over the training set.
        batch_size: ``None`` full batch (batch GD), ``1`` SGD, ``k`` mini-batch.
        schedule: ``factor(step)``; each group's lr is its initial lr times the factor.
        validation: ``(X_val, y_val)`` evaluated after each epoch (loss and ``model.score``);
            needed by ``EarlyStopping("val_loss")``.
        seed: shuffling seed (same seed, same history).
        callbacks: ``cb(epoch, logs) -> bool``; returning True stops training.
        progress: tqdm bar; ``None`` shows it only on a terminal (and when tqdm is installed).
        stop_on_divergence: stop when the training loss becomes NaN/Inf.
        **step_kw: passed to ``optimizer.step`` (e.g. ``max_grad_norm``).

    Optimizers with train and eval modes (schedule-free AdamW) are switched as their authors
    prescribe: ``train()`` before each epoch's steps, ``eval()`` before the losses and metrics
    are computed, so that those are of the point the optimizer returns (x, the average), and the
    model is left there (``eval()``) when ``fit`` returns.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ValueError(f"epochs: must be an int >= 0, got {epochs!r}")
    if schedule is not None and not callable(schedule):
        raise TypeError(f"schedule: expected a callable factor(step), got {type(schedule).__name__}")
    check_fit_arguments(model, optimizer, X, y, validation, callbacks)
    batches = Batches(X, y, batch_size, shuffle=shuffle, drop_last=drop_last, seed=seed)
    scheduler = LRScheduler(optimizer, schedule) if schedule is not None else None
    hist = History()
    bar = _progress_bar(epochs, progress, desc)
    clock = time.perf_counter
    modes = callable(getattr(optimizer, "train", None)) and callable(getattr(optimizer, "eval", None))
    try:
        for epoch in range(epochs):
            t_grad = t_step = 0.0
            if modes:
                optimizer.train()  # type: ignore[attr-defined]
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
            if modes:
                optimizer.eval()  # type: ignore[attr-defined]
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


@dataclass
class SweepResult:
    """Loss after a short run at each learning rate (``inf`` where training diverged)."""

    lrs: list[float]
    losses: list[float]

    @property
    def diverged(self) -> list[bool]:
        return [not math.isfinite(v) for v in self.losses]

    @property
    def best_lr(self) -> float:
        """The learning rate with the lowest loss (ValueError if every run diverged)."""
        if all(self.diverged):
            raise ValueError("lr_sweep: every learning rate diverged; try smaller ones")
        return self.lrs[int(np.argmin(self.losses))]


def lr_sweep(make_model: Callable[[], Model], make_optimizer: Callable[[Model, float], Optimizer],
             X: np.ndarray, y: np.ndarray, lrs: Sequence[float], *, epochs: int = 2,
             batch_size: int | None = 32, seed: int = 0, diverge_factor: float = 4.0) -> SweepResult:
    """Train a fresh model briefly at each learning rate and return the final training loss:
    too small a rate learns slowly, too large a one diverges (the textbook's figure). A run
    whose loss ends non-finite or above ``diverge_factor`` times the initial loss counts as
    diverged (``inf``)."""
    lrs = [float(lr) for lr in lrs]
    if not lrs or not all(math.isfinite(lr) and lr > 0 for lr in lrs):
        raise ValueError(f"lrs: need at least one learning rate, all finite and > 0, got {lrs}")
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 1:
        raise ValueError(f"epochs: must be an int >= 1, got {epochs!r}")
    losses = []
    for lr in lrs:
        model = make_model()
        initial = model.loss(X, y)
        opt = make_optimizer(model, lr)
        hist = fit(model, opt, X, y, epochs=epochs, batch_size=batch_size, seed=seed, progress=False,
                   stop_on_divergence=True)
        final = hist.train_loss[-1] if hist.train_loss else math.inf
        diverged = not math.isfinite(final) or final > diverge_factor * initial
        losses.append(math.inf if diverged else final)
    return SweepResult(lrs, losses)
