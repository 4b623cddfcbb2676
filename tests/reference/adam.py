"""float64 reference of Adam and AdamW, written from torch.optim's documented pseudo-code one statement
per line."""

from __future__ import annotations

import numpy as np

from . import lerp


class Reference:
    def __init__(self, p, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
                 maximize=False, decoupled_weight_decay=False):
        self.p = p.astype(np.float64)
        self.lr, (self.b1, self.b2), self.eps, self.wd = lr, betas, eps, weight_decay
        self.amsgrad, self.maximize, self.decoupled = amsgrad, maximize, decoupled_weight_decay
        self.m = np.zeros_like(self.p)
        self.v = np.zeros_like(self.p)
        self.vmax = np.zeros_like(self.p)
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
        bc1 = 1 - self.b1 ** self.t
        bc2 = 1 - self.b2 ** self.t
        v = self.v
        if self.amsgrad:
            self.vmax = np.maximum(self.vmax, self.v)
            v = self.vmax
        denom = np.sqrt(v) / np.sqrt(bc2) + self.eps
        self.p = self.p - (self.lr / bc1) * self.m / denom


CASES = [
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("Adam", dict(lr=0.01, betas=(0.3, 0.9), weight_decay=0.1, maximize=True)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, amsgrad=True, weight_decay=0.05)),
]


def random_case(rng):
    """A random configuration of every option, for the comparison with torch.optim."""
    cls = "AdamW" if rng.random() < 0.4 else "Adam"
    kw = dict(lr=float(rng.uniform(1e-4, 1e-2)), betas=(float(rng.uniform(0.0, 0.95)), float(rng.uniform(0.9, 0.9999))),
              eps=float(10 ** rng.uniform(-8, -5)), weight_decay=float(rng.choice([0.0, rng.uniform(0, 0.1)])),
              amsgrad=bool(rng.random() < 0.5), maximize=bool(rng.random() < 0.3))
    if cls == "Adam" and rng.random() < 0.3:
        kw["decoupled_weight_decay"] = True
    return cls, kw
