"""Plain float64 NumPy references of every update rule, written from torch.optim's documented
pseudo-code one statement per line. They are the oracle the kernels are tested against."""

from __future__ import annotations

import numpy as np


def lerp(a, b, w):
    # torch.lerp: a + w (b - a); for |w| >= 0.5 torch evaluates the same real number as
    # b - (b - a)(1 - w), which is exact at w = 1 (the reference follows, so that degenerate
    # cases such as centered RMSprop with alpha = 0 agree instead of meeting sqrt(-tiny)).
    return a + w * (b - a) if abs(w) < 0.5 else b - (b - a) * (1 - w)


class SgdRef:
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


class AdagradRef:
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


class RmspropRef:
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


class AdamRef:
    def __init__(self, p, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
                 maximize=False, decoupled=False):
        self.p = p.astype(np.float64)
        self.lr, (self.b1, self.b2), self.eps, self.wd = lr, betas, eps, weight_decay
        self.amsgrad, self.maximize, self.decoupled = amsgrad, maximize, decoupled
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


def AdamWRef(p, weight_decay=1e-2, **kw):
    return AdamRef(p, weight_decay=weight_decay, decoupled=True, **kw)


# fp32 tolerance for a trajectory of STEPS steps, relative to (|p_ref| + lr): each step adds
# O(10) roundings of u = 6e-8 to an update of size ~lr, momentum-like accumulators amplify
# them by up to 1/(1 - 0.9) = 10, over 30 steps: 10·u·10·30 ≈ 2e-4. (Measured: ≤ 3e-5.)
# A wrong formula is off by O(1) on this scale. float64 kernels agree with the reference to
# ~1e-12 (operations are ordered differently in places, and d/(|d| + eps) amplifies rounding
# where |d| ~ eps); 1e-10 leaves room and is still 1e6 times tighter than float32.
STEPS = 30
RTOL = {np.dtype(np.float32): 2e-4, np.dtype(np.float64): 1e-10}


def assert_matches_reference(fo_cls, ref_cls, kwargs, dtype, rng, shapes, steps=STEPS):
    """Run the optimizer and the float64 reference side by side on the same gradients."""
    params = [rng.standard_normal(s).astype(dtype) for s in shapes]
    initial = [p.astype(np.float64) for p in params]
    refs = [ref_cls(p, **kwargs) for p in params]
    opt = fo_cls(params, **kwargs)
    for _ in range(steps):
        grads = [rng.standard_normal(p.shape).astype(dtype) for p in params]
        opt.step(grads)
        for r, g in zip(refs, grads):
            r.step(g)
    lr = kwargs.get("lr", 1e-3)
    moved = max(np.max(np.abs(r.p - p0)) for r, p0 in zip(refs, initial))
    assert moved > 10 * RTOL[np.dtype(dtype)] * lr, "the reference did not move: the test shows nothing"
    for i, (p, r) in enumerate(zip(params, refs)):
        assert p.dtype == np.dtype(dtype)
        err = np.max(np.abs(p - r.p) / (np.abs(r.p) + lr))
        assert err <= RTOL[np.dtype(dtype)], f"param {i}: relative error {err:.3e}"
