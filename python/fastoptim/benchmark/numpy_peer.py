"""The NumPy peer: each rule's textbook formulas as vectorized in-place NumPy, the way a
NumPy user would write the step without fastoptim (one temporary per line, no fusion). The
formulas live with each rule's descriptor (``numpy_peer`` in :mod:`fastoptim.rules`)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .rules import RuleCase


def numpy_step(rule: RuleCase, params: list[np.ndarray], grads: list[np.ndarray]) -> Callable[[], None]:
    """A zero-argument step over copies of ``params`` (exposed as ``step.params``) with state of
    the rule (same formulas and defaults as torch.optim; maximize is not used by the cases)."""
    peer = rule.descriptor.numpy_peer
    if peer is None:
        raise ValueError(f"no NumPy peer for {rule.name}")
    p = [x.copy() for x in params]
    step = peer(rule.effective_kwargs(), p, grads)
    step.params = p  # type: ignore[attr-defined]
    return step
