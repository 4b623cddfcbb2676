"""Learning-rate schedules.

A schedule is a callable ``factor(step) -> float`` of the 0-based step count; an
:class:`LRScheduler` multiplies each parameter group's base learning rate by it and writes
the result into the group's ``"lr"`` each step, so it works with every optimizer. The
learning-rate range sweep, which trains, is :func:`fastoptim.training.lr_sweep`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

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
