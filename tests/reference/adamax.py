"""float64 reference of Adamax, written from torch.optim.Adamax's documented pseudo-code."""

from __future__ import annotations

import numpy as np

from . import lerp


class Reference:
    def __init__(self, p, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, maximize=False):
        self.p = p.astype(np.float64)
        self.lr, (self.b1, self.b2), self.eps, self.wd, self.maximize = lr, betas, eps, weight_decay, maximize
        self.m = np.zeros_like(self.p)
        self.u = np.zeros_like(self.p)
        self.t = 0

    def step(self, g):
        self.t += 1
        d = -g.astype(np.float64) if self.maximize else g.astype(np.float64)
        if self.wd:
            d = d + self.wd * self.p
        self.m = lerp(self.m, d, 1 - self.b1)
        self.u = np.maximum(self.b2 * self.u, np.abs(d) + self.eps)
        self.p = self.p - self.lr / (1 - self.b1 ** self.t) * self.m / self.u


CASES = [
    ("Adamax", dict(lr=0.01)),
    ("Adamax", dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.1, maximize=True)),
    ("Adamax", dict(lr=0.01, betas=(0.3, 0.9), eps=1e-6)),
]


def random_case(rng):
    """A random configuration of every option, for the comparison with torch.optim."""
    return "Adamax", dict(lr=float(rng.uniform(1e-4, 1e-2)),
                          betas=(float(rng.uniform(0.0, 0.95)), float(rng.uniform(0.9, 0.9999))),
                          eps=float(10 ** rng.uniform(-8, -5)),
                         weight_decay=float(rng.choice([0.0, rng.uniform(0, 0.1)])),
                          maximize=bool(rng.random() < 0.3))
