"""float64 reference of SGD, written from torch.optim's documented pseudo-code one statement
per line."""

from __future__ import annotations

import numpy as np


class Reference:
    def __init__(self, p, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False):
        self.p = p.astype(np.float64)
        self.lr, self.mu, self.damp, self.wd = lr, momentum, dampening, weight_decay
        self.nesterov, self.maximize = nesterov, maximize
        self.b = None

    def step(self, g):
        d = -g.astype(np.float64) if self.maximize else g.astype(np.float64)
        if self.wd:
            d = d + self.wd * self.p
        if self.mu:
            self.b = d.copy() if self.b is None else self.mu * self.b + (1 - self.damp) * d
            d = d + self.mu * self.b if self.nesterov else self.b
        self.p = self.p - self.lr * d


# (class, kwargs) configurations the registry-wide tests run: every buffer and option in use.
CASES = [
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-2, maximize=True)),
    ("SGD", dict(lr=0.1, momentum=0.5, dampening=0.3)),
    ("SGD", dict(lr=0.1)),
]


def random_case(rng):
    """A random configuration of every option, for the comparison with torch.optim."""
    momentum = float(rng.choice([0.0, rng.uniform(0.1, 0.95)]))
    nesterov = bool(momentum and rng.random() < 0.5)
    return "SGD", dict(lr=float(rng.uniform(1e-3, 0.1)), momentum=momentum,
                       dampening=0.0 if nesterov else float(rng.choice([0.0, rng.uniform(0, 0.5)])),
                       weight_decay=float(rng.choice([0.0, rng.uniform(0, 0.05)])), nesterov=nesterov,
                       maximize=bool(rng.random() < 0.3))
