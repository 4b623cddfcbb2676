"""Functional update rules: one call steps caller-owned params and state in place.

For micro-benchmarks and for frameworks that keep their own state (anything that can hand
over NumPy views of its buffers). There is one function per registered rule, named after it
(``sgd_``, ``adam_``, ``nadam_``, ...), built from the rule registry::

    ops.adam_(params, grads, {"exp_avg": ms, "exp_avg_sq": vs}, step=t, lr=1e-3)

``state`` maps torch's state keys to one array per param (optional buffers, such as SGD's
``momentum_buffer`` or Adam's ``max_exp_avg_sq``, switch their variant on by being given); a
rule's scalar state (NAdam's ``mu_product``...) is given the same way, as 1-element float32 or
float64 arrays (one for all params, or one per param) that the call reads and rewrites.
``step`` is the 1-based step number (SGD: 1 on the momentum buffer's first step, which copies
the gradient into it). A gradient may be row-sparse, a pair ``(indices, values)``
(:class:`fastoptim.RowSparse`): only the rows it names, and their state, are stepped. The
hyperparameters are torch.optim's, keyword-only, with its defaults. Lists are stepped in one
C++ call; every buffer is checked on every call (dtype, shape, layout, aliasing) before
anything is written.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from . import _core
from .rules import REGISTRY
from .rules.descriptor import RuleDescriptor, kernel_value

Arrays = Sequence[np.ndarray]


def _make_op(d: RuleDescriptor) -> Callable[..., None]:
    kernel_names = d.kernel_names()
    P = inspect.Parameter
    args = [a for a in d.args if not a.torch_only and a.kind != "bool" and a.name != "maximize"]
    option_keys = sorted(set(d.options.values()))
    params = [P("params", P.POSITIONAL_OR_KEYWORD, annotation="Sequence[np.ndarray]"),
              P("grads", P.POSITIONAL_OR_KEYWORD, annotation="Sequence[np.ndarray]"),
              P("state", P.POSITIONAL_OR_KEYWORD, default=None,
                annotation="Mapping[str, Sequence[np.ndarray]] | None"),
              P("step", P.KEYWORD_ONLY, annotation="int")]
    params += [P(a.name, P.KEYWORD_ONLY, default=a.default) for a in args]
    params += [P(k, P.KEYWORD_ONLY, default=False, annotation="bool") for k in option_keys]
    params.append(P("maximize", P.KEYWORD_ONLY, default=False, annotation="bool"))
    sig = inspect.Signature(params, return_annotation="None")

    def op(*a: Any, **kw: Any) -> None:
        bound = sig.bind(*a, **kw)
        bound.apply_defaults()
        v = bound.arguments
        state: Mapping[str, Arrays] = v["state"] or {}
        hyper = tuple(kernel_value(v, name) for name in kernel_names)
        options = {o: bool(v[key]) for o, key in d.options.items()}
        plan = _core.StepPlan(d.rule, list(v["params"]), {k: list(x) for k, x in state.items()},
                              bool(v["maximize"]), options)
        plan.step(list(v["grads"]), hyper, v["step"])

    op.__signature__ = sig  # type: ignore[attr-defined]
    op.__name__ = op.__qualname__ = f"{d.rule}_"
    op.__module__ = __name__
    op.__doc__ = (f"One {d.rule} step over caller-owned params and state ({', '.join(repr(b.name) for b in d.buffers)}"
                  f"); see the module docstring.\n\n    The rule: " + d.doc)
    return op


OPS: dict[str, Callable[..., None]] = {f"{name}_": _make_op(d) for name, d in REGISTRY.items()}
"""Every functional rule, by function name."""
globals().update(OPS)
__all__ = sorted(OPS)


def ema_(averages: Arrays, params: Arrays, *, decay: float, first: bool = False) -> None:
    """Exponential moving average of weights, in place, one multi-tensor C++ call:
    ``averages[i] = lerp(averages[i], params[i], 1 - decay)`` (torch.optim.swa_utils'
    ``get_ema_multi_avg_fn``), or a copy of the params when ``first`` (as ``AveragedModel`` starts).
    float32/float64, each average shaped and typed like its param."""
    _core.ema_update(list(averages), list(params), float(decay), bool(first))


__all__ = [*__all__, "ema_"]


# Not registry rules (their steps need whole tensors: matrices, per-tensor norms): defined
# beside their optimizers.
from .adafactor import adafactor_  # noqa: E402
from .lamb import lamb_  # noqa: E402
from .muon import muon_  # noqa: E402

__all__ = [*__all__, "muon_", "adafactor_", "lamb_"]
