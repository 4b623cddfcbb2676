"""What a rule is in Python: one :class:`RuleDescriptor` per module of :mod:`fastoptim.rules`.

The C++ header of the rule (``cpp/rules/<rule>.hpp``) owns the numerics and the kernel-level
spec (hyperparameters in kernel order with their ranges, options, state buffers, scalar state,
state formats; see ``fastoptim._core.rule_spec``). The descriptor adds what Python needs:
torch's constructor arguments in torch's order with torch's defaults, when each state buffer
exists and how it starts, the classes it is offered as (Adam and AdamW share a rule), the
formula as documentation, and the benchmark cases with their NumPy peer. The NumPy class
(``fastoptim.Adam``), the torch class (``fastoptim.torch.Adam``), the functional op
(``fastoptim.ops.adam_``), the benchmark entries and the tests' parametrization are all built
from it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Group = Mapping[str, Any]
_STRUCTURE_KEYS: dict[str, tuple[str, ...]] = {}
_KERNEL_NAMES: dict[str, tuple[str, ...]] = {}
# A NumPy peer: (rule kwargs, params, grads) -> a zero-argument step over the params.
NumpyPeer = Callable[[dict[str, Any], list[np.ndarray], list[np.ndarray]], Callable[[], None]]


@dataclass(frozen=True)
class Arg:
    """One constructor argument after ``params``, as torch.optim spells it.

    Attributes:
        name: torch's argument name (also the param-group key).
        default: torch's default.
        torch_only: an argument only the torch class takes (``foreach``, ``capturable``,
            ``differentiable``, ``fused``: execution switches of torch.optim).
        keyword_only: after torch's ``*``.
        kind: "real" (a number: validated by the kernel's ranges), "pair" (two numbers), "bool".
    """

    name: str
    default: Any
    torch_only: bool = False
    keyword_only: bool = False
    kind: str = "real"


@dataclass(frozen=True)
class Buffer:
    """A per-element state buffer, by torch's state key.

    Attributes:
        name: torch's state key (and the C++ spec's state name).
        when: the group option whose truth makes the buffer present ("amsgrad"; "momentum":
            present for momentum != 0); None: always present.
        init: its starting value, a number or a function of the group.
    """

    name: str
    when: str | None = None
    init: float | Callable[[Group], float] = 0.0
    copy_param: bool = False  # starts as a copy of the param (schedule-free's z), not a constant

    def present(self, group: Group) -> bool:
        return self.when is None or bool(group[self.when])

    def start(self, group: Group) -> float:
        return float(self.init(group) if callable(self.init) else self.init)


@dataclass(frozen=True)
class ClassVariant:
    """A class offering the rule: its name, docstring addition, changed defaults, and group keys
    it fixes (not arguments: AdamW fixes ``decoupled_weight_decay=True``)."""

    name: str
    doc: str = ""
    defaults: dict[str, Any] = field(default_factory=dict)
    fixed: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BenchCase:
    """A benchmarked configuration: label, class name, keyword arguments."""

    label: str
    cls: str
    kwargs: dict[str, Any]


@dataclass(frozen=True)
class RuleDescriptor:
    """Everything Python knows about one update rule (see the module docstring).

    Attributes:
        rule: the C++ rule name (``cpp/rules/<rule>.hpp``).
        doc: the formula, as the classes' docstring.
        args: torch's constructor arguments after ``params``, in torch's order.
        buffers: the state buffers, in the C++ spec's order.
        classes: the classes offering the rule.
        options: C++ option name -> the group key that sets it (``{"decoupled": "decoupled_weight_decay"}``).
        checkpoint_keys: group keys every checkpoint of the rule has (torch's and ours); a
            checkpoint lacking one is refused as another optimizer's.
        check: validation of arguments the kernel does not see (raise ValueError naming them).
        stepless: torch keeps no step count for the rule (SGD); the kernel is told step 1 on
            the first step of its buffer, 2 afterwards.
        eager_state: torch creates the state at construction (Adagrad), not at the first step.
        bench: benchmark cases.
        numpy_peer: the rule written as plain NumPy, for the benchmark.
        torch_peer: the torch optimizer the rule is tested against ("module.Class"; default:
            ``torch.optim``'s class of the same name), for rules torch.optim lacks (Lion:
            ``pytorch_optimizer.Lion``).
        scalar_state_dtype: the dtype the rule's scalar state is kept in: float32 as torch keeps
            its scalar tensors (NAdam, ASGD), float64 where the reference keeps Python floats
            (schedule-free's lr_max and weight_sum).
        train_eval: for rules whose params show another point than the one they step from
            (schedule-free): (state buffer, weight(group, to_train)); ``train()`` sets every param
            to ``lerp(param, state[buffer], weight(group, True))``, ``eval()`` likewise with
            ``False``; a step needs train mode.
        torch_sparse_step: for a rule whose sparse gradients fastoptim.torch hands to torch's own
            operations (SGD, whose momentum buffer torch keeps sparse): one param's step from a
            sparse COO gradient with torch's semantics, as ``f(param, grad, state, group,
            check_only)``; ``check_only`` validates and writes nothing.
        sparse_grads: how fastoptim.torch takes sparse COO gradients (the NumPy API and ``ops``
            take row-sparse ``(indices, values)`` gradients for every rule): "refused" (torch's
            RuntimeError), "rows" (only the rows named are stepped, by the rule's kernel; duplicate
            indices summed), "only" (as "rows", and dense gradients refused: SparseAdam).
        sparse_check: validation of a group stepped from sparse gradients (Adagrad refuses
            weight_decay, as torch does); raises what torch raises.
        int_step: torch keeps the step count as a Python int (SparseAdam), not a tensor.
        takes_complex: torch's class takes complex params (SparseAdam refuses them).
    """

    rule: str
    doc: str
    args: tuple[Arg, ...]
    buffers: tuple[Buffer, ...]
    classes: tuple[ClassVariant, ...]
    options: dict[str, str] = field(default_factory=dict)
    checkpoint_keys: tuple[str, ...] = ("lr",)
    check: Callable[[Group], None] | None = None
    stepless: bool = False
    eager_state: bool = False
    bench: tuple[BenchCase, ...] = ()
    numpy_peer: NumpyPeer | None = None
    torch_peer: str | None = None
    train_eval: tuple[str, Callable[[Group, bool], float]] | None = None
    scalar_state_dtype: str = "float32"
    torch_sparse_step: Callable[..., None] | None = None
    sparse_grads: str = "refused"
    sparse_check: Callable[[Group], None] | None = None
    int_step: bool = False
    takes_complex: bool = True

    def buffers_for(self, group: Group) -> list[Buffer]:
        """The buffers a group with these options keeps, in spec order."""
        return [b for b in self.buffers if b.present(group)]

    def required_buffers(self) -> tuple[str, ...]:
        """Buffers every param with any state has."""
        return tuple(b.name for b in self.buffers if b.when is None)

    def structure_keys(self) -> tuple[str, ...]:
        """The group options that decide the kernel's variant: maximize, the options, the
        switches of optional buffers (a plan is rebuilt when one of them changes). Cached: both
        optimizer layers ask every step."""
        keys = _STRUCTURE_KEYS.get(self.rule)
        if keys is None:
            keys = ["maximize", *self.options.values(), *(b.when for b in self.buffers if b.when)]
            keys = _STRUCTURE_KEYS[self.rule] = tuple(dict.fromkeys(keys))
        return keys

    def kernel_names(self) -> tuple[str, ...]:
        """The C++ rule's hyperparameter names in kernel order ("betas[0]"...). Cached."""
        names = _KERNEL_NAMES.get(self.rule)
        if names is None:
            from .. import _core

            names = _KERNEL_NAMES[self.rule] = tuple(_core.rule_hyper_names(self.rule))
        return names

    def copied_buffers(self) -> set[str]:
        """The buffers that start as a copy of the param (schedule-free's z)."""
        return {b.name for b in self.buffers if b.copy_param}

    def arg(self, name: str) -> Arg:
        for a in self.args:
            if a.name == name:
                return a
        raise KeyError(name)


def kernel_value(group: Group, name: str) -> Any:
    """The group's value for the C++ hyperparameter ``name`` ("lr", or "betas[1]": item 1 of
    the group's "betas")."""
    if name.endswith("]"):
        key, index = name[:-1].split("[")
        seq = group[key]
        if not isinstance(seq, (tuple, list)) or len(seq) != 2:
            raise ValueError(f"invalid {key}: {seq!r} (must be a pair)")
        return seq[int(index)]
    return group[name]


def mode_methods() -> dict[str, Callable[..., None]]:
    """``train()`` and ``eval()`` for the classes of a rule with ``train_eval`` (schedule-free);
    only those classes have them (trainers test ``hasattr(optimizer, "train")`` to find them)."""

    def train(self) -> None:
        """Params to the point the rule steps from (schedule-free: y); needed before ``step``."""
        self._switch_mode(True)

    def eval(self) -> None:
        """Params to the point to evaluate (schedule-free: x, the average), as schedulefree's eval()."""
        self._switch_mode(False)

    return {"train": train, "eval": eval}
