"""float64 reference of RMSprop, written from torch.optim's documented pseudo-code one statement
per line."""

from __future__ import annotations

import numpy as np

from . import lerp


class Reference:
    def __init__(self, p, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False,
                 maximize=False):
        self.p = p.astype(np.float64)
        self.lr, self.alpha, self.eps, self.wd, self.mu = lr, alpha, eps, weight_decay, momentum
        self.centered, self.maximize = centered, maximize
        self.sq = np.zeros_like(self.p)
        self.ga = np.zeros_like(self.p)
        self.b = np.zeros_like(self.p)

    def step(self, g):
        d = -g.astype(np.float64) if self.maximize else g.astype(np.float64)
        if self.wd:
            d = d + self.wd * self.p
        self.sq = self.alpha * self.sq + (1 - self.alpha) * d * d
        if self.centered:
            self.ga = lerp(self.ga, d, 1 - self.alpha)
            avg = np.sqrt(self.sq - self.ga * self.ga) + self.eps
        else:
            avg = np.sqrt(self.sq) + self.eps
        if self.mu > 0:
            self.b = self.mu * self.b + d / avg
            self.p = self.p - self.lr * self.b
        else:
            self.p = self.p - self.lr * d / avg


CASES = [
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, weight_decay=1e-2, momentum=0.9, maximize=True)),
]


def random_case(rng):
    """A random configuration of every option, for the comparison with torch.optim."""
    return "RMSprop", dict(lr=float(rng.uniform(1e-4, 1e-2)), alpha=float(rng.uniform(0.8, 0.999)),
                           eps=float(10 ** rng.uniform(-8, -5)), weight_decay=float(rng.choice([0.0, 0.01])),
                           momentum=float(rng.choice([0.0, rng.uniform(0.1, 0.9)])),
                           centered=bool(rng.random() < 0.5), maximize=bool(rng.random() < 0.3))
