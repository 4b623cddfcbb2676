"""Who is timed: fastoptim, the streaming probe (the roof), and the peers when importable.

Each contender is built from the same initial arrays and returns a zero-argument ``step``.
Thread counts are set by the harness for every contender alike.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .. import _core
from ..rule_classes import CLASSES
from .rules import TORCH_FUSED, RuleCase

Step = Callable[[], object]
OURS = CLASSES


def fastoptim_step(rule: RuleCase, params: list[np.ndarray], grads: list[np.ndarray], **step_kw) -> Step:
    opt = OURS[rule.name]([p.copy() for p in params], **rule.kwargs)
    return lambda: opt.step(grads, **step_kw)


def probe_step(rule: RuleCase, n: int) -> Step:
    """The plain C++ streaming loop with the rule's memory shape (same threads, same split)."""
    rw = [np.ones(n, np.float32) for _ in range(rule.rw_streams)]
    g = np.full(n, 1e-3, np.float32)
    return lambda: _core.stream_probe(rw, g)


def torch_available() -> str | None:
    """torch's version, or None."""
    try:
        import torch
    except ImportError:
        return None
    return str(torch.__version__)


def torch_step(rule: RuleCase, params: list[np.ndarray], grads: list[np.ndarray], mode: str,
               max_grad_norm: float | None = None) -> Step | None:
    """torch.optim in ``mode`` "forloop", "foreach" or "fused"; None where torch lacks it (and
    for SparseAdam, whose dense steps torch refuses: ``bench/row_sparse.py`` compares those)."""
    import torch

    if mode == "fused" and rule.name not in TORCH_FUSED:
        return None
    if _sparse_only(rule):
        return None
    flag = {"forloop": dict(foreach=False), "foreach": dict(foreach=True), "fused": dict(fused=True)}[mode]
    tparams = [torch.nn.Parameter(torch.from_numpy(p.copy())) for p in params]
    for tp, g in zip(tparams, grads):
        tp.grad = torch.from_numpy(g)
    opt = getattr(torch.optim, rule.name)(tparams, **rule.kwargs, **flag)
    if max_grad_norm is None:
        return opt.step

    def clipped_step() -> None:
        torch.nn.utils.clip_grad_norm_(tparams, max_grad_norm, foreach=True)
        opt.step()
    # Clipping writes the gradients; restoring them each step would add traffic the peer does
    # not need, so the clipped gradients are re-clipped (a no-op scale) from step 2 on, which
    # costs torch the same passes.
    return clipped_step


def _sparse_only(rule: RuleCase) -> bool:
    """The rule's torch class takes sparse gradients only (SparseAdam)."""
    return rule.descriptor.sparse_grads == "only"


def fastoptim_torch_step(rule: RuleCase, params: list[np.ndarray], grads: list[np.ndarray]) -> Step | None:
    """fastoptim.torch's drop-in class over torch tensors (the same kernels, torch's interface);
    None for SparseAdam, which takes sparse gradients only."""
    if _sparse_only(rule):
        return None
    import torch

    import fastoptim.torch as fot

    tparams = [torch.nn.Parameter(torch.from_numpy(p.copy())) for p in params]
    for tp, g in zip(tparams, grads):
        tp.grad = torch.from_numpy(g)
    return getattr(fot, rule.name)(tparams, **rule.kwargs).step


def set_threads(n: int) -> None:
    """Same thread count for every contender."""
    _core.set_num_threads(n)
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(n)
