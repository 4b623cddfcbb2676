"""Lion: evolved sign momentum (Chen et al. 2023), with pytorch-optimizer's arguments."""

from __future__ import annotations

import numpy as np

from .descriptor import Arg, BenchCase, Buffer, ClassVariant, RuleDescriptor


def _numpy_peer(kw, p, grads):
    lr, (b1, b2), wd = kw["lr"], kw["betas"], kw["weight_decay"]
    m = [np.zeros_like(x) for x in p]

    def step() -> None:
        for x, g, mi in zip(p, grads, m):
            if wd:
                x *= 1 - lr * wd
            x -= lr * np.sign(mi + (1 - b1) * (g - mi))
            mi += (1 - b2) * (g - mi)
    return step


DESCRIPTOR = RuleDescriptor(
    rule="lion",
    doc=r"""Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms"), with the
    arguments and defaults of pytorch-optimizer's ``Lion``::

        d = ±g (+ weight_decay·p when weight_decouple=False)
        p = (1 − lr·weight_decay)·p              (weight_decouple=True; fixed_decay: (1 − weight_decay)·p)
        p = p − lr·sign(lerp(m, d, 1 − β1))
        m = lerp(m, d, 1 − β2)

    One pass over params, gradients and one state buffer (``exp_avg``); 8-bit state keeps it in
    8 bits. torch.optim has no Lion; its state holds no step count, as pytorch-optimizer's.""",
    args=(
        Arg("lr", 1e-4), Arg("betas", (0.9, 0.99), kind="pair"), Arg("weight_decay", 0.0),
        Arg("weight_decouple", True, kind="bool"), Arg("fixed_decay", False, kind="bool"),
        Arg("foreach", None, torch_only=True), Arg("maximize", False, kind="bool"),
    ),
    buffers=(Buffer("exp_avg"),),
    classes=(ClassVariant("Lion"),),
    options={"decoupled": "weight_decouple", "fixed_decay": "fixed_decay"},
    checkpoint_keys=("lr", "betas", "weight_decay"),
    stepless=True,
    torch_peer="pytorch_optimizer.Lion",
    bench=(BenchCase("lion", "Lion", dict(lr=1e-4)),),
    numpy_peer=_numpy_peer,
)
