"""The torch.optim.Optimizer base of fastoptim.torch's classes: plans over CPU tensors, steps
as one C++ call, torch's state layout (see the package docstring)."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .. import _core
from ..interrupts import deferred_interrupt_if
from ..quantized_state import Quantized8, bfloat16_dtype, check_state_bits
from ..rules.descriptor import RuleDescriptor, kernel_value
from .layout import LOW_PRECISION, Binding, flat_memory, local
from .rank_threads import share_cores_between_ranks
from .state_table import StateTable

# fastoptim's own options of the torch classes (keyword-only, after torch's arguments).
_EXTRAS = ("state_bits", "stochastic_rounding", "seed", "master_weights", "min_8bit_size", "ema_decay")
_BLOCK8 = int(_core.BLOCK8_SIZE)

_DTYPES = (torch.float32, torch.float64, torch.complex64, torch.complex128, torch.float16, torch.bfloat16)


def _scalar_dtype() -> torch.dtype:
    """The dtype torch keeps scalar state in (step, mu_product, eta...): float64 when that is
    the default dtype, else float32."""
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


def _check_param(p: torch.Tensor, where: str, owner: str = "fastoptim.torch") -> None:
    if not isinstance(p, torch.Tensor):
        raise TypeError(f"{where}: expected a torch.Tensor, got {type(p).__name__}")
    p = local(p)  # a DTensor (FSDP2): its shard is what this process steps
    if p.device.type != "cpu":
        raise ValueError(f"{where}: is on {p.device}; fastoptim.torch steps CPU tensors (use torch.optim there)")
    if p.layout != torch.strided:
        raise ValueError(f"{where}: has layout {p.layout}; {owner} requires dense parameter tensors (sparse "
                         "gradients of dense params are another matter: see the class's docstring)")
    if p.dtype not in _DTYPES:
        raise ValueError(f"{where}: has dtype {p.dtype}; fastoptim.torch steps float32 and float64 (and "
                         "complex64/complex128 as pairs of them, float16/bfloat16 in float32)")


def check_grad_matches(p: torch.Tensor, where: str) -> None:
    """ValueError naming ``where`` unless ``p.grad`` has the param's shape, dtype and device."""
    g = p.grad
    if g.shape != p.shape or g.dtype != p.dtype or g.device != p.device:
        raise ValueError(f"{where}: its .grad ({g.dtype}, {tuple(g.shape)}) does not match it "
                         f"({p.dtype}, {tuple(p.shape)}); was p.data replaced without its grad?")


def contiguous_state(state: dict[str, Any], key: str, p: torch.Tensor, shape: tuple[int, ...], rule: str) -> None:
    """Checks ``state[key]`` of a whole-tensor optimizer (Adafactor, LAMB): a floating-point, dense
    CPU tensor of ``shape`` (ValueError naming it otherwise); one of another float dtype or memory
    order is replaced by a contiguous copy in the param's dtype (as torch's checkpoints load)."""
    t = state.get(key)
    if not isinstance(t, torch.Tensor) or tuple(t.shape) != tuple(shape) or not t.is_floating_point() \
            or t.device.type != "cpu" or t.layout != torch.strided:
        desc = f"{t.dtype}, {tuple(t.shape)}" if isinstance(t, torch.Tensor) else type(t).__name__
        raise ValueError(f"{rule}: state[{key!r}] of a parameter of shape {tuple(p.shape)} is ({desc}); it must be "
                         f"a floating-point CPU tensor of shape {tuple(shape)}")
    if t.dtype != p.dtype or not t.is_contiguous():
        state[key] = t.detach().to(p.dtype).contiguous()


def group_params(param_group: dict[str, Any]) -> tuple[list[Any], list[torch.Tensor]]:
    """A group's ``params`` as a list — read once (a generator such as ``layer.parameters()`` can
    only be read once; torch is then handed the list) and refused as a set, as torch refuses it —
    and the tensors in it ((name, tensor) pairs, as ``named_parameters()`` gives in torch >= 2.6,
    unpacked)."""
    params = param_group["params"]
    if isinstance(params, set):
        raise TypeError("optimizer parameters need to be organized in ordered collections, but the ordering "
                        "of tensors in sets will change between runs. Please use a list instead.")
    params = [params] if isinstance(params, torch.Tensor) else list(params)
    return params, [p[1] if isinstance(p, tuple) and len(p) == 2 else p for p in params]


