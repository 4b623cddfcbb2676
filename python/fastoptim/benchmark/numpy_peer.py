"""The NumPy peer: each rule's textbook formulas as vectorized in-place NumPy, the way a
NumPy user would write the step without fastoptim (one temporary per line, no fusion)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .rules import RuleCase


def numpy_step(rule: RuleCase, params: list[np.ndarray], grads: list[np.ndarray]) -> Callable[[], None]:
    """A zero-argument step over copies of ``params`` (exposed as ``step.params``) with state of
    the rule (same formulas and defaults as torch.optim; maximize is not used by the cases)."""
    p = [x.copy() for x in params]
    step = _make_step(rule, p, grads)
    step.params = p  # type: ignore[attr-defined]
    return step


def _make_step(rule: RuleCase, p: list[np.ndarray], grads: list[np.ndarray]) -> Callable[[], None]:
    kw = dict(rule.kwargs)
    zeros = lambda: [np.zeros_like(x) for x in p]  # noqa: E731
    lr = kw["lr"]
    t = [0]
    if rule.name == "SGD":
        mu = kw.get("momentum", 0.0)
        buf = zeros()

        def step() -> None:
            for x, g, b in zip(p, grads, buf):
                if mu:
                    if t[0] == 0:
                        b[...] = g
                    else:
                        b *= mu
                        b += g
                    x -= lr * b
                else:
                    x -= lr * g
            t[0] += 1
        return step
    if rule.name == "Adagrad":
        s = zeros()
        eps = 1e-10

        def step() -> None:
            for x, g, si in zip(p, grads, s):
                si += g * g
                x -= lr * g / (np.sqrt(si) + eps)
        return step
    if rule.name == "RMSprop":
        alpha, eps, mu, centered = 0.99, 1e-8, kw.get("momentum", 0.0), kw.get("centered", False)
        sq, ga, buf = zeros(), zeros(), zeros()

        def step() -> None:
            for x, g, s, a, b in zip(p, grads, sq, ga, buf):
                s *= alpha
                s += (1 - alpha) * g * g
                if centered:
                    a += (1 - alpha) * (g - a)
                    avg = np.sqrt(s - a * a) + eps
                else:
                    avg = np.sqrt(s) + eps
                if mu:
                    b *= mu
                    b += g / avg
                    x -= lr * b
                else:
                    x -= lr * g / avg
        return step
    if rule.name in ("Adam", "AdamW"):
        b1, b2, eps = 0.9, 0.999, 1e-8
        wd = kw.get("weight_decay", 1e-2 if rule.name == "AdamW" else 0.0)
        amsgrad = kw.get("amsgrad", False)
        m, v, vmax = zeros(), zeros(), zeros()

        def step() -> None:
            t[0] += 1
            bc1, bc2 = 1 - b1 ** t[0], 1 - b2 ** t[0]
            for x, g, mi, vi, vm in zip(p, grads, m, v, vmax):
                if rule.name == "AdamW" and wd:
                    x *= 1 - lr * wd
                mi += (1 - b1) * (g - mi)
                vi *= b2
                vi += (1 - b2) * g * g
                if amsgrad:
                    np.maximum(vm, vi, out=vm)
                denom = np.sqrt(vm if amsgrad else vi) / np.sqrt(bc2) + eps
                x -= (lr / bc1) * mi / denom
        return step
    raise ValueError(f"no NumPy peer for {rule.name}")
