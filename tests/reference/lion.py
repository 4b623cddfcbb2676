"""float64 reference of Lion, written from the paper's Algorithm 2 with pytorch-optimizer's options."""

from __future__ import annotations

import numpy as np

from . import lerp


class Reference:
    def __init__(self, p, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0, weight_decouple=True, fixed_decay=False,
                 maximize=False):
        self.p = p.astype(np.float64)
        self.lr, (self.b1, self.b2), self.wd = lr, betas, weight_decay
        self.decouple, self.fixed, self.maximize = weight_decouple, fixed_decay, maximize
        self.m = np.zeros_like(self.p)

    def step(self, g):
        d = -g.astype(np.float64) if self.maximize else g.astype(np.float64)
        if self.wd and self.decouple:
            self.p = self.p * (1 - self.wd * (1.0 if self.fixed else self.lr))
        elif self.wd:
            d = d + self.wd * self.p
        self.p = self.p - self.lr * np.sign(lerp(self.m, d, 1 - self.b1))
        self.m = lerp(self.m, d, 1 - self.b2)


CASES = [
    ("Lion", dict(lr=1e-3)),
    ("Lion", dict(lr=1e-3, betas=(0.8, 0.95), weight_decay=0.1, maximize=True)),
    ("Lion", dict(lr=1e-3, weight_decay=0.1, weight_decouple=False)),
    ("Lion", dict(lr=1e-3, weight_decay=0.01, fixed_decay=True)),
]


def random_case(rng):
    """A random configuration of every option, for the comparison with the reference package."""
    return "Lion", dict(lr=float(rng.uniform(1e-4, 1e-2)), betas=(float(rng.uniform(0.5, 0.95)),
                        float(rng.uniform(0.9, 0.999))), weight_decay=float(rng.choice([0.0, rng.uniform(0, 0.1)])),
                        weight_decouple=bool(rng.random() < 0.7), fixed_decay=bool(rng.random() < 0.3),
                        maximize=bool(rng.random() < 0.3))
