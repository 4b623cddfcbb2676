"""fastoptim.torch: drop-in replacements for torch.optim's SGD, Adagrad, RMSprop, Adam and AdamW
on CPU tensors.

    from fastoptim.torch import Adam        # instead of: from torch.optim import Adam
    opt = Adam(model.parameters(), lr=1e-3)

The classes are ``torch.optim.Optimizer`` subclasses with the same constructor arguments,
defaults, parameter groups, ``zero_grad``, closures, hooks and learning-rate schedulers. The
kernels update the tensors' own memory (zero copies) and the state is kept in exactly
torch's format (same keys, ``step`` as a float32 scalar tensor), so a checkpoint from
``torch.optim.Adam`` loads into ``fastoptim.torch.Adam`` and the other way round.

Supported: dense, contiguous CPU tensors of float32 or float64. Anything else raises a
``ValueError`` naming the parameter at construction (or at ``add_param_group``); sparse
gradients raise at ``step``, non-contiguous gradients are copied to contiguous ones first.
``foreach``/``fused`` are accepted and ignored (every step is one fused multi-tensor call);
``capturable``/``differentiable`` must be False.

Threads: fastoptim and torch each run an OpenMP thread pool. Use the same count for both
(``fastoptim.set_num_threads(torch.get_num_threads())``, which this module does at import);
see the README for what was measured.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch

from . import _core
from .runtime import set_num_threads

__all__ = ["SGD", "Adagrad", "RMSprop", "Adam", "AdamW"]

_DTYPES = (torch.float32, torch.float64)

set_num_threads(max(1, torch.get_num_threads()))


def _check_param(p: torch.Tensor, where: str) -> None:
    if not isinstance(p, torch.Tensor):
        raise TypeError(f"{where}: expected a torch.Tensor, got {type(p).__name__}")
    if p.device.type != "cpu":
        raise ValueError(f"{where}: is on {p.device}; fastoptim.torch steps CPU tensors (use torch.optim there)")
    if p.layout != torch.strided:
        raise ValueError(f"{where}: has layout {p.layout}; only dense (strided) tensors are supported")
    if p.dtype not in _DTYPES:
        raise ValueError(f"{where}: has dtype {p.dtype}; fastoptim.torch steps float32 and float64")
    if not p.is_contiguous():
        raise ValueError(f"{where}: is not contiguous; fastoptim.torch updates memory in place and needs "
                         "contiguous parameters")


def _np(t: torch.Tensor):
    return t.detach().numpy()


def _grad_address(p: torch.Tensor) -> int:
    """Address of ``p.grad``'s memory, read in place. A non-contiguous gradient (rare: autograd
    makes them contiguous) is replaced by a contiguous copy first rather than refused."""
    g = p.grad
    if g.layout != torch.strided:
        raise ValueError(f"sparse gradients are not supported (parameter of shape {tuple(p.shape)})")
    if not g.is_contiguous():
        g = p.grad = g.contiguous()
    return g.data_ptr()


@dataclass
class _Plan:
    """One StepPlan over the params of a group that share a step count (and buffer state)."""

    key: tuple
    plan: Any
    params: list[torch.Tensor]
    step_tensors: list[torch.Tensor]
    step: int  # the step count they share, before this step


class _FastOptimizer(torch.optim.Optimizer):
    _rule: str

    def __init__(self, params: Any, defaults: dict[str, Any]) -> None:
        self._fresh: set[int] = set()  # ids of params whose SGD momentum buffer holds no data yet
        if defaults.get("capturable"):
            raise ValueError("capturable: fastoptim.torch runs on the CPU and does not support capturable=True")
        if defaults.get("differentiable"):
            raise ValueError("differentiable: fastoptim.torch steps outside autograd; use torch.optim")
        self._plans: dict[int, list[_Plan]] = {}
        super().__init__(params, defaults)

    # -- torch.optim.Optimizer interface -------------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        gi = len(self.param_groups)
        params = param_group["params"]
        params = [params] if isinstance(params, torch.Tensor) else list(params)
        for i, p in enumerate(params):
            _check_param(p, f"param_groups[{gi}]['params'][{i}]")
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        _core.check_hyper(self._rule, self._hyper(group), *self._flags(group))
        self._plans.clear()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self._plans.clear()  # state tensors were replaced
        self._fresh.clear()

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient, as the torch.optim namesake does."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for gi, group in enumerate(self.param_groups):
            active = [p for p in group["params"] if p.grad is not None]
            if not active:
                continue
            hyper = self._hyper(group)
            parts = self._group_plans(gi, group, active)
            # torch guarantees a .grad has its param's shape, dtype and device; what is left to
            # check is the layout, then the kernel reads the gradient's memory in place.
            addresses = [[_grad_address(p) for p in part.params] for part in parts]
            for part, addr in zip(parts, addresses):
                part.plan.step_addresses(addr, hyper, self._kernel_step(part))
                part.step += 1
                self._after_step(part)
        return loss

    # -- what subclasses provide ---------------------------------------------------------------
    def _hyper(self, group: dict[str, Any]) -> tuple[float, ...]:
        raise NotImplementedError

    def _flags(self, group: dict[str, Any]) -> tuple[bool, bool, bool]:
        return (bool(group["maximize"]), False, False)

    def _init_state(self, p: torch.Tensor, group: dict[str, Any], state: dict[str, Any]) -> None:
        """Create torch's state entries for ``p`` if absent (same keys and values as torch)."""
        raise NotImplementedError

    def _buffers(self, group: dict[str, Any]) -> list[str]:
        """State entries the kernel reads and writes, in rule_state_names order."""
        raise NotImplementedError

    def _kernel_step(self, part: _Plan) -> int:
        return part.step + 1

    def _after_step(self, part: _Plan) -> None:
        torch._foreach_add_(part.step_tensors, 1.0)

    # -- plans -----------------------------------------------------------------------------------
    def _steps_taken(self, p: torch.Tensor, state: dict[str, Any]) -> int:
        """Steps ``p``'s state has taken; params are stepped together only if these agree."""
        return int(state["step"].item())

    def _group_plans(self, gi: int, group: dict[str, Any], active: list[torch.Tensor]) -> list[_Plan]:
        structure = (tuple(map(id, active)), self._flags(group), tuple(self._buffers(group)))
        cached = self._plans.get(gi)
        if cached is not None and cached[0].key == structure:
            return cached
        parts: dict[int, list[torch.Tensor]] = {}
        for p in active:
            state = self.state[p]
            self._init_state(p, group, state)
            parts.setdefault(self._steps_taken(p, state), []).append(p)
            if not state:  # torch keeps no entry for stateless params (SGD without momentum)
                del self.state[p]
        names = self._buffers(group)
        plans = []
        for value, params in parts.items():
            buffers = {name: [_np(self.state[p][name]) for p in params] for name in names}
            plan = _core.StepPlan(self._rule, [_np(p) for p in params], buffers, *self._flags(group))
            steps = [self.state[p]["step"] for p in params if "step" in self.state.get(p, {})]
            plans.append(_Plan(structure, plan, params, steps, value))
        self._plans[gi] = plans
        return plans


