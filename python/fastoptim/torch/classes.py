"""fastoptim.torch's optimizer classes, built from the rule registry: each takes exactly the
arguments of its torch.optim namesake, in torch's order, with torch's defaults."""

from __future__ import annotations

import inspect
from typing import Any

import torch

from .. import _core
from ..rules import class_variants
from ..rules.descriptor import ClassVariant, RuleDescriptor, mode_methods
from .optimizer import _EXTRAS, _FastOptimizer


def torch_signature(d: RuleDescriptor, v: ClassVariant) -> inspect.Signature:
    """torch.optim's constructor signature of class ``v`` (without the keys it fixes)."""
    P = inspect.Parameter
    params = [P("self", P.POSITIONAL_OR_KEYWORD), P("params", P.POSITIONAL_OR_KEYWORD, annotation="Iterable[Any]")]
    for a in d.args:
        if a.name in v.fixed:
            continue
        annotation = {"real": "float", "pair": "tuple[float, float]", "bool": "bool"}.get(a.kind, "Any")
        params.append(P(a.name, P.KEYWORD_ONLY if a.keyword_only else P.POSITIONAL_OR_KEYWORD,
                        default=v.defaults.get(a.name, a.default), annotation=annotation))
    # fastoptim's own options, keyword-only after torch's (see the package docstring)
    params += [P("state_bits", P.KEYWORD_ONLY, default=32, annotation="int"),
               P("stochastic_rounding", P.KEYWORD_ONLY, default=False, annotation="bool"),
               P("seed", P.KEYWORD_ONLY, default=0, annotation="int"),
               P("master_weights", P.KEYWORD_ONLY, default=False, annotation="bool"),
               P("ema_decay", P.KEYWORD_ONLY, default=None, annotation="float | None")]
    if "block8" in _core.rule_spec(d.rule)["formats"]:
        params.append(P("min_8bit_size", P.KEYWORD_ONLY, default=4096, annotation="int"))
    return inspect.Signature(params, return_annotation="None")


def validate_like_torch(name: str, arguments: dict[str, Any]) -> None:
    """Raise what ``torch.optim.<name>`` raises for these arguments (same types, same messages):
    torch's constructor is run on a throwaway parameter, which checks its arguments before
    anything else."""
    torch_cls = getattr(torch.optim, name, None)
    if torch_cls is not None:
        torch_cls([torch.zeros(1, requires_grad=True)], **arguments)


def make_torch_class(d: RuleDescriptor, v: ClassVariant) -> type[_FastOptimizer]:
    """The drop-in class ``v.name`` of rule ``d``."""
    sig = torch_signature(d, v)

    def __init__(self: _FastOptimizer, *args: Any, **kwargs: Any) -> None:
        bound = sig.bind(self, *args, **kwargs)
        bound.apply_defaults()
        values = dict(bound.arguments)
        values.pop("self")
        params = values.pop("params")
        validate_like_torch(v.name, {k: x for k, x in values.items() if k not in _EXTRAS})
        # fastoptim's options join the groups only when set, so that a plain optimizer's
        # state_dict is exactly torch's
        values = {k: x for k, x in values.items() if k not in _EXTRAS or x != sig.parameters[k].default}
        mode = {"train_mode": True} if d.train_eval else {}  # schedule-free: starts in train mode (x = y = z)
        _FastOptimizer.__init__(self, params, {**values, **v.fixed, **mode})

    __init__.__signature__ = sig  # type: ignore[attr-defined]
    doc = (f"torch.optim.{v.name} on fastoptim's kernel (same arguments, defaults and state).\n\n    "
           + (v.doc + "\n\n    " if v.doc else "") + d.doc)
    return type(v.name, (_FastOptimizer,), {"__init__": __init__, "__doc__": doc, "__module__": "fastoptim.torch",
                                            "_rule": d.rule, "descriptor": d,
                                            **(mode_methods() if d.train_eval else {})})


CLASSES: dict[str, type[_FastOptimizer]] = {v.name: make_torch_class(d, v) for d, v in class_variants()}
"""Every drop-in class, by name."""
