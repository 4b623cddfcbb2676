"""LAMB (You et al. 2019) with ``pytorch_optimizer.Lamb``'s arguments, defaults, formulas and
state keys: the NumPy class and the functional op.

LAMB is not an element-wise rule of the registry: each param's step is scaled by a trust ratio
made from two norms over the whole tensor, known only after every element's moments are
updated. The C++ step (``cpp/matrix/lamb_step.cpp``) makes two passes over all tensors of a
step (one for tensors whose trust ratio is 1; one more, over the gradients, with ``pre_norm``);
this module owns the groups, the state and the checkpoints, reusing :class:`fastoptim.Optimizer`.

Per param and group step t (``G`` the gradient, negated with ``maximize``, times the pre-norm
scale ``s = min(max_grad_norm/(‖all gradients‖ + eps), 1)`` with ``pre_norm``)::

    m  ← β1·m + β3·G                  β3 = 1 − β1 (grad_averaging) or 1
    v  ← β2·v + (1 − β2)·G²
    p  ← p·(1 − wd·lr)                decoupled weight decay (1 − wd with fixed_decay)
    u  = m/(√v + eps)  [+ wd·p]       coupled weight decay (weight_decouple=False)
    ‖p‖' = min(‖p‖, clamp);  trust = ‖p‖'/(‖u‖ + eps), or 1 where ‖p‖ or ‖u‖ is 0
    p  ← p − step_size·trust·u        step_size = lr/(1 − β1^t), or lr with adam_debias

``adam=True`` (a group excluded from adaptation) and ``always_adapt=False`` with
``weight_decay == 0`` fix the trust ratio at 1 (the norms are still recorded). State per param:
``exp_avg``, ``exp_avg_sq``, ``weight_norm``, ``adam_norm``, ``trust_ratio``; the step count
``step`` lives in the group, as pytorch_optimizer keeps it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from . import _core
from .flat_params import aligned_full_like
from .optimizer import Optimizer, StepResult, _float_array, _GroupState, _step_count, check_float_params

LAMB_KEYS = ("lr", "betas", "weight_decay", "weight_decouple", "fixed_decay", "grad_averaging", "adam", "eps")
"""Group options every pytorch_optimizer.Lamb checkpoint has."""
GROUP_OPTIONS = ("lr", "betas", "weight_decay", "weight_decouple", "fixed_decay", "rectify", "grad_averaging",
                 "max_grad_norm", "adam", "eps", "adam_debias", "always_adapt")
"""Every group option of fastoptim's Lamb (pytorch_optimizer's, plus ``adam_debias`` which it reads
from its extra keyword arguments, plus fastoptim's ``always_adapt``)."""
_FLAGS = ("weight_decouple", "fixed_decay", "rectify", "grad_averaging", "adam", "adam_debias", "always_adapt")
_STATE = ("exp_avg", "exp_avg_sq")
_NORMS = ("weight_norm", "adam_norm", "trust_ratio")
CLAMP = 10.0
"""pytorch_optimizer's ``Lamb.clamp``: the largest weight norm the trust ratio uses."""
UNSUPPORTED = {
    "rectify": "rectify=True (RAdam-style rectification) is not supported by fastoptim's Lamb; use "
               "pytorch_optimizer.Lamb for it",
    "adanorm": "adanorm (AdaNorm gradient scaling) is not supported by fastoptim's Lamb; use pytorch_optimizer.Lamb",
}


def _number(value: Any, name: str) -> float:
    if hasattr(value, "item") and not isinstance(value, (int, float)):  # a NumPy or torch scalar
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"invalid {name}: {value!r} (must be a finite number)")
    return float(value)


def check_extra_kwargs(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """pytorch_optimizer.Lamb's extra keyword arguments that fastoptim honours (``adam_debias``);
    any other raises naming it (pytorch_optimizer would store it in the groups, and ``adanorm``
    changes the update: fastoptim refuses rather than ignore it)."""
    out = {}
    for key, value in kwargs.items():
        if key == "adam_debias":
            out[key] = value
        elif key in UNSUPPORTED:
            raise ValueError(UNSUPPORTED[key])
        else:
            raise TypeError(f"Lamb: unexpected keyword argument {key!r} (fastoptim's Lamb takes "
                            f"{', '.join(GROUP_OPTIONS)}, pre_norm, maximize and foreach)")
    return out


def check_lamb_options(group: Mapping[str, Any]) -> None:
    """Raise naming the option if a group's Lamb options are invalid (pytorch_optimizer's ranges:
    lr >= 0, betas in [0, 1), weight_decay, max_grad_norm and eps >= 0; flags are bools;
    ``rectify=True`` is refused)."""
    if _number(group["lr"], "lr") < 0:
        raise ValueError(f"invalid lr: {group['lr']} (must be >= 0)")
    betas = group["betas"]
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"invalid betas: {betas!r} (must be a pair (beta1, beta2))")
    for k, b in enumerate(betas):
        if not 0.0 <= _number(b, f"beta{k + 1}") < 1.0:
            raise ValueError(f"invalid beta{k + 1}: {b} (must be in [0, 1))")
    for name in ("weight_decay", "max_grad_norm", "eps"):
        if _number(group[name], name) < 0:
            raise ValueError(f"invalid {name}: {group[name]} (must be >= 0)")
    for name in _FLAGS:
        if not isinstance(group[name], (bool, np.bool_)):
            raise TypeError(f"invalid {name}: {group[name]!r} (must be a bool)")
    if group["rectify"]:
        raise ValueError(UNSUPPORTED["rectify"])


