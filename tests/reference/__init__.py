"""Plain float64 NumPy references of every update rule, one module per rule (named like its
C++ header and Python descriptor), each written from torch.optim's documented pseudo-code one
statement per line: the oracle the kernels are tested against.

A module defines ``Reference`` (constructed as ``Reference(p, **kwargs)`` with the torch
class's keyword arguments, stepped with ``step(g)``; ``p`` is the float64 parameter) and
``CASES``: (class name, kwargs) configurations that the registry-wide tests run, together
putting every state buffer and option to use.
"""

from __future__ import annotations

import importlib
import pkgutil

import numpy as np

import fastoptim as fo
from fastoptim.rules import REGISTRY


def lerp(a, b, w):
    # torch.lerp: a + w (b - a); for |w| >= 0.5 torch evaluates the same real number as
    # b - (b - a)(1 - w), which is exact at w = 1 (the reference follows, so that degenerate
    # cases such as centered RMSprop with alpha = 0 agree instead of meeting sqrt(-tiny)).
    return a + w * (b - a) if abs(w) < 0.5 else b - (b - a) * (1 - w)



def _discover() -> dict:
    mods = {}
    for info in pkgutil.iter_modules(__path__):
        mods[info.name] = importlib.import_module(f"{__name__}.{info.name}")
    missing = set(REGISTRY) - set(mods)
    if missing:
        raise RuntimeError(f"rules without a float64 reference in tests/reference/: {sorted(missing)}")
    return mods


MODULES = _discover()
"""The reference module of every registered rule, by rule name."""

CASES = [(name, cls, kw) for name, mod in MODULES.items() for cls, kw in mod.CASES]
"""Every (rule, class name, kwargs) configuration of every reference."""
CLASS_CASES = [(cls, kw) for _, cls, kw in CASES]
CLASS_IDS = [f"{cls}-{i}" for i, (cls, _) in enumerate(CLASS_CASES)]
FIRST_CASES = list({cls: (cls, kw) for _, cls, kw in reversed(CASES)}.values())[::-1]
"""The first (fullest) configuration of each class."""


def reference_for(cls_name: str, p: np.ndarray, kwargs: dict):
    """The float64 reference of class ``cls_name`` (its class's fixed keys and defaults applied)."""
    cls = getattr(fo, cls_name)
    d = cls.descriptor
    variant = next(v for v in d.classes if v.name == cls_name)
    return MODULES[d.rule].Reference(p, **{**variant.defaults, **variant.fixed, **kwargs})


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