def _step_tensor() -> torch.Tensor:
    return torch.tensor(0.0, dtype=torch.float32)


class SGD(_FastOptimizer):
    """torch.optim.SGD on fastoptim's kernel (same arguments and defaults)."""

    _rule = "sgd"

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, differentiable: bool = False, fused: bool | None = None) -> None:
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov, maximize=maximize, foreach=foreach,
                                      differentiable=differentiable, fused=fused))

    def _hyper(self, group):
        return (float(group["lr"]), group["momentum"], group["dampening"], float(group["weight_decay"]))

    def _flags(self, group):
        return (bool(group["maximize"]), bool(group["nesterov"]), False)

    def _buffers(self, group):
        return ["momentum_buffer"] if group["momentum"] != 0 else []

    def _init_state(self, p, group, state):
        if group["momentum"] != 0 and state.get("momentum_buffer") is None:
            state["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.contiguous_format)
            self._fresh.add(id(p))

    def _steps_taken(self, p, state):
        # SGD keeps no step count; what matters is whether the momentum buffer holds data yet
        return 0 if id(p) in self._fresh else 1

    def _kernel_step(self, part):
        return 1 if part.step == 0 else 2  # the kernel copies the gradient into a fresh buffer

    def _after_step(self, part):
        for p in part.params:
            self._fresh.discard(id(p))


class Adagrad(_FastOptimizer):
    """torch.optim.Adagrad on fastoptim's kernel (same arguments and defaults)."""

    _rule = "adagrad"

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, lr_decay: float = 0, weight_decay: float = 0,
                 initial_accumulator_value: float = 0, eps: float = 1e-10, foreach: bool | None = None, *,
                 maximize: bool = False, differentiable: bool = False, fused: bool | None = None) -> None:
        if initial_accumulator_value < 0:
            raise ValueError(f"invalid initial_accumulator_value: {initial_accumulator_value} (must be >= 0)")
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, foreach=foreach,
                                      maximize=maximize, differentiable=differentiable, fused=fused))
        for group in self.param_groups:  # torch creates Adagrad's state at construction
            for p in group["params"]:
                self._init_state(p, group, self.state[p])

    def _hyper(self, group):
        return (float(group["lr"]), group["lr_decay"], group["weight_decay"], group["eps"])

    def _buffers(self, group):
        return ["sum"]

    def _init_state(self, p, group, state):
        if "sum" not in state:
            state["step"] = _step_tensor()
            state["sum"] = torch.full_like(p, group["initial_accumulator_value"],
                                           memory_format=torch.preserve_format)