def _np(t: torch.Tensor):
    """A NumPy view of ``t``'s memory (bfloat16 as ml_dtypes' bfloat16, which the kernels take)."""
    if t.dtype == torch.bfloat16:
        return t.detach().view(torch.int16).numpy().view(bfloat16_dtype())
    return t.detach().numpy()


def _dequantized(q: dict[str, torch.Tensor], signed: bool, p: torch.Tensor) -> torch.Tensor:
    """8-bit block-wise state (codes and scales) as the float tensor it stands for, shaped like ``p``."""
    values = Quantized8(q["codes"].numpy(), q["scales"].float().numpy()).dequantize(signed)
    return torch.from_numpy(values).reshape(p.shape).to(p.dtype)


def _signature(params: list[torch.Tensor], distributed: bool) -> list[tuple]:
    """What a plan over ``params`` depends on: each tensor's memory, size and dtype (a rebound
    ``p.data``, ``model.double()``, a ZeRO bucket view all change it) and its layout; of the
    local shards for DTensors (FSDP2 may move them: model.double(), load with assign=True)."""
    if distributed:
        params = [local(p) for p in params]
    return [(p.data_ptr(), p.nbytes, p.dtype, p.is_contiguous() or p.stride()) for p in params]


@dataclass
class _Plan:
    """One StepPlan over the params of a group that share a step count (and buffer state)."""

    plan: Any
    params: list[torch.Tensor]
    counters: list[np.ndarray]  # what the C++ step advances: views of the step tensors (or SGD's)
    bindings: list[Binding]  # how each param's memory (and its gradient's) reaches the kernel

    def __post_init__(self) -> None:
        self.copied = [b for b in self.bindings if b.copies]  # stepped through work copies


@dataclass
class _GroupPlans:
    """A group's plans and what they were built for."""

    ids: tuple[int, ...]
    structure: tuple
    signature: list[tuple]
    parts: list[_Plan]
    distributed: bool = False  # some params are DTensors


