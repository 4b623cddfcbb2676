"""float64 reference of Adadelta, written from torch.optim.Adadelta's documented pseudo-code."""

from __future__ import annotations

import numpy as np


class Reference:
    def __init__(self, p, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, maximize=False):
        self.p = p.astype(np.float64)
        self.lr, self.rho, self.eps, self.wd, self.maximize = lr, rho, eps, weight_decay, maximize
        self.sq = np.zeros_like(self.p)
        self.acc = np.zeros_like(self.p)

    def step(self, g):
        d = -g.astype(np.float64) if self.maximize else g.astype(np.float64)
        if self.wd:
            d = d + self.wd * self.p
        self.sq = self.rho * self.sq + (1 - self.rho) * d * d
        delta = np.sqrt(self.acc + self.eps) / np.sqrt(self.sq + self.eps) * d
        self.acc = self.rho * self.acc + (1 - self.rho) * delta * delta
        self.p = self.p - self.lr * delta


CASES = [
    ("Adadelta", dict(lr=1.0)),
    ("Adadelta", dict(lr=0.5, rho=0.95, eps=1e-5, weight_decay=0.1, maximize=True)),
    ("Adadelta", dict(lr=1.0, rho=0.5)),
]


def random_case(rng):
    """A random configuration of every option, for the comparison with torch.optim."""
    return "Adadelta", dict(lr=float(rng.uniform(0.1, 1.0)), rho=float(rng.uniform(0.5, 0.99)),
                            eps=float(10 ** rng.uniform(-7, -4)), weight_decay=float(rng.choice([0.0, 0.01])),
                            maximize=bool(rng.random() < 0.3))
