"""Adam and AdamW (optionally AMSGrad)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .optimizer import Optimizer
from .quantized_state import check_state_bits


class Adam(Optimizer):
    r"""Adam, with torch.optim.Adam's arguments, defaults and formula::

        d  = ±g + weight_decay·p                       (L2 penalty, coupled)
        m  = lerp(m, d, 1 − β1);   v = β2·v + (1 − β2)·d²
        v̂  = max(v̂, v)                                 (amsgrad; used in place of v)
        p  = p − lr/(1 − β1^t) · m / (sqrt(v)/sqrt(1 − β2^t) + eps)

    Bias corrections are computed once per step in double. eps is outside the square root.
    ``state_bits=8`` keeps m and v of float32 params with at least ``min_8bit_size`` elements
    in 8-bit block-wise form (see :mod:`fastoptim.quantized_state`; ``seed`` drives its
    stochastic rounding).
    """

    rule = "adam"
    _checkpoint_keys = ("lr", "betas", "eps", "weight_decay", "amsgrad")
    _required_buffers = ("exp_avg", "exp_avg_sq")
    _decoupled = False

    def __init__(self, params: Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False, *,
                 maximize: bool = False, state_bits: int = 32, min_8bit_size: int = 4096,
                 stochastic_rounding: bool = False, seed: int = 0) -> None:
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize, state_bits=state_bits,
                                      min_8bit_size=min_8bit_size, stochastic_rounding=stochastic_rounding,
                                      seed=seed))

    def _check_extra(self, group: Mapping[str, Any]) -> None:
        check_state_bits(group, not group["amsgrad"], "with amsgrad=True")

    def _hyper(self, group: Mapping[str, Any]) -> tuple[float, ...]:
        betas = group["betas"]
        if len(betas) != 2:
            raise ValueError(f"invalid betas: {betas!r} (must be a pair)")
        return (group["lr"], betas[0], betas[1], group["eps"], group["weight_decay"])

    def _flags(self, group: Mapping[str, Any]) -> tuple[bool, bool, bool]:
        return (bool(group["maximize"]), False, self._decoupled)

    def _structure_key(self, group: Mapping[str, Any]) -> tuple:
        return (group["maximize"], group["amsgrad"], group["state_bits"], group["min_8bit_size"],
                group["stochastic_rounding"], group["seed"])

    def _state_fill(self, group: Mapping[str, Any]) -> dict[str, float]:
        fill = {"exp_avg": 0.0, "exp_avg_sq": 0.0}
        if group["amsgrad"]:
            fill["max_exp_avg_sq"] = 0.0
        return fill


class AdamW(Adam):
    r"""AdamW: Adam with decoupled weight decay, ``p = (1 − lr·weight_decay)·p`` before the
    Adam update (torch.optim.AdamW; default weight_decay=1e-2)."""

    _decoupled = True

    def __init__(self, params: Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False, state_bits: int = 32, min_8bit_size: int = 4096,
                 stochastic_rounding: bool = False, seed: int = 0) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, maximize=maximize, state_bits=state_bits,
                         min_8bit_size=min_8bit_size, stochastic_rounding=stochastic_rounding, seed=seed)
