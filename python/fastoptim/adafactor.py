"""Adafactor (``torch.optim.Adafactor`` of torch 2.13): the NumPy class and the functional op.

Adafactor is not an element-wise rule of the registry: its step needs the param's norm, the row
and column sums of g² over the last two dims, and the norm of the update before any param is
written. The C++ step (``cpp/matrix/``) makes three passes over the params and gradients; this
module owns the groups, the state (torch's keys ``row_var``/``col_var`` for params of ≥ 2 dims,
``variance`` for the others, ``step``) and the checkpoints, reusing :class:`fastoptim.Optimizer`.

Per param and step t (``G`` = the gradient, negated with ``maximize``)::

    ρ = min(lr, 1/√t);   α = max(eps[1], ‖p‖/√numel)·ρ;   w = t^beta2_decay
    p ← p·(1 − lr·weight_decay)
    ≥ 2 dims:  row_var ← lerp(row_var, mean(G², dim=-1), w);  col_var ← lerp(col_var, mean(G², dim=-2), w)
               V = row_var·col_var / max(mean(row_var, dim=-2), eps[0])
    else:      variance ← lerp(variance, G², w);  V = variance
    U = G / √max(V, eps[0]²);   p ← p − α/max(1, RMS(U)/d) · U

``eps[0] = None`` means the machine epsilon of the params' dtype (of a group's first param, as
torch's for-loop takes it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from . import _core
from .flat_params import aligned_full_like
from .optimizer import Optimizer, StepResult, _float_array, _GroupState, check_float_params

ADAFACTOR_KEYS = ("lr", "beta2_decay", "eps", "d", "weight_decay")
_STATE_KEYS = ("row_var", "col_var", "variance")


def _number(value: Any, name: str) -> float:
    if hasattr(value, "item") and not isinstance(value, (int, float)):  # a NumPy or torch scalar
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"invalid {name}: {value!r} (must be a finite number)")
    return float(value)


def check_adafactor_options(group: Mapping[str, Any]) -> None:
    """Raise ValueError naming the option if a group's Adafactor options are out of range
    (torch's ranges: lr >= 0, beta2_decay <= 0, eps[0] None or >= 0, eps[1] >= 0, d >= 1,
    weight_decay >= 0)."""
    lr = _number(group["lr"], "lr")
    if lr < 0:
        raise ValueError(f"invalid lr: {lr} (must be >= 0)")
    if _number(group["beta2_decay"], "beta2_decay") > 0:
        raise ValueError(f"invalid beta2_decay: {group['beta2_decay']} (must be <= 0)")
    eps = group["eps"]
    if not isinstance(eps, (tuple, list)) or len(eps) != 2:
        raise ValueError(f"invalid eps: {eps!r} (must be a pair (eps1 or None, eps2))")
    if eps[0] is not None and _number(eps[0], "eps[0]") < 0:
        raise ValueError(f"invalid eps[0]: {eps[0]} (must be None or >= 0)")
    if _number(eps[1], "eps[1]") < 0:
        raise ValueError(f"invalid eps[1]: {eps[1]} (must be >= 0)")
    if _number(group["d"], "d") < 1:
        raise ValueError(f"invalid d: {group['d']} (must be >= 1)")
    if _number(group["weight_decay"], "weight_decay") < 0:
        raise ValueError(f"invalid weight_decay: {group['weight_decay']} (must be >= 0)")


def adafactor_hyper(group: Mapping[str, Any], dtype: Any) -> tuple[float, float, float, float, float, float, bool]:
    """The C++ step's hyperparameter tuple of a group (eps[0] None: ``dtype``'s machine epsilon)."""
    eps1, eps2 = group["eps"]
    if eps1 is None:
        eps1 = float(np.finfo(dtype).eps)
    return (float(group["lr"]), float(group["beta2_decay"]), float(eps1), float(eps2), float(group["d"]),
            float(group["weight_decay"]), bool(group["maximize"]))


def state_shapes(shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
    """torch's Adafactor state of a param of ``shape``: row_var (..., R, 1) and col_var
    (..., 1, C) for ≥ 2 dims, else variance shaped like the param."""
    if len(shape) >= 2:
        return {"row_var": (*shape[:-1], 1), "col_var": (*shape[:-2], 1, shape[-1])}
    return {"variance": tuple(shape)}


class Adafactor(Optimizer):
    """Adafactor (``torch.optim.Adafactor``'s arguments, defaults, formulas and state keys).

    Args:
        params: arrays (as for every fastoptim optimizer) or parameter-group dicts.
        lr: the largest relative step size ρ, and the weight decay's coefficient (default 1e-2).
        beta2_decay: β̂2 = 1 − t^beta2_decay (default -0.8).
        eps: (eps1, eps2): eps1 floors the variance estimate (None: the dtype's machine
            epsilon), eps2 the RMS of the param that scales the step (default (None, 1e-3)).
        d: the update clipping threshold on RMS(U) (default 1.0).
        weight_decay: decoupled, p ← p·(1 − lr·weight_decay) (default 0).
        maximize: ascend instead of descend.

    float32/float64 params; the step is one C++ call over all groups (three passes). The fused
    gradient pipeline of the element-wise rules (grad_scale, max_grad_norm, skip_nonfinite),
    compact state formats and ema_decay are not offered for Adafactor.
    """

    rule = "adafactor"

    def __init__(self, params: Any, lr: float = 1e-2, beta2_decay: float = -0.8,
                 eps: tuple[float | None, float] = (None, 1e-3), d: float = 1.0, weight_decay: float = 0.0, *,
                 maximize: bool = False) -> None:
        super().__init__(params, {"lr": lr, "beta2_decay": beta2_decay,
                                  "eps": tuple(eps) if isinstance(eps, list) else eps, "d": d,
                                  "weight_decay": weight_decay, "maximize": maximize})

    # -- what the base asks of a rule ------------------------------------------------------------
    @property
    def _checkpoint_keys(self) -> tuple[str, ...]:
        return ADAFACTOR_KEYS

    def _check_group(self, group: Mapping[str, Any]) -> None:
        check_adafactor_options(group)
        check_float_params(group, "Adafactor")

    def _sync_plan(self, group: Mapping[str, Any], gs: _GroupState) -> list:
        """The group's state buffers (torch's shapes), made once; Adafactor has no StepPlan."""
        if not gs.buffers:
            gs.buffers = {k: [] for k in _STATE_KEYS}
            for a in gs.layout.arrays:
                shapes = state_shapes(a.shape)
                for k in _STATE_KEYS:
                    gs.buffers[k].append(aligned_full_like(np.empty(shapes[k], a.dtype), 0.0)
                                         if k in shapes else None)
        return []

    # -- stepping --------------------------------------------------------------------------------
    def step(self, grads: Any = None) -> StepResult:  # type: ignore[override]
        """One Adafactor step of every param from ``grads`` (same structure as the params),
        validated completely before anything is written; one C++ call for all groups."""
        with self._lock:
            per_group = self._split_grads(grads)
            params, gl, rows, cols, variances, counters, hypers, index = [], [], [], [], [], [], [], []
            for group, gs, g in zip(self.param_groups, self._groups, per_group):
                self._sync_plan(group, gs)
                if not gs.layout.arrays:
                    continue
                self._check_group(group)  # options may have been changed through param_groups
                hypers.append(adafactor_hyper(group, gs.layout.arrays[0].dtype))
                for i, a in enumerate(gs.layout.arrays):
                    params.append(a)
                    gl.append(g[i])
                    rows.append(gs.buffers["row_var"][i])
                    cols.append(gs.buffers["col_var"][i])
                    variances.append(gs.buffers["variance"][i])
                    counters.append(gs.counter)
                    index.append(len(hypers) - 1)
            _core.adafactor_step(params, gl, rows, cols, variances, counters, hypers, index)
            self.last_step = StepResult(None, False, False)
            return self.last_step

    # -- state and checkpoints -------------------------------------------------------------------
    @property
    def state(self) -> dict[int, dict[str, Any]]:
        """Per-parameter state (views): ``step`` and, once stepped, ``row_var``/``col_var`` or ``variance``."""
        out: dict[int, dict[str, Any]] = {}
        idx = 0
        for gs in self._groups:
            for i in range(len(gs.layout.arrays)):
                entry: dict[str, Any] = {"step": gs.step}
                if gs.step > 0 and gs.buffers:
                    entry.update({k: gs.buffers[k][i] for k in _STATE_KEYS if gs.buffers[k][i] is not None})
                out[idx] = entry
                idx += 1
        return out

    def _stage_group(self, gi: int, saved: Mapping[str, Any], entries: list[Mapping[str, Any]],
                     step: int) -> tuple[dict[str, Any], _GroupState]:
        group, old = self.param_groups[gi], self._groups[gi]
        new_group = {**group, **{k: v for k, v in saved.items() if k not in ("params", "param_names")}}
        if isinstance(new_group.get("eps"), list):
            new_group["eps"] = tuple(new_group["eps"])
        new_group["params"] = old.layout.arrays
        self._check_group(new_group)
        where = f"state_dict: group {gi}"
        gs = _GroupState(old.layout, np.array([step], np.int64))
        self._sync_plan(new_group, gs)
        for i, (a, e) in enumerate(zip(old.layout.arrays, entries)):
            shapes = state_shapes(a.shape)
            unknown = set(e) - {"step", *shapes}
            if unknown:
                raise ValueError(f"{where}, param {i}: unknown state {sorted(unknown)} for Adafactor and a param of "
                                 f"shape {a.shape} (it keeps {sorted(shapes)})")
            held = [k for k in shapes if k in e]
            if step > 0 and len(held) != len(shapes):
                raise ValueError(f"{where}, param {i}: has step {step} but lacks {sorted(set(shapes) - set(held))}")
            for k in held:
                value = _float_array(e[k], f"{where}, param {i}: state {k!r}", shapes[k])
                np.copyto(gs.buffers[k][i], value, casting="unsafe")
        return new_group, gs

    def state_bytes(self) -> int:
        """Bytes held by the optimizer state (the row and column factors and the variances)."""
        return sum(b.nbytes for gs in self._groups for bufs in gs.buffers.values() for b in bufs if b is not None)


def adafactor_(params: Sequence[np.ndarray], grads: Sequence[np.ndarray],
               state: Mapping[str, Sequence[np.ndarray | None]], *, step: int, lr: float = 1e-2,
               beta2_decay: float = -0.8, eps: tuple[float | None, float] = (None, 1e-3), d: float = 1.0,
               weight_decay: float = 0.0, maximize: bool = False) -> None:
    """One Adafactor step (``torch.optim.Adafactor``'s formulas) over caller-owned params and
    state, in place, one C++ call.

    ``state`` maps torch's keys ``"row_var"``, ``"col_var"`` and ``"variance"`` to one entry per
    param: row_var (..., R, 1) and col_var (..., 1, C) for params of ≥ 2 dims (their variance
    entry None), variance shaped like the param for the others (row/col entries None); a key
    may be left out when every param has None there. ``step`` is the 1-based step number.
    Every buffer and option is checked before anything is written.
    """
    options = {"lr": lr, "beta2_decay": beta2_decay, "eps": tuple(eps), "d": d, "weight_decay": weight_decay,
               "maximize": maximize}
    check_adafactor_options(options)
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 1:
        raise ValueError(f"invalid step: {step!r} (must be an int >= 1)")
    n = len(params)
    unknown = set(state) - set(_STATE_KEYS)
    if unknown:
        raise ValueError(f"state: unknown keys {sorted(unknown)} (Adafactor keeps {list(_STATE_KEYS)})")
    lists = {k: list(state.get(k, [None] * n)) for k in _STATE_KEYS}
    counter = np.array([step - 1], np.int64)
    dtype = params[0].dtype if n else np.float32
    _core.adafactor_step(list(params), list(grads), lists["row_var"], lists["col_var"], lists["variance"],
                         [counter] * n, [adafactor_hyper(options, dtype)], [0] * n)
