"""NAdam: Adam with Nesterov momentum and a momentum schedule (torch.optim.NAdam)."""

from __future__ import annotations

import numpy as np

from .descriptor import Arg, BenchCase, Buffer, ClassVariant, RuleDescriptor


def _numpy_peer(kw, p, grads):
    lr, (b1, b2), eps, psi = kw["lr"], kw["betas"], kw["eps"], kw["momentum_decay"]
    m, v = ([np.zeros_like(x) for x in p] for _ in range(2))
    t, prod = [0], [1.0]

    def step() -> None:
        t[0] += 1
        mu = b1 * (1 - 0.5 * 0.96 ** (t[0] * psi))
        mu_next = b1 * (1 - 0.5 * 0.96 ** ((t[0] + 1) * psi))
        prod[0] *= mu
        bc2 = 1 - b2 ** t[0]
        for x, g, mi, vi in zip(p, grads, m, v):
            mi += (1 - b1) * (g - mi)
            vi *= b2
            vi += (1 - b2) * g * g
            denom = np.sqrt(vi / bc2) + eps
            x -= lr * (1 - mu) / (1 - prod[0]) * g / denom
            x -= lr * mu_next / (1 - prod[0] * mu_next) * mi / denom
    return step


DESCRIPTOR = RuleDescriptor(
    rule="nadam",
    doc=r"""NAdam, with torch.optim.NAdam's arguments, defaults and formula::

        d   = ±g + weight_decay·p                    (decoupled_weight_decay: p = (1 − lr·weight_decay)·p)
        μ_t = β1·(1 − ½·0.96^(t·momentum_decay)),  Π_t = Π_{t−1}·μ_t    (Π: state 'mu_product')
        m   = lerp(m, d, 1 − β1);   v = β2·v + (1 − β2)·d²
        den = sqrt(v / (1 − β2^t)) + eps
        p   = p − lr·(1 − μ_t)/(1 − Π_t)·d/den − lr·μ_{t+1}/(1 − Π_t·μ_{t+1})·m/den""",
    args=(
        Arg("lr", 2e-3), Arg("betas", (0.9, 0.999), kind="pair"), Arg("eps", 1e-8), Arg("weight_decay", 0.0),
        Arg("momentum_decay", 4e-3), Arg("decoupled_weight_decay", False, kind="bool"),
        Arg("foreach", None, torch_only=True, keyword_only=True),
        Arg("maximize", False, keyword_only=True, kind="bool"),
        Arg("capturable", False, torch_only=True, keyword_only=True),
        Arg("differentiable", False, torch_only=True, keyword_only=True),
    ),
    buffers=(Buffer("exp_avg"), Buffer("exp_avg_sq")),
    classes=(ClassVariant("NAdam"),),
    options={"decoupled": "decoupled_weight_decay"},
    checkpoint_keys=("lr", "betas", "eps", "weight_decay", "momentum_decay"),
    bench=(BenchCase("nadam", "NAdam", dict(lr=2e-3)),),
    numpy_peer=_numpy_peer,
)
