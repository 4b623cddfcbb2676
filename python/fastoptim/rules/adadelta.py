"""Adadelta (torch.optim.Adadelta)."""

from __future__ import annotations

import numpy as np

from .descriptor import Arg, BenchCase, Buffer, ClassVariant, RuleDescriptor


def _numpy_peer(kw, p, grads):
    lr, rho, eps = kw["lr"], kw["rho"], kw["eps"]
    sq, acc = ([np.zeros_like(x) for x in p] for _ in range(2))

    def step() -> None:
        for x, g, s, a in zip(p, grads, sq, acc):
            s *= rho
            s += (1 - rho) * g * g
            delta = np.sqrt(a + eps) / np.sqrt(s + eps) * g
            a *= rho
            a += (1 - rho) * delta * delta
            x -= lr * delta
    return step


DESCRIPTOR = RuleDescriptor(
    rule="adadelta",
    doc=r"""Adadelta, with torch.optim.Adadelta's arguments, defaults and formula::

        d   = ±g + weight_decay·p
        sq  = ρ·sq + (1 − ρ)·d²
        Δ   = sqrt(acc + eps)/sqrt(sq + eps) · d
        acc = ρ·acc + (1 − ρ)·Δ²
        p   = p − lr·Δ""",
    args=(
        Arg("lr", 1.0), Arg("rho", 0.9), Arg("eps", 1e-6), Arg("weight_decay", 0.0),
        Arg("foreach", None, torch_only=True),
        Arg("capturable", False, torch_only=True, keyword_only=True),
        Arg("maximize", False, keyword_only=True, kind="bool"),
        Arg("differentiable", False, torch_only=True, keyword_only=True),
    ),
    buffers=(Buffer("square_avg"), Buffer("acc_delta")),
    classes=(ClassVariant("Adadelta"),),
    checkpoint_keys=("lr", "rho", "eps", "weight_decay"),
    bench=(BenchCase("adadelta", "Adadelta", dict(lr=1.0)),),
    numpy_peer=_numpy_peer,
)
