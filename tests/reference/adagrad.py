"""float64 reference of Adagrad, written from torch.optim's documented pseudo-code one statement
per line."""

from __future__ import annotations

import numpy as np


class Reference:
    def __init__(self, p, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0,
                 eps=1e-10, maximize=False):
        self.p = p.astype(np.float64)
        self.lr, self.lr_decay, self.wd, self.eps, self.maximize = lr, lr_decay, weight_decay, eps, maximize
        self.s = np.full_like(self.p, initial_accumulator_value)
        self.t = 0

    def step(self, g):
        self.t += 1
        d = -g.astype(np.float64) if self.maximize else g.astype(np.float64)
        if self.wd:
            d = d + self.wd * self.p
        clr = self.lr / (1 + (self.t - 1) * self.lr_decay)
        self.s = self.s + d * d
        self.p = self.p - clr * d / (np.sqrt(self.s) + self.eps)


CASES = [
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=1e-2, initial_accumulator_value=0.1, maximize=True)),
]


def random_case(rng):
    """A random configuration of every option, for the comparison with torch.optim."""
    return "Adagrad", dict(lr=float(rng.uniform(1e-3, 0.1)), lr_decay=float(rng.choice([0.0, rng.uniform(0, 0.05)])),
                           weight_decay=float(rng.choice([0.0, rng.uniform(0, 0.05)])),
                           initial_accumulator_value=float(rng.choice([0.0, rng.uniform(0, 0.5)])),
                           eps=float(10 ** rng.uniform(-10, -6)), maximize=bool(rng.random() < 0.3))
