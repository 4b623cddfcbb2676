"""float64 reference of Rprop, written from torch.optim.Rprop's documented pseudo-code."""

from __future__ import annotations

import numpy as np


class Reference:
    def __init__(self, p, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), maximize=False):
        self.p = p.astype(np.float64)
        (self.etaminus, self.etaplus), (self.lo, self.hi), self.maximize = etas, step_sizes, maximize
        self.prev = np.zeros_like(self.p)
        self.size = np.full_like(self.p, lr)

    def step(self, g):
        d = -g.astype(np.float64) if self.maximize else g.astype(np.float64)
        agree = d * self.prev
        factor = np.where(agree > 0, self.etaplus, np.where(agree < 0, self.etaminus, 1.0))
        self.size = np.clip(self.size * factor, self.lo, self.hi)
        d = np.where(agree < 0, 0.0, d)
        self.p = self.p - np.sign(d) * self.size
        self.prev = d


# Step sizes whose products land on float32-exact values either way; signs of float32 and
# float64 gradients agree, so every element takes the same branch in both.
CASES = [
    ("Rprop", dict(lr=0.01)),
    ("Rprop", dict(lr=0.001, etas=(0.3, 1.5), step_sizes=(1e-4, 0.05), maximize=True)),
    ("Rprop", dict(lr=0.05, etas=(0.5, 1.25), step_sizes=(0.0, 1.0))),
]


def random_case(rng):
    """A random configuration of every option, for the comparison with torch.optim."""
    lo = float(10 ** rng.uniform(-7, -4))
    return "Rprop", dict(lr=float(rng.uniform(1e-3, 0.05)),
                         etas=(float(rng.uniform(0.2, 0.9)), float(rng.uniform(1.05, 1.5))),
                         step_sizes=(lo, float(rng.uniform(0.01, 50))), maximize=bool(rng.random() < 0.3))
