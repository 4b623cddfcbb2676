"""float64 reference of ASGD, written from torch.optim.ASGD's documented pseudo-code."""

from __future__ import annotations

import numpy as np


class Reference:
    def __init__(self, p, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0.0, maximize=False):
        self.p = p.astype(np.float64)
        self.lr, self.lambd, self.alpha, self.t0, self.wd, self.maximize = lr, lambd, alpha, t0, weight_decay, maximize
        self.ax = np.zeros_like(self.p)
        # torch keeps eta and mu as float32 tensors (its default scalar dtype): so does the reference
        self.eta, self.mu, self.t = float(np.float32(lr)), 1.0, 0

    def step(self, g):
        self.t += 1
        d = -g.astype(np.float64) if self.maximize else g.astype(np.float64)
        if self.wd:
            d = d + self.wd * self.p
        self.p = self.p * (1 - self.lambd * self.eta) - self.eta * d
        self.ax = self.ax + (self.p - self.ax) * self.mu if self.mu != 1 else self.p.copy()
        self.eta = float(np.float32(self.lr / (1 + self.lambd * self.lr * self.t) ** self.alpha))
        self.mu = float(np.float32(1 / max(1, self.t - self.t0)))


CASES = [
    ("ASGD", dict(lr=0.01)),
    ("ASGD", dict(lr=0.05, lambd=1e-2, alpha=0.6, t0=5, weight_decay=0.1, maximize=True)),
    ("ASGD", dict(lr=0.02, t0=0)),
]


def random_case(rng):
    """A random configuration of every option, for the comparison with torch.optim (t0 small in
    some, so that the averaging starts within the test's steps)."""
    return "ASGD", dict(lr=float(rng.uniform(1e-3, 0.05)), lambd=float(10 ** rng.uniform(-5, -2)),
                        alpha=float(rng.uniform(0.5, 1.0)), t0=float(rng.choice([1e6, rng.integers(0, 20)])),
                        weight_decay=float(rng.choice([0.0, 0.01])), maximize=bool(rng.random() < 0.3))
