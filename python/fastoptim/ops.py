"""Functional update rules: one call steps caller-owned params and state in place.

For micro-benchmarks and for frameworks that keep their own state (anything that can hand
over NumPy views of its buffers). Lists are stepped in one C++ call; every buffer is checked
on every call (dtype, shape, layout, aliasing) before anything is written. The formulas are
those of the optimizer classes (torch.optim's); ``step`` is the 1-based step number.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import _core

Arrays = Sequence[np.ndarray]


def _run(rule: str, params: Arrays, grads: Arrays, state: dict[str, Arrays | None], hyper: tuple, step: int,
         maximize: bool = False, nesterov: bool = False, decoupled: bool = False) -> None:
    buffers = {k: list(v) for k, v in state.items() if v is not None}
    plan = _core.StepPlan(rule, list(params), buffers, maximize, nesterov, decoupled)
    plan.step(list(grads), hyper, step)


def sgd_(params: Arrays, grads: Arrays, momentum_buffers: Arrays | None = None, *, lr: float,
         momentum: float = 0.0, dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False,
         maximize: bool = False, first_step: bool = False) -> None:
    """SGD; with momentum, ``momentum_buffers`` are required and ``first_step=True`` copies the
    gradient into them (torch's first step)."""
    _run("sgd", params, grads, {"momentum_buffer": momentum_buffers}, (lr, momentum, dampening, weight_decay),
         1 if first_step else 2, maximize, nesterov)


def adagrad_(params: Arrays, grads: Arrays, sums: Arrays, *, step: int, lr: float = 1e-2, lr_decay: float = 0.0,
             weight_decay: float = 0.0, eps: float = 1e-10, maximize: bool = False) -> None:
    """Adagrad on caller-owned accumulators ``sums``."""
    _run("adagrad", params, grads, {"sum": sums}, (lr, lr_decay, weight_decay, eps), step, maximize)


def rmsprop_(params: Arrays, grads: Arrays, square_avgs: Arrays, *, lr: float = 1e-2, alpha: float = 0.99,
             eps: float = 1e-8, weight_decay: float = 0.0, momentum: float = 0.0,
             momentum_buffers: Arrays | None = None, grad_avgs: Arrays | None = None,
             maximize: bool = False) -> None:
    """RMSprop; ``grad_avgs`` makes it centered, ``momentum_buffers`` are needed with momentum."""
    _run("rmsprop", params, grads,
         {"square_avg": square_avgs, "grad_avg": grad_avgs, "momentum_buffer": momentum_buffers},
         (lr, alpha, eps, weight_decay, momentum), 1, maximize)


def adam_(params: Arrays, grads: Arrays, exp_avgs: Arrays, exp_avg_sqs: Arrays, *, step: int, lr: float = 1e-3,
          betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0,
          decoupled_weight_decay: bool = False, max_exp_avg_sqs: Arrays | None = None,
          maximize: bool = False) -> None:
    """Adam (AdamW with ``decoupled_weight_decay=True``; AMSGrad when ``max_exp_avg_sqs`` given)."""
    _run("adam", params, grads, {"exp_avg": exp_avgs, "exp_avg_sq": exp_avg_sqs, "max_exp_avg_sq": max_exp_avg_sqs},
         (lr, betas[0], betas[1], eps, weight_decay), step, maximize, decoupled=decoupled_weight_decay)
