"""Rprop: resilient backpropagation (torch.optim.Rprop)."""

from __future__ import annotations

import numpy as np

from .descriptor import Arg, BenchCase, Buffer, ClassVariant, RuleDescriptor


def _numpy_peer(kw, p, grads):
    (etaminus, etaplus), (lo, hi) = kw["etas"], kw["step_sizes"]
    prev = [np.zeros_like(x) for x in p]
    size = [np.full_like(x, kw["lr"]) for x in p]

    def step() -> None:
        for x, g, pr, s in zip(p, grads, prev, size):
            sign = np.sign(g * pr)
            factor = np.where(sign > 0, etaplus, np.where(sign < 0, etaminus, 1.0)).astype(x.dtype)
            s *= factor
            np.clip(s, lo, hi, out=s)
            d = np.where(factor == etaminus, 0, g).astype(x.dtype)
            x -= np.sign(d) * s
            pr[...] = d
    return step


DESCRIPTOR = RuleDescriptor(
    rule="rprop",
    doc=r"""Rprop, with torch.optim.Rprop's arguments, defaults and formula::

        f = η+ if d·prev > 0, η− if d·prev < 0, else 1          (d = ±g; etas = (η−, η+))
        s = clamp(s·f, step_sizes[0], step_sizes[1])           (s starts at lr)
        d = 0 where f = η−;   p = p − sign(d)·s;   prev = d""",
    args=(
        Arg("lr", 1e-2), Arg("etas", (0.5, 1.2), kind="pair"), Arg("step_sizes", (1e-6, 50.0), kind="pair"),
        Arg("capturable", False, torch_only=True, keyword_only=True),
        Arg("foreach", None, torch_only=True, keyword_only=True),
        Arg("maximize", False, keyword_only=True, kind="bool"),
        Arg("differentiable", False, torch_only=True, keyword_only=True),
    ),
    buffers=(Buffer("prev"), Buffer("step_size", init=lambda g: g["lr"])),
    classes=(ClassVariant("Rprop"),),
    checkpoint_keys=("lr", "etas", "step_sizes"),
    bench=(BenchCase("rprop", "Rprop", dict(lr=1e-2)),),
    numpy_peer=_numpy_peer,
)