class _FastOptimizer(torch.optim.Optimizer):
    """A torch.optim.Optimizer whose step is fastoptim's kernel of ``descriptor``'s rule; the
    classes (``fastoptim.torch.Adam``...) are built from the registry by ``classes.py``."""

    _rule: str
    descriptor: RuleDescriptor
    # torch.amp.GradScaler hands fused-capable optimizers the scale and the inf flag (attributes
    # grad_scale and found_inf) instead of unscaling the gradients itself: the step divides by
    # the scale inside its one pass, and skips (nothing written, no count advanced) on found_inf.
    _step_supports_amp_scaling = True

    def __init__(self, params: Any, defaults: dict[str, Any]) -> None:
        if defaults.get("capturable"):
            raise ValueError("capturable: fastoptim.torch runs on the CPU and does not support capturable=True")
        if defaults.get("differentiable"):
            raise ValueError("differentiable: fastoptim.torch steps outside autograd; use torch.optim")
        self._init_runtime()
        self._group_keys = frozenset(defaults)  # the options every group of this class has
        super().__init__(params, defaults)
        self._wrap_state()
        share_cores_between_ranks()

    def _init_runtime(self) -> None:
        """What an instance keeps beside torch's attributes (also after unpickling)."""
        self._plans: dict[int, _GroupPlans] = {}
        self._step_lock = threading.Lock()  # one step at a time; other threads wait their turn
        self._building = False
        self.last_grad_norm: float | None = None  # the global gradient norm of the last step(max_grad_norm=...)
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
        params, tensors = group_params(param_group)
        for i, q in enumerate(tensors):
            _check_param(q, f"param_groups[{gi}]['params'][{i}]", type(self).__name__)
            if not self.descriptor.takes_complex and q.is_complex():
                raise ValueError(f"Complex params at indices [[{gi}, {i}]]: {type(self).__name__} does not support "
                                 "complex parameters")
        param_group = {**param_group, "params": params}
        group_defaults = {**self.defaults, **param_group}
        maximize, options = self._flags(group_defaults)
        _core.check_hyper(self._rule, self._hyper(group_defaults), maximize, options)
        if self.descriptor.check is not None:
            self.descriptor.check(group_defaults)
        extras = {"state_bits": 32, "stochastic_rounding": False, "seed": 0, "master_weights": False,
                  "min_8bit_size": 4096, **{k: group_defaults[k] for k in _EXTRAS if k in group_defaults}}
        spec = _core.rule_spec(self._rule)
        present = [b.present(group_defaults) for b in self.descriptor.buffers]
        ok8 = not any(present) or ("block8" in spec["formats"] and _core.block8_supports(self._rule, options, present))
        check_state_bits(extras, ok8, f"for {type(self).__name__} with these options (8-bit state: "
                         f"{spec['block8_variants'] or 'none for this rule'})")
        if extras["state_bits"] == 16 and any(
                p.dtype not in (torch.float32, *LOW_PRECISION) or (p.dtype in LOW_PRECISION and not extras[
                    "master_weights"]) for p in (q[1] if isinstance(q, tuple) else q for q in params)):
            raise ValueError("state_bits: bfloat16 state (state_bits=16) is kept for float32 params, or for "
                             "16-bit params with master_weights=True (without masters a 16-bit param's state "
                             "is already in its own dtype, as torch keeps it)")
        decay = group_defaults.get("ema_decay")
        if decay is not None:
            if isinstance(decay, bool) or not isinstance(decay, (int, float)) or not 0.0 <= decay <= 1.0:
                raise ValueError(f"invalid ema_decay: {decay!r} (must be None or in [0, 1])")
            for q in params:
                q = q[1] if isinstance(q, tuple) else q
                if local(q).dtype not in (torch.float32, torch.float64):
                    raise ValueError(f"ema_decay: averages are kept for float32/float64 params, not {q.dtype}")
        if not isinstance(extras["master_weights"], bool):
            raise ValueError(f"invalid master_weights: {extras['master_weights']!r} (must be a bool)")
        super().add_param_group(param_group)
        self._plans.clear()
        if self.descriptor.eager_state:  # torch creates this rule's state at construction
            group = self.param_groups[-1]
            for p in group["params"]:
                self._init_state(p, group, self.state[p])

    def state_dict(self, format: str = "fastoptim") -> dict[str, Any]:  # noqa: A002
        """torch.optim's ``state_dict``, with plain dicts (loadable with ``torch.load(weights_only=True)``).

        ``format="torch"``: exactly what torch.optim's namesake keeps, for leaving fastoptim:
        bfloat16 state (``state_bits=16``) converted to the param's dtype, float32 masters dropped
        (the params themselves carry the weights), fastoptim's options removed from the groups.
        """
        if format not in ("fastoptim", "torch"):
            raise ValueError(f"format: 'fastoptim' or 'torch', got {format!r}")
        sd = super().state_dict()
        sd["state"] = {k: dict(v) if isinstance(v, dict) else v for k, v in sd["state"].items()}
        if format == "torch":
            params = [p for g in self.param_groups for p in g["params"]]
            kinds = dict(_core.rule_spec(self._rule)["state"])
            for index, entry in sd["state"].items():
                p = params[index]
                entry.pop("master_param", None)
                for key, value in list(entry.items()):
                    if isinstance(value, dict) and "codes" in value:
                        entry[key] = _dequantized(value, kinds.get(key) != "non-negative", p)
                for key, value in list(entry.items()):
                    if isinstance(value, torch.Tensor) and value.dim() and value.dtype != p.dtype:
                        entry[key] = value.to(p.dtype)
            for group in sd["param_groups"]:
                for key in _EXTRAS:
                    group.pop(key, None)
        return sd

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        with self._step_lock:
            # torch casts every loaded floating-point state tensor to its param's dtype; bfloat16
            # state and float32 masters are put back as saved (then checked into this
            # optimizer's format below), so that they load without a detour through the param's.
            params = [p for g in self.param_groups for p in g["params"]]
            saved_ids = [i for g in state_dict.get("param_groups", []) for i in g.get("params", [])]
            keep = {}
            for pos, sid in enumerate(saved_ids[:len(params)]):
                for key, value in (state_dict.get("state", {}).get(sid) or {}).items():
                    if key != "step" and (isinstance(value, dict) or (  # 8-bit: codes would become floats
                            isinstance(value, torch.Tensor) and value.dim() and value.is_floating_point()
                            and value.dtype != params[pos].dtype)):
                        keep[pos, key] = value
            super().load_state_dict(state_dict)
            for (pos, key), value in keep.items():
                self.state[params[pos]][key] = ({k: v.detach().clone() for k, v in value.items()}
                                                if isinstance(value, dict) else value.detach().clone())
            for group in self.param_groups:  # a checkpoint of torch.optim (or an older torch) lacks some
                for key, value in self.defaults.items():
                    if key in self._group_keys:  # not what torch's base adds to defaults on load
                        group.setdefault(key, value)
                for p in group["params"]:  # state buffers in this optimizer's format (state_bits, masters)
                    if p in self.state:
                        self._check_state(p, self.state[p], group, partial=True)
            self._wrap_state()  # state tensors were replaced
            self._momentum_steps.clear()

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None, *, max_grad_norm: float | None = None) -> Any:
        """Update every parameter that has a gradient, as the torch.optim namesake does.

        ``max_grad_norm``: clip the gradients by their global L2 norm over all groups first, as
        ``torch.nn.utils.clip_grad_norm_`` does, inside the same pass (the gradients are not
        written); the norm is kept in ``last_grad_norm``. Under ``torch.amp.GradScaler`` the
        scale is divided out in the same pass and a step with ``found_inf`` is skipped.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        if self.descriptor.train_eval is not None and not all(g.get("train_mode") for g in self.param_groups):
            raise RuntimeError("Optimizer was not in train mode when step is called: call optimizer.train() "
                               "before stepping and optimizer.eval() before evaluating (schedule-free)")
        found_inf = self.__dict__.get("found_inf")
        if found_inf is not None and float(found_inf) != 0.0:
            self.last_grad_norm = None
            return loss  # GradScaler found Inf/NaN: the step is skipped, as torch's fused ones do
        grad_scale = self.__dict__.get("grad_scale")
        scale = 1.0 if grad_scale is None else float(grad_scale)
        with self._step_lock:
            if type(self.__dict__.get("state")) is not StateTable:  # optimizer.state was reassigned
                self._wrap_state()
            plans, addresses, hypers, steps, counters, shadowed = [], [], [], [], [], []
            int_steps: list[_Plan] = []
            sparse = self._sparse_params()  # checked before anything is written
            for gi, group in enumerate(self.param_groups):
                active = [p for p in group["params"] if p.grad is not None and not (sparse and p in sparse)]
                if not active:
                    continue
                self._check_grad_layouts(group, active)
                hyper = group  # C++ reads the hyperparameters from the group by name
                for part in self._group_plans(gi, group, active):
                    plans.append(part.plan)
                    # torch guarantees a .grad has its param's shape, dtype and device (checked
                    # again when a plan is built); the kernel reads the gradient in place, or a
                    # copy where its layout differs from the param's.
                    addresses.append([g.data_ptr() if b.contiguous and not b.distributed
                                      and (g := b.param.grad).layout == torch.strided and g.is_contiguous()
                                      else self._grad_entry(b) for b in part.bindings])
                    hypers.append(hyper)
                    steps.append(self._kernel_step(part))
                    counters.extend(part.counters)
                    if self.descriptor.int_step:  # torch's int step: read now, written back after
                        for p, c in zip(part.params, part.counters):
                            c[0] = int(self.state[p]["step"])
                        int_steps.append(part)
                    if part.copied:
                        shadowed.extend(part.copied)
            # Python work after the C++ call completes the step (copies back, int step counts,
            # averages, SGD's sparse steps): a Ctrl-C waits for it, so that the step is whole.
            finishing = bool(shadowed or int_steps or sparse) or any(
                g.get("ema_decay") is not None for g in self.param_groups)
            with deferred_interrupt_if(finishing):
                if plans:
                    for b in shadowed:  # params with gaps, or 16-bit: stepped through work copies
                        b.copy_in()
                    # One C++ call for all groups: validated first, then every group stepped and
                    # every step count advanced, with no Python in between (errors, Ctrl-C).
                    norm, _, _ = _core.step_plans(plans, addresses, hypers, steps, counters, scale, max_grad_norm,
                                                  addresses=True)
                    for b in shadowed:
                        b.copy_out()
                    for part in int_steps:
                        for p, c in zip(part.params, part.counters):
                            self.state[p]["step"] = int(c[0])
                    self.last_grad_norm = norm
                if plans:
                    self._update_ema()
                for p, group in (sparse or {}).items():  # torch's own sparse step (Adagrad's, SGD's)
                    if not self.descriptor.stepless:
                        self._init_state(p, group, self.state[p])
                    self.descriptor.torch_sparse_step(p, p.grad, self.state[p], group, False)
        return loss

    @torch.no_grad()
    def _switch_mode(self, to_train: bool) -> None:
        spec = self.descriptor.train_eval
        if spec is None:
            raise TypeError(f"{type(self).__name__} has no train/eval modes (schedule-free optimizers do)")
        name, weight = spec
        with self._step_lock:
            for group in self.param_groups:
                if bool(group.get("train_mode")) == to_train:
                    continue
                w = float(weight(group, to_train))
                for p in group["params"]:
                    z = self.state[p].get(name) if p in self.state else None
                    if z is not None:
                        p.lerp_(z.to(p.dtype), w)
                group["train_mode"] = to_train

    def _update_ema(self) -> None:
        """``ema_decay``: after a step, each group's average of its params, in
        ``state[p]["ema"]`` (``ema_steps`` counts the averaged steps; the first copies), as
        ``AveragedModel(get_ema_multi_avg_fn(decay))``'s ``update_parameters`` does; one C++ call."""
        for group in self.param_groups:
            decay = group.get("ema_decay")
            if decay is None:
                continue
            lists: dict[bool, tuple[list, list]] = {True: ([], []), False: ([], [])}
            for p in group["params"]:
                st = self.state[p]
                if "ema" not in st:
                    st["ema"], st["ema_steps"] = torch.zeros_like(p), 0
                first = st["ema_steps"] == 0
                lists[first][0].append(_np(flat_memory(local(st["ema"]))))
                lists[first][1].append(_np(flat_memory(local(p))))
                st["ema_steps"] += 1
            for first, (avgs, params) in lists.items():
                if avgs:
                    _core.ema_update(avgs, params, float(decay), first)

    def _sparse_params(self) -> dict[torch.Tensor, dict[str, Any]] | None:
        """Params with sparse gradients that the rule steps as torch does (Adagrad), validated;
        None when there are none. Other rules raise torch's error for them later."""
        fn = self.descriptor.torch_sparse_step
        if fn is None:
            return None
        out = {p: group for group in self.param_groups for p in group["params"]
               if p.grad is not None and p.grad.layout == torch.sparse_coo}
        for p, group in out.items():
            fn(p, p.grad, self.state[p], group, True)
        return out or None

    # -- the rule, from its descriptor -------------------------------------------------------------
    def _hyper(self, group: dict[str, Any]) -> tuple[float, ...]:
        out = []
        for name in self.descriptor.kernel_names():
            v = kernel_value(group, name)
            out.append(float(v) if isinstance(v, torch.Tensor) else v)  # a Tensor lr
        return tuple(out)

    def _flags(self, group: dict[str, Any]) -> tuple[bool, dict[str, bool]]:
        # group.get: a checkpoint of an older torch may lack a newer option (its default is False)
        return (bool(group.get("maximize", False)),
                {o: bool(group.get(key, False)) for o, key in self.descriptor.options.items()})

    def _buffers(self, group: dict[str, Any]) -> list[str]:
        """State entries the kernel reads and writes, in rule_state_names order."""
        return [b.name for b in self.descriptor.buffers_for(group)]

    @staticmethod
    def _eight(p: torch.Tensor, group: dict[str, Any]) -> bool:
        """``p`` keeps 8-bit block-wise state (``state_bits=8``, float32, large enough)."""
        if group.get("state_bits", 32) != 8:
            return False
        q = local(p)
        if q is not p:
            raise ValueError("state_bits: 8-bit state is not offered for DTensor (FSDP2) params: distributed "
                             "checkpoints cannot reshard its block codes; use state_bits=16")
        return q.dtype == torch.float32 and q.numel() >= group.get("min_8bit_size", 4096)

    @staticmethod
    def _plain_bf16(p: torch.Tensor) -> bool:
        """A contiguous bfloat16 param without masters: the kernel writes it (see layout.py)."""
        q = local(p)
        return q.dtype == torch.bfloat16 and q.is_contiguous()

    @staticmethod
    def _masters(p: torch.Tensor, group: dict[str, Any]) -> bool:
        """A 16-bit param stepped through a float32 master copy kept in state (``master_weights``)."""
        return p.dtype in LOW_PRECISION and bool(group.get("master_weights", False))

    def _state_dtype(self, p: torch.Tensor, group: dict[str, Any]) -> torch.dtype:
        """The dtype of ``p``'s state buffers: bfloat16 with ``state_bits=16`` (float32 params or
        masters), float32 beside float32 masters, else the param's own (torch's semantics)."""
        base = torch.float32 if self._masters(p, group) else p.dtype
        if group.get("state_bits", 32) == 16 and base == torch.float32:
            return torch.bfloat16
        return base

    def _init_state(self, p: torch.Tensor, group: dict[str, Any], state: dict[str, Any]) -> None:
        """Create torch's state entries for ``p`` if absent (same keys, values and dtypes as torch;
        bfloat16 with ``state_bits=16``; a float32 ``master_param`` with ``master_weights``)."""
        d = self.descriptor
        dtype = self._state_dtype(p, group)
        eight = self._eight(p, group)

        def fresh(b) -> Any:
            if b.copy_param:  # starts as the param (schedule-free's z)
                return p.detach().clone(memory_format=torch.preserve_format).to(dtype)
            if eight:  # codes (one per element) and scales (one per 256-element block), all zero
                return {"codes": torch.zeros(p.numel(), dtype=torch.uint8),
                        "scales": torch.zeros(-(-p.numel() // _BLOCK8), dtype=torch.float32)}
            value: Any = b.start(group)
            if p.is_complex():  # torch starts both halves of a complex state at the value
                value = complex(value, value)
            return (torch.zeros_like(p, dtype=dtype, memory_format=torch.preserve_format) if value == 0.0
                    else torch.full_like(p, value, dtype=dtype, memory_format=torch.preserve_format))

        if self._masters(p, group) and "master_param" not in state:
            state["master_param"] = p.detach().float()
        if d.stepless:  # SGD: no step; a momentum buffer that holds no data until its first step
            for b in d.buffers_for(group):
                if state.get(b.name) is None:
                    state[b.name] = fresh(b)
                    self._momentum_steps[p] = np.zeros(1, np.int64)
                elif p not in self._momentum_steps:  # a buffer from a checkpoint or written directly
                    self._momentum_steps[p] = np.ones(1, np.int64)
            return
        if "step" not in state:
            state["step"] = 0 if d.int_step else torch.tensor(0.0, dtype=_scalar_dtype())
        names = _core.rule_spec(self._rule)["scalar_state"]
        if any(n not in state for n in names):
            start = _core.rule_start_scalar_state(self._rule, self._hyper(group))
            sdtype = torch.float64 if d.scalar_state_dtype == "float64" else _scalar_dtype()
            for n, v in zip(names, start):
                state.setdefault(n, torch.tensor(v, dtype=sdtype))
        for b in d.buffers_for(group):
            if b.name not in state:
                state[b.name] = fresh(b)

    def _kernel_step(self, part: _Plan) -> int:
        if self.descriptor.stepless:  # step 1 copies the gradient into a fresh buffer (and keys the rounding)
            return int(part.counters[0][0]) + 1 if part.counters else 1
        return int(part.counters[0][0]) + 1

    def _counters(self, params: list[torch.Tensor]) -> list[np.ndarray]:
        """The step counts the C++ step advances: torch's ``state[p]["step"]`` tensors, in place
        (where torch keeps a Python int, SparseAdam's, an array synced around each step)."""
        if self.descriptor.stepless:
            return [self._momentum_steps[p] for p in params if p in self._momentum_steps]
        if self.descriptor.int_step:
            return [np.array([int(self.state[p]["step"])], np.int64) for p in params]
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
    def _steps_taken(self, p: torch.Tensor, state: dict[str, Any]) -> tuple:
        """Steps ``p``'s state has taken, and its scalar state; params are stepped together
        (one plan) only if these agree."""
        if self.descriptor.stepless:  # SGD: whether the momentum buffer holds data yet
            counter = self._momentum_steps.get(p)
            return (0 if counter is not None and counter[0] == 0 else 1,)
        step = state["step"]
        scalars = tuple(float(state[n]) for n in _core.rule_spec(self._rule)["scalar_state"])
        return (int(step.item() if isinstance(step, torch.Tensor) else step), *scalars)

    def _group_plans(self, gi: int, group: dict[str, Any], active: list[torch.Tensor]) -> list[_Plan]:
        ids = tuple(map(id, active))
        structure = tuple([bool(group.get(k, False)) for k in self.descriptor.structure_keys()])
        cached = self._plans.get(gi)
        if cached is not None and cached.ids == ids and cached.structure == structure \
                and cached.signature == _signature(active, cached.distributed):
            return cached.parts
        distributed = any(local(p) is not p for p in active)
        signature = _signature(active, distributed)
        for i, p in enumerate(active):  # built for new tensors: check them and their grads afresh
            where = f"param_groups[{gi}]['params'][{i}]"
            _check_param(p, where)
            check_grad_matches(p, where)
        self._building = True
        try:
            parts: dict[tuple, list[torch.Tensor]] = {}
            for p in active:
                state = self.state[p]
                self._init_state(p, group, state)
                self._check_state(p, state, group)
                key = (*self._steps_taken(p, state), self._eight(p, group), self._masters(p, group), local(p).dtype,
                       self._plain_bf16(p))
                parts.setdefault(key, []).append(p)
                if not state:  # torch keeps no entry for stateless params (SGD without momentum)
                    del self.state[p]
            names = self._buffers(group)
            scalar_names = _core.rule_spec(self._rule)["scalar_state"]
            maximize, options = self._flags(group)
            plans = []
            for key, params in parts.items():
                masters = key[-3]
                if key[-4]:  # 8-bit block-wise state
                    bindings = [Binding.of(p) for p in params]
                    codes = {n: [self.state[p][n]["codes"].numpy() for p in params] for n in names}
                    scales = {n: [self.state[p][n]["scales"].numpy() for p in params] for n in names}
                    plan = _core.BlockPlan(self._rule, [_np(b.memory) for b in bindings], codes, scales, maximize,
                                           options, seed=int(group.get("seed", 0)))
                    plans.append(_Plan(plan, params, self._counters(params), bindings))
                    continue
                bindings = [Binding.with_master(p, self.state[p]["master_param"]) if masters else Binding.of(p)
                            for p in params]
                buffers = {name: [_np(self._state_memory(b, name)) for b in bindings] for name in names}
                buffers.update({name: [self._scalar_array(p, name) for p in params] for name in scalar_names})
                outputs = [_np(flat_memory(b.param)) for b in bindings] if bindings[0].writes_param else None
                plan = _core.StepPlan(self._rule, [_np(b.memory) for b in bindings], buffers, maximize, options,
                                      outputs=outputs, stochastic_rounding=bool(group.get("stochastic_rounding")),
                                      seed=int(group.get("seed", 0)))
                plans.append(_Plan(plan, params, self._counters(params), bindings))
        finally:
            self._building = False
        self._plans[gi] = _GroupPlans(ids, structure, signature, plans, distributed)
        return plans

    def _check_grad_layouts(self, group: dict[str, Any], active: list[torch.Tensor]) -> None:
        """Before anything is written: dense gradients for rules that take only sparse ones
        (SparseAdam), sparse ones only for rules that take them, in groups that allow them."""
        how = self.descriptor.sparse_grads
        sparse = [p for p in active if p.grad.layout != torch.strided]
        if how == "only" and len(sparse) < len(active):
            raise RuntimeError(f"{type(self).__name__} does not support dense gradients, please consider Adam instead")
        if not sparse:
            return
        if how == "refused" or any(p.grad.layout != torch.sparse_coo for p in sparse):
            raise RuntimeError(f"{type(self).__name__} does not support sparse gradients")
        if self.descriptor.sparse_check is not None:
            self.descriptor.sparse_check(group)

    def _grad_entry(self, b: Binding) -> int | tuple[np.ndarray, np.ndarray]:
        """The gradient as the C++ step takes it: an address (copied first where its layout
        differs from the param's), or for a sparse COO gradient the pair (row indices, value
        rows) whose rows alone are stepped, duplicates summed (core/row_sparse.hpp)."""
        g = b.grad
        if g.layout == torch.strided:
            return b.grad_address(g)
        p = b.param
        if b.distributed or b.widened or b.writes_param or p.is_complex() or not b.layout_like().is_contiguous():
            # the rows a sparse gradient names must be rows of the memory the kernel steps: the
            # param's own (contiguous), or its contiguous work copy (a param with gaps)
            raise RuntimeError(f"{type(self).__name__}: sparse gradients step the rows they name in the param's "
                               f"memory: the param must be a float32/float64 tensor in row-major order, or one "
                               f"with gaps (stepped through a contiguous copy), and not a DTensor shard, 16-bit "
                               f"or complex; got {p.dtype}, shape {tuple(p.shape)}, strides {p.stride()}")
        indices, values = g._indices(), g._values()
        k = g.sparse_dim()
        if k == 1:
            rows = indices[0]
        else:  # the first k dims as one row number, row-major
            strides = torch.tensor([math.prod(p.shape[j + 1:k]) for j in range(k)], dtype=indices.dtype)
            rows = (indices * strides[:, None]).sum(0)
        return rows.contiguous().numpy(), values.contiguous().numpy()

    def _state_memory(self, b: Binding, name: str) -> torch.Tensor:
        """State ``name`` of ``b``'s param as flat memory in the layout the kernel steps the param
        in; a state tensor in another layout (a checkpoint's) is replaced by a copy in that layout."""
        state = self.state[b.owner]
        t = local(state[name])
        if b.widened:
            return b.state_work(t)
        like = b.layout_like()
        if t.stride() != like.stride():
            if t is not state[name]:
                raise ValueError(f"state[{name!r}]: its shard's layout differs from the param's")
            t = state[name] = torch.empty_like(like).copy_(t)
        return flat_memory(t)

    def _scalar_array(self, p: torch.Tensor, name: str) -> np.ndarray:
        """``state[p][name]`` (scalar state) as the 1-element array the C++ step rewrites in place;
        a number (older checkpoints) becomes a tensor of torch's scalar dtype first."""
        state = self.state[p]
        t = state[name]
        if not (isinstance(t, torch.Tensor) and t.dtype in (torch.float32, torch.float64) and t.numel() == 1
                and t.device.type == "cpu" and not t.requires_grad):
            t = state[name] = torch.tensor(float(t), dtype=_scalar_dtype())
        return t.numpy().reshape(1)

    def _check_state(self, p: torch.Tensor, state: dict[str, Any], group: dict[str, Any],
                     partial: bool = False) -> None:
        """The state tensors the kernel will write must be shaped like ``p`` and of the group's
        state format; a floating-point state of another format (a checkpoint of torch.optim into
        ``state_bits=16``, or the way back) is converted."""
        dtype = self._state_dtype(p, group)
        eight = self._eight(p, group)
        kinds = dict(_core.rule_spec(self._rule)["state"])
        for name in self._buffers(group):
            if partial and name not in state:
                continue
            t = state[name]
            if eight:
                n = p.numel()
                if not (isinstance(t, dict) and isinstance(t.get("codes"), torch.Tensor)
                        and isinstance(t.get("scales"), torch.Tensor) and t["codes"].dtype == torch.uint8
                        and t["codes"].numel() == n and t["scales"].numel() == -(-n // _BLOCK8)):
                    raise ValueError(f"state[{name!r}]: this optimizer keeps 8-bit state (state_bits=8), a dict of "
                                     f"'codes' (uint8, {n}) and 'scales' (float32, {-(-n // _BLOCK8)}); a float "
                                     "checkpoint loads into state_bits=32 or 16")
                state[name] = {"codes": t["codes"].contiguous(), "scales": t["scales"].float().contiguous()}
                continue
            if isinstance(t, dict) and "codes" in t:  # 8-bit state into a 32/16-bit optimizer: decoded
                t = state[name] = _dequantized(t, kinds[name] != "non-negative", p)
            if not isinstance(t, torch.Tensor) or t.shape != p.shape or t.device != p.device \
                    or t.layout != torch.strided or t.is_complex() != p.is_complex() \
                    or not (t.is_floating_point() or t.is_complex()):
                desc = f"{t.dtype}, {tuple(t.shape)}" if isinstance(t, torch.Tensor) else type(t).__name__
                raise ValueError(f"state[{name!r}] of a parameter of shape {tuple(p.shape)} is ({desc}); it must "
                                 f"be a dense {dtype} CPU tensor of the parameter's shape")
            if t.dtype != dtype:
                state[name] = t.to(dtype)
        if self._masters(p, group) and (not partial or "master_param" in state):
            m = state.get("master_param")
            if not (isinstance(m, torch.Tensor) and m.shape == p.shape and m.is_floating_point()):
                state["master_param"] = p.detach().float().contiguous()
            elif m.dtype != torch.float32 or not m.is_contiguous():
                state["master_param"] = m.float().contiguous()


