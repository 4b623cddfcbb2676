"""The optimizer base class: parameter groups, state, steps and checkpoints.

Subclasses (SGD, Adagrad, RMSprop, Adam, AdamW) only say which update rule they run, how
their hyperparameters map onto it, and which state buffers it needs. Everything numeric
per element happens in ``fastoptim._core``; this layer validates structure and owns state.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

import numpy as np

from . import _core
from .flat_params import aligned_full_like
from .mixed_precision import check_group_dtypes, master_copy
from .param_structure import GroupLayout, group_layout, is_group_list
from .quantized_state import Quantized8, bf16_full_like, quantized_state


class StepResult(NamedTuple):
    """What a step did.

    Attributes:
        grad_norm: global L2 norm of the (unscaled) gradients, when it was computed
            (``max_grad_norm`` or ``skip_nonfinite`` given), else ``None``.
        found_inf: a gradient was Inf or NaN (only known when the norm was computed).
        skipped: the step was skipped because of ``found_inf`` with ``skip_nonfinite``;
            params, state and the step count are then untouched.
    """

    grad_norm: float | None
    found_inf: bool
    skipped: bool


_PLAIN_STEP = StepResult(None, False, False)


@dataclass
class _GroupState:
    layout: GroupLayout
    step: int = 0
    buffers: dict[str, list[np.ndarray]] = field(default_factory=dict)
    initialized: set[str] = field(default_factory=set)  # buffers that hold data (SGD momentum)
    # StepPlans with the indices of the params each steps (None: all of them); two when some
    # params keep 8-bit block-wise state and the small ones 32-bit state.
    plans: list[tuple[Any, list[int] | None]] = field(default_factory=list)
    plan_key: Any = None
    masters: list[np.ndarray] | None = None  # float32 master weights of 16-bit params

    @property
    def stepped(self) -> list[np.ndarray]:
        """The float arrays the kernels update: the masters in mixed precision, else the params."""
        return self.masters if self.masters is not None else self.layout.arrays


class Optimizer:
    """Base class. Construct a subclass (:class:`~fastoptim.Adam`, ...), not this.

    Args:
        params: an array, a list or dict of arrays, a :class:`~fastoptim.FlatParams`, or a
            list of parameter-group dicts ``{"params": ..., <hyperparameter overrides>}``.
        defaults: hyperparameters of every group unless a group overrides them.
    """

    rule: ClassVar[str]

    def __init__(self, params: Any, defaults: dict[str, Any]) -> None:
        self.defaults = dict(defaults)
        self.param_groups: list[dict[str, Any]] = []
        self._groups: list[_GroupState] = []
        self._grouped = is_group_list(params)
        self.last_step: StepResult | None = None
        for g in (params if self._grouped else [{"params": params}]):
            self.add_param_group(dict(g))

    # -- what subclasses provide ---------------------------------------------------------------
    def _hyper(self, group: Mapping[str, Any]) -> tuple[float, ...]:
        """Hyperparameters in the order ``_core.rule_hyper_names(rule)`` lists them."""
        raise NotImplementedError

    def _flags(self, group: Mapping[str, Any]) -> tuple[bool, bool, bool]:
        """(maximize, nesterov, decoupled weight decay)."""
        return (bool(group["maximize"]), False, False)

    def _state_fill(self, group: Mapping[str, Any]) -> dict[str, float]:
        """State buffers this group needs now, with the value each starts at."""
        raise NotImplementedError

    def _structure_key(self, group: Mapping[str, Any]) -> tuple:
        """What decides flags and state buffers; the StepPlan is rebuilt when it changes."""
        return (group["maximize"],)

    def _check_extra(self, group: Mapping[str, Any]) -> None:
        """Validation of options that are not kernel hyperparameters."""

    def _kernel_step(self, gs: _GroupState) -> int:
        """The 1-based step number the kernel is given for the coming step."""
        return gs.step + 1

    # -- groups ----------------------------------------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group ``{"params": ..., **overrides}``; missing hyperparameters take the defaults."""
        if "params" not in param_group:
            raise ValueError("param_group: must have a 'params' entry")
        where = f"param_groups[{len(self.param_groups)}]['params']" if self._grouped else "params"
        unknown = set(param_group) - set(self.defaults) - {"params", "names"}
        if unknown:
            raise ValueError(f"param_group: unknown option(s) {sorted(unknown)} for {type(self).__name__}")
        layout = group_layout(param_group["params"], where)
        self._check_not_shared(layout, where)
        group = {**self.defaults, **param_group, "params": layout.arrays}
        if layout.names is not None:
            group["names"] = layout.names
        self._check_group(group)
        gs = _GroupState(layout)
        if check_group_dtypes(layout.arrays, where):
            gs.masters = [master_copy(a) for a in layout.arrays]
        self._sync_plan(group, gs)  # validates every buffer before the group is added
        if self.param_groups:
            self._grouped = True
        self.param_groups.append(group)
        self._groups.append(gs)

    def _check_not_shared(self, layout: GroupLayout, where: str) -> None:
        for gi, other in enumerate(self._groups):
            for a in layout.arrays:
                for b in other.layout.arrays:
                    if np.may_share_memory(a, b):
                        raise ValueError(f"{where}: a parameter shares memory with one in group {gi}; "
                                         "a parameter may belong to one group only")

    def _check_group(self, group: Mapping[str, Any]) -> None:
        maximize, nesterov, decoupled = self._flags(group)
        _core.check_hyper(self.rule, self._hyper(group), maximize, nesterov, decoupled)
        self._check_extra(group)

    def _sync_plan(self, group: Mapping[str, Any], gs: _GroupState) -> list[tuple[Any, list[int] | None]]:
        """The group's StepPlans, rebuilt if flags or the set of state buffers changed."""
        key = self._structure_key(group)
        if gs.plans and key == gs.plan_key:
            return gs.plans
        fill = self._state_fill(group)
        flags = self._flags(group)
        arrays = gs.stepped
        eight = [bool(fill) and gs.masters is None and quantized_state(group, a) for a in arrays]
        buffers = {}
        half = group.get("state_bits", 32) == 16

        def fits(b: Any, a: np.ndarray, e: bool) -> bool:  # an existing buffer of the wanted kind
            if e or isinstance(b, Quantized8):
                return e and isinstance(b, Quantized8)
            return b.dtype.itemsize == (2 if half else a.dtype.itemsize)

        for name, value in fill.items():
            old = gs.buffers.get(name)
            if old is not None and all(fits(b, a, e) for b, a, e in zip(old, arrays, eight)):
                buffers[name] = old
            else:
                buffers[name] = [Quantized8.zeros(p.size) if e else bf16_full_like(p, value) if half
                                 else aligned_full_like(p, value) for p, e in zip(arrays, eight)]
                gs.initialized.discard(name)
        small = [i for i, e in enumerate(eight) if not e]
        large = [i for i, e in enumerate(eight) if e]
        plans: list[tuple[Any, list[int] | None]] = []
        if small:
            sub = None if not large else small
            outputs = None if gs.masters is None else [gs.layout.arrays[i] for i in small]
            plans.append((_core.StepPlan(self.rule, [arrays[i] for i in small],
                                         {n: [b[i] for i in small] for n, b in buffers.items()}, *flags,
                                         outputs=outputs, stochastic_rounding=bool(group.get("stochastic_rounding")),
                                         seed=int(group.get("seed", 0))), sub))
        if large:
            codes = {n: [b[i].codes for i in large] for n, b in buffers.items()}
            scales = {n: [b[i].scales for i in large] for n, b in buffers.items()}
            plans.append((_core.BlockPlan(self.rule, [arrays[i] for i in large], codes, scales, *flags,
                                          seed=int(group["seed"])), None if not small else large))
        gs.buffers, gs.plans, gs.plan_key = buffers, plans, key
        gs.initialized &= set(buffers)
        return plans

    # -- stepping -------------------------------------------------------------------------------
    def _split_grads(self, grads: Any) -> list[list[np.ndarray]]:
        if not self._grouped:
            return [self._groups[0].layout.grads(grads, "grads")]
        if grads is None and all(gs.layout.kind == "flat" for gs in self._groups):
            return [gs.layout.grads(None, f"grads[{i}]") for i, gs in enumerate(self._groups)]
        if not isinstance(grads, (list, tuple)) or len(grads) != len(self._groups):
            raise ValueError(f"grads: with {len(self._groups)} parameter groups, pass a list with one "
                             "entry per group, each shaped like that group's params")
        return [gs.layout.grads(g, f"grads[{i}]") for i, (gs, g) in enumerate(zip(self._groups, grads))]

    def step(self, grads: Any = None, *, grad_scale: float = 1.0, max_grad_norm: float | None = None,
             skip_nonfinite: bool = False) -> StepResult:
        """Update every parameter in place from ``grads`` (same structure as the params).

        Args:
            grads: gradients mirroring the params argument (``None`` for a FlatParams arena).
            grad_scale: the loss scale the gradients carry; they are divided by it on the fly
                (never written back).
            max_grad_norm: clip the gradients by their global L2 norm over all groups, as
                ``torch.nn.utils.clip_grad_norm_`` does, inside the same pass.
            skip_nonfinite: if any gradient is Inf/NaN, skip the step (nothing written),
                as torch's GradScaler does.

        All inputs are validated before anything is written.
        """
        if len(self._groups) == 1 and len(self._groups[0].plans) == 1:  # the lean path: one C++ call
            gs, group = self._groups[0], self.param_groups[0]
            (plan, _), = self._sync_plan(group, gs)
            norm, found_inf = plan.step(gs.layout.grads(grads, "grads"), self._hyper(group),
                                        self._kernel_step(gs), grad_scale, max_grad_norm, skip_nonfinite)
            if found_inf and skip_nonfinite:
                result = StepResult(norm, True, True)
            else:
                self._advance(gs)
                result = _PLAIN_STEP if norm is None else StepResult(norm, found_inf, False)
            self.last_step = result
            return result
        per_group = self._split_grads(grads)
        need_stats = max_grad_norm is not None or skip_nonfinite
        group_plans = [self._sync_plan(group, gs) for group, gs in zip(self.param_groups, self._groups)]
        _core.grad_multiplier(0.0, grad_scale, max_grad_norm)  # validates both before loading
        plans = []
        for parts, group, gs, g in zip(group_plans, self.param_groups, self._groups, per_group):
            for plan, idx in parts:
                plan.load(g if idx is None else [g[i] for i in idx], self._hyper(group), self._kernel_step(gs))
                plans.append(plan)
        norm, found_inf, gmul = None, False, 1.0 / grad_scale
        if need_stats:
            sum_squares = 0.0
            for plan in plans:
                s, finite = plan.grad_stats()
                sum_squares += s
                found_inf |= not finite
            norm, gmul = _core.grad_multiplier(sum_squares, grad_scale, max_grad_norm)
        skipped = found_inf and skip_nonfinite
        if not skipped:
            for plan in plans:
                plan.apply(gmul)
            for gs in self._groups:
                self._advance(gs)
        self.last_step = StepResult(norm, found_inf, skipped)
        return self.last_step

    def _advance(self, gs: _GroupState) -> None:
        gs.step += 1
        if len(gs.initialized) != len(gs.buffers):
            gs.initialized.update(gs.buffers)

    # -- state and checkpoints -----------------------------------------------------------------
    @property
    def state(self) -> dict[int, dict[str, Any]]:
        """Per-parameter state (views, not copies), keyed by the parameter's index across groups."""
        out: dict[int, dict[str, Any]] = {}
        idx = 0
        for gs in self._groups:
            for i in range(len(gs.layout.arrays)):
                entry: dict[str, Any] = {"step": gs.step}
                for name in sorted(gs.initialized & set(gs.buffers)):
                    entry[name] = gs.buffers[name][i]
                if gs.masters is not None:
                    entry["master_param"] = gs.masters[i]
                out[idx] = entry
                idx += 1
        return out

    def state_dict(self) -> dict[str, Any]:
        """A deep copy of the state and hyperparameters, torch.optim's layout: ``{"state":
        {param_index: {"step": int, <buffers>}}, "param_groups": [{..., "params": [indices]}]}``."""
        groups, idx = [], 0
        for group in self.param_groups:
            n = len(group["params"])
            g = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            g["params"] = list(range(idx, idx + n))
            groups.append(g)
            idx += n
        state = {i: {k: (v.copy() if isinstance(v, (np.ndarray, Quantized8)) else v) for k, v in entry.items()}
                 for i, entry in self.state.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict`; the next step continues the saved run bit for bit.

        Everything is checked (group count, parameter counts, buffer shapes) before anything
        is changed. Buffers are copied into the existing state arrays.
        """
        if not isinstance(state_dict, Mapping) or "state" not in state_dict or "param_groups" not in state_dict:
            raise ValueError("state_dict: expected a mapping with 'state' and 'param_groups'")
        saved_groups, saved_state = state_dict["param_groups"], state_dict["state"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"state_dict: has {len(saved_groups)} parameter groups, this optimizer "
                             f"{len(self.param_groups)}")
        plan: list[tuple[dict[str, Any], _GroupState, dict[str, Any], list[int]]] = []
        for gi, (saved, group, gs) in enumerate(zip(saved_groups, self.param_groups, self._groups)):
            ids = list(saved["params"])
            if len(ids) != len(group["params"]):
                raise ValueError(f"state_dict: group {gi} has {len(ids)} params, this optimizer "
                                 f"{len(group['params'])}")
            new_group = {**group, **{k: v for k, v in saved.items() if k != "params"}}
            self._check_group(new_group)
            steps = {int(saved_state[i]["step"]) for i in ids if i in saved_state}
            if len(steps) > 1:
                raise ValueError(f"state_dict: group {gi} mixes step counts {sorted(steps)}")
            for i, p in zip(ids, group["params"]):
                for name, value in saved_state.get(i, {}).items():
                    if name == "step":
                        continue
                    if name == "master_param":
                        if gs.masters is None or np.shape(value) != p.shape:
                            raise ValueError(f"state_dict: param {i} has float32 master weights of shape "
                                             f"{np.shape(value)}; this optimizer "
                                             + ("keeps none (its params are not 16-bit)" if gs.masters is None
                                                else f"needs {p.shape}"))
                        continue
                    if name not in _core.rule_state_names(self.rule):
                        raise ValueError(f"state_dict: unknown state {name!r} for param {i}")
                    if isinstance(value, Quantized8) != quantized_state(new_group, p):
                        raise ValueError(f"state_dict: state {name!r} of param {i} is "
                                         f"{'8' if isinstance(value, Quantized8) else '32'}-bit, this "
                                         f"optimizer keeps it {'8' if quantized_state(new_group, p) else '32'}-bit")
                    shape = (value.codes.size,) if isinstance(value, Quantized8) else np.shape(value)
                    if shape != (p.shape if not isinstance(value, Quantized8) else (p.size,)):
                        raise ValueError(f"state_dict: state {name!r} of param {i} has shape {shape}, "
                                         f"the param {p.shape}")
            plan.append((new_group, gs, saved_state, ids))
        for gi, (new_group, gs, saved_state_, ids) in enumerate(plan):
            new_group["params"] = gs.layout.arrays
            self.param_groups[gi] = new_group
            first = saved_state_.get(ids[0], {}) if ids else {}
            gs.step = int(first.get("step", 0))
            if gs.masters is not None:
                for i, master, p in zip(ids, gs.masters, gs.layout.arrays):
                    saved_master = saved_state_.get(i, {}).get("master_param")
                    np.copyto(master, master_copy(p) if saved_master is None else np.asarray(saved_master))
            self._sync_plan(new_group, gs)
            gs.initialized = set()
            for name, arrays in gs.buffers.items():
                if all(name in saved_state_.get(i, {}) for i in ids):
                    for i, buf in zip(ids, arrays):
                        if isinstance(buf, Quantized8):
                            buf.load(saved_state_[i][name], f"state_dict: state {name!r} of param {i}")
                        else:
                            np.copyto(buf, np.asarray(saved_state_[i][name]), casting="same_kind")
                    gs.initialized.add(name)
                else:
                    fill = self._state_fill(new_group)[name]
                    for buf in arrays:
                        if isinstance(buf, Quantized8):
                            buf.load(Quantized8.zeros(buf.codes.size), "state")
                        else:
                            buf.fill(fill)

    def state_bytes(self) -> int:
        """Bytes held by the optimizer state: buffers, 8-bit codes and scales, float32 master weights."""
        masters = sum(m.nbytes for gs in self._groups for m in (gs.masters or []))
        return masters + sum(b.nbytes for gs in self._groups for bufs in gs.buffers.values() for b in bufs)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_groups"] = [_GroupState(gs.layout, gs.step, gs.buffers, gs.initialized, masters=gs.masters)
                            for gs in self._groups]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        for group, gs in zip(self.param_groups, self._groups):
            group["params"] = gs.layout.arrays
            self._sync_plan(group, gs)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(g):
                if k not in ("params", "names"):
                    lines.append(f"    {k}: {g[k]}")
        lines.append(")")
        return "\n".join(lines)
