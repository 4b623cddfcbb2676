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

Every step checks that each parameter's memory, size, dtype and contiguity are still those its
cached plan was built over, and rebuilds the plan when not (``p.data = ...``, ``model.double()``,
ZeRO's bucket views); writing ``optimizer.state`` (``state[p] = ...``, ``del``, ``clear()``)
rebuilds it too. Steps of one optimizer from several threads run one at a time; a step is
applied to every group, with every step count advanced, or (on an error) to none.
``foreach``/``fused`` are accepted and ignored (every step is one fused multi-tensor call);
``capturable``/``differentiable`` must be False.

Threads: fastoptim and torch each run an OpenMP thread pool. Use the same count for both
(``fastoptim.set_num_threads(torch.get_num_threads())``, which this module does at import);
see the README for what was measured.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .. import _core
from ..runtime import set_num_threads
from .state_table import StateTable

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


def _signature(params: list[torch.Tensor]) -> list[tuple]:
    """What a plan over ``params`` depends on: each tensor's memory, size and dtype (a rebound
    ``p.data``, ``model.double()``, a ZeRO bucket view all change it) and its contiguity."""
    return [(p.data_ptr(), p.nbytes, p.dtype, p.is_contiguous()) for p in params]


@dataclass
class _Plan:
    """One StepPlan over the params of a group that share a step count (and buffer state)."""

    plan: Any
    params: list[torch.Tensor]
    counters: list[np.ndarray]  # what the C++ step advances: views of the step tensors (or SGD's)


@dataclass
class _GroupPlans:
    """A group's plans and what they were built for."""

    ids: tuple[int, ...]
    structure: tuple
    signature: list[tuple]
    parts: list[_Plan]


class _FastOptimizer(torch.optim.Optimizer):
    _rule: str

    def __init__(self, params: Any, defaults: dict[str, Any]) -> None:
        if defaults.get("capturable"):
            raise ValueError("capturable: fastoptim.torch runs on the CPU and does not support capturable=True")
        if defaults.get("differentiable"):
            raise ValueError("differentiable: fastoptim.torch steps outside autograd; use torch.optim")
        self._init_runtime()
        super().__init__(params, defaults)
        self._wrap_state()

    def _init_runtime(self) -> None:
        """What an instance keeps beside torch's attributes (also after unpickling)."""
        self._plans: dict[int, _GroupPlans] = {}
        self._step_lock = threading.Lock()  # one step at a time; other threads wait their turn
        self._building = False
        # SGD: per param, steps its momentum buffer has taken (0: created, holds no data yet).
        self._momentum_steps: dict[torch.Tensor, np.ndarray] = {}

    def _state_changed(self) -> None:
        if not self._building:
            self._plans.clear()

    def _wrap_state(self) -> None:
        if not isinstance(self.__dict__.get("state"), StateTable):
            self.__dict__["state"] = StateTable(self.__dict__.get("state", {}), self._state_changed)
        self._plans.clear()

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        if "_step_lock" not in self.__dict__:
            self._init_runtime()
        self.__dict__["state"] = state.get("state", self.__dict__.get("state", {}))
        self._wrap_state()

    # -- torch.optim.Optimizer interface -------------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        gi = len(self.param_groups)
        params = param_group["params"]
        # Read once (a generator, e.g. layer.parameters(), can only be read once) and hand torch
        # the list, so that the check below does not leave torch an exhausted generator.
        if isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but the ordering "
                            "of tensors in sets will change between runs. Please use a list instead.")
        params = [params] if isinstance(params, torch.Tensor) else list(params)
        for i, p in enumerate(params):  # (name, tensor) pairs: model.named_parameters(), as torch >= 2.6
            _check_param(p[1] if isinstance(p, tuple) and len(p) == 2 else p, f"param_groups[{gi}]['params'][{i}]")
        param_group = {**param_group, "params": params}
        group_defaults = {**self.defaults, **param_group}
        _core.check_hyper(self._rule, self._hyper(group_defaults), *self._flags(group_defaults))
        super().add_param_group(param_group)
        self._plans.clear()

    def state_dict(self) -> dict[str, Any]:
        """torch.optim's ``state_dict``, with plain dicts (loadable with ``torch.load(weights_only=True)``)."""
        sd = super().state_dict()
        sd["state"] = {k: dict(v) if isinstance(v, dict) else v for k, v in sd["state"].items()}
        return sd

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        with self._step_lock:
            super().load_state_dict(state_dict)
            self._wrap_state()  # state tensors were replaced
            self._momentum_steps.clear()

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient, as the torch.optim namesake does."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        with self._step_lock:
            if type(self.__dict__.get("state")) is not StateTable:  # optimizer.state was reassigned
                self._wrap_state()
            plans, addresses, hypers, steps, counters = [], [], [], [], []
            for gi, group in enumerate(self.param_groups):
                active = [p for p in group["params"] if p.grad is not None]
                if not active:
                    continue
                hyper = self._hyper(group)
                for part in self._group_plans(gi, group, active):
                    plans.append(part.plan)
                    # torch guarantees a .grad has its param's shape, dtype and device (checked
                    # again when a plan is built); the kernel reads the gradient in place.
                    addresses.append([_grad_address(p) for p in part.params])
                    hypers.append(hyper)
                    steps.append(self._kernel_step(part))
                    counters.extend(part.counters)
            if plans:
                # One C++ call for all groups: validated first, then every group stepped and
                # every step count advanced, with no Python in between (errors, Ctrl-C).
                _core.step_plans(plans, addresses, hypers, steps, counters, addresses=True)
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
        return int(part.counters[0][0]) + 1

    def _counters(self, params: list[torch.Tensor]) -> list[np.ndarray]:
        """The step counts the C++ step advances: torch's ``state[p]["step"]`` tensors, in place."""
        out = []
        for p in params:
            state = self.state[p]
            step = state["step"]
            if not (isinstance(step, torch.Tensor) and step.dtype in (torch.float32, torch.float64, torch.int64)
                    and step.device.type == "cpu" and step.numel() == 1 and not step.requires_grad):
                step = state["step"] = torch.tensor(float(step), dtype=torch.float32)
            out.append(step.numpy().reshape(1))
        return out

    # -- plans -----------------------------------------------------------------------------------
    def _steps_taken(self, p: torch.Tensor, state: dict[str, Any]) -> int:
        """Steps ``p``'s state has taken; params are stepped together only if these agree."""
        step = state["step"]
        return int(step.item() if isinstance(step, torch.Tensor) else step)

    def _group_plans(self, gi: int, group: dict[str, Any], active: list[torch.Tensor]) -> list[_Plan]:
        ids = tuple(map(id, active))
        structure = (self._flags(group), tuple(self._buffers(group)))
        signature = _signature(active)
        cached = self._plans.get(gi)
        if cached is not None and cached.ids == ids and cached.structure == structure \
                and cached.signature == signature:
            return cached.parts
        for i, p in enumerate(active):  # built for new tensors: check them and their grads afresh
            where = f"param_groups[{gi}]['params'][{i}]"
            _check_param(p, where)
            g = p.grad
            if g.shape != p.shape or g.dtype != p.dtype or g.device != p.device:
                raise ValueError(f"{where}: its .grad ({g.dtype}, {tuple(g.shape)}) does not match it "
                                 f"({p.dtype}, {tuple(p.shape)}); was p.data replaced without its grad?")
        self._building = True
        try:
            parts: dict[int, list[torch.Tensor]] = {}
            for p in active:
                state = self.state[p]
                self._init_state(p, group, state)
                self._check_state(p, state, group)
                parts.setdefault(self._steps_taken(p, state), []).append(p)
                if not state:  # torch keeps no entry for stateless params (SGD without momentum)
                    del self.state[p]
            names = self._buffers(group)
            plans = []
            for params in parts.values():
                buffers = {name: [_np(self.state[p][name]) for p in params] for name in names}
                plan = _core.StepPlan(self._rule, [_np(p) for p in params], buffers, *self._flags(group))
                plans.append(_Plan(plan, params, self._counters(params)))
        finally:
            self._building = False
        self._plans[gi] = _GroupPlans(ids, structure, signature, plans)
        return plans

    def _check_state(self, p: torch.Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        """The state tensors the kernel will write must be shaped and typed like ``p``."""
        for name in self._buffers(group):
            t = state[name]
            if not isinstance(t, torch.Tensor) or t.shape != p.shape or t.dtype != p.dtype \
                    or t.device != p.device or not t.is_contiguous():
                desc = f"{t.dtype}, {tuple(t.shape)}" if isinstance(t, torch.Tensor) else type(t).__name__
                raise ValueError(f"state[{name!r}] of a parameter of shape {tuple(p.shape)} is ({desc}); it must "
                                 f"be a contiguous {p.dtype} CPU tensor of the parameter's shape")


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
        if group["momentum"] == 0:
            return
        if state.get("momentum_buffer") is None:
            state["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.contiguous_format)
            self._momentum_steps[p] = np.zeros(1, np.int64)  # holds no data until its first step
        elif p not in self._momentum_steps:  # a buffer from a checkpoint or written directly
            self._momentum_steps[p] = np.ones(1, np.int64)

    def _steps_taken(self, p, state):
        # SGD keeps no step count; what matters is whether the momentum buffer holds data yet
        counter = self._momentum_steps.get(p)
        return 0 if counter is not None and counter[0] == 0 else 1

    def _counters(self, params):
        return [self._momentum_steps[p] for p in params if p in self._momentum_steps]

    def _kernel_step(self, part):
        # the kernel copies the gradient into a fresh buffer on its first step
        return 1 if part.counters and part.counters[0][0] == 0 else 2


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
