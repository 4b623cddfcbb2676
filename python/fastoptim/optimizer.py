"""The optimizer base class: parameter groups, state, steps and checkpoints.

The optimizer classes (``fastoptim.SGD``, ``fastoptim.Adam``, ...) are built from the rule
registry (:mod:`fastoptim.rules`, see :mod:`fastoptim.rule_classes`): each only names its rule
descriptor, which says how group options map onto the kernel's hyperparameters and which state
buffers the rule needs. Everything numeric per element happens in ``fastoptim._core``; this
layer validates structure and owns state.
"""

from __future__ import annotations

import copy
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

import numpy as np

from . import _core
from .flat_params import aligned_full_like
from .interrupts import deferred_interrupt_if
from .mixed_precision import check_group_dtypes, master_copy
from .param_structure import GroupLayout, group_layout, is_group_list
from .quantized_state import Quantized8, bf16_full_like, bfloat16_dtype, check_state_bits, quantized_state
from .rules.descriptor import RuleDescriptor, kernel_value


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
    # The group's step count, a 1-element int64 array that the C++ step advances itself, in
    # the same call that applies the step: a KeyboardInterrupt cannot separate the two.
    counter: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))
    buffers: dict[str, list[np.ndarray]] = field(default_factory=dict)
    # The step count at which each buffer was created: it holds data once the count passed it
    # (SGD's momentum buffer starts as the first gradient). -1: loaded from a checkpoint.
    born: dict[str, int] = field(default_factory=dict)
    # StepPlans with the indices of the params each steps (None: all of them); two when some
    # params keep 8-bit block-wise state and the small ones 32-bit state.
    plans: list[tuple[Any, list[int] | None]] = field(default_factory=list)
    plan_key: Any = None
    masters: list[np.ndarray] | None = None  # float32 master weights of 16-bit params
    # The rule's scalar state (NAdam's mu_product, ASGD's eta and mu), one float32 value per
    # group in a 1-element array the C++ step reads and rewrites.
    scalars: dict[str, np.ndarray] = field(default_factory=dict)
    # The average of the weights (ema_decay), one array per param, and how many steps it holds.
    ema: list[np.ndarray] | None = None
    ema_steps: int = 0

    @property
    def step(self) -> int:
        return self.counter.item()

    @property
    def initialized(self) -> set[str]:
        """The buffers that hold data."""
        step = self.step
        return {name for name in self.buffers if step > self.born.get(name, 0)}

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
    descriptor: ClassVar[RuleDescriptor]
    # Group keys the class fixes (AdamW: decoupled_weight_decay=True); not arguments.
    _fixed: ClassVar[dict[str, Any]] = {}

    def __init__(self, params: Any, defaults: dict[str, Any]) -> None:
        self._lock = threading.Lock()  # one step (or load) at a time; other threads wait
        self.defaults = {**dict(defaults), **self._fixed}
        self.param_groups: list[dict[str, Any]] = []
        self._groups: list[_GroupState] = []
        self._grouped = is_group_list(params)
        self.last_step: StepResult | None = None
        for g in (params if self._grouped else [{"params": params}]):
            self.add_param_group(dict(g))

    # -- the rule, from its descriptor -------------------------------------------------------------
    @property
    def _checkpoint_keys(self) -> tuple[str, ...]:
        """Options every checkpoint of this optimizer (and of its torch.optim namesake) carries;
        one that lacks any is refused as a checkpoint of another optimizer."""
        return self.descriptor.checkpoint_keys

    @property
    def _required_buffers(self) -> tuple[str, ...]:
        """State buffers that exist whenever a param has any state (options add the others)."""
        return self.descriptor.required_buffers()

    def _hyper(self, group: Mapping[str, Any]) -> tuple[float, ...]:
        """Hyperparameters in the order ``_core.rule_hyper_names(rule)`` lists them (the step
        hands the group itself to C++, which reads them by these names)."""
        return tuple(kernel_value(group, name) for name in self.descriptor.kernel_names())

    def _flags(self, group: Mapping[str, Any]) -> tuple[bool, dict[str, bool]]:
        """(maximize, {C++ option: value}) of a group."""
        return (bool(group["maximize"]), {o: bool(group[key]) for o, key in self.descriptor.options.items()})

    def _state_fill(self, group: Mapping[str, Any]) -> dict[str, float]:
        """State buffers this group needs now, with the value each starts at."""
        return {b.name: b.start(group) for b in self.descriptor.buffers_for(group)}

    def _structure_key(self, group: Mapping[str, Any]) -> tuple:
        """What decides flags and state buffers; the StepPlan is rebuilt when it changes."""
        keys = self.descriptor.structure_keys()
        return (tuple(bool(group[k]) for k in keys), group["state_bits"], group.get("min_8bit_size"),
                group["stochastic_rounding"], group["seed"])

    def _check_extra(self, group: Mapping[str, Any]) -> None:
        """Validation of options that are not kernel hyperparameters."""
        spec = _core.rule_spec(self.rule)
        maximize, options = self._flags(group)
        present = [b.present(group) for b in self.descriptor.buffers]
        ok8 = not any(present) or _core.block8_supports(self.rule, options, present)  # no state: nothing to keep
        check_state_bits(group, ok8, f"for {type(self).__name__} with these options "
                         f"(8-bit state: {spec['block8_variants'] or 'none for this rule'})")
        if self.descriptor.check is not None:
            self.descriptor.check(group)
        decay = group.get("ema_decay")
        if decay is not None and (isinstance(decay, bool) or not isinstance(decay, (int, float))
                                  or not 0.0 <= decay <= 1.0):
            raise ValueError(f"invalid ema_decay: {decay!r} (must be None or in [0, 1])")

    def _state_names(self) -> tuple[str, ...]:
        """Every per-element state buffer the optimizer may keep (checkpoints hold no others)."""
        return tuple(_core.rule_state_names(self.rule))

    def _scalar_state_names(self) -> tuple[str, ...]:
        """The scalar state (one number per group: NAdam's mu_product...)."""
        return tuple(_core.rule_spec(self.rule)["scalar_state"])

    def _kernel_step(self, gs: _GroupState) -> int:
        """The 1-based step number the kernel is given for the coming step."""
        if self.descriptor.stepless:  # the kernel copies the gradient into a fresh buffer on step 1
            return gs.step + 1 if gs.buffers and set(gs.buffers) <= gs.initialized else 1
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
        maximize, options = self._flags(group)
        _core.check_hyper(self.rule, self._hyper(group), maximize, options)
        self._check_extra(group)

    def _sync_plan(self, group: Mapping[str, Any], gs: _GroupState) -> list[tuple[Any, list[int] | None]]:
        """The group's StepPlans, rebuilt if flags or the set of state buffers changed."""
        key = self._structure_key(group)
        if gs.plans and key == gs.plan_key:
            if gs.counter[0] == 0:
                self._start_state(group, gs)
            return gs.plans
        if gs.plans:  # an option changed through param_groups since the last step: check it first
            self._check_group(group)
        if gs.masters is not None and group.get("state_bits") == 8:
            raise ValueError("state_bits: 8-bit state needs float32 params; this group's params are 16-bit "
                             "(stepped through float32 masters): use state_bits=16 (bfloat16 state) or 32")
        fill = self._state_fill(group)
        maximize, options = self._flags(group)
        arrays = gs.stepped
        eight = [bool(fill) and gs.masters is None and quantized_state(group, a) for a in arrays]
        buffers = {}
        half = group.get("state_bits", 32) == 16

        def fits(b: Any, a: np.ndarray, e: bool) -> bool:  # an existing buffer of the wanted kind
            if e or isinstance(b, Quantized8):
                return e and isinstance(b, Quantized8)
            return b.dtype.itemsize == (2 if half else a.dtype.itemsize)

        born = {}
        live = gs.initialized
        names = _core.rule_spec(self.rule)["scalar_state"]
        scalars = gs.scalars if set(gs.scalars) == set(names) else {
            n: np.zeros(1, self.descriptor.scalar_state_dtype) for n in names}
        for name, value in fill.items():
            old = gs.buffers.get(name)
            if old is not None and all(fits(b, a, e) for b, a, e in zip(old, arrays, eight)):
                buffers[name], born[name] = old, gs.born.get(name, 0)
            elif old is not None and name in live:
                raise ValueError(f"state_bits: the group's state {name!r} holds data in another format "
                                 "(state_bits or min_8bit_size changed after steps were taken); changing "
                                 "the state format of a running optimizer would discard its state. Set it "
                                 "back, or build a new optimizer with the new format")
            else:
                buffers[name] = [Quantized8.zeros(p.size) if e else bf16_full_like(p, value) if half
                                 else aligned_full_like(p, value) for p, e in zip(arrays, eight)]
                if name in self.descriptor.copied_buffers():  # starts as the params (schedule-free's z)
                    for b, a in zip(buffers[name], arrays):
                        b[...] = a
                born[name] = gs.step
        small = [i for i, e in enumerate(eight) if not e]
        large = [i for i, e in enumerate(eight) if e]
        plans: list[tuple[Any, list[int] | None]] = []
        if small:
            sub = None if not large else small
            outputs = None if gs.masters is None else [gs.layout.arrays[i] for i in small]
            state = {n: [b[i] for i in small] for n, b in buffers.items()}
            state.update({n: [a] for n, a in scalars.items()})
            plans.append((_core.StepPlan(self.rule, [arrays[i] for i in small], state, maximize, options,
                                         outputs=outputs, stochastic_rounding=bool(group.get("stochastic_rounding")),
                                         seed=int(group.get("seed", 0))), sub))
        if large:
            codes = {n: [b[i].codes for i in large] for n, b in buffers.items()}
            scales = {n: [b[i].scales for i in large] for n, b in buffers.items()}
            plans.append((_core.BlockPlan(self.rule, [arrays[i] for i in large], codes, scales, maximize, options,
                                          seed=int(group["seed"])), None if not small else large))
        gs.buffers, gs.born, gs.plans, gs.plan_key, gs.scalars = buffers, born, plans, key, scalars
        if gs.counter[0] == 0:
            self._start_state(group, gs)
        return plans

    def _start_state(self, group: Mapping[str, Any], gs: _GroupState) -> None:
        """Before the first step, state starts from the group's options as they are then (torch
        creates it lazily at the first step: an lr changed by a scheduler's constructor counts)."""
        for name, value in zip(gs.scalars, _core.rule_start_scalar_state(self.rule, self._hyper(group))):
            gs.scalars[name][0] = value
        fill = self._state_fill(group)
        copied = self.descriptor.copied_buffers()
        for name, bufs in gs.buffers.items():
            if gs.born.get(name, 0) == 0 and (fill.get(name, 0.0) != 0.0 or name in copied):
                for b, a in zip(bufs, gs.stepped):
                    if not isinstance(b, Quantized8):
                        b[...] = a if name in copied else fill[name]

    # -- train and eval modes (schedule-free) ---------------------------------------------------
    def _switch_mode(self, to_train: bool) -> None:
        spec = self.descriptor.train_eval
        if spec is None:
            raise TypeError(f"{type(self).__name__} has no train/eval modes (schedule-free optimizers do)")
        name, weight = spec
        with self._lock:
            for group, gs in zip(self.param_groups, self._groups):
                if bool(group.get("train_mode")) == to_train:
                    continue
                w = float(weight(group, to_train))
                self._sync_plan(group, gs)
                for i, (p, z) in enumerate(zip(gs.stepped, gs.buffers[name])):
                    zf = np.asarray(z, dtype=p.dtype)
                    p[...] = p + w * (zf - p) if abs(w) < 0.5 else zf - (zf - p) * (1 - w)  # torch.lerp
                    if gs.masters is not None:
                        np.copyto(gs.layout.arrays[i], p, casting="unsafe")
                group["train_mode"] = to_train

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
        if self.descriptor.train_eval is not None and not all(g.get("train_mode") for g in self.param_groups):
            raise RuntimeError("Optimizer was not in train mode when step is called: call optimizer.train() "
                               "before stepping and optimizer.eval() before evaluating (schedule-free)")
        with self._lock:
            if len(self._groups) == 1 and not self._grouped:  # the lean path: one group, one C++ call
                gs, group = self._groups[0], self.param_groups[0]
                parts = self._sync_plan(group, gs)
                if len(parts) == 1:
                    with deferred_interrupt_if(group.get("ema_decay") is not None):  # the average: the step whole
                        norm, found_inf, skipped = _core.step_plans(
                            [parts[0][0]], [gs.layout.grads(grads, "grads")], [group],
                            [self._kernel_step(gs)], [gs.counter], grad_scale, max_grad_norm, skip_nonfinite)
                        if not skipped:
                            self._update_ema()
                    result = _PLAIN_STEP if norm is None else StepResult(norm, found_inf, skipped)
                    self.last_step = result
                    return result
            per_group = self._split_grads(grads)
            plans, plan_grads, hypers, steps = [], [], [], []
            for group, gs, g in zip(self.param_groups, self._groups, per_group):
                parts = self._sync_plan(group, gs)
                hyper, step = group, self._kernel_step(gs)  # C++ reads the hyperparameters by name
                for plan, idx in parts:
                    plans.append(plan)
                    plan_grads.append(g if idx is None else [g[i] for i in idx])
                    hypers.append(hyper)
                    steps.append(step)
            # One C++ call: every group validated, then all stepped and every count advanced (and
            # the averages of weights after it, before a Ctrl-C is let through).
            with deferred_interrupt_if(any(g.get("ema_decay") is not None for g in self.param_groups)):
                norm, found_inf, skipped = _core.step_plans(
                    plans, plan_grads, hypers, steps, [gs.counter for gs in self._groups], grad_scale,
                    max_grad_norm, skip_nonfinite)
                if not skipped:
                    self._update_ema()
            self.last_step = _PLAIN_STEP if norm is None else StepResult(norm, found_inf, skipped)
            return self.last_step

    def _update_ema(self) -> None:
        """The averages of the groups with ``ema_decay``, after a step (one C++ call per group)."""
        for group, gs in zip(self.param_groups, self._groups):
            decay = group.get("ema_decay")
            if decay is None:
                continue
            arrays = gs.stepped
            if gs.ema is None:
                gs.ema, gs.ema_steps = [aligned_full_like(a, 0.0) for a in arrays], 0
            _core.ema_update(gs.ema, arrays, float(decay), gs.ema_steps == 0)
            gs.ema_steps += 1

    # -- state and checkpoints -----------------------------------------------------------------
    @property
    def state(self) -> dict[int, dict[str, Any]]:
        """Per-parameter state (views, not copies), keyed by the parameter's index across groups."""
        out: dict[int, dict[str, Any]] = {}
        idx = 0
        for gs in self._groups:
            for i in range(len(gs.layout.arrays)):
                entry: dict[str, Any] = {"step": gs.step}
                if gs.step > 0:  # torch's scalar state, as plain numbers (its tensors load too)
                    entry.update({name: float(a[0]) for name, a in gs.scalars.items()})
                for name in sorted(gs.initialized):
                    entry[name] = gs.buffers[name][i]
                if gs.masters is not None:
                    entry["master_param"] = gs.masters[i]
                if gs.ema is not None:
                    entry["ema"], entry["ema_steps"] = gs.ema[i], gs.ema_steps
                out[idx] = entry
                idx += 1
        return out

    def state_dict(self) -> dict[str, Any]:
        """A deep copy of the state and hyperparameters, torch.optim's layout: ``{"state":
        {param_index: {"step": int, <buffers>}}, "param_groups": [{..., "params": [indices]}]}``,
        plus ``"fastoptim_format"`` (the checkpoint format version) and ``"rule"``."""
        with self._lock:
            groups, idx = [], 0
            for group in self.param_groups:
                n = len(group["params"])
                g = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
                g["params"] = list(range(idx, idx + n))
                groups.append(g)
                idx += n
            state = {i: {k: (v.copy() if isinstance(v, (np.ndarray, Quantized8)) else v) for k, v in entry.items()}
                     for i, entry in self.state.items()}
        return {"state": state, "param_groups": groups, "fastoptim_format": CHECKPOINT_FORMAT, "rule": self.rule}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict` (or torch.optim's of the same rule); the next step
        continues the saved run bit for bit.

        Everything is validated first: the format version and rule, group and parameter
        counts, option values, state keys, buffer names, dtypes (real floating point; bfloat16
        state as bfloat16), shapes, 8-bit scales (finite, >= 0), step counts (integers in
        ``[0, 2**53]``, one per group). Only then are new state buffers swapped in; on any
        error (``ValueError``/``TypeError`` naming the entry) the optimizer is unchanged.
        """
        with self._lock:
            staged = [self._stage_group(gi, *entry) for gi, entry in enumerate(_checkpoint_groups(self, state_dict))]
            # Nothing above changed the optimizer; from here on nothing can fail.
            for gi, (new_group, gs) in enumerate(staged):
                self.param_groups[gi] = new_group
                self._groups[gi] = gs

    def _stage_group(self, gi: int, saved: Mapping[str, Any], entries: list[Mapping[str, Any]],
                     step: int) -> tuple[dict[str, Any], _GroupState]:
        """The group and its state as the checkpoint has them, built aside and validated."""
        group, old = self.param_groups[gi], self._groups[gi]
        new_group = {**group, **{k: v for k, v in saved.items() if k not in ("params", "param_names")}}
        new_group["params"] = old.layout.arrays
        self._check_group(new_group)
        where = f"state_dict: group {gi}"
        arrays = old.layout.arrays
        masters = None
        if old.masters is not None:
            masters = []
            for i, (p, e) in enumerate(zip(arrays, entries)):
                saved_master = e.get("master_param")
                if saved_master is None:
                    masters.append(master_copy(p))
                    continue
                m = _float_array(saved_master, f"{where}, param {i}: 'master_param'", p.shape)
                if not np.isfinite(m).all():
                    raise ValueError(f"{where}, param {i}: 'master_param' is not finite")
                out = master_copy(p)
                np.copyto(out, m, casting="unsafe")
                masters.append(out)
        elif any("master_param" in e for e in entries):
            raise ValueError(f"{where}: has float32 master weights; this optimizer keeps none "
                             "(its params are not 16-bit)")
        gs = _GroupState(old.layout, np.array([step], np.int64), masters=masters)
        fill = self._state_fill(new_group)
        names = set(self._state_names())
        scalar_names = self._scalar_state_names()
        for i, e in enumerate(entries):
            unknown = set(e) - names - set(scalar_names) - {"step", "master_param", "ema", "ema_steps"}
            if unknown:
                raise ValueError(f"{where}, param {i}: unknown state {sorted(unknown)} for {type(self).__name__}")
            held = set(e) & names
            if held - set(fill):
                raise ValueError(f"{where}, param {i}: has state {sorted(held - set(fill))}, which this group's "
                                 f"options do not use (a checkpoint saved with other options?)")
            lacking = [n for n in self._required_buffers if n not in e]
            if lacking and held:
                raise ValueError(f"{where}, param {i}: has state {sorted(held)} but not {lacking}")
        self._sync_plan(new_group, gs)  # fresh buffers (and plans) of this group's format
        for name, bufs in gs.buffers.items():
            have = [name in e for e in entries]
            if not any(have):
                continue  # starts fresh, as a buffer added by a changed option does
            if not all(have):
                raise ValueError(f"{where}: state {name!r} is missing for param {have.index(False)} but present "
                                 "for others; a group's params are stepped together and share their state")
            for i, (buf, e) in enumerate(zip(bufs, entries)):
                _load_buffer(buf, e[name], f"{where}, param {i}: state {name!r}", arrays[i].shape)
            gs.born[name] = -1
        if any("ema" in e for e in entries):
            if not all("ema" in e for e in entries):
                raise ValueError(f"{where}: 'ema' is missing for some params but present for others")
            gs.ema = [_float_array(e["ema"], f"{where}, param {i}: state 'ema'", a.shape).astype(a.dtype, copy=True)
                      for i, (e, a) in enumerate(zip(entries, gs.stepped))]
            gs.ema_steps = _step_count(entries[0].get("ema_steps", 1), f"{where}: 'ema_steps'")
        for name in scalar_names:
            values = {_scalar_value(e[name], f"{where}, param {i}: state {name!r}")
                      for i, e in enumerate(entries) if name in e}
            if len(values) > 1:
                raise ValueError(f"{where}: state {name!r} differs between params ({sorted(values)}); a group's "
                                 "params are stepped together and share it")
            if values:
                gs.scalars[name][0] = values.pop()
            elif step > 0 and any(e for e in entries):
                raise ValueError(f"{where}: has state but not {name!r}, which {type(self).__name__} keeps")
        return new_group, gs

    def state_bytes(self) -> int:
        """Bytes held by the optimizer state: buffers, 8-bit codes and scales, float32 master weights."""
        masters = sum(m.nbytes for gs in self._groups for m in (gs.masters or []))
        return masters + sum(b.nbytes for gs in self._groups for bufs in gs.buffers.values() for b in bufs)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        del state["_lock"]
        state["_groups"] = [_GroupState(gs.layout, gs.counter, gs.buffers, gs.born, masters=gs.masters,
                                        scalars=gs.scalars, ema=gs.ema, ema_steps=gs.ema_steps)
                            for gs in self._groups]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
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


CHECKPOINT_FORMAT = 2
"""Version of :meth:`Optimizer.state_dict`'s layout. 1: fastoptim 0.1 (no version key, torch's
layout); 2: adds ``"fastoptim_format"`` and ``"rule"``. Both, and torch.optim's, load."""

_MAX_STEP = 2**53  # step counts are exact integers in float64 (and torch keeps them as floats)


def check_float_params(group: Mapping[str, Any], rule: str) -> None:
    """TypeError naming the param unless every param of the group is float32 or float64 (the
    whole-tensor optimizers, which take no mixed precision)."""
    for i, a in enumerate(group["params"]):
        if a.dtype not in (np.float32, np.float64):
            raise TypeError(f"params[{i}]: has dtype {a.dtype}; {rule} steps float32 and float64 params")


def _step_count(value: Any, where: str) -> int:
    """A checkpoint's step count (int, float, NumPy or torch scalar) as an exact int >= 0."""
    if hasattr(value, "item") and not isinstance(value, (int, float)):  # a NumPy or torch scalar
        try:
            value = value.item()
        except (TypeError, ValueError, RuntimeError) as exc:
            raise TypeError(f"{where}: 'step' must be a number, got {type(value).__name__}") from exc
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{where}: 'step' must be a whole number, got {type(value).__name__}")
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        raise ValueError(f"{where}: 'step' must be a whole number, got {value!r}")
    if not 0 <= value <= _MAX_STEP:
        raise ValueError(f"{where}: 'step' must be in [0, 2**53], got {value!r}")
    return int(value)


def _scalar_value(value: Any, where: str) -> float:
    """A checkpoint's scalar state (a number, NumPy or torch scalar) as a finite float."""
    if hasattr(value, "item") and not isinstance(value, (int, float)):
        try:
            value = value.item()
        except (TypeError, ValueError, RuntimeError) as exc:
            raise TypeError(f"{where}: must be a number, got {type(value).__name__}") from exc
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{where}: must be a finite number, got {value!r}")
    return float(value)


def _float_array(value: Any, where: str, shape: tuple[int, ...]) -> np.ndarray:
    """``value`` as a real floating-point array of ``shape`` (bfloat16 included), or raise."""
    if hasattr(value, "detach") and hasattr(value, "numpy"):  # a torch tensor, from a torch checkpoint
        value = value.detach().cpu()
        if getattr(value, "is_complex", lambda: False)():
            raise TypeError(f"{where}: is complex; optimizer state is real")
        value = value.float().numpy() if str(value.dtype) == "torch.bfloat16" else value.numpy()
    if not isinstance(value, (np.ndarray, np.generic, list, tuple, float, int)):
        raise TypeError(f"{where}: must be an array, got {type(value).__name__}")
    a = np.asarray(value)
    bf16 = bfloat16_dtype()
    if not (a.dtype.kind == "f" or (bf16 is not None and a.dtype == bf16)):
        hint = (" (a bfloat16 array saved with numpy.save/savez loads back as raw 2-byte 'V2' data: "
                "view it as ml_dtypes.bfloat16 first)" if a.dtype.kind == "V" and a.dtype.itemsize == 2 else "")
        raise TypeError(f"{where}: has dtype {a.dtype}; optimizer state is real floating point{hint}")
    if a.shape != tuple(shape):
        raise ValueError(f"{where}: has shape {a.shape}, the param {tuple(shape)}")
    return a


def _load_buffer(buf: Any, value: Any, where: str, shape: tuple[int, ...]) -> None:
    """Validate ``value`` against the fresh buffer ``buf`` (not yet used by anyone) and copy it in."""
    if isinstance(buf, Quantized8):
        if not isinstance(value, Quantized8):
            raise ValueError(f"{where}: is 32-bit, this optimizer keeps it 8-bit (state_bits=8)")
        codes, scales = np.asarray(value.codes), np.asarray(value.scales)
        if codes.dtype != np.uint8 or codes.shape != buf.codes.shape:
            raise ValueError(f"{where}: 8-bit codes must be uint8 of shape {buf.codes.shape}, got "
                             f"{codes.dtype} {codes.shape}")
        if scales.dtype.kind != "f" or scales.shape != buf.scales.shape:
            raise ValueError(f"{where}: 8-bit scales must be float of shape {buf.scales.shape}, got "
                             f"{scales.dtype} {scales.shape}")
        if not (np.isfinite(scales).all() and (scales >= 0).all()):
            raise ValueError(f"{where}: 8-bit scales must be finite and >= 0 (block maxima)")
        buf.load(Quantized8(codes, scales), where)
        return
    if isinstance(value, Quantized8):
        raise ValueError(f"{where}: is 8-bit, this optimizer keeps it "
                         f"{'bfloat16' if buf.dtype.itemsize == 2 else '32-bit'} (state_bits)")
    a = _float_array(value, where, shape)
    np.copyto(buf, a.astype(buf.dtype) if a.dtype != buf.dtype else a, casting="unsafe")


def _checkpoint_groups(opt: Optimizer, state_dict: Any) -> list[tuple[Mapping[str, Any], list[Mapping[str, Any]], int]]:
    """Validate a checkpoint's layout against ``opt``; per group: (saved group, per-param state
    entries in the group's order, step count)."""
    if not isinstance(state_dict, Mapping) or "state" not in state_dict or "param_groups" not in state_dict:
        raise ValueError("state_dict: expected a mapping with 'state' and 'param_groups'")
    fmt = state_dict.get("fastoptim_format", 1)
    if isinstance(fmt, bool) or not isinstance(fmt, int) or not 1 <= fmt <= CHECKPOINT_FORMAT:
        raise ValueError(f"state_dict: 'fastoptim_format' {fmt!r} is not one this version reads (1 to "
                         f"{CHECKPOINT_FORMAT}; a checkpoint of a newer fastoptim?)")
    rule = state_dict.get("rule", opt.rule)
    if rule != opt.rule:
        raise ValueError(f"state_dict: a checkpoint of rule {rule!r}; this optimizer ({type(opt).__name__}) "
                         f"runs {opt.rule!r}")
    saved_groups, saved_state = state_dict["param_groups"], state_dict["state"]
    if not isinstance(saved_groups, (list, tuple)) or not all(isinstance(g, Mapping) for g in saved_groups):
        raise TypeError("state_dict: 'param_groups' must be a list of dicts")
    if not isinstance(saved_state, Mapping):
        raise TypeError("state_dict: 'state' must be a dict {param index: {name: value}}")
    if len(saved_groups) != len(opt.param_groups):
        raise ValueError(f"state_dict: has {len(saved_groups)} parameter groups, this optimizer "
                         f"{len(opt.param_groups)}")
    listed: set[int] = set()
    out = []
    for gi, (saved, group) in enumerate(zip(saved_groups, opt.param_groups)):
        where = f"state_dict: group {gi}"
        missing = [k for k in opt._checkpoint_keys if k not in saved]
        if missing:
            raise ValueError(f"{where} lacks {missing}, which every {type(opt).__name__} checkpoint has: a "
                             "checkpoint of another optimizer?")
        ids = saved.get("params")
        if not isinstance(ids, (list, tuple)):
            raise TypeError(f"{where}: 'params' must be a list of parameter indices")
        if len(ids) != len(group["params"]):
            raise ValueError(f"{where} has {len(ids)} params, this optimizer {len(group['params'])}")
        for i in ids:
            if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
                raise TypeError(f"{where}: parameter index {i!r} is not an int")
            if int(i) in listed:
                raise ValueError(f"{where}: parameter index {i} appears twice")
            listed.add(int(i))
        entries = []
        for i in ids:
            e = saved_state.get(i, {})
            if not isinstance(e, Mapping) or not all(isinstance(k, str) for k in e):
                raise TypeError(f"{where}: state of param {i} must be a dict with str keys")
            entries.append(e)
        steps = {_step_count(e["step"], f"{where}, param {i}") for i, e in zip(ids, entries) if "step" in e}
        if len(steps) > 1:
            raise ValueError(f"{where} mixes step counts {sorted(steps)}; a group's params step together")
        stateful = [i for i, e in zip(ids, entries) if any(k != "step" for k in e)]
        step = steps.pop() if steps else (1 if stateful else 0)  # torch's SGD keeps no step
        out.append((saved, entries, step))
    for key in saved_state:
        if isinstance(key, bool) or not isinstance(key, (int, np.integer)):
            raise TypeError(f"state_dict: state key {key!r} is not a parameter index (int)")
        if int(key) not in listed:
            raise ValueError(f"state_dict: state for parameter index {key}, which no group lists")
    return out
