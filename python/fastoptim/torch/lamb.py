"""``fastoptim.torch.Lamb``: pytorch_optimizer.Lamb on fastoptim's C++ step.

Same constructor (``lr=1e-3, betas=(0.9, 0.999), weight_decay=0.0, weight_decouple=True,
fixed_decay=False, rectify=False, degenerated_to_sgd=False, n_sma_threshold=5,
grad_averaging=True, max_grad_norm=1.0, adam=False, pre_norm=False, eps=1e-6, foreach=None,
maximize=False, **kwargs``), same state (``exp_avg``, ``exp_avg_sq`` and 0-d tensors
``weight_norm``, ``adam_norm``, ``trust_ratio`` per param; the int ``step`` in each group), so
checkpoints move both ways. Formula: :mod:`fastoptim.lamb`. float32 and float64 CPU params go
through one C++ call per step; ``rectify=True``, ``adanorm``, float16/bfloat16, complex and
DTensor params are refused with an error naming them. ``foreach`` is accepted and has no effect.
Unlike pytorch_optimizer, the step never writes ``p.grad`` (pytorch_optimizer negates it in place
with ``maximize`` and scales it in place with ``pre_norm``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from .. import _core
from ..interrupts import deferred_interrupt
from ..lamb import CLAMP, GROUP_OPTIONS, UNSUPPORTED, check_extra_kwargs, check_lamb_options, lamb_hyper
from .layout import ContiguousWork, local
from .optimizer import _check_param, _FastOptimizer, check_grad_matches, contiguous_state, group_params
from .state_table import StateTable

_NORMS = ("weight_norm", "adam_norm", "trust_ratio")


def _step_value(value: Any, where: str) -> int:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value <= 2**53:
        raise ValueError(f"{where}: 'step' must be a whole number in [0, 2**53], got {value!r}")
    return int(value)


class Lamb(_FastOptimizer):
    """pytorch_optimizer.Lamb on fastoptim's kernel (same arguments, defaults and state).

    See :class:`fastoptim.Lamb` for the formula and the options. Extra keyword arguments:
    ``adam_debias`` (as pytorch_optimizer reads it from its kwargs) and fastoptim's
    ``always_adapt`` (default True; False fixes the trust ratio at 1 in groups without weight
    decay); any other is refused.
    """

    _rule = "lamb"
    descriptor = None  # type: ignore[assignment]  # not a registry rule
    _step_supports_amp_scaling = False  # GradScaler unscales the gradients itself
    clamp: float = CLAMP

    def __init__(self, params: Any, lr: float | torch.Tensor = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 weight_decay: float = 0.0, weight_decouple: bool = True, fixed_decay: bool = False,
                 rectify: bool = False, degenerated_to_sgd: bool = False, n_sma_threshold: int = 5,
                 grad_averaging: bool = True, max_grad_norm: float = 1.0, adam: bool = False, pre_norm: bool = False,
                 eps: float = 1e-6, foreach: bool | None = None, maximize: bool = False,
                 always_adapt: bool = True, **kwargs: Any) -> None:
        extra = check_extra_kwargs(kwargs)
        defaults = {"lr": lr, "betas": betas, "weight_decay": weight_decay, "weight_decouple": weight_decouple,
                    "fixed_decay": fixed_decay, "rectify": rectify, "grad_averaging": grad_averaging,
                    "max_grad_norm": max_grad_norm, "adam": adam, "eps": eps, "foreach": foreach,
                    "adam_debias": extra.get("adam_debias", False), "always_adapt": always_adapt}
        check_lamb_options(self._plain(defaults))
        for name, value in (("pre_norm", pre_norm), ("maximize", maximize), ("degenerated_to_sgd", degenerated_to_sgd)):
            if not isinstance(value, bool):
                raise TypeError(f"invalid {name}: {value!r} (must be a bool)")
        self.degenerated_to_sgd = degenerated_to_sgd
        self.n_sma_threshold = n_sma_threshold
        self.pre_norm = pre_norm
        self.foreach = foreach
        self.maximize = maximize
        self._norm_views: dict[torch.Tensor, tuple[torch.Tensor, ...]] = {}
        _FastOptimizer.__init__(self, params, defaults)

    def __str__(self) -> str:
        return "Lamb"

    @staticmethod
    def _plain(group: dict[str, Any]) -> dict[str, Any]:
        lr = group["lr"]
        return {**group, "lr": float(lr) if isinstance(lr, torch.Tensor) else lr}

    def _init_runtime(self) -> None:
        super()._init_runtime()
        self._norm_views = {}

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """torch's ``add_param_group``, with each param checked (a dense float32/float64 CPU tensor)
        and the group's options validated first."""
        gi = len(self.param_groups)
        params, tensors = group_params(param_group)
        for i, q in enumerate(tensors):
            where = f"param_groups[{gi}]['params'][{i}]"
            _check_param(q, where, "Lamb")
            if local(q).dtype not in (torch.float32, torch.float64):
                raise ValueError(f"{where}: has dtype {q.dtype}; fastoptim.torch.Lamb steps float32 and float64 "
                                 "params (use pytorch_optimizer.Lamb for others)")
        unknown = set(param_group) - set(self.defaults) - {"params", "param_names", "step"}
        if unknown:
            bad = sorted(unknown)
            raise ValueError(UNSUPPORTED[bad[0]] if bad[0] in UNSUPPORTED else
                             f"param_group: unknown option(s) {bad} for Lamb (it takes {', '.join(GROUP_OPTIONS)})")
        check_lamb_options(self._plain({**self.defaults, **param_group}))
        torch.optim.Optimizer.add_param_group(self, {**param_group, "params": params})
        self._plans.clear()

    def state_dict(self, format: str = "fastoptim") -> dict[str, Any]:  # noqa: A002
        """torch.optim's ``state_dict`` in pytorch_optimizer.Lamb's layout (the same for
        ``format="torch"``), the norms as 0-d tensors of their own."""
        if format not in ("fastoptim", "torch"):
            raise ValueError(f"format: 'fastoptim' or 'torch', got {format!r}")
        sd = torch.optim.Optimizer.state_dict(self)
        state = {}
        for k, v in sd["state"].items():
            entry = dict(v)
            for name in _NORMS:
                if isinstance(entry.get(name), torch.Tensor):
                    entry[name] = entry[name].clone()
            state[k] = entry
        sd["state"] = state
        return sd

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """torch's ``load_state_dict``, then every group and loaded state entry checked; on any
        error the optimizer is left as it was."""
        with self._step_lock:
            saved_groups = [dict(g) for g in self.param_groups]
            saved_state = {p: dict(s) for p, s in self.state.items()}
            try:
                torch.optim.Optimizer.load_state_dict(self, state_dict)
                for gi, group in enumerate(self.param_groups):
                    for key in UNSUPPORTED:
                        if group.get(key):
                            raise ValueError(f"state_dict: group {gi}: {UNSUPPORTED[key]}")
                    for key, value in self.defaults.items():  # pytorch_optimizer's groups lack ours
                        group.setdefault(key, value)
                    unknown = set(group) - set(self.defaults) - {"params", "param_names", "step"}
                    if unknown:
                        raise ValueError(f"state_dict: group {gi}: unknown option(s) {sorted(unknown)} for Lamb")
                    check_lamb_options(self._plain(group))
                    if "step" in group:
                        group["step"] = _step_value(group["step"], f"state_dict: group {gi}")
                    for p in group["params"]:
                        if p in self.state and self.state[p]:
                            self._checked_state(p, self.state[p])
            except Exception:
                self.__dict__["state"] = StateTable(saved_state, self._state_changed)
                self.param_groups[:] = saved_groups
                raise
            self._wrap_state()

    # -- state -----------------------------------------------------------------------------------
    def _fresh_state(self, p: torch.Tensor) -> dict[str, Any]:
        state: dict[str, Any] = {"exp_avg": torch.zeros_like(p, memory_format=torch.contiguous_format),
                                 "exp_avg_sq": torch.zeros_like(p, memory_format=torch.contiguous_format)}
        backing = torch.zeros(3, dtype=p.dtype)
        views = tuple(backing[j] for j in range(3))
        state.update(zip(_NORMS, views))
        self._norm_views[p] = views
        return state

    def _norms_of(self, p: torch.Tensor, state: dict[str, Any]) -> np.ndarray:
        """The 3-element memory the step writes p's norms into; state entries that are not this
        optimizer's views (loaded, or written by the user) are replaced by fresh views."""
        views = self._norm_views.get(p)
        if views is None or any(state.get(k) is not v for k, v in zip(_NORMS, views)):
            backing = torch.zeros(3, dtype=p.dtype)
            for j, k in enumerate(_NORMS):
                if k in state:
                    backing[j] = float(state[k])
            views = tuple(backing[j] for j in range(3))
            state.update(zip(_NORMS, views))
            self._norm_views[p] = views
        return views[0]._base.numpy()  # type: ignore[union-attr]

    def _checked_state(self, p: torch.Tensor, state: dict[str, Any]) -> None:
        """``p``'s state must hold pytorch_optimizer's entries: moments shaped like ``p`` (another
        float dtype or a non-contiguous layout is replaced by a contiguous copy in p's dtype),
        norms that are numbers."""
        unknown = set(state) - {"exp_avg", "exp_avg_sq", *_NORMS}
        if unknown:
            raise ValueError(f"Lamb: unknown state {sorted(unknown)} (it keeps exp_avg, exp_avg_sq, "
                             f"{', '.join(_NORMS)})")
        for key in ("exp_avg", "exp_avg_sq"):
            contiguous_state(state, key, p, tuple(p.shape), "Lamb")
        for key in _NORMS:
            if key in state:
                v = state[key]
                if isinstance(v, torch.Tensor) and v.numel() != 1 or not isinstance(v, (torch.Tensor, int, float)):
                    raise ValueError(f"Lamb: state[{key!r}] must be a number or a 1-element tensor, got "
                                     f"{type(v).__name__}")

    # -- stepping --------------------------------------------------------------------------------
    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # type: ignore[override]
        """One Lamb step of every param that has a gradient, as pytorch_optimizer.Lamb's (every
        group's ``step`` advances, also in groups without gradients)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        with self._step_lock:
            if type(self.__dict__.get("state")) is not StateTable:
                self._wrap_state()
            params, grads, ms, vs, norms, hypers, counters, index = [], [], [], [], [], [], [], []
            works: list[ContiguousWork] = []
            for gi, group in enumerate(self.param_groups):
                plain = self._plain(group)
                check_lamb_options(plain)  # options may have been changed through param_groups
                counter = np.array([_step_value(group.get("step", 0), f"param_groups[{gi}]")], np.int64)
                counters.append(counter)
                hypers.append(lamb_hyper(plain, counter, self.maximize, self.clamp))
                for i, p in enumerate(group["params"]):
                    if p.grad is None:
                        continue
                    g = p.grad
                    if g.is_sparse:
                        raise RuntimeError("Lamb does not support sparse gradients")
                    if local(p) is not p:
                        raise ValueError("Lamb: DTensor (FSDP2) params are not supported by fastoptim's Lamb (its "
                                         "norms span shards); use pytorch_optimizer.Lamb")
                    check_grad_matches(p, f"param_groups[{gi}]['params'][{i}]")
                    state = self.state[p]
                    if not state:
                        state.update(self._fresh_state(p))
                    self._checked_state(p, state)
                    works.append(ContiguousWork(p.detach(), write=True))
                    params.append(works[-1].work.numpy())
                    grads.append(g.detach().contiguous().numpy())
                    ms.append(state["exp_avg"].numpy())
                    vs.append(state["exp_avg_sq"].numpy())
                    norms.append(self._norms_of(p, state))
                    index.append(len(hypers) - 1)
            mgn, eps = float(self.defaults["max_grad_norm"]), float(self.defaults["eps"])
            with deferred_interrupt():  # the group steps written back (and copies): the step whole
                _core.lamb_step(params, grads, ms, vs, norms, hypers, index, (mgn, eps) if self.pre_norm else None)
                for w in works:
                    w.done()
                for group, counter in zip(self.param_groups, counters):
                    group["step"] = int(counter[0])
        return loss
