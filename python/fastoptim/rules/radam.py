"""RAdam: Adam with its adaptive rate's variance rectified (torch.optim.RAdam)."""

from __future__ import annotations

import math

import numpy as np

from .descriptor import Arg, BenchCase, Buffer, ClassVariant, RuleDescriptor


def _numpy_peer(kw, p, grads):
    lr, (b1, b2), eps = kw["lr"], kw["betas"], kw["eps"]
    m, v = ([np.zeros_like(x) for x in p] for _ in range(2))
    t = [0]
    rho_inf = 2 / (1 - b2) - 1

    def step() -> None:
        t[0] += 1
        bc1, bc2 = 1 - b1 ** t[0], 1 - b2 ** t[0]
        rho_t = rho_inf - 2 * t[0] * b2 ** t[0] / bc2
        for x, g, mi, vi in zip(p, grads, m, v):
            mi += (1 - b1) * (g - mi)
            vi *= b2
            vi += (1 - b2) * g * g
            if rho_t > 5:
                rect = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
                x -= lr * rect * math.sqrt(bc2) / bc1 * mi / (np.sqrt(vi) + eps)
            else:
                x -= lr / bc1 * mi
    return step


DESCRIPTOR = RuleDescriptor(
    rule="radam",
    doc=r"""RAdam, with torch.optim.RAdam's arguments, defaults and formula::

        d   = ±g + weight_decay·p                    (decoupled_weight_decay: p = (1 − lr·weight_decay)·p)
        m   = lerp(m, d, 1 − β1);   v = β2·v + (1 − β2)·d²
        ρ∞  = 2/(1 − β2) − 1;   ρ_t = ρ∞ − 2t·β2^t/(1 − β2^t)
        ρ_t > 5:  p = p − lr·r_t·sqrt(1 − β2^t)/(1 − β1^t) · m/(sqrt(v) + eps),
                  r_t = sqrt((ρ_t − 4)(ρ_t − 2)ρ∞ / ((ρ∞ − 4)(ρ∞ − 2)ρ_t))
        else:     p = p − lr/(1 − β1^t) · m""",
    args=(
        Arg("lr", 1e-3), Arg("betas", (0.9, 0.999), kind="pair"), Arg("eps", 1e-8), Arg("weight_decay", 0.0),
        Arg("decoupled_weight_decay", False, kind="bool"),
        Arg("foreach", None, torch_only=True, keyword_only=True),
        Arg("maximize", False, keyword_only=True, kind="bool"),
        Arg("capturable", False, torch_only=True, keyword_only=True),
        Arg("differentiable", False, torch_only=True, keyword_only=True),
    ),
    buffers=(Buffer("exp_avg"), Buffer("exp_avg_sq")),
    classes=(ClassVariant("RAdam"),),
    options={"decoupled": "decoupled_weight_decay"},
    checkpoint_keys=("lr", "betas", "eps", "weight_decay"),
    bench=(BenchCase("radam", "RAdam", dict(lr=1e-3)),),
    numpy_peer=_numpy_peer,
)
