"""ASGD: averaged stochastic gradient descent (torch.optim.ASGD)."""

from __future__ import annotations

import numpy as np

from .descriptor import Arg, BenchCase, Buffer, ClassVariant, RuleDescriptor


def _numpy_peer(kw, p, grads):
    lr, lambd, alpha, t0 = kw["lr"], kw["lambd"], kw["alpha"], kw["t0"]
    ax = [np.zeros_like(x) for x in p]
    t, eta, mu = [0], [lr], [1.0]

    def step() -> None:
        t[0] += 1
        for x, g, a in zip(p, grads, ax):
            x *= 1 - lambd * eta[0]
            x -= eta[0] * g
            if mu[0] != 1:
                a += (x - a) * mu[0]
            else:
                a[...] = x
        eta[0] = lr / (1 + lambd * lr * t[0]) ** alpha
        mu[0] = 1 / max(1, t[0] - t0)
    return step


DESCRIPTOR = RuleDescriptor(
    rule="asgd",
    doc=r"""ASGD, with torch.optim.ASGD's arguments, defaults and formula::

        d  = ±g + weight_decay·p
        p  = p·(1 − lambd·η) − η·d
        ax = ax + (p − ax)·μ  (μ ≠ 1),  else ax = p           (the averaged params: state 'ax')
        η  = lr/(1 + lambd·lr·t)^alpha;   μ = 1/max(1, t − t0)  (states 'eta', 'mu'; η starts at lr, μ at 1)""",
    args=(
        Arg("lr", 1e-2), Arg("lambd", 1e-4), Arg("alpha", 0.75), Arg("t0", 1e6), Arg("weight_decay", 0.0),
        Arg("foreach", None, torch_only=True), Arg("maximize", False, kind="bool"),
        Arg("differentiable", False, torch_only=True), Arg("capturable", False, torch_only=True),
    ),
    buffers=(Buffer("ax"),),
    classes=(ClassVariant("ASGD"),),
    checkpoint_keys=("lr", "lambd", "alpha", "t0", "weight_decay"),
    bench=(BenchCase("asgd", "ASGD", dict(lr=1e-2)),),
    numpy_peer=_numpy_peer,
)
