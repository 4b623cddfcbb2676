"""The benchmarked update-rule configurations (from the rule registry's bench cases) and their
minimum memory traffic."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..rules import REGISTRY
from ..rules.descriptor import RuleDescriptor


@dataclass(frozen=True)
class RuleCase:
    """One optimizer configuration: its class name (same in fastoptim and torch.optim),
    keyword arguments, and the read-write streams besides the read-only gradient."""

    label: str
    name: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    rw_streams: int = 1  # param + state buffers, each read and written once per step
    rule: str = ""

    @property
    def bytes_per_element(self) -> int:
        """Minimum DRAM traffic per float32 element: the gradient read once, every other
        stream read and written once."""
        return 4 * (1 + 2 * self.rw_streams)

    @property
    def descriptor(self) -> RuleDescriptor:
        return REGISTRY[self.rule]

    def effective_kwargs(self) -> dict[str, Any]:
        """The group options the class runs with: the rule's defaults, the class's own defaults
        and fixed keys, then the case's kwargs."""
        d = self.descriptor
        variant = next(v for v in d.classes if v.name == self.name)
        base = {a.name: a.default for a in d.args if not a.torch_only}
        return {**base, **variant.defaults, **variant.fixed, **self.kwargs}


def _cases() -> list[RuleCase]:
    out = []
    for d in REGISTRY.values():
        for case in d.bench:
            variant = next(v for v in d.classes if v.name == case.cls)
            group = {**{a.name: a.default for a in d.args}, **variant.defaults, **variant.fixed, **case.kwargs}
            out.append(RuleCase(case.label, case.cls, dict(case.kwargs), 1 + len(d.buffers_for(group)), d.rule))
    return out


RULES = _cases()
RULES_BY_LABEL = {r.label: r for r in RULES}
TORCH_FUSED = {"SGD", "Adagrad", "Adam", "AdamW"}
"""torch.optim's classes with a fused CPU kernel (torch 2.13); the others loop per tensor."""
