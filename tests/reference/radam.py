"""float64 reference of RAdam, written from torch.optim.RAdam's documented pseudo-code."""

from __future__ import annotations

import math

import numpy as np

from . import lerp


class Reference:
    def __init__(self, p, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled_weight_decay=False,
                 maximize=False):
        self.p = p.astype(np.float64)
        self.lr, (self.b1, self.b2), self.eps, self.wd = lr, betas, eps, weight_decay
        self.decoupled, self.maximize = decoupled_weight_decay, maximize
        self.m = np.zeros_like(self.p)
        self.v = np.zeros_like(self.p)
        self.t = 0

    def step(self, g):
        self.t += 1
        d = -g.astype(np.float64) if self.maximize else g.astype(np.float64)
        if self.wd and self.decoupled:
            self.p = self.p * (1 - self.lr * self.wd)
        elif self.wd:
            d = d + self.wd * self.p
        self.m = lerp(self.m, d, 1 - self.b1)
        self.v = self.b2 * self.v + (1 - self.b2) * d * d
        bc1, bc2 = 1 - self.b1 ** self.t, 1 - self.b2 ** self.t
        m_hat = self.m / bc1
        rho_inf = 2 / (1 - self.b2) - 1
        rho_t = rho_inf - 2 * self.t * self.b2 ** self.t / bc2
        if rho_t > 5:
            rect = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            adaptive = math.sqrt(bc2) / (np.sqrt(self.v) + self.eps)
            self.p = self.p - m_hat * self.lr * adaptive * rect
        else:
            self.p = self.p - m_hat * self.lr


CASES = [
    ("RAdam", dict(lr=0.01)),
    ("RAdam", dict(lr=0.01, betas=(0.8, 0.9), weight_decay=0.1, maximize=True)),  # rectified from step 6
    ("RAdam", dict(lr=0.01, betas=(0.9, 0.99), weight_decay=0.1, decoupled_weight_decay=True)),
]


def random_case(rng):
    """A random configuration of every option, for the comparison with torch.optim (betas[1] low
    enough, in some, that the rectification switches on within the test's steps)."""
    return "RAdam", dict(lr=float(rng.uniform(1e-4, 1e-2)),
                         betas=(float(rng.uniform(0.0, 0.95)), float(rng.choice([rng.uniform(0.8, 0.95), 0.999]))),
                         eps=float(10 ** rng.uniform(-8, -5)),
                         weight_decay=float(rng.choice([0.0, rng.uniform(0, 0.1)])),
                         decoupled_weight_decay=bool(rng.random() < 0.5), maximize=bool(rng.random() < 0.3))
