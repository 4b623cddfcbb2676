"""Adagrad."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .optimizer import Optimizer
from .quantized_state import check_state_bits


class Adagrad(Optimizer):
    r"""Adagrad, with torch.optim.Adagrad's arguments, defaults and formula::

        d   = ±g + weight_decay·p
        s   = s + d²                     (s starts at initial_accumulator_value)
        p   = p − clr·d / (sqrt(s) + eps),   clr = lr / (1 + (t − 1)·lr_decay)

    ``state_bits=16`` keeps the sum in bfloat16 (``stochastic_rounding``, ``seed``: see
    :mod:`fastoptim.quantized_state`).
    """

    rule = "adagrad"
    _checkpoint_keys = ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps")
    _required_buffers = ("sum",)

    def __init__(self, params: Any, lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10, *,
                 maximize: bool = False, state_bits: int = 32, stochastic_rounding: bool = False,
                 seed: int = 0) -> None:
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, eps=eps,
                                      maximize=maximize, state_bits=state_bits,
                                      stochastic_rounding=stochastic_rounding, seed=seed))

    def _hyper(self, group: Mapping[str, Any]) -> tuple[float, ...]:
        return (group["lr"], group["lr_decay"], group["weight_decay"], group["eps"])

    def _structure_key(self, group: Mapping[str, Any]) -> tuple:
        return (group["maximize"], group["state_bits"], group["stochastic_rounding"], group["seed"])

    def _check_extra(self, group: Mapping[str, Any]) -> None:
        check_state_bits(group, False, "for Adagrad")
        v = group["initial_accumulator_value"]
        if not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise ValueError(f"invalid initial_accumulator_value: {v} (must be finite and >= 0)")

    def _state_fill(self, group: Mapping[str, Any]) -> dict[str, float]:
        return {"sum": float(group["initial_accumulator_value"])}
