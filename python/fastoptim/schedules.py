"""Learning-rate schedules and the learning-rate range sweep.

A schedule is a callable ``factor(step) -> float`` of the 0-based step count; an
:class:`LRScheduler` multiplies each parameter group's base learning rate by it and writes
the result into the group's ``"lr"`` each step, so it works with every optimizer.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from .optimizer import Optimizer


class Schedule(Protocol):
    def __call__(self, step: int) -> float: ...


@dataclass(frozen=True)
class Constant:
    """factor = 1."""

    def __call__(self, step: int) -> float:
        return 1.0


@dataclass(frozen=True)
class StepDecay:
    """factor = gamma ** (step // step_size)."""

    step_size: int
    gamma: float = 0.1

    def __post_init__(self) -> None:
        if self.step_size < 1:
            raise ValueError(f"step_size: must be >= 1, got {self.step_size}")
        if not (math.isfinite(self.gamma) and self.gamma > 0):
            raise ValueError(f"gamma: must be finite and > 0, got {self.gamma}")

    def __call__(self, step: int) -> float:
        return self.gamma ** (step // self.step_size)


@dataclass(frozen=True)
class Exponential:
    """factor = gamma ** step."""

    gamma: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.gamma) and self.gamma > 0):
            raise ValueError(f"gamma: must be finite and > 0, got {self.gamma}")

    def __call__(self, step: int) -> float:
        return self.gamma**step


@dataclass(frozen=True)
class CosineWithWarmup:
    """Linear warm-up from 0 over ``warmup_steps``, then a cosine from 1 down to
    ``min_factor`` at ``total_steps`` (and ``min_factor`` after)."""

    total_steps: int
    warmup_steps: int = 0
    min_factor: float = 0.0

    def __post_init__(self) -> None:
        if self.total_steps < 1 or not 0 <= self.warmup_steps <= self.total_steps:
            raise ValueError(f"need 0 <= warmup_steps <= total_steps and total_steps >= 1, got "
                             f"{self.warmup_steps}, {self.total_steps}")
        if not 0 <= self.min_factor <= 1:
            raise ValueError(f"min_factor: must be in [0, 1], got {self.min_factor}")

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        span = max(1, self.total_steps - self.warmup_steps)
        t = min(1.0, (step - self.warmup_steps) / span)
        return self.min_factor + (1 - self.min_factor) * 0.5 * (1 + math.cos(math.pi * t))


class LRScheduler:
    """Sets ``group["lr"] = base_lr · schedule(t)`` for every group of ``optimizer``.

    Call :meth:`step` once per optimizer step, *before* it (the first step uses
    ``schedule(0)``). ``base_lr`` is each group's lr when the scheduler is created.
    """

    def __init__(self, optimizer: Optimizer, schedule: Callable[[int], float]) -> None:
        self.optimizer = optimizer
        self.schedule = schedule
        self.base_lrs = [float(g["lr"]) for g in optimizer.param_groups]
        self.t = 0
        self.last_lr = list(self.base_lrs)

    def step(self) -> list[float]:
        factor = float(self.schedule(self.t))
        if not (math.isfinite(factor) and factor >= 0):
            raise ValueError(f"schedule: factor at step {self.t} is {factor}; must be finite and >= 0")
        self.last_lr = [b * factor for b in self.base_lrs]
        for g, lr in zip(self.optimizer.param_groups, self.last_lr):
            g["lr"] = lr
        self.t += 1
        return self.last_lr


@dataclass
class SweepResult:
    """Loss after a short run at each learning rate (``inf`` where training diverged)."""

    lrs: list[float]
    losses: list[float]

    @property
    def best_lr(self) -> float:
        return self.lrs[int(np.argmin(self.losses))]


def lr_sweep(make_model: Callable[[], Any], make_optimizer: Callable[[Any, float], Optimizer],
             X: np.ndarray, y: np.ndarray, lrs: Sequence[float], *, epochs: int = 2,
             batch_size: int | None = 32, seed: int = 0, diverge_factor: float = 4.0) -> SweepResult:
    """Train a fresh model briefly at each learning rate and return the final training loss:
    too small a rate learns slowly, too large a one diverges (the textbook's figure). A run
    whose loss ends non-finite or above ``diverge_factor`` times the initial loss counts as
    diverged (``inf``)."""
    from .training import fit  # fit builds on this module's schedules

    losses = []
    for lr in lrs:
        model = make_model()
        initial = model.loss(X, y)
        opt = make_optimizer(model, float(lr))
        hist = fit(model, opt, X, y, epochs=epochs, batch_size=batch_size, seed=seed, progress=False,
                   stop_on_divergence=True)
        final = hist.train_loss[-1] if hist.train_loss else math.inf
        diverged = not math.isfinite(final) or final > diverge_factor * initial
        losses.append(math.inf if diverged else final)
    return SweepResult([float(x) for x in lrs], losses)
