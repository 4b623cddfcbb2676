"""The benchmarked update-rule configurations and their minimum memory traffic."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RuleCase:
    """One optimizer configuration: its class name (same in fastoptim and torch.optim),
    keyword arguments, and the read-write streams besides the read-only gradient."""

    label: str
    name: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    rw_streams: int = 1  # param + state buffers, each read and written once per step

    @property
    def bytes_per_element(self) -> int:
        """Minimum DRAM traffic per float32 element: the gradient read once, every other
        stream read and written once."""
        return 4 * (1 + 2 * self.rw_streams)


RULES = [
    RuleCase("sgd", "SGD", dict(lr=1e-3), 1),
    RuleCase("sgd_momentum", "SGD", dict(lr=1e-3, momentum=0.9), 2),
    RuleCase("adagrad", "Adagrad", dict(lr=1e-2), 2),
    RuleCase("rmsprop", "RMSprop", dict(lr=1e-2), 2),
    RuleCase("adam", "Adam", dict(lr=1e-3), 3),
    RuleCase("adamw", "AdamW", dict(lr=1e-3), 3),
    RuleCase("adam_amsgrad", "Adam", dict(lr=1e-3, amsgrad=True), 4),
    RuleCase("rmsprop_centered_momentum", "RMSprop", dict(lr=1e-2, centered=True, momentum=0.9), 4),
]
RULES_BY_LABEL = {r.label: r for r in RULES}
TORCH_FUSED = {"SGD", "Adagrad", "Adam", "AdamW"}