def lamb_hyper(group: Mapping[str, Any], counter: np.ndarray, maximize: bool,
               clamp: float = CLAMP) -> tuple[Any, ...]:
    """The C++ step's hyperparameter tuple of a group (options already validated)."""
    b1, b2 = group["betas"]
    return (_number(group["lr"], "lr"), float(b1), float(b2), float(group["eps"]), float(group["weight_decay"]),
            float(clamp), bool(group["weight_decouple"]), bool(group["fixed_decay"]), bool(group["grad_averaging"]),
            bool(group["adam"]), bool(group["adam_debias"]), bool(group["always_adapt"]), bool(maximize), counter)


class Lamb(Optimizer):
    """LAMB (``pytorch_optimizer.Lamb``'s arguments, defaults, formulas and state keys).

    Args:
        params: arrays (as for every fastoptim optimizer) or parameter-group dicts.
        lr: learning rate (default 1e-3).
        betas: decay rates of the first and second moments (default (0.9, 0.999)).
        weight_decay: weight decay coefficient (default 0).
        weight_decouple: decoupled decay ``p ← p·(1 − lr·wd)`` (default); False adds ``wd·p``
            to the Adam update u (inside the trust ratio's norm).
        fixed_decay: decoupled decay without the learning rate, ``p ← p·(1 − wd)``.
        rectify: must be False (RAdam-style rectification is refused).
        degenerated_to_sgd, n_sma_threshold: pytorch_optimizer's rectification settings; accepted
            (they only matter with ``rectify``).
        grad_averaging: scale the gradient in the first moment by ``1 − β1`` (default True).
        max_grad_norm: the reference norm of ``pre_norm`` (default 1; 0 disables the scaling).
        adam: trust ratio 1 for the group (exclusion from adaptation).
        pre_norm: scale all gradients by ``min(max_grad_norm/(‖g‖ + eps), 1)``, ``‖g‖`` the global
            norm (one more read pass over the gradients). Uses the defaults' max_grad_norm and eps.
        eps: added to √v and to ‖u‖ (default 1e-6).
        maximize: ascend instead of descend.
        adam_debias: True: ``step_size = lr`` (no first-moment bias correction); False (default):
            ``lr/(1 − β1^t)``.
        always_adapt: fastoptim's extension: False fixes the trust ratio at 1 for groups whose
            weight_decay is 0 (the usual exclusion of biases and norms); default True, as
            pytorch_optimizer always adapts.

    float32/float64 params; the step is one C++ call over all groups. The fused gradient
    pipeline of the element-wise rules (grad_scale, max_grad_norm, skip_nonfinite), compact
    state formats and ema_decay are not offered for Lamb.
    """

    rule = "lamb"
    clamp: float = CLAMP

    def __init__(self, params: Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 weight_decay: float = 0.0, weight_decouple: bool = True, fixed_decay: bool = False,
                 rectify: bool = False, degenerated_to_sgd: bool = False, n_sma_threshold: int = 5,
                 grad_averaging: bool = True, max_grad_norm: float = 1.0, adam: bool = False, pre_norm: bool = False,
                 eps: float = 1e-6, maximize: bool = False, *, adam_debias: bool = False,
                 always_adapt: bool = True) -> None:
        for name, value in (("pre_norm", pre_norm), ("maximize", maximize), ("degenerated_to_sgd", degenerated_to_sgd)):
            if not isinstance(value, (bool, np.bool_)):
                raise TypeError(f"invalid {name}: {value!r} (must be a bool)")
        self.pre_norm = bool(pre_norm)
        self.maximize = bool(maximize)
        self.degenerated_to_sgd = bool(degenerated_to_sgd)
        self.n_sma_threshold = n_sma_threshold
        super().__init__(params, {"lr": lr, "betas": tuple(betas) if isinstance(betas, list) else betas,
                                  "weight_decay": weight_decay, "weight_decouple": weight_decouple,
                                  "fixed_decay": fixed_decay, "rectify": rectify, "grad_averaging": grad_averaging,
                                  "max_grad_norm": max_grad_norm, "adam": adam, "eps": eps,
                                  "adam_debias": adam_debias, "always_adapt": always_adapt})

    # -- what the base asks of a rule ------------------------------------------------------------
    @property
    def _checkpoint_keys(self) -> tuple[str, ...]:
        return LAMB_KEYS

    def _check_group(self, group: Mapping[str, Any]) -> None:
        check_lamb_options(group)
        check_float_params(group, "Lamb")

    def _sync_plan(self, group: Mapping[str, Any], gs: _GroupState) -> list:
        """The group's state buffers, made once: the moments and each param's three norms."""
        if not gs.buffers:
            arrays = gs.layout.arrays
            gs.buffers = {"exp_avg": [aligned_full_like(a, 0.0) for a in arrays],
                          "exp_avg_sq": [aligned_full_like(a, 0.0) for a in arrays],
                          "norms": [np.zeros(3, a.dtype) for a in arrays]}
        return []

    # -- stepping --------------------------------------------------------------------------------
    def step(self, grads: Any = None) -> StepResult:  # type: ignore[override]
        """One Lamb step of every param from ``grads`` (same structure as the params), validated
        completely before anything is written; one C++ call for all groups."""
        with self._lock:
            per_group = self._split_grads(grads)
            params, gl, ms, vs, norms, hypers, index = [], [], [], [], [], [], []
            for group, gs, g in zip(self.param_groups, self._groups, per_group):
                self._check_group(group)  # options may have been changed through param_groups
                self._sync_plan(group, gs)
                hypers.append(lamb_hyper(group, gs.counter, self.maximize, self.clamp))
                for i, a in enumerate(gs.layout.arrays):
                    params.append(a)
                    gl.append(g[i])
                    ms.append(gs.buffers["exp_avg"][i])
                    vs.append(gs.buffers["exp_avg_sq"][i])
                    norms.append(gs.buffers["norms"][i])
                    index.append(len(hypers) - 1)
            pre = self._pre_norm()
            _core.lamb_step(params, gl, ms, vs, norms, hypers, index, pre)
            self.last_step = StepResult(None, False, False)
            return self.last_step

    def _pre_norm(self) -> tuple[float, float] | None:
        if not self.pre_norm:
            return None
        mgn, eps = _number(self.defaults["max_grad_norm"], "max_grad_norm"), _number(self.defaults["eps"], "eps")
        if mgn < 0 or eps < 0:
            raise ValueError(f"pre_norm: max_grad_norm ({mgn}) and eps ({eps}) of the defaults must be >= 0")
        return (mgn, eps)

    # -- state and checkpoints -------------------------------------------------------------------
    @property
    def state(self) -> dict[int, dict[str, Any]]:
        """Per-parameter state (views), once stepped: ``exp_avg``, ``exp_avg_sq`` and the last
        step's ``weight_norm``, ``adam_norm``, ``trust_ratio`` (0-d arrays of the param's dtype).
        The step count is the group's (``state_dict()["param_groups"][i]["step"]``)."""
        out: dict[int, dict[str, Any]] = {}
        idx = 0
        for gs in self._groups:
            for i in range(len(gs.layout.arrays)):
                entry: dict[str, Any] = {}
                if gs.step > 0 and gs.buffers:
                    entry.update({k: gs.buffers[k][i] for k in _STATE})
                    n = gs.buffers["norms"][i]
                    entry.update({k: n[j:j + 1].reshape(()) for j, k in enumerate(_NORMS)})
                out[idx] = entry
                idx += 1
        return out

    @property
    def group_steps(self) -> list[int]:
        """Each group's step count."""
        return [gs.step for gs in self._groups]

    def state_dict(self) -> dict[str, Any]:
        """pytorch_optimizer.Lamb's layout: ``{"state": {index: {exp_avg, exp_avg_sq, weight_norm,
        adam_norm, trust_ratio}}, "param_groups": [{..., "step": int, "params": [indices]}]}``
        (deep copies), plus ``"fastoptim_format"`` and ``"rule"``."""
        sd = super().state_dict()
        with self._lock:
            for g, gs in zip(sd["param_groups"], self._groups):
                g["step"] = gs.step
        return sd

    def _stage_group(self, gi: int, saved: Mapping[str, Any], entries: list[Mapping[str, Any]],
                     step: int) -> tuple[dict[str, Any], _GroupState]:
        group, old = self.param_groups[gi], self._groups[gi]
        where = f"state_dict: group {gi}"
        if "step" in saved:  # pytorch_optimizer keeps the count in the group
            step = _step_count(saved["step"], where)
        ignored = {"params", "param_names", "step", "foreach", "names"}
        unknown = set(saved) - set(self.defaults) - ignored
        for key in sorted(unknown):
            if key in UNSUPPORTED and saved[key]:
                raise ValueError(f"{where}: {UNSUPPORTED[key]}")
        new_group = {**group, **{k: v for k, v in saved.items() if k in self.defaults}}
        if isinstance(new_group.get("betas"), list):
            new_group["betas"] = tuple(new_group["betas"])
        new_group["params"] = old.layout.arrays
        self._check_group(new_group)
        gs = _GroupState(old.layout, np.array([step], np.int64))
        self._sync_plan(new_group, gs)
        for i, (a, e) in enumerate(zip(old.layout.arrays, entries)):
            extra = set(e) - {"step", *_STATE, *_NORMS}
            if extra:
                raise ValueError(f"{where}, param {i}: unknown state {sorted(extra)} for Lamb (it keeps "
                                 f"{[*_STATE, *_NORMS]})")
            held = [k for k in _STATE if k in e]
            if held and len(held) != len(_STATE):
                raise ValueError(f"{where}, param {i}: has {held} but not {sorted(set(_STATE) - set(held))}")
            if step > 0 and not held and any(e.get(k) is not None for k in _STATE):
                raise ValueError(f"{where}, param {i}: has step {step} but no moments")
            for k in held:
                np.copyto(gs.buffers[k][i], _float_array(e[k], f"{where}, param {i}: state {k!r}", a.shape),
                          casting="unsafe")
            for j, k in enumerate(_NORMS):
                if k in e:
                    gs.buffers["norms"][i][j] = _number(e[k], f"{where}, param {i}: state {k!r}")
        return new_group, gs

    def state_bytes(self) -> int:
        """Bytes held by the optimizer state (the two moments and three norms per param)."""
        return sum(b.nbytes for gs in self._groups for bufs in gs.buffers.values() for b in bufs)


