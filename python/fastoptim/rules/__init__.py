"""The rule registry: one module per update rule, each defining ``DESCRIPTOR``
(:class:`~fastoptim.rules.descriptor.RuleDescriptor`).

Every module in this package except ``descriptor`` is a rule; the registry finds them by name
and checks each against the C++ rule of the same name (``fastoptim._core.rule_spec``): the
buffers must be the C++ state buffers in the same order, every kernel hyperparameter and
option must map to an argument. Adding a rule is its C++ header, its module here, and its
float64 reference in ``tests/reference/``.
"""

from __future__ import annotations

import importlib
import pkgutil

from .. import _core
from .descriptor import Arg, BenchCase, Buffer, ClassVariant, RuleDescriptor, kernel_value

__all__ = ["REGISTRY", "RuleDescriptor", "Arg", "Buffer", "ClassVariant", "BenchCase", "kernel_value",
           "descriptor", "class_variants"]


def _check(d: RuleDescriptor) -> None:
    spec = _core.rule_spec(d.rule)
    names = [a.name for a in d.args]
    buffers = [b.name for b in d.buffers]
    if buffers != [s[0] for s in spec["state"]]:
        raise RuntimeError(f"rule {d.rule}: descriptor buffers {buffers} != C++ state {spec['state']}")
    for hyper, _ in spec["hyper"]:
        if hyper.split("[")[0] not in names:
            raise RuntimeError(f"rule {d.rule}: C++ hyperparameter {hyper!r} has no argument")
    for option in spec["options"]:
        if d.options.get(option) not in names:
            raise RuntimeError(f"rule {d.rule}: C++ option {option!r} maps to no argument")


def _discover() -> dict[str, RuleDescriptor]:
    out: dict[str, RuleDescriptor] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name == "descriptor":
            continue
        d = importlib.import_module(f"{__name__}.{info.name}").DESCRIPTOR
        _check(d)
        out[d.rule] = d
    missing = set(_core.rule_names()) - set(out)
    if missing:
        raise RuntimeError(f"C++ rules without a Python descriptor: {sorted(missing)}")
    return out


REGISTRY: dict[str, RuleDescriptor] = _discover()
"""Every registered rule, by its C++ name."""


def descriptor(rule: str) -> RuleDescriptor:
    """The descriptor of the rule named ``rule`` (KeyError naming the known ones)."""
    try:
        return REGISTRY[rule]
    except KeyError:
        raise KeyError(f"unknown rule {rule!r}; registered: {sorted(REGISTRY)}") from None


def class_variants() -> list[tuple[RuleDescriptor, ClassVariant]]:
    """Every class the registry offers (Adam, AdamW, ...), with its rule, in registry order."""
    return [(d, v) for d in REGISTRY.values() for v in d.classes]
