"""float64 reference of SparseAdam, written from torch.optim.SparseAdam's documented update (dense
gradients: every row named)."""

from __future__ import annotations

import math

import numpy as np


class Reference:
    def __init__(self, p, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, maximize=False):
        self.p = p.astype(np.float64)
        self.lr, (self.b1, self.b2), self.eps, self.maximize = lr, betas, eps, maximize
        self.m = np.zeros_like(self.p)
        self.v = np.zeros_like(self.p)
        self.t = 0

    def step(self, g):
        self.t += 1
        d = -g.astype(np.float64) if self.maximize else g.astype(np.float64)
        self.m = self.m + (d - self.m) * (1 - self.b1)
        self.v = self.v + (d * d - self.v) * (1 - self.b2)
        step_size = self.lr * math.sqrt(1 - self.b2 ** self.t) / (1 - self.b1 ** self.t)
        self.p = self.p - step_size * self.m / (np.sqrt(self.v) + self.eps)


CASES = [
    ("SparseAdam", dict(lr=0.01)),
    ("SparseAdam", dict(lr=0.05, betas=(0.8, 0.99), eps=1e-6, maximize=True)),
]


def random_case(rng):
    """A random configuration of every option, for the comparison with torch.optim."""
    return "SparseAdam", dict(lr=float(rng.uniform(1e-3, 0.05)), betas=(float(rng.uniform(0.5, 0.95)),
                              float(rng.uniform(0.9, 0.999))), eps=float(10 ** rng.uniform(-8, -5)),
                              maximize=bool(rng.random() < 0.3))
