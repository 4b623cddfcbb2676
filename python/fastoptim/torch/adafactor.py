"""``fastoptim.torch.Adafactor``: torch.optim.Adafactor (torch 2.13) on fastoptim's C++ step.

Same constructor (``lr=1e-2, beta2_decay=-0.8, eps=(None, 1e-3), d=1.0, weight_decay=0.0, *,
foreach=None, maximize=False``), same errors (torch's constructor checks the arguments), same
state (``step`` as a scalar tensor, ``row_var`` (..., R, 1) and ``col_var`` (..., 1, C) for
params of ≥ 2 dims, ``variance`` for the others), so checkpoints move both ways. float32 and
float64 params go through one C++ call per step (three passes, see ``fastoptim.adafactor``);
float16/bfloat16 params are stepped by torch's own for-loop (its semantics: arithmetic in
the param's dtype). ``foreach`` is accepted and ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from .. import _core
from ..adafactor import adafactor_hyper, state_shapes
from ..interrupts import deferred_interrupt_if
from .classes import validate_like_torch
from .layout import ContiguousWork, local
from .optimizer import _check_param, _FastOptimizer, _scalar_dtype, check_grad_matches, contiguous_state, group_params
from .state_table import StateTable

_LOW = (torch.float16, torch.bfloat16)
_OPTIONS = ("lr", "beta2_decay", "eps", "d", "weight_decay", "foreach", "maximize")


class Adafactor(_FastOptimizer):
    """torch.optim.Adafactor on fastoptim's kernel (same arguments, defaults, errors and state).

    See :class:`fastoptim.Adafactor` for the formula. CPU tensors; float32/float64 in fastoptim's
    step (non-contiguous ones through a contiguous copy), float16/bfloat16 through torch's own
    for-loop; complex params and sparse gradients raise torch's RuntimeError at ``step``.
    """

    _rule = "adafactor"
    descriptor = None  # type: ignore[assignment]  # not a registry rule
    # GradScaler unscales the gradients itself for this class (torch's Adafactor refuses a
    # grad_scale inside its step).
    _step_supports_amp_scaling = False

    def __init__(self, params: Any, lr: float | torch.Tensor = 1e-2, beta2_decay: float = -0.8,
                 eps: tuple[float | None, float] = (None, 1e-3), d: float = 1.0, weight_decay: float = 0.0, *,
                 foreach: bool | None = None, maximize: bool = False) -> None:
        options = {"lr": lr, "beta2_decay": beta2_decay, "eps": eps, "d": d, "weight_decay": weight_decay,
                   "foreach": foreach, "maximize": maximize}
        validate_like_torch("Adafactor", options)
        _FastOptimizer.__init__(self, params, options)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """torch's ``add_param_group``, with each param checked to be a dense CPU tensor first."""
        gi = len(self.param_groups)
        params, tensors = group_params(param_group)
        for i, p in enumerate(tensors):
            _check_param(p, f"param_groups[{gi}]['params'][{i}]")
        torch.optim.Optimizer.add_param_group(self, {**param_group, "params": params})
        self._plans.clear()

    def state_dict(self, format: str = "fastoptim") -> dict[str, Any]:  # noqa: A002
        """torch.optim's ``state_dict`` (the same for ``format="torch"``: Adafactor has no extras)."""
        if format not in ("fastoptim", "torch"):
            raise ValueError(f"format: 'fastoptim' or 'torch', got {format!r}")
        sd = torch.optim.Optimizer.state_dict(self)
        sd["state"] = {k: dict(v) if isinstance(v, dict) else v for k, v in sd["state"].items()}
        return sd

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """torch's ``load_state_dict``, then every loaded state entry checked against its param;
        on any error the optimizer is left as it was."""
        with self._step_lock:
            saved_groups = [dict(g) for g in self.param_groups]
            saved_state = {p: dict(s) for p, s in self.state.items()}
            try:
                torch.optim.Optimizer.load_state_dict(self, state_dict)
                for group in self.param_groups:
                    for key in _OPTIONS:  # a checkpoint of an older torch may lack some
                        group.setdefault(key, self.defaults[key])
                    for p in group["params"]:
                        if p in self.state and self.state[p]:
                            self._checked_state(p, self.state[p])
            except Exception:
                self.__dict__["state"] = StateTable(saved_state, self._state_changed)
                self.param_groups[:] = saved_groups
                raise
            self._wrap_state()

    # -- state -----------------------------------------------------------------------------------
    @staticmethod
    def _fresh_state(p: torch.Tensor) -> dict[str, Any]:
        state: dict[str, Any] = {"step": torch.tensor(0.0, dtype=_scalar_dtype())}
        if p.dim() > 1:
            shapes = state_shapes(tuple(p.shape))
            state["row_var"] = p.new_zeros(shapes["row_var"])
            state["col_var"] = p.new_zeros(shapes["col_var"])
        else:
            state["variance"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        return state

    def _checked_state(self, p: torch.Tensor, state: dict[str, Any]) -> None:
        """``p``'s state must hold exactly torch's entries for its shape; tensors of another
        float dtype or memory layout are replaced by contiguous copies in the param's dtype."""
        shapes = state_shapes(tuple(p.shape))
        unknown = set(state) - {"step", *shapes}
        if unknown:
            raise ValueError(f"Adafactor: state {sorted(unknown)} of a parameter of shape {tuple(p.shape)}; it keeps "
                             f"'step' and {sorted(shapes)}")
        for key, shape in shapes.items():
            contiguous_state(state, key, p, shape, "Adafactor")
        step = state.get("step")
        if not (isinstance(step, torch.Tensor) and step.dtype in (torch.float32, torch.float64, torch.int64)
                and step.device.type == "cpu" and step.numel() == 1 and not step.requires_grad):
            try:
                value = float(step)  # type: ignore[arg-type]
            except (TypeError, ValueError) as exc:
                raise ValueError(f"Adafactor: state['step'] must be a number, got {type(step).__name__}") from exc
            state["step"] = torch.tensor(value, dtype=_scalar_dtype())

    # -- stepping --------------------------------------------------------------------------------
    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # type: ignore[override]
        """One Adafactor step of every param that has a gradient, as torch.optim.Adafactor's."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        with self._step_lock:
            if type(self.__dict__.get("state")) is not StateTable:
                self._wrap_state()
            params, grads, rows, cols, variances, counters, hypers, index = [], [], [], [], [], [], [], []
            works: list[ContiguousWork] = []
            low: list[tuple[dict[str, Any], list[torch.Tensor], float]] = []
            for gi, group in enumerate(self.param_groups):
                active = [p for p in group["params"] if p.grad is not None]
                if not active:
                    continue
                for i, p in enumerate(group["params"]):
                    if p.grad is None:
                        continue
                    if torch.is_complex(p):
                        raise RuntimeError("Adafactor does not support complex parameters")
                    if p.grad.is_sparse:
                        raise RuntimeError("Adafactor does not support sparse gradients")
                    if local(p) is not p:
                        raise ValueError("Adafactor: DTensor (FSDP2) params are not supported by fastoptim's "
                                         "Adafactor (its row and column statistics span shards); use torch.optim")
                    check_grad_matches(p, f"param_groups[{gi}]['params'][{i}]")
                eps1 = group["eps"][0]
                if eps1 is None:  # torch's for-loop takes the first param's dtype for the whole group
                    eps1 = torch.finfo(active[0].dtype).eps
                lows = [p for p in active if p.dtype in _LOW]
                if lows:
                    low.append((group, lows, eps1))
                fast = [p for p in active if p.dtype not in _LOW]
                if not fast:
                    continue
                lr = group["lr"]
                hyper = {**group, "lr": float(lr) if isinstance(lr, torch.Tensor) else lr,
                         "eps": (eps1, group["eps"][1])}
                hypers.append(adafactor_hyper(hyper, np.float64))
                for p in fast:
                    state = self.state[p]
                    if not state:
                        state.update(self._fresh_state(p))
                    self._checked_state(p, state)
                    works.append(ContiguousWork(p.detach(), write=True))
                    params.append(works[-1].work.numpy())
                    grads.append(p.grad.detach().contiguous().numpy())
                    rows.append(state["row_var"].numpy() if "row_var" in state else None)
                    cols.append(state["col_var"].numpy() if "col_var" in state else None)
                    variances.append(state["variance"].numpy() if "variance" in state else None)
                    counters.append(state["step"].numpy().reshape(1))
                    index.append(len(hypers) - 1)
            copies = any(w.copied for w in works)
            with deferred_interrupt_if(copies or bool(low)):  # copies back, 16-bit params: the step whole
                if params:
                    _core.adafactor_step(params, grads, rows, cols, variances, counters, hypers, index)
                    for w in works:
                        w.done()
                for group, lows, eps1 in low:  # 16-bit params: torch's own for-loop
                    for p in lows:
                        if not self.state[p]:
                            self.state[p].update(self._fresh_state(p))
                    st = [self.state[p] for p in lows]
                    torch.optim._adafactor.adafactor(
                        lows, [p.grad for p in lows], [s.get("row_var") for s in st], [s.get("col_var") for s in st],
                        [s.get("variance") for s in st], [s["step"] for s in st], foreach=False, d=group["d"],
                        lr=group["lr"], beta2_decay=group["beta2_decay"], weight_decay=group["weight_decay"], eps1=eps1,
                        eps2=group["eps"][1], maximize=group["maximize"])
        return loss
