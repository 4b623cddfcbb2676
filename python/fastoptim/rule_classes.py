"""The NumPy optimizer classes, built from the rule registry (:mod:`fastoptim.rules`).

Each class (``SGD``, ``Adam``, ``AdamW``, ``NAdam``, ...) takes torch.optim's arguments of its
rule, in torch's order and with torch's defaults (torch's execution switches ``foreach``,
``capturable``, ``differentiable`` and ``fused`` aside: they mean nothing here), plus
fastoptim's state-format options, keyword-only:

- ``state_bits``: 32 (state like the params), 16 (bfloat16 state, needs ml_dtypes) or, where
  the rule has an 8-bit variant, 8 (block-wise 8-bit state for float32 params with at least
  ``min_8bit_size`` elements; see :mod:`fastoptim.quantized_state`);
- ``stochastic_rounding`` and ``seed``: bfloat16 (and 8-bit) state rounded stochastically,
  from a hash of (seed, step, element), the same bits for any thread count and ISA;
- ``ema_decay``: keep an exponential moving average of the weights (``state[i]["ema"]``,
  checkpointed): after each step ``ema = lerp(ema, p, 1 - ema_decay)``, the first step's weights
  copied, as ``torch.optim.swa_utils.AveragedModel`` with ``get_ema_multi_avg_fn`` does.
"""

from __future__ import annotations

import inspect
from typing import Any

from . import _core
from .optimizer import Optimizer
from .rules import class_variants
from .rules.descriptor import ClassVariant, RuleDescriptor, mode_methods

_FORMAT_DOC = """
    State formats (``state_bits``): {formats}.
    """


def _extras(d: RuleDescriptor) -> list[tuple[str, Any]]:
    """fastoptim's keyword-only options for the rule's state formats."""
    formats = _core.rule_spec(d.rule)["formats"]
    out: list[tuple[str, Any]] = [("state_bits", 32)]
    if "block8" in formats:
        out.append(("min_8bit_size", 4096))
    out += [("stochastic_rounding", False), ("seed", 0), ("ema_decay", None)]
    return out


def numpy_signature(d: RuleDescriptor, v: ClassVariant) -> inspect.Signature:
    """The constructor signature: torch's arguments (torch-only ones left out; everything after
    the first of those, or after torch's ``*``, keyword-only), then the format options."""
    P = inspect.Parameter
    params = [P("self", P.POSITIONAL_OR_KEYWORD), P("params", P.POSITIONAL_OR_KEYWORD, annotation="Any")]
    keyword = False
    for a in d.args:
        keyword = keyword or a.keyword_only or a.torch_only
        if a.torch_only or a.name in v.fixed:
            continue
        default = v.defaults.get(a.name, a.default)
        annotation = {"real": "float", "pair": "tuple[float, float]", "bool": "bool"}.get(a.kind, "Any")
        params.append(P(a.name, P.KEYWORD_ONLY if keyword else P.POSITIONAL_OR_KEYWORD, default=default,
                        annotation=annotation))
    names = {p.name for p in params}
    if "maximize" not in names:
        params.append(P("maximize", P.KEYWORD_ONLY, default=False, annotation="bool"))
    params += [P(name, P.KEYWORD_ONLY, default=value, annotation=type(value).__name__) for name, value in _extras(d)]
    return inspect.Signature(params, return_annotation="None")


def make_numpy_class(d: RuleDescriptor, v: ClassVariant) -> type[Optimizer]:
    """The NumPy optimizer class ``v.name`` of rule ``d``."""
    sig = numpy_signature(d, v)

    def __init__(self: Optimizer, *args: Any, **kwargs: Any) -> None:
        bound = sig.bind(self, *args, **kwargs)
        bound.apply_defaults()
        values = dict(bound.arguments)
        values.pop("self")
        params = values.pop("params")
        for a in d.args:
            if a.kind == "pair" and a.name in values and isinstance(values[a.name], list):
                values[a.name] = tuple(values[a.name])
        Optimizer.__init__(self, params, values)

    __init__.__signature__ = sig  # type: ignore[attr-defined]
    formats = ", ".join({"plain": "32", "bf16_state": "16 (bfloat16)", "block8": "8 (block-wise)"}[f]
                        for f in _core.rule_spec(d.rule)["formats"] if f != "mixed")
    doc = (v.doc + "\n\n    " if v.doc else "") + d.doc + "\n" + _FORMAT_DOC.format(formats=formats)
    # schedule-free: params start in train mode (x = y = z at the start, so no switch is due yet)
    fixed = {**v.fixed, **({"train_mode": True} if d.train_eval else {})}
    cls = type(v.name, (Optimizer,), {
        "__init__": __init__, "__doc__": doc, "__module__": "fastoptim", "rule": d.rule, "descriptor": d,
        "_fixed": fixed, **(mode_methods() if d.train_eval else {}),
    })
    return cls


CLASSES: dict[str, type[Optimizer]] = {v.name: make_numpy_class(d, v) for d, v in class_variants()}
"""Every NumPy optimizer class, by name."""