class RMSprop(_FastOptimizer):
    """torch.optim.RMSprop on fastoptim's kernel (same arguments and defaults)."""

    _rule = "rmsprop"

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0, centered: bool = False, capturable: bool = False,
                 foreach: bool | None = None, maximize: bool = False, differentiable: bool = False) -> None:
        super().__init__(params, dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                                      weight_decay=weight_decay, capturable=capturable, foreach=foreach,
                                      maximize=maximize, differentiable=differentiable))

    def _hyper(self, group):
        return (float(group["lr"]), group["alpha"], group["eps"], group["weight_decay"], group["momentum"])

    def _buffers(self, group):
        names = ["square_avg"]
        if group["centered"]:
            names.append("grad_avg")
        if group["momentum"] > 0:
            names.append("momentum_buffer")
        return names

    def _init_state(self, p, group, state):
        if "step" not in state:
            state["step"] = _step_tensor()
            state["square_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        if group["momentum"] > 0 and "momentum_buffer" not in state:
            state["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        if group["centered"] and "grad_avg" not in state:
            state["grad_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)


class Adam(_FastOptimizer):
    """torch.optim.Adam on fastoptim's kernel (same arguments and defaults)."""

    _rule = "adam"

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, amsgrad: bool = False, *, foreach: bool | None = None,
                 maximize: bool = False, capturable: bool = False, differentiable: bool = False,
                 fused: bool | None = None, decoupled_weight_decay: bool = False) -> None:
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                                      maximize=maximize, foreach=foreach, capturable=capturable,
                                      differentiable=differentiable, fused=fused,
                                      decoupled_weight_decay=decoupled_weight_decay))

    def _hyper(self, group):
        b1, b2 = group["betas"]
        return (float(group["lr"]), float(b1), float(b2), group["eps"], float(group["weight_decay"]))

    def _flags(self, group):
        return (bool(group["maximize"]), False, bool(group.get("decoupled_weight_decay", False)))

    def _buffers(self, group):
        return ["exp_avg", "exp_avg_sq"] + (["max_exp_avg_sq"] if group["amsgrad"] else [])

    def _init_state(self, p, group, state):
        if "step" not in state:
            state["step"] = _step_tensor()
            state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        if group["amsgrad"] and "max_exp_avg_sq" not in state:
            state["max_exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)


class AdamW(Adam):
    """torch.optim.AdamW on fastoptim's kernel (same arguments and defaults)."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, capturable: bool = False, differentiable: bool = False,
                 fused: bool | None = None) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         foreach=foreach, maximize=maximize, capturable=capturable, differentiable=differentiable,
                         fused=fused, decoupled_weight_decay=True)
