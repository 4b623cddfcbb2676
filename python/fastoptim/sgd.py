"""Stochastic gradient descent with momentum, dampening, Nesterov and weight decay."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .optimizer import Optimizer, _GroupState
from .quantized_state import check_state_bits


class SGD(Optimizer):
    r"""SGD, with torch.optim.SGD's arguments, defaults and formula::

        d = ±g + weight_decay·p
        b = d (first step), then b = momentum·b + (1 − dampening)·d
        d = d + momentum·b (nesterov) or d = b
        p = p − lr·d

    The momentum buffer starts as the first gradient (torch's convention; the textbook's
    ``v = μv − lr·g`` form is the same trajectory for dampening=0 up to rounding).
    ``state_bits=8`` keeps the momentum buffer of large float32 params in 8-bit block-wise form
    (see :mod:`fastoptim.quantized_state`).
    """

    rule = "sgd"
    _checkpoint_keys = ("lr", "momentum", "dampening", "weight_decay", "nesterov")
    _required_buffers = ()

    def __init__(self, params: Any, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, *, maximize: bool = False,
                 state_bits: int = 32, min_8bit_size: int = 4096, stochastic_rounding: bool = False,
                 seed: int = 0) -> None:
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov, maximize=maximize,
                                      state_bits=state_bits, min_8bit_size=min_8bit_size,
                                      stochastic_rounding=stochastic_rounding, seed=seed))

    def _check_extra(self, group: Mapping[str, Any]) -> None:
        check_state_bits(group, True)

    def _hyper(self, group: Mapping[str, Any]) -> tuple[float, ...]:
        return (group["lr"], group["momentum"], group["dampening"], group["weight_decay"])

    def _flags(self, group: Mapping[str, Any]) -> tuple[bool, bool, bool]:
        return (bool(group["maximize"]), bool(group["nesterov"]), False)

    def _structure_key(self, group: Mapping[str, Any]) -> tuple:
        return (group["maximize"], group["nesterov"], group["momentum"] != 0, group["state_bits"],
                group["min_8bit_size"], group["stochastic_rounding"], group["seed"])

    def _state_fill(self, group: Mapping[str, Any]) -> dict[str, float]:
        return {"momentum_buffer": 0.0} if group["momentum"] != 0 else {}

    def _kernel_step(self, gs: _GroupState) -> int:
        # The kernel copies the gradient into the buffer on the buffer's first step.
        return gs.step + 1 if "momentum_buffer" in gs.initialized else 1
