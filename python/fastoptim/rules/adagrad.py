"""Adagrad (torch.optim.Adagrad)."""

from __future__ import annotations

import math

import numpy as np

from .descriptor import Arg, BenchCase, Buffer, ClassVariant, Group, RuleDescriptor


def _check(group: Group) -> None:
    v = group["initial_accumulator_value"]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
        raise ValueError(f"invalid initial_accumulator_value: {v} (must be finite and >= 0)")


def _numpy_peer(kw, p, grads):
    lr, eps = kw["lr"], 1e-10
    s = [np.zeros_like(x) for x in p]

    def step() -> None:
        for x, g, si in zip(p, grads, s):
            si += g * g
            x -= lr * g / (np.sqrt(si) + eps)
    return step


def _sparse_check(group: Group) -> None:
    if group["weight_decay"] != 0:  # torch's refusal, word for word
        raise RuntimeError("weight_decay option is not compatible with sparse gradients")


DESCRIPTOR = RuleDescriptor(
    rule="adagrad",
    doc=r"""Adagrad, with torch.optim.Adagrad's arguments, defaults and formula::

        d   = ±g + weight_decay·p
        s   = s + d²                     (s starts at initial_accumulator_value)
        p   = p − clr·d / (sqrt(s) + eps),   clr = lr / (1 + (t − 1)·lr_decay)""",
    args=(
        Arg("lr", 1e-2), Arg("lr_decay", 0.0), Arg("weight_decay", 0.0), Arg("initial_accumulator_value", 0.0),
        Arg("eps", 1e-10), Arg("foreach", None, torch_only=True),
        Arg("maximize", False, keyword_only=True, kind="bool"),
        Arg("differentiable", False, torch_only=True, keyword_only=True),
        Arg("fused", None, torch_only=True, keyword_only=True),
    ),
    buffers=(Buffer("sum", init=lambda g: g["initial_accumulator_value"]),),
    classes=(ClassVariant("Adagrad"),),
    checkpoint_keys=("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps"),
    check=_check,
    eager_state=True,
    bench=(BenchCase("adagrad", "Adagrad", dict(lr=1e-2)),),
    numpy_peer=_numpy_peer,
    sparse_grads="rows",
    sparse_check=_sparse_check,
)
