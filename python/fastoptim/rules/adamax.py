"""Adamax: Adam with the infinity norm (torch.optim.Adamax)."""

from __future__ import annotations

import numpy as np

from .descriptor import Arg, BenchCase, Buffer, ClassVariant, RuleDescriptor


def _numpy_peer(kw, p, grads):
    lr, (b1, b2), eps = kw["lr"], kw["betas"], kw["eps"]
    m, u = ([np.zeros_like(x) for x in p] for _ in range(2))
    t = [0]

    def step() -> None:
        t[0] += 1
        clr = lr / (1 - b1 ** t[0])
        for x, g, mi, ui in zip(p, grads, m, u):
            mi += (1 - b1) * (g - mi)
            ui *= b2
            np.maximum(ui, np.abs(g) + eps, out=ui)
            x -= clr * mi / ui
    return step


DESCRIPTOR = RuleDescriptor(
    rule="adamax",
    doc=r"""Adamax, with torch.optim.Adamax's arguments, defaults and formula::

        d = ±g + weight_decay·p
        m = lerp(m, d, 1 − β1)
        u = max(β2·u, |d| + eps)
        p = p − lr/(1 − β1^t) · m/u""",
    args=(
        Arg("lr", 2e-3), Arg("betas", (0.9, 0.999), kind="pair"), Arg("eps", 1e-8), Arg("weight_decay", 0.0),
        Arg("foreach", None, torch_only=True),
        Arg("maximize", False, keyword_only=True, kind="bool"),
        Arg("differentiable", False, torch_only=True, keyword_only=True),
        Arg("capturable", False, torch_only=True, keyword_only=True),
    ),
    buffers=(Buffer("exp_avg"), Buffer("exp_inf")),
    classes=(ClassVariant("Adamax"),),
    checkpoint_keys=("lr", "betas", "eps", "weight_decay"),
    bench=(BenchCase("adamax", "Adamax", dict(lr=2e-3)),),
    numpy_peer=_numpy_peer,
)
