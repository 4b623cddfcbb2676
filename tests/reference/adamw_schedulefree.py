"""float64 reference of schedule-free AdamW's train-mode step, written from the paper's
Algorithm 1 with the schedulefree package's warmup, weighting and weight decay at y."""

from __future__ import annotations

import numpy as np

from . import lerp


class Reference:
    def __init__(self, p, lr=0.0025, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, warmup_steps=0, r=0.0,
                 weight_lr_power=2.0, maximize=False):
        self.p = p.astype(np.float64)  # y
        self.z = self.p.copy()
        self.v = np.zeros_like(self.p)
        self.lr, (self.b1, self.b2), self.eps, self.wd = lr, betas, eps, weight_decay
        self.warmup, self.r, self.power, self.maximize = warmup_steps, r, weight_lr_power, maximize
        self.k, self.lr_max, self.weight_sum = 0, -1.0, 0.0

    def step(self, g):
        d = -g.astype(np.float64) if self.maximize else g.astype(np.float64)
        k = self.k
        lr = self.lr * ((k + 1) / self.warmup if k < self.warmup else 1.0)
        self.lr_max = max(lr, self.lr_max)
        weight = (k + 1) ** self.r * self.lr_max ** self.power
        self.weight_sum += weight
        c = weight / self.weight_sum if self.weight_sum else 0.0
        self.v = self.b2 * self.v + (1 - self.b2) * d * d
        gn = d / (np.sqrt(self.v / (1 - self.b2 ** (k + 1))) + self.eps)
        if self.wd:
            gn = gn + self.wd * self.p
        self.p = lerp(self.p, self.z, c) + lr * (self.b1 * (1 - c) - 1) * gn
        self.z = self.z - lr * gn
        self.k += 1


CASES = [
    ("AdamWScheduleFree", dict(lr=0.01)),
    ("AdamWScheduleFree", dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.1, warmup_steps=5, maximize=True)),
    ("AdamWScheduleFree", dict(lr=0.01, r=0.5, weight_lr_power=1.0, eps=1e-6)),
]


def random_case(rng):
    """A random configuration of every option, for the comparison with the schedulefree package."""
    return "AdamWScheduleFree", dict(lr=float(rng.uniform(1e-3, 2e-2)),
                                     betas=(float(rng.uniform(0.5, 0.95)), float(rng.uniform(0.9, 0.9999))),
                                     eps=float(10 ** rng.uniform(-8, -5)),
                                     weight_decay=float(rng.choice([0.0, rng.uniform(0, 0.1)])),
                                     warmup_steps=int(rng.integers(0, 10)), r=float(rng.choice([0.0, 0.5])),
                                     weight_lr_power=float(rng.choice([2.0, 1.0])))
