"""RMSprop: plain, centered, and with momentum (torch.optim.RMSprop)."""

from __future__ import annotations

import numpy as np

from .descriptor import Arg, BenchCase, Buffer, ClassVariant, RuleDescriptor


def _numpy_peer(kw, p, grads):
    lr, alpha, eps = kw["lr"], 0.99, 1e-8
    mu, centered = kw.get("momentum", 0.0), kw.get("centered", False)
    sq, ga, buf = ([np.zeros_like(x) for x in p] for _ in range(3))

    def step() -> None:
        for x, g, s, a, b in zip(p, grads, sq, ga, buf):
            s *= alpha
            s += (1 - alpha) * g * g
            if centered:
                a += (1 - alpha) * (g - a)
                avg = np.sqrt(s - a * a) + eps
            else:
                avg = np.sqrt(s) + eps
            if mu:
                b *= mu
                b += g / avg
                x -= lr * b
            else:
                x -= lr * g / avg
    return step


DESCRIPTOR = RuleDescriptor(
    rule="rmsprop",
    doc=r"""RMSprop, with torch.optim.RMSprop's arguments, defaults and formula::

        d   = ±g + weight_decay·p
        sq  = alpha·sq + (1 − alpha)·d²
        ga  = lerp(ga, d, 1 − alpha)                   (centered)
        avg = sqrt(sq − ga²) + eps  or  sqrt(sq) + eps
        b   = momentum·b + d/avg;  p = p − lr·b         (momentum > 0)
        p   = p − lr·d/avg                              (otherwise)

    eps is added *outside* the square root, as in torch and Keras; the textbook's
    ``sqrt(sq + eps)`` differs by at most eps-sized terms.""",
    args=(
        Arg("lr", 1e-2), Arg("alpha", 0.99), Arg("eps", 1e-8), Arg("weight_decay", 0.0), Arg("momentum", 0.0),
        Arg("centered", False, kind="bool"), Arg("capturable", False, torch_only=True),
        Arg("foreach", None, torch_only=True), Arg("maximize", False, kind="bool"),
        Arg("differentiable", False, torch_only=True),
    ),
    buffers=(Buffer("square_avg"), Buffer("grad_avg", when="centered"),
             Buffer("momentum_buffer", when="momentum")),
    classes=(ClassVariant("RMSprop"),),
    checkpoint_keys=("lr", "alpha", "eps", "weight_decay", "momentum", "centered"),
    bench=(BenchCase("rmsprop", "RMSprop", dict(lr=1e-2)),
           BenchCase("rmsprop_centered_momentum", "RMSprop", dict(lr=1e-2, centered=True, momentum=0.9))),
    numpy_peer=_numpy_peer,
)
