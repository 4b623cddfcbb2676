"""float64 reference of NAdam, written from torch.optim.NAdam's documented pseudo-code."""

from __future__ import annotations

import numpy as np

from . import lerp


class Reference:
    def __init__(self, p, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, momentum_decay=4e-3,
                 decoupled_weight_decay=False, maximize=False):
        self.p = p.astype(np.float64)
        self.lr, (self.b1, self.b2), self.eps, self.wd, self.psi = lr, betas, eps, weight_decay, momentum_decay
        self.decoupled, self.maximize = decoupled_weight_decay, maximize
        self.m = np.zeros_like(self.p)
        self.v = np.zeros_like(self.p)
        self.mu_product = 1.0
        self.t = 0

    def step(self, g):
        self.t += 1
        d = -g.astype(np.float64) if self.maximize else g.astype(np.float64)
        if self.wd and self.decoupled:
            self.p = self.p * (1 - self.lr * self.wd)
        elif self.wd:
            d = d + self.wd * self.p
        mu = self.b1 * (1 - 0.5 * 0.96 ** (self.t * self.psi))
        mu_next = self.b1 * (1 - 0.5 * 0.96 ** ((self.t + 1) * self.psi))
        # torch keeps mu_product as a float32 tensor and multiplies it in float32
        self.mu_product = float(np.float32(self.mu_product) * np.float32(mu))
        self.m = lerp(self.m, d, 1 - self.b1)
        self.v = self.b2 * self.v + (1 - self.b2) * d * d
        denom = np.sqrt(self.v / (1 - self.b2 ** self.t)) + self.eps
        self.p = self.p - self.lr * (1 - mu) / (1 - self.mu_product) * d / denom
        self.p = self.p - self.lr * mu_next / (1 - self.mu_product * mu_next) * self.m / denom


CASES = [
    ("NAdam", dict(lr=0.01)),
    ("NAdam", dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.1, momentum_decay=1e-2, maximize=True)),
    ("NAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    ("NAdam", dict(lr=0.01, betas=(0.3, 0.9), eps=1e-6)),
]


def random_case(rng):
    """A random configuration of every option, for the comparison with torch.optim."""
    return "NAdam", dict(lr=float(rng.uniform(1e-4, 1e-2)),
                         betas=(float(rng.uniform(0.0, 0.95)), float(rng.uniform(0.9, 0.9999))),
                         eps=float(10 ** rng.uniform(-8, -5)),
                         weight_decay=float(rng.choice([0.0, rng.uniform(0, 0.1)])),
                         momentum_decay=float(rng.uniform(0, 1e-2)), decoupled_weight_decay=bool(rng.random() < 0.5),
                         maximize=bool(rng.random() < 0.3))