def lamb_(params: Sequence[np.ndarray], grads: Sequence[np.ndarray], exp_avgs: Sequence[np.ndarray],
          exp_avg_sqs: Sequence[np.ndarray], *, step: int, lr: float = 1e-3,
          betas: tuple[float, float] = (0.9, 0.999), weight_decay: float = 0.0, weight_decouple: bool = True,
          fixed_decay: bool = False, grad_averaging: bool = True, adam: bool = False, adam_debias: bool = False,
          always_adapt: bool = True, eps: float = 1e-6, maximize: bool = False, pre_norm: bool = False,
          max_grad_norm: float = 1.0, clamp: float = CLAMP) -> np.ndarray:
    """One Lamb step (``pytorch_optimizer.Lamb``'s formulas, see :mod:`fastoptim.lamb`) over
    caller-owned params and moments, in place, one C++ call. ``step`` is the 1-based step
    number. Every buffer and option is checked before anything is written.

    Returns:
        float64 array of shape (len(params), 3): each param's weight_norm, adam_norm and
        trust_ratio (as computed, also where ``adam`` fixes the applied ratio at 1).
    """
    options = {"lr": lr, "betas": tuple(betas), "weight_decay": weight_decay, "weight_decouple": weight_decouple,
               "fixed_decay": fixed_decay, "rectify": False, "grad_averaging": grad_averaging,
               "max_grad_norm": max_grad_norm, "adam": adam, "eps": eps, "adam_debias": adam_debias,
               "always_adapt": always_adapt}
    check_lamb_options(options)
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 1:
        raise ValueError(f"invalid step: {step!r} (must be an int >= 1)")
    if not isinstance(maximize, (bool, np.bool_)) or not isinstance(pre_norm, (bool, np.bool_)):
        raise TypeError("maximize and pre_norm must be bools")
    if not (isinstance(clamp, (int, float)) and clamp >= 0):
        raise ValueError(f"invalid clamp: {clamp!r} (must be >= 0)")
    params = list(params)
    norms = [np.zeros(3, p.dtype if isinstance(p, np.ndarray) and p.dtype in (np.float32, np.float64)
                      else np.float64) for p in params]
    counter = np.array([step - 1], np.int64)
    _core.lamb_step(params, list(grads), list(exp_avgs), list(exp_avg_sqs), norms,
                    [lamb_hyper(options, counter, maximize, clamp)], [0] * len(params),
                    (float(max_grad_norm), float(eps)) if pre_norm else None)
    return np.array([n.astype(np.float64) for n in norms]).reshape(len(params), 3)
