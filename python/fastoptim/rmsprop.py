"""RMSprop, plain, centered, and with momentum."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .optimizer import Optimizer
from .quantized_state import check_state_bits


class RMSprop(Optimizer):
    r"""RMSprop, with torch.optim.RMSprop's arguments, defaults and formula::

        d   = ±g + weight_decay·p
        sq  = alpha·sq + (1 − alpha)·d²
        ga  = lerp(ga, d, 1 − alpha)                   (centered)
        avg = sqrt(sq − ga²) + eps  or  sqrt(sq) + eps
        b   = momentum·b + d/avg;  p = p − lr·b         (momentum > 0)
        p   = p − lr·d/avg                              (otherwise)

    ``state_bits=8`` keeps square_avg (as its square root) and the momentum buffer of large
    float32 params in 8-bit block-wise form (see :mod:`fastoptim.quantized_state`).

    eps is added *outside* the square root, as in torch and Keras; the textbook's
    ``sqrt(sq + eps)`` differs by at most eps-sized terms.
    """

    rule = "rmsprop"
    _checkpoint_keys = ("lr", "alpha", "eps", "weight_decay", "momentum", "centered")
    _required_buffers = ("square_avg",)

    def __init__(self, params: Any, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False, *,
                 maximize: bool = False, state_bits: int = 32, min_8bit_size: int = 4096,
                 stochastic_rounding: bool = False, seed: int = 0) -> None:
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered, maximize=maximize,
                                      state_bits=state_bits, min_8bit_size=min_8bit_size,
                                      stochastic_rounding=stochastic_rounding, seed=seed))

    def _check_extra(self, group: Mapping[str, Any]) -> None:
        check_state_bits(group, not group["centered"], "with centered=True")

    def _hyper(self, group: Mapping[str, Any]) -> tuple[float, ...]:
        return (group["lr"], group["alpha"], group["eps"], group["weight_decay"], group["momentum"])

    def _structure_key(self, group: Mapping[str, Any]) -> tuple:
        return (group["maximize"], group["centered"], group["momentum"] != 0, group["state_bits"],
                group["min_8bit_size"], group["stochastic_rounding"], group["seed"])

    def _state_fill(self, group: Mapping[str, Any]) -> dict[str, float]:
        fill = {"square_avg": 0.0}
        if group["centered"]:
            fill["grad_avg"] = 0.0
        if group["momentum"] != 0:
            fill["momentum_buffer"] = 0.0
        return fill
